//! Source text → syntax tree.

pub mod ast;
pub mod format;
pub(crate) mod parser;
mod pest_error;
pub(crate) mod scan;
mod split;

pub use parser::{parse, STEP_KEYWORDS};
