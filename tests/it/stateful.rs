//! Stateful services and published ports (issue 16, items 7 to 9), judged by what the
//! rendered objects make Kubernetes do, not by their shape:
//!
//! - a service with a persistent volume is a StatefulSet whose replicas each get claims of
//!   their own (`volumeClaimTemplates`), so no two pods share a ReadWriteOnce claim, in any
//!   environment, however it is scaled;
//! - `replicas-scale` leaves a stateful service alone unless it says `scale=#true`, and any
//!   service that says `scale=#false`; `nestioc why` says which rule applied;
//! - `expose node-port=`/`load-balancer=#true` give a Service of that type with the one
//!   published port, a node port only where it cannot collide.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{compile, render_human};

fn project(text: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("project");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("nestio.kdl"), text).expect("write");
    (tmp, dir)
}

fn rendered(set: &nestioc::emit::ArtifactSet, env: &str, service: &str) -> Vec<Value> {
    let path = format!("kubernetes/{env}/{service}.yaml");
    let file = set.files.get(&path).unwrap_or_else(|| panic!("no {path}"));
    serde_saphyr::from_multiple::<Value>(&file.contents)
        .expect("yaml")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn kind<'a>(objs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn build(text: &str) -> (tempfile::TempDir, PathBuf, nestioc::emit::ArtifactSet) {
    let (tmp, dir) = project(text);
    let c = compile(&dir, &nestioc::Options::default());
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    (tmp, dir, c.artifacts.expect("artifacts"))
}

fn codes(text: &str) -> Vec<&'static str> {
    let (_tmp, dir) = project(text);
    crate::support::codes(&compile(&dir, &nestioc::Options::default()))
}

