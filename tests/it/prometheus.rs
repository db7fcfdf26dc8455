//! SLO rules: promtool 3 on every rules file, the generated promtool unit tests (and the
//! same tests for custom SLIs, with a synthetic SLI), the PrometheusRule objects against
//! their CRD, and the rule set's shape compared with Sloth's for DESIGN.md's example SLO
//! (`sloth.rs` runs the real Sloth on every SLO; `alertmanager.rs` runs amtool).

use std::path::{Path, PathBuf};
use std::process::Command;

use nestioc::emit::{EmitContext, Templates, prometheus};
use serde_json::Value;

use crate::support::{compile, root, shop_with_mesh};

/// The validator `name`, or `None` when it is not installed (see
/// [`crate::support::validator`]).
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    crate::support::validator("prometheus", name)
}

/// A built project: its name, and the output directory (kept alive with the sources).
type Build = (String, tempfile::TempDir, Option<tempfile::TempDir>);

/// The shop with each mesh (their SLIs read different metrics) and the other examples,
/// built into temporary directories.
fn builds() -> Vec<Build> {
    let mut out = Vec::new();
    let mut projects: Vec<(String, PathBuf, Option<tempfile::TempDir>)> = Vec::new();
    for mesh in ["istio", "linkerd", "none"] {
        let (t, dir) = shop_with_mesh(mesh);
        projects.push((format!("shop ({mesh})"), dir, Some(t)));
    }
    // The `files` form writes the rule files itself.
    let (t, dir) = shop_with_mesh("istio");
    crate::support::set_rules_form(&dir, "files");
    projects.push(("shop (istio, files)".into(), dir, Some(t)));
    projects.push(("minimal".into(), root().join("examples/minimal"), None));
    for (name, dir, keep) in projects {
        let c = compile(&dir, &nestioc::Options::default());
        let set = c.artifacts.unwrap_or_else(|| panic!("{name} compiles"));
        let tmp = tempfile::tempdir().expect("tmp");
        for (path, a) in &set.files {
            let dest = tmp.path().join(path);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::write(dest, &a.contents).expect("write");
        }
        // The `operator` form (the default): the rule files are the PrometheusRules'
        // specs, extracted as the tests' header says.
        crate::support::extract_rule_files(tmp.path());
        out.push((name, tmp, keep));
    }
    out
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.to_string_lossy().ends_with(suffix));
    v.sort();
    v
}

fn run(cmd: &Path, args: &[&std::ffi::OsStr], cwd: &Path) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run tool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_checks_and_unit_tests_pass_for_every_mesh() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    for (name, out, _keep) in builds() {
        let dir = out.path().join("prometheus");
        let rules = files(&dir, ".rules.yaml");
        if name != "minimal" {
            assert!(
                rules.len() >= 10,
                "{name}: rules for every service with an SLO"
            );
        }
        if rules.is_empty() {
            continue;
        }
        let args: Vec<&std::ffi::OsStr> = std::iter::once("check".as_ref())
            .chain(std::iter::once("rules".as_ref()))
            .chain(rules.iter().map(|p| p.as_os_str()))
            .collect();
        let (ok, text) = run(&promtool, &args, &dir);
        assert!(ok, "{name}: promtool check rules:\n{text}");
        let tests = files(&dir, ".rules.test.yaml");
        assert!(!tests.is_empty(), "{name}: unit tests generated");
        for t in tests {
            let (ok, text) = run(
                &promtool,
                &["test".as_ref(), "rules".as_ref(), t.as_os_str()],
                &dir,
            );
            assert!(
                ok && text.contains("SUCCESS"),
                "{name}: promtool test rules {}:\n{text}",
                t.display()
            );
        }
    }
}

