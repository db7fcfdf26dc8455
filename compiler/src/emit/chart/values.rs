//! The chart's values as types: what `values.yaml` holds, what the `kubernetes` target's
//! renderer reads, and, through `schemars`, the chart's `values.schema.json`
//! (`schemas/helm-values.schema.json`, checked against these types by a test).
//!
//! Field order is the order of the keys in `values.yaml`. The schema keeps the
//! constraints the chart relies on (names, ports, enums, `additionalProperties: false`);
//! the pieces the templates copy whole into a Kubernetes object (probes, security
//! contexts, NetworkPolicy rules, the Argo Rollouts strategy, the mesh's objects) are
//! plain objects in the schema, as the API server checks them where they land.

use indexmap::IndexMap;
use k8s_openapi::api::core::v1::{
    EnvVarSource, Lifecycle, PodSecurityContext, Probe, SecurityContext,
};
use k8s_openapi::api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyIngressRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crd::{Spec, argo, gateway, istio, linkerd};

/// Labels and annotations, in the order they are written.
pub type StringMap = IndexMap<String, String>;

/// A JSON object copied whole into a Kubernetes object by the templates.
pub type Object = Map<String, Value>;

/// `values.yaml` of a service's chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    title = "nestioc service chart values",
    extend(
        "$id" = "https://nestio.dev/schemas/helm-values.schema.json",
        "$comment" = "Generated charts carry this file as values.schema.json: Helm checks every values file against it. Generated from compiler/src/emit/chart/values.rs (schemas/helm-values.schema.json)."
    )
)]
pub struct ChartValues {
    /// Helm's global values, when the chart is a dependency of the umbrella chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Object")]
    pub global: Option<Object>,
    /// Umbrella chart condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub enabled: Option<bool>,
    #[schemars(regex(pattern = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub name: String,
    pub image: ImageValues,
    pub replica_count: u32,
    pub autoscaling: Autoscaling,
    pub pod_disruption_budget: DisruptionBudget,
    /// Spread over zones and nodes, written for two replicas or more (or an autoscaler
    /// that can add them).
    pub topology_spread_constraints: Vec<SpreadConstraint>,
    pub labels: StringMap,
    pub pod_labels: StringMap,
    pub selector_labels: StringMap,
    pub annotations: StringMap,
    pub pod_annotations: StringMap,
    pub service_annotations: StringMap,
    /// More Services with the same selector and ports: <name>-canary (canary) or
    /// <name>-preview (blue-green).
    pub extra_services: Vec<String>,
    /// Deployment, Argo Rollouts' Rollout (canary, blue-green) or StatefulSet (a persistent
    /// volume: each replica with claims of its own); a schedule renders a CronJob whatever
    /// this says.
    pub workload: WorkloadKind,
    pub stateful_set: StatefulSetValues,
    pub public_service: PublicService,
    /// The Argo Rollouts strategy (canary or blueGreen).
    #[serde(with = "empty_as_none")]
    #[schemars(with = "Object")]
    pub rollout_strategy: Option<argo::RolloutStrategy>,
    /// The Argo Rollouts AnalysisTemplate: name and spec ({} when none).
    pub analysis: Analysis,
    /// The service's own container's ports: a sidecar's are in `sidecars`.
    pub ports: Vec<PortValues>,
    /// Container args.
    pub args: Vec<String>,
    pub env: Vec<EnvValues>,
    pub resources: ResourcesValues,
    // Always written, `null` for none.
    #[schemars(with = "Option<Object>")]
    pub readiness_probe: Option<Probe>,
    #[schemars(with = "Option<Object>")]
    pub liveness_probe: Option<Probe>,
    #[schemars(with = "Object")]
    pub pod_security_context: PodSecurityContext,
    #[schemars(with = "Object")]
    pub security_context: SecurityContext,
    /// The container's lifecycle hooks: a preStop sleep for services that receive traffic.
    #[serde(with = "empty_as_none")]
    #[schemars(with = "Object")]
    pub lifecycle: Option<Lifecycle>,
    #[schemars(range(min = 1))]
    pub termination_grace_period_seconds: u32,
    pub volumes: Vec<VolumeValues>,
    /// A cron schedule: the chart renders a CronJob instead of a Deployment.
    pub schedule: String,
    pub concurrency_policy: ConcurrencyPolicy,
    pub network_policy: NetworkPolicyValues,
    pub pod_monitor: PodMonitorValues,
    pub mesh: MeshValues,
    pub ingress: IngressValues,
    /// The container's command (its entrypoint); absent or empty: the image's.
    // Written only when used (as the next three), so that the values of a service without
    // them stay as they were; the chart reads them with `index`, which gives nothing for a
    // missing key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The container's startup probe (`probe ... for="startup"`); absent or null: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Object>")]
    pub startup_probe: Option<Probe>,
    /// Kubernetes sidecar containers (init containers with restartPolicy Always), started
    /// before the service's container and stopped after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<ContainerValues>,
    /// Init containers, run to completion in order after the sidecars have started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<ContainerValues>,
}

