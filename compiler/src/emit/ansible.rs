//! `ansible`: a playbook that installs, through Helm, the platform the project chose:
//! the mesh (Istio or Linkerd), kube-prometheus-stack (always: the SLO rules and the
//! dashboards need Prometheus, Alertmanager and Grafana) and, with `cd "argocd"`, Argo CD
//! and Argo Rollouts. `ansible/platform.yml` (one play on localhost), every chart version
//! in `ansible/vars/platform.yml`, the collections in `ansible/requirements.yml` and
//! `ansible/inventory.example.ini`.
//!
//! The playbook is data serialised by the YAML writer; its Jinja expressions are fixed
//! strings. No user string of the topology reaches it but the project name, a DNS label.

use indexmap::IndexMap;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::mesh::{ISTIO_GATEWAY_NAMESPACE, ISTIO_GATEWAY_SERVICE_ACCOUNT};
use super::prometheus::RULES_NAMESPACE;
use super::rollout::GATEWAY_API_PLUGIN;
use super::yaml::{document_indented, header};
use super::{Artifact, EmitContext, Emitter};
use crate::diag::Diagnostic;
use crate::model::{Cd, LogSystem, Mesh};

pub(super) struct Ansible;

/// A pinned Helm chart: the variable holding its version, and the version.
struct Chart {
    var: &'static str,
    version: &'static str,
}

/// Istio's charts (`base`, `istiod`, `gateway`) share the Istio version. Istio 1.31.1
/// (istio.io release announcements).
const ISTIO: Chart = Chart {
    var: "istio_chart_version",
    version: "1.31.1",
};
/// Linkerd's open-source charts are published on the edge channel only (edge-26.9.1).
const LINKERD_CRDS: Chart = Chart {
    var: "linkerd_crds_chart_version",
    version: "2026.9.1",
};
const LINKERD_CONTROL_PLANE: Chart = Chart {
    var: "linkerd_control_plane_chart_version",
    version: "2026.9.1",
};
/// kube-prometheus-stack 88.5.3 (Prometheus Operator v0.93.1, Grafana chart 12.11.1).
const KUBE_PROMETHEUS_STACK: Chart = Chart {
    var: "kube_prometheus_stack_chart_version",
    version: "88.5.3",
};
/// argo-cd 10.1.1 (Argo CD v3.4.4) and argo-rollouts 2.41.0 (Argo Rollouts v1.9.0).
const ARGO_CD: Chart = Chart {
    var: "argo_cd_chart_version",
    version: "10.1.1",
};
const ARGO_ROLLOUTS: Chart = Chart {
    var: "argo_rollouts_chart_version",
    version: "2.41.0",
};

/// The Argo Rollouts Gateway API traffic-router plugin (argoproj-labs), for Linkerd
/// canaries: a binary the controller downloads from its GitHub release.
const GATEWAY_API_PLUGIN_VERSION: &str = "v0.15.0";
const GATEWAY_API_PLUGIN_RELEASES: &str =
    "https://github.com/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi/releases/download";

/// The collection the playbook's modules come from, and the version it is checked with
/// (the one the `ansible` 12.3.0 package ships).
const KUBERNETES_CORE_VERSION: &str = "6.2.0";

const ISTIO_REPO: (&str, &str) = (
    "istio",
    "https://istio-release.storage.googleapis.com/charts",
);
const LINKERD_REPO: (&str, &str) = ("linkerd-edge", "https://helm.linkerd.io/edge");
const PROMETHEUS_REPO: (&str, &str) = (
    "prometheus-community",
    "https://prometheus-community.github.io/helm-charts",
);
const ARGO_REPO: (&str, &str) = ("argo", "https://argoproj.github.io/argo-helm");

/// What the project's platform is made of.
struct Platform {
    mesh: Mesh,
    argo: bool,
    fluentd: bool,
    spinnaker: bool,
    /// Rules and routing as Prometheus Operator objects (`prometheus "operator"`).
    operator_rules: bool,
    /// The environments' namespaces (for the objects the play applies itself).
    namespaces: Vec<String>,
}

impl Platform {
    fn of(cx: &EmitContext<'_>) -> Self {
        let p = &cx.model.project;
        let mut namespaces: Vec<String> =
            cx.environments().into_iter().map(|e| e.namespace).collect();
        namespaces.sort();
        namespaces.dedup();
        Platform {
            mesh: p.mesh,
            argo: p.cd == Cd::ArgoCd,
            fluentd: p
                .logging
                .as_ref()
                .is_some_and(|l| l.system == LogSystem::Fluentd),
            spinnaker: p.cd == Cd::Spinnaker,
            operator_rules: p.rules == crate::model::RulesForm::Operator,
            namespaces,
        }
    }

