//! The hostile-string matrix (docs/security.md, "Output contexts"): hostile strings in
//! every user-controlled field, and for each output context either the exact literal back
//! through that format's real parser, or a rejection by lowering with a diagnostic that
//! has a code, a span, a label and a help. CI commands (shell in GitHub Actions, GitLab,
//! CircleCI; Groovy in the Jenkinsfile) are in tests/it/ci.rs, Fluentd configuration
//! values in tests/it/fluentd.rs, file names and limits in tests/it/hardening.rs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{compile, render_human};

/// Strings that mean something in at least one output format.
pub(crate) fn hostile_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "line one\nline two",
        "crlf\r\nnext",
        "trailing newline\n",
        "{{ .Values.image.repository }}",
        "{{- fail \"boom\" -}}",
        "{{/* comment */}}",
        "${HOME} ${{ secrets.TOKEN }} $(id) `id` $$",
        "'single' \"double\" '''triple''' \"\"\"",
        "back\\slash \\n \\\\ \\",
        "# not a comment",
        "key: value",
        "- item",
        "[a, b] {c: d}",
        "&anchor *alias !!binary |literal >folded",
        "</script><script>alert(1)</script>",
        "<!-- -->",
        "yes",
        "on",
        "null",
        "~",
        "0x1F",
        "1e3",
        ".inf",
        "12:30",
        "   leading and trailing   ",
        "",
        "\ttab",
        "#{ENV['X']} %{x} @{y}",
        "emoji 🚀 ünïcödé",
        "\u{1b}[31mred\u{7}",
        "\u{feff}bom",
        "\u{202e}rtl override",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Very long, with a bit of everything.
    v.push("a'b\"c\\d{{e}}f\ng\t#h: ".repeat(1_000));
    v
}

/// A KDL v2 quoted string: escapes for what KDL would read as syntax or disallows.
pub(crate) fn kdl_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
                || ('\u{200e}'..='\u{200f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A project whose `api` service carries every hostile value as an environment variable
/// (`H0`, `H1`, ...) and as a container argument, and as custom SLI queries.
fn hostile_project(values: &[String]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("nestioc-hostile-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\" {\n    registry \"ghcr.io/acme\"\n    mesh \"istio\"\n    environment \"staging\"\n    environment \"prod\"\n}\n",
    )
    .unwrap();
    let mut s = String::from(
        "service \"api\" {\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n    expose host=\"api.example.com\" path=\"/a'b(c)$d&e;f=g:h@i!j~k*l+m,n%20\"\n",
    );
    for (i, v) in values.iter().enumerate() {
        let _ = writeln!(s, "    env \"H{i}\" {}", kdl_quote(v));
    }
    s.push_str("    args");
    for v in values {
        let _ = write!(s, " {}", kdl_quote(v));
    }
    s.push('\n');
    // The pod's other free-text fields: the entrypoint, an exec probe's command, pod and
    // Service annotations, and a sidecar's and an init container's command, args and env.
    let all = |s: &mut String| {
        for v in values {
            let _ = write!(s, " {}", kdl_quote(v));
        }
    };
    s.push_str("    command \"/app\"");
    all(&mut s);
    s.push_str("\n    probe \"exec\" for=\"liveness\" command=\"/check\"");
    all(&mut s);
    s.push('\n');
    for (i, v) in values.iter().enumerate() {
        let _ = writeln!(s, "    annotation \"h.example.com/h{i}\" {}", kdl_quote(v));
        let _ = writeln!(
            s,
            "    service-annotation \"h.example.com/h{i}\" {}",
            kdl_quote(v)
        );
    }
    for (node, name) in [("sidecar", "helper"), ("init-container", "prepare")] {
        let _ = write!(
            s,
            "    {node} \"{name}\" {{\n        image \"{name}\" tag=\"1.0.0\"\n        command \"/{name}\""
        );
        all(&mut s);
        s.push_str("\n        args");
        all(&mut s);
        s.push('\n');
        for (i, v) in values.iter().enumerate() {
            let _ = writeln!(s, "        env \"H{i}\" {}", kdl_quote(v));
        }
        s.push_str("    }\n");
    }
    let _ = writeln!(
        s,
        "    slo \"availability\" target=99.9 {{\n        errors {}\n        total {}\n    }}",
        kdl_quote(ERRORS_QUERY),
        kdl_quote(TOTAL_QUERY)
    );
    s.push_str("}\n");
    std::fs::write(dir.join("services/api.kdl"), s).unwrap();
    (tmp, dir)
}

/// NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are line breaks to YAML 1.1 readers, and
/// Helm's `toYaml | nindent` does not indent after them: refused (NST0117) in every free
/// text field that reaches Helm, and in CI commands (NST0116).
#[test]
fn yaml_1_1_line_breaks_are_refused_in_free_text() {
    for c in ['\u{85}', '\u{2028}', '\u{2029}'] {
        let v = format!("a\n{c}b");
        let q = kdl_quote(&v);
        for (line, code) in [
            (format!("env \"A\" {q}"), "NST0117"),
            (format!("args {q}"), "NST0117"),
            (
                format!(
                    "slo \"availability\" target=99 {{\n        errors {}\n        total \"t[{{{{window}}}}]\"\n    }}",
                    kdl_quote(&format!("e[{{{{window}}}}]{c}"))
                ),
                "NST0117",
            ),
            (
                format!(
                    "ci {{\n        test {}\n    }}",
                    kdl_quote(&format!("make{c}test"))
                ),
                "NST0116",
            ),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(
                tmp.path().join("nestio.kdl"),
                format!(
                    "project \"p\" {{\n    registry \"ghcr.io/acme\"\n}}\nservice \"api\" {{\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n    {line}\n}}\n"
                ),
            )
            .unwrap();
            let c = compile(tmp.path(), &nestioc::Options::default());
            let d = c
                .analysis
                .diagnostics
                .iter()
                .find(|d| d.code.as_str() == code)
                .unwrap_or_else(|| panic!("{line}: {}", render_human(&c.analysis)));
            assert!(!d.labels.is_empty() && d.help.is_some(), "{d:?}");
            assert!(c.artifacts.is_none());
        }
    }
}

/// Custom SLI queries: PromQL is code by design (the author writes it for Prometheus),
/// but it must arrive there exactly, whatever quotes, backslashes and braces it holds.
const ERRORS_QUERY: &str =
    r#"sum(rate(http_requests_total{job="api",code=~"5..",path!~"/a\\\"b'{{x}}#"}[{{window}}]))"#;
const TOTAL_QUERY: &str = r#"sum(rate(http_requests_total{job="api"}[{{window}}])) # total"#;

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text).expect("YAML")
}

