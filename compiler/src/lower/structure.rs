//! Structural checks of the syntax tree against the language table ([`crate::lang`]):
//! unknown nodes and properties, arity, types, ranges, enum values, duplicates. Typed
//! lowering runs afterwards and can then read values without re-reporting problems.

use std::collections::BTreeMap;

use super::names::{check_dns_label, check_env_name, check_port_name};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::lang::{self, Kind, NodeSpec};
use crate::model::values::{Duration, Percent, Quantity};
use crate::suggest;
use crate::syntax::{Entry, Node, Value};

/// Checks a top-level node and everything under it.
pub(crate) fn check_top(node: &Node, diags: &mut Diagnostics) {
    match lang::TOP_LEVEL.iter().find(|s| s.name == node.name) {
        Some(spec) => check_node(spec, node, diags),
        None => diags.push(unknown_node(node, lang::TOP_LEVEL, "the top level")),
    }
}

/// Where a misplaced node belongs, for the help line: its shallowest home, so that a
/// service entry is said to belong in `service`, not in `project > defaults`, which also
/// takes every service entry.
fn home_of(name: &str) -> Option<&'static str> {
    if lang::TOP_LEVEL.iter().any(|s| s.name == name) {
        return Some("the top level");
    }
    let mut level: Vec<&NodeSpec> = lang::TOP_LEVEL.to_vec();
    while !level.is_empty() {
        if let Some(parent) = level
            .iter()
            .find(|s| s.children.iter().any(|c| c.name == name))
        {
            return Some(parent.name);
        }
        level = level
            .iter()
            .flat_map(|s| s.children.iter().copied())
            .collect();
    }
    None
}

/// The help for an unknown node: a node of the language that belongs elsewhere says
/// where; a name users try from Kubernetes or Helm says what nestio offers instead; a typo
/// gets its correction; anything else the nodes this place takes (never just a count).
fn unknown_node(node: &Node, allowed: &[&NodeSpec], parent: &str) -> Diagnostic {
    let names = allowed.iter().map(|s| s.name);
    let help = if let Some(home) = home_of(&node.name) {
        if parent.trim_matches('`') == home {
            // The same name, another place: an environment's `service` override, say.
            let all: Vec<String> = names.map(|n| format!("`{n}`")).collect();
            format!(
                "this {parent} takes {}; `{}` belongs inside a top-level `{home}`",
                all.join(", "),
                node.name
            )
        } else if home == "the top level" {
            format!("`{}` belongs at the top level of a file", node.name)
        } else {
            format!("`{}` belongs inside `{home}`", node.name)
        }
    } else if let Some(offer) = lang::instead_of(&node.name) {
        format!("nestio has no `{}`: {offer}", node.name)
    } else if let Some(s) = suggest::did_you_mean(&node.name, names.clone()) {
        format!("did you mean `{s}`?")
    } else {
        let all: Vec<String> = names.map(|n| format!("`{n}`")).collect();
        format!("{parent} takes {} (docs/language.md)", all.join(", "))
    };
    Diagnostic::error(
        Code::UnknownNode,
        format!("unknown node `{}` in {parent}", node.name),
    )
    .with_label(node.name_span, "not a known node here")
    .with_help(help)
}

pub(crate) fn check_node(spec: &NodeSpec, node: &Node, diags: &mut Diagnostics) {
    if let Some(ty) = &node.ty {
        diags.push(
            Diagnostic::error(
                Code::UnknownValue,
                format!("unexpected type annotation `({ty})` on `{}`", node.name),
            )
            .with_label(node.name_span, "no annotation is expected here")
            .with_help("remove the annotation"),
        );
    }
    check_entries(spec, node, diags);
    if spec.children.is_empty() {
        if let Some(first) = node.children.first() {
            diags.push(
                Diagnostic::error(
                    Code::UnknownNode,
                    format!("`{}` takes no children", node.name),
                )
                .with_label(first.name_span, "unexpected child")
                .with_help(format!(
                    "write the settings of `{}` as properties: `{}`",
                    node.name,
                    spec.usage()
                )),
            );
        }
        return;
    }
    check_probe_overlaps(node, diags);
    let parent = format!("`{}`", node.name);
    let mut singles: BTreeMap<&str, &Node> = BTreeMap::new();
    let mut named: BTreeMap<(&str, &str), &Node> = BTreeMap::new();
    for child in &node.children {
        let Some(child_spec) = spec.children.iter().find(|s| s.name == child.name) else {
            diags.push(unknown_node(child, spec.children, &parent));
            continue;
        };
        check_node(child_spec, child, diags);
        if !child_spec.repeatable {
            if let Some(first) = singles.insert(child_spec.name, child) {
                diags.push(
                    Diagnostic::error(
                        Code::DuplicateNode,
                        format!("`{}` is given twice in {parent}", child.name),
                    )
                    .with_label(child.name_span, "given again here")
                    .with_secondary(first.name_span, "first given here")
                    .with_help(format!("keep one `{}` line", child.name)),
                );
                singles.insert(child_spec.name, first);
            }
        } else if child_spec.named
            && let Some(key) = child.name_arg()
        {
            if let Some(first) = named.get(&(child_spec.name, key)) {
                diags.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        format!("duplicate `{} \"{key}\"` in {parent}", child.name),
                    )
                    .with_label(child.ident_span(), "declared again here")
                    .with_secondary(first.ident_span(), "first declared here")
                    .with_help("names must be unique; remove or rename one"),
                );
            } else {
                named.insert((child_spec.name, key), child);
            }
        }
    }
}

