//! The pod beyond one container image: probes, the entrypoint (`command`), the security
//! relaxations (`security`), pod metadata (`annotation`, `label`, `service-annotation`),
//! and the extra containers (`sidecar`, `init-container`).
//!
//! Every container starts from the same defaults (docs/security.md); `security` relaxes
//! them one property at a time, each relaxation a warning that names what it opens
//! (NST0125 to NST0128) unless `reason=` says why, and what Kubernetes' Pod Security
//! Standards `baseline` forbids is refused (NST0129, NST0130).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::checks::{check_free_text, check_mount_path};
use super::env::lower_env;
use super::names;
use super::network::{lower_ports, unknown_port};
use super::read::{arg_str, child, str_of};
use super::service::lower_image;
use super::workload::lower_resources;
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::lang;
use crate::model::values::{Duration, Quantity};
use crate::model::{
    Container, DEFAULT_ID, Image, Mount, Port, Probe, ProbeKind, ProbeTiming, Probes, Project,
    RunAs, Security, Volume,
};
use crate::source::{SourceId, Span};
use crate::suggest;
use crate::syntax::{Node, Value};

// ----------------------------------------------------------------------------- probes

/// The default probe of a container that listens: TCP on its first port. A port the
/// container declares is a port it listens on, so a connection is always a fair test.
fn default_probe(port: usize) -> Probe {
    Probe {
        kind: ProbeKind::Tcp,
        path: String::new(),
        port: Some(port),
        command: Vec::new(),
        timing: ProbeTiming::default(),
        span: Span::file_start(SourceId(0)),
    }
}

/// The probes of one container (`sidecar` = `None`: the service's own) from its `probe`
/// nodes, in precedence order (a later node replaces what an earlier one set), on the
/// container's ports among the pod's `ports`. Readiness and liveness default to a TCP
/// probe on the container's first port, unless a `probe "none"` removes them (NST0131).
pub(super) fn lower_probes(
    owner: &str,
    kids: &[Node],
    ports: &[Port],
    sidecar: Option<&str>,
    diags: &mut Diagnostics,
) -> Probes {
    let own: Vec<usize> = ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.sidecar.as_deref() == sidecar)
        .map(|(i, _)| i)
        .collect();
    let who = match sidecar {
        Some(s) => format!("sidecar `{s}`"),
        None => format!("service `{owner}`"),
    };
    let mut set: BTreeMap<&'static str, Option<Probe>> = BTreeMap::new();
    // The `probe "none"` that last removed a probe of this use.
    let mut removed: BTreeMap<&'static str, Span> = BTreeMap::new();
    for n in kids.iter().filter(|c| c.name == lang::PROBE.name) {
        let for_ = n
            .prop("for")
            .and_then(|e| e.value.as_str())
            .unwrap_or("all");
        let covers = lang::probe_covers(for_);
        let kind = arg_str(n, 0);
        if kind.as_deref() == Some("none") {
            if let Some(e) = n
                .entries
                .iter()
                .skip(1)
                .find(|e| e.name.as_deref() != Some("for"))
            {
                diags.push(
                    Diagnostic::error(
                        Code::ConflictingEntries,
                        "`probe \"none\"` takes nothing but `for=`",
                    )
                    .with_label(e.span, "nothing to configure")
                    .with_secondary(n.ident_span(), "no probe")
                    .with_help("remove it, or declare the probe you want (`probe \"http\" ...`)"),
                );
            }
            for k in covers {
                set.insert(k, None);
                removed.insert(k, n.head_span());
            }
            continue;
        }
        let Some(probe) = lower_probe(owner, &who, n, kind.as_deref(), kids, ports, &own, diags)
        else {
            // Reported; the use keeps no probe rather than a default that was not asked for.
            for k in covers {
                set.insert(k, None);
                removed.remove(k);
            }
            continue;
        };
        for k in covers {
            set.insert(k, Some(probe.clone()));
            removed.remove(k);
        }
    }
    let mut get = |k: &'static str| -> Option<Probe> {
        match set.remove(k) {
            Some(p) => p,
            // Not mentioned: the default, for readiness and liveness only.
            None if k != "startup" => own.first().map(|i| default_probe(*i)),
            None => None,
        }
    };
    let probes = Probes {
        readiness: get("readiness"),
        liveness: get("liveness"),
        startup: get("startup"),
    };
    if let Some(first) = own.first().map(|i| &ports[*i]) {
        let mut by_node: BTreeMap<Span, Vec<&str>> = BTreeMap::new();
        for (k, span) in &removed {
            if *k != "startup" {
                by_node.entry(*span).or_default().push(k);
            }
        }
        for (span, uses) in by_node {
            diags.push(no_probe(&who, first, &uses, span));
        }
    }
    probes
}

/// NST0131: a container that listens and has no readiness or liveness probe.
fn no_probe(who: &str, port: &Port, uses: &[&str], span: Span) -> Diagnostic {
    let what = ["readiness", "liveness"]
        .into_iter()
        .filter(|u| uses.contains(u))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut d = Diagnostic::warning(
        Code::NoProbe,
        format!(
            "{who} listens on port `{}` but has no {what} probe",
            port.name
        ),
    )
    .with_label(span, format!("no {what} probe"))
    .with_secondary(port.span, "a port that receives traffic");
    if uses.contains(&"readiness") {
        d = d.with_note("without a readiness probe the pod receives requests from the moment its container starts, before it can answer them, and keeps receiving them when it can no longer");
    }
    if uses.contains(&"liveness") {
        d = d.with_note(
            "without a liveness probe a container that hangs without exiting is never restarted",
        );
    }
    d.with_help("probe what the container answers: `probe \"http\" path=\"/healthz\"`, `probe \"grpc\"`, or a command, `probe \"exec\" command=\"pg_isready\"`")
}

