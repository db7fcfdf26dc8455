//! The policy equals the graph. A small evaluator of the objects nestioc emits
//! (NetworkPolicy, Istio AuthorizationPolicy and VirtualService, Linkerd Server,
//! AuthorizationPolicy, MeshTLSAuthentication and routes) decides, for every ordered pair
//! of services and every port, whether the call is allowed; it must be allowed if and only
//! if a `depends-on` edge declares it. Mutating any policy to let one more caller in must
//! be caught. Each edge's timeout and retries must be on exactly that edge's route.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::{compile, root, shop_with_mesh};

pub(crate) struct Built {
    pub model: nestioc::model::Model,
    /// environment namespace -> every object of kubernetes/<env>/
    pub envs: Vec<(String, Vec<Value>)>,
}

pub(crate) fn build(dir: &Path) -> Built {
    let c = compile(dir, &nestioc::Options::default());
    assert!(
        !c.analysis.has_errors(),
        "{}",
        crate::support::render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    let model = c.analysis.model.expect("model");
    let mut envs = Vec::new();
    for env in model.project.environments() {
        let mut objects = Vec::new();
        for (path, art) in &set.files {
            if path.starts_with(&format!("kubernetes/{}/", env.name)) {
                objects.extend(
                    serde_saphyr::from_multiple::<Value>(&art.contents)
                        .expect("yaml")
                        .into_iter()
                        .filter(|d| !d.is_null()),
                );
            }
        }
        envs.push((env.namespace.clone(), objects));
    }
    Built { model, envs }
}

fn kind<'a>(objects: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| o["kind"] == k)
}

fn app(labels: &Value) -> Option<&str> {
    labels["app.kubernetes.io/name"].as_str()
}

fn ports_allow(ports: &Value, port: &str) -> bool {
    match ports.as_array() {
        None => true,
        Some(list) => list.iter().any(|p| {
            p.as_str() == Some(port)
                || p.as_u64().map(|n| n.to_string()).as_deref() == Some(port)
                || p["port"].as_u64().map(|n| n.to_string()).as_deref() == Some(port)
        }),
    }
}

/// A pod, as a NetworkPolicy sees it: its namespace and its `app.kubernetes.io/name`
/// label (`None`: a pod without one, e.g. Prometheus or the ingress controller).
#[derive(Clone, Copy)]
pub(crate) struct Pod<'a> {
    pub ns: &'a str,
    pub app: Option<&'a str>,
}

/// `matchLabels` against a pod's or a namespace's labels (a missing or empty selector
/// selects everything). Our selectors use `matchLabels` only; anything else is refused
/// rather than guessed.
fn selector_matches(selector: &Value, labels: &[(&str, &str)]) -> bool {
    if selector.is_null() {
        return true;
    }
    assert!(
        selector.get("matchExpressions").is_none(),
        "the evaluator does not read matchExpressions: {selector}"
    );
    selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| {
            labels
                .iter()
                .any(|(lk, lv)| lk == k && v.as_str() == Some(lv))
        })
}

/// The labels our charts give a service's pods (the selector labels).
fn pod_labels<'a>(pod: &Pod<'a>) -> Vec<(&'a str, &'a str)> {
    pod.app
        .map(|a| {
            vec![
                ("app.kubernetes.io/name", a),
                ("app.kubernetes.io/instance", a),
            ]
        })
        .unwrap_or_default()
}

/// A `from`/`to` peer (kubernetes.io/docs/concepts/services-networking/network-policies/,
/// "Behavior of to and from selectors"): `podSelector` alone selects pods in the policy's
/// namespace; `namespaceSelector` alone, every pod of the selected namespaces (namespaces
/// carry `kubernetes.io/metadata.name`); both, the selected pods of the selected
/// namespaces. `ipBlock` is for cluster-external addresses and is not read here: it would
/// only add callers, never remove one.
fn peer_matches(peer: &Value, policy_ns: &str, pod: &Pod<'_>) -> bool {
    if peer.get("ipBlock").is_some() {
        return false;
    }
    let ns_ok = match peer.get("namespaceSelector") {
        Some(sel) => selector_matches(sel, &[("kubernetes.io/metadata.name", pod.ns)]),
        None => pod.ns == policy_ns,
    };
    ns_ok
        && selector_matches(
            peer.get("podSelector").unwrap_or(&Value::Null),
            &pod_labels(pod),
        )
}

