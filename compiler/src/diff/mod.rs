//! `nestioc diff`: what a topology change does, for a pull-request comment.
//!
//! First the semantic summary, from the two models and graphs: services and edges added
//! or removed, who may now call whom, SLO objectives and their feasibility ceilings,
//! rollouts, images, and the blast radius (transitive callers) of every changed service.
//! Then the resource diff: per generated file and per Kubernetes object, the fields that
//! changed, old -> new. Pure: the driver loads both sides.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::graph::Topology;
use crate::model::Model;

mod markdown;
mod resources;
mod semantic;

pub use markdown::markdown;
use resources::file_diff;
pub use resources::{FieldChange, FileDiff, ObjectDiff};
use semantic::semantic;
pub use semantic::{CeilingChange, Change, Edge, Semantic, SloChange};
pub(crate) use semantic::{exposure_text, rollout_text};

/// One side of the comparison: the model and graph when the side is a project (a git
/// revision or a directory with sources), and its generated files.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub model: Option<&'a Model>,
    pub topology: Option<&'a Topology>,
    pub files: &'a BTreeMap<String, String>,
    /// How to name this side in the output (`origin/main`, `working tree`).
    pub label: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub project: String,
    pub base: String,
    pub head: String,
    /// `None` when the base is an output directory: there is no model to compare.
    pub semantic: Option<Semantic>,
    pub resources: Vec<FileDiff>,
}

/// Compares two sides.
#[must_use]
pub fn diff(project: &str, base: Side<'_>, head: Side<'_>) -> Diff {
    let semantic = match (base.model, base.topology, head.model, head.topology) {
        (Some(bm), Some(bt), Some(hm), Some(ht)) => Some(semantic((bm, bt), (hm, ht))),
        _ => None,
    };
    let paths: BTreeSet<&String> = base.files.keys().chain(head.files.keys()).collect();
    let resources = paths
        .into_iter()
        .filter_map(|p| file_diff(p, base.files.get(p), head.files.get(p)))
        .collect();
    Diff {
        project: project.to_owned(),
        base: base.label.to_owned(),
        head: head.label.to_owned(),
        semantic,
        resources,
    }
}
