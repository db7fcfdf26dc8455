//! `prometheus` and `alertmanager`: SLO rules as Sloth builds them (the Google SRE
//! workbook's multi-window, multi-burn-rate alerts), per-edge SLIs, promtool unit tests,
//! and dependency-aware alert inhibition.
//!
//! Per SLO: 8 SLI recording rules (`slo:sli_error:ratio_rate<window>` for 5m, 30m, 1h,
//! 2h, 6h, 1d, 3d and the SLO period), 7 metadata rules, a page alert and a ticket alert.
//! Burn-rate factors are computed for the SLO's period (`budget% × period / long
//! window`: 14.4, 6, 3, 1 at 30d) and every threshold is an exact decimal.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::alertmanager_config::{Config, InhibitRule, Receiver, Route};
use super::chart::crd::Resource;
use super::chart::crd::prometheus::{Labels, PrometheusRuleSpec, Rule, RuleGroup};
use super::metrics;
use super::yaml::{documents, header, to_yaml};
use super::{Artifact, EmitContext, Emitter, Sink};
use crate::diag::Diagnostic;
use crate::model::values::Duration;
use crate::model::{Mesh, RulesForm, Service, Slo, SloKind};

pub(super) struct Prometheus;
pub(super) struct Alertmanager;

/// Where PrometheusRule objects go, and the label a Prometheus `ruleSelector` matches.
pub const RULES_NAMESPACE: &str = "monitoring";
pub const RULES_LABEL: &str = "nestio.dev/rules";

/// The SLI windows (besides the SLO period).
pub const WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One multi-window alert condition: the share of the error budget it detects, and its
/// short and long windows (Google SRE workbook, as Sloth implements it).
#[derive(Debug, Clone, Copy)]
pub struct BurnWindow {
    pub severity: &'static str,
    pub budget_percent: u32,
    pub short: &'static str,
    pub long: &'static str,
    pub long_hours: u32,
}

pub const BURN_WINDOWS: &[BurnWindow] = &[
    BurnWindow {
        severity: "page",
        budget_percent: 2,
        short: "5m",
        long: "1h",
        long_hours: 1,
    },
    BurnWindow {
        severity: "page",
        budget_percent: 5,
        short: "30m",
        long: "6h",
        long_hours: 6,
    },
    BurnWindow {
        severity: "ticket",
        budget_percent: 10,
        short: "2h",
        long: "1d",
        long_hours: 24,
    },
    BurnWindow {
        severity: "ticket",
        budget_percent: 10,
        short: "6h",
        long: "3d",
        long_hours: 72,
    },
];

/// The `severity` label of an SLO alert: kube-prometheus-stack's conventions (its rules
/// and its Alertmanager inhibition use `critical` > `warning` > `info`), with the SRE
/// workbook's page and ticket as critical and warning.
#[must_use]
pub fn alert_severity(class: &str) -> &'static str {
    if class == "page" {
        "critical"
    } else {
        "warning"
    }
}

/// `budget% × period / long window`, rounded to 10 decimal places (exact for every
/// period in whole hours that divides evenly; 28d gives 13.44, 5.6, 2.8, 0.9333333333).
#[must_use]
pub fn factor(w: &BurnWindow, period: &Duration) -> Decimal {
    let period_hours = Decimal::from(period.millis) / Decimal::from(3_600_000u64);
    (Decimal::from(w.budget_percent) / Decimal::ONE_HUNDRED * period_hours
        / Decimal::from(w.long_hours))
    .round_dp(10)
    .normalize()
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// How an SLO's SLI is measured.
#[derive(Debug, Clone)]
pub enum Sli {
    /// The mesh's (or the client libraries') standard metrics.
    Standard,
    /// The user's queries, with `{{window}}` placeholders.
    Custom { errors: String, total: String },
    /// Test-only counters `nestio_test_errors_total` / `nestio_test_requests_total`,
    /// used to unit-test the alerting of custom SLIs, whose inputs only the user knows.
    Synthetic,
}

/// Everything about one SLO that its rules need.
#[derive(Debug, Clone)]
pub struct SloDef<'a> {
    pub service: &'a Service,
    pub slo: &'a Slo,
    pub id: String,
    pub objective: Decimal,
    pub budget: Decimal,
    pub sli: Sli,
    /// Latency SLOs: the histogram bucket the threshold is measured with.
    pub bucket_ms: Option<u64>,
}