/// The container `api` of a rendered manifest: its env (name -> value) and args.
fn container(docs: &[Value]) -> (BTreeMap<String, Value>, Vec<Value>) {
    let workload = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let c = &workload["spec"]["template"]["spec"]["containers"][0];
    let env = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["value"].clone()))
        .collect();
    (env, c["args"].as_array().expect("args").clone())
}

/// The pod's other free-text fields carry every value exactly: the service's `command`
/// (after `/app`) and exec probe (after `/check`), its pod and Service annotations
/// (`h.example.com/h<i>`), and the sidecar's and init container's command, args and env.
fn assert_pod_exact(what: &str, values: &[String], docs: &[Value]) {
    let workload = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("a Service");
    let pod = &workload["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("{what}: not a list: {v}"))
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    let with = |first: &str| -> Vec<String> {
        std::iter::once(first.to_owned())
            .chain(values.iter().cloned())
            .collect()
    };
    assert_eq!(strings(&c["command"]), with("/app"), "{what}: command");
    assert_eq!(
        strings(&c["livenessProbe"]["exec"]["command"]),
        with("/check"),
        "{what}: exec probe"
    );
    for (i, v) in values.iter().enumerate() {
        let key = format!("h.example.com/h{i}");
        assert_eq!(
            pod["metadata"]["annotations"][&key].as_str(),
            Some(v.as_str()),
            "{what}: pod annotation {key}"
        );
        assert_eq!(
            service["metadata"]["annotations"][&key].as_str(),
            Some(v.as_str()),
            "{what}: Service annotation {key}"
        );
    }
    let inits = pod["spec"]["initContainers"]
        .as_array()
        .expect("initContainers");
    for name in ["helper", "prepare"] {
        let x = inits
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{what}: no container {name}"));
        assert_eq!(
            strings(&x["command"]),
            with(&format!("/{name}")),
            "{what}: {name} command"
        );
        assert_eq!(strings(&x["args"]), values.to_vec(), "{what}: {name} args");
        for (i, v) in values.iter().enumerate() {
            let got = x["env"]
                .as_array()
                .expect("env")
                .iter()
                .find(|e| e["name"] == format!("H{i}").as_str())
                .and_then(|e| e["value"].as_str());
            assert_eq!(got, Some(v.as_str()), "{what}: {name} env H{i}");
        }
    }
}

fn assert_exact(what: &str, values: &[String], env: &BTreeMap<String, Value>, args: &[Value]) {
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            env.get(&format!("H{i}")).and_then(Value::as_str),
            Some(v.as_str()),
            "{what}: env H{i}"
        );
        assert_eq!(
            args.get(i).and_then(Value::as_str),
            Some(v.as_str()),
            "{what}: arg {i}"
        );
    }
}

