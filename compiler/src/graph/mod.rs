//! Stage 3: [`Model`] -> [`Topology`]. Resolves every `depends-on` to a service and a
//! port, finds dependency cycles (whole, with a label per edge) and computes the release
//! waves: the topological order in which services can be rolled out, callees first.

use std::collections::BTreeSet;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::lower::unknown_port;
use crate::model::values::Duration;
use crate::model::{Dependency, Model, Port, Service};
use crate::suggest;

/// A resolved `depends-on`: who calls whom, on which port, with what policy. Checks and
/// emitters read the policy here instead of going back to the caller's `depends_on`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub caller: String,
    pub callee: String,
    /// Index into the callee's `ports`.
    pub port: usize,
    /// The caller's `depends-on` (timeout, retries, optional, fallback, circuit breaker,
    /// `env=`, and the spans diagnostics point at).
    pub dependency: Dependency,
    /// The callee's port the edge calls (`port=`, or the callee's first).
    pub target: Port,
}

/// How an edge label names the port: by protocol (`grpc 8080`, the graph target) or by
/// name (`api 8080`, the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortStyle {
    Protocol,
    Name,
}

impl Edge {
    #[must_use]
    pub fn optional(&self) -> bool {
        self.dependency.optional
    }

    /// The timeout the caller gives each attempt, if it sets one.
    #[must_use]
    pub fn timeout(&self) -> Option<&Duration> {
        self.dependency.timeout.as_ref().map(|t| &t.value)
    }

    /// Retries after the first attempt (0 when not set).
    #[must_use]
    pub fn retries(&self) -> u32 {
        self.dependency.retries.as_ref().map_or(0, |r| r.value)
    }

    /// The one formatter of edge labels. The port: `grpc 8080` or `api 8080`.
    #[must_use]
    pub fn port_label(&self, style: PortStyle) -> String {
        let p = &self.target;
        match style {
            PortStyle::Protocol => format!("{} {}", p.protocol.as_str(), p.port),
            PortStyle::Name => format!("{} {}", p.name, p.port),
        }
    }

    /// The policy, each term when set: `timeout 2s, retries 3, optional` (empty for none).
    /// The short form, for labels on a drawn edge.
    #[must_use]
    pub fn policy_label(&self) -> String {
        self.policy_terms(false).join(", ")
    }

    /// The whole policy, for a reviewer comparing two versions of an edge:
    /// `required, timeout 2s, retries 3, fallback `cached`, circuit breaker after 5 errors
    /// in 10s, ejected 30s (at most 50%)`.
    #[must_use]
    pub fn policy_description(&self) -> String {
        self.policy_terms(true).join(", ")
    }

    fn policy_terms(&self, full: bool) -> Vec<String> {
        let d = &self.dependency;
        let mut parts = Vec::new();
        if full {
            parts.push(if d.optional { "optional" } else { "required" }.to_owned());
        }
        if let Some(t) = self.timeout() {
            parts.push(format!("timeout {}", t.canonical()));
        }
        if let Some(r) = &d.retries {
            parts.push(format!("retries {}", r.value));
        }
        if !full {
            if d.optional {
                parts.push("optional".into());
            }
            return parts;
        }
        if let Some(f) = &d.fallback {
            parts.push(format!("fallback `{}`", f.value));
        }
        if let Some(cb) = &d.circuit_breaker {
            parts.push(format!(
                "circuit breaker after {} errors in {}, ejected {} (at most {}%)",
                cb.consecutive_errors,
                cb.interval.canonical(),
                cb.ejection.canonical(),
                cb.max_ejection.0.normalize()
            ));
        }
        parts
    }

    /// The port, then the policy: `grpc 8080, timeout 2s, retries 3, optional`.
    #[must_use]
    pub fn label(&self, style: PortStyle) -> String {
        let policy = self.policy_label();
        let port = self.port_label(style);
        if policy.is_empty() {
            port
        } else {
            format!("{port}, {policy}")
        }
    }
}

#[derive(Debug, Clone)]
pub struct Topology {
    /// Services as nodes, resolved `depends-on` edges (weights index `edges`).
    pub graph: DiGraph<String, usize>,
    /// Service name -> node. Looked up on every edge by every check and emitter, never
    /// iterated (so a hash map: output order never depends on it).
    pub index: std::collections::HashMap<String, NodeIndex>,
    pub edges: Vec<Edge>,
    /// Release waves over required edges: wave 0 needs nothing, wave n needs only
    /// services of earlier waves.
    pub waves: Vec<Vec<String>>,
    /// By node index: the edges out of the node in declaration order, the edges into it
    /// sorted by caller, and its wave. Lookups stay linear in the answer, not in the
    /// graph (a platform has thousands of services).
    calls_by_node: Vec<Vec<usize>>,
    callers_by_node: Vec<Vec<usize>>,
    wave_by_node: Vec<usize>,
}