#[allow(clippy::too_many_arguments)]
fn lower_probe(
    owner: &str,
    who: &str,
    n: &Node,
    kind: Option<&str>,
    kids: &[Node],
    ports: &[Port],
    own: &[usize],
    diags: &mut Diagnostics,
) -> Option<Probe> {
    let kind = match kind {
        Some("grpc") => ProbeKind::Grpc,
        Some("tcp") => ProbeKind::Tcp,
        Some("http") => ProbeKind::Http,
        Some("exec") => ProbeKind::Exec,
        _ => return None,
    };
    let timing = lower_timing(n, diags)?;
    if kind == ProbeKind::Exec {
        for key in ["path", "port"] {
            if let Some(e) = n.prop(key) {
                diags.push(
                    Diagnostic::error(
                        Code::ConflictingEntries,
                        format!("an `exec` probe has no `{key}`"),
                    )
                    .with_label(e.span, "not used by a command")
                    .with_secondary(n.ident_span(), "runs a command in the container")
                    .with_help(format!("remove `{key}=`, or probe over the network (`probe \"http\"`, `\"grpc\"`, `\"tcp\"`)")),
                );
                return None;
            }
        }
        let values = n.prop_values("command");
        if values.is_empty() {
            diags.push(
                Diagnostic::error(Code::MissingValue, "an `exec` probe needs a `command`")
                    .with_label(n.head_span(), "missing `command=`")
                    .with_help("give the program and its arguments: `probe \"exec\" command=\"redis-cli\" \"ping\"`; it runs without a shell"),
            );
            return None;
        }
        let command = command_values(&values, "probe command", diags)?;
        return Some(Probe {
            kind,
            path: String::new(),
            port: None,
            command,
            timing,
            span: n.head_span(),
        });
    }
    if let Some(e) = n.prop("command") {
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                "only an `exec` probe runs a `command`",
            )
            .with_label(e.span, "not used by this probe")
            .with_secondary(n.ident_span(), "probes over the network")
            .with_help("remove `command=`, or make it `probe \"exec\" command=...`"),
        );
        return None;
    }
    let own_ports: Vec<Port> = own.iter().map(|i| ports[*i].clone()).collect();
    let port = match n.prop("port") {
        Some(e) => {
            let name = str_of(e)?;
            match own.iter().find(|i| ports[**i].name == name) {
                Some(i) => *i,
                None => {
                    // A port declared with a bad value is reported where it is declared.
                    let declared = kids
                        .iter()
                        .any(|c| c.name == "port" && c.name_arg() == Some(name.as_str()));
                    if !declared {
                        let mut d = unknown_port(owner, &name, e.value_span, &own_ports);
                        d.message = format!("{who} has no port `{name}`");
                        if let Some(other) = ports.iter().find(|p| p.name == name) {
                            d = d.with_secondary(
                                other.span,
                                match &other.sidecar {
                                    Some(s) => format!("a port of the sidecar `{s}`"),
                                    None => "a port of the service's own container".to_owned(),
                                },
                            );
                            d.help = Some(
                                "a probe checks its own container: probe a sidecar's port from inside that `sidecar { ... }`".to_owned(),
                            );
                        }
                        diags.push(d);
                    }
                    return None;
                }
            }
        }
        None if own.is_empty() && kids.iter().any(|c| c.name == "port") => return None,
        None => match own.first() {
            Some(i) => *i,
            None => {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownPort,
                        format!("{who} has no port to probe"),
                    )
                    .with_label(n.head_span(), "this probe needs a port")
                    .with_help("declare a port (`port \"http\" 8080`), probe with a command (`probe \"exec\" command=...`), or remove the probe"),
                );
                return None;
            }
        },
    };
    let path = super::read::prop_str(n, "path").unwrap_or_else(|| "/healthz".into());
    if kind == ProbeKind::Http
        && let Some(e) = n.prop("path")
        && let Err(d) = super::checks::check_http_path(&path).at(e.value_span)
    {
        diags.push(d);
        return None;
    }
    Some(Probe {
        kind,
        path,
        port: Some(port),
        command: Vec::new(),
        timing,
        span: n.head_span(),
    })
}