fn why(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .arg("why")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nestioc");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many pods a workload runs at most: the HPA's maximum, else `replicas` (1 when
/// absent, the API server's default).
fn max_pods(objs: &[Value], workload: &Value) -> u64 {
    objs.iter()
        .find(|o| o["kind"] == "HorizontalPodAutoscaler")
        .map_or_else(
            || workload["spec"]["replicas"].as_u64().unwrap_or(1),
            |h| h["spec"]["maxReplicas"].as_u64().unwrap_or(1),
        )
}

/// The claims pods of `workload` mount, and whether each pod gets its own: a claim named in
/// the pod template (`persistentVolumeClaim.claimName`) is one claim for every pod; a
/// `volumeClaimTemplates` entry is one claim per pod, `<template>-<set>-<ordinal>`
/// (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#volume-claim-templates).
fn shared_claims(workload: &Value) -> Vec<String> {
    workload["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .map(str::to_owned)
        .collect()
}

const SCALED: &str = r#"project "vault" {
    registry "registry.example.com/vault"
    environment "staging" {
        namespace "vault-staging"
        replicas-scale 0.5
    }
    environment "prod" {
        replicas-scale 2
    }
}
service "ledger" {
    uses "std/postgres" database="ledger" password-secret="ledger-db"
}
service "shards" {
    uses "std/http-service"
    image "shards" tag="1.0.0"
    replicas 2 scale=#true
    volume "data" path="/data" size="2Gi" persistent=#true
}
service "api" {
    uses "std/http-service"
    image "api" tag="1.0.0"
    replicas 2 scale=#false
}
service "web" {
    uses "std/http-service"
    image "web" tag="1.0.0"
    replicas 2
}
"#;

/// The bug of issue 16: `persistent=#true` under `replicas-scale 2` passed `check` and
/// rendered two replicas of a Deployment on one ReadWriteOnce claim (the second pod waits
/// forever for a volume attached to another node, or both write one data directory). In
/// every environment, no workload may run two pods on one claim: a stateful service is a
/// StatefulSet and each replica gets its own.
#[test]
fn no_two_pods_share_a_persistent_claim_in_any_environment() {
    let (_tmp, _dir, set) = build(SCALED);
    for env in ["staging", "prod"] {
        for service in ["ledger", "shards"] {
            let objs = rendered(&set, env, service);
            let workload = objs
                .iter()
                .find(|o| {
                    ["Deployment", "StatefulSet", "Rollout"]
                        .contains(&o["kind"].as_str().unwrap_or(""))
                })
                .expect("workload");
            assert_eq!(workload["kind"], "StatefulSet", "{env}/{service}");
            let pods = max_pods(&objs, workload);
            assert!(
                pods <= 1 || shared_claims(workload).is_empty(),
                "{env}/{service}: {pods} pods share {:?}",
                shared_claims(workload)
            );
            assert!(
                workload["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["metadata"]["name"] == "data")),
                "{env}/{service}: no claim template for `data`"
            );
            // The governing Service must exist (StatefulSet `serviceName`: "This service
            // must exist before the StatefulSet").
            let headless = kind(&objs, "Service", &format!("{service}-headless"))
                .unwrap_or_else(|| panic!("{env}/{service}: no headless Service"));
            assert_eq!(headless["spec"]["clusterIP"], "None");
            assert_eq!(
                workload["spec"]["serviceName"],
                headless["metadata"]["name"]
            );
            assert!(
                !objs.iter().any(|o| o["kind"] == "PersistentVolumeClaim"),
                "{env}/{service}: the chart's own claim would be one for every replica"
            );
        }
    }
}

/// `replicas-scale` multiplies the replicas of `web` only: `ledger` is stateful and did not
/// ask, `api` opted out, `shards` asked (`scale=#true`).
#[test]
fn replicas_scale_skips_stateful_services_and_opted_out_ones() {
    let (_tmp, dir, set) = build(SCALED);
    let replicas = |env: &str, service: &str| -> u64 {
        let objs = rendered(&set, env, service);
        let w = objs
            .iter()
            .find(|o| ["Deployment", "StatefulSet"].contains(&o["kind"].as_str().unwrap_or("")))
            .expect("workload");
        w["spec"]["replicas"].as_u64().unwrap_or(1)
    };
    for (service, staging, prod) in [
        ("ledger", 1, 1),
        ("shards", 1, 4),
        ("api", 2, 2),
        ("web", 1, 4),
    ] {
        assert_eq!(replicas("staging", service), staging, "staging/{service}");
        assert_eq!(replicas("prod", service), prod, "prod/{service}");
    }
    let text = why(&dir, &["ledger", "replicas", "--env", "prod"]);
    assert!(
        text.contains("not scaled by 2 in `prod`: a stateful service, volume `data` is persistent"),
        "{text}"
    );
    let text = why(&dir, &["api", "replicas", "--env", "prod"]);
    assert!(
        text.contains("not scaled by 2 in `prod`: the service says `scale=#false`"),
        "{text}"
    );
    let text = why(&dir, &["shards", "replicas", "--env", "prod"]);
    assert!(
        text.contains("4 replicas (scaled by 2 in `prod`)"),
        "{text}"
    );
}

/// Argo Rollouts' `Rollout` has a pod template and no `volumeClaimTemplates`
/// (argo-rollouts pkg/apis/rollouts/v1alpha1/types.go `RolloutSpec`): a canary or
/// blue-green rollout of a stateful service could only share one claim between two
/// versions. It is refused, and so are persistent volumes that disagree on `keep` (a
/// StatefulSet has one `persistentVolumeClaimRetentionPolicy`).
#[test]
fn a_stateful_service_cannot_roll_out_by_canary_nor_disagree_on_keep() {
    let canary = r#"project "vault" {
    registry "registry.example.com/vault"
    cd "argocd" repository="https://git.example.com/vault.git"
}
service "ledger" {
    uses "std/postgres" database="ledger" password-secret="ledger-db"
    rollout "canary" {
        step weight=50 pause="5m"
    }
}
"#;
    assert_eq!(codes(canary), ["NST0115"]);
    let keep = r#"project "vault" {
    registry "registry.example.com/vault"
}
service "store" {
    uses "std/worker"
    image "store" tag="1.0.0"
    volume "data" path="/data" persistent=#true
    volume "spill" path="/spill" persistent=#true keep=#false
}
"#;
    assert_eq!(codes(keep), ["NST0115"]);
}

const PUBLISHED: &str = r#"project "iot" {
    registry "registry.example.com/iot"
    environment "dev" {
        namespace "iot-dev"
    }
    environment "staging" {
        namespace "iot-staging"
        service "broker" {
            expose node-port=31884 port="mqtt"
        }
    }
    environment "prod"
}
service "broker" {
    image "eclipse-mosquitto" tag="2.0.20"
    port "mqtt" 1883 protocol="tcp"
    port "metrics" 9234 protocol="http"
    probe "tcp" port="mqtt"
    expose node-port=31883 port="mqtt"
}
service "ingest" {
    uses "std/grpc-service"
    image "ingest" tag="1.0.0"
    expose load-balancer=#true
}
"#;

