//! Reporters: what a run found, for people (console) and CI systems.

pub mod console;
