//! Merging: project `defaults`, templates (`uses`, with parameters), the service's own
//! entries and environment overrides become one list of children. Each merged child
//! remembers every layer that set it, in order, for `nestioc why`.
//!
//! Precedence, lowest first: defaults < templates (in `uses` order, each after the
//! templates it uses) < the service's own entries < the environment's override.

use std::collections::BTreeMap;

use super::STD_PREFIX;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::lang;
use crate::source::Span;
use crate::suggest;
use crate::syntax::{Entry, Node, Value};

/// Where a merged entry was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `defaults`, `template \`std/http-service\``, `service`, `environment \`staging\``.
    pub label: String,
    /// The node's first line in that layer.
    pub span: Span,
}

/// A child after merging, with its history (the last layer won).
#[derive(Debug, Clone)]
pub struct Merged {
    pub node: Node,
    pub layers: Vec<Layer>,
}

/// Project templates and stdlib templates, by name.
#[derive(Debug, Default)]
pub(crate) struct Templates<'a> {
    pub project: BTreeMap<&'a str, &'a Node>,
    pub stdlib: BTreeMap<&'a str, &'a Node>,
}

impl<'a> Templates<'a> {
    /// Project templates shadow the standard library; `std/x` names only the library.
    /// Returns the full name (`std/x` for library templates) and the node.
    pub(crate) fn get(&self, name: &str) -> Option<(String, &'a Node)> {
        if let Some(n) = name.strip_prefix(STD_PREFIX) {
            return self.stdlib.get(n).map(|t| (name.to_owned(), *t));
        }
        self.project
            .get(name)
            .map(|t| (name.to_owned(), *t))
            .or_else(|| {
                self.stdlib
                    .get(name)
                    .map(|t| (format!("{STD_PREFIX}{name}"), *t))
            })
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.project.keys().map(|k| (*k).to_owned()).collect();
        v.extend(
            self.stdlib
                .keys()
                .filter(|k| !self.project.contains_key(*k))
                .map(|k| (*k).to_owned()),
        );
        v
    }
}

/// The identity of a child for merging: singletons by node name, named nodes by
/// (node name, first argument). `None` means "append" (lists).
fn merge_key(node: &Node) -> Option<(&str, Option<&str>)> {
    let spec = lang::SERVICE_CHILDREN
        .iter()
        .find(|s| s.name == node.name)?;
    if spec.name == lang::PROBE.name {
        // One probe per `for=`: a later layer's `probe ... for="readiness"` replaces the
        // readiness probe only (lowering applies `all` over the others, in order).
        let f = node
            .prop("for")
            .and_then(|e| e.value.as_str())
            .unwrap_or("all");
        Some((&node.name, Some(f)))
    } else if !spec.repeatable {
        Some((&node.name, None))
    } else if spec.named {
        Some((&node.name, node.name_arg()))
    } else {
        None
    }
}

type OwnedKey = Option<(String, Option<String>)>;

fn owned_key(node: &Node) -> OwnedKey {
    merge_key(node).map(|(name, arg)| (name.to_owned(), arg.map(str::to_owned)))
}

/// Later entries win over earlier ones with the same key; the rest append in order.
pub(crate) fn merge_into(base: &mut Vec<Merged>, over: Vec<Merged>) {
    // Each child's key once (a service body merges a few dozen children, each against
    // all the others).
    let mut keys: Vec<OwnedKey> = base.iter().map(|b| owned_key(&b.node)).collect();
    for m in over {
        // One variable, whatever sets it: a later layer's `env-secret "DSN"` replaces an
        // earlier `env "DSN"` and the other way round (a literal in staging, a Secret in
        // production), as a later `env` replaces an earlier one.
        let other = match m.node.name.as_str() {
            "env" => Some("env-secret"),
            "env-secret" => Some("env"),
            _ => None,
        };
        if let Some(other) = other
            && let Some(var) = m.node.name_arg()
            && let Some(j) = base
                .iter()
                .position(|b| b.node.name == other && b.node.name_arg() == Some(var))
        {
            base.remove(j);
            keys.remove(j);
        }
        let key = owned_key(&m.node);
        match key
            .as_ref()
            .and_then(|k| keys.iter().position(|b| b.as_ref() == Some(k)))
        {
            Some(i) => {
                let mut layers = std::mem::take(&mut base[i].layers);
                layers.extend(m.layers);
                let merged = Merged {
                    node: m.node,
                    layers,
                };
                if merged.node.name == lang::PROBE.name {
                    // Probes overlap (`all` covers readiness and liveness): they stay in
                    // precedence order, which lowering reads last-wins.
                    base.remove(i);
                    keys.remove(i);
                    base.push(merged);
                    keys.push(key);
                } else {
                    base[i] = merged;
                    keys[i] = key;
                }
            }
            None => {
                base.push(m);
                keys.push(key);
            }
        }
    }
}