#[test]
fn custom_slis_are_unit_tested_with_a_synthetic_sli() {
    // A custom SLI reads metrics only its author knows; its burn-rate alerting is the
    // same machinery, tested here with the SLI replaced by two test counters.
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let c = compile(&root().join("examples/shop"), &nestioc::Options::default());
    let model = c.analysis.model.as_ref().expect("model");
    let topology = c.analysis.topology.as_ref().expect("topology");
    let templates = Templates::new(&c.analysis.sources).expect("templates");
    let cx = EmitContext::new(model, topology, &c.analysis.sources, &templates, None);
    let tmp = tempfile::tempdir().expect("tmp");
    let mut tested = 0;
    for service in model
        .services
        .values()
        .filter(|s| s.slos.iter().any(|x| x.custom.is_some()))
    {
        let groups = prometheus::rule_groups(&cx, service, true);
        let rules = format!("{}.rules.yaml", service.name);
        std::fs::write(
            tmp.path().join(&rules),
            serde_saphyr::to_string(&serde_json::json!({"groups": groups})).expect("yaml"),
        )
        .expect("write");
        let tests =
            prometheus::unit_tests(&cx, service, &rules, true).expect("tests for the custom SLO");
        let test_file = tmp.path().join(format!("{}.test.yaml", service.name));
        std::fs::write(&test_file, serde_saphyr::to_string(&tests).expect("yaml")).expect("write");
        let (ok, text) = run(
            &promtool,
            &["test".as_ref(), "rules".as_ref(), test_file.as_os_str()],
            tmp.path(),
        );
        assert!(ok, "{}: {text}", service.name);
        tested += 1;
    }
    assert!(tested >= 1, "examples/shop has a custom-SLI SLO");
}

#[test]
fn prometheus_rule_objects_pass_their_crd_checks() {
    for checker in ["nestioc-promrule-check", "nestioc-crd-check"] {
        let Some(bin) = tool(checker) else { continue };
        for (name, out, _keep) in builds() {
            let crds = files(&out.path().join("prometheus"), ".prometheusrule.yaml");
            if crds.is_empty() {
                continue;
            }
            let args: Vec<&std::ffi::OsStr> = crds.iter().map(|p| p.as_os_str()).collect();
            let (ok, text) = run(&bin, &args, out.path());
            assert!(ok && !text.contains("FAIL"), "{name}: {checker}:\n{text}");
        }
    }
}

fn rules_of(text: &str) -> Vec<Value> {
    let doc: Value = serde_saphyr::from_str(text).expect("yaml");
    doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Sloth's rule set for a 99.9% SLO over 30 days (slok/sloth examples/_gen/getting-started.yml,
/// and its window definitions internal/alert/windows/google-30d.yaml): SLI windows,
/// metadata records, and the (short, long, factor) alert conditions.
const SLOTH_SLI_WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"];
const SLOTH_META: &[&str] = &[
    "slo:objective:ratio",
    "slo:error_budget:ratio",
    "slo:time_period:days",
    "slo:current_burn_rate:ratio",
    "slo:period_burn_rate:ratio",
    "slo:period_error_budget_remaining:ratio",
];
const SLOTH_PAGE: &[(&str, &str, f64)] = &[("5m", "1h", 14.4), ("30m", "6h", 6.0)];
const SLOTH_TICKET: &[(&str, &str, f64)] = &[("2h", "1d", 3.0), ("6h", "3d", 1.0)];

/// (short window, long window, threshold text) of each condition of an alert expression.
fn conditions(expr: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for block in expr.split("(\n  slo:sli_error:ratio_rate").skip(1) {
        let short = block.split('{').next().unwrap_or_default().to_owned();
        let threshold = block
            .split("> ")
            .nth(1)
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let long = block
            .split("slo:sli_error:ratio_rate")
            .nth(1)
            .unwrap_or_default()
            .split('{')
            .next()
            .unwrap_or_default()
            .to_owned();
        out.push((short, long, threshold));
    }
    out
}

#[test]
fn design_example_slo_matches_sloths_rule_set() {
    // DESIGN.md: checkout, `slo "availability" target=99.9 window="30d"`.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("nestio.kdl"),
        "project \"shop\" {\n    registry \"ghcr.io/acme\"\n    mesh \"istio\"\n}\nservice \"checkout\" {\n    uses \"std/grpc-service\"\n    image \"checkout\" tag=\"1.4.2\"\n    slo \"availability\" target=99.9 window=\"30d\"\n}\n",
    )
    .expect("write");
    let c = compile(dir.path(), &nestioc::Options::default());
    let set = c.artifacts.expect("compiles");
    let rules = rules_of(&crate::support::rule_file_text(&set, "checkout").expect("rules"));
    let sli_windows: Vec<String> = rules
        .iter()
        .filter_map(|r| r["record"].as_str())
        .filter_map(|r| r.strip_prefix("slo:sli_error:ratio_rate"))
        .map(str::to_owned)
        .collect();
    assert_eq!(sli_windows, SLOTH_SLI_WINDOWS, "same SLI windows as Sloth");
    for m in SLOTH_META {
        assert!(rules.iter().any(|r| r["record"] == *m), "metadata rule {m}");
    }
    let objective = rules
        .iter()
        .find(|r| r["record"] == "slo:objective:ratio")
        .expect("objective");
    assert_eq!(
        objective["expr"], "vector(0.999)",
        "exact, where Sloth writes vector(0.9990000000000001)"
    );
    let budget = 0.001_f64;
    for (severity, sloth) in [("page", SLOTH_PAGE), ("ticket", SLOTH_TICKET)] {
        let alert = rules
            .iter()
            .find(|r| {
                r["alert"].is_string()
                    && r["labels"]["severity"] == prometheus::alert_severity(severity)
                    && r["labels"]["nestio_alert"] == "slo"
            })
            .unwrap_or_else(|| panic!("{severity} alert"));
        let ours = conditions(alert["expr"].as_str().expect("expr"));
        assert_eq!(
            ours.len(),
            sloth.len(),
            "{severity}: same number of conditions"
        );
        for ((short, long, threshold), (s_short, s_long, factor)) in ours.iter().zip(sloth.iter()) {
            assert_eq!(
                (short.as_str(), long.as_str()),
                (*s_short, *s_long),
                "{severity}: same windows"
            );
            let sloth_threshold = factor * budget;
            let t: f64 = threshold.parse().expect("a number");
            assert!(
                (t - sloth_threshold).abs() < 1e-12,
                "{severity} {short}/{long}: {t} vs Sloth's {sloth_threshold}"
            );
            assert!(
                threshold.len() <= 8,
                "{threshold} is printed exactly, not as a float artefact"
            );
        }
    }
}