/// Whether a rule's `ports` admit a TCP port (no `ports`: every port).
fn rule_ports_admit(ports: &Value, port: u16) -> bool {
    match ports.as_array() {
        None => true,
        Some(list) => list.iter().any(|p| {
            p["protocol"].as_str().unwrap_or("TCP") == "TCP"
                && match p.get("endPort").and_then(Value::as_u64) {
                    Some(end) => (p["port"].as_u64().unwrap_or(0)..=end).contains(&u64::from(port)),
                    None => p["port"].as_u64() == Some(u64::from(port)),
                }
        }),
    }
}

/// Kubernetes NetworkPolicy semantics for one TCP connection from pod `from` to pod `to`
/// on `port` (the port on the wire): allowed when no policy isolates `to` for ingress or
/// one of its ingress rules admits it, and likewise for `from`'s egress.
pub(crate) fn network_admits(objects: &[Value], from: &Pod<'_>, to: &Pod<'_>, port: u16) -> bool {
    let direction_ok = |pod: &Pod<'_>, other: &Pod<'_>, dir: &str, peers: &str| {
        let policies: Vec<&Value> = kind(objects, "NetworkPolicy")
            .filter(|np| np["metadata"]["namespace"].as_str() == Some(pod.ns))
            .filter(|np| selector_matches(&np["spec"]["podSelector"], &pod_labels(pod)))
            .filter(|np| {
                np["spec"]["policyTypes"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == dir))
            })
            .collect();
        policies.is_empty()
            || policies.iter().any(|np| {
                let ns = np["metadata"]["namespace"].as_str().unwrap_or_default();
                np["spec"][dir.to_lowercase()]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|rule| {
                        rule[peers]
                            .as_array()
                            .is_none_or(|ps| ps.iter().any(|p| peer_matches(p, ns, other)))
                            && rule_ports_admit(&rule["ports"], port)
                    })
            })
    };
    direction_ok(to, from, "Ingress", "from") && direction_ok(from, to, "Egress", "to")
}

fn network_allows(objects: &[Value], ns: &str, from: &str, to: &str, target_port: u16) -> bool {
    network_admits(
        objects,
        &Pod {
            ns,
            app: Some(from),
        },
        &Pod { ns, app: Some(to) },
        target_port,
    )
}

/// Istio AuthorizationPolicy semantics (ALLOW policies only; we emit no DENY).
fn istio_allows(objects: &[Value], ns: &str, from: &str, to: &str, target_port: u16) -> bool {
    let port = target_port.to_string();
    let principal = format!("cluster.local/ns/{ns}/sa/{from}");
    let policies: Vec<&Value> = kind(objects, "AuthorizationPolicy")
        .filter(|p| {
            p["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("security.istio.io"))
        })
        .filter(|p| {
            p["spec"]["selector"].is_null()
                || app(&p["spec"]["selector"]["matchLabels"]) == Some(to)
        })
        .collect();
    if policies.is_empty() {
        return true;
    }
    policies.iter().any(|p| {
        p["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                let from_ok = rule["from"].as_array().is_none_or(|sources| {
                    sources.iter().any(|s| {
                        s["source"]["principals"].as_array().is_none_or(|ps| {
                            ps.iter()
                                .any(|x| x.as_str() == Some(&principal) || x.as_str() == Some("*"))
                        })
                    })
                });
                let to_ok = rule["to"].as_array().is_none_or(|ops| {
                    ops.iter()
                        .any(|o| ports_allow(&o["operation"]["ports"], &port))
                });
                from_ok && to_ok
            })
    })
}

/// Linkerd policy semantics with `default-inbound-policy: deny` on every pod: an
/// application request of the port's protocol from the caller's identity
/// (`linkerd_policy.rs` encodes the policy controller and the proxy).
fn linkerd_allows(
    objects: &[Value],
    ns: &str,
    from: &str,
    to: &str,
    port: &nestioc::model::Port,
) -> bool {
    crate::linkerd_policy::admits(
        objects,
        ns,
        to,
        port.target,
        &crate::linkerd_policy::Client::meshed(from, ns),
        &crate::linkerd_policy::app_call(port.protocol),
    )
}

