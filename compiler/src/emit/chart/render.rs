//! What the chart's templates (`stdlib/helm/*.hbs`) render from [`ChartValues`], object
//! for object, in the order of the template files: the `kubernetes` target's manifests.
//! The conformance tests render the charts with the real Helm and compare.
//!
//! Kubernetes' own kinds are `k8s-openapi`'s types, so a field can only be one the API
//! has; they serialise their keys in that crate's order (`apiVersion`, `kind`, then the
//! fields alphabetically, labels and annotations sorted), which Helm's order need not
//! match: the conformance tests compare objects, not text. The pieces the values carry as
//! plain objects (probes, security contexts, NetworkPolicy rules, ...) are read into their
//! types here. Custom resources have types of their own in [`super::crd`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricSource, CrossVersionObjectReference, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicySpec,
    ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::crd::Resource;
use super::crd::argo::{AnalysisTemplateSpec, RolloutSpec};
use super::crd::istio::IstioObject;
use super::crd::linkerd::LinkerdObject;
use super::crd::prometheus::{self, PodMetricsEndpoint, PodMonitorSpec};
use super::values::{
    AppProtocol, ChartValues, ConcurrencyPolicy, ContainerEnvValues, ContainerValues, EnvValues,
    ImageValues, PortValues, PublicServiceType, PullPolicy, ResourceList, ResourcesValues,
    Retention, StringMap, WhenUnsatisfiable, WorkloadKind,
};
use super::{KEEP_ANNOTATIONS, TMP_SIZE};
use crate::diag::{Code, Diagnostic};

/// One object the chart renders: Kubernetes' own kinds from k8s-openapi, custom resources
/// from [`super::crd`].
/// Serialises as the object itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Manifest {
    ServiceAccount(ServiceAccount),
    Service(Service),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    CronJob(CronJob),
    PersistentVolumeClaim(PersistentVolumeClaim),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    PodDisruptionBudget(PodDisruptionBudget),
    NetworkPolicy(NetworkPolicy),
    Ingress(Ingress),
    Istio(IstioObject),
    Linkerd(LinkerdObject),
    PodMonitor(Resource<PodMonitorSpec>),
    Rollout(Resource<RolloutSpec>),
    AnalysisTemplate(Resource<AnalysisTemplateSpec>),
}

fn string_map(m: &StringMap) -> BTreeMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn match_labels(selector: &StringMap) -> LabelSelector {
    LabelSelector {
        match_labels: Some(string_map(selector)),
        ..LabelSelector::default()
    }
}

/// `nestio.metadata`: name, namespace, labels and annotations (always written, `{}` for
/// none, as the template writes them).
#[must_use]
pub fn object_meta(v: &ChartValues, name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(string_map(&v.labels)),
        annotations: Some(string_map(&v.annotations)),
        ..ObjectMeta::default()
    }
}

/// Whether a tag looks like a commit SHA (7 to 40 lowercase hex digits): the tags CI
/// pushes, never moved. Mirrors the `regexMatch` of `nestio.pullPolicy`.
#[must_use]
pub fn is_commit_tag(tag: &str) -> bool {
    (7..=40).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `nestio.pullPolicy`: `Always` re-resolves the tag at the registry on every container
/// start ("every time the kubelet launches a container, the kubelet queries the container
/// image registry to resolve the name to an image digest"), which only matters for a tag
/// that can move, and makes every start depend on the registry being up. An immutable
/// reference (a digest, a commit-SHA tag) gets `IfNotPresent`
/// (https://kubernetes.io/docs/concepts/containers/images/#image-pull-policy).
fn pull_policy(policy: PullPolicy, tag: &str, digest: &str) -> &'static str {
    match policy {
        PullPolicy::Always => "Always",
        PullPolicy::IfNotPresent => "IfNotPresent",
        PullPolicy::Never => "Never",
        PullPolicy::Derived if !digest.is_empty() || is_commit_tag(tag) => "IfNotPresent",
        PullPolicy::Derived => "Always",
    }
}

/// `nestio.imageRef` of an image's values.
fn image_ref(repository: &str, tag: &str, digest: &str) -> String {
    let mut s = repository.to_owned();
    if !tag.is_empty() {
        s.push(':');
        s.push_str(tag);
    }
    if !digest.is_empty() {
        s.push('@');
        s.push_str(digest);
    }
    s
}

