//! What each mesh measures, as far as the model's meaning depends on it: the names of the
//! request and latency metrics and the latency histogram's buckets. A check (a latency
//! threshold between two buckets, NST0312) and the emitters (the PromQL of
//! `emit::metrics`, the rules, the dashboards, the analyses) read this one definition, so a
//! check never depends on an emitter.

use super::Mesh;
use super::values::Duration;

/// Istio's standard metrics (https://istio.io/latest/docs/reference/config/metrics/).
pub const ISTIO_REQUESTS_TOTAL: &str = "istio_requests_total";
pub const ISTIO_REQUEST_DURATION_MILLISECONDS: &str = "istio_request_duration_milliseconds";
/// The Linkerd proxy's metrics (https://linkerd.io/2/reference/proxy-metrics/). The
/// proxy labels a gRPC response's status `grpc_status` (the number), whatever that page
/// calls it: `impl FmtLabels for Class` in linkerd2-proxy writes
/// `classification="…",grpc_status="…"`.
pub const LINKERD_RESPONSE_TOTAL: &str = "response_total";
pub const LINKERD_RESPONSE_LATENCY_MS: &str = "response_latency_ms";
pub const LINKERD_GRPC_STATUS: &str = "grpc_status";
/// The client libraries' conventional metrics, which a service without a mesh exposes.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
pub const GRPC_SERVER_HANDLED_TOTAL: &str = "grpc_server_handled_total";
pub const GRPC_SERVER_HANDLING_SECONDS: &str = "grpc_server_handling_seconds";

/// Histogram buckets (milliseconds) of each mesh's latency metric.
///
/// Istio's proxy records `istio_request_duration_milliseconds` with Envoy's default
/// buckets (`HistogramSettingsImpl::defaultBuckets` in Envoy's
/// `source/common/stats/histogram_impl.cc`): 0.5, 1, 5, 10, ... ms. There is no 2 ms bucket;
/// 0.5 ms is left out because thresholds are whole milliseconds.
pub const ISTIO_BUCKETS_MS: &[u64] = &[
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300_000, 600_000,
    1_800_000, 3_600_000,
];
pub const LINKERD_BUCKETS_MS: &[u64] = &[
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000,
    10000, 20000, 30000, 40000, 50000,
];
/// The Prometheus client libraries' default buckets, in milliseconds.
pub const CLIENT_BUCKETS_MS: &[u64] = &[5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

#[must_use]
pub fn buckets(mesh: Mesh) -> &'static [u64] {
    match mesh {
        Mesh::Istio => ISTIO_BUCKETS_MS,
        Mesh::Linkerd => LINKERD_BUCKETS_MS,
        Mesh::None => CLIENT_BUCKETS_MS,
    }
}

/// The bucket a latency threshold is measured with: the threshold itself when it is a
/// bucket boundary, else the largest boundary below it (requests under it are surely
/// fast), else the smallest. `exact` says whether it matched.
#[must_use]
pub fn bucket_for(mesh: Mesh, threshold: &Duration) -> (u64, bool) {
    let b = buckets(mesh);
    if b.contains(&threshold.millis) {
        return (threshold.millis, true);
    }
    let below = b.iter().copied().filter(|x| *x < threshold.millis).max();
    (below.unwrap_or(b[0]), false)
}