impl<'a> SloDef<'a> {
    #[must_use]
    pub fn new(mesh: Mesh, service: &'a Service, slo: &'a Slo, synthetic: bool) -> Self {
        let objective = slo.target.value.ratio();
        let sli = match (&slo.custom, synthetic) {
            (Some(_), true) => Sli::Synthetic,
            (Some(c), false) => Sli::Custom {
                errors: c.errors.clone(),
                total: c.total.clone(),
            },
            (None, _) => Sli::Standard,
        };
        let bucket_ms = match (&sli, slo.kind, &slo.threshold) {
            (Sli::Standard, SloKind::Latency, Some(t)) => {
                Some(crate::model::metrics::bucket_for(mesh, &t.value).0)
            }
            _ => None,
        };
        Self {
            service,
            slo,
            id: format!("{}-{}", service.name, slo.kind.as_str()),
            objective,
            budget: (Decimal::ONE - objective).normalize(),
            sli,
            bucket_ms,
        }
    }

    fn period(&self) -> String {
        self.slo.window.canonical()
    }

    /// Labels on every rule of this SLO (routing: service, slo, owner, tier).
    fn labels(&self) -> Labels {
        let mut l = Labels::new();
        l.insert("slo_id".into(), self.id.clone());
        l.insert("service".into(), self.service.name.clone());
        l.insert("slo".into(), self.slo.kind.as_str().to_owned());
        owner_and_tier(&mut l, self.service);
        l
    }

    fn selector(&self) -> String {
        format!(
            "{{slo_id=\"{}\", service=\"{}\", slo=\"{}\"}}",
            self.id,
            self.service.name,
            self.slo.kind.as_str()
        )
    }

    /// The SLI error ratio over `window`.
    fn error_ratio(&self, mesh: Mesh, window: &str) -> String {
        match &self.sli {
            Sli::Standard => match (self.slo.kind, self.bucket_ms) {
                (SloKind::Latency, Some(b)) => {
                    metrics::latency_error_ratio(mesh, self.service, b, window)
                }
                _ => metrics::availability_error_ratio(mesh, self.service, window),
            },
            Sli::Custom { errors, total } => format!(
                "{}\n/\n{}",
                parenthesise(&errors.replace("{{window}}", window)),
                parenthesise(&total.replace("{{window}}", window))
            ),
            Sli::Synthetic => format!(
                "(sum by (namespace) (rate(nestio_test_errors_total{{slo_id=\"{id}\"}}[{window}])))\n/\n(sum by (namespace) (rate(nestio_test_requests_total{{slo_id=\"{id}\"}}[{window}])))",
                id = self.id
            ),
        }
    }

    /// `order-worker` -> `OrderWorker`.
    fn camel(s: &str) -> String {
        s.split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next().map_or_else(String::new, |f| {
                    f.to_uppercase().collect::<String>() + c.as_str()
                })
            })
            .collect()
    }

    fn alert_name(&self) -> String {
        format!(
            "{}{}SLO",
            Self::camel(&self.service.name),
            Self::camel(self.slo.kind.as_str())
        )
    }
}

/// The routing labels of a service's alerts: its owner and tier, when it has them.
fn owner_and_tier(l: &mut Labels, service: &Service) {
    if let Some(o) = &service.owner {
        l.insert("owner".into(), o.clone());
    }
    if let Some(t) = &service.tier {
        l.insert("tier".into(), t.value.to_string());
    }
}

fn rule_labels(base: &Labels, extra: &[(&str, &str)]) -> Labels {
    let mut l = base.clone();
    for (k, v) in extra {
        l.insert((*k).into(), (*v).to_owned());
    }
    l
}

