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

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::chart::crd::Resource;
use super::chart::crd::argocd::{
    AppProjectSpec, ApplicationSource, ApplicationSpec, Automated, Backoff, Destination,
    DirectorySource, GroupKind, HelmSource, IgnoreDifference, Retry, SyncPolicy,
};

use super::yaml::{documents, header};
use super::{Artifact, EmitContext, Emitter};
use crate::diag::Diagnostic;
use crate::model::names::{ALERTING_APP, DASHBOARDS_APP, LOGGING_APP, MESH_APP, SLO_RULES_APP};
use crate::model::{Branching, Cd, Environment, LogSystem, Mesh, RulesForm, Service};
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

fn string_map<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Retry a failed sync five times, from 10 seconds to 3 minutes apart.
fn retry() -> Retry {
    Retry {
        limit: 5,
        backoff: Backoff {
            duration: "10s".into(),
            factor: 2,
            max_duration: "3m".into(),
        },
    }
}

fn automated(prune: bool) -> Automated {
    Automated {
        prune,
        self_heal: true,
    }
}

fn sync_policy(env: &Environment) -> SyncPolicy {
    SyncPolicy {
        automated: env.auto_sync.then(|| automated(true)),
        sync_options: vec!["CreateNamespace=true".into()],
        retry: retry(),
    }
}

fn destination(namespace: &str) -> Destination {
    Destination {
        server: IN_CLUSTER.into(),
        namespace: namespace.to_owned(),
    }
}

/// What Argo Rollouts changes at run time, so that Argo CD does not undo it: the
/// selectors of the stable and canary Services, and the traffic weights.
fn ignore_differences(cx: &EmitContext<'_>, service: &Service) -> Vec<IgnoreDifference> {
    if !super::rollout::uses_rollout(cx, service) {
        return Vec::new();
    }
    let jq = |group: &str, kind: &str, path: &str| IgnoreDifference {
        group: group.to_owned(),
        kind: kind.to_owned(),
        jq_path_expressions: vec![path.to_owned()],
        json_pointers: Vec::new(),
    };
    let mut d = vec![jq(
        "",
        "Service",
        ".spec.selector[\"rollouts-pod-template-hash\"]",
    )];
    match cx.model.project.mesh {
        Mesh::Istio => d.push(jq(
            "networking.istio.io",
            "VirtualService",
            ".spec.http[].route[].weight",
        )),
        Mesh::Linkerd => {
            for kind in ["HTTPRoute", "GRPCRoute"] {
                d.push(jq(
                    "gateway.networking.k8s.io",
                    kind,
                    ".spec.rules[].backendRefs[].weight",
                ));
            }
        }
        Mesh::None => {}
    }
    d
}

/// The revision an environment's Applications follow. Under gitflow, the staging
/// environment follows `develop`: CI deploys develop's images there
/// ([`super::ci::promotion_envs`]), and with `main`'s charts and values a topology change
/// would reach staging only together with production. Every other environment follows
/// the project's `revision=` (default `main`).
fn env_revision(cx: &EmitContext<'_>, env: &Environment) -> String {
    let p = &cx.model.project;
    if p.branching == Branching::Gitflow {
        // All the project's environments: `--env` must not change which one is staging.
        let envs = p.environments();
        let (staging, _) = super::ci::promotion_envs(&envs);
        if staging.is_some_and(|s| s.name == env.name) {
            return "develop".into();
        }
    }
    p.cd_revision.clone()
}

fn application(
    cx: &EmitContext<'_>,
    service: &Service,
    env: &Environment,
    repo: &str,
) -> Resource<ApplicationSpec> {
    let p = &cx.model.project;
    let ignore = ignore_differences(cx, service);
    let mut sync = sync_policy(env);
    if !ignore.is_empty() {
        // Respect the ignored fields when syncing, not only when diffing.
        sync.sync_options
            .push("RespectIgnoreDifferences=true".into());
    }
    let mut labels = project_labels(cx, None);
    labels.insert("app.kubernetes.io/name".into(), service.name.clone());
    labels.insert("nestio.dev/environment".into(), env.name.clone());
    Resource::new(
        ObjectMeta {
            name: Some(format!("{}-{}-{}", p.name, service.name, env.name)),
            namespace: Some(ARGOCD_NAMESPACE.into()),
            labels: Some(labels),
            annotations: Some(string_map([
                (
                    "argocd.argoproj.io/sync-wave",
                    cx.topology.wave_of(&service.name).to_string(),
                ),
                ("nestio.dev/source", cx.location(service.name_span)),
            ])),
            finalizers: Some(vec![RESOURCES_FINALIZER.into()]),
            ..ObjectMeta::default()
        },
        ApplicationSpec {
            project: p.name.clone(),
            source: ApplicationSource {
                repo_url: repo.to_owned(),
                target_revision: env_revision(cx, env),
                path: format!("{}/helm/{}", p.cd_path.trim_end_matches('/'), service.name),
                helm: Some(HelmSource {
                    release_name: service.name.clone(),
                    value_files: vec![format!("values-{}.yaml", env.name)],
                }),
                directory: None,
            },
            destination: destination(&env.namespace),
            sync_policy: sync,
            ignore_differences: ignore,
        },
    )
}

