//! The fast path of stage 1: a hand-written reader for the part of KDL v2 that
//! topologies are written in, building our tree straight from the text.
//!
//! The `kdl` crate stays the reference: it keeps every formatting detail (which we do not
//! need) and recovers from errors to report them all, and that cost most of `check`'s
//! time on big projects. This reader answers `None` for anything it does not handle *and*
//! for every error, so the caller falls back to the `kdl` crate, whose tree and
//! diagnostics are then exactly what they were before. When it answers `Some`, the nodes
//! are the ones the `kdl` path would give, spans included; `tests/it/kdl_fast_path.rs`
//! and the `kdl_front_end` fuzz target compare the two.
//!
//! Read here: bare identifiers (ASCII) and quoted strings (escapes, whitespace escapes)
//! and single-line raw strings as names, keys and values; decimal integers and decimals
//! (`_`, sign, exponent); `#true`, `#false`, `#null`; properties; type annotations;
//! children blocks; `;`; line and nested block comments; slashdash on nodes, entries and
//! children blocks; line continuations; CRLF; a leading BOM. Left to the `kdl` crate:
//! multi-line strings, empty raw strings, hexadecimal, octal and binary numbers, `#inf`,
//! `#nan`, non-ASCII text outside strings and comments (identifiers, Unicode spaces and
//! newlines), control characters, and the corners where the crate's grammar is looser
//! than the specification (a slashdash reaching over a line break, a node right after a
//! slashdashed one, ...).
//!
//! Spans follow the `kdl` crate: a node runs from its type annotation or name to the end
//! of its last entry, children block or trailing space and block comments, without its
//! terminator; an entry runs from its key (or type annotation) to the end of its value.

use super::ast::{Entry, Node, Value};
use crate::source::{SourceId, Span};

/// Reads `text` into nodes, or `None` when the `kdl` crate must do it (see the module
/// documentation). Children blocks nested deeper than `max_depth` also give `None`, so
/// the recursion here stays bounded whatever the caller checked before.
#[must_use]
pub fn parse(id: SourceId, text: &str, max_depth: usize) -> Option<Vec<Node>> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        id,
        max_depth,
        nodes: Vec::new(),
        entries: Vec::new(),
    };
    if text.starts_with('\u{feff}') {
        p.pos = '\u{feff}'.len_utf8();
    }
    p.nodes(0)
}

/// Bytes that may appear in a bare identifier: printable ASCII but for KDL's
/// punctuation. Non-ASCII bytes are left to the `kdl` crate, because telling identifier
/// characters from Unicode spaces and newlines needs tables this reader does without.
fn is_ident_byte(b: u8) -> bool {
    matches!(b, 0x21..=0x7e)
        && !matches!(
            b,
            b'\\' | b'/' | b'(' | b')' | b'{' | b'}' | b'[' | b']' | b';' | b'"' | b'#' | b'='
        )
}

