//! Source text → syntax tree.

pub mod ast;
pub(crate) mod parser;
mod pest_error;
mod split;

pub use parser::{parse, STEP_KEYWORDS};
