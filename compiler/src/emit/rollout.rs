//! Argo Rollouts from the topology: a service with `rollout "canary"` or
//! `rollout "blue-green"` runs as a `Rollout` instead of a `Deployment`.
//!
//! - Canary: the steps become `setWeight` and `pause` steps; traffic is split by the mesh
//!   (Istio: the service's VirtualServices, host-level between `<service>` and
//!   `<service>-canary`; Linkerd: its Gateway API routes through the `argoproj-labs/gatewayAPI`
//!   plugin; no mesh: by replica count). A background analysis runs from the first step.
//! - Blue-green: a `<service>-preview` Service, manual promotion, and the same analysis
//!   before promotion.
//!
//! The `AnalysisTemplate` queries the service's own SLO error ratio (the SLO recording
//! rules) and, for each caller, the error ratio that caller sees on its edge (the per-edge
//! recording rules), failing when one exceeds `abort-if error-rate` (default: the rate that
//! pages, 14.4 × the availability budget, or 5% without an SLO), and the p99 latency when
//! `abort-if latency` is set.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::EmitContext;
use super::metrics;
use crate::model::{Mesh, Protocol, RolloutKind, Service, SloKind};

/// Where the analysis reads its metrics: the Prometheus operator's Service.
pub const PROMETHEUS_ADDRESS: &str = "http://prometheus-operated.monitoring.svc:9090";
/// The Argo Rollouts traffic-router plugin for the Gateway API (Linkerd).
pub const GATEWAY_API_PLUGIN: &str = "argoproj-labs/gatewayAPI";