/// The three rule groups of one SLO: SLIs, metadata, alerts.
#[must_use]
pub fn slo_groups(mesh: Mesh, d: &SloDef<'_>) -> Vec<RuleGroup> {
    let labels = d.labels();
    let sel = d.selector();
    let period = d.period();
    let mut sli_rules: Vec<Rule> = WINDOWS
        .iter()
        .filter(|w| **w != period)
        .map(|w| {
            Rule::record(
                format!("slo:sli_error:ratio_rate{w}"),
                d.error_ratio(mesh, w),
                rule_labels(&labels, &[("slo_window", w)]),
            )
        })
        .collect();
    // The period's ratio averages the 5m ratios (Sloth's "optimized" rule): one rate over
    // 30 days of raw series would be far heavier.
    sli_rules.push(Rule::record(
        format!("slo:sli_error:ratio_rate{period}"),
        format!(
            "sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n/ ignoring (slo_window)\ncount_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])"
        ),
        rule_labels(&labels, &[("slo_window", &period)]),
    ));
    let days = (Decimal::from(d.slo.window.millis) / Decimal::from(86_400_000u64)).normalize();
    let mut info = labels.clone();
    info.insert("objective".into(), num(d.objective));
    info.insert("period".into(), period.clone());
    let record = |name: &str, expr: String| Rule::record(name, expr, labels.clone());
    let meta_rules = vec![
        record(
            "slo:objective:ratio",
            format!("vector({})", num(d.objective)),
        ),
        record(
            "slo:error_budget:ratio",
            format!("vector({})", num(d.budget)),
        ),
        record("slo:time_period:days", format!("vector({days})")),
        record(
            "slo:current_burn_rate:ratio",
            format!(
                "slo:sli_error:ratio_rate5m{sel}\n/ on (slo_id, slo, service) group_left\nslo:error_budget:ratio{sel}"
            ),
        ),
        record(
            "slo:period_burn_rate:ratio",
            format!(
                "slo:sli_error:ratio_rate{period}{sel}\n/ on (slo_id, slo, service) group_left\nslo:error_budget:ratio{sel}"
            ),
        ),
        record(
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{sel}"),
        ),
        Rule::record("nestio_slo_info", "vector(1)", info),
    ];
    let mut alerts = Vec::new();
    for severity in ["page", "ticket"] {
        let conditions: Vec<String> = BURN_WINDOWS
            .iter()
            .filter(|w| w.severity == severity)
            .map(|w| {
                let threshold = num(factor(w, &d.slo.window) * d.budget);
                format!(
                    "(\n  slo:sli_error:ratio_rate{short}{sel} > {threshold}\n  and ignoring (slo_window)\n  slo:sli_error:ratio_rate{long}{sel} > {threshold}\n)",
                    short = w.short,
                    long = w.long
                )
            })
            .collect();
        let expr = format!(
            "max without (slo_window) (\n{}\n)",
            conditions.join("\nor ignoring (slo_window)\n")
        );
        let kind = d.slo.kind.as_str();
        alerts.push(Rule::alert(
            d.alert_name(),
            expr,
            None,
            rule_labels(&labels, &[("severity", alert_severity(severity)), ("nestio_alert", "slo")]),
            format!("{} is burning its {kind} error budget too fast ({severity})", d.service.name),
            format!(
                "{} {kind} SLO ({}% over {period}) in namespace {{{{ $labels.namespace }}}}: the error budget burns fast enough to be exhausted {}.",
                d.service.name,
                num(d.slo.target.value.0),
                if severity == "page" { "within days: act now" } else { "before the period ends: plan a fix" }
            ),
        ));
    }
    let group = |name: String, rules| RuleGroup { name, rules };
    vec![
        group(format!("nestio-slo-sli-{}", d.id), sli_rules),
        group(format!("nestio-slo-meta-{}", d.id), meta_rules),
        group(format!("nestio-slo-alerts-{}", d.id), alerts),
    ]
}

/// Per-edge SLIs, as the caller sees its calls, and a warning when one edge alone burns
/// the caller's availability budget.
fn edge_group(cx: &EmitContext<'_>, service: &Service) -> Option<RuleGroup> {
    let mesh = cx.model.project.mesh;
    let budget = service
        .slo(SloKind::Availability)
        .map(|s| (Decimal::ONE - s.target.value.ratio()).normalize());
    let mut rules = Vec::new();
    for edge in cx.topology.calls(&service.name) {
        let callee = cx.model.services.get(&edge.callee)?;
        // Over TCP there are no requests to count, and without a mesh no uniform client
        // metrics: no edge SLI.
        if metrics::edge_requests(mesh, edge, callee, "5m").is_none() {
            continue;
        }
        let labels = Labels::from([
            ("source".to_owned(), service.name.clone()),
            ("destination".to_owned(), callee.name.clone()),
        ]);
        for w in ["5m", "1h"] {
            rules.push(Rule::record(
                format!("edge:request_error:ratio_rate{w}"),
                metrics::edge_error_ratio(mesh, edge, callee, w)?,
                labels.clone(),
            ));
        }
        rules.push(Rule::record(
            "edge:request_duration_ms:p99_rate5m",
            metrics::edge_latency_quantile_ms(mesh, edge, callee, "0.99", "5m")?,
            labels,
        ));
        if let (Some(b), false) = (budget, edge.optional()) {
            rules.push(Rule::alert(
                "EdgeErrorBudgetThreat",
                format!(
                    "edge:request_error:ratio_rate1h{{source=\"{}\", destination=\"{}\"}} > {}",
                    service.name, callee.name, num(b)
                ),
                Some("15m"),
                // The caller's owner and tier: the alert routes to whoever owns the
                // caller, like its SLO alerts (alertmanager/inhibit.yaml routes by owner).
                edge_alert_labels(service, &callee.name),
                format!("calls from {} to {} fail often enough to exhaust {}'s error budget alone", service.name, callee.name, service.name),
                format!(
                    "Over the last hour, {{{{ $value | humanizePercentage }}}} of {}'s calls to {} failed in namespace {{{{ $labels.namespace }}}}; {}'s availability budget is {}.",
                    service.name, callee.name, service.name, num(b)
                ),
            ));
        }
    }
    (!rules.is_empty()).then(|| RuleGroup {
        name: format!("nestio-edges-{}", service.name),
        rules,
    })
}

