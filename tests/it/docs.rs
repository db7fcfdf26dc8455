//! Generated documentation is committed and must match the code. Regenerate with
//! `NESTIOC_UPDATE_DOCS=1 cargo test docs`.

use crate::support::root;

fn check_or_update(rel: &str, expected: &str) {
    let path = root().join(rel);
    if std::env::var_os("NESTIOC_UPDATE_DOCS").is_some() {
        std::fs::write(&path, expected).expect("write docs");
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{rel} is out of date: run `NESTIOC_UPDATE_DOCS=1 cargo test docs` and commit it"
    );
}

#[test]
fn docs_language_reference_is_up_to_date() {
    check_or_update("docs/language.md", &nestioc::lang::reference_markdown());
}

#[test]
fn docs_diagnostics_index_is_up_to_date() {
    let mut s = String::from(
        "<!-- Generated from compiler/src/diag/code.rs and docs/diagnostics/*.md by `NESTIOC_UPDATE_DOCS=1 cargo test docs`. Do not edit. -->\n\
         # Diagnostic codes\n\n\
         Every diagnostic has a stable code. `nestioc explain CODE` prints the full explanation \
         (also in `docs/diagnostics/CODE.md`). Warnings become errors under `--deny-warnings`. \
         A warning that was read and judged acceptable is accepted where it occurs, by code or \
         name: `allow \"image-user\"` inside the `service`, `template` or `project` it is \
         located in (say why in a comment next to it); errors cannot be allowed.\n\n\
         | code | name | severity | summary |\n|---|---|---|---|\n",
    );
    for c in nestioc::diag::Code::ALL {
        let summary = nestioc::diag::code::summary(c.explanation());
        let severity = match c.severity() {
            nestioc::diag::Severity::Error => "error",
            nestioc::diag::Severity::Warning => "warning",
        };
        s.push_str(&format!(
            "| [{}](diagnostics/{}.md) | `{}` | {severity} | {summary} |\n",
            c.as_str(),
            c.as_str(),
            c.slug()
        ));
    }
    check_or_update("docs/diagnostics.md", &s);
}

