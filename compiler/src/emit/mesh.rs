//! Service-mesh policy from the graph: Istio and Linkerd objects for one service.
//!
//! Every `depends-on` edge becomes exactly: an authorization for the caller's identity on
//! the port it calls (Istio AuthorizationPolicy, Linkerd AuthorizationPolicy +
//! MeshTLSAuthentication), the edge's timeout and retries on that caller's route (Istio:
//! a VirtualService route matched on the caller's labels; Linkerd: the callee's route, see
//! below), outlier detection for that caller when it declares a circuit breaker, and an
//! egress entry in the caller's Istio Sidecar.
//!
//! As for the workload, the chart values carry everything (`mesh:` in values.yaml) and
//! [`render`] mirrors `stdlib/helm/istio.yaml.hbs` and `linkerd.yaml.hbs`; only what
//! depends on the namespace (principals, Sidecar hosts) is composed at render time.
//!
//! Linkerd applies timeouts and retries per route, and a route whose parent is the
//! callee's Service serves every caller in the namespace: when callers declare different
//! policies for the same port, the route takes the longest timeout and the fewest retries,
//! and the check stage warns (NST0310).

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;

use super::EmitContext;
use super::chart::crd::{Resource, gateway, istio, linkerd};
use super::chart::render::{Manifest, object_meta};
use super::chart::values::{
    ChartValues, IstioValues, LinkerdAuthorization, LinkerdRoute, LinkerdValues, MeshCaller,
    MeshProvider, MeshValues, NamedSpec, RouteSpec, StringMap,
};
use crate::model::values::Duration;
use crate::model::{Mesh, ProbeKind, Protocol, RolloutKind, Service};

pub const TRUST_DOMAIN: &str = "cluster.local";
pub const ISTIO_GATEWAY_NAMESPACE: &str = "istio-system";
pub const ISTIO_GATEWAY_SERVICE_ACCOUNT: &str = "istio-ingressgateway-service-account";
pub const NGINX_NAMESPACE: &str = "ingress-nginx";
pub const NGINX_SERVICE_ACCOUNT: &str = "ingress-nginx";
/// The Linkerd proxy's inbound port, where meshed clients connect (linkerd2
/// charts/linkerd-control-plane/values.yaml `proxy.ports.inbound`).
pub const LINKERD_INBOUND_PORT: u16 = 4143;
/// The Linkerd proxy's admin port (`linkerd-admin`): `/metrics`, `/live`, `/ready`.
pub const LINKERD_ADMIN_PORT: u16 = 4191;

/// Linkerd retries nothing unless a route says on what (`retry.linkerd.io/http` or
/// `grpc`): gateway errors for HTTP (never a plain 500, which a non-idempotent handler may
/// already have acted on), and the retryable gRPC statuses. Istio needs no such list: a
/// route that gives `attempts` and no `retryOn` keeps Istio's own conditions
/// (`connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`,
/// pilot/pkg/networking/core/route/retry/retry.go L37, L122-135).
pub const LINKERD_RETRY_HTTP: &str = "gateway-error";
pub const LINKERD_RETRY_GRPC: &str = "cancelled,resource-exhausted,unavailable";

/// Protobuf duration text, as Istio's API wants it: `"0.1s"`, `"2s"`.
fn proto_duration(d: &Duration) -> String {
    format!("{}s", d.seconds_string())
}

/// The timeout and retries one caller asked for on one edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePolicy {
    pub caller: String,
    pub port: u16,
    pub target: u16,
    pub protocol: Protocol,
    pub timeout: Option<Duration>,
    /// `retries=` as written; `None` leaves the mesh's default (Istio: 2 attempts on
    /// connection failures; Linkerd: none).
    pub retries: Option<u32>,
}

/// The edges into a service, with their policies, sorted by caller.
#[must_use]
pub fn edge_policies(cx: &EmitContext<'_>, service: &Service) -> Vec<EdgePolicy> {
    cx.topology
        .callers(&service.name)
        .into_iter()
        .map(|e| EdgePolicy {
            caller: e.caller.clone(),
            port: e.target.port,
            target: e.target.target,
            protocol: e.target.protocol,
            timeout: e.timeout().cloned(),
            retries: e.dependency.retries.as_ref().map(|r| r.value),
        })
        .collect()
}

/// Linkerd's one policy per route: the longest timeout and the fewest retries among the
/// callers of a port (`None`: no caller asked for it). A caller without `retries=` counts
/// as 0: Linkerd retries nothing by default.
#[must_use]
pub fn linkerd_route_policy(edges: &[&EdgePolicy]) -> (Option<Duration>, u32) {
    let timeout = edges.iter().filter_map(|e| e.timeout.clone()).max();
    let retries = edges
        .iter()
        .map(|e| e.retries.unwrap_or(0))
        .min()
        .unwrap_or(0);
    (timeout, retries)
}

fn selector(service: &Service) -> StringMap {
    StringMap::from([
        ("app.kubernetes.io/name".to_owned(), service.name.clone()),
        (
            "app.kubernetes.io/instance".to_owned(),
            service.name.clone(),
        ),
    ])
}

fn canary(service: &Service) -> bool {
    service.rollout.kind == RolloutKind::Canary
}

