//! The step's request with every value resolved.

use base64::Engine as _;

use super::SpecRun;
use crate::check::value::EvalError;
use crate::secrets::is_secret_field;
use crate::syntax::ast::{Auth, Body, Json, ProofOption, Step};

/// A step's request with every value resolved.
pub(super) struct Outgoing {
    pub(super) method: reqwest::Method,
    pub(super) url: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Option<Vec<u8>>,
    pub(super) auth: AuthPlan,
    /// The step's own `ca_cert`, and `client_cert` with `client_key`.
    pub(super) ca_cert: Option<String>,
    pub(super) identity: Option<(String, String)>,
    pub(super) proof: ProofPlan,
}

/// How a request made with `auth CLIENT` proves the token is the sender's.
#[derive(PartialEq)]
pub(super) enum ProofPlan {
    /// As the client does: a DPoP proof for this request, its certificate.
    AsClient,
    /// `without_proof`: neither.
    Without,
    /// `proof_for URL`: a DPoP proof whose `htu` is this URL.
    For(String),
}

pub(super) enum AuthPlan {
    None,
    Header(String),
    Client(String),
}

impl SpecRun<'_> {
    /// The step's request with every value resolved.
    pub(super) fn outgoing(&self, step: &Step) -> Result<Outgoing, EvalError> {
        let request = step
            .request
            .as_ref()
            .expect("checked: every step has a request");
        let url = self.eval(&request.url)?.text;
        let mut query = Vec::new();
        for pair in &step.query {
            query.push((
                self.template(&pair.name)?.text,
                self.eval(&pair.value)?.text,
            ));
        }
        let mut headers = Vec::new();
        for header in &step.headers {
            let name = self.template(&header.name)?.text;
            let value = self.eval(&header.value)?;
            if name.eq_ignore_ascii_case("authorization") {
                self.runner.redactor.add(&value.text);
            }
            headers.push((name, value.text));
        }
        let has_content_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        let body = match &step.body {
            None => None,
            Some(Body::Form(pairs)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for pair in pairs {
                    let name = self.template(&pair.name)?.text;
                    let value = self.eval(&pair.value)?.text;
                    if is_secret_field(&name) {
                        self.runner.redactor.add(&value);
                    }
                    form.append_pair(&name, &value);
                }
                if !has_content_type {
                    headers.push((
                        "Content-Type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ));
                }
                Some(form.finish().into_bytes())
            }
            Some(Body::Json(json)) => {
                let mut text = String::new();
                self.render_json(json, &mut text)?;
                if !has_content_type {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                Some(text.into_bytes())
            }
            Some(Body::Raw(value)) => Some(self.eval(value)?.text.into_bytes()),
        };
        let auth = match &step.auth {
            None => AuthPlan::None,
            Some(Auth::Basic { user, password }) => {
                let user = self.eval(user)?.text;
                let password = self.eval(password)?.text;
                self.runner.redactor.add_basic(&user, &password);
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                AuthPlan::Header(format!("Basic {encoded}"))
            }
            Some(Auth::Bearer(token)) => {
                let token = self.eval(token)?.text;
                self.runner.redactor.add(&token);
                AuthPlan::Header(format!("Bearer {token}"))
            }
            Some(Auth::Client(name)) => AuthPlan::Client(name.node.clone()),
        };
        let ca_cert = step
            .options
            .ca_cert
            .as_ref()
            .map(|v| self.eval(v))
            .transpose()?
            .map(|r| r.text);
        let identity = match (&step.options.client_cert, &step.options.client_key) {
            (Some(cert), Some(key)) => {
                let cert = self.eval(cert)?.text;
                let key = self.eval(key)?.text;
                self.runner.redactor.add(&key);
                Some((cert, key))
            }
            _ => None,
        };
        let proof = match &step.options.proof {
            None => ProofPlan::AsClient,
            Some(ProofOption::Without(_)) => ProofPlan::Without,
            Some(ProofOption::For { url, .. }) => ProofPlan::For(self.eval(url)?.text),
        };
        Ok(Outgoing {
            method: reqwest::Method::from_bytes(request.method.node.as_str().as_bytes())
                .unwrap_or(reqwest::Method::GET),
            url,
            query,
            headers,
            body,
            auth,
            ca_cert,
            identity,
            proof,
        })
    }

    fn render_json(&self, json: &Json, out: &mut String) -> Result<(), EvalError> {
        match json {
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(
                        &serde_json::to_string(&self.template(key)?.text).unwrap_or_default(),
                    );
                    out.push(':');
                    self.render_json(value, out)?;
                }
                out.push('}');
            }
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.render_json(item, out)?;
                }
                out.push(']');
            }
            Json::Str(t) => {
                out.push_str(&serde_json::to_string(&self.template(t)?.text).unwrap_or_default())
            }
            Json::Literal(l) => out.push_str(l),
            Json::Raw(name) => {
                let value = self
                    .scope
                    .get(&name.node)
                    .ok_or_else(|| EvalError::UndefinedVar {
                        name: name.node.clone(),
                        span: name.span,
                    })?;
                // JSON text goes in as JSON; anything else as a string.
                match serde_json::from_str::<serde_json::Value>(&value.text) {
                    Ok(v) => out.push_str(&v.to_string()),
                    Err(_) => out.push_str(&serde_json::to_string(&value.text).unwrap_or_default()),
                }
            }
        }
        Ok(())
    }
}
