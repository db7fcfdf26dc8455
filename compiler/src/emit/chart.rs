//! The Kubernetes workload of a service, as chart values plus a renderer.
//!
//! The Helm chart's templates are generic: everything about a service lives in its
//! `values.yaml`, and `values-<env>.yaml` overrides what an environment changes. The
//! `kubernetes` target renders the very same values with [`render`], which mirrors the
//! chart templates in `stdlib/helm/` object for object; the conformance tests render the
//! chart with the real Helm SDK and compare.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use super::EmitContext;
use crate::model::names::{headless_service_name, public_service_name};
use crate::model::{
    Container, EnvValue, EnvVar, Environment, Image, Mesh, Port, Probe, ProbeKind, Probes,
    Resources, RunAs, ScaleRule, Security, Service,
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

fn ingress_controller_namespace(mesh: Mesh) -> &'static str {
    match mesh {
        Mesh::Istio => "istio-system",
        Mesh::Linkerd | Mesh::None => "ingress-nginx",
    }
}

fn ns_selector(ns: &str) -> Value {
    json!({"matchLabels": {"kubernetes.io/metadata.name": ns}})
}

fn pod_selector(service: &str) -> Value {
    json!({"matchLabels": {"app.kubernetes.io/name": service}})
}

/// A label value may be at most 63 characters and must start and end alphanumeric.
fn label_value(s: &str) -> String {
    let cut: String = s.chars().take(63).collect();
    cut.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// The recommended `app.kubernetes.io/*` labels, plus ownership.
#[must_use]
pub fn labels(cx: &EmitContext<'_>, service: &Service) -> Map<String, Value> {
    let mut l = selector_labels(service);
    if let Some(tag) = &service.image.tag {
        let v = label_value(tag);
        if !v.is_empty() {
            l.insert("app.kubernetes.io/version".into(), json!(v));
        }
    }
    l.insert(
        "app.kubernetes.io/component".into(),
        json!(if service.is_worker() {
            "worker"
        } else {
            "server"
        }),
    );
    l.insert(
        "app.kubernetes.io/part-of".into(),
        json!(cx.model.project.name),
    );
    l.insert("app.kubernetes.io/managed-by".into(), json!("nestioc"));
    if let Some(owner) = &service.owner {
        l.insert("nestio.dev/owner".into(), json!(owner));
    }
    if let Some(tier) = &service.tier {
        l.insert("nestio.dev/tier".into(), json!(tier.value.to_string()));
    }
    l
}

#[must_use]
pub fn selector_labels(service: &Service) -> Map<String, Value> {
    let mut l = Map::new();
    l.insert("app.kubernetes.io/name".into(), json!(service.name));
    l.insert("app.kubernetes.io/instance".into(), json!(service.name));
    l
}

fn probe_handler(service: &Service, probe: &Probe) -> Option<Value> {
    if probe.kind == ProbeKind::Exec {
        return Some(json!({"exec": {"command": probe.command}}));
    }
    let port = service.ports.get(probe.port?)?;
    Some(match probe.kind {
        ProbeKind::Http => json!({"httpGet": {"path": probe.path, "port": port.name}}),
        // The gRPC probe takes a number, not a port name.
        ProbeKind::Grpc => json!({"grpc": {"port": port.target}}),
        ProbeKind::Tcp | ProbeKind::Exec => json!({"tcpSocket": {"port": port.name}}),
    })
}

/// A probe's values: its handler, then its timings, each as written or the default of its
/// use: readiness every 10 s, liveness every 20 s after 10 s, startup every 10 s up to 30
/// failures (5 minutes to start, Kubernetes' own example:
/// https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#define-startup-probes);
/// 2 s timeouts and 3 failures otherwise.
fn probe_values(service: &Service, probe: Option<&Probe>, use_: &str) -> Value {
    let Some(probe) = probe else {
        return Value::Null;
    };
    let Some(mut v) = probe_handler(service, probe) else {
        return Value::Null;
    };
    let (delay, period, failures) = match use_ {
        "liveness" => (Some(10), 20, 3),
        "startup" => (None, 10, 30),
        _ => (None, 10, 3),
    };
    let t = probe.timing;
    if let Some(d) = t.initial_delay.or(delay) {
        v["initialDelaySeconds"] = json!(d);
    }
    v["periodSeconds"] = json!(t.period.unwrap_or(period));
    v["timeoutSeconds"] = json!(t.timeout.unwrap_or(2));
    v["failureThreshold"] = json!(t.failures.unwrap_or(failures));
    v
}

/// `readinessProbe`, `livenessProbe` and `startupProbe` of a container.
fn probes_values(service: &Service, probes: &Probes) -> [(&'static str, Value); 3] {
    [
        (
            "readinessProbe",
            probe_values(service, probes.readiness.as_ref(), "readiness"),
        ),
        (
            "livenessProbe",
            probe_values(service, probes.liveness.as_ref(), "liveness"),
        ),
        (
            "startupProbe",
            probe_values(service, probes.startup.as_ref(), "startup"),
        ),
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
fn pod_security_context(service: &Service) -> Value {
    let (user, group) = pod_ids(service);
    let mut m = Map::new();
    m.insert("runAsNonRoot".into(), json!(true));
    if let Some(u) = user {
        m.insert("runAsUser".into(), json!(u));
    }
    if let Some(g) = group {
        m.insert("runAsGroup".into(), json!(g));
    }
    m.insert("fsGroup".into(), json!(service.security.fs_group));
    m.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
    Value::Object(m)
}

/// A container's security context: the defaults, relaxed where its `security` says; its
/// own IDs where they differ from the pod's.
fn security_context(service: &Service, security: &Security) -> Value {
    let (pod_user, pod_group) = pod_ids(service);
    let (user, group) = match security.run_as {
        RunAs::Ids { user, group } => (Some(user), Some(group)),
        RunAs::Image { group } => (None, group),
    };
    let mut m = Map::new();
    m.insert("allowPrivilegeEscalation".into(), json!(false));
    m.insert(
        "readOnlyRootFilesystem".into(),
        json!(security.read_only_root),
    );
    m.insert("privileged".into(), json!(false));
    m.insert("runAsNonRoot".into(), json!(true));
    if let Some(u) = user.filter(|u| Some(*u) != pod_user) {
        m.insert("runAsUser".into(), json!(u));
    }
    if let Some(g) = group.filter(|g| Some(*g) != pod_group) {
        m.insert("runAsGroup".into(), json!(g));
    }
    let mut caps = Map::new();
    caps.insert("drop".into(), json!(["ALL"]));
    if !security.add_capabilities.is_empty() {
        caps.insert("add".into(), json!(security.add_capabilities));
    }
    m.insert("capabilities".into(), Value::Object(caps));
    Value::Object(m)
}

fn image_values(image: &Image) -> Value {
    json!({
        "repository": image.repository,
        "tag": image.tag.clone().unwrap_or_default(),
        "digest": image.digest.clone().unwrap_or_default(),
        // Empty: derived from the reference by the chart (`nestio.pullPolicy`).
        "pullPolicy": "",
    })
}

fn resources_values(r: &Resources) -> Value {
    json!({
        "requests": {"cpu": r.cpu.text, "memory": r.memory.text},
        "limits": {"cpu": r.cpu_limit.text, "memory": r.memory_limit.text},
    })
}

fn port_values<'a>(ports: impl Iterator<Item = &'a Port>) -> Value {
    Value::Array(
        ports
            .map(|p| {
                json!({
                    "name": p.name,
                    "port": p.port,
                    "targetPort": p.target,
                    "appProtocol": p.protocol.as_str(),
                })
            })
            .collect(),
    )
}

/// A sidecar's or init container's values: everything its container needs, in one shape
/// for both (an init container's ports and probes are empty).
fn container_values(service: &Service, c: &Container, sidecar: bool) -> Value {
    let tmp = format!("tmp-{}", c.name);
    let mut mounts = vec![json!({"name": tmp, "mountPath": "/tmp"})];
    let mut volumes = vec![json!({"name": tmp, "size": TMP_SIZE})];
    for m in &c.mounts {
        mounts.push(json!({"name": m.name, "mountPath": m.path}));
        if let Some(size) = &m.size {
            volumes.push(json!({"name": m.name, "size": size.text}));
        }
    }
    let mut v = Map::new();
    v.insert("name".into(), json!(c.name));
    v.insert("image".into(), image_values(&c.image));
    v.insert("command".into(), json!(c.command));
    v.insert("args".into(), json!(c.args));
    v.insert(
        "ports".into(),
        if sidecar {
            port_values(service.sidecar_ports(&c.name))
        } else {
            json!([])
        },
    );
    v.insert("env".into(), Value::Array(own_env(&c.env)));
    v.insert("resources".into(), resources_values(&c.resources));
    for (k, p) in probes_values(service, &c.probes) {
        v.insert(k.into(), p);
    }
    v.insert(
        "securityContext".into(),
        security_context(service, &c.security),
    );
    v.insert("volumeMounts".into(), Value::Array(mounts));
    v.insert("volumes".into(), Value::Array(volumes));
    Value::Object(v)
}

/// The size of every container's `/tmp` emptyDir.
pub const TMP_SIZE: &str = "64Mi";

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// `env` and `env-secret` of a container.
fn own_env(env: &[EnvVar]) -> Vec<Value> {
    env.iter()
        .filter_map(|e| match &e.value {
            EnvValue::Literal(v) => Some(json!({"name": e.name, "value": v})),
            EnvValue::Secret { secret, key } => Some(json!({
                "name": e.name,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}
            })),
            EnvValue::Dependency => None,
        })
        .collect()
}

fn env_list(cx: &EmitContext<'_>, service: &Service) -> Vec<Value> {
    let mut out = own_env(&service.env);
    for (name, addr) in cx.topology.dependency_env(service) {
        out.push(json!({"name": name, "value": addr}));
    }
    out
}

fn tcp_ports(mut ports: Vec<u16>) -> Vec<Value> {
    ports.sort_unstable();
    ports.dedup();
    ports
        .into_iter()
        .map(|p| json!({"protocol": "TCP", "port": p}))
        .collect()
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
fn network_policy(cx: &EmitContext<'_>, service: &Service) -> Value {
    let mesh = cx.model.project.mesh;
    let wire_ports = |mut ports: Vec<u16>| {
        if mesh == Mesh::Linkerd {
            ports.push(super::mesh::LINKERD_INBOUND_PORT);
        }
        tcp_ports(ports)
    };
    let mut ingress: Vec<Value> = Vec::new();
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
        ingress.push(
            json!({"from": [{"podSelector": pod_selector(caller)}], "ports": wire_ports(ports)}),
        );
    }
    if let Some(p) = service.expose_port() {
        ingress.push(json!({
            "from": [{"namespaceSelector": ns_selector(ingress_controller_namespace(mesh))}],
            "ports": wire_ports(vec![p.target]),
        }));
    }
    // A published port (NodePort, LoadBalancer) takes connections from anywhere: a client
    // outside the cluster, through a node that kube-proxy may SNAT to its own address
    // (externalTrafficPolicy Cluster). Whether a CNI sees the client's or the node's
    // address "is not defined" (https://kubernetes.io/docs/concepts/services-networking/network-policies/#behavior-of-to-and-from-selectors),
    // so every address is admitted, on the published container port only. The client is
    // not meshed: it reaches the application port, never Linkerd's 4143.
    if let (Some(_), Some(p)) = (&service.publish, service.publish_port()) {
        ingress.push(json!({
            "from": ANYWHERE.iter().map(|cidr| json!({"ipBlock": {"cidr": cidr}})).collect::<Vec<_>>(),
            "ports": tcp_ports(vec![p.target]),
        }));
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
        ingress.push(json!({
            "from": [{"namespaceSelector": ns_selector(MONITORING_NAMESPACE)}],
            "ports": tcp_ports(metrics_ports),
        }));
    }

    let mut egress: Vec<Value> = vec![json!({
        "to": [{
            "namespaceSelector": ns_selector(DNS_NAMESPACE),
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    })];
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
        egress.push(
            json!({"to": [{"podSelector": pod_selector(callee)}], "ports": wire_ports(ports)}),
        );
    }
    let external_ports: Vec<u16> = service.externals.iter().map(|e| e.port).collect();
    if !external_ports.is_empty() {
        egress.push(
            json!({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp_ports(external_ports)}),
        );
    }
    match mesh {
        Mesh::Istio => egress.push(json!({
            "to": [{"namespaceSelector": ns_selector("istio-system")}],
            "ports": tcp_ports(vec![15012]),
        })),
        Mesh::Linkerd => egress.push(json!({
            "to": [{"namespaceSelector": ns_selector("linkerd")}],
            "ports": tcp_ports(vec![8080, 8086, 8090]),
        })),
        Mesh::None => {}
    }
    json!({"enabled": true, "ingress": ingress, "egress": egress})
}

/// Without a mesh, a PodMonitor (Prometheus Operator) scrapes the service's pods, so the
/// SLIs' `job="<service>"` has data: `jobLabel` takes the job from the pods'
/// `app.kubernetes.io/name` (monitoring.coreos.com/v1 PodMonitorSpec), and
/// `podTargetLabels` copies Argo Rollouts' pod-template hash for canary analyses. The
/// platform playbook's Prometheus selects every PodMonitor.
fn pod_monitor(cx: &EmitContext<'_>, service: &Service) -> Value {
    match service.metrics_port() {
        Some(p) if cx.model.project.mesh == Mesh::None && service.schedule.is_none() => {
            json!({"enabled": true, "port": p.name, "path": "/metrics"})
        }
        _ => json!({"enabled": false, "port": "", "path": "/metrics"}),
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
fn topology_spread(service: &Service, s: Scaled, workload: Workload) -> Value {
    let spread = service.schedule.is_none() && (s.replicas > 1 || s.max.is_some_and(|m| m > 1));
    if !spread {
        return json!([]);
    }
    let selector = json!({"matchLabels": selector_labels(service)});
    Value::Array(
        ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
            .into_iter()
            .map(|key| {
                let mut c = json!({
                    "maxSkew": 1,
                    "topologyKey": key,
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": selector,
                });
                let hash = match workload {
                    Workload::Rollout => Some("rollouts-pod-template-hash"),
                    Workload::Deployment => Some("pod-template-hash"),
                    Workload::StatefulSet | Workload::CronJob => None,
                };
                if let Some(h) = hash {
                    c["matchLabelKeys"] = json!([h]);
                }
                c
            })
            .collect(),
    )
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
    fn value(self) -> &'static str {
        match self {
            Workload::Rollout => "Rollout",
            Workload::StatefulSet => "StatefulSet",
            Workload::Deployment | Workload::CronJob => "Deployment",
        }
    }
}

fn replica_values(service: &Service, s: Scaled, workload: Workload) -> Value {
    // A CronJob has no replicas to autoscale or protect from disruption.
    let scheduled = service.schedule.is_some();
    json!({
        "replicaCount": s.replicas,
        "autoscaling": {
            "enabled": s.max.is_some() && !scheduled,
            "minReplicas": s.replicas.max(1),
            "maxReplicas": s.max.unwrap_or(s.replicas.max(1)),
            "targetCPUUtilizationPercentage": service.replicas.cpu_target,
        },
        "podDisruptionBudget": {
            "enabled": s.replicas >= 2 && !scheduled,
            "maxUnavailable": 1,
        },
        "topologySpreadConstraints": topology_spread(service, s, workload),
    })
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
fn claim_retention(service: &Service) -> Value {
    let keep = service
        .volumes
        .iter()
        .filter(|v| v.persistent)
        .all(|v| v.keep);
    json!({
        "whenDeleted": if keep { "Retain" } else { "Delete" },
        "whenScaled": "Retain",
    })
}

/// `publicService`: the port `expose node-port=`/`load-balancer=` publishes.
fn public_service(service: &Service) -> Value {
    match (&service.publish, service.publish_port()) {
        (Some(p), Some(port)) => json!({
            "enabled": true,
            "name": public_service_name(service),
            "type": p.service_type(),
            "portName": port.name,
            "nodePort": p.node_port.as_ref().map_or(0, |n| n.value),
        }),
        _ => {
            json!({"enabled": false, "name": "", "type": "NodePort", "portName": "", "nodePort": 0})
        }
    }
}

/// The chart's `values.yaml`: everything about the service, before any environment.
#[must_use]
pub fn base_values(cx: &EmitContext<'_>, service: &Service) -> Value {
    let annotations = json!({"nestio.dev/source": cx.location(service.name_span)});
    let mesh = cx.model.project.mesh;
    let mut pod_annotations = annotations.clone();
    let mut pod_labels = labels(cx, service);
    match mesh {
        Mesh::Istio => {
            pod_labels.insert("sidecar.istio.io/inject".into(), json!("true"));
        }
        Mesh::Linkerd => {
            pod_annotations["linkerd.io/inject"] = json!("enabled");
            // Nothing reaches the pod unless a Server and an AuthorizationPolicy allow it.
            pod_annotations["config.linkerd.io/default-inbound-policy"] = json!("deny");
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
            if !service.sidecars.is_empty() || !service.init_containers.is_empty() {
                // Injected as a plain container, the proxy starts after every init
                // container: a migration's calls would meet the iptables redirect of
                // linkerd-init with no proxy behind it, and a sidecar's until the app
                // starts. As a Kubernetes sidecar container the proxy starts before them
                // and stops after the app, so it drains without a delay, which Linkerd
                // says not to combine with native sidecars
                // (https://linkerd.io/2/features/native-sidecars/,
                // https://linkerd.io/2/reference/proxy-configuration/: "If enabled,
                // .proxy.waitBeforeExitSeconds should not be used").
                pod_annotations["config.beta.linkerd.io/proxy-enable-native-sidecar"] =
                    json!("true");
            } else if drains(service) {
                pod_annotations["config.alpha.linkerd.io/proxy-wait-before-exit-seconds"] =
                    json!((TERMINATION_GRACE_SECONDS - PRESTOP_SLEEP_SECONDS).to_string());
            }
        }
        Mesh::None => {}
    }
    // The topology's own keys come after nestioc's, which they may not name (NST0132).
    for (k, val) in &service.pod_labels {
        pod_labels.insert(k.clone(), json!(val));
    }
    if let Some(a) = pod_annotations.as_object_mut() {
        for (k, val) in &service.pod_annotations {
            a.insert(k.clone(), json!(val));
        }
    }
    let mut service_annotations = super::mesh::service_annotations(cx, service);
    if let Some(a) = service_annotations.as_object_mut() {
        for (k, val) in &service.service_annotations {
            a.insert(k.clone(), json!(val));
        }
    }
    let [readiness, liveness, startup] = probes_values(service, &service.probes);
    let mut v = json!({
        "name": service.name,
        "image": image_values(&service.image),
    });
    let workload = Workload::of(cx, service);
    let replicas = replica_values(service, scaled(service, None), workload);
    v = with(v, replicas);
    // `object`, not `json!`: the big values move in instead of being copied.
    v = with(
        v,
        object([
            ("labels", Value::Object(labels(cx, service))),
            ("podLabels", Value::Object(pod_labels)),
            ("selectorLabels", Value::Object(selector_labels(service))),
            ("annotations", annotations),
            ("podAnnotations", pod_annotations),
            ("serviceAnnotations", service_annotations),
            // Argo Rollouts shifts traffic to `-canary`, or previews on `-preview`.
            (
                "extraServices",
                json!(super::rollout::extra_services(cx, service)),
            ),
            ("workload", json!(workload.value())),
            (
                "statefulSet",
                json!({
                    "serviceName": if workload == Workload::StatefulSet { headless_service_name(service) } else { String::new() },
                    "claimRetention": claim_retention(service),
                }),
            ),
            ("publicService", public_service(service)),
            ("rolloutStrategy", super::rollout::strategy(cx, service)),
            (
                "analysis",
                super::rollout::analysis(cx, service).unwrap_or_else(|| json!({})),
            ),
            // The service's own container's: a sidecar's are in `sidecars`.
            ("ports", port_values(service.own_ports())),
            ("args", json!(service.args)),
            ("env", Value::Array(env_list(cx, service))),
            ("resources", resources_values(&service.resources)),
            readiness,
            liveness,
            ("podSecurityContext", pod_security_context(service)),
            (
                "securityContext",
                security_context(service, &service.security),
            ),
            (
                "lifecycle",
                if drains(service) {
                    json!({"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}})
                } else {
                    json!({})
                },
            ),
            (
                "terminationGracePeriodSeconds",
                json!(TERMINATION_GRACE_SECONDS),
            ),
            (
                "volumes",
                Value::Array(
                    service
                        .volumes
                        .iter()
                        .map(|vol| {
                            let mut m = Map::new();
                            m.insert("name".into(), json!(vol.name));
                            m.insert("mountPath".into(), json!(vol.path));
                            m.insert("size".into(), json!(vol.size.text));
                            if vol.persistent && workload == Workload::StatefulSet {
                                // Each replica's own claim, `<volume>-<service>-<ordinal>`.
                                m.insert("claimTemplate".into(), json!(true));
                            } else if vol.persistent {
                                // A CronJob's runs share one claim.
                                m.insert(
                                    "claimName".into(),
                                    json!(format!("{}-{}", service.name, vol.name)),
                                );
                                m.insert("keep".into(), json!(vol.keep));
                            }
                            Value::Object(m)
                        })
                        .collect(),
                ),
            ),
            (
                "schedule",
                json!(service.schedule.as_ref().map_or("", |s| s.cron.as_str())),
            ),
            (
                "concurrencyPolicy",
                json!(
                    service
                        .schedule
                        .as_ref()
                        .map_or("Forbid", |s| s.concurrency)
                ),
            ),
            ("networkPolicy", network_policy(cx, service)),
            ("podMonitor", pod_monitor(cx, service)),
            ("mesh", super::mesh::values(cx, service)),
            // With Istio, exposure goes through its ingress gateway (Gateway + VirtualService).
            (
                "ingress",
                match (&service.expose, service.expose_port()) {
                    (Some(e), Some(p)) if mesh != Mesh::Istio => json!({
                        "enabled": true,
                        "className": "",
                        "host": e.host,
                        "path": e.path,
                        "portName": p.name,
                        "tlsSecret": e.tls_secret.clone().unwrap_or_default(),
                    }),
                    _ => {
                        json!({"enabled": false, "className": "", "host": "", "path": "/", "portName": "", "tlsSecret": ""})
                    }
                },
            ),
        ]),
    );
    // Written only when used, so that the values of a service without them stay as they
    // were; the chart reads them with `index`, which gives nothing for a missing key.
    if let Some(m) = v.as_object_mut() {
        if !service.command.is_empty() {
            m.insert("command".into(), json!(service.command));
        }
        if !startup.1.is_null() {
            m.insert(startup.0.into(), startup.1);
        }
        if !service.sidecars.is_empty() {
            m.insert(
                "sidecars".into(),
                Value::Array(
                    service
                        .sidecars
                        .iter()
                        .map(|c| container_values(service, c, true))
                        .collect(),
                ),
            );
        }
        if !service.init_containers.is_empty() {
            m.insert(
                "initContainers".into(),
                Value::Array(
                    service
                        .init_containers
                        .iter()
                        .map(|c| container_values(service, c, false))
                        .collect(),
                ),
            );
        }
    }
    v
}

/// A JSON object from its entries, in order. Unlike `json!`, which copies every `Value`
/// it embeds (it serialises it again), the values are moved in.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N);
    for (k, v) in entries {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
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
    let mut v = replica_values(in_env, scaled(in_env, Some(env)), workload);
    if !std::ptr::eq(in_env, service)
        && let Some(d) = diff(&base_values(cx, in_env), &base_values(cx, service))
    {
        // Replica settings are already in `v`, scaled.
        let mut d = d;
        if let Some(m) = d.as_object_mut() {
            for k in [
                "replicaCount",
                "autoscaling",
                "podDisruptionBudget",
                "topologySpreadConstraints",
            ] {
                m.shift_remove(k);
            }
        }
        merge(&mut v, &d);
    }
    v
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

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |v, k| v.get(k).unwrap_or(&Value::Null))
}

/// Go templates treat empty strings, zero, empty lists and maps, null and false as false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn metadata(v: &Value, namespace: &str) -> Value {
    json!({
        "name": get(v, "name"),
        "namespace": namespace,
        "labels": get(v, "labels"),
        "annotations": get(v, "annotations"),
    })
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
fn pull_policy(image: &Value) -> Value {
    if let Some(p) = get(image, "pullPolicy").as_str().filter(|p| !p.is_empty()) {
        return json!(p);
    }
    let digest = truthy(get(image, "digest"));
    let tag = get(image, "tag").as_str().unwrap_or_default();
    json!(if digest || is_commit_tag(tag) {
        "IfNotPresent"
    } else {
        "Always"
    })
}

/// `nestio.imageRef` of an image's values.
fn image(image: &Value) -> String {
    let mut s = get(image, "repository")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(t) = get(image, "tag").as_str().filter(|t| !t.is_empty()) {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = get(image, "digest").as_str().filter(|d| !d.is_empty()) {
        s.push('@');
        s.push_str(d);
    }
    s
}

/// The Service's ports: the service's own container's, then each sidecar's.
fn service_ports(v: &Value) -> Vec<Value> {
    let mut ports: Vec<Value> = get(v, "ports").as_array().cloned().unwrap_or_default();
    for c in get(v, "sidecars").as_array().into_iter().flatten() {
        ports.extend(c["ports"].as_array().cloned().unwrap_or_default());
    }
    ports
}

/// The objects the chart renders for these values, in the order of its template files
/// (Helm sorts by kind when installing; we keep one stable order for review).
#[must_use]
pub fn render(v: &Value, namespace: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let meta = metadata(v, namespace);
    let selector = get(v, "selectorLabels");
    out.push(json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta,
        "automountServiceAccountToken": false,
    }));
    let ports = service_ports(v);
    if !ports.is_empty() {
        let service_ports: Vec<Value> = ports
            .iter()
            .map(|p| {
                json!({
                    "name": p["name"],
                    "port": p["port"],
                    "targetPort": p["name"],
                    "protocol": "TCP",
                    "appProtocol": p["appProtocol"],
                })
            })
            .collect();
        let mut service_meta = meta.clone();
        if let (Some(a), Some(extra)) = (
            service_meta["annotations"].as_object_mut(),
            get(v, "serviceAnnotations").as_object(),
        ) {
            a.extend(extra.clone());
        }
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": service_meta,
            "spec": {"type": "ClusterIP", "selector": selector, "ports": service_ports},
        }));
        for extra in get(v, "extraServices").as_array().into_iter().flatten() {
            let mut m = meta.clone();
            m["name"] = extra.clone();
            out.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": m,
                "spec": {"type": "ClusterIP", "selector": selector, "ports": service_ports},
            }));
        }
        let public = get(v, "publicService");
        if truthy(get(public, "enabled")) {
            let mut m = meta.clone();
            m["name"] = get(public, "name").clone();
            let ports: Vec<Value> = service_ports
                .iter()
                .filter(|p| p["name"] == *get(public, "portName"))
                .map(|p| {
                    let mut p = p.clone();
                    if truthy(get(public, "nodePort")) {
                        p["nodePort"] = get(public, "nodePort").clone();
                    }
                    p
                })
                .collect();
            out.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": m,
                "spec": {"type": get(public, "type"), "selector": selector, "ports": ports},
            }));
        }
    }
    // A StatefulSet's governing Service: headless, ports or not (its name is immutable in
    // the StatefulSet, so a port added later must not change it).
    if get(v, "workload").as_str() == Some("StatefulSet") && !truthy(get(v, "schedule")) {
        let mut m = meta.clone();
        m["name"] = get(v, "statefulSet.serviceName").clone();
        let mut spec = json!({
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector,
        });
        if !ports.is_empty() {
            spec["ports"] = json!(
                ports
                    .iter()
                    .map(|p| json!({
                        "name": p["name"],
                        "port": p["port"],
                        "targetPort": p["name"],
                        "protocol": "TCP",
                        "appProtocol": p["appProtocol"],
                    }))
                    .collect::<Vec<_>>()
            );
        }
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": m,
            "spec": spec,
        }));
    }

    let pod = pod_template(v);
    if truthy(get(v, "schedule")) {
        out.push(json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta,
            "spec": {
                "schedule": get(v, "schedule"),
                "concurrencyPolicy": get(v, "concurrencyPolicy"),
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": pod}},
            },
        }));
    } else {
        let workload = get(v, "workload").as_str().unwrap_or_default();
        let mut spec = Map::new();
        if !truthy(get(v, "autoscaling.enabled")) {
            spec.insert("replicas".into(), get(v, "replicaCount").clone());
        }
        spec.insert("revisionHistoryLimit".into(), json!(5));
        if workload == "StatefulSet" {
            spec.insert(
                "serviceName".into(),
                get(v, "statefulSet.serviceName").clone(),
            );
        }
        spec.insert("selector".into(), json!({"matchLabels": selector}));
        if workload == "StatefulSet" {
            // Replicas one at a time, highest ordinal first, each waiting for the one
            // before to be Ready (OrderedReady, RollingUpdate, partition 0: Kubernetes'
            // defaults, written out).
            spec.insert("podManagementPolicy".into(), json!("OrderedReady"));
            spec.insert(
                "updateStrategy".into(),
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            spec.insert(
                "persistentVolumeClaimRetentionPolicy".into(),
                get(v, "statefulSet.claimRetention").clone(),
            );
            spec.insert("template".into(), pod);
            let claims: Vec<Value> = get(v, "volumes")
                .as_array()
                .into_iter()
                .flatten()
                .filter(|vol| truthy(&vol["claimTemplate"]))
                .map(|vol| {
                    json!({
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": vol["name"], "labels": selector},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": vol["size"]}},
                        },
                    })
                })
                .collect();
            spec.insert("volumeClaimTemplates".into(), Value::Array(claims));
            out.push(json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": meta,
                "spec": Value::Object(spec),
            }));
        } else if workload == "Rollout" {
            spec.insert("template".into(), pod);
            spec.insert("strategy".into(), get(v, "rolloutStrategy").clone());
            out.push(json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "metadata": meta,
                "spec": Value::Object(spec),
            }));
        } else {
            spec.insert(
                "strategy".into(),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}),
            );
            spec.insert("template".into(), pod);
            out.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta,
                "spec": Value::Object(spec),
            }));
        }
    }
    if let Some(a) = get(v, "analysis").as_object().filter(|a| !a.is_empty()) {
        let mut m = meta.clone();
        m["name"] = a.get("name").cloned().unwrap_or(Value::Null);
        out.push(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": m,
            "spec": a.get("spec").cloned().unwrap_or(Value::Null),
        }));
    }
    for vol in get(v, "volumes").as_array().into_iter().flatten() {
        if truthy(&vol["claimName"]) {
            let mut annotations = get(v, "annotations").clone();
            if truthy(&vol["keep"])
                && let Some(a) = annotations.as_object_mut()
            {
                for (k, val) in KEEP_ANNOTATIONS {
                    a.insert((*k).into(), json!(val));
                }
            }
            out.push(json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": vol["claimName"],
                    "namespace": namespace,
                    "labels": get(v, "labels"),
                    "annotations": annotations,
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": vol["size"]}},
                },
            }));
        }
    }

    if truthy(get(v, "autoscaling.enabled")) {
        out.push(json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": match get(v, "workload").as_str() {
                    Some("Rollout") => json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": get(v, "name")}),
                    Some("StatefulSet") => json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": get(v, "name")}),
                    _ => json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": get(v, "name")}),
                },
                "minReplicas": get(v, "autoscaling.minReplicas"),
                "maxReplicas": get(v, "autoscaling.maxReplicas"),
                "metrics": [{
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {
                        "type": "Utilization",
                        "averageUtilization": get(v, "autoscaling.targetCPUUtilizationPercentage"),
                    }},
                }],
            },
        }));
    }
    if truthy(get(v, "podDisruptionBudget.enabled")) {
        out.push(json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {
                "maxUnavailable": get(v, "podDisruptionBudget.maxUnavailable"),
                "selector": {"matchLabels": selector},
            },
        }));
    }
    if truthy(get(v, "podMonitor.enabled")) {
        out.push(json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": meta,
            "spec": {
                "jobLabel": "app.kubernetes.io/name",
                "podTargetLabels": [super::rollout::POD_HASH_LABEL],
                "selector": {"matchLabels": selector},
                "podMetricsEndpoints": [{
                    "port": get(v, "podMonitor.port"),
                    "path": get(v, "podMonitor.path"),
                }],
            },
        }));
    }
    if truthy(get(v, "networkPolicy.enabled")) {
        let mut np = Map::new();
        np.insert("podSelector".into(), json!({"matchLabels": selector}));
        np.insert("policyTypes".into(), json!(["Ingress", "Egress"]));
        for key in ["ingress", "egress"] {
            let rules = get(v, &format!("networkPolicy.{key}"));
            if truthy(rules) {
                np.insert(key.into(), rules.clone());
            }
        }
        out.push(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": Value::Object(np),
        }));
    }
    if truthy(get(v, "ingress.enabled")) {
        let mut spec = Map::new();
        if truthy(get(v, "ingress.className")) {
            spec.insert(
                "ingressClassName".into(),
                get(v, "ingress.className").clone(),
            );
        }
        if truthy(get(v, "ingress.tlsSecret")) {
            spec.insert(
                "tls".into(),
                json!([{"hosts": [get(v, "ingress.host")], "secretName": get(v, "ingress.tlsSecret")}]),
            );
        }
        spec.insert(
            "rules".into(),
            json!([{
                "host": get(v, "ingress.host"),
                "http": {"paths": [{
                    "path": get(v, "ingress.path"),
                    "pathType": "Prefix",
                    "backend": {"service": {"name": get(v, "name"), "port": {"name": get(v, "ingress.portName")}}},
                }]},
            }]),
        );
        out.push(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta,
            "spec": Value::Object(spec),
        }));
    }
    out.extend(super::mesh::render(v, namespace));
    out
}