/// Does this service run as an Argo Rollout? (Spinnaker runs its own canaries on
/// Deployments.)
#[must_use]
pub fn uses_rollout(cx: &EmitContext<'_>, service: &Service) -> bool {
    service.rollout.kind != RolloutKind::Rolling
        && service.schedule.is_none()
        && cx.model.project.cd != "spinnaker"
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

fn analysis_ref(service: &Service) -> Value {
    json!({
        "templates": [{"templateName": analysis_name(service)}],
        "args": [{"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
    })
}

/// The error ratio above which the rollout aborts.
fn max_error_ratio(service: &Service) -> Decimal {
    if let Some(r) = service.rollout.abort_error_rate {
        return r.ratio();
    }
    match service.slo(SloKind::Availability) {
        Some(s) => ((Decimal::ONE - s.target.value.ratio()) * Decimal::new(144, 1))
            .min(Decimal::ONE)
            .normalize(),
        None => Decimal::new(5, 2),
    }
}

fn condition(max: &str) -> String {
    // No traffic yet gives no sample or NaN: that is not a failure.
    format!("len(result) == 0 || isNaN(result[0]) || result[0] <= {max}")
}

fn metric(name: &str, query: String, max: &str) -> Value {
    json!({
        "name": name,
        "interval": "1m",
        "failureLimit": 2,
        "successCondition": condition(max),
        "provider": {"prometheus": {"address": PROMETHEUS_ADDRESS, "query": query}},
    })
}

/// The AnalysisTemplate (name and spec) of a rollout, `None` for rolling updates.
#[must_use]
pub fn analysis(cx: &EmitContext<'_>, service: &Service) -> Option<Value> {
    if !uses_rollout(cx, service) {
        return None;
    }
    let mesh = cx.model.project.mesh;
    let ns = "{{args.namespace}}";
    let max = max_error_ratio(service).to_string();
    let mut metrics_list = Vec::new();
    let own = match service.slo(SloKind::Availability) {
        Some(_) => format!(
            "sum(slo:sli_error:ratio_rate5m{{slo_id=\"{}-availability\", namespace=\"{ns}\"}})",
            service.name
        ),
        None if !service.ports.is_empty() => {
            metrics::availability_error_ratio_in(mesh, service, "5m", ns)
        }
        None => String::new(),
    };
    if !own.is_empty() {
        metrics_list.push(metric("error-ratio", own, &max));
    }
    if mesh != Mesh::None {
        for edge in cx.topology.callers(&service.name) {
            metrics_list.push(metric(
                &format!("error-ratio-from-{}", edge.caller),
                format!(
                    "sum(edge:request_error:ratio_rate5m{{source=\"{}\", destination=\"{}\", namespace=\"{ns}\"}})",
                    edge.caller, service.name
                ),
                &max,
            ));
        }
    }
    if let (Some(latency), false) = (&service.rollout.abort_latency, service.ports.is_empty()) {
        metrics_list.push(metric(
            "latency-p99",
            metrics::latency_quantile_ms_in(mesh, service, "0.99", "5m", ns),
            &latency.millis.to_string(),
        ));
    }
    if metrics_list.is_empty() {
        return None;
    }
    Some(json!({
        "name": analysis_name(service),
        "spec": {"args": [{"name": "namespace"}], "metrics": metrics_list},
    }))
}

/// The names of the HTTP routes of the service's VirtualService (Istio), in order.
fn istio_route_names(cx: &EmitContext<'_>, service: &Service) -> Vec<String> {
    let mesh_values = super::mesh::values(cx, service);
    mesh_values["istio"]["virtualService"]["http"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect()
}

fn traffic_routing(cx: &EmitContext<'_>, service: &Service) -> Option<Value> {
    match cx.model.project.mesh {
        Mesh::Istio => {
            let mut vss = Vec::new();
            let routes = istio_route_names(cx, service);
            if !routes.is_empty() {
                vss.push(json!({"name": service.name, "routes": routes}));
            }
            if service.expose.is_some() && service.expose_port().is_some() {
                vss.push(json!({"name": format!("{}-public", service.name), "routes": ["public"]}));
            }
            (!vss.is_empty()).then(|| json!({"istio": {"virtualServices": vss}}))
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
                if !has_callers {
                    continue;
                }
                let route = json!({"name": format!("{}-{}", service.name, edge_port.name)});
                if edge_port.protocol == Protocol::Grpc {
                    grpc.push(route);
                } else {
                    http.push(route);
                }
            }
            let mut cfg = Map::new();
            if !http.is_empty() {
                cfg.insert("httpRoutes".into(), Value::Array(http));
            }
            if !grpc.is_empty() {
                cfg.insert("grpcRoutes".into(), Value::Array(grpc));
            }
            (!cfg.is_empty()).then(|| json!({"plugins": {GATEWAY_API_PLUGIN: Value::Object(cfg)}}))
        }
        Mesh::None => None,
    }
}

/// The Rollout's `strategy`, `{}` for services that do not run as a Rollout.
#[must_use]
pub fn strategy(cx: &EmitContext<'_>, service: &Service) -> Value {
    if !uses_rollout(cx, service) {
        return json!({});
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
                    .map(|s| (s.weight, s.pause.as_ref().map(|p| p.canonical())))
                    .collect()
            };
            for (weight, pause) in declared {
                steps.push(json!({"setWeight": weight}));
                if let Some(p) = pause {
                    steps.push(json!({"pause": {"duration": p}}));
                }
            }
            let mut canary = Map::new();
            if !service.ports.is_empty() {
                canary.insert(
                    "canaryService".into(),
                    json!(format!("{}-canary", service.name)),
                );
                canary.insert("stableService".into(), json!(service.name));
            }
            if let Some(t) = traffic_routing(cx, service) {
                canary.insert("trafficRouting".into(), t);
            }
            if has_analysis {
                let mut a = analysis_ref(service);
                a["startingStep"] = json!(1);
                canary.insert("analysis".into(), a);
            }
            canary.insert("steps".into(), Value::Array(steps));
            json!({"canary": canary})
        }
        RolloutKind::BlueGreen => {
            let mut bg = Map::new();
            bg.insert("activeService".into(), json!(service.name));
            bg.insert(
                "previewService".into(),
                json!(format!("{}-preview", service.name)),
            );
            bg.insert("autoPromotionEnabled".into(), json!(false));
            bg.insert("scaleDownDelaySeconds".into(), json!(30));
            if has_analysis {
                bg.insert("prePromotionAnalysis".into(), analysis_ref(service));
            }
            json!({"blueGreen": bg})
        }
        RolloutKind::Rolling => json!({}),
    }
}
