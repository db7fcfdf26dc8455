//! The Kubernetes workload of a service, as chart values plus a renderer.
//!
//! The Helm chart's templates are generic: everything about a service lives in its
//! `values.yaml` ([`values::ChartValues`], built here from the model), and
//! `values-<env>.yaml` overrides what an environment changes. The `kubernetes` target
//! renders the very same values with [`render::render`], which mirrors the chart templates
//! in `stdlib/helm/` object for object; the conformance tests render the chart with the
//! real Helm SDK and compare.

pub mod crd;
pub mod render;
pub mod values;

use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use self::render::render;
use self::values::{
    AppProtocol, Autoscaling, ChartValues, ClaimRetention, ConcurrencyPolicy, ContainerEnvValues,
    ContainerImageValues, ContainerValues, DisruptionBudget, EnvValues, ImageValues, IngressValues,
    MountValues, NetworkPolicyValues, PodMonitorValues, PortValues, PublicService,
    PublicServiceType, PullPolicy, REPLICA_KEYS, ReplicaValues, ResourceList, ResourcesValues,
    Retention, ScratchVolume, SpreadConstraint, StatefulSetValues, StringMap, VolumeValues,
    WhenUnsatisfiable, WorkloadKind,
};
use super::EmitContext;
use crate::diag::{Code, Diagnostic};
use crate::model::names::{headless_service_name, public_service_name};
use crate::model::{
    Container, EnvValue, EnvVar, Environment, Image, Mesh, Port, Probe, ProbeKind, Probes,
    Protocol, Resources, RunAs, ScaleRule, Security, Service,
};

/// How long a stopping pod that receives traffic keeps serving before its process gets
/// SIGTERM: the Pod is removed from its Services' EndpointSlices when it starts terminating,
/// at the same time as the preStop hook runs, and every kube-proxy, mesh proxy and client
/// learns it a moment later; until then they still send it requests. Kubernetes: "the
/// kubelet runs the preStop hook ... At the same time as the kubelet is starting graceful
/// shutdown of the Pod, the control plane evaluates whether to remove that shutting-down Pod
/// from EndpointSlice objects"
/// (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination).
/// A `sleep` action, not `exec sleep`: the images run with a read-only root filesystem and
/// often without a shell or a `sleep` binary (distroless, chiseled), and the action needs
/// nothing in the image (Kubernetes 1.30+, https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-implementations).
pub const PRESTOP_SLEEP_SECONDS: u32 = 5;
/// The pod's termination grace period (Kubernetes' default, written out): the preStop
/// sleep counts within it, then the process has the rest to finish its requests.
pub const TERMINATION_GRACE_SECONDS: u32 = 30;

/// Namespaces the NetworkPolicies open to, by the platform piece that lives there.
pub const DNS_NAMESPACE: &str = "kube-system";
/// Where the playbook installs kube-prometheus-stack, whose Prometheus scrapes the mesh
/// proxies (the `ansible` target's PodMonitors).
pub const MONITORING_NAMESPACE: &str = super::prometheus::RULES_NAMESPACE;

/// What keeps a persistent volume's claim, and its data, when the chart no longer renders
/// it (the service renamed or removed) or its release or application is deleted:
/// - Helm: `helm.sh/resource-policy: keep` skips the object on uninstall, and on an
///   upgrade or rollback that drops it (helm.sh/docs/howto/charts_tips_and_tricks).
/// - Argo CD reads neither of those on prune, only its own sync option: `Prune=false` is
///   honoured on prune (gitops-engine `isPruningDisabled`, read on the live object) and
///   `Delete=false` on the cascading deletion of the application (controller
///   `shouldBeDeleted`); argo-cd docs/user-guide/sync-options.md, "No Prune Resources" and
///   "Resource Deletion" (which names PersistentVolumeClaims). Argo CD also honours
///   `helm.sh/resource-policy: keep` on deletion, but not on prune (argo-cd#17819).
/// - A claim kept after it left the chart would leave its application OutOfSync for good
///   (and every `argocd app wait --sync` waiting): `IgnoreExtraneous` keeps a resource
///   that needs pruning out of the sync status (controller/state.go; docs
///   user-guide/compare-options.md, which sync-options.md recommends with `Prune=false`).
pub const KEEP_ANNOTATIONS: &[(&str, &str)] = &[
    ("argocd.argoproj.io/compare-options", "IgnoreExtraneous"),
    (
        "argocd.argoproj.io/sync-options",
        "Prune=false,Delete=false",
    ),
    ("helm.sh/resource-policy", "keep"),
];

/// Every IPv4 and IPv6 address: where a published port's clients come from.
pub const ANYWHERE: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// The IngressClass of ingress-nginx's chart (`controller.ingressClassResource.name`),
/// which serves `expose` without Istio.
const INGRESS_CLASS: &str = "nginx";

fn ingress_controller_namespace(mesh: Mesh) -> &'static str {
    match mesh {
        Mesh::Istio => "istio-system",
        Mesh::Linkerd | Mesh::None => "ingress-nginx",
    }
}

fn match_labels<const N: usize>(labels: [(&str, &str); N]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        ..LabelSelector::default()
    }
}

fn ns_selector(ns: &str) -> LabelSelector {
    match_labels([("kubernetes.io/metadata.name", ns)])
}

fn pod_selector(service: &str) -> LabelSelector {
    match_labels([("app.kubernetes.io/name", service)])
}

