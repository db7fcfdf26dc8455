//! `nestioc diff`: what a topology change does, for a pull-request comment.
//!
//! First the semantic summary, from the two models and graphs: services and edges added
//! or removed, who may now call whom, SLO objectives and their feasibility ceilings,
//! rollouts, images, and the blast radius (transitive callers) of every changed service.
//! Then the resource diff: per generated file and per Kubernetes object, the fields that
//! changed, old -> new. Pure: the driver loads both sides.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::graph::Topology;
use crate::model::{Model, RolloutKind, Service, SloKind};

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
    pub services_added: Vec<String>,
    pub services_removed: Vec<String>,
    pub edges_added: Vec<Edge>,
    pub edges_removed: Vec<Edge>,
    /// Calls allowed now that were not (authorization widened).
    pub access_granted: Vec<Edge>,
    /// Calls no longer allowed (authorization narrowed).
    pub access_revoked: Vec<Edge>,
    pub exposure: Vec<Change>,
    pub slos: Vec<SloChange>,
    /// Services whose own objective did not change but whose ceiling moved, because a
    /// dependency's objective or the edges did.
    pub ceilings: Vec<CeilingChange>,
    pub rollouts: Vec<Change>,
    pub images: Vec<Change>,
    /// Changed service -> every service that calls it, directly or not.
    pub blast_radius: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ObjectDiff {
    /// `Kind/namespace/name`, or `document N` for files that are not Kubernetes objects.
    pub object: String,
    pub status: &'static str,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub status: &'static str,
    pub objects: Vec<ObjectDiff>,
    /// Text files: lines removed and added.
    pub lines: Option<(usize, usize)>,
    /// Text files: a unified diff, at most [`PATCH_LINES`] lines.
    pub patch: Option<String>,
}

const PATCH_LINES: usize = 40;

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub project: String,
    pub base: String,
    pub head: String,
    /// `None` when the base is an output directory: there is no model to compare.
    pub semantic: Option<Semantic>,
    pub resources: Vec<FileDiff>,
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

fn semantic(base: (&Model, &Topology), head: (&Model, &Topology)) -> Semantic {
    let (bm, bt) = base;
    let (hm, ht) = head;
    let mut s = Semantic::default();
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

// ----------------------------------------------------------------------------- resources

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.replace('\n', " ⏎ "),
        other => other.to_string(),
    };
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(99).collect::<String>())
    } else {
        s
    }
}

/// What identifies an element of a list across versions, so that lists of named things
/// (containers, env, ports, rules, panels) are compared by name, not by position.
fn element_key(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    for k in ["name", "alert", "record", "receiver", "refId", "uid"] {
        if let Some(s) = o.get(k).and_then(Value::as_str) {
            return Some(format!("{k}={s}"));
        }
    }
    // Grafana panels: a row and a panel may share a title.
    if let Some(t) = o.get("title").and_then(Value::as_str) {
        return Some(match o.get("type").and_then(Value::as_str) {
            Some(ty) => format!("{ty}={t}"),
            None => format!("title={t}"),
        });
    }
    match (
        o.get("from").and_then(Value::as_str),
        o.get("to").and_then(Value::as_str),
    ) {
        (Some(f), Some(t)) => Some(format!("{f}->{t}")),
        _ => None,
    }
}

fn keyed(list: &[Value]) -> Option<BTreeMap<String, &Value>> {
    let mut map = BTreeMap::new();
    for v in list {
        if map.insert(element_key(v)?, v).is_some() {
            return None;
        }
    }
    Some(map)
}

/// Embedded documents (a dashboard's JSON in a ConfigMap) are compared field by field.
fn embedded(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str(s).ok()
}

