//! What Argo CD and Helm do with the generated objects, decided by their own rules
//! (reproduced here from their sources, cited at each function) rather than by the shape
//! nestioc intends:
//!
//! - a persistent volume's claim survives pruning (the service renamed or removed) and the
//!   cascading deletion of its application, unless the topology says `keep=#false`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::conformance::{Built, build, build_examples, documents};
use crate::support::validator;

// ------------------------------------------------------------------ Argo CD's rules

/// gitops-engine `pkg/sync/resource/annotations.go` `GetAnnotationCSVs`: the annotation
/// split on `,`, each item trimmed, empty ones dropped.
fn annotation_csvs(obj: &Value, key: &str) -> Vec<String> {
    obj["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `GetAnnotationOptionValue`: the value of `option=` in the annotation.
fn annotation_option(obj: &Value, annotation: &str, option: &str) -> Option<String> {
    let prefix = format!("{option}=");
    annotation_csvs(obj, annotation)
        .into_iter()
        .find_map(|i| i.strip_prefix(&prefix).map(str::to_owned))
}

const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// The app-level sync options (`spec.syncPolicy.syncOptions`) of a generated Application.
fn app_option(app: &Value, option: &str) -> Option<String> {
    let prefix = format!("{option}=");
    app["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|o| o.strip_prefix(&prefix).map(str::to_owned))
}

/// gitops-engine `pkg/sync/sync_context.go` `isPruningDisabled`: on prune, the live
/// object's `Prune` option, else the application's, disables pruning when `false`.
/// (`helm.sh/resource-policy` is not read on prune: argo-cd#17819.)
fn pruning_disabled(app: &Value, obj: &Value) -> bool {
    annotation_option(obj, SYNC_OPTIONS, "Prune")
        .or_else(|| app_option(app, "Prune"))
        .is_some_and(|v| v == "false")
}

/// argo-cd `controller/appcontroller.go` `shouldBeDeleted`: on the cascading deletion of
/// an application (its resources finalizer), an object is deleted unless its `Delete`
/// option (else the application's) is `false`, or it has `helm.sh/resource-policy: keep`.
fn deleted_with_app(app: &Value, obj: &Value) -> bool {
    let delete =
        annotation_option(obj, SYNC_OPTIONS, "Delete").or_else(|| app_option(app, "Delete"));
    obj["kind"] != "CustomResourceDefinition"
        && delete.as_deref() != Some("false")
        && !annotation_csvs(obj, "helm.sh/resource-policy").contains(&"keep".to_owned())
}

/// argo-cd `controller/state.go` (CompareAppState): a live object that needs pruning makes
/// the application OutOfSync unless it has `compare-options: IgnoreExtraneous`.
fn orphan_leaves_app_synced(obj: &Value) -> bool {
    annotation_csvs(obj, "argocd.argoproj.io/compare-options")
        .contains(&"IgnoreExtraneous".to_owned())
}

/// Helm `pkg/action/resource_policy.go` `filterManifestsToKeep`: an object whose
/// `helm.sh/resource-policy` is `keep` (trimmed, case-insensitive) is left on uninstall and
/// when an upgrade drops it.
fn kept_by_helm(obj: &Value) -> bool {
    obj["metadata"]["annotations"]["helm.sh/resource-policy"]
        .as_str()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("keep"))
}

// ------------------------------------------------------------------ objects

/// The objects `helm template` renders for a service chart and environment (the real Helm,
/// when installed), else the rendered manifest nestioc writes (conformance.rs proves the
/// two equal).
fn rendered(built: &Built, env: &str, service: &str) -> Vec<Value> {
    let chart = built.out.join("helm").join(service);
    if let Some(helm) = validator("gitops", "helm") {
        let manifest = built.manifest(env, service);
        let ns = crate::conformance::namespace(&manifest);
        let out = Command::new(helm)
            .args(["template", service])
            .arg(&chart)
            .arg("-f")
            .arg(chart.join(format!("values-{env}.yaml")))
            .args(["--namespace", &ns])
            .output()
            .expect("run helm template");
        assert!(out.status.success(), "helm template {service}");
        return serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout))
            .expect("helm output is YAML")
            .into_iter()
            .filter(|d| !d.is_null())
            .collect();
    }
    documents(&built.manifest(env, service))
}

/// The generated Application that deploys `service` to `env`.
fn application(built: &Built, env: &str, service: &str) -> Value {
    documents(&built.out.join(format!("argocd/{env}/{service}.yaml")))
        .into_iter()
        .find(|d| d["kind"] == "Application")
        .unwrap_or_else(|| panic!("{}: no Application for {service} in {env}", built.name))
}

