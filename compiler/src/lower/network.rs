//! What a service listens on, calls and exposes: ports, `depends-on` and `expose`.

use rust_decimal::Decimal;

use super::checks::{check_host, check_http_path};
use super::names;
use super::read::{
    arg_str, child, int_of, percent_of, prop_bool, prop_duration, prop_str, prop_u32, spanned_str,
    str_of,
};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::model::values::{Duration, Percent};
use crate::model::{CircuitBreaker, Dependency, Expose, Port, Protocol, Publish, Spanned};
use crate::source::Span;
use crate::suggest;
use crate::syntax::{Node, Value};

pub(super) fn lower_ports(kids: &[Node], diags: &mut Diagnostics) -> Vec<Port> {
    let mut ports: Vec<Port> = Vec::new();
    for n in kids.iter().filter(|c| c.name == "port") {
        let (Some(name), Some(port_entry)) = (arg_str(n, 0), n.arg(1)) else {
            continue;
        };
        if names::check_port_name(&name).is_err() {
            continue;
        }
        let Some(port) = int_of(port_entry)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
        else {
            continue;
        };
        let target = n
            .prop("target")
            .and_then(int_of)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .unwrap_or(port);
        if let Some(other) = ports.iter().find(|p| p.port == port) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("port {port} is declared twice"),
                )
                .with_label(port_entry.value_span, "declared again here")
                .with_secondary(other.span, format!("already used by `{}`", other.name))
                .with_help("each port number can be used once per service"),
            );
            continue;
        }
        if let Some(other) = ports.iter().find(|p| p.target == target) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("container port {target} is the target of two ports"),
                )
                .with_label(n.head_span(), format!("targets {target}"))
                .with_secondary(other.span, format!("`{}` targets it too", other.name))
                .with_help("give each port its own container port with `target=`"),
            );
            continue;
        }
        let protocol = match prop_str(n, "protocol").as_deref() {
            Some("grpc") => Protocol::Grpc,
            Some("tcp") => Protocol::Tcp,
            _ => Protocol::Http,
        };
        ports.push(Port {
            name,
            port,
            target,
            protocol,
            sidecar: None,
            span: n.ident_span(),
        });
    }
    ports
}

/// A diagnostic for a port name that the service does not declare.
#[must_use]
pub fn unknown_port(service: &str, name: &str, span: Span, ports: &[Port]) -> Diagnostic {
    Diagnostic::error(
        Code::UnknownPort,
        format!("service `{service}` has no port `{name}`"),
    )
    .with_label(span, "no port with this name")
    .with_help(if ports.is_empty() {
        format!("`{service}` declares no ports (it is a worker)")
    } else {
        suggest::help_for(name, ports.iter().map(|p| p.name.as_str()), "port")
    })
}

pub(super) fn lower_dependency(n: &Node) -> Option<Dependency> {
    let target_entry = n.arg(0)?;
    let target = str_of(target_entry)?;
    if names::check_dns_label(&target, "service").is_err() {
        return None;
    }
    let circuit_breaker = child(&n.children, "circuit-breaker").map(|cb| CircuitBreaker {
        consecutive_errors: prop_u32(cb, "consecutive-errors").unwrap_or(5),
        interval: prop_duration(cb, "interval").map_or(Duration::from_millis(10_000), |d| d.value),
        ejection: prop_duration(cb, "ejection").map_or(Duration::from_millis(30_000), |d| d.value),
        max_ejection: cb
            .prop("max-ejection")
            .and_then(percent_of)
            .unwrap_or(Percent(Decimal::from(50))),
        max_connections: prop_u32(cb, "max-connections"),
        max_pending: prop_u32(cb, "max-pending"),
        max_requests: prop_u32(cb, "max-requests"),
        span: cb.head_span(),
    });
    Some(Dependency {
        target: Spanned::new(target, target_entry.value_span),
        env: spanned_str(n, "env"),
        port: spanned_str(n, "port"),
        timeout: prop_duration(n, "timeout"),
        retries: n.prop("retries").and_then(|e| {
            int_of(e)
                .and_then(|r| u32::try_from(r).ok())
                .map(|r| Spanned::new(r, e.value_span))
        }),
        optional: prop_bool(n, "optional").unwrap_or(false),
        fallback: spanned_str(n, "fallback"),
        circuit_breaker,
        span: n.head_span(),
    })
}