#[test]
fn docs_stdlib_is_up_to_date() {
    let mut s = String::from(
        "<!-- Generated from stdlib/templates/*.kdl by `NESTIOC_UPDATE_DOCS=1 cargo test docs`. Do not edit. -->\n\
         # The standard library\n\n\
         Presets embedded in `nestioc`, used with `uses \"std/NAME\"` (or `uses \"NAME\"` when \
         no project template has that name). Parameters are passed on the `uses` line: \
         `uses \"std/http-service\" port=9090`. Merge rules and precedence are in \
         [templates.md](templates.md). Every example below is compiled by the test suite.\n\n",
    );
    s.push_str("| preset | what it is |\n|---|---|\n");
    for (path, text) in nestioc::stdlib::FILES {
        let d = nestioc::stdlib::doc(text);
        let paragraph = d
            .prose
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .replace('\n', " ");
        let first = paragraph
            .split(": ")
            .next()
            .unwrap_or_default()
            .trim_end_matches('.');
        s.push_str(&format!("| [`std/{}`](#{}) | {first}. |\n", d.name, d.name));
        let _ = path;
    }
    for (path, text) in nestioc::stdlib::FILES {
        let d = nestioc::stdlib::doc(text);
        let body: String = text
            .lines()
            .skip_while(|l| l.starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        s.push_str(&format!(
            "\n## {}\n\n{}\n\nExample:\n\n```kdl\n{}\n```\n\nSource (`stdlib/{path}`):\n\n```kdl\n{}```\n",
            d.name, d.prose, d.example, body
        ));
    }
    check_or_update("docs/stdlib.md", &s);
}

/// Every complete example (a ```kdl block with a `project`) in the docs compiles cleanly.
#[test]
fn docs_examples_compile_cleanly() {
    use nestioc::source::{Origin, Source, SourceMap};
    let mut checked = 0;
    for doc in [
        "docs/templates.md",
        "docs/outputs.md",
        "docs/checks.md",
        "README.md",
    ] {
        let text = std::fs::read_to_string(root().join(doc)).expect("doc");
        for block in text.split("```kdl\n").skip(1) {
            let Some(end) = block.find("```") else {
                continue;
            };
            let code = &block[..end];
            if !code.contains("project \"") {
                continue;
            }
            let mut sources = SourceMap::new();
            nestioc::stdlib::load(&mut sources);
            sources.add(Source::new("nestio.kdl", code, Origin::Project));
            let opts = nestioc::Options::default();
            let analysis = nestioc::analyze(
                sources,
                nestioc::diag::Diagnostics::new(),
                &opts,
                &mut |_| {},
            );
            assert!(
                analysis.diagnostics.is_empty(),
                "an example in {doc} has diagnostics:\n{code}\n{}",
                crate::support::render_human(&analysis)
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} examples found");
}

/// The JSON Schema of `graph/topology.json`, generated from the types that write it.
#[test]
fn schemas_topology_is_up_to_date() {
    check_or_update(
        "schemas/topology.schema.json",
        &nestioc::emit::graph::json_schema(),
    );
}

/// Every fixture's and example's `graph/topology.json` validates against that schema.
#[test]
fn topology_json_matches_its_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&nestioc::emit::graph::json_schema()).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let mut dirs = crate::support::subdirs(&root().join("examples"));
    dirs.extend(crate::support::subdirs(
        &root().join("tests/fixtures/valid"),
    ));
    for dir in dirs {
        let c = crate::support::compile(&dir, &crate::support::fixture_options(&dir));
        let Some(set) = c.artifacts else { continue };
        let Some(a) = set.files.get("graph/topology.json") else {
            continue;
        };
        let doc: serde_json::Value = serde_json::from_str(&a.contents).expect("json");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
    }
    // And the schema is not vacuous: an unknown field or a wrong kind fails.
    let bad = serde_json::json!({"$comment": "", "project": "p", "services": [{"name": "a", "file": "f", "tier": null, "owner": null, "kind": "daemon", "wave": 0, "ports": []}], "edges": [], "externals": [], "waves": [], "extra": 1});
    assert!(validator.iter_errors(&bad).count() >= 2);
}

/// The charts' `values.schema.json`, generated from the types that write `values.yaml`.
#[test]
fn schemas_helm_values_is_up_to_date() {
    check_or_update(
        "schemas/helm-values.schema.json",
        &nestioc::emit::chart::values::json_schema(),
    );
}

/// Every example's and fixture's chart values pass the generated schema as Helm applies
/// it (`values.yaml` with each `values-<env>.yaml` merged over it, and the umbrella
/// chart's `global` and `enabled`), and the schema refuses a misspelt key at any depth,
/// a value outside an enum, a name or port out of range.
#[test]
fn helm_values_match_their_schema() {
    use serde_json::{Value, json};
    let schema: Value =
        serde_json::from_str(&nestioc::emit::chart::values::json_schema()).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors =
        |v: &Value| -> Vec<String> { validator.iter_errors(v).map(|e| e.to_string()).collect() };
    let mut dirs = crate::support::subdirs(&root().join("examples"));
    dirs.extend(crate::support::subdirs(
        &root().join("tests/fixtures/valid"),
    ));
    let mut checked = 0;
    let mut sample: Option<Value> = None;
    for dir in dirs {
        let c = crate::support::compile(&dir, &crate::support::fixture_options(&dir));
        let Some(set) = c.artifacts else { continue };
        for (path, a) in &set.files {
            let Some(chart) = path.strip_suffix("/values.yaml") else {
                continue;
            };
            // A service's values are under the shared chart's key (Helm gives a subchart
            // the values under its name); the umbrella chart's are not.
            let scoped = |text: &str| -> Option<Value> {
                let v: Value = serde_saphyr::from_str(text).expect("values");
                v.get(crate::support::SHARED_CHART).cloned()
            };
            let Some(base) = scoped(&a.contents) else {
                continue;
            };
            let e = errors(&base);
            assert!(e.is_empty(), "{}: {path}: {e:?}", dir.display());
            for (other, env) in &set.files {
                let Some(rest) = other.strip_prefix(&format!("{chart}/values-")) else {
                    continue;
                };
                assert!(rest.ends_with(".yaml"), "{other}");
                let mut merged = base.clone();
                let over = scoped(&env.contents).expect("values-<env> of a service chart");
                nestioc::emit::chart::merge(&mut merged, &over);
                merged["global"] = json!({});
                merged["enabled"] = json!(true);
                let e = errors(&merged);
                assert!(e.is_empty(), "{}: {other}: {e:?}", dir.display());
                checked += 1;
            }
            let has_ports = base["ports"].as_array().is_some_and(|p| !p.is_empty());
            if sample.is_none() && has_ports && base.get("sidecars").is_some() {
                sample = Some(base);
            }
        }
    }
    assert!(checked > 50, "only {checked} values files checked");
    let good = sample.expect("a chart with ports and sidecars");
    assert!(errors(&good).is_empty());
    let broken = [
        ("/replicaCont", json!(1)),
        ("/autoscaling/enabeld", json!(true)),
        ("/image/pullPolicy", json!("Sometimes")),
        ("/name", json!("Bad_Name")),
        ("/ports/0/port", json!(70000)),
        ("/ports/0/appProtocol", json!("udp")),
        ("/workload", json!("DaemonSet")),
        ("/publicService/type", json!("ClusterIP")),
        ("/mesh/provider", json!("consul")),
        (
            "/volumes",
            json!([{"name": "data", "mountPath": "relative", "size": "1Gi"}]),
        ),
        ("/sidecars/0/env", json!([{"name": "1X", "value": "v"}])),
        ("/sidecars/0/imag", json!({})),
    ];
    for (pointer, value) in broken {
        let mut v = good.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let target = v
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{pointer}: nothing at {parent}"));
        target.insert(key.to_owned(), value);
        assert!(!errors(&v).is_empty(), "the schema accepts {pointer}");
    }
    let mut missing = good.clone();
    missing
        .as_object_mut()
        .expect("an object")
        .shift_remove("image");
    assert!(
        !errors(&missing).is_empty(),
        "the schema accepts values without an image"
    );
}

/// The "Not in the language" table names no node the language has: a name that became a
/// node (`allow`, `sidecar`, `command`) must leave it.
#[test]
fn names_offered_instead_are_not_nodes_of_the_language() {
    fn walk(spec: &nestioc::lang::NodeSpec, out: &mut Vec<&'static str>) {
        out.push(spec.name);
        for c in spec.children {
            walk(c, out);
        }
    }
    let mut nodes = Vec::new();
    for s in nestioc::lang::TOP_LEVEL {
        walk(s, &mut nodes);
    }
    for (names, _) in nestioc::lang::INSTEAD {
        for n in *names {
            assert!(!nodes.contains(n), "`{n}` is a node of the language");
        }
    }
}
