//! The resource half of a diff: per generated file and per Kubernetes object, the fields
//! that changed, old -> new; a short patch for files that are not documents.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ObjectDiff {
    /// `Kind/namespace/name`, or `document N` for files that are not Kubernetes objects.
    pub object: String,
    pub status: &'static str,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub status: &'static str,
    pub objects: Vec<ObjectDiff>,
    /// Text files: lines removed and added.
    pub lines: Option<(usize, usize)>,
    /// Text files: a unified diff, at most [`PATCH_LINES`] lines.
    pub patch: Option<String>,
}

const PATCH_LINES: usize = 40;

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.replace('\n', " ⏎ "),
        other => other.to_string(),
    };
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(99).collect::<String>())
    } else {
        s
    }
}

/// What identifies an element of a list across versions, so that lists of named things
/// (containers, env, ports, rules, panels) are compared by name, not by position.
fn element_key(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    for k in ["name", "alert", "record", "receiver", "refId", "uid"] {
        if let Some(s) = o.get(k).and_then(Value::as_str) {
            return Some(format!("{k}={s}"));
        }
    }
    // Grafana panels: a row and a panel may share a title.
    if let Some(t) = o.get("title").and_then(Value::as_str) {
        return Some(match o.get("type").and_then(Value::as_str) {
            Some(ty) => format!("{ty}={t}"),
            None => format!("title={t}"),
        });
    }
    match (
        o.get("from").and_then(Value::as_str),
        o.get("to").and_then(Value::as_str),
    ) {
        (Some(f), Some(t)) => Some(format!("{f}->{t}")),
        _ => None,
    }
}

fn keyed(list: &[Value]) -> Option<BTreeMap<String, &Value>> {
    let mut map = BTreeMap::new();
    for v in list {
        if map.insert(element_key(v)?, v).is_some() {
            return None;
        }
    }
    Some(map)
}

/// Embedded documents (a dashboard's JSON in a ConfigMap) are compared field by field.
fn embedded(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str(s).ok()
}

fn field_changes(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let p = join(k);
                match (b.get(k), a.get(k)) {
                    (Some(x), Some(y)) => field_changes(&p, x, y, out),
                    (Some(x), None) => out.push(FieldChange {
                        path: p,
                        before: Some(short(x)),
                        after: None,
                    }),
                    (None, Some(y)) => out.push(FieldChange {
                        path: p,
                        before: None,
                        after: Some(short(y)),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            if let (Some(bk), Some(ak)) = (keyed(b), keyed(a)) {
                let keys: BTreeSet<&String> = bk.keys().chain(ak.keys()).collect();
                for k in keys {
                    let p = format!("{path}[{k}]");
                    match (bk.get(k), ak.get(k)) {
                        (Some(x), Some(y)) => field_changes(&p, x, y, out),
                        (Some(x), None) => out.push(FieldChange {
                            path: p,
                            before: Some(short(x)),
                            after: None,
                        }),
                        (None, Some(y)) => out.push(FieldChange {
                            path: p,
                            before: None,
                            after: Some(short(y)),
                        }),
                        (None, None) => {}
                    }
                }
            } else if b.len() == a.len() {
                for (i, (x, y)) in b.iter().zip(a).enumerate() {
                    field_changes(&format!("{path}[{i}]"), x, y, out);
                }
            } else {
                // Lists of unnamed things: which elements went and which came.
                let bs: Vec<String> = b.iter().map(Value::to_string).collect();
                let as_: Vec<String> = a.iter().map(Value::to_string).collect();
                let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &bs, &as_);
                for op in ops {
                    for (tag, old, new) in op
                        .iter_changes(&bs, &as_)
                        .map(|c| (c.tag(), c.old_index(), c.new_index()))
                    {
                        match (tag, old, new) {
                            (similar::ChangeTag::Delete, Some(i), _) => out.push(FieldChange {
                                path: format!("{path}[{i}]"),
                                before: Some(short(&b[i])),
                                after: None,
                            }),
                            (similar::ChangeTag::Insert, _, Some(j)) => out.push(FieldChange {
                                path: format!("{path}[{j}]"),
                                before: None,
                                after: Some(short(&a[j])),
                            }),
                            _ => {}
                        }
                    }
                }
            }
        }
        (Value::String(bs), Value::String(as_)) if bs != as_ => {
            match (embedded(bs), embedded(as_)) {
                (Some(x), Some(y)) => field_changes(path, &x, &y, out),
                // Multi-line values (PromQL, scripts): only the lines that changed.
                _ if bs.contains('\n') || as_.contains('\n') => {
                    let (removed, added) = changed_lines(bs, as_);
                    let (b, a) = focus(&removed, &added);
                    out.push(FieldChange {
                        path: path.to_owned(),
                        before: Some(b),
                        after: Some(a),
                    });
                }
                _ => {
                    let (b, a) = focus(bs, as_);
                    out.push(FieldChange {
                        path: path.to_owned(),
                        before: Some(b),
                        after: Some(a),
                    });
                }
            }
        }
        (Value::String(b), Value::String(a)) if b != a => {
            let (b, a) = focus(b, a);
            out.push(FieldChange {
                path: path.to_owned(),
                before: Some(b),
                after: Some(a),
            });
        }
        (b, a) if b != a => out.push(FieldChange {
            path: path.to_owned(),
            before: Some(short(b)),
            after: Some(short(a)),
        }),
        _ => {}
    }
}

