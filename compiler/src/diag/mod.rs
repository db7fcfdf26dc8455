//! The one diagnostic type of the compiler, and the sink every stage reports into.
//!
//! Stages never stop at the first problem: they push into [`Diagnostics`] and carry on
//! where that is sound, so a user sees all their errors in one run.

pub mod code;
pub mod render;

pub use code::Code;

use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// The primary label: where the problem is.
    #[must_use]
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// A secondary label: context that explains the problem.
    #[must_use]
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The span the diagnostic is reported at (its first primary label).
    #[must_use]
    pub fn primary_span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or_else(|| self.labels.first())
            .map(|l| l.span)
    }
}

/// The sink every stage reports into.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Runs `report` on every item, on every thread, each into a sink of its own; their
    /// diagnostics are added in the items' order (and [`Diagnostics::finish`] sorts them
    /// anyway), so the result does not depend on the number of threads.
    pub fn par_each<T: Sync>(
        &mut self,
        items: &[T],
        report: impl Fn(&T, &mut Diagnostics) + Sync + Send,
    ) {
        use rayon::prelude::*;
        let found: Vec<Diagnostics> = items
            .par_iter()
            .map(|item| {
                let mut local = Diagnostics::new();
                report(item, &mut local);
                local
            })
            .collect();
        for local in found {
            self.extend(local);
        }
    }

    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    #[must_use]
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    #[must_use]
    pub fn warning_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Keeps the diagnostics `keep` accepts (the project's `allow`s drop warnings).
    pub fn retain(&mut self, keep: impl FnMut(&Diagnostic) -> bool) {
        self.items.retain(keep);
    }

    /// Turns every warning into an error (`--deny-warnings`).
    pub fn deny_warnings(&mut self) {
        for d in &mut self.items {
            d.severity = Severity::Error;
        }
    }

    /// Sorted by file, position and code, with exact repeats removed. A template used by
    /// several services reports a problem in its body once, not once per service.
    #[must_use]
    pub fn finish(mut self) -> Vec<Diagnostic> {
        // Compared field by field: a key with a cloned message would copy two strings per
        // comparison, about 120,000 of them for 5,000 warnings.
        self.items.sort_by(|a, b| {
            (a.primary_span(), a.code)
                .cmp(&(b.primary_span(), b.code))
                .then_with(|| a.message.cmp(&b.message))
        });
        self.items.dedup();
        self.items
    }
}

/// Attach a span late: helpers return span-less errors, the caller that knows the node
/// adds where it happened.
pub trait At<T> {
    fn at(self, span: Span) -> Result<T, Diagnostic>;
}

/// A span-less problem found by a value parser (duration, quantity, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

impl Problem {
    #[must_use]
    pub fn new(code: Code, message: String, label: &str, help: Option<String>) -> Self {
        Self {
            code,
            message,
            label: label.to_owned(),
            help,
        }
    }
}

impl<T> At<T> for Result<T, Problem> {
    fn at(self, span: Span) -> Result<T, Diagnostic> {
        self.map_err(|p| {
            let d = Diagnostic::error(p.code, p.message).with_label(span, p.label);
            match p.help {
                Some(h) => d.with_help(h),
                None => d,
            }
        })
    }
}
