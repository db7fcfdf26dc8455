//! Policy checks: tiers, rollouts, mesh-only features, exposure.

use std::collections::HashMap;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::graph::Topology;
use crate::lower::unknown_port;
use crate::model::{Cd, Mesh, Model, Protocol, RolloutKind};
use crate::source::Span;

/// A service must not require one two or more tiers less critical than itself: a
/// tier-1 service that needs a tier-3 one is only as reliable as the tier-3 one.
pub(super) fn tiers(model: &Model, topology: &Topology, diags: &mut Diagnostics) {
    for edge in topology.edges.iter().filter(|e| !e.optional()) {
        let (Some(caller), Some(callee)) = (
            model.services.get(&edge.caller),
            model.services.get(&edge.callee),
        ) else {
            continue;
        };
        let (Some(ct), Some(dt)) = (&caller.tier, &callee.tier) else {
            continue;
        };
        if dt.value > ct.value + 1 {
            diags.push(
                Diagnostic::error(
                    Code::TierViolation,
                    format!(
                        "tier-{} service `{}` requires tier-{} service `{}`",
                        ct.value, caller.name, dt.value, callee.name
                    ),
                )
                .with_label(edge.dependency.target.span, "required here")
                .with_secondary(ct.span, format!("`{}` is tier {}", caller.name, ct.value))
                .with_secondary(dt.span, format!("`{}` is tier {}", callee.name, dt.value))
                .with_help(format!(
                    "mark the dependency `optional=#true` if `{}` degrades gracefully without it, or raise `{}` to tier {}",
                    caller.name,
                    callee.name,
                    ct.value + 1
                )),
            );
        }
    }
}

pub(super) fn rollouts(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    for service in model.services.values() {
        let r = &service.rollout;
        if r.kind != RolloutKind::Rolling {
            abort_without_requests(service, diags);
        }
        if r.kind != RolloutKind::Canary {
            if let Some(step) = r.steps.first() {
                diags.push(
                    Diagnostic::error(
                        Code::CanarySteps,
                        format!("`step` applies to canary rollouts, `{}` does not roll out by canary", service.name),
                    )
                    .with_label(step.span, "ignored")
                    .with_help("use `rollout \"canary\" { step weight=10 pause=\"5m\" }` or remove the steps"),
                );
            }
            continue;
        }
        let mut previous: Option<&crate::model::Step> = None;
        for step in &r.steps {
            if step.weight > 100 {
                diags.push(
                    Diagnostic::error(
                        Code::CanarySteps,
                        format!("canary step weight {} is over 100%", step.weight),
                    )
                    .with_label(step.span, "more than all the traffic")
                    .with_help(
                        "weights are the percent of traffic sent to the new version, 1 to 100",
                    ),
                );
            } else if let Some(p) = previous.filter(|p| step.weight <= p.weight) {
                diags.push(
                    Diagnostic::error(
                        Code::CanarySteps,
                        format!(
                            "canary steps must increase: {}% follows {}%",
                            step.weight, p.weight
                        ),
                    )
                    .with_label(step.span, format!("{}% is not above {}%", step.weight, p.weight))
                    .with_secondary(p.span, "previous step")
                    .with_help("order the steps by increasing weight; the rollout completes at 100% on its own"),
                );
            }
            previous = Some(step);
        }
    }
}

/// `abort-if` judges the new version by the requests it serves (emit/rollout.rs): a
/// service without an HTTP or gRPC port serves none, and its rollout would get no analysis
/// at all, so the guard its author wrote would silently not exist.
fn abort_without_requests(service: &crate::model::Service, diags: &mut Diagnostics) {
    use crate::model::Protocol;
    // Only where the service itself says it: `defaults` and templates apply to workers
    // and servers alike, and a worker simply gets no analysis from them.
    let Some(span) = service.rollout.abort_span.filter(|s| {
        s.source == service.span.source
            && s.start >= service.span.start
            && s.end <= service.span.end
    }) else {
        return;
    };
    if service.ports.iter().any(|p| p.protocol != Protocol::Tcp) {
        return;
    }
    let what = if service.ports.is_empty() {
        "it has no port"
    } else {
        "it serves TCP only"
    };
    diags.push(
        Diagnostic::error(
            Code::ConflictingEntries,
            format!(
                "`abort-if` cannot judge `{}`: {what}, so no request is measured",
                service.name
            ),
        )
        .with_label(span, "would never abort the rollout")
        .with_help("`abort-if` compares the new version's HTTP or gRPC error rate and latency; remove it, and watch the rollout's steps (their pauses) instead")
        .with_note("the analysis reads inbound request metrics; a worker or a TCP server has none"),
    );
}