/// The route destination(s) for a port: the service, or for a canary the stable Service
/// (weight 100) and its `-canary` twin (weight 0), whose weights Argo Rollouts shifts.
/// Splitting by host, not by subset, keeps per-caller DestinationRules working.
fn istio_destinations(service: &Service, port: u16) -> Vec<istio::HttpRouteDestination> {
    let dest = |host: String, weight: Option<u32>| istio::HttpRouteDestination {
        destination: istio::Destination {
            host,
            port: Some(istio::PortSelector {
                number: u32::from(port),
            }),
        },
        weight,
    };
    if canary(service) {
        vec![
            dest(service.name.clone(), Some(100)),
            dest(format!("{}-canary", service.name), Some(0)),
        ]
    } else {
        vec![dest(service.name.clone(), None)]
    }
}

/// The Services a request to this service may reach: itself, and its canary twin.
fn hosts(service: &Service) -> Vec<String> {
    let mut h = vec![service.name.clone()];
    if canary(service) {
        h.push(format!("{}-canary", service.name));
    }
    h
}

/// `exportTo: ["."]`: the object is seen by its own namespace only.
fn here() -> Vec<String> {
    vec![".".to_owned()]
}

fn name_label(name: &str) -> istio::Labels {
    istio::Labels::from([("app.kubernetes.io/name".to_owned(), name.to_owned())])
}

fn mutual_tls() -> istio::ClientTls {
    istio::ClientTls {
        mode: istio::ClientTlsMode::IstioMutual,
    }
}