/// `initial-delay`, `period`, `timeout`, `failures`. Kubernetes counts probe times in
/// whole seconds (`initialDelaySeconds`, `periodSeconds` and `timeoutSeconds` are int32
/// seconds; the period and timeout at least 1: k8s.io/kubernetes
/// pkg/apis/core/validation `validateProbe`). `None` after a reported problem.
fn lower_timing(n: &Node, diags: &mut Diagnostics) -> Option<ProbeTiming> {
    let mut ok = true;
    let mut seconds = |key: &str, min: u64| -> Option<u32> {
        let e = n.prop(key)?;
        let d = e.value.as_str().and_then(|s| Duration::parse(s).ok())?;
        let whole = d.millis % 1000 == 0;
        let secs = d.millis / 1000;
        if whole && secs >= min && secs <= u64::from(i32::MAX.unsigned_abs()) {
            return u32::try_from(secs).ok();
        }
        ok = false;
        diags.push(
            Diagnostic::error(
                Code::ProbeTiming,
                format!(
                    "probe `{key}` `{}` is not {}",
                    e.value.as_str().unwrap_or_default(),
                    if whole {
                        "a usable number of seconds"
                    } else {
                        "whole seconds"
                    }
                ),
            )
            .with_label(
                e.value_span,
                if min == 0 {
                    "whole seconds"
                } else {
                    "whole seconds, at least 1s"
                },
            )
            .with_help(format!(
                "Kubernetes counts probe times in whole seconds: write e.g. \"{}s\"",
                (d.millis.div_ceil(1000)).max(min)
            )),
        );
        None
    };
    let timing = ProbeTiming {
        initial_delay: seconds("initial-delay", 0),
        period: seconds("period", 1),
        timeout: seconds("timeout", 1),
        failures: n
            .prop("failures")
            .and_then(|e| match e.value {
                Value::Integer(f) => u32::try_from(f).ok(),
                _ => None,
            })
            .filter(|f| (1..=10_000).contains(f)),
    };
    ok.then_some(timing)
}

/// The values of a `command` (node arguments, or a `command=` property and the arguments
/// after it): free text carried exactly into YAML, the first one non-empty.
fn command_values(
    values: &[&crate::syntax::Entry],
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for e in values {
        let Some(s) = str_of(e) else {
            ok = false;
            continue;
        };
        if let Err(d) = check_free_text(&s, what).at(e.value_span) {
            diags.push(d);
            ok = false;
            continue;
        }
        out.push(s);
    }
    if let (Some(first), Some(e)) = (out.first(), values.first())
        && first.trim().is_empty()
    {
        diags.push(
            Diagnostic::error(Code::InvalidCommand, format!("empty {what}"))
                .with_label(e.value_span, "no program here")
                .with_help("the first value is the program to run, e.g. \"/app\""),
        );
        return None;
    }
    ok.then_some(out)
}

/// `command "/app" "--flag"`: the container's entrypoint.
pub(super) fn lower_command(kids: &[Node], diags: &mut Diagnostics) -> Vec<String> {
    child(kids, lang::COMMAND.name)
        .and_then(|n| command_values(&n.args().collect::<Vec<_>>(), "container command", diags))
        .unwrap_or_default()
}

// ----------------------------------------------------------------------------- security

/// What a capability lets a process do: the warning for adding it says so
/// (capabilities(7)).
fn capability_meaning(cap: &str) -> &'static str {
    match cap {
        "AUDIT_WRITE" => "write records to the kernel's audit log",
        "CHOWN" => "change the owner and group of any file",
        "DAC_OVERRIDE" => "read, write and execute any file, whatever its permissions",
        "FOWNER" => {
            "act as the owner of any file (change its mode, timestamps, ACLs) whatever its owner"
        }
        "FSETID" => "keep the set-user-ID and set-group-ID bits of files it modifies",
        "KILL" => "send signals to processes of other users",
        "MKNOD" => "create device files",
        "NET_BIND_SERVICE" => {
            "listen on ports below 1024 (the only capability the Pod Security Standards' `restricted` profile allows)"
        }
        "SETFCAP" => "give files capabilities",
        "SETGID" => "switch to any group, root's included",
        "SETPCAP" => "change its own capability sets",
        "SETUID" => "switch to any user, root included",
        "SYS_CHROOT" => "change its root directory (chroot)",
        _ => "act beyond an unprivileged process",
    }
}

/// What nestio offers instead of a privilege it refuses.
fn refused_help(what: &str) -> String {
    match what {
        "privileged" => "nestio runs application containers under the Pod Security Standards' `restricted` defaults: add only the capabilities the program needs with `add-capabilities=` (those `baseline` allows). Node-level agents (CNI, storage, log and metrics collectors) are installed by their own charts, beside nestio's output".to_owned(),
        "host-network" => "services reach each other through their Services and `depends-on`, and the outside world through `expose` (an Ingress or the mesh's gateway); to listen on a port below 1024 add `NET_BIND_SERVICE`, or listen on a high port and let the Service's `port` map it (`port \"http\" 80 target=8080`)".to_owned(),
        "host-pid" => "a container sees its own pod's processes only; watching the node's processes is the job of a node agent installed by its own chart".to_owned(),
        "host-ipc" => "containers of one pod can share files through a `volume` of the service mounted in a `sidecar`; the node's IPC namespace is not shared".to_owned(),
        _ => format!(
            "a container may add only what the Pod Security Standards' `baseline` allows: {}; a program that needs more is node-level infrastructure, installed by its own chart",
            lang::BASELINE_CAPABILITIES.join(", ")
        ),
    }
}

/// A refused privilege (NST0130).
fn forbidden(owner: &str, what: &str, why: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::ForbiddenPrivilege,
        format!("`{owner}` asks for {what}, which nestio refuses"),
    )
    .with_label(span, why.to_owned())
    .with_note("the Pod Security Standards' `baseline` profile forbids it (https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline): a namespace that enforces `baseline` or `restricted` refuses the pod")
}

