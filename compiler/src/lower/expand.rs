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
fn merge_key(node: &Node) -> Option<(String, Option<String>)> {
    let spec = lang::SERVICE_CHILDREN
        .iter()
        .find(|s| s.name == node.name)?;
    if !spec.repeatable {
        Some((node.name.clone(), None))
    } else if spec.named {
        Some((node.name.clone(), node.name_arg().map(str::to_owned)))
    } else {
        None
    }
}

/// Later entries win over earlier ones with the same key; the rest append in order.
pub(crate) fn merge_into(base: &mut Vec<Merged>, over: Vec<Merged>) {
    for m in over {
        let key = merge_key(&m.node);
        match key.as_ref().and_then(|k| {
            base.iter()
                .position(|b| merge_key(&b.node).as_ref() == Some(k))
        }) {
            Some(i) => {
                let mut layers = std::mem::take(&mut base[i].layers);
                layers.extend(m.layers);
                base[i] = Merged {
                    node: m.node,
                    layers,
                };
            }
            None => base.push(m),
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

/// Visits every `(param)` reference under a node.
fn param_refs<'n>(node: &'n Node, out: &mut Vec<&'n Entry>) {
    out.extend(
        node.entries
            .iter()
            .filter(|e| e.ty.as_deref() == Some("param")),
    );
    for c in &node.children {
        param_refs(c, out);
    }
}

/// Reports `(param)` references outside templates, and references to parameters a
/// template does not declare. Run once per top-level node.
pub(crate) fn check_param_refs(node: &Node, diags: &mut Diagnostics) {
    let mut refs = Vec::new();
    param_refs(node, &mut refs);
    if refs.is_empty() {
        return;
    }
    if node.name != "template" {
        for r in refs {
            diags.push(
                Diagnostic::error(
                    Code::UnknownParameter,
                    "`(param)` is used outside a template",
                )
                .with_label(r.value_span, "no parameters here")
                .with_help("parameters are declared with `param` inside a `template` and passed by `uses \"name\" key=value`"),
            );
        }
        return;
    }
    let params = params_of(node);
    let template = node.name_arg().unwrap_or_default();
    for r in refs {
        let Value::String(name) = &r.value else {
            diags.push(
                Diagnostic::error(Code::WrongType, "a `(param)` reference must be a string")
                    .with_label(r.value_span, "expected a parameter name")
                    .with_help("write `(param)\"port\"`"),
            );
            continue;
        };
        if !params.iter().any(|p| p.name == name) {
            diags.push(
                Diagnostic::error(
                    Code::UnknownParameter,
                    format!("template `{template}` has no parameter `{name}`"),
                )
                .with_label(r.value_span, "not declared")
                .with_help(
                    match suggest::did_you_mean(name, params.iter().map(|p| p.name)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            format!("declare it in the template: `param \"{name}\" default=...`")
                        }
                    },
                ),
            );
        }
    }
}

/// A copy of `node` with every `(param)` reference replaced by its value. The value
/// keeps the span where it was given (the `uses` line, or the `default=`), so a bad value
/// is reported where it was written.
fn substitute(node: &Node, values: &BTreeMap<&str, &Entry>) -> Node {
    let mut out = node.clone();
    substitute_in(&mut out, values);
    out
}

fn substitute_in(node: &mut Node, values: &BTreeMap<&str, &Entry>) {
    for e in &mut node.entries {
        if e.ty.as_deref() != Some("param") {
            continue;
        }
        let Some(v) = e.value.as_str().and_then(|n| values.get(n)) else {
            continue;
        };
        e.value = v.value.clone();
        e.raw = v.raw.clone();
        e.value_span = v.value_span;
        e.ty = None;
    }
    for c in &mut node.children {
        substitute_in(c, values);
    }
}

/// Expands bodies (`defaults`, services, templates) with the templates they use.
pub(crate) struct Expander<'t, 'd> {
    templates: &'t Templates<'t>,
    diags: &'d mut Diagnostics,
    stack: Vec<String>,
    /// Templates used, in first-use order (`std/...` for the library).
    pub used: Vec<String>,
}

impl<'t, 'd> Expander<'t, 'd> {
    pub(crate) fn new(templates: &'t Templates<'t>, diags: &'d mut Diagnostics) -> Self {
        Self {
            templates,
            diags,
            stack: Vec::new(),
            used: Vec::new(),
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
                let mut values: BTreeMap<&str, &Entry> = BTreeMap::new();
                for p in &params {
                    let passed = given.iter().position(|g| g.name.as_deref() == Some(p.name));
                    if let Some(i) = passed {
                        claimed[i] = true;
                        values.insert(p.name, given[i]);
                    } else if let Some(d) = p.default {
                        values.insert(p.name, d);
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
                if !values.is_empty() {
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
            let names = self.templates.names();
            self.diags.push(
                Diagnostic::error(Code::UnknownTemplate, format!("unknown template `{name}`"))
                    .with_label(span, "no template with this name")
                    .with_help(suggest::help_for(
                        name.strip_prefix(STD_PREFIX).unwrap_or(name),
                        names.iter().map(String::as_str),
                        "template",
                    )),
            );
            return None;
        };
        if let Some(pos) = self.stack.iter().position(|s| *s == full) {
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