/// Timeouts, retries and circuit breaking are enforced by the mesh proxies: without a
/// mesh they would be silently ignored.
pub(super) fn mesh_features(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    // A misspelt mesh is reported once, where it is written (NST0103).
    if model.project.mesh != Mesh::None || model.project.mesh_unknown {
        return;
    }
    for service in model.services.values() {
        for dep in &service.depends_on {
            let features = [
                dep.timeout.as_ref().map(|t| ("timeout", t.span)),
                dep.retries.as_ref().map(|r| ("retries", r.span)),
                dep.circuit_breaker
                    .as_ref()
                    .map(|c| ("circuit-breaker", c.span)),
            ];
            for (feature, span) in features.into_iter().flatten() {
                let mut d = Diagnostic::error(
                    Code::MeshRequired,
                    format!(
                        "`{feature}` on `depends-on \"{}\"` needs a service mesh",
                        dep.target.value
                    ),
                )
                .with_label(span, "enforced by the mesh proxies");
                if let Some(m) = model.project.mesh_span {
                    d = d.with_secondary(m, "the project has no mesh");
                }
                diags.push(d.with_help(format!(
                    "set `mesh \"istio\"` or `mesh \"linkerd\"` in the project, or remove `{feature}`"
                )));
            }
        }
    }
}

/// The umbrella chart lives at `helm/<project>/`, beside the service charts and the shared
/// chart `helm/nestio-service/`.
pub(super) fn output_names(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    if let Some(service) = model.services.get(&model.project.name) {
        diags.push(
            Diagnostic::error(
                Code::DuplicateName,
                format!("service `{}` has the project's name", service.name),
            )
            .with_label(
                service.name_span,
                "the service's chart would be helm/<name>/",
            )
            .with_secondary(
                model.project.span,
                "the umbrella chart is helm/<project>/ too",
            )
            .with_help("rename the service or the project"),
        );
    }
    // The shared chart's directory is helm/nestio-service/.
    let shared = crate::model::names::SHARED_CHART;
    if let Some(service) = model.services.get(shared) {
        diags.push(
            Diagnostic::error(
                Code::DuplicateName,
                format!("service `{shared}` has the shared chart's name"),
            )
            .with_label(
                service.name_span,
                "the service's chart would be helm/nestio-service/, where the shared chart every service chart depends on is",
            )
            .with_help("rename the service"),
        );
    }
    if model.project.name == shared {
        diags.push(
            Diagnostic::error(
                Code::DuplicateName,
                format!("project `{shared}` has the shared chart's name"),
            )
            .with_label(
                model.project.span,
                "the umbrella chart would be helm/nestio-service/, where the shared chart every service chart depends on is",
            )
            .with_help("rename the project"),
        );
    }
}

/// NST0315: two of the project's Argo CD Applications would have the same name (the later
/// would replace the earlier).
pub(super) fn argocd_names(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    if model.project.cd != Cd::ArgoCd {
        return;
    }
    let names = crate::model::names::application_names(model);
    let mut seen: std::collections::BTreeMap<&str, &(String, Span, String)> =
        std::collections::BTreeMap::new();
    for entry in &names {
        if let Some(first) = seen.get(entry.0.as_str()) {
            diags.push(
                Diagnostic::error(
                    Code::ApplicationNameClash,
                    format!("two Argo CD applications would be named `{}`", entry.0),
                )
                .with_label(entry.1, format!("{} is `{}`", entry.2, entry.0))
                .with_secondary(first.1, format!("and so is {}", first.2))
                .with_help(
                    "Applications are named `<project>-<service>-<environment>` and `<project>-<environment>`, and the project keeps `<project>-mesh`, `-slo-rules`, `-dashboards`, `-alerting` and `-logging`: rename a service or an environment so that no two names meet",
                ),
            );
        } else {
            seen.insert(entry.0.as_str(), entry);
        }
    }
}

