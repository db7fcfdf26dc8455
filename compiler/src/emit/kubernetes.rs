//! `kubernetes`: every object fully rendered per environment,
//! `kubernetes/<env>/<service>.yaml`: what `helm template` gives for the service's chart
//! with that environment's values, ready for `kubectl apply` or review.

use super::chart::{render, service_values};
use super::yaml::{documents, header};
use super::{Artifact, EmitContext, Emitter, Sink};
use crate::diag::Diagnostic;

pub(super) struct Kubernetes;

impl Emitter for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn description(&self) -> &'static str {
        "fully rendered manifests per environment, kubernetes/<env>/<service>.yaml"
    }

    fn emit(&self, cx: &EmitContext<'_>, sink: &dyn Sink) -> Result<(), Diagnostic> {
        let envs = cx.environments();
        super::stream_files_reusing(cx, sink, self.name(), |service| {
            let values = service_values(cx, service);
            let head = header(&cx.file_of(service));
            envs.iter()
                .map(|env| {
                    let values = values.in_env(service, &env.name)?;
                    let objects = render(&values, &env.namespace)?;
                    Ok(Artifact {
                        path: format!("kubernetes/{}/{}.yaml", env.name, service.name),
                        contents: documents(&head, &objects),
                        source: Some(service.name_span),
                    })
                })
                .collect::<Result<Vec<_>, Diagnostic>>()
        })
    }
}