fn app_protocol(p: AppProtocol) -> &'static str {
    match p {
        AppProtocol::Http => "http",
        AppProtocol::Grpc => "grpc",
        AppProtocol::Tcp => "tcp",
    }
}

fn retention(r: Retention) -> &'static str {
    match r {
        Retention::Retain => "Retain",
        Retention::Delete => "Delete",
    }
}

/// The Service's ports: the service's own container's, then each sidecar's.
fn service_ports(v: &ChartValues) -> Vec<ServicePort> {
    v.ports
        .iter()
        .chain(v.sidecars.iter().flat_map(|c| &c.ports))
        .map(|p| ServicePort {
            name: Some(p.name.clone()),
            port: i32::from(p.port),
            target_port: Some(IntOrString::String(p.name.clone())),
            protocol: Some("TCP".into()),
            app_protocol: Some(app_protocol(p.app_protocol).into()),
            ..ServicePort::default()
        })
        .collect()
}

/// A workload's kind and API version, as its HorizontalPodAutoscaler targets it.
fn scale_target(workload: WorkloadKind) -> (&'static str, &'static str) {
    match workload {
        WorkloadKind::Rollout => ("argoproj.io/v1alpha1", "Rollout"),
        WorkloadKind::StatefulSet => ("apps/v1", "StatefulSet"),
        WorkloadKind::Deployment => ("apps/v1", "Deployment"),
    }
}

/// A `ReadWriteOnce` claim's spec of one size.
fn claim_spec(size: &str) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([("storage".into(), Quantity(size.into()))])),
            ..VolumeResourceRequirements::default()
        }),
        ..PersistentVolumeClaimSpec::default()
    }
}

