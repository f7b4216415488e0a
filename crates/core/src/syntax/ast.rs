//! The typed syntax tree of one `.oauthspec` file. Every node that a
//! diagnostic may point at keeps its span.

use std::sync::Arc;
use std::time::Duration;

use crate::source::{SourceFile, Span, Spanned};

#[derive(Debug, Clone)]
pub struct SpecFile {
    pub source: Arc<SourceFile>,
    pub suite: Option<Spanned<String>>,
    pub imports: Vec<Spanned<String>>,
    pub vars: Vec<VarDef>,
    pub clients: Vec<ClientDef>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VarDef {
    pub name: Spanned<String>,
    pub value: Value,
}

/// A value as written: resolved to text at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Str(Template),
    Number(f64),
    Bool(bool),
    Duration(Duration),
    /// A bare word such as `client_credentials` or `invalid_client`.
    Symbol(String),
    Env {
        name: Template,
        default: Option<Box<Value>>,
    },
    Secret(Box<Value>),
    /// Contents of a file, relative to the spec that names it.
    File(Template),
    /// `dpop_thumbprint(CLIENT)`: the thumbprint of the client's DPoP key,
    /// known when the spec runs.
    DpopThumbprint(Spanned<String>),
    /// `token(CLIENT)`: the client's access token, for a token exchange.
    ClientToken(Spanned<String>),
}

/// Text with `{{name}}` holes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Var(Spanned<String>),
}

impl Template {
    /// The text when the template has no holes.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Var(_) => return None,
            }
        }
        Some(out)
    }

    pub fn vars(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Var(v) => Some(v),
            TemplatePart::Text(_) => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientDef {
    pub name: Spanned<String>,
    pub settings: Vec<ClientSetting>,
    /// `login { ... }`: the first one (a second is an error).
    pub login: Vec<LoginDef>,
    pub span: Span,
}

/// `login { field = value ... consent "Allow" }` in a client block.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginDef {
    /// The form fields to fill in, by name, in order.
    pub fields: Vec<Pair>,
    /// The name, value or text of the consent page's approving button.
    pub consent: Option<Value>,
    /// The `login` keyword.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientSetting {
    /// The setting's keyword (`token_url`, `grant`, ...), or for
    /// `param "name" = value` the literal `param`.
    pub key: Spanned<String>,
    /// The extra form field's name, for `param`.
    pub param: Option<Template>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: Spanned<String>,
    pub always: bool,
    pub request: Option<Request>,
    pub headers: Vec<Header>,
    pub query: Vec<Pair>,
    pub body: Option<Body>,
    pub auth: Option<Auth>,
    pub options: StepOptions,
    pub expects: Vec<Expect>,
    pub captures: Vec<Capture>,
    pub unknown: Vec<Spanned<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Spanned<Method>,
    pub url: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub name: Template,
    pub value: Value,
}

/// A `name = value` entry of `query { }` or `form { }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub name: Template,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Form(Vec<Pair>),
    Json(Json),
    Raw(Value),
}

