//! oauthspec: a test runner for OAuth 2.0-protected APIs.
//!
//! Data flows one way: source → [`syntax`] → [`check`] → run → report.

pub mod check;
pub mod client;
pub mod diagnostic;
pub mod load;
pub mod source;
pub mod syntax;
pub mod value;