/// Every (caller, callee, port) where the evaluated policy and the graph disagree.
fn violations(model: &nestioc::model::Model, ns: &str, objects: &[Value]) -> Vec<String> {
    let mesh = model.project.mesh;
    let mut declared: BTreeSet<(String, String, String)> = BTreeSet::new();
    for caller in model.services.values() {
        for dep in &caller.depends_on {
            if let Some(callee) = model.services.get(&dep.target.value) {
                let port = dep
                    .port
                    .as_ref()
                    .and_then(|p| callee.port(&p.value))
                    .or(callee.ports.first());
                if let Some(p) = port {
                    declared.insert((caller.name.clone(), callee.name.clone(), p.name.clone()));
                }
            }
        }
    }
    // A published port (`expose node-port=`/`load-balancer=`, in this environment) takes
    // every client: its callers are outside the cluster, so no peer can be named.
    let env = model
        .project
        .environments()
        .into_iter()
        .find(|e| e.namespace == ns)
        .expect("an environment of this namespace");
    let published: BTreeSet<(String, String)> = model
        .services
        .values()
        .filter_map(|svc| {
            let publish = model.publish_in(&env, svc)?;
            let port = match &publish.port_name {
                Some(name) => svc.port(&name.value),
                None => svc.ports.first(),
            }?;
            Some((svc.name.clone(), port.name.clone()))
        })
        .collect();
    let mut out = Vec::new();
    for a in model.services.values() {
        for b in model.services.values() {
            if a.name == b.name {
                continue;
            }
            for p in &b.ports {
                let declared = declared.contains(&(a.name.clone(), b.name.clone(), p.name.clone()));
                let published = published.contains(&(b.name.clone(), p.name.clone()));
                // The NetworkPolicy admits a published port's outside callers by `ipBlock`,
                // which this evaluator does not read (whether a CNI matches pod addresses
                // with it is implementation-defined), so in-cluster pods need their edge
                // there; the mesh admits every client on a published port.
                let mut layers = vec![(
                    "NetworkPolicy",
                    network_allows(objects, ns, &a.name, &b.name, p.target),
                    declared,
                )];
                match mesh {
                    nestioc::model::Mesh::Istio => layers.push((
                        "Istio",
                        istio_allows(objects, ns, &a.name, &b.name, p.target),
                        declared || published,
                    )),
                    nestioc::model::Mesh::Linkerd => layers.push((
                        "Linkerd",
                        linkerd_allows(objects, ns, &a.name, &b.name, p),
                        declared || published,
                    )),
                    nestioc::model::Mesh::None => {}
                }
                for (layer, got, want) in layers {
                    if got != want {
                        out.push(format!(
                            "{layer}: {} -> {}:{} is {} but the graph {} it",
                            a.name,
                            b.name,
                            p.name,
                            if got { "allowed" } else { "denied" },
                            if want { "declares" } else { "does not declare" }
                        ));
                    }
                }
            }
        }
    }
    // A pod of the namespace that is none of the services (a debug pod, a compromised
    // job) reaches no service port.
    for b in model.services.values() {
        for p in &b.ports {
            let to = Pod {
                ns,
                app: Some(&b.name),
            };
            if network_admits(objects, &Pod { ns, app: None }, &to, p.target) {
                out.push(format!(
                    "NetworkPolicy: an unlabelled pod -> {}:{} is allowed",
                    b.name, p.name
                ));
            }
        }
    }
    out
}

fn check_allowed_iff_declared(dir: &Path) -> usize {
    let built = build(dir);
    let mut pairs = 0;
    for (ns, objects) in &built.envs {
        let v = violations(&built.model, ns, objects);
        assert!(v.is_empty(), "{} in {ns}:\n{}", dir.display(), v.join("\n"));
        pairs += built.model.services.len() * built.model.services.len();
    }
    pairs
}

#[test]
fn allowed_iff_declared_for_every_example_and_mesh() {
    for mesh in ["istio", "linkerd", "none"] {
        let (_t, dir) = shop_with_mesh(mesh);
        assert!(check_allowed_iff_declared(&dir) > 100);
    }
    for example in crate::support::subdirs(&root().join("examples")) {
        check_allowed_iff_declared(&example);
    }
    for fixture in [
        "grpc-mesh-dependencies",
        "exposed-tls-canary",
        "merge-precedence",
    ] {
        check_allowed_iff_declared(&root().join("tests/fixtures/valid").join(fixture));
    }
}

