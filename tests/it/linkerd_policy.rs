//! Linkerd's inbound policy, evaluated on the objects nestioc emits: which request from
//! which client a meshed pod's proxy lets through, under
//! `config.linkerd.io/default-inbound-policy: deny`.
//!
//! The evaluator encodes the policy controller and the proxy as their sources have them
//! (linkerd/linkerd2 @ b24cd40, linkerd/linkerd2-proxy @ 29637b6):
//!
//! - The pod's probes: only `httpGet` probes of every container and init container
//!   (`p.http_get.as_ref()?`), a named port resolved in the probe's own container, the
//!   path without its query (policy-controller/k8s/index/src/inbound/workload.rs L61-110).
//! - A port takes the Server whose `podSelector` and `port` (a container port name or a
//!   number) select it; none: the default server of the pod's default policy, with no
//!   authorization under `deny` (index.rs L1253-1290, L1752-1790).
//! - A Server's HTTP routes are the HTTPRoutes whose parent is the Server; when there is
//!   none, Linkerd's `default` route (prefix `/`) and, for the port's probe paths, a
//!   `probe` route (`Exact` path, `GET`) authorized for the probe networks, unauthenticated
//!   (index.rs L1997-2017, L2241-2298; the default routes: policy-controller/core/src/
//!   inbound.rs L148-193). Its gRPC routes are the GRPCRoutes whose parent is the Server,
//!   else a `default` route matching everything (index.rs L2020-2039). An HTTPRoute is
//!   not accepted on a Server that has a GRPCRoute (k8s/status/src/index.rs L548-566).
//! - What the proxy gets: HTTP routes for `unknown` (detect), `HTTP/1` and `HTTP/2`, gRPC
//!   routes for `gRPC`, no routes for `opaque` and `TLS` (policy-controller/grpc/src/
//!   inbound.rs L186-217). A route's authorizations are its own plus the Server's
//!   (linkerd2-proxy linkerd/proxy/server-policy/src/authz.rs L80-88); a connection that
//!   is not HTTP is authorized by the Server's authorizations only (server-policy/src/
//!   lib.rs L159-206).
//! - The proxy picks the most specific matching rule over every route: HTTP by path
//!   length, then headers, query parameters, method (linkerd2-proxy linkerd/http/route/
//!   src/http/match.rs L87-110, match/path.rs L21-53); gRPC by matched service and method
//!   length, and only for POST (grpc/match.rs); a rule with no match matches everything;
//!   ties keep the first (lib.rs `find`, `best`).
//! - An AuthorizationPolicy authorizes the clients of its MeshTLSAuthentication (or
//!   ServiceAccount) identities, or any client when it names none, from the networks of
//!   its NetworkAuthentication, or from anywhere when it names none (index.rs L2042-2135).
//! - The injected proxy container (charts/partials/templates/_proxy.tpl L251-268): ports
//!   `linkerd-proxy` 4143 and `linkerd-admin` 4191, probes `GET /live` and `GET /ready` on
//!   4191. The admin server enforces the same policy (linkerd2-proxy
//!   linkerd/app/admin/src/stack.rs L98-118).
//! - `tcpSocket` probes are not policy: the kubelet's connection is redirected to the
//!   proxy, which accepts it before any authorization, so the probe passes while the proxy
//!   runs (linkerd/linkerd2#7777). `exec` probes run in the container and never cross the
//!   proxy.

use std::net::Ipv4Addr;

use serde_json::Value;

/// The kubelet probes from its node, without a mesh identity.
pub(crate) const KUBELET: Client = Client {
    identity: None,
    ip: Ipv4Addr::new(192, 0, 2, 10),
};

/// A client of a meshed pod: its mesh identity, if meshed, and its address.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub identity: Option<String>,
    pub ip: Ipv4Addr,
}

impl Client {
    /// A meshed pod running as ServiceAccount `sa` in `ns`.
    pub(crate) fn meshed(sa: &str, ns: &str) -> Self {
        Client {
            identity: Some(identity(sa, ns)),
            ip: Ipv4Addr::new(10, 1, 2, 3),
        }
    }

    /// A pod without the mesh (Prometheus of the playbook, a debug pod).
    pub(crate) fn unmeshed() -> Self {
        Client {
            identity: None,
            ip: Ipv4Addr::new(10, 9, 8, 7),
        }
    }
}