fn edge_alert_labels(service: &Service, destination: &str) -> Labels {
    let mut l = Labels::new();
    l.insert("severity".into(), "warning".into());
    l.insert("service".into(), service.name.clone());
    l.insert("destination".into(), destination.to_owned());
    owner_and_tier(&mut l, service);
    l.insert("nestio_alert".into(), "edge".into());
    l
}

/// All rule groups of a service (its SLOs, then its outgoing edges).
#[must_use]
pub fn rule_groups(cx: &EmitContext<'_>, service: &Service, synthetic: bool) -> Vec<RuleGroup> {
    let mesh = cx.model.project.mesh;
    let mut groups = Vec::new();
    for slo in &service.slos {
        groups.extend(slo_groups(
            mesh,
            &SloDef::new(mesh, service, slo, synthetic),
        ));
    }
    groups.extend(edge_group(cx, service));
    groups.extend(outage_group(cx, service));
    groups
}

/// Whether a service gets outage alerts: it is measured (an SLO) or depended on.
fn watches_outage(cx: &EmitContext<'_>, service: &Service) -> bool {
    service.schedule.is_none()
        && (!service.slos.is_empty() || !cx.topology.callers(&service.name).is_empty())
}

/// The labels of a service's outage alerts: like its SLO pages, so the same routes and
/// inhibition rules apply.
fn outage_labels(service: &Service) -> Labels {
    let mut l = Labels::new();
    l.insert("service".into(), service.name.clone());
    owner_and_tier(&mut l, service);
    l.insert("severity".into(), alert_severity("page").to_owned());
    l.insert("nestio_alert".into(), "outage".into());
    l
}

/// A total outage spends no error budget: with no ready pod the destination reports no
/// request at all, so the SLO stays silent while its callers page. Two alerts catch it:
/// the workload has no available replica (kube-state-metrics for a Deployment; the Argo
/// Rollouts controller's `rollout_info_*` for a Rollout), and, with Istio, its callers'
/// proxies answer most calls themselves with 503 "no healthy upstream" (`UH`) or
/// "upstream connection failure" (`UF`) (Envoy response flags; such requests keep
/// `destination_service_name` but have `destination_workload="unknown"`).
/// The series of the workload's available and desired replicas, with `extra` matchers
/// appended. kube-state-metrics names them by kind
/// (https://github.com/kubernetes/kube-state-metrics/blob/main/docs/metrics/workload/statefulset-metrics.md):
/// a StatefulSet's are `kube_statefulset_status_replicas_ready` (a StatefulSet without
/// `minReadySeconds` counts a ready pod as available) and `kube_statefulset_replicas`;
/// a Deployment's series would never exist for it, and the alert would never fire.
fn replica_series(cx: &EmitContext<'_>, service: &Service, extra: &str) -> (String, String) {
    let name = &service.name;
    match super::chart::Workload::of(cx, service) {
        super::chart::Workload::Rollout => (
            format!("rollout_info_replicas_available{{name=\"{name}\"{extra}}}"),
            format!("rollout_info_replicas_desired{{name=\"{name}\"{extra}}}"),
        ),
        super::chart::Workload::StatefulSet => (
            format!("kube_statefulset_status_replicas_ready{{statefulset=\"{name}\"{extra}}}"),
            format!("kube_statefulset_replicas{{statefulset=\"{name}\"{extra}}}"),
        ),
        super::chart::Workload::Deployment | super::chart::Workload::CronJob => (
            format!("kube_deployment_status_replicas_available{{deployment=\"{name}\"{extra}}}"),
            format!("kube_deployment_spec_replicas{{deployment=\"{name}\"{extra}}}"),
        ),
    }
}

