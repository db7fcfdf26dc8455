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
    if let Some(helm) = validator("gitops", "helm") {
        let vendored = tempfile::tempdir().expect("tmp");
        let chart = crate::support::vendor_chart(&built.out.join("helm"), service, vendored.path());
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
    documents(&built.out.join(format!("argocd/{env}/applications.yaml")))
        .into_iter()
        .find(|d| {
            d["kind"] == "Application" && d["spec"]["source"]["helm"]["releaseName"] == service
        })
        .unwrap_or_else(|| panic!("{}: no Application for {service} in {env}", built.name))
}

fn services(built: &Built) -> Vec<String> {
    crate::support::subdirs(&built.out.join("helm"))
        .iter()
        .filter(|d| crate::support::is_service_chart(d))
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
    environment "staging" {
        namespace "vault-staging"
    }
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
                for set in rendered(built, &env, &service)
                    .iter()
                    .filter(|o| o["kind"] == "StatefulSet")
                {
                    let keep = !(built.name == vault.name && service == "cache");
                    let what = format!("{}: {env}: StatefulSet {service}", built.name);
                    for template in set["spec"]["volumeClaimTemplates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        claims += 1;
                        if has_argocd {
                            let app = application(built, &env, &service);
                            assert!(
                                !claimed_by_app(&app, template),
                                "{what}: Argo CD would prune the claims of {}",
                                template["metadata"]["name"]
                            );
                        }
                    }
                    assert_eq!(claims_survive_deletion(set), keep, "{what}: deletion");
                    // A scaled-down replica's claims wait for it to come back.
                    assert_eq!(
                        set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"], "Retain",
                        "{what}"
                    );
                }
            }
        }
    }
    // The shop's inventory-db (two environments, three builds of the shop) and the
    // vault's two claims in two environments.
    assert!(claims >= 10, "only {claims} claims seen");
}

/// The claims a StatefulSet's controller creates from its `volumeClaimTemplates` are not
/// the chart's: they carry the template's labels only, never the tracking annotation Argo
/// CD puts on what it applies (`argocd.argoproj.io/tracking-id`, the default from Argo CD
/// 3.0), so Argo CD neither prunes nor deletes them. With the older label tracking
/// (`application.resourceTrackingMethod: label`) Argo CD claims any object whose
/// `app.kubernetes.io/instance` is the application's name, and prunes the StatefulSet's
/// claims as extraneous (argo-cd#4242, "StatefulSet PVC always out of sync when created
/// by Helm", resolved by an instance label that differs from the application's name).
fn claimed_by_app(app: &Value, template: &Value) -> bool {
    let annotations = &template["metadata"]["annotations"];
    annotations.get("argocd.argoproj.io/tracking-id").is_some()
        || template["metadata"]["labels"]["app.kubernetes.io/instance"] == app["metadata"]["name"]
}

/// Whether a StatefulSet's claims outlive it (deleted by `helm uninstall`, by Argo CD's
/// cascading deletion or prune, by a rename): `persistentVolumeClaimRetentionPolicy`
/// `whenDeleted: Retain`, the default, gives the claims no owner reference, so the garbage
/// collector leaves them; `Delete` makes the StatefulSet their owner
/// (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#persistentvolumeclaim-retention).
fn claims_survive_deletion(set: &Value) -> bool {
    let policy = &set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"];
    policy.is_null() || policy == "Retain"
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
    let named = serde_json::json!({"metadata": {"name": "shards"}});
    let template = serde_json::json!({"metadata": {"name": "data",
        "labels": {"app.kubernetes.io/instance": "shards"}}});
    assert!(claimed_by_app(&named, &template), "argo-cd#4242");
    let owned = serde_json::json!({"spec": {"persistentVolumeClaimRetentionPolicy":
        {"whenDeleted": "Delete", "whenScaled": "Retain"}}});
    assert!(!claims_survive_deletion(&owned));
}

// ------------------------------------------------------------------ the app-of-apps