/// `expose`: the ingress form (`host=`), or a port published by a Service of type
/// NodePort or LoadBalancer (`node-port=`, `load-balancer=#true`), never both: the ingress
/// terminates TLS and authorizes through the ingress controller or gateway, and a node
/// port on the same service would be a second door that skips both.
pub(super) fn lower_expose(n: &Node, diags: &mut Diagnostics) -> (Option<Expose>, Option<Publish>) {
    let node_port = n.prop("node-port").and_then(|e| {
        // Out of range is NST0105, from the language table.
        let p = u16::try_from(int_of(e)?)
            .ok()
            .filter(|p| (30000..=32767).contains(p))?;
        Some(Spanned::new(p, e.value_span))
    });
    let load_balancer = n.prop("load-balancer");
    let lb = load_balancer.is_some_and(|e| e.value == Value::Bool(true));
    let publishes = n.prop("node-port").is_some() || lb;
    let Some(host_entry) = n.prop("host") else {
        if publishes {
            for key in ["path", "tls-secret"] {
                if let Some(e) = n.prop(key) {
                    diags.push(
                        Diagnostic::error(
                            Code::ConflictingEntries,
                            format!("`{key}` applies to `expose host=`, not to a published port"),
                        )
                        .with_label(e.span, "ignored")
                        .with_secondary(n.head_span(), "published on the nodes or a load balancer: plain TCP, no host, path or TLS")
                        .with_help(format!(
                            "remove `{key}`, or expose HTTP through the ingress with `host=` instead"
                        )),
                    );
                }
            }
            let publish = Publish {
                load_balancer: lb,
                node_port,
                port_name: spanned_str(n, "port"),
                span: n.head_span(),
            };
            return (None, Some(publish));
        }
        // Nothing says how: `host=` is the usual form.
        if load_balancer.is_none() {
            diags.push(
                Diagnostic::error(Code::MissingValue, "`expose` says neither how nor where")
                    .with_label(n.head_span(), "no `host=`, `node-port=` or `load-balancer=`")
                    .with_help(
                        "expose HTTP on a host (`expose host=\"shop.example.com\"`), or publish a port: `expose node-port=30080` or `expose load-balancer=#true`",
                    ),
            );
        } else if let Some(e) = load_balancer {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    "`expose load-balancer=#false` exposes nothing",
                )
                .with_label(e.span, "no load balancer")
                .with_help("remove `expose` to keep the service inside the cluster"),
            );
        }
        return (None, None);
    };
    if publishes {
        let other = n
            .prop("node-port")
            .or(load_balancer)
            .map_or(n.head_span(), |e| e.span);
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                "`expose` names a host and publishes a port: choose one",
            )
            .with_label(other, "publishes the port on the nodes or a load balancer")
            .with_secondary(host_entry.span, "serves HTTP through the ingress")
            .with_help("keep `host=` for HTTP through the ingress (TLS, the gateway's authorization), or `node-port=`/`load-balancer=#true` for the port itself; a node port beside the ingress would reach the pods without either")
            .with_note("one `expose` per service; a port published beside the ingress would bypass the ingress controller's TLS and the mesh gateway's authorization"),
        );
        return (None, None);
    }
    let Some(host) = str_of(host_entry) else {
        return (None, None);
    };
    if let Err(d) = check_host(&host).at(host_entry.value_span) {
        diags.push(d);
        return (None, None);
    }
    let path = prop_str(n, "path").unwrap_or_else(|| "/".into());
    if let Some(e) = n.prop("path")
        && let Err(d) = check_http_path(&path).at(e.value_span)
    {
        diags.push(d);
        return (None, None);
    }
    let expose = Expose {
        host,
        path,
        port_name: spanned_str(n, "port"),
        tls_secret: prop_str(n, "tls-secret"),
        span: n.head_span(),
    };
    (Some(expose), None)
}