/// What arrives on a port.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Call<'a> {
    /// An HTTP request (gRPC is `POST /<service>/<method>`), in whichever HTTP version the
    /// Server speaks (the mesh's own calls between proxies, a gRPC probe's HTTP/2).
    Http { method: &'a str, path: &'a str },
    /// An HTTP/1.1 request in plain text: the kubelet's `httpGet` probe. A Server declared
    /// `HTTP/2` or `gRPC` makes the proxy skip detection and serve the connection as HTTP/2
    /// (linkerd2-proxy linkerd/app/inbound/src/detect.rs, `push_detect_http`: `Protocol::Http2
    /// | Protocol::Grpc => http::Version::H2`), so such a request fails there.
    Http1 { method: &'a str, path: &'a str },
    /// A connection that is not HTTP.
    Tcp,
}

/// A mesh identity (pkg/identity: `<sa>.<ns>.serviceaccount.identity.linkerd.<domain>`).
pub(crate) fn identity(sa: &str, ns: &str) -> String {
    format!("{sa}.{ns}.serviceaccount.identity.linkerd.cluster.local")
}

fn kind<'a>(objects: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| o["kind"] == k)
}

fn named<'a>(objects: &'a [Value], k: &'a str, name: &str) -> Option<&'a Value> {
    kind(objects, k).find(|o| o["metadata"]["name"].as_str() == Some(name))
}

/// A probe: its kind, its port and the request it sends (`(method, path)`; none for TCP
/// and exec probes).
pub(crate) type Probe = (&'static str, u16, Option<(String, String)>);

/// A meshed pod: its labels, annotations and containers, the proxy's included.
pub(crate) struct Pod {
    pub labels: Value,
    pub annotations: Value,
    pub containers: Vec<Value>,
}

/// The pod of service `app` as the proxy injector leaves it, or `None` when it is not
/// meshed or not found.
pub(crate) fn pod(objects: &[Value], app: &str) -> Option<Pod> {
    let workload = objects.iter().find(|o| {
        matches!(
            o["kind"].as_str(),
            Some("Deployment" | "StatefulSet" | "Rollout" | "CronJob")
        ) && o["metadata"]["name"].as_str() == Some(app)
    })?;
    let template = if workload["kind"] == "CronJob" {
        &workload["spec"]["jobTemplate"]["spec"]["template"]
    } else {
        &workload["spec"]["template"]
    };
    let annotations = template["metadata"]["annotations"].clone();
    if annotations["linkerd.io/inject"] != "enabled" {
        return None;
    }
    let mut containers: Vec<Value> = template["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    containers.extend(
        template["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    containers.push(serde_json::json!({
        "name": "linkerd-proxy",
        "ports": [
            {"name": "linkerd-proxy", "containerPort": 4143},
            {"name": "linkerd-admin", "containerPort": 4191},
        ],
        "livenessProbe": {"httpGet": {"path": "/live", "port": 4191}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 4191}},
    }));
    Some(Pod {
        labels: template["metadata"]["labels"].clone(),
        annotations,
        containers,
    })
}

