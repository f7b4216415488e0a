//! Every construct of the language parses into the expected syntax tree;
//! the example specs check as documented; no input makes the front end
//! panic.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oauthspec_core::check::value::Environment;
use oauthspec_core::check::{check_paths, check_spec, CheckOptions};
use oauthspec_core::source::{SourceFile, Span};
use oauthspec_core::syntax::ast::*;
use oauthspec_core::syntax::parse;

const EXAMPLE: &str = "specs/examples/orders-smoke.oauthspec";
const CLIENTS: &str = "specs/examples/clients.oauthspec";

// ---------------------------------------------------------------- helpers

/// Parses `text`, which must have no diagnostics at all.
fn spec(text: &str) -> SpecFile {
    let source = SourceFile::new("test.oauthspec", text);
    let (file, diagnostics) = parse(&source);
    let rendered: Vec<String> = diagnostics.iter().map(|d| d.render(false)).collect();
    assert!(
        diagnostics.is_empty(),
        "unexpected diagnostics:\n{}",
        rendered.join("\n")
    );
    file.expect("a tree")
}

/// A step holding `GET "https://api.test/x"` and `stmts`.
fn step(stmts: &str) -> Step {
    let text = format!("step \"s\" {{\n  GET \"https://api.test/x\"\n{stmts}\n}}\n");
    let mut file = spec(&text);
    assert_eq!(file.steps.len(), 1);
    file.steps.remove(0)
}

/// The source text a span covers.
fn at(file: &SpecFile, span: Span) -> &str {
    &file.source.text[span.start..span.end]
}

fn text(parts: &[TemplatePart]) -> String {
    template_text(&Template {
        parts: parts.to_vec(),
        span: Span::default(),
    })
}

/// A string value's text without holes.
fn lit(value: &Value) -> String {
    match &value.kind {
        ValueKind::Str(t) => t.as_literal().expect("no templates"),
        other => panic!("not a string: {other:?}"),
    }
}

fn tlit(t: &Template) -> String {
    t.as_literal().expect("no templates")
}

fn only_expect(stmts: &str) -> Expect {
    let mut s = step(stmts);
    assert_eq!(s.expects.len(), 1, "{stmts}");
    s.expects.remove(0)
}

fn query(q: &str) -> QueryKind {
    only_expect(&format!("  expect {q} exists")).query.kind
}

fn var_value(v: &str) -> ValueKind {
    let file = spec(&format!("vars {{\n  v = {v}\n}}\n"));
    file.vars[0].value.kind.clone()
}

fn deterministic_env() -> Environment {
    Environment::default()
}

// ------------------------------------------------------------- top level

#[test]
fn suite_import_vars_client_and_steps() {
    let f = spec(
        r#"# leading comment
suite "orders api smoke"   # trailing comment
import "clients.oauthspec"
import "more/shared.oauthspec"
vars { a = "1" }
client c { token_url "https://auth.test/token" client_id "id" client_secret "s" }
step "one" { GET "https://api.test/1" }
step "two" always { GET "https://api.test/2" }
"#,
    );
    let suite = f.suite.as_ref().expect("suite");
    assert_eq!(suite.node, "orders api smoke");
    assert_eq!(at(&f, suite.span), "\"orders api smoke\"");
    let imports: Vec<&str> = f.imports.iter().map(|i| i.node.as_str()).collect();
    assert_eq!(imports, ["clients.oauthspec", "more/shared.oauthspec"]);
    assert_eq!(at(&f, f.imports[1].span), "\"more/shared.oauthspec\"");
    assert_eq!(f.vars.len(), 1);
    assert_eq!(f.clients.len(), 1);
    assert_eq!(f.clients[0].name.node, "c");
    assert!(at(&f, f.clients[0].span).starts_with("client c {"));
    assert_eq!(f.steps.len(), 2);
    assert_eq!(f.steps[0].name.node, "one");
    assert_eq!(at(&f, f.steps[0].name.span), "\"one\"");
    assert!(!f.steps[0].always);
    assert!(f.steps[1].always);
    assert!(at(&f, f.steps[1].span).starts_with("step \"two\" always {"));
}

#[test]
fn an_empty_or_comment_only_file_is_valid() {
    for text in ["", "\n\n", "# only a comment", "# a\n   # b\n"] {
        let f = spec(text);
        assert!(f.suite.is_none() && f.steps.is_empty() && f.vars.is_empty());
    }
}

#[test]
fn comments_go_anywhere_but_inside_strings() {
    let s = step(
        r##"  # a comment line
  header "X-Tag" = "a#b"   # the # in the string is text
  json {            # after the brace
    "k": [1, # inside an array
          2],
    "h": "#x"
  }
  expect status == 200 # after an expectation"##,
    );
    assert_eq!(lit(&s.headers[0].value), "a#b");
    let Some(Body::Json(Json::Object(members))) = &s.body else {
        panic!("json body")
    };
    assert_eq!(members.len(), 2);
    assert_eq!(
        members[0].1,
        Json::Array(vec![Json::Literal("1".into()), Json::Literal("2".into())])
    );
    assert_eq!(
        members[1].1.clone().str_template().as_literal().unwrap(),
        "#x"
    );
    assert_eq!(s.expects.len(), 1);

    // Between an option's words and its value too (a comment was once
    // read as the backoff's duration, and as the URL of `proof_for`).
    let s = step("  retry 2 backoff # wait\n 1s max # at most\n 2m\n  auth c proof_for # htu\n \"https://x.test/\"");
    let retry = s.options.retry.unwrap();
    assert_eq!(retry.backoff, Some(Duration::from_secs(1)));
    assert_eq!(retry.max, Some(Duration::from_secs(120)));
    let Some(ProofOption::For { url, .. }) = &s.options.proof else {
        panic!("proof_for: {:?}", s.options.proof)
    };
    assert_eq!(lit(url), "https://x.test/");
}

