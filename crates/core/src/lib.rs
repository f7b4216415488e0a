//! oauthspec: a test runner for OAuth 2.0-protected APIs.
//!
//! Data flows one way: source → [`syntax`] → [`check`] → run → report.

pub mod check;
pub mod diagnostic;
pub mod duration;
pub mod error;
pub mod http;
pub mod oauth;
pub mod plan;
pub mod report;
pub mod results;
pub mod retry;
pub mod run;
pub mod secrets;
pub mod source;
pub mod syntax;
pub mod util;