#[test]
fn burn_rate_factors_scale_with_the_period() {
    let p = |d: &str| nestioc::model::values::Duration::parse(d).expect("duration");
    let f = |w: usize, d: &str| prometheus::factor(&prometheus::BURN_WINDOWS[w], &p(d)).to_string();
    assert_eq!(
        [f(0, "30d"), f(1, "30d"), f(2, "30d"), f(3, "30d")],
        ["14.4", "6", "3", "1"]
    );
    assert_eq!(
        [f(0, "28d"), f(1, "28d"), f(2, "28d"), f(3, "28d")],
        ["13.44", "5.6", "2.8", "0.9333333333"]
    );
    assert_eq!(
        [f(0, "7d"), f(1, "7d"), f(2, "7d"), f(3, "7d")],
        ["3.36", "1.4", "0.7", "0.2333333333"]
    );
}

/// Without a mesh the SLIs read the services' own metrics (`job="<service>"`): each
/// service whose SLOs need them gets a PodMonitor that the Prometheus Operator turns into
/// a scrape with that job (`jobLabel` names the pod label whose value becomes `job`:
/// monitoring.coreos.com/v1 PodMonitorSpec), on a container port that exists, which the
/// service's NetworkPolicy admits from the monitoring namespace; and a service without
/// such a port is warned about (NST0319) instead of silently having no data.
#[test]
fn without_a_mesh_prometheus_scrapes_every_measured_service() {
    let (_tmp, dir) = shop_with_mesh("none");
    let c = compile(&dir, &nestioc::Options::default());
    let model = c.analysis.model.as_ref().expect("model");
    let warned: Vec<String> = c
        .analysis
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "NST0319")
        .map(|d| d.message.clone())
        .collect();
    let set = c.artifacts.expect("compiles");
    let mut scraped = 0;
    for service in model.services.values() {
        // A service with no HTTP or gRPC port has no request SLI to scrape (NST0320,
        // which spares a TCP server that others depend on).
        let needs = service
            .ports
            .iter()
            .any(|p| p.protocol != nestioc::model::Protocol::Tcp)
            && service.slos.iter().any(|s| s.custom.is_none());
        let text = &set.files[&format!("kubernetes/prod/{}.yaml", service.name)].contents;
        let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("yaml");
        let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind);
        let Some(pm) = find("PodMonitor") else {
            assert!(
                !needs
                    || warned
                        .iter()
                        .any(|w| w.contains(&format!("`{}`", service.name))),
                "{}: measured, not scraped and not warned about",
                service.name
            );
            continue;
        };
        scraped += 1;
        let spec = &pm["spec"];
        let pod = &find("Deployment")
            .or_else(|| find("Rollout"))
            .expect("a workload")["spec"]["template"];
        // job = the value of the pod label jobLabel names = the service: the SLIs' selector.
        let job_label = spec["jobLabel"].as_str().expect("jobLabel");
        assert_eq!(pod["metadata"]["labels"][job_label], service.name.as_str());
        for (k, v) in spec["selector"]["matchLabels"]
            .as_object()
            .expect("selector")
        {
            assert_eq!(
                &pod["metadata"]["labels"][k], v,
                "{}: selector",
                service.name
            );
        }
        let port_name = spec["podMetricsEndpoints"][0]["port"]
            .as_str()
            .expect("port");
        let container_port = pod["spec"]["containers"][0]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| p["name"] == port_name)
            .unwrap_or_else(|| panic!("{}: no container port {port_name}", service.name))["containerPort"]
            .clone();
        let np = find("NetworkPolicy").expect("NetworkPolicy");
        let admitted = np["spec"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                rule["from"].as_array().into_iter().flatten().any(|f| {
                    f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                        == "monitoring"
                }) && rule["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["port"] == container_port)
            });
        assert!(
            admitted,
            "{}: the monitoring namespace cannot reach {container_port}",
            service.name
        );
    }
    assert!(scraped >= 1, "no PodMonitor in the shop without a mesh");
}