impl Topology {
    fn node_edges<'a>(&'a self, by_node: &'a [Vec<usize>], service: &str) -> &'a [usize] {
        self.index
            .get(service)
            .and_then(|n| by_node.get(n.index()))
            .map_or(&[], Vec::as_slice)
    }

    /// Edges out of `service`, in declaration order.
    pub fn calls<'a>(&'a self, service: &str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.node_edges(&self.calls_by_node, service)
            .iter()
            .map(|&e| &self.edges[e])
    }

    /// Indices (into `edges`) of the edges out of `service`, in declaration order.
    #[must_use]
    pub fn call_indices(&self, service: &str) -> &[usize] {
        self.node_edges(&self.calls_by_node, service)
    }

    /// Indices (into `edges`) of the edges into `service`, sorted by caller.
    #[must_use]
    pub fn caller_indices(&self, service: &str) -> &[usize] {
        self.node_edges(&self.callers_by_node, service)
    }

    /// Edges into `service` (its callers), sorted by caller.
    #[must_use]
    pub fn callers(&self, service: &str) -> Vec<&Edge> {
        self.node_edges(&self.callers_by_node, service)
            .iter()
            .map(|&e| &self.edges[e])
            .collect()
    }

    /// The wave of a service.
    #[must_use]
    pub fn wave_of(&self, service: &str) -> usize {
        self.index
            .get(service)
            .and_then(|n| self.wave_by_node.get(n.index()))
            .copied()
            .unwrap_or(0)
    }

    /// Fills the lookup tables from `edges` and `waves`.
    fn index_edges(&mut self) {
        let n = self.graph.node_count();
        let mut calls = vec![Vec::new(); n];
        let mut callers = vec![Vec::new(); n];
        for (i, e) in self.edges.iter().enumerate() {
            if let (Some(a), Some(b)) = (self.index.get(&e.caller), self.index.get(&e.callee)) {
                calls[a.index()].push(i);
                callers[b.index()].push(i);
            }
        }
        // Stable: edges from one caller keep their declaration order.
        for v in &mut callers {
            v.sort_by(|a, b| self.edges[*a].caller.cmp(&self.edges[*b].caller));
        }
        let mut wave = vec![0; n];
        for (w, names) in self.waves.iter().enumerate() {
            for name in names {
                if let Some(i) = self.index.get(name) {
                    wave[i.index()] = w;
                }
            }
        }
        self.calls_by_node = calls;
        self.callers_by_node = callers;
        self.wave_by_node = wave;
    }

    /// `NAME=<service>:<port>` variables injected by `depends-on env=`.
    #[must_use]
    pub fn dependency_env(&self, service: &Service) -> Vec<(String, String)> {
        self.calls(&service.name)
            .filter_map(|e| {
                let env = e.dependency.env.as_ref()?;
                Some((env.value.clone(), format!("{}:{}", e.callee, e.target.port)))
            })
            .collect()
    }
}

