//! Reliability arithmetic over the graph: SLO feasibility, latency budgets and retry
//! amplification.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::graph::Topology;
use crate::model::{Model, SloKind, metrics};

/// Retry amplification above this many attempts at the deepest service is reported.
pub(super) const MAX_AMPLIFICATION: u64 = 10;

/// A ratio as a percentage for messages: exact when short, else rounded to 4 places.
fn pct(ratio: Decimal) -> String {
    let p = (ratio * Decimal::ONE_HUNDRED).normalize();
    if p.scale() <= 4 {
        format!("{p}%")
    } else {
        format!("{}%", p.round_dp(4).normalize())
    }
}

/// One required dependency's share of a service's availability ceiling: (how it reads,
/// the service to raise, its availability, the edge).
type Factor = (String, String, Decimal, crate::source::Span);

/// The most availability a service can have given what it requires: the product of the
/// availability objectives of its required dependencies (a `fallback=` edge fails only
/// when both fail). `None` when no required dependency has an availability SLO.
#[must_use]
pub fn availability_ceiling(
    model: &Model,
    topology: &Topology,
    service: &crate::model::Service,
) -> Option<Decimal> {
    let (ceiling, factors) = ceiling_factors(model, topology, service);
    (!factors.is_empty()).then_some(ceiling)
}

fn ceiling_factors(
    model: &Model,
    topology: &Topology,
    service: &crate::model::Service,
) -> (Decimal, Vec<Factor>) {
    let mut factors: Vec<Factor> = Vec::new();
    let mut ceiling = Decimal::ONE;
    for edge in topology.calls(&service.name).filter(|e| !e.optional()) {
        let Some(callee) = model.services.get(&edge.callee) else {
            continue;
        };
        let Some(callee_slo) = callee.slo(SloKind::Availability) else {
            continue;
        };
        let dep = &edge.dependency;
        let mut a = callee_slo.target.value.ratio();
        let mut label = format!("`{}` {}", callee.name, pct(a));
        if let Some(fb) = &dep.fallback
            && let Some(f) = model
                .services
                .get(&fb.value)
                .and_then(|f| f.slo(SloKind::Availability))
        {
            let b = f.target.value.ratio();
            a = Decimal::ONE - (Decimal::ONE - a) * (Decimal::ONE - b);
            label = format!(
                "(`{}` {} or fallback `{}` {})",
                callee.name,
                pct(callee_slo.target.value.ratio()),
                fb.value,
                pct(b)
            );
        }
        ceiling *= a;
        factors.push((label, format!("`{}`", callee.name), a, dep.target.span));
    }
    (ceiling, factors)
}

/// A service's availability cannot exceed what its required dependencies allow.
pub(super) fn feasibility(model: &Model, topology: &Topology, diags: &mut Diagnostics) {
    for service in model.services.values() {
        let Some(slo) = service.slo(SloKind::Availability) else {
            continue;
        };
        let target = slo.target.value.ratio();
        let (ceiling, factors) = ceiling_factors(model, topology, service);
        if factors.is_empty() || target <= ceiling {
            continue;
        }
        let Some((weakest_label, weakest, _, weakest_span)) =
            factors.iter().min_by(|a, b| a.2.cmp(&b.2)).cloned()
        else {
            continue;
        };
        let arithmetic = factors
            .iter()
            .map(|(l, _, _, _)| l.clone())
            .collect::<Vec<_>>()
            .join(" × ");
        diags.push(
            Diagnostic::warning(
                Code::SloInfeasible,
                format!(
                    "availability objective {} of `{}` is above what its required dependencies allow ({})",
                    pct(target),
                    service.name,
                    pct(ceiling)
                ),
            )
            .with_label(slo.target.span, format!("objective {}", pct(target)))
            .with_secondary(weakest_span, format!("weakest dependency: {weakest_label}"))
            .with_note(format!("ceiling = {arithmetic} = {}", pct(ceiling)))
            .with_help(format!(
                "lower the objective to at most {}, raise the objective of {weakest}, add a `fallback=`, or mark a dependency the service can live without `optional=#true`",
                pct(ceiling)
            )),
        );
    }
}