/// The replica settings: all of `values-<env>.yaml` for an environment that changes
/// nothing else. The same keys, in the same order, as in [`ChartValues`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaValues {
    pub replica_count: u32,
    pub autoscaling: Autoscaling,
    pub pod_disruption_budget: DisruptionBudget,
    pub topology_spread_constraints: Vec<SpreadConstraint>,
}

/// The keys of [`ReplicaValues`] in [`ChartValues`].
pub const REPLICA_KEYS: [&str; 4] = [
    "replicaCount",
    "autoscaling",
    "podDisruptionBudget",
    "topologySpreadConstraints",
];

/// An image reference, split as `--helm-set image.tag=` and `image.digest=` set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageValues {
    #[schemars(regex(pattern = r"^[a-z0-9._/:-]+$"))]
    pub repository: String,
    #[schemars(regex(pattern = r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"))]
    pub tag: String,
    #[schemars(regex(pattern = r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})?$"))]
    pub digest: String,
    pub pull_policy: PullPolicy,
}

/// A sidecar's or init container's image: as [`ImageValues`], with a SHA-256 digest only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerImageValues {
    #[schemars(regex(pattern = r"^[a-z0-9._/:-]+$"))]
    pub repository: String,
    #[schemars(regex(pattern = r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"))]
    pub tag: String,
    #[schemars(regex(pattern = r"^(sha256:[a-f0-9]{64})?$"))]
    pub digest: String,
    pub pull_policy: PullPolicy,
}

