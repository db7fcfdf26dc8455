//! Reuse keys: what a service's files are a function of, as one digest per service and
//! target, so that a build can hand back the files the last build made from the same
//! inputs instead of making them again ([`super::stream_reusing`]).
//!
//! A service's files (its chart, rendered manifests, rules, dashboard, Dockerfile) read
//! the service itself, the services it calls and that call it (ports, names, policies),
//! the edges between them, and project-wide settings, and nothing else: no emitter of a
//! service's files walks the graph further than one edge. A key is therefore the digest
//! of
//! - the *global* part: nestioc's identity (the sink's salt: version and binary), the
//!   `--env` choice, the project, every source that declares no service (the project
//!   file, environments, template overrides, the standard library) and the text of the
//!   project's own file;
//! - the service and each of its neighbours: the model as lowered (`Debug`: every field,
//!   the spans included, by file name), its environment overrides, and the name and bytes
//!   of the file it is declared in and of every file its spans point into (a template's,
//!   an environment's: locations are `file:line`, and a line moves with any byte before
//!   it);
//! - the edges into and out of the service (the dependency policy each carries).
//!
//! Anything else a service's emitter reads would make reuse unsound; the differential
//! tests in `tests/it/reuse.rs` build every kind of edit both ways and compare the bytes.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::EmitContext;
use crate::model::Service;
use crate::source::{SourceId, with_file_names};

/// A 256-bit digest, written in hex where it is stored.
pub type Key = String;

/// Every service's reuse digest (its own inputs and its neighbours'), for one build.
#[derive(Debug)]
pub struct Keys {
    /// The project's part of every key: nestioc, `--env`, the project, the sources
    /// that declare no service.
    global: [u8; 32],
    by_service: HashMap<String, [u8; 32]>,
}

/// A digest in hex, as keys are stored.
fn hex(digest: &[u8]) -> Key {
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// A `fmt::Write` that hashes what is written: `Debug` output is hashed without being
/// held in memory.
struct Hashing<'a>(&'a mut Sha256);

impl std::fmt::Write for Hashing<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Length-prefixed: no two different sequences of parts hash the same bytes.
fn part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// A `Debug` value as one part: its text, then a separator no `Debug` text ends a part
/// with (the text of a part is never read back, only told apart).
fn debug_part(h: &mut Sha256, value: &dyn std::fmt::Debug) {
    let _ = write!(Hashing(h), "{value:?}");
    h.update(b"\0\xff");
}

impl Keys {
    /// The keys of every service of `cx`, salted with `salt` (the identity of the nestioc
    /// that makes the files: another binary may make other bytes).
    #[must_use]
    pub fn new(cx: &EmitContext<'_>, salt: &str) -> Keys {
        let model = cx.model;
        let service_files: HashSet<SourceId> = model.services.values().map(|s| s.source).collect();
        // Every file's name and bytes, hashed once.
        let sources: Vec<(SourceId, &crate::source::Source)> = cx.sources.iter().collect();
        let file_digests: HashMap<SourceId, [u8; 32]> = sources
            .par_iter()
            .map(|(id, source)| {
                let mut h = Sha256::new();
                part(&mut h, source.name.as_bytes());
                part(&mut h, source.text.as_bytes());
                (*id, h.finalize().into())
            })
            .collect();

        let mut g = Sha256::new();
        part(&mut g, b"nestioc reuse 1");
        part(&mut g, salt.as_bytes());
        part(&mut g, cx.env.unwrap_or_default().as_bytes());
        debug_part(&mut g, &model.project);
        if let Some(root) = file_digests.get(&model.project.source) {
            g.update(root);
        }
        for (id, _) in &sources {
            if !service_files.contains(id)
                && let Some(d) = file_digests.get(id)
            {
                g.update(d);
            }
        }
        let global: [u8; 32] = g.finalize().into();

        // Each service's own digest, then each one's with its neighbours'. Spans are
        // hashed by file name, not by their file's index, which moves when a file is
        // added before it, and with the bytes of every file they point into.
        let names = Arc::new(sources.iter().map(|(_, s)| s.name.clone()).collect());
        let services: Vec<&Service> = model.services.values().map(AsRef::as_ref).collect();
        // A digest of what `f` hashes, with the bytes of every file the spans it prints
        // point into.
        let located = |f: &dyn Fn(&mut Sha256)| -> [u8; 32] {
            let (mut h, named) = with_file_names(&names, || {
                let mut h = Sha256::new();
                f(&mut h);
                h
            });
            for id in &named {
                if let Some(d) = file_digests.get(id) {
                    h.update(d);
                }
            }
            h.finalize().into()
        };
        // The service's file is among those its `source` names.
        let own: HashMap<&str, [u8; 32]> = services
            .par_iter()
            .map(|s| {
                let digest = located(&|h| {
                    part(h, s.name.as_bytes());
                    debug_part(h, s);
                    for (env, overrides) in &model.env_services {
                        if let Some(o) = overrides.get(&s.name) {
                            part(h, env.as_bytes());
                            debug_part(h, o);
                        }
                    }
                });
                (s.name.as_str(), digest)
            })
            .collect();
        // Each edge's digest, once (it counts for both its ends).
        let edges: Vec<[u8; 32]> = cx
            .topology
            .edges
            .par_iter()
            .map(|e| located(&|h| debug_part(h, e)))
            .collect();
        let by_service = services
            .par_iter()
            .map(|s| {
                let mut h = Sha256::new();
                h.update(global);
                h.update(own[s.name.as_str()]);
                // Out, in declaration order, then in, by caller: the order the emitters
                // read them in, so that reordering `depends-on` changes the key.
                h.update(b"calls");
                for &i in cx.topology.call_indices(&s.name) {
                    h.update(edges[i]);
                    if let Some(d) = own.get(cx.topology.edges[i].callee.as_str()) {
                        h.update(d);
                    }
                }
                h.update(b"callers");
                for &i in cx.topology.caller_indices(&s.name) {
                    h.update(edges[i]);
                    if let Some(d) = own.get(cx.topology.edges[i].caller.as_str()) {
                        h.update(d);
                    }
                }
                (s.name.clone(), h.finalize().into())
            })
            .collect();
        Keys { global, by_service }
    }

    /// The key of a file of the whole project that reads, besides the project, only
    /// `inputs` (a summary of the services, made cheaply: Alertmanager's inhibitions
    /// before they are sorted and written). Sound only if `inputs` is everything the file
    /// reads of the services: the caller builds the file from `inputs` alone.
    #[must_use]
    pub fn of_project(&self, target: &str, inputs: &dyn std::fmt::Debug) -> Key {
        let mut h = Sha256::new();
        part(&mut h, b"project");
        part(&mut h, target.as_bytes());
        h.update(self.global);
        debug_part(&mut h, inputs);
        hex(&h.finalize())
    }

    /// The key of the files `target` makes for `service`.
    #[must_use]
    pub fn of(&self, target: &str, service: &str) -> Option<Key> {
        let digest = self.by_service.get(service)?;
        let mut h = Sha256::new();
        part(&mut h, target.as_bytes());
        h.update(digest);
        Some(hex(&h.finalize()))
    }
}