impl Pod {
    /// Every container port number (the ports the proxy serves inbound, 4143 aside).
    pub(crate) fn ports(&self) -> Vec<u16> {
        let mut out: Vec<u16> = self
            .containers
            .iter()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["containerPort"].as_u64())
            .filter_map(|p| u16::try_from(p).ok())
            .filter(|p| *p != 4143)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn port_named(&self, name: &str) -> Vec<u16> {
        self.containers
            .iter()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["name"].as_str() == Some(name))
            .filter_map(|p| p["containerPort"].as_u64())
            .filter_map(|p| u16::try_from(p).ok())
            .collect()
    }

    /// `(port, path)` of every `httpGet` probe (workload.rs L61-110: a named port in the
    /// probe's own container, case-insensitively; the path without its query).
    pub(crate) fn http_probes(&self) -> Vec<(u16, String)> {
        let mut out = Vec::new();
        for c in &self.containers {
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let Some(get) = c[probe].get("httpGet") else {
                    continue;
                };
                let port = match &get["port"] {
                    Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
                    Value::String(name) => c["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| {
                            p["name"]
                                .as_str()
                                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                        })
                        .and_then(|p| p["containerPort"].as_u64())
                        .and_then(|p| u16::try_from(p).ok()),
                    _ => None,
                };
                let path = get["path"].as_str().unwrap_or("/");
                let path = path.split('?').next().unwrap_or(path).to_owned();
                if let Some(port) = port {
                    out.push((port, path));
                }
            }
        }
        out
    }

    /// Every probe of every container: `(kind, port, the request)`.
    pub(crate) fn probes(&self) -> Vec<Probe> {
        let mut out = Vec::new();
        for c in &self.containers {
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let p = &c[probe];
                let resolve = |port: &Value| match port {
                    Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
                    Value::String(name) => self.port_named(name).first().copied(),
                    _ => None,
                };
                if let Some(get) = p.get("httpGet") {
                    let port = resolve(&get["port"]).expect("probe port");
                    let path = get["path"].as_str().unwrap_or("/").to_owned();
                    out.push(("httpGet", port, Some(("GET".to_owned(), path))));
                } else if let Some(grpc) = p.get("grpc") {
                    let port = resolve(&grpc["port"]).expect("probe port");
                    out.push((
                        "grpc",
                        port,
                        Some(("POST".to_owned(), "/grpc.health.v1.Health/Check".to_owned())),
                    ));
                } else if let Some(tcp) = p.get("tcpSocket") {
                    out.push((
                        "tcpSocket",
                        resolve(&tcp["port"]).expect("probe port"),
                        None,
                    ));
                } else if p.get("exec").is_some() {
                    out.push(("exec", 0, None));
                }
            }
        }
        out
    }
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    assert!(
        selector.get("matchExpressions").is_none(),
        "the evaluator does not read matchExpressions: {selector}"
    );
    selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
}

fn targets(r: &Value, group: &str, k: &str) -> bool {
    let g = r["group"].as_str().unwrap_or("");
    let g = if g.is_empty() { "core" } else { g };
    g.eq_ignore_ascii_case(group)
        && r["kind"]
            .as_str()
            .is_some_and(|x| x.eq_ignore_ascii_case(k))
}

/// One authorization: networks (`None`: every network) and identities (`None`: any
/// client, authenticated or not).
#[derive(Debug)]
struct Authz {
    networks: Option<Vec<(Ipv4Addr, u8)>>,
    identities: Option<Vec<String>>,
}

fn cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/').unwrap_or((s, "32"));
    Some((ip.parse().ok()?, len.parse().ok()?))
}

impl Authz {
    fn admits(&self, client: &Client) -> bool {
        let net_ok = self.networks.as_ref().is_none_or(|nets| {
            nets.iter().any(|(net, len)| {
                let mask = if *len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(*len))
                };
                u32::from(*net) & mask == u32::from(client.ip) & mask
            })
        });
        let id_ok = self.identities.as_ref().is_none_or(|ids| {
            client.identity.as_ref().is_some_and(|me| {
                ids.iter().any(|id| {
                    id == me
                        || id == "*"
                        || id
                            .strip_prefix("*.")
                            .is_some_and(|suffix| me.ends_with(&format!(".{suffix}")))
                })
            })
        });
        net_ok && id_ok
    }
}

