//! The integration tests: one binary, one module per area.
#![allow(clippy::unwrap_used)]

mod alertmanager;
mod ci;
mod cli;
mod cluster;
mod conformance;
mod delivery;
mod delivery_files;
mod docs;
mod examples;
mod explain;
mod fixtures;
mod fluentd;
mod fmt;
mod formats;
mod gitops;
mod grafana;
mod hardening;
mod hostile;
mod init;
mod kdl_fast_path;
mod kubeconform;
mod lsp;
mod perf;
mod policy;
mod prometheus;
mod properties;
mod report;
mod review;
mod robustness;
mod scanners;
mod sloth;
mod stdlib;
mod support;
mod suppressions;
mod templates;