/// An integer of the Kubernetes API (`int32`) from one of the model's.
fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A label value may be at most 63 characters and must start and end alphanumeric.
fn label_value(s: &str) -> String {
    let cut: String = s.chars().take(63).collect();
    cut.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// The recommended `app.kubernetes.io/*` labels, plus ownership.
#[must_use]
pub fn labels(cx: &EmitContext<'_>, service: &Service) -> StringMap {
    let mut l = selector_labels(service);
    if let Some(tag) = &service.image.tag {
        let v = label_value(tag);
        if !v.is_empty() {
            l.insert("app.kubernetes.io/version".into(), v);
        }
    }
    let component = if service.is_worker() {
        "worker"
    } else {
        "server"
    };
    l.insert("app.kubernetes.io/component".into(), component.into());
    l.insert(
        "app.kubernetes.io/part-of".into(),
        cx.model.project.name.clone(),
    );
    l.insert("app.kubernetes.io/managed-by".into(), "nestioc".into());
    if let Some(owner) = &service.owner {
        l.insert("nestio.dev/owner".into(), owner.clone());
    }
    if let Some(tier) = &service.tier {
        l.insert("nestio.dev/tier".into(), tier.value.to_string());
    }
    l
}

#[must_use]
pub fn selector_labels(service: &Service) -> StringMap {
    let mut l = StringMap::new();
    l.insert("app.kubernetes.io/name".into(), service.name.clone());
    l.insert("app.kubernetes.io/instance".into(), service.name.clone());
    l
}

fn probe_handler(service: &Service, probe: &Probe) -> Option<k8s::Probe> {
    if probe.kind == ProbeKind::Exec {
        return Some(k8s::Probe {
            exec: Some(k8s::ExecAction {
                command: Some(probe.command.clone()),
            }),
            ..k8s::Probe::default()
        });
    }
    let port = service.ports.get(probe.port?)?;
    let by_name = IntOrString::String(port.name.clone());
    Some(match probe.kind {
        ProbeKind::Http => k8s::Probe {
            http_get: Some(k8s::HTTPGetAction {
                path: Some(probe.path.clone()),
                port: by_name,
                ..k8s::HTTPGetAction::default()
            }),
            ..k8s::Probe::default()
        },
        // The gRPC probe takes a number, not a port name.
        ProbeKind::Grpc => k8s::Probe {
            grpc: Some(k8s::GRPCAction {
                port: i32::from(port.target),
                ..k8s::GRPCAction::default()
            }),
            ..k8s::Probe::default()
        },
        ProbeKind::Tcp | ProbeKind::Exec => k8s::Probe {
            tcp_socket: Some(k8s::TCPSocketAction {
                port: by_name,
                host: None,
            }),
            ..k8s::Probe::default()
        },
    })
}

/// A probe's values: its handler, then its timings, each as written or the default of its
/// use: readiness every 10 s, liveness every 20 s after 10 s, startup every 10 s up to 30
/// failures (5 minutes to start, Kubernetes' own example:
/// https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#define-startup-probes);
/// 2 s timeouts and 3 failures otherwise.
fn probe_values(service: &Service, probe: Option<&Probe>, use_: &str) -> Option<k8s::Probe> {
    let v = probe_handler(service, probe?)?;
    let (delay, period, failures) = match use_ {
        "liveness" => (Some(10), 20, 3),
        "startup" => (None, 10, 30),
        _ => (None, 10, 3),
    };
    let t = probe?.timing;
    Some(k8s::Probe {
        initial_delay_seconds: t.initial_delay.or(delay).map(int),
        period_seconds: Some(int(t.period.unwrap_or(period))),
        timeout_seconds: Some(int(t.timeout.unwrap_or(2))),
        failure_threshold: Some(int(t.failures.unwrap_or(failures))),
        ..v
    })
}

/// `readinessProbe`, `livenessProbe` and `startupProbe` of a container.
fn probes_values(service: &Service, probes: &Probes) -> [Option<k8s::Probe>; 3] {
    [
        probe_values(service, probes.readiness.as_ref(), "readiness"),
        probe_values(service, probes.liveness.as_ref(), "liveness"),
        probe_values(service, probes.startup.as_ref(), "startup"),
    ]
}

/// The pod's `runAsUser` and `runAsGroup`: the service's own container's, unless a
/// container keeps its image's user (`run-as="image"`), which a pod-level value would
/// override; then each container says its own.
fn pod_ids(service: &Service) -> (Option<u32>, Option<u32>) {
    let containers = || {
        std::iter::once(&service.security).chain(
            service
                .sidecars
                .iter()
                .chain(&service.init_containers)
                .map(|c| &c.security),
        )
    };
    let image_user = containers().any(|s| matches!(s.run_as, RunAs::Image { .. }));
    let image_group = containers().any(|s| matches!(s.run_as, RunAs::Image { group: None }));
    let (user, group) = match service.security.run_as {
        RunAs::Ids { user, group } => (Some(user), Some(group)),
        RunAs::Image { group } => (None, group),
    };
    (user.filter(|_| !image_user), group.filter(|_| !image_group))
}

/// The pod's security context: non-root, the pod's IDs ([`pod_ids`]), the volumes' group,
/// the runtime's default seccomp profile.
fn pod_security_context(service: &Service) -> k8s::PodSecurityContext {
    let (user, group) = pod_ids(service);
    k8s::PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: user.map(i64::from),
        run_as_group: group.map(i64::from),
        fs_group: Some(i64::from(service.security.fs_group)),
        seccomp_profile: Some(k8s::SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..k8s::SeccompProfile::default()
        }),
        ..k8s::PodSecurityContext::default()
    }
}

