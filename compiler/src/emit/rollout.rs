//! Argo Rollouts from the topology: a service with `rollout "canary"` or
//! `rollout "blue-green"` runs as a `Rollout` instead of a `Deployment`.
//!
//! - Canary: the steps become `setWeight` and `pause` steps; traffic is split by the mesh
//!   (Istio: the service's VirtualServices, host-level between `<service>` and
//!   `<service>-canary`; Linkerd: its Gateway API routes through the `argoproj-labs/gatewayAPI`
//!   plugin; no mesh: by replica count). A background analysis runs from the first step.
//! - Blue-green: a `<service>-preview` Service, manual promotion, and the analysis after
//!   promotion, on the new pods.
//!
//! The `AnalysisTemplate` judges the new version only: the error ratio its pods serve
//! (selected by Argo Rollouts' `rollouts-pod-template-hash`, passed as the `canary-hash`
//! argument from `podTemplateHashValue: Latest`) and, with a mesh, the error ratio each
//! caller sees on the calls the traffic split sends to `<service>-canary`; it fails when
//! one exceeds `abort-if error-rate` (default: the rate that pages, the fast page burn
//! rate for the SLO's period times the availability budget, or 5% without an SLO), and on
//! the p99 latency when `abort-if latency` is set. Too little traffic to judge (no data,
//! NaN, fewer than `MIN_REQUESTS` requests in the window) is inconclusive, never a pass:
//! a few inconclusive measurements pause the rollout for a human. No error at all is a
//! ratio of 0 (a pass), and a caller too quiet to judge is not judged.

use rust_decimal::Decimal;
use std::collections::BTreeMap;

use super::EmitContext;
use super::chart::crd::argo::{
    AnalysisArg, AnalysisTemplateSpec, ArgValueFrom, BackgroundAnalysis, BlueGreenStrategy,
    CanaryStep, CanaryStrategy, FieldRef, GatewayApiRouting, IstioRouting, Metric, Pause,
    PrometheusProvider, Provider, RolloutAnalysis, RolloutStrategy, RouteName, TemplateArg,
    TemplateRef, TrafficRouting, VirtualServiceRoutes,
};
use super::chart::values::Analysis;
use super::metrics;
use crate::model::{Cd, Mesh, Protocol, RolloutKind, Service, SloKind};

/// Where the analysis reads its metrics: the Prometheus operator's Service.
pub const PROMETHEUS_ADDRESS: &str = "http://prometheus-operated.monitoring.svc:9090";
/// The label Argo Rollouts puts on every pod of a Rollout: its ReplicaSet's template hash
/// (docs/features/specification.md; the canary and stable Services select by it).
pub const POD_HASH_LABEL: &str = "rollouts-pod-template-hash";
/// The Argo Rollouts traffic-router plugin for the Gateway API (Linkerd).
pub const GATEWAY_API_PLUGIN: &str = "argoproj-labs/gatewayAPI";

/// Does this service run as an Argo Rollout? (Spinnaker runs its own canaries on
/// Deployments.)
#[must_use]
pub fn uses_rollout(cx: &EmitContext<'_>, service: &Service) -> bool {
    service.rollout.kind != RolloutKind::Rolling
        && service.schedule.is_none()
        && cx.model.project.cd != Cd::Spinnaker
}

/// The extra Services a rollout needs: `<service>-canary` or `<service>-preview`.
#[must_use]
pub fn extra_services(cx: &EmitContext<'_>, service: &Service) -> Vec<String> {
    if service.ports.is_empty() || service.schedule.is_some() {
        return Vec::new();
    }
    match service.rollout.kind {
        RolloutKind::Canary if cx.model.project.mesh != Mesh::None || uses_rollout(cx, service) => {
            vec![format!("{}-canary", service.name)]
        }
        RolloutKind::BlueGreen if uses_rollout(cx, service) => {
            vec![format!("{}-preview", service.name)]
        }
        _ => Vec::new(),
    }
}

fn analysis_name(service: &Service) -> String {
    format!("{}-analysis", service.name)
}

/// The analysis arguments: the namespace of the Rollout, and the pod-template hash of its
/// newest ReplicaSet (the canary, or blue-green's new version), from which the queries
/// select the new pods (Argo Rollouts docs/features/analysis.md, `podTemplateHashValue`).
fn analysis_ref(service: &Service) -> RolloutAnalysis {
    let arg = |name: &str, value_from| AnalysisArg {
        name: name.to_owned(),
        value_from,
    };
    RolloutAnalysis {
        templates: vec![TemplateRef {
            template_name: analysis_name(service),
        }],
        args: vec![
            arg(
                "namespace",
                ArgValueFrom::FieldRef(FieldRef {
                    field_path: "metadata.namespace".into(),
                }),
            ),
            arg(
                "canary-hash",
                ArgValueFrom::PodTemplateHashValue("Latest".into()),
            ),
        ],
    }
}

