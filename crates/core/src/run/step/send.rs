//! Sending a step's request, again as its retry policy allows.

use super::request::{AuthPlan, Outgoing, ProofPlan};
use super::SpecRun;
use std::time::Duration;

use crate::http::{Exchange, TlsKey, TransportError, TransportErrorKind};
use crate::oauth::Token;
use crate::results::{supersede_last, Attempt, AttemptKind};
use crate::retry::RetryPolicy;
use crate::syntax::ast::Step;

impl SpecRun<'_> {
    /// Sends the request, again as `policy` allows; every attempt is
    /// recorded.
    pub(super) async fn send(
        &self,
        step: &Step,
        outgoing: &Outgoing,
        token: Option<&Token>,
        policy: &RetryPolicy,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Exchange, TransportError> {
        let http = &self.runner.http;
        // The step's TLS settings, else those of the client it authenticates
        // as (a certificate-bound token is used over the same certificate).
        let managed = match &outgoing.auth {
            AuthPlan::Client(name) => self.clients.get(name),
            _ => None,
        };
        let key = TlsKey {
            follow_redirects: step.options.follow_redirects.unwrap_or(false),
            insecure: step.options.insecure,
            ca_cert: outgoing
                .ca_cert
                .clone()
                .or_else(|| managed.and_then(|c| c.ca_cert.clone())),
            // `without_proof` leaves out a certificate-bound token's
            // certificate as it leaves out a DPoP proof.
            identity: outgoing.identity.clone().or_else(|| {
                let proofless = outgoing.proof == ProofPlan::Without;
                (managed.filter(|_| !proofless))
                    .and_then(|c| c.client_cert.clone().zip(c.client_key.clone()))
            }),
        };
        let client = http
            .client_for(&key, &outgoing.url)
            .map_err(|message| TransportError {
                kind: TransportErrorKind::Tls,
                message,
                latency: Duration::ZERO,
                transcript: None,
            })?;
        let timeout = self.timeout(step);
        let shown_url = self.redact(&outgoing.url);
        let first = attempts.len();
        // A DPoP-bound token goes with a fresh proof, unless the step
        // leaves it out to see the API refuse the token.
        let bound = match (managed, token) {
            (Some(c), Some(t)) if outgoing.proof != ProofPlan::Without => Some((c, t)),
            _ => None,
        };
        let tokens = &self.runner.tokens;
        policy
            .send(crate::retry::retryable, async || {
                if attempts.len() > first {
                    supersede_last(attempts);
                }
                let mut nonce_asked = false;
                loop {
                    let mut request = client.request(outgoing.method.clone(), &outgoing.url);
                    if !outgoing.query.is_empty() {
                        request = request.query(&outgoing.query);
                    }
                    for (name, value) in &outgoing.headers {
                        request = request.header(name, value);
                    }
                    match (&outgoing.auth, token) {
                        (AuthPlan::Header(value), _) => {
                            request = request.header("Authorization", value)
                        }
                        (AuthPlan::Client(_), Some(token)) => {
                            request = request.header("Authorization", token.authorization())
                        }
                        _ => {}
                    }
                    if let Some(body) = &outgoing.body {
                        request = request.body(body.clone());
                    }
                    let mut proof = None;
                    if let Some((c, t)) = bound {
                        proof = tokens
                            .resource_proof(
                                c,
                                outgoing.method.as_str(),
                                &outgoing.url,
                                match &outgoing.proof {
                                    ProofPlan::For(url) => Some(url.as_str()),
                                    _ => None,
                                },
                                t,
                            )
                            .map_err(TransportError::unsent)?;
                        if let Some(proof) = &proof {
                            request = request.header("DPoP", proof);
                        }
                    }
                    let result = http.send(request, timeout).await;
                    attempts.push(Attempt::record(
                        AttemptKind::Request,
                        outgoing.method.to_string(),
                        shown_url.clone(),
                        &result,
                        &self.runner.redactor,
                        None,
                    ));
                    crate::oauth::tokens::show_proof(
                        attempts,
                        proof.as_deref(),
                        &self.runner.redactor,
                    );
                    // `use_dpop_nonce` once: sent again with the server's nonce.
                    if let (Ok(x), Some(_)) = (&result, bound) {
                        if tokens.take_dpop_nonce(&outgoing.url, x)
                            && !nonce_asked
                            && x.status == 401
                        {
                            nonce_asked = true;
                            supersede_last(attempts);
                            continue;
                        }
                    }
                    break result;
                }
            })
            .await
    }
}
