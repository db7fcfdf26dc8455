//! Property tests (proptest) on generated valid topologies: they compile with zero errors,
//! every emitted YAML and JSON file parses, and the values that came from the topology
//! (environment variable values, container arguments, images, hosts) parse back to exactly
//! the literal that was written.
//!
//! 32 cases by default; `PROPTEST_CASES=1000 cargo test --test integration properties`
//! runs more. A failure prints the shrunk topology.
//!
//! And formatting then compiling gives the same artifacts: each generated topology is
//! written with a random layout (indentation, spacing, blank lines), formatted with
//! `nestioc::fmt`, and both are compiled; the artifacts are identical but for the line
//! numbers in `nestio.dev/source` annotations, which formatting may move.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use proptest::prelude::*;
use serde_json::Value;

use crate::hostile::kdl_quote;

/// Free text as the language accepts it: anything but NUL, NEL, LINE SEPARATOR and
/// PARAGRAPH SEPARATOR (NST0117), with the characters that mean something in YAML, shell, Go
/// templates and Groovy over-represented.
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\u{0}\u{85}\u{2028}\u{2029}]{0,24}",
        "[a-z{}$'\"\\\\#:&*!|>%@` \n\t\\[\\]-]{0,24}",
        Just(String::new()),
        prop_oneof![
            Just("{{ .Values }}"),
            Just("${{ secrets.X }}"),
            Just("yes"),
            Just("null"),
            Just("0x10"),
            Just("'''"),
            Just("- a"),
            Just("a: b"),
            Just("</script>"),
        ]
        .prop_map(str::to_owned),
    ]
}

#[derive(Debug, Clone)]
struct Svc {
    /// 0 HTTP service, 1 gRPC service, 2 worker (no port).
    kind: u8,
    tag: String,
    env: Vec<String>,
    args: Vec<String>,
    /// Callees, as indices below this service's own (a DAG).
    deps: Vec<usize>,
    timeout_ms: Option<u16>,
    retries: Option<u8>,
    slo: Option<u16>,
    exposed: bool,
    owner: Option<String>,
    replicas: u8,
    language: Option<u8>,
}

#[derive(Debug, Clone)]
struct Topo {
    mesh: u8,
    environments: Vec<&'static str>,
    ci: Vec<&'static str>,
    services: Vec<Svc>,
}

fn svc(index: usize) -> impl Strategy<Value = Svc> {
    (
        0u8..3,
        "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        prop::collection::vec(free_text(), 0..4),
        prop::collection::vec(free_text(), 0..3),
        prop::collection::vec(0..index.max(1), 0..3),
        (prop::option::of(50u16..5000), prop::option::of(0u8..4)),
        prop::option::of(900u16..999),
        any::<bool>(),
        prop::option::of("[a-z][a-z0-9-]{0,14}[a-z0-9]"),
        (1u8..4, prop::option::of(0u8..6)),
    )
        .prop_map(
            move |(
                kind,
                tag,
                env,
                args,
                deps,
                (timeout_ms, retries),
                slo,
                exposed,
                owner,
                (replicas, language),
            )| {
                let mut deps = if index == 0 { Vec::new() } else { deps };
                deps.sort_unstable();
                deps.dedup();
                Svc {
                    kind,
                    tag,
                    env,
                    args,
                    deps,
                    timeout_ms,
                    retries,
                    slo,
                    exposed,
                    owner,
                    replicas,
                    language,
                }
            },
        )
}

fn topo() -> impl Strategy<Value = Topo> {
    (
        0u8..3,
        prop::sample::subsequence(vec!["staging", "prod"], 0..=2),
        prop::sample::subsequence(
            vec!["github-actions", "gitlab", "circleci", "jenkins"],
            0..=4,
        ),
        1usize..6,
    )
        .prop_flat_map(|(mesh, environments, ci, n)| {
            let services: Vec<_> = (0..n).map(svc).collect();
            (Just(mesh), Just(environments), Just(ci), services)
        })
        .prop_map(|(mesh, environments, ci, services)| Topo {
            mesh,
            environments,
            ci,
            services,
        })
}

const LANGUAGES: [&str; 6] = ["go", "rust", "node", "python", "java", "dotnet"];