/// A container's `ports`, probes, `securityContext` and `volumeMounts`, in the order of
/// the chart's templates.
fn container_body(c: &mut Map<String, Value>, v: &Value) {
    let ports = get(v, "ports");
    if truthy(ports) {
        let cports: Vec<Value> = ports
            .as_array()
            .into_iter()
            .flatten()
            .map(
                |p| json!({"name": p["name"], "containerPort": p["targetPort"], "protocol": "TCP"}),
            )
            .collect();
        c.insert("ports".into(), json!(cports));
    }
    if truthy(get(v, "env")) {
        c.insert("env".into(), get(v, "env").clone());
    }
    c.insert("resources".into(), get(v, "resources").clone());
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if truthy(get(v, probe)) {
            c.insert(probe.into(), get(v, probe).clone());
        }
    }
    c.insert("securityContext".into(), get(v, "securityContext").clone());
}

/// A sidecar or init container (`nestio.container` in `_helpers.tpl`).
fn extra_container(c: &Value, sidecar: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), c["name"].clone());
    m.insert("image".into(), json!(image(&c["image"])));
    m.insert("imagePullPolicy".into(), pull_policy(&c["image"]));
    if sidecar {
        // A Kubernetes sidecar container (1.29+): started before the app, stopped after.
        m.insert("restartPolicy".into(), json!("Always"));
    }
    for key in ["command", "args"] {
        if truthy(&c[key]) {
            m.insert(key.into(), c[key].clone());
        }
    }
    container_body(&mut m, c);
    m.insert("volumeMounts".into(), c["volumeMounts"].clone());
    Value::Object(m)
}

