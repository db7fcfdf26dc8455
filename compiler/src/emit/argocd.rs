//! `argocd`: Argo CD objects for `cd "argocd"`.
//!
//! - `argocd/apps.yaml`: the project's root Application, `<project>`, the one object to
//!   apply (with `argocd/project.yaml`). It syncs, in waves: the AppProjects and the
//!   environments' Namespaces (-3), the mesh's namespace-wide objects (-2), the platform
//!   Applications that deploy the observability outputs (-1: SLO rules, dashboards,
//!   Alertmanager routing, Fluentd), then every environment's app-of-apps (0).
//! - `argocd/apps-<env>.yaml`: an environment's app-of-apps, whose sync applies its
//!   services' Applications in release-wave order (`argocd.argoproj.io/sync-wave`: callees
//!   before callers).
//! - `argocd/<env>/<service>.yaml`: one `Application` per service per environment, the
//!   service's generated chart with that environment's values file.
//! - `argocd/project.yaml`: the `AppProject`s: `<project>` for the services, limited to
//!   the repository and the environments' namespaces; `<project>-platform` for the
//!   platform Applications, which also reach `monitoring` and `logging` and the
//!   cluster-scoped objects Fluentd needs.
//! - `argocd/platform.yaml`, `argocd/namespaces.yaml`: the platform Applications and the
//!   Namespaces.
//!
//! Waves over Applications order anything only if Argo CD rates an Application's health:
//! it stopped doing so in 1.8, and the platform playbook restores it (see ansible.rs).
//! Environments sync automatically unless `sync "manual"` (the default for an environment
//! named prod, production or prd).

use serde_json::{Map, Value, json};

use super::yaml::{documents, header};
use super::{Artifact, EmitContext, Emitter};
use crate::diag::Diagnostic;
use crate::model::names::{ALERTING_APP, DASHBOARDS_APP, LOGGING_APP, MESH_APP, SLO_RULES_APP};
use crate::model::{Cd, Environment, LogSystem, Mesh, RulesForm, Service};
use crate::source::Span;

pub(super) struct ArgoCd;

/// Where Argo CD runs.
pub(super) const ARGOCD_NAMESPACE: &str = "argocd";
/// Argo CD deletes an Application's resources before the Application, in the foreground
/// (pkg/apis/application/v1alpha1 `ForegroundPropagationPolicyFinalizer`). The same
/// behaviour as the bare `resources-finalizer.argocd.argoproj.io`, whose name the API
/// server warns about (Kubernetes 1.37: "prefer a domain-qualified finalizer name including
/// a path (/)"; tests/it/cluster.rs fails on any warning).
const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io/foreground";
const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Keep an object when it leaves the repository and when its Application is deleted
/// (gitops-engine `isPruningDisabled`, controller `shouldBeDeleted`): for what holds data
/// or protects it (a Namespace, the namespace-wide mesh policy, the AppProjects).
const KEEP: &str = "Prune=false,Delete=false";

/// The platform Applications: the files of the targets that are cluster objects but no
/// chart's, each a directory source with an `include` glob (the directories also hold
/// files that are not Kubernetes objects: rule files for promtool, fluent.conf): the
/// Application `<project>-<suffix>` reads `include` in `dir`, deploys into `namespace`
/// (objects that name their own keep it), in `wave` of the root. Without `include` the
/// directory holds a `kustomization.yaml`, which Argo CD builds (a source with no
/// explicit type is Kustomize when it holds one: argo-cd docs/user-guide/tool_detection.md).
struct PlatformApp {
    suffix: &'static str,
    dir: &'static str,
    include: Option<&'static str>,
    namespace: &'static str,
    wave: i32,
    what: &'static str,
}

fn labels(cx: &EmitContext<'_>, service: Option<&str>, env: &str) -> Value {
    let mut l = Map::new();
    l.insert(
        "app.kubernetes.io/part-of".into(),
        json!(cx.model.project.name),
    );
    l.insert("app.kubernetes.io/managed-by".into(), json!("nestioc"));
    if let Some(s) = service {
        l.insert("app.kubernetes.io/name".into(), json!(s));
    }
    l.insert("nestio.dev/environment".into(), json!(env));
    Value::Object(l)
}