fn outage_group(cx: &EmitContext<'_>, service: &Service) -> Option<RuleGroup> {
    if !watches_outage(cx, service) {
        return None;
    }
    let name = &service.name;
    let (available, desired) = replica_series(cx, service, "");
    let title = SloDef::camel(name);
    let mut rules = vec![Rule::alert(
        format!("{title}Unavailable"),
        format!(
            "(max by (namespace) ({available}) == 0)\nand on (namespace)\n(max by (namespace) ({desired}) > 0)"
        ),
        Some("2m"),
        outage_labels(service),
        format!("{name} has no available replica"),
        format!(
            "{name} in namespace {{{{ $labels.namespace }}}} has had no available replica for 2 minutes: every call to it fails, and its callers' alerts are inhibited by this one."
        ),
    )];
    if cx.model.project.mesh == Mesh::Istio && !service.ports.is_empty() {
        let to = format!("reporter=\"source\",destination_service_name=\"{name}\"");
        rules.push(Rule::alert(
            format!("{title}Unreachable"),
            format!(
                "(\n  sum by (namespace) (rate(istio_requests_total{{{to},response_flags=~\".*(UH|UF).*\"}}[5m]))\n  /\n  sum by (namespace) (rate(istio_requests_total{{{to}}}[5m]))\n) > 0.5"
            ),
            Some("2m"),
            outage_labels(service),
            format!("calls to {name} find no healthy instance"),
            format!("Over the last 5 minutes, {{{{ $value | humanizePercentage }}}} of the calls to {name} in namespace {{{{ $labels.namespace }}}} were answered by the callers' proxies with no healthy upstream or a failed connection."),
        ));
    }
    Some(RuleGroup {
        name: format!("nestio-outage-{name}"),
        rules,
    })
}

/// A promtool unit test file (`promtool test rules`,
/// prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitTests {
    pub rule_files: Vec<String>,
    pub evaluation_interval: String,
    pub tests: Vec<TestGroup>,
}

/// Input series, then the alerts and expressions expected at given times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestGroup {
    pub name: String,
    pub interval: String,
    pub input_series: Vec<InputSeries>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_rule_test: Vec<AlertTest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promql_expr_test: Vec<ExprTest>,
}

/// A series and its values in promtool's expanding notation (`0+10x60`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

impl InputSeries {
    fn new(series: String, values: String) -> Self {
        InputSeries { series, values }
    }
}

/// The alerts of `alertname` firing at `eval_time`: exactly these, none if empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertTest {
    pub eval_time: String,
    pub alertname: String,
    pub exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedAlert {
    pub exp_labels: Labels,
    pub exp_annotations: Labels,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExprTest {
    pub expr: String,
    pub eval_time: String,
    pub exp_samples: Vec<Sample>,
}

/// A sample: its series in PromQL notation and its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub labels: String,
    pub value: f64,
}

/// A constant-burn scenario of a promtool unit test.
struct Scenario {
    name: &'static str,
    burn: Decimal,
    eval: &'static str,
}

/// promtool unit tests for a service's SLOs: at 100x burn the page alert fires within
/// 10 minutes, at 2x (30-day periods) only the ticket fires, at 0.5x nothing does. The
/// expectations follow from the factors, so shorter periods (7d pages at 2x) are right too.
/// An author's PromQL in parentheses. A `#` may start a comment that runs to the end of
/// the line, so then the closing parenthesis goes on a line of its own.
fn parenthesise(query: &str) -> String {
    if query.contains('#') {
        format!("({query}\n)")
    } else {
        format!("({query})")
    }
}