/// The `security` of a container (`service`: the service's own, which also sets the pod's
/// `fsGroup`).
pub(super) fn lower_security(
    owner: &str,
    kids: &[Node],
    service: bool,
    diags: &mut Diagnostics,
) -> Security {
    let Some(n) = child(kids, lang::SECURITY.name) else {
        return Security::default();
    };
    let reason = n.prop("reason");
    let reason_text = reason.and_then(str_of);
    if let (Some(e), Some(r)) = (reason, &reason_text)
        && r.trim().is_empty()
    {
        diags.push(
            Diagnostic::error(Code::MissingValue, "an empty `reason`")
                .with_label(e.value_span, "says nothing")
                .with_help("say why the container needs the relaxation, e.g. \"the image's entrypoint writes its config to /etc/app\""),
        );
    }
    let acknowledged = reason_text.as_ref().is_some_and(|r| !r.trim().is_empty());
    // Warnings for relaxations, unless `reason=` says why.
    let mut relaxed = false;
    let mut warn = |mut d: Diagnostic, diags: &mut Diagnostics| {
        relaxed = true;
        if !acknowledged {
            let help = d.help.take().unwrap_or_default();
            d.help = Some(format!(
                "{help}; or, when the image needs it, say why with `reason=\"...\"` on this `security`"
            ));
            diags.push(d);
        }
    };
    for (key, what, label) in [
        (
            "privileged",
            "a privileged container",
            "root on the node: every device, every capability, no isolation",
        ),
        (
            "host-network",
            "the node's network namespace",
            "the node's interfaces and every port of the node",
        ),
        (
            "host-pid",
            "the node's process namespace",
            "every process on the node, to see and signal",
        ),
        (
            "host-ipc",
            "the node's IPC namespace",
            "the shared memory of the node's processes",
        ),
    ] {
        if let Some(e) = n.prop(key)
            && e.value == Value::Bool(true)
        {
            diags.push(forbidden(owner, what, label, e.span).with_help(refused_help(key)));
        }
    }
    let id = |key: &str, diags: &mut Diagnostics| -> Option<(u32, Span)> {
        let e = n.prop(key)?;
        let v = match e.value {
            Value::Integer(v) => u32::try_from(v).ok()?,
            _ => return None,
        };
        if v == 0 {
            let what = if key == "run-as-user" { "UID" } else { "GID" };
            diags.push(
                Diagnostic::error(
                    Code::RootUser,
                    format!("`{owner}` would run with {what} 0 (root)"),
                )
                .with_label(e.value_span, format!("{what} 0 is root's"))
                .with_note(if key == "run-as-user" {
                    "every container runs as a non-root user (`runAsNonRoot`): the kubelet refuses to start one whose UID is 0"
                } else {
                    "group 0 owns much of a root filesystem: a process in it can read and write what root's group may (trivy KSV-0029)"
                })
                .with_help("give the image's non-root ID (`run-as-user=999`), or keep the image's own non-root USER (`run-as=\"image\"`). An image whose entrypoint starts as root to fix ownership and then steps down (gosu, su-exec) starts as that user directly when its volumes belong to the pod's `fs-group`"),
            );
            return None;
        }
        Some((v, e.value_span))
    };
    let user = id("run-as-user", diags);
    let group = id("run-as-group", diags);
    let fs_group = id("fs-group", diags);
    if let (false, Some(e)) = (service, n.prop("fs-group")) {
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                "`fs-group` is the pod's: set it on the service",
            )
            .with_label(e.span, "a container has no fsGroup of its own")
            .with_help("move `fs-group=` to the service's own `security`: it sets the group of every volume of the pod"),
        );
    }
    for (key, v) in [
        ("run-as-user", user),
        ("run-as-group", group),
        ("fs-group", fs_group.filter(|_| service)),
    ] {
        let Some((v, span)) = v else { continue };
        if v >= 10_000 {
            continue;
        }
        let what = match key {
            "run-as-user" => "UID",
            "run-as-group" => "GID",
            _ => "volume group (fsGroup)",
        };
        warn(
            Diagnostic::warning(
                Code::LowUserId,
                format!("`{owner}` runs with {what} {v}, below 10000"),
            )
            .with_label(span, format!("{what} {v} may belong to a user of the node"))
            .with_note("a process that escapes its container keeps its IDs: below 10000 they may be those of a real user or system account of the node, with its files (checkov CKV_K8S_40, trivy KSV-0020 and KSV-0021)")
            .with_help("use an ID of 10000 or more when the image allows it (most need only their volumes writable, which the pod's `fs-group` gives)"),
            diags,
        );
    }
    let image_user = n
        .prop("run-as")
        .is_some_and(|e| e.value.as_str() == Some("image"));
    if let (true, Some(e), Some(u)) = (image_user, n.prop("run-as"), n.prop("run-as-user")) {
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                "`run-as=\"image\"` and `run-as-user` name two users",
            )
            .with_label(u.span, "this UID")
            .with_secondary(e.span, "the image's USER")
            .with_help("keep one: the image's user (`run-as=\"image\"`) or a UID (`run-as-user=`)"),
        );
    } else if let (true, Some(e)) = (image_user, n.prop("run-as")) {
        warn(
            Diagnostic::warning(
                Code::ImageUser,
                format!("`{owner}` runs as its image's user"),
            )
            .with_label(e.span, "whichever UID the image's USER names")
            .with_note("nestioc cannot see the image: Kubernetes only checks that the UID is not 0 (`runAsNonRoot`), and refuses to start a container whose USER is a name rather than a number (CreateContainerConfigError); the UID may be a low one, shared with a user of the node (checkov CKV_K8S_40, trivy KSV-0020)")
            .with_help("prefer the image's UID written out (`run-as-user=999`), which a reviewer can see"),
            diags,
        );
    }
    let read_only_root = match n.prop("read-only-root") {
        Some(e) if e.value == Value::Bool(false) => {
            warn(
                Diagnostic::warning(
                    Code::WritableRootFilesystem,
                    format!("`{owner}` has a writable root filesystem"),
                )
                .with_label(e.span, "the image's files can be changed")
                .with_note("whoever gets to run code in the container can change its programs and configuration, and what they plant stays until the pod is replaced (checkov CKV_K8S_22, trivy KSV-0014)")
                .with_help("mount a `volume` at each directory the image writes to (docs/security.md lists how to find them)"),
                diags,
            );
            false
        }
        _ => true,
    };
    let mut add_capabilities: Vec<String> = Vec::new();
    for e in n.prop_values("add-capabilities") {
        let Some(cap) = str_of(e) else { continue };
        let upper = cap.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if cap == "ALL" || upper == "ALL" {
            diags.push(
                forbidden(
                    owner,
                    "every capability",
                    "`ALL` includes SYS_ADMIN, SYS_MODULE, NET_ADMIN, ...",
                    e.value_span,
                )
                .with_help(refused_help("capability")),
            );
            continue;
        }
        if !lang::CAPABILITIES.contains(&cap.as_str()) {
            let help = if lang::CAPABILITIES.contains(&bare) {
                format!("write it as Kubernetes names it: \"{bare}\"")
            } else {
                suggest::help_for(&cap, lang::CAPABILITIES.iter().copied(), "capability")
            };
            diags.push(
                Diagnostic::error(Code::UnknownValue, format!("unknown capability `{cap}`"))
                    .with_label(
                        e.value_span,
                        "not a Linux capability as Kubernetes names it",
                    )
                    .with_help(help),
            );
            continue;
        }
        if !lang::BASELINE_CAPABILITIES.contains(&cap.as_str()) {
            diags.push(
                forbidden(
                    owner,
                    &format!("the capability `{cap}`"),
                    "beyond what the `baseline` profile allows",
                    e.value_span,
                )
                .with_help(refused_help("capability")),
            );
            continue;
        }
        if add_capabilities.contains(&cap) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("capability `{cap}` is added twice"),
                )
                .with_label(e.value_span, "added again here")
                .with_help("list each capability once"),
            );
            continue;
        }
        warn(
            Diagnostic::warning(
                Code::AddedCapability,
                format!("`{owner}` adds the capability `{cap}`"),
            )
            .with_label(e.value_span, format!("lets the process {}", capability_meaning(&cap)))
            .with_note("every other capability stays dropped; and a process that does not run as root gets an added capability only from a program file that carries it (`setcap`), since Kubernetes sets no ambient capabilities (kubernetes/kubernetes#56374) (checkov CKV_K8S_37, trivy KSV-0022)")
            .with_help("add only what the program needs"),
            diags,
        );
        add_capabilities.push(cap);
    }
    if let (Some(e), false) = (reason, relaxed)
        && acknowledged
    {
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                "`reason` explains a relaxation, and this `security` relaxes nothing",
            )
            .with_label(e.span, "nothing to explain")
            .with_help("remove `reason=`: the container keeps every default"),
        );
    }
    let run_as = if image_user && user.is_none() {
        RunAs::Image {
            group: group.map(|g| g.0),
        }
    } else {
        RunAs::Ids {
            user: user.map_or(DEFAULT_ID, |u| u.0),
            group: group.map_or(DEFAULT_ID, |g| g.0),
        }
    };
    Security {
        run_as,
        read_only_root,
        add_capabilities,
        fs_group: fs_group.filter(|_| service).map_or(DEFAULT_ID, |f| f.0),
        span: Some(n.head_span()),
    }
}