/// Two probes of one body that set the same probe (`for="all"` sets readiness and
/// liveness): which one applies would depend on the order of the lines.
fn check_probe_overlaps(node: &Node, diags: &mut Diagnostics) {
    let mut seen: Vec<(&Node, &'static [&'static str])> = Vec::new();
    for probe in node.children.iter().filter(|c| c.name == lang::PROBE.name) {
        let f = probe
            .prop("for")
            .and_then(|e| e.value.as_str())
            .unwrap_or("all");
        let covers = lang::probe_covers(f);
        if let Some((first, kind)) = seen
            .iter()
            .find_map(|(first, c)| covers.iter().find(|k| c.contains(k)).map(|k| (*first, *k)))
        {
            let at = probe.prop("for").map_or(probe.head_span(), |e| e.span);
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("two probes set the {kind} probe in `{}`", node.name),
                )
                .with_label(at, format!("sets the {kind} probe again"))
                .with_secondary(first.head_span(), "first set here")
                .with_help("give each probe its own `for=` (`readiness`, `liveness` or `startup`; `all` is readiness and liveness), or remove one"),
            );
            continue;
        }
        seen.push((probe, covers));
    }
}

fn check_entries(spec: &NodeSpec, node: &Node, diags: &mut Diagnostics) {
    // KDL lets the last of two equal property names win (its specification, "Properties");
    // as with a node given twice (NST0113), one of the two is not what the author meant.
    let mut props_seen: BTreeMap<&str, &Entry> = BTreeMap::new();
    for entry in &node.entries {
        let Some(key) = entry.name.as_deref() else {
            continue;
        };
        if let Some(first) = props_seen.insert(key, entry) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateNode,
                    format!("`{key}=` is given twice in `{}`", node.name),
                )
                .with_label(entry.span, "given again here")
                .with_secondary(first.span, "first given here")
                .with_help(format!("keep one `{key}=`")),
            );
            props_seen.insert(key, first);
        }
    }
    let mut arg_index = 0;
    // The property whose further values the arguments after it are
    // (`command="redis-cli" "ping"`).
    let mut continuing: Option<&lang::PropSpec> = None;
    for entry in &node.entries {
        if entry.name.is_some() {
            continuing = None;
        }
        match entry.ty.as_deref() {
            // Template parameters are checked once substituted (see `expand`).
            Some("param" | "fmt") => {
                if entry.name.is_none() && continuing.is_none() {
                    arg_index += 1;
                }
                continue;
            }
            Some(ty) => {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownValue,
                        format!(
                            "unknown type annotation `({ty})` on a value of `{}`",
                            node.name
                        ),
                    )
                    .with_label(entry.span, "not a known annotation")
                    .with_help("the annotations are `(param)\"name\"`, a template parameter, and `(fmt)\"text {name}\"`, text with parameters"),
                );
                continue;
            }
            None => {}
        }
        match &entry.name {
            None if continuing.is_some() => {
                if let Some(p) = continuing
                    && let Err(d) = check_value(p.kind, entry, p.name, &node.name)
                {
                    diags.push(d);
                }
            }
            None => {
                let arg = spec.args.get(arg_index).or(spec.rest.as_ref());
                match arg {
                    Some(a) => {
                        if let Err(d) = check_value(a.kind, entry, a.name, &node.name) {
                            diags.push(d);
                        }
                    }
                    None => diags.push(
                        Diagnostic::error(
                            Code::UnexpectedArgument,
                            format!(
                                "`{}` takes {} argument{}, this is one too many",
                                node.name,
                                spec.args.len(),
                                if spec.args.len() == 1 { "" } else { "s" }
                            ),
                        )
                        .with_label(entry.span, "unexpected argument")
                        .with_help(if spec.props.is_empty() {
                            format!("usage: `{}`", spec.usage())
                        } else {
                            format!(
                                "usage: `{}`; settings are written as properties, `key=value`",
                                spec.usage()
                            )
                        }),
                    ),
                }
                arg_index += 1;
            }
            Some(key) => match spec.props.iter().find(|p| p.name == key) {
                Some(p) => {
                    if let Err(d) = check_value(p.kind, entry, p.name, &node.name) {
                        diags.push(d);
                    }
                    continuing = p.many.then_some(p);
                }
                None if spec.any_props.is_some() => {
                    let kind = spec.any_props.unwrap_or(Kind::Scalar);
                    if let Err(d) = check_value(kind, entry, key, &node.name) {
                        diags.push(d);
                    }
                }
                None => {
                    let names = spec.props.iter().map(|p| p.name);
                    let help = match suggest::did_you_mean(key, names.clone()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if spec.props.is_empty() => {
                            format!("`{}` takes no properties", node.name)
                        }
                        None => suggest::help_for(key, names, "property"),
                    };
                    diags.push(
                        Diagnostic::error(
                            Code::UnknownProperty,
                            format!("unknown property `{key}` on `{}`", node.name),
                        )
                        .with_label(
                            entry.name_span.unwrap_or(entry.span),
                            "not a known property",
                        )
                        .with_help(help),
                    );
                }
            },
        }
    }
    let head = node.head_span();
    for (i, a) in spec.args.iter().enumerate() {
        if a.required && i >= arg_index {
            diags.push(
                Diagnostic::error(
                    Code::MissingValue,
                    format!("`{}` needs its {} argument", node.name, a.name),
                )
                .with_label(head, format!("missing {}", a.name))
                .with_help(format!("usage: `{}`", spec.usage())),
            );
            break;
        }
    }
    for p in spec.props.iter().filter(|p| p.required) {
        if node.prop(p.name).is_none() {
            diags.push(
                Diagnostic::error(
                    Code::MissingValue,
                    format!("`{}` needs the property `{}`", node.name, p.name),
                )
                .with_label(head, format!("missing `{}=`", p.name))
                .with_help(format!("usage: `{}`", spec.usage())),
            );
        }
    }
}

