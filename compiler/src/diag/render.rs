//! Rendering diagnostics: `human` (miette), `json` (one object per line), `github`
//! (workflow commands that annotate pull-request lines) and `sarif` (SARIF 2.1.0).

use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::{Diagnostic, Severity};
use crate::source::{Origin, SourceId, SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
    Github,
    Sarif,
}

/// How file names are shown: project-relative names get `prefix` (the project directory
/// as the user typed it) so that paths in CI annotations are relative to the repository.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub prefix: String,
    pub color: bool,
    /// Terminal width for `human`; `None` lets miette detect it.
    pub width: Option<usize>,
}

impl RenderOptions {
    fn file_name(&self, sources: &SourceMap, id: SourceId) -> String {
        let src = sources.get(id);
        if src.origin == Origin::Stdlib || self.prefix.is_empty() {
            src.name.clone()
        } else {
            format!("{}/{}", self.prefix.trim_end_matches('/'), src.name)
        }
    }
}

/// Renders diagnostics in the given format. `json` and `github` give one line per
/// diagnostic; `sarif` gives one document for the whole run.
#[must_use]
pub fn render(
    diagnostics: &[Diagnostic],
    sources: &SourceMap,
    format: Format,
    opts: &RenderOptions,
) -> String {
    match format {
        // Each diagnostic is rendered on its own (miette's wrapping is most of a large
        // project's `check`), on every thread; collected in order, so the text is the
        // same for any number of threads.
        Format::Human => diagnostics
            .par_iter()
            .map(|d| render_human(d, sources, opts))
            .collect::<Vec<String>>()
            .concat(),
        Format::Json => diagnostics
            .iter()
            .map(|d| format!("{}\n", to_json(d, sources, opts)))
            .collect(),
        Format::Github => diagnostics
            .iter()
            .map(|d| render_github(d, sources, opts))
            .collect(),
        Format::Sarif => {
            let mut s = serde_json::to_string_pretty(&to_sarif(diagnostics, sources, opts))
                .unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

// ----------------------------------------------------------------------------- human

struct NamedText<'a> {
    name: String,
    text: &'a str,
}

impl SourceCode for NamedText<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let c = self.text.read_span(span, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            *c.span(),
            c.line(),
            c.column(),
            c.line_count(),
        )))
    }
}

struct MietteView<'a> {
    message: String,
    code: Option<String>,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<NamedText<'a>>,
    labels: Vec<LabeledSpan>,
    related: Vec<MietteView<'a>>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

fn labeled(label: &super::Label) -> LabeledSpan {
    let span = SourceSpan::from((label.span.start as usize, label.span.len()));
    if label.primary {
        LabeledSpan::new_primary_with_span(Some(label.message.clone()), span)
    } else {
        LabeledSpan::new_with_span(Some(label.message.clone()), span)
    }
}

fn help_text(d: &Diagnostic) -> Option<String> {
    let mut parts: Vec<String> = d.help.iter().cloned().collect();
    parts.extend(d.notes.iter().map(|n| format!("note: {n}")));
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("\n"))
    }
}

fn render_human(d: &Diagnostic, sources: &SourceMap, opts: &RenderOptions) -> String {
    let main_source = d.primary_span().map(|s| s.source);
    let source_view = |id: SourceId| NamedText {
        name: opts.file_name(sources, id),
        text: &sources.get(id).text,
    };
    // miette shows one source per diagnostic: labels in other files become related
    // entries, one per file, in the order they first appear.
    let mut other_files: Vec<SourceId> = Vec::new();
    for l in &d.labels {
        if Some(l.span.source) != main_source && !other_files.contains(&l.span.source) {
            other_files.push(l.span.source);
        }
    }
    let related = other_files
        .into_iter()
        .map(|id| {
            let labels: Vec<_> = d.labels.iter().filter(|l| l.span.source == id).collect();
            MietteView {
                message: labels
                    .first()
                    .map_or_else(String::new, |l| l.message.clone()),
                code: None,
                severity: miette::Severity::Advice,
                help: None,
                source: Some(source_view(id)),
                labels: labels.into_iter().map(labeled).collect(),
                related: Vec::new(),
            }
        })
        .collect();
    let view = MietteView {
        message: d.message.clone(),
        code: Some(d.code.as_str().to_owned()),
        severity: match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        },
        help: help_text(d),
        source: main_source.map(source_view),
        labels: d
            .labels
            .iter()
            .filter(|l| Some(l.span.source) == main_source)
            .map(labeled)
            .collect(),
        related,
    };
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // Labels in other files are related reports: nested under the main one, not each under
    // an "Advice:" header with nothing after it.
    //
    // Lines break at spaces only, as rustc's do: not at every Unicode line-break
    // opportunity, nor inside hyphenated words. Names, flags, paths and URLs in a help
    // (`run-as-user=`, `KSV-0020`, `https://kubernetes.io/docs/...`) stay whole and can
    // be copied; and the Unicode segmenter was a fifth of `check`'s time with thousands
    // of warnings.
    let mut handler = GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_show_related_as_nested(true)
        .with_word_separator(textwrap::WordSeparator::AsciiSpace)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
    if let Some(w) = opts.width {
        handler = handler.with_width(w);
    }
    let mut out = String::new();
    if handler.render_report(&mut out, &view).is_err() {
        out = format!("{}[{}]: {}\n", d.severity.as_str(), d.code, d.message);
    }
    out.push('\n');
    out
}