/// The error ratio above which the rollout aborts.
fn max_error_ratio(service: &Service) -> Decimal {
    if let Some(r) = service.rollout.abort_error_rate {
        return r.ratio();
    }
    // The burn rate of the fastest page alert for the SLO's own period (14.4 for 30
    // days, 3.36 for 7), as `prometheus.rs` computes it: the error ratio that pages.
    match service.slo(SloKind::Availability) {
        Some(s) => ((Decimal::ONE - s.target.value.ratio())
            * super::prometheus::factor(&super::prometheus::BURN_WINDOWS[0], &s.window))
        .min(Decimal::ONE)
        .normalize(),
        None => Decimal::new(5, 2),
    }
}

/// Below this many requests in the window a ratio is not judged (inconclusive).
pub const MIN_REQUESTS: u32 = 20;
/// The window of the analysis queries: a few scrapes, short enough to follow a canary step.
const WINDOW: &str = "2m";

/// Pass at or under `max`, fail above it; an empty result or NaN matches neither, which
/// Argo Rollouts counts as inconclusive (`len(result) == 0` alone would be an expression
/// error; docs/features/analysis.md "Inconclusive runs", docs/analysis/prometheus.md).
pub fn conditions(max: &str) -> (String, String) {
    let data = "len(result) > 0 && !isNaN(result[0])";
    (
        format!("{data} && result[0] <= {max}"),
        format!("{data} && result[0] > {max}"),
    )
}

fn metric(name: &str, query: String, max: &str, blue_green: bool) -> Metric {
    let (success, failure) = conditions(max);
    Metric {
        name: name.to_owned(),
        interval: "1m".into(),
        // Two bad minutes are chance; the third aborts.
        failure_limit: 2,
        // Three minutes without enough traffic are a quiet start; the fourth pauses the
        // rollout (Inconclusive) until someone promotes or aborts it.
        inconclusive_limit: 3,
        success_condition: success,
        failure_condition: failure,
        provider: Provider {
            prometheus: PrometheusProvider {
                address: PROMETHEUS_ADDRESS.into(),
                query,
            },
        },
        // After promotion the run must end for the rollout to complete: ten minutes.
        count: blue_green.then_some(10),
    }
}

/// The AnalysisTemplate (name and spec) of a rollout, `None` for rolling updates.
#[must_use]
pub fn analysis(cx: &EmitContext<'_>, service: &Service) -> Option<Analysis> {
    if !uses_rollout(cx, service) {
        return None;
    }
    let mesh = cx.model.project.mesh;
    let bg = service.rollout.kind == RolloutKind::BlueGreen;
    let (ns, hash) = ("{{args.namespace}}", "{{args.canary-hash}}");
    let max = max_error_ratio(service).to_string();
    let mut metrics_list = Vec::new();
    if !service.ports.is_empty() {
        metrics_list.push(metric(
            "error-ratio",
            metrics::replicaset_error_ratio(mesh, service, ns, hash, WINDOW, MIN_REQUESTS),
            &max,
            bg,
        ));
    }
    if !bg {
        for edge in cx.topology.callers(&service.name) {
            // A caller's share of the canary's traffic is smaller: a lower bar for data.
            if let Some(q) =
                metrics::canary_edge_error_ratio(mesh, edge, service, ns, WINDOW, MIN_REQUESTS / 4)
            {
                metrics_list.push(metric(
                    &format!("error-ratio-from-{}", edge.caller),
                    q,
                    &max,
                    bg,
                ));
            }
        }
    }
    if let (Some(latency), false) = (&service.rollout.abort_latency, service.ports.is_empty()) {
        metrics_list.push(metric(
            "latency-p99",
            metrics::replicaset_latency_quantile_ms(mesh, service, "0.99", ns, hash, WINDOW),
            &latency.millis.to_string(),
            bg,
        ));
    }
    if metrics_list.is_empty() {
        return None;
    }
    Some(Analysis {
        name: Some(analysis_name(service)),
        spec: Some(AnalysisTemplateSpec {
            args: ["namespace", "canary-hash"]
                .into_iter()
                .map(|name| TemplateArg {
                    name: name.to_owned(),
                })
                .collect(),
            metrics: metrics_list,
        }),
    })
}

/// The names of the HTTP routes of the service's VirtualService (Istio), in order.
fn istio_route_names(cx: &EmitContext<'_>, service: &Service) -> Vec<String> {
    let mesh_values = super::mesh::values(cx, service);
    let vs = mesh_values.istio.and_then(|i| i.virtual_service);
    vs.iter()
        .flat_map(|vs| &vs.http)
        .map(|r| r.name.clone())
        .collect()
}