/// SLOs with custom SLIs are skipped unless `synthetic` (their inputs are the user's).
#[must_use]
pub fn unit_tests(
    cx: &EmitContext<'_>,
    service: &Service,
    rule_file: &str,
    synthetic: bool,
) -> Option<UnitTests> {
    let mesh = cx.model.project.mesh;
    let mut tests = Vec::new();
    for slo in &service.slos {
        let d = SloDef::new(mesh, service, slo, synthetic);
        // Two input series and how each grows per minute from the bad-request count:
        // `Fine` = total minus bad, `Bad`, `All` = the total.
        #[derive(Clone, Copy)]
        enum Grows {
            Fine,
            Bad,
            All,
        }
        let (first, second) = match (&d.sli, d.bucket_ms) {
            (Sli::Custom { .. }, _) => continue,
            (Sli::Synthetic, _) => (
                (
                    format!(
                        "nestio_test_requests_total{{slo_id=\"{}\",namespace=\"prod\"}}",
                        d.id
                    ),
                    Grows::All,
                ),
                (
                    format!(
                        "nestio_test_errors_total{{slo_id=\"{}\",namespace=\"prod\"}}",
                        d.id
                    ),
                    Grows::Bad,
                ),
            ),
            (Sli::Standard, None) => {
                let (good, bad) = metrics::test_series(mesh, service, None);
                ((good, Grows::Fine), (bad, Grows::Bad))
            }
            (Sli::Standard, bucket) => {
                let (count, fast) = metrics::test_series(mesh, service, bucket);
                ((count, Grows::All), (fast, Grows::Fine))
            }
        };
        let scenarios = [
            Scenario {
                name: "100x",
                burn: Decimal::from(100),
                eval: "10m",
            },
            Scenario {
                name: "2x",
                burn: Decimal::from(2),
                eval: "30m",
            },
            Scenario {
                name: "0.5x",
                burn: Decimal::new(5, 1),
                eval: "30m",
            },
        ];
        for s in scenarios {
            // The error ratio cannot exceed 1.
            let ratio = (s.burn * d.budget).min(Decimal::ONE);
            let burn = ratio / d.budget;
            let per_minute = Decimal::from(1000);
            let bad = ratio * per_minute;
            let grow = |g: Grows| match g {
                Grows::Fine => per_minute - bad,
                Grows::Bad => bad,
                Grows::All => per_minute,
            };
            let fires = |sev: &str| {
                BURN_WINDOWS
                    .iter()
                    .filter(|w| w.severity == sev)
                    .any(|w| burn > factor(w, &slo.window))
            };
            let mut exp = Vec::new();
            for sev in ["page", "ticket"] {
                if fires(sev) {
                    let mut labels = d.labels();
                    labels.insert("namespace".into(), "prod".into());
                    labels.insert("severity".into(), alert_severity(sev).to_owned());
                    labels.insert("nestio_alert".into(), "slo".into());
                    let kind = slo.kind.as_str();
                    exp.push(ExpectedAlert {
                        exp_labels: labels,
                        exp_annotations: Labels::from([
                            ("summary".to_owned(), format!("{} is burning its {kind} error budget too fast ({sev})", service.name)),
                            ("description".to_owned(), format!(
                                "{} {kind} SLO ({}% over {}) in namespace prod: the error budget burns fast enough to be exhausted {}.",
                                service.name,
                                num(slo.target.value.0),
                                d.period(),
                                if sev == "page" { "within days: act now" } else { "before the period ends: plan a fix" }
                            )),
                        ]),
                    });
                }
            }
            tests.push(TestGroup {
                name: format!("{} at {} burn", d.id, s.name),
                interval: "1m".into(),
                input_series: vec![
                    InputSeries::new(first.0.clone(), format!("0+{}x60", num(grow(first.1)))),
                    InputSeries::new(second.0.clone(), format!("0+{}x60", num(grow(second.1)))),
                ],
                alert_rule_test: vec![AlertTest {
                    eval_time: s.eval.into(),
                    alertname: d.alert_name(),
                    exp_alerts: exp,
                }],
                promql_expr_test: vec![ExprTest {
                    expr: format!("slo:error_budget:ratio{}", d.selector()),
                    eval_time: "1m".into(),
                    exp_samples: vec![Sample {
                        labels: format!("slo:error_budget:ratio{}", promql_labels(&d.labels())),
                        value: d.budget.to_f64().unwrap_or(0.0),
                    }],
                }],
            });
        }
    }
    tests.extend(outage_tests(cx, service));
    (!tests.is_empty()).then(|| UnitTests {
        rule_files: vec![rule_file.to_owned()],
        evaluation_interval: "1m".into(),
        tests,
    })
}