/// A container's security context: the defaults, relaxed where its `security` says; its
/// own IDs where they differ from the pod's.
fn security_context(service: &Service, security: &Security) -> k8s::SecurityContext {
    let (pod_user, pod_group) = pod_ids(service);
    let (user, group) = match security.run_as {
        RunAs::Ids { user, group } => (Some(user), Some(group)),
        RunAs::Image { group } => (None, group),
    };
    k8s::SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(security.read_only_root),
        privileged: Some(false),
        run_as_non_root: Some(true),
        run_as_user: user.filter(|u| Some(*u) != pod_user).map(i64::from),
        run_as_group: group.filter(|g| Some(*g) != pod_group).map(i64::from),
        capabilities: Some(k8s::Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: (!security.add_capabilities.is_empty()).then(|| security.add_capabilities.clone()),
        }),
        ..k8s::SecurityContext::default()
    }
}

fn image_values(image: &Image) -> ImageValues {
    ImageValues {
        repository: image.repository.clone(),
        tag: image.tag.clone().unwrap_or_default(),
        digest: image.digest.clone().unwrap_or_default(),
        // Empty: derived from the reference by the chart (`nestio.pullPolicy`).
        pull_policy: PullPolicy::Derived,
    }
}

fn resources_values(r: &Resources) -> ResourcesValues {
    ResourcesValues {
        requests: ResourceList {
            cpu: r.cpu.text.clone(),
            memory: r.memory.text.clone(),
        },
        limits: ResourceList {
            cpu: r.cpu_limit.text.clone(),
            memory: r.memory_limit.text.clone(),
        },
    }
}

fn port_values<'a>(ports: impl Iterator<Item = &'a Port>) -> Vec<PortValues> {
    ports
        .map(|p| PortValues {
            name: p.name.clone(),
            port: p.port,
            target_port: p.target,
            app_protocol: match p.protocol {
                Protocol::Http => AppProtocol::Http,
                Protocol::Grpc => AppProtocol::Grpc,
                Protocol::Tcp => AppProtocol::Tcp,
            },
        })
        .collect()
}

/// A sidecar's or init container's values: everything its container needs, in one shape
/// for both (an init container's ports and probes are empty).
fn container_values(service: &Service, c: &Container, sidecar: bool) -> ContainerValues {
    let tmp = format!("tmp-{}", c.name);
    let mut mounts = vec![MountValues {
        name: tmp.clone(),
        mount_path: "/tmp".into(),
    }];
    let mut volumes = vec![ScratchVolume {
        name: tmp,
        size: TMP_SIZE.into(),
    }];
    for m in &c.mounts {
        mounts.push(MountValues {
            name: m.name.clone(),
            mount_path: m.path.clone(),
        });
        if let Some(size) = &m.size {
            volumes.push(ScratchVolume {
                name: m.name.clone(),
                size: size.text.clone(),
            });
        }
    }
    let [readiness, liveness, startup] = probes_values(service, &c.probes);
    ContainerValues {
        name: c.name.clone(),
        image: (!c.service_image).then(|| ContainerImageValues {
            repository: c.image.repository.clone(),
            tag: c.image.tag.clone().unwrap_or_default(),
            digest: c.image.digest.clone().unwrap_or_default(),
            pull_policy: PullPolicy::Derived,
        }),
        service_image: c.service_image,
        command: c.command.clone(),
        args: c.args.clone(),
        ports: if sidecar {
            port_values(service.sidecar_ports(&c.name))
        } else {
            Vec::new()
        },
        env: own_env(&c.env)
            .into_iter()
            .map(|e| ContainerEnvValues {
                name: e.name,
                value: e.value,
                value_from: e.value_from,
            })
            .collect(),
        resources: resources_values(&c.resources),
        readiness_probe: readiness,
        liveness_probe: liveness,
        startup_probe: startup,
        security_context: security_context(service, &c.security),
        volume_mounts: mounts,
        volumes,
    }
}

/// The size of every container's `/tmp` emptyDir.
pub const TMP_SIZE: &str = "64Mi";

/// `env` and `env-secret` of a container.
fn own_env(env: &[EnvVar]) -> Vec<EnvValues> {
    env.iter()
        .filter_map(|e| match &e.value {
            EnvValue::Literal(v) => Some(EnvValues {
                name: e.name.clone(),
                value: Some(v.clone()),
                value_from: None,
            }),
            EnvValue::Secret { secret, key } => Some(EnvValues {
                name: e.name.clone(),
                value: None,
                value_from: Some(k8s::EnvVarSource {
                    secret_key_ref: Some(k8s::SecretKeySelector {
                        name: secret.clone(),
                        key: key.clone(),
                        optional: None,
                    }),
                    ..k8s::EnvVarSource::default()
                }),
            }),
            EnvValue::Dependency => None,
        })
        .collect()
}

fn env_list(cx: &EmitContext<'_>, service: &Service) -> Vec<EnvValues> {
    let mut out = own_env(&service.env);
    for (name, value) in cx.topology.dependency_env(service) {
        out.push(EnvValues {
            name,
            value: Some(value),
            value_from: None,
        });
    }
    out
}

fn net_port(protocol: &str, port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_owned()),
        port: Some(IntOrString::Int(i32::from(port))),
        end_port: None,
    }
}

fn tcp_ports(mut ports: Vec<u16>) -> Vec<NetworkPolicyPort> {
    ports.sort_unstable();
    ports.dedup();
    ports.into_iter().map(|p| net_port("TCP", p)).collect()
}

