//! The integration tests: one binary, one module per area.
#![allow(clippy::unwrap_used)]

mod cli;
mod examples;
mod explain;
mod fixtures;
mod support;
