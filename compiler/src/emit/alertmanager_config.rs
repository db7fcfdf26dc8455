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
//! The objects are converted from the alertmanager target's own configuration
//! ([`Config`], the format of `alertmanager/inhibit.yaml`): matchers `name="value"` become
//! `{name, value, matchType}`, snake_case fields camelCase. Both sides are types, so a
//! field without an AlertmanagerConfig spelling cannot be written, let alone dropped.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::chart::crd::Resource;
use super::chart::crd::prometheus::{
    AlertmanagerConfigSpec, AmInhibitRule, AmMatcher, AmReceiver, AmRoute, MatchType,
};
use super::yaml::{documents, header};
use super::{Artifact, EmitContext};
use crate::diag::{Code, Diagnostic};

pub(super) const PATH: &str = "alertmanager/alertmanagerconfig.yaml";

/// The part of an Alertmanager configuration the alertmanager target writes
/// (prometheus.io/docs/alerting/latest/configuration/): `alertmanager/inhibit.yaml`, and
/// what the AlertmanagerConfig objects are made from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub inhibit_rules: Vec<InhibitRule>,
    pub route: Route,
    pub receivers: Vec<Receiver>,
}

/// A route: the top one names the default receiver and holds the others; each other one
/// sends the alerts its matchers select to its receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    pub receiver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
}

/// While an alert matching `source_matchers` fires, alerts matching `target_matchers`
/// with the same `equal` labels are muted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InhibitRule {
    pub source_matchers: Vec<String>,
    pub target_matchers: Vec<String>,
    pub equal: Vec<String>,
}

/// A receiver by name; its integrations are the operator's to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receiver {
    pub name: String,
}

/// The objects' name in each environment's namespace.
#[must_use]
pub fn name(project: &str) -> String {
    format!("nestio-{project}")
}

/// One Alertmanager matcher (`name="value"`, `name=~"re"`, `name!="v"`, `name!~"re"`, the
/// value quoted or not), as an AlertmanagerConfig matcher.
fn matcher(text: &str) -> Option<AmMatcher> {
    let ops = [
        ("=~", MatchType::Regex),
        ("!~", MatchType::NotRegex),
        ("!=", MatchType::NotEqual),
        ("=", MatchType::Equal),
    ];
    let (i, op, match_type) = ops
        .iter()
        .filter_map(|(op, t)| text.find(op).map(|i| (i, *op, *t)))
        .min_by_key(|(i, op, _)| (*i, std::cmp::Reverse(op.len())))?;
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
    Some(AmMatcher {
        name: name.to_owned(),
        value,
        match_type,
    })
}

fn matchers(list: &[String]) -> Result<Vec<AmMatcher>, String> {
    list.iter()
        .map(|text| matcher(text).ok_or_else(|| format!("matcher `{text}`")))
        .collect()
}

fn route(r: &Route) -> Result<AmRoute, String> {
    Ok(AmRoute {
        receiver: r.receiver.clone(),
        group_by: r.group_by.clone(),
        matchers: matchers(&r.matchers)?,
        routes: r
            .routes
            .as_ref()
            .map(|children| children.iter().map(route).collect())
            .transpose()?,
    })
}

/// The spec of an AlertmanagerConfig from the Alertmanager configuration.
///
/// # Errors
/// A matcher that is not Alertmanager's syntax.
pub fn spec(config: &Config) -> Result<AlertmanagerConfigSpec, String> {
    Ok(AlertmanagerConfigSpec {
        route: Some(route(&config.route)?),
        receivers: config
            .receivers
            .iter()
            .map(|r| AmReceiver {
                name: r.name.clone(),
            })
            .collect(),
        inhibit_rules: config
            .inhibit_rules
            .iter()
            .map(|r| {
                Ok(AmInhibitRule {
                    source_match: matchers(&r.source_matchers)?,
                    target_match: matchers(&r.target_matchers)?,
                    equal: r.equal.clone(),
                })
            })
            .collect::<Result<_, String>>()?,
    })
}

/// `alertmanager/alertmanagerconfig.yaml`: the configuration in every environment's
/// namespace.
pub(super) fn artifact(cx: &EmitContext<'_>, config: &Config) -> Result<Artifact, Diagnostic> {
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
    let objects: Vec<Resource<AlertmanagerConfigSpec>> = namespaces
        .iter()
        .map(|ns| {
            Resource::new(
                ObjectMeta {
                    name: Some(name(&p.name)),
                    namespace: Some(ns.clone()),
                    labels: Some(BTreeMap::from([
                        ("app.kubernetes.io/part-of".into(), p.name.clone()),
                        ("app.kubernetes.io/managed-by".into(), "nestioc".into()),
                    ])),
                    annotations: Some(BTreeMap::from([(
                        "nestio.dev/source".into(),
                        cx.location(p.span),
                    )])),
                    ..ObjectMeta::default()
                },
                spec.clone(),
            )
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

    fn m(name: &str, value: &str, match_type: MatchType) -> Option<AmMatcher> {
        Some(AmMatcher {
            name: name.into(),
            value: value.into(),
            match_type,
        })
    }

    #[test]
    fn matchers_parse_as_alertmanager_writes_them() {
        assert_eq!(
            matcher(r#"service="a\"b""#),
            m("service", "a\"b", MatchType::Equal)
        );
        assert_eq!(
            matcher(r#"severity=~"page|ticket""#),
            m("severity", "page|ticket", MatchType::Regex)
        );
        assert_eq!(
            matcher("owner != web"),
            m("owner", "web", MatchType::NotEqual)
        );
        assert_eq!(matcher(r#"a!~"x""#), m("a", "x", MatchType::NotRegex));
        assert_eq!(matcher(r#"="x""#), None);
        assert_eq!(matcher(r#"a="x"y""#), None);
    }

    #[test]
    fn a_matcher_alertmanager_would_refuse_is_an_error() {
        let c = Config {
            inhibit_rules: Vec::new(),
            route: Route {
                matchers: vec!["not a matcher".into()],
                receiver: "r".into(),
                group_by: Vec::new(),
                routes: None,
            },
            receivers: Vec::new(),
        };
        assert!(spec(&c).is_err());
    }
}
