//! Every diagnostic code in every machine format: for each invalid fixture (one per
//! code), the `json` lines carry the documented fields and point inside the file, the
//! `github` lines are well-formed workflow commands, and the `sarif` logs validate
//! against the official SARIF 2.1.0 schema (check-jsonschema). `human` is the fixtures'
//! own snapshots. NST0401 (a hand-edited output) comes from a real build.

use std::path::{Path, PathBuf};
use std::process::Command;

use nestioc::diag::render::{self, Format, RenderOptions};
use serde_json::Value;

use crate::prometheus::tool;
use crate::support::{compile, fixture_options, root, subdirs};

struct Rendered {
    case: String,
    code: String,
    json: String,
    github: String,
    sarif: String,
    /// Lines per file, to check positions.
    files: Vec<(String, usize)>,
}

fn render_fixture(dir: &Path) -> Rendered {
    let case = dir.file_name().unwrap().to_string_lossy().into_owned();
    let c = compile(dir, &fixture_options(dir));
    let opts = RenderOptions {
        prefix: String::new(),
        color: false,
        width: Some(80),
    };
    let d = &c.analysis.diagnostics;
    let s = &c.analysis.sources;
    let files = s
        .iter()
        .map(|(_, src)| (src.name.clone(), src.text.lines().count().max(1)))
        .collect();
    Rendered {
        code: case.chars().take(7).collect(),
        json: render::render(d, s, Format::Json, &opts),
        github: render::render(d, s, Format::Github, &opts),
        sarif: render::render(d, s, Format::Sarif, &opts),
        files,
        case,
    }
}

fn check_json(r: &Rendered) {
    let mut codes = Vec::new();
    for line in r.json.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", r.case));
        for key in ["code", "name", "severity", "message", "labels", "notes"] {
            assert!(v.get(key).is_some(), "{}: no `{key}` in {line}", r.case);
        }
        assert!(matches!(v["severity"].as_str(), Some("error" | "warning")));
        codes.push(v["code"].as_str().unwrap().to_owned());
        if let Some(file) = v["file"].as_str() {
            let lines = r
                .files
                .iter()
                .find(|(n, _)| n == file)
                .map(|(_, l)| *l)
                .unwrap_or_else(|| panic!("{}: unknown file {file}", r.case));
            let line_no = v["line"].as_u64().unwrap() as usize;
            let col = v["column"].as_u64().unwrap();
            assert!(
                line_no >= 1 && line_no <= lines + 1,
                "{}: line {line_no}",
                r.case
            );
            assert!(col >= 1);
            let end = &v["end"];
            assert!(
                (
                    end["line"].as_u64().unwrap(),
                    end["column"].as_u64().unwrap()
                ) >= (line_no as u64, col),
                "{}: end before start in {line}",
                r.case
            );
        }
    }
    assert!(
        codes.contains(&r.code),
        "{}: {} not in {codes:?}",
        r.case,
        r.code
    );
}

fn check_github(r: &Rendered) {
    let mut found = false;
    for line in r.github.lines() {
        let (kind, rest) = line
            .strip_prefix("::")
            .and_then(|l| l.split_once(' '))
            .unwrap_or_else(|| panic!("{}: not a workflow command: {line}", r.case));
        assert!(matches!(kind, "error" | "warning"), "{}: {line}", r.case);
        let (props, message) = rest
            .split_once("::")
            .unwrap_or_else(|| panic!("{}: no message: {line}", r.case));
        assert!(!message.is_empty());
        // Properties are comma-separated key=value, with `,` and `:` escaped in values.
        for p in props.split(',') {
            let (k, v) = p
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: bad property {p:?}", r.case));
            assert!(
                matches!(
                    k,
                    "file" | "line" | "col" | "endLine" | "endColumn" | "title"
                ),
                "{}: property {k}",
                r.case
            );
            if matches!(k, "line" | "col" | "endLine" | "endColumn") {
                v.parse::<u32>()
                    .unwrap_or_else(|_| panic!("{}: {k}={v}", r.case));
            }
            assert!(!v.contains('\n') && !v.contains('\r'));
        }
        if props.contains(&format!("title={}", r.code)) {
            found = true;
        }
    }
    assert!(found, "{}: no {} annotation:\n{}", r.case, r.code, r.github);
}

fn sarif_schema() -> Option<PathBuf> {
    let p = root().join(".node-validators/schemas/sarif-schema-2.1.0.json");
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("NESTIOC_REQUIRE_VALIDATORS").is_none_or(|v| v != "1"),
        "the SARIF 2.1.0 schema is missing; run scripts/install-validators.sh"
    );
    None
}