/// A peer by its pods (in the policy's namespace), its namespace, or its addresses.
fn peer(
    pods: Option<LabelSelector>,
    namespace: Option<LabelSelector>,
    cidr: Option<&str>,
) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: pods,
        namespace_selector: namespace,
        ip_block: cidr.map(|c| IPBlock {
            cidr: c.to_owned(),
            except: None,
        }),
    }
}

fn ingress_rule(
    from: Vec<NetworkPolicyPeer>,
    ports: Vec<NetworkPolicyPort>,
) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(from),
        ports: Some(ports),
    }
}

fn egress_rule(
    to: Vec<NetworkPolicyPeer>,
    ports: Vec<NetworkPolicyPort>,
) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(to),
        ports: Some(ports),
    }
}

/// Ingress: exactly the declared callers, on the ports they call; the ingress controller
/// when exposed; the monitoring namespace on the mesh proxy's metrics port.
/// Egress: DNS, the declared dependencies on their ports, externals on theirs, and the
/// mesh control plane.
///
/// Under Linkerd a meshed client's proxy sends every connection to the server proxy's
/// inbound port, 4143, with the original port in a transport header (the default since
/// Linkerd 2.18, `proxy.outboundTransportMode: transport-header`), and a NetworkPolicy
/// sees that port: "any NetworkPolicy which blocks the Linkerd inbound port (4143) will
/// block all meshed traffic" (linkerd.io/2/common-errors/network-policy). So every
/// caller (and the meshed ingress controller) is admitted on 4143 as well as on the
/// application ports, which an unmeshed client or the transparent mode still use; 4143
/// reaches the proxy only, whose AuthorizationPolicies then decide per port.
fn network_policy(cx: &EmitContext<'_>, service: &Service) -> NetworkPolicyValues {
    let mesh = cx.model.project.mesh;
    let wire_ports = |mut ports: Vec<u16>| {
        if mesh == Mesh::Linkerd {
            ports.push(super::mesh::LINKERD_INBOUND_PORT);
        }
        tcp_ports(ports)
    };
    let mut ingress: Vec<NetworkPolicyIngressRule> = Vec::new();
    let mut by_caller: std::collections::BTreeMap<&str, Vec<u16>> =
        std::collections::BTreeMap::new();
    for edge in cx.topology.callers(&service.name) {
        if let Some(p) = service.ports.get(edge.port) {
            by_caller
                .entry(edge.caller.as_str())
                .or_default()
                .push(p.target);
        }
    }
    for (caller, ports) in by_caller {
        ingress.push(ingress_rule(
            vec![peer(Some(pod_selector(caller)), None, None)],
            wire_ports(ports),
        ));
    }
    if let Some(p) = service.expose_port() {
        ingress.push(ingress_rule(
            vec![peer(
                None,
                Some(ns_selector(ingress_controller_namespace(mesh))),
                None,
            )],
            wire_ports(vec![p.target]),
        ));
    }
    // A published port (NodePort, LoadBalancer) takes connections from anywhere: a client
    // outside the cluster, through a node that kube-proxy may SNAT to its own address
    // (externalTrafficPolicy Cluster). Whether a CNI sees the client's or the node's
    // address "is not defined" (https://kubernetes.io/docs/concepts/services-networking/network-policies/#behavior-of-to-and-from-selectors),
    // so every address is admitted, on the published container port only. The client is
    // not meshed: it reaches the application port, never Linkerd's 4143.
    if let (Some(_), Some(p)) = (&service.publish, service.publish_port()) {
        ingress.push(ingress_rule(
            ANYWHERE
                .iter()
                .map(|cidr| peer(None, None, Some(cidr)))
                .collect(),
            tcp_ports(vec![p.target]),
        ));
    }
    // Without a mesh, Prometheus scrapes the service's own metrics port.
    let own_metrics: Vec<u16> = service
        .metrics_port()
        .map(|p| p.target)
        .into_iter()
        .collect();
    let metrics_ports: Vec<u16> = match mesh {
        Mesh::Istio => vec![15020, 15090],
        Mesh::Linkerd => vec![super::mesh::LINKERD_ADMIN_PORT],
        Mesh::None => own_metrics,
    };
    if !metrics_ports.is_empty() {
        ingress.push(ingress_rule(
            vec![peer(None, Some(ns_selector(MONITORING_NAMESPACE)), None)],
            tcp_ports(metrics_ports),
        ));
    }

    let mut egress: Vec<NetworkPolicyEgressRule> = vec![egress_rule(
        vec![peer(
            Some(match_labels([("k8s-app", "kube-dns")])),
            Some(ns_selector(DNS_NAMESPACE)),
            None,
        )],
        vec![net_port("UDP", 53), net_port("TCP", 53)],
    )];
    let mut by_callee: std::collections::BTreeMap<&str, Vec<u16>> =
        std::collections::BTreeMap::new();
    for edge in cx.topology.calls(&service.name) {
        let Some(callee) = cx.model.services.get(&edge.callee) else {
            continue;
        };
        if let Some(p) = callee.ports.get(edge.port) {
            by_callee
                .entry(edge.callee.as_str())
                .or_default()
                .push(p.target);
        }
    }
    for (callee, ports) in by_callee {
        egress.push(egress_rule(
            vec![peer(Some(pod_selector(callee)), None, None)],
            wire_ports(ports),
        ));
    }
    let external_ports: Vec<u16> = service.externals.iter().map(|e| e.port).collect();
    if !external_ports.is_empty() {
        // Both address families, as for published ports: an external provider reached
        // over IPv6 in a dual-stack cluster would otherwise be refused.
        egress.push(egress_rule(
            ANYWHERE.iter().map(|c| peer(None, None, Some(c))).collect(),
            tcp_ports(external_ports),
        ));
    }
    match mesh {
        Mesh::Istio => egress.push(egress_rule(
            vec![peer(None, Some(ns_selector("istio-system")), None)],
            tcp_ports(vec![15012]),
        )),
        Mesh::Linkerd => egress.push(egress_rule(
            vec![peer(None, Some(ns_selector("linkerd")), None)],
            tcp_ports(vec![8080, 8086, 8090]),
        )),
        Mesh::None => {}
    }
    NetworkPolicyValues {
        enabled: true,
        ingress,
        egress,
    }
}

