//! Alertmanager: the generated routing and inhibition (`alertmanager/inhibit.yaml`) against
//! the real amtool 0.35 and against the alerts the rules actually raise.
//!
//! - `amtool check-config` accepts the file as a whole configuration (it carries `route`,
//!   `receivers` and `inhibit_rules`, which is what Alertmanager needs at least).
//! - `amtool config routes test` sends every alert of every rule file, with the labels it
//!   fires with, through the routing tree: each must reach the receiver of the owner of
//!   the service it is about (for an edge alert, the caller's), the default receiver only
//!   when that service has no owner.
//! - Each inhibition rule names labels that the alerts carry: some alert matches its source
//!   matchers, some its target matchers, and both carry every `equal` label; a rule that
//!   matches no alert mutes nothing (Alertmanager `inhibit_rules`,
//!   https://prometheus.io/docs/alerting/latest/configuration/#inhibit_rule).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{compile, root, shop_with_mesh, validator};

/// A project built into a temporary directory.
struct Built {
    name: String,
    out: tempfile::TempDir,
    /// Each service's owner, if it has one.
    owners: BTreeMap<String, Option<String>>,
    _src: Option<tempfile::TempDir>,
}

fn builds() -> Vec<Built> {
    let mut projects: Vec<(String, PathBuf, Option<tempfile::TempDir>)> = Vec::new();
    // The `files` form: the Alertmanager configuration amtool reads, and the rule files.
    // (gitops.rs proves the `operator` form's AlertmanagerConfigs carry the same routing.)
    for mesh in ["istio", "linkerd", "none"] {
        let (t, dir) = shop_with_mesh(mesh);
        crate::support::set_rules_form(&dir, "files");
        projects.push((format!("shop ({mesh})"), dir, Some(t)));
    }
    let (t, dir) = crate::support::with_rules_form(&root().join("examples/minimal"), "files");
    projects.push(("minimal".into(), dir, Some(t)));
    projects
        .into_iter()
        .map(|(name, dir, src)| {
            let c = compile(&dir, &nestioc::Options::default());
            let owners = c
                .analysis
                .model
                .as_ref()
                .expect("model")
                .services
                .values()
                .map(|s| (s.name.clone(), s.owner.clone()))
                .collect();
            let set = c.artifacts.unwrap_or_else(|| panic!("{name} compiles"));
            let out = tempfile::tempdir().expect("tmp");
            for (path, a) in &set.files {
                let dest = out.path().join(path);
                std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
                std::fs::write(dest, &a.contents).expect("write");
            }
            Built {
                name,
                out,
                owners,
                _src: src,
            }
        })
        .collect()
}

/// An alert as it fires: its name and labels (the rule's labels, plus `namespace`, which
/// every SLI and edge rule keeps: they sum `by (namespace)`).
struct Alert {
    name: String,
    labels: BTreeMap<String, String>,
}

fn alerts(out: &Path) -> Vec<Alert> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("prometheus"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.to_string_lossy().ends_with(".rules.yaml"));
    files.sort();
    let mut alerts = Vec::new();
    for f in files {
        let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&f).expect("read"))
            .expect("rules YAML");
        for rule in doc["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            let expr = rule["expr"].as_str().unwrap_or_default();
            let mut labels: BTreeMap<String, String> = rule["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            labels.insert("alertname".into(), name.to_owned());
            // Every alert reads series that are summed by namespace.
            assert!(
                !expr.contains(" by (") || expr.contains("namespace"),
                "{name}: {expr}"
            );
            labels.insert("namespace".into(), "prod".into());
            alerts.push(Alert {
                name: name.to_owned(),
                labels,
            });
        }
    }
    alerts
}

fn amtool() -> Option<PathBuf> {
    validator("alertmanager", "amtool")
}

#[test]
fn amtool_accepts_the_alertmanager_configuration() {
    let Some(amtool) = amtool() else {
        return;
    };
    for built in builds() {
        let config = built.out.path().join("alertmanager/inhibit.yaml");
        assert!(
            config.is_file(),
            "{}: no alertmanager/inhibit.yaml",
            built.name
        );
        let out = Command::new(&amtool)
            .arg("check-config")
            .arg(&config)
            .output()
            .expect("run amtool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("SUCCESS"),
            "{}: amtool check-config:\n{text}",
            built.name
        );
    }
}

#[test]
fn every_alert_routes_to_its_owner() {
    let Some(amtool) = amtool() else {
        return;
    };
    let mut routed = 0;
    for built in builds() {
        let config = built.out.path().join("alertmanager/inhibit.yaml");
        for alert in alerts(built.out.path()) {
            // The owner of the service the alert is about (an edge alert: the caller).
            let service = alert.labels.get("service").expect("a service label");
            let expected = built.owners[service]
                .clone()
                .unwrap_or_else(|| "default".to_owned());
            let out = Command::new(&amtool)
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--verify.receivers={expected}"))
                .args(alert.labels.iter().map(|(k, v)| format!("{k}={v}")))
                .output()
                .expect("run amtool");
            assert!(
                out.status.success(),
                "{}: {} {:?} should reach receiver {expected}:\n{}{}",
                built.name,
                alert.name,
                alert.labels,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            routed += 1;
        }
    }
    assert!(routed > 50, "only {routed} alerts routed");
}

/// Whether a label set satisfies an Alertmanager matcher: `=`, `!=`, and `=~` with an
/// alternation of literals (the only regular expressions the generated rules use;
/// Alertmanager anchors them at both ends).
fn matches(labels: &BTreeMap<String, String>, matcher: &str) -> bool {
    let (name, op, value) = if let Some((n, v)) = matcher.split_once("!=") {
        (n, "!=", v)
    } else if let Some((n, v)) = matcher.split_once("=~") {
        (n, "=~", v)
    } else if let Some((n, v)) = matcher.split_once('=') {
        (n, "=", v)
    } else {
        panic!("matcher {matcher}")
    };
    let value = value.trim_matches('"');
    let got = labels.get(name.trim()).map_or("", String::as_str);
    match op {
        "=~" => {
            assert!(
                value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "|-_".contains(c)),
                "only literal alternations are evaluated here: {matcher}"
            );
            value.split('|').any(|alt| alt == got)
        }
        "=" => got == value,
        _ => got != value,
    }
}

