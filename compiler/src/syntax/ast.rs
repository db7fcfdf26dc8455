//! The untyped syntax tree: KDL nodes with a span on every part. It is our own type, so
//! later stages never depend on the `kdl` crate, and spans are file-qualified.

use crate::source::{SourceId, Span};

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub source: SourceId,
    /// Shared, so that the language server reuses the tree of an unchanged file
    /// ([`super::ParseCache`]) without copying it.
    pub nodes: std::sync::Arc<Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub name_span: Span,
    /// The whole node, children included.
    pub span: Span,
    /// Type annotation, as in `(param)"port"` on the node name.
    pub ty: Option<String>,
    pub entries: Vec<Entry>,
    pub children: Vec<Node>,
    pub has_children_block: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `Some` for a property (`key=value`), `None` for an argument.
    pub name: Option<String>,
    pub name_span: Option<Span>,
    pub value: Value,
    /// The value as written in the source (`99.9`, `"1%"`, `0x10`); exact decimal
    /// arithmetic starts from this text, never from a binary float.
    pub raw: String,
    pub ty: Option<String>,
    /// The whole entry (`key=value`).
    pub span: Span,
    /// Just the value.
    pub value_span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl Value {
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
        }
    }

    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl Node {
    /// Positional arguments, in order.
    pub fn args(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.name.is_none())
    }

    #[must_use]
    pub fn arg(&self, index: usize) -> Option<&Entry> {
        self.args().nth(index)
    }

    /// A property; KDL says the last occurrence of a repeated key wins.
    #[must_use]
    pub fn prop(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.name.as_deref() == Some(key))
    }

    /// A property that takes several values ([`crate::lang::PropSpec::many`]): its entry,
    /// then the arguments that follow it up to the next property
    /// (`command="redis-cli" "ping"`). Empty when the property is not set.
    #[must_use]
    pub fn prop_values(&self, key: &str) -> Vec<&Entry> {
        let Some(start) = self
            .entries
            .iter()
            .rposition(|e| e.name.as_deref() == Some(key))
        else {
            return Vec::new();
        };
        let mut out = vec![&self.entries[start]];
        out.extend(
            self.entries[start + 1..]
                .iter()
                .take_while(|e| e.name.is_none()),
        );
        out
    }

    /// The first argument when it is a string: the identity of named nodes
    /// (`service "checkout"`, `port "http" 8080`).
    #[must_use]
    pub fn name_arg(&self) -> Option<&str> {
        self.arg(0).and_then(|e| e.value.as_str())
    }

    /// The span to point at when talking about this node's identity.
    #[must_use]
    pub fn ident_span(&self) -> Span {
        self.arg(0).map_or(self.name_span, |e| e.value_span)
    }

    /// The span of the node's first line: name and entries, without children.
    #[must_use]
    pub fn head_span(&self) -> Span {
        let end = self
            .entries
            .iter()
            .map(|e| e.span.end)
            .max()
            .unwrap_or(self.name_span.end);
        Span {
            end,
            ..self.name_span
        }
    }
}