fn istio_values(cx: &EmitContext<'_>, service: &Service, edges: &[EdgePolicy]) -> IstioValues {
    let mut http_routes: Vec<istio::HttpRoute> = Vec::new();
    let mut tcp_routes: Vec<istio::TcpRoute> = Vec::new();
    for e in edges {
        let port = Some(u32::from(e.port));
        if e.protocol == Protocol::Tcp {
            tcp_routes.push(istio::TcpRoute {
                match_: vec![istio::L4Match {
                    source_labels: name_label(&e.caller),
                    port,
                }],
                route: istio_destinations(service, e.port),
            });
            continue;
        }
        // `timeout` is per call attempt in the topology; Istio's route timeout covers every
        // attempt, so it is the attempt timeout times the attempts. Without `retries=` the
        // route has no `retries` at all: Istio then applies its default policy (2 retries
        // on connect-failure, refused-stream, unavailable, cancelled; route.go L680-684,
        // retry.go L107-114), which every undeclared caller gets too. `attempts: 0` would
        // switch those off (retry.go L116-119). No `retryOn`: Istio's default conditions
        // stay (retry.go L122-135), and `perTryTimeout` defaults to the route's timeout.
        let attempts = e.retries.unwrap_or(0);
        let timeout = e.timeout.as_ref().map(|t| {
            proto_duration(&Duration::from_millis(
                t.millis.saturating_mul(u64::from(attempts) + 1),
            ))
        });
        let retries = e.retries.map(|n| istio::HttpRetry {
            attempts: n,
            per_try_timeout: e.timeout.as_ref().filter(|_| n > 0).map(proto_duration),
        });
        http_routes.push(istio::HttpRoute {
            name: format!("from-{}-{}", e.caller, e.port),
            match_: vec![istio::HttpMatch {
                uri: None,
                source_labels: name_label(&e.caller),
                port,
            }],
            route: istio_destinations(service, e.port),
            timeout,
            retries,
        });
    }
    let has_http = service.ports.iter().any(|p| p.protocol != Protocol::Tcp);
    if has_http && (!http_routes.is_empty() || canary(service)) {
        // Everyone else (the gateway, a caller on a port it did not declare) takes the
        // default route; authorization still decides who gets through.
        if let Some(p) = service.ports.iter().find(|p| p.protocol != Protocol::Tcp) {
            http_routes.push(istio::HttpRoute {
                name: "default".into(),
                match_: Vec::new(),
                route: istio_destinations(service, p.port),
                timeout: None,
                retries: None,
            });
        }
    }
    let virtual_service =
        (!http_routes.is_empty() || !tcp_routes.is_empty()).then(|| istio::VirtualServiceSpec {
            hosts: vec![service.name.clone()],
            gateways: Vec::new(),
            export_to: here(),
            http: http_routes,
            tcp: tcp_routes,
        });

    let mut destination_rules = Vec::new();
    if !service.ports.is_empty() {
        for host in hosts(service) {
            destination_rules.push(NamedSpec {
                spec: istio::DestinationRuleSpec {
                    host: host.clone(),
                    export_to: here(),
                    workload_selector: None,
                    traffic_policy: Some(istio::TrafficPolicy {
                        tls: Some(mutual_tls()),
                        outlier_detection: None,
                        connection_pool: None,
                    }),
                },
                name: host,
            });
        }
    }
    // A circuit breaker is the caller's: a DestinationRule that applies to that caller's
    // pods only (workloadSelector), for each host the callee answers on.
    for edge in cx.topology.callers(&service.name) {
        let Some(caller) = cx.model.services.get(&edge.caller) else {
            continue;
        };
        let Some(cb) = &edge.dependency.circuit_breaker else {
            continue;
        };
        let http =
            (cb.max_pending.is_some() || cb.max_requests.is_some()).then_some(istio::HttpPool {
                http1_max_pending_requests: cb.max_pending,
                http2_max_requests: cb.max_requests,
            });
        let tcp = cb
            .max_connections
            .map(|n| istio::TcpPool { max_connections: n });
        let pool = (tcp.is_some() || http.is_some()).then_some(istio::ConnectionPool { tcp, http });
        for host in hosts(service) {
            let name = format!("{host}-from-{}", caller.name);
            destination_rules.push(NamedSpec {
                name,
                spec: istio::DestinationRuleSpec {
                    host,
                    export_to: here(),
                    workload_selector: Some(istio::MatchLabels {
                        match_labels: name_label(&caller.name),
                    }),
                    traffic_policy: Some(istio::TrafficPolicy {
                        tls: Some(mutual_tls()),
                        outlier_detection: Some(istio::OutlierDetection {
                            consecutive_5xx_errors: cb.consecutive_errors,
                            interval: proto_duration(&cb.interval),
                            base_ejection_time: proto_duration(&cb.ejection),
                            max_ejection_percent: cb.max_ejection.0.round().to_u32().unwrap_or(50),
                        }),
                        connection_pool: pool.clone(),
                    }),
                },
            });
        }
    }

    let service_entries = service
        .externals
        .iter()
        .map(|x| {
            let protocol = match x.protocol.as_str() {
                "http" => "HTTP",
                "tcp" => "TCP",
                "grpc" => "GRPC",
                "tls" => "TLS",
                // HTTPS through the sidecar is TLS passthrough: the app speaks TLS itself.
                _ => "TLS",
            };
            NamedSpec {
                name: format!("{}-{}", service.name, x.name),
                spec: istio::ServiceEntrySpec {
                    hosts: vec![x.host.clone()],
                    export_to: here(),
                    location: istio::Location::MeshExternal,
                    resolution: istio::Resolution::Dns,
                    ports: vec![istio::ServicePort {
                        number: u32::from(x.port),
                        name: format!("{}-{}", protocol.to_lowercase(), x.port),
                        protocol: protocol.to_owned(),
                    }],
                },
            }
        })
        .collect();

    let (gateway, public_vs) = match (&service.expose, service.expose_port()) {
        (Some(e), Some(p)) => {
            let port = |number: u32, name: &str| istio::ServicePort {
                number,
                name: name.to_lowercase(),
                protocol: name.to_owned(),
            };
            let mut servers = vec![istio::Server {
                port: port(80, "HTTP"),
                hosts: vec![e.host.clone()],
                tls: None,
            }];
            if let Some(secret) = &e.tls_secret {
                servers[0].tls = Some(istio::ServerTls {
                    https_redirect: Some(true),
                    mode: None,
                    credential_name: None,
                });
                servers.push(istio::Server {
                    port: port(443, "HTTPS"),
                    hosts: vec![e.host.clone()],
                    tls: Some(istio::ServerTls {
                        https_redirect: None,
                        mode: Some(istio::ServerTlsMode::Simple),
                        credential_name: Some(secret.clone()),
                    }),
                });
            }
            (
                Some(istio::GatewaySpec {
                    selector: istio::Labels::from([(
                        "istio".to_owned(),
                        "ingressgateway".to_owned(),
                    )]),
                    servers,
                }),
                Some(istio::VirtualServiceSpec {
                    hosts: vec![e.host.clone()],
                    gateways: vec![format!("{}-gateway", service.name)],
                    export_to: Vec::new(),
                    http: vec![istio::HttpRoute {
                        name: "public".into(),
                        match_: vec![istio::HttpMatch {
                            uri: Some(istio::StringMatch::Prefix(e.path.clone())),
                            source_labels: istio::Labels::new(),
                            port: None,
                        }],
                        route: istio_destinations(service, p.port),
                        timeout: None,
                        retries: None,
                    }],
                    tcp: Vec::new(),
                }),
            )
        }
        _ => (None, None),
    };
    IstioValues {
        virtual_service,
        public_virtual_service: public_vs,
        gateway,
        destination_rules,
        service_entries,
    }
}

/// What the pod's probes send to one port: whether an `httpGet` probe and whether a `grpc`
/// probe targets it (TCP and `exec` probes need nothing of the policy, see
/// [`linkerd_values`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortProbes {
    pub http: bool,
    pub grpc: bool,
}

/// The probes of every container of the pod (readiness, liveness and startup; the
/// service's own and its sidecars'), by port index.
#[must_use]
pub fn port_probes(service: &Service) -> Vec<PortProbes> {
    let mut out = vec![PortProbes::default(); service.ports.len()];
    for (_, p) in service.all_probes() {
        let Some(slot) = p.port.and_then(|i| out.get_mut(i)) else {
            continue;
        };
        match p.kind {
            ProbeKind::Http => slot.http = true,
            ProbeKind::Grpc => slot.grpc = true,
            ProbeKind::Tcp | ProbeKind::Exec => {}
        }
    }
    out
}