#[test]
fn a_loosened_policy_is_caught() {
    // Istio: one more principal on one AuthorizationPolicy.
    let (_t, dir) = shop_with_mesh("istio");
    let built = build(&dir);
    let (ns, objects) = &built.envs[0];
    let mut mutated = objects.clone();
    let ap = mutated
        .iter_mut()
        .find(|o| o["kind"] == "AuthorizationPolicy" && o["metadata"]["name"] == "payments")
        .expect("payments policy");
    ap["spec"]["rules"][0]["from"][0]["source"]["principals"]
        .as_array_mut()
        .expect("principals")
        .push(Value::String(format!(
            "cluster.local/ns/{ns}/sa/storefront"
        )));
    let v = violations(&built.model, ns, &mutated);
    assert!(
        v.iter()
            .any(|x| x.contains("Istio: storefront -> payments")),
        "{v:?}"
    );

    // NetworkPolicy: a rule that forgets its port restriction.
    let mut mutated = objects.clone();
    let np = mutated
        .iter_mut()
        .find(|o| o["kind"] == "NetworkPolicy" && o["metadata"]["name"] == "payments")
        .expect("payments network policy");
    np["spec"]["ingress"][0]["from"] = serde_json::json!([{"podSelector": {}}]);
    let v = violations(&built.model, ns, &mutated);
    assert!(
        !v.is_empty(),
        "opening payments to every pod must be caught"
    );

    // Linkerd: one more identity on one MeshTLSAuthentication.
    let (_t, dir) = shop_with_mesh("linkerd");
    let built = build(&dir);
    let (ns, objects) = &built.envs[0];
    let mut mutated = objects.clone();
    let auth = mutated
        .iter_mut()
        .find(|o| o["kind"] == "MeshTLSAuthentication" && o["metadata"]["name"] == "inventory-grpc")
        .expect("inventory authentication");
    auth["spec"]["identityRefs"]
        .as_array_mut()
        .expect("identityRefs")
        .push(serde_json::json!({"kind": "ServiceAccount", "name": "email"}));
    let v = violations(&built.model, ns, &mutated);
    assert!(
        v.iter().any(|x| x.contains("Linkerd: email -> inventory")),
        "{v:?}"
    );
}

