//! What the language server answers, as pure functions of one analysed project: hover,
//! definitions and references, completion, symbols, rename and quick fixes. Offsets are
//! bytes into a file of the project's `SourceMap`; the server converts to and from LSP
//! positions.

use std::collections::BTreeSet;

use crate::diag::Diagnostic;
use crate::lang::{self, Kind, NodeSpec};
use crate::model::Model;
use crate::source::{Origin, SourceId, SourceMap, Span};
use crate::syntax::{Document, Entry, Node};

/// One analysed project, as the server keeps it between requests.
#[derive(Debug)]
pub struct Snapshot {
    pub sources: SourceMap,
    pub docs: Vec<Document>,
    pub model: Option<Model>,
    pub diagnostics: Vec<Diagnostic>,
}

/// What is under the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symbol {
    Service(String),
    Template(String),
    /// A port of a service: (service, port).
    Port(String, String),
}

/// A node and the names of its ancestors (outermost first), the node's included.
struct Found<'a> {
    path: Vec<&'a str>,
    node: &'a Node,
    /// The enclosing top-level node (`service`, `template`, `project`).
    top: &'a Node,
}

fn contains(span: Span, offset: usize) -> bool {
    (span.start as usize) <= offset && offset <= (span.end as usize)
}

/// The innermost node whose span contains `offset`.
fn node_at<'a>(doc: &'a Document, offset: usize) -> Option<Found<'a>> {
    fn walk<'a>(nodes: &'a [Node], offset: usize, path: &mut Vec<&'a str>) -> Option<&'a Node> {
        let n = nodes.iter().find(|n| contains(n.span, offset))?;
        path.push(&n.name);
        Some(walk(&n.children, offset, path).unwrap_or(n))
    }
    let top = doc.nodes.iter().find(|n| contains(n.span, offset))?;
    let mut path = Vec::new();
    let node = walk(&doc.nodes, offset, &mut path)?;
    Some(Found { path, node, top })
}

fn spec_of(path: &[&str]) -> Option<&'static NodeSpec> {
    // Templates and services share their children; so do environment overrides.
    lang::find(path)
}

impl Snapshot {
    pub fn doc(&self, id: SourceId) -> Option<&Document> {
        self.docs.iter().find(|d| d.source == id)
    }

    fn top_nodes(&self) -> impl Iterator<Item = (&Document, &Node)> {
        self.docs
            .iter()
            .flat_map(|d| d.nodes.iter().map(move |n| (d, n)))
    }

    fn is_project(&self, id: SourceId) -> bool {
        self.sources.get(id).origin == Origin::Project
    }

    /// The declaration of a top-level `service`.
    #[must_use]
    pub fn service_node(&self, name: &str) -> Option<&Node> {
        self.top_nodes()
            .map(|(_, n)| n)
            .find(|n| n.name == "service" && n.name_arg() == Some(name))
    }

    /// A template by the name `uses` gives it (`std/...` for the standard library).
    #[must_use]
    pub fn template_node(&self, name: &str) -> Option<&Node> {
        let find = |name: &str| {
            self.top_nodes().find_map(|(d, n)| {
                (n.name == "template" && self.template_name(d, n).as_deref() == Some(name))
                    .then_some(n)
            })
        };
        // As `uses` resolves: a project template first, else the standard library's
        // (`uses "http-service"` is `std/http-service` when the project has none).
        find(name).or_else(|| {
            (!name.starts_with(crate::lower::STD_PREFIX))
                .then(|| find(&format!("{}{name}", crate::lower::STD_PREFIX)))
                .flatten()
        })
    }

    fn template_name(&self, doc: &Document, node: &Node) -> Option<String> {
        let name = node.name_arg()?;
        Some(if self.is_project(doc.source) {
            name.to_owned()
        } else {
            format!("{}{name}", crate::lower::STD_PREFIX)
        })
    }