impl Topo {
    fn mesh(&self) -> &'static str {
        ["istio", "linkerd", "none"][usize::from(self.mesh)]
    }

    /// Can service `i` be called (has a port)?
    fn callable(&self, i: usize) -> bool {
        self.services[i].kind != 2
    }

    fn kdl(&self) -> String {
        let mut s = format!(
            "project \"prop\" {{\n    registry \"ghcr.io/acme\"\n    mesh \"{}\"\n",
            self.mesh()
        );
        if !self.ci.is_empty() {
            s.push_str("    ci");
            for c in &self.ci {
                let _ = write!(s, " \"{c}\"");
            }
            s.push('\n');
        }
        for e in &self.environments {
            let _ = writeln!(s, "    environment \"{e}\"");
        }
        s.push_str("}\n");
        for (i, v) in self.services.iter().enumerate() {
            let template = ["http-service", "grpc-service", "worker"][usize::from(v.kind)];
            let _ = writeln!(
                s,
                "\nservice \"svc-{i}\" {{\n    uses \"{template}\"\n    image \"svc-{i}\" tag=\"{}\"\n    replicas {}",
                v.tag, v.replicas
            );
            if let Some(l) = v.language {
                let _ = writeln!(
                    s,
                    "    language \"{}\"\n    source \"src/svc-{i}\"",
                    LANGUAGES[usize::from(l)]
                );
            }
            if let Some(o) = &v.owner {
                let _ = writeln!(s, "    owner \"{o}\"");
            }
            for (k, e) in v.env.iter().enumerate() {
                let _ = writeln!(s, "    env \"VAR_{k}\" {}", kdl_quote(e));
            }
            if !v.args.is_empty() {
                s.push_str("    args");
                for a in &v.args {
                    let _ = write!(s, " {}", kdl_quote(a));
                }
                s.push('\n');
            }
            for &d in &v.deps {
                if !self.callable(d) {
                    continue;
                }
                let _ = write!(s, "    depends-on \"svc-{d}\"");
                if self.mesh() != "none" {
                    if let Some(t) = v.timeout_ms {
                        let _ = write!(s, " timeout=\"{t}ms\"");
                    }
                    if let Some(r) = v.retries {
                        let _ = write!(s, " retries={r}");
                    }
                }
                s.push('\n');
            }
            if let Some(t) = v.slo {
                let _ = writeln!(s, "    slo \"availability\" target={}.{}", t / 10, t % 10);
            }
            if v.exposed && v.kind == 0 {
                let _ = writeln!(s, "    expose host=\"svc-{i}.example.com\"");
            }
            s.push_str("}\n");
        }
        s
    }
}

fn compile_topo(t: &Topo) -> (String, BTreeMap<String, String>) {
    let text = t.kdl();
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("nestio.kdl"), &text).expect("write");
    let c = crate::support::compile(tmp.path(), &nestioc::Options::default());
    let errors: Vec<_> = c
        .analysis
        .diagnostics
        .iter()
        .filter(|d| d.severity == nestioc::diag::Severity::Error)
        .collect();
    assert!(
        errors.is_empty(),
        "a valid topology has errors:\n{text}\n{}",
        crate::support::render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    (
        text,
        set.files
            .into_iter()
            .map(|(p, a)| (p, a.contents))
            .collect(),
    )
}