/// Without a mesh, a PodMonitor (Prometheus Operator) scrapes the service's pods, so the
/// SLIs' `job="<service>"` has data: `jobLabel` takes the job from the pods'
/// `app.kubernetes.io/name` (monitoring.coreos.com/v1 PodMonitorSpec), and
/// `podTargetLabels` copies Argo Rollouts' pod-template hash for canary analyses. The
/// platform playbook's Prometheus selects every PodMonitor.
fn pod_monitor(cx: &EmitContext<'_>, service: &Service) -> PodMonitorValues {
    let port = service
        .metrics_port()
        .filter(|_| cx.model.project.mesh == Mesh::None && service.schedule.is_none());
    PodMonitorValues {
        enabled: port.is_some(),
        port: port.map(|p| p.name.clone()).unwrap_or_default(),
        path: "/metrics".into(),
    }
}

/// Replica settings after an environment's `replicas-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    pub replicas: u32,
    pub max: Option<u32>,
}

fn scale(n: u32, factor: Decimal) -> u32 {
    if n == 0 {
        return 0;
    }
    (Decimal::from(n) * factor)
        .ceil()
        .to_u32()
        .unwrap_or(n)
        .max(1)
}

/// The replica settings of `service` in `env` (as declared without one): an environment's
/// `replicas-scale` applies unless [`Service::scale_rule`] says otherwise.
#[must_use]
pub fn scaled(service: &Service, env: Option<&Environment>) -> Scaled {
    let factor = match (env, service.scale_rule()) {
        (Some(e), ScaleRule::Scaled) => e.replicas_scale,
        _ => Decimal::ONE,
    };
    let replicas = scale(service.replicas.min, factor);
    let max = service
        .replicas
        .max
        .map(|m| scale(m, factor))
        // A service scaled to zero is switched off: no autoscaler brings it back.
        .filter(|m| *m > replicas && replicas > 0);
    Scaled { replicas, max }
}

/// Spread over zones, then nodes, once there is more than one replica (or an autoscaler
/// that can add one): one zone or node going down must not take every replica with it.
/// `ScheduleAnyway`: a preference, so a cluster with one zone still schedules
/// (https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/).
/// `matchLabelKeys` counts each revision on its own, so a rolling update does not skew the
/// new pods by the old ones' placement (the documented use of `pod-template-hash`); Argo
/// Rollouts labels its pods `rollouts-pod-template-hash` instead. A StatefulSet replaces
/// each pod in place (the old one goes before its successor, with the same name, comes),
/// so every revision is counted together: none is given.
fn topology_spread(service: &Service, s: Scaled, workload: Workload) -> Vec<SpreadConstraint> {
    let spread = service.schedule.is_none() && (s.replicas > 1 || s.max.is_some_and(|m| m > 1));
    if !spread {
        return Vec::new();
    }
    let hash = match workload {
        Workload::Rollout => Some("rollouts-pod-template-hash"),
        Workload::Deployment => Some("pod-template-hash"),
        Workload::StatefulSet | Workload::CronJob => None,
    };
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        .into_iter()
        .map(|key| SpreadConstraint {
            max_skew: 1,
            topology_key: key.into(),
            when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
            label_selector: LabelSelector {
                match_labels: Some(
                    selector_labels(service)
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                ..LabelSelector::default()
            },
            match_label_keys: hash.map(|h| vec![h.to_owned()]),
        })
        .collect()
}

/// The kind of a service's workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Deployment,
    /// Argo Rollouts' `Rollout` (canary, blue-green).
    Rollout,
    /// A stateful service: each replica with claims of its own.
    StatefulSet,
    CronJob,
}

impl Workload {
    #[must_use]
    pub fn of(cx: &EmitContext<'_>, service: &Service) -> Workload {
        if service.schedule.is_some() {
            Workload::CronJob
        } else if service.is_stateful() {
            // Lowering refuses a canary or blue-green rollout on a stateful service.
            Workload::StatefulSet
        } else if super::rollout::uses_rollout(cx, service) {
            Workload::Rollout
        } else {
            Workload::Deployment
        }
    }

    /// The chart's `workload` value (a CronJob's is `Deployment`: `schedule` decides).
    fn value(self) -> WorkloadKind {
        match self {
            Workload::Rollout => WorkloadKind::Rollout,
            Workload::StatefulSet => WorkloadKind::StatefulSet,
            Workload::Deployment | Workload::CronJob => WorkloadKind::Deployment,
        }
    }
}

fn replica_values(service: &Service, s: Scaled, workload: Workload) -> ReplicaValues {
    // A CronJob has no replicas to autoscale or protect from disruption.
    let scheduled = service.schedule.is_some();
    ReplicaValues {
        replica_count: s.replicas,
        autoscaling: Autoscaling {
            enabled: s.max.is_some() && !scheduled,
            min_replicas: s.replicas.max(1),
            max_replicas: s.max.unwrap_or(s.replicas.max(1)),
            target_cpu_utilization_percentage: service.replicas.cpu_target,
        },
        pod_disruption_budget: DisruptionBudget {
            enabled: s.replicas >= 2 && !scheduled,
            max_unavailable: 1,
        },
        topology_spread_constraints: topology_spread(service, s, workload),
    }
}

