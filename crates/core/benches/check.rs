//! Parse and check throughput, through the library API.
//!
//! cargo bench --bench check            # all
//! cargo bench --bench check -- parse   # a group by name
//!
//! The specs are generated here, shaped like the ones benches/compare.sh
//! generates: a `vars` block, a managed client, and steps that GET a
//! protected resource with a status, a body substring, a latency and (for
//! the check corpus) a JSONPath expectation. `BENCH_CHECK_FILES=N` sizes
//! the `check_paths` corpus (1,000 files of 100 steps). See
//! docs/performance.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oauthspec_core::check::load::load_str;
use oauthspec_core::check::{check_paths, check_spec, CheckOptions};

/// A spec of `steps` steps with three expectations each, four `with_json`.
fn spec_text(suite: &str, steps: usize, with_json: bool) -> String {
    let mut s = format!(
        r#"suite "{suite}"

vars {{
  api = "http://127.0.0.1:18480"
}}

client bench {{
  token_url     "{{{{api}}}}/oauth2/token"
  client_id     "bench-client"
  client_secret secret("bench-secret")
  scope         "orders:read"
}}
"#
    );
    for i in 1..=steps {
        s.push_str(&format!(
            "\nstep \"orders {i:05}\" {{\n  GET \"{{{{api}}}}/v1/orders\"\n  auth bench\n  \
             expect status == 200\n  expect body contains \"ord_1001\"\n  expect latency < 1s\n"
        ));
        if with_json {
            s.push_str("  expect json \"$.orders[0].id\" == \"ord_1001\"\n");
        }
        s.push_str("}\n");
    }
    s
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for steps in [1usize, 100, 1000] {
        let text = spec_text("parse", steps, true);
        let path = PathBuf::from(format!("/nonexistent/parse-{steps}.oauthspec"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("load_str/{steps}_steps"), |b| {
            b.iter(|| {
                let (spec, diags) = load_str(&path, black_box(&text));
                assert!(diags.is_empty(), "{diags:?}");
                spec
            })
        });
    }
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/examples/orders-smoke.oauthspec");
    let text = std::fs::read_to_string(&example).expect("the example spec");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("load_str/orders-smoke", |b| {
        b.iter(|| load_str(&example, black_box(&text)))
    });
    group.finish();
}

fn check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_spec");
    let options = CheckOptions::default();
    for steps in [1usize, 100, 1000] {
        let text = spec_text("check", steps, true);
        let path = PathBuf::from(format!("/nonexistent/check-{steps}.oauthspec"));
        let (spec, diags) = load_str(&path, &text);
        assert!(diags.is_empty(), "{diags:?}");
        let spec = spec.expect("the generated spec parses");
        group.throughput(Throughput::Elements(steps as u64));
        group.bench_function(format!("{steps}_steps"), |b| {
            b.iter(|| {
                let checked = check_spec(black_box(&spec), &options);
                assert!(!checked.has_errors());
                checked
            })
        });
    }
    group.finish();
}

/// The issue's target: `check` of 1,000 files holding 100,000 steps in
/// under 1 s (here from the page cache: files, parse, check).
fn check_tree(c: &mut Criterion) {
    // `cargo test --all-targets` runs each benchmark once, unoptimised:
    // a few files are enough there.
    let default_files = if cfg!(debug_assertions) { 10 } else { 1000 };
    let files: usize = std::env::var("BENCH_CHECK_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_files);
    let dir = tempfile::tempdir().expect("a temp dir");
    let text = spec_text("tree", 100, true);
    for i in 0..files {
        std::fs::write(dir.path().join(format!("c{i:04}.oauthspec")), &text).expect("write");
    }
    let paths = vec![dir.path().to_path_buf()];
    let options = CheckOptions::default();
    let mut group = c.benchmark_group("check_paths");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(30));
    group.throughput(Throughput::Elements((files * 100) as u64));
    group.bench_function(format!("{files}_files_x_100_steps"), |b| {
        // Dropping the project is part of what `oauthspec check` pays.
        b.iter(|| {
            let project = check_paths(black_box(&paths), &options);
            assert_eq!(project.error_count(), 0);
            assert_eq!(project.step_count(), files * 100);
            project
        })
    });
    group.finish();
}

criterion_group!(benches, parse, check, check_tree);
criterion_main!(benches);
