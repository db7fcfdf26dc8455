//! The alertmanager target's routing and inhibition as `AlertmanagerConfig` objects
//! (`alertmanager/alertmanagerconfig.yaml`), so that GitOps, not a hand merge, brings
//! them to the Alertmanager of kube-prometheus-stack.
//!
//! kube-prometheus-stack's Alertmanager selects every AlertmanagerConfig in every
//! namespace (chart values `alertmanagerConfigSelector: {}` and
//! `alertmanagerConfigNamespaceSelector: {}`, rendered as empty selectors), and the
//! Prometheus Operator merges each into the configuration with the default matcher
//! strategy `OnNamespace` (pkg/alertmanager/amcfg.go `namespaceEnforcer`): the object's
//! route and inhibition rules only ever match alerts whose `namespace` label is the
//! object's namespace, its top route gets `continue: true`, and its receivers are renamed
//! `<namespace>/<name>/<receiver>`. The SLO alerts carry the namespace of the service they
//! measure (their expressions keep `namespace`), so the routing goes into each
//! environment's namespace, one object per environment: there it matches exactly that
//! environment's alerts, and an object in `monitoring` would match none.
//!
//! The objects are converted from the alertmanager target's own configuration (the
//! format of `alertmanager/inhibit.yaml`): matchers `name="value"` become
//! `{name, value, matchType}`, snake_case fields camelCase. A field without an
//! AlertmanagerConfig spelling is an error, never dropped.

use serde_json::{Map, Value, json};

use super::yaml::{documents, header};
use super::{Artifact, EmitContext};
use crate::diag::{Code, Diagnostic};

pub(super) const PATH: &str = "alertmanager/alertmanagerconfig.yaml";

/// The objects' name in each environment's namespace.
#[must_use]
pub fn name(project: &str) -> String {
    format!("nestio-{project}")
}

/// One Alertmanager matcher (`name="value"`, `name=~"re"`, `name!="v"`, `name!~"re"`, the
/// value quoted or not), as an AlertmanagerConfig matcher.
fn matcher(text: &str) -> Option<Value> {
    let ops = ["=~", "!~", "!=", "="];
    let (i, op) = ops
        .iter()
        .filter_map(|op| text.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))?;
    let name = text[..i].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let raw = text[i + op.len()..].trim();
    let value = match raw.strip_prefix('"') {
        Some(quoted) => {
            let body = quoted.strip_suffix('"')?;
            let mut out = String::with_capacity(body.len());
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next()? {
                        'n' => out.push('\n'),
                        e @ ('"' | '\\') => out.push(e),
                        _ => return None,
                    },
                    '"' => return None,
                    c => out.push(c),
                }
            }
            out
        }
        None => raw.to_owned(),
    };
    Some(json!({"name": name, "value": value, "matchType": op}))
}

/// The matchers of `matchers:` (strings) and of the older `match:` / `match_re:` maps.
fn matchers(
    obj: &Map<String, Value>,
    list: &str,
    eq: &str,
    re: &str,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for m in obj
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = m.as_str().unwrap_or_default();
        out.push(matcher(text).ok_or_else(|| format!("matcher `{text}`"))?);
    }
    for (key, op) in [(eq, "="), (re, "=~")] {
        for (name, value) in obj
            .get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            out.push(json!({"name": name, "value": value, "matchType": op}));
        }
    }
    Ok(out)
}