/// NST0312 names the histogram the SLI actually reads: without a mesh, a gRPC service's is
/// the client library's `grpc_server_handling_seconds`, not the HTTP one.
#[test]
fn the_latency_bucket_warning_names_the_histogram_the_sli_reads() {
    let text = "project \"p\" {\n    registry \"r.example.com/p\"\n    mesh \"none\"\n}\n\
        service \"api\" {\n    image \"api\" tag=\"1.0.0\"\n    port \"grpc\" 50051 protocol=\"grpc\"\n    port \"metrics\" 9090 protocol=\"http\"\n    probe \"grpc\" port=\"grpc\"\n    slo \"latency\" target=99 threshold=\"300ms\"\n}\n";
    let mut sources = nestioc::source::SourceMap::new();
    nestioc::stdlib::load(&mut sources);
    sources.add(nestioc::source::Source::new(
        "nestio.kdl",
        text.to_owned(),
        nestioc::source::Origin::Project,
    ));
    let a = nestioc::analyze(
        sources,
        nestioc::diag::Diagnostics::new(),
        &nestioc::Options::default(),
        &mut |_| {},
    );
    let d = a
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "NST0312")
        .unwrap_or_else(|| panic!("{:?}", a.diagnostics));
    assert!(
        d.message.contains("grpc_server_handling_seconds"),
        "{}",
        d.message
    );
}