/// A template parameter: `param "port" default=8080`.
struct Param<'a> {
    name: &'a str,
    default: Option<&'a Entry>,
    span: Span,
}

fn params_of(template: &Node) -> Vec<Param<'_>> {
    template
        .children
        .iter()
        .filter(|c| c.name == "param")
        .filter_map(|c| {
            Some(Param {
                name: c.name_arg()?,
                default: c.prop("default"),
                span: c.ident_span(),
            })
        })
        .collect()
}

/// Parameters every template (and `defaults`) has without declaring them.
pub const IMPLICIT_PARAMS: &[&str] = &["service"];

/// Is this entry a parameter reference: `(param)"port"` or `(fmt)"src/{service}"`?
fn is_ref(e: &Entry) -> bool {
    matches!(e.ty.as_deref(), Some("param" | "fmt"))
}

/// Visits every `(param)` and `(fmt)` reference under a node.
fn param_refs<'n>(node: &'n Node, out: &mut Vec<&'n Entry>) {
    out.extend(node.entries.iter().filter(|e| is_ref(e)));
    for c in &node.children {
        param_refs(c, out);
    }
}

/// The parameter names an entry refers to: its name for `(param)`, the `{name}`
/// placeholders for `(fmt)`.
fn names_in(e: &Entry) -> Vec<String> {
    let Value::String(s) = &e.value else {
        return Vec::new();
    };
    if e.ty.as_deref() == Some("param") {
        return vec![s.clone()];
    }
    placeholders(s).into_iter().map(|(_, n)| n).collect()
}

/// `{name}` placeholders of a `(fmt)` string, with their byte ranges.
fn placeholders(s: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = s[rest..].find('{') {
        let start = rest + open;
        let Some(close) = s[start..].find('}') else {
            break;
        };
        let name = &s[start + 1..start + close];
        if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            out.push((start..start + close + 1, name.to_owned()));
        }
        rest = start + close + 1;
    }
    out
}

/// Reports parameter references that name nothing. `(param)` and `(fmt)` are allowed in
/// templates (declared parameters and `service`) and in `defaults` (`service` only).
/// Run once per top-level node.
pub(crate) fn check_param_refs(node: &Node, diags: &mut Diagnostics) {
    let mut refs = Vec::new();
    param_refs(node, &mut refs);
    if refs.is_empty() {
        return;
    }
    let mut allowed: Vec<&str> = Vec::new();
    let mut in_scope: Vec<&Entry> = Vec::new();
    let owner = match node.name.as_str() {
        "template" => {
            in_scope = refs.clone();
            allowed = params_of(node).iter().map(|p| p.name).collect();
            format!("template `{}`", node.name_arg().unwrap_or_default())
        }
        "project" => {
            if let Some(d) = node.children.iter().find(|c| c.name == "defaults") {
                param_refs(d, &mut in_scope);
            }
            "`defaults`".to_owned()
        }
        _ => String::new(),
    };
    allowed.extend(IMPLICIT_PARAMS);
    for r in refs {
        if !in_scope.iter().any(|x| std::ptr::eq(*x, r)) {
            diags.push(
                Diagnostic::error(
                    Code::UnknownParameter,
                    format!("`({})` is used outside a template", r.ty.as_deref().unwrap_or_default()),
                )
                .with_label(r.value_span, "no parameters here")
                .with_help("parameters are declared with `param` inside a `template` and passed by `uses \"name\" key=value`; `defaults` may use `{service}`"),
            );
            continue;
        }
        let Value::String(_) = &r.value else {
            diags.push(
                Diagnostic::error(Code::WrongType, "a parameter reference must be a string")
                    .with_label(r.value_span, "expected a parameter name")
                    .with_help("write `(param)\"port\"` or `(fmt)\"src/{service}\"`"),
            );
            continue;
        };
        for name in names_in(r) {
            if allowed.contains(&name.as_str()) {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    Code::UnknownParameter,
                    format!("{owner} has no parameter `{name}`"),
                )
                .with_label(r.value_span, "not declared")
                .with_help(
                    match suggest::did_you_mean(&name, allowed.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if node.name == "template" => {
                            format!("declare it in the template: `param \"{name}\" default=...`")
                        }
                        None => "`defaults` knows only `{service}`, the service's name".to_owned(),
                    },
                ),
            );
        }
    }
}

