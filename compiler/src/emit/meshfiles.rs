//! `istio` and `linkerd`: the namespace-wide mesh objects, `istio/_namespace.yaml` or
//! `linkerd/_namespace.yaml`. Each service's mesh objects are part of its workload: the
//! shared chart renders them (`emit::mesh`), so they are written once, in the charts'
//! values and in `kubernetes/<env>/<service>.yaml`, and deployed with the service.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::chart::crd::Resource;
use super::chart::crd::istio::{MtlsMode, PeerAuthenticationSpec, PeerMtls};

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

fn namespace_metadata(cx: &EmitContext<'_>, name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([
            (
                "app.kubernetes.io/part-of".to_owned(),
                cx.model.project.name.clone(),
            ),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                "nestioc".to_owned(),
            ),
        ])),
        annotations: Some(BTreeMap::from([(
            "nestio.dev/source".to_owned(),
            cx.location(cx.model.project.span),
        )])),
        ..ObjectMeta::default()
    }
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
        let objects: Vec<Resource<PeerAuthenticationSpec>> = namespaces(cx)
            .iter()
            .map(|ns| {
                Resource::new(
                    namespace_metadata(cx, "default", Some(ns)),
                    PeerAuthenticationSpec {
                        selector: None,
                        mtls: PeerMtls {
                            mode: MtlsMode::Strict,
                        },
                        port_level_mtls: BTreeMap::new(),
                    },
                )
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
        let objects: Vec<Namespace> = namespaces(cx)
            .iter()
            .map(|ns| {
                let mut metadata = namespace_metadata(cx, ns, None);
                let annotations = metadata.annotations.get_or_insert_default();
                annotations.insert("linkerd.io/inject".into(), "enabled".into());
                annotations.insert(
                    "config.linkerd.io/default-inbound-policy".into(),
                    "deny".into(),
                );
                Namespace {
                    metadata,
                    ..Namespace::default()
                }
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
