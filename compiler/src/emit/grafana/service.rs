//! A service's dashboard: RED, one row per SLO (status, burn rates, budget) and one per
//! dependency (the caller-side SLIs of the edge, a link to the callee's dashboard).

use rust_decimal::Decimal;

use super::panels::{
    Dashboard, DashboardModel, Grid, Stat, Target, Thresholds, Timeseries, dashboard,
    edge_selector, in_namespace, instant, link, objective, page_burn_rate, panel_link,
    project_dashboards_link, project_tag, query, ref_id, slo_selector, slo_title, stat, text,
    thresholds, timeseries, variables,
};
use super::{dashboard_url, generated, overview_uid, service_uid, sli_error_rule};
use crate::emit::EmitContext;
use crate::emit::metrics;
use crate::emit::prometheus::WINDOWS;
use crate::graph::{Edge, PortStyle};
use crate::model::{Protocol, Service, Slo, SloKind};

/// RED: what the service serves. Workers serve nothing and get no RED row.
fn red_row(grid: &mut Grid, cx: &EmitContext<'_>, service: &Service) {
    let mesh = cx.model.project.mesh;
    // A worker serves nothing; over TCP the mesh counts connections, not requests.
    let why = if service.is_worker() {
        Some(format!(
            "{} is a worker: it listens on no port and serves no requests.",
            service.name
        ))
    } else if metrics::protocol(service) == Protocol::Tcp {
        Some(format!(
            "{} serves TCP: the mesh counts its connections and bytes, not requests.",
            service.name
        ))
    } else {
        None
    };
    if let Some(why) = why {
        grid.place(
            24,
            2,
            text(
                "No request metrics",
                &format!(
                    "{why} {}",
                    if service.slos.is_empty() && cx.topology.calls(&service.name).next().is_none()
                    {
                        "It declares no SLO and calls no other service."
                    } else {
                        "Below: its SLOs and the calls it makes."
                    }
                ),
                Vec::new(),
            ),
        );
        return;
    }
    let w = "$__rate_interval";
    grid.row("Requests, errors, duration (RED)");
    grid.place(
        8,
        8,
        timeseries(Timeseries {
            title: "Requests/s".into(),
            description: format!("Requests {} served, per second.", service.name),
            unit: "reqps",
            targets: vec![query(
                "A",
                &in_namespace(&metrics::requests(mesh, service, w)),
                "requests",
            )],
            lines: None,
            links: Vec::new(),
        }),
    );
    grid.place(
        8,
        8,
        timeseries(Timeseries {
            title: "Errors/s".into(),
            description: "Failed requests per second: HTTP 5xx; for gRPC the server faults (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS).".into(),
            unit: "reqps",
            targets: vec![query(
                "A",
                &in_namespace(&metrics::errors(mesh, service, w)),
                "errors",
            )],
            lines: None,
            links: Vec::new(),
        }),
    );
    let budget = service
        .slo(SloKind::Availability)
        .map(|s| (Decimal::ONE - objective(s)).normalize());
    grid.place(
        8,
        8,
        timeseries(Timeseries {
            title: "Error ratio".into(),
            description: match budget {
                Some(_) => "Failed requests / all requests. The dashed line is the availability SLO's error budget.".into(),
                None => "Failed requests / all requests.".into(),
            },
            unit: "percentunit",
            targets: vec![query(
                "A",
                &in_namespace(&metrics::availability_error_ratio(mesh, service, w)),
                "error ratio",
            )],
            lines: budget.map(|b| thresholds("green", &[(b, "red")])),
            links: Vec::new(),
        }),
    );
    let latency_threshold = service
        .slo(SloKind::Latency)
        .and_then(|s| s.threshold.as_ref())
        .map(|t| Decimal::from(t.value.millis));
    let targets: Vec<Target> = [("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")]
        .iter()
        .enumerate()
        .map(|(i, (q, legend))| {
            query(
                &ref_id(i),
                &in_namespace(&metrics::latency_quantile_ms(mesh, service, q, w)),
                legend,
            )
        })
        .collect();
    grid.place(
        24,
        8,
        timeseries(Timeseries {
            title: "Latency".into(),
            description: match latency_threshold {
                Some(_) => "Request duration quantiles in milliseconds. The dashed line is the latency SLO's threshold.".into(),
                None => "Request duration quantiles in milliseconds.".into(),
            },
            unit: "ms",
            targets,
            lines: latency_threshold.map(|t| thresholds("green", &[(t, "red")])),
            links: Vec::new(),
        }),
    );
}