/// A copy of `node` with every `(param)` and `(fmt)` reference replaced by its value.
/// A `(param)` value keeps the span where it was given (the `uses` line, or the
/// `default=`), so a bad value is reported where it was written.
pub(crate) fn substitute(node: &Node, values: &BTreeMap<String, Entry>) -> Node {
    let mut out = node.clone();
    substitute_in(&mut out, values);
    out
}

fn kdl_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn substitute_in(node: &mut Node, values: &BTreeMap<String, Entry>) {
    for e in &mut node.entries {
        match e.ty.as_deref() {
            Some("param") => {
                let Some(v) = e.value.as_str().and_then(|n| values.get(n)) else {
                    continue;
                };
                e.value = v.value.clone();
                e.raw = v.raw.clone();
                e.value_span = v.value_span;
                e.ty = None;
            }
            Some("fmt") => {
                let Value::String(s) = &e.value else { continue };
                let mut out = String::new();
                let mut last = 0;
                let mut complete = true;
                for (range, name) in placeholders(s) {
                    out.push_str(&s[last..range.start]);
                    match values.get(&name) {
                        Some(v) => match &v.value {
                            Value::String(x) => out.push_str(x),
                            _ => out.push_str(&v.raw),
                        },
                        None => complete = false,
                    }
                    last = range.end;
                }
                if !complete {
                    continue;
                }
                out.push_str(&s[last..]);
                e.raw = kdl_string(&out);
                e.value = Value::String(out);
                e.ty = None;
            }
            _ => {}
        }
    }
    for c in &mut node.children {
        substitute_in(c, values);
    }
}

/// The implicit parameters of a service: `service`, its name.
#[must_use]
pub(crate) fn implicit_values(service: &str, span: Span) -> BTreeMap<String, Entry> {
    let mut m = BTreeMap::new();
    m.insert(
        "service".to_owned(),
        Entry {
            name: None,
            name_span: None,
            value: Value::String(service.to_owned()),
            raw: kdl_string(service),
            ty: None,
            span,
            value_span: span,
        },
    );
    m
}

/// Expands bodies (`defaults`, services, templates) with the templates they use.
pub(crate) struct Expander<'t, 'd> {
    templates: &'t Templates<'t>,
    diags: &'d mut Diagnostics,
    /// `service` and the other implicit parameters.
    implicit: BTreeMap<String, Entry>,
    stack: Vec<String>,
    /// Templates used, in first-use order (`std/...` for the library).
    pub used: Vec<String>,
    /// A template could not be merged (unknown, or a cycle): what the body holds is
    /// partial, and what it lacks must not be reported again as the body's own mistake.
    pub incomplete: bool,
}

impl<'t, 'd> Expander<'t, 'd> {
    pub(crate) fn new(
        templates: &'t Templates<'t>,
        implicit: BTreeMap<String, Entry>,
        diags: &'d mut Diagnostics,
    ) -> Self {
        Self {
            templates,
            diags,
            implicit,
            stack: Vec::new(),
            used: Vec::new(),
            incomplete: false,
        }
    }

