//! The Prometheus Operator's objects (`monitoring.coreos.com/v1`) and the rule groups a
//! `PrometheusRule` carries, which are also a Prometheus rule file's: its spec is the
//! file (`groups:`), as the operator's `PrometheusRuleSpec` says
//! (prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PrometheusRuleSpec,
//! prometheus.io/docs/prometheus/latest/configuration/recording_rules/#rule).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Spec;

/// Labels and annotations in the order they are written.
pub type Labels = IndexMap<String, String>;

/// `PrometheusRule`, and a rule file (`prometheus/<service>.rules.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

impl Spec for PrometheusRuleSpec {
    const API_VERSION: &'static str = "monitoring.coreos.com/v1";
    const KIND: &'static str = "PrometheusRule";
    const PLURAL: &'static str = "prometheusrules";
}

/// Rules evaluated together, in order, at the global evaluation interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`, with `for` and annotations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: Labels,
}

impl Rule {
    /// A recording rule.
    #[must_use]
    pub fn record(name: impl Into<String>, expr: impl Into<String>, labels: Labels) -> Self {
        Rule {
            record: Some(name.into()),
            alert: None,
            expr: expr.into(),
            for_: None,
            labels,
            annotations: Labels::new(),
        }
    }

    /// An alerting rule: its `summary` and `description` annotations, and how long it
    /// must hold (`None`: it fires at once).
    #[must_use]
    pub fn alert(
        name: impl Into<String>,
        expr: impl Into<String>,
        for_: Option<&str>,
        labels: Labels,
        summary: String,
        description: String,
    ) -> Self {
        Rule {
            record: None,
            alert: Some(name.into()),
            expr: expr.into(),
            for_: for_.map(str::to_owned),
            labels,
            annotations: Labels::from([
                ("summary".to_owned(), summary),
                ("description".to_owned(), description),
            ]),
        }
    }
}

/// `PodMonitor`: Prometheus scrapes the selected pods' port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodMonitorSpec {
    /// The pod label whose value becomes the `job` label.
    pub job_label: String,
    /// Pod labels copied onto every series.
    pub pod_target_labels: Vec<String>,
    pub selector: MatchLabels,
    pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
}

impl Spec for PodMonitorSpec {
    const API_VERSION: &'static str = "monitoring.coreos.com/v1";
    const KIND: &'static str = "PodMonitor";
    const PLURAL: &'static str = "podmonitors";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchLabels {
    pub match_labels: Labels,
}

/// A port of the pod, by name, and the path of its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodMetricsEndpoint {
    pub port: String,
    pub path: String,
}

/// `AlertmanagerConfig` (`v1alpha1`): a piece of Alertmanager's routing that the operator
/// merges into the configuration, scoped to the object's namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<AmRoute>,
    pub receivers: Vec<AmReceiver>,
    pub inhibit_rules: Vec<AmInhibitRule>,
}

impl Spec for AlertmanagerConfigSpec {
    const API_VERSION: &'static str = "monitoring.coreos.com/v1alpha1";
    const KIND: &'static str = "AlertmanagerConfig";
    const PLURAL: &'static str = "alertmanagerconfigs";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmRoute {
    pub receiver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<AmMatcher>,
    /// Child routes; written (even empty) where the configuration has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<AmRoute>>,
}

/// A label matcher, `name`, `value` and how they compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmMatcher {
    pub name: String,
    pub value: String,
    pub match_type: MatchType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MatchType {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

/// A receiver by name only: its integrations hold credentials, which come from Secrets,
/// not from the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmReceiver {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmInhibitRule {
    pub source_match: Vec<AmMatcher>,
    pub target_match: Vec<AmMatcher>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<String>,
}