fn field_changes(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let p = join(k);
                match (b.get(k), a.get(k)) {
                    (Some(x), Some(y)) => field_changes(&p, x, y, out),
                    (Some(x), None) => out.push(FieldChange {
                        path: p,
                        before: Some(short(x)),
                        after: None,
                    }),
                    (None, Some(y)) => out.push(FieldChange {
                        path: p,
                        before: None,
                        after: Some(short(y)),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            if let (Some(bk), Some(ak)) = (keyed(b), keyed(a)) {
                let keys: BTreeSet<&String> = bk.keys().chain(ak.keys()).collect();
                for k in keys {
                    let p = format!("{path}[{k}]");
                    match (bk.get(k), ak.get(k)) {
                        (Some(x), Some(y)) => field_changes(&p, x, y, out),
                        (Some(x), None) => out.push(FieldChange {
                            path: p,
                            before: Some(short(x)),
                            after: None,
                        }),
                        (None, Some(y)) => out.push(FieldChange {
                            path: p,
                            before: None,
                            after: Some(short(y)),
                        }),
                        (None, None) => {}
                    }
                }
            } else if b.len() == a.len() {
                for (i, (x, y)) in b.iter().zip(a).enumerate() {
                    field_changes(&format!("{path}[{i}]"), x, y, out);
                }
            } else {
                // Lists of unnamed things: which elements went and which came.
                let bs: Vec<String> = b.iter().map(Value::to_string).collect();
                let as_: Vec<String> = a.iter().map(Value::to_string).collect();
                let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &bs, &as_);
                for op in ops {
                    for (tag, old, new) in op
                        .iter_changes(&bs, &as_)
                        .map(|c| (c.tag(), c.old_index(), c.new_index()))
                    {
                        match (tag, old, new) {
                            (similar::ChangeTag::Delete, Some(i), _) => out.push(FieldChange {
                                path: format!("{path}[{i}]"),
                                before: Some(short(&b[i])),
                                after: None,
                            }),
                            (similar::ChangeTag::Insert, _, Some(j)) => out.push(FieldChange {
                                path: format!("{path}[{j}]"),
                                before: None,
                                after: Some(short(&a[j])),
                            }),
                            _ => {}
                        }
                    }
                }
            }
        }
        (Value::String(bs), Value::String(as_)) if bs != as_ => {
            match (embedded(bs), embedded(as_)) {
                (Some(x), Some(y)) => field_changes(path, &x, &y, out),
                // Multi-line values (PromQL, scripts): only the lines that changed.
                _ if bs.contains('\n') || as_.contains('\n') => {
                    let (removed, added) = changed_lines(bs, as_);
                    let (b, a) = focus(&removed, &added);
                    out.push(FieldChange {
                        path: path.to_owned(),
                        before: Some(b),
                        after: Some(a),
                    });
                }
                _ => {
                    let (b, a) = focus(bs, as_);
                    out.push(FieldChange {
                        path: path.to_owned(),
                        before: Some(b),
                        after: Some(a),
                    });
                }
            }
        }
        (Value::String(b), Value::String(a)) if b != a => {
            let (b, a) = focus(b, a);
            out.push(FieldChange {
                path: path.to_owned(),
                before: Some(b),
                after: Some(a),
            });
        }
        (b, a) if b != a => out.push(FieldChange {
            path: path.to_owned(),
            before: Some(short(b)),
            after: Some(short(a)),
        }),
        _ => {}
    }
}

/// The documents of a file, by a stable key.
fn documents(path: &str, text: &str) -> Option<BTreeMap<String, Value>> {
    let docs: Vec<Value> = if path.ends_with(".json") {
        vec![serde_json::from_str(text).ok()?]
    } else if path.ends_with(".yaml") || path.ends_with(".yml") {
        serde_saphyr::from_multiple::<Value>(text)
            .ok()?
            .into_iter()
            .filter(|d| !d.is_null())
            .collect()
    } else {
        return None;
    };
    let mut map = BTreeMap::new();
    for (i, d) in docs.into_iter().enumerate() {
        let key = match (d["kind"].as_str(), d["metadata"]["name"].as_str()) {
            (Some(k), Some(n)) => match d["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{k}/{ns}/{n}"),
                None => format!("{k}/{n}"),
            },
            _ => format!("document {}", i + 1),
        };
        map.insert(key, d);
    }
    Some(map)
}

fn file_diff(path: &str, before: Option<&String>, after: Option<&String>) -> Option<FileDiff> {
    let status = match (before, after) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        (Some(b), Some(a)) if b == a => return None,
        _ => "changed",
    };
    let empty = String::new();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    if let (Some(bd), Some(ad)) = (
        documents(path, b).or_else(|| before.is_none().then(BTreeMap::new)),
        documents(path, a).or_else(|| after.is_none().then(BTreeMap::new)),
    ) {
        let keys: BTreeSet<&String> = bd.keys().chain(ad.keys()).collect();
        let mut objects = Vec::new();
        for k in keys {
            match (bd.get(k), ad.get(k)) {
                (Some(x), Some(y)) => {
                    let mut fields = Vec::new();
                    field_changes("", x, y, &mut fields);
                    if !fields.is_empty() {
                        objects.push(ObjectDiff {
                            object: k.clone(),
                            status: "changed",
                            fields,
                        });
                    }
                }
                (None, Some(_)) => objects.push(ObjectDiff {
                    object: k.clone(),
                    status: "added",
                    fields: Vec::new(),
                }),
                (Some(_), None) => objects.push(ObjectDiff {
                    object: k.clone(),
                    status: "removed",
                    fields: Vec::new(),
                }),
                (None, None) => {}
            }
        }
        if objects.is_empty() && status == "changed" {
            // Only comments or formatting changed.
            let lines = line_counts(b, a);
            return Some(FileDiff {
                path: path.to_owned(),
                status,
                objects,
                lines: Some(lines),
                patch: Some(patch(b, a)),
            });
        }
        return Some(FileDiff {
            path: path.to_owned(),
            status,
            objects,
            lines: None,
            patch: None,
        });
    }
    let patch = (status == "changed").then(|| patch(b, a));
    Some(FileDiff {
        path: path.to_owned(),
        status,
        objects: Vec::new(),
        lines: Some(line_counts(b, a)),
        patch,
    })
}