/// Characters a quoted string may not hold literally (KDL's newlines and disallowed code
/// points beyond ASCII); the `kdl` crate reports them.
fn is_refused_in_string(c: char) -> bool {
    matches!(
        c,
        '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{200e}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    id: SourceId,
    max_depth: usize,
    /// Nodes and entries being read, innermost last: each list is drained into a vector
    /// of exactly its length once complete. Pushing into the final vectors directly
    /// would leave up to half of each one unused, and a big project's tree is most of
    /// `check`'s memory.
    nodes: Vec<Node>,
    entries: Vec<Entry>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn at(&self, s: &[u8]) -> bool {
        self.bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.id, start, end)
    }

    /// The nodes of the document (`depth` 0, up to the end of the text) or of a children
    /// block (up to, not including, its `}`).
    fn nodes(&mut self, depth: usize) -> Option<Vec<Node>> {
        let first = self.nodes.len();
        loop {
            self.line_space()?;
            match self.peek() {
                None if depth == 0 => return Some(self.nodes.drain(first..).collect()),
                Some(b'}') if depth > 0 => return Some(self.nodes.drain(first..).collect()),
                None | Some(b'}') => return None,
                Some(b'/') if self.peek_at(1) == Some(b'-') => {
                    self.pos += 2;
                    self.line_space()?;
                    self.node(depth)?;
                    // The kdl crate accepts a node right after a slashdashed one, and
                    // refuses a `;` there: both are left to it.
                    if !matches!(self.peek(), None | Some(b'}' | b'\n' | b'\r')) && !self.at(b"//")
                    {
                        return None;
                    }
                }
                Some(_) => {
                    let node = self.node(depth)?;
                    self.nodes.push(node);
                    self.terminator(depth)?;
                }
            }
        }
    }

    /// What ends a node: `;`, a line break, a line comment, the end of the text, or the
    /// `}` of the enclosing block (left for the caller).
    fn terminator(&mut self, depth: usize) -> Option<()> {
        match self.peek() {
            None => {}
            Some(b';' | b'\n') => self.pos += 1,
            Some(b'\r') => self.newline(),
            Some(b'}') if depth > 0 => {}
            Some(b'/') if self.peek_at(1) == Some(b'/') => self.line_comment()?,
            Some(_) => return None,
        }
        Some(())
    }

    /// One node: `(type)? name entries* children?`, without its terminator.
    fn node(&mut self, depth: usize) -> Option<Node> {
        let start = self.pos;
        let ty = if self.peek() == Some(b'(') {
            let ty = self.type_annotation()?;
            self.node_space()?;
            Some(ty)
        } else {
            None
        };
        let name_start = self.pos;
        let Value::String(name) = self.value()? else {
            return None;
        };
        let name_span = self.span(name_start, self.pos);
        let first_entry = self.entries.len();
        let mut children: Option<Vec<Node>> = None;
        // A slashdashed children block may be followed only by children blocks.
        let mut dropped_children = false;
        loop {
            let before = self.pos;
            self.node_space()?;
            let spaced = self.pos > before;
            match self.peek() {
                None | Some(b';' | b'\n' | b'\r' | b'}') => break,
                Some(b'/') if self.peek_at(1) == Some(b'/') => break,
                Some(b'{') => {
                    if children.is_some() {
                        return None;
                    }
                    children = Some(self.children(depth)?);
                }
                Some(b'/') if self.peek_at(1) == Some(b'-') => {
                    if !spaced {
                        return None;
                    }
                    self.pos += 2;
                    // Only spaces here: the kdl crate also lets a slashdash reach over
                    // line breaks and comments, which is left to it.
                    self.node_space()?;
                    if self.peek() == Some(b'{') {
                        dropped_children |= children.is_none();
                        self.children(depth)?;
                    } else {
                        if children.is_some() || dropped_children {
                            return None;
                        }
                        self.entry()?;
                    }
                }
                Some(_) => {
                    if !spaced || children.is_some() || dropped_children {
                        return None;
                    }
                    let entry = self.entry()?;
                    self.entries.push(entry);
                }
            }
        }
        Some(Node {
            name,
            name_span,
            span: self.span(start, self.pos),
            ty,
            entries: self.entries.drain(first_entry..).collect(),
            has_children_block: children.is_some(),
            children: children.unwrap_or_default(),
        })
    }

    /// `{ nodes }`, from the `{`.
    fn children(&mut self, depth: usize) -> Option<Vec<Node>> {
        if depth >= self.max_depth {
            return None;
        }
        self.pos += 1;
        let nodes = self.nodes(depth + 1)?;
        // `nodes` stops only at the `}` inside a block.
        self.pos += 1;
        Some(nodes)
    }

    /// An argument (`(type)? value`) or a property (`key = (type)? value`).
    fn entry(&mut self) -> Option<Entry> {
        let start = self.pos;
        let mut name = None;
        let mut name_span = None;
        let mut ty = None;
        if self.peek() == Some(b'(') {
            ty = Some(self.type_annotation()?);
            self.node_space()?;
        } else {
            let key_start = self.pos;
            let first = self.value()?;
            let key_end = self.pos;
            if let Value::String(key) = first {
                self.node_space()?;
                if self.peek() == Some(b'=') {
                    self.pos += 1;
                    self.node_space()?;
                    name = Some(key);
                    name_span = Some(self.span(key_start, key_end));
                    if self.peek() == Some(b'(') {
                        ty = Some(self.type_annotation()?);
                        self.node_space()?;
                    }
                } else {
                    self.pos = key_end;
                    return Some(self.finish_entry(
                        start,
                        key_start,
                        None,
                        None,
                        Value::String(key),
                        None,
                    ));
                }
            } else {
                return Some(self.finish_entry(start, key_start, None, None, first, None));
            }
        }
        let value_start = self.pos;
        let value = self.value()?;
        Some(self.finish_entry(start, value_start, name, name_span, value, ty))
    }

    fn finish_entry(
        &self,
        start: usize,
        value_start: usize,
        name: Option<String>,
        name_span: Option<Span>,
        value: Value,
        ty: Option<String>,
    ) -> Entry {
        let span = self.span(start, self.pos);
        let raw = self.text[value_start..self.pos].trim().to_owned();
        // As in `convert_entry`: the value is the tail of the entry, as long as its text.
        let value_len = raw.len().min(span.len());
        let value_span = Span {
            start: span.end - u32::try_from(value_len).unwrap_or(0),
            ..span
        };
        Entry {
            name,
            name_span,
            value,
            raw,
            ty,
            span,
            value_span,
        }
    }

    /// `(name)`, from the `(`; the name is a string, bare or quoted.
    fn type_annotation(&mut self) -> Option<String> {
        self.pos += 1;
        self.node_space()?;
        let Value::String(ty) = self.value()? else {
            return None;
        };
        self.node_space()?;
        if self.peek() != Some(b')') {
            return None;
        }
        self.pos += 1;
        Some(ty)
    }

    /// A quoted string, a keyword, or a bare token: an identifier string or a number.
    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => self.quoted().map(Value::String),
            b'#' if self.bytes.get(self.pos..)?.iter().find(|b| **b != b'#') == Some(&b'"') => {
                self.raw_string().map(Value::String)
            }
            b'#' => {
                for (word, value) in [
                    (&b"#true"[..], Value::Bool(true)),
                    (b"#false", Value::Bool(false)),
                    (b"#null", Value::Null),
                ] {
                    if self.at(word) {
                        self.pos += word.len();
                        return Some(value);
                    }
                }
                None
            }
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(is_ident_byte) {
                    self.pos += 1;
                }
                if self.pos == start || self.peek().is_some_and(|b| !b.is_ascii()) {
                    return None;
                }
                bare(&self.text[start..self.pos])
            }
        }
    }

    /// A single-line quoted string, from its opening quote.
    fn quoted(&mut self) -> Option<String> {
        self.pos += 1;
        if self.at(b"\"\"") {
            // `"""`: a multi-line string.
            return None;
        }
        let mut out = String::new();
        loop {
            let run = self.pos;
            // Printable ASCII and tab; DEL too, which the kdl crate accepts.
            while self.peek().is_some_and(|b| {
                b == b'\t' || ((b' '..=0x7f).contains(&b) && b != b'"' && b != b'\\')
            }) {
                self.pos += 1;
            }
            let plain = &self.text[run..self.pos];
            match self.peek()? {
                b'"' if out.is_empty() => {
                    self.pos += 1;
                    return Some(plain.to_owned());
                }
                b'"' => {
                    out.push_str(plain);
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    out.push_str(plain);
                    self.escape(&mut out)?;
                }
                b if !b.is_ascii() => {
                    let c = self.text.get(self.pos..)?.chars().next()?;
                    if is_refused_in_string(c) {
                        return None;
                    }
                    out.push_str(plain);
                    out.push(c);
                    self.pos += c.len_utf8();
                }
                // Line breaks and other control characters.
                _ => return None,
            }
        }
    }

    /// A single-line raw string (`#"..."#`, `##"..."##`, ...), from its first `#`.
    fn raw_string(&mut self) -> Option<String> {
        let hashes = self
            .bytes
            .get(self.pos..)?
            .iter()
            .take_while(|b| **b == b'#')
            .count();
        self.pos += hashes + 1;
        if self.peek() == Some(b'"') {
            // `#""#` and the multi-line `#"""`: rare, and the crate has special rules.
            return None;
        }
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' if self
                    .bytes
                    .get(self.pos + 1..self.pos + 1 + hashes)
                    .is_some_and(|h| h.iter().all(|b| *b == b'#')) =>
                {
                    let body = self.text[start..self.pos].to_owned();
                    self.pos += 1 + hashes;
                    return Some(body);
                }
                b'\t' | b' '..=0x7f => self.pos += 1,
                b if !b.is_ascii() => {
                    let c = self.text.get(self.pos..)?.chars().next()?;
                    if is_refused_in_string(c) {
                        return None;
                    }
                    self.pos += c.len_utf8();
                }
                _ => return None,
            }
        }
    }

    /// An escape in a quoted string, from its `\`.
    fn escape(&mut self, out: &mut String) -> Option<()> {
        self.pos += 1;
        let c = match self.peek()? {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'\\' => '\\',
            b'"' => '"',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b's' => ' ',
            b'u' => {
                if self.peek_at(1) != Some(b'{') {
                    return None;
                }
                self.pos += 2;
                let start = self.pos;
                while self.pos - start < 6 && self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
                    self.pos += 1;
                }
                if self.pos == start || self.peek() != Some(b'}') {
                    return None;
                }
                let code = u32::from_str_radix(&self.text[start..self.pos], 16).ok()?;
                out.push(char::from_u32(code)?);
                self.pos += 1;
                return Some(());
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                // A whitespace escape drops all the whitespace and line breaks after it.
                while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    self.pos += 1;
                }
                // Other KDL spaces and newlines would be dropped too: left to the crate.
                if self
                    .peek()
                    .is_some_and(|b| !b.is_ascii() || b == 0x0b || b == 0x0c)
                {
                    return None;
                }
                return Some(());
            }
            _ => return None,
        };
        out.push(c);
        self.pos += 1;
        Some(())
    }

    /// Space inside a node: spaces, tabs, block comments and line continuations.
    fn node_space(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'/') if self.peek_at(1) == Some(b'*') => self.block_comment()?,
                Some(b'\\') => self.continuation()?,
                _ => return Some(()),
            }
        }
    }

    /// Space between nodes: node space, line breaks and line comments.
    fn line_space(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if self.peek_at(1) == Some(b'/') => self.line_comment()?,
                Some(b'/') if self.peek_at(1) == Some(b'*') => self.block_comment()?,
                Some(b'\\') => self.continuation()?,
                _ => return Some(()),
            }
        }
    }

    /// `\` then space, then a line comment, a line break or the end of the text.
    fn continuation(&mut self) -> Option<()> {
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'/') if self.peek_at(1) == Some(b'*') => self.block_comment()?,
                _ => break,
            }
        }
        match self.peek() {
            None => Some(()),
            Some(b'\n' | b'\r') => {
                self.newline();
                Some(())
            }
            Some(b'/') if self.peek_at(1) == Some(b'/') => self.line_comment(),
            Some(_) => None,
        }
    }

    /// One line break; `\r\n` is one.
    fn newline(&mut self) {
        if self.at(b"\r\n") {
            self.pos += 2;
        } else {
            self.pos += 1;
        }
    }

    /// `//` to the end of the line, line break included.
    fn line_comment(&mut self) -> Option<()> {
        self.pos += 2;
        while let Some(b) = self.peek() {
            match b {
                b'\n' | b'\r' => {
                    self.newline();
                    return Some(());
                }
                // KDL's other line breaks (VT, FF, NEL, LS, PS) end a comment too.
                0x0b | 0x0c => return None,
                0xc2 if self.peek_at(1) == Some(0x85) => return None,
                0xe2 if self.peek_at(1) == Some(0x80)
                    && matches!(self.peek_at(2), Some(0xa8 | 0xa9)) =>
                {
                    return None;
                }
                _ => self.pos += 1,
            }
        }
        Some(())
    }

    /// `/* ... */`, nested, from the `/*`.
    fn block_comment(&mut self) -> Option<()> {
        self.pos += 2;
        let mut level = 1usize;
        loop {
            if self.at(b"*/") {
                self.pos += 2;
                level -= 1;
                if level == 0 {
                    return Some(());
                }
            } else if self.at(b"/*") {
                self.pos += 2;
                level += 1;
            } else if self.peek().is_some() {
                self.pos += 1;
            } else {
                return None;
            }
        }
    }
}