    fn repositories(&self) -> Vec<(&'static str, &'static str)> {
        let mut r = Vec::new();
        match self.mesh {
            Mesh::Istio => r.push(ISTIO_REPO),
            Mesh::Linkerd => r.push(LINKERD_REPO),
            Mesh::None => {}
        }
        r.push(PROMETHEUS_REPO);
        if self.argo {
            r.push(ARGO_REPO);
        }
        r
    }

    fn charts(&self) -> Vec<&'static Chart> {
        let mut c = Vec::new();
        match self.mesh {
            Mesh::Istio => c.push(&ISTIO),
            Mesh::Linkerd => c.extend([&LINKERD_CRDS, &LINKERD_CONTROL_PLANE]),
            Mesh::None => {}
        }
        c.push(&KUBE_PROMETHEUS_STACK);
        if self.argo {
            c.extend([&ARGO_CD, &ARGO_ROLLOUTS]);
        }
        c
    }
}

/// A play (docs.ansible.com/ansible/latest/reference_appendices/playbooks_keywords.html#play).
#[derive(Debug, Serialize)]
struct Play {
    name: String,
    hosts: &'static str,
    connection: &'static str,
    gather_facts: bool,
    vars_files: Vec<&'static str>,
    tasks: Vec<Task>,
}

/// A task (docs.ansible.com/ansible/latest/reference_appendices/playbooks_keywords.html#task):
/// the module's arguments sit under the module's name, beside the task's keywords.
#[derive(Debug, Serialize)]
struct Task {
    name: String,
    #[serde(flatten)]
    module: Module,
    /// Keeps the arguments (a private key in the values) out of the output.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_log: Option<bool>,
    #[serde(rename = "loop", skip_serializing_if = "Option::is_none")]
    loop_: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loop_control: Option<LoopControl>,
}

impl Task {
    fn new(name: &str, module: Module) -> Self {
        Task {
            name: name.to_owned(),
            module,
            no_log: None,
            loop_: None,
            loop_control: None,
        }
    }
}

#[derive(Debug, Serialize)]
struct LoopControl {
    /// What the output shows for each item, instead of the whole item.
    label: &'static str,
}

/// The modules the play uses, all from the kubernetes.core collection.
#[derive(Debug, Serialize)]
enum Module {
    #[serde(rename = "kubernetes.core.helm_repository")]
    HelmRepository(HelmRepository),
    #[serde(rename = "kubernetes.core.helm")]
    Helm(Helm),
    #[serde(rename = "kubernetes.core.k8s")]
    K8s(K8s),
}

/// docs.ansible.com/ansible/latest/collections/kubernetes/core/helm_repository_module.html
#[derive(Debug, Serialize)]
struct HelmRepository {
    repo_name: &'static str,
    repo_url: &'static str,
}

/// docs.ansible.com/ansible/latest/collections/kubernetes/core/helm_module.html
#[derive(Debug, Serialize)]
struct Helm {
    release_name: &'static str,
    chart_ref: &'static str,
    chart_version: String,
    release_namespace: &'static str,
    create_namespace: bool,
    update_repo_cache: bool,
    wait: bool,
    release_values: ChartValues,
}

/// The values the play gives each chart: the few keys it sets, of the chart's values.yaml.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ChartValues {
    /// The chart's defaults.
    Defaults {},
    IstioGateway(IstioGatewayValues),
    LinkerdCrds(LinkerdCrdsValues),
    LinkerdControlPlane(LinkerdControlPlaneValues),
    KubePrometheusStack(KubePrometheusStackValues),
    ArgoCd(ArgoCdValues),
    ArgoRollouts(ArgoRolloutsValues),
}

/// istio/gateway (github.com/istio/istio/blob/master/manifests/charts/gateway/values.yaml).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct IstioGatewayValues {
    labels: IstioLabels,
    service_account: ServiceAccountName,
}

/// The label the generated Gateway selects.
#[derive(Debug, Serialize)]
struct IstioLabels {
    istio: &'static str,
}

#[derive(Debug, Serialize)]
struct ServiceAccountName {
    name: &'static str,
}

/// linkerd-crds (github.com/linkerd/linkerd2/blob/main/charts/linkerd-crds/values.yaml).
#[derive(Debug, Serialize)]
struct LinkerdCrdsValues {
    #[serde(rename = "installGatewayAPI")]
    install_gateway_api: bool,
}

/// linkerd-control-plane
/// (github.com/linkerd/linkerd2/blob/main/charts/linkerd-control-plane/values.yaml): the
/// certificates, read from files on the controller.
#[derive(Debug, Serialize)]
struct LinkerdControlPlaneValues {
    #[serde(rename = "identityTrustAnchorsPEM")]
    identity_trust_anchors_pem: &'static str,
    identity: LinkerdIdentity,
}