/// A NodePort Service opens a node port for each of its ports, and a node port is the
/// cluster's (https://kubernetes.io/docs/concepts/services-networking/service/#type-nodeport):
/// `<service>-public` carries the published port only, with the declared node port in
/// production, the override in staging, and none (the API server allocates) in dev. The
/// NetworkPolicy admits the outside on that container port and nothing else.
#[test]
fn published_ports_get_a_service_of_their_type_and_a_node_port_that_cannot_collide() {
    let (_tmp, _dir, set) = build(PUBLISHED);
    for (env, node_port) in [
        ("prod", Some(31883)),
        ("staging", Some(31884)),
        ("dev", None),
    ] {
        let objs = rendered(&set, env, "broker");
        let public = kind(&objs, "Service", "broker-public").expect("broker-public");
        assert_eq!(public["spec"]["type"], "NodePort", "{env}");
        let ports = public["spec"]["ports"].as_array().expect("ports");
        assert_eq!(ports.len(), 1, "{env}: {ports:?}");
        assert_eq!(ports[0]["name"], "mqtt");
        assert_eq!(ports[0]["nodePort"].as_u64(), node_port, "{env}");
        // The ClusterIP Service stays as it was: callers inside use it.
        let own = kind(&objs, "Service", "broker").expect("broker");
        assert_eq!(own["spec"]["type"], "ClusterIP");
        let policy = kind(&objs, "NetworkPolicy", "broker").expect("policy");
        let open: Vec<&Value> = policy["spec"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["from"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|p| p["ipBlock"]["cidr"] == "0.0.0.0/0"))
            })
            .collect();
        assert_eq!(open.len(), 1, "{env}: {open:?}");
        assert_eq!(
            open[0]["ports"],
            serde_json::json!([{"protocol": "TCP", "port": 1883}]),
            "{env}"
        );
    }
    let objs = rendered(&set, "prod", "ingest");
    let public = kind(&objs, "Service", "ingest-public").expect("ingest-public");
    assert_eq!(public["spec"]["type"], "LoadBalancer");
    assert!(public["spec"]["ports"][0].get("nodePort").is_none());
}

/// Where a published port goes wrong: a node port outside the API server's default range
/// (NST0105, with the range's origin), `host=` with a published port (NST0115), a second
/// service on the same node port (NST0140).
#[test]
fn published_ports_are_diagnosed() {
    let with = |expose: &str| {
        format!(
            r#"project "iot" {{
    registry "registry.example.com/iot"
}}
service "broker" {{
    image "eclipse-mosquitto" tag="2.0.20"
    port "mqtt" 1883 protocol="tcp"
    probe "tcp" port="mqtt"
    {expose}
}}
service "relay" {{
    image "eclipse-mosquitto" tag="2.0.20"
    port "mqtt" 1883 protocol="tcp"
    probe "tcp" port="mqtt"
    expose node-port=30001
}}
"#
        )
    };
    assert_eq!(codes(&with("expose node-port=8080")), ["NST0105"]);
    assert_eq!(codes(&with("expose node-port=32768")), ["NST0105"]);
    assert_eq!(
        codes(&with("expose host=\"mqtt.example.com\" node-port=30002")),
        ["NST0115"]
    );
    assert_eq!(codes(&with("expose node-port=30001")), ["NST0140"]);
    assert_eq!(codes(&with("expose node-port=30002")), Vec::<&str>::new());
    assert_eq!(
        codes(&with("expose load-balancer=#true")),
        Vec::<&str>::new()
    );
}

/// The outage alert of a stateful service reads kube-state-metrics' StatefulSet series
/// (docs/metrics/workload/statefulset-metrics.md: `kube_statefulset_status_replicas_ready`,
/// `kube_statefulset_replicas`, labelled `statefulset`): the Deployment series it read
/// before do not exist for a StatefulSet, and an alert on an absent series never fires.
#[test]
fn the_outage_alert_of_a_stateful_service_reads_statefulset_series() {
    let dir = crate::support::root().join("tests/fixtures/valid/stateful-services");
    let c = compile(&dir, &nestioc::Options::default());
    let set = c.artifacts.expect("artifacts");
    let rules = &crate::support::rule_file_text(&set, "ledger").expect("ledger's rules");
    assert!(
        rules.contains("kube_statefulset_status_replicas_ready{statefulset=\"ledger\"}")
            && rules.contains("kube_statefulset_replicas{statefulset=\"ledger\"}"),
        "{rules}"
    );
    assert!(!rules.contains("kube_deployment"), "{rules}");
}