    #[must_use]
    pub fn service_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .top_nodes()
            .filter(|(_, n)| n.name == "service")
            .filter_map(|(_, n)| n.name_arg().map(str::to_owned))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[must_use]
    pub fn template_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .top_nodes()
            .filter(|(_, n)| n.name == "template")
            .filter_map(|(d, n)| self.template_name(d, n))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The ports a service declares, its templates' included.
    #[must_use]
    pub fn ports_of(&self, service: &str) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        if let Some(n) = self.service_node(service) {
            self.collect_ports(n, &mut out, &mut seen);
        }
        out
    }

    /// The first template (through `uses`, transitively) that declares `port` for
    /// `service`: the service's own `port` of that name overrides it, and renaming either
    /// one alone would change the service's ports.
    #[must_use]
    pub fn port_template(&self, service: &str, port: &str) -> Option<String> {
        fn find(
            snap: &Snapshot,
            node: &Node,
            port: &str,
            seen: &mut BTreeSet<String>,
        ) -> Option<String> {
            for u in node.children.iter().filter(|c| c.name == "uses") {
                for t in u.args().filter_map(|e| e.value.as_str()) {
                    if !seen.insert(t.to_owned()) {
                        continue;
                    }
                    let Some(tn) = snap.template_node(t) else {
                        continue;
                    };
                    let declares = tn.children.iter().any(|c| {
                        c.name == "port" && c.arg(0).and_then(|e| e.value.as_str()) == Some(port)
                    });
                    if declares {
                        return Some(t.to_owned());
                    }
                    if let Some(found) = find(snap, tn, port, seen) {
                        return Some(found);
                    }
                }
            }
            None
        }
        let n = self.service_node(service)?;
        find(self, n, port, &mut BTreeSet::new())
    }

    fn collect_ports(
        &self,
        node: &Node,
        out: &mut Vec<(String, Span)>,
        seen: &mut BTreeSet<String>,
    ) {
        for c in &node.children {
            if c.name == "port"
                && let Some(e) = c.arg(0)
                && let Some(p) = e.value.as_str()
                && !out.iter().any(|(n, _)| n == p)
            {
                out.push((p.to_owned(), e.value_span));
            }
        }
        for u in node.children.iter().filter(|c| c.name == "uses") {
            for t in u.args().filter_map(|e| e.value.as_str()) {
                if seen.insert(t.to_owned())
                    && let Some(tn) = self.template_node(t)
                {
                    self.collect_ports(tn, out, seen);
                }
            }
        }
    }

    /// The symbol a value at `offset` names (a reference or a declaration).
    #[must_use]
    pub fn symbol_at(&self, id: SourceId, offset: usize) -> Option<(Symbol, Span)> {
        let doc = self.doc(id)?;
        let f = node_at(doc, offset)?;
        let entry = f
            .node
            .entries
            .iter()
            .find(|e| contains(e.value_span, offset))?;
        let value = entry.value.as_str()?.to_owned();
        let first_arg = f.node.arg(0).is_some_and(|a| std::ptr::eq(a, entry));
        let in_env = f.path.first() == Some(&"project") && f.path.get(1) == Some(&"environment");
        let symbol = match (f.node.name.as_str(), entry.name.as_deref()) {
            ("service", None) if first_arg => Symbol::Service(value),
            ("template", None) if first_arg && f.path.len() == 1 => {
                Symbol::Template(self.template_name(doc, f.node)?)
            }
            ("depends-on", None) if first_arg => Symbol::Service(value),
            ("depends-on", Some("fallback")) => Symbol::Service(value),
            ("depends-on", Some("port")) => Symbol::Port(f.node.name_arg()?.to_owned(), value),
            ("uses", None) => Symbol::Template(value),
            ("expose", Some("port")) if !in_env => {
                Symbol::Port(f.top.name_arg()?.to_owned(), value)
            }
            ("port", None) if first_arg && f.top.name == "service" => {
                Symbol::Port(f.top.name_arg()?.to_owned(), value)
            }
            // A probe names a port of the pod (docs/checks.md, NST0203).
            ("probe", Some("port")) if f.top.name == "service" => {
                Symbol::Port(f.top.name_arg()?.to_owned(), value)
            }
            _ => return None,
        };
        Some((symbol, entry.value_span))
    }

    /// Where a symbol is declared.
    #[must_use]
    pub fn definition(&self, symbol: &Symbol) -> Option<Span> {
        match symbol {
            Symbol::Service(s) => self.service_node(s).map(Node::ident_span),
            Symbol::Template(t) => self.template_node(t).map(Node::ident_span),
            Symbol::Port(s, p) => self
                .ports_of(s)
                .into_iter()
                .find(|(n, _)| n == p)
                .map(|(_, span)| span),
        }
    }

    /// Every place that names a symbol, its declaration first when asked for.
    #[must_use]
    pub fn references(&self, symbol: &Symbol, declaration: bool) -> Vec<Span> {
        let mut out = Vec::new();
        if declaration && let Some(d) = self.definition(symbol) {
            out.push(d);
        }
        for doc in &self.docs {
            if !self.is_project(doc.source) {
                continue;
            }
            let mut visit = |node: &Node, path: &[&str], top: &Node| {
                let in_env =
                    path.first() == Some(&"project") && path.get(1) == Some(&"environment");
                for e in &node.entries {
                    let Some(v) = e.value.as_str() else { continue };
                    let is_first = node.arg(0).is_some_and(|a| std::ptr::eq(a, e));
                    let hit = match (symbol, node.name.as_str(), e.name.as_deref()) {
                        (Symbol::Service(s), "depends-on", None) => is_first && v == s,
                        (Symbol::Service(s), "depends-on", Some("fallback")) => v == s,
                        (Symbol::Service(s), "service", None) => is_first && in_env && v == s,
                        (Symbol::Template(t), "uses", None) => v == t,
                        (Symbol::Port(s, p), "depends-on", Some("port")) => {
                            node.name_arg() == Some(s.as_str()) && v == p
                        }
                        (Symbol::Port(s, p), "expose", Some("port")) => {
                            !in_env && top.name_arg() == Some(s.as_str()) && v == p
                        }
                        (Symbol::Port(s, p), "probe", Some("port")) => {
                            top.name == "service" && top.name_arg() == Some(s.as_str()) && v == p
                        }
                        _ => false,
                    };
                    if hit {
                        out.push(e.value_span);
                    }
                }
            };
            for top in doc.nodes.iter() {
                walk_all(top, &mut Vec::new(), top, &mut visit);
            }
        }
        out.sort_by_key(|s| (s.source, s.start));
        out.dedup();
        out
    }

    /// Markdown for what is under the cursor, and the span it describes.
    #[must_use]
    pub fn hover(&self, id: SourceId, offset: usize) -> Option<(String, Span)> {
        let mut parts = Vec::new();
        let mut span = None;
        if let Some(doc) = self.doc(id)
            && let Some(f) = node_at(doc, offset)
        {
            let spec = spec_of(&f.path);
            if contains(f.node.name_span, offset) {
                if let Some(spec) = spec {
                    parts.push(node_doc(spec));
                }
                span = Some(f.node.name_span);
            } else if let Some(e) = f.node.entries.iter().find(|e| contains(e.span, offset)) {
                span = Some(e.span);
                if let Some((symbol, s)) = self.symbol_at(id, offset) {
                    span = Some(s);
                    if let Some(text) = self.describe(&symbol) {
                        parts.push(text);
                    }
                }
                if parts.is_empty()
                    && let Some(spec) = spec
                    && let Some(text) = entry_doc(spec, f.node, e)
                {
                    parts.push(text);
                }
            }
        }
        // The explanation of a diagnostic under the cursor (`nestioc explain`).
        for d in &self.diagnostics {
            if let Some(l) = d.labels.iter().find(|l| l.primary && l.span.source == id)
                && contains(l.span, offset)
            {
                parts.push(format!("---\n\n{}", d.code.explanation().trim()));
                span.get_or_insert(l.span);
            }
        }
        if parts.is_empty() {
            return None;
        }
        Some((parts.join("\n\n"), span?))
    }

    fn describe(&self, symbol: &Symbol) -> Option<String> {
        match symbol {
            Symbol::Service(name) => {
                let mut s = format!("**service `{name}`**");
                if let Some(m) = &self.model
                    && let Some(svc) = m.services.get(name)
                {
                    s.push_str(&format!(" — `{}`\n", self.sources.location(svc.name_span)));
                    if let Some(o) = &svc.owner {
                        s.push_str(&format!("\n- owner: {o}"));
                    }
                    if let Some(t) = &svc.tier {
                        s.push_str(&format!("\n- tier: {}", t.value));
                    }
                    s.push_str(&format!("\n- image: `{}`", svc.image.reference()));
                    for p in &svc.ports {
                        s.push_str(&format!(
                            "\n- port `{}`: {} ({})",
                            p.name,
                            p.port,
                            p.protocol.as_str()
                        ));
                    }
                    for slo in &svc.slos {
                        let mut line = format!(
                            "\n- SLO {}: {} over {}",
                            slo.kind.as_str(),
                            slo.target.value,
                            slo.window.canonical()
                        );
                        if let Some(t) = &slo.threshold {
                            line.push_str(&format!(" under {}", t.value.canonical()));
                        }
                        s.push_str(&line);
                    }
                } else if self.service_node(name).is_none() {
                    s.push_str("\n\nNo service has this name.");
                }
                Some(s)
            }
            Symbol::Template(name) => {
                let node = self.template_node(name)?;
                let params: Vec<String> = node
                    .children
                    .iter()
                    .filter(|c| c.name == "param")
                    .filter_map(|c| {
                        let n = c.name_arg()?;
                        Some(match c.prop("default") {
                            Some(d) => format!("`{n}` (default `{}`)", d.raw),
                            None => format!("`{n}` (required)"),
                        })
                    })
                    .collect();
                let mut s = format!(
                    "**template `{name}`** — `{}`",
                    self.sources.location(node.name_span)
                );
                if !params.is_empty() {
                    s.push_str(&format!("\n\nparameters: {}", params.join(", ")));
                }
                Some(s)
            }
            Symbol::Port(service, port) => {
                let m = self.model.as_ref()?;
                let p = m
                    .services
                    .get(service)?
                    .ports
                    .iter()
                    .find(|p| p.name == *port)?;
                Some(format!(
                    "**port `{port}`** of `{service}`: {} ({}), container port {}",
                    p.port,
                    p.protocol.as_str(),
                    p.target
                ))
            }
        }
    }

    /// Completion items: (label, detail, documentation) for the cursor's context.
    #[must_use]
    pub fn complete(&self, text: &str, offset: usize) -> Vec<(String, String, String)> {
        let cx = context(text, offset);
        let spec_children: Vec<&'static NodeSpec> = match cx.parents.is_empty() {
            true => lang::TOP_LEVEL.to_vec(),
            false => spec_of(&cx.parents.iter().map(String::as_str).collect::<Vec<_>>())
                .map(|s| s.children.to_vec())
                .unwrap_or_default(),
        };
        let mut path: Vec<&str> = cx.parents.iter().map(String::as_str).collect();
        let own = cx.node.as_deref();
        if let Some(n) = own {
            path.push(n);
        }
        let spec = own.and_then(|_| spec_of(&path));
        let mut out = Vec::new();
        match &cx.position {
            Position::NodeName => {
                for s in spec_children {
                    out.push((s.name.to_owned(), "node".to_owned(), s.doc.to_owned()));
                }
            }
            // After the name of a node that takes no (more) arguments, what comes next is a
            // property: `build |` offers `main=`.
            Position::Value { key: None }
                if spec.is_some_and(|s| s.args.get(cx.arg_index).is_none() && s.rest.is_none()) =>
            {
                let Some(spec) = spec else { return out };
                for p in spec.props {
                    if !cx.keys.contains(&p.name.to_owned()) {
                        out.push((format!("{}=", p.name), p.kind.describe(), p.doc.to_owned()));
                    }
                }
            }
            Position::Value { key } => {
                let Some(spec) = spec else { return out };
                let (kind, what) = match key {
                    Some(k) => match spec.props.iter().find(|p| p.name == k) {
                        Some(p) => (Some(p.kind), p.name),
                        None => (None, ""),
                    },
                    None => match spec.args.get(cx.arg_index).or(spec.rest.as_ref()) {
                        Some(a) => (Some(a.kind), a.name),
                        None => (None, ""),
                    },
                };
                let node = own.unwrap_or_default();
                match (node, key.as_deref(), kind) {
                    ("depends-on", None, _) | ("depends-on", Some("fallback"), _) => {
                        for s in self.service_names() {
                            out.push((s, "service".into(), String::new()));
                        }
                    }
                    ("service", None, _)
                        if cx.parents.last().map(String::as_str) == Some("environment") =>
                    {
                        for s in self.service_names() {
                            out.push((s, "service".into(), String::new()));
                        }
                    }
                    ("uses", None, _) => {
                        for t in self.template_names() {
                            out.push((t, "template".into(), String::new()));
                        }
                    }
                    ("depends-on", Some("port"), _) => {
                        if let Some(callee) = &cx.first_arg {
                            for (p, _) in self.ports_of(callee) {
                                out.push((p, format!("port of {callee}"), String::new()));
                            }
                        }
                    }
                    (_, _, Some(Kind::Enum(values))) => {
                        for v in values {
                            out.push(((*v).to_owned(), what.to_owned(), String::new()));
                        }
                    }
                    (_, _, Some(Kind::Bool)) => {
                        for v in ["#true", "#false"] {
                            out.push((v.to_owned(), what.to_owned(), String::new()));
                        }
                    }
                    _ => {}
                }
            }
            Position::Entry => {
                let Some(spec) = spec else { return out };
                for p in spec.props {
                    if !cx.keys.contains(&p.name.to_owned()) {
                        out.push((format!("{}=", p.name), p.kind.describe(), p.doc.to_owned()));
                    }
                }
            }
        }
        out
    }
}