/// YAML scalars: values.yaml, values-<env>.yaml and every rendered manifest parse, and
/// carry each value exactly.
#[test]
fn yaml_scalars_carry_hostile_values_exactly() {
    let values = hostile_values();
    let (_tmp, dir) = hostile_project(&values);
    let files = crate::support::artifacts_of(&dir);
    for env in ["staging", "prod"] {
        let path = format!("kubernetes/{env}/api.yaml");
        let docs = yaml_docs(&files[&path]);
        let (e, a) = container(&docs);
        assert_exact(&path, &values, &e, &a);
        assert_pod_exact(&path, &values, &docs);
    }
    let v = &yaml_docs(&files["helm/api/values.yaml"])[0];
    let text = serde_json::to_string(v).unwrap();
    for value in &values {
        assert!(
            text.contains(&serde_json::to_string(value).unwrap()),
            "values.yaml lost {value:?}"
        );
    }
    // Every other YAML file of the output parses too.
    for (path, text) in &files {
        if (path.ends_with(".yaml") || path.ends_with(".yml")) && !path.contains("/templates/") {
            serde_saphyr::from_multiple::<Value>(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
}

/// Helm templates: no user value is ever in a chart template (they read everything from
/// values.yaml), and the real Helm 4 renders the chart with the hostile values into
/// exactly those values.
#[test]
fn helm_charts_render_hostile_values_exactly() {
    let values = hostile_values();
    let (_tmp, dir) = hostile_project(&values);
    let files = crate::support::artifacts_of(&dir);
    // The templates are the same bytes as those of a project without hostile values,
    // but for the header naming the source file.
    let (_tmp2, plain) = hostile_project(&["plain".to_owned()]);
    let plain = crate::support::artifacts_of(&plain);
    let templates: Vec<&String> = files.keys().filter(|p| p.contains("/templates/")).collect();
    assert!(templates.len() > 5, "{templates:?}");
    for p in templates {
        assert_eq!(files[p], plain[p], "{p} depends on user values");
    }
    let Some(helm) = tool("nestioc-helm-check") else {
        return;
    };
    let out = tempfile::Builder::new()
        .prefix("nestioc-hostile-out-")
        .tempdir()
        .unwrap();
    for (path, text) in &files {
        let f = out.path().join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    let vendored = tempfile::tempdir().unwrap();
    let chart = crate::support::vendor_chart(&out.path().join("helm"), "api", vendored.path());
    let rendered = tempfile::Builder::new()
        .prefix("nestioc-hostile-rendered-")
        .tempdir()
        .unwrap();
    let o = Command::new(&helm)
        .arg(&chart)
        .arg("-f")
        .arg(chart.join("values-prod.yaml"))
        .args(["--strict", "--release", "api", "--namespace", "p", "--out"])
        .arg(rendered.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "helm:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut docs = Vec::new();
    for e in walkdir::WalkDir::new(rendered.path()) {
        let e = e.unwrap();
        if e.path().extension().is_some_and(|x| x == "yaml") {
            docs.extend(yaml_docs(&std::fs::read_to_string(e.path()).unwrap()));
        }
    }
    let (e, a) = container(&docs);
    assert_exact("helm template", &values, &e, &a);
    assert_pod_exact("helm template", &values, &docs);
}

/// Environment variable names are what Kubernetes accepts (issue 16, item 10: any
/// printable ASCII but `=`), so the hostile strings that are printable ASCII are valid
/// names: as `env`, `env-secret` and `depends-on env=` names they reach values.yaml, every
/// rendered manifest and Helm's own rendering exactly, as the YAML writer quotes them.
#[test]
fn printable_hostile_env_names_arrive_exactly() {
    let mut names: Vec<String> = hostile_values()
        .into_iter()
        .filter(|v| {
            !v.is_empty() && v.len() < 200 && v.chars().all(|c| c == ' ' || c.is_ascii_graphic())
        })
        .filter(|v| !v.contains('='))
        .collect();
    names.push("a\"b{{x}}$(id)'".to_owned());
    names.push("spring.rabbitmq.host".to_owned());
    names.sort();
    names.dedup();
    assert!(names.len() > 15, "{names:?}");
    let tmp = tempfile::Builder::new()
        .prefix("nestioc-hostile-env-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = String::from(
        "project \"p\" {\n    registry \"ghcr.io/acme\"\n    environment \"prod\"\n}\nservice \"db\" {\n    uses \"http-service\"\n    image \"db\" tag=\"1.0.0\"\n}\nservice \"api\" {\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n",
    );
    let (secret_name, dependency_name) = ("'$(secret)' {{ .x }}", "#dep: \"addr\"");
    for (i, n) in names.iter().enumerate() {
        let _ = writeln!(s, "    env {} \"v{i}\"", kdl_quote(n));
    }
    let _ = writeln!(
        s,
        "    env-secret {} secret=\"api\" key=\"k\"",
        kdl_quote(secret_name)
    );
    let _ = writeln!(
        s,
        "    depends-on \"db\" env={}",
        kdl_quote(dependency_name)
    );
    s.push_str("}\n");
    std::fs::write(dir.join("nestio.kdl"), s).unwrap();
    let c = compile(&dir, &nestioc::Options::default());
    assert!(
        c.analysis
            .diagnostics
            .iter()
            .all(|d| d.severity != nestioc::diag::Severity::Error),
        "{}",
        render_human(&c.analysis)
    );
    let files = crate::support::artifacts_of(&dir);
    let check = |what: &str, env: &[Value]| {
        let got: BTreeMap<&str, &Value> = env
            .iter()
            .map(|e| (e["name"].as_str().expect("name"), e))
            .collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(
                got.get(n.as_str()).map(|e| &e["value"]),
                Some(&Value::from(format!("v{i}"))),
                "{what}: env {n:?}"
            );
        }
        assert_eq!(
            got.get(secret_name)
                .map(|e| &e["valueFrom"]["secretKeyRef"]["key"]),
            Some(&Value::from("k")),
            "{what}: env-secret"
        );
        assert_eq!(
            got.get(dependency_name).map(|e| &e["value"]),
            Some(&Value::from("db:8080")),
            "{what}: depends-on env="
        );
    };
    let values = &yaml_docs(&files["helm/api/values.yaml"])[0][crate::support::SHARED_CHART];
    check("values.yaml", values["env"].as_array().expect("env"));
    let docs = yaml_docs(&files["kubernetes/prod/api.yaml"]);
    let workload = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let env = workload["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    check("kubernetes/prod/api.yaml", &env);
    let Some(helm) = tool("nestioc-helm-check") else {
        return;
    };
    let out = tempfile::Builder::new()
        .prefix("nestioc-hostile-env-out-")
        .tempdir()
        .unwrap();
    for (path, text) in &files {
        let f = out.path().join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    let vendored = tempfile::tempdir().unwrap();
    let chart = crate::support::vendor_chart(&out.path().join("helm"), "api", vendored.path());
    let rendered = tempfile::Builder::new()
        .prefix("nestioc-hostile-env-rendered-")
        .tempdir()
        .unwrap();
    let o = Command::new(&helm)
        .arg(&chart)
        .arg("-f")
        .arg(chart.join("values-prod.yaml"))
        .args(["--strict", "--release", "api", "--namespace", "p", "--out"])
        .arg(rendered.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "helm:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut docs = Vec::new();
    for e in walkdir::WalkDir::new(rendered.path()) {
        let e = e.unwrap();
        if e.path().extension().is_some_and(|x| x == "yaml") {
            docs.extend(yaml_docs(&std::fs::read_to_string(e.path()).unwrap()));
        }
    }
    let workload = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let env = workload["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    check("helm template", &env);
}

/// PromQL written by the author (custom SLIs) reaches the Prometheus rules and the
/// PrometheusRule object exactly, with only the window filled in; promtool accepts the
/// rules. (Dashboards and rollout analyses read the recording rules, not the query.)
#[test]
fn custom_sli_queries_arrive_exactly_in_yaml_and_json() {
    let (_tmp, dir) = hostile_project(&["x".to_owned()]);
    let files = crate::support::artifacts_of(&dir);
    let expected = |w: &str| [ERRORS_QUERY, TOTAL_QUERY].map(|q| q.replace("{{window}}", w));
    // The default form writes the rules as a PrometheusRule: its spec is the rule file.
    let rules_text = serde_saphyr::to_string(
        &yaml_docs(&files["prometheus/api.prometheusrule.yaml"])[0]["spec"],
    )
    .unwrap();
    assert!(!files.contains_key("prometheus/api.rules.yaml"), "one form");
    let rules = yaml_docs(&rules_text);
    let exprs: Vec<String> = rules
        .iter()
        .flat_map(|d| d["groups"].as_array().cloned().unwrap_or_default())
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["expr"].as_str().map(str::to_owned))
        .collect();
    for q in expected("5m") {
        assert!(
            exprs.iter().any(|e| e.contains(&q)),
            "rules lost {q}:\n{exprs:#?}"
        );
    }
    // The PrometheusRule object carries the same rules.
    let crd = yaml_docs(&files["prometheus/api.prometheusrule.yaml"]);
    let crd_exprs = serde_json::to_string(&crd).unwrap();
    for q in expected("5m") {
        let json = serde_json::to_string(&q).unwrap();
        assert!(
            crd_exprs.contains(json.trim_matches('"')),
            "PrometheusRule lost {q}"
        );
    }
    if let Some(promtool) = tool("promtool") {
        let f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
        std::fs::write(f.path(), &rules_text).unwrap();
        let o = Command::new(promtool)
            .args(["check", "rules"])
            .arg(f.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "promtool:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// HTML in the report: every user string is escaped; the only script is the page's own.
#[test]
fn the_report_escapes_what_the_topology_says() {
    let (_tmp, dir) = hostile_project(&["x".to_owned()]);
    let (sources, pre) =
        nestioc::driver::load_project(&dir, &dir.join("generated")).expect("loads");
    let a = nestioc::analyze(sources, pre, &nestioc::Options::default(), &mut |_| {});
    let page = nestioc::report::html(&nestioc::report::Input {
        model: a.model.as_ref().unwrap(),
        topology: a.topology.as_ref().unwrap(),
        sources: &a.sources,
        base: None,
    });
    assert_eq!(
        page.matches("<script").count(),
        1,
        "one script, the page's own"
    );
    assert_eq!(page.matches("</script>").count(), 1);
    // The expose path, with `'`, `&` and `$`, appears escaped.
    assert!(
        page.contains("/a&#39;b(c)$d&amp;e;f=g:h@i!j~k*l+m,n%20"),
        "{}",
        page.lines()
            .filter(|l| l.contains("/a"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Fields whose value reaches a context where it cannot be quoted (PromQL label matchers,
/// Kubernetes names and labels, DNS, shell and Dockerfile arguments, file paths) are
/// checked by lowering: a hostile value is an error with a code, a span on the value, a
/// label and a help, and nothing is generated.
#[test]
fn hostile_values_in_closed_fields_are_rejected_with_a_located_diagnostic() {
    let hostile = "a\"b{{x}}$(id)\n'";
    let q = kdl_quote(hostile);
    let cases: Vec<(&str, String)> = vec![
        ("owner (alert label, PromQL matcher)", format!("owner {q}")),
        ("image name", format!("image {q} tag=\"1.0.0\"")),
        ("image tag", format!("image \"api\" tag={q}")),
        ("image digest", format!("image \"api\" digest={q}")),
        // Each part of a full reference (issue 16, item 1): the registry host and the
        // repository reach `docker build -t`/`docker login` in CI, the tag `--helm-set`.
        (
            "image reference: registry",
            format!("image {}", kdl_quote(&format!("{hostile}/api:1.0.0"))),
        ),
        (
            "image reference: path",
            format!("image {}", kdl_quote(&format!("ghcr.io/{hostile}:1.0.0"))),
        ),
        (
            "image reference: tag",
            format!("image {}", kdl_quote(&format!("api:{hostile}"))),
        ),
        (
            "image reference: digest",
            format!("image {}", kdl_quote(&format!("api:1.0.0@{hostile}"))),
        ),
        (
            "source path (CI filters, shell, Docker context)",
            format!("source {q}"),
        ),
        ("probe path", format!("probe \"http\" path={q}")),
        ("expose host", format!("expose host={q}")),
        (
            "expose path",
            format!("expose host=\"a.example.com\" path={q}"),
        ),
        ("external host", format!("external \"x\" host={q}")),
        (
            "secret name",
            format!("env-secret \"A\" secret={q} key=\"k\""),
        ),
        (
            "secret key",
            format!("env-secret \"A\" secret=\"s\" key={q}"),
        ),
        ("env name", format!("env {q} \"v\"")),
        ("dependency env", format!("depends-on \"db\" env={q}")),
        ("volume path", format!("volume \"data\" path={q}")),
        ("schedule", format!("schedule {q}")),
        (
            "ci test command",
            format!("ci {{\n        test {q}\n    }}"),
        ),
        ("logs pattern", format!("logs format=\"regex\" pattern={q}")),
        (
            "tls secret",
            format!("expose host=\"a.example.com\" tls-secret={q}"),
        ),
        ("port name", format!("port {q} 8080")),
        ("annotation key", format!("annotation {q} \"v\"")),
        (
            "service-annotation key",
            format!("service-annotation {q} \"v\""),
        ),
        ("label key", format!("label {q} \"v\"")),
        ("label value", format!("label \"team\" {q}")),
        ("capability", format!("security add-capabilities={q}")),
        (
            "sidecar name",
            format!("sidecar {q} {{\n        image \"x\" tag=\"1.0.0\"\n    }}"),
        ),
        (
            "init-container name",
            format!("init-container {q} {{\n        image \"x\" tag=\"1.0.0\"\n    }}"),
        ),
        (
            "sidecar port name",
            format!(
                "sidecar \"x\" {{\n        image \"x\" tag=\"1.0.0\"\n        port {q} 9000\n    }}"
            ),
        ),
        (
            "sidecar volume path",
            format!(
                "sidecar \"x\" {{\n        image \"x\" tag=\"1.0.0\"\n        volume \"v\" path={q}\n    }}"
            ),
        ),
        (
            "published port name",
            format!("port \"tcp\" 1883 protocol=\"tcp\"\n    expose node-port=30001 port={q}"),
        ),
        ("node port", format!("expose node-port={q}")),
        ("load balancer", format!("expose load-balancer={q}")),
        ("replicas scale", format!("replicas 1 scale={q}")),
    ];
    let project_cases: Vec<(&str, String)> = vec![
        ("namespace", format!("namespace {q}")),
        ("registry", format!("registry {q}")),
        ("cd repository", format!("cd \"argocd\" repository={q}")),
        (
            "cd revision",
            format!("cd \"argocd\" repository=\"https://g.example/r.git\" revision={q}"),
        ),
        (
            "cd path",
            format!("cd \"argocd\" repository=\"https://g.example/r.git\" path={q}"),
        ),
        ("environment name", format!("environment {q}")),
        (
            "environment namespace",
            format!("environment \"prod\" {{\n        namespace {q}\n    }}"),
        ),
        (
            "elasticsearch URL",
            format!("logging \"fluentd\" {{\n        elasticsearch {q}\n    }}"),
        ),
    ];
    let mut failures = String::new();
    for (what, line, in_project) in cases
        .iter()
        .map(|(w, l)| (w, l, false))
        .chain(project_cases.iter().map(|(w, l)| (w, l, true)))
    {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let project_extra = if in_project {
            format!("    {line}\n")
        } else {
            String::new()
        };
        let registry = if line.starts_with("registry") {
            ""
        } else {
            "    registry \"ghcr.io/acme\"\n"
        };
        let service_extra = if in_project {
            String::new()
        } else {
            format!("    {line}\n")
        };
        std::fs::write(
            dir.join("nestio.kdl"),
            format!(
                "project \"p\" {{\n{registry}{project_extra}}}\n\nservice \"db\" {{\n    uses \"http-service\"\n    image \"db\" tag=\"1.0.0\"\n}}\n\nservice \"api\" {{\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n    language \"go\"\n{service_extra}}}\n"
            ),
        )
        .unwrap();
        let c = compile(dir, &nestioc::Options::default());
        let errors: Vec<&nestioc::diag::Diagnostic> = c
            .analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity == nestioc::diag::Severity::Error)
            .collect();
        let located = errors.iter().any(|d| {
            let text = &c.analysis.sources.get(d.labels[0].span.source).text;
            !d.labels.is_empty()
                && !d.labels[0].message.is_empty()
                && d.help.is_some()
                && text[d.labels[0].span.range()].contains("a\\\"b")
        });
        if c.artifacts.is_some() || !located {
            let _ = writeln!(
                failures,
                "{what}: {}",
                if c.artifacts.is_some() {
                    "accepted".to_owned()
                } else {
                    format!("no located error:\n{}", render_human(&c.analysis))
                }
            );
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// The validator `name`, or `None` when it is not installed (see
/// [`crate::support::validator`]).
fn tool(name: &str) -> Option<PathBuf> {
    crate::support::validator("hostile", name)
}
