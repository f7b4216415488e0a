//! The OAuth engine: managed clients and their one shared token cache,
//! discovery, `WWW-Authenticate` challenges and JWTs.

mod assertion;
mod cache;
pub mod challenge;
pub mod discovery;
pub mod dpop;
mod form;
pub mod jwt;
pub mod login;
pub mod response;
pub mod tokens;
mod user;

pub use tokens::{RequestPolicy, ResolvedClient, Token, TokenError, TokenManager, TokenSource};
pub use user::{Authorization, DeviceAuthorization};
