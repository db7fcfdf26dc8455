//! `istio` and `linkerd`: the mesh objects of each service, `istio/<service>.yaml` or
//! `linkerd/<service>.yaml`, for every environment (each object carries its environment's
//! namespace; `--env` keeps one), plus `_namespace.yaml` with the namespace-wide pieces.
//! The same objects are in the Helm charts and in `kubernetes/<env>/`.

use serde_json::{Value, json};

use super::chart::service_values;
use super::yaml::{documents, header};
use super::{Artifact, EmitContext, Emitter};
use crate::diag::Diagnostic;
use crate::model::Mesh;

pub(super) struct Istio;
pub(super) struct Linkerd;

fn service_files(cx: &EmitContext<'_>, dir: &str) -> Result<Vec<Artifact>, Diagnostic> {
    let envs = cx.environments();
    let files = super::per_service(cx, |service| {
        let values = service_values(cx, service);
        let mut objects = Vec::new();
        for env in &envs {
            let values = values.in_env(service, &env.name)?;
            objects.extend(super::mesh::render(&values, &env.namespace));
        }
        if objects.is_empty() {
            return Ok(None);
        }
        Ok(Some(Artifact {
            path: format!("{dir}/{}.yaml", service.name),
            contents: documents(&header(&cx.file_of(service)), &objects),
            source: Some(service.name_span),
        }))
    });
    let mut out = Vec::new();
    for f in files {
        out.extend(f?);
    }
    Ok(out)
}

fn namespaces(cx: &EmitContext<'_>) -> Vec<String> {
    let mut ns: Vec<String> = cx.environments().into_iter().map(|e| e.namespace).collect();
    ns.sort();
    ns.dedup();
    ns
}

fn project_header(cx: &EmitContext<'_>) -> String {
    header(&cx.sources.get(cx.model.project.source).name)
}

fn namespace_metadata(cx: &EmitContext<'_>, name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {
            "app.kubernetes.io/part-of": cx.model.project.name,
            "app.kubernetes.io/managed-by": "nestioc",
        },
        "annotations": {"nestio.dev/source": cx.location(cx.model.project.span)},
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

impl Emitter for Istio {
    fn name(&self) -> &'static str {
        "istio"
    }

    fn description(&self) -> &'static str {
        "Istio policy per service (mesh \"istio\"): istio/<service>.yaml, istio/_namespace.yaml"
    }

    fn emit(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if cx.model.project.mesh != Mesh::Istio {
            return Ok(Vec::new());
        }
        let mut out = service_files(cx, "istio")?;
        // Strict mTLS for the whole namespace: nothing in it accepts plain text.
        let objects: Vec<Value> = namespaces(cx)
            .iter()
            .map(|ns| {
                json!({
                    "apiVersion": "security.istio.io/v1beta1",
                    "kind": "PeerAuthentication",
                    "metadata": namespace_metadata(cx, "default", Some(ns)),
                    "spec": {"mtls": {"mode": "STRICT"}},
                })
            })
            .collect();
        out.push(Artifact {
            path: "istio/_namespace.yaml".into(),
            contents: documents(&project_header(cx), &objects),
            source: Some(cx.model.project.span),
        });
        Ok(out)
    }
}

impl Emitter for Linkerd {
    fn name(&self) -> &'static str {
        "linkerd"
    }

    fn description(&self) -> &'static str {
        "Linkerd policy per service (mesh \"linkerd\"): linkerd/<service>.yaml, linkerd/_namespace.yaml"
    }

    fn emit(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if cx.model.project.mesh != Mesh::Linkerd {
            return Ok(Vec::new());
        }
        let mut out = service_files(cx, "linkerd")?;
        // Default-deny for the namespace: a pod without a Server and an
        // AuthorizationPolicy receives nothing.
        let objects: Vec<Value> = namespaces(cx)
            .iter()
            .map(|ns| {
                let mut meta = namespace_metadata(cx, ns, None);
                meta["annotations"]["linkerd.io/inject"] = json!("enabled");
                meta["annotations"]["config.linkerd.io/default-inbound-policy"] = json!("deny");
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
            })
            .collect();
        out.push(Artifact {
            path: "linkerd/_namespace.yaml".into(),
            contents: documents(&project_header(cx), &objects),
            source: Some(cx.model.project.span),
        });
        Ok(out)
    }
}