/// A total outage: the workload has no available replica (and, with Istio, the callers'
/// proxies answer with 503 UH): the outage alerts fire after their 2 minutes.
fn outage_tests(cx: &EmitContext<'_>, service: &Service) -> Vec<TestGroup> {
    let Some(group) = outage_group(cx, service) else {
        return Vec::new();
    };
    let name = &service.name;
    let (available, desired) = replica_series(cx, service, ",namespace=\"prod\"");
    let mut series = vec![
        InputSeries::new(available, "0x10".into()),
        InputSeries::new(desired, "2x10".into()),
    ];
    let to = format!(
        "reporter=\"source\",destination_service_name=\"{name}\",namespace=\"prod\",source_workload=\"caller\""
    );
    series.push(InputSeries::new(
        format!("istio_requests_total{{{to},response_code=\"503\",response_flags=\"UH\"}}"),
        "0+100x10".into(),
    ));
    let mut alert_tests = Vec::new();
    for rule in &group.rules {
        let mut labels = rule.labels.clone();
        labels.insert("namespace".into(), "prod".into());
        let annotations: Labels = rule
            .annotations
            .iter()
            .map(|(k, v)| {
                let text = v
                    .replace("{{ $labels.namespace }}", "prod")
                    .replace("{{ $value | humanizePercentage }}", "100%");
                (k.clone(), text)
            })
            .collect();
        let alertname = rule.alert.clone().unwrap_or_default();
        alert_tests.push(AlertTest {
            eval_time: "1m".into(),
            alertname: alertname.clone(),
            exp_alerts: Vec::new(),
        });
        alert_tests.push(AlertTest {
            eval_time: "5m".into(),
            alertname,
            exp_alerts: vec![ExpectedAlert {
                exp_labels: labels,
                exp_annotations: annotations,
            }],
        });
    }
    vec![TestGroup {
        name: format!("{name}: total outage"),
        interval: "1m".into(),
        input_series: series,
        alert_rule_test: alert_tests,
        promql_expr_test: Vec::new(),
    }]
}

fn promql_labels(labels: &Labels) -> String {
    let mut sorted: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in labels {
        sorted.insert(k, v);
    }
    let inner: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(", "))
}

impl Emitter for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn description(&self) -> &'static str {
        "SLO and per-edge rules, in the project's one form (`prometheus`): prometheus/<service>.prometheusrule.yaml or .rules.yaml, and .rules.test.yaml"
    }

    fn emit(&self, cx: &EmitContext<'_>, sink: &dyn Sink) -> Result<(), Diagnostic> {
        super::stream_files_reusing(cx, sink, self.name(), |service| {
            let mut out = Vec::new();
            let groups = rule_groups(cx, service, false);
            if groups.is_empty() {
                return Ok(out);
            }
            let file = cx.file_of(service);
            let head = header(&file);
            let span = Some(service.name_span);
            let rules_name = format!("{}.rules.yaml", service.name);
            // One form per build (`prometheus`): the groups are written once.
            let run = match cx.model.project.rules {
                RulesForm::Files => {
                    out.push(Artifact {
                        path: format!("prometheus/{rules_name}"),
                        contents: format!("{head}{}", to_yaml(&PrometheusRuleSpec { groups })),
                        source: span,
                    });
                    format!(
                        "# Run: promtool test rules prometheus/{}.rules.test.yaml\n",
                        service.name
                    )
                }
                RulesForm::Operator => {
                    let metadata = ObjectMeta {
                        name: Some(format!("nestio-{}", service.name)),
                        namespace: Some(RULES_NAMESPACE.into()),
                        labels: Some(BTreeMap::from([
                            ("app.kubernetes.io/name".into(), service.name.clone()),
                            (
                                "app.kubernetes.io/part-of".into(),
                                cx.model.project.name.clone(),
                            ),
                            ("app.kubernetes.io/managed-by".into(), "nestioc".into()),
                            (RULES_LABEL.into(), "true".into()),
                        ])),
                        annotations: Some(BTreeMap::from([(
                            "nestio.dev/source".into(),
                            cx.location(service.name_span),
                        )])),
                        ..ObjectMeta::default()
                    };
                    let crd = Resource::new(metadata, PrometheusRuleSpec { groups });
                    out.push(Artifact {
                        path: format!("prometheus/{}.prometheusrule.yaml", service.name),
                        contents: documents(&head, &[crd]),
                        source: span,
                    });
                    // A PrometheusRule's spec is a rule file (the Prometheus Operator's
                    // PrometheusRuleSpec: `groups`), which promtool reads once extracted.
                    format!(
                        "# Run, in prometheus/: yq '.spec' {name}.prometheusrule.yaml > {rules_name}\n\
                         #   promtool test rules {name}.rules.test.yaml\n",
                        name = service.name
                    )
                }
            };
            if let Some(tests) = unit_tests(cx, service, &rules_name, false) {
                out.push(Artifact {
                    path: format!("prometheus/{}.rules.test.yaml", service.name),
                    contents: format!("{head}{run}{}", to_yaml(&tests)),
                    source: span,
                });
            }
            Ok(out)
        })
    }
}

