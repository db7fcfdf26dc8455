//! Canary analysis that can fail: every metric of every generated `AnalysisTemplate`
//! (the shop with each mesh), its query evaluated by promtool 3 on series in the form
//! Prometheus stores them, with the Rollout's arguments filled in as Argo Rollouts fills
//! them (`namespace`, and `canary-hash` from `podTemplateHashValue: Latest`).
//!
//! - A bad canary (its pods fail three times the limit, at 10% of the traffic, beside a
//!   healthy stable version) is above the limit: the `failureCondition` holds. Before the
//!   queries were scoped to the new pods, the same canary diluted by the stable pods'
//!   traffic read 0.3 × the limit and passed.
//! - A good canary (a quarter of the limit) is at or under it: the `successCondition`
//!   holds.
//! - A perfect canary (no error at all, so no error series: the meshes and client
//!   libraries create a response code's series on its first response with that code)
//!   reads 0 and passes. An empty result there paused every rollout of a healthy service.
//! - No canary traffic, or too little to judge, gives no sample on the service-wide
//!   metric: neither condition holds, which Argo Rollouts counts as inconclusive
//!   (docs/features/analysis.md, "Inconclusive Runs": a measurement matching neither
//!   condition), never as a pass. A per-caller metric of a quiet caller reads 0 and
//!   passes instead: a weekly job's silence must not pause its callee's rollouts, and the
//!   service-wide metric still asks whether the canary had traffic at all.

use std::process::Command;

use nestioc::emit::{EmitContext, Templates, metrics, rollout};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::{compile, shop_with_mesh, validator};

/// One scenario: the canary's requests per minute and the share that fails (of the
/// limit), and whether the query must give a sample above, at/under, or none.
struct Scenario {
    name: &'static str,
    per_minute: u32,
    /// The canary's error ratio as a multiple of the limit.
    of_limit: Decimal,
    /// Whether the error series exists (with zero errors, it never appears).
    error_series: bool,
    expect: Expect,
    /// The expectation for a per-caller metric, where a quiet caller is not judged.
    per_caller: Expect,
}

#[derive(Clone, Copy)]
enum Expect {
    Fails,
    Passes,
    Inconclusive,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "bad canary",
            per_minute: 100,
            of_limit: Decimal::from(3),
            error_series: true,
            expect: Expect::Fails,
            per_caller: Expect::Fails,
        },
        Scenario {
            name: "good canary",
            per_minute: 100,
            of_limit: Decimal::new(25, 2),
            error_series: true,
            expect: Expect::Passes,
            per_caller: Expect::Passes,
        },
        Scenario {
            name: "perfect canary, no error series",
            per_minute: 100,
            of_limit: Decimal::ZERO,
            error_series: false,
            expect: Expect::Passes,
            per_caller: Expect::Passes,
        },
        Scenario {
            name: "a trickle",
            per_minute: 1,
            of_limit: Decimal::from(3),
            error_series: true,
            expect: Expect::Inconclusive,
            per_caller: Expect::Passes,
        },
        Scenario {
            name: "no canary traffic",
            per_minute: 0,
            of_limit: Decimal::ZERO,
            error_series: false,
            expect: Expect::Inconclusive,
            per_caller: Expect::Passes,
        },
    ]
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// `max` out of `... && result[0] <= max`.
fn limit(metric: &Value) -> Decimal {
    let success = metric["successCondition"]
        .as_str()
        .expect("successCondition");
    let (expected_success, expected_failure) = rollout::conditions(
        success
            .rsplit("<= ")
            .next()
            .expect("a limit in the success condition"),
    );
    assert_eq!(success, expected_success);
    assert_eq!(metric["failureCondition"], json!(expected_failure));
    success
        .rsplit("<= ")
        .next()
        .and_then(|m| m.parse().ok())
        .expect("a decimal limit")
}

