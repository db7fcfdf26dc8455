//! `nestioc`: compiles a declarative microservice topology (KDL) into what a Kubernetes
//! platform needs to run it.
//!
//! The pipeline, one module per stage (see ARCHITECTURE.md):
//!
//! ```text
//! SourceMap --syntax--> Vec<Document> --lower--> Model --graph--> Topology
//!   --check--> Diagnostics      Model + Topology --emit--> ArtifactSet --driver--> files
//! ```
//!
//! Everything here is pure except [`driver`], the only module that touches the file
//! system, the clock or the terminal.

pub mod check;
pub mod cli;
pub mod diag;
pub mod diff;
pub mod driver;
pub mod emit;
pub mod fmt;
pub mod graph;
pub mod init;
pub mod lang;
pub mod lower;
pub mod lsp;
pub mod model;
pub mod report;
pub mod source;
pub mod stdlib;
pub mod suggest;
pub mod syntax;
pub mod why;

use std::time::Duration;

use crate::check::CheckOptions;
use crate::diag::{Diagnostic, Diagnostics};
use crate::emit::{ArtifactSet, EmitContext, Templates};
use crate::graph::Topology;
use crate::model::Model;
use crate::source::SourceMap;

/// What a compilation is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this environment's outputs (and it must exist).
    pub env: Option<String>,
    /// Targets to emit; empty means all.
    pub targets: Vec<String>,
    /// Warnings count as errors.
    pub deny_warnings: bool,
    /// Input limits (size, depth, counts, string length); see docs/security.md.
    pub limits: syntax::Limits,
}

impl Options {
    /// A build of part of the output (`--target` or `--env`): it leaves the rest of the
    /// output directory as it is ([`driver::Writer::partial`]).
    #[must_use]
    pub fn is_partial(&self) -> bool {
        !self.targets.is_empty() || self.env.is_some()
    }
}

/// Time spent per stage, for `--timings`. Measured by the caller's clock: the library
/// never reads the clock itself.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub stages: Vec<(&'static str, Duration)>,
}

/// The result of analysing a project: the model and graph when they could be built, and
/// every diagnostic, sorted.
#[derive(Debug)]
pub struct Analysis {
    pub sources: SourceMap,
    pub model: Option<Model>,
    pub topology: Option<Topology>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == diag::Severity::Error)
    }
}

/// Runs parse, lower, graph and check. `sources` must already hold the stdlib
/// ([`stdlib::load`]) and the project's files; `pre` carries problems the loader found.
pub fn analyze(
    sources: SourceMap,
    pre: Diagnostics,
    opts: &Options,
    clock: &mut dyn FnMut(&'static str),
) -> Analysis {
    let mut diags = pre;
    // Not through a throwaway ParseCache: the cache keeps its own copy of every tree and
    // text, twice the memory and a deep clone of the project for nothing here.
    let docs = syntax::parse_all_with(&sources, &opts.limits, &mut diags);
    analyze_parsed(sources, docs, diags, opts, clock)
}

/// [`analyze`], parsing only the files whose text changed since the analysis that filled
/// `cache` (the language server's re-check on a keystroke). Same result as [`analyze`].
pub fn analyze_cached(
    sources: SourceMap,
    pre: Diagnostics,
    opts: &Options,
    cache: &mut syntax::ParseCache,
    clock: &mut dyn FnMut(&'static str),
) -> Analysis {
    let mut diags = pre;
    let docs = syntax::parse_all_cached(&sources, &opts.limits, cache, &mut diags);
    analyze_parsed(sources, docs, diags, opts, clock)
}

fn analyze_parsed(
    sources: SourceMap,
    docs: Vec<syntax::ast::Document>,
    mut diags: Diagnostics,
    opts: &Options,
    clock: &mut dyn FnMut(&'static str),
) -> Analysis {
    clock("parse");
    // A project over a count limit is not lowered: it is not looked at any further.
    let over_limit = diags.iter().any(|d| d.code == diag::Code::LimitExceeded);
    let allowed = lower::allow::collect(&docs, &mut diags);
    let model = if over_limit {
        None
    } else {
        lower::lower(&docs, &sources, &mut diags)
    };
    // The trees are not read past lowering. Freeing them takes a while at thousands of
    // files (a few ms per 1,000), so another thread does it while this one builds the
    // graph, which is sequential.
    rayon::spawn(move || drop(docs));
    emit::templates::check_overrides(&sources, &mut diags);
    clock("lower");
    let topology = model.as_ref().map(|m| graph::build(m, &mut diags));
    clock("graph");
    if let (Some(m), Some(t)) = (&model, &topology) {
        check::check(
            m,
            t,
            &CheckOptions {
                env: opts.env.clone(),
            },
            &mut diags,
        );
    }
    clock("check");
    allowed.apply(&mut diags);
    if opts.deny_warnings {
        diags.deny_warnings();
    }
    Analysis {
        sources,
        model,
        topology,
        diagnostics: diags.finish(),
    }
}

/// Emits the artifacts of an analysis without errors. Returns the diagnostics of a
/// failing emitter (a broken template override, say) otherwise.
pub fn emit(
    analysis: &Analysis,
    opts: &Options,
    clock: &mut dyn FnMut(&'static str),
) -> Result<ArtifactSet, Vec<Diagnostic>> {
    let sink = emit::Collect::default();
    emit_into(analysis, opts, &sink, clock)?;
    Ok(sink.into_set())
}

/// [`emit`], handing each file to `sink` as soon as it is made instead of collecting
/// them: what `nestioc build` writes through ([`driver::write`]).
pub fn emit_into(
    analysis: &Analysis,
    opts: &Options,
    sink: &dyn emit::Sink,
    clock: &mut dyn FnMut(&'static str),
) -> Result<(), Vec<Diagnostic>> {
    let (Some(model), Some(topology)) = (&analysis.model, &analysis.topology) else {
        return Ok(());
    };
    let templates = Templates::new(&analysis.sources)?;
    let cx = EmitContext::new(
        model,
        topology,
        &analysis.sources,
        &templates,
        opts.env.as_deref(),
    );
    clock("templates");
    // The clock hears each emitter's name: `--timings` shows them one by one.
    emit::emit_into(&cx, &opts.targets, sink, clock)
}

/// What a build's output is a function of: nestioc's version, the options that choose the
/// outputs (targets, environment) and every source, the standard library's included (names
/// and bytes). The library is pure and deterministic, so two builds with one fingerprint
/// write the same bytes: `nestioc build` skips a build whose fingerprint the output
/// directory was last built with, when none of its files changed since
/// ([`driver::up_to_date`]).
#[must_use]
pub fn fingerprint(sources: &source::SourceMap, opts: &Options) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    // Every part is length-prefixed: no two different inputs hash the same bytes.
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(concat!("nestioc ", env!("CARGO_PKG_VERSION")).as_bytes());
    part(opts.env.as_deref().unwrap_or_default().as_bytes());
    for t in &opts.targets {
        part(t.as_bytes());
    }
    part(b"sources");
    for (_, s) in sources.iter() {
        part(s.name.as_bytes());
        part(s.text.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