/// The objects the chart renders for these values, in the order of its template files
/// (Helm sorts by kind when installing; we keep one stable order for review).
///
/// # Errors
/// A piece of the values that is no object of its Kubernetes type (a bug in the values'
/// builder).
pub fn render(v: &ChartValues, namespace: &str) -> Result<Vec<Manifest>, Diagnostic> {
    let mut out = Vec::new();
    let meta = object_meta(v, &v.name, namespace);
    let selector = &v.selector_labels;
    let scheduled = !v.schedule.is_empty();
    out.push(Manifest::ServiceAccount(ServiceAccount {
        metadata: meta.clone(),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }));
    let service_ports = service_ports(v);
    let cluster_ip = |name: &str, ports: Vec<ServicePort>, type_: &str| {
        Manifest::Service(Service {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..meta.clone()
            },
            spec: Some(ServiceSpec {
                type_: Some(type_.to_owned()),
                selector: Some(string_map(selector)),
                ports: Some(ports),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        })
    };
    if !service_ports.is_empty() {
        let mut annotations = string_map(&v.annotations);
        annotations.extend(
            v.service_annotations
                .iter()
                .map(|(k, a)| (k.clone(), a.clone())),
        );
        let mut service = cluster_ip(&v.name, service_ports.clone(), "ClusterIP");
        if let Manifest::Service(s) = &mut service {
            s.metadata.annotations = Some(annotations);
        }
        out.push(service);
        for extra in &v.extra_services {
            out.push(cluster_ip(extra, service_ports.clone(), "ClusterIP"));
        }
        let public = &v.public_service;
        if public.enabled {
            let ports = service_ports
                .iter()
                .filter(|p| p.name.as_deref() == Some(public.port_name.as_str()))
                .map(|p| ServicePort {
                    node_port: (public.node_port != 0).then_some(i32::from(public.node_port)),
                    ..p.clone()
                })
                .collect();
            let type_ = match public.type_ {
                PublicServiceType::NodePort => "NodePort",
                PublicServiceType::LoadBalancer => "LoadBalancer",
            };
            out.push(cluster_ip(&public.name, ports, type_));
        }
    }
    // A StatefulSet's governing Service: headless, ports or not (its name is immutable in
    // the StatefulSet, so a port added later must not change it).
    if v.workload == WorkloadKind::StatefulSet && !scheduled {
        out.push(Manifest::Service(Service {
            metadata: ObjectMeta {
                name: Some(v.stateful_set.service_name.clone()),
                ..meta.clone()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".into()),
                publish_not_ready_addresses: Some(true),
                selector: Some(string_map(selector)),
                ports: (!service_ports.is_empty()).then(|| service_ports.clone()),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }));
    }

    let pod = pod_template(v);
    let replicas =
        (!v.autoscaling.enabled).then(|| i32::try_from(v.replica_count).unwrap_or(i32::MAX));
    if scheduled {
        let concurrency = match v.concurrency_policy {
            ConcurrencyPolicy::Forbid => "Forbid",
            ConcurrencyPolicy::Replace => "Replace",
            ConcurrencyPolicy::Allow => "Allow",
        };
        out.push(Manifest::CronJob(CronJob {
            metadata: meta.clone(),
            spec: CronJobSpec {
                schedule: v.schedule.clone(),
                concurrency_policy: Some(concurrency.into()),
                successful_jobs_history_limit: Some(3),
                failed_jobs_history_limit: Some(1),
                job_template: JobTemplateSpec {
                    metadata: None,
                    spec: Some(JobSpec {
                        backoff_limit: Some(2),
                        template: pod,
                        ..JobSpec::default()
                    }),
                },
                ..CronJobSpec::default()
            },
            ..CronJob::default()
        }));
    } else {
        match v.workload {
            WorkloadKind::StatefulSet => {
                let claims = v
                    .volumes
                    .iter()
                    .filter(|vol| vol.claim_template == Some(true))
                    .map(|vol| PersistentVolumeClaim {
                        metadata: ObjectMeta {
                            name: Some(vol.name.clone()),
                            labels: Some(string_map(selector)),
                            ..ObjectMeta::default()
                        },
                        spec: Some(claim_spec(&vol.size)),
                        ..PersistentVolumeClaim::default()
                    })
                    .collect();
                let retain = &v.stateful_set.claim_retention;
                out.push(Manifest::StatefulSet(StatefulSet {
                    metadata: meta.clone(),
                    spec: StatefulSetSpec {
                        replicas,
                        revision_history_limit: Some(5),
                        service_name: Some(v.stateful_set.service_name.clone()),
                        selector: match_labels(selector),
                        // Replicas one at a time, highest ordinal first, each waiting for
                        // the one before to be Ready (OrderedReady, RollingUpdate, partition
                        // 0: Kubernetes' defaults, written out).
                        pod_management_policy: Some("OrderedReady".into()),
                        update_strategy: Some(StatefulSetUpdateStrategy {
                            type_: Some("RollingUpdate".into()),
                            rolling_update: Some(RollingUpdateStatefulSetStrategy {
                                partition: Some(0),
                                ..RollingUpdateStatefulSetStrategy::default()
                            }),
                        }),
                        persistent_volume_claim_retention_policy: Some(
                            StatefulSetPersistentVolumeClaimRetentionPolicy {
                                when_deleted: Some(retention(retain.when_deleted).into()),
                                when_scaled: Some(retention(retain.when_scaled).into()),
                            },
                        ),
                        template: pod,
                        volume_claim_templates: Some(claims),
                        ..StatefulSetSpec::default()
                    },
                    ..StatefulSet::default()
                }));
            }
            WorkloadKind::Rollout => {
                let Some(strategy) = v.rollout_strategy.clone() else {
                    return Err(Diagnostic::error(
                        Code::TemplateRender,
                        format!("the chart values of `{}` run a Rollout without a strategy", v.name),
                    )
                    .with_help("this is a bug in nestioc: please report it with the topology that caused it"));
                };
                out.push(Manifest::Rollout(Resource::new(
                    meta.clone(),
                    RolloutSpec {
                        replicas,
                        revision_history_limit: 5,
                        selector: match_labels(selector),
                        template: pod,
                        strategy,
                    },
                )));
            }
            WorkloadKind::Deployment => {
                out.push(Manifest::Deployment(Deployment {
                    metadata: meta.clone(),
                    spec: DeploymentSpec {
                        replicas,
                        revision_history_limit: Some(5),
                        selector: match_labels(selector),
                        strategy: Some(DeploymentStrategy {
                            type_: Some("RollingUpdate".into()),
                            rolling_update: Some(RollingUpdateDeployment {
                                max_surge: Some(IntOrString::String("25%".into())),
                                max_unavailable: Some(IntOrString::Int(0)),
                            }),
                        }),
                        template: pod,
                        ..DeploymentSpec::default()
                    },
                    ..Deployment::default()
                }));
            }
        }
    }
    if let (Some(name), Some(spec)) = (&v.analysis.name, &v.analysis.spec) {
        out.push(Manifest::AnalysisTemplate(Resource::new(
            ObjectMeta {
                name: Some(name.clone()),
                ..meta.clone()
            },
            spec.clone(),
        )));
    }
    for vol in &v.volumes {
        let Some(claim) = vol.claim_name.as_ref().filter(|c| !c.is_empty()) else {
            continue;
        };
        let mut annotations = string_map(&v.annotations);
        if vol.keep == Some(true) {
            for (k, val) in KEEP_ANNOTATIONS {
                annotations.insert((*k).into(), (*val).into());
            }
        }
        out.push(Manifest::PersistentVolumeClaim(PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(claim.clone()),
                annotations: Some(annotations),
                ..meta.clone()
            },
            spec: Some(claim_spec(&vol.size)),
            ..PersistentVolumeClaim::default()
        }));
    }

    let autoscaling = &v.autoscaling;
    if autoscaling.enabled {
        let (api_version, kind) = scale_target(v.workload);
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        out.push(Manifest::HorizontalPodAutoscaler(HorizontalPodAutoscaler {
            metadata: meta.clone(),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some(api_version.into()),
                    kind: kind.into(),
                    name: v.name.clone(),
                },
                min_replicas: Some(int(autoscaling.min_replicas)),
                max_replicas: int(autoscaling.max_replicas),
                // The service's own container, not the pod: `Resource` sums every
                // container's usage over every container's request, and fails with
                // "missing request for cpu in container linkerd-proxy" when one has none
                // (Linkerd's proxy has no CPU request unless configured), so the HPA never
                // scales; a sidecar's CPU would also dilute the app's. `ContainerResource`
                // is stable since Kubernetes 1.30
                // (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#container-resource-metrics).
                metrics: Some(vec![MetricSpec {
                    type_: "ContainerResource".into(),
                    container_resource: Some(ContainerResourceMetricSource {
                        container: v.name.clone(),
                        name: "cpu".into(),
                        target: MetricTarget {
                            type_: "Utilization".into(),
                            average_utilization: Some(int(
                                autoscaling.target_cpu_utilization_percentage
                            )),
                            ..MetricTarget::default()
                        },
                    }),
                    ..MetricSpec::default()
                }]),
                ..HorizontalPodAutoscalerSpec::default()
            },
            ..HorizontalPodAutoscaler::default()
        }));
    }
    if v.pod_disruption_budget.enabled {
        let max = i32::try_from(v.pod_disruption_budget.max_unavailable).unwrap_or(i32::MAX);
        out.push(Manifest::PodDisruptionBudget(PodDisruptionBudget {
            metadata: meta.clone(),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(max)),
                selector: Some(match_labels(selector)),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        }));
    }
    if v.pod_monitor.enabled {
        out.push(Manifest::PodMonitor(Resource::new(
            meta.clone(),
            PodMonitorSpec {
                job_label: "app.kubernetes.io/name".into(),
                pod_target_labels: vec![crate::emit::rollout::POD_HASH_LABEL.into()],
                selector: prometheus::MatchLabels {
                    match_labels: selector.clone(),
                },
                pod_metrics_endpoints: vec![PodMetricsEndpoint {
                    port: v.pod_monitor.port.clone(),
                    path: v.pod_monitor.path.clone(),
                }],
            },
        )));
    }
    let policy = &v.network_policy;
    if policy.enabled {
        let ingress = policy.ingress.clone();
        let egress = policy.egress.clone();
        out.push(Manifest::NetworkPolicy(NetworkPolicy {
            metadata: meta.clone(),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(match_labels(selector)),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: (!ingress.is_empty()).then_some(ingress),
                egress: (!egress.is_empty()).then_some(egress),
            }),
        }));
    }
    let ingress = &v.ingress;
    if ingress.enabled {
        // The template's `merge (dict) .Values.ingress.annotations .Values.annotations`:
        // the service's annotations win over the Ingress's own.
        let mut ingress_meta = meta.clone();
        let annotations = ingress_meta.annotations.get_or_insert_default();
        for (k, val) in &ingress.annotations {
            annotations.entry(k.clone()).or_insert_with(|| val.clone());
        }
        out.push(Manifest::Ingress(Ingress {
            metadata: ingress_meta,
            spec: Some(IngressSpec {
                ingress_class_name: (!ingress.class_name.is_empty())
                    .then(|| ingress.class_name.clone()),
                tls: (!ingress.tls_secret.is_empty()).then(|| {
                    vec![IngressTLS {
                        hosts: Some(vec![ingress.host.clone()]),
                        secret_name: Some(ingress.tls_secret.clone()),
                    }]
                }),
                rules: Some(vec![IngressRule {
                    host: Some(ingress.host.clone()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some(ingress.path.clone()),
                            path_type: "Prefix".into(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: v.name.clone(),
                                    port: Some(ServiceBackendPort {
                                        name: Some(ingress.port_name.clone()),
                                        number: None,
                                    }),
                                }),
                                resource: None,
                            },
                        }],
                    }),
                }]),
                ..IngressSpec::default()
            }),
            ..Ingress::default()
        }));
    }
    out.extend(crate::emit::mesh::render(v, namespace));
    Ok(out)
}