fn walk_all<'a>(
    node: &'a Node,
    path: &mut Vec<&'a str>,
    top: &'a Node,
    f: &mut dyn FnMut(&'a Node, &[&'a str], &'a Node),
) {
    path.push(&node.name);
    f(node, path, top);
    for c in &node.children {
        walk_all(c, path, top, f);
    }
    path.pop();
}

fn node_doc(spec: &NodeSpec) -> String {
    let mut s = format!("**{}** — {}", spec.name, spec.doc);
    for a in spec.args.iter().chain(spec.rest.iter()) {
        s.push_str(&format!(
            "\n- argument `{}`: {}; {}",
            a.name,
            a.kind.describe(),
            a.doc
        ));
    }
    for p in spec.props {
        s.push_str(&format!(
            "\n- `{}=`{}: {}; {}",
            p.name,
            if p.required { " (required)" } else { "" },
            p.kind.describe(),
            p.doc
        ));
    }
    s
}

fn entry_doc(spec: &NodeSpec, node: &Node, entry: &Entry) -> Option<String> {
    match &entry.name {
        Some(k) => {
            let p = spec.props.iter().find(|p| p.name == k)?;
            Some(format!(
                "**{}=** on `{}` — {}\n\n{}",
                p.name,
                spec.name,
                p.doc,
                p.kind.describe()
            ))
        }
        None => {
            let i = node.args().position(|a| std::ptr::eq(a, entry))?;
            let a = spec.args.get(i).or(spec.rest.as_ref())?;
            Some(format!(
                "**{}** of `{}` — {}\n\n{}",
                a.name,
                spec.name,
                a.doc,
                a.kind.describe()
            ))
        }
    }
}

