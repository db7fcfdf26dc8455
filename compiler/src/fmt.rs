//! `nestioc fmt`: one canonical layout for KDL sources.
//!
//! The layout is kdl's own autoformat (four-space indents, one node per line, one space
//! between entries, `{` on the node's line) with three house rules on top:
//!
//! - string values are always quoted (`mesh "istio"`, not `mesh istio`): KDL v2 allows
//!   bare identifiers, but a value that reads like a keyword is easy to misread;
//!   raw and multi-line strings, numbers and keywords stay as written;
//! - one blank line between nodes is kept where the author left one or more (grouping
//!   is meaning); blank lines are dropped at the start of a block;
//! - a line continuation (`\`) between entries is kept, re-indented one level deeper.
//!
//! Comments are kept where they are. Formatting is idempotent: formatted text formats to
//! itself (tested on every fixture and example). Only the syntax is needed: a file that
//! parses is formatted even if the project has other errors.

use kdl::{FormatConfig, KdlDocument, KdlEntryFormat, KdlNode, KdlValue};

use crate::diag::Diagnostics;
use crate::source::SourceId;

const INDENT: &str = "    ";

/// Formats one file. `None` when it does not parse (the diagnostics say why).
#[must_use]
pub fn format_source(id: SourceId, text: &str, diags: &mut Diagnostics) -> Option<String> {
    // The same limits and error reporting as compiling (depth, size, KDL syntax).
    crate::syntax::parse_one(id, text, diags)?;
    // A byte-order mark stays the file's first character (KDL allows one there; kdl
    // reads it as whitespace, and autoformat would leave it on a line of its own).
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    };
    let mut doc: KdlDocument = body.parse().ok()?;
    Some(format!("{bom}{}", format_document(&mut doc, body)))
}

/// The parser and the formatter recurse once per nesting level: like parsing for a
/// build, formatting runs on a thread with a stack no accepted input can exhaust.
const STACK: usize = 64 * 1024 * 1024;

/// Formats every project file: `(file, formatted text)` for each, or `None` when one
/// does not parse (then nothing should be written; the diagnostics say why).
#[must_use]
pub fn format_project(
    sources: &crate::source::SourceMap,
    diags: &mut Diagnostics,
) -> Option<Vec<(SourceId, String)>> {
    let jobs: Vec<(SourceId, String)> = sources
        .iter()
        .filter(|(_, s)| s.origin == crate::source::Origin::Project && !s.unreadable)
        .map(|(id, s)| (id, s.text.clone()))
        .collect();
    let worker = std::thread::Builder::new()
        .name("nestioc-fmt".into())
        .stack_size(STACK)
        .spawn(move || {
            let mut local = Diagnostics::new();
            let out: Vec<(SourceId, Option<String>)> = jobs
                .into_iter()
                .map(|(id, text)| {
                    let f = format_source(id, &text, &mut local);
                    (id, f)
                })
                .collect();
            (out, local)
        })
        .ok()?
        .join()
        .ok()?;
    let (out, local) = worker;
    let failed = out.iter().any(|(_, f)| f.is_none()) || local.has_errors();
    diags.extend(local);
    if failed {
        return None;
    }
    Some(
        out.into_iter()
            .filter_map(|(id, f)| Some((id, f?)))
            .collect(),
    )
}

fn format_document(doc: &mut KdlDocument, src: &str) -> String {
    let mut blanks = Vec::new();
    prepare(doc, src, 0, &mut blanks);
    // Entries keep the text `prepare` gave them (`autoformat_keep`).
    doc.autoformat_config(&FormatConfig::builder().indent(INDENT).build());
    let mut at = 0;
    restore(doc, &blanks, &mut at, 0);
    let mut out = String::new();
    for line in doc.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // One newline at the end, none at the start.
    let trimmed = out.trim_matches('\n');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}\n")
    }
}

