//! Every bundled example compiles with zero diagnostics, and compiling is
//! deterministic: the same project in two different directories gives the same bytes.

use std::path::Path;

use crate::support::{compile, render_human, root, subdirs};

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).sort_by_file_name() {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("prefix");
        if rel.components().any(|c| c.as_os_str() == "generated") {
            continue;
        }
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn examples_compile_without_diagnostics() {
    let examples = subdirs(&root().join("examples"));
    assert!(
        examples.len() >= 2,
        "examples/minimal and examples/shop at least"
    );
    for dir in examples {
        let c = compile(&dir, &nestioc::Options::default());
        assert!(
            c.analysis.diagnostics.is_empty(),
            "{} has diagnostics:\n{}",
            dir.display(),
            render_human(&c.analysis)
        );
        assert!(c.artifacts.is_some_and(|a| !a.is_empty()));
    }
}

#[test]
fn shop_is_realistic() {
    let c = compile(&root().join("examples/shop"), &nestioc::Options::default());
    let model = c.analysis.model.expect("model");
    assert!(model.services.len() >= 8);
    assert!(model.services.values().any(|s| s.is_worker()));
    assert!(model.services.values().any(|s| !s.externals.is_empty()));
    assert!(
        model
            .services
            .values()
            .any(|s| s.rollout.kind == nestioc::model::RolloutKind::Canary)
    );
    assert!(model.project.environments.len() >= 2);
}

#[test]
fn builds_are_byte_identical_from_different_directories() {
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let pa = a.path().join("one/shop");
    let pb = b.path().join("elsewhere/deeper/shop");
    copy_dir(&root().join("examples/shop"), &pa);
    copy_dir(&root().join("examples/shop"), &pb);
    let sa = compile(&pa, &nestioc::Options::default())
        .artifacts
        .expect("a");
    let sb = compile(&pb, &nestioc::Options::default())
        .artifacts
        .expect("b");
    assert_eq!(
        sa.files.keys().collect::<Vec<_>>(),
        sb.files.keys().collect::<Vec<_>>()
    );
    for (path, art) in &sa.files {
        assert_eq!(art.contents, sb.files[path].contents, "{path} differs");
        assert!(
            !art.contents.contains(&*a.path().to_string_lossy()),
            "{path} has an absolute path"
        );
    }
}

/// Lines of KDL that say something: not blank, not comments.
fn meaningful_lines(dir: &Path) -> (usize, usize) {
    let mut lines = 0;
    let mut bytes = 0;
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("walk");
        if entry.path().extension().is_none_or(|x| x != "kdl") {
            continue;
        }
        for l in std::fs::read_to_string(entry.path()).expect("read").lines() {
            let t = l.trim();
            if !t.is_empty() && !t.starts_with("//") {
                lines += 1;
                bytes += l.len() + 1;
            }
        }
    }
    (lines, bytes)
}

/// `examples/shop` uses templates, stdlib presets, parameters and defaults;
/// `tests/fixtures/expanded/shop` is the same topology spelled out without any of them.
/// They generate the same bytes, and the reuse makes the shop at least 40% shorter.
#[test]
fn templated_shop_equals_its_expanded_form_and_is_much_shorter() {
    let short = root().join("examples/shop");
    let long = root().join("tests/fixtures/expanded/shop");
    for entry in walkdir::WalkDir::new(&long) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let text = std::fs::read_to_string(entry.path()).expect("read");
            assert!(
                !text.contains("uses ")
                    && !text.contains("defaults")
                    && !text.contains("(param)")
                    && !text.contains("(fmt)"),
                "{} still uses templates or defaults",
                entry.path().display()
            );
        }
    }
    let a = compile(&short, &nestioc::Options::default());
    let b = compile(&long, &nestioc::Options::default());
    assert!(
        b.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&b.analysis)
    );
    let (a, b) = (a.artifacts.expect("short"), b.artifacts.expect("long"));
    assert_eq!(
        a.files.keys().collect::<Vec<_>>(),
        b.files.keys().collect::<Vec<_>>()
    );
    for (path, art) in &a.files {
        assert_eq!(art.contents, b.files[path].contents, "{path} differs");
    }
    let (short_lines, short_bytes) = meaningful_lines(&short);
    let (long_lines, long_bytes) = meaningful_lines(&long);
    assert!(
        short_lines * 100 <= long_lines * 60,
        "examples/shop has {short_lines} lines, the expanded form {long_lines}: less than 40% shorter"
    );
    assert!(short_bytes < long_bytes);
}