fn cases() -> u32 {
    std::env::var_os("PROPTEST_CASES")
        .and_then(|v| v.to_str()?.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_topologies_compile_and_every_output_parses_to_the_intended_values(t in topo()) {
        let (text, files) = compile_topo(&t);
        // Every YAML and JSON file parses.
        let mut yaml: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for (path, contents) in &files {
            if path.ends_with(".json") {
                prop_assert!(serde_json::from_str::<Value>(contents).is_ok(), "{path} is not JSON");
            } else if (path.ends_with(".yaml") || path.ends_with(".yml")) && !path.contains("/templates/") {
                match serde_saphyr::from_multiple::<Value>(contents) {
                    Ok(docs) => {
                        yaml.insert(path, docs);
                    }
                    Err(e) => prop_assert!(false, "{path} is not YAML: {e}\n{text}"),
                }
            }
        }
        // The values of the topology, exactly, in every environment's manifests.
        let envs: Vec<&str> = if t.environments.is_empty() { vec!["default"] } else { t.environments.clone() };
        for env in envs {
            for (i, v) in t.services.iter().enumerate() {
                let path = format!("kubernetes/{env}/svc-{i}.yaml");
                let docs = yaml.get(path.as_str()).ok_or_else(|| TestCaseError::fail(format!("no {path}")))?;
                let workload = docs
                    .iter()
                    .find(|d| matches!(d["kind"].as_str(), Some("Deployment" | "StatefulSet" | "Rollout" | "CronJob")))
                    .ok_or_else(|| TestCaseError::fail(format!("{path}: no workload")))?;
                let c = &workload["spec"]["template"]["spec"]["containers"][0];
                // The project registry only for the images the project builds (here: with a
                // `language` and a `source`); others are pulled as written (issue 15, item 6).
                let image = if v.language.is_some() {
                    format!("ghcr.io/acme/svc-{i}:{}", v.tag)
                } else {
                    format!("svc-{i}:{}", v.tag)
                };
                prop_assert_eq!(c["image"].as_str(), Some(image.as_str()));
                let env_vars: BTreeMap<&str, &Value> = c["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| Some((e["name"].as_str()?, &e["value"])))
                    .collect();
                for (k, value) in v.env.iter().enumerate() {
                    let name = format!("VAR_{k}");
                    prop_assert_eq!(
                        env_vars.get(name.as_str()).and_then(|x| x.as_str()),
                        Some(value.as_str()),
                        "{} {}", path, name
                    );
                }
                let args: Vec<&str> = c["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let expected: Vec<&str> = v.args.iter().map(String::as_str).collect();
                prop_assert_eq!(args, expected, "{} args", path);
                if v.exposed && v.kind == 0 {
                    // An Ingress, or with Istio a Gateway and VirtualService: the host,
                    // exactly; `<env>.<host>` outside production (`prod` syncs manually;
                    // a single environment is production).
                    let production = env == "prod" || t.environments.len() <= 1;
                    let host = Value::from(if production {
                        format!("svc-{i}.example.com")
                    } else {
                        format!("{env}.svc-{i}.example.com")
                    });
                    fn has(v: &Value, x: &Value) -> bool {
                        v == x
                            || match v {
                                Value::Array(a) => a.iter().any(|e| has(e, x)),
                                Value::Object(o) => o.values().any(|e| has(e, x)),
                                _ => false,
                            }
                    }
                    let found = yaml
                        .iter()
                        .filter(|(p, _)| p.starts_with(&format!("kubernetes/{env}/")))
                        .any(|(_, docs)| docs.iter().any(|d| has(&d["spec"], &host)));
                    prop_assert!(found, "{} is exposed, but no object names its host", i);
                }
            }
        }
    }

    #[test]
    fn formatting_then_compiling_gives_the_same_artifacts(
        t in topo(),
        layout in prop::collection::vec((0u8..4, any::<bool>()), 1..16),
    ) {
        let text = messy(&t.kdl(), &layout);
        let mut diags = nestioc::diag::Diagnostics::new();
        let formatted = nestioc::fmt::format_source(nestioc::source::SourceId(0), &text, &mut diags)
            .ok_or_else(|| TestCaseError::fail(format!("fmt refused:\n{text}")))?;
        let a = compile_text(&text);
        let b = compile_text(&formatted);
        prop_assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (path, x) in &a {
            prop_assert!(
                without_lines(x) == without_lines(&b[path]),
                "{} differs after formatting:\n{}\n---\n{}", path, text, formatted
            );
        }
    }
}

/// The same KDL with another layout: each line re-indented (tabs, two or eight spaces),
/// spaces doubled between entries, blank lines added, as `layout` says line by line.
fn messy(text: &str, layout: &[(u8, bool)]) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let (indent, blank) = layout[i % layout.len()];
        let body = line.trim_start();
        let depth = (line.len() - body.len()) / 4;
        let unit = ["\t", "  ", "        ", "    "][usize::from(indent)];
        if blank && i > 0 {
            out.push('\n');
        }
        out.push_str(&unit.repeat(depth));
        // Doubling spaces outside strings would change values: only between a node name
        // and a first quoted argument.
        if let Some((head, rest)) = body.split_once(" \"") {
            if !head.contains('"') && indent == 2 {
                let _ = write!(out, "{head}   \"{rest}");
            } else {
                out.push_str(body);
            }
        } else {
            out.push_str(body);
        }
        out.push('\n');
    }
    out
}

fn compile_text(text: &str) -> BTreeMap<String, String> {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("nestio.kdl"), text).expect("write");
    let c = crate::support::compile(tmp.path(), &nestioc::Options::default());
    let set = c.artifacts.unwrap_or_else(|| {
        panic!(
            "does not compile:\n{text}\n{}",
            crate::support::render_human(&c.analysis)
        )
    });
    set.files
        .into_iter()
        .map(|(p, a)| (p, a.contents))
        .collect()
}

/// `nestio.kdl:12` -> `nestio.kdl:N`.
/// A generated text with the line numbers of its source locations masked (formatting moves
/// lines), and so the build metadata of chart versions, which digest the values that carry
/// those locations (`nestio.dev/source` annotations are deployed: a moved line is a new
/// chart version, as it should be).
fn without_lines(s: &str) -> String {
    let masked: String = s
        .lines()
        .map(|l| match l.split_once("version: ") {
            Some((head, v)) if v.contains('+') => {
                format!("{head}version: {}+M\n", v.split('+').next().unwrap_or(v))
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let s = masked.as_str();
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("nestio.kdl:") {
        let (head, tail) = rest.split_at(i + "nestio.kdl:".len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('N');
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}
