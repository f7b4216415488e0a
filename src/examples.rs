//! The examples `demo` runs, built into the binary so that `demo` works
//! wherever oauthspec is installed, not only in its source checkout.

use std::path::Path;

/// `specs/examples/`, file by file.
pub(crate) const EXAMPLES: &[(&str, &str)] = &[
    (
        "client-auth-methods.oauthspec",
        include_str!("../specs/examples/client-auth-methods.oauthspec"),
    ),
    (
        "clients.oauthspec",
        include_str!("../specs/examples/clients.oauthspec"),
    ),
    (
        "discovery.oauthspec",
        include_str!("../specs/examples/discovery.oauthspec"),
    ),
    (
        "dpop.oauthspec",
        include_str!("../specs/examples/dpop.oauthspec"),
    ),
    (
        "error-in-200.oauthspec",
        include_str!("../specs/examples/error-in-200.oauthspec"),
    ),
    (
        "jwt-bearer.oauthspec",
        include_str!("../specs/examples/jwt-bearer.oauthspec"),
    ),
    (
        "orders-smoke.oauthspec",
        include_str!("../specs/examples/orders-smoke.oauthspec"),
    ),
    (
        "refetch-after-401.oauthspec",
        include_str!("../specs/examples/refetch-after-401.oauthspec"),
    ),
    (
        "refresh-token-rotation.oauthspec",
        include_str!("../specs/examples/refresh-token-rotation.oauthspec"),
    ),
    (
        "service-account-key.pem",
        include_str!("../specs/examples/service-account-key.pem"),
    ),
    (
        "token-exchange.oauthspec",
        include_str!("../specs/examples/token-exchange.oauthspec"),
    ),
    (
        "user-tokens.oauthspec",
        include_str!("../specs/examples/user-tokens.oauthspec"),
    ),
];

/// Writes the examples into `dir`, which is created if needed.
pub(crate) fn write_to(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in EXAMPLES {
        oauthspec_core::util::files::write_atomic(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// A new example cannot be left out of the binary.
    #[test]
    fn every_example_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/examples");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let built_in: Vec<&str> = super::EXAMPLES.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, built_in);
    }
}
