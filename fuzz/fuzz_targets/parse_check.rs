//! Fuzz target: the whole front end (parse → check → render diagnostics)
//! on arbitrary text. Any panic is a bug; see docs/fuzzing.md.
#![no_main]

use std::collections::HashMap;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use oauthspec_core::check::{check_spec, CheckOptions};
use oauthspec_core::check::load::Spec;
use oauthspec_core::source::SourceFile;
use oauthspec_core::syntax::parse;
use oauthspec_core::check::value::Environment;

/// The input's path: a directory that does not exist, so `file("...")`
/// with a relative path fails at once instead of reading the disk.
const PATH: &str = "/nonexistent-oauthspec-fuzz/fuzz.oauthspec";

fuzz_target!(|data: &[u8]| {
    // The language is UTF-8 text; the CLI rejects anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `file("/dev/zero")` and the like are refused as not regular files,
    // so no path needs keeping from the fuzzer.
    front_end(text);
});

fn front_end(text: &str) {
    let source = SourceFile::new(PATH, text);
    let (file, diagnostics) = parse(&source);
    for d in &diagnostics {
        let _ = d.render(false);
        let _ = d.render(true);
        let _ = d.location_string();
    }
    let Some(file) = file else {
        return;
    };
    let spec = Spec {
        file: Arc::new(file),
        imports: vec![],
    };
    let _ = spec.suite_name();
    let options = options();
    let checked = check_spec(&spec, &options);
    for d in &checked.diagnostics {
        let _ = d.render(false);
        let _ = d.location_string();
    }
    for m in &checked.missing_env {
        let _ = m.diagnostic(true).render(false);
    }
}

/// One environment variable and one `--var` are set, so both the found and
/// the missing branches of `env(...)` and templates are reachable.
fn options() -> CheckOptions {
    let mut env = Environment::default();
    env.fixed.insert("FUZZ_ENV".into(), "fuzz-value".into());
    let mut cli_vars = HashMap::new();
    cli_vars.insert("fuzz_var".into(), "fuzz-cli-value".into());
    CheckOptions { env, cli_vars }
}