// ----------------------------------------------------------------------------- metadata

/// Keys nestioc sets itself, on the pod template or the Service: a user value would
/// replace nestioc's (the mesh's injection and policy, the Service's circuit breaking,
/// the controllers' revision labels).
const RESERVED_KEYS: &[(&str, &str)] = &[
    ("sidecar.istio.io/inject", "nestioc injects Istio's proxy"),
    ("linkerd.io/inject", "nestioc injects Linkerd's proxy"),
    (
        "config.linkerd.io/default-inbound-policy",
        "nestioc denies every unauthorized request under Linkerd",
    ),
    (
        "config.alpha.linkerd.io/proxy-wait-before-exit-seconds",
        "nestioc sets Linkerd's proxy drain",
    ),
    (
        "config.beta.linkerd.io/proxy-enable-native-sidecar",
        "nestioc starts Linkerd's proxy first in a pod with a `sidecar` or `init-container`, and in a job's",
    ),
    (
        "balancer.linkerd.io/failure-accrual",
        "nestioc sets Linkerd's circuit breaking from `circuit-breaker`",
    ),
    (
        "balancer.linkerd.io/failure-accrual-consecutive-max-failures",
        "nestioc sets Linkerd's circuit breaking from `circuit-breaker`",
    ),
    (
        "balancer.linkerd.io/failure-accrual-consecutive-min-penalty",
        "nestioc sets Linkerd's circuit breaking from `circuit-breaker`",
    ),
    (
        "pod-template-hash",
        "the Deployment controller labels each revision's pods with it",
    ),
    (
        "rollouts-pod-template-hash",
        "Argo Rollouts labels each revision's pods with it",
    ),
];