/// The proxy protocol of a port's Server. A probed port gets the protocol under which
/// Linkerd can authorize its probes: the policy controller synthesizes a route for the
/// kubelet's `httpGet` probes, and sends HTTP routes to the proxy only for a Server that
/// is `unknown` (detect), `HTTP/1` or `HTTP/2`, never for `gRPC` (GRPCRoutes only) or
/// `opaque` (linkerd2 policy-controller/grpc/src/inbound.rs L186-217). A gRPC probe needs
/// routes of its own ([`probe_routes`]); beside an HTTP probe on the same port, in their
/// HTTPRoute form, which the HTTP probe's path joins.
fn linkerd_protocol(port: Protocol, probes: PortProbes) -> linkerd::ProxyProtocol {
    use linkerd::ProxyProtocol as P;
    match (port, probes.http, probes.grpc) {
        (Protocol::Grpc, false, true) => P::Grpc,
        // The kubelet's `httpGet` is plain HTTP/1.1, and a Server declared `HTTP/2` (or
        // `gRPC`) makes the proxy skip detection and serve HTTP/2 only (linkerd2-proxy
        // app/inbound/src/detect.rs, `push_detect_http`): detection serves the probe as
        // HTTP/1 and the application's gRPC as HTTP/2.
        (Protocol::Grpc, true, _) => P::Unknown,
        // A port that answers HTTP (or gRPC) probes but is declared `tcp` or `http` may
        // carry more than one protocol: detection serves both.
        (Protocol::Tcp, true, _) | (Protocol::Tcp, _, true) | (Protocol::Http, _, true) => {
            P::Unknown
        }
        (Protocol::Http, _, _) => P::Http1,
        (Protocol::Grpc, _, _) => P::Grpc,
        (Protocol::Tcp, _, _) => P::Opaque,
    }
}

/// The Linkerd networks of the kubelet: the control plane's default
/// `policyController.probeNetworks` (linkerd2 charts/linkerd-control-plane/values.yaml L96-98),
/// the networks its synthesized probe routes admit (index.rs L2274-2285).
pub const LINKERD_PROBE_NETWORKS: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// What the kubelet sends for a `grpc` probe: the standard health service's `Check`
/// (kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#define-a-grpc-liveness-probe).
pub const GRPC_HEALTH_SERVICE: &str = "grpc.health.v1.Health";
pub const GRPC_HEALTH_METHOD: &str = "Check";

fn server_ref(name: &str) -> Vec<gateway::ParentRef> {
    vec![gateway::ParentRef {
        group: "policy.linkerd.io".into(),
        kind: "Server".into(),
        name: name.to_owned(),
        port: None,
    }]
}

fn network_authorization(
    name: &str,
    target: (&str, &str),
    authentication: &str,
) -> NamedSpec<linkerd::AuthorizationPolicySpec> {
    NamedSpec {
        name: name.to_owned(),
        spec: linkerd::AuthorizationPolicySpec {
            target_ref: linkerd::ObjectRef::new("gateway.networking.k8s.io", target.0, target.1),
            required_authentication_refs: vec![linkerd::ObjectRef::new(
                "policy.linkerd.io",
                "NetworkAuthentication",
                authentication,
            )],
        },
    }
}

/// A route of a Linkerd Server, without annotations.
fn server_route(name: &str, spec: RouteSpec) -> LinkerdRoute {
    LinkerdRoute {
        name: name.to_owned(),
        annotations: StringMap::new(),
        spec,
    }
}

fn http_match(
    type_: gateway::PathMatchType,
    path: &str,
    method: Option<gateway::HttpMethod>,
) -> gateway::HttpRouteMatch {
    gateway::HttpRouteMatch {
        path: gateway::PathMatch {
            type_,
            value: path.to_owned(),
        },
        method,
    }
}

fn http_rules(matches: Vec<gateway::HttpRouteMatch>) -> Vec<gateway::HttpRouteRule> {
    vec![gateway::HttpRouteRule {
        matches,
        backend_refs: Vec::new(),
    }]
}

/// The routes that let the kubelet's gRPC probe through a `deny` Server, and nothing
/// else: attaching a route to a Server drops Linkerd's default route (index.rs L2020-2039
/// for GRPCRoutes, L1997-2017 for HTTPRoutes), so a catch-all route carries the app's
/// traffic, authorized as before by the Server's own AuthorizationPolicy (the proxy adds
/// a Server's authorizations to every route's: linkerd2-proxy
/// linkerd/proxy/server-policy/src/authz.rs L80-88); the probe's route matches exactly
/// `grpc.health.v1.Health/Check` and admits the kubelet's networks. The proxy picks the
/// most specific match (linkerd2-proxy linkerd/http/route/src/lib.rs `find`).
/// Attaching routes also drops the probe route Linkerd synthesizes for `httpGet` probes,
/// so the paths of the port's HTTP probes (`http_paths`) join the probe route, `GET` and
/// exact, as Linkerd's own would be (index.rs L2241-2298).
/// Returns the routes and the authorization of the probe route.
fn probe_routes(
    service: &str,
    port: &str,
    server: &str,
    protocol: linkerd::ProxyProtocol,
    http_paths: &[String],
) -> (
    Vec<LinkerdRoute>,
    NamedSpec<linkerd::AuthorizationPolicySpec>,
) {
    use gateway::{HttpMethod, PathMatchType};
    let probe = format!("{service}-{port}-grpc-health-probe");
    let catch_all = format!("{service}-{port}-inbound-default");
    let (probe_spec, all_spec) = if protocol == linkerd::ProxyProtocol::Grpc {
        let grpc = |rules| {
            RouteSpec::Grpc(gateway::GrpcRouteSpec {
                parent_refs: server_ref(server),
                rules,
            })
        };
        (
            grpc(vec![gateway::GrpcRouteRule {
                matches: vec![gateway::GrpcRouteMatch {
                    method: gateway::GrpcMethodMatch {
                        type_: gateway::GrpcMethodMatchType::Exact,
                        service: GRPC_HEALTH_SERVICE.into(),
                        method: GRPC_HEALTH_METHOD.into(),
                    },
                }],
                backend_refs: Vec::new(),
            }]),
            grpc(vec![gateway::GrpcRouteRule {
                matches: Vec::new(),
                backend_refs: Vec::new(),
            }]),
        )
    } else {
        // Detected HTTP/2 on a Server that is not `gRPC` takes HTTPRoutes: the gRPC call
        // is a POST to `/<service>/<method>`.
        let http = |rules| {
            RouteSpec::Http(gateway::HttpRouteSpec {
                parent_refs: server_ref(server),
                rules,
            })
        };
        let mut matches = vec![http_match(
            PathMatchType::Exact,
            &format!("/{GRPC_HEALTH_SERVICE}/{GRPC_HEALTH_METHOD}"),
            Some(HttpMethod::Post),
        )];
        for path in http_paths {
            matches.push(http_match(
                PathMatchType::Exact,
                path,
                Some(HttpMethod::Get),
            ));
        }
        (
            http(http_rules(matches)),
            http(http_rules(vec![http_match(
                PathMatchType::PathPrefix,
                "/",
                None,
            )])),
        )
    };
    let kind = probe_spec.kind();
    (
        vec![
            server_route(&probe, probe_spec),
            server_route(&catch_all, all_spec),
        ],
        network_authorization(&probe, (kind, &probe), &format!("{service}-kubelet")),
    )
}

