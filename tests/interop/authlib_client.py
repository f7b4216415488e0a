#!/usr/bin/env python3
"""Interop check of the oauthspec sandbox against Python's authlib.

Usage: authlib_client.py BASE_URL   (e.g. http://127.0.0.1:9000)

Uses authlib's OAuth2Session (requests) as an independent OAuth client:
client_credentials with client_secret_basic, the password grant, refresh
(the refresh token must rotate), introspection and revocation. Exits
non-zero with a message on the first mismatch.

Needs: pip install authlib requests
"""

import sys

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session


def fail(msg):
    print(f"authlib interop FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def main():
    if len(sys.argv) != 2:
        fail("usage: authlib_client.py BASE_URL")
    base = sys.argv[1].rstrip("/")
    token_url = f"{base}/oauth2/token"
    introspect_url = f"{base}/oauth2/introspect"
    revoke_url = f"{base}/oauth2/revoke"

    # Discovery agrees with the endpoints used below.
    meta = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    expect(meta.get("issuer") == base, f"issuer {meta.get('issuer')!r} != {base!r}")
    expect(meta.get("token_endpoint") == token_url, f"token_endpoint {meta.get('token_endpoint')!r}")

    # 1. client_credentials, client_secret_basic.
    cc = OAuth2Session(
        "demo-client",
        "demo-secret",
        token_endpoint_auth_method="client_secret_basic",
    )
    tok = cc.fetch_token(token_url, grant_type="client_credentials")
    expect(tok.get("token_type", "").lower() == "bearer", f"token_type: {tok!r}")
    expect(tok.get("access_token"), f"no access_token: {tok!r}")
    expect(tok.get("expires_in") == 3600, f"expires_in: {tok!r}")
    expect(tok.get("scope") == "orders:read", f"scope: {tok!r}")
    expect("refresh_token" not in tok, f"client_credentials gave a refresh token: {tok!r}")
    r = cc.get(f"{base}/v1/orders")  # authlib adds the Bearer header
    expect(r.status_code == 200, f"GET /v1/orders -> {r.status_code} {r.text}")
    expect(r.json()["orders"][0]["id"] == "ord_1001", f"orders: {r.text}")

    # An unknown secret is refused the RFC 6749 way.
    bad = OAuth2Session("demo-client", "wrong", token_endpoint_auth_method="client_secret_basic")
    try:
        bad.fetch_token(token_url, grant_type="client_credentials")
        fail("a wrong client secret was accepted")
    except OAuthError as e:
        expect(e.error == "invalid_client", f"wrong secret gave {e.error!r}")

    # 2. password grant (client_secret_post this time).
    pw = OAuth2Session(
        "demo-client",
        "demo-secret",
        token_endpoint_auth_method="client_secret_post",
        scope="orders:read",
    )
    tok2 = pw.fetch_token(token_url, username="alice", password="alice-password")
    rt1 = tok2.get("refresh_token")
    expect(rt1, f"password grant gave no refresh_token: {tok2!r}")

    # 3. refresh: rotation means a new refresh token, and the old one dies.
    tok3 = pw.refresh_token(token_url, refresh_token=rt1)
    rt2 = tok3.get("refresh_token")
    expect(rt2 and rt2 != rt1, f"refresh token did not rotate: {rt1!r} -> {rt2!r}")
    expect(tok3["access_token"] != tok2["access_token"], "refresh returned the same access token")
    try:
        pw.refresh_token(token_url, refresh_token=rt1)
        fail("the used refresh token was accepted again")
    except OAuthError as e:
        expect(e.error == "invalid_grant", f"reused refresh token gave {e.error!r}")

    # 4. introspection.
    r = cc.introspect_token(introspect_url, token=tok3["access_token"])
    expect(r.status_code == 200, f"introspect -> {r.status_code} {r.text}")
    info = r.json()
    expect(info.get("active") is True, f"introspection: {info!r}")
    expect(info.get("sub") == "alice", f"introspection sub: {info!r}")
    expect(info.get("client_id") == "demo-client", f"introspection client_id: {info!r}")
    expect(info.get("iss") == base, f"introspection iss: {info!r}")

    # 5. revocation, then introspection says inactive.
    r = pw.revoke_token(revoke_url, token=tok3["access_token"], token_type_hint="access_token")
    expect(r.status_code == 200, f"revoke -> {r.status_code} {r.text}")
    info = cc.introspect_token(introspect_url, token=tok3["access_token"]).json()
    expect(info == {"active": False}, f"revoked token introspection: {info!r}")

    # 6. a public client (auth method none).
    pub = OAuth2Session("public-client", token_endpoint_auth_method="none")
    tok4 = pub.fetch_token(token_url, username="alice", password="alice-password")
    expect(tok4.get("refresh_token"), f"public client got no refresh token: {tok4!r}")

    print("authlib interop OK")


if __name__ == "__main__":
    main()
