//! The pod beyond one container (issue 16, items 2 to 6), read back from the rendered
//! manifests of tests/fixtures/valid/pod-spec as Kubernetes reads them: who each
//! container runs as, which probe serves which use, which ports callers reach through
//! the NetworkPolicy, and how the mesh's proxy is ordered among the extra containers.
//! The server-side dry-run (cluster.rs), kubeconform and Helm check the same fixture's
//! schema; Linkerd's policy for its probes is proved in linkerd_policy.rs.

use serde_json::Value;

use crate::support::{compile, fixture_options, render_human, root};

/// The objects of a multi-document YAML file.
fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .expect("yaml")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn objects(service: &str) -> Vec<Value> {
    let dir = root().join("tests/fixtures/valid/pod-spec");
    let c = compile(&dir, &fixture_options(&dir));
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    let path = format!("kubernetes/default/{service}.yaml");
    let file = set.files.get(&path).unwrap_or_else(|| panic!("no {path}"));
    documents(&file.contents)
}

fn kind<'a>(objs: &'a [Value], k: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == k)
        .unwrap_or_else(|| panic!("no {k}"))
}

fn container<'a>(spec: &'a Value, list: &str, name: &str) -> &'a Value {
    spec[list]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

/// The UID a container runs as: its own `runAsUser`, else the pod's
/// (https://kubernetes.io/docs/tasks/configure-pod-container/security-context/: "the
/// settings made at the Container level override the settings made at the Pod level").
fn uid(pod: &Value, c: &Value) -> Option<u64> {
    c["securityContext"]["runAsUser"]
        .as_u64()
        .or_else(|| pod["securityContext"]["runAsUser"].as_u64())
}

