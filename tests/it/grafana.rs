//! Grafana dashboards, checked against the model they come from: every query reads a
//! series that exists (a rule the `prometheus` target records in the same build, or a raw
//! metric of the project's mesh) and an SLO that exists; every link leads to a generated dashboard;
//! every dependency has its row; uids are unique and fit Grafana's 40 characters; the
//! node graph's frames describe the graph; the kustomization makes the ConfigMaps from the dashboard files.
//! The schema check and `kubernetes-validate` are in conformance.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use nestioc::emit::grafana::{
    DASHBOARD_LABEL, DASHBOARD_NAMESPACE, FOLDER_ANNOTATION, KUSTOMIZATION, MAX_UID_LEN,
};
use nestioc::model::{Mesh, Model};
use serde_json::Value;

use crate::support::{compile, root, shop_with_mesh};

/// A project compiled with the `grafana` target: its dashboards by file, and its model.
struct Build {
    name: String,
    model: Model,
    topology: nestioc::graph::Topology,
    files: BTreeMap<String, String>,
}

fn build(name: &str, dir: &std::path::Path) -> Build {
    let opts = nestioc::Options {
        targets: vec!["grafana".into(), "prometheus".into()],
        ..nestioc::Options::default()
    };
    let c = compile(dir, &opts);
    let set = c.artifacts.unwrap_or_else(|| panic!("{name} compiles"));
    Build {
        name: name.to_owned(),
        model: c.analysis.model.expect("model"),
        topology: c.analysis.topology.expect("topology"),
        files: set
            .files
            .into_iter()
            .map(|(p, a)| (p, a.contents))
            .collect(),
    }
}

/// The fixture, the examples, and the shop with each mesh (the queries differ by mesh).
fn builds() -> Vec<Build> {
    let mut out = vec![build(
        "fixture grafana-dashboards",
        &root().join("tests/fixtures/valid/grafana-dashboards"),
    )];
    let examples: Vec<PathBuf> = crate::support::subdirs(&root().join("examples"));
    for dir in examples {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.push(build(&name, &dir));
    }
    for mesh in ["linkerd", "none"] {
        let (_tmp, dir) = shop_with_mesh(mesh);
        out.push(build(&format!("shop (mesh {mesh})"), &dir));
    }
    out
}

impl Build {
    /// `grafana/*.json`, parsed.
    /// The services, release wave after release wave.
    fn wave_order(&self) -> Vec<&str> {
        self.topology
            .waves
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    fn dashboards(&self) -> BTreeMap<String, Value> {
        self.files
            .iter()
            .filter(|(p, _)| p.starts_with("grafana/") && p.ends_with(".json"))
            .map(|(p, text)| {
                let v: Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("{}: {p} is not JSON: {e}", self.name));
                (p.clone(), v)
            })
            .collect()
    }
}

/// The titles of the overview's status panels (one per service), page after page.
fn status_titles<'a>(pages: impl IntoIterator<Item = &'a Value>) -> Vec<&'a str> {
    pages
        .into_iter()
        .flat_map(panels)
        .filter(|p| p["type"] == "stat" || p["type"] == "text")
        .filter(|p| p["title"] != "Topology")
        .filter_map(|p| p["title"].as_str())
        .collect()
}

fn panels(dashboard: &Value) -> &[Value] {
    dashboard["panels"].as_array().map_or(&[], Vec::as_slice)
}

fn targets(panel: &Value) -> &[Value] {
    panel["targets"].as_array().map_or(&[], Vec::as_slice)
}

// ------------------------------------------------------------------ PromQL series

const FUNCTIONS: &[&str] = &["sum", "rate", "histogram_quantile"];
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
];

