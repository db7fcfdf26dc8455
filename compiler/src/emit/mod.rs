//! Stage 5: checked model + graph -> [`ArtifactSet`]. Pure: no I/O, no KDL. Each target
//! is one emitter module registered in [`EMITTERS`]; adding a target touches nothing else.

pub mod alertmanager_config;
mod ansible;
pub mod argocd;
pub mod chart;
pub mod ci;
mod docker;
mod fluentd;
pub mod grafana;
pub mod graph;
mod helm;
mod kubernetes;
pub mod mesh;
mod meshfiles;
pub mod metrics;
pub mod prometheus;
pub mod reuse;
pub mod rollout;
mod spinnaker;
pub mod templates;
pub mod yaml;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::diag::Diagnostic;
use crate::graph::Topology;
use crate::model::{Model, Service};
use crate::source::{SourceMap, Span};

pub use reuse::{Key, Keys};
pub use templates::Templates;

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Relative to the output directory, `/`-separated. Built only from validated names,
    /// so it never leaves the output directory.
    pub path: String,
    pub contents: String,
    /// What in the topology produced it.
    pub source: Option<Span>,
}

/// All generated files, by path.
#[derive(Debug, Clone, Default)]
pub struct ArtifactSet {
    pub files: BTreeMap<String, Artifact>,
}

impl ArtifactSet {
    pub fn insert(&mut self, artifact: Artifact) {
        self.files.insert(artifact.path.clone(), artifact);
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Everything an emitter may read.
#[derive(Debug, Clone, Copy)]
pub struct EmitContext<'a> {
    pub model: &'a Model,
    pub topology: &'a Topology,
    pub sources: &'a SourceMap,
    pub templates: &'a Templates,
    /// `--env`: only this environment's files.
    pub env: Option<&'a str>,
    /// The reuse keys, when the sink can hand back files a previous build made
    /// ([`emit_into`] sets them).
    pub keys: Option<&'a Keys>,
}

impl<'a> EmitContext<'a> {
    /// The context of one build's emitters (without reuse keys: [`emit_into`] makes
    /// them when its sink can reuse files).
    #[must_use]
    pub fn new(
        model: &'a Model,
        topology: &'a Topology,
        sources: &'a SourceMap,
        templates: &'a Templates,
        env: Option<&'a str>,
    ) -> Self {
        EmitContext {
            model,
            topology,
            sources,
            templates,
            env,
            keys: None,
        }
    }

    /// `services/checkout.kdl:12`, for `nestio.dev/source` annotations.
    #[must_use]
    pub fn location(&self, span: Span) -> String {
        self.sources.location(span)
    }

    /// The project-relative file a service is declared in.
    #[must_use]
    pub fn file_of(&self, service: &Service) -> String {
        self.sources.get(service.source).name.clone()
    }

    /// The environments to generate for (all, or the one `--env` names).
    #[must_use]
    pub fn environments(&self) -> Vec<crate::model::Environment> {
        self.model
            .project
            .environments()
            .into_iter()
            .filter(|e| self.env.is_none_or(|only| only == e.name))
            .collect()
    }
}

/// `f` applied to every service, in name order, spread over the current rayon pool: the
/// result is the same whatever the number of threads.
pub fn per_service<T: Send>(
    cx: &EmitContext<'_>,
    f: impl Fn(&Service) -> T + Sync + Send,
) -> Vec<T> {
    use rayon::prelude::*;
    let services: Vec<&Service> = cx.model.services.values().map(AsRef::as_ref).collect();
    services.par_iter().map(|s| f(s)).collect()
}

/// Where emitters put their files: one at a time, from any thread, in any order. The
/// build's writer hashes each file as it arrives, writes it only if it changed, and drops
/// it ([`crate::driver::write`]), so a build never holds its whole output in memory; the
/// commands that compare in memory (`diff`, `report`, the language server, the tests)
/// collect an [`ArtifactSet`] ([`Collect`]).
pub trait Sink: Sync {
    fn put(&self, artifact: Artifact);