/// NST0316: with Argo CD every environment deploys to the cluster Argo CD runs in, so two
/// environments in one namespace would deploy the same objects (the same names from the
/// same charts) twice, and their Applications would overwrite each other's.
pub(super) fn argocd_namespaces(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    if model.project.cd != Cd::ArgoCd {
        return;
    }
    let envs = model.project.environments();
    for (i, env) in envs.iter().enumerate() {
        if let Some(first) = envs[..i].iter().find(|e| e.namespace == env.namespace) {
            diags.push(
                Diagnostic::error(
                    Code::SharedNamespace,
                    format!(
                        "environments `{}` and `{}` both deploy into namespace `{}`",
                        first.name, env.name, env.namespace
                    ),
                )
                .with_label(env.span, format!("`{}` deploys into `{}`", env.name, env.namespace))
                .with_secondary(first.span, format!("and so does `{}`", first.name))
                .with_help(format!(
                    "give each environment its own namespace: `environment \"{}\" {{ namespace \"{}-{}\" }}`",
                    env.name, model.project.namespace, env.name
                )),
            );
        }
    }
}

/// A published port (`expose node-port=`/`load-balancer=`) must be one of the service's
/// ports; any protocol goes (the Service forwards TCP).
fn published_port(service: &crate::model::Service, diags: &mut Diagnostics) {
    let Some(publish) = &service.publish else {
        return;
    };
    match &publish.port_name {
        Some(name) if service.port(&name.value).is_none() => diags.push(unknown_port(
            &service.name,
            &name.value,
            name.span,
            &service.ports,
        )),
        None if service.ports.is_empty() => diags.push(
            Diagnostic::error(
                Code::ExposeWithoutHttp,
                format!("`{}` publishes a port but declares none", service.name),
            )
            .with_label(publish.span, "published here")
            .with_help("declare the port it listens on (`port \"tcp\" 1883 protocol=\"tcp\"`), or remove `expose`"),
        ),
        _ => {}
    }
}

pub(super) fn exposure(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    for service in model.services.values() {
        published_port(service, diags);
        let Some(expose) = &service.expose else {
            continue;
        };
        match &expose.port_name {
            Some(name) => match service.port(&name.value) {
                None => diags.push(unknown_port(
                    &service.name,
                    &name.value,
                    name.span,
                    &service.ports,
                )),
                Some(p) if p.protocol != Protocol::Http => diags.push(
                    Diagnostic::error(
                        Code::ExposeWithoutHttp,
                        format!(
                            "`{}` exposes port `{}`, which is not HTTP",
                            service.name, p.name
                        ),
                    )
                    .with_label(name.span, format!("a {} port", p.protocol.as_str()))
                    .with_secondary(p.span, "declared here")
                    .with_help("an Ingress routes HTTP; expose an HTTP port (`protocol=\"http\"`)"),
                ),
                Some(_) => {}
            },
            None => {
                if service.expose_port().is_none() {
                    let mut d = Diagnostic::error(
                        Code::ExposeWithoutHttp,
                        format!("`{}` is exposed but has no HTTP port", service.name),
                    )
                    .with_label(expose.span, "exposed here");
                    for p in &service.ports {
                        d = d.with_secondary(p.span, format!("a {} port", p.protocol.as_str()));
                    }
                    diags.push(d.with_help(
                        "add `port \"http\" 8080` (HTTP is the default protocol), or remove `expose`",
                    ));
                }
            }
        }
    }
}

/// One (environment, service) claim of a host on the cluster's ingress.
struct Claim<'a> {
    env: &'a crate::model::Environment,
    service: &'a str,
    expose: crate::model::Expose,
    derived: bool,
}