/// One SLO: status now, then burn rates and budget over time.
fn slo_row(grid: &mut Grid, service: &Service, slo: &Slo) {
    let name = &service.name;
    let kind = slo.kind;
    let ns = slo_selector(name, kind, true);
    let meta = slo_selector(name, kind, false);
    let period = slo.window.canonical();
    let goal = objective(slo);
    let fast = page_burn_rate(slo);
    grid.row(&format!("SLO {}", slo_title(slo)));
    grid.place(
        6,
        5,
        stat(Stat {
            title: format!("SLI over {period}"),
            description: format!(
                "The share of good events over the SLO period: 1 - {}. Red below the objective.",
                sli_error_rule(&period)
            ),
            unit: "percentunit",
            decimals: Some(3),
            targets: vec![instant(
                "A",
                &format!("1 - {}{ns}", sli_error_rule(&period)),
                "SLI",
            )],
            thresholds: thresholds("red", &[(goal, "green")]),
            links: Vec::new(),
        }),
    );
    grid.place(
        4,
        5,
        stat(Stat {
            title: "Objective".into(),
            description: "slo:objective:ratio".into(),
            unit: "percentunit",
            decimals: Some(3),
            targets: vec![instant(
                "A",
                &format!("slo:objective:ratio{meta}"),
                "objective",
            )],
            thresholds: thresholds("blue", &[]),
            links: Vec::new(),
        }),
    );
    grid.place(
        6,
        5,
        stat(Stat {
            title: "Error budget remaining".into(),
            description: format!(
                "The share of the {period} error budget not yet spent (slo:period_error_budget_remaining:ratio); below 0 the SLO is missed."
            ),
            unit: "percentunit",
            decimals: Some(1),
            targets: vec![instant(
                "A",
                &format!("slo:period_error_budget_remaining:ratio{ns}"),
                "remaining",
            )],
            thresholds: budget_thresholds(),
            links: Vec::new(),
        }),
    );
    grid.place(
        4,
        5,
        stat(Stat {
            title: "Burn rate now".into(),
            description: format!(
                "How fast the budget burns over the last 5 minutes (slo:current_burn_rate:ratio): 1 spends it exactly over {period}; {} spends 2% of it in an hour (the fast-burn page).",
                fast
            ),
            unit: "none",
            decimals: Some(2),
            targets: vec![instant(
                "A",
                &format!("slo:current_burn_rate:ratio{ns}"),
                "burn rate",
            )],
            thresholds: burn_thresholds(fast),
            links: Vec::new(),
        }),
    );
    grid.place(
        4,
        5,
        stat(Stat {
            title: format!("Burn rate over {period}"),
            description: "slo:period_burn_rate:ratio: above 1 the period's budget is spent.".into(),
            unit: "none",
            decimals: Some(2),
            targets: vec![instant(
                "A",
                &format!("slo:period_burn_rate:ratio{ns}"),
                "burn rate",
            )],
            thresholds: thresholds("green", &[(Decimal::ONE, "red")]),
            links: Vec::new(),
        }),
    );
    let mut windows: Vec<String> = WINDOWS.iter().map(|w| (*w).to_owned()).collect();
    if !windows.contains(&period) {
        windows.push(period.clone());
    }
    let targets: Vec<Target> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            query(
                &ref_id(i),
                &format!(
                    "{}{ns}\n/ on (slo_id) group_left ()\nslo:error_budget:ratio{meta}",
                    sli_error_rule(w)
                ),
                w,
            )
        })
        .collect();
    grid.place(
        16,
        8,
        timeseries(Timeseries {
            title: "Burn rate by window".into(),
            description: format!(
                "The error ratio over each window divided by the error budget (slo:sli_error:ratio_rate<window> / slo:error_budget:ratio). The dashed line at {fast} is the fast-burn page threshold."
            ),
            unit: "none",
            targets,
            lines: Some(thresholds("green", &[(fast, "red")])),
            links: Vec::new(),
        }),
    );
    grid.place(
        8,
        8,
        timeseries(Timeseries {
            title: "Error budget remaining".into(),
            description: format!(
                "The share of the {period} error budget not yet spent, over time."
            ),
            unit: "percentunit",
            targets: vec![query(
                "A",
                &format!("slo:period_error_budget_remaining:ratio{ns}"),
                "remaining",
            )],
            lines: Some(thresholds("red", &[(Decimal::ZERO, "green")])),
            links: Vec::new(),
        }),
    );
}

pub(super) fn budget_thresholds() -> Thresholds {
    thresholds(
        "red",
        &[(Decimal::ZERO, "orange"), (Decimal::new(25, 2), "green")],
    )
}

fn burn_thresholds(fast: Decimal) -> Thresholds {
    if fast > Decimal::ONE {
        thresholds("green", &[(Decimal::ONE, "orange"), (fast, "red")])
    } else {
        thresholds("green", &[(Decimal::ONE, "red")])
    }
}