/// The documents of a file, by a stable key.
fn documents(path: &str, text: &str) -> Option<BTreeMap<String, Value>> {
    let docs: Vec<Value> = if path.ends_with(".json") {
        vec![serde_json::from_str(text).ok()?]
    } else if path.ends_with(".yaml") || path.ends_with(".yml") {
        serde_saphyr::from_multiple::<Value>(text)
            .ok()?
            .into_iter()
            .filter(|d| !d.is_null())
            .collect()
    } else {
        return None;
    };
    let mut map = BTreeMap::new();
    for (i, d) in docs.into_iter().enumerate() {
        let key = match (d["kind"].as_str(), d["metadata"]["name"].as_str()) {
            (Some(k), Some(n)) => match d["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{k}/{ns}/{n}"),
                None => format!("{k}/{n}"),
            },
            _ => format!("document {}", i + 1),
        };
        map.insert(key, d);
    }
    Some(map)
}

pub(super) fn file_diff(
    path: &str,
    before: Option<&String>,
    after: Option<&String>,
) -> Option<FileDiff> {
    let status = match (before, after) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        (Some(b), Some(a)) if b == a => return None,
        _ => "changed",
    };
    let empty = String::new();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    if let (Some(bd), Some(ad)) = (
        documents(path, b).or_else(|| before.is_none().then(BTreeMap::new)),
        documents(path, a).or_else(|| after.is_none().then(BTreeMap::new)),
    ) {
        let keys: BTreeSet<&String> = bd.keys().chain(ad.keys()).collect();
        let mut objects = Vec::new();
        for k in keys {
            match (bd.get(k), ad.get(k)) {
                (Some(x), Some(y)) => {
                    let mut fields = Vec::new();
                    field_changes("", x, y, &mut fields);
                    if !fields.is_empty() {
                        objects.push(ObjectDiff {
                            object: k.clone(),
                            status: "changed",
                            fields,
                        });
                    }
                }
                (None, Some(_)) => objects.push(ObjectDiff {
                    object: k.clone(),
                    status: "added",
                    fields: Vec::new(),
                }),
                (Some(_), None) => objects.push(ObjectDiff {
                    object: k.clone(),
                    status: "removed",
                    fields: Vec::new(),
                }),
                (None, None) => {}
            }
        }
        if objects.is_empty() && status == "changed" {
            // Only comments or formatting changed.
            let lines = line_counts(b, a);
            return Some(FileDiff {
                path: path.to_owned(),
                status,
                objects,
                lines: Some(lines),
                patch: Some(patch(b, a)),
            });
        }
        return Some(FileDiff {
            path: path.to_owned(),
            status,
            objects,
            lines: None,
            patch: None,
        });
    }
    let patch = (status == "changed").then(|| patch(b, a));
    Some(FileDiff {
        path: path.to_owned(),
        status,
        objects: Vec::new(),
        lines: Some(line_counts(b, a)),
        patch,
    })
}

/// Two long strings that differ somewhere in the middle: the part that differs, with a
/// little context, so that the change is visible in a short line.
fn focus(before: &str, after: &str) -> (String, String) {
    const CONTEXT: usize = 24;
    let (b, a): (Vec<char>, Vec<char>) = (before.chars().collect(), after.chars().collect());
    if b.len() <= 100 && a.len() <= 100 {
        return (
            short(&Value::String(before.to_owned())),
            short(&Value::String(after.to_owned())),
        );
    }
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let start = prefix.saturating_sub(CONTEXT);
    let cut = |v: &[char]| {
        let end = (v.len() - suffix + CONTEXT).min(v.len());
        let mut s: String = v[start..end].iter().collect();
        if start > 0 {
            s.insert(0, '…');
        }
        if end < v.len() {
            s.push('…');
        }
        short(&Value::String(s))
    };
    (cut(&b), cut(&a))
}

/// The lines only in `before` and the lines only in `after`, each set joined with ` ⏎ `.
fn changed_lines(before: &str, after: &str) -> (String, String) {
    let d = similar::TextDiff::from_lines(before, after);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for c in d.iter_all_changes() {
        let line = c.value().trim().to_owned();
        match c.tag() {
            similar::ChangeTag::Delete => removed.push(line),
            similar::ChangeTag::Insert => added.push(line),
            similar::ChangeTag::Equal => {}
        }
    }
    (removed.join(" ⏎ "), added.join(" ⏎ "))
}

fn patch(before: &str, after: &str) -> String {
    let d = similar::TextDiff::from_lines(before, after);
    let text = d.unified_diff().context_radius(1).to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    let more = lines.len().saturating_sub(PATCH_LINES);
    lines.truncate(PATCH_LINES);
    let mut out = lines.join("\n");
    out.push('\n');
    if more > 0 {
        out.push_str(&format!("… {more} more lines\n"));
    }
    out
}

fn line_counts(before: &str, after: &str) -> (usize, usize) {
    let d = similar::TextDiff::from_lines(before, after);
    let mut removed = 0;
    let mut added = 0;
    for c in d.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    (removed, added)
}
