//! Stage 1: text -> [`Document`]. KDL v2 into our own tree, so that every later stage has
//! file-qualified spans: first through a hand-written reader for the subset topologies use
//! ([`fast`]), and through the `kdl` crate for anything else and for every error.

pub mod ast;
pub mod fast;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};

pub use ast::{Document, Entry, Node, Value};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceId, SourceMap, Span};

/// Nesting deeper than this is refused before parsing: no topology needs it, and the KDL
/// parser recurses once per level.
pub const MAX_DEPTH: usize = 48;

/// Files larger than this are refused: a topology is kilobytes, not megabytes.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The most nodes a project may have, all files together (a service is a few dozen).
pub const MAX_NODES: usize = 1_000_000;

/// The most services a project may declare.
pub const MAX_SERVICES: usize = 10_000;

/// The longest string value, in bytes: room for a certificate or a long query, not for a
/// file that belongs in a ConfigMap.
pub const MAX_STRING_BYTES: usize = 64 * 1024;

/// Nesting limits above this are not accepted as overrides: the parser's stack
/// ([`PARSER_STACK`]) is sized for it.
pub const MAX_DEPTH_OVERRIDE: usize = 256;

/// The KDL parser is recursive; it runs on a thread with a stack that no accepted input
/// can exhaust.
const PARSER_STACK: usize = 64 * 1024 * 1024;

/// Files parsed in parallel before the project's counts are checked.
const PARSE_CHUNK: usize = 512;

/// The input limits. Every one has a documented default (docs/security.md) and can be
/// changed per run (`NESTIOC_LIMITS=services=20000,string-bytes=131072`); a project that
/// crosses one gets an error (NST0002 for a file's size and depth, NST0004 for the others)
/// instead of making the compiler's time or memory grow without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one file.
    pub file_bytes: usize,
    /// Nesting of children blocks.
    pub depth: usize,
    /// Nodes in the whole project.
    pub nodes: usize,
    /// `service` nodes in the whole project.
    pub services: usize,
    /// Bytes in one string value.
    pub string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            file_bytes: MAX_FILE_BYTES,
            depth: MAX_DEPTH,
            nodes: MAX_NODES,
            services: MAX_SERVICES,
            string_bytes: MAX_STRING_BYTES,
        }
    }
}

impl Limits {
    /// The names overrides use, with their defaults, for documentation and errors.
    pub const NAMES: &'static [&'static str] =
        &["file-bytes", "depth", "nodes", "services", "string-bytes"];

    /// Applies overrides written as `name=value,name=value` (names from [`Limits::NAMES`]).
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, value)) = item.split_once('=') else {
                return Err(format!("`{item}` is not `name=value`"));
            };
            let value: usize = value
                .trim()
                .replace('_', "")
                .parse()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("`{item}`: the value must be a positive integer"))?;
            let slot = match name.trim() {
                "file-bytes" => &mut self.file_bytes,
                "depth" => {
                    if value > MAX_DEPTH_OVERRIDE {
                        return Err(format!(
                            "`{item}`: the nesting limit can be raised to {MAX_DEPTH_OVERRIDE} at most"
                        ));
                    }
                    &mut self.depth
                }
                "nodes" => &mut self.nodes,
                "services" => &mut self.services,
                "string-bytes" => &mut self.string_bytes,
                other => {
                    return Err(format!(
                        "unknown limit `{other}`; the limits are {}",
                        Self::NAMES.join(", ")
                    ));
                }
            };
            *slot = value;
        }
        Ok(self)
    }
}

/// Parses every file of the map. Files that fail to parse give diagnostics and no document.
pub fn parse_all(sources: &SourceMap, diags: &mut Diagnostics) -> Vec<Document> {
    parse_all_with(sources, &Limits::default(), diags)
}

/// [`parse_all`] with explicit limits. When the project crosses a count limit (nodes,
/// services) no document is returned: the later stages never see an oversized project.
pub fn parse_all_with(
    sources: &SourceMap,
    limits: &Limits,
    diags: &mut Diagnostics,
) -> Vec<Document> {
    parse_files(sources, &|_| false, limits, diags)
}

