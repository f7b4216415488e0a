//! Small helpers the pipeline shares: file reads and atomic writes,
//! and a parallel map.

pub mod files;
pub mod json;
pub mod parallel;
