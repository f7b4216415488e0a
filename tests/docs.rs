//! Every whole spec in the cookbook checks clean, with no environment.

use oauthspec_core::check::{check_paths, CheckOptions};

#[test]
fn cookbook_specs_check_clean() {
    let text = std::fs::read_to_string("docs/cookbook.md").unwrap();
    let blocks: Vec<&str> = text
        .split("```oauthspec\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 6, "found {} recipes", blocks.len());
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
        assert!(project.missing_env.is_empty(), "recipe {i} needs env vars");
        assert_eq!(
            oauthspec_core::syntax::format::format_source(block).as_deref(),
            Ok(*block),
            "recipe {i} is not in the canonical layout"
        );
    }
}
