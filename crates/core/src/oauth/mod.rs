//! The OAuth engine: managed clients and their one shared token cache,
//! discovery, `WWW-Authenticate` challenges and JWTs.

mod cache;
pub mod challenge;
pub mod discovery;
pub mod jwt;
pub mod tokens;

pub use tokens::{RequestPolicy, ResolvedClient, Token, TokenError, TokenManager, TokenSource};