fn server(service: &Service, port: &str, protocol: linkerd::ProxyProtocol) -> linkerd::ServerSpec {
    linkerd::ServerSpec {
        pod_selector: linkerd::PodSelector {
            match_labels: selector(service),
        },
        port: port.to_owned(),
        proxy_protocol: protocol,
        access_policy: "deny".into(),
    }
}

type AdminPolicy = (
    NamedSpec<linkerd::ServerSpec>,
    Vec<LinkerdRoute>,
    Vec<NamedSpec<linkerd::AuthorizationPolicySpec>>,
);

/// Prometheus scrapes each proxy's `/metrics` on its admin port, and under `deny` the
/// admin server enforces policy too (linkerd2-proxy linkerd/app/admin/src/stack.rs
/// L98-118): without a route for it every scrape is refused, and every SLI is empty.
/// This is `linkerd viz allow-scrapes` (linkerd2 viz/cmd/allow-scrapes.go) for one
/// workload, with the scraper admitted by network: the playbook's Prometheus is not
/// meshed, so it has no identity, and the NetworkPolicy admits the admin port from the
/// monitoring namespace only. The proxy's own `/live` and `/ready` probes get a route
/// too, since attaching any route drops the probe route Linkerd synthesizes.
fn admin_policy(svc: &Service) -> AdminPolicy {
    let service = svc.name.as_str();
    let server_name = format!("{service}-linkerd-proxy-admin");
    let probes = format!("{service}-linkerd-proxy-probes");
    let metrics = format!("{service}-linkerd-proxy-metrics");
    let get = |paths: &[&str]| {
        RouteSpec::Http(gateway::HttpRouteSpec {
            parent_refs: server_ref(&server_name),
            rules: http_rules(
                paths
                    .iter()
                    .map(|p| {
                        http_match(
                            gateway::PathMatchType::Exact,
                            p,
                            Some(gateway::HttpMethod::Get),
                        )
                    })
                    .collect(),
            ),
        })
    };
    (
        NamedSpec {
            name: server_name.clone(),
            spec: server(svc, "linkerd-admin", linkerd::ProxyProtocol::Http1),
        },
        vec![
            server_route(&probes, get(&["/live", "/ready"])),
            server_route(&metrics, get(&["/metrics"])),
        ],
        vec![
            network_authorization(
                &probes,
                ("HTTPRoute", &probes),
                &format!("{service}-kubelet"),
            ),
            network_authorization(
                &metrics,
                ("HTTPRoute", &metrics),
                &format!("{service}-prometheus"),
            ),
        ],
    )
}

fn networks(cidrs: &[&str]) -> linkerd::NetworkAuthenticationSpec {
    linkerd::NetworkAuthenticationSpec {
        networks: cidrs
            .iter()
            .map(|c| linkerd::Network {
                cidr: (*c).to_owned(),
            })
            .collect(),
    }
}

/// The Linkerd side of a published port (`expose node-port=`/`load-balancer=`): its
/// clients are outside the mesh and have no identity, so the port's Server admits them by
/// network, from every address (the Server keeps `accessPolicy: deny` for its other
/// clients, and the service's other ports are untouched). The NetworkAuthentication is
/// the one Linkerd's inbound policy matches unauthenticated connections against
/// (linkerd2 policy-controller: `NetworkAuthentication` networks, any client IP).
fn linkerd_public(
    service: &Service,
) -> Option<(
    NamedSpec<linkerd::NetworkAuthenticationSpec>,
    NamedSpec<linkerd::AuthorizationPolicySpec>,
)> {
    service.publish.as_ref()?;
    let port = service.publish_port()?;
    let auth = format!("{}-public", service.name);
    let server = format!("{}-{}", service.name, port.name);
    Some((
        NamedSpec {
            name: auth.clone(),
            spec: networks(&super::chart::ANYWHERE),
        },
        NamedSpec {
            name: format!("{}-public", server),
            spec: linkerd::AuthorizationPolicySpec {
                target_ref: linkerd::ObjectRef::new("policy.linkerd.io", "Server", &server),
                required_authentication_refs: vec![linkerd::ObjectRef::new(
                    "policy.linkerd.io",
                    "NetworkAuthentication",
                    &auth,
                )],
            },
        },
    ))
}