/// A dependency's timeout times its attempts is the longest one call can take; above the
/// caller's latency threshold, slow calls alone break the caller's latency objective.
pub(super) fn latency_budget(model: &Model, topology: &Topology, diags: &mut Diagnostics) {
    for service in model.services.values() {
        let Some(slo) = service.slo(SloKind::Latency) else {
            continue;
        };
        let Some(threshold) = &slo.threshold else {
            continue;
        };
        for edge in topology.calls(&service.name) {
            // On a TCP port no mesh applies the timeout (NST0311 says so): no budget either.
            if edge.target.protocol == crate::model::Protocol::Tcp {
                continue;
            }
            let Some(timeout) = &edge.dependency.timeout else {
                continue;
            };
            let retries = edge.retries();
            let attempts = u64::from(retries) + 1;
            let worst = crate::model::values::Duration::from_millis(
                timeout.value.millis.saturating_mul(attempts),
            );
            if worst.millis <= threshold.value.millis {
                continue;
            }
            let arithmetic = if retries == 0 {
                format!("timeout {}", timeout.value)
            } else {
                format!(
                    "timeout {} × {attempts} attempts ({retries} {} + 1) = {worst}",
                    timeout.value,
                    if retries == 1 { "retry" } else { "retries" }
                )
            };
            diags.push(
                Diagnostic::warning(
                    Code::LatencyBudget,
                    format!(
                        "a call from `{}` to `{}` may take {worst}, above the latency threshold {}",
                        service.name, edge.callee, threshold.value
                    ),
                )
                .with_label(timeout.span, format!("up to {worst}"))
                .with_secondary(
                    threshold.span,
                    format!("`{}` promises {} here", service.name, threshold.value),
                )
                .with_note(arithmetic)
                .with_help(format!(
                    "lower the timeout or the retries so that timeout × attempts stays within {}",
                    threshold.value
                )),
            );
        }
    }
}

/// Retries multiply along a call path: 3 retries at each of two hops is 16 attempts at
/// the last service for one user request.
pub(super) fn retry_amplification(_: &Model, topology: &Topology, diags: &mut Diagnostics) {
    let Ok(order) = petgraph::algo::toposort(&topology.graph, None) else {
        return; // cycles are reported by the graph stage
    };
    // best[node] = (amplification, edge that achieved it)
    let mut best: BTreeMap<String, (u64, Option<usize>)> = BTreeMap::new();
    for n in order {
        let name = &topology.graph[n];
        let here = best.get(name).map_or(1, |b| b.0);
        for &ei in topology.call_indices(name) {
            let edge = &topology.edges[ei];
            let retries = edge.retries();
            let amp = here.saturating_mul(u64::from(retries) + 1);
            if amp > MAX_AMPLIFICATION && here <= MAX_AMPLIFICATION && retries > 0 {
                // Rebuild the path that led here.
                let mut path = vec![ei];
                let mut cur = edge.caller.clone();
                while let Some((_, Some(prev))) = best.get(&cur) {
                    path.push(*prev);
                    cur = topology.edges[*prev].caller.clone();
                }
                path.reverse();
                let hops: Vec<String> = path
                    .iter()
                    .map(|&i| {
                        let e = &topology.edges[i];
                        format!(
                            "{} -> {} ({} attempts)",
                            e.caller,
                            e.callee,
                            e.retries() + 1
                        )
                    })
                    .collect();
                let mut d = Diagnostic::warning(
                    Code::RetryAmplification,
                    format!(
                        "retries multiply to {amp} attempts at `{}` for one request",
                        edge.callee
                    ),
                );
                for (k, &i) in path.iter().enumerate() {
                    let e = &topology.edges[i];
                    let dep = &e.dependency;
                    let span = dep.retries.as_ref().map_or(dep.target.span, |r| r.span);
                    let msg = format!("× {}", e.retries() + 1);
                    d = if i == ei {
                        d.with_label(span, msg)
                    } else {
                        d.with_secondary(span, msg)
                    };
                    let _ = k;
                }
                diags.push(
                    d.with_note(format!("path: {}", hops.join(", ")))
                        .with_help(format!(
                            "retry at one layer only (usually the one nearest the user), or lower `retries=` so that the product stays at most {MAX_AMPLIFICATION}"
                        )),
                );
            }
            let entry = best.entry(edge.callee.clone()).or_insert((1, None));
            if amp > entry.0 {
                *entry = (amp, Some(ei));
            }
        }
    }
}

