//! The integration tests: one binary, one module per area.
#![allow(clippy::unwrap_used)]

mod cli;
mod conformance;
mod docs;
mod examples;
mod explain;
mod fixtures;
mod policy;
mod prometheus;
mod robustness;
mod stdlib;
mod support;
mod templates;