#[test]
fn inhibition_rules_name_labels_the_alerts_carry() {
    for built in builds() {
        let alerts = alerts(built.out.path());
        let doc: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(built.out.path().join("alertmanager/inhibit.yaml"))
                .expect("read"),
        )
        .expect("yaml");
        for rule in doc["inhibit_rules"].as_array().into_iter().flatten() {
            let side = |key: &str| -> Vec<&Alert> {
                let ms: Vec<&str> = rule[key]
                    .as_array()
                    .expect("matchers")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                alerts
                    .iter()
                    .filter(|a| ms.iter().all(|m| matches(&a.labels, m)))
                    .collect()
            };
            let (sources, targets) = (side("source_matchers"), side("target_matchers"));
            assert!(
                !sources.is_empty() && !targets.is_empty(),
                "{}: an inhibition rule that matches no alert ({} sources, {} targets): {rule}",
                built.name,
                sources.len(),
                targets.len()
            );
            for label in rule["equal"].as_array().into_iter().flatten() {
                let label = label.as_str().expect("label");
                for a in sources.iter().chain(&targets) {
                    assert!(
                        a.labels.contains_key(label),
                        "{}: {} lacks `{label}`, which the inhibition rule needs equal: {rule}",
                        built.name,
                        a.name
                    );
                }
            }
        }
    }
}

/// Alertmanager's matcher syntax: `label op "value"`.
fn is_matcher(m: &str) -> bool {
    let ops = ["=~", "!~", "!=", "="];
    ops.iter().any(|op| {
        m.split_once(op).is_some_and(|(l, v)| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !l.starts_with(|c: char| c.is_ascii_digit())
                && v.starts_with('"')
                && v.ends_with('"')
                && v.len() >= 2
        })
    })
}

#[test]
fn alertmanager_inhibition_follows_the_graph() {
    // The structure against the configuration reference; amtool (below) parses it.
    let (_src, dir) = crate::support::with_rules_form(&root().join("examples/shop"), "files");
    let c = compile(&dir, &nestioc::Options::default());
    let model = c.analysis.model.as_ref().expect("model");
    let topology = c.analysis.topology.as_ref().expect("topology");
    let set = c.artifacts.expect("compiles");
    let doc: Value =
        serde_saphyr::from_str(&set.files["alertmanager/inhibit.yaml"].contents).expect("yaml");
    let allowed_top = ["inhibit_rules", "route", "receivers"];
    for k in doc.as_object().expect("map").keys() {
        assert!(allowed_top.contains(&k.as_str()), "unknown key {k}");
    }
    let mut pairs = Vec::new();
    for rule in doc["inhibit_rules"].as_array().expect("inhibit_rules") {
        for key in rule.as_object().expect("rule").keys() {
            assert!(
                ["source_matchers", "target_matchers", "equal"].contains(&key.as_str()),
                "{key}"
            );
        }
        let ms = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .expect("matchers")
                .iter()
                .map(|m| m.as_str().expect("string").to_owned())
                .collect()
        };
        for m in ms("source_matchers")
            .iter()
            .chain(ms("target_matchers").iter())
        {
            assert!(is_matcher(m), "matcher syntax: {m}");
        }
        let svc = |k: &str| {
            ms(k)
                .iter()
                .find_map(|m| {
                    m.strip_prefix("service=\"")
                        .map(|v| v.trim_end_matches('"').to_owned())
                })
                .expect("service matcher")
        };
        pairs.push((svc("target_matchers"), svc("source_matchers")));
        assert_eq!(rule["equal"], serde_json::json!(["namespace"]));
    }
    // Exactly the required edges from a caller that pages (an SLO) to a callee that can
    // page (an SLO, or outage alerts: every callee that is not a scheduled job).
    let mut expected: Vec<(String, String)> = topology
        .edges
        .iter()
        .filter(|e| !e.optional())
        .filter(|e| {
            !model.services[&e.caller].slos.is_empty()
                && model.services[&e.callee].schedule.is_none()
        })
        .map(|e| (e.caller.clone(), e.callee.clone()))
        .collect();
    expected.sort();
    expected.dedup();
    pairs.sort();
    assert_eq!(pairs, expected);
    let receivers: Vec<&str> = doc["receivers"]
        .as_array()
        .expect("receivers")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(receivers.contains(&doc["route"]["receiver"].as_str().expect("root receiver")));
    for r in doc["route"]["routes"].as_array().expect("routes") {
        assert!(
            receivers.contains(&r["receiver"].as_str().expect("receiver")),
            "{r}"
        );
        for m in r["matchers"].as_array().expect("matchers") {
            assert!(is_matcher(m.as_str().expect("matcher")));
        }
    }
    // Every owner has a route.
    for s in model.services.values() {
        if let Some(o) = &s.owner {
            assert!(receivers.contains(&o.as_str()), "owner {o}");
        }
    }
}