/// A JSON body as written, with templates.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Object(Vec<(Template, Json)>),
    Array(Vec<Json>),
    Str(Template),
    /// A number, `true`, `false` or `null`, kept as written.
    Literal(String),
    /// `{{name}}` outside quotes: the variable's text, inserted as JSON if it
    /// parses as JSON, else as a string.
    Raw(Spanned<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Basic { user: Value, password: Value },
    Bearer(Value),
    Client(Spanned<String>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepOptions {
    pub timeout: Option<Spanned<Duration>>,
    pub retry: Option<Retry>,
    pub repeat: Option<Spanned<u32>>,
    pub delay: Option<Spanned<Duration>>,
    pub follow_redirects: Option<bool>,
    pub insecure: bool,
    /// mTLS: the client certificate (chain) as PEM, and its key.
    pub client_cert: Option<Value>,
    pub client_key: Option<Value>,
    /// Extra trusted roots (PEM) for this step's request.
    pub ca_cert: Option<Value>,
    /// `auth CLIENT without_proof` or `auth CLIENT proof_for URL`.
    pub proof: Option<ProofOption>,
}

/// How a step's request departs from its client's proof of possession, to
/// see the API refuse the token.
#[derive(Debug, Clone, PartialEq)]
pub enum ProofOption {
    /// `without_proof`: no DPoP proof and no client certificate; the span
    /// of the word.
    Without(Span),
    /// `proof_for URL`: a DPoP proof whose `htu` is this URL, not the
    /// request's.
    For { url: Value, span: Span },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub count: u32,
    /// `until pass`: also retry while an expectation fails.
    pub until_pass: bool,
    pub backoff: Option<Duration>,
    /// `max`: no attempt starts this long after the first.
    pub max: Option<Duration>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub query: Query,
    pub predicate: Predicate,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub kind: QueryKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryKind {
    Status,
    Latency(Option<Spanned<Percentile>>),
    Body,
    Header(Template),
    Json(Spanned<String>),
    Regex(Spanned<String>),
    OAuthError,
    OAuthErrorDescription,
    /// `jwt SOURCE claim "name"`.
    JwtClaim {
        source: JwtSource,
        claim: Spanned<String>,
    },
    JwtSignature {
        source: JwtSource,
    },
}

/// Where a `jwt` query finds its token, decided once by the parser.
#[derive(Debug, Clone, PartialEq)]
pub enum JwtSource {
    /// Text starting with `$`: a JSONPath into the response body. Kept as
    /// written; check refuses a template in it.
    BodyPath(Template),
    /// Anything else is a value, e.g. `"{{token}}"`.
    Value(Template),
}

impl JwtSource {
    pub fn new(written: Template) -> JwtSource {
        match written.parts.first() {
            Some(TemplatePart::Text(t)) if t.starts_with('$') => JwtSource::BodyPath(written),
            _ => JwtSource::Value(written),
        }
    }

    /// The source as written.
    pub fn template(&self) -> &Template {
        match self {
            JwtSource::BodyPath(t) | JwtSource::Value(t) => t,
        }
    }
}

impl QueryKind {
    /// How the query reads in messages, e.g. `json "$.id"`.
    pub fn describe(&self) -> String {
        match self {
            QueryKind::Status => "status".into(),
            QueryKind::Latency(None) => "latency".into(),
            QueryKind::Latency(Some(p)) => format!("latency {}", p.node),
            QueryKind::Body => "body".into(),
            QueryKind::Header(name) => format!("header {:?}", template_text(name)),
            QueryKind::Json(path) => format!("json {:?}", path.node),
            QueryKind::Regex(re) => format!("regex {:?}", re.node),
            QueryKind::OAuthError => "oauth_error".into(),
            QueryKind::OAuthErrorDescription => "oauth_error_description".into(),
            QueryKind::JwtClaim { source, claim } => {
                format!(
                    "jwt {:?} claim {:?}",
                    template_text(source.template()),
                    claim.node
                )
            }
            QueryKind::JwtSignature { source } => {
                format!("jwt {:?} signature", template_text(source.template()))
            }
        }
    }
}

/// A template written back as source text, for messages.
pub fn template_text(t: &Template) -> String {
    t.parts
        .iter()
        .map(|p| match p {
            TemplatePart::Text(s) => s.clone(),
            TemplatePart::Var(v) => format!("{{{{{}}}}}", v.node),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Percentile {
    P(u8),
    Min,
    Max,
    Mean,
}

impl std::fmt::Display for Percentile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Percentile::P(n) => write!(f, "p{n}"),
            Percentile::Min => f.write_str("min"),
            Percentile::Max => f.write_str("max"),
            Percentile::Mean => f.write_str("mean"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub negated: bool,
    pub op: Op,
    /// None for `exists` and `valid`.
    pub operand: Option<Value>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
    StartsWith,
    EndsWith,
    Exists,
    Valid,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::Matches => "matches",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Exists => "exists",
            Op::Valid => "valid",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub name: Spanned<String>,
    pub query: Query,
    /// Marked `secret` explicitly.
    pub secret: bool,
    pub span: Span,
}