/// Istio's built-in retry conditions (istio/istio pilot/pkg/networking/core/route/retry/
/// retry.go L36-37: `defaultNumRetries = 2`, `defaultRetryOn = "connect-failure,
/// refused-stream,unavailable,cancelled,retriable-status-codes"`).
const ISTIO_DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// The retry policy Envoy gets for one VirtualService HTTP route, as istiod computes it
/// (mesh config without `defaultHttpRetryPolicy`, as the playbook installs it):
/// route.go L680-684 uses the mesh default when the route has no `retries`, and
/// retry.go `ConvertPolicy` (L107-135) gives the cached default for nil, no policy for
/// `attempts <= 0` (L116-119), else `attempts` retries on `retryOn` or the default
/// conditions. `None`: no retries.
fn envoy_retry_policy(route: &Value) -> Option<(u64, &str)> {
    let Some(retries) = route.get("retries") else {
        return Some((2, ISTIO_DEFAULT_RETRY_ON));
    };
    let attempts = retries["attempts"].as_u64().unwrap_or(0);
    if attempts == 0 {
        return None;
    }
    Some((
        attempts,
        retries["retryOn"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or(ISTIO_DEFAULT_RETRY_ON),
    ))
}

#[test]
fn an_edge_without_retries_keeps_istios_default_retries() {
    // The regression of issue 15 item 17: `depends-on` without `retries=` wrote
    // `retries: {attempts: 0}`, which switches off the connect-failure retries that every
    // undeclared caller keeps on the default route.
    let (_t, dir) = shop_with_mesh("istio");
    let built = build(&dir);
    let (_, objects) = &built.envs[0];
    let mut without = 0;
    for vs in kind(objects, "VirtualService") {
        let routes: Vec<&Value> = vs["spec"]["http"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let Some(default) = routes.iter().find(|r| r["name"] == "default") else {
            continue;
        };
        assert_eq!(
            envoy_retry_policy(default),
            Some((2, ISTIO_DEFAULT_RETRY_ON)),
            "{}: the default route",
            vs["metadata"]["name"]
        );
        for r in &routes {
            let Some(caller) = r["match"][0]["sourceLabels"]["app.kubernetes.io/name"].as_str()
            else {
                continue;
            };
            let callee = vs["metadata"]["name"].as_str().unwrap_or_default();
            let declared = built.model.services[caller]
                .depends_on
                .iter()
                .find(|d| d.target.value == callee)
                .and_then(|d| d.retries.as_ref());
            if declared.is_none() {
                without += 1;
                assert!(
                    r.get("retries").is_none(),
                    "{caller} -> {callee}: {}",
                    r["retries"]
                );
                assert_eq!(envoy_retry_policy(r), envoy_retry_policy(default));
            }
        }
    }
    assert!(
        without >= 5,
        "the shop has edges without retries: {without}"
    );
}

fn istio_duration(d: &nestioc::model::values::Duration) -> String {
    format!("{}s", d.seconds_string())
}

#[test]
fn every_edge_timeout_and_retry_is_on_exactly_its_route() {
    let (_t, dir) = shop_with_mesh("istio");
    let built = build(&dir);
    let (_, objects) = &built.envs[0];
    let mut checked = 0;
    for caller in built.model.services.values() {
        for dep in &caller.depends_on {
            let callee = &built.model.services[&dep.target.value];
            if callee
                .ports
                .first()
                .is_some_and(|p| p.protocol == nestioc::model::Protocol::Tcp)
            {
                continue; // TCP: no request routes (timeouts there are NST0311)
            }
            let vs = kind(objects, "VirtualService")
                .find(|v| v["metadata"]["name"].as_str() == Some(callee.name.as_str()))
                .unwrap_or_else(|| panic!("no VirtualService for {}", callee.name));
            let routes: Vec<&Value> = vs["spec"]["http"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| {
                    r["match"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|m| app(&m["sourceLabels"]) == Some(caller.name.as_str()))
                })
                .collect();
            assert_eq!(
                routes.len(),
                1,
                "{} -> {}: one route per edge",
                caller.name,
                callee.name
            );
            let r = routes[0];
            let retries = dep.retries.as_ref().map_or(0, |r| r.value);
            let (attempts, retry_on) =
                envoy_retry_policy(r).map_or((0, String::new()), |(n, on)| (n, on.to_owned()));
            match &dep.retries {
                // Not declaring retries is not worse than not declaring the edge: the
                // caller keeps what the default route gives everyone else.
                None => assert_eq!(
                    envoy_retry_policy(r),
                    envoy_retry_policy(&serde_json::json!({})),
                    "{} -> {}: Istio's default retries",
                    caller.name,
                    callee.name
                ),
                Some(n) => {
                    assert_eq!(
                        attempts,
                        u64::from(n.value),
                        "{} -> {}",
                        caller.name,
                        callee.name
                    );
                    if n.value > 0 {
                        assert_eq!(retry_on, ISTIO_DEFAULT_RETRY_ON, "{}", callee.name);
                    }
                }
            }
            match &dep.timeout {
                Some(t) => {
                    let total = nestioc::model::values::Duration::from_millis(
                        t.value.millis * (u64::from(retries) + 1),
                    );
                    assert_eq!(r["timeout"].as_str(), Some(istio_duration(&total).as_str()));
                    if retries > 0 {
                        assert_eq!(
                            r["retries"]["perTryTimeout"].as_str(),
                            Some(istio_duration(&t.value).as_str())
                        );
                    }
                }
                None => assert!(r.get("timeout").is_none()),
            }
            checked += 1;
        }
    }
    assert!(checked >= 15);
    // The DESIGN example edge: checkout -> payments, its circuit breaker on a rule that
    // applies to checkout only.
    let dr = kind(objects, "DestinationRule")
        .find(|d| d["metadata"]["name"] == "payments-from-checkout")
        .expect("checkout's DestinationRule for payments");
    assert_eq!(
        dr["spec"]["workloadSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "checkout"
    );
    assert_eq!(
        dr["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
        5
    );
}

#[test]
fn linkerd_routes_carry_the_policy_of_their_callers() {
    let (_t, dir) = shop_with_mesh("linkerd");
    let built = build(&dir);
    let (_, objects) = &built.envs[0];
    let mut checked = 0;
    for callee in built.model.services.values() {
        for port in callee
            .ports
            .iter()
            .filter(|p| p.protocol != nestioc::model::Protocol::Tcp)
        {
            let callers: Vec<&nestioc::model::Dependency> = built
                .model
                .services
                .values()
                .flat_map(|s| s.depends_on.iter())
                .filter(|d| d.target.value == callee.name)
                .filter(|d| d.port.as_ref().is_none_or(|p| p.value == port.name))
                .collect();
            let route = objects.iter().find(|o| {
                matches!(o["kind"].as_str(), Some("HTTPRoute" | "GRPCRoute"))
                    && o["metadata"]["name"].as_str()
                        == Some(&format!("{}-{}", callee.name, port.name))
            });
            if callers.is_empty() {
                assert!(route.is_none(), "{}: a route without callers", callee.name);
                continue;
            }
            let route =
                route.unwrap_or_else(|| panic!("no route for {}-{}", callee.name, port.name));
            let timeout = callers
                .iter()
                .filter_map(|d| d.timeout.as_ref().map(|t| t.value.clone()))
                .max();
            let retries = callers
                .iter()
                .map(|d| d.retries.as_ref().map_or(0, |r| r.value))
                .min()
                .unwrap_or(0);
            let ann = &route["metadata"]["annotations"];
            let limit = ann["retry.linkerd.io/limit"]
                .as_str()
                .map(|s| s.parse::<u32>().expect("number"));
            assert_eq!(limit.unwrap_or(0), retries, "{}-{}", callee.name, port.name);
            if retries == 0 {
                // Linkerd retries only when a route carries a retry annotation: with no
                // `retry.linkerd.io/limit`, `timeout` or condition, parse_http_retry and
                // parse_grpc_retry return no policy (linkerd2 policy-controller/k8s/index/
                // src/outbound/index/http.rs L371-438, grpc.rs L224-267). No caller asked
                // for retries, so none may appear.
                let keys: Vec<&String> = ann
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys())
                    .filter(|k| k.starts_with("retry.linkerd.io/"))
                    .collect();
                assert!(keys.is_empty(), "{}-{}: {keys:?}", callee.name, port.name);
            }
            match timeout {
                Some(t) => {
                    let total = nestioc::model::values::Duration::from_millis(
                        t.millis * (u64::from(retries) + 1),
                    );
                    assert_eq!(
                        ann["timeout.linkerd.io/request"].as_str(),
                        Some(total.canonical().as_str())
                    );
                }
                None => assert!(ann.get("timeout.linkerd.io/request").is_none()),
            }
            checked += 1;
        }
    }
    assert!(checked >= 8);
}

/// The Linkerd projects among the examples and fixtures, and the shop under Linkerd.
pub(crate) fn linkerd_projects() -> (Vec<tempfile::TempDir>, Vec<std::path::PathBuf>) {
    let (t, shop) = shop_with_mesh("linkerd");
    let mut dirs = vec![shop];
    for dir in crate::support::subdirs(&root().join("examples"))
        .into_iter()
        .chain(crate::support::subdirs(
            &root().join("tests/fixtures/valid"),
        ))
    {
        let kdl = std::fs::read_to_string(dir.join("nestio.kdl")).unwrap_or_default();
        if kdl.contains("mesh \"linkerd\"") {
            dirs.push(dir);
        }
    }
    (vec![t], dirs)
}

/// Linkerd's ports, and who may reach them through the NetworkPolicies.
///
/// Between meshed pods the wire carries the server proxy's inbound port, 4143: "Communication
/// between two meshed pods will always have its original target port replaced with the
/// proxy's inbound port (by default, `4143`) ... any `NetworkPolicy` which blocks the
/// Linkerd inbound port (`4143`) will block all meshed traffic" (linkerd/website
/// linkerd.io/content/2-edge/common-errors/network-policy.md L6-13). Since Linkerd 2.18 this
/// holds for every port, not only opaque ones: the chart's default
/// `proxy.outboundTransportMode: transport-header` (linkerd2
/// charts/linkerd-control-plane/values.yaml L253) makes the destination controller hint
/// `OpaqueTransport{InboundPort}` for every meshed endpoint (controller/api/destination/
/// endpoint_translator.go, `forceOpaqueTransport`). The redirect to the proxy happens
/// inside the pod (iptables PREROUTING, reference/iptables.md), after the CNI has applied
/// the NetworkPolicy to the port on the wire. The proxy's admin port, 4191, is not
/// redirected (proxy-init `--inbound-ports-to-ignore` lists it), and Prometheus scrapes it
/// there (job `linkerd-proxy`, port `linkerd-admin`).
///
/// So: 4143 from exactly the declared callers (and the meshed ingress controller of an
/// exposed service), the application ports too (unmeshed clients, `transparent` mode), and
/// 4191 from the monitoring namespace only, where the playbook installs Prometheus.
/// Nothing else, from anyone else.
#[test]
fn network_policy_admits_what_linkerd_puts_on_the_wire() {
    let monitoring = nestioc::emit::chart::MONITORING_NAMESPACE;
    let (_keep, dirs) = linkerd_projects();
    assert!(dirs.len() >= 3, "{dirs:?}");
    let mut checked = 0;
    for dir in &dirs {
        let built = build(dir);
        for (ns, objects) in &built.envs {
            let services: Vec<&nestioc::model::Service> =
                built.model.services.values().map(AsRef::as_ref).collect();
            // Declared (caller, callee) -> target ports.
            let mut declared: std::collections::BTreeMap<(&str, &str), BTreeSet<u16>> =
                std::collections::BTreeMap::new();
            for a in &services {
                for dep in &a.depends_on {
                    let Some(b) = built.model.services.get(&dep.target.value) else {
                        continue;
                    };
                    let port = dep
                        .port
                        .as_ref()
                        .and_then(|p| b.port(&p.value))
                        .or(b.ports.first());
                    if let Some(p) = port {
                        declared
                            .entry((a.name.as_str(), b.name.as_str()))
                            .or_default()
                            .insert(p.target);
                    }
                }
            }
            let strangers = [
                (
                    "a pod of the namespace without a service label",
                    Pod { ns, app: None },
                ),
                (
                    "a pod of another namespace",
                    Pod {
                        ns: "default",
                        app: Some("x"),
                    },
                ),
                (
                    "Prometheus",
                    Pod {
                        ns: monitoring,
                        app: Some("prometheus"),
                    },
                ),
                (
                    "the ingress controller",
                    Pod {
                        ns: "ingress-nginx",
                        app: Some("ingress-nginx"),
                    },
                ),
            ];
            for b in &services {
                let to = Pod {
                    ns,
                    app: Some(&b.name),
                };
                let mut ports: BTreeSet<u16> = b.ports.iter().map(|p| p.target).collect();
                ports.extend([4143, 4191, 4190, 15020, 15090, 8080]);
                let exposed = b.expose_port().map(|p| p.target);
                for port in &ports {
                    let port = *port;
                    for a in &services {
                        if a.name == b.name {
                            continue;
                        }
                        let calls = declared.get(&(a.name.as_str(), b.name.as_str()));
                        let want = calls.is_some_and(|t| port == 4143 || t.contains(&port));
                        let got = network_admits(
                            objects,
                            &Pod {
                                ns,
                                app: Some(&a.name),
                            },
                            &to,
                            port,
                        );
                        assert_eq!(
                            got,
                            want,
                            "{}: {} -> {}:{port} in {ns}",
                            dir.display(),
                            a.name,
                            b.name
                        );
                        checked += 1;
                    }
                    for (who, pod) in &strangers {
                        let want = match *who {
                            "Prometheus" => port == 4191,
                            "the ingress controller" => {
                                exposed.is_some_and(|e| port == e || port == 4143)
                            }
                            _ => false,
                        };
                        assert_eq!(
                            network_admits(objects, pod, &to, port),
                            want,
                            "{}: {who} -> {}:{port} in {ns}",
                            dir.display(),
                            b.name
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}