/// Every environment is deployed to the same cluster, behind one ingress: the Istio
/// ingress gateway (`istio: ingressgateway`) or the ingress controller. Two Gateways that
/// select the same gateway pods and serve the same host on the same port conflict:
/// istioctl's analyzer reports IST0145 ConflictingGateways (istio/istio
/// pkg/config/analysis/analyzers/gateway/conflictinggateway.go L78 same selector, L115
/// same port, L121 another Gateway with a duplicate host: `model.CheckDuplicates`,
/// pilot/pkg/model/gateway.go L583-595, exact string equality), and at run time the
/// duplicate HTTPS server is dropped (gateway.go L300-303).
/// ingress-nginx keeps the oldest Ingress for a host and path ("If the same path for the
/// same host is defined in more than one Ingress, the oldest rule wins", docs
/// how-it-works.md), and its admission webhook refuses the second ("host ... and path ...
/// is already defined in ingress ..."). Hosts per environment come from
/// [`Model::expose_in`]; what still collides is an error.
pub(super) fn hosts(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    let envs = model.project.environments();
    let istio = model.project.mesh == Mesh::Istio;
    let mut claims: Vec<Claim<'_>> = Vec::new();
    for env in &envs {
        for service in model.services.values() {
            let Some(expose) = model.expose_in(env, service) else {
                continue;
            };
            if model.service_in(&env.name, service).expose_port().is_none() {
                continue; // NST0308
            }
            let declared = model
                .service_in(&env.name, service)
                .expose
                .as_ref()
                .map(|e| e.host.as_str());
            let derived = declared != Some(expose.host.as_str());
            if derived && !crate::lower::valid_host(&expose.host) {
                diags.push(
                    Diagnostic::error(
                        Code::DerivedHostInvalid,
                        format!(
                            "the host `{}` derived for `{}` in environment `{}` is not a valid host name",
                            expose.host, service.name, env.name
                        ),
                    )
                    .with_label(expose.span, format!("`{}` is exposed here", service.name))
                    .with_secondary(env.span, "an environment that syncs automatically serves `<environment>.<host>`")
                    .with_note(format!("the derived host is {} characters long; a host name has at most 253", expose.host.len()))
                    .with_help(format!(
                        "give the environment its own host: `environment \"{}\" {{ service \"{}\" {{ expose host=\"...\" }} }}`",
                        env.name, service.name
                    )),
                );
                continue;
            }
            claims.push(Claim {
                env,
                service: &service.name,
                expose,
                derived,
            });
        }
    }
    // One diagnostic per host (and path, for an Ingress) claimed more than once.
    let mut groups: Vec<Vec<&Claim<'_>>> = Vec::new();
    for claim in &claims {
        let same = |other: &Claim<'_>| {
            other.expose.host == claim.expose.host
                && (istio || other.expose.path == claim.expose.path)
        };
        match groups.iter_mut().find(|g| same(g[0])) {
            Some(g) => g.push(claim),
            None => groups.push(vec![claim]),
        }
    }
    for group in groups.iter().filter(|g| g.len() > 1) {
        diags.push(conflicting_host(model, group, istio));
    }
}

