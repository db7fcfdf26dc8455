//! The names of the objects the outputs derive from the model (a StatefulSet's headless
//! Service, a published port's Service, Argo CD's Applications). The checks refuse names
//! that would clash or be invalid, and the emitters write them: both read them here, so a
//! check never depends on an emitter.

use crate::model::{Model, Service};
use crate::source::Span;

/// The headless Service that governs a StatefulSet: it gives each replica its DNS name,
/// `<service>-<ordinal>.<service>-headless` (StatefulSet `serviceName`: "This service must
/// exist before the StatefulSet, and is responsible for the network identity of the set";
/// https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#stable-network-id).
/// Callers keep using the ClusterIP Service `<service>`, where the mesh's routes and
/// load balancing apply.
#[must_use]
pub fn headless_service_name(service: &Service) -> String {
    format!("{}-headless", service.name)
}

/// The Service of type NodePort or LoadBalancer that publishes one port (`expose
/// node-port=` / `load-balancer=`). A Service of either type gets a node port for each of
/// its ports (https://kubernetes.io/docs/concepts/services-networking/service/#type-nodeport),
/// so the published port has a Service of its own and the service's other ports stay
/// inside the cluster.
#[must_use]
pub fn public_service_name(service: &Service) -> String {
    format!("{}-public", service.name)
}

/// The shared Helm chart, `helm/nestio-service/`: every service chart depends on it, and
/// holds its values under this key (Helm scopes a subchart's values by the subchart's
/// name). A service or a project of this name would take its directory.
pub const SHARED_CHART: &str = "nestio-service";

pub const MESH_APP: &str = "mesh";
pub const SLO_RULES_APP: &str = "slo-rules";
pub const DASHBOARDS_APP: &str = "dashboards";
pub const ALERTING_APP: &str = "alerting";
pub const LOGGING_APP: &str = "logging";

/// The suffixes of the platform Applications (`<project>-<suffix>`), which no service and
/// environment may spell.
pub const PLATFORM_SUFFIXES: &[&str] = &[
    MESH_APP,
    SLO_RULES_APP,
    DASHBOARDS_APP,
    ALERTING_APP,
    LOGGING_APP,
];

/// The project's Application names and what each deploys: the root, each environment's
/// app-of-apps, every service in every environment, and the platform Applications.
/// Names must be unique in Argo CD's namespace; `<project>-<service>-<env>` and
/// `<project>-<env>` can meet (service `a` in `b-c`, and service `a-b` in `c`).
#[must_use]
pub fn application_names(model: &Model) -> Vec<(String, Span, String)> {
    let p = &model.project;
    let mut out = vec![(
        p.name.clone(),
        p.span,
        "the project's root application".to_owned(),
    )];
    for suffix in PLATFORM_SUFFIXES {
        out.push((
            format!("{}-{suffix}", p.name),
            p.span,
            format!("the platform application `{suffix}`"),
        ));
    }
    for env in p.environments() {
        out.push((
            format!("{}-{}", p.name, env.name),
            env.span,
            format!("the app-of-apps of environment `{}`", env.name),
        ));
        for service in model.services.values() {
            out.push((
                format!("{}-{}-{}", p.name, service.name, env.name),
                service.name_span,
                format!("`{}` in environment `{}`", service.name, env.name),
            ));
        }
    }
    out
}
