//! `allow`: warnings a project has read and accepted. Like Rust's `#[allow(lint)]`, an
//! `allow` covers what is written inside the node that holds it (the `project`, a `service`
//! or a `template`), so the acceptance sits next to the thing accepted and goes when it goes.
//! Errors are never allowed: they describe output that would not work.

use crate::diag::{Code, Diagnostic, Diagnostics, Severity};
use crate::source::Span;
use crate::syntax::ast::Document;

/// The accepted warnings of one node: the node's span and the codes it allows.
#[derive(Debug, Default, Clone)]
pub struct Allowances {
    scopes: Vec<(Span, Vec<Code>)>,
}

/// Reads every `allow` under the top-level `project`, `service` and `template` nodes.
/// An argument that names no code, or an error's code, is an error itself.
#[must_use]
pub fn collect(docs: &[Document], diags: &mut Diagnostics) -> Allowances {
    let mut out = Allowances::default();
    for doc in docs {
        for top in doc.nodes.iter() {
            if !matches!(top.name.as_str(), "project" | "service" | "template") {
                continue;
            }
            let mut codes = Vec::new();
            for allow in top.children.iter().filter(|c| c.name == "allow") {
                for e in allow.entries.iter().filter(|e| e.name.is_none()) {
                    let Some(text) = e.value.as_str() else {
                        continue; // the structure check reports the wrong type
                    };
                    match Code::parse(text) {
                        Some(code) if code.severity() == Severity::Warning => codes.push(code),
                        Some(code) => diags.push(
                            Diagnostic::error(
                                Code::UnknownValue,
                                format!(
                                    "{code} ({}) is an error, and errors cannot be allowed",
                                    code.slug()
                                ),
                            )
                            .with_label(e.value_span, "not a warning")
                            .with_help(format!(
                                "fix what it reports; `nestioc explain {code}` says how"
                            )),
                        ),
                        None => {
                            let warnings = Code::ALL
                                .iter()
                                .filter(|c| c.severity() == Severity::Warning)
                                .map(|c| c.slug());
                            let help = crate::suggest::did_you_mean(text, warnings).map_or_else(
                                || {
                                    "name a warning by its code (`NST0121`) or its name \
                                     (`unpinned-image`); docs/diagnostics.md lists them"
                                        .to_owned()
                                },
                                |s| format!("did you mean `{s}`?"),
                            );
                            diags.push(
                                Diagnostic::error(
                                    Code::UnknownValue,
                                    format!("no warning is called `{text}`"),
                                )
                                .with_label(e.value_span, "not a warning's code or name")
                                .with_help(help),
                            );
                        }
                    }
                }
            }
            if !codes.is_empty() {
                out.scopes.push((top.span, codes));
            }
        }
    }
    out
}

impl Allowances {
    /// Drops each warning located inside a node that allows its code.
    pub fn apply(&self, diags: &mut Diagnostics) {
        if self.scopes.is_empty() {
            return;
        }
        diags.retain(|d| {
            d.severity != Severity::Warning
                || !d.primary_span().is_some_and(|at| {
                    self.scopes.iter().any(|(scope, codes)| {
                        codes.contains(&d.code)
                            && scope.source == at.source
                            && scope.start <= at.start
                            && at.end <= scope.end
                    })
                })
        });
    }
}