/// The authorizations of the AuthorizationPolicies that target `(group, kind, name)`.
fn authorizations(objects: &[Value], ns: &str, group: &str, k: &str, name: &str) -> Vec<Authz> {
    kind(objects, "AuthorizationPolicy")
        .filter(|a| {
            a["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("policy.linkerd.io/"))
        })
        .filter(|a| {
            let t = &a["spec"]["targetRef"];
            targets(t, group, k) && t["name"].as_str() == Some(name)
        })
        .map(|a| {
            let mut networks = None;
            let mut identities: Option<Vec<String>> = None;
            for r in a["spec"]["requiredAuthenticationRefs"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let rname = r["name"].as_str().unwrap_or_default();
                if targets(r, "policy.linkerd.io", "NetworkAuthentication") {
                    let n = named(objects, "NetworkAuthentication", rname)
                        .unwrap_or_else(|| panic!("no NetworkAuthentication {rname}"));
                    networks = Some(
                        n["spec"]["networks"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|x| cidr(x["cidr"].as_str().unwrap_or_default()))
                            .collect(),
                    );
                } else if targets(r, "policy.linkerd.io", "MeshTLSAuthentication") {
                    let m = named(objects, "MeshTLSAuthentication", rname)
                        .unwrap_or_else(|| panic!("no MeshTLSAuthentication {rname}"));
                    let mut ids: Vec<String> = m["spec"]["identities"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect();
                    for i in m["spec"]["identityRefs"].as_array().into_iter().flatten() {
                        assert_eq!(i["kind"], "ServiceAccount", "{i}");
                        ids.push(identity(
                            i["name"].as_str().unwrap_or_default(),
                            i["namespace"].as_str().unwrap_or(ns),
                        ));
                    }
                    identities = Some(ids);
                } else if targets(r, "core", "ServiceAccount") {
                    identities = Some(vec![identity(rname, r["namespace"].as_str().unwrap_or(ns))]);
                } else {
                    panic!("unknown authentication {r}");
                }
            }
            Authz {
                networks,
                identities,
            }
        })
        .collect()
}

/// One rule match of a route: HTTP (path type and value, method) or gRPC (service,
/// method). `None` in a rule's list: the rule has no match and matches everything.
#[derive(Debug)]
enum Match {
    Http {
        exact: bool,
        path: String,
        method: Option<String>,
    },
    Grpc {
        service: Option<String>,
        method: Option<String>,
    },
}

/// A route: its rules' matches (an empty list is the implicit match-all) and its own
/// authorizations.
struct Route {
    rules: Vec<Vec<Match>>,
    authz: Vec<Authz>,
}

impl Match {
    /// The proxy's match summary, ordered like its `RouteMatch` (bigger is more specific).
    fn score(&self, call: &Call<'_>) -> Option<(usize, usize, bool)> {
        let Call::Http { method, path } = call else {
            return None;
        };
        match self {
            Match::Http {
                exact,
                path: p,
                method: m,
            } => {
                if m.as_deref().is_some_and(|m| m != *method) {
                    return None;
                }
                let len = if *exact {
                    (p == path).then_some(p.len())?
                } else if p == "/" {
                    1
                } else {
                    let prefix = p.trim_end_matches('/');
                    let suffix = path.trim_end_matches('/').strip_prefix(prefix)?;
                    (suffix.is_empty() || suffix.starts_with('/')).then_some(prefix.len())?
                };
                Some((len, 0, m.is_some()))
            }
            Match::Grpc { service, method: m } => {
                if *method != "POST" {
                    return None;
                }
                let mut parts = path.split('/');
                if !parts.next()?.is_empty() {
                    return None;
                }
                let (s, me) = (parts.next()?, parts.next()?);
                let mut score = (0, 0, false);
                if let Some(want) = service {
                    (want == s).then_some(())?;
                    score.0 = want.len();
                }
                if let Some(want) = m {
                    (want == me).then_some(())?;
                    score.1 = want.len();
                }
                Some(score)
            }
        }
    }
}

fn routes_of(objects: &[Value], ns: &str, k: &str, server: &str) -> Vec<Route> {
    kind(objects, k)
        .filter(|r| {
            r["spec"]["parentRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| targets(p, "policy.linkerd.io", "Server") && p["name"] == server)
        })
        .map(|r| {
            let name = r["metadata"]["name"].as_str().unwrap_or_default();
            let group = r["apiVersion"]
                .as_str()
                .and_then(|v| v.split('/').next())
                .unwrap_or_default();
            let rules = r["spec"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|rule| {
                    rule["matches"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            if k == "GRPCRoute" {
                                Match::Grpc {
                                    service: m["method"]["service"].as_str().map(str::to_owned),
                                    method: m["method"]["method"].as_str().map(str::to_owned),
                                }
                            } else {
                                let path = &m["path"];
                                Match::Http {
                                    exact: path["type"] == "Exact",
                                    path: path["value"].as_str().unwrap_or("/").to_owned(),
                                    method: m["method"].as_str().map(str::to_owned),
                                }
                            }
                        })
                        .collect()
                })
                .collect();
            Route {
                rules,
                authz: authorizations(objects, ns, group, k, name),
            }
        })
        .collect()
}

/// Whether the proxy of service `app`'s pod lets `call` from `client` through to `port`.
pub(crate) fn admits(
    objects: &[Value],
    ns: &str,
    app: &str,
    port: u16,
    client: &Client,
    call: &Call<'_>,
) -> bool {
    let pod = pod(objects, app).unwrap_or_else(|| panic!("no meshed pod for {app}"));
    assert_eq!(
        pod.annotations["config.linkerd.io/default-inbound-policy"], "deny",
        "{app}: the pods' default policy"
    );
    let servers: Vec<&Value> = kind(objects, "Server")
        .filter(|s| labels_match(&s["spec"]["podSelector"], &pod.labels))
        .filter(|s| match &s["spec"]["port"] {
            Value::String(name) => pod.port_named(name).contains(&port),
            Value::Number(n) => n.as_u64() == Some(u64::from(port)),
            _ => false,
        })
        .collect();
    assert!(
        servers.len() <= 1,
        "{app}:{port}: several Servers select it"
    );
    let probe_paths: Vec<String> = pod
        .http_probes()
        .into_iter()
        .filter(|(p, _)| *p == port)
        .map(|(_, path)| path)
        .collect();
    // The synthesized routes of a port without HTTPRoutes: `default` (prefix `/`, no
    // authorization of its own) and `probe` (the probe paths, GET, probe networks).
    let default_http = || {
        let mut routes = vec![Route {
            rules: vec![vec![Match::Http {
                exact: false,
                path: "/".into(),
                method: None,
            }]],
            authz: Vec::new(),
        }];
        if !probe_paths.is_empty() {
            routes.push(Route {
                rules: vec![
                    probe_paths
                        .iter()
                        .map(|p| Match::Http {
                            exact: true,
                            path: p.clone(),
                            method: Some("GET".into()),
                        })
                        .collect(),
                ],
                authz: vec![Authz {
                    networks: Some(vec![(Ipv4Addr::UNSPECIFIED, 0)]),
                    identities: None,
                }],
            });
        }
        routes
    };
    let (protocol, server_authz, http_routes, grpc_routes) = match servers.first() {
        // Default `deny`: no authorization, protocol detection.
        None => ("unknown", Vec::new(), default_http(), Vec::new()),
        Some(s) => {
            let name = s["metadata"]["name"].as_str().unwrap_or_default();
            let grpc = routes_of(objects, ns, "GRPCRoute", name);
            // An HTTPRoute is refused on a Server that has a GRPCRoute.
            let http = if grpc.is_empty() {
                routes_of(objects, ns, "HTTPRoute", name)
            } else {
                Vec::new()
            };
            let http = if http.is_empty() {
                default_http()
            } else {
                http
            };
            let grpc = if grpc.is_empty() {
                vec![Route {
                    rules: vec![vec![Match::Grpc {
                        service: None,
                        method: None,
                    }]],
                    authz: Vec::new(),
                }]
            } else {
                grpc
            };
            (
                s["spec"]["proxyProtocol"].as_str().unwrap_or("unknown"),
                authorizations(objects, ns, "policy.linkerd.io", "Server", name),
                http,
                grpc,
            )
        }
    };
    let call = &match *call {
        Call::Http1 { .. } if matches!(protocol, "HTTP/2" | "gRPC") => return false,
        Call::Http1 { method, path } => Call::Http { method, path },
        other => other,
    };
    let routes = match (protocol, call) {
        (_, Call::Tcp) => {
            // Not HTTP: an opaque or detecting server authorizes the connection itself; an
            // HTTP or gRPC server cannot serve it.
            return matches!(protocol, "opaque" | "TLS" | "unknown")
                && server_authz.iter().any(|a| a.admits(client));
        }
        ("unknown" | "HTTP/1" | "HTTP/2", _) => http_routes,
        ("gRPC", _) => grpc_routes,
        _ => return false, // opaque or TLS: HTTP is not served as HTTP
    };
    // The best match over every rule of every route; ties keep the first.
    let mut best: Option<((usize, usize, bool), &Route)> = None;
    for route in &routes {
        for rule in &route.rules {
            let score = if rule.is_empty() {
                Some((
                    usize::from(matches!(protocol, "unknown" | "HTTP/1" | "HTTP/2")),
                    0,
                    false,
                ))
            } else {
                rule.iter().filter_map(|m| m.score(call)).max()
            };
            if let Some(sc) = score
                && best.as_ref().is_none_or(|(b, _)| sc > *b)
            {
                best = Some((sc, route));
            }
        }
    }
    let Some((_, route)) = best else {
        return false; // no route: 404
    };
    route
        .authz
        .iter()
        .chain(server_authz.iter())
        .any(|a| a.admits(client))
}

/// A request of the application's own on a port of this protocol.
pub(crate) fn app_call(protocol: nestioc::model::Protocol) -> Call<'static> {
    match protocol {
        nestioc::model::Protocol::Http => Call::Http {
            method: "GET",
            path: "/nestio-test/orders",
        },
        nestioc::model::Protocol::Grpc => Call::Http {
            method: "POST",
            path: "/nestio.test.Orders/Get",
        },
        nestioc::model::Protocol::Tcp => Call::Tcp,
    }
}

/// Every probe of every meshed pod of every Linkerd project (the shop under Linkerd, the
/// examples and fixtures that choose Linkerd) passes under `deny`; the only requests an
/// unauthenticated client gets through are exactly those probes and Prometheus' scrape of
/// `/metrics` on the admin port (which the NetworkPolicy admits from the monitoring
/// namespace only); a meshed service gets its application requests through if and only
/// if it declares the edge.
#[test]
fn every_probe_passes_under_deny_and_nothing_else_is_opened() {
    let (_keep, dirs) = crate::policy::linkerd_projects();
    let (mut probes, mut tcp_probes, mut refused) = (0, 0, 0);
    let other_calls: Vec<Call<'_>> = vec![
        Call::Http {
            method: "GET",
            path: "/",
        },
        Call::Http {
            method: "GET",
            path: "/metrics",
        },
        Call::Http {
            method: "POST",
            path: "/metrics",
        },
        Call::Http {
            method: "GET",
            path: "/live",
        },
        Call::Http {
            method: "GET",
            path: "/ready",
        },
        Call::Http {
            method: "GET",
            path: "/shutdown",
        },
        Call::Http {
            method: "PUT",
            path: "/proxy-log-level",
        },
        Call::Http {
            method: "GET",
            path: "/env.json",
        },
        Call::Http {
            method: "POST",
            path: "/grpc.health.v1.Health/Check",
        },
        Call::Http {
            method: "POST",
            path: "/grpc.health.v1.Health/Watch",
        },
        Call::Http {
            method: "GET",
            path: "/grpc.health.v1.Health/Check",
        },
        app_call(nestioc::model::Protocol::Http),
        app_call(nestioc::model::Protocol::Grpc),
        Call::Tcp,
    ];
    for dir in &dirs {
        let built = crate::policy::build(dir);
        for (ns, objects) in &built.envs {
            for service in built.model.services.values() {
                let Some(pod) = pod(objects, &service.name) else {
                    panic!("{}: {} is not meshed", dir.display(), service.name);
                };
                let where_ = format!("{} {ns} {}", dir.display(), service.name);
                let mut open: Vec<(u16, String, String)> =
                    vec![(4191, "GET".into(), "/metrics".into())];
                for (kind, port, request) in pod.probes() {
                    match (kind, request) {
                        ("httpGet" | "grpc", Some((method, path))) => {
                            let call = if kind == "httpGet" {
                                Call::Http1 {
                                    method: &method,
                                    path: &path,
                                }
                            } else {
                                Call::Http {
                                    method: &method,
                                    path: &path,
                                }
                            };
                            assert!(
                                admits(objects, ns, &service.name, port, &KUBELET, &call),
                                "{where_}: the kubelet's {kind} probe {method} {path} on {port} is refused"
                            );
                            open.push((port, method, path));
                            probes += 1;
                        }
                        // Passes while the proxy runs, whatever the policy: see the module doc.
                        ("tcpSocket", _) => tcp_probes += 1,
                        ("exec", _) => {}
                        (k, _) => panic!("{where_}: unknown probe {k}"),
                    }
                }
                // A published port (`expose node-port=`/`load-balancer=`) takes every
                // client, with or without an identity: its callers are outside the cluster.
                // Within what the port's Server speaks: raw TCP on an HTTP or gRPC Server is
                // not a request that any authorization admits.
                let published = service
                    .publish_port()
                    .filter(|_| service.publish.is_some())
                    .map(|p| p.target);
                let published_tcp = service
                    .publish_port()
                    .is_some_and(|p| p.protocol == nestioc::model::Protocol::Tcp);
                for port in pod.ports() {
                    for call in other_calls.iter().chain(
                        open.iter()
                            .map(|(_, m, p)| Call::Http { method: m, path: p })
                            .collect::<Vec<_>>()
                            .iter(),
                    ) {
                        let is_open = (published == Some(port)
                            && (published_tcp || !matches!(call, Call::Tcp)))
                            || match call {
                                Call::Http { method, path } | Call::Http1 { method, path } => open
                                    .iter()
                                    .any(|(p, m, pa)| *p == port && m == method && pa == path),
                                Call::Tcp => false,
                            };
                        for client in [KUBELET, Client::unmeshed()] {
                            let got = admits(objects, ns, &service.name, port, &client, call);
                            assert_eq!(
                                got, is_open,
                                "{where_}: {call:?} on {port} from {client:?}"
                            );
                            refused += usize::from(!got);
                        }
                    }
                }
                // Meshed services: the application's requests iff declared.
                for caller in built.model.services.values() {
                    for p in &service.ports {
                        let declared = caller.depends_on.iter().any(|d| {
                            d.target.value == service.name
                                && d.port.as_ref().map_or_else(
                                    || service.ports.first().is_some_and(|f| f.name == p.name),
                                    |n| n.value == p.name,
                                )
                        });
                        let got = admits(
                            objects,
                            ns,
                            &service.name,
                            p.target,
                            &Client::meshed(&caller.name, ns),
                            &app_call(p.protocol),
                        );
                        assert_eq!(
                            got,
                            (declared && caller.name != service.name)
                                || published == Some(p.target),
                            "{where_}: {} -> {}:{}",
                            caller.name,
                            service.name,
                            p.name
                        );
                    }
                }
                if let Some(p) = service.expose_port().filter(|_| service.expose.is_some()) {
                    assert!(
                        admits(
                            objects,
                            ns,
                            &service.name,
                            p.target,
                            &Client::meshed("ingress-nginx", "ingress-nginx"),
                            &app_call(p.protocol),
                        ),
                        "{where_}: the ingress controller on the exposed port"
                    );
                }
            }
        }
    }
    assert!(
        probes > 50 && tcp_probes > 0 && refused > 1000,
        "{probes} {tcp_probes} {refused}"
    );
}