/// What every container of the pod has, whatever its role.
struct ContainerParts<'a> {
    ports: &'a [PortValues],
    env: Vec<EnvVar>,
    resources: &'a ResourcesValues,
    probes: [&'a Option<Probe>; 3],
    security_context: &'a SecurityContext,
}

fn env_var(name: &str, value: Option<&String>, from: Option<&EnvVarSource>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: value.cloned(),
        value_from: from.cloned(),
    }
}

fn resource_list(l: &ResourceList) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".into(), Quantity(l.cpu.clone())),
        ("memory".into(), Quantity(l.memory.clone())),
    ])
}

/// A container's `ports`, `env`, `resources`, probes and `securityContext`, as the chart's
/// templates write them (each only when given, `resources` and `securityContext` always).
fn container_body(c: &mut Container, parts: ContainerParts<'_>) {
    if !parts.ports.is_empty() {
        c.ports = Some(
            parts
                .ports
                .iter()
                .map(|p| ContainerPort {
                    name: Some(p.name.clone()),
                    container_port: i32::from(p.target_port),
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                })
                .collect(),
        );
    }
    if !parts.env.is_empty() {
        c.env = Some(parts.env);
    }
    c.resources = Some(ResourceRequirements {
        requests: Some(resource_list(&parts.resources.requests)),
        limits: Some(resource_list(&parts.resources.limits)),
        ..ResourceRequirements::default()
    });
    let [readiness, liveness, startup] = parts.probes;
    c.readiness_probe.clone_from(readiness);
    c.liveness_probe.clone_from(liveness);
    c.startup_probe.clone_from(startup);
    c.security_context = Some(parts.security_context.clone());
}

