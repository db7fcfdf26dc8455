//! What the chart's templates (`stdlib/helm/*.hbs`) render from [`ChartValues`], object
//! for object, in the order of the template files: the `kubernetes` target's manifests.
//! The conformance tests render the charts with the real Helm and compare.

use serde_json::{Map, Value, json};

use super::values::{
    ChartValues, ContainerValues, EnvValues, Object, PortValues, PullPolicy, ResourcesValues,
    WorkloadKind,
};
use super::{KEEP_ANNOTATIONS, TMP_SIZE};

fn metadata(v: &ChartValues, namespace: &str) -> Value {
    json!({
        "name": v.name,
        "namespace": namespace,
        "labels": v.labels,
        "annotations": v.annotations,
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

/// The Service's ports: the service's own container's, then each sidecar's.
fn service_ports(v: &ChartValues) -> Vec<Value> {
    v.ports
        .iter()
        .chain(v.sidecars.iter().flat_map(|c| &c.ports))
        .map(|p| {
            json!({
                "name": p.name,
                "port": p.port,
                "targetPort": p.name,
                "protocol": "TCP",
                "appProtocol": p.app_protocol,
            })
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

/// The objects the chart renders for these values, in the order of its template files
/// (Helm sorts by kind when installing; we keep one stable order for review).
#[must_use]
pub fn render(v: &ChartValues, namespace: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let meta = metadata(v, namespace);
    let selector = &v.selector_labels;
    let scheduled = !v.schedule.is_empty();
    out.push(json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta,
        "automountServiceAccountToken": false,
    }));
    let service_ports = service_ports(v);
    if !service_ports.is_empty() {
        let mut service_meta = meta.clone();
        let mut annotations = v.annotations.clone();
        annotations.extend(
            v.service_annotations
                .iter()
                .map(|(k, a)| (k.clone(), a.clone())),
        );
        service_meta["annotations"] = json!(annotations);
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": service_meta,
            "spec": {"type": "ClusterIP", "selector": selector, "ports": service_ports},
        }));
        for extra in &v.extra_services {
            let mut m = meta.clone();
            m["name"] = json!(extra);
            out.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": m,
                "spec": {"type": "ClusterIP", "selector": selector, "ports": service_ports},
            }));
        }
        let public = &v.public_service;
        if public.enabled {
            let mut m = meta.clone();
            m["name"] = json!(public.name);
            let ports: Vec<Value> = service_ports
                .iter()
                .filter(|p| p["name"] == public.port_name.as_str())
                .map(|p| {
                    let mut p = p.clone();
                    if public.node_port != 0 {
                        p["nodePort"] = json!(public.node_port);
                    }
                    p
                })
                .collect();
            out.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": m,
                "spec": {"type": public.type_, "selector": selector, "ports": ports},
            }));
        }
    }
    // A StatefulSet's governing Service: headless, ports or not (its name is immutable in
    // the StatefulSet, so a port added later must not change it).
    if v.workload == WorkloadKind::StatefulSet && !scheduled {
        let mut m = meta.clone();
        m["name"] = json!(v.stateful_set.service_name);
        let mut spec = json!({
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector,
        });
        if !service_ports.is_empty() {
            spec["ports"] = json!(service_ports);
        }
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": m,
            "spec": spec,
        }));
    }

    let pod = pod_template(v);
    if scheduled {
        out.push(json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta,
            "spec": {
                "schedule": v.schedule,
                "concurrencyPolicy": v.concurrency_policy,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": pod}},
            },
        }));
    } else {
        let mut spec = Map::new();
        if !v.autoscaling.enabled {
            spec.insert("replicas".into(), json!(v.replica_count));
        }
        spec.insert("revisionHistoryLimit".into(), json!(5));
        if v.workload == WorkloadKind::StatefulSet {
            spec.insert("serviceName".into(), json!(v.stateful_set.service_name));
        }
        spec.insert("selector".into(), json!({"matchLabels": selector}));
        match v.workload {
            WorkloadKind::StatefulSet => {
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
                    json!(v.stateful_set.claim_retention),
                );
                spec.insert("template".into(), pod);
                let claims: Vec<Value> = v
                    .volumes
                    .iter()
                    .filter(|vol| vol.claim_template == Some(true))
                    .map(|vol| {
                        json!({
                            "apiVersion": "v1",
                            "kind": "PersistentVolumeClaim",
                            "metadata": {"name": vol.name, "labels": selector},
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": vol.size}},
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
            }
            WorkloadKind::Rollout => {
                spec.insert("template".into(), pod);
                spec.insert("strategy".into(), json!(v.rollout_strategy));
                out.push(json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "metadata": meta,
                    "spec": Value::Object(spec),
                }));
            }
            WorkloadKind::Deployment => {
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
    }
    let analysis = &v.analysis;
    if analysis.name.is_some() || analysis.spec.is_some() {
        let mut m = meta.clone();
        m["name"] = json!(analysis.name);
        out.push(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": m,
            "spec": analysis.spec,
        }));
    }
    for vol in &v.volumes {
        let Some(claim) = vol.claim_name.as_ref().filter(|c| !c.is_empty()) else {
            continue;
        };
        let mut annotations = v.annotations.clone();
        if vol.keep == Some(true) {
            for (k, val) in KEEP_ANNOTATIONS {
                annotations.insert((*k).into(), (*val).into());
            }
        }
        out.push(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim,
                "namespace": namespace,
                "labels": v.labels,
                "annotations": annotations,
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": vol.size}},
            },
        }));
    }

    let autoscaling = &v.autoscaling;
    if autoscaling.enabled {
        let (api_version, kind) = scale_target(v.workload);
        out.push(json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": v.name},
                "minReplicas": autoscaling.min_replicas,
                "maxReplicas": autoscaling.max_replicas,
                "metrics": [{
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {
                        "type": "Utilization",
                        "averageUtilization": autoscaling.target_cpu_utilization_percentage,
                    }},
                }],
            },
        }));
    }
    if v.pod_disruption_budget.enabled {
        out.push(json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {
                "maxUnavailable": v.pod_disruption_budget.max_unavailable,
                "selector": {"matchLabels": selector},
            },
        }));
    }
    if v.pod_monitor.enabled {
        out.push(json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": meta,
            "spec": {
                "jobLabel": "app.kubernetes.io/name",
                "podTargetLabels": [crate::emit::rollout::POD_HASH_LABEL],
                "selector": {"matchLabels": selector},
                "podMetricsEndpoints": [{
                    "port": v.pod_monitor.port,
                    "path": v.pod_monitor.path,
                }],
            },
        }));
    }
    let policy = &v.network_policy;
    if policy.enabled {
        let mut np = Map::new();
        np.insert("podSelector".into(), json!({"matchLabels": selector}));
        np.insert("policyTypes".into(), json!(["Ingress", "Egress"]));
        for (key, rules) in [("ingress", &policy.ingress), ("egress", &policy.egress)] {
            if !rules.is_empty() {
                np.insert(key.into(), json!(rules));
            }
        }
        out.push(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": Value::Object(np),
        }));
    }
    let ingress = &v.ingress;
    if ingress.enabled {
        let mut spec = Map::new();
        if !ingress.class_name.is_empty() {
            spec.insert("ingressClassName".into(), json!(ingress.class_name));
        }
        if !ingress.tls_secret.is_empty() {
            spec.insert(
                "tls".into(),
                json!([{"hosts": [ingress.host], "secretName": ingress.tls_secret}]),
            );
        }
        spec.insert(
            "rules".into(),
            json!([{
                "host": ingress.host,
                "http": {"paths": [{
                    "path": ingress.path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": v.name, "port": {"name": ingress.port_name}}},
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
    out.extend(crate::emit::mesh::render(v, namespace));
    out
}

/// What every container of the pod has, whatever its role.
struct ContainerParts<'a, E> {
    ports: &'a [PortValues],
    env: &'a [E],
    resources: &'a ResourcesValues,
    probes: [&'a Option<Object>; 3],
    security_context: &'a Object,
}

/// A container's `ports`, `env`, `resources`, probes and `securityContext`, in the order
/// of the chart's templates.
fn container_body<E: serde::Serialize>(c: &mut Map<String, Value>, parts: &ContainerParts<'_, E>) {
    if !parts.ports.is_empty() {
        let ports: Vec<Value> = parts
            .ports
            .iter()
            .map(|p| json!({"name": p.name, "containerPort": p.target_port, "protocol": "TCP"}))
            .collect();
        c.insert("ports".into(), Value::Array(ports));
    }
    if !parts.env.is_empty() {
        c.insert("env".into(), json!(parts.env));
    }
    c.insert("resources".into(), json!(parts.resources));
    let names = ["readinessProbe", "livenessProbe", "startupProbe"];
    for (name, probe) in names.into_iter().zip(parts.probes) {
        if let Some(p) = probe.as_ref().filter(|p| !p.is_empty()) {
            c.insert(name.into(), json!(p));
        }
    }
    c.insert("securityContext".into(), json!(parts.security_context));
}

/// A sidecar or init container (`nestio.container` in `_helpers.tpl`).
fn extra_container(c: &ContainerValues, sidecar: bool) -> Value {
    let i = &c.image;
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name));
    m.insert(
        "image".into(),
        json!(image_ref(&i.repository, &i.tag, &i.digest)),
    );
    m.insert(
        "imagePullPolicy".into(),
        json!(pull_policy(i.pull_policy, &i.tag, &i.digest)),
    );
    if sidecar {
        // A Kubernetes sidecar container (1.29+): started before the app, stopped after.
        m.insert("restartPolicy".into(), json!("Always"));
    }
    if !c.command.is_empty() {
        m.insert("command".into(), json!(c.command));
    }
    if !c.args.is_empty() {
        m.insert("args".into(), json!(c.args));
    }
    container_body(
        &mut m,
        &ContainerParts {
            ports: &c.ports,
            env: &c.env,
            resources: &c.resources,
            probes: [&c.readiness_probe, &c.liveness_probe, &c.startup_probe],
            security_context: &c.security_context,
        },
    );
    m.insert("volumeMounts".into(), json!(c.volume_mounts));
    Value::Object(m)
}

fn empty_dir(name: &str, size: &str) -> Value {
    json!({"name": name, "emptyDir": {"sizeLimit": size}})
}

/// The pod template of `nestio.podTemplate` in `_helpers.tpl`.
fn pod_template(v: &ChartValues) -> Value {
    let i = &v.image;
    let mut container = Map::new();
    container.insert("name".into(), json!(v.name));
    container.insert(
        "image".into(),
        json!(image_ref(&i.repository, &i.tag, &i.digest)),
    );
    container.insert(
        "imagePullPolicy".into(),
        json!(pull_policy(i.pull_policy, &i.tag, &i.digest)),
    );
    if !v.command.is_empty() {
        container.insert("command".into(), json!(v.command));
    }
    if !v.args.is_empty() {
        container.insert("args".into(), json!(v.args));
    }
    container_body::<EnvValues>(
        &mut container,
        &ContainerParts {
            ports: &v.ports,
            env: &v.env,
            resources: &v.resources,
            probes: [&v.readiness_probe, &v.liveness_probe, &v.startup_probe],
            security_context: &v.security_context,
        },
    );
    if !v.lifecycle.is_empty() {
        container.insert("lifecycle".into(), json!(v.lifecycle));
    }
    let mut mounts = vec![json!({"name": "tmp", "mountPath": "/tmp"})];
    let mut volumes = vec![empty_dir("tmp", TMP_SIZE)];
    for vol in &v.volumes {
        mounts.push(json!({"name": vol.name, "mountPath": vol.mount_path}));
        if vol.claim_template == Some(true) {
            // The StatefulSet controller adds the replica's claim under the volume's name.
            continue;
        }
        match vol.claim_name.as_ref().filter(|c| !c.is_empty()) {
            Some(claim) => volumes
                .push(json!({"name": vol.name, "persistentVolumeClaim": {"claimName": claim}})),
            None => volumes.push(empty_dir(&vol.name, &vol.size)),
        }
    }
    container.insert("volumeMounts".into(), Value::Array(mounts));
    // Sidecars first: an init container after them can use them (a database proxy).
    let mut init: Vec<Value> = Vec::new();
    for (containers, sidecar) in [(&v.sidecars, true), (&v.init_containers, false)] {
        for c in containers {
            init.push(extra_container(c, sidecar));
            for vol in &c.volumes {
                volumes.push(empty_dir(&vol.name, &vol.size));
            }
        }
    }
    let mut spec = Map::new();
    spec.insert("serviceAccountName".into(), json!(v.name));
    spec.insert("automountServiceAccountToken".into(), json!(false));
    if !v.schedule.is_empty() {
        spec.insert("restartPolicy".into(), json!("OnFailure"));
    }
    spec.insert(
        "terminationGracePeriodSeconds".into(),
        json!(v.termination_grace_period_seconds),
    );
    spec.insert("securityContext".into(), json!(v.pod_security_context));
    if !v.topology_spread_constraints.is_empty() {
        spec.insert(
            "topologySpreadConstraints".into(),
            json!(v.topology_spread_constraints),
        );
    }
    if !init.is_empty() {
        spec.insert("initContainers".into(), Value::Array(init));
    }
    spec.insert("containers".into(), json!([Value::Object(container)]));
    spec.insert("volumes".into(), Value::Array(volumes));
    json!({
        "metadata": {"labels": v.pod_labels, "annotations": v.pod_annotations},
        "spec": Value::Object(spec),
    })
}