/// Where the cursor is, read from the text itself: completion happens while the file
/// is incomplete and may not parse.
#[derive(Debug, Default)]
struct Context {
    /// Names of the enclosing nodes (whose `{` blocks contain the cursor).
    parents: Vec<String>,
    /// The node being written on the cursor's line, once its name is complete.
    node: Option<String>,
    /// Its first argument, when it is a string (the callee of a `depends-on`).
    first_arg: Option<String>,
    /// Property keys already on the line.
    keys: Vec<String>,
    /// Which positional argument the cursor is on.
    arg_index: usize,
    position: Position,
}

#[derive(Debug, Default)]
enum Position {
    #[default]
    NodeName,
    /// An argument (`key: None`) or a property value.
    Value { key: Option<String> },
    /// After the arguments: a property name.
    Entry,
}

/// Splits KDL text into statements well enough for completion: strings and comments are
/// skipped, `{` opens a block named after its statement's first word, `}` closes it.
fn context(text: &str, offset: usize) -> Context {
    let text = text.get(..offset.min(text.len())).unwrap_or(text);
    let mut parents: Vec<String> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let mut chars = text.chars().peekable();
    let mut ended_in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        current.push(n);
                    }
                }
                '"' => {
                    in_string = false;
                    current.push('"');
                }
                c => current.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                current.push('"');
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                flush(&mut current, &mut words);
                words.clear();
            }
            '\n' | ';' => {
                flush(&mut current, &mut words);
                words.clear();
            }
            '{' => {
                flush(&mut current, &mut words);
                parents.push(words.first().cloned().unwrap_or_default());
                words.clear();
            }
            '}' => {
                flush(&mut current, &mut words);
                parents.pop();
                words.clear();
            }
            c if c.is_whitespace() => flush(&mut current, &mut words),
            c => current.push(c),
        }
    }
    if in_string {
        ended_in_string = true;
    }
    let mut cx = Context {
        parents,
        ..Context::default()
    };
    // The word being typed is `current` (possibly empty); `words` are complete.
    if words.is_empty() {
        cx.position = Position::NodeName;
        return cx;
    }
    cx.node = Some(words[0].clone());
    let unquote = |w: &str| w.trim_matches('"').to_owned();
    cx.first_arg = words
        .get(1)
        .filter(|w| !w.contains('='))
        .map(|w| unquote(w));
    cx.keys = words[1..]
        .iter()
        .filter_map(|w| w.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    let args_done = words[1..].iter().filter(|w| !w.contains('=')).count();
    if let Some((key, _)) = current.split_once('=') {
        cx.position = Position::Value {
            key: Some(key.to_owned()),
        };
    } else if current.starts_with('"') || ended_in_string {
        cx.arg_index = args_done;
        cx.position = Position::Value { key: None };
    } else if cx.keys.is_empty() && current.is_empty() {
        // After the name or an argument: another argument or a property.
        cx.arg_index = args_done;
        cx.position = Position::Value { key: None };
    } else {
        cx.position = Position::Entry;
    }
    cx
}

