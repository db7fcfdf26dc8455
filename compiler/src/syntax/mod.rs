//! Stage 1: text -> [`Document`]. KDL v2 through the `kdl` crate, then converted into our
//! own tree so that every later stage has file-qualified spans.

pub mod ast;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};

pub use ast::{Document, Entry, Node, Value};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceId, SourceMap, Span};

/// Nesting deeper than this is refused before parsing: no topology needs it, and the KDL
/// parser recurses once per level.
pub const MAX_DEPTH: usize = 48;

/// Files larger than this are refused: a topology is kilobytes, not megabytes.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The KDL parser is recursive; it runs on a thread with a stack that no accepted input
/// can exhaust.
const PARSER_STACK: usize = 64 * 1024 * 1024;

/// Parses every file of the map. Files that fail to parse give diagnostics and no document.
pub fn parse_all(sources: &SourceMap, diags: &mut Diagnostics) -> Vec<Document> {
    let jobs: Vec<(SourceId, String)> = sources
        .iter()
        .filter(|(_, src)| !src.unreadable && src.origin != crate::source::Origin::TemplateOverride)
        .map(|(id, src)| (id, src.text.clone()))
        .collect();
    let worker = std::thread::Builder::new()
        .name("nestioc-parse".into())
        .stack_size(PARSER_STACK)
        .spawn(move || {
            let mut local = Diagnostics::new();
            let docs: Vec<Document> = jobs
                .iter()
                .filter_map(|(id, text)| parse_one(*id, text, &mut local))
                .collect();
            (docs, local)
        });
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok((docs, local))) => {
            diags.extend(local);
            docs
        }
        _ => {
            diags.push(
                Diagnostic::error(Code::KdlSyntax, "the KDL parser failed unexpectedly")
                    .with_help("please report this input to the nestioc maintainers"),
            );
            Vec::new()
        }
    }
}

/// Parses one file.
pub fn parse_one(id: SourceId, text: &str, diags: &mut Diagnostics) -> Option<Document> {
    if text.len() > MAX_FILE_BYTES {
        diags.push(
            Diagnostic::error(
                Code::UnreadableSource,
                format!(
                    "file is too large ({} bytes, the limit is {MAX_FILE_BYTES})",
                    text.len()
                ),
            )
            .with_label(Span::file_start(id), "in this file")
            .with_help("split the topology into several files"),
        );
        return None;
    }
    if let Some((depth, offset)) = too_deep(text) {
        diags.push(
            Diagnostic::error(
                Code::UnreadableSource,
                format!("nodes are nested {depth} levels deep, the limit is {MAX_DEPTH}"),
            )
            .with_label(Span::new(id, offset, offset + 1), "too deep here")
            .with_help("a topology needs only a few levels of children blocks"),
        );
        return None;
    }
    match text.parse::<KdlDocument>() {
        Ok(doc) => Some(Document {
            source: id,
            nodes: doc.nodes().iter().map(|n| convert_node(id, n)).collect(),
        }),
        Err(err) => {
            for d in err.diagnostics {
                let mut start = clamp(text, d.span.offset());
                let end = clamp(text, d.span.offset() + d.span.len());
                // The parser reports some errors over everything it consumed; the
                // problem is on the last line of that.
                if let Some(nl) = text[start..end].trim_end().rfind('\n') {
                    let line_start = start + nl + 1;
                    start = line_start
                        + (text[line_start..end].len() - text[line_start..end].trim_start().len());
                }
                let message = d
                    .message
                    .unwrap_or_else(|| "invalid KDL".to_owned())
                    .to_lowercase();
                let mut diag = Diagnostic::error(Code::KdlSyntax, message).with_label(
                    Span::new(id, start, end),
                    d.label.unwrap_or_else(|| "here".to_owned()),
                );
                diag = diag.with_help(d.help.unwrap_or_else(|| {
                    "see https://kdl.dev for KDL v2 syntax: strings are quoted, \
                     booleans are #true and #false"
                        .to_owned()
                }));
                diags.push(diag);
            }
            None
        }
    }
}