fn traffic_routing(cx: &EmitContext<'_>, service: &Service) -> Option<TrafficRouting> {
    match cx.model.project.mesh {
        Mesh::Istio => {
            let mut vss = Vec::new();
            let routes = istio_route_names(cx, service);
            if !routes.is_empty() {
                vss.push(VirtualServiceRoutes {
                    name: service.name.clone(),
                    routes,
                });
            }
            if service.expose.is_some() && service.expose_port().is_some() {
                vss.push(VirtualServiceRoutes {
                    name: format!("{}-public", service.name),
                    routes: vec!["public".into()],
                });
            }
            (!vss.is_empty()).then(|| TrafficRouting {
                istio: Some(IstioRouting {
                    virtual_services: vss,
                }),
                plugins: BTreeMap::new(),
            })
        }
        Mesh::Linkerd => {
            let mut http = Vec::new();
            let mut grpc = Vec::new();
            for edge_port in service.ports.iter().filter(|p| p.protocol != Protocol::Tcp) {
                let has_callers = cx.topology.callers(&service.name).iter().any(|e| {
                    service
                        .ports
                        .get(e.port)
                        .is_some_and(|p| p.name == edge_port.name)
                });
                // The exposed port has its route too (mesh.rs): the meshed ingress
                // controller sends to the Service and its proxy follows the split.
                let exposed = service.expose.is_some()
                    && service
                        .expose_port()
                        .is_some_and(|p| p.name == edge_port.name);
                if !has_callers && !exposed {
                    continue;
                }
                let route = RouteName {
                    name: format!("{}-{}", service.name, edge_port.name),
                };
                if edge_port.protocol == Protocol::Grpc {
                    grpc.push(route);
                } else {
                    http.push(route);
                }
            }
            (!http.is_empty() || !grpc.is_empty()).then(|| TrafficRouting {
                istio: None,
                plugins: BTreeMap::from([(
                    GATEWAY_API_PLUGIN.to_owned(),
                    GatewayApiRouting {
                        http_routes: http,
                        grpc_routes: grpc,
                    },
                )]),
            })
        }
        Mesh::None => None,
    }
}

/// The Rollout's `strategy`, `None` for services that do not run as a Rollout.
#[must_use]
pub fn strategy(cx: &EmitContext<'_>, service: &Service) -> Option<RolloutStrategy> {
    if !uses_rollout(cx, service) {
        return None;
    }
    let has_analysis = analysis(cx, service).is_some();
    match service.rollout.kind {
        RolloutKind::Canary => {
            let mut steps = Vec::new();
            let declared = if service.rollout.steps.is_empty() {
                // The documented default: 10% then 50%, five minutes each.
                vec![(10, Some("5m".to_owned())), (50, Some("5m".to_owned()))]
            } else {
                service
                    .rollout
                    .steps
                    .iter()
                    // Argo Rollouts parses the pause with Go's `time.ParseDuration`,
                    // which has no `d` unit: `"1d"` would be an invalid Rollout.
                    .map(|s| (s.weight, s.pause.as_ref().map(|p| p.go())))
                    .collect()
            };
            for (weight, pause) in declared {
                steps.push(CanaryStep::SetWeight(weight));
                if let Some(p) = pause {
                    steps.push(CanaryStep::Pause(Pause { duration: Some(p) }));
                }
            }
            // The stable and canary Services only with a route that splits between
            // them. Argo Rollouts pins `stableService`'s selector to the stable
            // ReplicaSet whether or not traffic is routed (rollout/service.go,
            // reconcileStableAndCanaryService): without a route, the callers and the
            // Ingress, which all reach the service's own Service, would send the canary
            // nothing. Without one, the Service selects both versions and the split
            // follows the replica count (docs/features/canary.md, "Overview").
            let routing = traffic_routing(cx, service);
            let split = !service.ports.is_empty() && routing.is_some();
            Some(RolloutStrategy::Canary(CanaryStrategy {
                canary_service: split.then(|| format!("{}-canary", service.name)),
                stable_service: split.then(|| service.name.clone()),
                traffic_routing: routing,
                // In the background from the first step until the rollout completes.
                analysis: has_analysis.then(|| {
                    let a = analysis_ref(service);
                    BackgroundAnalysis {
                        templates: a.templates,
                        args: a.args,
                        starting_step: 1,
                    }
                }),
                steps,
            }))
        }
        // The preview takes no production traffic, so nothing can be judged before
        // promotion. After it, the new pods take all of it: a post-promotion analysis
        // judges them, and a failure switches the active Service back. No
        // `scaleDownDelaySeconds` then: with it, the controller cancels the analysis when
        // the delay ends; without it, the previous ReplicaSet is scaled down only after
        // the analysis completes (docs/features/bluegreen.md, postPromotionAnalysis).
        RolloutKind::BlueGreen => Some(RolloutStrategy::BlueGreen(BlueGreenStrategy {
            active_service: service.name.clone(),
            preview_service: format!("{}-preview", service.name),
            auto_promotion_enabled: false,
            post_promotion_analysis: has_analysis.then(|| analysis_ref(service)),
            scale_down_delay_seconds: (!has_analysis).then_some(30),
        })),
        RolloutKind::Rolling => None,
    }
}