/// The pod template of `nestio.podTemplate` in `_helpers.tpl`.
fn pod_template(v: &Value) -> Value {
    let mut container = Map::new();
    container.insert("name".into(), get(v, "name").clone());
    container.insert("image".into(), json!(image(get(v, "image"))));
    container.insert("imagePullPolicy".into(), pull_policy(get(v, "image")));
    for key in ["command", "args"] {
        if truthy(get(v, key)) {
            container.insert(key.into(), get(v, key).clone());
        }
    }
    container_body(&mut container, v);
    if truthy(get(v, "lifecycle")) {
        container.insert("lifecycle".into(), get(v, "lifecycle").clone());
    }
    let mut mounts = vec![json!({"name": "tmp", "mountPath": "/tmp"})];
    let mut volumes = vec![json!({"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}})];
    for vol in get(v, "volumes").as_array().into_iter().flatten() {
        mounts.push(json!({"name": vol["name"], "mountPath": vol["mountPath"]}));
        if truthy(&vol["claimTemplate"]) {
            // The StatefulSet controller adds the replica's claim under the volume's name.
            continue;
        }
        if truthy(&vol["claimName"]) {
            volumes.push(json!({"name": vol["name"], "persistentVolumeClaim": {"claimName": vol["claimName"]}}));
        } else {
            volumes.push(json!({"name": vol["name"], "emptyDir": {"sizeLimit": vol["size"]}}));
        }
    }
    container.insert("volumeMounts".into(), Value::Array(mounts));
    // Sidecars first: an init container after them can use them (a database proxy).
    let mut init: Vec<Value> = Vec::new();
    for (key, sidecar) in [("sidecars", true), ("initContainers", false)] {
        for c in get(v, key).as_array().into_iter().flatten() {
            init.push(extra_container(c, sidecar));
            for vol in c["volumes"].as_array().into_iter().flatten() {
                volumes.push(json!({"name": vol["name"], "emptyDir": {"sizeLimit": vol["size"]}}));
            }
        }
    }
    let mut spec = Map::new();
    spec.insert("serviceAccountName".into(), get(v, "name").clone());
    spec.insert("automountServiceAccountToken".into(), json!(false));
    if truthy(get(v, "schedule")) {
        spec.insert("restartPolicy".into(), json!("OnFailure"));
    }
    spec.insert(
        "terminationGracePeriodSeconds".into(),
        get(v, "terminationGracePeriodSeconds").clone(),
    );
    spec.insert(
        "securityContext".into(),
        get(v, "podSecurityContext").clone(),
    );
    if truthy(get(v, "topologySpreadConstraints")) {
        spec.insert(
            "topologySpreadConstraints".into(),
            get(v, "topologySpreadConstraints").clone(),
        );
    }
    if !init.is_empty() {
        spec.insert("initContainers".into(), Value::Array(init));
    }
    spec.insert("containers".into(), json!([Value::Object(container)]));
    spec.insert("volumes".into(), Value::Array(volumes));
    json!({
        "metadata": {"labels": get(v, "podLabels"), "annotations": get(v, "podAnnotations")},
        "spec": Value::Object(spec),
    })
}