/// Whether the whitespace before a node (its leading text, after the previous node's
/// terminator) holds an empty line.
fn has_blank_line(leading: &str, after_newline: bool) -> bool {
    let prefix = leading
        .split(|c: char| !c.is_whitespace())
        .next()
        .unwrap_or_default();
    let newlines = prefix.matches('\n').count() + usize::from(after_newline);
    newlines >= 2
}

/// What autoformat would lose, per node in document order.
#[derive(Debug)]
struct Saved {
    /// A blank line before the node.
    blank: bool,
    /// Comments before the node (autoformat drops their blank lines).
    leading: String,
    /// Slashdashed entries and the space before a line comment.
    before_terminator: String,
    /// `\n`, `;`, or a line comment and its newline (autoformat drops the comment).
    terminator: String,
    /// Comments between the last child and the `}` of the node's block.
    block_trailing: String,
}

/// Records, in document order, which nodes follow a blank line (autoformat drops them),
/// and sets each entry's canonical text.
fn prepare(doc: &mut KdlDocument, src: &str, depth: usize, blanks: &mut Vec<Saved>) {
    // `None` before the first node: a block never starts with a blank line.
    let mut after_newline: Option<bool> = None;
    for node in doc.nodes_mut().iter_mut() {
        let blank = after_newline.is_some_and(|nl| {
            node.format()
                .is_some_and(|f| has_blank_line(&f.leading, nl))
        });
        after_newline = Some(
            node.format()
                .is_none_or(|f| f.terminator.contains('\n') || f.trailing.contains('\n')),
        );
        let mut f = node.format().cloned().unwrap_or_default();
        if node.children().is_some()
            && let Some((space, comment)) = comment_after_block(src, node)
        {
            // kdl 6 parses `node { ... } // comment` but keeps neither the comment nor
            // its newline: taken back from the source, after the block's `}`.
            f.before_terminator = space;
            f.terminator = comment;
        }
        // In a block without nodes, kdl keeps its comments as the block's leading text.
        let block_trailing = node
            .children()
            .and_then(|c| {
                let f = c.format()?;
                Some(if c.nodes().is_empty() {
                    format!("{}{}", f.leading, f.trailing)
                } else {
                    f.trailing.clone()
                })
            })
            .unwrap_or_default();
        blanks.push(Saved {
            blank,
            leading: f.leading,
            before_terminator: f.before_terminator,
            terminator: f.terminator,
            block_trailing,
        });
        prepare_entries(node, depth);
        if let Some(children) = node.children_mut() {
            prepare(children, src, depth + 1, blanks);
        }
    }
}

/// The line comment after a node's children block, on the line of its `}`: the spaces
/// before it and the comment with its newline.
fn comment_after_block(src: &str, node: &KdlNode) -> Option<(String, String)> {
    let span = node.span();
    let end = (span.offset() + span.len()).min(src.len());
    let close = src.get(span.offset()..end)?.rfind('}')? + span.offset() + 1;
    let rest = src.get(close..)?;
    let line = rest.split('\n').next().unwrap_or(rest);
    let comment = line.trim_start_matches([' ', '\t']);
    if !comment.starts_with("//") {
        return None;
    }
    let space = &line[..line.len() - comment.len()];
    Some((space.to_owned(), format!("{}\n", comment.trim_end())))
}

fn prepare_entries(node: &mut KdlNode, depth: usize) {
    for entry in node.entries_mut() {
        let old = entry.format().cloned().unwrap_or_default();
        let repr = match entry.value() {
            // A bare identifier string: quote it. Quoted, raw and multi-line strings stay.
            KdlValue::String(s) if !old.value_repr.starts_with(['"', '#']) => quote(s),
            _ if old.value_repr.is_empty() => entry.value().to_string(),
            _ => old.value_repr.clone(),
        };
        let leading = entry_leading(&old.leading, depth);
        entry.set_format(KdlEntryFormat {
            value_repr: repr,
            leading,
            autoformat_keep: true,
            ..Default::default()
        });
    }
}

