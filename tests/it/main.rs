//! The integration tests: one binary, one module per area.
#![allow(clippy::unwrap_used)]

mod ci;
mod cli;
mod conformance;
mod delivery;
mod delivery_files;
mod docs;
mod examples;
mod explain;
mod fixtures;
mod fmt;
mod formats;
mod fluentd;
mod lsp;
mod grafana;
mod policy;
mod prometheus;
mod report;
mod review;
mod robustness;
mod stdlib;
mod support;
mod templates;