/// The documents (and syntax diagnostics) of a previous parse, by file: what the language
/// server keeps between keystrokes so that only the edited file is parsed again.
#[derive(Debug, Default)]
pub struct ParseCache {
    files: std::collections::HashMap<SourceId, Parsed>,
}

#[derive(Debug)]
struct Parsed {
    name: String,
    text: String,
    doc: Option<Document>,
    diags: Diagnostics,
}

impl ParseCache {
    /// The parsed documents held, in no particular order.
    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.files.values().filter_map(|p| p.doc.as_ref())
    }
}

/// [`parse_all_with`], reusing from `cache` every file whose id, name and text are those
/// of the last parse, and leaving the cache holding exactly this parse's files. The result
/// is the same as a parse from scratch: the cache only skips work.
pub fn parse_all_cached(
    sources: &SourceMap,
    limits: &Limits,
    cache: &mut ParseCache,
    diags: &mut Diagnostics,
) -> Vec<Document> {
    let mut previous = std::mem::take(&mut cache.files);
    let mut reused: std::collections::HashMap<SourceId, Parsed> = std::collections::HashMap::new();
    for (id, src) in sources.iter() {
        match previous.remove(&id) {
            Some(p) if p.name == src.name && p.text == src.text => {
                reused.insert(id, p);
            }
            _ => {}
        }
    }
    // Parse the others.
    let mut parsed_diags = Diagnostics::new();
    let docs = parse_files(
        sources,
        &|id| reused.contains_key(&id),
        limits,
        &mut parsed_diags,
    );
    // Over a count limit already among the files just parsed: that is the answer.
    if parsed_diags.iter().any(|d| d.code == Code::LimitExceeded) && reused.is_empty() {
        diags.extend(parsed_diags);
        return Vec::new();
    }
    let mut by_id: std::collections::HashMap<SourceId, Document> =
        docs.into_iter().map(|d| (d.source, d)).collect();
    let mut diags_by_id: std::collections::HashMap<SourceId, Diagnostics> =
        std::collections::HashMap::new();
    let mut global = Diagnostics::new();
    for d in parsed_diags.iter() {
        match d.labels.first().map(|l| l.span.source) {
            Some(id) => diags_by_id.entry(id).or_default().push(d.clone()),
            None => global.push(d.clone()),
        }
    }
    // Reassemble in file order, counting against the limits as a fresh parse does.
    let mut out = Vec::new();
    let mut counts = Counts::default();
    let mut over = false;
    for (id, src) in sources.iter() {
        let entry = match reused.remove(&id) {
            Some(p) => p,
            None => Parsed {
                name: src.name.clone(),
                text: src.text.clone(),
                doc: by_id.remove(&id),
                diags: diags_by_id.remove(&id).unwrap_or_default(),
            },
        };
        diags.extend(entry.diags.clone());
        if let Some(doc) = &entry.doc
            && !over
        {
            if counts.add(doc, limits, diags) {
                out.push(doc.clone());
            } else {
                over = true;
            }
        }
        cache.files.insert(id, entry);
    }
    diags.extend(global);
    if over { Vec::new() } else { out }
}

