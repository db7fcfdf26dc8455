//! The project's overview: every service's error budget by release wave, and the topology
//! as a node graph (TestData CSV frames).

use std::fmt::Write as _;

use super::panels::{
    Dashboard, DashboardModel, DataLink, FieldConfig, FieldDefaults, Grid, Matcher,
    NodeGraphOptions, Override, Panel, PanelOptions, PanelType, Property, Stat, Target,
    TestDataQuery, dashboard, instant, panel, panel_link, project_dashboards_link, project_tag,
    ref_id, slo_selector, slo_title, stat, testdata, text, to_json, variables,
};
use super::service::budget_thresholds;
use super::{dashboard_url, generated, overview_path, overview_uid, service_uid, uid};
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
fn topology_targets(cx: &EmitContext<'_>) -> Vec<Target> {
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
    [("nodes", node_csv), ("edges", edge_csv)]
        .into_iter()
        .map(|(ref_id, csv_content)| {
            Target::TestData(TestDataQuery {
                datasource: testdata(),
                ref_id,
                scenario_id: "csv_content",
                csv_content,
            })
        })
        .collect()
}

fn node_graph(cx: &EmitContext<'_>) -> Panel {
    panel(
        PanelType::NodeGraph,
        "Topology",
        "Services (by release wave and tier), externals and the declared calls; optional calls and externals dashed. The graph is static: the data is written into the dashboard for a TestData data source. Click a service for its dashboard.".to_owned(),
        testdata(),
        FieldConfig {
            defaults: FieldDefaults::None {},
            overrides: vec![Override {
                matcher: Matcher {
                    id: "byName",
                    options: "dashboard",
                },
                properties: vec![Property {
                    id: "links",
                    value: vec![DataLink {
                        title: "Open dashboard",
                        url: "/d/${__value.raw}?${__url_time_range}&${__all_variables}",
                    }],
                }],
            }],
        },
        PanelOptions::NodeGraph(NodeGraphOptions {
            layout_algorithm: "layered",
            zoom_mode: "cooperative",
        }),
        topology_targets(cx),
    )
}

/// A service's SLO status: the error budget left of each SLO.
fn status_panel(cx: &EmitContext<'_>, service: &Service) -> Panel {
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
    p.name_values();
    p
}

/// The most services (and externals) the topology's node graph shows: Grafana's node
/// graph lays every node out in the browser and is unreadable well before this, and its
/// data (written into the dashboard) grows with it. Beyond it, a text panel points at
/// the `graph` target's files.
pub(super) const NODE_GRAPH_MAX: usize = 1_000;

/// What one page of the overview may weigh, as written: a dashboard reaches Grafana as a
/// ConfigMap, and the API server refuses a ConfigMap whose data exceeds 1 MiB
/// (1,048,576 bytes, `k8s.io/apimachinery` `validation.MaxSecretSize` applied to
/// ConfigMaps by `ValidateConfigMap`). The margin covers the dashboard's skeleton (links,
/// variables) and the data key.
pub(super) const PAGE_BUDGET: usize = 900_000;

/// One page of the overview: its file, uid, ConfigMap name and dashboard.
pub(super) struct Page {
    pub(super) path: String,
    pub(super) uid: String,
    pub(super) configmap: String,
    pub(super) dashboard: DashboardModel,
}

/// What the overview lays out, in order.
enum Item {
    /// A release wave's row (its title).
    Row(String),
    Panel {
        w: u32,
        h: u32,
        panel: Panel,
        bytes: usize,
    },
}