/// One dependency: the caller-side SLIs of the edge and a link to the callee's dashboard.
fn dependency_row(grid: &mut Grid, cx: &EmitContext<'_>, service: &Service, edge: &Edge) {
    let Some(callee) = cx.model.services.get(&edge.callee) else {
        return;
    };
    let mesh = cx.model.project.mesh;
    let project = &cx.model.project.name;
    let callee_uid = service_uid(project, &callee.name);
    let to = format!("{} dashboard", callee.name);
    let links = || vec![panel_link(&to, &callee_uid)];
    let label = edge.label(PortStyle::Protocol);
    grid.row(&if label.is_empty() {
        format!("Dependency: {}", callee.name)
    } else {
        format!("Dependency: {} ({label})", callee.name)
    });
    let w = "$__rate_interval";
    let tcp = edge.target.protocol == Protocol::Tcp;
    let queries = (
        metrics::edge_requests(mesh, edge, callee, w),
        metrics::edge_error_ratio(mesh, edge, callee, w),
        metrics::edge_latency_quantile_ms(mesh, edge, callee, "0.99", w),
    );
    let (Some(requests), Some(errors), Some(p99), false) = (queries.0, queries.1, queries.2, tcp)
    else {
        let why = if tcp {
            "Over TCP the mesh counts connections and bytes, not requests: this edge has no request panels."
        } else {
            "Without a service mesh, callers' client metrics are not labelled uniformly: this edge has no panels."
        };
        grid.place(
            24,
            3,
            text(
                &format!("Calls to {}", callee.name),
                &format!(
                    "{why} See the [{} dashboard]({}).",
                    callee.name,
                    dashboard_url(&callee_uid)
                ),
                links(),
            ),
        );
        return;
    };
    let sel = edge_selector(edge);
    grid.place(
        8,
        8,
        timeseries(Timeseries {
            title: format!("Requests/s to {}", callee.name),
            description: format!(
                "Calls {} makes to {}, per second, as {} sees them.",
                service.name, callee.name, service.name
            ),
            unit: "reqps",
            targets: vec![query("A", &in_namespace(&requests), "requests")],
            lines: None,
            links: links(),
        }),
    );
    // The caller's availability budget: one required edge failing more often than that
    // exhausts it alone (the `prometheus` target's EdgeErrorBudgetThreat alert).
    let budget = service
        .slo(SloKind::Availability)
        .filter(|_| !edge.optional())
        .map(|s| (Decimal::ONE - objective(s)).normalize());
    grid.place(
        8,
        8,
        timeseries(Timeseries {
            title: format!("Error ratio of calls to {}", callee.name),
            description: match budget {
                Some(_) => format!("Failed calls / all calls, as {} sees them; the recorded 5m and 1h ratios alongside. The dashed line is {}'s availability error budget.", service.name, service.name),
                None => format!("Failed calls / all calls, as {} sees them; the recorded 5m and 1h ratios alongside.", service.name),
            },
            unit: "percentunit",
            targets: vec![
                query("A", &in_namespace(&errors), "error ratio"),
                query("B", &format!("edge:request_error:ratio_rate5m{sel}"), "5m (recorded)"),
                query("C", &format!("edge:request_error:ratio_rate1h{sel}"), "1h (recorded)"),
            ],
            lines: budget.map(|b| thresholds("green", &[(b, "red")])),
            links: links(),
        }),
    );
    let timeout = edge.timeout().map(|t| Decimal::from(t.millis));
    grid.place(
        8,
        8,
        timeseries(Timeseries {
            title: format!("p99 latency of calls to {}", callee.name),
            description: match timeout {
                Some(_) => format!("The 99th percentile of call durations in milliseconds, as {} sees them. The dashed line is the call's timeout.", service.name),
                None => format!("The 99th percentile of call durations in milliseconds, as {} sees them.", service.name),
            },
            unit: "ms",
            targets: vec![
                query("A", &in_namespace(&p99), "p99"),
                query("B", &format!("edge:request_duration_ms:p99_rate5m{sel}"), "p99 5m (recorded)"),
            ],
            lines: timeout.map(|t| thresholds("green", &[(t, "red")])),
            links: links(),
        }),
    );
}

fn service_tags(cx: &EmitContext<'_>, service: &Service) -> Vec<String> {
    let mut tags = vec!["nestioc".to_owned(), project_tag(cx)];
    if let Some(o) = &service.owner {
        tags.push(format!("owner:{o}"));
    }
    if let Some(t) = &service.tier {
        tags.push(format!("tier:{}", t.value));
    }
    tags
}

/// `grafana/<service>.json`.
pub(super) fn service_dashboard(cx: &EmitContext<'_>, service: &Service) -> DashboardModel {
    let project = &cx.model.project.name;
    let mut grid = Grid::default();
    red_row(&mut grid, cx, service);
    for slo in &service.slos {
        slo_row(&mut grid, service, slo);
    }
    for edge in cx.topology.calls(&service.name) {
        dependency_row(&mut grid, cx, service, edge);
    }
    let mut about = vec![format!("Service {}", service.name)];
    if let Some(o) = &service.owner {
        about.push(format!("owner {o}"));
    }
    if let Some(t) = &service.tier {
        about.push(format!("tier {}", t.value));
    }
    dashboard(Dashboard {
        uid: service_uid(project, &service.name),
        title: format!("{project} / {}", service.name),
        description: format!("{} {}.", generated(&cx.file_of(service)), about.join(", ")),
        tags: service_tags(cx, service),
        links: vec![
            link(
                "Overview",
                &format!("{project}: SLO status by release wave and the topology"),
                &overview_uid(project),
            ),
            project_dashboards_link(cx),
        ],
        templating: variables(cx, false),
        panels: grid.panels,
    })
}
