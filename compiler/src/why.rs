//! `nestioc why SERVICE [FIELD [NAME]]`: where a service's value comes from. Prints, for
//! each entry, every layer that set it (defaults, templates, the service, the
//! environment) with its source location, and the final value.

use std::fmt::Write as _;

use crate::lower::Provenance;
use crate::lower::expand::Merged;
use crate::model::{EnvValue, Environment, ScaleRule, Service};
use crate::source::SourceMap;

/// The source text of a span's first line, trimmed.
fn excerpt(sources: &SourceMap, m: &crate::source::Span) -> String {
    let text = &sources.get(m.source).text;
    let s = text.get(m.range()).unwrap_or_default();
    let first = s.lines().next().unwrap_or_default().trim();
    if first.len() > 90 {
        format!(
            "{}...",
            &first[..first.char_indices().nth(87).map_or(first.len(), |(i, _)| i)]
        )
    } else {
        first.to_owned()
    }
}

/// The merged node as KDL, parameters substituted: `owner "api-team"`.
fn written(m: &Merged) -> String {
    head(&m.node)
        + if m.node.children.is_empty() {
            ""
        } else {
            " { ... }"
        }
}

fn head(node: &crate::syntax::Node) -> String {
    let mut s = node.name.clone();
    for e in &node.entries {
        s.push(' ');
        if let Some(n) = &e.name {
            s.push_str(n);
            s.push('=');
        }
        s.push_str(&e.raw);
    }
    s
}

fn kdl_node(node: &crate::syntax::Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    out.push_str(&pad);
    out.push_str(&head(node));
    if node.children.is_empty() {
        out.push('\n');
        return;
    }
    out.push_str(" {\n");
    for c in &node.children {
        kdl_node(c, indent + 4, out);
    }
    out.push_str(&pad);
    out.push_str("}\n");
}

/// The service as it would be written with every template and default spelled out:
/// what the compiler sees after merging.
#[must_use]
pub fn expanded_kdl(p: &Provenance) -> String {
    let mut out = format!("service \"{}\" {{\n", p.service.name);
    for m in &p.merged {
        kdl_node(&m.node, 4, &mut out);
    }
    out.push_str("}\n");
    out
}

/// The name a user types to pick an entry: `replicas`, `port http`, `env LOG_LEVEL`.
fn entry_name(m: &Merged) -> String {
    match m.node.name_arg() {
        Some(n)
            if crate::lang::SERVICE_CHILDREN
                .iter()
                .any(|s| s.name == m.node.name && s.named) =>
        {
            format!("{} {n}", m.node.name)
        }
        _ => m.node.name.clone(),
    }
}

fn final_value(
    service: &Service,
    field: &str,
    name: Option<&str>,
    env: Option<&Environment>,
) -> Option<String> {
    match field {
        "replicas" => {
            let s = crate::emit::chart::scaled(service, env);
            let mut text = match s.max {
                Some(max) => format!(
                    "autoscaled from {} to {max} replicas at {}% CPU",
                    s.replicas, service.replicas.cpu_target
                ),
                None => format!(
                    "{} replica{}",
                    s.replicas,
                    if s.replicas == 1 { "" } else { "s" }
                ),
            };
            if let Some(e) = env {
                let factor = e.replicas_scale.normalize();
                let scales = e.replicas_scale != rust_decimal::Decimal::ONE;
                match service.scale_rule() {
                    ScaleRule::Fixed => {
                        text.push_str(&format!(" (set by environment `{}`, not scaled)", e.name));
                    }
                    ScaleRule::Scaled if scales => {
                        text.push_str(&format!(" (scaled by {factor} in `{}`)", e.name));
                    }
                    ScaleRule::OptedOut(_) if scales => text.push_str(&format!(
                        " (not scaled by {factor} in `{}`: the service says `scale=#false`)",
                        e.name
                    )),
                    ScaleRule::Stateful(v) if scales => text.push_str(&format!(
                        " (not scaled by {factor} in `{}`: a stateful service, volume `{}` is persistent and each replica has its own; `replicas ... scale=#true` would scale it)",
                        e.name, v.name
                    )),
                    _ => {}
                }
            }
            Some(text)
        }
        "resources" => {
            let r = &service.resources;
            Some(format!(
                "requests cpu={} memory={}, limits cpu={} memory={}",
                r.cpu, r.memory, r.cpu_limit, r.memory_limit
            ))
        }
        "image" => Some(image_value(service)),
        "env" => {
            let name = name?;
            let var = service.env.iter().find(|e| e.name == name)?;
            Some(match &var.value {
                EnvValue::Literal(v) => format!("{name}={v}"),
                EnvValue::Secret { secret, key } => {
                    format!("{name} from secret `{secret}` key `{key}`")
                }
                EnvValue::Dependency => format!("{name}: the address of a dependency"),
            })
        }
        "port" => {
            let p = service.port(name?)?;
            Some(format!(
                "{} {} -> container {} ({})",
                p.name,
                p.port,
                p.target,
                p.protocol.as_str()
            ))
        }
        _ => None,
    }
}