fn check_sarif_against_schema(logs: &[(String, String)]) {
    let (Some(schema), Some(cj)) = (sarif_schema(), tool("check-jsonschema")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (case, text) in logs {
        let f = tmp.path().join(format!("{case}.sarif.json"));
        std::fs::write(&f, text).unwrap();
        files.push(f);
    }
    // The official schema's language pattern has an unmatched `]`, which ECMAScript's
    // unicode mode rejects: read its patterns as Python regexes.
    let o = Command::new(cj)
        .args(["--regex-variant", "python"])
        .arg("--schemafile")
        .arg(&schema)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "SARIF logs do not validate:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn check_sarif(r: &Rendered) {
    let v: Value = serde_json::from_str(&r.sarif).expect("sarif is JSON");
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let results = run["results"].as_array().unwrap();
    assert!(
        results.iter().any(|x| x["ruleId"] == r.code.as_str()),
        "{}: no result for {}",
        r.case,
        r.code
    );
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    for x in results {
        assert!(
            rules.contains(&x["ruleId"].as_str().unwrap()),
            "{}: rule listed",
            r.case
        );
    }
}

#[test]
fn every_code_renders_in_every_format() {
    let mut logs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for dir in subdirs(&root().join("tests/fixtures/invalid")) {
        let mut r = render_fixture(&dir);
        if !r.code.starts_with("NST") {
            // A fixture not named after a code: check what it reports first.
            let first: Value = serde_json::from_str(r.json.lines().next().unwrap()).unwrap();
            r.code = first["code"].as_str().unwrap().to_owned();
        }
        check_json(&r);
        check_github(&r);
        check_sarif(&r);
        seen.insert(r.code.clone());
        logs.push((r.case.clone(), r.sarif.clone()));
    }
    // NST0401 and NST0404 are reported by the writer: a real build over a hand-edited
    // file, and over an output directory with a symbolic link in it.
    for (case, code, outputs) in [hand_edited(), symlinked_output()] {
        let r = Rendered {
            case,
            code,
            json: outputs[0].clone(),
            github: outputs[1].clone(),
            sarif: outputs[2].clone(),
            files: Vec::new(),
        };
        check_json(&r);
        check_github(&r);
        check_sarif(&r);
        seen.insert(r.code.clone());
        logs.push((r.case.clone(), r.sarif.clone()));
    }
    for c in nestioc::diag::Code::ALL {
        assert!(seen.contains(c.as_str()), "no fixture renders {c}");
    }
    check_sarif_against_schema(&logs);
}

/// `nestioc build --format F` over a generated file edited by hand, for each format.
fn hand_edited() -> (String, String, Vec<String>) {
    refused_build("NST0401-hand-edited", "NST0401", |dir| {
        let f = dir.join("generated/kubernetes/default/greeter.yaml");
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, format!("{text}# mine\n")).unwrap();
    })
}

fn symlinked_output() -> (String, String, Vec<String>) {
    refused_build("NST0404-symlinked-output", "NST0404", |dir| {
        let f = dir.join("generated/kubernetes/default/greeter.yaml");
        std::fs::remove_file(&f).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("nestio.kdl"), &f).unwrap();
    })
}

/// The minimal example built, its output tampered with, then built again after a change
/// in every format: the writer refuses.
fn refused_build(
    case: &str,
    code: &str,
    tamper: impl Fn(&std::path::Path),
) -> (String, String, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    for e in walkdir::WalkDir::new(root().join("examples/minimal")) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root().join("examples/minimal"))
            .unwrap();
        if rel.starts_with("generated") {
            continue;
        }
        let to = dir.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
    let bin = env!("CARGO_BIN_EXE_nestioc");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    assert!(run(&["build"]).status.success());
    tamper(&dir);
    let kdl = std::fs::read_to_string(dir.join("nestio.kdl")).unwrap();
    std::fs::write(dir.join("nestio.kdl"), kdl.replace("1.0.0", "1.0.1")).unwrap();
    let outputs = ["json", "github", "sarif"]
        .iter()
        .map(|f| {
            let o = run(&["build", "--format", f]);
            assert_eq!(o.status.code(), Some(1));
            String::from_utf8_lossy(&o.stderr).into_owned()
        })
        .collect();
    (case.into(), code.into(), outputs)
}