/// The project's labels, and the environment's when the object is one environment's.
fn project_labels(cx: &EmitContext<'_>, env: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = string_map([
        ("app.kubernetes.io/part-of", cx.model.project.name.clone()),
        ("app.kubernetes.io/managed-by", "nestioc".to_owned()),
    ]);
    if let Some(e) = env {
        labels.insert("nestio.dev/environment".into(), e.to_owned());
    }
    labels
}

/// `metadata` of an object in Argo CD's namespace.
fn metadata(
    cx: &EmitContext<'_>,
    name: &str,
    env: Option<&str>,
    span: Span,
    wave: Option<i32>,
) -> ObjectMeta {
    let mut annotations = BTreeMap::new();
    if let Some(w) = wave {
        annotations.insert("argocd.argoproj.io/sync-wave".into(), w.to_string());
    }
    annotations.insert("nestio.dev/source".into(), cx.location(span));
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(ARGOCD_NAMESPACE.into()),
        labels: Some(project_labels(cx, env)),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

/// Adds `KEEP` to the object's sync options.
fn keep(mut meta: ObjectMeta) -> ObjectMeta {
    meta.annotations
        .get_or_insert_default()
        .insert("argocd.argoproj.io/sync-options".into(), KEEP.into());
    meta
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

        let services_project = Resource::new(
            keep(metadata(cx, &p.name, None, p.span, Some(-3))),
            AppProjectSpec {
                description: format!("The {} project's services, generated by nestioc.", p.name),
                source_repos: vec![repo.clone()],
                destinations: namespaces
                    .iter()
                    .map(|ns| destination(ns))
                    .chain(std::iter::once(destination(ARGOCD_NAMESPACE)))
                    .collect(),
                // The charts create namespaced objects only; Namespaces come from
                // `CreateNamespace=true` and from namespaces.yaml (the root).
                cluster_resource_whitelist: vec![GroupKind::new("", "Namespace")],
            },
        );
        let mut platform_namespaces: Vec<&str> = platform.iter().map(|a| a.namespace).collect();
        platform_namespaces.extend(namespaces.iter().copied());
        platform_namespaces.sort_unstable();
        platform_namespaces.dedup();
        let mut cluster_kinds = vec![GroupKind::new("", "Namespace")];
        if platform.iter().any(|a| a.suffix == LOGGING_APP) {
            // Fluentd reads pod metadata cluster-wide.
            for kind in ["ClusterRole", "ClusterRoleBinding"] {
                cluster_kinds.push(GroupKind::new("rbac.authorization.k8s.io", kind));
            }
        }
        let platform_project_obj = Resource::new(
            keep(metadata(cx, &platform_project, None, p.span, Some(-3))),
            AppProjectSpec {
                description: format!(
                    "The {} project's platform pieces (observability, logging, mesh-wide policy), generated by nestioc.",
                    p.name
                ),
                source_repos: vec![repo.clone()],
                destinations: platform_namespaces
                    .iter()
                    .map(|ns| destination(ns))
                    .collect(),
                cluster_resource_whitelist: cluster_kinds,
            },
        );
        out.push(Artifact {
            path: "argocd/project.yaml".into(),
            contents: documents(&header(&root), &[services_project, platform_project_obj]),
            source: span,
        });

        // The environments' Namespaces, first; with Linkerd the mesh's own Namespace
        // objects (their annotations turn on injection and deny by default) are them.
        let mut root_include = vec!["project.yaml", "platform.yaml", "apps-*.yaml"];
        if p.mesh != Mesh::Linkerd {
            let objects: Vec<Namespace> = namespaces
                .iter()
                .map(|ns| Namespace {
                    // A Namespace is cluster-scoped: no namespace of its own.
                    metadata: keep(ObjectMeta {
                        namespace: None,
                        ..metadata(cx, ns, None, p.span, Some(-3))
                    }),
                    ..Namespace::default()
                })
                .collect();
            out.push(Artifact {
                path: "argocd/namespaces.yaml".into(),
                contents: documents(&header(&root), &objects),
                source: span,
            });
            root_include.insert(1, "namespaces.yaml");
        }

        let platform_objects: Vec<Resource<ApplicationSpec>> = platform
            .iter()
            .map(|a| {
                let mut meta = metadata(
                    cx,
                    &format!("{}-{}", p.name, a.suffix),
                    None,
                    p.span,
                    Some(a.wave),
                );
                meta.annotations
                    .get_or_insert_default()
                    .insert("nestio.dev/deploys".into(), a.what.into());
                meta.finalizers = Some(vec![RESOURCES_FINALIZER.into()]);
                let sync_options = if a.suffix == MESH_APP {
                    // Namespaces and their mTLS policy: never pruned nor deleted by Argo CD.
                    vec!["Prune=false".into(), "Delete=false".into()]
                } else {
                    vec!["CreateNamespace=true".into()]
                };
                Resource::new(
                    meta,
                    ApplicationSpec {
                        project: platform_project.clone(),
                        source: ApplicationSource {
                            repo_url: repo.clone(),
                            target_revision: p.cd_revision.clone(),
                            path: format!("{out_dir}/{}", a.dir),
                            helm: None,
                            directory: a.include.map(|include| DirectorySource {
                                include: include.into(),
                            }),
                        },
                        destination: destination(a.namespace),
                        sync_policy: SyncPolicy {
                            automated: platform_auto.then(|| automated(true)),
                            sync_options,
                            retry: retry(),
                        },
                        ignore_differences: Vec::new(),
                    },
                )
            })
            .collect();
        out.push(Artifact {
            path: "argocd/platform.yaml".into(),
            contents: documents(&header(&root), &platform_objects),
            source: span,
        });

        // The root: everything above, then the environments.
        let root_app = Resource::new(
            metadata(cx, &p.name, None, p.span, None),
            ApplicationSpec {
                project: p.name.clone(),
                source: ApplicationSource {
                    repo_url: repo.clone(),
                    target_revision: p.cd_revision.clone(),
                    path: format!("{out_dir}/argocd"),
                    helm: None,
                    // Not recursive: the environments' directories are their
                    // app-of-apps'. Not itself: deleting it must not delete itself.
                    directory: Some(DirectorySource {
                        include: format!("{{{}}}", root_include.join(",")),
                    }),
                },
                destination: destination(ARGOCD_NAMESPACE),
                // No pruning: removing an environment or the logging system from the
                // topology leaves its Application until someone deletes it (with its
                // resources: a deliberate act). No finalizer either: deleting the root
                // leaves what it created.
                sync_policy: SyncPolicy {
                    automated: Some(automated(false)),
                    sync_options: Vec::new(),
                    retry: retry(),
                },
                ignore_differences: Vec::new(),
            },
        );
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
            root_sync
                .sync_options
                .push("RespectIgnoreDifferences=true".into());
            let mut meta = metadata(
                cx,
                &format!("{}-{}", p.name, env.name),
                Some(&env.name),
                env.span,
                Some(0),
            );
            meta.finalizers = Some(vec![RESOURCES_FINALIZER.into()]);
            let root_app = Resource::new(
                meta,
                ApplicationSpec {
                    project: p.name.clone(),
                    source: ApplicationSource {
                        repo_url: repo.clone(),
                        target_revision: env_revision(cx, env),
                        path: format!("{out_dir}/argocd/{}", env.name),
                        helm: None,
                        directory: None,
                    },
                    destination: destination(ARGOCD_NAMESPACE),
                    sync_policy: root_sync,
                    ignore_differences: vec![IgnoreDifference {
                        group: "argoproj.io".into(),
                        kind: "Application".into(),
                        jq_path_expressions: Vec::new(),
                        json_pointers: vec!["/spec/source/helm/parameters".into()],
                    }],
                },
            );
            out.push(Artifact {
                path: format!("argocd/apps-{}.yaml", env.name),
                contents: documents(&header(&root), &[root_app]),
                source: Some(env.span),
            });
            // The environment's service Applications, in one file: each carries its
            // source in `nestio.dev/source`, and Argo CD orders them by their sync waves,
            // not by file.
            let apps: Vec<Resource<ApplicationSpec>> = cx
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
