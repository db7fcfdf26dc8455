//! Delivery: Argo Rollouts from the topology, Argo CD applications in wave order,
//! Spinnaker pipelines; Argo objects against their CRD schemas.

use std::process::Command;

use serde_json::Value;

use crate::support::{compile, root, shop_with_mesh};

fn objects(set: &nestioc::emit::ArtifactSet, prefix: &str) -> Vec<Value> {
    set.files
        .iter()
        .filter(|(p, _)| p.starts_with(prefix) && p.ends_with(".yaml"))
        .flat_map(|(_, a)| serde_saphyr::from_multiple::<Value>(&a.contents).expect("yaml"))
        .filter(|d| !d.is_null())
        .collect()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn canary_rollouts_follow_the_topology() {
    for mesh in ["istio", "linkerd", "none"] {
        let (_t, dir) = shop_with_mesh(mesh);
        let c = compile(&dir, &nestioc::Options::default());
        let model = c.analysis.model.clone().expect("model");
        let set = c.artifacts.expect("artifacts");
        let objs = objects(&set, "kubernetes/prod/");
        for service in model.services.values() {
            let kind = service.rollout.kind;
            let deployment = objs.iter().any(|o| {
                o["kind"] == "Deployment" && o["metadata"]["name"] == service.name.as_str()
            });
            let rollout = objs
                .iter()
                .find(|o| o["kind"] == "Rollout" && o["metadata"]["name"] == service.name.as_str());
            match kind {
                nestioc::model::RolloutKind::Rolling => {
                    assert!(rollout.is_none(), "{}", service.name)
                }
                nestioc::model::RolloutKind::Canary => {
                    let r = rollout
                        .unwrap_or_else(|| panic!("{mesh}: {} renders a Rollout", service.name));
                    assert!(
                        !deployment,
                        "{}: a Rollout instead of a Deployment",
                        service.name
                    );
                    let steps = r["spec"]["strategy"]["canary"]["steps"]
                        .as_array()
                        .expect("steps");
                    let weights: Vec<u64> = steps
                        .iter()
                        .filter_map(|s| s["setWeight"].as_u64())
                        .collect();
                    let declared: Vec<u64> = service
                        .rollout
                        .steps
                        .iter()
                        .map(|s| u64::from(s.weight))
                        .collect();
                    assert_eq!(weights, declared, "{mesh}: {} steps", service.name);
                    let pauses: Vec<&str> = steps
                        .iter()
                        .filter_map(|s| s["pause"]["duration"].as_str())
                        .collect();
                    let declared_pauses: Vec<String> = service
                        .rollout
                        .steps
                        .iter()
                        .filter_map(|s| s.pause.as_ref().map(|p| p.canonical()))
                        .collect();
                    assert_eq!(pauses, declared_pauses);
                    let routing = &r["spec"]["strategy"]["canary"]["trafficRouting"];
                    match mesh {
                        "istio" => {
                            assert!(routing["istio"]["virtualServices"].is_array(), "{routing}")
                        }
                        "linkerd" => assert!(
                            routing["plugins"]["argoproj-labs/gatewayAPI"].is_object(),
                            "{routing}"
                        ),
                        _ => assert!(routing.is_null()),
                    }
                    let analysis = find(
                        &objs,
                        "AnalysisTemplate",
                        &format!("{}-analysis", service.name),
                    );
                    let queries: Vec<&str> = analysis["spec"]["metrics"]
                        .as_array()
                        .expect("metrics")
                        .iter()
                        .filter_map(|m| m["provider"]["prometheus"]["query"].as_str())
                        .collect();
                    // The new pods only: Argo Rollouts passes their ReplicaSet's hash.
                    assert!(
                        queries
                            .iter()
                            .any(|q| q
                                .contains("rollouts_pod_template_hash=\"{{args.canary-hash}}\"")),
                        "{queries:?}"
                    );
                    let args = &r["spec"]["strategy"]["canary"]["analysis"]["args"];
                    assert!(
                        args.as_array()
                            .expect("args")
                            .iter()
                            .any(|a| a["name"] == "canary-hash"
                                && a["valueFrom"]["podTemplateHashValue"] == "Latest"),
                        "{args}"
                    );
                    if mesh != "none" {
                        for caller in c
                            .analysis
                            .topology
                            .as_ref()
                            .expect("topology")
                            .callers(&service.name)
                        {
                            // The calls this caller makes to the canary Service.
                            let caller_label = if mesh == "istio" {
                                format!("source_workload=\"{}\"", caller.caller)
                            } else {
                                format!("app_kubernetes_io_name=\"{}\"", caller.caller)
                            };
                            assert!(
                                queries.iter().any(|q| q.contains(&caller_label)
                                    && q.contains(&format!("\"{}-canary\"", service.name))),
                                "{}: the analysis watches {}'s calls to the canary",
                                service.name,
                                caller.caller
                            );
                        }
                    }
                    if let Some(rate) = service.rollout.abort_error_rate {
                        let cond = analysis["spec"]["metrics"][0]["successCondition"]
                            .as_str()
                            .expect("condition");
                        assert!(cond.ends_with(&format!("<= {}", rate.ratio())), "{cond}");
                    }
                }
                nestioc::model::RolloutKind::BlueGreen => {
                    let r = rollout.expect("blue-green renders a Rollout");
                    let bg = &r["spec"]["strategy"]["blueGreen"];
                    assert_eq!(bg["previewService"], format!("{}-preview", service.name));
                    assert_eq!(bg["autoPromotionEnabled"], false);
                    // Judged after promotion, on the new pods; the old ones stay until the
                    // analysis ends (no scaleDownDelaySeconds: docs/features/bluegreen.md).
                    if !bg["postPromotionAnalysis"].is_null() {
                        assert!(bg.get("scaleDownDelaySeconds").is_none(), "{bg}");
                        assert!(bg.get("prePromotionAnalysis").is_none(), "{bg}");
                    }
                    find(&objs, "Service", &format!("{}-preview", service.name));
                }
            }
        }
    }
}

#[test]
fn argocd_applications_sync_callees_first() {
    let c = compile(&root().join("examples/shop"), &nestioc::Options::default());
    let topology = c.analysis.topology.clone().expect("topology");
    let set = c.artifacts.expect("artifacts");
    let apps = objects(&set, "argocd/");
    let wave = |service: &str, env: &str| -> i64 {
        find(&apps, "Application", &format!("shop-{service}-{env}"))["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .expect("wave")
            .parse()
            .expect("number")
    };
    for e in topology.edges.iter().filter(|e| !e.optional()) {
        assert!(
            wave(&e.callee, "prod") < wave(&e.caller, "prod"),
            "{} -> {}",
            e.caller,
            e.callee
        );
    }
    let staging = find(&apps, "Application", "shop-checkout-staging");
    assert!(
        staging["spec"]["syncPolicy"]["automated"].is_object(),
        "staging syncs automatically"
    );
    let prod = find(&apps, "Application", "shop-checkout-prod");
    assert!(
        prod["spec"]["syncPolicy"].get("automated").is_none(),
        "prod syncs by hand"
    );
    assert_eq!(
        prod["spec"]["source"]["helm"]["valueFiles"],
        serde_json::json!(["values-prod.yaml"])
    );
    assert_eq!(
        prod["spec"]["source"]["path"],
        "examples/shop/generated/helm/checkout"
    );
    assert!(
        prod["spec"]["ignoreDifferences"].is_array(),
        "a Rollout's run-time changes are ignored"
    );
    find(&apps, "AppProject", "shop");
    find(&apps, "Application", "shop-prod");
}

#[test]
fn argo_objects_pass_their_crd_schemas() {
    let Some(bin) = crate::prometheus::tool("nestioc-crd-check") else {
        return;
    };
    for mesh in ["istio", "linkerd", "none"] {
        let (_t, dir) = shop_with_mesh(mesh);
        let c = compile(&dir, &nestioc::Options::default());
        let set = c.artifacts.expect("artifacts");
        let tmp = tempfile::tempdir().expect("tmp");
        let mut files = Vec::new();
        for (path, a) in &set.files {
            if (path.starts_with("argocd/") || path.starts_with("kubernetes/"))
                && path.ends_with(".yaml")
            {
                let dest = tmp.path().join(path.replace('/', "_"));
                std::fs::write(&dest, &a.contents).expect("write");
                files.push(dest);
            }
        }
        let out = Command::new(&bin).args(&files).output().expect("run");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !text.contains("FAIL"),
            "{mesh}: {text}"
        );
        for kind in ["Rollout", "AnalysisTemplate", "Application", "AppProject"] {
            assert!(
                text.lines()
                    .any(|l| l.starts_with("OK") && l.contains(&format!(" {kind}/"))),
                "{mesh}: no {kind} checked:\n{text}"
            );
        }
    }
}

/// The shape of a Spinnaker pipeline as its documentation describes it (there is no
/// installable validator): an application, a name, stages with unique `refId`s whose
/// `requisiteStageRefIds` point at earlier stages, known stage types, a trigger.
fn check_pipeline(p: &Value, name: &str) {
    for key in [
        "application",
        "name",
        "stages",
        "triggers",
        "expectedArtifacts",
    ] {
        assert!(p.get(key).is_some(), "{name}: missing {key}");
    }
    let known = [
        "bakeManifest",
        "deployManifest",
        "manualJudgment",
        "kayentaCanary",
        "wait",
    ];
    let mut seen: Vec<String> = Vec::new();
    for s in p["stages"].as_array().expect("stages") {
        let id = s["refId"].as_str().expect("refId").to_owned();
        assert!(!seen.contains(&id), "{name}: refId {id} twice");
        for r in s["requisiteStageRefIds"].as_array().expect("requisites") {
            assert!(
                seen.iter().any(|x| Some(x.as_str()) == r.as_str()),
                "{name}: {id} requires an unknown stage {r}"
            );
        }
        let ty = s["type"].as_str().expect("type");
        assert!(known.contains(&ty), "{name}: stage type {ty}");
        assert!(s["name"].is_string());
        if ty == "deployManifest" {
            assert_eq!(s["cloudProvider"], "kubernetes");
            let artifact = s["manifestArtifactId"].as_str().expect("artifact");
            assert!(
                p["expectedArtifacts"]
                    .as_array()
                    .expect("artifacts")
                    .iter()
                    .any(|a| a["id"] == artifact),
                "{name}: deploys an undeclared artifact {artifact}"
            );
        }
        seen.push(id);
    }
}

#[test]
fn spinnaker_pipelines_have_the_documented_shape() {
    let (_t, dir) = shop_with_mesh("istio");
    let nestio = dir.join("nestio.kdl");
    let text = std::fs::read_to_string(&nestio)
        .expect("read")
        .replace("cd \"argocd\"", "cd \"spinnaker\"");
    std::fs::write(&nestio, text).expect("write");
    let c = compile(&dir, &nestioc::Options::default());
    let model = c.analysis.model.clone().expect("model");
    let set = c.artifacts.expect("artifacts");
    assert!(!set.files.keys().any(|p| p.starts_with("argocd/")));
    for service in model.services.values() {
        let path = format!("spinnaker/{}.json", service.name);
        let p: Value = serde_json::from_str(&set.files[&path].contents).expect("json");
        check_pipeline(&p, &path);
        let stages = p["stages"].as_array().expect("stages");
        // Production waits for a person.
        let judge = stages
            .iter()
            .position(|s| s["type"] == "manualJudgment")
            .expect("a manual judgment");
        let deploy_prod = stages
            .iter()
            .position(|s| s["name"] == "Deploy prod")
            .expect("deploys prod");
        assert!(judge < deploy_prod);
        if service.rollout.kind == nestioc::model::RolloutKind::Canary {
            let canaries = stages
                .iter()
                .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("Canary ")))
                .count();
            assert_eq!(
                canaries,
                service.rollout.steps.len(),
                "{}: one canary stage per step",
                service.name
            );
        }
        // Each bake renders the image that triggered the pipeline (orca evaluates the
        // SpEL `${trigger['tag']}`), and only an image the project builds triggers it: an
        // upstream repository gets pushes of versions the topology did not choose.
        let builds = service.builds_image();
        for bake in stages.iter().filter(|s| s["type"] == "bakeManifest") {
            let tag = &bake["overrides"]["nestio-service.image.tag"];
            if builds {
                assert_eq!(tag, "${trigger['tag']}", "{}: {bake}", service.name);
            } else {
                assert!(tag.is_null(), "{}: {bake}", service.name);
            }
        }
        assert_eq!(p["triggers"][0]["enabled"], builds, "{}", service.name);
        // With Spinnaker doing the canaries, the charts render Deployments.
        assert!(
            !set.files[&format!("kubernetes/prod/{}.yaml", service.name)]
                .contents
                .contains("kind: Rollout")
        );
    }
}