/// Each fact once (issue 14): a build writes the rule groups and the alert routing in the
/// project's one form (`prometheus "operator"|"files"`), and both forms carry the same
/// groups: a PrometheusRule's `spec` is a rule file (Prometheus Operator API,
/// PrometheusRuleSpec `groups`: "Content of Prometheus rule file"). Only the `operator`
/// form has objects for Argo CD and the playbook to deploy.
#[test]
fn each_form_writes_the_rules_and_the_routing_once() {
    let build = |form: &str| {
        let (t, dir) = crate::support::with_rules_form(&root().join("examples/shop"), form);
        let c = compile(&dir, &nestioc::Options::default());
        let set = c.artifacts.unwrap_or_else(|| panic!("{form} compiles"));
        drop(t);
        set
    };
    let operator = build("operator");
    let files = build("files");
    let paths = |set: &nestioc::emit::ArtifactSet, suffix: &str| -> Vec<String> {
        set.files
            .keys()
            .filter(|p| p.ends_with(suffix))
            .cloned()
            .collect()
    };
    assert!(paths(&operator, ".rules.yaml").is_empty());
    assert!(paths(&operator, "inhibit.yaml").is_empty());
    assert!(paths(&files, ".prometheusrule.yaml").is_empty());
    assert!(paths(&files, "alertmanagerconfig.yaml").is_empty());
    let crds = paths(&operator, ".prometheusrule.yaml");
    assert!(crds.len() >= 10, "{crds:?}");
    assert_eq!(
        crds.len(),
        paths(&files, ".rules.yaml").len(),
        "one rule set per service in each form"
    );
    for crd in &crds {
        let service = crd
            .trim_start_matches("prometheus/")
            .trim_end_matches(".prometheusrule.yaml");
        let spec: Value = serde_saphyr::from_str(
            &crate::support::rule_file_text(&operator, service).expect("spec"),
        )
        .expect("YAML");
        let file: Value = serde_saphyr::from_str(
            &files.files[&format!("prometheus/{service}.rules.yaml")].contents,
        )
        .expect("YAML");
        assert_eq!(spec, file, "{service}: the two forms differ");
    }
    // The tests are written in both forms; only the operator form deploys anything.
    assert_eq!(
        paths(&operator, ".rules.test.yaml"),
        paths(&files, ".rules.test.yaml")
    );
    let platform =
        |set: &nestioc::emit::ArtifactSet| set.files["argocd/platform.yaml"].contents.clone();
    assert!(platform(&operator).contains("prometheusrule.yaml"));
    assert!(!platform(&files).contains("prometheusrule.yaml"));
    assert!(!platform(&files).contains("alertmanagerconfig.yaml"));
}

/// An edge's SLIs are judged by the protocol of the port it calls (`depends-on port=`),
/// not by the callee's first port: Istio labels a gRPC call's outcome in
/// `grpc_response_status` and answers HTTP 200 for a failed one, so a 5xx matcher would
/// read a failing gRPC edge as healthy. Over TCP the mesh counts connections, not
/// requests (`istio_tcp_*`): no request SLI, and no alert that could never fire.
#[test]
fn edge_slis_follow_the_protocol_of_the_port_called() {
    let set = crate::support::compile_kdl(
        r#"project "shop" {
    registry "ghcr.io/acme"
    mesh "istio"
}
service "inventory" {
    uses "std/http-service"
    image "inventory" tag="1.0.0"
    port "grpc" 9090 protocol="grpc"
    port "db" 5433 protocol="tcp"
}
service "checkout" {
    uses "std/http-service"
    image "checkout" tag="1.0.0"
    slo "availability" target=99.9 window="30d"
    depends-on "inventory" port="grpc"
}
service "web" {
    uses "std/http-service"
    image "web" tag="1.0.0"
    slo "availability" target=99 window="30d"
    depends-on "inventory"
}
service "reporter" {
    uses "std/http-service"
    image "reporter" tag="1.0.0"
    slo "availability" target=99 window="30d"
    depends-on "inventory" port="db"
}
"#,
    );
    let edge_errors = |caller: &str| -> Vec<String> {
        rules_of(&crate::support::rule_file_text(&set, caller).expect("rules"))
            .iter()
            .filter(|r| r["record"] == "edge:request_error:ratio_rate5m")
            .map(|r| r["expr"].as_str().expect("expr").to_owned())
            .collect()
    };
    let grpc = edge_errors("checkout");
    assert_eq!(grpc.len(), 1, "{grpc:?}");
    assert!(grpc[0].contains("grpc_response_status=~"), "{}", grpc[0]);
    assert!(!grpc[0].contains("response_code"), "{}", grpc[0]);
    let http = edge_errors("web");
    assert_eq!(http.len(), 1, "{http:?}");
    assert!(http[0].contains("response_code=~\"5..\""), "{}", http[0]);
    let tcp = edge_errors("reporter");
    assert!(tcp.is_empty(), "a TCP edge has no request SLI: {tcp:?}");
}