// ----------------------------------------------------------------------------- json

struct Position {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

fn position(span: Span, sources: &SourceMap, opts: &RenderOptions) -> Position {
    let src = sources.get(span.source);
    let (line, column) = src.line_col(span.start as usize);
    let (end_line, end_column) = src.line_col(span.end as usize);
    Position {
        file: opts.file_name(sources, span.source),
        line,
        column,
        end_line,
        end_column,
    }
}

/// One diagnostic as a JSON object (the `--format json` line). Lines and columns are
/// 1-based; columns count Unicode scalar values; `end` is exclusive.
#[must_use]
pub fn to_json(d: &Diagnostic, sources: &SourceMap, opts: &RenderOptions) -> Value {
    let pos = d.primary_span().map(|s| position(s, sources, opts));
    let labels: Vec<Value> = d
        .labels
        .iter()
        .map(|l| {
            let p = position(l.span, sources, opts);
            json!({
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "end": {"line": p.end_line, "column": p.end_column},
                "message": l.message,
                "primary": l.primary,
            })
        })
        .collect();
    json!({
        "code": d.code.as_str(),
        "name": d.code.slug(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "file": pos.as_ref().map(|p| p.file.clone()),
        "line": pos.as_ref().map(|p| p.line),
        "column": pos.as_ref().map(|p| p.column),
        "end": pos.as_ref().map(|p| json!({"line": p.end_line, "column": p.end_column})),
        "labels": labels,
        "help": d.help,
        "notes": d.notes,
    })
}

// ----------------------------------------------------------------------------- github

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn render_github(d: &Diagnostic, sources: &SourceMap, opts: &RenderOptions) -> String {
    let command = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = Vec::new();
    if let Some(span) = d.primary_span() {
        let p = position(span, sources, opts);
        props.push(format!("file={}", escape_property(&p.file)));
        props.push(format!("line={}", p.line));
        props.push(format!("col={}", p.column));
        props.push(format!("endLine={}", p.end_line));
        props.push(format!("endColumn={}", p.end_column));
    }
    props.push(format!(
        "title={}",
        escape_property(&format!("{} {}", d.code, d.code.slug()))
    ));
    let mut message = d.message.clone();
    if let Some(primary) = d.labels.iter().find(|l| l.primary) {
        message.push_str(&format!(": {}", primary.message));
    }
    if let Some(h) = help_text(d) {
        message.push_str(&format!("\nhelp: {h}"));
    }
    format!(
        "::{command} {}::{}\n",
        props.join(","),
        escape_data(&message)
    )
}

// ----------------------------------------------------------------------------- sarif

fn to_sarif(diagnostics: &[Diagnostic], sources: &SourceMap, opts: &RenderOptions) -> Value {
    let mut codes: Vec<_> = diagnostics.iter().map(|d| d.code).collect();
    codes.sort();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|c| {
            let summary = c
                .explanation()
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .unwrap_or_default();
            json!({
                "id": c.as_str(),
                "name": c.slug(),
                "shortDescription": {"text": summary},
                "fullDescription": {"text": summary},
                "help": {"text": c.explanation(), "markdown": c.explanation()},
            })
        })
        .collect();
    let region = |span: Span| {
        let p = position(span, sources, opts);
        json!({
            "physicalLocation": {
                "artifactLocation": {"uri": p.file},
                "region": {
                    "startLine": p.line,
                    "startColumn": p.column,
                    "endLine": p.end_line,
                    "endColumn": p.end_column,
                }
            }
        })
    };
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(h) = help_text(d) {
                text.push_str(&format!("\nhelp: {h}"));
            }
            let mut r = json!({
                "ruleId": d.code.as_str(),
                "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": {"text": text},
            });
            if let Some(span) = d.primary_span() {
                r["locations"] = json!([region(span)]);
            }
            let related: Vec<Value> = d
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut loc = region(l.span);
                    loc["id"] = json!(i);
                    loc["message"] = json!({"text": l.message});
                    loc
                })
                .collect();
            if !related.is_empty() {
                r["relatedLocations"] = Value::Array(related);
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "nestioc",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/cloudnestio/nestioc",
                "rules": rules,
            }},
            "results": results,
            // Columns count Unicode scalar values (`SourceFile::line_col`); SARIF 2.1.0
            // §3.14.17: a run on text files states which unit its columns are in.
            "columnKind": "unicodeCodePoints",
        }]
    })
}