/// The prefixes nestioc owns: the recommended labels it sets and its own keys.
const RESERVED_PREFIXES: &[&str] = &["app.kubernetes.io", "nestio.dev"];

/// A Kubernetes qualified name (`[prefix/]name`): the prefix a DNS subdomain of at most
/// 253 characters, the name at most 63 alphanumerics, `-`, `_`, `.`, starting and ending
/// alphanumeric (k8s.io/apimachinery pkg/util/validation `IsQualifiedName`).
#[must_use]
pub fn valid_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    name_ok && prefix_ok
}

/// A label value: empty, or at most 63 alphanumerics, `-`, `_`, `.`, starting and ending
/// alphanumeric (`IsValidLabelValue`).
#[must_use]
pub fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// The API server refuses an object whose annotations, keys and values together, exceed
/// 256 KiB (`TotalAnnotationSizeLimitB`, k8s.io/apimachinery
/// pkg/api/validation/objectmeta.go).
const ANNOTATIONS_LIMIT: usize = 256 * 1024;

/// `annotation`, `label` or `service-annotation` entries, by key.
pub(super) fn lower_metadata(
    kids: &[Node],
    node_name: &str,
    diags: &mut Diagnostics,
) -> BTreeMap<String, String> {
    let label = node_name == lang::LABEL.name;
    let mut out = BTreeMap::new();
    let mut size = 0usize;
    for n in kids.iter().filter(|c| c.name == node_name) {
        let (Some(k), Some(v)) = (n.arg(0), n.arg(1)) else {
            continue;
        };
        let (Some(key), Some(value)) = (str_of(k), str_of(v)) else {
            continue;
        };
        if !valid_qualified_name(&key) {
            diags.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("invalid {} key `{key}`", if label { "label" } else { "annotation" }),
                )
                .with_label(k.value_span, "not a Kubernetes qualified name")
                .with_help("a key is `[prefix/]name`: an optional DNS subdomain and `/`, then at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit, e.g. \"prometheus.io/scrape\""),
            );
            continue;
        }
        let prefix = key.split_once('/').map(|(p, _)| p);
        let reserved = RESERVED_KEYS
            .iter()
            .find(|(r, _)| *r == key)
            .map(|(_, why)| (*why).to_owned())
            .or_else(|| {
                prefix
                    .filter(|p| RESERVED_PREFIXES.contains(p))
                    .map(|p| format!("nestioc sets the `{p}/` keys itself"))
            });
        if let Some(why) = reserved {
            diags.push(
                Diagnostic::error(
                    Code::ReservedMetadataKey,
                    format!("the key `{key}` is reserved"),
                )
                .with_label(k.value_span, why)
                .with_help(if prefix.is_some_and(|p| RESERVED_PREFIXES.contains(&p)) {
                    "use a prefix of your own, e.g. \"example.com/team\": `app.kubernetes.io/*` and `nestio.dev/*` are what nestioc sets (name, instance, version, component, part-of, managed-by, owner, tier, source), from `owner`, `tier` and the image".to_owned()
                } else {
                    "remove it: nestioc derives this key from the topology".to_owned()
                }),
            );
            continue;
        }
        if label && !valid_label_value(&value) {
            diags.push(
                Diagnostic::error(Code::InvalidName, format!("invalid label value `{value}`"))
                    .with_label(v.value_span, "not a Kubernetes label value")
                    .with_help("a label value is empty or at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit"),
            );
            continue;
        }
        if !label {
            if let Err(d) = check_free_text(&value, "annotation value").at(v.value_span) {
                diags.push(d);
                continue;
            }
            size += key.len() + value.len();
            if size > ANNOTATIONS_LIMIT {
                diags.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        format!("the `{node_name}`s are over {} KiB", ANNOTATIONS_LIMIT / 1024),
                    )
                    .with_label(v.value_span, "the total passes the limit here")
                    .with_help("the API server refuses an object whose annotations, keys and values, exceed 256 KiB: keep large data in a ConfigMap or a volume"),
                );
                continue;
            }
        }
        out.insert(key, value);
    }
    out
}

// ----------------------------------------------------------------------------- containers