fn conflicting_host(model: &Model, group: &[&Claim<'_>], istio: bool) -> Diagnostic {
    let host = &group[0].expose.host;
    let quoted = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => names.concat(),
        }
    };
    // Services in order of first claim, each with its environments.
    let mut services: Vec<(&str, Vec<&str>)> = Vec::new();
    for c in group {
        match services.iter_mut().find(|(s, _)| *s == c.service) {
            Some((_, envs)) => envs.push(&c.env.name),
            None => services.push((c.service, vec![&c.env.name])),
        }
    }
    let mut envs: Vec<&str> = group.iter().map(|c| c.env.name.as_str()).collect();
    envs.dedup();
    let message = if services.len() == 1 {
        format!(
            "`{}` claims host `{host}` in environments {}",
            services[0].0,
            quoted(&services[0].1)
        )
    } else if envs.len() == 1 {
        let names: Vec<&str> = services.iter().map(|(s, _)| *s).collect();
        format!(
            "{} claim host `{host}` in environment `{}`",
            quoted(&names),
            envs[0]
        )
    } else {
        let parts: Vec<String> = services
            .iter()
            .map(|(s, e)| format!("`{s}` (in {})", quoted(e)))
            .collect();
        format!("{} claim host `{host}`", parts.join(" and "))
    };
    // The claim to change: one outside production (it should not serve production's
    // host), else the last.
    let fix = group
        .iter()
        .find(|c| !model.project.is_production(c.env))
        .unwrap_or(&group[group.len() - 1]);
    let mut d = Diagnostic::error(Code::ConflictingHost, message);
    let mut labelled: Vec<crate::source::Span> = Vec::new();
    for c in std::iter::once(fix).chain(group.iter().filter(|c| !std::ptr::eq(**c, *fix))) {
        if labelled.contains(&c.expose.span) {
            continue;
        }
        labelled.push(c.expose.span);
        let here: Vec<&str> = group
            .iter()
            .filter(|o| o.expose.span == c.expose.span)
            .map(|o| o.env.name.as_str())
            .collect();
        let text = format!(
            "`{}` serves `{host}` in {}{}",
            c.service,
            quoted(&here),
            if c.derived { " (derived)" } else { "" }
        );
        d = if std::ptr::eq(*c, *fix) {
            d.with_label(c.expose.span, text)
        } else {
            d.with_secondary(c.expose.span, text)
        };
        if here.len() > 1 {
            for o in group.iter().filter(|o| o.expose.span == c.expose.span) {
                let production = if model.project.is_production(o.env) {
                    "production: serves the declared host"
                } else {
                    "syncs automatically"
                };
                d = d.with_secondary(
                    o.env.span,
                    format!("environment `{}`: {production}", o.env.name),
                );
            }
        }
    }
    d = d.with_note(if istio {
        "the Istio ingress gateway serves a host from one Gateway only: Istio's analyzer reports IST0145 ConflictingGateways, and all but one of them get no traffic".to_owned()
    } else {
        format!(
            "the ingress controller serves host `{host}` and path `{}` from one Ingress only: ingress-nginx keeps the oldest and its admission webhook refuses the others",
            fix.expose.path
        )
    });
    d = d.with_note("an environment that syncs manually (production) serves the host as declared; every other environment serves `<environment>.<host>` unless it gives the service its own `expose`");
    // A non-production environment that gives a service production's host drops its
    // override; claims left over need hosts of their own.
    let (overrides, rest): (Vec<&&Claim<'_>>, Vec<&&Claim<'_>>) = group
        .iter()
        .partition(|c| !model.project.is_production(c.env) && !c.derived);
    let mut help: Vec<String> = overrides
        .iter()
        .map(|c| {
            format!(
                "remove the `expose` override of `{}` in environment `{}` (it then serves `{}`)",
                c.service,
                c.env.name,
                crate::model::derived_host(&c.env.name, host)
            )
        })
        .collect();
    if rest.len() > 1 {
        let last = rest[rest.len() - 1];
        help.push(if rest.iter().all(|c| c.env.name == last.env.name) {
            format!("give each service its own host in `{}`", last.env.name)
        } else {
            format!(
                "give `{}` its own host in `{}`: `environment \"{}\" {{ service \"{}\" {{ expose host=\"{}\" }} }}`",
                last.service,
                last.env.name,
                last.env.name,
                last.service,
                crate::model::derived_host(&last.env.name, host)
            )
        });
    }
    let help = help.join("; ");
    d.with_help(help)
}

/// NST0140: a node port is one of the whole cluster: "each port that the Service exposes
/// ... is allocated from the node port range, cluster-wide" and "you need to take care of
/// possible port collisions yourself" when you pick it
/// (https://kubernetes.io/docs/concepts/services-networking/service/#nodeport-custom-port);
/// the API server refuses the second Service with "provided port is already allocated".
/// Every environment runs in the same cluster: the node ports of every environment, as
/// [`Model::publish_in`] gives them, must differ.
pub(super) fn node_ports(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    struct Claim<'a> {
        env: &'a crate::model::Environment,
        service: &'a str,
        port: crate::model::Spanned<u16>,
        /// From an environment's own `expose`, not the service's.
        overridden: bool,
    }
    let envs = model.project.environments();
    let mut claims: Vec<Claim<'_>> = Vec::new();
    for env in &envs {
        for service in model.services.values() {
            if let Some(port) = model.publish_in(env, service).and_then(|p| p.node_port) {
                let overridden = service
                    .publish
                    .as_ref()
                    .and_then(|p| p.node_port.as_ref())
                    .is_none_or(|base| base.span != port.span);
                claims.push(Claim {
                    env,
                    service: &service.name,
                    port,
                    overridden,
                });
            }
        }
    }
    // The services' own declarations claim first: an environment's override that repeats
    // one is the one to change.
    claims.sort_by_key(|c| c.overridden);
    let mut reported: Vec<u16> = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        let port = claim.port.value;
        if reported.contains(&port) {
            continue;
        }
        let others: Vec<&Claim<'_>> = claims[i + 1..]
            .iter()
            .filter(|c| c.port.value == port)
            .collect();
        let Some(second) = others.first() else {
            continue;
        };
        reported.push(port);
        let who = |c: &Claim<'_>| format!("`{}` in `{}`", c.service, c.env.name);
        let mut d = Diagnostic::error(
            Code::ConflictingNodePort,
            format!(
                "node port {port} is claimed by {} and {}",
                who(claim),
                others
                    .iter()
                    .map(|c| who(c))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )
        .with_label(second.port.span, format!("{} claims it here", who(second)))
        .with_secondary(claim.port.span, format!("{} claims it first", who(claim)));
        if claim.port.span == second.port.span {
            d = d.with_secondary(
                second.env.span,
                format!("environment `{}`", second.env.name),
            );
        }
        let help = if claim.service == second.service {
            format!(
                "give `{}` its own node port in `{}` (`environment \"{}\" {{ service \"{}\" {{ expose node-port=... }} }}`), or leave that environment's port to the API server by removing its override",
                second.service, second.env.name, second.env.name, second.service
            )
        } else {
            "give each service its own node port (30000-32767), or drop `node-port=` and let the API server allocate one".to_owned()
        };
        diags.push(
            d.with_note("a node port belongs to the whole cluster, and every environment runs in the same cluster: the API server refuses the second Service (\"provided port is already allocated\")")
                .with_help(help),
        );
    }
}