fn linkerd_values(
    service: &Service,
    edges: &[EdgePolicy],
    exposed_port: Option<u16>,
) -> LinkerdValues {
    let mut servers = Vec::new();
    let mut authorizations = Vec::new();
    let mut routes = Vec::new();
    let mut policies = Vec::new();
    let probed = port_probes(service);
    for (i, p) in service.ports.iter().enumerate() {
        let server_name = format!("{}-{}", service.name, p.name);
        let probes = probed.get(i).copied().unwrap_or_default();
        let proxy_protocol = linkerd_protocol(p.protocol, probes);
        servers.push(NamedSpec {
            name: server_name.clone(),
            spec: server(service, &p.name, proxy_protocol),
        });
        if probes.grpc {
            let mut http_paths: Vec<String> = service
                .all_probes()
                .filter(|(_, pr)| pr.kind == ProbeKind::Http && pr.port == Some(i))
                .map(|(_, pr)| pr.path.clone())
                .collect();
            http_paths.sort();
            http_paths.dedup();
            let (r, policy) = probe_routes(
                &service.name,
                &p.name,
                &server_name,
                proxy_protocol,
                &http_paths,
            );
            routes.extend(r);
            policies.push(policy);
        }
        let callers: Vec<&EdgePolicy> = edges.iter().filter(|e| e.port == p.port).collect();
        let mut identities: Vec<linkerd::IdentityRef> = callers
            .iter()
            .map(|e| linkerd::IdentityRef {
                kind: "ServiceAccount".into(),
                name: e.caller.clone(),
                namespace: None,
            })
            .collect();
        identities.dedup();
        if exposed_port == Some(p.port) {
            identities.push(linkerd::IdentityRef {
                kind: "ServiceAccount".into(),
                name: NGINX_SERVICE_ACCOUNT.into(),
                namespace: Some(NGINX_NAMESPACE.into()),
            });
        }
        if !identities.is_empty() {
            authorizations.push(LinkerdAuthorization {
                name: server_name,
                identity_refs: identities,
            });
        }
        // A route for each port that mesh clients call, and for a canary's exposed port:
        // the ingress controller's proxy (meshed, sending to the Service) follows it, so
        // outside traffic is split between the versions too. Without one, Argo Rollouts
        // would pin the Service to the stable pods and send the canary none of it.
        let exposed_canary = exposed_port == Some(p.port) && canary(service);
        if (callers.is_empty() && !exposed_canary) || p.protocol == Protocol::Tcp {
            continue;
        }
        let (timeout, retries) = linkerd_route_policy(&callers);
        let mut annotations = StringMap::new();
        if let Some(t) = &timeout {
            let total = Duration::from_millis(t.millis.saturating_mul(u64::from(retries) + 1));
            annotations.insert("timeout.linkerd.io/request".into(), total.single_unit());
        }
        if retries > 0 {
            let key = if p.protocol == Protocol::Grpc {
                "retry.linkerd.io/grpc"
            } else {
                "retry.linkerd.io/http"
            };
            let on = if p.protocol == Protocol::Grpc {
                LINKERD_RETRY_GRPC
            } else {
                LINKERD_RETRY_HTTP
            };
            annotations.insert(key.into(), on.to_owned());
            annotations.insert("retry.linkerd.io/limit".into(), retries.to_string());
            if let Some(t) = &timeout {
                annotations.insert("retry.linkerd.io/timeout".into(), t.single_unit());
            }
        }
        let port = u32::from(p.port);
        let backend = |name: String, weight| gateway::BackendRef { name, port, weight };
        let backend_refs = if canary(service) {
            vec![
                backend(service.name.clone(), Some(100)),
                backend(format!("{}-canary", service.name), Some(0)),
            ]
        } else {
            vec![backend(service.name.clone(), None)]
        };
        let parent_refs = vec![gateway::ParentRef {
            group: "core".into(),
            kind: "Service".into(),
            name: service.name.clone(),
            port: Some(port),
        }];
        let spec = if p.protocol == Protocol::Grpc {
            RouteSpec::Grpc(gateway::GrpcRouteSpec {
                parent_refs,
                rules: vec![gateway::GrpcRouteRule {
                    matches: Vec::new(),
                    backend_refs,
                }],
            })
        } else {
            RouteSpec::Http(gateway::HttpRouteSpec {
                parent_refs,
                rules: vec![gateway::HttpRouteRule {
                    matches: vec![http_match(gateway::PathMatchType::PathPrefix, "/", None)],
                    backend_refs,
                }],
            })
        };
        routes.push(LinkerdRoute {
            name: format!("{}-{}", service.name, p.name),
            annotations,
            spec,
        });
    }
    let (admin, admin_routes, admin_policies) = admin_policy(service);
    servers.push(admin);
    routes.extend(admin_routes);
    policies.extend(admin_policies);
    let mut network_authentications: Vec<_> = ["kubelet", "prometheus"]
        .into_iter()
        .map(|who| NamedSpec {
            name: format!("{}-{who}", service.name),
            spec: networks(&LINKERD_PROBE_NETWORKS),
        })
        .collect();
    if let Some((auth, policy)) = linkerd_public(service) {
        network_authentications.push(auth);
        policies.push(policy);
    }
    LinkerdValues {
        servers,
        authorizations,
        routes,
        network_authentications,
        authorization_policies: policies,
    }
}