/// Two long strings that differ somewhere in the middle: the part that differs, with a
/// little context, so that the change is visible in a short line.
fn focus(before: &str, after: &str) -> (String, String) {
    const CONTEXT: usize = 24;
    let (b, a): (Vec<char>, Vec<char>) = (before.chars().collect(), after.chars().collect());
    if b.len() <= 100 && a.len() <= 100 {
        return (
            short(&Value::String(before.to_owned())),
            short(&Value::String(after.to_owned())),
        );
    }
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let start = prefix.saturating_sub(CONTEXT);
    let cut = |v: &[char]| {
        let end = (v.len() - suffix + CONTEXT).min(v.len());
        let mut s: String = v[start..end].iter().collect();
        if start > 0 {
            s.insert(0, '…');
        }
        if end < v.len() {
            s.push('…');
        }
        short(&Value::String(s))
    };
    (cut(&b), cut(&a))
}

/// The lines only in `before` and the lines only in `after`, each set joined with ` ⏎ `.
fn changed_lines(before: &str, after: &str) -> (String, String) {
    let d = similar::TextDiff::from_lines(before, after);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for c in d.iter_all_changes() {
        let line = c.value().trim().to_owned();
        match c.tag() {
            similar::ChangeTag::Delete => removed.push(line),
            similar::ChangeTag::Insert => added.push(line),
            similar::ChangeTag::Equal => {}
        }
    }
    (removed.join(" ⏎ "), added.join(" ⏎ "))
}

fn patch(before: &str, after: &str) -> String {
    let d = similar::TextDiff::from_lines(before, after);
    let text = d.unified_diff().context_radius(1).to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    let more = lines.len().saturating_sub(PATCH_LINES);
    lines.truncate(PATCH_LINES);
    let mut out = lines.join("\n");
    out.push('\n');
    if more > 0 {
        out.push_str(&format!("… {more} more lines\n"));
    }
    out
}

fn line_counts(before: &str, after: &str) -> (usize, usize) {
    let d = similar::TextDiff::from_lines(before, after);
    let mut removed = 0;
    let mut added = 0;
    for c in d.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    (removed, added)
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

// ----------------------------------------------------------------------------- markdown

fn edge_md(e: &Edge) -> String {
    format!("`{}` → `{}:{}`", e.caller, e.callee, e.port)
}

fn mermaid(
    s: &Semantic,
    head: Option<(&Model, &Topology)>,
    base: Option<(&Model, &Topology)>,
) -> Option<String> {
    let changed: BTreeSet<&String> = s.blast_radius.keys().collect();
    if changed.is_empty() {
        return None;
    }
    let id = |n: &str| format!("s_{}", n.replace('-', "_"));
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    let mut lines: Vec<String> = Vec::new();
    let mut edge_set: BTreeSet<(String, String, &str)> = BTreeSet::new();
    for (m, t) in [head, base].into_iter().flatten() {
        for e in edges(m, t) {
            if changed.contains(&e.caller) || changed.contains(&e.callee) {
                let style = if s
                    .edges_added
                    .iter()
                    .any(|x| x.caller == e.caller && x.callee == e.callee)
                {
                    "added"
                } else if s
                    .edges_removed
                    .iter()
                    .any(|x| x.caller == e.caller && x.callee == e.callee)
                {
                    "removed"
                } else {
                    "same"
                };
                edge_set.insert((e.caller.clone(), e.callee.clone(), style));
                nodes.insert(e.caller.clone());
                nodes.insert(e.callee.clone());
            }
        }
    }
    for c in &changed {
        nodes.insert((*c).clone());
    }
    let mut out = String::from("```mermaid\nflowchart LR\n");
    for n in &nodes {
        let class = if s.services_added.contains(n) {
            ":::added"
        } else if s.services_removed.contains(n) {
            ":::removed"
        } else if changed.contains(n) {
            ":::changed"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}[\"{n}\"]{class}", id(n));
    }
    for (a, b, style) in edge_set {
        let arrow = match style {
            "added" => "==>|added|",
            "removed" => "-.->|removed|",
            _ => "-->",
        };
        lines.push(format!("  {} {arrow} {}", id(&a), id(&b)));
    }
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    out.push_str("  classDef added fill:#dafbe1,stroke:#1a7f37\n  classDef removed fill:#ffebe9,stroke:#cf222e\n  classDef changed fill:#fff8c5,stroke:#9a6700\n```\n");
    Some(out)
}

const COMMENT_LIMIT: usize = 60_000;

fn objects_list(f: &FileDiff) -> String {
    let names: Vec<String> = f
        .objects
        .iter()
        .filter(|o| !o.object.starts_with("document "))
        .map(|o| format!("`{}`", o.object))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    }
}