/// The image reference, and the resolution rule that gave it its repository.
fn image_value(service: &Service) -> String {
    use crate::lower::image::canonical;
    use crate::model::ImageRule;
    let image = &service.image;
    let registry = image
        .repository
        .strip_suffix(&image.written)
        .map(|r| r.trim_end_matches('/'));
    let mut rule = image.rule.explain(registry);
    if matches!(
        image.rule,
        ImageRule::ProjectRegistry | ImageRule::BuiltWithoutRegistry
    ) {
        let has: Vec<&str> = [
            ("`language`", service.language.is_some()),
            ("`source`", service.source_path.is_some()),
            ("`dockerfile`", service.dockerfile.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        rule.push_str(&format!("; here: {}", has.join(" and ")));
    }
    let mut text = format!("{}\n  rule: {rule}", image.reference());
    let full = canonical(&image.repository);
    if full != image.repository {
        text.push_str(&format!("\n  pulled from: {full}"));
    }
    // The reference's parts, wherever each was written (`image "redis:7.2"` or `tag=`).
    match (&image.tag, &image.digest) {
        (None, None) => text.push_str("\n  tag: none, so the runtime pulls `latest`"),
        (tag, digest) => {
            if let Some(t) = tag {
                text.push_str(&format!("\n  tag: {t}"));
            }
            if let Some(d) = digest {
                text.push_str(&format!(
                    "\n  digest: {d}{}",
                    if tag.is_some() {
                        " (the runtime pulls by digest; the tag is informative)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    text
}

/// Renders the provenance of `field` (all entries when `None`).
pub fn explain(
    p: &Provenance,
    sources: &SourceMap,
    field: Option<&str>,
    name: Option<&str>,
    env: Option<&Environment>,
) -> Result<String, String> {
    let mut out = String::new();
    let where_ = env.map_or_else(String::new, |e| format!(" in environment `{}`", e.name));
    let selected: Vec<&Merged> = p
        .merged
        .iter()
        .filter(|m| field.is_none_or(|f| m.node.name == f))
        .filter(|m| name.is_none_or(|n| m.node.name_arg() == Some(n)))
        .collect();
    match field {
        Some(f) => {
            let _ = writeln!(
                out,
                "{} `{}`{where_}:",
                match name {
                    Some(n) => format!("{f} \"{n}\""),
                    None => f.to_owned(),
                },
                p.service.name
            );
            if selected.is_empty() {
                let known = crate::lang::SERVICE_CHILDREN.iter().any(|s| s.name == f);
                if !known {
                    let names = crate::lang::SERVICE_CHILDREN.iter().map(|s| s.name);
                    let help = match crate::suggest::did_you_mean(f, names.clone()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!(
                            "the fields are {}",
                            names
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    return Err(format!("unknown field `{f}`; {help}"));
                }
                // A named entry (`env "X"`, `port "admin"`) that no layer sets does not
                // exist: there is no default for it.
                if let Some(n) = name {
                    let set: Vec<&str> = p
                        .merged
                        .iter()
                        .filter(|m| m.node.name == f)
                        .filter_map(|m| m.node.name_arg())
                        .collect();
                    let help = match crate::suggest::did_you_mean(n, set.iter().copied()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None if set.is_empty() => format!("`{}` has no `{f}`", p.service.name),
                        None => format!(
                            "its `{f}` entries are {}",
                            set.iter()
                                .map(|s| format!("`{s}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    return Err(format!(
                        "`{f} \"{n}\"` is not set for `{}`{where_}; {help}",
                        p.service.name
                    ));
                }
                let _ = writeln!(
                    out,
                    "  not set by defaults, templates, the service or the environment: the built-in default applies"
                );
            }
        }
        None => {
            let _ = writeln!(out, "service `{}`{where_}:", p.service.name);
        }
    }
    for m in &selected {
        if field.is_none() || selected.len() > 1 {
            let _ = writeln!(out, "\n  {}", entry_name(m));
        }
        for (i, layer) in m.layers.iter().enumerate() {
            let mark = if i + 1 == m.layers.len() { "=>" } else { "  " };
            let _ = writeln!(
                out,
                "  {mark} {:<28} {:<44} {}",
                layer.label,
                excerpt(sources, &layer.span),
                sources.location(layer.span)
            );
        }
    }
    if let Some(f) = field {
        match final_value(&p.service, f, name, env) {
            Some(v) => {
                let _ = writeln!(out, "\n  final: {v}");
            }
            None => {
                for m in &selected {
                    let _ = writeln!(out, "\n  final: {}", written(m));
                }
            }
        }
    }
    if !p.service.uses.is_empty() && field.is_none() {
        let _ = writeln!(out, "\n  templates used: {}", p.service.uses.join(", "));
    }
    Ok(out)
}