#[derive(Debug, Serialize)]
struct LinkerdIdentity {
    issuer: LinkerdIssuer,
}

#[derive(Debug, Serialize)]
struct LinkerdIssuer {
    tls: LinkerdIssuerTls,
}

#[derive(Debug, Serialize)]
struct LinkerdIssuerTls {
    #[serde(rename = "crtPEM")]
    crt_pem: &'static str,
    #[serde(rename = "keyPEM")]
    key_pem: &'static str,
}

/// kube-prometheus-stack
/// (github.com/prometheus-community/helm-charts/blob/main/charts/kube-prometheus-stack/values.yaml).
#[derive(Debug, Serialize)]
struct KubePrometheusStackValues {
    prometheus: PrometheusValues,
    grafana: GrafanaValues,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusValues {
    prometheus_spec: PrometheusSpecValues,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_pod_monitors: Option<Vec<AdditionalPodMonitor>>,
}

/// `false`: select every PrometheusRule, PodMonitor and ServiceMonitor, not only the
/// chart's own.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusSpecValues {
    rule_selector_nil_uses_helm_values: bool,
    pod_monitor_selector_nil_uses_helm_values: bool,
    service_monitor_selector_nil_uses_helm_values: bool,
}

/// A PodMonitor the chart makes: its name, and its spec's fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AdditionalPodMonitor {
    name: &'static str,
    namespace_selector: AnyNamespace,
    /// Every pod (that has the endpoints' port).
    selector: Everything,
    job_label: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_target_labels: Option<Vec<&'static str>>,
    pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
}

#[derive(Debug, Serialize)]
struct AnyNamespace {
    any: bool,
}

/// An empty label selector.
#[derive(Debug, Serialize)]
struct Everything {}

#[derive(Debug, Serialize)]
struct PodMetricsEndpoint {
    port: &'static str,
    path: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    relabelings: Option<Vec<Relabeling>>,
}

/// A Prometheus Operator `RelabelConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Relabeling {
    #[serde(skip_serializing_if = "Option::is_none")]
    source_labels: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    regex: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_label: Option<&'static str>,
}

impl Relabeling {
    fn labelmap(regex: &'static str) -> Self {
        Relabeling {
            source_labels: None,
            action: Some("labelmap"),
            regex,
            target_label: None,
        }
    }
}

/// kube-prometheus-stack's Grafana: the dashboard sidecar files each dashboard in the
/// folder its ConfigMap's annotation names.
#[derive(Debug, Serialize)]
struct GrafanaValues {
    sidecar: GrafanaSidecar,
}

