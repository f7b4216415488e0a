//! The docs' examples work: every whole spec checks clean, and every CI
//! workflow is valid YAML whose `oauthspec` commands parse with the real
//! command line.

use clap::Parser as _;
use oauthspec_core::check::{check_paths, CheckOptions};
use yaml_rust2::{Yaml, YamlLoader};

/// The command line's own definition (it uses no other module of the
/// command).
#[allow(dead_code)]
#[path = "../src/args.rs"]
mod args;

/// The fenced blocks of `lang` in a doc.
fn blocks(doc: &str, lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    text.split(&format!("```{lang}\n"))
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_string())
        .collect()
}

#[test]
fn cookbook_specs_check_clean() {
    specs_check_clean(&blocks("docs/cookbook.md", "oauthspec"), false);
}

#[test]
fn ci_workflows_are_valid_and_their_commands_parse() {
    let specs = blocks("docs/ci.md", "oauthspec");
    assert_eq!(specs.len(), 1);
    // The smoke test reads its settings from the job's variables.
    specs_check_clean(&specs, true);

    let workflows = blocks("docs/ci.md", "yaml");
    assert_eq!(workflows.len(), 4, "GitHub, GitLab, smoke, token cache");
    let mut commands = Vec::new();
    for workflow in &workflows {
        let docs = YamlLoader::load_from_str(workflow)
            .unwrap_or_else(|e| panic!("not YAML: {e}\n{workflow}"));
        assert!(matches!(docs.as_slice(), [Yaml::Hash(_)]), "{workflow}");
        strings(&docs[0], &mut |s| commands.extend(oauthspec_commands(s)));
    }
    assert_eq!(commands.len(), 6, "{commands:#?}");
    for command in &commands {
        let words = shlex::split(command).unwrap_or_else(|| panic!("not shell words: {command}"));
        if let Err(e) = args::Cli::try_parse_from(&words) {
            panic!("`{command}` does not parse:\n{e}");
        }
    }
    // The merge job merges what the shards wrote, of a run split 4 ways.
    let all = commands.join("\n");
    for expected in [
        "--partition hash:1/4",
        "--partition auto",
        "report merge shards/*.json",
    ] {
        assert!(all.contains(expected), "{expected}: {all}");
    }
}

/// Calls `f` on every string in a YAML document.
fn strings(yaml: &Yaml, f: &mut dyn FnMut(&str)) {
    match yaml {
        Yaml::String(s) => f(s),
        Yaml::Array(items) => items.iter().for_each(|i| strings(i, f)),
        Yaml::Hash(map) => map.iter().for_each(|(k, v)| {
            strings(k, f);
            strings(v, f);
        }),
        _ => {}
    }
}

/// The `oauthspec` commands of a `run:` or `script:` value, continuation
/// lines joined, with each `${{ expression }}` given a value as GitHub
/// would (a shard number).
fn oauthspec_commands(script: &str) -> Vec<String> {
    let mut joined = script.replace("\\\n", " ");
    while let Some(start) = joined.find("${{") {
        let end = joined[start..]
            .find("}}")
            .map_or(joined.len(), |e| start + e + 2);
        joined.replace_range(start..end, "1");
    }
    (joined.lines())
        .map(str::trim)
        .filter(|l| l.starts_with("oauthspec "))
        .map(str::to_string)
        .collect()
}

fn specs_check_clean(blocks: &[String], env_allowed: bool) {
    assert!(!blocks.is_empty());
    let dir = tempfile::tempdir().unwrap();
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.path().join(format!("recipe{i}.oauthspec"));
        std::fs::write(&path, block).unwrap();
        let project = check_paths(&[path], &CheckOptions::default());
        let problems: Vec<String> = project
            .diagnostics
            .iter()
            .map(|d| d.render(false))
            .collect();
        assert!(problems.is_empty(), "recipe {i}:\n{}", problems.join("\n"));
        assert!(
            env_allowed || project.missing_env.is_empty(),
            "recipe {i} needs env vars"
        );
        assert_eq!(
            oauthspec_core::syntax::format::format_source(block).as_deref(),
            Ok(block.as_str()),
            "recipe {i} is not in the canonical layout"
        );
    }
}