/// Whether a stopping pod of the service should drain: it receives requests through a
/// Service, and other replicas take them over meanwhile. A StatefulSet of one replica
/// replaces its pod in place, the old one gone before the new one starts: no other replica
/// takes its requests while it stops, and the sleep, and a mesh proxy waiting longer,
/// would only lengthen the outage. (The declared count decides: an environment that scales
/// a stateful service, `scale=#true`, keeps its drain setting.)
fn drains(service: &Service) -> bool {
    !service.is_worker()
        && service.schedule.is_none()
        && (!service.is_stateful() || service.replicas.min > 1 || service.replicas.max.is_some())
}

/// What a StatefulSet keeps when it is deleted or scaled down: the claims of its
/// `volumeClaimTemplates`, unless the volumes say `keep=#false`
/// (`persistentVolumeClaimRetentionPolicy`, GA in Kubernetes 1.32). The claims are the
/// StatefulSet controller's, not the chart's: Helm and Argo CD never delete them, and
/// with `Retain` the controller gives them no owner reference, so the garbage collector
/// leaves them when the StatefulSet goes (pkg/controller/statefulset/stateful_set_utils.go
/// `claimOwnerMatchesSetAndPod`). `Delete` makes the StatefulSet their owner: they go with
/// it. A scaled-down replica's claims are always retained, so that scaling back up finds
/// its data.
fn claim_retention(service: &Service) -> ClaimRetention {
    let keep = service
        .volumes
        .iter()
        .filter(|v| v.persistent)
        .all(|v| v.keep);
    ClaimRetention {
        when_deleted: if keep {
            Retention::Retain
        } else {
            Retention::Delete
        },
        when_scaled: Retention::Retain,
    }
}

/// `publicService`: the port `expose node-port=`/`load-balancer=` publishes.
fn public_service(service: &Service) -> PublicService {
    match (&service.publish, service.publish_port()) {
        (Some(p), Some(port)) => PublicService {
            enabled: true,
            name: public_service_name(service),
            type_: if p.load_balancer {
                PublicServiceType::LoadBalancer
            } else {
                PublicServiceType::NodePort
            },
            port_name: port.name.clone(),
            node_port: p.node_port.as_ref().map_or(0, |n| n.value),
        },
        _ => PublicService {
            enabled: false,
            name: String::new(),
            type_: PublicServiceType::NodePort,
            port_name: String::new(),
            node_port: 0,
        },
    }
}