/// The chart's `mesh:` values.
#[must_use]
pub fn values(cx: &EmitContext<'_>, service: &Service) -> MeshValues {
    let mesh = cx.model.project.mesh;
    let edges = edge_policies(cx, service);
    let mut callers: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    for e in &edges {
        callers.entry(e.caller.as_str()).or_default().push(e.target);
    }
    let callers: Vec<MeshCaller> = callers
        .into_iter()
        .map(|(c, mut ports)| {
            ports.sort_unstable();
            ports.dedup();
            MeshCaller {
                service_account: c.to_owned(),
                ports: ports.iter().map(ToString::to_string).collect(),
            }
        })
        .collect();
    let exposed = service.expose_port().filter(|_| service.expose.is_some());
    let mut egress: Vec<String> = cx
        .topology
        .calls(&service.name)
        .map(|e| e.callee.clone())
        .collect();
    egress.sort();
    egress.dedup();
    let mut external_hosts: Vec<String> =
        service.externals.iter().map(|x| x.host.clone()).collect();
    external_hosts.sort();
    external_hosts.dedup();
    // A published port's clients come from outside the mesh, without an identity.
    let public = service.publish_port().filter(|_| service.publish.is_some());
    MeshValues {
        provider: match mesh {
            Mesh::Istio => MeshProvider::Istio,
            Mesh::Linkerd => MeshProvider::Linkerd,
            Mesh::None => MeshProvider::None,
        },
        trust_domain: TRUST_DOMAIN.to_owned(),
        callers,
        ingress_ports: exposed
            .map(|p| vec![p.target.to_string()])
            .unwrap_or_default(),
        public_ports: public
            .map(|p| vec![p.target.to_string()])
            .unwrap_or_default(),
        egress,
        external_hosts,
        istio: (mesh == Mesh::Istio).then(|| istio_values(cx, service, &edges)),
        linkerd: (mesh == Mesh::Linkerd)
            .then(|| linkerd_values(service, &edges, exposed.map(|p| p.port))),
    }
}