/// The whitespace before an entry: one space, or a kept line continuation, or a kept
/// comment (a slashdashed entry is a comment too).
fn entry_leading(old: &str, depth: usize) -> String {
    let t = old.trim();
    if t.is_empty() {
        return " ".into();
    }
    if let Some(rest) = t.strip_prefix('\\') {
        // `\` then the end of the line (perhaps with a comment on it).
        let (comment, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let comment = comment.trim();
        let after = after.trim();
        let mut s = String::from(" \\");
        if !comment.is_empty() {
            s.push(' ');
            s.push_str(comment);
        }
        s.push('\n');
        s.push_str(&INDENT.repeat(depth + 1));
        if !after.is_empty() {
            s.push_str(after);
            s.push(' ');
        }
        return s;
    }
    format!(" {t} ")
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Comments before a node, as the author grouped them: each line re-indented to the
/// node's depth (lines of a block comment or a slashdashed node keep their indentation
/// relative to each other), runs of blank lines made one, and a blank line before the
/// node where the author left one.
fn leading_text(original: &str, blank_before: bool, depth: usize) -> String {
    let lines: Vec<&str> = original.lines().collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    let indent = INDENT.repeat(depth);
    let mut out = String::new();
    if blank_before {
        out.push('\n');
    }
    if let (Some(first), Some(last)) = (first, last) {
        let body = &lines[first..=last];
        let common = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let mut previous_blank = false;
        for line in body {
            if line.trim().is_empty() {
                if !previous_blank {
                    out.push('\n');
                }
                previous_blank = true;
                continue;
            }
            previous_blank = false;
            out.push_str(&indent);
            // `common` counts bytes of leading whitespace, which are ASCII here.
            out.push_str(line.get(common..).unwrap_or(line.trim_start()).trim_end());
            out.push('\n');
        }
    }
    out.push_str(&indent);
    out
}

/// The end of a node's line: slashdashed entries, then a line comment as the author
/// spaced it (aligned comments stay aligned), then the newline.
fn line_end(saved: &Saved) -> (String, String) {
    let comment = saved.terminator.trim().trim_start_matches(';').trim();
    let before = saved.before_terminator.trim();
    let mut bt = String::new();
    if !before.is_empty() {
        bt.push(' ');
        bt.push_str(before);
    }
    if !comment.is_empty() {
        let space = &saved.before_terminator[saved.before_terminator.trim_end().len()..];
        if space.is_empty() || space.contains('\n') {
            bt.push(' ');
        } else {
            bt.push_str(space);
        }
    }
    let term = if comment.is_empty() {
        "\n".to_owned()
    } else {
        format!("{comment}\n")
    };
    (bt, term)
}

fn restore(doc: &mut KdlDocument, saved: &[Saved], at: &mut usize, depth: usize) {
    for node in doc.nodes_mut() {
        if let (Some(s), Some(f)) = (saved.get(*at), node.format_mut()) {
            f.leading = leading_text(&s.leading, s.blank, depth);
            let (bt, term) = line_end(s);
            f.before_terminator = bt;
            f.terminator = term;
        }
        let block_trailing = saved.get(*at).map(|s| s.block_trailing.clone());
        *at += 1;
        if let Some(children) = node.children_mut() {
            restore(children, saved, at, depth + 1);
            let empty = children.nodes().is_empty();
            // An empty block stays on its node's line: `env {}`, not three lines.
            if empty && block_trailing.as_ref().is_none_or(|t| t.trim().is_empty()) {
                children.set_format(kdl::KdlDocumentFormat::default());
                continue;
            }
            // Comments after the last child, before the `}`: at the children's depth.
            if let Some(text) = block_trailing.filter(|t| !t.trim().is_empty())
                && let Some(f) = children.format_mut()
            {
                let mut lines = leading_text(&text, false, depth + 1);
                // `leading_text` ends with the indentation of a node that follows; here
                // the `}` follows, one level out.
                lines.truncate(lines.len() - INDENT.len() * (depth + 1));
                f.trailing = format!("{lines}{}", INDENT.repeat(depth));
                if empty {
                    f.leading = "\n".to_owned();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        let mut doc: KdlDocument = text.parse().expect("parses");
        format_document(&mut doc, text)
    }

    #[test]
    fn canonical_layout() {
        let src = "project shop {\n  mesh   istio\n\n\n  // the environments\n  environment \"staging\"   {  namespace shop-staging ; replicas-scale 0.5 }\n}\n\n\nservice api { port http 8080 protocol=\"http\"\n}\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "project \"shop\" {\n    mesh \"istio\"\n\n    // the environments\n    environment \"staging\" {\n        namespace \"shop-staging\"\n        replicas-scale 0.5\n    }\n}\n\nservice \"api\" {\n    port \"http\" 8080 protocol=\"http\"\n}\n"
        );
        assert_eq!(fmt(&out), out, "idempotent");
    }

    #[test]
    fn keeps_comments_raw_strings_and_continuations() {
        let src = "// head\nservice \"a\" { // trailing\n    logs format=\"regex\" \\\n   pattern=#\"^(?<level>\\w+) \"#\n    /- env \"OLD\" \"1\"\n    env X /* why */ \"1\"\n}\n";
        let out = fmt(src);
        assert!(out.contains("// head\n"), "{out}");
        assert!(out.contains("// trailing"), "{out}");
        assert!(out.contains("pattern=#\"^(?<level>\\w+) \"#"), "{out}");
        assert!(out.contains(" \\\n        pattern="), "{out}");
        assert!(out.contains("/- env \"OLD\" \"1\""), "{out}");
        assert!(out.contains("/* why */"), "{out}");
        assert_eq!(fmt(&out), out, "idempotent");
    }

    #[test]
    fn empty_files_stay_empty() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n\n// only a comment\n"), "// only a comment\n");
    }

    /// Comments after a block's `}` and before it, at the end of the block, stay where
    /// they are (kdl 6 drops the first from its tree, and autoformat re-indents the
    /// second to one space).
    #[test]
    fn keeps_comments_around_closing_braces() {
        let src = "service \"a\" {\n    rollout \"canary\" { step weight=10; step weight=50 } // one line\n    depends-on \"b\" {\n        circuit-breaker\n        // end of block\n    } // after block\n}\nproject \"p\" {\n    mesh \"istio\"\n} // x\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "service \"a\" {\n    rollout \"canary\" {\n        step weight=10\n        step weight=50\n    } // one line\n    depends-on \"b\" {\n        circuit-breaker\n        // end of block\n    } // after block\n}\nproject \"p\" {\n    mesh \"istio\"\n} // x\n"
        );
        assert_eq!(fmt(&out), out, "idempotent");
    }

    #[test]
    fn a_byte_order_mark_stays_first() {
        let mut diags = Diagnostics::new();
        let src = "\u{feff}project \"p\" {\n  mesh \"istio\"\n}\n";
        let out = format_source(SourceId(0), src, &mut diags).expect("formats");
        assert_eq!(out, "\u{feff}project \"p\" {\n    mesh \"istio\"\n}\n");
    }

    #[test]
    fn an_empty_block_stays_on_its_line() {
        let src =
            "service \"w\" {\n    env {}\n    health {\n\n    }\n    labels { /* none */ }\n}\n";
        let out = fmt(src);
        assert_eq!(
            fmt("a {\n    b {// later\n\n    }\n}\n"),
            "a {\n    b {\n        // later\n    }\n}\n"
        );
        assert_eq!(
            out,
            "service \"w\" {\n    env {}\n    health {}\n    labels {\n        /* none */\n    }\n}\n"
        );
        assert_eq!(fmt(&out), out, "idempotent");
    }
}