#[derive(Debug, Serialize)]
struct GrafanaSidecar {
    dashboards: SidecarDashboards,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SidecarDashboards {
    folder_annotation: &'static str,
    provider: DashboardProvider,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DashboardProvider {
    folders_from_files_structure: bool,
}

/// argo-cd (github.com/argoproj/argo-helm/blob/main/charts/argo-cd/values.yaml).
#[derive(Debug, Serialize)]
struct ArgoCdValues {
    configs: ArgoCdConfigs,
}

#[derive(Debug, Serialize)]
struct ArgoCdConfigs {
    /// Keys of the argocd-cm ConfigMap, Argo CD's settings: a ConfigMap's data, a map.
    cm: IndexMap<&'static str, &'static str>,
}

/// argo-rollouts (github.com/argoproj/argo-helm/blob/main/charts/argo-rollouts/values.yaml).
#[derive(Debug, Serialize)]
struct ArgoRolloutsValues {
    controller: RolloutsController,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RolloutsController {
    metrics: RolloutsMetrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic_router_plugins: Option<Vec<Plugin>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RolloutsMetrics {
    enabled: bool,
    service_monitor: RolloutsServiceMonitor,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RolloutsServiceMonitor {
    enabled: bool,
    metric_relabelings: Vec<Relabeling>,
}

/// A plugin the controller downloads: its name, and where from.
#[derive(Debug, Serialize)]
struct Plugin {
    name: &'static str,
    location: &'static str,
}

/// docs.ansible.com/ansible/latest/collections/kubernetes/core/k8s_module.html
#[derive(Debug, Serialize)]
struct K8s {
    state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    apply: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_side_apply: Option<ServerSideApply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    definition: Option<Definition>,
    /// A manifest file on the controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<String>,
}

impl K8s {
    /// Server-side apply, as the field manager `nestioc-platform`: `state: present`
    /// changes nothing when the objects are as generated.
    fn apply(definition: Option<Definition>, src: Option<String>) -> Self {
        K8s {
            state: State::Present,
            apply: Some(true),
            server_side_apply: Some(ServerSideApply {
                field_manager: "nestioc-platform",
            }),
            definition,
            src,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Present,
}

#[derive(Debug, Serialize)]
struct ServerSideApply {
    field_manager: &'static str,
}

/// `definition`: an object, or a Jinja expression that yields the objects.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Definition {
    Namespace(Box<Namespace>),
    Template(&'static str),
}

/// A task that creates the namespace `name`.
fn namespace_task(task: &str, name: &str) -> Task {
    Task::new(
        task,
        Module::K8s(K8s {
            state: State::Present,
            apply: None,
            server_side_apply: None,
            definition: Some(Definition::Namespace(Box::new(Namespace {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            }))),
            src: None,
        }),
    )
}

/// `vars/platform.yml`: the variables the play's expressions read.
#[derive(Debug, Serialize)]
struct Vars {
    platform_helm_repositories: Vec<Repository>,
    /// `<chart>_chart_version`, one per chart the play installs.
    #[serde(flatten)]
    chart_versions: IndexMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gatewayapi_plugin_base_url: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gatewayapi_plugin_version: Option<&'static str>,
    /// The controller's architecture (`linux-arm64` on ARM nodes).
    #[serde(skip_serializing_if = "Option::is_none")]
    gatewayapi_plugin_arch: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fluentd_manifest: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argocd_projects_manifest: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argocd_root_manifest: Option<&'static str>,
    /// Paths relative to the playbook's directory (or absolute); the files stay out of
    /// the generated output.
    #[serde(skip_serializing_if = "Option::is_none")]
    linkerd_trust_anchor_file: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linkerd_issuer_crt_file: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linkerd_issuer_key_file: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Repository {
    name: &'static str,
    url: &'static str,
}

/// `requirements.yml` (docs.ansible.com/ansible/latest/collections_guide/collections_installing.html).
#[derive(Debug, Serialize)]
struct Requirements {
    collections: Vec<Collection>,
}

#[derive(Debug, Serialize)]
struct Collection {
    name: &'static str,
    version: &'static str,
}

/// One `kubernetes.core.helm` task. `update_repo_cache` makes a re-run after a version
/// bump find the new chart; the module changes nothing when the release already has this
/// chart version and these values, so the play is idempotent. Releases wait until they
/// are ready, so that the CRDs they bring exist before the next one uses them.
fn release(
    name: &str,
    release: &'static str,
    chart: &'static str,
    version_var: &str,
    namespace: &'static str,
    values: ChartValues,
) -> Task {
    release_waiting(name, release, chart, version_var, namespace, values, true)
}

fn release_waiting(
    name: &str,
    release: &'static str,
    chart: &'static str,
    version_var: &str,
    namespace: &'static str,
    values: ChartValues,
    wait: bool,
) -> Task {
    Task::new(
        name,
        Module::Helm(Helm {
            release_name: release,
            chart_ref: chart,
            chart_version: format!("{{{{ {version_var} }}}}"),
            release_namespace: namespace,
            create_namespace: true,
            update_repo_cache: true,
            wait,
            release_values: values,
        }),
    )
}

/// PodMonitors for the mesh proxies: the SLIs read the mesh's standard metrics
/// (`istio_requests_total`, Linkerd's `response_total`), which only the sidecars export.
fn proxy_monitors(mesh: Mesh) -> Option<Vec<AdditionalPodMonitor>> {
    let monitor = match mesh {
        // `rollouts-pod-template-hash` on every series lets a canary analysis read the
        // new pods only (Argo Rollouts labels each pod with its ReplicaSet's hash).
        Mesh::Istio => AdditionalPodMonitor {
            name: "istio-proxies",
            namespace_selector: AnyNamespace { any: true },
            selector: Everything {},
            job_label: "envoy-stats",
            pod_target_labels: Some(vec![
                "app.kubernetes.io/name",
                super::rollout::POD_HASH_LABEL,
            ]),
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: "http-envoy-prom",
                path: "/stats/prometheus",
                relabelings: None,
            }],
        },
        Mesh::Linkerd => AdditionalPodMonitor {
            name: "linkerd-proxies",
            namespace_selector: AnyNamespace { any: true },
            selector: Everything {},
            job_label: "linkerd-proxy",
            pod_target_labels: None,
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: "linkerd-admin",
                path: "/metrics",
                // As linkerd-viz's Prometheus labels them: the owner (`deployment`,
                // `replicaset`, ...) and every pod label (`app_kubernetes_io_name`, which
                // the SLIs select and every workload kind carries, and
                // `rollouts_pod_template_hash`, which canary analyses select).
                relabelings: Some(vec![
                    Relabeling::labelmap("__meta_kubernetes_pod_label_linkerd_io_proxy_(.+)"),
                    Relabeling::labelmap("__meta_kubernetes_pod_label_(.+)"),
                ]),
            }],
        },
        Mesh::None => return None,
    };
    Some(vec![monitor])
}

fn tasks(platform: &Platform) -> Vec<Task> {
    let mut tasks = vec![Task {
        loop_: Some("{{ platform_helm_repositories }}"),
        loop_control: Some(LoopControl {
            label: "{{ item.name }}",
        }),
        ..Task::new(
            "Add the Helm chart repositories",
            Module::HelmRepository(HelmRepository {
                repo_name: "{{ item.name }}",
                repo_url: "{{ item.url }}",
            }),
        )
    }];
    match platform.mesh {
        Mesh::Istio => {
            tasks.push(release(
                "Install the Istio CRDs and cluster roles (istio/base)",
                "istio-base",
                "istio/base",
                ISTIO.var,
                "istio-system",
                ChartValues::Defaults {},
            ));
            tasks.push(release(
                "Install the Istio control plane (istio/istiod)",
                "istiod",
                "istio/istiod",
                ISTIO.var,
                "istio-system",
                ChartValues::Defaults {},
            ));
            // The generated Gateway selects `istio: ingressgateway`, and the
            // AuthorizationPolicies admit the gateway by its service account. No wait:
            // Helm would wait for the LoadBalancer's address, which some clusters never
            // give, and nothing after it needs the gateway.
            tasks.push(release_waiting(
                "Install the Istio ingress gateway (istio/gateway)",
                "istio-ingressgateway",
                "istio/gateway",
                ISTIO.var,
                ISTIO_GATEWAY_NAMESPACE,
                ChartValues::IstioGateway(IstioGatewayValues {
                    labels: IstioLabels {
                        istio: "ingressgateway",
                    },
                    service_account: ServiceAccountName {
                        name: ISTIO_GATEWAY_SERVICE_ACCOUNT,
                    },
                }),
                false,
            ));
        }
        Mesh::Linkerd => {
            // The linkerd target's HTTPRoute and GRPCRoute objects are Gateway API kinds.
            tasks.push(release(
                "Install the Linkerd and Gateway API CRDs (linkerd-crds)",
                "linkerd-crds",
                "linkerd-edge/linkerd-crds",
                LINKERD_CRDS.var,
                "linkerd",
                ChartValues::LinkerdCrds(LinkerdCrdsValues {
                    install_gateway_api: true,
                }),
            ));
            let mut cp = release(
                "Install the Linkerd control plane (linkerd-control-plane)",
                "linkerd-control-plane",
                "linkerd-edge/linkerd-control-plane",
                LINKERD_CONTROL_PLANE.var,
                "linkerd",
                ChartValues::LinkerdControlPlane(LinkerdControlPlaneValues {
                    identity_trust_anchors_pem: "{{ lookup('ansible.builtin.file', linkerd_trust_anchor_file) }}",
                    identity: LinkerdIdentity {
                        issuer: LinkerdIssuer {
                            tls: LinkerdIssuerTls {
                                crt_pem: "{{ lookup('ansible.builtin.file', linkerd_issuer_crt_file) }}",
                                key_pem: "{{ lookup('ansible.builtin.file', linkerd_issuer_key_file) }}",
                            },
                        },
                    },
                }),
            );
            // The values hold the issuer's private key: keep it out of the output.
            cp.no_log = Some(true);
            tasks.push(cp);
        }
        Mesh::None => {}
    }
    tasks.push(release(
        "Install Prometheus, Alertmanager and Grafana (kube-prometheus-stack)",
        "kube-prometheus-stack",
        "prometheus-community/kube-prometheus-stack",
        KUBE_PROMETHEUS_STACK.var,
        RULES_NAMESPACE,
        ChartValues::KubePrometheusStack(KubePrometheusStackValues {
            prometheus: PrometheusValues {
                // Select every PrometheusRule and PodMonitor, not only the chart's own: the
                // SLO rules (namespace `monitoring`, label `nestio.dev/rules`) carry no Helm
                // label.
                prometheus_spec: PrometheusSpecValues {
                    rule_selector_nil_uses_helm_values: false,
                    pod_monitor_selector_nil_uses_helm_values: false,
                    service_monitor_selector_nil_uses_helm_values: false,
                },
                additional_pod_monitors: proxy_monitors(platform.mesh),
            },
            // The grafana target's dashboard ConfigMaps name their folder in the
            // `grafana_folder` annotation.
            grafana: GrafanaValues {
                sidecar: GrafanaSidecar {
                    dashboards: SidecarDashboards {
                        folder_annotation: "grafana_folder",
                        provider: DashboardProvider {
                            folders_from_files_structure: true,
                        },
                    },
                },
            },
        }),
    ));
    if platform.fluentd {
        // Fluentd comes from the fluentd target (its configuration is the topology's), not
        // from a chart. With Argo CD, its platform Application deploys it; otherwise this
        // play applies the generated manifest (`state: present` with server-side apply
        // changes nothing when the objects are as generated).
        tasks.push(namespace_task(
            "Create the logging namespace",
            super::fluentd::NAMESPACE,
        ));
        if !platform.argo {
            tasks.push(apply_file(
                "Install Fluentd (the fluentd target's DaemonSet, RBAC and configuration)",
                "{{ fluentd_manifest }}",
            ));
        }
    }
    if !platform.argo {
        // Without Argo CD nothing else deploys the observability outputs: apply them here.
        // The Alertmanager routing lives in the environments' namespaces.
        for ns in &platform.namespaces {
            tasks.push(namespace_task(&format!("Create the namespace {ns}"), ns));
        }
        // In the `files` form (`prometheus "files"`) the rules and the routing are for a
        // Prometheus configured by hand: nothing to apply.
        let operator = platform.operator_rules;
        if operator {
            let mut rules = apply_file(
                "Apply the SLO rules (the prometheus target's PrometheusRules)",
                "{{ item }}",
            );
            rules.loop_ = Some(
                "{{ query('ansible.builtin.fileglob', playbook_dir ~ '/../prometheus/*.prometheusrule.yaml') | sort }}",
            );
            tasks.push(rules);
        }
        // The dashboards' ConfigMaps are made from their JSON files by
        // grafana/kustomization.yaml: the kustomize lookup builds them (with `kustomize`,
        // else `kubectl kustomize`, on the controller).
        tasks.push(Task::new(
            "Apply the Grafana dashboards (the ConfigMaps grafana/kustomization.yaml makes)",
            Module::K8s(K8s::apply(
                Some(Definition::Template(
                    "{{ lookup('kubernetes.core.kustomize', dir=playbook_dir ~ '/../grafana') }}",
                )),
                None,
            )),
        ));
        if operator {
            tasks.push(apply_file(
                "Apply the Alertmanager routing and inhibition (AlertmanagerConfigs)",
                "{{ playbook_dir }}/../alertmanager/alertmanagerconfig.yaml",
            ));
        }
    }
    if platform.argo {
        // Argo CD rates no Application's health since 1.8, so the sync waves over the
        // generated Applications would order nothing: restore the check its documentation
        // gives (docs/operator-manual/health.md, "Argocd App"), through the chart's
        // `configs.cm` (argo-helm: "Any values you put under .configs.cm are passed to
        // argocd-cm ConfigMap").
        tasks.push(release(
            "Install Argo CD (argo-cd), with the Application health check",
            "argocd",
            "argo/argo-cd",
            ARGO_CD.var,
            "argocd",
            ChartValues::ArgoCd(ArgoCdValues {
                configs: ArgoCdConfigs {
                    cm: IndexMap::from([(
                        super::argocd::APPLICATION_HEALTH_KEY,
                        super::argocd::APPLICATION_HEALTH_LUA,
                    )]),
                },
            }),
        ));
        // The controller's metrics (`rollout_info_replicas_available`, ...) feed the
        // outage alerts of services that run as Rollouts. Its metrics carry the Rollout's
        // own `namespace`, which Prometheus renames `exported_namespace` beside the
        // target's (honor_labels is off): put it back.
        let controller = RolloutsController {
            metrics: RolloutsMetrics {
                enabled: true,
                service_monitor: RolloutsServiceMonitor {
                    enabled: true,
                    metric_relabelings: vec![
                        Relabeling {
                            source_labels: Some(vec!["exported_namespace"]),
                            action: None,
                            regex: "(.+)",
                            target_label: Some("namespace"),
                        },
                        Relabeling {
                            source_labels: None,
                            action: Some("labeldrop"),
                            regex: "exported_namespace",
                            target_label: None,
                        },
                    ],
                },
            },
            // With Linkerd, canaries shift traffic through Gateway API routes: the
            // controller loads the Gateway API traffic-router plugin the generated
            // Rollouts name.
            traffic_router_plugins: (platform.mesh == Mesh::Linkerd).then(|| {
                vec![Plugin {
                    name: GATEWAY_API_PLUGIN,
                    location: "{{ gatewayapi_plugin_base_url }}/{{ gatewayapi_plugin_version }}/gatewayapi-plugin-{{ gatewayapi_plugin_arch }}",
                }]
            }),
        };
        let rollouts = ChartValues::ArgoRollouts(ArgoRolloutsValues { controller });
        tasks.push(release(
            "Install Argo Rollouts (argo-rollouts)",
            "argo-rollouts",
            "argo/argo-rollouts",
            ARGO_ROLLOUTS.var,
            "argo-rollouts",
            rollouts,
        ));
        // Last, once the controllers and CRDs the Applications need are there: the
        // project's AppProjects and root Application, from which Argo CD deploys the rest.
        tasks.push(apply_file(
            "Register the project with Argo CD (argocd/project.yaml: the AppProjects)",
            "{{ argocd_projects_manifest }}",
        ));
        tasks.push(apply_file(
            "Create the project's root application (argocd/apps.yaml)",
            "{{ argocd_root_manifest }}",
        ));
    }
    tasks
}

/// Server-side apply of a generated manifest: `state: present` changes nothing when the
/// objects are as generated.
fn apply_file(name: &str, src: &str) -> Task {
    Task::new(name, Module::K8s(K8s::apply(None, Some(src.to_owned()))))
}

/// The play's header: what it installs, how to run it, and what it leaves to others.
fn playbook_header(cx: &EmitContext<'_>, platform: &Platform, root: &str) -> String {
    let mut pieces = Vec::new();
    match platform.mesh {
        Mesh::Istio => pieces.push("Istio (base, istiod, ingress gateway)"),
        Mesh::Linkerd => pieces.push("Linkerd (CRDs, control plane)"),
        Mesh::None => {}
    }
    pieces.push("kube-prometheus-stack (Prometheus, Alertmanager, Grafana)");
    if platform.argo {
        pieces.push("Argo CD and Argo Rollouts");
    }
    let mut s = header(root);
    s.push_str(&format!(
        "#\n# The platform of the `{}` project, installed with Helm:\n",
        cx.model.project.name
    ));
    for p in pieces {
        s.push_str(&format!("#   - {p}\n"));
    }
    s.push_str(
        "# Idempotent: a second run changes nothing. Chart versions: vars/platform.yml.\n\
         #\n\
         #   ansible-galaxy collection install -r ansible/requirements.yml\n\
         #   ansible-playbook -i ansible/inventory.example.ini ansible/platform.yml\n\
         #\n\
         # Runs where the `helm` CLI and a kubeconfig for the cluster are (K8S_AUTH_KUBECONFIG\n\
         # or ~/.kube/config): Helm talks to the cluster, Ansible drives Helm.\n",
    );
    if platform.mesh == Mesh::Linkerd {
        s.push_str(
            "#\n\
             # Linkerd needs a trust anchor (a root CA certificate) and an issuer certificate\n\
             # and key signed by it (ECDSA P-256) before it installs; Helm does not make them:\n\
             #   step certificate create root.linkerd.cluster.local ca.crt ca.key \\\n\
             #     --profile root-ca --no-password --insecure\n\
             #   step certificate create identity.linkerd.cluster.local issuer.crt issuer.key \\\n\
             #     --profile intermediate-ca --not-after 8760h --no-password --insecure \\\n\
             #     --ca ca.crt --ca-key ca.key\n\
             # linkerd_trust_anchor_file, linkerd_issuer_crt_file and linkerd_issuer_key_file name\n\
             # them (vars/platform.yml: certs/ beside this playbook; -e to change; an Ansible\n\
             # Vault file for the key). Keep the root key offline: rotating the issuer needs it.\n",
        );
    }
    if platform.argo && platform.operator_rules {
        s.push_str(
            "#\n\
             # Argo CD gets the Application health check its sync waves need (argocd-cm), then\n\
             # the project's AppProjects and root Application (argocd/project.yaml, apps.yaml):\n\
             # from there Argo CD deploys the namespaces, the SLO rules, dashboards, Alertmanager\n\
             # routing and Fluentd, then every environment's services. Register the repository\n\
             # with Argo CD (argocd repo add) if it is private.\n",
        );
    } else if platform.argo {
        s.push_str(
            "#\n\
             # Argo CD gets the Application health check its sync waves need (argocd-cm), then\n\
             # the project's AppProjects and root Application (argocd/project.yaml, apps.yaml):\n\
             # from there Argo CD deploys the namespaces, dashboards and Fluentd, then every\n\
             # environment's services. Register the repository with Argo CD (argocd repo add) if\n\
             # it is private. The SLO rules are plain rule files (prometheus/*.rules.yaml) and\n\
             # the inhibition rules alertmanager/inhibit.yaml: load them into your own\n\
             # Prometheus (rule_files) and Alertmanager configuration.\n",
        );
    } else if !platform.operator_rules {
        s.push_str(
            "#\n\
             # Without Argo CD this play applies the dashboards (grafana/, through kustomize) and\n\
             # Fluentd. The SLO rules are plain rule files (prometheus/*.rules.yaml) and the\n\
             # inhibition rules alertmanager/inhibit.yaml: load them into your own Prometheus\n\
             # (rule_files) and Alertmanager configuration.\n",
        );
    } else {
        s.push_str(
            "#\n\
             # Without Argo CD this play applies the observability outputs itself: the SLO rules\n\
             # (prometheus/*.prometheusrule.yaml), the dashboards (grafana/, through kustomize), the\n\
             # Alertmanager routing (alertmanager/alertmanagerconfig.yaml) and Fluentd.\n",
        );
    }
    if platform.fluentd {
        s.push_str(
            "#\n\
             # Fluentd is not installed from a chart: nestioc's `fluentd` target generates it\n\
             # (fluentd/fluentd.yaml: the DaemonSet, its RBAC and the ConfigMap holding\n\
             # fluent.conf).\n",
        );
    }
    if platform.spinnaker {
        s.push_str(
            "#\n\
             # Spinnaker (cd \"spinnaker\") has no maintained Helm chart and is not installed here:\n\
             # install it with the Spinnaker Operator, then import the spinnaker/ pipelines.\n",
        );
    }
    if platform.operator_rules {
        s.push_str(
            "#\n\
             # Alertmanager's routing by owner and its inhibition rules come from the alertmanager\n\
             # target as AlertmanagerConfig objects, one per environment namespace, which\n\
             # kube-prometheus-stack's Alertmanager selects (alertmanagerConfigSelector and\n\
             # alertmanagerConfigNamespaceSelector are empty: every one, in every namespace).\n",
        );
    }
    s
}

impl Emitter for Ansible {
    fn name(&self) -> &'static str {
        "ansible"
    }

    fn description(&self) -> &'static str {
        "an Ansible playbook installing the platform through Helm: ansible/platform.yml, vars/platform.yml, requirements.yml"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        let project = &cx.model.project;
        let root = cx.sources.get(project.source).name.clone();
        let span = Some(project.span);
        let platform = Platform::of(cx);

        let play = Play {
            name: format!("Install the platform of the {} project", project.name),
            hosts: "localhost",
            connection: "local",
            gather_facts: false,
            vars_files: vec!["vars/platform.yml"],
            tasks: tasks(&platform),
        };

        let linkerd = platform.mesh == Mesh::Linkerd;
        let plugin = linkerd && platform.argo;
        let vars = Vars {
            platform_helm_repositories: platform
                .repositories()
                .into_iter()
                .map(|(name, url)| Repository { name, url })
                .collect(),
            chart_versions: platform
                .charts()
                .into_iter()
                .map(|c| (c.var, c.version))
                .collect(),
            gatewayapi_plugin_base_url: plugin.then_some(GATEWAY_API_PLUGIN_RELEASES),
            gatewayapi_plugin_version: plugin.then_some(GATEWAY_API_PLUGIN_VERSION),
            gatewayapi_plugin_arch: plugin.then_some("linux-amd64"),
            // Beside the playbook in the generated output.
            fluentd_manifest: (platform.fluentd && !platform.argo)
                .then_some("{{ playbook_dir }}/../fluentd/fluentd.yaml"),
            argocd_projects_manifest: platform
                .argo
                .then_some("{{ playbook_dir }}/../argocd/project.yaml"),
            argocd_root_manifest: platform
                .argo
                .then_some("{{ playbook_dir }}/../argocd/apps.yaml"),
            linkerd_trust_anchor_file: linkerd.then_some("certs/ca.crt"),
            linkerd_issuer_crt_file: linkerd.then_some("certs/issuer.crt"),
            linkerd_issuer_key_file: linkerd.then_some("certs/issuer.key"),
        };
        let mut vars_header = header(&root);
        vars_header.push_str(
            "# Every chart the platform playbook installs, pinned to an exact version, and the\n\
             # repositories they come from. Bump a version here, after reading its release notes.\n",
        );

        let mut req_header = header(&root);
        req_header.push_str(
            "# The collections the platform playbook uses, pinned:\n\
             #   ansible-galaxy collection install -r ansible/requirements.yml\n",
        );
        let requirements = Requirements {
            collections: vec![Collection {
                name: "kubernetes.core",
                version: KUBERNETES_CORE_VERSION,
            }],
        };

        let mut inventory = header(&root);
        inventory.push_str(
            "# The playbook runs on the machine that has `helm` and the kubeconfig: it reaches the\n\
             # cluster through them, never over SSH.\n\
             [local]\n\
             localhost ansible_connection=local ansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n",
        );

        Ok(vec![
            Artifact {
                path: "ansible/platform.yml".into(),
                contents: document_indented(&playbook_header(cx, &platform, &root), &[play]),
                source: span,
            },
            Artifact {
                path: "ansible/vars/platform.yml".into(),
                contents: document_indented(&vars_header, &vars),
                source: span,
            },
            Artifact {
                path: "ansible/requirements.yml".into(),
                contents: document_indented(&req_header, &requirements),
                source: span,
            },
            Artifact {
                path: "ansible/inventory.example.ini".into(),
                contents: inventory,
                source: span,
            },
        ])
    }
}