/// The overview: every service's error budget by release wave, then the topology. A
/// project whose overview would not fit one ConfigMap ([`PAGE_BUDGET`]) gets several
/// pages: the first is `grafana/overview.json` (uid `nestio-<project>`), the others
/// `grafana/_overview-<k>.json` (a service name cannot hold `_`, so no service's
/// dashboard has that path), uid `nestio-<project>.<k>` (nor `.`: no service dashboard's
/// uid); a wave cut by a page goes on under the same title, marked continued. Each page
/// links to the others.
pub(super) fn overview_pages(cx: &EmitContext<'_>) -> Vec<Page> {
    let project = &cx.model.project.name;
    let mut items = Vec::new();
    // A panel's weight as the page will write it: two levels deeper (four more spaces a
    // line) than on its own, with its `id` and `gridPos`.
    let panel = |w, h, panel: Panel| {
        let text = to_json(&panel);
        let bytes = text.len() + 4 * text.lines().count() + 120;
        Item::Panel { w, h, panel, bytes }
    };
    for (wave, names) in cx.topology.waves.iter().enumerate() {
        items.push(Item::Row(format!(
            "Release wave {wave}: error budget remaining"
        )));
        for name in names {
            if let Some(s) = cx.model.services.get(name) {
                items.push(panel(6, 5, status_panel(cx, s)));
            }
        }
    }
    items.push(Item::Row("Topology".into()));
    let nodes = cx.model.services.len() + cx.model.shared_externals().len();
    items.push(if nodes <= NODE_GRAPH_MAX {
        panel(24, 18, node_graph(cx))
    } else {
        panel(
            24,
            4,
            text(
                "Topology",
                &format!(
                    "{nodes} services and externals: more than a node graph shows legibly ({NODE_GRAPH_MAX}). The topology and its release waves are in the `graph` target's files (`graph/topology.mmd`, `.dot`, `.json`), and `nestioc graph` prints it."
                ),
                Vec::new(),
            ),
        )
    });

    // Cut into pages: a page ends before the item that would take it over the budget.
    let mut pages: Vec<Vec<Item>> = Vec::new();
    let mut page: Vec<Item> = Vec::new();
    let mut weight = 0;
    let mut row = String::new();
    for item in items {
        match item {
            Item::Row(title) => {
                weight += title.len() + 200;
                row.clone_from(&title);
                page.push(Item::Row(title));
            }
            Item::Panel { bytes, .. } if weight + bytes > PAGE_BUDGET && !page.is_empty() => {
                let continued = format!("{row} (continued)");
                weight = continued.len() + 200 + bytes;
                pages.push(std::mem::replace(
                    &mut page,
                    vec![Item::Row(continued), item],
                ));
            }
            Item::Panel { bytes, .. } => {
                weight += bytes;
                page.push(item);
            }
        }
    }
    pages.push(page);
    let n = pages.len();
    let page_uid = |k: usize| {
        if k == 1 {
            overview_uid(project)
        } else {
            uid(&format!("{project}.{k}"))
        }
    };
    pages
        .into_iter()
        .enumerate()
        .map(|(i, items)| {
            let k = i + 1;
            let mut grid = Grid::default();
            for item in items {
                match item {
                    Item::Row(title) => grid.row(&title),
                    Item::Panel { w, h, panel, .. } => grid.place(w, h, panel),
                }
            }
            let mut links = vec![project_dashboards_link(cx)];
            links.extend((1..=n).filter(|j| *j != k).map(|j| {
                panel_link(
                    &format!("{project} / overview, page {j} of {n}"),
                    &page_uid(j),
                )
            }));
            let title = if n == 1 {
                format!("{project} / overview")
            } else {
                format!("{project} / overview, page {k} of {n}")
            };
            let dashboard = dashboard(Dashboard {
                uid: page_uid(k),
                title,
                description: format!(
                    "{} Every service's SLO status by release wave, and the topology.",
                    generated(&cx.sources.get(cx.model.project.source).name)
                ),
                tags: vec!["nestioc".into(), project_tag(cx), "overview".into()],
                links,
                templating: variables(cx, true),
                panels: grid.panels,
            });
            Page {
                path: if k == 1 {
                    overview_path(cx).to_owned()
                } else {
                    format!("grafana/_overview-{k}.json")
                },
                uid: page_uid(k),
                configmap: if k == 1 {
                    format!("nestio-dashboard-{project}")
                } else {
                    format!("nestio-dashboard-{project}.overview.{k}")
                },
                dashboard,
            }
        })
        .collect()
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