/// Empty: derived from the reference when the chart renders (IfNotPresent for a digest or
/// a commit-SHA tag, Always otherwise), so that a tag set at deploy time gets its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    #[default]
    #[serde(rename = "")]
    Derived,
    Always,
    IfNotPresent,
    Never,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    pub enabled: bool,
    #[schemars(range(min = 1))]
    pub min_replicas: u32,
    #[schemars(range(min = 1))]
    pub max_replicas: u32,
    #[serde(rename = "targetCPUUtilizationPercentage")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisruptionBudget {
    pub enabled: bool,
    #[schemars(range(min = 1))]
    pub max_unavailable: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpreadConstraint {
    #[schemars(range(min = 1))]
    pub max_skew: u32,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    #[schemars(with = "Object")]
    pub label_selector: LabelSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    pub match_label_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WhenUnsatisfiable {
    ScheduleAnyway,
    DoNotSchedule,
}

/// The chart's `workload` (a CronJob's is `Deployment`: `schedule` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    Rollout,
    StatefulSet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatefulSetValues {
    /// The headless Service that governs the StatefulSet (<name>-headless); empty for other
    /// workloads.
    pub service_name: String,
    /// The StatefulSet's persistentVolumeClaimRetentionPolicy: Retain keeps the claims (and
    /// their data) when it is deleted or scaled down.
    pub claim_retention: ClaimRetention,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimRetention {
    pub when_deleted: Retention,
    pub when_scaled: Retention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Retention {
    Retain,
    Delete,
}

/// `expose node-port=`/`load-balancer=`: a Service of type NodePort or LoadBalancer that
/// publishes one port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicService {
    pub enabled: bool,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: PublicServiceType,
    /// The published port, by name.
    pub port_name: String,
    /// The node port; 0 lets the API server allocate one.
    pub node_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PublicServiceType {
    NodePort,
    LoadBalancer,
}

/// The Argo Rollouts AnalysisTemplate, or nothing (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Object")]
    pub spec: Option<argo::AnalysisTemplateSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortValues {
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$"))]
    pub name: String,
    #[schemars(range(min = 1))]
    pub port: u16,
    #[schemars(range(min = 1))]
    pub target_port: u16,
    pub app_protocol: AppProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    Http,
    Grpc,
    Tcp,
}

/// An environment variable of the service's container: a value or a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvValues {
    /// What the API server accepts (IsRelaxedEnvVarName, Kubernetes 1.34+): printable
    /// ASCII but '='
    #[schemars(regex(pattern = r"^[ -<>-~]+$"))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Object")]
    pub value_from: Option<EnvVarSource>,
}

/// An environment variable of a sidecar or init container (a C identifier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEnvValues {
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Object")]
    pub value_from: Option<EnvVarSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourcesValues {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceList {
    pub cpu: String,
    pub memory: String,
}

/// A volume of the service's container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeValues {
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub name: String,
    #[schemars(regex(pattern = r"^/"))]
    pub mount_path: String,
    pub size: String,
    /// Set for a persistent volume of a StatefulSet: one of its volumeClaimTemplates, a
    /// claim per replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub claim_template: Option<bool>,
    /// Set for a persistent volume of a CronJob: the PersistentVolumeClaim its runs share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub claim_name: Option<String>,
    /// A CronJob's claim survives the release: Helm's resource-policy keep and Argo CD's
    /// Prune=false,Delete=false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub keep: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConcurrencyPolicy {
    Forbid,
    Replace,
    Allow,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicyValues {
    pub enabled: bool,
    #[schemars(with = "Vec<Object>")]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    #[schemars(with = "Vec<Object>")]
    pub egress: Vec<NetworkPolicyEgressRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodMonitorValues {
    pub enabled: bool,
    #[schemars(length(max = 15))]
    pub port: String,
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressValues {
    pub enabled: bool,
    /// The Ingress's own annotations, beside the service's: under Linkerd,
    /// `nginx.ingress.kubernetes.io/service-upstream`. Left out when empty.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: StringMap,
    pub class_name: String,
    pub host: String,
    pub path: String,
    pub port_name: String,
    pub tls_secret: String,
}

/// A sidecar or init container: everything its container needs, in one shape for both
/// (an init container's ports and probes are empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerValues {
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,57}[a-z0-9])?$"))]
    pub name: String,
    /// The container's own image; absent when it runs the service's (`serviceImage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ContainerImageValues>,
    /// An init container that runs the service's own image (`image` above, the tag CI
    /// sets at deploy time included): a migration runs the code of its release.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service_image: bool,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// A sidecar's ports: the Service's too. Empty for an init container.
    pub ports: Vec<PortValues>,
    pub env: Vec<ContainerEnvValues>,
    pub resources: ResourcesValues,
    /// A Kubernetes probe (httpGet, grpc, tcpSocket or exec, and its timings), or null.
    #[schemars(with = "Option<Object>", required, extend("type" = ["object", "null"]))]
    pub readiness_probe: Option<Probe>,
    /// A Kubernetes probe (httpGet, grpc, tcpSocket or exec, and its timings), or null.
    #[schemars(with = "Option<Object>", required, extend("type" = ["object", "null"]))]
    pub liveness_probe: Option<Probe>,
    /// A Kubernetes probe (httpGet, grpc, tcpSocket or exec, and its timings), or null.
    #[schemars(with = "Option<Object>", required, extend("type" = ["object", "null"]))]
    pub startup_probe: Option<Probe>,
    #[schemars(with = "Object")]
    pub security_context: SecurityContext,
    pub volume_mounts: Vec<MountValues>,
    /// The container's own scratch volumes (emptyDir), its /tmp first.
    pub volumes: Vec<ScratchVolume>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountValues {
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub name: String,
    #[schemars(regex(pattern = r"^/"))]
    pub mount_path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScratchVolume {
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))]
    pub name: String,
    pub size: String,
}

/// The chart's `mesh:` values: who may call the service, what it may call, and the mesh
/// provider's own objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshValues {
    pub provider: MeshProvider,
    pub trust_domain: String,
    pub callers: Vec<MeshCaller>,
    pub ingress_ports: Vec<String>,
    /// Container ports published by a NodePort or LoadBalancer Service: open to clients
    /// outside the mesh.
    pub public_ports: Vec<String>,
    pub egress: Vec<String>,
    pub external_hosts: Vec<String>,
    // The objects are copied whole by the templates: plain objects in the schema.
    #[serde(with = "empty_as_none")]
    #[schemars(with = "Object")]
    pub istio: Option<IstioValues>,
    #[serde(with = "empty_as_none")]
    #[schemars(with = "Object")]
    pub linkerd: Option<LinkerdValues>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MeshProvider {
    Istio,
    Linkerd,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshCaller {
    pub service_account: String,
    pub ports: Vec<String>,
}

/// Istio's objects of the service (written under `mesh "istio"` only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioValues {
    #[serde(default)]
    pub virtual_service: Option<istio::VirtualServiceSpec>,
    #[serde(default)]
    pub public_virtual_service: Option<istio::VirtualServiceSpec>,
    #[serde(default)]
    pub gateway: Option<istio::GatewaySpec>,
    #[serde(default)]
    pub destination_rules: Vec<NamedSpec<istio::DestinationRuleSpec>>,
    #[serde(default)]
    pub service_entries: Vec<NamedSpec<istio::ServiceEntrySpec>>,
}

/// Linkerd's objects of the service (written under `mesh "linkerd"` only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkerdValues {
    #[serde(default)]
    pub servers: Vec<NamedSpec<linkerd::ServerSpec>>,
    #[serde(default)]
    pub authorizations: Vec<LinkerdAuthorization>,
    #[serde(default)]
    pub routes: Vec<LinkerdRoute>,
    #[serde(default)]
    pub network_authentications: Vec<NamedSpec<linkerd::NetworkAuthenticationSpec>>,
    #[serde(default)]
    pub authorization_policies: Vec<NamedSpec<linkerd::AuthorizationPolicySpec>>,
}