/// Parses every readable project file of `sources` except those `skip` names (their trees
/// come from a cache).
fn parse_files(
    sources: &SourceMap,
    skip: &dyn Fn(SourceId) -> bool,
    limits: &Limits,
    diags: &mut Diagnostics,
) -> Vec<Document> {
    for (id, src) in sources.iter() {
        if src.origin != crate::source::Origin::Stdlib
            && let Some(c) = src.name.chars().find(|c| !safe_file_name_char(*c))
        {
            diags.push(
                Diagnostic::error(
                    Code::UnsafeFileName,
                    format!(
                        "the file name `{}` contains {}",
                        src.name.escape_debug(),
                        describe_char(c)
                    ),
                )
                .with_label(Span::file_start(id), "in this file's name")
                .with_help(
                    "file names reach generated comments and annotations: use letters, digits, `.`, `_`, `-`, `+`, `@` and spaces",
                ),
            );
        }
    }
    let jobs: Vec<(SourceId, &str)> = sources
        .iter()
        .filter(|(id, src)| {
            !src.unreadable && src.origin != crate::source::Origin::TemplateOverride && !skip(*id)
        })
        .map(|(id, src)| (id, src.text.as_str()))
        .collect();
    let limits = *limits;
    let threads = rayon::current_num_threads();
    // A scoped thread borrows the texts: no copy of the project for the parser's stack.
    let worker = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("nestioc-parse".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, move || {
                // Files are parsed a chunk at a time, in parallel on threads with the parser's
                // stack when there are several; the counts run in file order after each
                // chunk, so an oversized project stops within one chunk, and the result is
                // the same for any number of threads.
                let pool = (threads > 1)
                    .then(|| {
                        rayon::ThreadPoolBuilder::new()
                            .num_threads(threads)
                            .stack_size(PARSER_STACK)
                            .thread_name(|i| format!("nestioc-parse-{i}"))
                            .build()
                            .ok()
                    })
                    .flatten();
                let parse = |(id, text): &(SourceId, &str)| {
                    let mut local = Diagnostics::new();
                    let doc = parse_one_with(*id, text, &limits, &mut local);
                    (doc, local)
                };
                let mut local = Diagnostics::new();
                let mut docs = Vec::new();
                let mut counts = Counts::default();
                for chunk in jobs.chunks(PARSE_CHUNK) {
                    let parsed: Vec<(Option<Document>, Diagnostics)> = match &pool {
                        Some(pool) => {
                            use rayon::prelude::*;
                            pool.install(|| chunk.par_iter().map(parse).collect())
                        }
                        None => chunk.iter().map(parse).collect(),
                    };
                    for (doc, file_diags) in parsed {
                        local.extend(file_diags);
                        if let Some(doc) = doc {
                            if !counts.add(&doc, &limits, &mut local) {
                                return (Vec::new(), local);
                            }
                            docs.push(doc);
                        }
                    }
                }
                (docs, local)
            })
            .map(std::thread::ScopedJoinHandle::join)
    });
    match worker {
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
    parse_one_with(id, text, &Limits::default(), diags)
}

/// [`parse_one`] with explicit limits (file size, depth, string length).
pub fn parse_one_with(
    id: SourceId,
    text: &str,
    limits: &Limits,
    diags: &mut Diagnostics,
) -> Option<Document> {
    if text.len() > limits.file_bytes {
        diags.push(
            Diagnostic::error(
                Code::UnreadableSource,
                format!(
                    "file is too large ({} bytes, the limit is {})",
                    text.len(),
                    limits.file_bytes
                ),
            )
            .with_label(Span::file_start(id), "in this file")
            .with_help("split the topology into several files"),
        );
        return None;
    }
    if let Some((depth, offset)) = too_deep(text, limits.depth.min(MAX_DEPTH_OVERRIDE)) {
        diags.push(
            Diagnostic::error(
                Code::UnreadableSource,
                format!(
                    "nodes are nested {depth} levels deep, the limit is {}",
                    limits.depth.min(MAX_DEPTH_OVERRIDE)
                ),
            )
            .with_label(Span::new(id, offset, offset + 1), "too deep here")
            .with_help("a topology needs only a few levels of children blocks"),
        );
        return None;
    }
    // The fast path handles what topologies are written in and answers `None` for
    // anything else, errors included: the kdl crate then reads the file, and its tree and
    // its diagnostics are the reference.
    let nodes = match fast::parse(id, text, limits.depth.min(MAX_DEPTH_OVERRIDE)) {
        Some(nodes) => nodes,
        None => match text.parse::<KdlDocument>() {
            Ok(doc) => convert_nodes(id, &doc),
            Err(err) => {
                report_kdl_error(id, text, err, diags);
                return None;
            }
        },
    };
    let doc = Document {
        source: id,
        nodes: std::sync::Arc::new(nodes),
    };
    check_strings(&doc.nodes, limits.string_bytes, diags);
    Some(doc)
}