    /// The children of `node` (minus `uses` and `param`), after the templates it uses.
    pub(crate) fn body(&mut self, node: &Node, label: &str) -> Vec<Merged> {
        let mut merged: Vec<Merged> = Vec::new();
        for uses in node.children.iter().filter(|c| c.name == "uses") {
            let given: Vec<&Entry> = uses.entries.iter().filter(|e| e.name.is_some()).collect();
            let mut claimed = vec![false; given.len()];
            for entry in uses.args() {
                let Some(name) = entry.value.as_str() else {
                    continue;
                };
                let Some((full, template)) = self.resolve(name, entry.value_span) else {
                    continue;
                };
                let params = params_of(template);
                let mut values: BTreeMap<String, Entry> = self.implicit.clone();
                for p in &params {
                    let passed = given.iter().position(|g| g.name.as_deref() == Some(p.name));
                    if let Some(i) = passed {
                        claimed[i] = true;
                        values.insert(p.name.to_owned(), given[i].clone());
                    } else if let Some(d) = p.default {
                        values.insert(p.name.to_owned(), d.clone());
                    } else {
                        self.diags.push(
                            Diagnostic::error(
                                Code::MissingParameter,
                                format!("template `{full}` needs the parameter `{}`", p.name),
                            )
                            .with_label(entry.value_span, format!("`{}` is not given", p.name))
                            .with_secondary(p.span, "declared here without a default")
                            .with_help(format!("pass it: `uses \"{name}\" {}=...`", p.name)),
                        );
                    }
                }
                let body = substitute(template, &values);
                {
                    // Substituted values are checked where they land.
                    let mut refs = Vec::new();
                    param_refs(template, &mut refs);
                    for (child, original) in body.children.iter().zip(&template.children) {
                        let mut in_child = Vec::new();
                        param_refs(original, &mut in_child);
                        if in_child.is_empty() {
                            continue;
                        }
                        if let Some(spec) =
                            lang::SERVICE_CHILDREN.iter().find(|s| s.name == child.name)
                        {
                            super::structure::check_node(spec, child, self.diags);
                        }
                    }
                }
                self.stack.push(full.clone());
                let inner = self.body(&body, &format!("template `{full}`"));
                self.stack.pop();
                if !self.used.contains(&full) {
                    self.used.push(full);
                }
                merge_into(&mut merged, inner);
            }
            for (i, g) in given.iter().enumerate() {
                if claimed[i] {
                    continue;
                }
                let key = g.name.as_deref().unwrap_or_default();
                let names: Vec<String> = uses
                    .args()
                    .filter_map(|e| e.value.as_str())
                    .filter_map(|n| self.templates.get(n))
                    .flat_map(|(_, t)| params_of(t).into_iter().map(|p| p.name.to_owned()))
                    .collect();
                self.diags.push(
                    Diagnostic::error(
                        Code::UnknownParameter,
                        format!("no template in this `uses` takes a parameter `{key}`"),
                    )
                    .with_label(g.name_span.unwrap_or(g.span), "unknown parameter")
                    .with_help(suggest::help_for(
                        key,
                        names.iter().map(String::as_str),
                        "parameter",
                    )),
                );
            }
        }
        let own: Vec<Merged> = node
            .children
            .iter()
            .filter(|c| c.name != "uses" && c.name != "param")
            .map(|c| Merged {
                node: c.clone(),
                layers: vec![Layer {
                    label: label.to_owned(),
                    span: c.head_span(),
                }],
            })
            .collect();
        merge_into(&mut merged, own);
        merged
    }

    fn resolve(&mut self, name: &str, span: Span) -> Option<(String, &'t Node)> {
        let Some((full, template)) = self.templates.get(name) else {
            self.incomplete = true;
            // `std/x` names only the library: suggest from it, in the form written.
            let help = match name.strip_prefix(STD_PREFIX) {
                Some(bare) => {
                    let std_names: Vec<String> = self
                        .templates
                        .stdlib
                        .keys()
                        .map(|k| format!("{STD_PREFIX}{k}"))
                        .collect();
                    match suggest::did_you_mean(bare, self.templates.stdlib.keys().copied()) {
                        Some(s) => format!("did you mean `{STD_PREFIX}{s}`?"),
                        None => suggest::help_for(
                            name,
                            std_names.iter().map(String::as_str),
                            "standard library template",
                        ),
                    }
                }
                None => {
                    let names = self.templates.names();
                    suggest::help_for(name, names.iter().map(String::as_str), "template")
                }
            };
            self.diags.push(
                Diagnostic::error(Code::UnknownTemplate, format!("unknown template `{name}`"))
                    .with_label(span, "no template with this name")
                    .with_help(help),
            );
            return None;
        };
        if let Some(pos) = self.stack.iter().position(|s| *s == full) {
            self.incomplete = true;
            let mut circle: Vec<String> = self.stack[pos..].to_vec();
            circle.push(full.clone());
            self.diags.push(
                Diagnostic::error(
                    Code::TemplateCycle,
                    format!(
                        "templates use each other in a cycle: {}",
                        circle.join(" -> ")
                    ),
                )
                .with_label(span, format!("`{full}` is already being expanded"))
                .with_help("remove one `uses` so that templates form a tree"),
            );
            return None;
        }
        Some((full, template))
    }
}
