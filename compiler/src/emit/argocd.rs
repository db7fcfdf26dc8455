//! `argocd`: Argo CD objects for `cd "argocd"`.
//!
//! One `Application` per service per environment (`argocd/<env>/<service>.yaml`), each
//! pointing at the service's generated chart with that environment's values file; an
//! app-of-apps `Application` per environment (`argocd/apps-<env>.yaml`) whose sync applies
//! them in release-wave order (`argocd.argoproj.io/sync-wave`: callees before callers); and
//! an `AppProject` (`argocd/project.yaml`) limited to the repository and the project's
//! namespaces. Environments sync automatically unless `sync "manual"` (the default for an
//! environment named prod, production or prd).

use serde_json::{Map, Value, json};

use super::yaml::{documents, header};
use super::{Artifact, EmitContext, Emitter};
use crate::diag::Diagnostic;
use crate::model::{Environment, Mesh, Service};

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

impl Emitter for ArgoCd {
    fn name(&self) -> &'static str {
        "argocd"
    }

    fn description(&self) -> &'static str {
        "Argo CD (cd \"argocd\"): argocd/project.yaml, argocd/apps-<env>.yaml, argocd/<env>/<service>.yaml"
    }

    fn emit(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        let p = &cx.model.project;
        if p.cd != "argocd" {
            return Ok(Vec::new());
        }
        let Some(repo) = p.cd_repository.as_ref().map(|r| r.value.clone()) else {
            return Ok(Vec::new()); // reported by lowering
        };
        let root = cx.sources.get(p.source).name.clone();
        let span = Some(p.span);
        let mut out = Vec::new();
        let envs = cx.environments();
        let mut namespaces: Vec<&str> = envs.iter().map(|e| e.namespace.as_str()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        let project = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {
                "name": p.name,
                "namespace": ARGOCD_NAMESPACE,
                "labels": {"app.kubernetes.io/part-of": p.name, "app.kubernetes.io/managed-by": "nestioc"},
                "annotations": {"nestio.dev/source": cx.location(p.span)},
            },
            "spec": {
                "description": format!("The {} project, generated by nestioc.", p.name),
                "sourceRepos": [repo],
                "destinations": namespaces
                    .iter()
                    .map(|ns| json!({"server": IN_CLUSTER, "namespace": ns}))
                    .chain(std::iter::once(json!({"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE})))
                    .collect::<Vec<_>>(),
                // The charts create namespaced objects only; Namespaces come from
                // `CreateNamespace=true`.
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            },
        });
        out.push(Artifact {
            path: "argocd/project.yaml".into(),
            contents: documents(&header(&root), &[project]),
            source: span,
        });
        for env in &envs {
            // CI deploys an image by `argocd app set --helm-set image.tag=...` on the child
            // Application; the parent must not put the committed spec back.
            let mut root_sync = sync_policy(env);
            if let Some(opts) = root_sync["syncOptions"].as_array_mut() {
                opts.push(json!("RespectIgnoreDifferences=true"));
            }
            let root_app = json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {
                    "name": format!("{}-{}", p.name, env.name),
                    "namespace": ARGOCD_NAMESPACE,
                    "labels": labels(cx, None, &env.name),
                    "annotations": {"nestio.dev/source": cx.location(env.span)},
                    "finalizers": [RESOURCES_FINALIZER],
                },
                "spec": {
                    "project": p.name,
                    "source": {
                        "repoURL": repo,
                        "targetRevision": p.cd_revision,
                        "path": format!("{}/argocd/{}", p.cd_path.trim_end_matches('/'), env.name),
                    },
                    "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
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
            for service in cx.model.services.values() {
                out.push(Artifact {
                    path: format!("argocd/{}/{}.yaml", env.name, service.name),
                    contents: documents(
                        &header(&cx.file_of(service)),
                        &[application(cx, service, env, &repo)],
                    ),
                    source: Some(service.name_span),
                });
            }
        }
        Ok(out)
    }
}