/// `{}` for `None`: the values of the mesh the project does not use are an empty object.
mod empty_as_none {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => v.serialize(s),
            None => serde_json::Map::new().serialize(s),
        }
    }

    pub(super) fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let m = serde_json::Map::deserialize(d)?;
        if m.is_empty() {
            return Ok(None);
        }
        serde_json::from_value(serde_json::Value::Object(m))
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// An object of the mesh by its name and spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedSpec<S = Object> {
    pub name: String,
    pub spec: S,
}

/// A Server's callers: a MeshTLSAuthentication of their identities and the
/// AuthorizationPolicy that requires it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkerdAuthorization {
    pub name: String,
    pub identity_refs: Vec<linkerd::IdentityRef>,
}

/// A Gateway API route (HTTPRoute, GRPCRoute) and Linkerd's annotations on it. In the
/// values as `name`, `apiVersion`, `kind`, `annotations`, `spec`: the template writes the
/// kind it is given.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkerdRoute {
    pub name: String,
    pub annotations: StringMap,
    pub spec: RouteSpec,
}

/// A route's spec, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RouteSpec {
    Http(gateway::HttpRouteSpec),
    Grpc(gateway::GrpcRouteSpec),
}

impl RouteSpec {
    #[must_use]
    pub fn api_version(&self) -> &'static str {
        match self {
            RouteSpec::Http(_) => gateway::HttpRouteSpec::API_VERSION,
            RouteSpec::Grpc(_) => gateway::GrpcRouteSpec::API_VERSION,
        }
    }

    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            RouteSpec::Http(_) => gateway::HttpRouteSpec::KIND,
            RouteSpec::Grpc(_) => gateway::GrpcRouteSpec::KIND,
        }
    }
}

/// [`LinkerdRoute`] as the values hold it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RouteValues<S> {
    name: String,
    api_version: String,
    kind: String,
    annotations: StringMap,
    spec: S,
}

impl Serialize for LinkerdRoute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RouteValues {
            name: self.name.clone(),
            api_version: self.spec.api_version().to_owned(),
            kind: self.spec.kind().to_owned(),
            annotations: self.annotations.clone(),
            spec: &self.spec,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LinkerdRoute {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = RouteValues::<Value>::deserialize(d)?;
        let spec = match r.kind.as_str() {
            "HTTPRoute" => serde_json::from_value(r.spec).map(RouteSpec::Http),
            "GRPCRoute" => serde_json::from_value(r.spec).map(RouteSpec::Grpc),
            other => return Err(D::Error::custom(format!("no route kind `{other}`"))),
        }
        .map_err(D::Error::custom)?;
        Ok(LinkerdRoute {
            name: r.name,
            annotations: r.annotations,
            spec,
        })
    }
}

/// The JSON Schema of [`ChartValues`], as committed in `schemas/helm-values.schema.json`
/// and shipped in every chart as `values.schema.json`. Draft 7, as before: Helm 3 checks
/// values with a Draft 4 to 7 validator (gojsonschema), Helm 4 with any draft.
#[must_use]
pub fn json_schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<ChartValues>();
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