/// A caller that gives up on a callee before the callee could finish its own calls (the
/// callee's timeout times its attempts) turns the callee's retries into wasted work.
pub(super) fn nested_timeouts(_: &Model, topology: &Topology, diags: &mut Diagnostics) {
    for outer in &topology.edges {
        let Some(outer_timeout) = &outer.dependency.timeout else {
            continue;
        };
        let (caller, middle) = (&outer.caller, &outer.callee);
        for inner in topology.calls(middle) {
            let Some(inner_timeout) = &inner.dependency.timeout else {
                continue;
            };
            let attempts = u64::from(inner.retries()) + 1;
            let worst = crate::model::values::Duration::from_millis(
                inner_timeout.value.millis.saturating_mul(attempts),
            );
            if outer_timeout.value.millis >= worst.millis {
                continue;
            }
            let arithmetic = if attempts == 1 {
                format!(
                    "`{}` waits up to {} for `{}`",
                    middle, inner_timeout.value, inner.callee
                )
            } else {
                format!(
                    "`{}` waits up to {} × {attempts} attempts = {worst} for `{}`",
                    middle, inner_timeout.value, inner.callee
                )
            };
            diags.push(
                Diagnostic::warning(
                    Code::NestedTimeout,
                    format!(
                        "`{}` gives up on `{}` after {}, before `{}` is done with `{}` ({worst})",
                        caller, middle, outer_timeout.value, middle, inner.callee
                    ),
                )
                .with_label(outer_timeout.span, format!("gives up after {}", outer_timeout.value))
                .with_secondary(inner_timeout.span, format!("up to {worst} with retries"))
                .with_note(arithmetic)
                .with_help(format!(
                    "raise `{}`'s timeout to at least {worst}, or lower `{}`'s timeout or retries towards `{}`",
                    caller, middle, inner.callee
                )),
            );
        }
    }
}

/// A latency SLI counts requests under the threshold from a histogram bucket: a
/// threshold between buckets is measured at the bucket below it.
pub(super) fn latency_buckets(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    let mesh = model.project.mesh;
    for service in model.services.values() {
        for slo in service.slos.iter().filter(|s| s.custom.is_none()) {
            let Some(t) = &slo.threshold else { continue };
            let (bucket, exact) = metrics::bucket_for(mesh, &t.value);
            if exact {
                continue;
            }
            let all = metrics::buckets(mesh);
            let below = all.iter().copied().filter(|b| *b < t.value.millis).max();
            let above = all.iter().copied().filter(|b| *b > t.value.millis).min();
            let around: Vec<String> = below
                .into_iter()
                .chain(above)
                .map(|b| crate::model::values::Duration::from_millis(b).canonical())
                .collect();
            // Without a mesh the SLI reads the client library's histogram of the service's
            // protocol (the same buckets for HTTP and gRPC).
            let metric = match (mesh, service.primary_protocol()) {
                (crate::model::Mesh::Istio, _) => metrics::ISTIO_REQUEST_DURATION_MILLISECONDS,
                (crate::model::Mesh::Linkerd, _) => metrics::LINKERD_RESPONSE_LATENCY_MS,
                (crate::model::Mesh::None, crate::model::Protocol::Grpc) => {
                    metrics::GRPC_SERVER_HANDLING_SECONDS
                }
                (crate::model::Mesh::None, _) => metrics::HTTP_REQUEST_DURATION_SECONDS,
            };
            diags.push(
                Diagnostic::warning(
                    Code::LatencyBucket,
                    format!(
                        "latency threshold {} of `{}` is not a bucket of `{metric}`; the SLI counts requests under {} as fast",
                        t.value,
                        service.name,
                        crate::model::values::Duration::from_millis(bucket)
                    ),
                )
                .with_label(t.span, "between two histogram buckets")
                .with_help(format!("use a bucket boundary: {}", around.join(" or ")))
                .with_note(format!("mesh `{}` measures latency in the buckets {metric} has", mesh.as_str())),
            );
        }
    }
}