/// A service that serves gRPC and HTTP fails when either fails. Its availability SLI
/// counts both protocols' failures, each as the proxy labels it, and each failed request
/// once. Evaluated by promtool 3 on series in the form each source exports:
/// - Istio: one metric for both; `grpc_response_status` only on gRPC requests, and a gRPC
///   call the proxy fails has `response_code="503"` too (istio.io, "Istio Standard
///   Metrics": `response_code`, `grpc_response_status`).
/// - Linkerd: `response_total` classifies any non-OK gRPC status as a failure and labels
///   it `grpc_status`; an HTTP response has `classification` alone (linkerd2-proxy,
///   `impl FmtLabels for Class`). NOT_FOUND (5) is the client's mistake, not a fault.
/// - No mesh: `grpc_server_handled_total` (go-grpc-prometheus) beside `http_requests_total`.
///
/// Before, the SLI read the first port's protocol only: HTTP 503s on the second port
/// were never counted, and no page fired while half the requests failed.
#[test]
fn a_service_serving_grpc_and_http_counts_the_failures_of_both() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let istio = "istio_requests_total{reporter=\"destination\",destination_workload=\"pricing\",namespace=\"prod\"";
    let linkerd = "response_total{direction=\"inbound\",app_kubernetes_io_name=\"pricing\",namespace=\"prod\"";
    type Case = (&'static str, Vec<(String, u32)>, &'static str);
    let cases: [Case; 3] = [
        (
            "istio",
            vec![
                (format!("{istio},request_protocol=\"grpc\",response_code=\"200\",grpc_response_status=\"0\"}}"), 500),
                (format!("{istio},request_protocol=\"grpc\",response_code=\"503\",grpc_response_status=\"14\"}}"), 250),
                (format!("{istio},request_protocol=\"http\",response_code=\"503\"}}"), 250),
            ],
            "0.5",
        ),
        (
            "linkerd",
            vec![
                (format!("{linkerd},classification=\"success\",grpc_status=\"0\"}}"), 250),
                (format!("{linkerd},classification=\"failure\",grpc_status=\"5\"}}"), 500),
                (format!("{linkerd},classification=\"failure\",status_code=\"503\"}}"), 250),
            ],
            "0.25",
        ),
        (
            "none",
            vec![
                ("grpc_server_handled_total{job=\"pricing\",namespace=\"prod\",grpc_code=\"OK\"}".to_owned(), 500),
                ("grpc_server_handled_total{job=\"pricing\",namespace=\"prod\",grpc_code=\"NotFound\"}".to_owned(), 250),
                ("http_requests_total{job=\"pricing\",namespace=\"prod\",code=\"500\"}".to_owned(), 250),
            ],
            "0.25",
        ),
    ];
    let tmp = tempfile::tempdir().expect("tmp");
    for (mesh, series, ratio) in cases {
        let set = crate::support::compile_kdl(&format!(
            r#"project "quill" {{
    registry "ghcr.io/acme"
    mesh "{mesh}"
    environment "prod"
}}
service "pricing" {{
    uses "std/grpc-service"
    image "pricing" tag="1.0.0"
    port "http" 8080
    slo "availability" target=99.9 window="30d"
}}
"#
        ));
        let rules = crate::support::rule_file_text(&set, "pricing").expect("rules");
        std::fs::write(tmp.path().join(format!("{mesh}.rules.yaml")), rules).expect("write");
        let input: Vec<serde_json::Value> = series
            .iter()
            .map(|(s, per_min)| serde_json::json!({"series": s, "values": format!("0+{per_min}x30")}))
            .collect();
        let test = serde_json::json!({
            "rule_files": [format!("{mesh}.rules.yaml")],
            "evaluation_interval": "1m",
            "tests": [{
                "interval": "1m",
                "input_series": input,
                "promql_expr_test": [{
                    "expr": "sum(slo:sli_error:ratio_rate5m{slo_id=\"pricing-availability\"})",
                    "eval_time": "10m",
                    "exp_samples": [{"labels": "{}", "value": ratio.parse::<f64>().expect("ratio")}],
                }],
            }],
        });
        let file = tmp.path().join(format!("{mesh}.test.yaml"));
        std::fs::write(&file, serde_saphyr::to_string(&test).expect("yaml")).expect("write");
        let (ok, text) = run(
            &promtool,
            &["test".as_ref(), "rules".as_ref(), file.as_os_str()],
            tmp.path(),
        );
        assert!(ok, "{mesh}: the error ratio is {ratio}:\n{text}");
    }
}