/// The nodes as the `kdl` crate reads them, `None` on a syntax error: the reference the
/// fast path is tested against (`tests/it/kdl_fast_path.rs`, the `kdl_front_end` fuzz
/// target). No limits apply.
#[must_use]
pub fn parse_with_kdl(id: SourceId, text: &str) -> Option<Vec<Node>> {
    text.parse::<KdlDocument>()
        .ok()
        .map(|doc| convert_nodes(id, &doc))
}

/// What KDL v1 wrote that KDL v2 does not: the message and the help for the token at
/// `start`, when it is one (a bare `true`/`false`/`null`, a raw string `r"..."`).
fn kdl_v1_leftover(text: &str, start: usize) -> Option<(String, String)> {
    let rest = text.get(start..)?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if let "true" | "false" | "null" = word.as_str() {
        return Some((
            format!("`{word}` is KDL v1 syntax"),
            format!(
                "KDL v2 writes the keyword `#{word}`; a bare `{word}` is reserved (write \"{word}\" for the string)"
            ),
        ));
    }
    let hashes = rest.strip_prefix('r')?;
    let after = hashes.trim_start_matches('#');
    if after.starts_with('"') {
        let n = hashes.len() - after.len();
        let fence = "#".repeat(n.max(1));
        return Some((
            "`r\"...\"` is a KDL v1 raw string".to_owned(),
            format!("KDL v2 writes raw strings without the `r`: `{fence}\"...\"{fence}`"),
        ));
    }
    None
}