fn sync_policy(env: &Environment) -> Value {
    let mut p = Map::new();
    if env.auto_sync {
        p.insert("automated".into(), json!({"prune": true, "selfHeal": true}));
    }
    p.insert("syncOptions".into(), json!(["CreateNamespace=true"]));
    p.insert(
        "retry".into(),
        json!({"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}),
    );
    Value::Object(p)
}

/// What Argo Rollouts changes at run time, so that Argo CD does not undo it: the
/// selectors of the stable and canary Services, and the traffic weights.
fn ignore_differences(cx: &EmitContext<'_>, service: &Service) -> Option<Value> {
    if !super::rollout::uses_rollout(cx, service) {
        return None;
    }
    let mut d = vec![json!({
        "group": "",
        "kind": "Service",
        "jqPathExpressions": [".spec.selector[\"rollouts-pod-template-hash\"]"],
    })];
    match cx.model.project.mesh {
        Mesh::Istio => d.push(json!({
            "group": "networking.istio.io",
            "kind": "VirtualService",
            "jqPathExpressions": [".spec.http[].route[].weight"],
        })),
        Mesh::Linkerd => {
            for kind in ["HTTPRoute", "GRPCRoute"] {
                d.push(json!({
                    "group": "gateway.networking.k8s.io",
                    "kind": kind,
                    "jqPathExpressions": [".spec.rules[].backendRefs[].weight"],
                }));
            }
        }
        Mesh::None => {}
    }
    Some(Value::Array(d))
}

fn application(cx: &EmitContext<'_>, service: &Service, env: &Environment, repo: &str) -> Value {
    let p = &cx.model.project;
    let mut spec = json!({
        "project": p.name,
        "source": {
            "repoURL": repo,
            "targetRevision": p.cd_revision,
            "path": format!("{}/helm/{}", p.cd_path.trim_end_matches('/'), service.name),
            "helm": {"releaseName": service.name, "valueFiles": [format!("values-{}.yaml", env.name)]},
        },
        "destination": {"server": IN_CLUSTER, "namespace": env.namespace},
        "syncPolicy": sync_policy(env),
    });
    if let Some(d) = ignore_differences(cx, service) {
        spec["ignoreDifferences"] = d;
        // Respect the ignored fields when syncing, not only when diffing.
        if let Some(opts) = spec["syncPolicy"]["syncOptions"].as_array_mut() {
            opts.push(json!("RespectIgnoreDifferences=true"));
        }
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": format!("{}-{}-{}", p.name, service.name, env.name),
            "namespace": ARGOCD_NAMESPACE,
            "labels": labels(cx, Some(&service.name), &env.name),
            "annotations": {
                "argocd.argoproj.io/sync-wave": cx.topology.wave_of(&service.name).to_string(),
                "nestio.dev/source": cx.location(service.name_span),
            },
            "finalizers": [RESOURCES_FINALIZER],
        },
        "spec": spec,
    })
}

/// `metadata` of an object in Argo CD's namespace (`cluster_scoped`: of a Namespace).
fn metadata(
    cx: &EmitContext<'_>,
    name: &str,
    env: Option<&str>,
    span: Span,
    wave: Option<i32>,
) -> Value {
    meta(cx, name, env, span, wave, false)
}

fn meta(
    cx: &EmitContext<'_>,
    name: &str,
    env: Option<&str>,
    span: Span,
    wave: Option<i32>,
    cluster_scoped: bool,
) -> Value {
    let p = &cx.model.project;
    let mut labels = Map::new();
    labels.insert("app.kubernetes.io/part-of".into(), json!(p.name));
    labels.insert("app.kubernetes.io/managed-by".into(), json!("nestioc"));
    if let Some(e) = env {
        labels.insert("nestio.dev/environment".into(), json!(e));
    }
    let mut annotations = Map::new();
    if let Some(w) = wave {
        annotations.insert("argocd.argoproj.io/sync-wave".into(), json!(w.to_string()));
    }
    annotations.insert("nestio.dev/source".into(), json!(cx.location(span)));
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    if !cluster_scoped {
        m.insert("namespace".into(), json!(ARGOCD_NAMESPACE));
    }
    m.insert("labels".into(), Value::Object(labels));
    m.insert("annotations".into(), Value::Object(annotations));
    Value::Object(m)
}