impl Emitter for Alertmanager {
    fn name(&self) -> &'static str {
        "alertmanager"
    }

    fn description(&self) -> &'static str {
        "dependency-aware inhibition and routes by owner, in the project's one form: alertmanager/alertmanagerconfig.yaml or alertmanager/inhibit.yaml"
    }

    fn emit(&self, cx: &EmitContext<'_>, sink: &dyn Sink) -> Result<(), Diagnostic> {
        let (inhibit, owners) = alerting_inputs(cx);
        // The files read nothing else of the services: a rebuild whose inhibitions and
        // owners are the last build's keeps its files.
        super::emit_project_reusing(cx, sink, self.name(), &(&inhibit, &owners), || {
            alerting_files(cx, &inhibit, &owners)
        })
    }
}

/// What Alertmanager's files read of the services: the inhibitions (unsorted, with
/// duplicates) and the owners (sorted, once each).
fn alerting_inputs<'a>(cx: &EmitContext<'a>) -> (Vec<InhibitRule>, Vec<&'a str>) {
    let has_slo = |name: &str| {
        cx.model
            .services
            .get(name)
            .is_some_and(|s| !s.slos.is_empty())
    };
    // While a callee pages (its SLO burns, or it is down), its callers' pages are a
    // consequence: mute them. Every callee with callers has outage alerts.
    let page = alert_severity("page");
    let mut inhibit: Vec<InhibitRule> = Vec::new();
    for edge in cx.topology.edges.iter().filter(|e| !e.optional()) {
        let callee_pages = cx
            .model
            .services
            .get(&edge.callee)
            .is_some_and(|s| watches_outage(cx, s));
        if !has_slo(&edge.caller) || !callee_pages {
            continue;
        }
        inhibit.push(InhibitRule {
            source_matchers: vec![
                "nestio_alert=~\"slo|outage\"".into(),
                format!("severity=\"{page}\""),
                format!("service=\"{}\"", edge.callee),
            ],
            target_matchers: vec![
                "nestio_alert=\"slo\"".into(),
                format!("severity=\"{page}\""),
                format!("service=\"{}\"", edge.caller),
            ],
            equal: vec!["namespace".into()],
        });
    }
    let mut owners: Vec<&str> = cx
        .model
        .services
        .values()
        .filter_map(|s| s.owner.as_deref())
        .collect();
    owners.sort_unstable();
    owners.dedup();
    (inhibit, owners)
}

/// Alertmanager's files, from [`alerting_inputs`] and the project alone.
fn alerting_files(
    cx: &EmitContext<'_>,
    inhibit: &[InhibitRule],
    owners: &[&str],
) -> Result<Vec<Artifact>, Diagnostic> {
    let mut inhibit = inhibit.to_vec();
    // By the rule's JSON text, the order these files have always had. Keyed once per
    // rule: a key per comparison serialised each rule log(n) times.
    inhibit.sort_by_cached_key(|r| serde_json::to_string(r).unwrap_or_default());
    inhibit.dedup();
    let routes = owners
        .iter()
        .map(|o| Route {
            matchers: vec![format!("owner=\"{o}\"")],
            receiver: (*o).to_owned(),
            group_by: ["alertname", "service", "slo", "namespace"]
                .map(str::to_owned)
                .to_vec(),
            routes: None,
        })
        .collect();
    let doc = Config {
        inhibit_rules: inhibit,
        route: Route {
            matchers: Vec::new(),
            receiver: "default".into(),
            group_by: Vec::new(),
            routes: Some(routes),
        },
        receivers: std::iter::once("default")
            .chain(owners.iter().copied())
            .map(|name| Receiver {
                name: name.to_owned(),
            })
            .collect(),
    };
    let head = format!(
        "{}# Merge into your Alertmanager configuration: append `inhibit_rules`, add these `routes`\n# under your root route, and give each receiver (one per owner) its integrations.\n",
        header(&cx.sources.get(cx.model.project.source).name)
    );
    // One form per build (`prometheus`): AlertmanagerConfig objects for the Prometheus
    // Operator (GitOps), or the configuration fragment to merge by hand.
    Ok(vec![match cx.model.project.rules {
        RulesForm::Operator => super::alertmanager_config::artifact(cx, &doc)?,
        RulesForm::Files => Artifact {
            path: "alertmanager/inhibit.yaml".into(),
            contents: format!("{head}{}", to_yaml(&doc)),
            source: Some(cx.model.project.span),
        },
    }])
}