/// `sidecar` and `init-container` nodes: the containers, and the sidecars' ports appended
/// to `ports` (checked against the pod's other ports: one network namespace, one Service).
pub(super) fn lower_containers(
    service: &str,
    service_image: &Image,
    kids: &[Node],
    project: &Project,
    volumes: &[Volume],
    ports: &mut Vec<Port>,
    diags: &mut Diagnostics,
) -> (Vec<Container>, Vec<Container>) {
    let mut sidecars = Vec::new();
    let mut inits = Vec::new();
    // Container names, with where each was declared (the service's own first).
    let mut names: Vec<(String, Option<Span>)> = vec![(service.to_owned(), None)];
    // Scratch volumes of the extra containers, by name.
    let mut private: Vec<(String, Span)> = Vec::new();
    for n in kids
        .iter()
        .filter(|c| c.name == lang::SIDECAR.name || c.name == lang::INIT_CONTAINER.name)
    {
        let sidecar = n.name == lang::SIDECAR.name;
        let what = n.name.as_str();
        let Some(name_entry) = n.arg(0) else { continue };
        let Some(name) = str_of(name_entry) else {
            continue;
        };
        if names::check_dns_label(&name, what).is_err() {
            continue;
        }
        if lang::MESH_CONTAINERS.contains(&name.as_str()) {
            diags.push(
                Diagnostic::error(
                    Code::ReservedContainerName,
                    format!("`{name}` is the name of a mesh's own container"),
                )
                .with_label(name_entry.value_span, "the mesh injects a container of this name")
                .with_help("name the container after what it does (\"exporter\", \"migrate\"); the mesh adds its proxy by itself, and nestioc configures it from `mesh`"),
            );
            continue;
        }
        // The container's /tmp is an emptyDir named `tmp-<name>`, a DNS label.
        if name.len() > 59 {
            diags.push(
                Diagnostic::error(Code::InvalidName, format!("{what} name `{name}` is too long"))
                    .with_label(name_entry.value_span, "at most 59 characters")
                    .with_help("its /tmp is a volume named `tmp-<name>`, at most 63 characters: shorten the name"),
            );
            continue;
        }
        if let Some((_, first)) = names.iter().find(|(c, _)| *c == name) {
            let mut d = Diagnostic::error(
                Code::DuplicateName,
                format!("the pod has two containers named `{name}`"),
            )
            .with_label(name_entry.value_span, "declared again here");
            d = match first {
                Some(s) => d.with_secondary(*s, "first declared here"),
                None => d.with_note(format!("the service's own container is named `{service}`")),
            };
            diags.push(d.with_help("container names are unique in a pod; rename this one"));
            continue;
        }
        names.push((name.clone(), Some(name_entry.value_span)));
        let children = &n.children;
        let own_image = child(children, "image");
        // An init container without an image runs the service's: a migration, a cache
        // warm-up, a file to prepare need the code of the release they run for.
        let (image, service_image) = match own_image {
            Some(image_node) => (
                lower_image(&name, image_node, children, project, false, diags),
                false,
            ),
            None if !sidecar => (service_image.clone(), true),
            None => {
                diags.push(
                Diagnostic::error(
                    Code::MissingValue,
                    format!("{what} `{name}` has no image"),
                )
                .with_label(n.head_span(), "missing `image`")
                .with_help(format!(
                    "give its image inside the braces: `{what} \"{name}\" {{ image \"prom/redis-exporter\" tag=\"v1.62.0\" }}`"
                )),
                );
                continue;
            }
        };
        let mut own_ports = Vec::new();
        if sidecar {
            for mut p in lower_ports(children, diags) {
                if let Some(other) = ports
                    .iter()
                    .find(|o| o.name == p.name || o.port == p.port || o.target == p.target)
                {
                    let clash = if other.name == p.name {
                        format!("port name `{}` is used twice in the pod", p.name)
                    } else if other.port == p.port {
                        format!("port {} is declared twice in the pod", p.port)
                    } else {
                        format!("container port {} is the target of two ports", p.target)
                    };
                    diags.push(
                        Diagnostic::error(Code::DuplicateName, clash)
                            .with_label(p.span, "declared again here")
                            .with_secondary(other.span, match &other.sidecar {
                                Some(s) => format!("already a port of the sidecar `{s}`"),
                                None => "already a port of the service's own container".to_owned(),
                            })
                            .with_help("a pod's containers share one network namespace and one Service: give each port its own name and number"),
                    );
                    continue;
                }
                p.sidecar = Some(name.clone());
                own_ports.push(p);
            }
            ports.extend(own_ports.iter().cloned());
        }
        let probes = if sidecar {
            lower_probes(&name, children, ports, Some(&name), diags)
        } else {
            Probes::default()
        };
        let mounts = lower_mounts(&name, children, volumes, &mut private, diags);
        let container = Container {
            command: lower_command(children, diags),
            args: super::service::lower_args(children, diags),
            env: lower_env(children, service, diags),
            resources: lower_resources(children, diags),
            security: lower_security(&name, children, false, diags),
            name,
            name_span: name_entry.value_span,
            image,
            service_image,
            mounts,
            probes,
            span: n.head_span(),
        };
        if sidecar {
            sidecars.push(container);
        } else {
            inits.push(container);
        }
    }
    // A container's /tmp volume must not be a name the pod already uses.
    for (c, span) in names.iter().skip(1) {
        let tmp = format!("tmp-{c}");
        if let Some(v) = volumes.iter().find(|v| v.name == tmp) {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    format!("the volume name `{tmp}` is taken"),
                )
                .with_label(
                    v.span,
                    format!("the container `{c}` has its /tmp in a volume of this name"),
                )
                .with_secondary(span.unwrap_or(v.span), "declared here")
                .with_help("give the volume another name"),
            );
        }
    }
    (sidecars, inits)
}

