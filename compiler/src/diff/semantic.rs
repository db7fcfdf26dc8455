//! The semantic half of a diff, from the two models and graphs: services and edges added
//! or removed, who may now call whom, SLO objectives and their feasibility ceilings,
//! rollouts, images, and the blast radius (transitive callers) of every changed service.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;

use crate::graph::Topology;
use crate::model::{Model, RolloutKind, Service, SloKind};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub caller: String,
    pub callee: String,
    pub port: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    pub service: String,
    pub what: String,
    pub before: String,
    pub after: String,
}

/// A dependency in both graphs whose policy changed (timeout, retries, optional,
/// fallback, circuit breaker): what the caller does when the callee is slow or down.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EdgeChange {
    pub caller: String,
    pub callee: String,
    pub port: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SloChange {
    pub service: String,
    pub slo: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// The availability the service's required dependencies allow, after the change.
    pub ceiling: Option<String>,
    pub feasible: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CeilingChange {
    pub service: String,
    pub objective: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub feasible: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Semantic {
    /// Project settings that changed (`service` is empty): registry, namespace, mesh, CI,
    /// CD, branching, the environments' names. They change every service's output at once.
    pub project: Vec<Change>,
    pub services_added: Vec<String>,
    pub services_removed: Vec<String>,
    pub edges_added: Vec<Edge>,
    pub edges_removed: Vec<Edge>,
    /// Dependencies in both, with a new policy.
    pub edges_changed: Vec<EdgeChange>,
    /// Calls allowed now that were not (authorization widened).
    pub access_granted: Vec<Edge>,
    /// Calls no longer allowed (authorization narrowed).
    pub access_revoked: Vec<Edge>,
    pub exposure: Vec<Change>,
    /// Services whose ports changed (number or protocol): every caller's address and the
    /// policies that admit it follow.
    pub ports: Vec<Change>,
    pub slos: Vec<SloChange>,
    /// Services whose own objective did not change but whose ceiling moved, because a
    /// dependency's objective or the edges did.
    pub ceilings: Vec<CeilingChange>,
    pub rollouts: Vec<Change>,
    pub images: Vec<Change>,
    /// Changed service -> every service that calls it, directly or not.
    pub blast_radius: BTreeMap<String, Vec<String>>,
}

pub(crate) fn edges(model: &Model, topology: &Topology) -> Vec<Edge> {
    let mut v: Vec<Edge> = topology
        .edges
        .iter()
        .filter_map(|e| {
            let callee = model.services.get(&e.callee)?;
            Some(Edge {
                caller: e.caller.clone(),
                callee: e.callee.clone(),
                port: callee
                    .ports
                    .get(e.port)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
            })
        })
        .collect();
    v.sort_by(|a, b| (&a.caller, &a.callee, &a.port).cmp(&(&b.caller, &b.callee, &b.port)));
    v.dedup();
    v
}

fn pct(d: Decimal) -> String {
    format!("{}%", (d * Decimal::ONE_HUNDRED).round_dp(4).normalize())
}

/// A service's ports: `api 8080/http, grpc 9090/grpc` (`none`).
pub(crate) fn ports_text(s: &Service) -> String {
    if s.ports.is_empty() {
        return "none".into();
    }
    s.ports
        .iter()
        .map(|p| format!("{} {}/{}", p.name, p.port, p.protocol.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn rollout_text(s: &Service) -> String {
    match s.rollout.kind {
        RolloutKind::Rolling => "rolling".into(),
        RolloutKind::BlueGreen => "blue-green".into(),
        RolloutKind::Canary => {
            let steps: Vec<String> = s
                .rollout
                .steps
                .iter()
                .map(|st| match &st.pause {
                    Some(p) => format!("{}% {}", st.weight, p.canonical()),
                    None => format!("{}%", st.weight),
                })
                .collect();
            format!("canary {}", steps.join(", "))
        }
    }
}

pub(crate) fn exposure_text(s: &Service) -> String {
    match &s.expose {
        Some(e) => format!("{}{}", e.host, e.path),
        None => "not exposed".into(),
    }
}

/// Every service that reaches `service` through calls (its transitive callers).
fn transitive_callers(topology: &Topology, service: &str) -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack = vec![service.to_owned()];
    while let Some(s) = stack.pop() {
        for e in topology.callers(&s) {
            if e.caller != service && seen.insert(e.caller.clone()) {
                stack.push(e.caller.clone());
            }
        }
    }
    seen.into_iter().collect()
}

pub(super) fn semantic(base: (&Model, &Topology), head: (&Model, &Topology)) -> Semantic {
    let (bm, bt) = base;
    let (hm, ht) = head;
    let mut s = Semantic::default();
    let (bp, hp) = (&bm.project, &hm.project);
    let envs = |p: &crate::model::Project| {
        p.environments()
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let list = |v: Vec<&str>| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    for (what, before, after) in [
        (
            "registry",
            bp.registry.clone().unwrap_or_else(|| "none".into()),
            hp.registry.clone().unwrap_or_else(|| "none".into()),
        ),
        ("namespace", bp.namespace.clone(), hp.namespace.clone()),
        (
            "mesh",
            bp.mesh.as_str().to_owned(),
            hp.mesh.as_str().to_owned(),
        ),
        (
            "ci",
            list(bp.ci.iter().map(|c| c.as_str()).collect()),
            list(hp.ci.iter().map(|c| c.as_str()).collect()),
        ),
        ("cd", bp.cd.as_str().to_owned(), hp.cd.as_str().to_owned()),
        (
            "branching",
            bp.branching.as_str().to_owned(),
            hp.branching.as_str().to_owned(),
        ),
        ("environments", envs(bp), envs(hp)),
    ] {
        if before != after {
            s.project.push(Change {
                service: String::new(),
                what: what.into(),
                before,
                after,
            });
        }
    }
    // Each environment in both: where it runs and how, which moves or rescales every
    // service deployed there.
    // Declared ones only: the implicit `default` follows the project's settings, and an
    // environment's namespace that follows the project's is reported with the project's.
    for be in &bp.environments {
        let Some(he) = hp.environments.iter().find(|e| e.name == be.name) else {
            continue;
        };
        let follows = be.namespace == bp.namespace && he.namespace == hp.namespace;
        let sync = |e: &crate::model::Environment| if e.auto_sync { "auto" } else { "manual" };
        for (what, before, after) in [
            (
                "namespace",
                be.namespace.clone(),
                if follows {
                    be.namespace.clone()
                } else {
                    he.namespace.clone()
                },
            ),
            (
                "replicas-scale",
                be.replicas_scale.normalize().to_string(),
                he.replicas_scale.normalize().to_string(),
            ),
            ("sync", sync(be).to_owned(), sync(he).to_owned()),
        ] {
            if before != after {
                s.project.push(Change {
                    service: String::new(),
                    what: format!("environment `{}` {what}", be.name),
                    before,
                    after,
                });
            }
        }
    }
    let bnames: BTreeSet<&String> = bm.services.keys().collect();
    let hnames: BTreeSet<&String> = hm.services.keys().collect();
    s.services_added = hnames.difference(&bnames).map(|n| (*n).clone()).collect();
    s.services_removed = bnames.difference(&hnames).map(|n| (*n).clone()).collect();
    let be = edges(bm, bt);
    let he = edges(hm, ht);
    let key = |e: &Edge| (e.caller.clone(), e.callee.clone());
    let bkeys: BTreeSet<(String, String)> = be.iter().map(key).collect();
    let hkeys: BTreeSet<(String, String)> = he.iter().map(key).collect();
    s.edges_added = he
        .iter()
        .filter(|e| !bkeys.contains(&key(e)))
        .cloned()
        .collect();
    s.edges_removed = be
        .iter()
        .filter(|e| !hkeys.contains(&key(e)))
        .cloned()
        .collect();
    // Authorization is exactly the edges, per port: compare (caller, callee, port).
    // Sets, not `Vec::contains`: a pull request on a 5,000-edge graph must not be quadratic.
    let (bset, hset): (BTreeSet<&Edge>, BTreeSet<&Edge>) =
        (be.iter().collect(), he.iter().collect());
    s.access_granted = he.iter().filter(|e| !bset.contains(e)).cloned().collect();
    s.access_revoked = be.iter().filter(|e| !hset.contains(e)).cloned().collect();
    let mut changed: BTreeSet<String> = BTreeSet::new();
    // Policies of the edges in both graphs, by (caller, callee, port).
    // The graph resolved each edge's port (`Edge::target`).
    let policies = |t: &Topology| -> BTreeMap<(String, String, String), String> {
        t.edges
            .iter()
            .map(|e| {
                (
                    (e.caller.clone(), e.callee.clone(), e.target.name.clone()),
                    e.policy_description(),
                )
            })
            .collect()
    };
    let (before_policies, after_policies) = (policies(bt), policies(ht));
    for ((caller, callee, port), after) in &after_policies {
        if let Some(before) = before_policies.get(&(caller.clone(), callee.clone(), port.clone()))
            && before != after
        {
            s.edges_changed.push(EdgeChange {
                caller: caller.clone(),
                callee: callee.clone(),
                port: port.clone(),
                before: before.clone(),
                after: after.clone(),
            });
            changed.insert(caller.clone());
        }
    }
    for name in hnames.intersection(&bnames) {
        let (b, h) = (&bm.services[*name], &hm.services[*name]);
        for (list, what, before, after) in [
            (
                &mut s.images,
                "image",
                b.image.reference(),
                h.image.reference(),
            ),
            (&mut s.rollouts, "rollout", rollout_text(b), rollout_text(h)),
            (&mut s.ports, "ports", ports_text(b), ports_text(h)),
            (
                &mut s.exposure,
                "exposure",
                exposure_text(b),
                exposure_text(h),
            ),
        ] {
            if before != after {
                list.push(Change {
                    service: (*name).clone(),
                    what: what.into(),
                    before,
                    after,
                });
                changed.insert((*name).clone());
            }
        }
        for kind in [SloKind::Availability, SloKind::Latency] {
            let describe = |svc: &Service| {
                svc.slo(kind).map(|x| match &x.threshold {
                    Some(t) => format!(
                        "{} under {} over {}",
                        x.target.value,
                        t.value,
                        x.window.canonical()
                    ),
                    None => format!("{} over {}", x.target.value, x.window.canonical()),
                })
            };
            let (bs, hs) = (describe(b), describe(h));
            if bs != hs {
                let ceiling = (kind == SloKind::Availability)
                    .then(|| crate::check::slo::availability_ceiling(hm, ht, h))
                    .flatten();
                let feasible = match (ceiling, h.slo(kind)) {
                    (Some(c), Some(x)) => x.target.value.ratio() <= c,
                    _ => true,
                };
                s.slos.push(SloChange {
                    service: (*name).clone(),
                    slo: kind.as_str().into(),
                    before: bs,
                    after: hs,
                    ceiling: ceiling.map(pct),
                    feasible,
                });
                changed.insert((*name).clone());
            }
        }
        if let (Some(bslo), Some(hslo)) =
            (b.slo(SloKind::Availability), h.slo(SloKind::Availability))
            && bslo.target.value == hslo.target.value
        {
            let bc = crate::check::slo::availability_ceiling(bm, bt, b);
            let hc = crate::check::slo::availability_ceiling(hm, ht, h);
            if bc != hc {
                s.ceilings.push(CeilingChange {
                    service: (*name).clone(),
                    objective: hslo.target.value.to_string(),
                    before: bc.map(pct),
                    after: hc.map(pct),
                    feasible: hc.is_none_or(|c| hslo.target.value.ratio() <= c),
                });
            }
        }
    }
    for e in s.edges_added.iter().chain(&s.edges_removed) {
        changed.insert(e.callee.clone());
        changed.insert(e.caller.clone());
    }
    for n in &s.services_removed {
        changed.insert(n.clone());
    }
    for n in changed {
        // A removed service's callers are found in the base graph.
        let topo = if hm.services.contains_key(&n) { ht } else { bt };
        s.blast_radius
            .insert(n.clone(), transitive_callers(topo, &n));
    }
    s
}
