//! Sloth as the reference for the SLO rules.
//!
//! For every SLO of every example, the equivalent Sloth spec (`prometheus/v1`: the same error and total queries,
//! the same objective, the SLO period as Sloth's `--default-slo-period`) goes through the
//! real `sloth generate` (v0.16). Both rule sets are loaded into one promtool 3 unit test
//! (their recording rules do not collide: ours carry `slo_id`, Sloth's `sloth_id`), fed the
//! same series, and at every evaluation step the firing page and ticket alerts of the two
//! must be the same; at the end of each constant-burn scenario they must be what the burn
//! implies (Google SRE workbook multiwindow, multi-burn-rate table, which both implement):
//!
//! - 100x and 10x: page and ticket; 2x: ticket only; 0.5x: nothing;
//! - a spike (100x for 10 minutes, then 0.5x), where the short windows cool before the long
//!   ones: both must stop paging at the same step.
//!
//! Custom SLIs read metrics only their author knows: both sides get the synthetic SLI
//! (`prometheus::rule_groups(.., synthetic = true)`), as the generated unit tests do.

use std::path::Path;
use std::process::Command;

use nestioc::emit::chart::crd::prometheus::RuleGroup;
use nestioc::emit::prometheus::{self, SloDef};
use nestioc::emit::{EmitContext, Templates, metrics};
use nestioc::model::SloKind;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::{compile, root, subdirs, validator};

/// A burn scenario: the burn rate over time, as (minutes, burn) steps.
struct Scenario {
    name: &'static str,
    steps: &'static [(u32, &'static str)],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "100x",
        steps: &[(60, "100")],
    },
    Scenario {
        name: "10x",
        steps: &[(60, "10")],
    },
    Scenario {
        name: "2x",
        steps: &[(60, "2")],
    },
    Scenario {
        name: "0.5x",
        steps: &[(60, "0.5")],
    },
    Scenario {
        name: "spike",
        steps: &[(10, "100"), (50, "0.5")],
    },
];

/// The SRE workbook's multiwindow, multi-burn-rate table for a 30-day SLO, as Sloth ships it
/// (internal/alert/windows/google-30d.yaml): (severity, short minutes, long minutes, burn
/// factor). For another period P the factors scale by P / 30d (the same share of the
/// budget in the same windows: google-28d.yaml has 13.44, 5.6, 2.8, 0.933).
const WORKBOOK: &[(&str, u32, u32, f64)] = &[
    ("page", 5, 60, 14.4),
    ("page", 30, 360, 6.0),
    ("ticket", 120, 1440, 3.0),
    ("ticket", 360, 4320, 1.0),
];

/// The severities firing at the end of a scenario, from the table: each window's error
/// ratio is the mean burn over the part of the window with data (the counters start with
/// the scenario, and a ratio of two rates over the same range does not extrapolate).
fn expected_at_end(burns: &[(u32, f64)], period_minutes: f64) -> Vec<&'static str> {
    let end: u32 = burns.iter().map(|b| b.0).sum();
    let mean = |window: u32| {
        let from = end.saturating_sub(window);
        let (mut t, mut sum) = (0u32, 0.0);
        for (minutes, burn) in burns {
            let (a, b) = (t.max(from), (t + minutes).min(end));
            if b > a {
                sum += f64::from(b - a) * burn;
            }
            t += minutes;
        }
        sum / f64::from(end - from)
    };
    let scale = period_minutes / (30.0 * 1440.0);
    let mut out = Vec::new();
    for sev in ["page", "ticket"] {
        let fires = WORKBOOK
            .iter()
            .filter(|w| w.0 == sev)
            .any(|(_, short, long, f)| mean(*short) > f * scale && mean(*long) > f * scale);
        if fires {
            out.push(sev);
        }
    }
    out
}

/// Sloth's AlertWindows catalog entry for a period: google-30d.yaml's budget shares.
fn sloth_windows(period: &str) -> String {
    format!(
        "apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\nspec:\n  sloPeriod: {period}\n  page:\n    quick: {{errorBudgetPercent: 2, shortWindow: 5m, longWindow: 1h}}\n    slow: {{errorBudgetPercent: 5, shortWindow: 30m, longWindow: 6h}}\n  ticket:\n    quick: {{errorBudgetPercent: 10, shortWindow: 2h, longWindow: 1d}}\n    slow: {{errorBudgetPercent: 10, shortWindow: 6h, longWindow: 3d}}\n"
    )
}