/// A sidecar or init container (`nestio.container` in `_helpers.tpl`).
/// `service` is the service's own image, which an init container with `serviceImage` runs.
fn extra_container(c: &ContainerValues, service: &ImageValues, sidecar: bool) -> Container {
    let (repository, tag, digest, policy) = match &c.image {
        Some(i) if !c.service_image => (&i.repository, &i.tag, &i.digest, i.pull_policy),
        _ => (
            &service.repository,
            &service.tag,
            &service.digest,
            service.pull_policy,
        ),
    };
    let mut out = Container {
        name: c.name.clone(),
        image: Some(image_ref(repository, tag, digest)),
        image_pull_policy: Some(pull_policy(policy, tag, digest).into()),
        // A Kubernetes sidecar container (1.29+): started before the app, stopped after.
        restart_policy: sidecar.then(|| "Always".into()),
        command: (!c.command.is_empty()).then(|| c.command.clone()),
        args: (!c.args.is_empty()).then(|| c.args.clone()),
        volume_mounts: Some(
            c.volume_mounts
                .iter()
                .map(|m| mount(&m.name, &m.mount_path))
                .collect(),
        ),
        ..Container::default()
    };
    let env = c
        .env
        .iter()
        .map(|e: &ContainerEnvValues| env_var(&e.name, e.value.as_ref(), e.value_from.as_ref()))
        .collect();
    container_body(
        &mut out,
        ContainerParts {
            ports: &c.ports,
            env,
            resources: &c.resources,
            probes: [&c.readiness_probe, &c.liveness_probe, &c.startup_probe],
            security_context: &c.security_context,
        },
    );
    out
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        ..VolumeMount::default()
    }
}