/// The series a PromQL expression reads: every metric name, with or without a selector.
/// Label names (inside `{}` and after `by`/`on`), strings and ranges are skipped; a
/// function outside [`FUNCTIONS`] is reported as `fn:<name>` so that it fails the check.
fn series(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_to = |i: &mut usize, close: char| {
        while *i < chars.len() && chars[*i] != close {
            if chars[*i] == '"' {
                *i += 1;
                while *i < chars.len() && chars[*i] != '"' {
                    if chars[*i] == '\\' {
                        *i += 1;
                    }
                    *i += 1;
                }
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            skip_to(&mut i, '}');
        } else if c == '[' {
            skip_to(&mut i, ']');
        } else if c == '"' {
            i += 1;
            skip_to(&mut i, '"');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let next = chars.get(j).copied();
            if KEYWORDS.contains(&word.as_str()) {
                if next == Some('(') {
                    i = j + 1;
                    skip_to(&mut i, ')');
                }
            } else if FUNCTIONS.contains(&word.as_str()) {
                // `sum by (...) (...)`: the aggregation's own clause comes next.
            } else if next == Some('(') {
                out.push(format!("fn:{word}"));
            } else {
                out.push(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The raw metrics `emit::metrics` reads, by mesh (dashboards take quantiles from the
/// histograms' buckets).
fn raw_metrics(mesh: Mesh) -> &'static [&'static str] {
    match mesh {
        Mesh::Istio => &[
            "istio_requests_total",
            "istio_request_duration_milliseconds_bucket",
        ],
        Mesh::Linkerd => &["response_total", "response_latency_ms_bucket"],
        Mesh::None => &[
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "grpc_server_handled_total",
            "grpc_server_handling_seconds_bucket",
        ],
    }
}

/// The series the `prometheus` target records for this build: every `record:` of its
/// rule files.
fn recorded(b: &Build) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (path, text) in &b.files {
        // The rules in the project's one form: a rule file, or a PrometheusRule's spec.
        let doc: Value = if path.starts_with("prometheus/") && path.ends_with(".rules.yaml") {
            serde_saphyr::from_str(text).expect("rules YAML")
        } else if path.starts_with("prometheus/") && path.ends_with(".prometheusrule.yaml") {
            let crd: Value = serde_saphyr::from_str(text).expect("PrometheusRule YAML");
            crd["spec"].clone()
        } else {
            continue;
        };
        for g in doc["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                if let Some(name) = r["record"].as_str() {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// Every `slo_id="..."` in an expression.
fn slo_ids(expr: &str) -> Vec<String> {
    expr.split("slo_id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_query_reads_series_and_slos_that_exist() {
    let mut checked = 0;
    for b in builds() {
        let mesh = b.model.project.mesh;
        let known: BTreeSet<String> = recorded(&b)
            .into_iter()
            .chain(raw_metrics(mesh).iter().map(|s| (*s).to_owned()))
            .collect();
        let slos: BTreeSet<String> = b
            .model
            .services
            .values()
            .flat_map(|s| {
                s.slos
                    .iter()
                    .map(move |slo| format!("{}-{}", s.name, slo.kind.as_str()))
            })
            .collect();
        for (file, d) in b.dashboards() {
            for p in panels(&d) {
                for t in targets(p) {
                    let Some(expr) = t["expr"].as_str() else {
                        continue;
                    };
                    let names = series(expr);
                    assert!(!names.is_empty(), "{}: {file}: no series in {expr}", b.name);
                    for n in names {
                        assert!(
                            known.contains(&n),
                            "{}: {file}: panel {:?} reads `{n}`, which nothing records or exports:\n{expr}",
                            b.name,
                            p["title"]
                        );
                    }
                    for id in slo_ids(expr) {
                        assert!(
                            slos.contains(&id),
                            "{}: {file}: no SLO `{id}`:\n{expr}",
                            b.name
                        );
                    }
                    assert_eq!(
                        expr.matches('(').count(),
                        expr.matches(')').count(),
                        "{}: {file}: unbalanced: {expr}",
                        b.name
                    );
                    // Every raw or per-environment series is scoped to the chosen namespace.
                    if !expr.starts_with("slo:objective:ratio") {
                        assert!(
                            expr.contains("namespace=\"$namespace\""),
                            "{}: {file}: not scoped to $namespace: {expr}",
                            b.name
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} queries");
}

#[test]
fn the_series_parser_finds_metrics_and_rejects_unknown_functions() {
    assert_eq!(
        series(
            "histogram_quantile(0.99, sum by (namespace, le) (rate(x_bucket{a=\"b{c}\"}[5m]))) * 1000"
        ),
        ["x_bucket"]
    );
    assert_eq!(
        series("a:b:c{x=\"1\"}\n/ on (slo_id) group_left ()\nd{y=\"2\"}"),
        ["a:b:c", "d"]
    );
    assert_eq!(series("1 - bare"), ["bare"]);
    assert_eq!(series("absent(x{})"), ["fn:absent", "x"]);
}

// ------------------------------------------------------------------ links and uids

/// Every `/d/<uid>` a dashboard links to: dashboard links, panel links, Markdown.
fn linked_uids(d: &Value) -> Vec<String> {
    let collect = |links: &Value, urls: &mut Vec<String>| {
        for l in links.as_array().into_iter().flatten() {
            if let Some(u) = l["url"].as_str() {
                urls.push(u.to_owned());
            }
        }
    };
    let mut urls: Vec<String> = Vec::new();
    collect(&d["links"], &mut urls);
    for p in panels(d) {
        collect(&p["links"], &mut urls);
        if let Some(md) = p["options"]["content"].as_str() {
            urls.extend(
                md.split("](")
                    .skip(1)
                    .map(|r| r.split(')').next().unwrap_or("").to_owned()),
            );
        }
    }
    // `/d/${__value.raw}` (the node graph's links) is checked with the node frame.
    urls.iter()
        .filter_map(|u| u.strip_prefix("/d/"))
        .filter(|u| !u.starts_with('$'))
        .map(|u| u.split(['?', '/']).next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn uids_are_unique_short_and_every_link_leads_to_a_dashboard() {
    for b in builds() {
        let dashboards = b.dashboards();
        let mut uids: BTreeMap<String, String> = BTreeMap::new();
        for (file, d) in &dashboards {
            let uid = d["uid"].as_str().expect("uid").to_owned();
            assert!(
                uid.len() <= MAX_UID_LEN
                    && !uid.is_empty()
                    && uid
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{}: {file}: bad uid `{uid}`",
                b.name
            );
            if let Some(other) = uids.insert(uid.clone(), file.clone()) {
                panic!("{}: {file} and {other} share the uid `{uid}`", b.name);
            }
            assert!(d.get("id").is_none(), "{}: {file} has an id", b.name);
            assert_eq!(d["version"], 1, "{}: {file}", b.name);
            assert!(
                d["description"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Generated by nestioc from ")),
                "{}: {file}: no generated-by note",
                b.name
            );
        }
        assert_eq!(
            uids.len(),
            b.model.services.len() + 1,
            "{}: a dashboard per service and the overview",
            b.name
        );
        for (file, d) in &dashboards {
            let linked = linked_uids(d);
            assert!(!linked.is_empty(), "{}: {file} links nowhere", b.name);
            for uid in linked {
                assert!(
                    uids.contains_key(&uid),
                    "{}: {file} links to `{uid}`, which no dashboard has",
                    b.name
                );
            }
        }
        // Back and forth: each service dashboard links to the overview, which links to it.
        let overview = &dashboards["grafana/overview.json"];
        let overview_uid = overview["uid"].as_str().unwrap();
        let from_overview = linked_uids(overview);
        for (file, d) in dashboards
            .iter()
            .filter(|(f, _)| *f != "grafana/overview.json")
        {
            assert!(
                linked_uids(d).iter().any(|u| u == overview_uid),
                "{}: {file}",
                b.name
            );
            let uid = d["uid"].as_str().unwrap();
            assert!(
                from_overview.iter().any(|u| u == uid),
                "{}: the overview does not link to {file}",
                b.name
            );
        }
    }
}

#[test]
fn every_dependency_has_a_row_linking_to_its_dashboard() {
    for b in builds() {
        let dashboards = b.dashboards();
        let uid_of: BTreeMap<String, String> = dashboards
            .iter()
            .filter_map(|(file, d)| {
                let name = file.strip_prefix("grafana/")?.strip_suffix(".json")?;
                Some((name.to_owned(), d["uid"].as_str()?.to_owned()))
            })
            .collect();
        for service in b.model.services.values() {
            let file = format!("grafana/{}.json", service.name);
            let d = &dashboards[&file];
            // Rows in order, each with the panels after it.
            let mut rows: Vec<(String, Vec<&Value>)> = Vec::new();
            for p in panels(d) {
                if p["type"] == "row" {
                    rows.push((p["title"].as_str().unwrap().to_owned(), Vec::new()));
                } else if let Some(last) = rows.last_mut() {
                    last.1.push(p);
                }
            }
            let deps: Vec<&(String, Vec<&Value>)> = rows
                .iter()
                .filter(|(t, _)| t.starts_with("Dependency: "))
                .collect();
            let calls: Vec<&nestioc::graph::Edge> = b.topology.calls(&service.name).collect();
            assert_eq!(deps.len(), calls.len(), "{}: {file}: {rows:?}", b.name);
            for ((title, row), edge) in deps.iter().zip(calls) {
                assert!(
                    title.starts_with(&format!("Dependency: {}", edge.callee)),
                    "{}: {file}: `{title}` for the edge to {}",
                    b.name,
                    edge.callee
                );
                let want = &uid_of[&edge.callee];
                assert!(!row.is_empty(), "{}: {file}: `{title}` is empty", b.name);
                for p in row {
                    let links = linked_uids(&serde_json::json!({"panels": [p]}));
                    assert!(
                        links.contains(want),
                        "{}: {file}: a panel of `{title}` does not link to {want}: {links:?}",
                        b.name
                    );
                }
                // Edge panels exist exactly when the mesh labels both ends of a call.
                let has_queries = row.iter().any(|p| !targets(p).is_empty());
                let callee = &b.model.services[&edge.callee];
                let tcp = callee.ports[edge.port].protocol == nestioc::model::Protocol::Tcp;
                assert_eq!(
                    has_queries,
                    b.model.project.mesh != Mesh::None && !tcp,
                    "{}: {file}: `{title}`",
                    b.name
                );
            }
        }
    }
}

// ------------------------------------------------------------------ overview

/// A TestData `csv_content` frame, as rows of fields (RFC 4180 quoting).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![vec![String::new()]];
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let row = rows.last_mut().unwrap();
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                row.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(String::new()),
            ('\n', false) => rows.push(vec![String::new()]),
            _ => row.last_mut().unwrap().push(c),
        }
    }
    rows
}

#[test]
fn the_overview_lists_services_by_wave_and_graphs_the_topology() {
    for b in builds() {
        let dashboards = b.dashboards();
        let overview = &dashboards["grafana/overview.json"];
        // Status panels in release-wave order.
        assert_eq!(status_titles([overview]), b.wave_order(), "{}", b.name);

        let graph = panels(overview)
            .iter()
            .find(|p| p["type"] == "nodeGraph")
            .expect("a node graph");
        assert_eq!(graph["datasource"]["type"], "grafana-testdata-datasource");
        let frame = |ref_id: &str| {
            let t = targets(graph)
                .iter()
                .find(|t| t["refId"] == ref_id)
                .unwrap_or_else(|| panic!("{}: no `{ref_id}` frame", b.name));
            assert_eq!(t["scenarioId"], "csv_content");
            parse_csv(t["csvContent"].as_str().unwrap())
        };
        let nodes = frame("nodes");
        let edges = frame("edges");
        assert_eq!(nodes[0][..3], ["id", "title", "subtitle"]);
        assert_eq!(edges[0][..3], ["id", "source", "target"]);
        for rows in [&nodes, &edges] {
            assert!(
                rows.iter().all(|r| r.len() == rows[0].len()),
                "{}: ragged CSV",
                b.name
            );
        }
        // The node's link: `/d/${__value.raw}` of its `dashboard` field.
        let column = nodes[0]
            .iter()
            .position(|f| f == "dashboard")
            .expect("dashboard field");
        let uids: BTreeSet<&str> = dashboards
            .values()
            .filter_map(|d| d["uid"].as_str())
            .collect();
        for r in &nodes[1..] {
            assert!(
                uids.contains(r[column].as_str()),
                "{}: node {} links to `{}`",
                b.name,
                r[0],
                r[column]
            );
        }
        let ids: BTreeSet<&str> = nodes[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            ids.len(),
            nodes.len() - 1,
            "{}: node ids are unique",
            b.name
        );
        for s in b.model.services.keys() {
            assert!(ids.contains(s.as_str()), "{}: no node for {s}", b.name);
        }
        let mut from_graph: BTreeSet<(String, String)> = b
            .topology
            .edges
            .iter()
            .map(|e| (e.caller.clone(), e.callee.clone()))
            .collect();
        for s in b.model.services.values() {
            for e in &s.externals {
                from_graph.insert((
                    s.name.clone(),
                    format!("external:{}@{}:{}", e.name, e.host, e.port),
                ));
            }
        }
        let drawn: BTreeSet<(String, String)> = edges[1..]
            .iter()
            .map(|r| (r[1].clone(), r[2].clone()))
            .collect();
        assert_eq!(drawn, from_graph, "{}", b.name);
        let edge_ids: BTreeSet<&str> = edges[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            edge_ids.len(),
            edges.len() - 1,
            "{}: edge ids are unique",
            b.name
        );
    }
}

// ------------------------------------------------------------------ provisioning

/// `grafana/kustomization.yaml` names every dashboard file once, under its uid (the key
/// the sidecar writes), in a ConfigMap of its own in the sidecar's namespace, with the
/// sidecar's label and no name suffix; and nothing else in `grafana/` is YAML (the
/// kustomization is what Argo CD and the playbook deploy). What kustomize makes of it:
/// conformance.rs.
#[test]
fn the_kustomization_names_every_dashboard_file_for_the_sidecar() {
    for b in builds() {
        let yaml = &b.files[KUSTOMIZATION];
        assert!(
            yaml.starts_with("# Generated by nestioc from "),
            "{}",
            b.name
        );
        let k: Value = serde_saphyr::from_str(yaml).expect("YAML");
        assert_eq!(k["kind"], "Kustomization");
        let options = &k["generatorOptions"];
        assert_eq!(options["disableNameSuffixHash"], true, "{}", b.name);
        assert_eq!(options["labels"][DASHBOARD_LABEL.0], DASHBOARD_LABEL.1);
        assert!(options["annotations"][FOLDER_ANNOTATION].is_string());
        let generators = k["configMapGenerator"].as_array().expect("generators");
        let dashboards = b.dashboards();
        assert_eq!(
            generators.len(),
            dashboards.len(),
            "{}: a ConfigMap per dashboard",
            b.name
        );
        let mut named: BTreeMap<String, String> = BTreeMap::new();
        for g in generators {
            assert_eq!(g["namespace"], DASHBOARD_NAMESPACE);
            let files = g["files"].as_array().expect("files");
            assert_eq!(files.len(), 1, "{}: one dashboard per ConfigMap", b.name);
            let (key, file) = files[0]
                .as_str()
                .and_then(|f| f.split_once('='))
                .expect("key=file");
            assert!(
                named
                    .insert(key.to_owned(), format!("grafana/{file}"))
                    .is_none()
            );
        }
        for (file, d) in &dashboards {
            let key = format!("{}.json", d["uid"].as_str().unwrap());
            assert_eq!(named.get(&key), Some(file), "{}: {key}", b.name);
        }
        let yaml_files: Vec<&String> = b
            .files
            .keys()
            .filter(|p| p.starts_with("grafana/") && !p.ends_with(".json"))
            .collect();
        assert_eq!(yaml_files, [KUSTOMIZATION], "{}", b.name);
    }
}

#[test]
fn a_service_named_overview_keeps_its_dashboard_and_the_overview_moves_aside() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("nestio.kdl"),
        "project \"p\" {\n    mesh \"none\"\n}\nservice \"overview\" {\n    uses \"std/http-service\"\n    image \"o\" tag=\"1\"\n}\n",
    )
    .expect("write");
    let b = build("a service named overview", tmp.path());
    let service: Value = serde_json::from_str(&b.files["grafana/overview.json"]).expect("JSON");
    let overview: Value = serde_json::from_str(&b.files["grafana/_overview.json"]).expect("JSON");
    assert_eq!(service["uid"], "nestio-p_overview");
    assert_eq!(overview["uid"], "nestio-p");
    assert!(
        overview["tags"]
            .as_array()
            .unwrap()
            .contains(&"overview".into())
    );
}

// ------------------------------------------------------------------ a large project

/// The API server refuses a ConfigMap whose data exceeds 1 MiB (`ValidateConfigMap` in
/// `pkg/apis/core/validation`: the sum of its values' lengths against
/// `core.MaxSecretSize`, 1,048,576 bytes; checked below on the real server), and each
/// dashboard reaches Grafana as one ConfigMap, its file under the key `<uid>.json`. A large project's overview is cut into pages that each fit, every
/// service is on exactly one of them, and the pages link to each other.
#[test]
fn a_large_overview_is_cut_into_pages_that_each_fit_a_configmap() {
    const CONFIGMAP_DATA_LIMIT: usize = 1024 * 1024;
    let tmp = tempfile::tempdir().expect("tmp");
    crate::perf::topology::write(1_200, tmp.path()).expect("generate");
    let b = build("1,200 generated services", tmp.path());
    let dashboards = b.dashboards();
    for (file, d) in &dashboards {
        let uid = d["uid"].as_str().expect("uid");
        // The key too, for a margin: etcd stores it with the value.
        let size = b.files[file].len() + uid.len() + ".json".len();
        assert!(
            size <= CONFIGMAP_DATA_LIMIT,
            "{file}: {size} bytes of ConfigMap data"
        );
    }
    let mut pages: Vec<(&str, &Value)> = dashboards
        .iter()
        .filter(|(f, _)| *f == "grafana/overview.json" || f.starts_with("grafana/_overview-"))
        .map(|(f, d)| (f.as_str(), d))
        .collect();
    assert!(pages.len() > 1, "one page for 1,200 services");
    pages.sort_by_key(|(f, _)| {
        f.trim_start_matches("grafana/_overview-")
            .trim_end_matches(".json")
            .parse::<usize>()
            .unwrap_or(1)
    });
    // Every service once, in release-wave order across the pages.
    assert_eq!(status_titles(pages.iter().map(|(_, d)| *d)), b.wave_order());
    // Each page links to every other, and each is in the kustomization.
    let uids: Vec<&str> = pages
        .iter()
        .map(|(_, d)| d["uid"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&&str> = uids.iter().collect();
    assert_eq!(unique.len(), uids.len(), "page uids are unique: {uids:?}");
    for (file, d) in &pages {
        let links = linked_uids(d);
        for other in uids.iter().filter(|u| **u != d["uid"]) {
            assert!(
                links.iter().any(|l| l == other),
                "{file} does not link to {other}"
            );
        }
        let name = file.trim_start_matches("grafana/");
        assert!(
            b.files["grafana/kustomization.yaml"].contains(&format!("={name}")),
            "{file} is not in the kustomization"
        );
    }
    // The real API server takes each page's ConfigMap, and refuses one a byte over the
    // limit (so the bound above is the server's, not a guess).
    if let Some(cluster) = crate::cluster::cluster() {
        let dir = tempfile::tempdir().expect("tmp");
        let configmap = |name: &str, key: &str, text: &str| {
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": DASHBOARD_NAMESPACE},
                "data": {key: text},
            })
        };
        let mut files = Vec::new();
        for (k, (file, d)) in pages.iter().enumerate() {
            let uid = d["uid"].as_str().unwrap();
            let path = dir.path().join(format!("page-{k}.json"));
            let map = configmap(
                &format!("page-{k}"),
                &format!("{uid}.json"),
                &b.files[*file],
            );
            std::fs::write(&path, map.to_string()).expect("write");
            files.push(path);
        }
        let applied = cluster.dry_run(&files);
        assert!(applied.ok && applied.failed == 0, "{}", applied.text);
        let over = configmap("over", "over.json", &"x".repeat(CONFIGMAP_DATA_LIMIT + 1));
        let path = dir.path().join("over.json");
        std::fs::write(&path, over.to_string()).expect("write");
        let applied = cluster.dry_run(&[path]);
        assert_eq!(applied.failed, 1, "{}", applied.text);
    }
    // Beyond what a node graph shows legibly (1,000 nodes), the topology is a pointer to
    // the graph target's files.
    let last = pages.last().unwrap().1;
    assert!(panels(last).iter().all(|p| p["type"] != "nodeGraph"));
    assert!(
        panels(last)
            .iter()
            .any(|p| p["title"] == "Topology" && p["type"] == "text"),
        "no topology panel on the last page"
    );
}