/// NST0141: the Services nestioc derives from a service (`<service>-headless` for a
/// stateful one, `<service>-public` for a published port, `<service>-canary` and
/// `<service>-preview` for Argo Rollouts) are Kubernetes Services like the services' own:
/// their names must be DNS-1035 labels of at most 63 characters, and unique in the
/// namespace. A StatefulSet's name is shorter still: the controller labels each pod
/// `controller-revision-hash: <name>-<hash>` (the hash is up to 10 characters:
/// kubernetes pkg/controller/history/controller_history.go `ControllerRevisionName`,
/// `HashControllerRevision`), and a label value has at most 63, so a name over 52
/// characters gives a StatefulSet the API server accepts and whose pods it refuses.
pub(super) fn derived_names(model: &Model, _: &Topology, diags: &mut Diagnostics) {
    const STATEFUL_MAX: usize = 52;
    let envs = model.project.environments();
    // (name, the service it belongs to, what it is)
    let mut names: Vec<(String, &crate::model::Service, &'static str)> = Vec::new();
    for service in model.services.values() {
        names.push((service.name.clone(), service, "the service's own Service"));
    }
    let mut stateful_reported = false;
    for service in model.services.values() {
        let mut derived: Vec<(String, &'static str)> = Vec::new();
        if service.is_stateful() {
            derived.push((
                crate::model::names::headless_service_name(service),
                "the headless Service of the StatefulSet",
            ));
            if service.name.len() > STATEFUL_MAX && !stateful_reported {
                stateful_reported = true;
                diags.push(
                    Diagnostic::error(
                        Code::DerivedNameInvalid,
                        format!(
                            "stateful service `{}` has a name of {} characters: its pods would be refused",
                            service.name,
                            service.name.len()
                        ),
                    )
                    .with_label(service.name_span, format!("a StatefulSet name has at most {STATEFUL_MAX} characters"))
                    .with_note("the StatefulSet controller labels each pod `controller-revision-hash: <name>-<hash>`, with a hash of up to 10 characters, and a label value has at most 63")
                    .with_help(format!("shorten the name to {STATEFUL_MAX} characters or fewer")),
                );
            }
        }
        if envs
            .iter()
            .any(|e| model.service_in(&e.name, service).publish.is_some())
        {
            derived.push((
                crate::model::names::public_service_name(service),
                "the Service that publishes its port",
            ));
        }
        if !service.ports.is_empty() && service.schedule.is_none() {
            match service.rollout.kind {
                RolloutKind::Canary => derived.push((
                    format!("{}-canary", service.name),
                    "the canary Service of its rollout",
                )),
                RolloutKind::BlueGreen => derived.push((
                    format!("{}-preview", service.name),
                    "the preview Service of its rollout",
                )),
                RolloutKind::Rolling => {}
            }
        }
        for (name, what) in derived {
            names.push((name, service, what));
        }
    }
    // The first owner of each name, so a clash is found in one pass rather than by
    // comparing every name with all before it (quadratic at thousands of services).
    let mut first_owner: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    for (i, (name, service, what)) in names.iter().enumerate() {
        let first = *first_owner.entry(name.as_str()).or_insert(i);
        if name.len() > 63 {
            diags.push(
                Diagnostic::error(
                    Code::DerivedNameInvalid,
                    format!(
                        "`{name}`, {what} `{}`, is {} characters long",
                        service.name,
                        name.len()
                    ),
                )
                .with_label(
                    service.name_span,
                    format!("`{}` gets a Service `{name}`", service.name),
                )
                .with_note("a Service name is a DNS label: at most 63 characters")
                .with_help(format!(
                    "shorten the service's name to {} characters or fewer",
                    63 - (name.len() - service.name.len())
                )),
            );
            continue;
        }
        if first != i {
            let (_, first, first_what) = &names[first];
            diags.push(
                Diagnostic::error(
                    Code::DerivedNameInvalid,
                    format!("two Services would be named `{name}`"),
                )
                .with_label(service.name_span, format!("{what} of `{}`", service.name).replace("the service's own Service of", "the Service of"))
                .with_secondary(first.name_span, format!("{first_what} of `{}`", first.name).replace("the service's own Service of", "the Service of"))
                .with_help("rename one of the services: the second Service would overwrite the first")
                .with_note("nestioc derives Services from a service: `<service>-headless` (stateful), `<service>-public` (`expose node-port=`/`load-balancer=`), `<service>-canary` and `<service>-preview` (Argo Rollouts)"),
            );
        }
    }
}

/// Linkerd sets timeouts and retries per route, and a route on the callee's Service serves
/// all its callers: callers that ask for different policies on one port get one policy.
pub(super) fn linkerd_route_conflicts(model: &Model, topology: &Topology, diags: &mut Diagnostics) {
    if model.project.mesh != Mesh::Linkerd {
        return;
    }
    for callee in model.services.values() {
        for port in &callee.ports {
            // No route is made for a TCP port, and a timeout there is NST0311's.
            if port.protocol == Protocol::Tcp {
                continue;
            }
            let edges: Vec<_> = topology
                .callers(&callee.name)
                .into_iter()
                .filter(|e| e.target.name == port.name)
                .collect();
            let policy = |e: &crate::graph::Edge| (e.timeout().cloned(), e.retries());
            let Some(first) = edges.first() else { continue };
            if edges.iter().all(|e| policy(e) == policy(first)) {
                continue;
            }
            let timeout = edges.iter().filter_map(|e| policy(e).0).max();
            let retries = edges.iter().map(|e| policy(e).1).min().unwrap_or(0);
            let describe = |(t, r): (Option<crate::model::values::Duration>, u32)| {
                format!(
                    "{}, {r} retr{}",
                    t.map_or_else(|| "no timeout".to_owned(), |t| format!("timeout {t}")),
                    if r == 1 { "y" } else { "ies" }
                )
            };
            let mut d = Diagnostic::warning(
                Code::RoutePolicyConflict,
                format!(
                    "callers of `{}` port `{}` ask for different timeouts or retries; Linkerd applies one policy per route",
                    callee.name, port.name
                ),
            );
            for (i, e) in edges.iter().enumerate() {
                let span = e.dependency.target.span;
                let msg = format!("`{}`: {}", e.caller, describe(policy(e)));
                d = if i == 0 {
                    d.with_label(span, msg)
                } else {
                    d.with_secondary(span, msg)
                };
            }
            diags.push(
                d.with_note(format!("the route gets the longest timeout and the fewest retries: {}", describe((timeout, retries))))
                    .with_help("give the callers of this port the same `timeout` and `retries`, or use Istio, which routes per caller"),
            );
        }
    }
}

/// A timeout or a retry is a request-level policy: on a plain TCP port the mesh sees a
/// byte stream, not requests, and cannot apply it.
pub(super) fn tcp_route_policies(model: &Model, topology: &Topology, diags: &mut Diagnostics) {
    if model.project.mesh == Mesh::None {
        return; // NST0307 already says these need a mesh
    }
    for edge in &topology.edges {
        let port = &edge.target;
        if port.protocol != Protocol::Tcp {
            continue;
        }
        let dep = &edge.dependency;
        let features = [
            dep.timeout.as_ref().map(|t| ("timeout", t.span)),
            dep.retries.as_ref().map(|r| ("retries", r.span)),
        ];
        for (feature, span) in features.into_iter().flatten() {
            diags.push(
                Diagnostic::error(
                    Code::TcpRoutePolicy,
                    format!("`{feature}` cannot apply to `{}` port `{}`, a TCP port", edge.callee, port.name),
                )
                .with_label(span, "a request-level setting")
                .with_secondary(port.span, "declared `protocol=\"tcp\"` here")
                .with_help(format!(
                    "remove `{feature}` (set the client library's own timeout), or declare the port as `http` or `grpc` if it speaks one"
                )),
            );
        }
    }
}
