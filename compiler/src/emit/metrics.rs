//! PromQL for a service's standard metrics, by mesh: what the SLO rules and the
//! dashboards both read. One place decides which metric, labels and buckets a mesh has.
//!
//! - Istio: `istio_requests_total` and `istio_request_duration_milliseconds` (reporter
//!   `destination` for what a service serves, `source` for what a caller sees).
//! - Linkerd: `response_total` and `response_latency_ms` (direction `inbound` or
//!   `outbound`; `classification="failure"` is a 5xx or a non-OK gRPC status, so gRPC
//!   errors are counted by `grpc_status`, the server faults only).
//! - No mesh: the conventional client-library metrics, `http_requests_total` and
//!   `http_request_duration_seconds` (or `grpc_server_handled_total` and
//!   `grpc_server_handling_seconds` for gRPC), selected by `job="<service>"`.
//!
//! Series are summed `by (namespace)`: environments sharing a Prometheus stay apart.

use rust_decimal::Decimal;

use crate::graph::Edge;
use crate::model::metrics::{
    GRPC_SERVER_HANDLED_TOTAL, GRPC_SERVER_HANDLING_SECONDS, HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_TOTAL, ISTIO_REQUEST_DURATION_MILLISECONDS, ISTIO_REQUESTS_TOTAL,
    LINKERD_GRPC_STATUS, LINKERD_RESPONSE_LATENCY_MS, LINKERD_RESPONSE_TOTAL,
};
use crate::model::{Mesh, Protocol, Service};

/// A service's protocol for SLIs: its first port's (workers have none: HTTP).
#[must_use]
pub fn protocol(service: &Service) -> Protocol {
    service.primary_protocol()
}

/// A bucket boundary in the metric's unit: milliseconds for the meshes, seconds for the
/// client libraries.
fn bucket_value(mesh: Mesh, bucket_ms: u64) -> Decimal {
    match mesh {
        Mesh::Istio | Mesh::Linkerd => Decimal::from(bucket_ms),
        Mesh::None => (Decimal::from(bucket_ms) / Decimal::from(1000)).normalize(),
    }
}

