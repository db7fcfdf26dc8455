//! Argo Rollouts' objects (`argoproj.io/v1alpha1`): the `Rollout` that replaces a
//! Deployment for canary and blue-green releases, and the `AnalysisTemplate` that judges
//! the new version. Names and meanings are Argo Rollouts' specification
//! (argo-rollouts docs/features/specification.md, docs/features/analysis.md).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Spec;

type Object = serde_json::Map<String, serde_json::Value>;

/// `Rollout`: a Deployment's spec but for its strategy (pkg/apis/rollouts/v1alpha1
/// RolloutSpec).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Absent under an autoscaler, which owns the count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    pub revision_history_limit: i32,
    // Kubernetes' own types, which the API server checks where they land.
    #[schemars(with = "Object")]
    pub selector: LabelSelector,
    #[schemars(with = "Object")]
    pub template: PodTemplateSpec,
    pub strategy: RolloutStrategy,
}

impl Spec for RolloutSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "Rollout";
    const PLURAL: &'static str = "rollouts";
}

/// One of `canary` and `blueGreen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum RolloutStrategy {
    Canary(CanaryStrategy),
    BlueGreen(BlueGreenStrategy),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryStrategy {
    /// The Services the traffic split sends to the new and the old pods (absent for a
    /// service without ports: the split is by replica count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// The background analysis, from `startingStep` until the rollout completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<BackgroundAnalysis>,
    pub steps: Vec<CanaryStep>,
}

/// A canary step: shift traffic, or wait (no `duration`: until promoted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum CanaryStep {
    SetWeight(u32),
    Pause(Pause),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// A Go duration (`5m`; Go has no `d` unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// How the traffic split reaches the mesh: Istio's VirtualServices and the routes in
/// them, or a traffic-router plugin's configuration (the Gateway API plugin's routes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficRouting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istio: Option<IstioRouting>,
    /// By plugin name: each plugin reads its own configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, GatewayApiRouting>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioRouting {
    pub virtual_services: Vec<VirtualServiceRoutes>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualServiceRoutes {
    pub name: String,
    /// The names of its HTTP routes whose weights the split sets.
    pub routes: Vec<String>,
}

/// The `argoproj-labs/gatewayAPI` plugin's configuration: the routes whose backend
/// weights it sets (rollouts-plugin-trafficrouter-gatewayapi README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayApiRouting {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_routes: Vec<RouteName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grpc_routes: Vec<RouteName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteName {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreenStrategy {
    pub active_service: String,
    pub preview_service: String,
    pub auto_promotion_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<RolloutAnalysis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<u32>,
}

/// An analysis of a rollout: the templates to run and their arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutAnalysis {
    pub templates: Vec<TemplateRef>,
    pub args: Vec<AnalysisArg>,
}

/// A canary's background analysis (`RolloutAnalysisBackground`): a [`RolloutAnalysis`]
/// from a step on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackgroundAnalysis {
    pub templates: Vec<TemplateRef>,
    pub args: Vec<AnalysisArg>,
    pub starting_step: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateRef {
    pub template_name: String,
}

/// An argument a Rollout passes to its analysis, and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisArg {
    pub name: String,
    pub value_from: ArgValueFrom,
}

/// An argument an AnalysisTemplate takes: its name, the value the Rollout's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateArg {
    pub name: String,
}

/// One of a field of the Rollout (`fieldRef`) and the pod-template hash of one of its
/// ReplicaSets (`podTemplateHashValue`: `Stable` or `Latest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum ArgValueFrom {
    FieldRef(FieldRef),
    PodTemplateHashValue(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRef {
    pub field_path: String,
}

/// `AnalysisTemplate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisTemplateSpec {
    pub args: Vec<TemplateArg>,
    pub metrics: Vec<Metric>,
}

impl Spec for AnalysisTemplateSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "AnalysisTemplate";
    const PLURAL: &'static str = "analysistemplates";
}

/// A measurement taken every `interval`: `failureLimit` failures fail the analysis,
/// `inconclusiveLimit` inconclusive ones pause the rollout; `count` ends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metric {
    pub name: String,
    pub interval: String,
    pub failure_limit: u32,
    pub inconclusive_limit: u32,
    pub success_condition: String,
    pub failure_condition: String,
    pub provider: Provider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub prometheus: PrometheusProvider,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusProvider {
    pub address: String,
    pub query: String,
}