fn empty_dir(name: &str, size: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size.to_owned())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The pod template of `nestio.podTemplate` in `_helpers.tpl`.
fn pod_template(v: &ChartValues) -> PodTemplateSpec {
    let i = &v.image;
    let mut container = Container {
        name: v.name.clone(),
        image: Some(image_ref(&i.repository, &i.tag, &i.digest)),
        image_pull_policy: Some(pull_policy(i.pull_policy, &i.tag, &i.digest).into()),
        command: (!v.command.is_empty()).then(|| v.command.clone()),
        args: (!v.args.is_empty()).then(|| v.args.clone()),
        ..Container::default()
    };
    let env = v
        .env
        .iter()
        .map(|e: &EnvValues| env_var(&e.name, e.value.as_ref(), e.value_from.as_ref()))
        .collect();
    container_body(
        &mut container,
        ContainerParts {
            ports: &v.ports,
            env,
            resources: &v.resources,
            probes: [&v.readiness_probe, &v.liveness_probe, &v.startup_probe],
            security_context: &v.security_context,
        },
    );
    container.lifecycle.clone_from(&v.lifecycle);
    let mut mounts = vec![mount("tmp", "/tmp")];
    let mut volumes = vec![empty_dir("tmp", TMP_SIZE)];
    for vol in &v.volumes {
        mounts.push(mount(&vol.name, &vol.mount_path));
        if vol.claim_template == Some(true) {
            // The StatefulSet controller adds the replica's claim under the volume's name.
            continue;
        }
        match vol.claim_name.as_ref().filter(|c| !c.is_empty()) {
            Some(claim) => volumes.push(Volume {
                name: vol.name.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: None,
                }),
                ..Volume::default()
            }),
            None => volumes.push(empty_dir(&vol.name, &vol.size)),
        }
    }
    container.volume_mounts = Some(mounts);
    // Sidecars first: an init container after them can use them (a database proxy).
    let mut init = Vec::new();
    for (containers, sidecar) in [(&v.sidecars, true), (&v.init_containers, false)] {
        for c in containers {
            init.push(extra_container(c, &v.image, sidecar));
            for vol in &c.volumes {
                volumes.push(empty_dir(&vol.name, &vol.size));
            }
        }
    }
    let spread = v
        .topology_spread_constraints
        .iter()
        .map(|s| TopologySpreadConstraint {
            max_skew: i32::try_from(s.max_skew).unwrap_or(i32::MAX),
            topology_key: s.topology_key.clone(),
            when_unsatisfiable: match s.when_unsatisfiable {
                WhenUnsatisfiable::ScheduleAnyway => "ScheduleAnyway",
                WhenUnsatisfiable::DoNotSchedule => "DoNotSchedule",
            }
            .into(),
            label_selector: Some(s.label_selector.clone()),
            match_label_keys: s.match_label_keys.clone(),
            ..TopologySpreadConstraint::default()
        })
        .collect::<Vec<_>>();
    let spec = PodSpec {
        service_account_name: Some(v.name.clone()),
        automount_service_account_token: Some(false),
        restart_policy: (!v.schedule.is_empty()).then(|| "OnFailure".into()),
        termination_grace_period_seconds: Some(i64::from(v.termination_grace_period_seconds)),
        security_context: Some(v.pod_security_context.clone()),
        topology_spread_constraints: (!spread.is_empty()).then_some(spread),
        init_containers: (!init.is_empty()).then_some(init),
        containers: vec![container],
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(string_map(&v.pod_labels)),
            annotations: (!v.pod_annotations.is_empty()).then(|| string_map(&v.pod_annotations)),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}