fn services(built: &Built) -> Vec<String> {
    crate::support::subdirs(&built.out.join("helm"))
        .iter()
        .filter(|d| {
            !std::fs::read_to_string(d.join("Chart.yaml"))
                .is_ok_and(|t| t.contains("dependencies:"))
        })
        .map(|d| crate::conformance::file_name(d))
        .collect()
}

fn write_project(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

// ------------------------------------------------------------------ persistent volumes

/// A project with a kept and an unkept persistent volume, deployed by Argo CD.
fn volumes_project() -> (tempfile::TempDir, Built) {
    let tmp = tempfile::tempdir().expect("tmp");
    write_project(
        tmp.path(),
        &[(
            "nestio.kdl",
            r#"project "vault" {
    registry "registry.example.com/vault"
    cd "argocd" repository="https://git.example.com/vault.git"
    environment "staging"
    environment "prod"
}
service "ledger" {
    uses "std/postgres" database="ledger" password-secret="ledger-db" size="5Gi"
}
service "cache" {
    uses "std/worker"
    image "cache" tag="1.0.0"
    volume "spill" path="/spill" size="1Gi" persistent=#true keep=#false
}
"#,
        )],
    );
    let built = build(tmp.path());
    (tmp, built)
}

/// Renaming or removing a service (its claim leaves the chart: Argo CD prunes), and
/// deleting its Application (the resources finalizer deletes what it tracks), must not
/// delete a persistent volume's claim, nor must `helm uninstall`: argo-cd
/// docs/user-guide/sync-options.md ("No Prune Resources", "Resource Deletion": "e.g. for
/// Persistent Volume Claims"), docs/user-guide/helm.md (resource-policy keep), Helm's
/// charts_tips_and_tricks ("Tell Helm Not To Uninstall a Resource"). `keep=#false` lets
/// all three delete it.
#[test]
fn persistent_claims_survive_prune_and_app_deletion() {
    let (_tmp, vault) = volumes_project();
    let mut claims = 0;
    for built in build_examples().iter().chain(std::iter::once(&vault)) {
        let has_argocd = built.out.join("argocd").is_dir();
        for service in services(built) {
            for env in built.envs() {
                for pvc in rendered(built, &env, &service)
                    .iter()
                    .filter(|o| o["kind"] == "PersistentVolumeClaim")
                {
                    claims += 1;
                    let name = pvc["metadata"]["name"].as_str().unwrap_or_default();
                    let keep = !(built.name == vault.name && service == "cache");
                    let what = format!("{}: {env}: claim {name}", built.name);
                    assert_eq!(kept_by_helm(pvc), keep, "{what}: helm uninstall");
                    if has_argocd {
                        let app = application(built, &env, &service);
                        assert_eq!(pruning_disabled(&app, pvc), keep, "{what}: Argo CD prune");
                        // Kept after it left the chart, it must not hold the application
                        // OutOfSync (CI waits for Synced).
                        assert_eq!(orphan_leaves_app_synced(pvc), keep, "{what}: sync status");
                        assert_eq!(
                            !deleted_with_app(&app, pvc),
                            keep,
                            "{what}: deleting {}",
                            app["metadata"]["name"]
                        );
                    }
                }
            }
        }
    }
    // The shop's inventory-db (two environments, three builds of the shop) and the
    // vault's two claims in two environments.
    assert!(claims >= 10, "only {claims} claims seen");
}

/// The rules above are Argo CD's: an object without the options is pruned and deleted.
#[test]
fn the_argocd_rules_can_fail() {
    let app =
        serde_json::json!({"spec": {"syncPolicy": {"syncOptions": ["CreateNamespace=true"]}}});
    let bare =
        serde_json::json!({"kind": "PersistentVolumeClaim", "metadata": {"annotations": {}}});
    assert!(!pruning_disabled(&app, &bare));
    assert!(deleted_with_app(&app, &bare));
    let helm_only = serde_json::json!({"kind": "PersistentVolumeClaim",
        "metadata": {"annotations": {"helm.sh/resource-policy": "keep"}}});
    assert!(
        !pruning_disabled(&app, &helm_only),
        "argo-cd#17819: keep is pruned"
    );
    assert!(!deleted_with_app(&app, &helm_only));
    let spaced = serde_json::json!({"kind": "PersistentVolumeClaim",
        "metadata": {"annotations": {SYNC_OPTIONS: " Prune=false , Delete=false"}}});
    assert!(pruning_disabled(&app, &spaced));
    assert!(!deleted_with_app(&app, &spaced));
}
