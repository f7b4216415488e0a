//! Source text → syntax tree.

pub mod ast;
mod parser;
mod pest_error;

pub use parser::{parse, STEP_KEYWORDS};