/// A bare token: a number when it starts like one, otherwise an identifier string.
fn bare(token: &str) -> Option<Value> {
    let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
    let mut rest = unsigned.bytes();
    match (rest.next(), rest.next()) {
        (Some(b'0'..=b'9'), _) => number(token),
        // `.5` and `-.5` are errors.
        (Some(b'.'), Some(b'0'..=b'9')) => None,
        // Keywords must be written `#true`, ...; the kdl crate rejects the bare words (and
        // accepts some of them with a sign, which is left to it too).
        _ if matches!(unsigned, "true" | "false" | "null" | "inf" | "nan") => None,
        _ => Some(Value::String(token.to_owned())),
    }
}

/// A decimal integer or decimal number (`-1_000`, `99.9`, `1e3`, `2.5E-3`); hexadecimal,
/// octal and binary numbers are left to the kdl crate.
fn number(token: &str) -> Option<Value> {
    let b = token.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B'))
    {
        return None;
    }
    // Each group of digits must fit an i128: the kdl crate reads them as such, even in a
    // decimal number, and refuses the number otherwise.
    let digits = |i: &mut usize| -> Option<()> {
        let start = *i;
        if !b.get(*i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while b.get(*i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            *i += 1;
        }
        let group: String = token
            .get(start..*i)?
            .chars()
            .filter(|c| *c != '_')
            .collect();
        group.parse::<i128>().ok().map(|_| ())
    };
    let int_start = i;
    digits(&mut i)?;
    let int_end = i;
    let mut decimal = false;
    if b.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i)?;
        decimal = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        digits(&mut i)?;
        decimal = true;
    }
    if i != b.len() {
        return None;
    }
    if decimal {
        token.replace('_', "").parse::<f64>().ok().map(Value::Float)
    } else {
        let magnitude: i128 = token
            .get(int_start..int_end)?
            .chars()
            .filter(|c| *c != '_')
            .collect::<String>()
            .parse()
            .ok()?;
        Some(Value::Integer(if b.first() == Some(&b'-') {
            -magnitude
        } else {
            magnitude
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(text: &str) -> Option<Vec<Node>> {
        parse(SourceId(0), text, super::super::MAX_DEPTH)
    }

    #[test]
    fn reads_a_service_as_the_kdl_crate_does() {
        let text = "service \"a\" {\n    port \"http\" 8080 protocol=\"http\" // x\n}\n";
        let nodes = fast(text).expect("handled");
        assert_eq!(
            Some(&nodes),
            super::super::parse_with_kdl(SourceId(0), text).as_ref()
        );
        let port = &nodes[0].children[0];
        assert_eq!(port.entries[1].value, Value::Integer(8080));
        assert_eq!(&text[port.entries[2].value_span.range()], "\"http\"");
    }

    #[test]
    fn leaves_the_rest_to_the_kdl_crate() {
        for text in [
            "a #\"\"#",
            "a \"\"\"\nx\n\"\"\"",
            "a 0x10",
            "a #inf",
            "a true",
            "café 1",
            "a 1.",
            "a \"unterminated",
            "a {",
            "a }",
            "a;;b",
            "/- a{}b",
            "a /-\n1",
            "a \"\\/\"",
        ] {
            assert!(fast(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let text = format!("{}{}", "a {".repeat(10_000), "}".repeat(10_000));
        assert!(fast(&text).is_none());
    }
}
