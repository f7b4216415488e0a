//! The integration tests of the command and the library, as one test
//! binary (linked once): each module is one concern, run against the
//! in-process sandbox, third-party servers or the `oauthspec` binary.
//! `cargo test --test integration -- oauth::` runs one module.

mod common;

mod check_corpus;
mod ci;
mod cli;
mod docs;
mod dpop;
mod faults;
mod fmt;
mod highlighting;
mod hostile;
mod interop;
mod leaks;
mod monitor;
mod oauth;
mod parse_tree;
mod reports;
mod retry;
mod run;
mod tls;
mod user_tokens;