/// examples/socks is the real application that needs every escape hatch of the language
/// (issue 16): this holds it to using each one, in the rendered manifests.
#[test]
fn socks_uses_every_pod_and_workload_feature() {
    let c = compile(&root().join("examples/socks"), &nestioc::Options::default());
    let set = c.artifacts.expect("artifacts");
    let docs = |path: &str| -> Vec<serde_json::Value> {
        let text = &set.files[path].contents;
        serde_saphyr::from_multiple::<serde_json::Value>(text)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let find = |path: &str, kind: &str, name: &str| -> serde_json::Value {
        docs(path)
            .into_iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{path}: no {kind} {name}"))
    };
    let pod =
        |path: &str, kind: &str, name: &str| find(path, kind, name)["spec"]["template"].clone();
    let prod = |svc: &str| format!("kubernetes/production/{svc}.yaml");

    // Stateful services: a StatefulSet with a claim template; not scaled by production.
    let db = find(&prod("carts-db"), "StatefulSet", "carts-db");
    assert_eq!(db["spec"]["replicas"], 1);
    assert!(
        db["spec"]["volumeClaimTemplates"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    // The image's own user, relaxed explicitly.
    assert_eq!(
        db["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        999
    );
    // replicas-scale 2 doubles the stateless services, not the opted-out consumer.
    assert_eq!(
        find(&prod("carts"), "Deployment", "carts")["spec"]["replicas"],
        2
    );
    assert_eq!(
        find(&prod("queue-master"), "Deployment", "queue-master")["spec"]["replicas"],
        1
    );

    // Service types: the node port in production, a load balancer in staging.
    let public = find(&prod("front-end"), "Service", "front-end-public");
    assert_eq!(public["spec"]["type"], "NodePort");
    assert_eq!(public["spec"]["ports"][0]["nodePort"], 30001);
    let staging = find(
        "kubernetes/staging/front-end.yaml",
        "Service",
        "front-end-public",
    );
    assert_eq!(staging["spec"]["type"], "LoadBalancer");

    // A sidecar (a restartable init container) and an init container.
    let rabbit = pod(&prod("rabbitmq"), "StatefulSet", "rabbitmq");
    let exporter = &rabbit["spec"]["initContainers"][0];
    assert_eq!(exporter["name"], "exporter");
    assert_eq!(exporter["restartPolicy"], "Always");
    let qm = pod(&prod("queue-master"), "Deployment", "queue-master");
    let wait = &qm["spec"]["initContainers"][0];
    assert_eq!(wait["name"], "wait-for-rabbitmq");
    assert!(wait.get("restartPolicy").is_none());
    // Annotations on the pod and on the Service; a label.
    assert_eq!(
        rabbit["metadata"]["annotations"]["prometheus.io/scrape"],
        "false"
    );
    assert_eq!(
        find(&prod("rabbitmq"), "Service", "rabbitmq")["metadata"]["annotations"]["prometheus.io/port"],
        "9090"
    );
    assert_eq!(rabbit["metadata"]["labels"]["team"], "socks");

    // command, exec probes, per-use probe timings, env names as Spring reads them.
    let cat = &pod(&prod("catalogue"), "Deployment", "catalogue")["spec"]["containers"][0];
    assert_eq!(cat["command"], serde_json::json!(["/app"]));
    assert_eq!(cat["args"], serde_json::json!(["-port=80"]));
    assert_eq!(cat["readinessProbe"]["initialDelaySeconds"], 180);
    assert_eq!(cat["livenessProbe"]["initialDelaySeconds"], 300);
    assert_eq!(
        cat["securityContext"]["capabilities"]["add"],
        serde_json::json!(["NET_BIND_SERVICE"])
    );
    let redis = &pod(&prod("session-db"), "Deployment", "session-db")["spec"]["containers"][0];
    assert_eq!(redis["image"], "redis:7.2-alpine");
    assert_eq!(
        redis["readinessProbe"]["exec"]["command"],
        serde_json::json!(["redis-cli", "ping"])
    );
    let env = qm["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    assert!(
        env.iter().any(|e| e["name"] == "spring.rabbitmq.host"),
        "{env:?}"
    );

    // A decimal duration reaches Istio as written.
    let vs = find(&prod("catalogue"), "VirtualService", "catalogue");
    assert!(vs.to_string().contains("0.75s"), "{vs}");
}