/// The platform Applications this build deploys: only for outputs it has (an Application
/// whose directory holds no file would fail to sync, and hold its wave).
fn platform_apps(cx: &EmitContext<'_>) -> Vec<PlatformApp> {
    let p = &cx.model.project;
    let mut apps = Vec::new();
    match p.mesh {
        Mesh::Istio | Mesh::Linkerd => apps.push(PlatformApp {
            suffix: MESH_APP,
            dir: if p.mesh == Mesh::Istio {
                "istio"
            } else {
                "linkerd"
            },
            // Only the namespace-wide objects: the per-service files repeat what the
            // charts hold.
            include: Some("_namespace.yaml"),
            namespace: ARGOCD_NAMESPACE,
            wave: -2,
            what: if p.mesh == Mesh::Istio {
                "the namespaces' default PeerAuthentication (strict mTLS)"
            } else {
                "the environments' Namespaces (proxy injection, default-deny inbound policy)"
            },
        }),
        Mesh::None => {}
    }
    let has_rules = cx
        .model
        .services
        .values()
        .any(|s| !super::prometheus::rule_groups(cx, s, false).is_empty());
    // In the `files` form the rules and the routing are for a Prometheus configured by
    // hand: no object to deploy.
    let operator = p.rules == RulesForm::Operator;
    if has_rules && operator {
        apps.push(PlatformApp {
            suffix: SLO_RULES_APP,
            dir: "prometheus",
            include: Some("*.prometheusrule.yaml"),
            namespace: super::prometheus::RULES_NAMESPACE,
            wave: -1,
            what: "the SLO and edge recording and alerting rules (PrometheusRules), which the rollouts' analyses query",
        });
    }
    apps.push(PlatformApp {
        suffix: DASHBOARDS_APP,
        dir: "grafana",
        // grafana/kustomization.yaml makes the sidecar's ConfigMaps from the dashboards'
        // files.
        include: None,
        namespace: super::grafana::DASHBOARD_NAMESPACE,
        wave: -1,
        what: "the Grafana dashboards (ConfigMaps for the Grafana sidecar, made by grafana/kustomization.yaml)",
    });
    if operator {
        apps.push(PlatformApp {
            suffix: ALERTING_APP,
            dir: "alertmanager",
            include: Some("alertmanagerconfig.yaml"),
            namespace: super::prometheus::RULES_NAMESPACE,
            wave: -1,
            what: "the Alertmanager routing and inhibition (an AlertmanagerConfig per environment)",
        });
    }
    if p.logging
        .as_ref()
        .is_some_and(|l| l.system == LogSystem::Fluentd)
    {
        apps.push(PlatformApp {
            suffix: LOGGING_APP,
            dir: "fluentd",
            include: Some("fluentd.yaml"),
            namespace: super::fluentd::NAMESPACE,
            wave: -1,
            what: "the Fluentd DaemonSet, its RBAC and configuration",
        });
    }
    apps
}

/// The Lua health check of `argoproj.io/Application` that Argo CD removed in 1.8, as its
/// documentation gives it (argo-cd docs/operator-manual/health.md, "Argocd App"): without
/// it an Application has no health, so a sync wave of Applications is done as soon as they
/// are applied (gitops-engine sync_context.go: "some objects (e.g. secret) do not have
/// health, and they automatically success"), and waves order nothing.
pub const APPLICATION_HEALTH_LUA: &str = "hs = {}
hs.status = \"Progressing\"
hs.message = \"\"
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
";

/// The `argocd-cm` key of that check.
pub const APPLICATION_HEALTH_KEY: &str = "resource.customizations.health.argoproj.io_Application";