/// The chart's `values.yaml`: everything about the service, before any environment.
#[must_use]
pub fn base_values(cx: &EmitContext<'_>, service: &Service) -> ChartValues {
    let mut annotations = StringMap::new();
    annotations.insert("nestio.dev/source".into(), cx.location(service.name_span));
    let mesh = cx.model.project.mesh;
    // The pod template does not carry `nestio.dev/source`: its line number changes when a
    // comment is added above the service, and any change to the pod template starts a new
    // revision (a rollout, or a canary with its analysis) of an unchanged service.
    let mut pod_annotations = StringMap::new();
    let mut pod_labels = labels(cx, service);
    match mesh {
        Mesh::Istio => {
            pod_labels.insert("sidecar.istio.io/inject".into(), "true".into());
        }
        Mesh::Linkerd => {
            pod_annotations.insert("linkerd.io/inject".into(), "enabled".into());
            // Nothing reaches the pod unless a Server and an AuthorizationPolicy allow it.
            pod_annotations.insert(
                "config.linkerd.io/default-inbound-policy".into(),
                "deny".into(),
            );
            // The proxy gets SIGTERM with the app and "immediately begin[s] a graceful
            // shutdown where it refuses all new requests": the preStop drain would be
            // pointless. Linkerd's remedy: delay the proxy's handling of TERM, longer than
            // the app's own preStop sleep and within the grace period
            // (https://linkerd.io/2/tasks/graceful-shutdown/). The proxy then stays until
            // the app has had its share of the grace period, and drains in the rest.
            // (Istio 1.27+ injects its proxy as a Kubernetes sidecar container when every
            // kubelet is 1.33+: `detectNativeSidecar` in istio/istio
            // pkg/kube/inject/webhook.go, ENABLE_NATIVE_SIDECARS=auto; Kubernetes stops
            // sidecar containers after the app's.)
            // A Job's pod (a CronJob's run) must also have it: a proxy injected as a
            // plain container keeps running after the job's container exits, so the pod
            // never completes, and with `concurrencyPolicy: Forbid` every later run is
            // skipped. As a Kubernetes sidecar the kubelet stops it when the job's
            // container ends ("Meshed Jobs (and CronJobs) are not able to terminate
            // without modification", https://linkerd.io/2/features/native-sidecars/).
            if !service.sidecars.is_empty()
                || !service.init_containers.is_empty()
                || service.schedule.is_some()
            {
                // Injected as a plain container, the proxy starts after every init
                // container: a migration's calls would meet the iptables redirect of
                // linkerd-init with no proxy behind it, and a sidecar's until the app
                // starts. As a Kubernetes sidecar container the proxy starts before them
                // and stops after the app, so it drains without a delay, which Linkerd
                // says not to combine with native sidecars
                // (https://linkerd.io/2/features/native-sidecars/,
                // https://linkerd.io/2/reference/proxy-configuration/: "If enabled,
                // .proxy.waitBeforeExitSeconds should not be used").
                pod_annotations.insert(
                    "config.beta.linkerd.io/proxy-enable-native-sidecar".into(),
                    "true".into(),
                );
            } else if drains(service) {
                pod_annotations.insert(
                    "config.alpha.linkerd.io/proxy-wait-before-exit-seconds".into(),
                    (TERMINATION_GRACE_SECONDS - PRESTOP_SLEEP_SECONDS).to_string(),
                );
            }
        }
        Mesh::None => {}
    }
    // The topology's own keys come after nestioc's, which they may not name (NST0132).
    for (k, val) in &service.pod_labels {
        pod_labels.insert(k.clone(), val.clone());
    }
    for (k, val) in &service.pod_annotations {
        pod_annotations.insert(k.clone(), val.clone());
    }
    let mut service_annotations = super::mesh::service_annotations(cx, service);
    for (k, val) in &service.service_annotations {
        service_annotations.insert(k.clone(), val.clone());
    }
    let [readiness, liveness, startup] = probes_values(service, &service.probes);
    let workload = Workload::of(cx, service);
    let replicas = replica_values(service, scaled(service, None), workload);
    let volumes = service
        .volumes
        .iter()
        .map(|vol| {
            let persistent = vol.persistent;
            let stateful = workload == Workload::StatefulSet;
            VolumeValues {
                name: vol.name.clone(),
                mount_path: vol.path.clone(),
                size: vol.size.text.clone(),
                // Each replica's own claim, `<volume>-<service>-<ordinal>`.
                claim_template: (persistent && stateful).then_some(true),
                // A CronJob's runs share one claim.
                claim_name: (persistent && !stateful)
                    .then(|| format!("{}-{}", service.name, vol.name)),
                keep: (persistent && !stateful).then_some(vol.keep),
            }
        })
        .collect();
    ChartValues {
        global: None,
        enabled: None,
        name: service.name.clone(),
        image: image_values(&service.image),
        replica_count: replicas.replica_count,
        autoscaling: replicas.autoscaling,
        pod_disruption_budget: replicas.pod_disruption_budget,
        topology_spread_constraints: replicas.topology_spread_constraints,
        labels: labels(cx, service),
        pod_labels,
        selector_labels: selector_labels(service),
        annotations,
        pod_annotations,
        service_annotations,
        // Argo Rollouts shifts traffic to `-canary`, or previews on `-preview`.
        extra_services: super::rollout::extra_services(cx, service),
        workload: workload.value(),
        stateful_set: StatefulSetValues {
            service_name: if workload == Workload::StatefulSet {
                headless_service_name(service)
            } else {
                String::new()
            },
            claim_retention: claim_retention(service),
        },
        public_service: public_service(service),
        rollout_strategy: super::rollout::strategy(cx, service),
        analysis: super::rollout::analysis(cx, service).unwrap_or_default(),
        // The service's own container's: a sidecar's are in `sidecars`.
        ports: port_values(service.own_ports()),
        args: service.args.clone(),
        env: env_list(cx, service),
        resources: resources_values(&service.resources),
        readiness_probe: readiness,
        liveness_probe: liveness,
        pod_security_context: pod_security_context(service),
        security_context: security_context(service, &service.security),
        lifecycle: drains(service).then(|| k8s::Lifecycle {
            pre_stop: Some(k8s::LifecycleHandler {
                sleep: Some(k8s::SleepAction {
                    seconds: i64::from(PRESTOP_SLEEP_SECONDS),
                }),
                ..k8s::LifecycleHandler::default()
            }),
            ..k8s::Lifecycle::default()
        }),
        termination_grace_period_seconds: TERMINATION_GRACE_SECONDS,
        volumes,
        schedule: service
            .schedule
            .as_ref()
            .map_or_else(String::new, |s| s.cron.clone()),
        concurrency_policy: match service.schedule.as_ref().map(|s| s.concurrency) {
            Some("Replace") => ConcurrencyPolicy::Replace,
            Some("Allow") => ConcurrencyPolicy::Allow,
            _ => ConcurrencyPolicy::Forbid,
        },
        network_policy: network_policy(cx, service),
        pod_monitor: pod_monitor(cx, service),
        mesh: super::mesh::values(cx, service),
        // With Istio, exposure goes through its ingress gateway (Gateway + VirtualService).
        ingress: match (&service.expose, service.expose_port()) {
            (Some(e), Some(p)) if mesh != Mesh::Istio => IngressValues {
                enabled: true,
                // Under Linkerd, ingress-nginx must send to the Service, not to the pods
                // it picks itself: only then does its (meshed) proxy route the request,
                // so the Service's HTTPRoute (a canary's traffic split) and Linkerd's
                // load balancing apply (linkerd.io/2/tasks/using-ingress/, "Nginx").
                annotations: if mesh == Mesh::Linkerd {
                    StringMap::from([(
                        "nginx.ingress.kubernetes.io/service-upstream".to_owned(),
                        "true".to_owned(),
                    )])
                } else {
                    StringMap::new()
                },
                // The class the rest of the output assumes (the annotation above, the
                // NetworkPolicy admitting the `ingress-nginx` namespace). ingress-nginx
                // ignores an Ingress without a class unless its IngressClass is the
                // cluster's default or `--watch-ingress-without-class` is set, and its
                // chart sets neither (`controller.ingressClassResource.default: false`,
                // `controller.watchIngressWithoutClass: false`): the host would answer 404.
                class_name: INGRESS_CLASS.into(),
                host: e.host.clone(),
                path: e.path.clone(),
                port_name: p.name.clone(),
                tls_secret: e.tls_secret.clone().unwrap_or_default(),
            },
            _ => IngressValues {
                enabled: false,
                annotations: StringMap::new(),
                class_name: String::new(),
                host: String::new(),
                path: "/".into(),
                port_name: String::new(),
                tls_secret: String::new(),
            },
        },
        command: service.command.clone(),
        startup_probe: startup,
        sidecars: service
            .sidecars
            .iter()
            .map(|c| container_values(service, c, true))
            .collect(),
        init_containers: service
            .init_containers
            .iter()
            .map(|c| container_values(service, c, false))
            .collect(),
    }
}