/// The shop's canary, `checkout`, as it reaches production: the Rollout's strategy (steps
/// from `std/progressive-canary`, Istio traffic routing) and the AnalysisTemplate (its own
/// SLO error ratio and `storefront`'s edge), for review beside its KDL.
#[test]
fn shop_checkout_rollout_snapshot() {
    let dir = root().join("examples/shop");
    let c = compile(&dir, &nestioc::Options::default());
    let set = c.artifacts.expect("artifacts");
    let text = &set.files["kubernetes/prod/checkout.yaml"].contents;
    let docs: Vec<&str> = text
        .split("\n---\n")
        .filter(|d| d.contains("\nkind: Rollout\n") || d.contains("\nkind: AnalysisTemplate\n"))
        .collect();
    assert_eq!(docs.len(), 2, "a Rollout and its AnalysisTemplate");
    let rollout = docs[0];
    // Only the strategy: the pod template is the same as any Deployment's.
    let strategy = rollout
        .split_once("\n  strategy:\n")
        .map(|(_, s)| format!("  strategy:\n{s}"))
        .expect("a strategy");
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s.bind(|| {
        insta::assert_snapshot!(
            "delivery__shop-checkout-rollout",
            format!(
                "# Rollout checkout (prod): spec.strategy\n{strategy}\n---\n{}",
                docs[1]
            )
        );
    });
}