impl Emitter for ArgoCd {
    fn name(&self) -> &'static str {
        // The target is named after the system it generates for.
        Cd::ArgoCd.as_str()
    }

    fn description(&self) -> &'static str {
        "Argo CD (cd \"argocd\"): argocd/apps.yaml, project.yaml, namespaces.yaml, platform.yaml, apps-<env>.yaml, <env>/<service>.yaml"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        let p = &cx.model.project;
        if p.cd != Cd::ArgoCd {
            return Ok(Vec::new());
        }
        let Some(repo) = p.cd_repository.as_ref().map(|r| r.value.clone()) else {
            return Ok(Vec::new()); // reported by lowering
        };
        let root = cx.sources.get(p.source).name.clone();
        let out_dir = p.cd_path.trim_end_matches('/');
        let span = Some(p.span);
        let mut out = Vec::new();
        let envs = cx.environments();
        let mut namespaces: Vec<&str> = envs.iter().map(|e| e.namespace.as_str()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        let platform = platform_apps(cx);
        let platform_project = format!("{}-platform", p.name);
        // Platform Applications sync by themselves unless every environment syncs by hand:
        // their objects serve every environment.
        let platform_auto = envs.iter().any(|e| e.auto_sync);

        let destination = |ns: &str| json!({"server": IN_CLUSTER, "namespace": ns});
        let mut project_meta = metadata(cx, &p.name, None, p.span, Some(-3));
        project_meta["annotations"]["argocd.argoproj.io/sync-options"] = json!(KEEP);
        let services_project = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": project_meta,
            "spec": {
                "description": format!("The {} project's services, generated by nestioc.", p.name),
                "sourceRepos": [repo],
                "destinations": namespaces
                    .iter()
                    .map(|ns| destination(ns))
                    .chain(std::iter::once(destination(ARGOCD_NAMESPACE)))
                    .collect::<Vec<_>>(),
                // The charts create namespaced objects only; Namespaces come from
                // `CreateNamespace=true` and from namespaces.yaml (the root).
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            },
        });
        let mut platform_meta = metadata(cx, &platform_project, None, p.span, Some(-3));
        platform_meta["annotations"]["argocd.argoproj.io/sync-options"] = json!(KEEP);
        let mut platform_namespaces: Vec<&str> = platform.iter().map(|a| a.namespace).collect();
        platform_namespaces.extend(namespaces.iter().copied());
        platform_namespaces.sort_unstable();
        platform_namespaces.dedup();
        let mut cluster_kinds = vec![json!({"group": "", "kind": "Namespace"})];
        if platform.iter().any(|a| a.suffix == LOGGING_APP) {
            // Fluentd reads pod metadata cluster-wide.
            for kind in ["ClusterRole", "ClusterRoleBinding"] {
                cluster_kinds.push(json!({"group": "rbac.authorization.k8s.io", "kind": kind}));
            }
        }
        let platform_project_obj = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": platform_meta,
            "spec": {
                "description": format!("The {} project's platform pieces (observability, logging, mesh-wide policy), generated by nestioc.", p.name),
                "sourceRepos": [repo],
                "destinations": platform_namespaces.iter().map(|ns| destination(ns)).collect::<Vec<_>>(),
                "clusterResourceWhitelist": cluster_kinds,
            },
        });
        out.push(Artifact {
            path: "argocd/project.yaml".into(),
            contents: documents(&header(&root), &[services_project, platform_project_obj]),
            source: span,
        });

        // The environments' Namespaces, first; with Linkerd the mesh's own Namespace
        // objects (their annotations turn on injection and deny by default) are them.
        let mut root_include = vec!["project.yaml", "platform.yaml", "apps-*.yaml"];
        if p.mesh != Mesh::Linkerd {
            let objects: Vec<Value> = namespaces
                .iter()
                .map(|ns| {
                    let mut meta = meta(cx, ns, None, p.span, Some(-3), true);
                    meta["annotations"]["argocd.argoproj.io/sync-options"] = json!(KEEP);
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
                })
                .collect();
            out.push(Artifact {
                path: "argocd/namespaces.yaml".into(),
                contents: documents(&header(&root), &objects),
                source: span,
            });
            root_include.insert(1, "namespaces.yaml");
        }

        let platform_objects: Vec<Value> = platform
            .iter()
            .map(|a| {
                let mut meta = metadata(cx, &format!("{}-{}", p.name, a.suffix), None, p.span, Some(a.wave));
                meta["annotations"]["nestio.dev/deploys"] = json!(a.what);
                meta["finalizers"] = json!([RESOURCES_FINALIZER]);
                let mut sync = Map::new();
                if platform_auto {
                    sync.insert("automated".into(), json!({"prune": true, "selfHeal": true}));
                }
                let mut options = vec![json!("CreateNamespace=true")];
                if a.suffix == MESH_APP {
                    // Namespaces and their mTLS policy: never pruned nor deleted by Argo CD.
                    options = vec![json!("Prune=false"), json!("Delete=false")];
                }
                sync.insert("syncOptions".into(), Value::Array(options));
                sync.insert(
                    "retry".into(),
                    json!({"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}),
                );
                let mut source = json!({
                    "repoURL": repo,
                    "targetRevision": p.cd_revision,
                    "path": format!("{out_dir}/{}", a.dir),
                });
                if let Some(include) = a.include {
                    source["directory"] = json!({"include": include});
                }
                json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Application",
                    "metadata": meta,
                    "spec": {
                        "project": platform_project,
                        "source": source,
                        "destination": destination(a.namespace),
                        "syncPolicy": sync,
                    },
                })
            })
            .collect();
        out.push(Artifact {
            path: "argocd/platform.yaml".into(),
            contents: documents(&header(&root), &platform_objects),
            source: span,
        });

        // The root: everything above, then the environments.
        let root_app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": metadata(cx, &p.name, None, p.span, None),
            "spec": {
                "project": p.name,
                "source": {
                    "repoURL": repo,
                    "targetRevision": p.cd_revision,
                    "path": format!("{out_dir}/argocd"),
                    // Not recursive: the environments' directories are their
                    // app-of-apps'. Not itself: deleting it must not delete itself.
                    "directory": {"include": format!("{{{}}}", root_include.join(","))},
                },
                "destination": destination(ARGOCD_NAMESPACE),
                // No pruning: removing an environment or the logging system from the
                // topology leaves its Application until someone deletes it (with its
                // resources: a deliberate act). No finalizer either: deleting the root
                // leaves what it created.
                "syncPolicy": {
                    "automated": {"prune": false, "selfHeal": true},
                    "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
                },
            },
        });
        let mut root_head = header(&root);
        root_head.push_str(&format!(
            "# Apply once, after the AppProjects: kubectl apply -n {ARGOCD_NAMESPACE} -f argocd/project.yaml -f argocd/apps.yaml
"
        ));
        out.push(Artifact {
            path: "argocd/apps.yaml".into(),
            contents: documents(&root_head, &[root_app]),
            source: span,
        });

        for env in &envs {
            // CI deploys an image by `argocd app set --helm-set image.tag=...` on the child
            // Application; the parent must not put the committed spec back.
            let mut root_sync = sync_policy(env);
            if let Some(opts) = root_sync["syncOptions"].as_array_mut() {
                opts.push(json!("RespectIgnoreDifferences=true"));
            }
            let mut meta = metadata(
                cx,
                &format!("{}-{}", p.name, env.name),
                Some(&env.name),
                env.span,
                Some(0),
            );
            meta["finalizers"] = json!([RESOURCES_FINALIZER]);
            let root_app = json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": meta,
                "spec": {
                    "project": p.name,
                    "source": {
                        "repoURL": repo,
                        "targetRevision": p.cd_revision,
                        "path": format!("{out_dir}/argocd/{}", env.name),
                    },
                    "destination": destination(ARGOCD_NAMESPACE),
                    "syncPolicy": root_sync,
                    "ignoreDifferences": [{
                        "group": "argoproj.io",
                        "kind": "Application",
                        "jsonPointers": ["/spec/source/helm/parameters"],
                    }],
                },
            });
            out.push(Artifact {
                path: format!("argocd/apps-{}.yaml", env.name),
                contents: documents(&header(&root), &[root_app]),
                source: Some(env.span),
            });
            // The environment's service Applications, in one file: each carries its
            // source in `nestio.dev/source`, and Argo CD orders them by their sync waves,
            // not by file.
            let apps: Vec<Value> = cx
                .model
                .services
                .values()
                .map(|service| application(cx, service, env, &repo))
                .collect();
            if !apps.is_empty() {
                out.push(Artifact {
                    path: format!("argocd/{}/applications.yaml", env.name),
                    contents: documents(&header(&root), &apps),
                    source: Some(env.span),
                });
            }
        }
        Ok(out)
    }
}