/// A float label value as Prometheus 3 stores a classic histogram's `le` (and a summary's
/// `quantile`): the scrape parsers rewrite it with `labels.FormatOpenMetricsFloat`, Go's
/// shortest `%g` form with `.0` appended when it has neither a point nor an exponent
/// (prometheus v0.316.0 `model/textparse/openmetricsparse.go` normalizeFloatsInLabelValues,
/// `model/labels/float.go`; the 3.0 migration guide: `le="500"` is stored as `le="500.0"`).
#[must_use]
pub fn prometheus3_float(value: Decimal) -> String {
    let v = value.normalize();
    if v.is_zero() {
        return "0.0".to_owned();
    }
    let neg = v.is_sign_negative();
    let text = v.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    // Significant digits and the decimal exponent of the first one, as strconv's `digs`.
    let all: String = format!("{int}{frac}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0');
    let exp = int.len() as i64 - 1 - lead as i64;
    // strconv: shortest formatting decides between %e and %f with precision 6.
    let body = if !(-4..6).contains(&exp) {
        // %e: d[.ddd]e±XX, at least two exponent digits.
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let plain = v.abs().to_string();
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    };
    if neg { format!("-{body}") } else { body }
}

/// The `le` matcher for a bucket. It matches the boundary as the exporter writes it
/// (`500` from Envoy and Linkerd, `1` from Go clients, `1.0` from Python and Java) and as
/// Prometheus 3 stores it (`500.0`, `1.0`): a rule written for one matches nothing on the other.
fn le(mesh: Mesh, bucket_ms: u64) -> String {
    let value = bucket_value(mesh, bucket_ms);
    let written = value.to_string();
    let stored = prometheus3_float(value);
    if written == stored {
        format!("le=\"{stored}\"")
    } else {
        // A PromQL string holding an RE2 pattern: `\\.` in the rule is a literal point.
        let escape = |s: &str| s.replace('.', "\\\\.").replace('+', "\\\\+");
        format!("le=~\"{}|{}\"", escape(&written), escape(&stored))
    }
}

/// The gRPC status codes that are the server's fault, as OpenTelemetry's semantic
/// conventions for gRPC server spans count errors (UNKNOWN, DEADLINE_EXCEEDED,
/// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS:
/// https://opentelemetry.io/docs/specs/semconv/rpc/grpc/#grpc-status). NOT_FOUND,
/// INVALID_ARGUMENT, CANCELLED, PERMISSION_DENIED... are the caller's and do not spend the
/// server's error budget. (number, name as go-grpc-prometheus labels it).
pub const GRPC_SERVER_FAULTS: &[(u8, &str)] = &[
    (2, "Unknown"),
    (4, "DeadlineExceeded"),
    (12, "Unimplemented"),
    (13, "Internal"),
    (14, "Unavailable"),
    (15, "DataLoss"),
];

/// `2|4|12|13|14|15`: the server-fault codes as the meshes label them (numbers).
fn grpc_fault_numbers() -> String {
    GRPC_SERVER_FAULTS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect::<Vec<_>>()
        .join("|")
}

/// `Unknown|DeadlineExceeded|...`: as the Go client library labels them (`grpc_code`).
fn grpc_fault_names() -> String {
    GRPC_SERVER_FAULTS
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("|")
}

/// The pod label every workload kind carries, as Prometheus sees it after the pod-label
/// `labelmap` of the Linkerd proxies' PodMonitor (`app.kubernetes.io/name` becomes
/// `app_kubernetes_io_name`). Linkerd itself labels a pod by its owner only
/// (`deployment`, `statefulset`, ...): a Rollout's pods get `replicaset="<rollout>-<hash>"`,
/// which changes every revision (linkerd2 `pkg/k8s/labels.go` GetPodLabels,
/// `controller/k8s/k8s.go` validParentKinds).
pub const LINKERD_WORKLOAD_LABEL: &str = "app_kubernetes_io_name";

/// Selectors for what a service serves over one protocol: (requests metric,
/// all-requests matchers, error matchers, latency metric base name).
struct Source {
    requests: &'static str,
    all: String,
    errors: String,
    latency: &'static str,
}

/// The selectors of every request protocol a service serves, in port order: one for most
/// services, two when it serves HTTP and gRPC. A query takes the union of their series
/// (`or`, which also keeps one of two identical ones): an HTTP port's 5xx and a gRPC
/// port's faults are both failures of the service, and under a mesh the two protocols'
/// requests are series of one metric that only their error labels tell apart (the Linkerd
/// proxy labels a gRPC response `grpc_status`, an HTTP one by `classification` alone;
/// Istio sets `grpc_response_status` on gRPC requests only).
fn inbound(mesh: Mesh, service: &Service) -> Vec<Source> {
    let mut protocols: Vec<Protocol> = Vec::new();
    for p in service.ports.iter().map(|p| p.protocol) {
        if p != Protocol::Tcp && !protocols.contains(&p) {
            protocols.push(p);
        }
    }
    if protocols.is_empty() {
        protocols.push(protocol(service));
    }
    let mixed = protocols.len() > 1;
    protocols
        .into_iter()
        .map(|p| source(mesh, service, p == Protocol::Grpc, mixed))
        .collect()
}

fn source(mesh: Mesh, service: &Service, grpc: bool, mixed: bool) -> Source {
    let s = &service.name;
    match mesh {
        Mesh::Istio => {
            // Istio names a Rollout's pods after the Rollout, trimming the ReplicaSet's
            // hash, so both versions share `destination_workload`.
            let all = format!("reporter=\"destination\",destination_workload=\"{s}\"");
            let errors = if grpc {
                format!("{all},grpc_response_status=~\"{}\"", grpc_fault_numbers())
            } else {
                format!("{all},response_code=~\"5..\"")
            };
            Source {
                requests: ISTIO_REQUESTS_TOTAL,
                all,
                errors,
                latency: ISTIO_REQUEST_DURATION_MILLISECONDS,
            }
        }
        Mesh::Linkerd => {
            let all = format!("direction=\"inbound\",{LINKERD_WORKLOAD_LABEL}=\"{s}\"");
            // `classification="failure"` is any non-OK gRPC status: count the faults only.
            // Beside a gRPC port, an HTTP failure is a failure without a gRPC status.
            let errors = if grpc {
                format!("{all},{LINKERD_GRPC_STATUS}=~\"{}\"", grpc_fault_numbers())
            } else if mixed {
                format!("{all},classification=\"failure\",{LINKERD_GRPC_STATUS}=\"\"")
            } else {
                format!("{all},classification=\"failure\"")
            };
            Source {
                requests: LINKERD_RESPONSE_TOTAL,
                errors,
                all,
                latency: LINKERD_RESPONSE_LATENCY_MS,
            }
        }
        Mesh::None => {
            let all = format!("job=\"{s}\"");
            if grpc {
                Source {
                    requests: GRPC_SERVER_HANDLED_TOTAL,
                    errors: format!("{all},grpc_code=~\"{}\"", grpc_fault_names()),
                    all,
                    latency: GRPC_SERVER_HANDLING_SECONDS,
                }
            } else {
                Source {
                    requests: HTTP_REQUESTS_TOTAL,
                    errors: format!("{all},code=~\"5..\""),
                    all,
                    latency: HTTP_REQUEST_DURATION_SECONDS,
                }
            }
        }
    }
}

/// `f(metric{matchers}[window])` of each source, as a union: `rate(a[5m]) or rate(b[5m])`,
/// one term for identical selectors.
fn union(
    sources: &[Source],
    f: &str,
    window: &str,
    selector: impl Fn(&Source) -> (String, String),
) -> String {
    let mut terms: Vec<String> = Vec::new();
    for s in sources {
        let (metric, matchers) = selector(s);
        let term = format!("{f}({metric}{{{matchers}}}[{window}])");
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    terms.join(" or ")
}

fn sum_rate(metric: &str, matchers: &str, window: &str) -> String {
    format!("sum by (namespace) (rate({metric}{{{matchers}}}[{window}]))")
}

fn sum_rates(
    sources: &[Source],
    window: &str,
    selector: impl Fn(&Source) -> (String, String),
) -> String {
    format!(
        "sum by (namespace) ({})",
        union(sources, "rate", window, selector)
    )
}

/// All requests a service served, per second, over `window`.
#[must_use]
pub fn requests(mesh: Mesh, service: &Service, window: &str) -> String {
    sum_rates(&inbound(mesh, service), window, |s| {
        (s.requests.into(), s.all.clone())
    })
}

/// Failed requests (HTTP 5xx, gRPC server faults) a service served, per second.
#[must_use]
pub fn errors(mesh: Mesh, service: &Service, window: &str) -> String {
    sum_rates(&inbound(mesh, service), window, |s| {
        (s.requests.into(), s.errors.clone())
    })
}

/// The availability error ratio over `window`.
#[must_use]
pub fn availability_error_ratio(mesh: Mesh, service: &Service, window: &str) -> String {
    format!(
        "({})\n/\n({})",
        errors(mesh, service, window),
        requests(mesh, service, window)
    )
}

/// The latency error ratio over `window`: the share of requests slower than `bucket_ms`.
#[must_use]
pub fn latency_error_ratio(mesh: Mesh, service: &Service, bucket_ms: u64, window: &str) -> String {
    let i = inbound(mesh, service);
    let count = sum_rates(&i, window, |s| {
        (format!("{}_count", s.latency), s.all.clone())
    });
    let le = le(mesh, bucket_ms);
    let fast = sum_rates(&i, window, |s| {
        (format!("{}_bucket", s.latency), format!("{},{le}", s.all))
    });
    format!("(\n  ({count})\n  -\n  ({fast})\n)\n/\n({count})")
}

/// The availability error ratio over `window` in one namespace (a single series).
#[must_use]
pub fn availability_error_ratio_in(
    mesh: Mesh,
    service: &Service,
    window: &str,
    namespace: &str,
) -> String {
    let i = inbound(mesh, service);
    let ns = format!("namespace=\"{namespace}\"");
    format!(
        "sum({})\n/\nsum({})",
        union(&i, "rate", window, |s| (
            s.requests.into(),
            format!("{},{ns}", s.errors)
        )),
        union(&i, "rate", window, |s| (
            s.requests.into(),
            format!("{},{ns}", s.all)
        )),
    )
}

/// A latency quantile in milliseconds over `window` in one namespace (a single series).
#[must_use]
pub fn latency_quantile_ms_in(
    mesh: Mesh,
    service: &Service,
    q: &str,
    window: &str,
    namespace: &str,
) -> String {
    let buckets = union(&inbound(mesh, service), "rate", window, |s| {
        (
            format!("{}_bucket", s.latency),
            format!("{},namespace=\"{namespace}\"", s.all),
        )
    });
    let inner = format!("histogram_quantile({q}, sum by (le) ({buckets}))");
    match mesh {
        Mesh::None => format!("{inner} * 1000"),
        _ => inner,
    }
}

/// A latency quantile (0.5, 0.95, 0.99) in milliseconds, over `window`.
#[must_use]
pub fn latency_quantile_ms(mesh: Mesh, service: &Service, q: &str, window: &str) -> String {
    let buckets = union(&inbound(mesh, service), "rate", window, |s| {
        (format!("{}_bucket", s.latency), s.all.clone())
    });
    let inner = format!("histogram_quantile({q}, sum by (namespace, le) ({buckets}))");
    match mesh {
        Mesh::None => format!("{inner} * 1000"),
        _ => inner,
    }
}

/// The callee's Service names its callers' requests can reach: its own, and during a
/// canary `<callee>-canary`, where the traffic split sends part of them.
fn callee_services(callee: &Service) -> String {
    if callee.rollout.kind == crate::model::RolloutKind::Canary && !callee.ports.is_empty() {
        format!("=~\"{0}|{0}-canary\"", callee.name)
    } else {
        format!("=\"{}\"", callee.name)
    }
}

/// Is the edge's port gRPC (`Some(true)`) or HTTP (`Some(false)`)? `None` over TCP: the
/// meshes count connections and bytes there (`istio_tcp_*`, Linkerd's `tcp_open_total`),
/// not requests, so an edge over TCP has no request metrics at all.
fn edge_grpc(edge: &Edge) -> Option<bool> {
    match edge.target.protocol {
        Protocol::Grpc => Some(true),
        Protocol::Http => Some(false),
        Protocol::Tcp => None,
    }
}

/// Matchers for the calls one caller makes to one callee, as the caller sees them, judged
/// by the protocol of the port the edge calls (`depends-on port=`), not the callee's
/// first port. `None` without a mesh (applications do not label their client metrics
/// uniformly) and over TCP.
fn edge(
    mesh: Mesh,
    e: &Edge,
    callee: &Service,
) -> Option<(&'static str, String, String, &'static str)> {
    let grpc = edge_grpc(e)?;
    let caller = &e.caller;
    match mesh {
        Mesh::Istio => {
            // By the Service called, not the workload: with no ready pod the caller's
            // proxy answers 503 (no healthy upstream) and labels the destination workload
            // `unknown`, while `destination_service_name` comes from the route.
            let all = format!(
                "reporter=\"source\",source_workload=\"{caller}\",destination_service_name{}",
                callee_services(callee)
            );
            let errors = if grpc {
                format!("{all},grpc_response_status=~\"{}\"", grpc_fault_numbers())
            } else {
                format!("{all},response_code=~\"5..\"")
            };
            Some((
                ISTIO_REQUESTS_TOTAL,
                all,
                errors,
                ISTIO_REQUEST_DURATION_MILLISECONDS,
            ))
        }
        Mesh::Linkerd => {
            // `dst_service` is the Service the destination controller resolved (linkerd2
            // controller/api/destination/watcher/port_publisher.go metricLabels), for every
            // workload kind; `dst_deployment` exists only for Deployments.
            let all = format!(
                "direction=\"outbound\",{LINKERD_WORKLOAD_LABEL}=\"{caller}\",dst_service{}",
                callee_services(callee)
            );
            let errors = if grpc {
                format!("{all},{LINKERD_GRPC_STATUS}=~\"{}\"", grpc_fault_numbers())
            } else {
                format!("{all},classification=\"failure\"")
            };
            Some((
                LINKERD_RESPONSE_TOTAL,
                all,
                errors,
                LINKERD_RESPONSE_LATENCY_MS,
            ))
        }
        Mesh::None => None,
    }
}

/// The error ratio of one edge, as its caller sees it.
#[must_use]
pub fn edge_error_ratio(mesh: Mesh, e: &Edge, callee: &Service, window: &str) -> Option<String> {
    let (metric, all, errors, _) = edge(mesh, e, callee)?;
    Some(format!(
        "({})\n/\n({})",
        sum_rate(metric, &errors, window),
        sum_rate(metric, &all, window)
    ))
}

/// Requests per second on one edge.
#[must_use]
pub fn edge_requests(mesh: Mesh, e: &Edge, callee: &Service, window: &str) -> Option<String> {
    let (metric, all, _, _) = edge(mesh, e, callee)?;
    Some(sum_rate(metric, &all, window))
}

/// A latency quantile of one edge in milliseconds, as its caller sees it.
#[must_use]
pub fn edge_latency_quantile_ms(
    mesh: Mesh,
    e: &Edge,
    callee: &Service,
    q: &str,
    window: &str,
) -> Option<String> {
    let (_, all, _, latency) = edge(mesh, e, callee)?;
    Some(format!(
        "histogram_quantile({q}, sum by (namespace, le) (rate({latency}_bucket{{{all}}}[{window}])))"
    ))
}

/// Matchers for the pods of one ReplicaSet of a Rollout in one namespace: the scrape
/// configurations copy Argo Rollouts' `rollouts-pod-template-hash` pod label onto every
/// series (`rollouts_pod_template_hash`; the proxies' PodMonitors in the platform playbook,
/// the services' own PodMonitors without a mesh).
fn replicaset(namespace: &str, hash: &str) -> String {
    format!("namespace=\"{namespace}\",rollouts_pod_template_hash=\"{hash}\"")
}

/// `A / B`, but nothing at all while B counted fewer than `min_requests` requests over
/// `window`: a ratio of a handful of requests is noise, and an analysis must call that
/// inconclusive rather than pass or fail it.
///
/// No error at all is a ratio of 0, not an empty result: the meshes and the client
/// libraries create a counter's series for a response code on its first response with
/// that code (Istio's and Linkerd's proxies label each response; a Prometheus client's
/// labelled counter exists once `.labels(...)` was called), so a perfect canary has no
/// error series, and `sum(rate(<no series>))` is empty, which Argo Rollouts would count as
/// inconclusive (docs/features/analysis.md, "Inconclusive runs") and pause every rollout.
fn guarded_ratio(metric: &str, errors: &str, all: &str, window: &str, min_requests: u32) -> String {
    guarded(
        &format!("rate({metric}{{{errors}}}[{window}])"),
        &format!("rate({metric}{{{all}}}[{window}])"),
        &format!("increase({metric}{{{all}}}[{window}])"),
        min_requests,
    )
}

/// [`guarded_ratio`] of vector expressions: errors and all per second, all as a count.
fn guarded(errors: &str, all: &str, all_count: &str, min_requests: u32) -> String {
    format!(
        "(\n  (sum({errors}) or on () vector(0))\n  /\n  sum({all})\n)\nand on ()\nsum({all_count}) >= {min_requests}"
    )
}

/// The error ratio the pods of one ReplicaSet (`hash`) served, for a canary analysis.
#[must_use]
pub fn replicaset_error_ratio(
    mesh: Mesh,
    service: &Service,
    namespace: &str,
    hash: &str,
    window: &str,
    min_requests: u32,
) -> String {
    let i = inbound(mesh, service);
    let scope = replicaset(namespace, hash);
    let all = |f: &str| {
        union(&i, f, window, |s| {
            (s.requests.into(), format!("{},{scope}", s.all))
        })
    };
    let errors = union(&i, "rate", window, |s| {
        (s.requests.into(), format!("{},{scope}", s.errors))
    });
    guarded(&errors, &all("rate"), &all("increase"), min_requests)
}

/// A latency quantile (ms) of the pods of one ReplicaSet, for a canary analysis.
#[must_use]
pub fn replicaset_latency_quantile_ms(
    mesh: Mesh,
    service: &Service,
    q: &str,
    namespace: &str,
    hash: &str,
    window: &str,
) -> String {
    let scope = replicaset(namespace, hash);
    let buckets = union(&inbound(mesh, service), "rate", window, |s| {
        (
            format!("{}_bucket", s.latency),
            format!("{},{scope}", s.all),
        )
    });
    let inner = format!("histogram_quantile({q}, sum by (le) ({buckets}))");
    match mesh {
        Mesh::None => format!("{inner} * 1000"),
        _ => inner,
    }
}

/// The error ratio one caller sees on its calls to the canary Service
/// (`<callee>-canary`, where the mesh's traffic split sends the canary's share); `None`
/// without a mesh, which has no per-caller metrics, and over TCP.
///
/// A caller that sent fewer than `min_requests` calls in the window is not judged: the
/// query gives 0, a pass. A weekly job or an optional caller is quiet for most of a
/// rollout, and an empty result there would be inconclusive and pause every rollout of
/// the callee; whether the canary had enough traffic at all is the service-wide
/// metric's question ([`replicaset_error_ratio`]), which stays inconclusive without it.
#[must_use]
pub fn canary_edge_error_ratio(
    mesh: Mesh,
    e: &Edge,
    callee: &Service,
    namespace: &str,
    window: &str,
    min_requests: u32,
) -> Option<String> {
    let canary = format!("{}-canary", callee.name);
    let grpc = edge_grpc(e)?;
    let caller = &e.caller;
    let (metric, all) = match mesh {
        Mesh::Istio => (
            ISTIO_REQUESTS_TOTAL,
            format!(
                "reporter=\"source\",source_workload=\"{caller}\",destination_service_name=\"{canary}\",namespace=\"{namespace}\""
            ),
        ),
        Mesh::Linkerd => (
            LINKERD_RESPONSE_TOTAL,
            format!(
                "direction=\"outbound\",{LINKERD_WORKLOAD_LABEL}=\"{caller}\",dst_service=\"{canary}\",namespace=\"{namespace}\""
            ),
        ),
        Mesh::None => return None,
    };
    let errors = match (mesh, grpc) {
        (Mesh::Istio, true) => format!("{all},grpc_response_status=~\"{}\"", grpc_fault_numbers()),
        (Mesh::Istio, false) => format!("{all},response_code=~\"5..\""),
        (_, true) => format!("{all},{LINKERD_GRPC_STATUS}=~\"{}\"", grpc_fault_numbers()),
        (_, false) => format!("{all},classification=\"failure\""),
    };
    let judged = guarded_ratio(metric, &errors, &all, window, min_requests);
    Some(format!("(\n{judged}\n)\nor on ()\nvector(0)"))
}

/// (good, bad) response labels of a request metric, by mesh and protocol.
fn outcome_labels(mesh: Mesh, grpc: bool) -> (&'static str, &'static str) {
    match (mesh, grpc) {
        (Mesh::Istio, true) => ("grpc_response_status=\"0\"", "grpc_response_status=\"14\""),
        (Mesh::Istio, false) => ("response_code=\"200\"", "response_code=\"503\""),
        (Mesh::Linkerd, true) => (
            "classification=\"success\",grpc_status=\"0\"",
            "classification=\"failure\",grpc_status=\"14\"",
        ),
        (Mesh::Linkerd, false) => ("classification=\"success\"", "classification=\"failure\""),
        (Mesh::None, true) => ("grpc_code=\"OK\"", "grpc_code=\"Unavailable\""),
        (Mesh::None, false) => ("code=\"200\"", "code=\"500\""),
    }
}

/// Concrete input series for a promtool unit test of a standard SLI, in namespace
/// `prod`: (fine requests, bad requests) for availability, where the SLI's total is
/// their sum; (all requests, fast requests) for latency (the `_count` and the bucket).
#[must_use]
pub fn test_series(
    mesh: Mesh,
    service: &Service,
    latency_bucket_ms: Option<u64>,
) -> (String, String) {
    test_series_with(mesh, service, latency_bucket_ms, "")
}

/// [`test_series`] with `extra` labels (`,label="value"`) on both series, e.g. the pods'
/// `rollouts_pod_template_hash`.
#[must_use]
pub fn test_series_with(
    mesh: Mesh,
    service: &Service,
    latency_bucket_ms: Option<u64>,
    extra: &str,
) -> (String, String) {
    // The series of the service's first request protocol: its queries take every
    // protocol's, so they count these.
    let sources = inbound(mesh, service);
    let i = &sources[0];
    let base = format!("{},namespace=\"prod\"{extra}", i.all);
    let grpc = protocol(service) == Protocol::Grpc;
    match latency_bucket_ms {
        None => {
            let (good, bad) = outcome_labels(mesh, grpc);
            (
                format!("{}{{{base},{good}}}", i.requests),
                format!("{}{{{base},{bad}}}", i.requests),
            )
        }
        Some(b) => {
            // The series as Prometheus 3 stores them: `le` in its float form.
            let le_label = format!("le=\"{}\"", prometheus3_float(bucket_value(mesh, b)));
            (
                format!("{}_count{{{base}}}", i.latency),
                format!("{}_bucket{{{base},{le_label}}}", i.latency),
            )
        }
    }
}

/// (good, bad) series of one caller's calls to `<callee>-canary` in namespace `prod`, as
/// [`canary_edge_error_ratio`] reads them; `None` without a mesh.
#[must_use]
pub fn canary_edge_test_series(mesh: Mesh, e: &Edge, callee: &Service) -> Option<(String, String)> {
    let grpc = edge_grpc(e)?;
    let caller = &e.caller;
    let canary = format!("{}-canary", callee.name);
    let (metric, all) = match mesh {
        Mesh::Istio => (
            ISTIO_REQUESTS_TOTAL,
            format!(
                "reporter=\"source\",source_workload=\"{caller}\",destination_service_name=\"{canary}\",namespace=\"prod\""
            ),
        ),
        Mesh::Linkerd => (
            LINKERD_RESPONSE_TOTAL,
            format!(
                "direction=\"outbound\",{LINKERD_WORKLOAD_LABEL}=\"{caller}\",dst_service=\"{canary}\",namespace=\"prod\""
            ),
        ),
        Mesh::None => return None,
    };
    let (good, bad) = outcome_labels(mesh, grpc);
    Some((
        format!("{metric}{{{all},{good}}}"),
        format!("{metric}{{{all},{bad}}}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value against what Go prints with Prometheus's `AppendOpenMetricsFloat`
    /// (`strconv.AppendFloat(b, v, 'g', -1, 64)`, then `.0` when there is no `.` or `e`),
    /// run with Go 1.26.
    #[test]
    fn prometheus3_float_is_gos_openmetrics_form() {
        let cases = [
            ("500", "500.0"),
            ("1", "1.0"),
            ("0.25", "0.25"),
            ("1800000", "1.8e+06"),
            ("3600000", "3.6e+06"),
            ("300000", "300000.0"),
            ("600000", "600000.0"),
            ("0.005", "0.005"),
            ("0.00001", "1e-05"),
            ("0.0001", "0.0001"),
            ("10", "10.0"),
            ("2.5", "2.5"),
            ("100000", "100000.0"),
            ("1000000", "1e+06"),
            ("123456.7", "123456.7"),
            ("0.1", "0.1"),
        ];
        for (input, go) in cases {
            let d: Decimal = input.parse().expect("decimal");
            assert_eq!(prometheus3_float(d), go, "{input}");
        }
    }

    #[test]
    fn le_matches_the_written_and_the_stored_form() {
        assert_eq!(le(Mesh::Istio, 500), r#"le=~"500|500\\.0""#);
        assert_eq!(le(Mesh::Istio, 1_800_000), r#"le=~"1800000|1\\.8e\\+06""#);
        assert_eq!(le(Mesh::None, 250), r#"le="0.25""#);
        assert_eq!(le(Mesh::None, 1000), r#"le=~"1|1\\.0""#);
    }

    /// The labels each mesh's proxy really writes: Linkerd's proxy labels a gRPC status
    /// `grpc_status` (linkerd2-proxy, `impl FmtLabels for Class`:
    /// `classification="…",grpc_status="…"`), not `grpc_status_code` as its metrics page
    /// says; a selector on a label no series has matches nothing, and the error ratio
    /// reads 0 whatever the service answers.
    #[test]
    fn grpc_errors_are_selected_by_the_label_the_proxy_writes() {
        let (good, bad) = outcome_labels(Mesh::Linkerd, true);
        assert!(good.contains("grpc_status=\"0\""), "{good}");
        assert!(bad.contains("grpc_status=\"14\""), "{bad}");
        assert!(!bad.contains("grpc_status_code"), "{bad}");
    }

    /// Istio's latency histogram has Envoy's default buckets (0.5, 1, 5, 10, ... ms;
    /// `HistogramSettingsImpl::defaultBuckets`): a 2 ms threshold is measured at 1 ms,
    /// since no `le="2"` series exists.
    #[test]
    fn istio_thresholds_fall_back_to_envoys_buckets() {
        use crate::model::metrics::bucket_for;
        use crate::model::values::Duration;
        let two = Duration::parse("2ms").expect("duration");
        assert_eq!(bucket_for(Mesh::Istio, &two), (1, false));
        let five = Duration::parse("5ms").expect("duration");
        assert_eq!(bucket_for(Mesh::Istio, &five), (5, true));
    }
}
