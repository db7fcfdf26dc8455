//! `istio` and `linkerd`: the namespace-wide mesh objects, `istio/_namespace.yaml` or
//! `linkerd/_namespace.yaml`. Each service's mesh objects are part of its workload: the
//! shared chart renders them (`emit::mesh`), so they are written once, in the charts'
//! values and in `kubernetes/<env>/<service>.yaml`, and deployed with the service.

use serde_json::{Value, json};

use super::yaml::{documents, header};
use super::{Artifact, EmitContext, Emitter};
use crate::diag::Diagnostic;
use crate::model::Mesh;

pub(super) struct Istio;
pub(super) struct Linkerd;

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
        "Istio's namespace-wide objects (mesh \"istio\"): istio/_namespace.yaml; each service's are in its chart"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if cx.model.project.mesh != Mesh::Istio {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
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
        "Linkerd's namespace-wide objects (mesh \"linkerd\"): linkerd/_namespace.yaml; each service's are in its chart"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if cx.model.project.mesh != Mesh::Linkerd {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
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