trait StrTemplate {
    fn str_template(self) -> Template;
}

impl StrTemplate for Json {
    fn str_template(self) -> Template {
        match self {
            Json::Str(t) => t,
            other => panic!("not a JSON string: {other:?}"),
        }
    }
}

#[test]
fn newlines_are_insignificant() {
    let s = step(r#"  form { a = "1" b = "2" }  expect status == 200 expect body exists"#);
    let Some(Body::Form(pairs)) = &s.body else {
        panic!("form")
    };
    assert_eq!(pairs.len(), 2);
    assert_eq!(s.expects.len(), 2);
}

// ------------------------------------------------------------------ vars

#[test]
fn vars_hold_every_kind_of_value() {
    let f = spec(
        r#"vars {
  s     = "text"
  n     = 42
  neg   = -1.5
  t     = true
  f     = false
  d     = 250ms
  e     = env("ORDERS_API")
  ed    = env("ORDERS_API", "https://api.test")
  nest  = env("A", env("B", "c"))
  named = env("{{prefix}}_ID")
  sec   = secret(env("ORDERS_CLIENT_SECRET"))
  sl    = secret("literal")
  k     = file("keys/orders.pem")
}"#,
    );
    let by_name: HashMap<&str, &ValueKind> = f
        .vars
        .iter()
        .map(|v| (v.name.node.as_str(), &v.value.kind))
        .collect();
    assert!(matches!(by_name["s"], ValueKind::Str(t) if tlit(t) == "text"));
    assert_eq!(by_name["n"], &ValueKind::Number(42.0));
    assert_eq!(by_name["neg"], &ValueKind::Number(-1.5));
    assert_eq!(by_name["t"], &ValueKind::Bool(true));
    assert_eq!(by_name["f"], &ValueKind::Bool(false));
    assert_eq!(
        by_name["d"],
        &ValueKind::Duration(Duration::from_millis(250))
    );
    match by_name["e"] {
        ValueKind::Env { name, default } => {
            assert_eq!(tlit(name), "ORDERS_API");
            assert!(default.is_none());
        }
        other => panic!("{other:?}"),
    }
    match by_name["ed"] {
        ValueKind::Env { name, default } => {
            assert_eq!(tlit(name), "ORDERS_API");
            assert_eq!(lit(default.as_deref().unwrap()), "https://api.test");
        }
        other => panic!("{other:?}"),
    }
    match by_name["nest"] {
        ValueKind::Env {
            default: Some(d), ..
        } => assert!(
            matches!(&d.kind, ValueKind::Env { name, default: Some(_) } if tlit(name) == "B")
        ),
        other => panic!("{other:?}"),
    }
    match by_name["named"] {
        ValueKind::Env { name, .. } => {
            assert!(matches!(&name.parts[0], TemplatePart::Var(v) if v.node == "prefix"));
            assert_eq!(name.parts[1], TemplatePart::Text("_ID".into()));
        }
        other => panic!("{other:?}"),
    }
    match by_name["sec"] {
        ValueKind::Secret(inner) => {
            assert!(
                matches!(&inner.kind, ValueKind::Env { name, .. } if tlit(name) == "ORDERS_CLIENT_SECRET")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(by_name["sl"], ValueKind::Secret(v) if lit(v) == "literal"));
    assert!(matches!(by_name["k"], ValueKind::File(t) if tlit(t) == "keys/orders.pem"));
    // Spans cover the whole written value, name spans the name only.
    let e = f.vars.iter().find(|v| v.name.node == "ed").unwrap();
    assert_eq!(at(&f, e.name.span), "ed");
    assert_eq!(
        at(&f, e.value.span),
        r#"env("ORDERS_API", "https://api.test")"#
    );
}

#[test]
fn numbers_booleans_and_durations() {
    assert_eq!(var_value("0"), ValueKind::Number(0.0));
    assert_eq!(var_value("3.25"), ValueKind::Number(3.25));
    assert_eq!(var_value("-7"), ValueKind::Number(-7.0));
    assert_eq!(var_value("true"), ValueKind::Bool(true));
    assert_eq!(var_value("0ms"), ValueKind::Duration(Duration::ZERO));
    assert_eq!(
        var_value("1500ms"),
        ValueKind::Duration(Duration::from_millis(1500))
    );
    assert_eq!(var_value("5s"), ValueKind::Duration(Duration::from_secs(5)));
    assert_eq!(
        var_value("2m"),
        ValueKind::Duration(Duration::from_secs(120))
    );
}

// --------------------------------------------------------------- strings

#[test]
fn string_escapes() {
    let ValueKind::Str(t) = var_value(r#""q\" b\\ n\n t\t r\r e\u{1F600} \u{e9} brace\{{x}}""#)
    else {
        panic!("string")
    };
    assert_eq!(
        t.as_literal().unwrap(),
        "q\" b\\ n\n t\t r\r e\u{1F600} \u{e9} brace{{x}}"
    );
}

#[test]
fn templates_keep_the_span_of_each_name() {
    let f = spec("step \"s\" {\n  GET \"{{api}}/v1/orders/{{ id }}?x=1\"\n}\n");
    let req = f.steps[0].request.as_ref().unwrap();
    let ValueKind::Str(t) = &req.url.kind else {
        panic!("string")
    };
    assert_eq!(t.parts.len(), 4);
    let TemplatePart::Var(api) = &t.parts[0] else {
        panic!("var")
    };
    assert_eq!(api.node, "api");
    assert_eq!(at(&f, api.span), "api");
    assert_eq!(t.parts[1], TemplatePart::Text("/v1/orders/".into()));
    let TemplatePart::Var(id) = &t.parts[2] else {
        panic!("var")
    };
    assert_eq!(id.node, "id");
    assert_eq!(at(&f, id.span), "id");
    assert_eq!(t.parts[3], TemplatePart::Text("?x=1".into()));
    assert_eq!(at(&f, t.span), "\"{{api}}/v1/orders/{{ id }}?x=1\"");
    assert_eq!(at(&f, req.url.span), at(&f, t.span));
    let vars: Vec<&str> = t.vars().map(|v| v.node.as_str()).collect();
    assert_eq!(vars, ["api", "id"]);
    assert_eq!(t.as_literal(), None);
}

#[test]
fn a_single_brace_is_text() {
    let ValueKind::Str(t) = var_value(r#""{a} {b}""#) else {
        panic!("string")
    };
    assert_eq!(t.as_literal().unwrap(), "{a} {b}");
}

/// `text` spells "anything but these" as character ranges; every other
/// character, ASCII or not, must still be text.
#[test]
fn every_character_but_quote_backslash_and_newline_is_text() {
    let mut text: String = (0u8..0x80)
        .map(char::from)
        .filter(|c| !matches!(c, '"' | '\\' | '\n'))
        .collect();
    text.push_str("é€😀\u{10FFFF}{");
    let ValueKind::Str(t) = var_value(&format!("\"{text}\"")) else {
        panic!("string")
    };
    assert_eq!(t.as_literal().unwrap(), text);
}

fn triple(body: &str) -> Template {
    match var_value(body) {
        ValueKind::Str(t) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn triple_quoted_strings_are_dedented() {
    // The newline after the opening quotes, the common indentation and the
    // closing quotes' own line go.
    let t = triple("\"\"\"\n    {\n      \"sku\": \"A1\"\n    }\n    \"\"\"");
    assert_eq!(t.as_literal().unwrap(), "{\n  \"sku\": \"A1\"\n}");
    // Blank lines do not count towards the common indentation.
    let t = triple("\"\"\"\n    a\n\n      b\n  \"\"\"");
    assert_eq!(t.as_literal().unwrap(), "a\n\n  b");
    // Closing quotes on the last text line keep that line.
    let t = triple("\"\"\"\n  one\n  two\"\"\"");
    assert_eq!(t.as_literal().unwrap(), "one\ntwo");
    // On one line: raw text, quotes allowed, no escapes.
    let t = triple(r#""""say "hi" \n""""#);
    assert_eq!(t.as_literal().unwrap(), r#"say "hi" \n"#);
}

#[test]
fn triple_quoted_strings_hold_templates() {
    let t = triple("\"\"\"\n    grant_type={{grant}}\n      &scope={{ scope }}\n    \"\"\"");
    assert_eq!(text(&t.parts), "grant_type={{grant}}\n  &scope={{scope}}");
    let names: Vec<&str> = t.vars().map(|v| v.node.as_str()).collect();
    assert_eq!(names, ["grant", "scope"]);
    // A template at the start of a line counts as text for the indentation.
    let t = triple("\"\"\"\n    {{a}}\n      {{b}}\n    \"\"\"");
    assert_eq!(text(&t.parts), "{{a}}\n  {{b}}");
}

// --------------------------------------------------------------- clients

#[test]
fn client_settings() {
    let f = spec(
        r#"client orders {
  token_url     "https://auth.test/token"
  discovery     "https://auth.test"
  grant         refresh_token
  client_id     env("ORDERS_CLIENT_ID")
  client_secret secret(env("ORDERS_CLIENT_SECRET"))
  refresh_token secret("rt")
  username      "alice"
  password      secret("pw")
  scope         "orders:read orders:write"
  audience      "https://api.test"
  resource      "https://api.test/orders"
  auth_method   client_secret_post
  private_key   file("keys/orders.pem")
  key_id        "k1"
  alg           ES256
  scheme        "DPoP"
  jwks_uri      "https://auth.test/jwks"
  param "tenant" = "acme"
  param "x-{{n}}" = 3
}"#,
    );
    let c = &f.clients[0];
    assert_eq!(c.name.node, "orders");
    assert_eq!(at(&f, c.name.span), "orders");
    let keys: Vec<&str> = c.settings.iter().map(|s| s.key.node.as_str()).collect();
    assert_eq!(
        keys,
        [
            "token_url",
            "discovery",
            "grant",
            "client_id",
            "client_secret",
            "refresh_token",
            "username",
            "password",
            "scope",
            "audience",
            "resource",
            "auth_method",
            "private_key",
            "key_id",
            "alg",
            "scheme",
            "jwks_uri",
            "param",
            "param"
        ]
    );
    let get = |k: &str| &c.settings.iter().find(|s| s.key.node == k).unwrap().value;
    assert_eq!(get("grant").kind, ValueKind::Symbol("refresh_token".into()));
    assert_eq!(
        get("auth_method").kind,
        ValueKind::Symbol("client_secret_post".into())
    );
    assert_eq!(get("alg").kind, ValueKind::Symbol("ES256".into()));
    assert_eq!(lit(get("scope")), "orders:read orders:write");
    assert!(matches!(get("client_secret").kind, ValueKind::Secret(_)));
    assert!(matches!(get("private_key").kind, ValueKind::File(_)));
    assert!(c.settings[..17].iter().all(|s| s.param.is_none()));
    let tenant = &c.settings[17];
    assert_eq!(tlit(tenant.param.as_ref().unwrap()), "tenant");
    assert_eq!(lit(&tenant.value), "acme");
    let templated = &c.settings[18];
    assert_eq!(text(&templated.param.as_ref().unwrap().parts), "x-{{n}}");
    assert_eq!(templated.value.kind, ValueKind::Number(3.0));
    assert_eq!(at(&f, c.settings[2].key.span), "grant");
}

// ----------------------------------------------------------------- steps

#[test]
fn every_method() {
    for (word, method) in [
        ("GET", Method::Get),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("PATCH", Method::Patch),
        ("DELETE", Method::Delete),
        ("HEAD", Method::Head),
        ("OPTIONS", Method::Options),
    ] {
        let f = spec(&format!("step \"s\" {{ {word} \"https://api.test\" }}"));
        let req = f.steps[0].request.as_ref().unwrap();
        assert_eq!(req.method.node, method);
        assert_eq!(req.method.node.as_str(), word);
        assert_eq!(at(&f, req.method.span), word);
        assert_eq!(lit(&req.url), "https://api.test");
    }
}

#[test]
fn the_url_may_be_any_value() {
    let f = spec("step \"s\" { GET env(\"HEALTH_URL\", \"https://api.test/health\") }");
    let req = f.steps[0].request.as_ref().unwrap();
    assert!(matches!(&req.url.kind, ValueKind::Env { .. }));
}

#[test]
fn headers_query_and_form() {
    let s = step(
        r#"  header "Accept" = "application/json"
  header "X-{{name}}" = env("TAG", "t")
  query { page = 2 "sort by" = "date" "{{k}}" = "{{v}}" }
  query { limit = 10 }
  form {
    grant_type = "client_credentials"
    scope      = "orders:read"
  }"#,
    );
    assert_eq!(s.headers.len(), 2);
    assert_eq!(tlit(&s.headers[0].name), "Accept");
    assert_eq!(lit(&s.headers[0].value), "application/json");
    assert_eq!(text(&s.headers[1].name.parts), "X-{{name}}");
    assert!(matches!(s.headers[1].value.kind, ValueKind::Env { .. }));
    // Two query blocks add up.
    let q: Vec<String> = s.query.iter().map(|p| text(&p.name.parts)).collect();
    assert_eq!(q, ["page", "sort by", "{{k}}", "limit"]);
    assert_eq!(s.query[0].value.kind, ValueKind::Number(2.0));
    let ValueKind::Str(v) = &s.query[2].value.kind else {
        panic!("string")
    };
    assert_eq!(text(&v.parts), "{{v}}");
    let Some(Body::Form(pairs)) = &s.body else {
        panic!("form body")
    };
    let form: Vec<(String, String)> = pairs
        .iter()
        .map(|p| (tlit(&p.name), lit(&p.value)))
        .collect();
    assert_eq!(
        form,
        [
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), "orders:read".to_string())
        ]
    );
}

#[test]
fn json_bodies() {
    let s = step(
        r#"  json {
    "sku": "A1",
    "qty": 2,
    "price": -10.5e2,
    "gift": false,
    "note": null,
    "owner": "{{user}}",
    "order": {{order}},
    "items": [ {"id": {{ first }} }, [], {} ],
    "{{key}}": "v",
  }"#,
    );
    let Some(Body::Json(Json::Object(m))) = &s.body else {
        panic!("json object")
    };
    let keys: Vec<String> = m.iter().map(|(k, _)| text(&k.parts)).collect();
    assert_eq!(
        keys,
        ["sku", "qty", "price", "gift", "note", "owner", "order", "items", "{{key}}"]
    );
    assert_eq!(m[0].1.clone().str_template().as_literal().unwrap(), "A1");
    assert_eq!(m[1].1, Json::Literal("2".into()));
    assert_eq!(m[2].1, Json::Literal("-10.5e2".into()));
    assert_eq!(m[3].1, Json::Literal("false".into()));
    assert_eq!(m[4].1, Json::Literal("null".into()));
    // A template inside quotes is a string; outside quotes a raw value.
    assert_eq!(text(&m[5].1.clone().str_template().parts), "{{user}}");
    let Json::Raw(order) = &m[6].1 else {
        panic!("raw")
    };
    assert_eq!(order.node, "order");
    let Json::Array(items) = &m[7].1 else {
        panic!("array")
    };
    assert_eq!(items.len(), 3);
    let Json::Object(first) = &items[0] else {
        panic!("object")
    };
    assert!(matches!(&first[0].1, Json::Raw(v) if v.node == "first"));
    assert_eq!(items[1], Json::Array(vec![]));
    assert_eq!(items[2], Json::Object(vec![]));

    let s = step(r#"  json [1, "two", {{three}}]"#);
    let Some(Body::Json(Json::Array(a))) = &s.body else {
        panic!("json array")
    };
    assert_eq!(a.len(), 3);
    assert!(matches!(&a[2], Json::Raw(v) if v.node == "three"));
}

#[test]
fn raw_json_template_span_is_the_name() {
    let f = spec("step \"s\" {\n  POST \"https://api.test\"\n  json { \"n\": {{ count }} }\n}\n");
    let Some(Body::Json(Json::Object(m))) = &f.steps[0].body else {
        panic!("json")
    };
    let Json::Raw(v) = &m[0].1 else { panic!("raw") };
    assert_eq!(at(&f, v.span), "count");
}

#[test]
fn raw_bodies() {
    let s = step(r#"  body "plain text""#);
    assert!(matches!(&s.body, Some(Body::Raw(v)) if lit(v) == "plain text"));
    let s = step(r#"  body file("fixtures/order.json")"#);
    assert!(
        matches!(&s.body, Some(Body::Raw(Value { kind: ValueKind::File(t), .. })) if tlit(t) == "fixtures/order.json")
    );
    let s = step("  body \"\"\"\n    <order id=\"{{id}}\"/>\n    \"\"\"");
    let Some(Body::Raw(Value {
        kind: ValueKind::Str(t),
        ..
    })) = &s.body
    else {
        panic!("raw string body")
    };
    assert_eq!(text(&t.parts), "<order id=\"{{id}}\"/>");
}

#[test]
fn authentication() {
    let s = step(r#"  basic_auth env("ID") secret("pw")"#);
    let Some(Auth::Basic { user, password }) = &s.auth else {
        panic!("basic")
    };
    assert!(matches!(user.kind, ValueKind::Env { .. }));
    assert!(matches!(password.kind, ValueKind::Secret(_)));
    let s = step(r#"  bearer "{{token}}""#);
    let Some(Auth::Bearer(Value {
        kind: ValueKind::Str(t),
        ..
    })) = &s.auth
    else {
        panic!("bearer")
    };
    assert_eq!(text(&t.parts), "{{token}}");
    let f = spec("step \"s\" {\n  GET \"https://api.test\"\n  auth orders\n}");
    let Some(Auth::Client(name)) = &f.steps[0].auth else {
        panic!("client auth")
    };
    assert_eq!(name.node, "orders");
    assert_eq!(at(&f, name.span), "orders");
}

#[test]
fn options() {
    let s =
        step("  timeout 250ms\n  retry 3\n  repeat 20\n  delay 1m\n  follow_redirects\n  insecure");
    let o = &s.options;
    assert_eq!(o.timeout.as_ref().unwrap().node, Duration::from_millis(250));
    let retry = o.retry.as_ref().unwrap();
    assert_eq!((retry.count, retry.backoff), (3, None));
    assert_eq!(o.repeat.as_ref().unwrap().node, 20);
    assert_eq!(o.delay.as_ref().unwrap().node, Duration::from_secs(60));
    assert_eq!(o.follow_redirects, Some(true));
    assert!(o.insecure);

    let s = step("  retry 0 backoff 200ms\n  follow_redirects false\n  timeout 5s");
    let retry = s.options.retry.as_ref().unwrap();
    assert_eq!(
        (retry.count, retry.backoff),
        (0, Some(Duration::from_millis(200)))
    );
    assert_eq!(s.options.follow_redirects, Some(false));
    assert_eq!(s.options.timeout.unwrap().node, Duration::from_secs(5));

    let s = step("  follow_redirects true");
    assert_eq!(s.options.follow_redirects, Some(true));

    let s = step("");
    assert_eq!(s.options, StepOptions::default());
    assert_eq!(s.options.follow_redirects, None);
    assert!(!s.options.insecure);
}

#[test]
fn retry_span_covers_the_statement() {
    let f = spec("step \"s\" {\n  GET \"https://api.test\"\n  retry 2 backoff 1s\n}");
    let r = f.steps[0].options.retry.as_ref().unwrap();
    assert_eq!(at(&f, r.span), "retry 2 backoff 1s");
    let f = spec("step \"s\" {\n  GET \"https://api.test\"\n  retry 30 until pass backoff 1s max 2m # poll\n}");
    let r = f.steps[0].options.retry.as_ref().unwrap();
    assert_eq!(at(&f, r.span), "retry 30 until pass backoff 1s max 2m");
    assert!(r.until_pass);
    assert_eq!(r.backoff, Some(Duration::from_secs(1)));
    assert_eq!(r.max, Some(Duration::from_secs(120)));
    let f = spec("step \"s\" {\n  GET \"https://api.test\"\n  retry 3 \n}");
    let r = f.steps[0].options.retry.as_ref().unwrap();
    assert_eq!(at(&f, r.span), "retry 3");
    assert!(!r.until_pass && r.max.is_none());
}

// --------------------------------------------------------------- queries

#[test]
fn every_query_kind() {
    assert_eq!(query("status"), QueryKind::Status);
    assert_eq!(query("latency"), QueryKind::Latency(None));
    assert_eq!(query("body"), QueryKind::Body);
    assert!(
        matches!(query(r#"header "Cache-Control""#), QueryKind::Header(t) if tlit(&t) == "Cache-Control")
    );
    assert!(
        matches!(query(r#"header "X-{{h}}""#), QueryKind::Header(t) if text(&t.parts) == "X-{{h}}")
    );
    assert!(
        matches!(query(r#"json "$.orders[0].id""#), QueryKind::Json(p) if p.node == "$.orders[0].id")
    );
    assert!(matches!(query(r#"regex "id=(\\w+)""#), QueryKind::Regex(r) if r.node == r"id=(\w+)"));
    assert_eq!(query("oauth_error"), QueryKind::OAuthError);
    assert_eq!(
        query("oauth_error_description"),
        QueryKind::OAuthErrorDescription
    );
    match query(r#"jwt "$.access_token" claim "scope""#) {
        QueryKind::JwtClaim {
            source: JwtSource::BodyPath(source),
            claim,
        } => {
            assert_eq!(tlit(&source), "$.access_token");
            assert_eq!(claim.node, "scope");
        }
        other => panic!("{other:?}"),
    }
    match query(r#"jwt "{{token}}" claim "sub""#) {
        QueryKind::JwtClaim {
            source: JwtSource::Value(source),
            claim,
        } => {
            assert_eq!(text(&source.parts), "{{token}}");
            assert_eq!(claim.node, "sub");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn latency_percentiles() {
    for (word, p) in [
        ("p50", Percentile::P(50)),
        ("p99", Percentile::P(99)),
        ("p5", Percentile::P(5)),
        ("max", Percentile::Max),
        ("min", Percentile::Min),
        ("mean", Percentile::Mean),
    ] {
        let e = only_expect(&format!("  repeat 10\n  expect latency {word} < 300ms"));
        let QueryKind::Latency(Some(got)) = &e.query.kind else {
            panic!("percentile {word}")
        };
        assert_eq!(got.node, p);
        assert_eq!(got.node.to_string(), word);
        assert_eq!(
            e.predicate.operand.as_ref().unwrap().kind,
            ValueKind::Duration(Duration::from_millis(300))
        );
    }
}

#[test]
fn jwt_signature_valid_and_not_valid() {
    let e = only_expect(r#"  expect jwt "$.id_token" signature valid"#);
    assert!(
        matches!(&e.query.kind, QueryKind::JwtSignature { source: JwtSource::BodyPath(source) } if tlit(source) == "$.id_token")
    );
    assert_eq!(e.predicate.op, Op::Valid);
    assert!(!e.predicate.negated);
    assert!(e.predicate.operand.is_none());

    let f = spec(
        "step \"s\" {\n  GET \"https://api.test\"\n  expect jwt \"{{t}}\" signature not valid\n}",
    );
    let e = &f.steps[0].expects[0];
    assert!(
        matches!(&e.query.kind, QueryKind::JwtSignature { source: JwtSource::Value(source) } if text(&source.parts) == "{{t}}")
    );
    assert_eq!(e.predicate.op, Op::Valid);
    assert!(e.predicate.negated);
    assert_eq!(at(&f, e.query.span), "jwt \"{{t}}\" signature");
    assert_eq!(at(&f, e.predicate.span).trim(), "not valid");
    assert_eq!(at(&f, e.span), "expect jwt \"{{t}}\" signature not valid");
}

// ------------------------------------------------------------ predicates

#[test]
fn every_predicate() {
    for (src, op, negated) in [
        ("== 200", Op::Eq, false),
        ("!= 200", Op::Ne, false),
        ("< 200", Op::Lt, false),
        ("<= 200", Op::Le, false),
        ("> 200", Op::Gt, false),
        (">= 200", Op::Ge, false),
        ("not == 200", Op::Eq, true),
        ("contains \"x\"", Op::Contains, false),
        ("not contains \"x\"", Op::Contains, true),
        ("matches \"^a+$\"", Op::Matches, false),
        ("startswith \"a\"", Op::StartsWith, false),
        ("endswith \"z\"", Op::EndsWith, false),
        ("not endswith \"z\"", Op::EndsWith, true),
        ("exists", Op::Exists, false),
        ("not exists", Op::Exists, true),
    ] {
        let e = only_expect(&format!("  expect json \"$.a\" {src}"));
        assert_eq!(e.predicate.op, op, "{src}");
        assert_eq!(e.predicate.negated, negated, "{src}");
        assert_eq!(e.predicate.operand.is_some(), op != Op::Exists, "{src}");
    }
}

#[test]
fn operands() {
    let operand = |src: &str| {
        only_expect(&format!("  expect json \"$.a\" {src}"))
            .predicate
            .operand
            .unwrap()
            .kind
    };
    assert_eq!(operand("== 1.5"), ValueKind::Number(1.5));
    assert_eq!(operand("== -3"), ValueKind::Number(-3.0));
    assert_eq!(operand("== true"), ValueKind::Bool(true));
    assert_eq!(
        operand("== invalid_client"),
        ValueKind::Symbol("invalid_client".into())
    );
    assert!(matches!(operand(r#"== "{{id}}""#), ValueKind::Str(t) if text(&t.parts) == "{{id}}"));
    assert!(matches!(
        operand(r#"== env("X", "y")"#),
        ValueKind::Env { .. }
    ));
    assert!(matches!(
        operand(r#"== secret("s3cr3t")"#),
        ValueKind::Secret(_)
    ));
    assert!(matches!(
        operand(r#"== file("expected.json")"#),
        ValueKind::File(_)
    ));
}

#[test]
fn expect_no() {
    let f = spec("step \"s\" {\n  GET \"https://api.test\"\n  expect no header \"Set-Cookie\"\n  expect no oauth_error\n}");
    let e = &f.steps[0].expects;
    assert!(matches!(&e[0].query.kind, QueryKind::Header(t) if tlit(t) == "Set-Cookie"));
    assert_eq!(e[0].predicate.op, Op::Exists);
    assert!(e[0].predicate.negated);
    assert!(e[0].predicate.operand.is_none());
    assert_eq!(at(&f, e[0].predicate.span), "no");
    assert_eq!(e[1].query.kind, QueryKind::OAuthError);
    assert!(e[1].predicate.negated);
}

#[test]
fn expectation_spans() {
    let f = spec("step \"s\" {\n  GET \"https://api.test\"\n  expect json \"$.n\" not >= 3\n}");
    let e = &f.steps[0].expects[0];
    assert_eq!(at(&f, e.span), "expect json \"$.n\" not >= 3");
    assert_eq!(at(&f, e.query.span), "json \"$.n\"");
    assert_eq!(at(&f, e.predicate.span), "not >= 3");
    assert_eq!(at(&f, e.predicate.operand.as_ref().unwrap().span), "3");
    let QueryKind::Json(p) = &e.query.kind else {
        panic!("json")
    };
    assert_eq!(at(&f, p.span), "\"$.n\"");
}

// -------------------------------------------------------------- captures

#[test]
fn captures() {
    let f = spec(
        r#"step "s" {
  GET "https://api.test"
  capture token = json "$.access_token"
  capture sid = header "Set-Cookie" secret
  capture code = regex "code=([a-z]+)"
  capture took = latency
  capture claim = jwt "$.id_token" claim "sub"
}"#,
    );
    let c = &f.steps[0].captures;
    assert_eq!(c.len(), 5);
    assert_eq!(c[0].name.node, "token");
    assert_eq!(at(&f, c[0].name.span), "token");
    assert!(matches!(&c[0].query.kind, QueryKind::Json(p) if p.node == "$.access_token"));
    assert!(!c[0].secret, "only an explicit `secret` sets the flag");
    assert!(c[1].secret);
    assert!(matches!(&c[1].query.kind, QueryKind::Header(_)));
    assert!(matches!(&c[2].query.kind, QueryKind::Regex(r) if r.node == "code=([a-z]+)"));
    assert_eq!(c[3].query.kind, QueryKind::Latency(None));
    assert!(matches!(&c[4].query.kind, QueryKind::JwtClaim { .. }));
    assert_eq!(
        at(&f, c[1].span),
        "capture sid = header \"Set-Cookie\" secret"
    );
}

// -------------------------------------------------------------- examples

fn options_with(env: &[(&str, &str)]) -> CheckOptions {
    let mut e = deterministic_env();
    for (k, v) in env {
        e.fixed.insert(k.to_string(), v.to_string());
    }
    CheckOptions {
        env: e,
        cli_vars: HashMap::new(),
    }
}

#[test]
fn example_checks_clean_with_credentials_set() {
    let project = check_paths(
        &[PathBuf::from(EXAMPLE)],
        &options_with(&[
            ("ORDERS_CLIENT_ID", "orders-client"),
            ("ORDERS_CLIENT_SECRET", "orders-secret"),
        ]),
    );
    let rendered: Vec<String> = project
        .diagnostics
        .iter()
        .map(|d| d.render(false))
        .collect();
    assert!(project.diagnostics.is_empty(), "{}", rendered.join("\n"));
    assert!(project.missing_env.is_empty());
    assert_eq!(project.specs.len(), 1);
    let (spec, checked) = &project.specs[0];
    assert_eq!(spec.suite_name(), "orders api smoke");
    assert_eq!(spec.file.steps.len(), 8);
    assert_eq!(spec.imports.len(), 1);
    let mut clients: Vec<&str> = checked.clients.keys().map(String::as_str).collect();
    clients.sort();
    assert_eq!(clients, ["admin", "orders"]);
}

#[test]
fn example_without_credentials_reports_exactly_two_missing_env_vars() {
    let project = check_paths(&[PathBuf::from(EXAMPLE)], &options_with(&[]));
    assert_eq!(project.error_count(), 0);
    let missing: Vec<&str> = project
        .missing_env
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(missing, ["ORDERS_CLIENT_ID", "ORDERS_CLIENT_SECRET"]);
    // Each is reported where it is first needed.
    for m in &project.missing_env {
        assert_eq!(m.source.path, Path::new(EXAMPLE));
        let text = &m.source.text[m.span.start..m.span.end];
        assert_eq!(text, format!("env(\"{}\")", m.name));
    }
}

#[test]
fn the_examples_directory_checks_clean() {
    let project = check_paths(
        &[PathBuf::from("specs/examples")],
        &options_with(&[
            ("ORDERS_CLIENT_ID", "orders-client"),
            ("ORDERS_CLIENT_SECRET", "orders-secret"),
        ]),
    );
    assert_eq!(project.error_count(), 0);
    let files = crate::common::example_specs();
    assert_eq!(project.specs.len(), files);
    // clients.oauthspec has no steps: it is shared, not a suite.
    for (spec, _) in &project.specs {
        let shared = spec.file.source.path.ends_with("clients.oauthspec");
        assert_eq!(
            spec.is_suite(),
            !shared,
            "{}",
            spec.file.source.path.display()
        );
    }
}

// --------------------------------------------------------------- no panic

/// Parses and checks `text` as if it were the file at `path`, rendering
/// every diagnostic; panics propagate.
fn front_end(path: &Path, text: &str) {
    let options = options_with(&[]);
    let (spec, diagnostics) = oauthspec_core::check::load::load_str(path, text);
    for d in &diagnostics {
        let _ = d.render(true);
        let _ = d.location_string();
    }
    if let Some(spec) = spec {
        let checked = check_spec(&spec, &options);
        for d in &checked.diagnostics {
            let _ = d.render(false);
        }
        for m in &checked.missing_env {
            let _ = m.diagnostic(true).render(false);
        }
    }
    // The bare parser too, without imports.
    let _ = parse(&SourceFile::new(path, text));
}

/// Runs `front_end` on each input and reports every one that panics.
fn no_panics(path: &Path, inputs: impl IntoIterator<Item = (String, String)>) {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut panicked = Vec::new();
    let mut count = 0;
    for (what, text) in inputs {
        count += 1;
        if catch_unwind(AssertUnwindSafe(|| front_end(path, &text))).is_err() {
            panicked.push(format!("{what}: {text:?}"));
        }
    }
    std::panic::set_hook(hook);
    assert!(count > 0);
    assert!(
        panicked.is_empty(),
        "{} of {count} inputs panicked, e.g.:\n{}",
        panicked.len(),
        panicked
            .iter()
            .take(5)
            .map(|p| p.chars().take(400).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn no_prefix_of_the_examples_panics() {
    for path in [EXAMPLE, CLIENTS] {
        let text = read(path);
        let prefixes = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .map(|i| (format!("prefix of {i} bytes"), text[..i].to_string()));
        no_panics(Path::new(path), prefixes);
    }
}

#[test]
fn no_mutation_of_the_examples_panics() {
    let text = read(EXAMPLE);
    let bytes = text.as_bytes();
    let mut inputs = Vec::new();
    // Byte flips (made valid UTF-8 the lossy way, which brings in U+FFFD).
    for i in (0..bytes.len()).step_by(7) {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut b = bytes.to_vec();
            b[i] ^= mask;
            inputs.push((
                format!("flip {mask:#x} at {i}"),
                String::from_utf8_lossy(&b).into_owned(),
            ));
        }
    }
    // Deleting one character, and inserting or substituting a tricky one.
    let tricky = [
        '"', '{', '}', '\n', '\\', '#', '=', '$', 'é', '€', '\t', '\r',
    ];
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    for (n, &i) in starts.iter().enumerate() {
        let next = starts.get(n + 1).copied().unwrap_or(text.len());
        inputs.push((
            format!("delete at {i}"),
            format!("{}{}", &text[..i], &text[next..]),
        ));
        if n % 3 != 0 {
            continue;
        }
        let c = tricky[(n / 3) % tricky.len()];
        inputs.push((
            format!("insert {c:?} at {i}"),
            format!("{}{c}{}", &text[..i], &text[i..]),
        ));
        let c = tricky[(n * 7 + 3) % tricky.len()];
        inputs.push((
            format!("replace with {c:?} at {i}"),
            format!("{}{c}{}", &text[..i], &text[next..]),
        ));
    }
    no_panics(Path::new(EXAMPLE), inputs);
}

#[test]
fn no_handwritten_oddity_panics() {
    let odd = [
        "step \"s\" {\n  GET \"x\n\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\"\n}",
        "step \"s\" {\n  GET \"{{a\n\u{20ac}\u{20ac}\u{20ac}\u{20ac}\"\n}",
        "step \"s\" {\n  expect status ==\n\u{1F600}\u{1F600}\u{1F600}\n}",
        "\u{FEFF}step \"s\" { GET \"https://a\" }",
        "step \"s\" {\r\n  GET \"https://a\"\r\n  expect status == \"\u{e9}\r\n}\r\n",
        "vars { a = \"\"\"\n\t\u{e9}x\n  \ty\n\"\"\" }",
        "vars { a = \"\"\"\"\"\" }",
        "vars { a = \"\"\"{{x}}\"\"\" }",
        "vars { a = \"\"\"\n{{x}}\n  \"\"\" }",
        "vars { a = \"\\u{110000}\" b = \"\\u{0}\" }",
        "step \"s\" { GET \"https://a\" repeat 4294967296 retry 99999999999 }",
        "step \"s\" { GET \"https://a\" timeout 18446744073709551615m delay 18446744073709551616ms }",
        "step \"s\" { GET \"https://a\" repeat 2 expect latency p00 < 1s expect latency p99 < 1s }",
        "step \"s\" { GET \"https://a\" expect json \"\" exists expect regex \"\" exists }",
        "step \"s\" { GET \"https://a\" expect jwt \"\" claim \"\" exists expect jwt \"$\" signature valid }",
        "step \"s\" { GET \"{{x}}\" } step \"t\" { GET \"h\" capture x = body }",
        "client c { param \"\" = \"\" token_url \"\" client_id \"\" client_secret \"\" }",
        "import \"\"",
        "import \".\"",
        "import \"/\"",
        "step \"s\" { GET \"https://a\" body file(\"\") }",
        "step \"s\" { GET \"https://a\" body file(\".\") }",
    ];
    no_panics(
        Path::new("specs/examples/odd.oauthspec"),
        odd.iter()
            .enumerate()
            .map(|(i, t)| (format!("oddity {i}"), t.to_string())),
    );
}

#[test]
fn spans_always_fall_on_char_boundaries() {
    // Diagnostics render from spans; a span inside a multi-byte character
    // would panic there. Check a few diagnostics on non-ASCII lines.
    for text in [
        "step \"é\" {\n  é GET\n}",
        "step \"s\" {\n  GET \"https://ä/€\"\n  expect status = 2\n}",
        "sütte \"x\"",
    ] {
        let source: Arc<SourceFile> = SourceFile::new("u.oauthspec", text);
        let (_, diagnostics) = parse(&source);
        for d in diagnostics {
            if let Some((file, span)) = &d.location {
                assert!(file.text.is_char_boundary(span.start.min(file.text.len())));
            }
            let _ = d.render(false);
        }
    }
}

// ------------------------------------------------------------------ docs

/// Every ```oauthspec block of the language reference parses without a
/// diagnostic: as a whole file, or else as statements of a step.
#[test]
fn the_reference_examples_parse() {
    let doc = read("docs/language.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```oauthspec") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(blocks.len() >= 10, "only {} examples found", blocks.len());
    for block in &blocks {
        let (_, diagnostics) = parse(&SourceFile::new("doc.oauthspec", block.as_str()));
        if diagnostics.is_empty() {
            continue;
        }
        let wrapped = format!("step \"doc\" {{\n  GET \"https://api.test\"\n{block}}}\n");
        let (_, wrapped_diagnostics) = parse(&SourceFile::new("doc.oauthspec", wrapped));
        assert!(
            wrapped_diagnostics.is_empty(),
            "this example does not parse:\n{block}\n{}",
            diagnostics
                .iter()
                .map(|d| d.render(false))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Found by fuzzing: an unknown word before unclosed braces made the parser
/// try every way of reading them, twice the time per brace.
#[test]
fn unclosed_braces_after_an_unknown_word_parse_in_linear_time() {
    for input in [
        format!("x{}\n", "{".repeat(32)),
        format!("x {}", "{ a ".repeat(2000)),
        format!(
            "step \"s\" {{\n  GET \"http://a\"\n  exepct {}\n}}\n",
            "{".repeat(32)
        ),
    ] {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let source = oauthspec_core::source::SourceFile::new("x.oauthspec", input);
            let _ = oauthspec_core::syntax::parse(&source);
            let _ = done.send(());
        });
        assert!(
            finished
                .recv_timeout(std::time::Duration::from_secs(5))
                .is_ok(),
            "parsing took more than 5 s"
        );
    }
}