/// A sidecar's or init container's `volume`s: the service's volume of that name, or a
/// scratch volume of its own.
fn lower_mounts(
    container: &str,
    kids: &[Node],
    volumes: &[Volume],
    private: &mut Vec<(String, Span)>,
    diags: &mut Diagnostics,
) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for n in kids.iter().filter(|c| c.name == lang::VOLUME.name) {
        let (Some(name), Some(path_entry)) = (arg_str(n, 0), n.prop("path")) else {
            continue;
        };
        let Some(path) = str_of(path_entry) else {
            continue;
        };
        if let Err(d) = check_mount_path(&path).at(path_entry.value_span) {
            diags.push(d);
            continue;
        }
        if path == "/tmp" || name == "tmp" || name.starts_with("tmp-") {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    "`/tmp` is already a scratch volume",
                )
                .with_label(
                    if path == "/tmp" {
                        path_entry.value_span
                    } else {
                        n.ident_span()
                    },
                    "every container has its own /tmp, in a volume `tmp-<container>`",
                )
                .with_help("mount this volume elsewhere, under another name"),
            );
            continue;
        }
        if let Some(other) = out.iter().find(|m| m.path == path) {
            diags.push(super::workload::mounted_twice(
                &path,
                path_entry.value_span,
                &other.name,
                other.span,
            ));
            continue;
        }
        let shared = volumes.iter().find(|v| v.name == name);
        let size = match shared {
            Some(v) => {
                if let Some(e) = ["size", "persistent", "keep"]
                    .iter()
                    .find_map(|k| n.prop(k))
                {
                    diags.push(
                        Diagnostic::error(
                            Code::ConflictingEntries,
                            format!("volume `{name}` is the service's: its settings are there"),
                        )
                        .with_label(e.span, "set on the service's `volume`")
                        .with_secondary(v.span, "declared here")
                        .with_help(format!(
                            "write only where this container mounts it: `volume \"{name}\" path=\"{path}\"`"
                        )),
                    );
                    continue;
                }
                None
            }
            None => {
                if let Some(e) = n.prop("persistent").or_else(|| n.prop("keep")) {
                    diags.push(
                        Diagnostic::error(
                            Code::ConflictingEntries,
                            format!("`{container}`'s own volume `{name}` is scratch space"),
                        )
                        .with_label(e.span, "only the service's volumes can be persistent")
                        .with_help(format!(
                            "declare the persistent volume on the service (`volume \"{name}\" path=... persistent=#true`) and mount it here by its name"
                        )),
                    );
                    continue;
                }
                if let Some((_, first)) = private.iter().find(|(p, _)| *p == name) {
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateName,
                            format!("two containers declare a scratch volume `{name}`"),
                        )
                        .with_label(n.ident_span(), "declared again here")
                        .with_secondary(*first, "first declared here")
                        .with_help("to share it, declare it on the service and mount it by its name in each container; otherwise rename one"),
                    );
                    continue;
                }
                private.push((name.clone(), n.ident_span()));
                Some(
                    n.prop("size")
                        .and_then(super::read::quantity_of)
                        .unwrap_or_else(default_size),
                )
            }
        };
        out.push(Mount {
            name,
            path,
            size,
            span: n.ident_span(),
        });
    }
    out
}

fn default_size() -> Quantity {
    Quantity::parse("1Gi").unwrap_or(Quantity {
        text: "1Gi".into(),
        value: Decimal::from(1u64 << 30),
        suffix: "Gi".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::{valid_label_value, valid_qualified_name};

    /// The cases of k8s.io/apimachinery pkg/util/validation/validation_test.go
    /// (`TestIsQualifiedName`, `TestIsValidLabelValue`): what the API server accepts as a
    /// label or annotation key and as a label value.
    #[test]
    fn keys_and_values_are_what_the_api_server_accepts() {
        for ok in [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "now-with-dashes/now-with-dashes",
            "now.with.dots/simple",
            "now-with.dashes-and.dots/simple",
            "1-num.2-num/3-num",
            "1234/5678",
            "1.2.3.4/5678",
            "Uppercase_Is_OK_123",
            "example.com/Uppercase_Is_OK_123",
            "prometheus.io/scrape",
        ] {
            assert!(valid_qualified_name(ok), "{ok}");
        }
        let long_name = "a".repeat(64);
        let long_prefix = format!("{}/b", "a".repeat(254));
        for bad in [
            "",
            "nospecialchars%^=@",
            "cantendwithadash-",
            "-cantstartwithadash-",
            "only/one/slash",
            "Example.com/abc",
            "example_com/abc",
            "example.com/",
            "/simple",
            long_name.as_str(),
            long_prefix.as_str(),
            "a b",
        ] {
            assert!(!valid_qualified_name(bad), "{bad}");
        }
        for ok in [
            "",
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "end-with-num-1",
            "1234",
            "a.b_c-D",
        ] {
            assert!(valid_label_value(ok), "{ok}");
        }
        for bad in [
            "nospecialchars%^=@",
            "Tama-nui-te-rā.is_the_best",
            "cantendwithadash-",
            "-cantstartwithadash",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(!valid_label_value(bad), "{bad}");
        }
    }
}