pub fn build(model: &Model, diags: &mut Diagnostics) -> Topology {
    let mut graph = DiGraph::new();
    let mut index = std::collections::HashMap::with_capacity(model.services.len());
    for name in model.services.keys() {
        index.insert(name.clone(), graph.add_node(name.clone()));
    }
    let names: Vec<&str> = model.services.keys().map(String::as_str).collect();
    let mut edges = Vec::new();
    for service in model.services.values() {
        for dep in &service.depends_on {
            let target = &dep.target.value;
            if *target == service.name {
                diags.push(
                    Diagnostic::error(
                        Code::SelfDependency,
                        format!("service `{target}` depends on itself"),
                    )
                    .with_label(
                        dep.target.span,
                        "a service does not call itself through the mesh",
                    )
                    .with_help("remove this `depends-on`"),
                );
                continue;
            }
            let Some(callee) = model.services.get(target) else {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownService,
                        format!(
                            "service `{}` depends on unknown service `{target}`",
                            service.name
                        ),
                    )
                    .with_label(dep.target.span, "no service with this name")
                    .with_help(
                        match suggest::did_you_mean(target, names.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!(
                                "declare `service \"{target}\"` or fix the name{}",
                                if names.is_empty() {
                                    String::new()
                                } else {
                                    format!("; known services: {}", list(&names))
                                }
                            ),
                        },
                    ),
                );
                continue;
            };
            if let Some(fb) = &dep.fallback
                && (fb.value == service.name || !model.services.contains_key(&fb.value))
            {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownService,
                        format!("fallback `{}` is not another service", fb.value),
                    )
                    .with_label(fb.span, "no service with this name")
                    .with_help(suggest::help_for(
                        &fb.value,
                        names.iter().copied(),
                        "service",
                    )),
                );
            }
            // A callee whose template is missing (reported) lacks its ports too.
            if callee.incomplete && (callee.ports.is_empty() || dep.port.is_some()) {
                continue;
            }
            if callee.is_worker() {
                diags.push(
                    Diagnostic::error(
                        Code::DependencyWithoutPort,
                        format!("`{}` depends on `{target}`, which has no port", service.name),
                    )
                    .with_label(dep.target.span, "a worker cannot be called")
                    .with_secondary(callee.name_span, "declared here without a `port`")
                    .with_help(format!(
                        "add a `port` to `{target}`, or remove this `depends-on` if the services talk through a queue"
                    )),
                );
                continue;
            }
            let port = match &dep.port {
                Some(p) => match callee.ports.iter().position(|x| x.name == p.value) {
                    Some(i) => i,
                    None => {
                        diags.push(
                            unknown_port(target, &p.value, p.span, &callee.ports).with_secondary(
                                callee.name_span,
                                format!("`{target}` is declared here"),
                            ),
                        );
                        continue;
                    }
                },
                None => 0,
            };
            // Not a worker, so it has a port; `port=` named one of them.
            let Some(target_port) = callee.ports.get(port) else {
                continue;
            };
            graph.add_edge(index[&service.name], index[target], edges.len());
            edges.push(Edge {
                caller: service.name.clone(),
                callee: target.clone(),
                port,
                dependency: dep.clone(),
                target: target_port.clone(),
            });
        }
    }
    let mut topology = Topology {
        graph,
        index,
        edges,
        waves: Vec::new(),
        calls_by_node: Vec::new(),
        callers_by_node: Vec::new(),
        wave_by_node: Vec::new(),
    };
    report_cycles(&topology, diags);
    topology.waves = waves(model, &topology);
    topology.index_edges();
    topology
}