    fn put_all(&self, artifacts: Vec<Artifact>) {
        for a in artifacts {
            self.put(a);
        }
    }

    /// The salt of the reuse keys ([`Keys`]) when this sink can hand back the files a
    /// previous build made from the same inputs (the identity of the nestioc binary);
    /// `None` (the default): every file is made.
    fn reuse_salt(&self) -> Option<&str> {
        None
    }

    /// The files a previous build made from the inputs `key` names, if they are all still
    /// there, unchanged: kept as this build's, and the note they were put with returned
    /// (the caller then does not make them). `None` (the default): make them.
    fn reuse(&self, _key: &str) -> Option<String> {
        None
    }

    /// Files made from the inputs `key` names, with a note a later build's [`Sink::reuse`]
    /// gives back (what the emitter needs of them besides the files: a chart's version).
    fn put_made(&self, _key: Key, _note: String, artifacts: Vec<Artifact>) {
        self.put_all(artifacts);
    }
}

/// The sink that keeps every file: an [`ArtifactSet`], the same whatever the order the
/// files arrive in (it is keyed by path).
#[derive(Debug, Default)]
pub struct Collect(Mutex<ArtifactSet>);

impl Collect {
    #[must_use]
    pub fn into_set(self) -> ArtifactSet {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for Collect {
    fn put(&self, artifact: Artifact) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(artifact);
    }
}

/// [`per_service`] for the targets with files per service, which depend only on the
/// service, its neighbours and the project ([`reuse`]): each service's files go to the
/// sink as soon as they are made, so no target's output is ever whole in memory; and a
/// service whose inputs are those of the last build gets that build's files back from
/// the sink, when it still has them, instead of being made again. `f` returns a
/// service's files and a note to keep with them (given back on reuse); the notes are
/// returned in name order. The error returned is the first failing service's, in name
/// order.
pub fn stream_reusing(
    cx: &EmitContext<'_>,
    sink: &dyn Sink,
    target: &str,
    f: impl Fn(&Service) -> Result<(Vec<Artifact>, String), Diagnostic> + Sync + Send,
) -> Result<Vec<String>, Diagnostic> {
    let results = per_service(cx, |service| {
        let key = cx.keys.and_then(|k| k.of(target, &service.name));
        reuse_or_make(sink, key, || f(service))
    });
    results.into_iter().collect()
}

/// The note of `key`'s files when the sink still has them (kept), else `make`'s files put
/// under `key` (or plainly, without a key) and its note.
fn reuse_or_make(
    sink: &dyn Sink,
    key: Option<Key>,
    make: impl FnOnce() -> Result<(Vec<Artifact>, String), Diagnostic>,
) -> Result<String, Diagnostic> {
    if let Some(note) = key.as_deref().and_then(|k| sink.reuse(k)) {
        return Ok(note);
    }
    let (files, note) = make()?;
    match key {
        Some(key) => sink.put_made(key, note.clone(), files),
        None => sink.put_all(files),
    }
    Ok(note)
}

/// [`stream_reusing`] for the targets whose files are all there is to keep of a service.
pub fn stream_files_reusing(
    cx: &EmitContext<'_>,
    sink: &dyn Sink,
    target: &str,
    f: impl Fn(&Service) -> Result<Vec<Artifact>, Diagnostic> + Sync + Send,
) -> Result<(), Diagnostic> {
    stream_reusing(cx, sink, target, |service| Ok((f(service)?, String::new()))).map(drop)
}

/// For a target whose files are the whole project's and read, besides the project (the
/// reuse keys' global part), only `inputs`: the last build's files when `inputs` are the
/// same and the sink still has them, else `make`'s. `make` must build from `inputs`
/// and the project alone, or reuse would keep stale files.
pub fn emit_project_reusing(
    cx: &EmitContext<'_>,
    sink: &dyn Sink,
    target: &str,
    inputs: &dyn std::fmt::Debug,
    make: impl FnOnce() -> Result<Vec<Artifact>, Diagnostic>,
) -> Result<(), Diagnostic> {
    let key = cx.keys.map(|k| k.of_project(target, inputs));
    reuse_or_make(sink, key, || Ok((make()?, String::new()))).map(drop)
}

pub trait Emitter: Sync {
    /// The `--target` name.
    fn name(&self) -> &'static str;
    /// One line for `--help` and the docs.
    fn description(&self) -> &'static str;
    /// The target's files, for a target that makes them all at once (a few per project).
    fn files(&self, _cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        Ok(Vec::new())
    }
    /// Puts every file of the target into `sink`: by default its [`Emitter::files`]. The
    /// targets with files per service override it to hand each service's over as soon
    /// as they are made ([`stream_reusing`]).
    fn emit(&self, cx: &EmitContext<'_>, sink: &dyn Sink) -> Result<(), Diagnostic> {
        sink.put_all(self.files(cx)?);
        Ok(())
    }
}

/// Every target, in output order.
pub const EMITTERS: &[&dyn Emitter] = &[
    &helm::Helm,
    &kubernetes::Kubernetes,
    &meshfiles::Istio,
    &meshfiles::Linkerd,
    &prometheus::Prometheus,
    &prometheus::Alertmanager,
    &argocd::ArgoCd,
    &spinnaker::Spinnaker,
    &grafana::Grafana,
    &fluentd::Fluentd,
    &ci::GithubActions,
    &ci::Gitlab,
    &ci::CircleCi,
    &ci::Jenkins,
    &graph::Graph,
    &docker::Docker,
    &ansible::Ansible,
];

/// Does the generated file at `path` belong to the environment `env` alone? The layout
/// gives each environment `kubernetes/<env>/`, `argocd/<env>/` and the files named
/// `*-<env>.yaml` (`helm/<service>/values-<env>.yaml`, `argocd/apps-<env>.yaml`); every
/// other file serves all environments. A build with `--env` keeps those others as the
/// last full build made them ([`crate::driver::Writer::partial`]).
#[must_use]
pub fn belongs_to_environment(path: &str, env: &str) -> bool {
    let mut parts = path.split('/');
    let first = parts.next().unwrap_or_default();
    let second = parts.next();
    let name = path.rsplit('/').next().unwrap_or_default();
    (matches!(first, "kubernetes" | "argocd")
        && second == Some(env)
        && path.matches('/').count() >= 2)
        || name.strip_suffix(".yaml").is_some_and(|stem| {
            stem.strip_suffix(env)
                .is_some_and(|rest| rest.ends_with('-'))
        })
}

/// The names `--target` accepts.
#[must_use]
pub fn target_names() -> Vec<&'static str> {
    EMITTERS.iter().map(|e| e.name()).collect()
}

/// Runs the selected emitters (all when `targets` is empty), collecting their files.
pub fn emit(cx: &EmitContext<'_>, targets: &[String]) -> Result<ArtifactSet, Vec<Diagnostic>> {
    let sink = Collect::default();
    emit_into(cx, targets, &sink, &mut |_| {})?;
    Ok(sink.into_set())
}

/// Runs the selected emitters into `sink`, calling `clock` with each emitter's name when
/// it is done (for `--timings`). The emitters run one after the other, each spreading its
/// services over the current rayon pool ([`per_service`]); the output does not depend on
/// the number of threads.
pub fn emit_into(
    cx: &EmitContext<'_>,
    targets: &[String],
    sink: &dyn Sink,
    clock: &mut dyn FnMut(&'static str),
) -> Result<(), Vec<Diagnostic>> {
    let keys = sink.reuse_salt().map(|salt| Keys::new(cx, salt));
    let cx = &EmitContext {
        keys: keys.as_ref(),
        ..*cx
    };
    if keys.is_some() {
        clock("keys");
    }
    let mut errors = Vec::new();
    for emitter in EMITTERS {
        if !targets.is_empty() && !targets.iter().any(|t| t == emitter.name()) {
            continue;
        }
        if let Err(d) = emitter.emit(cx, sink) {
            errors.push(d);
        }
        clock(emitter.name());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