fn generated_files(out: &mut String, files: &[FileDiff]) {
    let count = |st: &str| files.iter().filter(|f| f.status == st).count();
    let _ = writeln!(
        out,
        "### Generated files\n\n{} changed, {} added, {} removed.\n",
        count("changed"),
        count("added"),
        count("removed")
    );
    for status in ["added", "removed"] {
        let list: Vec<&FileDiff> = files.iter().filter(|f| f.status == status).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<details><summary>{} {status}</summary>\n", list.len());
        for f in list {
            let _ = writeln!(out, "- `{}`{}", f.path, objects_list(f));
        }
        out.push_str("\n</details>\n\n");
    }
    for f in files.iter().filter(|f| f.status == "changed") {
        let summary = match (&f.lines, f.objects.len()) {
            (Some((r, a)), _) => format!("-{r} +{a} lines"),
            (None, n) => format!("{n} object{}", if n == 1 { "" } else { "s" }),
        };
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code>: {summary}</summary>\n",
            f.path
        );
        for o in f.objects.iter().take(50) {
            if o.fields.is_empty() {
                let _ = writeln!(out, "- {} `{}`", o.status, o.object);
                continue;
            }
            let _ = writeln!(out, "- changed `{}`", o.object);
            for c in o.fields.iter().take(20) {
                let v = |x: &Option<String>| {
                    x.as_ref().map_or_else(
                        || "(none)".to_owned(),
                        |s| {
                            if s.is_empty() {
                                "(empty)".to_owned()
                            } else {
                                format!("`{}`", s.replace('`', "'"))
                            }
                        },
                    )
                };
                let _ = writeln!(
                    out,
                    "  - `{}`: {} → {}",
                    c.path.replace('`', "'"),
                    v(&c.before),
                    v(&c.after)
                );
            }
            if o.fields.len() > 20 {
                let _ = writeln!(out, "  - … and {} more fields", o.fields.len() - 20);
            }
        }
        if f.objects.len() > 50 {
            let _ = writeln!(out, "- … and {} more objects", f.objects.len() - 50);
        }
        if let Some(p) = &f.patch {
            let _ = writeln!(out, "```diff\n{}```", p.replace("```", "'''"));
        }
        out.push_str("\n</details>\n\n");
    }
}