fn clamp(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn span_of(id: SourceId, span: miette::SourceSpan) -> Span {
    Span::new(id, span.offset(), span.offset() + span.len())
}

fn convert_node(id: SourceId, node: &KdlNode) -> Node {
    let children: Vec<Node> = node
        .children()
        .map(|c| c.nodes().iter().map(|n| convert_node(id, n)).collect())
        .unwrap_or_default();
    Node {
        name: node.name().value().to_owned(),
        name_span: span_of(id, node.name().span()),
        span: span_of(id, node.span()),
        ty: node.ty().map(|t| t.value().to_owned()),
        entries: node
            .entries()
            .iter()
            .map(|e| convert_entry(id, e))
            .collect(),
        children,
        has_children_block: node.children().is_some(),
    }
}

fn convert_entry(id: SourceId, entry: &KdlEntry) -> Entry {
    let span = span_of(id, entry.span());
    let value = match entry.value() {
        KdlValue::String(s) => Value::String(s.clone()),
        KdlValue::Integer(i) => Value::Integer(*i),
        KdlValue::Float(f) => Value::Float(*f),
        KdlValue::Bool(b) => Value::Bool(*b),
        KdlValue::Null => Value::Null,
    };
    let raw = entry
        .format()
        .map(|f| f.value_repr.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| entry.value().to_string());
    // The entry span covers `key=value`; the value is its tail.
    let value_len = raw.len().min(span.len());
    let value_span = Span {
        start: span.end - u32::try_from(value_len).unwrap_or(0),
        ..span
    };
    let (name, name_span) = match entry.name() {
        Some(n) => (Some(n.value().to_owned()), Some(span_of(id, n.span()))),
        None => (None, None),
    };
    Entry {
        name,
        name_span,
        value,
        raw,
        ty: entry.ty().map(|t| t.value().to_owned()),
        span,
        value_span,
    }
}

/// Finds the first place where `{` blocks nest deeper than [`MAX_DEPTH`], skipping strings
/// and comments so that braces inside them do not count.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut level = 1;
                i += 2;
                while i < b.len() && level > 0 {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        level += 1;
                        i += 1;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        level -= 1;
                        i += 1;
                    }
                    i += 1;
                }
                continue;
            }
            b'#' | b'"' => {
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + hashes) != Some(&b'"') {
                    i += hashes.max(1);
                    continue;
                }
                let triple = b[i + hashes..].starts_with(b"\"\"\"");
                let quote: &[u8] = if triple { b"\"\"\"" } else { b"\"" };
                i += hashes + quote.len();
                while i < b.len() {
                    if hashes == 0 && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i..].starts_with(quote)
                        && b[i + quote.len()..]
                            .iter()
                            .take_while(|&&c| c == b'#')
                            .count()
                            >= hashes
                    {
                        i += quote.len() + hashes;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some((depth, i));
                }
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let text = format!("{}{}", "a {".repeat(100_000), "}".repeat(100_000));
        let mut diags = Diagnostics::new();
        assert!(parse_one(SourceId(0), &text, &mut diags).is_none());
        assert_eq!(
            diags.iter().next().map(|d| d.code),
            Some(Code::UnreadableSource)
        );
    }

    #[test]
    fn huge_files_are_refused() {
        let text = format!("project \"p\"\n// {}\n", "x".repeat(MAX_FILE_BYTES));
        let mut diags = Diagnostics::new();
        assert!(parse_one(SourceId(0), &text, &mut diags).is_none());
        assert!(diags.iter().any(|d| d.message.contains("too large")));
    }

    #[test]
    fn braces_in_strings_do_not_count() {
        let text = format!(
            "a \"{}\" #\"{}\"# {{ b }}",
            "{".repeat(100),
            "{".repeat(100)
        );
        assert_eq!(too_deep(&text), None);
    }

    #[test]
    fn value_span_is_the_value_only() {
        let mut diags = Diagnostics::new();
        let doc = parse_one(SourceId(0), "slo target=99.9", &mut diags).expect("parses");
        let e = &doc.nodes[0].entries[0];
        assert_eq!(e.raw, "99.9");
        assert_eq!(e.value_span.range(), 11..15);
    }
}