/// Each relaxation reaches exactly its container: the service's `run-as-user=999` is the
/// pod's UID, the sidecar keeps 10001; `run-as="image"` leaves the UID to the image while
/// `runAsNonRoot` stays; the added capability is added after dropping ALL; the init
/// container keeps every default.
#[test]
fn relaxations_apply_to_their_container_only() {
    let cache = objects("cache");
    let pod = &kind(&cache, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(uid(pod, container(pod, "containers", "cache")), Some(999));
    assert_eq!(pod["securityContext"]["fsGroup"], 999);
    let exporter = container(pod, "initContainers", "exporter");
    assert_eq!(uid(pod, exporter), Some(10001));
    assert_eq!(exporter["securityContext"]["readOnlyRootFilesystem"], true);

    let api = objects("api");
    let pod = &kind(&api, "Deployment")["spec"]["template"]["spec"];
    let main = container(pod, "containers", "api");
    assert_eq!(uid(pod, main), None, "run-as=\"image\": the image's USER");
    for sc in [&pod["securityContext"], &main["securityContext"]] {
        assert_ne!(sc["runAsNonRoot"], false);
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(main["securityContext"]["readOnlyRootFilesystem"], false);
    assert_eq!(
        main["securityContext"]["capabilities"],
        serde_json::json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
    );
    assert_eq!(main["securityContext"]["allowPrivilegeEscalation"], false);
    let migrate = container(pod, "initContainers", "migrate");
    assert_eq!(uid(pod, migrate), Some(10001));
    assert_eq!(migrate["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(
        migrate["restartPolicy"].is_null(),
        "an init container runs once"
    );
}

/// Probes by use: `for=` picks readiness, liveness or startup; `exec` runs its command
/// without a shell; a sidecar's probe is on its own container and port.
#[test]
fn probes_land_on_their_use_and_container() {
    let cache = objects("cache");
    let pod = &kind(&cache, "Deployment")["spec"]["template"]["spec"];
    let main = container(pod, "containers", "cache");
    assert_eq!(
        main["readinessProbe"]["exec"]["command"],
        serde_json::json!(["redis-cli", "ping"])
    );
    assert_eq!(main["readinessProbe"]["periodSeconds"], 5);
    assert_eq!(main["readinessProbe"]["timeoutSeconds"], 1);
    assert_eq!(main["livenessProbe"]["tcpSocket"]["port"], "redis");
    assert_eq!(main["livenessProbe"]["initialDelaySeconds"], 15);
    assert!(main["startupProbe"].is_null());
    let exporter = container(pod, "initContainers", "exporter");
    assert_eq!(exporter["restartPolicy"], "Always", "a Kubernetes sidecar");
    assert_eq!(exporter["readinessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(exporter["readinessProbe"]["httpGet"]["path"], "/health");

    let api = objects("api");
    let pod = &kind(&api, "Deployment")["spec"]["template"]["spec"];
    let main = container(pod, "containers", "api");
    assert_eq!(main["command"], serde_json::json!(["/app"]));
    assert_eq!(main["args"], serde_json::json!(["--listen", ":80"]));
    assert_eq!(main["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(main["livenessProbe"]["httpGet"]["path"], "/live");
    assert_eq!(main["startupProbe"]["httpGet"]["path"], "/started");
    assert_eq!(main["startupProbe"]["failureThreshold"], 60);

    let ledger = objects("ledger");
    let main = container(
        &kind(&ledger, "Deployment")["spec"]["template"]["spec"],
        "containers",
        "ledger",
    );
    assert_eq!(main["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(main["livenessProbe"]["grpc"]["port"], 50051);
}

/// A sidecar's port is a port of the Service, and the NetworkPolicy admits a caller on
/// the port it names and no other: `api` names the exporter's `metrics`, `ledger` the
/// default (`redis`). Kubernetes admits a connection when one ingress rule matches both
/// its peer and its port
/// (https://kubernetes.io/docs/concepts/services-networking/network-policies/).
#[test]
fn callers_reach_a_sidecar_port_they_name_and_nothing_else() {
    let cache = objects("cache");
    let service = kind(&cache, "Service");
    let ports: Vec<(&str, u64)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["port"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports, [("redis", 6379), ("metrics", 9121)]);
    let policy = kind(&cache, "NetworkPolicy");
    let admits = |caller: &str, port: u64| -> bool {
        policy["spec"]["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rule| {
                let peer =
                    rule["from"].as_array().unwrap().iter().any(|f| {
                        f["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == caller
                    });
                let on = rule["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["port"].as_u64() == Some(port));
                peer && on
            })
    };
    assert!(admits("api", 9121));
    assert!(!admits("api", 6379));
    assert!(admits("ledger", 6379));
    assert!(!admits("ledger", 9121));
    // The caller's address names the sidecar's port.
    let api = objects("api");
    let main = container(
        &kind(&api, "Deployment")["spec"]["template"]["spec"],
        "containers",
        "api",
    );
    assert!(
        main["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "CACHE_METRICS_ADDR" && e["value"] == "cache:9121"),
        "{}",
        main["env"]
    );
}

/// Metadata: the topology's labels and annotations on the pod template, its
/// service-annotations on the Service, beside nestioc's own keys.
#[test]
fn annotations_and_labels_reach_their_objects() {
    let cache = objects("cache");
    let template = &kind(&cache, "Deployment")["spec"]["template"]["metadata"];
    assert_eq!(template["labels"]["team"], "storage");
    assert_eq!(template["labels"]["app.kubernetes.io/name"], "cache");
    assert_eq!(template["annotations"]["prometheus.io/scrape"], "true");
    let service = &kind(&cache, "Service")["metadata"];
    assert_eq!(service["annotations"]["example.com/owner"], "storage-team");
    assert!(service["annotations"]["prometheus.io/scrape"].is_null());
    assert!(template["annotations"]["example.com/owner"].is_null());
}

/// Under Linkerd, a pod with a sidecar or an init container gets the proxy as a
/// Kubernetes sidecar container, so that it starts before them (an init container's
/// calls would otherwise meet linkerd-init's redirect with no proxy behind it) and stops
/// after the app; Linkerd says not to combine that with the proxy's exit delay
/// (https://linkerd.io/2/reference/proxy-configuration/). A pod without extra
/// containers keeps the delay that drains it (images.rs).
#[test]
fn linkerd_starts_its_proxy_first_where_the_pod_has_extra_containers() {
    for (service, native) in [("cache", true), ("api", true), ("ledger", false)] {
        let objs = objects(service);
        let a = &kind(&objs, "Deployment")["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            a["config.beta.linkerd.io/proxy-enable-native-sidecar"] == "true",
            native,
            "{service}: {a}"
        );
        assert_eq!(
            a["config.alpha.linkerd.io/proxy-wait-before-exit-seconds"].is_string(),
            !native,
            "{service}: {a}"
        );
    }
}

/// Under Linkerd a CronJob's pod gets the proxy as a Kubernetes sidecar container too: as
/// a plain container it keeps running after the job's container exits, the pod never
/// completes, and with `concurrencyPolicy: Forbid` every later run is skipped ("Meshed
/// Jobs (and CronJobs) are not able to terminate without modification",
/// https://linkerd.io/2/features/native-sidecars/).
#[test]
fn a_linkerd_cron_jobs_pod_can_complete() {
    let set = crate::support::compile_kdl(
        r#"project "ledger" {
    registry "ghcr.io/acme"
    mesh "linkerd"
}
service "settlement" {
    uses "std/cron-job" schedule="0 2 * * *"
    image "settlement" tag="1.0.0"
}
"#,
    );
    let file = set
        .files
        .get("kubernetes/default/settlement.yaml")
        .expect("the job's manifest");
    let objs: Vec<Value> = documents(&file.contents);
    let job = kind(&objs, "CronJob");
    let a = &job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(a["linkerd.io/inject"], "enabled", "{a}");
    assert_eq!(
        a["config.beta.linkerd.io/proxy-enable-native-sidecar"], "true",
        "{a}"
    );
    assert!(
        a["config.alpha.linkerd.io/proxy-wait-before-exit-seconds"].is_null(),
        "{a}"
    );
}

/// The HPA scales on the service's own container. The HPA controller computes a
/// `Resource` metric over every container of the pod and gives up on the whole metric when
/// one has no request ("missing request for cpu in container linkerd-proxy",
/// kubernetes `pkg/controller/podautoscaler/replica_calculator.go` calculatePodRequests);
/// Linkerd's proxy has no CPU request by default, so a meshed HPA never scaled. A
/// `ContainerResource` metric reads the named container only: it must name the app
/// container, which has a CPU request.
#[test]
fn a_meshed_autoscaler_scales_on_the_app_container() {
    let set = crate::support::compile_kdl(
        r#"project "ledger" {
    registry "ghcr.io/acme"
    mesh "linkerd"
}
service "api" {
    uses "std/http-service"
    image "api" tag="1.0.0"
    replicas 2 max=6
}
"#,
    );
    let objs: Vec<Value> = documents(&set.files["kubernetes/default/api.yaml"].contents);
    let hpa = kind(&objs, "HorizontalPodAutoscaler");
    let metrics = hpa["spec"]["metrics"].as_array().expect("metrics");
    assert_eq!(metrics.len(), 1, "{hpa}");
    assert_eq!(metrics[0]["type"], "ContainerResource", "{hpa}");
    let metric = &metrics[0]["containerResource"];
    assert_eq!(metric["name"], "cpu");
    let pod = &kind(&objs, "Deployment")["spec"]["template"];
    assert_eq!(
        pod["metadata"]["annotations"]["linkerd.io/inject"], "enabled",
        "the proxy is injected next to the app"
    );
    let app = pod["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == metric["container"])
        .unwrap_or_else(|| panic!("{} is not a container of the pod", metric["container"]));
    assert!(
        app["resources"]["requests"]["cpu"].is_string(),
        "the container the HPA reads has a CPU request: {app}"
    );
}

/// An `init-container` without `image` runs the service's own (a migration must run the
/// code of the release it migrates for). The chart reads it from the service's image
/// values, so each environment's tag and the tag CI sets at deploy time
/// (`--helm-set nestio-service.image.tag=<sha>`, docs/delivery.md) reach the init container
/// too: checked here with the real Helm 4. Before, an init container had to name an image,
/// which stayed at the tag written in values.yaml after every deploy.
#[test]
fn an_init_container_without_an_image_runs_the_deployed_image() {
    let set = crate::support::compile_kdl(
        r#"project "blog" {
    registry "ghcr.io/acme"
    environment "staging" {
        service "web" {
            image "blog" tag="2.1.0-rc.1"
        }
    }
    environment "prod"
}
service "web" {
    uses "std/http-service"
    language "python"
    build main="app.py"
    image "blog" tag="2.0.3"
    init-container "migrate" {
        command "python" "manage.py" "migrate"
    }
}
"#,
    );
    let init_image = |file: &str| {
        let objs: Vec<Value> = documents(&set.files[file].contents);
        let pod = &kind(&objs, "Deployment")["spec"]["template"]["spec"];
        (
            pod["initContainers"][0]["image"]
                .as_str()
                .map(str::to_owned),
            pod["containers"][0]["image"].as_str().map(str::to_owned),
        )
    };
    let (init, main) = init_image("kubernetes/staging/web.yaml");
    assert_eq!(init.as_deref(), Some("ghcr.io/acme/blog:2.1.0-rc.1"));
    assert_eq!(init, main);
    let (init, main) = init_image("kubernetes/prod/web.yaml");
    assert_eq!(init.as_deref(), Some("ghcr.io/acme/blog:2.0.3"));
    assert_eq!(init, main);

    let Some(helm) = crate::support::validator("helm renders an init container", "helm") else {
        return;
    };
    let out = tempfile::tempdir().expect("tmp");
    for (path, a) in &set.files {
        let p = out.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, &a.contents).expect("write");
    }
    let vendored = tempfile::tempdir().expect("tmp");
    let chart = crate::support::vendor_chart(&out.path().join("helm"), "web", vendored.path());
    let rendered = std::process::Command::new(helm)
        .args(["template", "web"])
        .arg(&chart)
        .arg("-f")
        .arg(chart.join("values-staging.yaml"))
        .args(["--set", "nestio-service.image.tag=0123abcd"])
        .output()
        .expect("helm runs");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let objs: Vec<Value> = documents(&text);
    let pod = &kind(&objs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["initContainers"][0]["image"], "ghcr.io/acme/blog:0123abcd",
        "{pod}"
    );
    assert_eq!(pod["initContainers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["containers"][0]["image"], "ghcr.io/acme/blog:0123abcd");
}