fn route(r: &Value) -> Result<Value, String> {
    let obj = r.as_object().ok_or("a route that is not a map")?;
    let mut out = Map::new();
    for key in obj.keys() {
        let known = [
            "receiver",
            "group_by",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "continue",
            "matchers",
            "match",
            "match_re",
            "routes",
        ];
        if !known.contains(&key.as_str()) {
            return Err(format!("route field `{key}`"));
        }
    }
    for (from, to) in [
        ("receiver", "receiver"),
        ("group_by", "groupBy"),
        ("group_wait", "groupWait"),
        ("group_interval", "groupInterval"),
        ("repeat_interval", "repeatInterval"),
        ("continue", "continue"),
    ] {
        if let Some(v) = obj.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    let m = matchers(obj, "matchers", "match", "match_re")?;
    if !m.is_empty() {
        out.insert("matchers".into(), Value::Array(m));
    }
    if let Some(children) = obj.get("routes").and_then(Value::as_array) {
        let children: Result<Vec<Value>, String> = children.iter().map(route).collect();
        out.insert("routes".into(), Value::Array(children?));
    }
    Ok(Value::Object(out))
}

fn inhibit_rule(r: &Value) -> Result<Value, String> {
    let obj = r
        .as_object()
        .ok_or("an inhibition rule that is not a map")?;
    for key in obj.keys() {
        let known = [
            "source_matchers",
            "target_matchers",
            "source_match",
            "target_match",
            "source_match_re",
            "target_match_re",
            "equal",
        ];
        if !known.contains(&key.as_str()) {
            return Err(format!("inhibition field `{key}`"));
        }
    }
    let mut out = Map::new();
    out.insert(
        "sourceMatch".into(),
        Value::Array(matchers(
            obj,
            "source_matchers",
            "source_match",
            "source_match_re",
        )?),
    );
    out.insert(
        "targetMatch".into(),
        Value::Array(matchers(
            obj,
            "target_matchers",
            "target_match",
            "target_match_re",
        )?),
    );
    if let Some(e) = obj.get("equal") {
        out.insert("equal".into(), e.clone());
    }
    Ok(Value::Object(out))
}

fn receiver(r: &Value) -> Result<Value, String> {
    let obj = r.as_object().ok_or("a receiver that is not a map")?;
    if let Some(key) = obj.keys().find(|k| *k != "name") {
        // Integrations hold credentials: they come from Secrets, not from the topology.
        return Err(format!("receiver field `{key}`"));
    }
    Ok(json!({"name": obj.get("name").cloned().unwrap_or(Value::Null)}))
}

/// The spec of an AlertmanagerConfig from an Alertmanager configuration (`route`,
/// `receivers`, `inhibit_rules`).
pub fn spec(config: &Value) -> Result<Value, String> {
    let mut spec = Map::new();
    if let Some(r) = config.get("route") {
        spec.insert("route".into(), route(r)?);
    }
    let receivers: Result<Vec<Value>, String> = config["receivers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(receiver)
        .collect();
    spec.insert("receivers".into(), Value::Array(receivers?));
    let rules: Result<Vec<Value>, String> = config["inhibit_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(inhibit_rule)
        .collect();
    spec.insert("inhibitRules".into(), Value::Array(rules?));
    Ok(Value::Object(spec))
}

/// `alertmanager/alertmanagerconfig.yaml`: the configuration in every environment's
/// namespace.
pub(super) fn artifact(cx: &EmitContext<'_>, config: &Value) -> Result<Artifact, Diagnostic> {
    let p = &cx.model.project;
    let spec = spec(config).map_err(|what| {
        Diagnostic::error(
            Code::UnsafeOutput,
            format!(
                "the Alertmanager configuration has a {what} an AlertmanagerConfig cannot carry"
            ),
        )
        .with_label(p.span, "in the routing generated for this project")
    })?;
    let mut namespaces: Vec<String> = cx.environments().into_iter().map(|e| e.namespace).collect();
    namespaces.sort();
    namespaces.dedup();
    let objects: Vec<Value> = namespaces
        .iter()
        .map(|ns| {
            json!({
                "apiVersion": "monitoring.coreos.com/v1alpha1",
                "kind": "AlertmanagerConfig",
                "metadata": {
                    "name": name(&p.name),
                    "namespace": ns,
                    "labels": {
                        "app.kubernetes.io/part-of": p.name,
                        "app.kubernetes.io/managed-by": "nestioc",
                    },
                    "annotations": {"nestio.dev/source": cx.location(p.span)},
                },
                "spec": spec,
            })
        })
        .collect();
    let mut head = header(&cx.sources.get(p.source).name);
    head.push_str(
        "# The alert routing and inhibition, one AlertmanagerConfig per environment namespace:\n\
         # kube-prometheus-stack's Alertmanager selects them all, and the Prometheus Operator\n\
         # scopes each to alerts of its own namespace.\n",
    );
    Ok(Artifact {
        path: PATH.into(),
        contents: documents(&head, &objects),
        source: Some(p.span),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_parse_as_alertmanager_writes_them() {
        assert_eq!(
            matcher(r#"service="a\"b""#),
            Some(json!({"name": "service", "value": "a\"b", "matchType": "="}))
        );
        assert_eq!(
            matcher(r#"severity=~"page|ticket""#),
            Some(json!({"name": "severity", "value": "page|ticket", "matchType": "=~"}))
        );
        assert_eq!(
            matcher("owner != web"),
            Some(json!({"name": "owner", "value": "web", "matchType": "!="}))
        );
        assert_eq!(
            matcher(r#"a!~"x""#),
            Some(json!({"name": "a", "value": "x", "matchType": "!~"}))
        );
        assert_eq!(matcher(r#"="x""#), None);
        assert_eq!(matcher(r#"a="x"y""#), None);
    }

    #[test]
    fn unknown_fields_are_errors() {
        let c = json!({"route": {"receiver": "r", "mute_time_intervals": ["x"]}});
        assert!(spec(&c).is_err());
        let c = json!({"receivers": [{"name": "r", "slack_configs": []}]});
        assert!(spec(&c).is_err());
    }
}