fn wrong_type(kind: Kind, entry: &Entry, what: &str, node: &str) -> Diagnostic {
    let help = match (&entry.value, kind) {
        (Value::String(s), Kind::Int(..) | Kind::Port | Kind::Number)
            if s.trim().parse::<f64>().is_ok() =>
        {
            format!("write the number without quotes: `{}`", s.trim())
        }
        (Value::String(s), Kind::Bool) if s == "true" || s == "false" => {
            format!("KDL booleans are written `#{s}`")
        }
        (Value::Integer(n), Kind::Duration | Kind::PositiveDuration) => {
            format!("durations need a unit, e.g. \"{n}s\" or \"{n}ms\"")
        }
        (Value::Float(_), Kind::Duration | Kind::PositiveDuration) => {
            format!(
                "durations are quoted, with a unit: \"{}s\" or \"{}m\"",
                entry.raw, entry.raw
            )
        }
        (Value::Float(_), Kind::Int(..) | Kind::Port) => "use a whole number".to_owned(),
        (
            _,
            Kind::Str
            | Kind::Name
            | Kind::Subdomain
            | Kind::PortName
            | Kind::EnvName
            | Kind::Enum(_),
        ) => {
            format!(
                "write it as a quoted string: \"{}\"",
                entry.raw.trim_matches('"')
            )
        }
        _ => format!("`{what}` is {}", kind.describe()),
    };
    Diagnostic::error(
        Code::WrongType,
        format!(
            "{} must be {}, found {}",
            subject(what, node),
            kind.describe(),
            entry.value.type_name()
        ),
    )
    .with_label(entry.value_span, format!("expected {}", kind.describe()))
    .with_help(help)
}

/// "`max` of `replicas`", or just "`tier`" when the value is the node's own argument.
fn subject(what: &str, node: &str) -> String {
    if what == node || what == "name" {
        format!("`{node}`")
    } else {
        format!("`{what}` of `{node}`")
    }
}