/// What the evaluator says about today's output is what Linkerd would do: without the
/// probe routes, a gRPC probe is refused (the issue); with an HTTPRoute attached to a
/// Server, the synthesized probe route is gone.
#[test]
fn the_evaluator_refuses_what_linkerd_refuses() {
    let (_t, dir) = crate::support::shop_with_mesh("linkerd");
    let built = crate::policy::build(&dir);
    let (ns, objects) = &built.envs[0];
    let check = Call::Http {
        method: "POST",
        path: "/grpc.health.v1.Health/Check",
    };
    assert!(admits(objects, ns, "payments", 50051, &KUBELET, &check));
    let without: Vec<Value> = objects
        .iter()
        .filter(|o| {
            !(o["kind"] == "GRPCRoute"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("payments-grpc-")))
        })
        .cloned()
        .collect();
    assert!(!admits(&without, ns, "payments", 50051, &KUBELET, &check));
    // An HTTP service's probe path is authorized by the synthesized route only while no
    // HTTPRoute is attached to its Server.
    let ready = Call::Http {
        method: "GET",
        path: "/healthz",
    };
    assert!(admits(objects, ns, "reviews", 8080, &KUBELET, &ready));
    let mut with_route = objects.clone();
    with_route.push(serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "reviews-extra", "namespace": ns},
        "spec": {
            "parentRefs": [{"group": "policy.linkerd.io", "kind": "Server", "name": "reviews-http"}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
        },
    }));
    assert!(!admits(&with_route, ns, "reviews", 8080, &KUBELET, &ready));
    // Prometheus' scrape needs the admin routes.
    let metrics = Call::Http {
        method: "GET",
        path: "/metrics",
    };
    assert!(admits(
        objects,
        ns,
        "reviews",
        4191,
        &Client::unmeshed(),
        &metrics
    ));
    let no_admin: Vec<Value> = objects
        .iter()
        .filter(|o| {
            !o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("reviews-linkerd-proxy"))
        })
        .cloned()
        .collect();
    assert!(!admits(
        &no_admin,
        ns,
        "reviews",
        4191,
        &Client::unmeshed(),
        &metrics
    ));
    assert!(admits(
        &no_admin,
        ns,
        "reviews",
        4191,
        &KUBELET,
        &Call::Http {
            method: "GET",
            path: "/ready"
        }
    ));
}