/// The mesh objects the chart renders for these values (mirrors istio.yaml.hbs and
/// linkerd.yaml.hbs).
#[must_use]
pub fn render(v: &ChartValues, namespace: &str) -> Vec<Manifest> {
    let m = &v.mesh;
    let name = v.name.as_str();
    let sel: istio::Labels = v
        .selector_labels
        .iter()
        .map(|(k, l)| (k.clone(), l.clone()))
        .collect();
    let meta = |name: &str| object_meta(v, name, namespace);
    match m.provider {
        MeshProvider::Istio => {
            use istio::IstioObject as O;
            let mut out = Vec::new();
            // A published port takes plaintext from clients outside the mesh: PERMISSIVE
            // there, STRICT everywhere else. `portLevelMtls` is keyed by the workload's
            // (container) port and needs a selector
            // (istio.io/latest/docs/reference/config/security/peer_authentication/).
            let mode = |mode| istio::PeerMtls { mode };
            out.push(O::PeerAuthentication(Resource::new(
                meta(name),
                istio::PeerAuthenticationSpec {
                    selector: Some(istio::MatchLabels {
                        match_labels: sel.clone(),
                    }),
                    mtls: mode(istio::MtlsMode::Strict),
                    port_level_mtls: m
                        .public_ports
                        .iter()
                        .map(|p| (p.clone(), mode(istio::MtlsMode::Permissive)))
                        .collect(),
                },
            )));
            let td = &m.trust_domain;
            let rule = |principal: Option<String>, ports: &[String]| istio::AuthorizationRule {
                from: principal
                    .map(|p| istio::RuleFrom {
                        source: istio::Source {
                            principals: vec![p],
                        },
                    })
                    .into_iter()
                    .collect(),
                to: vec![istio::RuleTo {
                    operation: istio::Operation {
                        ports: ports.to_vec(),
                    },
                }],
            };
            let mut rules: Vec<istio::AuthorizationRule> = m
                .callers
                .iter()
                .map(|c| {
                    rule(
                        Some(format!("{td}/ns/{namespace}/sa/{}", c.service_account)),
                        &c.ports,
                    )
                })
                .collect();
            if !m.ingress_ports.is_empty() {
                rules.push(rule(
                    Some(format!(
                        "{td}/ns/{ISTIO_GATEWAY_NAMESPACE}/sa/{ISTIO_GATEWAY_SERVICE_ACCOUNT}"
                    )),
                    &m.ingress_ports,
                ));
            }
            // No `from`: any source, authenticated or not, on the published port only
            // ("If not set, any source is allowed", AuthorizationPolicy Rule.from).
            if !m.public_ports.is_empty() {
                rules.push(rule(None, &m.public_ports));
            }
            out.push(O::AuthorizationPolicy(Resource::new(
                meta(name),
                istio::AuthorizationPolicySpec {
                    selector: istio::MatchLabels {
                        match_labels: sel.clone(),
                    },
                    action: istio::AuthorizationAction::Allow,
                    rules,
                },
            )));
            let mut hosts = vec![format!("{ISTIO_GATEWAY_NAMESPACE}/*")];
            for e in &m.egress {
                hosts.push(format!("./{e}.{namespace}.svc.cluster.local"));
            }
            for h in &m.external_hosts {
                hosts.push(format!("./{h}"));
            }
            out.push(O::Sidecar(Resource::new(
                meta(name),
                istio::SidecarSpec {
                    workload_selector: istio::WorkloadSelector { labels: sel },
                    egress: vec![istio::EgressListener { hosts }],
                    outbound_traffic_policy: istio::OutboundTrafficPolicy {
                        mode: istio::OutboundMode::RegistryOnly,
                    },
                },
            )));
            if let Some(i) = &m.istio {
                if let Some(vs) = &i.virtual_service {
                    out.push(O::VirtualService(Resource::new(meta(name), vs.clone())));
                }
                for dr in &i.destination_rules {
                    out.push(O::DestinationRule(Resource::new(
                        meta(&dr.name),
                        dr.spec.clone(),
                    )));
                }
                for se in &i.service_entries {
                    out.push(O::ServiceEntry(Resource::new(
                        meta(&se.name),
                        se.spec.clone(),
                    )));
                }
                if let (Some(gw), Some(vs)) = (&i.gateway, &i.public_virtual_service) {
                    out.push(O::Gateway(Resource::new(
                        meta(&format!("{name}-gateway")),
                        gw.clone(),
                    )));
                    out.push(O::VirtualService(Resource::new(
                        meta(&format!("{name}-public")),
                        vs.clone(),
                    )));
                }
            }
            out.into_iter().map(Manifest::Istio).collect()
        }
        MeshProvider::Linkerd => {
            use linkerd::LinkerdObject as O;
            let Some(l) = &m.linkerd else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for s in &l.servers {
                out.push(O::Server(Resource::new(meta(&s.name), s.spec.clone())));
            }
            for a in &l.authorizations {
                out.push(O::MeshTlsAuthentication(Resource::new(
                    meta(&a.name),
                    linkerd::MeshTlsAuthenticationSpec {
                        identity_refs: a.identity_refs.clone(),
                    },
                )));
                out.push(O::AuthorizationPolicy(Resource::new(
                    meta(&a.name),
                    linkerd::AuthorizationPolicySpec {
                        target_ref: linkerd::ObjectRef::new("policy.linkerd.io", "Server", &a.name),
                        required_authentication_refs: vec![linkerd::ObjectRef::new(
                            "policy.linkerd.io",
                            "MeshTLSAuthentication",
                            &a.name,
                        )],
                    },
                )));
            }
            for n in &l.network_authentications {
                out.push(O::NetworkAuthentication(Resource::new(
                    meta(&n.name),
                    n.spec.clone(),
                )));
            }
            for a in &l.authorization_policies {
                out.push(O::AuthorizationPolicy(Resource::new(
                    meta(&a.name),
                    a.spec.clone(),
                )));
            }
            for r in &l.routes {
                let mut metadata = meta(&r.name);
                // The route's own annotations after the service's (`merge` in the template).
                metadata
                    .annotations
                    .get_or_insert_default()
                    .extend(r.annotations.iter().map(|(k, a)| (k.clone(), a.clone())));
                out.push(match &r.spec {
                    RouteSpec::Http(spec) => O::HttpRoute(Resource::new(metadata, spec.clone())),
                    RouteSpec::Grpc(spec) => O::GrpcRoute(Resource::new(metadata, spec.clone())),
                });
            }
            out.into_iter().map(Manifest::Linkerd).collect()
        }
        MeshProvider::None => Vec::new(),
    }
}

/// Annotations on the callee's Service. Linkerd's circuit breaking ("failure accrual") is
/// configured there, for all its clients: when callers declare different circuit
/// breakers, the strictest wins (fewest consecutive errors, longest ejection).
#[must_use]
pub fn service_annotations(cx: &EmitContext<'_>, service: &Service) -> StringMap {
    if cx.model.project.mesh != Mesh::Linkerd {
        return StringMap::new();
    }
    let breakers: Vec<&crate::model::CircuitBreaker> = cx
        .topology
        .callers(&service.name)
        .into_iter()
        .filter_map(|e| e.dependency.circuit_breaker.as_ref())
        .collect();
    let (Some(errors), Some(ejection)) = (
        breakers.iter().map(|b| b.consecutive_errors).min(),
        breakers.iter().map(|b| b.ejection.clone()).max(),
    ) else {
        return StringMap::new();
    };
    [
        (
            "balancer.linkerd.io/failure-accrual",
            "consecutive".to_owned(),
        ),
        (
            "balancer.linkerd.io/failure-accrual-consecutive-max-failures",
            errors.to_string(),
        ),
        (
            "balancer.linkerd.io/failure-accrual-consecutive-min-penalty",
            ejection.single_unit(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