fn flush(current: &mut String, words: &mut Vec<String>) {
    if !current.is_empty() {
        words.push(std::mem::take(current));
    }
}

/// The suggestion in a "did you mean `x`?" help.
#[must_use]
pub fn suggestion(d: &Diagnostic) -> Option<String> {
    let help = d.help.as_deref()?;
    let rest = help.split("did you mean `").nth(1)?;
    let s = rest.split('`').next()?;
    (!s.is_empty()).then(|| s.to_owned())
}

/// The replacement text for a quick fix: quoted when the original was a string.
#[must_use]
pub fn replacement(original: &str, suggestion: &str) -> String {
    if original.starts_with('"') {
        format!("\"{suggestion}\"")
    } else {
        suggestion.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Code;

    #[test]
    fn context_reads_incomplete_text() {
        let cx = context("service \"a\" {\n    depends-on \"", 30);
        assert_eq!(cx.parents, ["service"]);
        assert_eq!(cx.node.as_deref(), Some("depends-on"));
        assert!(matches!(cx.position, Position::Value { key: None }));
        let cx = context("service \"a\" {\n    depends-on \"b\" port=", 100);
        assert!(matches!(cx.position, Position::Value { key: Some(ref k) } if k == "port"));
        assert_eq!(cx.first_arg.as_deref(), Some("b"));
        let cx = context("project \"p\" {\n    mesh \"istio\"\n    env", 100);
        assert_eq!(cx.parents, ["project"]);
        assert!(matches!(cx.position, Position::NodeName));
        let cx = context("service \"a\" {\n  port \"http\" 8080 pro", 100);
        assert!(matches!(cx.position, Position::Entry));
    }

    #[test]
    fn suggestions_come_from_the_help() {
        let d = Diagnostic::error(Code::UnknownService, "x").with_help("did you mean `payments`?");
        assert_eq!(suggestion(&d).as_deref(), Some("payments"));
        assert_eq!(replacement("\"paymnets\"", "payments"), "\"payments\"");
        assert_eq!(replacement("timout", "timeout"), "timeout");
    }
}
