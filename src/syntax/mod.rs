//! Source text → syntax tree.

pub mod ast;
pub(crate) mod parser;
mod pest_error;
pub(crate) mod scan;
mod split;

pub use parser::{parse, STEP_KEYWORDS};