/// The top-level `/` of `(errors)\n/\n(total)`: our SLI recording rule's two queries.
fn split_ratio(expr: &str) -> (String, String) {
    let (errors, total) = expr
        .split_once("\n/\n")
        .unwrap_or_else(|| panic!("an SLI ratio: {expr}"));
    (errors.to_owned(), total.to_owned())
}

/// The 5m SLI of an SLO in our rule groups.
fn sli_5m(groups: &[RuleGroup], id: &str) -> String {
    groups
        .iter()
        .filter(|g| g.name == format!("nestio-slo-sli-{id}"))
        .flat_map(|g| &g.rules)
        .find(|r| r.record.as_deref() == Some("slo:sli_error:ratio_rate5m"))
        .map(|r| r.expr.clone())
        .unwrap_or_else(|| panic!("{id}: no 5m SLI"))
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// promtool's expanding notation for a counter growing `per_min` a minute for `steps`
/// minutes, from `start`.
fn series_values(steps: &[(u32, Decimal)]) -> String {
    let mut out = Vec::new();
    let mut value = Decimal::ZERO;
    out.push("0".to_owned());
    for (minutes, per_min) in steps {
        out.push(format!(
            "{}+{}x{}",
            num(value + per_min),
            num(*per_min),
            minutes - 1
        ));
        value += per_min * Decimal::from(*minutes);
    }
    out.join(" ")
}

#[test]
fn every_example_slo_fires_the_same_alerts_as_sloth() {
    let Some(promtool) = validator("sloth", "promtool") else {
        return;
    };
    let Some(sloth) = validator("sloth", "sloth") else {
        return;
    };
    let mut compared = 0;
    for dir in subdirs(&root().join("examples")) {
        if dir.join("nestio.kdl").is_file() {
            compared += compare_project(&dir, &promtool, &sloth);
        }
    }
    assert!(compared >= 20, "only {compared} SLOs compared with Sloth");
}

/// Compares every SLO of a project; returns how many.
fn compare_project(dir: &Path, promtool: &Path, sloth: &Path) -> usize {
    let name = dir
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let c = compile(dir, &nestioc::Options::default());
    let model = c.analysis.model.as_ref().expect("model");
    let topology = c.analysis.topology.as_ref().expect("topology");
    let templates = Templates::new(&c.analysis.sources).expect("templates");
    let cx = EmitContext::new(model, topology, &c.analysis.sources, &templates, None);
    let mesh = model.project.mesh;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut compared = 0;
    let mut test_files = Vec::new();
    for service in model.services.values().filter(|s| !s.slos.is_empty()) {
        let groups = prometheus::rule_groups(&cx, service, true);
        let ours = tmp.path().join(format!("{}.ours.yaml", service.name));
        std::fs::write(
            &ours,
            serde_saphyr::to_string(&json!({ "groups": groups })).expect("yaml"),
        )
        .expect("write");
        let mut rule_files = vec![ours.clone()];
        // One promtool test group per scenario, fed the series of every SLO of the service
        // at once (they read different metrics).
        let mut tests: Vec<(Vec<Value>, Vec<Value>)> =
            vec![(Vec::new(), Vec::new()); SCENARIOS.len()];
        for slo in &service.slos {
            let d = SloDef::new(mesh, service, slo, true);
            let (errors, total) = split_ratio(&sli_5m(&groups, &d.id));
            let window = |q: &str| q.replace("[5m]", "[{{.window}}]");
            let sloth_name = format!("sloth-{}", slo.kind.as_str());
            let spec = json!({
                "version": "prometheus/v1",
                "service": service.name,
                "slos": [{
                    "name": sloth_name,
                    "objective": num(d.objective * Decimal::from(100)).parse::<f64>().expect("objective"),
                    "sli": {"events": {"error_query": window(&errors), "total_query": window(&total)}},
                    "alerting": {
                        "name": format!("Sloth{}", d.id.replace('-', "")),
                        "page_alert": {"labels": {"severity": prometheus::alert_severity("page")}},
                        "ticket_alert": {"labels": {"severity": prometheus::alert_severity("ticket")}},
                    },
                }],
            });
            let spec_file = tmp.path().join(format!("{}.sloth-spec.yaml", d.id));
            std::fs::write(&spec_file, serde_saphyr::to_string(&spec).expect("yaml"))
                .expect("write");
            let generated = tmp.path().join(format!("{}.sloth.yaml", d.id));
            let period = slo.window.canonical();
            let mut cmd = Command::new(sloth);
            cmd.arg("generate")
                .arg("-i")
                .arg(&spec_file)
                .arg("-o")
                .arg(&generated)
                .arg(format!("--default-slo-period={period}"));
            if period != "30d" && period != "28d" {
                // Sloth ships windows for 30d and 28d; for another period, its catalog
                // format with the same budget shares and windows (the workbook's table).
                let windows = tmp.path().join(format!("windows-{period}"));
                std::fs::create_dir_all(&windows).expect("mkdir");
                std::fs::write(windows.join("windows.yaml"), sloth_windows(&period))
                    .expect("write");
                cmd.arg(format!("--slo-period-windows-path={}", windows.display()));
            }
            let out = cmd.output().expect("run sloth");
            assert!(
                out.status.success(),
                "{name}: sloth generate for {} ({period}) failed:\n{}",
                d.id,
                String::from_utf8_lossy(&out.stderr)
            );
            rule_files.push(generated);
            let sloth_id = format!("{}-{sloth_name}", service.name);
            for (i, (series, checks)) in scenario_tests(mesh, service, slo.kind, &d, &sloth_id)
                .into_iter()
                .enumerate()
            {
                tests[i].0.extend(series);
                tests[i].1.extend(checks);
            }
            compared += 1;
        }
        let test = json!({
            "rule_files": rule_files.iter().map(|p| p.file_name().expect("name").to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "evaluation_interval": "1m",
            // promtool evaluates groups in map order unless told (cmd/promtool/unittest.go
            // orderedGroups): recording groups first, so that both alert groups read the
            // SLIs of the same step.
            "group_eval_order": group_order(&rule_files),
            "tests": tests.into_iter().zip(SCENARIOS).map(|((series, checks), s)| json!({
                "name": format!("{} at {}: ours and Sloth's", service.name, s.name),
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": checks,
            })).collect::<Vec<_>>(),
        });
        let test_file = tmp.path().join(format!("{}.test.yaml", service.name));
        std::fs::write(&test_file, serde_saphyr::to_string(&test).expect("yaml")).expect("write");
        test_files.push((service.name.clone(), test_file));
    }
    // The promtool runs, in parallel.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = test_files
            .iter()
            .map(|(service, file)| {
                scope.spawn(move || {
                    let out = Command::new(promtool)
                        .args(["test", "rules"])
                        .arg(file)
                        .current_dir(file.parent().expect("dir"))
                        .output()
                        .expect("run promtool");
                    (!out.status.success()).then(|| {
                        format!(
                            "{service}:\n{}{}",
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        )
                    })
                })
            })
            .collect();
        runs.into_iter()
            .filter_map(|r| r.join().expect("promtool thread"))
            .collect()
    });
    // Kept for a look when they disagree: target/test-artifacts/sloth/<project>/.
    let kept = root().join("target/test-artifacts/sloth").join(&name);
    if !failures.is_empty() {
        std::fs::create_dir_all(&kept).expect("mkdir");
        for e in std::fs::read_dir(tmp.path()).expect("read tmp").flatten() {
            let _ = std::fs::copy(e.path(), kept.join(e.file_name()));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: our rules and Sloth's disagree (or miss the expected alerts); files in {}:\n{}",
        kept.display(),
        failures.join("\n")
    );
    compared
}

/// Every group of the rule files, those that record before those that alert.
fn group_order(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut recording = Vec::new();
    let mut alerting = Vec::new();
    for f in files {
        let doc: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(f).expect("read")).expect("yaml");
        for g in doc["groups"].as_array().into_iter().flatten() {
            let name = g["name"].as_str().expect("group name").to_owned();
            let alerts = g["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r.get("alert").is_some());
            if alerts {
                &mut alerting
            } else {
                &mut recording
            }
            .push(name);
        }
    }
    recording.extend(alerting);
    recording
}

/// For each scenario, one SLO's input series and checks.
fn scenario_tests(
    mesh: nestioc::model::Mesh,
    service: &nestioc::model::Service,
    kind: SloKind,
    d: &SloDef<'_>,
    sloth_id: &str,
) -> Vec<(Vec<Value>, Vec<Value>)> {
    // Input series in the form Prometheus 3 stores them (metrics::test_series): for
    // availability (good, bad) requests; for latency (all, fast) requests; for a custom SLI
    // the synthetic (all, bad) counters.
    let synthetic = matches!(d.sli, prometheus::Sli::Synthetic);
    let (first, second) = if synthetic {
        (
            format!(
                "nestio_test_requests_total{{slo_id=\"{}\",namespace=\"prod\"}}",
                d.id
            ),
            format!(
                "nestio_test_errors_total{{slo_id=\"{}\",namespace=\"prod\"}}",
                d.id
            ),
        )
    } else {
        metrics::test_series(mesh, service, d.bucket_ms)
    };
    let per_min = Decimal::from(1000);
    let ours = format!(
        "ALERTS{{alertstate=\"firing\",nestio_alert=\"slo\",slo_id=\"{}\"}}",
        d.id
    );
    let theirs = format!("ALERTS{{alertstate=\"firing\",sloth_id=\"{sloth_id}\"}}");
    let by = |sel: &str| format!("count by (namespace, severity) ({sel})");
    let mismatch = format!(
        "({a} unless on (namespace, severity) {b}) or ({b} unless on (namespace, severity) {a})",
        a = by(&ours),
        b = by(&theirs)
    );
    let mut tests = Vec::new();
    for s in SCENARIOS {
        let steps: Vec<(u32, Decimal, Decimal)> = s
            .steps
            .iter()
            .map(|(m, burn)| {
                let burn: Decimal = burn.parse().expect("burn");
                let bad = (burn * d.budget).min(Decimal::ONE) * per_min;
                (*m, bad, per_min - bad)
            })
            .collect();
        let grow = |pick: fn(&(u32, Decimal, Decimal)) -> Decimal| {
            series_values(&steps.iter().map(|st| (st.0, pick(st))).collect::<Vec<_>>())
        };
        // (first, second) growth per minute: availability (good, bad), latency (all, fast),
        // synthetic (all, bad).
        let (v1, v2) = match (synthetic, kind, d.bucket_ms) {
            (true, _, _) => (grow(|_| Decimal::from(1000)), grow(|st| st.1)),
            (false, SloKind::Latency, Some(_)) => (grow(|_| Decimal::from(1000)), grow(|st| st.2)),
            _ => (grow(|st| st.2), grow(|st| st.1)),
        };
        let minutes: u32 = s.steps.iter().map(|(m, _)| m).sum();
        let mut checks = Vec::new();
        for t in (5..=minutes).step_by(5) {
            checks.push(json!({"expr": mismatch, "eval_time": format!("{t}m"), "exp_samples": []}));
        }
        let burns: Vec<(u32, f64)> = steps
            .iter()
            .map(|(m, bad, _)| {
                (
                    *m,
                    (*bad / per_min / d.budget)
                        .to_string()
                        .parse()
                        .expect("f64"),
                )
            })
            .collect();
        let period_minutes = (d.slo.window.millis / 60_000) as f64;
        let end = expected_at_end(&burns, period_minutes);
        assert!(
            s.name != "100x" || end == ["page", "ticket"],
            "{}: the scenarios must exercise both severities",
            d.id
        );
        let expected: Vec<Value> = end
            .iter()
            .map(|sev| json!({"labels": format!("{{namespace=\"prod\",severity=\"{}\"}}", prometheus::alert_severity(sev)), "value": 1}))
            .collect();
        for sel in [&ours, &theirs] {
            checks.push(json!({"expr": by(sel), "eval_time": format!("{minutes}m"), "exp_samples": expected}));
        }
        tests.push((
            vec![
                json!({"series": first, "values": v1}),
                json!({"series": second, "values": v2}),
            ],
            checks,
        ));
    }
    tests
}