/// Without a mesh, the standard SLIs read the service's own metrics, which Prometheus
/// scrapes from `/metrics` on an HTTP port (a port named `metrics`, else the first HTTP
/// one). A gRPC-only service has no such port: its SLOs would have no data.
pub(super) fn metrics_endpoints(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    if model.project.mesh != crate::model::Mesh::None {
        return;
    }
    for service in model.services.values() {
        // A service without an HTTP or gRPC port has no request SLI at all (NST0320).
        if service
            .ports
            .iter()
            .all(|p| p.protocol == crate::model::Protocol::Tcp)
            || service.metrics_port().is_some()
        {
            continue;
        }
        let Some(slo) = service.slos.iter().find(|s| s.custom.is_none()) else {
            continue;
        };
        diags.push(
            Diagnostic::warning(
                Code::NoMetricsEndpoint,
                format!(
                    "`{}` has no HTTP port for Prometheus to scrape: its SLOs will have no data without a mesh",
                    service.name
                ),
            )
            .with_label(slo.span, "measured from the service's own metrics")
            .with_help("declare the port your Prometheus client serves `/metrics` on: `port \"metrics\" 9090 protocol=\"http\"`")
            .with_note("with `mesh \"none\"` the SLIs read `grpc_server_handled_total{job=...}`, which nestioc scrapes with a PodMonitor on that port"),
        );
    }
}

/// The standard SLIs count the HTTP and gRPC requests a service serves: the meshes'
/// inbound request metrics, or its own client library's server metrics. A service with
/// no HTTP or gRPC port serves none: a worker, a scheduled job, or a TCP server (over TCP
/// Istio and Linkerd count connections and bytes, `istio_tcp_*` and `tcp_open_total`,
/// not requests). Its standard SLO would read series that never exist: no alert could
/// fire and the dashboards would stay empty, with nothing to say so.
///
/// A TCP server that others depend on is not reported: its objective is what bounds its
/// callers' SLOs (NST0302), a statement about the dependency whether or not it can be
/// measured by requests.
pub(super) fn request_slis(model: &Model, topology: &Topology, diags: &mut Diagnostics) {
    use crate::model::Protocol;
    for service in model.services.values() {
        if service.ports.iter().any(|p| p.protocol != Protocol::Tcp) {
            continue;
        }
        if !service.ports.is_empty() && !topology.callers(&service.name).is_empty() {
            continue;
        }
        let Some(slo) = service.slos.iter().find(|s| s.custom.is_none()) else {
            continue;
        };
        let what = if service.schedule.is_some() {
            "a scheduled job"
        } else if service.ports.is_empty() {
            "a worker"
        } else {
            "a TCP server"
        };
        diags.push(
            Diagnostic::warning(
                Code::SloWithoutRequests,
                format!(
                    "`{}` serves no HTTP or gRPC requests: its {} SLO would have no data",
                    service.name,
                    slo.kind.as_str()
                ),
            )
            .with_label(slo.span, format!("counts requests, and {what} serves none"))
            .with_help("measure what the service does with a custom SLI: `slo \"availability\" target=99 { errors \"...[{{window}}]...\"; total \"...\" }`, or remove the SLO")
            .with_note("the standard SLIs read inbound HTTP and gRPC request metrics; over TCP the meshes count connections and bytes, not requests"),
        );
    }
}