/// The Markdown for a pull-request comment.
#[must_use]
pub fn markdown(
    d: &Diff,
    head: Option<(&Model, &Topology)>,
    base: Option<(&Model, &Topology)>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- nestioc diff -->\n## nestioc diff: `{}`\n",
        d.project
    );
    let _ = writeln!(out, "Comparing `{}` (base) with `{}`.\n", d.base, d.head);
    let files_changed = d.resources.len();
    match &d.semantic {
        None => {
            let _ = writeln!(
                out,
                "The base is an output directory: no topology to compare, only the generated files.\n"
            );
        }
        Some(s) => {
            let mut summary = Vec::new();
            let count =
                |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            if !s.services_added.is_empty() {
                summary.push(format!(
                    "{} added",
                    count(s.services_added.len(), "service")
                ));
            }
            if !s.services_removed.is_empty() {
                summary.push(format!(
                    "{} removed",
                    count(s.services_removed.len(), "service")
                ));
            }
            if !s.edges_added.is_empty() {
                summary.push(format!(
                    "{} added",
                    count(s.edges_added.len(), "dependency")
                ));
            }
            if !s.edges_removed.is_empty() {
                summary.push(format!(
                    "{} removed",
                    count(s.edges_removed.len(), "dependency")
                ));
            }
            for (n, what) in [
                (s.slos.len(), "SLO"),
                (s.rollouts.len(), "rollout"),
                (s.images.len(), "image"),
                (s.exposure.len(), "exposure"),
            ] {
                if n > 0 {
                    summary.push(format!("{} changed", count(n, what)));
                }
            }
            if summary.is_empty() {
                let _ = writeln!(
                    out,
                    "**No change to the topology.** {} generated file{} differ.\n",
                    files_changed,
                    if files_changed == 1 { "" } else { "s" }
                );
            } else {
                let _ = writeln!(
                    out,
                    "**{}** · {} generated file{} differ\n",
                    summary.join(" · "),
                    files_changed,
                    if files_changed == 1 { "" } else { "s" }
                );
            }
            if !s.services_added.is_empty()
                || !s.services_removed.is_empty()
                || !s.edges_added.is_empty()
                || !s.edges_removed.is_empty()
            {
                out.push_str("### Topology\n\n");
                for n in &s.services_added {
                    let _ = writeln!(out, "- added service `{n}`");
                }
                for n in &s.services_removed {
                    let _ = writeln!(out, "- removed service `{n}`");
                }
                for e in &s.edges_added {
                    let _ = writeln!(out, "- added dependency {}", edge_md(e));
                }
                for e in &s.edges_removed {
                    let _ = writeln!(out, "- removed dependency {}", edge_md(e));
                }
                out.push('\n');
            }
            if !s.access_granted.is_empty()
                || !s.access_revoked.is_empty()
                || !s.exposure.is_empty()
            {
                out.push_str("### Access\n\n");
                for e in &s.access_granted {
                    let _ = writeln!(out, "- **widened**: {} is now allowed", edge_md(e));
                }
                for e in &s.access_revoked {
                    let _ = writeln!(out, "- narrowed: {} is no longer allowed", edge_md(e));
                }
                for c in &s.exposure {
                    let _ = writeln!(
                        out,
                        "- exposure of `{}`: {} → {}",
                        c.service, c.before, c.after
                    );
                }
                out.push('\n');
            }
            if !s.slos.is_empty() || !s.ceilings.is_empty() {
                out.push_str("### SLOs\n\n");
            }
            if !s.slos.is_empty() {
                out.push_str("| service | SLO | before | after | ceiling from dependencies |\n|---|---|---|---|---|\n");
                for c in &s.slos {
                    let ceiling = match (&c.ceiling, c.feasible) {
                        (Some(x), true) => x.clone(),
                        (Some(x), false) => format!("{x} (**above it: infeasible**)"),
                        (None, _) => "none".into(),
                    };
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {} | {} | {ceiling} |",
                        c.service,
                        c.slo,
                        c.before.as_deref().unwrap_or("none"),
                        c.after.as_deref().unwrap_or("none")
                    );
                }
                out.push('\n');
            }
            if !s.ceilings.is_empty() {
                out.push_str(
                    "Availability ceilings moved by this change (objectives unchanged):\n\n",
                );
                for c in &s.ceilings {
                    let _ = writeln!(
                        out,
                        "- `{}` (objective {}): ceiling {} → {}{}",
                        c.service,
                        c.objective,
                        c.before.as_deref().unwrap_or("none"),
                        c.after.as_deref().unwrap_or("none"),
                        if c.feasible {
                            ""
                        } else {
                            " (**objective now infeasible**)"
                        }
                    );
                }
                out.push('\n');
            }
            for (title, list) in [("Rollouts", &s.rollouts), ("Images", &s.images)] {
                if list.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "### {title}\n\n| service | before | after |\n|---|---|---|"
                );
                for c in list {
                    let _ = writeln!(out, "| `{}` | `{}` | `{}` |", c.service, c.before, c.after);
                }
                out.push('\n');
            }
            if !s.blast_radius.is_empty() {
                out.push_str("### Blast radius\n\nEvery service that calls a changed one, directly or through others:\n\n");
                for (svc, callers) in &s.blast_radius {
                    if callers.is_empty() {
                        let _ = writeln!(out, "- `{svc}`: no callers");
                    } else {
                        let _ = writeln!(
                            out,
                            "- `{svc}`: reaches {}",
                            callers
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                }
                out.push('\n');
            }
            if let Some(m) = mermaid(s, head, base) {
                let _ = writeln!(out, "### Changed neighbourhood\n\n{m}");
            }
        }
    }
    if !d.resources.is_empty() {
        generated_files(&mut out, &d.resources);
    }
    if out.len() > COMMENT_LIMIT {
        // GitHub refuses comments over 65536 characters: keep the summary whole.
        let mut cut = COMMENT_LIMIT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        if let Some(i) = out.rfind("\n<details>") {
            out.truncate(i + 1);
        }
        out.push_str("\n… the resource diff is cut here to fit a pull-request comment; run `nestioc diff --format json` for all of it.\n");
    }
    out
}