/// `values.yaml` as JSON: what `values-<env>.yaml` is computed against.
fn base_json(cx: &EmitContext<'_>, service: &Service) -> Value {
    to_json(&base_values(cx, service))
}

/// Chart values as a JSON tree. The types serialise to JSON with string keys only, which
/// cannot fail; `Null` is never produced in practice.
fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `values-<env>.yaml`: what the environment changes: the replica counts (always
/// written, scaled by `replicas-scale`) and every value its overrides change.
#[must_use]
pub fn env_values(cx: &EmitContext<'_>, service: &Service, env: &Environment) -> Value {
    let mut in_env = cx.model.service_in(&env.name, service);
    // The environment's own host (`Model::expose_in`): a different host is an override.
    let rehosted;
    if let (Some(here), Some(e)) = (cx.model.expose_in(env, service), &in_env.expose)
        && here.host != e.host
    {
        rehosted = Service {
            expose: Some(here),
            ..in_env.clone()
        };
        in_env = &rehosted;
    }
    // The environment's own node port (`Model::publish_in`): none outside production.
    let republished;
    if let (Some(here), Some(p)) = (cx.model.publish_in(env, service), &in_env.publish)
        && here.node_port != p.node_port
    {
        republished = Service {
            publish: Some(here),
            ..in_env.clone()
        };
        in_env = &republished;
    }
    let workload = Workload::of(cx, in_env);
    let mut v = to_json(&replica_values(in_env, scaled(in_env, Some(env)), workload));
    if !std::ptr::eq(in_env, service)
        && let Some(mut d) = diff(&base_json(cx, in_env), &base_json(cx, service))
    {
        // Replica settings are already in `v`, scaled.
        if let Some(m) = d.as_object_mut() {
            for k in REPLICA_KEYS {
                m.shift_remove(k);
            }
        }
        merge(&mut v, &d);
    }
    v
}

/// A service's chart values: `values.yaml`, and each environment's `values-<env>.yaml`
/// (by environment name, in the order of [`EmitContext::environments`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceValues {
    pub base: ChartValues,
    pub environments: indexmap::IndexMap<String, Value>,
}

/// The values files of a service's chart, ready to be written wherever the chart lives.
#[must_use]
pub fn service_values(cx: &EmitContext<'_>, service: &Service) -> ServiceValues {
    ServiceValues {
        base: base_values(cx, service),
        environments: cx
            .environments()
            .iter()
            .map(|env| (env.name.clone(), env_values(cx, service, env)))
            .collect(),
    }
}

impl ServiceValues {
    /// What Helm renders the chart with in environment `env`: `values.yaml` with
    /// `values-<env>.yaml` merged over it (Helm's merge: maps key by key, anything else
    /// replaced), read back as [`ChartValues`]. The merge is done on the JSON trees, as
    /// Helm does it, so that a key the environment leaves out keeps its base value exactly
    /// as it does under Helm.
    ///
    /// # Errors
    /// When the merged values are not chart values: the two files do not fit the chart's
    /// schema, which Helm would refuse too.
    pub fn in_env(&self, service: &Service, env: &str) -> Result<ChartValues, Diagnostic> {
        let Some(over) = self.environments.get(env) else {
            return Ok(self.base.clone());
        };
        // Most environments change the replica settings only, which the override holds
        // whole: they replace the base's, field by field, as the merge would.
        if let Ok(r) = ReplicaValues::deserialize(over) {
            let mut v = self.base.clone();
            v.replica_count = r.replica_count;
            v.autoscaling = r.autoscaling;
            v.pod_disruption_budget = r.pod_disruption_budget;
            v.topology_spread_constraints = r.topology_spread_constraints;
            return Ok(v);
        }
        let mut merged = to_json(&self.base);
        merge(&mut merged, over);
        serde_json::from_value(merged).map_err(|e| {
            Diagnostic::error(
                Code::UnsafeOutput,
                format!(
                    "the chart values of `{}` in `{env}` do not fit the chart: {e}",
                    service.name
                ),
            )
            .with_label(
                service.name_span,
                "in the values generated for this service",
            )
        })
    }
}

/// What must be merged into `old` (Helm-style) to get `new`: changed keys of maps,
/// recursively; anything else whole. `None` when they are equal.
fn diff(new: &Value, old: &Value) -> Option<Value> {
    match (new, old) {
        (Value::Object(n), Value::Object(o)) => {
            let mut m = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = diff(nv, ov) {
                            m.insert(k.clone(), d);
                        }
                    }
                    None => {
                        m.insert(k.clone(), nv.clone());
                    }
                }
            }
            (!m.is_empty()).then_some(Value::Object(m))
        }
        _ => (new != old).then(|| new.clone()),
    }
}

/// Helm's value merge: maps merge key by key, everything else is replaced.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}
