//! The project's overview: every service's error budget by release wave, and the topology
//! as a node graph (TestData CSV frames).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::panels::{
    Dashboard, Grid, Stat, dashboard, instant, panel_link, project_dashboards_link, project_tag,
    ref_id, slo_selector, slo_title, stat, testdata, text, variables,
};
use super::service::budget_thresholds;
use super::{dashboard_url, generated, overview_uid, service_uid};
use crate::emit::EmitContext;
use crate::graph::PortStyle;
use crate::model::Service;

/// One CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = header.join(",");
    for row in rows {
        out.push('\n');
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    out
}

fn external_id(name: &str, host: &str, port: u16) -> String {
    format!("external:{name}@{host}:{port}")
}

/// The node graph's frames, as TestData `csv_content` queries: `nodes` (fields `id`,
/// `title`, `subtitle`, `mainstat`, `secondarystat`, `detail__*`) and `edges` (`id`,
/// `source`, `target`, `mainstat`, `secondarystat`, `strokedasharray`), the field names of
/// Grafana's node graph data API. A `dashboard` field holds each node's dashboard uid
/// for the node's link.
fn topology_targets(cx: &EmitContext<'_>) -> Vec<Value> {
    let project = &cx.model.project.name;
    let mut nodes = Vec::new();
    for (wave, names) in cx.topology.waves.iter().enumerate() {
        for name in names {
            let Some(s) = cx.model.services.get(name) else {
                continue;
            };
            nodes.push(vec![
                name.clone(),
                name.clone(),
                if s.is_worker() { "worker" } else { "service" }.to_owned(),
                format!("wave {wave}"),
                s.tier
                    .as_ref()
                    .map(|t| format!("tier {}", t.value))
                    .unwrap_or_default(),
                s.owner.clone().unwrap_or_default(),
                cx.file_of(s),
                service_uid(project, name),
            ]);
        }
    }
    let externals = cx.model.shared_externals();
    for (name, host, port) in externals.keys() {
        nodes.push(vec![
            external_id(name, host, *port),
            name.clone(),
            "external".to_owned(),
            format!("{host}:{port}"),
            String::new(),
            String::new(),
            String::new(),
            overview_uid(project),
        ]);
    }
    let mut edges = Vec::new();
    for e in &cx.topology.edges {
        edges.push(vec![
            format!("{}->{}:{}", e.caller, e.callee, e.target.name),
            e.caller.clone(),
            e.callee.clone(),
            e.port_label(PortStyle::Protocol),
            e.policy_label(),
            if e.optional() { "4 4" } else { "" }.to_owned(),
        ]);
    }
    for ((name, host, port), callers) in &externals {
        for c in callers {
            let id = external_id(name, host, *port);
            edges.push(vec![
                format!("{c}->{id}"),
                c.clone(),
                id,
                format!("{host}:{port}"),
                "external".to_owned(),
                "4 4".to_owned(),
            ]);
        }
    }
    let node_csv = csv(
        &[
            "id",
            "title",
            "subtitle",
            "mainstat",
            "secondarystat",
            "detail__owner",
            "detail__file",
            "dashboard",
        ],
        &nodes,
    );
    let edge_csv = csv(
        &[
            "id",
            "source",
            "target",
            "mainstat",
            "secondarystat",
            "strokedasharray",
        ],
        &edges,
    );
    vec![
        json!({"datasource": testdata(), "refId": "nodes", "scenarioId": "csv_content", "csvContent": node_csv}),
        json!({"datasource": testdata(), "refId": "edges", "scenarioId": "csv_content", "csvContent": edge_csv}),
    ]
}

fn node_graph(cx: &EmitContext<'_>) -> Value {
    json!({
        "type": "nodeGraph",
        "title": "Topology",
        "description": "Services (by release wave and tier), externals and the declared calls; optional calls and externals dashed. The graph is static: the data is written into the dashboard for a TestData data source. Click a service for its dashboard.",
        "datasource": testdata(),
        "fieldConfig": {
            "defaults": {},
            "overrides": [{
                "matcher": {"id": "byName", "options": "dashboard"},
                "properties": [{
                    "id": "links",
                    "value": [{
                        "title": "Open dashboard",
                        "url": "/d/${__value.raw}?${__url_time_range}&${__all_variables}",
                    }],
                }],
            }],
        },
        "options": {"layoutAlgorithm": "layered", "zoomMode": "cooperative"},
        "targets": topology_targets(cx),
    })
}

/// A service's SLO status: the error budget left of each SLO.
fn status_panel(cx: &EmitContext<'_>, service: &Service) -> Value {
    let project = &cx.model.project.name;
    let links = vec![panel_link(
        &format!("{} dashboard", service.name),
        &service_uid(project, &service.name),
    )];
    let mut about = Vec::new();
    if let Some(o) = &service.owner {
        about.push(format!("owner {o}"));
    }
    if let Some(t) = &service.tier {
        about.push(format!("tier {}", t.value));
    }
    about.push(cx.file_of(service));
    if service.slos.is_empty() {
        return text(
            &service.name,
            &format!(
                "No SLO declared ({}). [Dashboard]({})",
                about.join(", "),
                dashboard_url(&service_uid(project, &service.name))
            ),
            links,
        );
    }
    let targets = service
        .slos
        .iter()
        .enumerate()
        .map(|(i, slo)| {
            instant(
                &ref_id(i),
                &format!(
                    "slo:period_error_budget_remaining:ratio{}",
                    slo_selector(&service.name, slo.kind, true)
                ),
                slo.kind.as_str(),
            )
        })
        .collect();
    let mut description = format!("Error budget remaining ({}). ", about.join(", "));
    let _ = write!(
        description,
        "{}.",
        service
            .slos
            .iter()
            .map(slo_title)
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut p = stat(Stat {
        title: service.name.clone(),
        description,
        unit: "percentunit",
        decimals: Some(1),
        targets,
        thresholds: budget_thresholds(),
        links,
    });
    // Name each value by its SLO, even when there is one.
    p["options"]["textMode"] = json!("value_and_name");
    p
}

/// `grafana/overview.json`.
pub(super) fn overview(cx: &EmitContext<'_>) -> Value {
    let project = &cx.model.project.name;
    let mut grid = Grid::default();
    for (wave, names) in cx.topology.waves.iter().enumerate() {
        grid.row(&format!("Release wave {wave}: error budget remaining"));
        for name in names {
            if let Some(s) = cx.model.services.get(name) {
                grid.place(6, 5, status_panel(cx, s));
            }
        }
    }
    grid.row("Topology");
    grid.place(24, 18, node_graph(cx));
    dashboard(Dashboard {
        uid: overview_uid(project),
        title: format!("{project} / overview"),
        description: format!(
            "{} Every service's SLO status by release wave, and the topology.",
            generated(&cx.sources.get(cx.model.project.source).name)
        ),
        tags: vec!["nestioc".into(), project_tag(cx), "overview".into()],
        links: vec![project_dashboards_link(cx)],
        templating: variables(cx, true),
        panels: grid.panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("checkout"), "checkout");
        assert_eq!(
            csv_field("timeout 2s, retries 3"),
            "\"timeout 2s, retries 3\""
        );
        assert_eq!(csv_field("a \"b\""), "\"a \"\"b\"\"\"");
    }
}