fn out_of_range(entry: &Entry, what: &str, node: &str, lo: i64, hi: i64) -> Diagnostic {
    Diagnostic::error(
        Code::OutOfRange,
        format!("{} is out of range: {}", subject(what, node), entry.raw),
    )
    .with_label(entry.value_span, format!("must be from {lo} to {hi}"))
    .with_help(format!("use a value from {lo} to {hi}"))
}

/// Checks one value against its kind.
pub(crate) fn check_value(
    kind: Kind,
    entry: &Entry,
    what: &str,
    node: &str,
) -> Result<(), Diagnostic> {
    let span = entry.value_span;
    match (kind, &entry.value) {
        (Kind::Str, Value::String(_)) => Ok(()),
        (Kind::Name, Value::String(s)) => {
            check_dns_label(s, if what == "name" { node } else { what }).at(span)
        }
        (Kind::Subdomain, Value::String(s)) => {
            super::names::check_dns_subdomain(s, if what == "name" { node } else { what }).at(span)
        }
        (Kind::PortName, Value::String(s)) => check_port_name(s).at(span),
        (Kind::EnvName, Value::String(s)) => check_env_name(s).at(span),
        (Kind::Int(lo, hi), Value::Integer(n)) => {
            if *n < i128::from(lo) || *n > i128::from(hi) {
                let d = out_of_range(entry, what, node, lo, hi);
                Err(if what == "node-port" {
                    // The range is the API server's `--service-node-port-range`, 30000-32767
                    // unless the cluster's administrator changed it
                    // (https://kubernetes.io/docs/concepts/services-networking/service/#type-nodeport).
                    d.with_note("node ports come from the API server's `--service-node-port-range`, 30000-32767 by default; `load-balancer=#true` publishes any port")
                } else {
                    d
                })
            } else {
                Ok(())
            }
        }
        (Kind::Port, Value::Integer(n)) => {
            if (1..=65535).contains(n) {
                Ok(())
            } else {
                Err(out_of_range(entry, what, node, 1, 65535))
            }
        }
        (Kind::Number, Value::Integer(_) | Value::Float(_))
        | (Kind::Bool, Value::Bool(_))
        | (Kind::Scalar, Value::String(_) | Value::Integer(_) | Value::Float(_) | Value::Bool(_)) => {
            Ok(())
        }
        (Kind::Duration, Value::String(s)) => Duration::parse(s).map(|_| ()).at(span),
        (Kind::PositiveDuration, Value::String(s)) => match Duration::parse(s).at(span)? {
            d if d.millis == 0 => Err(Diagnostic::error(
                Code::OutOfRange,
                format!("{} must be above zero", subject(what, node)),
            )
            .with_label(span, "zero")
            .with_help("give it at least a millisecond, e.g. \"100ms\", or leave it out for the default")
            .with_note("the consumers refuse a zero duration here (Istio's CRDs require at least 1ms; a zero timeout or threshold would fail every request)")),
            _ => Ok(()),
        },
        (Kind::Quantity, Value::String(_) | Value::Integer(_) | Value::Float(_)) => {
            let text = entry.raw.trim_matches('"');
            Quantity::parse(text)
                .map(|_| ())
                .map_err(|mut p| {
                    // `cpu="100mi"`: for a CPU the likely fix is millicores, not mebibytes.
                    if what.starts_with("cpu")
                        && let Some(number) = text
                            .strip_suffix("mi")
                            .or_else(|| text.strip_suffix("Mi"))
                            .or_else(|| text.strip_suffix("MI"))
                    {
                        p.message = format!("invalid CPU quantity `{text}`");
                        p.help = Some(format!(
                            "did you mean `{number}m`? CPU is counted in cores, and `m` is a thousandth of a core"
                        ));
                    }
                    p
                })
                .at(span)
        }
        (Kind::Percent, Value::String(_) | Value::Integer(_) | Value::Float(_)) => {
            Percent::parse(&entry.raw).map(|_| ()).at(span)
        }
        (Kind::Enum(values), Value::String(s)) => {
            if values.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(Diagnostic::error(
                    Code::UnknownValue,
                    format!("unknown {what} `{s}` for `{node}`"),
                )
                .with_label(span, format!("expected {}", kind.describe()))
                .with_help(match suggest::alias(s).filter(|a| values.contains(a)) {
                    Some(a) => format!("did you mean `{a}`?"),
                    None => suggest::help_for(s, values.iter().copied(), what),
                }))
            }
        }
        _ => Err(wrong_type(kind, entry, what, node)),
    }
}