#[test]
fn bad_canaries_fail_good_ones_pass_and_no_data_is_inconclusive() {
    let Some(promtool) = validator("analysis", "promtool") else {
        return;
    };
    let mut judged = 0;
    for mesh in ["istio", "linkerd", "none"] {
        let (_tmp, dir) = shop_with_mesh(mesh);
        let c = compile(&dir, &nestioc::Options::default());
        let model = c.analysis.model.as_ref().expect("model");
        let topology = c.analysis.topology.as_ref().expect("topology");
        let templates = Templates::new(&c.analysis.sources).expect("templates");
        let cx = EmitContext::new(model, topology, &c.analysis.sources, &templates, None);
        let m = model.project.mesh;
        let mut tests = Vec::new();
        for service in model.services.values() {
            let Some(template) = rollout::analysis(&cx, service) else {
                continue;
            };
            let spec =
                serde_json::to_value(template.spec.expect("an analysis has a spec")).expect("JSON");
            for metric in spec["metrics"].as_array().expect("metrics") {
                let name = metric["name"].as_str().expect("name");
                if name == "latency-p99" {
                    continue; // a quantile, not a ratio: its limit is a duration
                }
                let query = metric["provider"]["prometheus"]["query"]
                    .as_str()
                    .expect("query")
                    .replace("{{args.namespace}}", "prod")
                    .replace("{{args.canary-hash}}", "new");
                let max = limit(metric);
                // (good, bad) series of the canary, and the stable version's calls.
                let caller = name.strip_prefix("error-ratio-from-");
                let (canary, stable) = if let Some(caller) = caller {
                    let edge = topology
                        .callers(&service.name)
                        .into_iter()
                        .find(|e| e.caller == caller)
                        .expect("the metric's caller is a caller");
                    let canary = metrics::canary_edge_test_series(m, edge, service)
                        .expect("per-caller metrics only with a mesh, over HTTP or gRPC");
                    // The same caller's calls to the stable Service: not the canary's.
                    let stable = (
                        canary.0.replace("-canary\"", "\""),
                        canary.1.replace("-canary\"", "\""),
                    );
                    (canary, stable)
                } else {
                    (
                        metrics::test_series_with(
                            m,
                            service,
                            None,
                            ",rollouts_pod_template_hash=\"new\"",
                        ),
                        metrics::test_series_with(
                            m,
                            service,
                            None,
                            ",rollouts_pod_template_hash=\"old\"",
                        ),
                    )
                };
                for s in scenarios() {
                    let per_minute = Decimal::from(s.per_minute);
                    let bad = (s.of_limit * max).min(Decimal::ONE) * per_minute;
                    let mut series = vec![
                        // The stable version: nine times the canary's traffic, no error.
                        json!({"series": stable.0, "values": "0+900x15"}),
                        json!({"series": stable.1, "values": "0+0x15"}),
                    ];
                    if s.per_minute > 0 {
                        series.push(json!({"series": canary.0, "values": format!("0+{}x15", num(per_minute - bad))}));
                        if s.error_series {
                            series.push(
                                json!({"series": canary.1, "values": format!("0+{}x15", num(bad))}),
                            );
                        }
                    }
                    let count = |op: &str| format!("count(({query}) {op} {max})");
                    let expect = if caller.is_some() {
                        s.per_caller
                    } else {
                        s.expect
                    };
                    let checks = match expect {
                        Expect::Fails => vec![
                            json!({"expr": count(">"), "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 1}]}),
                            json!({"expr": count("<="), "eval_time": "10m", "exp_samples": []}),
                        ],
                        Expect::Passes => vec![
                            json!({"expr": count("<="), "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 1}]}),
                            json!({"expr": count(">"), "eval_time": "10m", "exp_samples": []}),
                        ],
                        Expect::Inconclusive => vec![
                            json!({"expr": format!("count({query})"), "eval_time": "10m", "exp_samples": []}),
                        ],
                    };
                    tests.push(json!({
                        "name": format!("{mesh}: {} {name}: {}", service.name, s.name),
                        "interval": "1m",
                        "input_series": series,
                        "promql_expr_test": checks,
                    }));
                    judged += 1;
                }
            }
        }
        assert!(!tests.is_empty(), "{mesh}: no analysis");
        let tmp = tempfile::tempdir().expect("tmp");
        let file = tmp.path().join("analysis.test.yaml");
        std::fs::write(
            &file,
            serde_saphyr::to_string(
                &json!({"rule_files": [], "evaluation_interval": "1m", "tests": tests}),
            )
            .expect("yaml"),
        )
        .expect("write");
        let out = Command::new(&promtool)
            .args(["test", "rules"])
            .arg(&file)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "shop ({mesh}): an analysis query does not judge the canary as expected:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(judged >= 40, "only {judged} scenarios judged");
}
