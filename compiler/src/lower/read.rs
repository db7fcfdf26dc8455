//! Typed readers of a syntax node's arguments and properties, shared by every lowering
//! module: `None` for an absent or mistyped entry, which the structural check reports.

use crate::model::Spanned;
use crate::model::values::{Duration, Percent, Quantity};
use crate::syntax::{Entry, Node, Value};

pub(super) fn child<'a>(children: &'a [Node], name: &str) -> Option<&'a Node> {
    children.iter().find(|c| c.name == name)
}

pub(super) fn str_of(e: &Entry) -> Option<String> {
    e.value.as_str().map(str::to_owned)
}

pub(super) fn arg_str(node: &Node, i: usize) -> Option<String> {
    node.arg(i).and_then(str_of)
}

pub(super) fn prop_str(node: &Node, key: &str) -> Option<String> {
    node.prop(key).and_then(str_of)
}

pub(super) fn int_of(e: &Entry) -> Option<i128> {
    match e.value {
        Value::Integer(n) => Some(n),
        _ => None,
    }
}

pub(super) fn prop_u32(node: &Node, key: &str) -> Option<u32> {
    node.prop(key)
        .and_then(int_of)
        .and_then(|n| u32::try_from(n).ok())
}

pub(super) fn prop_bool(node: &Node, key: &str) -> Option<bool> {
    node.prop(key).and_then(|e| match e.value {
        Value::Bool(b) => Some(b),
        _ => None,
    })
}

pub(super) fn duration_of(e: &Entry) -> Option<Duration> {
    e.value.as_str().and_then(|s| Duration::parse(s).ok())
}

pub(super) fn prop_duration(node: &Node, key: &str) -> Option<Spanned<Duration>> {
    node.prop(key)
        .and_then(|e| duration_of(e).map(|d| Spanned::new(d, e.value_span)))
}

pub(super) fn percent_of(e: &Entry) -> Option<Percent> {
    match e.value {
        Value::String(_) | Value::Integer(_) | Value::Float(_) => Percent::parse(&e.raw).ok(),
        _ => None,
    }
}

pub(super) fn quantity_of(e: &Entry) -> Option<Quantity> {
    match e.value {
        Value::String(_) | Value::Integer(_) | Value::Float(_) => {
            Quantity::parse(e.raw.trim_matches('"')).ok()
        }
        _ => None,
    }
}

pub(super) fn spanned_str(node: &Node, key: &str) -> Option<Spanned<String>> {
    node.prop(key)
        .and_then(|e| str_of(e).map(|s| Spanned::new(s, e.value_span)))
}