/// Builds to follow from their Argo CD root: the examples (the shop with every mesh) and
/// the valid fixtures that deploy with Argo CD, each with every target.
fn argocd_builds() -> Vec<Built> {
    let mut out: Vec<Built> = build_examples()
        .into_iter()
        .filter(|b| b.out.join("argocd/apps.yaml").is_file())
        .collect();
    for dir in crate::support::subdirs(&crate::support::root().join("tests/fixtures/valid")) {
        let text = std::fs::read_to_string(dir.join("nestio.kdl")).unwrap_or_default();
        if !text.contains("cd \"argocd\"") {
            continue;
        }
        let mut opts = crate::support::fixture_options(&dir);
        opts.targets.clear();
        out.push(crate::conformance::build_opts(&dir, &opts));
    }
    assert!(out.len() >= 4, "only {} Argo CD builds", out.len());
    out
}

/// An object's identity: `Kind/namespace/name` (namespace empty for cluster objects).
fn identity(obj: &Value, default_ns: &str) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let ns = if CLUSTER_SCOPED.contains(&kind) {
        ""
    } else {
        obj["metadata"]["namespace"].as_str().unwrap_or(default_ns)
    };
    format!(
        "{kind}/{ns}/{}",
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The cluster-scoped kinds the outputs use.
const CLUSTER_SCOPED: &[&str] = &["Namespace", "ClusterRole", "ClusterRoleBinding"];

/// Argo CD's directory `include`/`exclude` patterns: gobwas/glob without separators
/// (argo-cd util/glob, reposerver `getPotentiallyValidManifestFile`): `*` any characters,
/// `?` one, `{a,b}` alternatives; matched against the path relative to the source path.
fn argocd_glob(pattern: &str, path: &str) -> bool {
    if let Some(open) = pattern.find('{') {
        let close = open + pattern[open..].find('}').expect("closed {");
        return pattern[open + 1..close].split(',').any(|alt| {
            argocd_glob(
                &format!("{}{alt}{}", &pattern[..open], &pattern[close + 1..]),
                path,
            )
        });
    }
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some(b'?') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

/// What an Application deploys, as Argo CD's repo server reads its source: a chart (the
/// rendered manifest nestioc writes for it, equal to `helm template`: conformance.rs), or
/// the manifests of a directory, not recursive, `.yaml`/`.yml`/`.json` files that match
/// `include` (argo-cd docs/user-guide/directory.md), every document of which must be a
/// Kubernetes object.
fn deploys(built: &Built, repo_out: &str, app: &Value) -> Vec<Value> {
    let name = app["metadata"]["name"].as_str().unwrap_or_default();
    let source = &app["spec"]["source"];
    let path = source["path"].as_str().expect("source.path");
    let rel = path
        .strip_prefix(repo_out)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{}: {name} reads {path}, outside {repo_out}", built.name));
    let dir = built.out.join(rel);
    assert!(
        dir.is_dir(),
        "{}: {name} reads {path}, which the build does not write",
        built.name
    );
    if let Some(files) = source["helm"]["valueFiles"].as_array() {
        let env = files[0]
            .as_str()
            .and_then(|f| f.strip_prefix("values-"))
            .and_then(|f| f.strip_suffix(".yaml"))
            .expect("values-<env>.yaml");
        let service = rel.strip_prefix("helm/").expect("a chart under helm/");
        return documents(&built.manifest(env, service));
    }
    // A source of no explicit type over a directory holding a kustomization is Kustomize
    // (argo-cd docs/user-guide/tool_detection.md): the objects are what it builds.
    if source["directory"].is_null() && dir.join("kustomization.yaml").is_file() {
        return crate::support::kustomize_build(&dir).unwrap_or_default();
    }
    let include = source["directory"]["include"].as_str();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
        .filter(|p| {
            let f = p.file_name().expect("name").to_string_lossy();
            include.is_none_or(|i| argocd_glob(i, &f))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{}: {name} finds no manifest in {path}",
        built.name
    );
    let mut objects = Vec::new();
    for f in files {
        for d in documents(&f) {
            assert!(
                d["apiVersion"].is_string()
                    && d["kind"].is_string()
                    && d["metadata"]["name"].is_string(),
                "{}: {name} would fail: {} holds a document that is not a Kubernetes object",
                built.name,
                f.display()
            );
            objects.push(d);
        }
    }
    objects
}

/// Every object reached from the root Application, with the Application that deploys it.
struct Reached {
    /// identity -> the deploying Application's name
    owner: std::collections::BTreeMap<String, String>,
    apps: Vec<Value>,
    projects: Vec<Value>,
}

fn reach(built: &Built) -> Reached {
    let root_docs = documents(&built.out.join("argocd/apps.yaml"));
    let root = root_docs.first().expect("the root Application").clone();
    let repo_out = root["spec"]["source"]["path"]
        .as_str()
        .and_then(|p| p.strip_suffix("/argocd"))
        .expect("the root reads <out>/argocd")
        .to_owned();
    let mut owner = std::collections::BTreeMap::new();
    let mut apps = vec![root.clone()];
    let mut projects = Vec::new();
    let mut queue = vec![root];
    while let Some(app) = queue.pop() {
        let app_name = app["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let dest_ns = app["spec"]["destination"]["namespace"]
            .as_str()
            .unwrap_or_default();
        for obj in deploys(built, &repo_out, &app) {
            let id = identity(&obj, dest_ns);
            if let Some(first) = owner.insert(id.clone(), app_name.clone()) {
                panic!(
                    "{}: {id} is deployed by {first} and by {app_name}: they would fight over it",
                    built.name
                );
            }
            match obj["kind"].as_str() {
                Some("Application") => {
                    apps.push(obj.clone());
                    queue.push(obj);
                }
                Some("AppProject") => projects.push(obj),
                _ => {}
            }
        }
    }
    Reached {
        owner,
        apps,
        projects,
    }
}

/// Every cluster object of a build: each YAML file of the output but the charts (whose
/// renders are `kubernetes/<env>/`), the CI files and the playbook, and what each
/// kustomization makes.
fn generated_objects(built: &Built) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&built.out) {
        let p = entry.expect("walk").into_path();
        let rel = p
            .strip_prefix(&built.out)
            .expect("under out")
            .to_string_lossy()
            .into_owned();
        if ["helm/", "ci/", "ansible/"]
            .iter()
            .any(|d| rel.starts_with(d))
            || !p.extension().is_some_and(|x| x == "yaml" || x == "yml")
        {
            continue;
        }
        let mut docs = documents(&p);
        if p.file_name().is_some_and(|n| n == "kustomization.yaml") {
            let dir = p.parent().expect("a directory");
            docs.extend(crate::support::kustomize_build(dir).unwrap_or_default());
        }
        for d in docs {
            if d["apiVersion"].is_string()
                && d["kind"].is_string()
                && d["metadata"]["name"].is_string()
            {
                out.push((identity(&d, ""), rel.clone()));
            }
        }
    }
    out
}

/// Every generated cluster object is deployed by an Application reachable from the root
/// (`argocd/apps.yaml`, the one object applied by hand with the AppProjects), and by one
/// only: the PrometheusRules, dashboard ConfigMaps, AlertmanagerConfigs, Fluentd, the
/// mesh's namespace-wide objects and the Namespaces as well as the charts. Argo CD reads
/// each source as its repo server does: a directory's `.json` files are manifests too, so
/// a directory source over `grafana/` would fail on the dashboards' JSON; with no explicit
/// type, the `kustomization.yaml` there makes it a Kustomize source instead.
#[test]
fn every_generated_object_is_reachable_from_the_root_application() {
    for built in argocd_builds() {
        let reached = reach(&built);
        let generated = generated_objects(&built);
        let mut missing: Vec<String> = generated
            .iter()
            .filter(|(id, _)| !reached.owner.contains_key(id))
            .map(|(id, file)| format!("{id} ({file})"))
            .collect();
        // The root itself is applied by hand.
        missing.retain(|m| {
            !m.starts_with(&format!(
                "Application/argocd/{} ",
                reached.apps[0]["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
            ))
        });
        assert!(
            missing.is_empty(),
            "{}: nothing deploys\n{}",
            built.name,
            missing.join("\n")
        );
        for kind in ["ConfigMap", "AlertmanagerConfig", "Namespace", "AppProject"] {
            assert!(
                reached
                    .owner
                    .keys()
                    .any(|k| k.starts_with(&format!("{kind}/"))),
                "{}: no {kind} is deployed",
                built.name
            );
        }
    }
}

/// Argo CD refuses what an Application's AppProject does not permit
/// (docs/operator-manual/projects.md): a destination namespace outside `destinations`, a
/// cluster-scoped kind outside `clusterResourceWhitelist`, a repository outside
/// `sourceRepos`.
#[test]
fn every_application_stays_within_its_project() {
    for built in argocd_builds() {
        let reached = reach(&built);
        let project = |name: &str| {
            reached
                .projects
                .iter()
                .find(|p| p["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{}: no AppProject {name}", built.name))
                .clone()
        };
        for app in &reached.apps {
            let name = app["metadata"]["name"].as_str().unwrap_or_default();
            let proj = project(app["spec"]["project"].as_str().expect("project"));
            let repos: Vec<&Value> = proj["spec"]["sourceRepos"]
                .as_array()
                .expect("repos")
                .iter()
                .collect();
            assert!(
                repos.contains(&&app["spec"]["source"]["repoURL"]),
                "{}: {name}'s repository",
                built.name
            );
            let allowed_ns: Vec<&str> = proj["spec"]["destinations"]
                .as_array()
                .expect("destinations")
                .iter()
                .filter_map(|d| d["namespace"].as_str())
                .collect();
            let allowed_kinds: Vec<&str> = proj["spec"]["clusterResourceWhitelist"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k["kind"].as_str())
                .collect();
            for (id, owner) in &reached.owner {
                if owner != name {
                    continue;
                }
                let mut parts = id.splitn(3, '/');
                let (kind, ns) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                if ns.is_empty() {
                    assert!(
                        allowed_kinds.contains(&kind),
                        "{}: {name} may not create {id}",
                        built.name
                    );
                } else {
                    assert!(
                        allowed_ns.contains(&ns),
                        "{}: {name} may not deploy into {ns} ({id})",
                        built.name
                    );
                }
            }
        }
    }
}

fn wave(obj: &Value) -> i64 {
    obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .map_or(0, |w| w.parse().expect("a number"))
}

/// Within one sync, Argo CD applies wave by wave (docs/user-guide/sync-waves.md), and with
/// Applications' health restored a wave of Applications is done when they are Healthy. In
/// the root: the AppProjects and the Namespaces first, then the mesh's namespace-wide
/// objects, then the platform (the SLO rules the rollouts' analyses query, the dashboards,
/// the alert routing, Fluentd), then the environments; every object in a namespace comes
/// after the Namespace.
#[test]
fn the_root_syncs_observability_before_the_services() {
    for built in argocd_builds() {
        let reached = reach(&built);
        let root = reached.apps[0]["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let children: Vec<&Value> = reached
            .apps
            .iter()
            .filter(|a| reached.owner.get(&identity(a, "argocd")) == Some(&root))
            .collect();
        let envs: Vec<&&Value> = children
            .iter()
            .filter(|a| a["metadata"]["labels"]["nestio.dev/environment"].is_string())
            .collect();
        assert!(
            !envs.is_empty(),
            "{}: the root deploys the environments",
            built.name
        );
        let first_env = envs.iter().map(|a| wave(a)).min().expect("env");
        for app in &children {
            let name = app["metadata"]["name"].as_str().unwrap_or_default();
            if app["spec"]["project"]
                .as_str()
                .is_some_and(|p| p.ends_with("-platform"))
            {
                assert!(
                    wave(app) < first_env,
                    "{}: {name} after the environments",
                    built.name
                );
            }
        }
        // The Namespaces (from the root or from the mesh's Application) come before every
        // Application that deploys into them, but their own.
        let ns_wave = |ns: &str| -> i64 {
            let id = format!("Namespace//{ns}");
            let owner = reached
                .owner
                .get(&id)
                .unwrap_or_else(|| panic!("{}: nothing creates {ns}", built.name));
            if *owner == root {
                -3
            } else {
                wave(
                    children
                        .iter()
                        .find(|a| a["metadata"]["name"] == owner.as_str())
                        .expect("owner"),
                )
            }
        };
        for app in &children {
            let name = app["metadata"]["name"].as_str().unwrap_or_default();
            for (id, owner) in &reached.owner {
                let ns = id.split('/').nth(1).unwrap_or_default();
                if owner != name
                    || ns.is_empty()
                    || ["argocd", "monitoring", "logging"].contains(&ns)
                {
                    continue;
                }
                if reached.owner.get(&format!("Namespace//{ns}")) == Some(&name.to_owned()) {
                    continue;
                }
                assert!(
                    ns_wave(ns) < wave(app),
                    "{}: {name} deploys {id} before its namespace",
                    built.name
                );
            }
        }
    }
}

// ------------------------------------------------------------------ Argo CD's settings

/// The Application health check as Argo CD's documentation gives it
/// (argo-cd docs/operator-manual/health.md, "Argocd App": "You might need to restore it if
/// you are using app-of-apps pattern and orchestrating synchronization using sync waves").
const DOCUMENTED_APPLICATION_HEALTH: &str = r#"hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"#;

/// Without an Application health check, gitops-engine treats an Application as done the
/// moment it is applied ("some objects (e.g. secret) do not have health, and they
/// automatically success", sync_context.go), so waves of Applications order nothing. The
/// platform playbook installs Argo CD with the documented check in `argocd-cm`, through
/// the argo-cd chart's `configs.cm` (argo-helm charts/argo-cd/values.yaml: "Any values you
/// put under .configs.cm are passed to argocd-cm ConfigMap"), before it creates the root.
#[test]
fn argocd_is_installed_with_the_application_health_check() {
    for built in argocd_builds() {
        let play = documents(&built.out.join("ansible/platform.yml"));
        let tasks: Vec<Value> = play[0][0]["tasks"].as_array().expect("tasks").clone();
        let argocd = tasks
            .iter()
            .position(|t| t["kubernetes.core.helm"]["chart_ref"] == "argo/argo-cd")
            .unwrap_or_else(|| panic!("{}: the playbook installs Argo CD", built.name));
        let cm = &tasks[argocd]["kubernetes.core.helm"]["release_values"]["configs"]["cm"];
        assert_eq!(
            cm["resource.customizations.health.argoproj.io_Application"].as_str(),
            Some(DOCUMENTED_APPLICATION_HEALTH),
            "{}: argocd-cm's Application health check",
            built.name
        );
        let root = tasks
            .iter()
            .position(|t| {
                t["kubernetes.core.k8s"]["src"]
                    .as_str()
                    .is_some_and(|s| s.contains("argocd_root_manifest"))
            })
            .unwrap_or_else(|| panic!("{}: the playbook creates the root application", built.name));
        assert!(argocd < root, "{}: the root before Argo CD", built.name);
    }
}

// ------------------------------------------------------------------ Alertmanager

/// kube-prometheus-stack's default Alertmanager configuration (prometheus-community
/// helm-charts charts/kube-prometheus-stack/values.yaml, `alertmanager.config`), the base
/// the operator merges AlertmanagerConfig objects into.
const KUBE_PROMETHEUS_STACK_CONFIG: &str = r#"
global:
  resolve_timeout: 5m
inhibit_rules:
  - source_matchers: ['severity = critical']
    target_matchers: ['severity =~ warning|info']
    equal: ['namespace', 'alertname']
  - source_matchers: ['severity = warning']
    target_matchers: ['severity = info']
    equal: ['namespace', 'alertname']
  - source_matchers: ['alertname = InfoInhibitor']
    target_matchers: ['severity = info']
    equal: ['namespace']
  - target_matchers: ['alertname = InfoInhibitor']
route:
  group_by: ['namespace']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  receiver: 'null'
  routes:
  - receiver: 'null'
    matchers: ['alertname = "Watchdog"']
receivers:
- name: 'null'
"#;

/// An AlertmanagerConfig matcher as the operator writes it (`Matcher.String()`:
/// `name<op>"value"`, the value escaped).
fn matcher_string(m: &Value) -> String {
    let value = m["value"]
        .as_str()
        .unwrap_or_default()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        "{}{}\"{value}\"",
        m["name"].as_str().unwrap_or_default(),
        m["matchType"].as_str().unwrap_or("=")
    )
}

/// The operator's conversion of an AlertmanagerConfig route (pkg/alertmanager/amcfg.go
/// `convertRoute`): receivers renamed `<namespace>/<name>/<receiver>`, matchers as strings.
fn operator_route(r: &Value, key: &str) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(rec) = r["receiver"].as_str() {
        out.insert("receiver".into(), Value::from(format!("{key}/{rec}")));
    }
    for (from, to) in [
        ("groupBy", "group_by"),
        ("groupWait", "group_wait"),
        ("groupInterval", "group_interval"),
        ("repeatInterval", "repeat_interval"),
        ("continue", "continue"),
    ] {
        if let Some(v) = r.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    let matchers: Vec<Value> = r["matchers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Value::from(matcher_string(m)))
        .collect();
    if !matchers.is_empty() {
        out.insert("matchers".into(), Value::Array(matchers));
    }
    if let Some(children) = r["routes"].as_array() {
        out.insert(
            "routes".into(),
            Value::Array(children.iter().map(|c| operator_route(c, key)).collect()),
        );
    }
    Value::Object(out)
}

/// The configuration the Prometheus Operator generates from the base configuration and
/// the AlertmanagerConfig objects (amcfg.go `AddAlertmanagerConfigs`, default matcher
/// strategy `OnNamespace`): each object's inhibition rules get `namespace="<its
/// namespace>"` on both sides, its route gets the same matcher and `continue: true` and
/// goes before the base routes, its receivers are renamed.
fn operator_config(objects: &[Value]) -> Value {
    let mut cfg: Value = serde_saphyr::from_str(KUBE_PROMETHEUS_STACK_CONFIG).expect("base");
    let mut sub_routes = Vec::new();
    for obj in objects {
        let ns = obj["metadata"]["namespace"].as_str().expect("namespace");
        let key = format!("{ns}/{}", obj["metadata"]["name"].as_str().expect("name"));
        let ns_matcher = Value::from(format!("namespace=\"{ns}\""));
        for rule in obj["spec"]["inhibitRules"].as_array().into_iter().flatten() {
            let side = |k: &str| -> Value {
                let mut v: Vec<Value> = rule[k]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| Value::from(matcher_string(m)))
                    .collect();
                v.push(ns_matcher.clone());
                Value::Array(v)
            };
            cfg["inhibit_rules"]
                .as_array_mut()
                .expect("rules")
                .push(serde_json::json!({
                    "source_matchers": side("sourceMatch"),
                    "target_matchers": side("targetMatch"),
                    "equal": rule["equal"],
                }));
        }
        let mut route = operator_route(&obj["spec"]["route"], &key);
        let mut matchers = route["matchers"].as_array().cloned().unwrap_or_default();
        matchers.push(ns_matcher);
        route["matchers"] = Value::Array(matchers);
        route["continue"] = Value::Bool(true);
        sub_routes.push(route);
        for r in obj["spec"]["receivers"].as_array().into_iter().flatten() {
            cfg["receivers"].as_array_mut().expect("receivers").push(
                serde_json::json!({"name": format!("{key}/{}", r["name"].as_str().unwrap_or_default())}),
            );
        }
    }
    let base = cfg["route"]["routes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    sub_routes.extend(base);
    cfg["route"]["routes"] = Value::Array(sub_routes);
    cfg
}

/// The AlertmanagerConfig objects reach kube-prometheus-stack's Alertmanager as the
/// operator merges them: the merged configuration passes `amtool check-config`, every
/// alert of an environment reaches its owner's receiver of that environment's object
/// (`amtool config routes test`), and the inhibition rules are those of
/// `alertmanager/inhibit.yaml` (the same project's `files` form) scoped to the namespace. In `monitoring` (where the
/// routing would be if it followed the rules) the operator's namespace matcher would
/// route no SLO alert at all: the test shows that too.
#[test]
fn alertmanager_configs_route_each_environment_to_its_owners() {
    let Some(amtool) = validator("gitops", "amtool") else {
        return;
    };
    let mut routed = 0;
    for built in argocd_builds()
        .iter()
        .filter(|b| b.name.starts_with("shop"))
    {
        let objects = documents(&built.out.join("alertmanager/alertmanagerconfig.yaml"));
        // The same project in the `files` form: its alertmanager/inhibit.yaml is the
        // configuration the objects must carry.
        // (The routing follows the graph and the owners, which a variant's mesh does not
        // change: `shop (mesh linkerd)` routes as `shop`.)
        let example = built.name.split(" (").next().unwrap_or(&built.name);
        let (_src, files_form) = crate::support::with_rules_form(
            &crate::support::root().join("examples").join(example),
            "files",
        );
        let native_build =
            crate::conformance::build_opts(&files_form, &nestioc::Options::default());
        assert!(
            !built.out.join("alertmanager/inhibit.yaml").exists()
                && !native_build
                    .out
                    .join("alertmanager/alertmanagerconfig.yaml")
                    .exists(),
            "{}: one form of the routing per build",
            built.name
        );
        let native: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(native_build.out.join("alertmanager/inhibit.yaml"))
                .expect("read"),
        )
        .expect("yaml");
        let envs = built.envs();
        assert_eq!(
            objects.len(),
            envs.len(),
            "{}: one object per environment",
            built.name
        );
        let cfg = operator_config(&objects);
        let tmp = tempfile::tempdir().expect("tmp");
        let file = tmp.path().join("alertmanager.yaml");
        std::fs::write(&file, serde_json::to_string(&cfg).expect("json")).expect("write");
        let out = Command::new(&amtool)
            .arg("check-config")
            .arg(&file)
            .output()
            .expect("amtool");
        assert!(
            out.status.success(),
            "{}: amtool check-config:\n{}{}",
            built.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Every inhibition rule of inhibit.yaml is there, in each namespace.
        let merged: Vec<String> = cfg["inhibit_rules"]
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| r.to_string())
            .collect();
        for obj in &objects {
            let ns = obj["metadata"]["namespace"].as_str().expect("ns");
            for rule in native["inhibit_rules"].as_array().into_iter().flatten() {
                let with_ns = |k: &str| -> Value {
                    let mut v = rule[k].as_array().cloned().unwrap_or_default();
                    v.push(Value::from(format!("namespace=\"{ns}\"")));
                    Value::Array(v)
                };
                let expected = serde_json::json!({
                    "source_matchers": with_ns("source_matchers"),
                    "target_matchers": with_ns("target_matchers"),
                    "equal": rule["equal"],
                });
                assert!(
                    merged.contains(&expected.to_string()),
                    "{}: {ns} lacks {expected}",
                    built.name
                );
            }
            // An alert of this namespace, for each owner, reaches that owner's receiver.
            let name = obj["metadata"]["name"].as_str().expect("name");
            for route in native["route"]["routes"].as_array().into_iter().flatten() {
                let owner_matcher = route["matchers"][0].as_str().expect("owner matcher");
                let owner = owner_matcher
                    .strip_prefix("owner=\"")
                    .and_then(|o| o.strip_suffix('"'))
                    .expect("owner=\"...\"");
                let expected = format!(
                    "{ns}/{name}/{}",
                    route["receiver"].as_str().expect("receiver")
                );
                let out = Command::new(&amtool)
                    .args(["config", "routes", "test"])
                    .arg(format!("--config.file={}", file.display()))
                    .arg(format!("--verify.receivers={expected}"))
                    .args([
                        "alertname=CheckoutAvailabilitySLO",
                        "nestio_alert=slo",
                        "severity=page",
                    ])
                    .arg(format!("owner={owner}"))
                    .arg(format!("namespace={ns}"))
                    .output()
                    .expect("amtool");
                assert!(
                    out.status.success(),
                    "{}: an alert of {owner} in {ns} should reach {expected}:\n{}",
                    built.name,
                    String::from_utf8_lossy(&out.stdout)
                );
                routed += 1;
            }
        }
        // Moved to `monitoring`, the same routing would route nothing of the services'.
        let mut moved = objects[0].clone();
        moved["metadata"]["namespace"] = Value::from("monitoring");
        let cfg = operator_config(&[moved]);
        std::fs::write(&file, serde_json::to_string(&cfg).expect("json")).expect("write");
        let out = Command::new(&amtool)
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", file.display()))
            .args(["alertname=X", "owner=payments-team", "namespace=shop"])
            .output()
            .expect("amtool");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "null",
            "{}: in monitoring, the routing catches no alert of the services",
            built.name
        );
    }
    assert!(routed >= 10, "only {routed} alerts routed");
}

// ------------------------------------------------------------------ branches

/// Under gitflow, staging's Applications follow `develop`, the branch CI deploys staging's
/// images from: with `main`'s charts and values, a topology change would reach staging
/// only with the release to production. The other environments follow `revision=`.
#[test]
fn gitflow_staging_follows_develop() {
    let built = build(&crate::support::root().join("tests/fixtures/valid/ci-gitflow"));
    let envs = built.envs();
    assert!(envs.iter().any(|e| e == "staging"), "{envs:?}");
    for service in services(&built) {
        for env in &envs {
            let app = application(&built, env, &service);
            let expected = if env == "staging" { "develop" } else { "main" };
            assert_eq!(
                app["spec"]["source"]["targetRevision"], expected,
                "{service} in {env}"
            );
        }
    }
    let roots = documents(&built.out.join("argocd/apps-staging.yaml"));
    let root = roots
        .iter()
        .find(|d| d["kind"] == "Application")
        .expect("staging's app-of-apps");
    assert_eq!(root["spec"]["source"]["targetRevision"], "develop");
}