fn list(names: &[&str]) -> String {
    if names.len() > 8 {
        return format!(
            "{} and {} more",
            names[..8]
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            names.len() - 8
        );
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The required-edge graph (optional edges do not make a cycle: the caller works without).
fn required(topology: &Topology) -> DiGraph<String, usize> {
    topology.graph.filter_map(
        |_, n| Some(n.clone()),
        |_, &e| (!topology.edges[e].optional()).then_some(e),
    )
}

fn report_cycles(topology: &Topology, diags: &mut Diagnostics) {
    let g = required(topology);
    let mut sccs: Vec<Vec<NodeIndex>> =
        tarjan_scc(&g).into_iter().filter(|c| c.len() > 1).collect();
    for scc in &mut sccs {
        scc.sort_by(|a, b| g[*a].cmp(&g[*b]));
    }
    sccs.sort_by(|a, b| g[a[0]].cmp(&g[b[0]]));
    for scc in sccs {
        let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
        // Walk from the smallest name, always to the smallest next member not yet
        // visited, until we are back: one concrete circle through the component.
        let start = scc[0];
        let mut path = vec![start];
        let mut circle_edges: Vec<usize> = Vec::new();
        let mut current = start;
        loop {
            let mut next: Vec<(String, NodeIndex, usize)> = g
                .edges(current)
                .filter(|e| members.contains(&petgraph::visit::EdgeRef::target(e)))
                .map(|e| {
                    let t = petgraph::visit::EdgeRef::target(&e);
                    (g[t].clone(), t, *e.weight())
                })
                .collect();
            next.sort();
            let closing = next.iter().find(|(_, t, _)| *t == start && path.len() > 1);
            let step = closing
                .or_else(|| next.iter().find(|(_, t, _)| !path.contains(t)))
                .or_else(|| next.iter().find(|(_, t, _)| *t == start));
            let Some((_, t, e)) = step.cloned() else {
                break;
            };
            circle_edges.push(e);
            if t == start {
                break;
            }
            if path.contains(&t) {
                // Reached a node already on the path: cut the path to that loop.
                let pos = path.iter().position(|p| *p == t).unwrap_or(0);
                path.drain(..pos);
                circle_edges.drain(..pos);
                break;
            }
            path.push(t);
            current = t;
        }
        let names: Vec<&str> = path.iter().map(|n| g[*n].as_str()).collect();
        let mut shown: Vec<&str> = names.clone();
        shown.push(names[0]);
        let mut d = Diagnostic::error(
            Code::DependencyCycle,
            format!("dependency cycle: {}", shown.join(" -> ")),
        );
        for (k, &e) in circle_edges.iter().enumerate() {
            let edge = &topology.edges[e];
            let span = edge.dependency.target.span;
            let msg = format!("`{}` requires `{}`", edge.caller, edge.callee);
            d = if k == 0 {
                d.with_label(span, msg)
            } else {
                d.with_secondary(span, msg)
            };
        }
        if scc.len() > names.len() {
            let others: Vec<&str> = scc
                .iter()
                .map(|n| g[*n].as_str())
                .filter(|n| !names.contains(n))
                .collect();
            d = d.with_note(format!("also part of this tangle: {}", list(&others)));
        }
        diags.push(d.with_help(
            "services that require each other cannot start or roll out in any order; mark the edge the caller can live without `optional=#true`, or remove it",
        ));
    }
}

fn waves(model: &Model, topology: &Topology) -> Vec<Vec<String>> {
    let g = required(topology);
    // Collapse cycles: every member of a strongly connected component shares a wave.
    let sccs = tarjan_scc(&g);
    let mut comp = vec![0usize; g.node_count()];
    for (i, c) in sccs.iter().enumerate() {
        for n in c {
            comp[n.index()] = i;
        }
    }
    // tarjan_scc yields components in reverse topological order: callees first.
    let mut level = vec![0usize; sccs.len()];
    for (i, c) in sccs.iter().enumerate() {
        let mut l = 0;
        for n in c {
            for e in g.edges(*n) {
                let t = comp[petgraph::visit::EdgeRef::target(&e).index()];
                if t != i {
                    l = l.max(level[t] + 1);
                }
            }
        }
        level[i] = l;
    }
    let mut waves: Vec<Vec<String>> = Vec::new();
    for name in model.services.keys() {
        let l = level[comp[topology.index[name].index()]];
        if waves.len() <= l {
            waves.resize(l + 1, Vec::new());
        }
        waves[l].push(name.clone());
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, Spanned};
    use crate::source::{SourceId, Span};

    fn edge(timeout: Option<u64>, retries: Option<u32>, optional: bool) -> Edge {
        let span = Span::new(SourceId(0), 0, 0);
        Edge {
            caller: "checkout".into(),
            callee: "payment".into(),
            port: 0,
            dependency: Dependency {
                target: Spanned::new("payment".into(), span),
                env: None,
                port: None,
                timeout: timeout.map(|ms| Spanned::new(Duration::from_millis(ms), span)),
                retries: retries.map(|r| Spanned::new(r, span)),
                optional,
                fallback: None,
                circuit_breaker: None,
                span,
            },
            target: Port {
                name: "api".into(),
                port: 50051,
                target: 50051,
                protocol: Protocol::Grpc,
                sidecar: None,
                span,
            },
        }
    }

    #[test]
    fn labels_name_the_port_then_each_policy_that_is_set() {
        let full = edge(Some(2_000), Some(3), true);
        assert_eq!(
            full.label(PortStyle::Protocol),
            "grpc 50051, timeout 2s, retries 3, optional"
        );
        assert_eq!(
            full.label(PortStyle::Name),
            "api 50051, timeout 2s, retries 3, optional"
        );
        assert_eq!(full.policy_label(), "timeout 2s, retries 3, optional");
        let bare = edge(None, None, false);
        assert_eq!(bare.label(PortStyle::Protocol), "grpc 50051");
        assert_eq!(bare.policy_label(), "");
        assert_eq!(bare.retries(), 0);
        // `retries 0` is written: the caller asked for none, unlike a caller that did not say.
        assert_eq!(
            edge(Some(1_500), Some(0), false).policy_label(),
            "timeout 1s500ms, retries 0"
        );
        // The review's form leads with required/optional and adds what a label leaves out.
        assert_eq!(bare.policy_description(), "required");
        let mut fb = edge(Some(300), Some(1), true);
        fb.dependency.fallback = Some(Spanned::new("cached".into(), fb.dependency.span));
        assert_eq!(
            fb.policy_description(),
            "optional, timeout 300ms, retries 1, fallback `cached`"
        );
    }
}
