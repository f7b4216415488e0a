#!/usr/bin/env node
// Starts oauth2-mock-server on 127.0.0.1 for the interop specs
// (tests/interop.rs runs it; see oauth2-mock-server.oauthspec).
//
// Usage: node oauth2-mock-server.mjs [PORT]   (0 or none: an ephemeral port)
//
// Prints `READY http://127.0.0.1:PORT` once it serves, then one line per
// token endpoint answer: `TOKEN <ok|error> <client_id|-> <grant_type|error>`.
//
// The mock issues a token to anyone; through its documented hooks this
// launcher makes it a little stricter, so the specs can test refusals:
// - the token endpoint knows one client, `mock-client` / `mock-secret`
//   (client_secret_basic or client_secret_post), and answers any other
//   credentials with 401 invalid_client;
// - access tokens carry `client_id`;
// - /userinfo and /introspect check the token's RS256 signature against the
//   issuer's own keys instead of accepting anything.
import crypto from 'node:crypto';

import { OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.argv[2] ?? 0);
const CLIENT_ID = 'mock-client';
const CLIENT_SECRET = 'mock-secret';

/** The client credentials of a token request: Basic first, else the form. */
function credentials(req) {
  const auth = req.headers.authorization ?? '';
  if (auth.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString();
    const colon = decoded.indexOf(':');
    if (colon < 0) return { id: decoded };
    // RFC 6749 2.3.1: both halves are form-encoded before base64.
    const unform = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
  }
  return { id: req.body?.client_id, secret: req.body?.client_secret };
}

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

/** The claims of `token` if the issuer signed it and it is current. */
function verify(token) {
  const parts = String(token ?? '').split('.');
  if (parts.length !== 3) return null;
  const [h, p, s] = parts;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url'));
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    const jwk = server.issuer.keys.toJSON().find((k) => k.kid === header.kid);
    if (!jwk || header.alg !== 'RS256') return null;
    const ok = crypto.verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      crypto.createPublicKey({ key: jwk, format: 'jwk' }),
      Buffer.from(s, 'base64url'),
    );
    const now = Date.now() / 1000;
    return ok && claims.iss === server.issuer.url && claims.exp > now ? claims : null;
  } catch {
    return null;
  }
}

server.service.on('beforeTokenSigning', (token, req) => {
  token.payload.client_id = credentials(req).id;
});

server.service.on('beforeResponse', (response, req) => {
  const { id, secret } = credentials(req);
  if (id !== CLIENT_ID || secret !== CLIENT_SECRET) {
    response.statusCode = 401;
    response.body = {
      error: 'invalid_client',
      error_description: 'client authentication failed',
    };
    console.log(`TOKEN error ${id ?? '-'} invalid_client`);
  } else if (response.statusCode === 200) {
    console.log(`TOKEN ok ${id} ${req.body?.grant_type ?? '-'}`);
  } else {
    console.log(`TOKEN error ${id} ${response.body?.error ?? response.statusCode}`);
  }
});

server.service.on('beforeUserinfo', (response, req) => {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  const claims = bearer && verify(bearer[1]);
  if (!claims) {
    response.statusCode = 401;
    response.body = { error: 'invalid_token' };
    return;
  }
  response.body = { sub: claims.sub ?? claims.client_id, client_id: claims.client_id, scope: claims.scope };
});

// The mock parses only JSON bodies here (not RFC 7662's form): send `{"token": ...}`.
server.service.on('beforeIntrospect', (response, req) => {
  const claims = verify(req.body?.token);
  response.body = claims ? { active: true, ...claims } : { active: false };
});

await server.start(port, '127.0.0.1');
// The mock names itself `localhost`; the issuer is the address it serves.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
console.log(`READY ${server.issuer.url}`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.stop().finally(() => process.exit(0)));
}