fn report_kdl_error(id: SourceId, text: &str, err: kdl::KdlError, diags: &mut Diagnostics) {
    let mut unclosed_reported = false;
    for d in err.diagnostics {
        // A missing `}` is reported by the parser twice, for the block and for the
        // document: one mistake, one diagnostic.
        let unclosed = d
            .message
            .as_deref()
            .is_some_and(|m| m.contains("closing '}'"));
        if unclosed && unclosed_reported {
            continue;
        }
        unclosed_reported |= unclosed;
        let mut start = clamp(text, d.span.offset());
        let end = clamp(text, d.span.offset() + d.span.len());
        // The parser reports some errors over everything it consumed; the
        // problem is on the last line of that.
        if let Some(nl) = text[start..end].trim_end().rfind('\n') {
            let line_start = start + nl + 1;
            start = line_start
                + (text[line_start..end].len() - text[line_start..end].trim_start().len());
        }
        if let Some((message, help)) = kdl_v1_leftover(text, start) {
            diags.push(
                Diagnostic::error(Code::KdlSyntax, message)
                    .with_label(Span::new(id, start, end), "not KDL v2")
                    .with_help(help),
            );
            continue;
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

fn convert_nodes(id: SourceId, doc: &KdlDocument) -> Vec<Node> {
    doc.nodes().iter().map(|n| convert_node(id, n)).collect()
}

fn convert_node(id: SourceId, node: &KdlNode) -> Node {
    let children: Vec<Node> = node
        .children()
        .map(|c| convert_nodes(id, c))
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

/// May this character appear in a project file's path? Paths are written into generated
/// comments (YAML, Dockerfile, Groovy, Go templates, Fluentd) and annotations, where a
/// line break would end the comment, `{{` would start a Helm template action and `-->`
/// would end an HTML comment: ASCII letters, digits, `/` and a few inert punctuation
/// characters only.
#[must_use]
pub fn safe_file_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-+@ ".contains(c)
}

fn describe_char(c: char) -> String {
    match c {
        '\n' | '\r' => "a line break".into(),
        c if c.is_control() || !c.is_ascii() => format!("the character U+{:04X}", u32::from(c)),
        c => format!("`{c}`"),
    }
}

/// Strings longer than the limit: one error each, at the value.
fn check_strings(nodes: &[Node], max: usize, diags: &mut Diagnostics) {
    for n in nodes {
        for e in &n.entries {
            if let Value::String(s) = &e.value
                && s.len() > max
            {
                diags.push(
                    Diagnostic::error(
                        Code::LimitExceeded,
                        format!(
                            "this string is {} bytes long, the limit is {max}",
                            s.len()
                        ),
                    )
                    .with_label(e.value_span, "too long")
                    .with_help(
                        "a topology holds names, commands and short values: keep long content in a file the service reads, or raise the limit with NESTIOC_LIMITS=string-bytes=N",
                    ),
                );
            }
        }
        check_strings(&n.children, max, diags);
    }
}

/// Nodes and services seen so far, against the count limits.
#[derive(Debug, Default)]
struct Counts {
    nodes: usize,
    services: usize,
}

impl Counts {
    /// Adds a document; `false` (with an error) once a limit is crossed.
    fn add(&mut self, doc: &Document, limits: &Limits, diags: &mut Diagnostics) -> bool {
        fn count(nodes: &[Node]) -> usize {
            nodes.iter().map(|n| 1 + count(&n.children)).sum()
        }
        let before = self.nodes;
        self.nodes += count(&doc.nodes);
        if self.nodes > limits.nodes {
            // Point at the first node past the limit.
            let mut seen = before;
            let mut at = Span::file_start(doc.source);
            for n in doc.nodes.iter() {
                seen += 1 + count(&n.children);
                if seen > limits.nodes {
                    at = n.ident_span();
                    break;
                }
            }
            diags.push(
                Diagnostic::error(
                    Code::LimitExceeded,
                    format!(
                        "the project has more than {} nodes, the limit",
                        limits.nodes
                    ),
                )
                .with_label(at, "the limit is crossed here")
                .with_help(
                    "split the platform into several projects, or raise the limit with NESTIOC_LIMITS=nodes=N",
                ),
            );
            return false;
        }
        for n in doc.nodes.iter().filter(|n| n.name == "service") {
            self.services += 1;
            if self.services > limits.services {
                diags.push(
                    Diagnostic::error(
                        Code::LimitExceeded,
                        format!(
                            "the project declares more than {} services, the limit",
                            limits.services
                        ),
                    )
                    .with_label(n.ident_span(), "one service too many")
                    .with_help(
                        "split the platform into several projects, or raise the limit with NESTIOC_LIMITS=services=N",
                    ),
                );
                return false;
            }
        }
        true
    }
}

/// Finds the first place where `{` blocks nest deeper than `max`, skipping strings and
/// comments so that braces inside them do not count.
/// Does a KDL newline (CR, LF, VT, FF, NEL, LS or PS) start at byte `i`?
fn kdl_newline_at(b: &[u8], i: usize) -> bool {
    let rest = &b[i..];
    matches!(rest.first(), Some(b'\n' | b'\r' | 0x0B | 0x0C))
        || rest.starts_with("\u{85}".as_bytes())
        || rest.starts_with("\u{2028}".as_bytes())
        || rest.starts_with("\u{2029}".as_bytes())
}

fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // A line comment ends at any KDL newline, not only `\n`: a comment ended by
            // a CR or a LINE SEPARATOR must not hide the braces after it.
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && !kdl_newline_at(b, i) {
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
                if depth > max {
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
    fn a_comment_ended_by_any_kdl_newline_does_not_hide_nesting() {
        for newline in ["\r", "\u{85}", "\u{2028}", "\u{2029}", "\u{c}", "\u{b}"] {
            let text = format!(
                "project \"p\" // c{newline}{}{}",
                "x {".repeat(60),
                "}".repeat(60)
            );
            assert!(
                too_deep(&text, MAX_DEPTH).is_some(),
                "{newline:?} ends a comment"
            );
        }
        assert!(too_deep("// {{{{{{\nx { }", 2).is_none());
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
        assert_eq!(too_deep(&text, MAX_DEPTH), None);
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
