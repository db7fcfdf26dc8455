//! The CI targets (`github-actions`, `gitlab`, `circleci`, `jenkins`), on the CI fixtures
//! and on examples/shop:
//!
//! - the real validators: check-jsonschema with the vendored GitHub, GitLab and CircleCI
//!   schemas, actionlint on every workflow, checkov (`--framework github_actions`) on the
//!   workflows, npm-groovy-lint on every Jenkinsfile;
//! - the shape of the Jenkinsfile (a declarative pipeline: every stage has steps, every
//!   service stage a `when { changeset }`), which npm-groovy-lint does not check;
//! - the contract of each file: path filters from `source`, promotion by `branching`,
//!   least-privilege permissions, actions pinned to SHAs, no user string inside `${{ }}`;
//! - a hostile test command comes out of every system exactly as written.
//!
//! A validator is looked up on `PATH`, then in the repository's validator directories;
//! when it is missing the test prints a SKIPPED line and passes, unless
//! `NESTIOC_REQUIRE_VALIDATORS=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use nestioc::emit::ci;
use nestioc::model::{Branching, Cd, CiSystem};
use serde_json::Value;

use crate::support::{compile, fixture_options, render_human, root};

const CHECK: &str = "ci";

/// The validator `name`, or `None` when it is not installed (see
/// [`crate::support::validator`]).
fn tool(name: &str) -> Option<PathBuf> {
    crate::support::validator(CHECK, name)
}

fn run(cmd: &Path, args: &[&std::ffi::OsStr], cwd: &Path) -> (bool, String) {
    // The tool's own directory first on PATH: the venv's python, node beside npm tools.
    let mut path: Vec<PathBuf> = cmd.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(p) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&p));
    }
    let out = Command::new(cmd)
        .args(args)
        .current_dir(cwd)
        .env("PATH", std::env::join_paths(path).expect("PATH"))
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

/// One project built with the CI targets into a temporary directory (whose name does
/// not start with a dot: checkov skips hidden directories).
struct Built {
    name: String,
    out: PathBuf,
    files: BTreeMap<String, String>,
    model: nestioc::model::Model,
    _tmp: tempfile::TempDir,
}

impl Built {
    fn ci(&self) -> PathBuf {
        self.out.join("ci")
    }

    fn workflows(&self) -> Vec<(String, String)> {
        self.files
            .iter()
            .filter(|(p, _)| p.starts_with("ci/.github/workflows/"))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect()
    }

    fn file(&self, path: &str) -> &str {
        self.files
            .get(path)
            .unwrap_or_else(|| panic!("{}: no {path}", self.name))
    }
}

fn build_dir(name: &str, dir: &Path, opts: &nestioc::Options) -> Built {
    let c = compile(dir, opts);
    let set = c
        .artifacts
        .unwrap_or_else(|| panic!("{name} compiles:\n{}", render_human(&c.analysis)));
    let tmp = tempfile::Builder::new()
        .prefix("nestioc-ci-")
        .tempdir()
        .expect("tmp");
    let out = tmp.path().join("generated");
    let mut files = BTreeMap::new();
    for (path, a) in &set.files {
        if !path.starts_with("ci/") {
            continue;
        }
        let dest = out.join(path);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::write(&dest, &a.contents).expect("write");
        files.insert(path.clone(), a.contents.clone());
    }
    Built {
        name: name.to_owned(),
        out,
        files,
        model: c.analysis.model.expect("model"),
        _tmp: tmp,
    }
}

/// The CI fixtures and examples/shop, with every CI system.
fn builds() -> Vec<Built> {
    let mut out = Vec::new();
    for case in ["ci-trunk", "ci-gitflow"] {
        let dir = root().join("tests/fixtures/valid").join(case);
        out.push(build_dir(case, &dir, &fixture_options(&dir)));
    }
    let shop = build_dir(
        "shop",
        &root().join("examples/shop"),
        &nestioc::Options::default(),
    );
    assert_eq!(
        shop.model.project.ci,
        CiSystem::ALL,
        "examples/shop enables every CI system"
    );
    out.push(shop);
    out
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str::<Value>(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

/// Services that get a pipeline: a source directory, and a test or a Dockerfile.
fn piped(model: &nestioc::model::Model) -> Vec<&nestioc::model::Service> {
    model
        .services
        .values()
        .filter(|s| s.source_path.is_some() && (s.language.is_some() || s.ci_test.is_some()))
        .map(AsRef::as_ref)
        .collect()
}

// ------------------------------------------------------------------ validators

#[test]
fn ci_files_match_the_vendored_schemas() {
    let Some(cj) = tool("check-jsonschema") else {
        return;
    };
    for b in builds() {
        let ci = b.ci();
        let mut checks: Vec<(&str, Vec<PathBuf>)> = vec![
            (
                "vendor.github-workflows",
                b.workflows().iter().map(|(p, _)| b.out.join(p)).collect(),
            ),
            ("vendor.gitlab-ci", vec![ci.join(".gitlab-ci.yml")]),
            (
                "vendor.circle-ci",
                vec![
                    ci.join(".circleci/config.yml"),
                    ci.join(".circleci/continue_config.yml"),
                ],
            ),
        ];
        checks.retain(|(_, files)| !files.is_empty());
        assert_eq!(checks.len(), 3, "{}: every system's files", b.name);
        for (schema, files) in checks {
            let mut args: Vec<&std::ffi::OsStr> =
                vec!["--builtin-schema".as_ref(), schema.as_ref()];
            args.extend(files.iter().map(|f| f.as_os_str()));
            let (ok, text) = run(&cj, &args, &b.out);
            assert!(ok, "{}: check-jsonschema {schema}:\n{text}", b.name);
        }
    }
}

#[test]
fn actionlint_accepts_every_workflow() {
    let Some(al) = tool("actionlint") else {
        return;
    };
    for b in builds() {
        let files: Vec<PathBuf> = b.workflows().iter().map(|(p, _)| b.out.join(p)).collect();
        assert!(!files.is_empty(), "{}: workflows", b.name);
        let mut args: Vec<&std::ffi::OsStr> = vec!["-no-color".as_ref()];
        args.extend(files.iter().map(|f| f.as_os_str()));
        let (ok, text) = run(&al, &args, &b.out);
        assert!(ok, "{}: actionlint:\n{text}", b.name);
    }
}

#[test]
fn checkov_finds_nothing_in_the_workflows() {
    let Some(checkov) = tool("checkov") else {
        return;
    };
    for b in builds() {
        let ci = b.ci();
        let args: Vec<&std::ffi::OsStr> = [
            "-d".as_ref(),
            ci.as_os_str(),
            "--framework".as_ref(),
            "github_actions".as_ref(),
            "--skip-download".as_ref(),
            "-o".as_ref(),
            "json".as_ref(),
        ]
        .to_vec();
        let (_, text) = run(&checkov, &args, &b.out);
        let start = text.find('{').unwrap_or(0);
        let report: Value = serde_json::from_str(&text[start..]).unwrap_or_else(|e| {
            panic!("{}: checkov printed no JSON report ({e}):\n{text}", b.name)
        });
        let failed = report["results"]["failed_checks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            failed.is_empty(),
            "{}: checkov findings:\n{}",
            b.name,
            failed
                .iter()
                .map(|c| format!("{} {} ({})", c["check_id"], c["check_name"], c["file_path"]))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(report["summary"]["parsing_errors"], 0, "{}: {text}", b.name);
        // checkov silently skips a workflow that its own schema rejects: every file must
        // show up in the results.
        let scanned: BTreeSet<String> = report["results"]["passed_checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["file_path"].as_str())
            .map(|p| p.trim_start_matches('/').to_owned())
            .collect();
        for (path, _) in b.workflows() {
            let rel = path.trim_start_matches("ci/");
            assert!(
                scanned.contains(rel),
                "{}: checkov did not scan {rel} (scanned: {scanned:?})",
                b.name
            );
        }
    }
}

#[test]
fn npm_groovy_lint_accepts_every_jenkinsfile() {
    let Some(lint) = tool("npm-groovy-lint") else {
        return;
    };
    if tool("java").is_none() {
        return;
    }
    // One run for every Jenkinsfile: the linter starts a JVM each time (~10 s).
    let dir = tempfile::Builder::new()
        .prefix("nestioc-groovy-")
        .tempdir()
        .expect("tmp");
    let mut files = Vec::new();
    for b in builds() {
        let d = dir.path().join(&b.name);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("Jenkinsfile"), b.file("ci/Jenkinsfile")).expect("write");
        files.push(format!("{}/Jenkinsfile", b.name));
    }
    let mut args: Vec<&std::ffi::OsStr> = [
        "--noserver",
        "--no-insight",
        "--failon",
        "error",
        "--output",
        "txt",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .collect();
    args.extend(files.iter().map(std::ffi::OsStr::new));
    let (ok, text) = run(&lint, &args, dir.path());
    assert!(ok, "npm-groovy-lint:\n{text}");
    assert!(
        text.contains(&format!("results in \u{1b}[1m{}", files.len()))
            || text.contains(&format!("results in {}", files.len())),
        "npm-groovy-lint linted every file:\n{text}"
    );
}

// ------------------------------------------------------------------ Jenkinsfile shape

/// A block of Groovy: the text before its `{` and what it holds; statements are blocks
/// without children.
#[derive(Debug, Default, Clone)]
struct Block {
    head: String,
    children: Vec<Block>,
}

impl Block {
    fn find(&self, head: &str) -> Vec<&Block> {
        self.children.iter().filter(|b| b.head == head).collect()
    }

    fn one(&self, head: &str) -> &Block {
        let found = self.find(head);
        assert_eq!(found.len(), 1, "one `{head}` in `{}`", self.head);
        found[0]
    }

    fn statements(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.children {
            if c.children.is_empty() {
                out.push(c.head.clone());
            } else {
                out.extend(c.statements());
            }
        }
        out
    }
}

/// Decodes a single-quoted Groovy literal at the start of `s`: the value and the length
/// of the literal. `$` is literal; `\\`, `\'` and `\uXXXX` are escapes.
fn groovy_literal(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let mut out = String::new();
    let mut units: Vec<u16> = Vec::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => {
                out.push_str(&String::from_utf16(&units).ok()?);
                return Some((out, i + 1));
            }
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'u' => {
                        let hex: String =
                            (0..4).filter_map(|_| chars.next().map(|x| x.1)).collect();
                        units.push(u16::from_str_radix(&hex, 16).ok()?);
                        continue;
                    }
                    '\\' | '\'' => {
                        out.push_str(&String::from_utf16(&units).ok()?);
                        units.clear();
                        out.push(e);
                    }
                    _ => return None, // we never write other escapes
                }
            }
            c => {
                out.push_str(&String::from_utf16(&units).ok()?);
                units.clear();
                out.push(c);
            }
        }
    }
    None
}

/// Parses Groovy into blocks, string literals skipped as wholes (braces inside them do
/// not count); `//` comments dropped. Panics on unbalanced braces or unclosed strings.
fn groovy_blocks(text: &str) -> Block {
    let mut stack = vec![Block::default()];
    let mut buf = String::new();
    let mut rest = text;
    let flush = |buf: &mut String, stack: &mut Vec<Block>| {
        let t = buf.trim();
        if !t.is_empty() {
            stack.last_mut().expect("block").children.push(Block {
                head: t.to_owned(),
                children: Vec::new(),
            });
        }
        buf.clear();
    };
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            let (_, len) =
                groovy_literal(rest).unwrap_or_else(|| panic!("unclosed string: {rest}"));
            buf.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        }
        match c {
            '{' => {
                let head = buf.trim().to_owned();
                buf.clear();
                stack.push(Block {
                    head,
                    children: Vec::new(),
                });
            }
            '}' => {
                flush(&mut buf, &mut stack);
                let done = stack.pop().expect("balanced");
                stack
                    .last_mut()
                    .expect("unbalanced `}`")
                    .children
                    .push(done);
            }
            '\n' | ';' => flush(&mut buf, &mut stack),
            c => buf.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut buf, &mut stack);
    assert_eq!(stack.len(), 1, "unbalanced braces");
    stack.pop().expect("root")
}

/// `sh '...'` statements, decoded.
fn sh_commands(block: &Block) -> Vec<String> {
    block
        .statements()
        .iter()
        .filter_map(|s| s.strip_prefix("sh "))
        .map(|lit| {
            let (v, len) = groovy_literal(lit).unwrap_or_else(|| panic!("sh argument: {lit}"));
            assert_eq!(len, lit.len(), "one literal after sh: {lit}");
            v
        })
        .collect()
}

fn stage_name(head: &str) -> Option<String> {
    let lit = head.strip_prefix("stage(")?.strip_suffix(')')?;
    groovy_literal(lit).map(|(v, _)| v)
}

#[test]
fn jenkinsfiles_are_declarative_pipelines() {
    for b in builds() {
        let text = b.file("ci/Jenkinsfile");
        assert!(
            text.starts_with("// Generated by nestioc from nestio.kdl."),
            "{}: header",
            b.name
        );
        let root = groovy_blocks(text);
        assert_eq!(root.children.len(), 1, "{}: one top-level block", b.name);
        let pipeline = root.one("pipeline");
        assert!(
            pipeline
                .children
                .iter()
                .any(|c| c.head.starts_with("agent")),
            "{}: pipeline has an agent",
            b.name
        );
        let stages = pipeline.one("stages");
        let mut names = BTreeSet::new();
        for stage in &stages.children {
            let name = stage_name(&stage.head)
                .unwrap_or_else(|| panic!("{}: `{}` in stages", b.name, stage.head));
            assert!(
                names.insert(name.clone()),
                "{}: stage `{name}` twice",
                b.name
            );
            let steps = stage.one("steps");
            assert!(
                !steps.statements().is_empty(),
                "{}: stage `{name}` has no step",
                b.name
            );
            for c in &stage.children {
                // Stage-level `options` take `timeout` (jenkins.io/doc/book/pipeline/syntax,
                // "options", "Available Stage Options").
                assert!(
                    ["steps", "when", "agent", "options"].contains(&c.head.as_str()),
                    "{}: `{}` in stage `{name}`",
                    b.name,
                    c.head
                );
            }
        }
        assert!(names.contains("nestioc check"), "{}: the gate", b.name);
        let gate = stages
            .children
            .iter()
            .find(|s| stage_name(&s.head).as_deref() == Some("nestioc check"))
            .expect("gate");
        assert!(
            sh_commands(gate)
                .iter()
                .flat_map(|c| c.lines())
                .any(|c| c.starts_with("nestioc build") && c.ends_with("--check")),
            "{}: the gate runs nestioc build --check",
            b.name
        );
        for svc in piped(&b.model) {
            let source = svc.source_path.as_deref().expect("source");
            let own: Vec<&Block> = stages
                .children
                .iter()
                .filter(|s| {
                    stage_name(&s.head).is_some_and(|n| n.starts_with(&format!("{}: ", svc.name)))
                })
                .collect();
            assert!(!own.is_empty(), "{}: stages of {}", b.name, svc.name);
            for stage in own {
                let when = stage.one("when");
                let changesets: Vec<String> = when
                    .statements()
                    .iter()
                    .filter_map(|s| s.strip_prefix("changeset "))
                    .filter_map(|l| groovy_literal(l).map(|(v, _)| v))
                    .collect();
                assert!(
                    changesets.contains(&format!("{source}/**")),
                    "{}: `{}` runs on changes to {source}: {changesets:?}",
                    b.name,
                    stage.head
                );
            }
        }
    }
}

// ------------------------------------------------------------------ file contracts

/// Every `${{ ... }}` in a workflow: each must be one nestioc writes, never built from a
/// user string.
fn expressions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${{") {
        let after = &rest[i + 3..];
        let end = after.find("}}").expect("closed expression");
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

const ALLOWED_EXPRESSIONS: &[&str] = &[
    "github.ref",
    "github.sha",
    "github.actor",
    "github.event.pull_request.number",
    "secrets.GITHUB_TOKEN",
    "secrets.REGISTRY_USERNAME",
    "secrets.REGISTRY_PASSWORD",
    "secrets.ARGOCD_SERVER",
    "secrets.ARGOCD_AUTH_TOKEN",
    "vars.ARGOCD_OPTS",
    // The gate's nestioc cache: its key and whether it was found.
    "runner.os",
    "steps.nestioc-id.outputs.id",
    "steps.nestioc-cache.outputs.cache-hit != 'true'",
    // A test command's literal `${{`, written as an expression (see github_literal).
    "'${{'",
];

#[test]
fn github_workflows_keep_their_contract() {
    for b in builds() {
        let trunk = b.model.project.branching == Branching::Trunk;
        let mut seen = BTreeSet::new();
        for (path, text) in b.workflows() {
            assert!(
                text.starts_with("# Generated by nestioc from "),
                "{path}: header"
            );
            for line in text.lines().filter(|l| l.contains("uses: ")) {
                let (_, r) = line.split_once("uses: ").expect("uses");
                let (action, comment) = r
                    .split_once(" # ")
                    .unwrap_or_else(|| panic!("{path}: `{line}` has no version comment"));
                let (_, sha) = action.split_once('@').expect("pinned");
                assert!(
                    sha.len() == 40 && sha.bytes().all(|c| c.is_ascii_hexdigit()),
                    "{path}: `{line}` is not pinned to a full SHA"
                );
                let pin = ci::ACTIONS
                    .iter()
                    .find(|a| a.uses() == action)
                    .unwrap_or_else(|| panic!("{path}: `{action}` is not a known pin"));
                assert_eq!(comment, pin.version, "{path}: version comment");
            }
            for e in expressions(&text) {
                assert!(
                    ALLOWED_EXPRESSIONS.contains(&e.as_str()),
                    "{path}: unexpected expression `${{{{ {e} }}}}`"
                );
            }
            let wf = yaml(&text);
            assert_eq!(
                wf["permissions"],
                serde_json::json!({"contents": "read"}),
                "{path}"
            );
            for (id, job) in wf["jobs"].as_object().expect("jobs") {
                let perms = job["permissions"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{path}: job {id} declares its permissions"));
                for (scope, level) in perms {
                    let allowed = match (scope.as_str(), level.as_str()) {
                        ("contents", Some("read")) => true,
                        ("packages", Some("write")) => id == "image",
                        ("pull-requests", Some("write")) => id == "review",
                        _ => false,
                    };
                    assert!(allowed, "{path}: job {id} has {scope}: {level}");
                }
            }
            let name = path
                .trim_start_matches("ci/.github/workflows/")
                .trim_end_matches(".yml")
                .to_owned();
            seen.insert(name.clone());
            if name == ci::github::GATE_WORKFLOW {
                continue; // the_gate_runs_on_every_change_to_the_topology_or_the_output
            }
            if name == "nestioc-review" {
                let run: String = wf["jobs"]["review"]["steps"]
                    .as_array()
                    .expect("steps")
                    .iter()
                    .filter_map(|s| s["run"].as_str())
                    .collect();
                assert!(
                    run.contains("nestioc diff")
                        && run.contains("--base \"origin/$GITHUB_BASE_REF\"")
                        && run.contains("--format markdown"),
                    "{path}"
                );
                assert!(
                    run.contains(ci::github::REVIEW_MARKER),
                    "{path}: one comment, updated"
                );
                continue;
            }
            let svc = &b.model.services[&name];
            let source = svc.source_path.as_deref().expect("source");
            for event in ["push", "pull_request"] {
                let paths = wf["on"][event]["paths"].as_array().expect("paths");
                assert!(
                    paths.contains(&Value::from(format!("{source}/**"))),
                    "{path}: {event} filtered by the source directory"
                );
            }
            assert_eq!(
                wf["on"]["push"]["tags"],
                serde_json::json!(["v*"]),
                "{path}"
            );
            assert!(
                wf["concurrency"]["group"].is_string(),
                "{path}: concurrency"
            );
            let jobs = &wf["jobs"];
            let check_runs: Vec<&str> = jobs["nestioc-check"]["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .filter_map(|s| s["run"].as_str())
                .collect();
            assert_installs_nestioc(&b, &path, &check_runs.join("\n"));
            assert!(
                check_runs
                    .iter()
                    .any(|r| r.starts_with("nestioc build") && r.ends_with("--check")),
                "{path}"
            );
            if let Some(test) = jobs.get("test") {
                let step = test["steps"]
                    .as_array()
                    .expect("steps")
                    .last()
                    .expect("step");
                assert_eq!(step["working-directory"], Value::from(source), "{path}");
            }
            if svc.language.is_some() {
                let image = &jobs["image"];
                assert!(
                    image["needs"]
                        .as_array()
                        .expect("needs")
                        .contains(&Value::from("nestioc-check")),
                    "{path}"
                );
                let push = image["steps"]
                    .as_array()
                    .expect("steps")
                    .last()
                    .expect("step");
                assert_eq!(
                    push["with"]["tags"],
                    Value::from(format!("{}:${{{{ github.sha }}}}", svc.image.repository)),
                    "{path}"
                );
                // The service's own Dockerfile, else the generated one.
                let dockerfile = svc.dockerfile.as_ref().map_or_else(
                    || {
                        format!(
                            "{}/docker/{name}/Dockerfile",
                            b.model.project.cd_path.trim_end_matches('/')
                        )
                    },
                    |d| d.value.clone(),
                );
                assert_eq!(push["with"]["file"], Value::from(dockerfile), "{path}");
            }
            let conditions: BTreeMap<String, String> = jobs
                .as_object()
                .expect("jobs")
                .iter()
                .filter(|(id, _)| id.starts_with("deploy-"))
                .map(|(id, j)| (id.clone(), j["if"].as_str().expect("if").to_owned()))
                .collect();
            if b.model.project.cd == Cd::ArgoCd && svc.language.is_some() {
                let expected: BTreeMap<String, String> = if trunk {
                    [
                        ("deploy-staging", "github.ref == 'refs/heads/main'"),
                        ("deploy-prod", "startsWith(github.ref, 'refs/tags/v')"),
                    ]
                } else {
                    [
                        ("deploy-staging", "github.ref == 'refs/heads/develop'"),
                        (
                            "deploy-prod",
                            "github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v')",
                        ),
                    ]
                }
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect();
                assert_eq!(conditions, expected, "{path}: promotion by branching");
            }
        }
        let expected: BTreeSet<String> = piped(&b.model)
            .iter()
            .map(|s| s.name.clone())
            .chain(b.model.project.review.then(|| "nestioc-review".to_owned()))
            .chain(std::iter::once(ci::github::GATE_WORKFLOW.to_owned()))
            .collect();
        assert_eq!(seen, expected, "{}: one workflow per service", b.name);
    }
}

#[test]
fn gitlab_and_circleci_filter_by_source_and_promote_by_branching() {
    for b in builds() {
        let trunk = b.model.project.branching == Branching::Trunk;
        let gl = yaml(b.file("ci/.gitlab-ci.yml"));
        assert!(
            gl["nestioc:check"]["script"]
                .as_array()
                .expect("script")
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.ends_with("--check"))),
            "{}: gate",
            b.name
        );
        let continued = yaml(b.file("ci/.circleci/continue_config.yml"));
        let setup = yaml(b.file("ci/.circleci/config.yml"));
        assert_eq!(setup["setup"], Value::Bool(true), "{}", b.name);
        // The orb diffs against the merge base with `base-revision`; on the integration
        // branch that is HEAD itself and the orb falls back to HEAD~1 (path-filtering orb,
        // `create-parameters.py`), so a push of several commits needs the previous
        // pipeline's revision there. Exactly one of the two workflows runs.
        let base = if trunk { "main" } else { "develop" };
        let condition = serde_json::json!({"and": [
            {"equal": [base, "<< pipeline.git.branch >>"]},
            "<< pipeline.git.base_revision >>"
        ]});
        let w = &setup["workflows"];
        assert_eq!(w["nestioc-setup"]["unless"], condition, "{}", b.name);
        assert_eq!(w["nestioc-setup-push"]["when"], condition, "{}", b.name);
        let revision = |wf: &str| {
            w[wf]["jobs"][0]["path-filtering/filter"]["base-revision"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(revision("nestioc-setup"), base, "{}", b.name);
        assert_eq!(
            revision("nestioc-setup-push"),
            "<< pipeline.git.base_revision >>",
            "{}",
            b.name
        );
        assert_eq!(
            w["nestioc-setup"]["jobs"][0]["path-filtering/filter"]["mapping"],
            w["nestioc-setup-push"]["jobs"][0]["path-filtering/filter"]["mapping"],
            "{}",
            b.name
        );
        let mapping =
            setup["workflows"]["nestioc-setup"]["jobs"][0]["path-filtering/filter"]["mapping"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        for svc in piped(&b.model) {
            let source = svc.source_path.as_deref().expect("source");
            let name = &svc.name;
            let first = if svc.ci_test.is_some() || svc.language.is_some() {
                format!("{name}:test")
            } else {
                format!("{name}:image")
            };
            let changes = gl[&first]["rules"][0]["changes"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: {first} has rules: changes", b.name));
            assert!(
                changes.contains(&Value::from(format!("{source}/**/*"))),
                "{}: {first}",
                b.name
            );
            assert_eq!(
                gl[&first]["script"][0],
                Value::from(format!("cd '{source}'")),
                "{}: tests run in the source directory",
                b.name
            );
            assert!(
                mapping
                    .lines()
                    .any(|l| l == format!("{}/.* run-{name} true", source.replace('.', "\\."))),
                "{}: CircleCI maps {source} to run-{name}:\n{mapping}",
                b.name
            );
            assert_eq!(
                continued["parameters"][format!("run-{name}")]["type"],
                Value::from("boolean"),
                "{}",
                b.name
            );
            if b.model.project.cd != Cd::ArgoCd || svc.language.is_none() {
                continue;
            }
            let (staging, prod) = if trunk {
                ("$CI_COMMIT_BRANCH == \"main\"", "$CI_COMMIT_TAG =~ /^v.*/")
            } else {
                (
                    "$CI_COMMIT_BRANCH == \"develop\"",
                    "$CI_COMMIT_BRANCH == \"main\" || $CI_COMMIT_TAG =~ /^v.*/",
                )
            };
            assert_eq!(
                gl[format!("{name}:deploy:staging")]["rules"][0]["if"],
                Value::from(staging),
                "{}",
                b.name
            );
            assert_eq!(
                gl[format!("{name}:deploy:prod")]["rules"][0]["if"],
                Value::from(prod),
                "{}",
                b.name
            );
            let wf = &continued["workflows"][name.as_str()]["jobs"];
            let filters = |job: &str| -> Value {
                wf.as_array()
                    .expect("jobs")
                    .iter()
                    .find_map(|j| j.get(job))
                    .unwrap_or_else(|| panic!("{}: {job}", b.name))["filters"]
                    .clone()
            };
            let staging_branch = if trunk { "main" } else { "develop" };
            assert_eq!(
                filters(&format!("{name}_deploy_staging")),
                serde_json::json!({"branches": {"only": [staging_branch]}}),
                "{}",
                b.name
            );
            let prod_filters = filters(&format!("{name}_deploy_prod"));
            assert_eq!(
                prod_filters["tags"]["only"],
                Value::from("/^v.*/"),
                "{}",
                b.name
            );
        }
    }
}

// ------------------------------------------------------------------ hostile strings

/// Quotes of every kind, GitHub expressions, Groovy triple quotes, backslashes, `$`,
/// `#`, CircleCI parameters, YAML indicators and a tab.
const HOSTILE: &str = r#"printf '%s\n' "a \"b\" 'c'" '${{ secrets.TOKEN }}' "${{ github.event.issue.title }}" ''' """ 'back\slash\\' "$HOME" $(id) `id` '# not a comment' 'x: y' '- z' '{a: [b]}' 'cat <<EOF << pipeline.id >>' &&	echo done # trailing"#;

/// GitHub's evaluation of `${{ }}` in a string, for the only expression nestioc writes
/// into a command: `${{ '${{' }}` is `${{`.
fn github_evaluate(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let end = after.find("}}").expect("closed expression");
        assert_eq!(
            after[..end].trim(),
            "'${{'",
            "an expression GitHub would evaluate"
        );
        out.push_str("${{");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn hostile_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // A KDL raw string holds the command verbatim (it has no `"#`).
    assert!(!HOSTILE.contains("\"#"));
    std::fs::write(
        dir.join("nestio.kdl"),
        format!(
            "project \"p\" {{\n    registry \"ghcr.io/acme\"\n    ci \"github-actions\" \"gitlab\" \"circleci\" \"jenkins\"\n}}\n\nservice \"api\" {{\n    image \"api\" tag=\"1.0.0\"\n    language \"go\"\n    source \"src/api\"\n    ci {{\n        test #\"{HOSTILE}\"#\n    }}\n}}\n"
        ),
    )
    .expect("write");
    (tmp, dir)
}

#[test]
fn a_hostile_test_command_is_run_exactly_as_written() {
    let (_tmp, dir) = hostile_project();
    let opts = nestioc::Options {
        targets: ["github-actions", "gitlab", "circleci", "jenkins"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        ..nestioc::Options::default()
    };
    let b = build_dir("hostile", &dir, &opts);
    assert_eq!(
        b.model.services["api"].ci_test.as_deref(),
        Some(HOSTILE),
        "the KDL holds the command"
    );

    // GitHub Actions: the test step's script, as GitHub evaluates it.
    let wf_text = b.file("ci/.github/workflows/api.yml");
    let wf = yaml(wf_text);
    let step = wf["jobs"]["test"]["steps"]
        .as_array()
        .expect("steps")
        .last()
        .expect("test step");
    assert_eq!(step["working-directory"], Value::from("src/api"));
    let run = step["run"].as_str().expect("run");
    assert_eq!(github_evaluate(run), HOSTILE, "GitHub");
    for e in expressions(wf_text) {
        assert!(
            ALLOWED_EXPRESSIONS.contains(&e.as_str()),
            "expression `{e}`"
        );
    }

    // GitLab: the script line after the `cd`.
    let gl = yaml(b.file("ci/.gitlab-ci.yml"));
    assert_eq!(
        gl["api:test"]["script"],
        serde_json::json!(["cd 'src/api'", HOSTILE]),
        "GitLab"
    );

    // CircleCI: the command, as CircleCI unescapes `\<<`.
    let cc = yaml(b.file("ci/.circleci/continue_config.yml"));
    let cmd = cc["jobs"]["api_test"]["steps"][1]["run"]["command"]
        .as_str()
        .expect("command");
    assert!(!cmd.replace(r"\<<", "").contains("<<"), "every << escaped");
    assert_eq!(cmd.replace(r"\<<", "<<"), HOSTILE, "CircleCI");

    // Jenkins: the literal of the `sh` step inside `dir('src/api')`.
    let root = groovy_blocks(b.file("ci/Jenkinsfile"));
    let stages = root.one("pipeline").one("stages");
    let test = stages
        .children
        .iter()
        .find(|s| stage_name(&s.head).as_deref() == Some("api: test"))
        .expect("test stage");
    let dir_block = test.one("steps").one("dir('src/api')");
    assert_eq!(sh_commands(dir_block), [HOSTILE], "Jenkins");

    // And the validators still accept the files.
    if let Some(al) = tool("actionlint") {
        let f = b.out.join("ci/.github/workflows/api.yml");
        let (ok, text) = run_tool(&al, &["-no-color".as_ref(), f.as_os_str()], &b.out);
        assert!(ok, "actionlint:\n{text}");
    }
    if let Some(cj) = tool("check-jsonschema") {
        for (schema, file) in [
            ("vendor.gitlab-ci", ".gitlab-ci.yml"),
            ("vendor.circle-ci", ".circleci/continue_config.yml"),
            ("vendor.github-workflows", ".github/workflows/api.yml"),
        ] {
            let f = b.ci().join(file);
            let (ok, text) = run_tool(
                &cj,
                &["--builtin-schema".as_ref(), schema.as_ref(), f.as_os_str()],
                &b.out,
            );
            assert!(ok, "check-jsonschema {schema}:\n{text}");
        }
    }
}

fn run_tool(cmd: &Path, args: &[&std::ffi::OsStr], cwd: &Path) -> (bool, String) {
    run(cmd, args, cwd)
}

#[test]
fn a_multi_line_test_command_is_an_error_not_a_broken_pipeline() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("nestio.kdl"),
        "project \"p\" {\n    ci \"jenkins\"\n}\nservice \"api\" {\n    image \"api\" tag=\"1\"\n    language \"go\"\n    source \"src/api\"\n    ci {\n        test \"go vet ./...\\ngo test ./...\"\n    }\n}\n",
    )
    .expect("write");
    let c = compile(tmp.path(), &nestioc::Options::default());
    assert!(c.artifacts.is_none());
    assert!(
        c.analysis
            .diagnostics
            .iter()
            .any(|d| d.code == nestioc::diag::Code::InvalidCommand),
        "{}",
        render_human(&c.analysis)
    );
}

#[test]
fn ci_targets_emit_only_for_the_systems_the_project_lists() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("nestio.kdl"),
        "project \"p\" {\n    ci \"gitlab\"\n}\nservice \"api\" {\n    image \"api\" tag=\"1\"\n    language \"go\"\n    source \"src/api\"\n}\n",
    )
    .expect("write");
    let c = compile(tmp.path(), &nestioc::Options::default());
    let set = c.artifacts.expect("compiles");
    let ci_files: Vec<&String> = set.files.keys().filter(|p| p.starts_with("ci/")).collect();
    assert_eq!(ci_files, ["ci/.gitlab-ci.yml"]);
}

// ------------------------------------------------------------------ default test steps

/// Runs `command` with `sh -c` in `dir` (as every CI system runs a script line), with
/// `path_first` before PATH and the extra environment.
fn sh(
    command: &str,
    dir: &Path,
    path_first: Option<&Path>,
    env: &[(&str, &str)],
) -> (bool, String) {
    let mut path: Vec<PathBuf> = path_first.map(Path::to_path_buf).into_iter().collect();
    if let Some(p) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&p));
    }
    let mut cmd = Command::new("sh");
    cmd.args(["-c", command])
        .current_dir(dir)
        .env("PATH", std::env::join_paths(path).expect("PATH"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run sh");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn on_path(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

fn skipped(what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED ci: {what}");
}

/// Each language's default test step, run by the language's own tool on a project whose
/// test runner is declared the way that ecosystem declares it, and installed nowhere
/// beforehand. A toolchain that is not installed here is skipped (the images pin the
/// versions; the behaviour used is documented for all of them).
#[test]
fn default_test_steps_install_their_own_runner() {
    let test_of = |lang: &str| ci::toolchain(lang).expect(lang).test;

    // Python: requirements.txt is what the service runs with (pip's "Requirements File
    // Format"); pytest is not in it, so the step installs it. The old step failed here
    // with "No module named pytest".
    if on_path("python3") {
        let tmp = tempfile::tempdir().expect("tmp");
        let venv = tmp.path().join("venv");
        let (ok, out) = sh(
            &format!("python3 -m venv '{}'", venv.display()),
            tmp.path(),
            None,
            &[],
        );
        assert!(ok, "venv: {out}");
        let src = tmp.path().join("src");
        write_files(
            &src,
            &[
                ("requirements.txt", "# runtime dependencies only\n"),
                (
                    "tests/test_sum.py",
                    "def test_sum():\n    assert 1 + 1 == 2\n",
                ),
            ],
        );
        let bin = venv.join("bin");
        let (ok, out) = sh(
            "pip install -r requirements.txt && python -m pytest",
            &src,
            Some(&bin),
            &[],
        );
        assert!(
            !ok && out.contains("No module named pytest"),
            "the old step: {out}"
        );
        let (ok, out) = sh(
            test_of("python"),
            &src,
            Some(&bin),
            &[("PIP_DISABLE_PIP_VERSION_CHECK", "1")],
        );
        if !ok && (out.contains("NewConnectionError") || out.contains("No matching distribution")) {
            skipped("python: PyPI is out of reach");
        } else {
            assert!(ok && out.contains("1 passed"), "python: {out}");
        }
    } else {
        skipped("python3 is not installed");
    }

    // Node: the runner is a devDependency. `npm ci` omits devDependencies when NODE_ENV
    // is production (npm docs, config `omit`); `--include=dev` installs them anyway. A
    // local `file:` package stands for the runner, so no registry is needed.
    if on_path("npm") {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        write_files(
            &src,
            &[
                (
                    "package.json",
                    r#"{"name": "svc", "version": "1.0.0", "private": true,
 "scripts": {"test": "unit-runner"},
 "devDependencies": {"unit-runner": "file:./runner"}}"#,
                ),
                (
                    "runner/package.json",
                    r#"{"name": "unit-runner", "version": "1.0.0", "bin": {"unit-runner": "cli.js"}}"#,
                ),
                (
                    "runner/cli.js",
                    "#!/usr/bin/env node\nconsole.log('runner ran');\n",
                ),
            ],
        );
        let cache = tmp.path().join("npm-cache");
        let cache = cache.to_string_lossy().into_owned();
        let env = [
            ("npm_config_cache", cache.as_str()),
            ("NODE_ENV", "production"),
        ];
        let (ok, out) = sh(
            "npm install --package-lock-only --offline --no-audit --no-fund",
            &src,
            None,
            &env[..1],
        );
        assert!(ok, "package-lock.json: {out}");
        let (ok, out) = sh("npm ci --offline && npm test", &src, None, &env);
        assert!(
            !ok && out.contains("unit-runner: not found"),
            "the old step finds its runner under NODE_ENV=production: {out}"
        );
        let (ok, out) = sh(
            &test_of("node").replace("npm ci", "npm ci --offline"),
            &src,
            None,
            &env,
        );
        assert!(ok && out.contains("runner ran"), "node: {out}");
    } else {
        skipped("npm is not installed");
    }

    // Go and Rust: the runner is the toolchain's own (`go test`, `cargo test`).
    if on_path("go") {
        let tmp = tempfile::tempdir().expect("tmp");
        write_files(
            tmp.path(),
            &[
                ("go.mod", "module example.com/svc\n\ngo 1.21\n"),
                (
                    "sum_test.go",
                    "package svc\n\nimport \"testing\"\n\nfunc TestSum(t *testing.T) {\n\tif 1+1 != 2 {\n\t\tt.Fatal(\"sum\")\n\t}\n}\n",
                ),
            ],
        );
        let (ok, out) = sh(
            test_of("go"),
            tmp.path(),
            None,
            &[("GOTOOLCHAIN", "local"), ("GOFLAGS", "-mod=mod")],
        );
        assert!(ok && out.contains("ok"), "go: {out}");
    } else {
        skipped("go is not installed");
    }
    if on_path("cargo") {
        let tmp = tempfile::tempdir().expect("tmp");
        write_files(
            tmp.path(),
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"svc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
                ),
                (
                    "src/lib.rs",
                    "#[test]\nfn sum() {\n    assert_eq!(1 + 1, 2);\n}\n",
                ),
            ],
        );
        let target = tmp.path().join("target");
        let target = target.to_string_lossy().into_owned();
        let env = [("CARGO_TARGET_DIR", target.as_str())];
        let (ok, out) = sh("cargo generate-lockfile --offline", tmp.path(), None, &env);
        assert!(ok, "Cargo.lock: {out}");
        let (ok, out) = sh(test_of("rust"), tmp.path(), None, &env);
        assert!(ok && out.contains("1 passed"), "rust: {out}");
    }

    // Java: the project's wrapper, which downloads the Gradle or Maven it pins. Stand-in
    // wrappers record how they are called; they are not executable, as a wrapper committed
    // from a system without file modes is not.
    let tmp = tempfile::tempdir().expect("tmp");
    for (wrapper, expected) in [
        ("gradlew", "--no-daemon --console=plain test"),
        ("mvnw", "--batch-mode test"),
    ] {
        let dir = tmp.path().join(wrapper);
        write_files(&dir, &[(wrapper, "#!/bin/sh\necho \"$@\" > ran\n")]);
        let (ok, out) = sh(test_of("java"), &dir, None, &[]);
        assert!(ok, "java ({wrapper}): {out}");
        let ran = std::fs::read_to_string(dir.join("ran")).expect("the wrapper ran");
        assert_eq!(ran.trim(), expected, "java ({wrapper})");
    }
    let none = tmp.path().join("none");
    std::fs::create_dir_all(&none).expect("mkdir");
    let (ok, out) = sh(test_of("java"), &none, None, &[]);
    assert!(
        !ok && out.contains("no Gradle or Maven wrapper"),
        "java without a wrapper: {out}"
    );

    // .NET: `dotnet test` restores the test project's own package references (the test
    // SDK and framework) before it runs.
    if !on_path("dotnet") {
        skipped("dotnet is not installed");
    }
}

// ------------------------------------------------------------------ deployment waits

/// The flags of `argocd app wait` as the CLI reads them (argo-cd
/// cmd/argocd/commands/app.go, v3.3.14, the pinned CLI): `getWatchOpts` waits for sync,
/// health and operation when no flag is given; `checkResourceStatus` ORs the health flags
/// (`--health` passes on Healthy, `--suspended` on Suspended, `--degraded` on Degraded);
/// `--timeout` 0 waits forever.
#[derive(Debug, Default, Clone, Copy)]
struct WaitOpts {
    sync: bool,
    health: bool,
    suspended: bool,
    degraded: bool,
    operation: bool,
    timeout: Option<u64>,
}

fn wait_opts(cmd: &str) -> WaitOpts {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(&words[..3], ["argocd", "app", "wait"], "{cmd}");
    let mut w = WaitOpts::default();
    let mut it = words[4..].iter();
    while let Some(flag) = it.next() {
        match *flag {
            "--sync" => w.sync = true,
            "--health" => w.health = true,
            "--suspended" => w.suspended = true,
            "--degraded" => w.degraded = true,
            "--operation" => w.operation = true,
            "--timeout" => w.timeout = it.next().and_then(|t| t.parse().ok()).filter(|t| *t > 0),
            other => panic!("{cmd}: unexpected `{other}`"),
        }
    }
    if !(w.sync || w.health || w.suspended || w.degraded || w.operation) {
        (w.sync, w.health, w.operation) = (true, true, true);
    }
    w
}

/// `checkResourceStatus` for a synced application with no operation running.
fn wait_passes(w: WaitOpts, health: &str) -> bool {
    let any_health = w.health || w.suspended || w.degraded;
    !any_health
        || (w.health && health == "Healthy")
        || (w.suspended && health == "Suspended")
        || (w.degraded && health == "Degraded")
}

/// The application's health while the rendered workload rolls out a new version, as
/// (seconds after the sync, health), and whether the last state lasts until someone acts.
/// Argo Rollouts (utils/rollout/rolloututil.go `CalculateRolloutPhase`, canary.go,
/// bluegreen.go) sets a pause condition for every canary pause, timed or not, and for
/// blue-green before promotion when `autoPromotionEnabled` is false; Argo CD's Rollout
/// health check reports a paused Rollout Suspended (resource_customizations/argoproj.io/
/// Rollout/health.lua) and Progressing while steps remain.
fn health_timeline(workload: &Value) -> (Vec<(u64, &'static str)>, bool) {
    let secs = |v: &Value| -> u64 {
        let s = v.as_str().expect("duration");
        let d = nestioc::model::values::Duration::parse(s).expect("duration");
        d.millis / 1000
    };
    let mut t = 0;
    let mut out = vec![(0, "Progressing")];
    if workload["kind"] != "Rollout" {
        out.push((60, "Healthy"));
        return (out, false);
    }
    let strategy = &workload["spec"]["strategy"];
    if let Some(steps) = strategy["canary"]["steps"].as_array() {
        for step in steps {
            if let Some(p) = step.get("pause") {
                out.push((t, "Suspended"));
                match p.get("duration") {
                    Some(d) => t += secs(d),
                    None => return (out, true),
                }
                out.push((t, "Progressing"));
            }
        }
        out.push((t + 60, "Healthy"));
        return (out, false);
    }
    let bg = &strategy["blueGreen"];
    assert!(bg.is_object(), "a Rollout is canary or blue-green");
    if bg["autoPromotionEnabled"] == Value::Bool(false) {
        out.push((60, "Suspended"));
        return (out, true);
    }
    out.push((60, "Healthy"));
    (out, false)
}

/// When an `argocd app wait` ends: `Some(seconds)` if it passes before its timeout.
fn wait_ends(w: WaitOpts, timeline: &[(u64, &str)]) -> Option<u64> {
    timeline
        .iter()
        .find(|(_, h)| wait_passes(w, h))
        .map(|(t, _)| *t)
        .filter(|t| w.timeout.is_none_or(|limit| *t <= limit))
}

/// The deployment commands of one service and environment in every CI system, parsed.
fn deploy_scripts(b: &Built, service: &str, env: &str) -> Vec<(String, Vec<String>, u64)> {
    let mut out = Vec::new();
    let gh = yaml(b.file(&format!("ci/.github/workflows/{service}.yml")));
    let job = &gh["jobs"][format!("deploy-{env}")];
    out.push((
        "github".to_owned(),
        job["steps"][0]["run"]
            .as_str()
            .expect("run")
            .lines()
            .filter(|l| l.starts_with("argocd ") || l.starts_with("if "))
            .map(str::to_owned)
            .collect(),
        job["timeout-minutes"].as_u64().expect("timeout-minutes"),
    ));
    let gl = yaml(b.file("ci/.gitlab-ci.yml"));
    let job = &gl[format!("{service}:deploy:{env}")];
    let minutes = job["timeout"].as_str().expect("timeout");
    out.push((
        "gitlab".to_owned(),
        job["script"]
            .as_array()
            .expect("script")
            .iter()
            .map(|s| s.as_str().expect("line").to_owned())
            .collect(),
        minutes
            .trim_end_matches(" minutes")
            .parse()
            .expect("minutes"),
    ));
    let cc = yaml(b.file("ci/.circleci/continue_config.yml"));
    let run = &cc["jobs"][format!("{service}_deploy_{env}")]["steps"][0]["run"];
    out.push((
        "circleci".to_owned(),
        run["command"]
            .as_str()
            .expect("command")
            .lines()
            .map(str::to_owned)
            .collect(),
        run["no_output_timeout"]
            .as_str()
            .expect("no_output_timeout")
            .trim_end_matches('m')
            .parse()
            .expect("minutes"),
    ));
    let root = groovy_blocks(b.file("ci/Jenkinsfile"));
    let stage = root
        .one("pipeline")
        .one("stages")
        .children
        .iter()
        .find(|s| stage_name(&s.head).as_deref() == Some(&format!("{service}: deploy {env}")));
    let stage = stage.unwrap_or_else(|| panic!("{}: no Jenkins stage deploying {service}", b.name));
    let timeout = stage.one("options").statements().join(" ");
    let minutes = timeout
        .strip_prefix("timeout(time: ")
        .and_then(|t| t.split(',').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("Jenkins stage timeout: {timeout}"));
    out.push(("jenkins".to_owned(), sh_commands(stage), minutes));
    out
}

/// A deployment waits for what the service's rollout policy implies, in every CI system:
/// through the timed pauses of a canary to Healthy (a paused Rollout is Suspended, which
/// `--health` alone does not accept), and to the gate of a blue-green rollout that waits
/// for promotion (Suspended for good, which only `--suspended` accepts), never longer than
/// its job may run. The old `argocd app wait <app> --timeout 600` fails both.
#[test]
fn deployments_wait_for_what_the_rollout_implies() {
    let shop = root().join("examples/shop");
    let c = compile(&shop, &nestioc::Options::default());
    let set = c.artifacts.expect("shop compiles");
    let b = build_dir("shop", &shop, &nestioc::Options::default());
    let (mut gates, mut timed) = (0, 0);
    for svc in piped(&b.model) {
        if svc.language.is_none() || svc.schedule.is_some() {
            continue;
        }
        for env in ["staging", "prod"] {
            let manifest = &set.files[&format!("kubernetes/{env}/{}.yaml", svc.name)].contents;
            let workload = serde_saphyr::from_multiple::<Value>(manifest)
                .expect("yaml")
                .into_iter()
                .find(|o| o["kind"] == "Rollout" || o["kind"] == "Deployment")
                .expect("a workload");
            let (timeline, gate) = health_timeline(&workload);
            let end = timeline.last().expect("states").0;
            let app = format!("shop-{}-{env}", svc.name);
            let old = wait_opts(&format!("argocd app wait {app} --timeout 600"));
            if workload["kind"] == "Rollout" {
                assert!(
                    wait_ends(old, &timeline).is_none_or(|t| t < end),
                    "{app}: the old wait would have passed"
                );
            }
            let mut seen = Vec::new();
            for (system, cmds, minutes) in deploy_scripts(&b, &svc.name, env) {
                let waits: Vec<&String> = cmds
                    .iter()
                    .filter(|c| c.starts_with("argocd app wait"))
                    .collect();
                let sync = cmds
                    .iter()
                    .position(|c| c.starts_with(&format!("argocd app sync {app} ")))
                    .unwrap_or_else(|| panic!("{system} {app}: no sync: {cmds:?}"));
                assert!(
                    !cmds[sync].contains("--async"),
                    "{system} {app}: the sync must end before the rollout is waited for"
                );
                let last = waits
                    .iter()
                    .rposition(|c| c.contains("--health"))
                    .map(|i| waits[i].as_str())
                    .unwrap_or_else(|| panic!("{system} {app}: no health wait: {cmds:?}"));
                let w = wait_opts(last);
                assert!(
                    w.sync && w.operation,
                    "{system} {app}: `{last}` must wait for the sync and for a reconcile after it"
                );
                let ends = wait_ends(w, &timeline).unwrap_or_else(|| {
                    panic!("{system} {app}: `{last}` never succeeds on {timeline:?}")
                });
                assert_eq!(
                    ends, end,
                    "{system} {app}: `{last}` ends before the rollout does"
                );
                let timeout = w.timeout.expect("a timeout");
                // Every pause, and the progress deadline past which the rollout fails.
                let paused: u64 = timeline
                    .windows(2)
                    .filter(|p| p[0].1 == "Suspended")
                    .map(|p| p[1].0 - p[0].0)
                    .sum();
                assert!(
                    timeout >= paused + ci::PROGRESS_DEADLINE_SECONDS,
                    "{system} {app}: {timeout}s for {paused}s of pauses"
                );
                assert!(minutes * 60 > timeout, "{system} {app}: the job ends first");
                if gate {
                    assert!(
                        cmds.iter()
                            .any(|c| c.contains("argocd app actions run") && c.contains("resume")),
                        "{system} {app}: the job says how to promote"
                    );
                }
                seen.push((last.to_owned(), timeout));
            }
            assert!(
                seen.windows(2).all(|p| p[0] == p[1]),
                "{app}: every system waits alike: {seen:?}"
            );
            if workload["kind"] == "Rollout" {
                if gate { gates += 1 } else { timed += 1 }
            }
        }
    }
    assert!(
        gates > 0 && timed > 0,
        "the shop has blue-green ({gates}) and canary ({timed}) deployments"
    );
}

// ------------------------------------------------------------------ the gate

/// The gate installs nestioc for real, from what the project says: the release that
/// generated the pipelines (the tag `v<version>` of nestioc's repository, built with its
/// own lock file; nestioc is not on crates.io), or the repository's own copy of nestioc's
/// source (`ci ... nestioc-source=`). Never `cargo install nestioc --version`.
fn assert_installs_nestioc(b: &Built, what: &str, script: &str) {
    assert!(
        !script.contains("cargo install nestioc"),
        "{what}: crates.io has no nestioc"
    );
    let expected = match &b.model.project.ci_nestioc_source {
        None => format!(
            "--locked --force --root \"{{ROOT}}\" --git {} --tag v{} nestioc",
            ci::NESTIOC_REPOSITORY,
            ci::NESTIOC_VERSION
        ),
        Some(p) => format!("--locked --force --root \"{{ROOT}}\" --path {p}"),
    };
    let found = script.lines().any(|l| {
        l.split("cargo install ").nth(1).is_some_and(|rest| {
            let root = rest
                .split("--root \"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default();
            rest.starts_with(&expected.replace("{ROOT}", root))
        })
    });
    assert!(
        found,
        "{what}: installs nestioc with `{expected}`:\n{script}"
    );
}

/// GitHub's path filter patterns ("Filter pattern cheat sheet", docs.github.com,
/// workflow syntax): `*` matches any characters but `/`, `**` any characters, `**/` zero
/// or more directories, `?` one character but `/`.
fn github_glob(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        if p.is_empty() {
            return s.is_empty();
        }
        if p.starts_with(b"**/") {
            // Zero directories, or any prefix ending in `/`.
            return go(&p[3..], s)
                || (0..s.len()).any(|i| s[i] == b'/' && go(&p[3..], &s[i + 1..]));
        }
        if p.starts_with(b"**") {
            return (0..=s.len()).any(|i| go(&p[2..], &s[i..]));
        }
        match p[0] {
            b'*' => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| go(&p[1..], &s[i..])),
            b'?' => !s.is_empty() && s[0] != b'/' && go(&p[1..], &s[1..]),
            c => !s.is_empty() && s[0] == c && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[test]
fn github_globs_follow_the_cheat_sheet() {
    assert!(github_glob("**.js", "a/b/c.js"));
    assert!(github_glob("docs/**", "docs/a/b.md"));
    assert!(github_glob("**/docs/**", "docs/a.md"));
    assert!(github_glob("**/docs/**", "x/docs/a.md"));
    assert!(github_glob("p/**/*.kdl", "p/nestio.kdl"));
    assert!(github_glob("p/**/*.kdl", "p/a/b.kdl"));
    assert!(!github_glob("*.kdl", "a/b.kdl"));
    assert!(!github_glob("p/**/*.kdl", "q/a.kdl"));
}

/// Files of the project (project-relative) and of the output (output-relative) whose
/// change must run the gate.
const TOPOLOGY_CHANGES: &[&str] = &[
    "nestio.kdl",
    "services/api.kdl",
    "teams/payments/ledger.kdl",
    "templates/grpc.kdl",
    "templates/docker/go.Dockerfile.hbs",
    "templates/helm/deployment.yaml.hbs",
];
const OUTPUT_CHANGES: &[&str] = &[
    "helm/api/values.yaml",
    "argocd/prod/applications.yaml",
    "ci/.github/workflows/api.yml",
    ".nestio-manifest.json",
];

/// Any change to the topology (every `*.kdl` of the project, its templates and their
/// overrides) or to the generated tree (a hand edit) runs `nestioc build --check`, in
/// every CI system: GitHub through the gate's own workflow, whose path filters are read
/// with GitHub's pattern rules; GitLab, CircleCI and Jenkins because their gate runs in
/// every pipeline, unconditionally. The old GitHub filters (a service's source, its own
/// `.kdl` and its Dockerfile) missed all but one of these.
#[test]
fn the_gate_runs_on_every_change_to_the_topology_or_the_output() {
    for b in builds() {
        let layout = ci::Layout::new(&b.model.project.cd_path);
        let mut changes: Vec<String> = TOPOLOGY_CHANGES
            .iter()
            .map(|f| layout.in_project(f))
            .collect();
        changes.extend(
            OUTPUT_CHANGES
                .iter()
                .map(|f| format!("{}/{f}", layout.out_dir)),
        );
        if let Some(src) = &b.model.project.ci_nestioc_source {
            for f in [
                "Cargo.lock",
                "compiler/src/emit/ci/mod.rs",
                "stdlib/helm/pvc.yaml.hbs",
            ] {
                changes.push(if src == "." {
                    f.to_owned()
                } else {
                    format!("{src}/{f}")
                });
            }
        }
        // GitHub: the gate's workflow, on pushes to the integration branches and on pull
        // requests.
        let path = format!("ci/.github/workflows/{}.yml", ci::github::GATE_WORKFLOW);
        let wf = yaml(b.file(&path));
        for event in ["push", "pull_request"] {
            let patterns: Vec<&str> = wf["on"][event]["paths"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: {event} paths", b.name))
                .iter()
                .map(|p| p.as_str().expect("pattern"))
                .collect();
            for f in &changes {
                assert!(
                    patterns.iter().any(|p| github_glob(p, f)),
                    "{}: a {event} changing {f} runs no gate: {patterns:?}",
                    b.name
                );
            }
            assert!(
                !patterns.iter().any(|p| github_glob(p, "README.md")),
                "{}: the gate runs on unrelated changes",
                b.name
            );
        }
        let runs: Vec<&str> = wf["jobs"]["nestioc-check"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect();
        assert!(
            runs.contains(&layout.check_command().as_str()),
            "{}: {path} runs the check",
            b.name
        );
        assert_installs_nestioc(&b, &path, &runs.join("\n"));
        // The install is cached under the release tag, or the identity of the source.
        let cache = wf["jobs"]["nestioc-check"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["uses"] == ci::CACHE.uses())
            .unwrap_or_else(|| panic!("{}: {path} caches nestioc", b.name));
        let key = cache["with"]["key"].as_str().expect("key");
        match &b.model.project.ci_nestioc_source {
            None => assert!(
                key.ends_with(&format!("-v{}", ci::NESTIOC_VERSION)),
                "{key}"
            ),
            Some(_) => assert!(key.ends_with("${{ steps.nestioc-id.outputs.id }}"), "{key}"),
        }

        // GitLab: no rules, no only/except: the job is in every pipeline
        // (docs.gitlab.com/ci/jobs/job_rules: a job without rules is added to the pipeline).
        let gl = yaml(b.file("ci/.gitlab-ci.yml"));
        let gate = &gl["nestioc:check"];
        for k in ["rules", "only", "except", "when"] {
            assert!(
                gate.get(k).is_none(),
                "{}: the GitLab gate has `{k}`",
                b.name
            );
        }
        assert!(
            gate["cache"]["paths"]
                .as_array()
                .is_some_and(|p| p.contains(&Value::from(".nestioc/"))),
            "{}: GitLab caches nestioc",
            b.name
        );
        assert_installs_nestioc(&b, "gitlab", &lines(&gate["script"]));

        // CircleCI: the setup workflow always continues; then either a service workflow
        // runs (each begins with its own gate) or the gate's workflow does.
        let cc = yaml(b.file("ci/.circleci/continue_config.yml"));
        let workflows = cc["workflows"].as_object().expect("workflows");
        for (name, wf) in workflows {
            let has_gate =
                wf["jobs"].as_array().expect("jobs").iter().any(|j| {
                    j.as_str() == Some("nestioc-check") || j.get("nestioc-check").is_some()
                });
            assert!(
                has_gate,
                "{}: CircleCI workflow {name} runs no gate",
                b.name
            );
        }
        let gate_wf = &cc["workflows"][ci::circleci::GATE_WORKFLOW];
        let services = workflows.len() - 1;
        assert_eq!(
            gate_wf["unless"]["or"].as_array().map_or(0, Vec::len),
            if services == 0 { 0 } else { services + 1 },
            "{}: the gate's workflow runs whenever no service workflow does",
            b.name
        );
        let job = &cc["jobs"]["nestioc-check"];
        let steps = job["steps"].as_array().expect("steps");
        let restore = steps
            .iter()
            .find_map(|s| s.get("restore_cache"))
            .expect("restore_cache");
        let save = steps
            .iter()
            .find_map(|s| s.get("save_cache"))
            .expect("save_cache");
        assert_eq!(restore["keys"][0], save["key"], "{}: one cache key", b.name);
        let script: Vec<String> = steps
            .iter()
            .filter_map(|s| s["run"]["command"].as_str())
            .map(str::to_owned)
            .collect();
        assert_installs_nestioc(&b, "circleci", &script.join("\n"));

        // Jenkins: the gate's stage has no `when`.
        let root = groovy_blocks(b.file("ci/Jenkinsfile"));
        let stages = root.one("pipeline").one("stages");
        let gate = stages
            .children
            .iter()
            .find(|s| stage_name(&s.head).as_deref() == Some("nestioc check"))
            .expect("gate");
        assert!(
            gate.find("when").is_empty(),
            "{}: the Jenkins gate is conditional",
            b.name
        );
        assert_installs_nestioc(&b, "jenkins", &sh_commands(gate).join("\n"));
    }
}

fn lines(v: &Value) -> String {
    v.as_array()
        .expect("lines")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identity of a nestioc built from the repository (the cache key): run by `sh` in a
/// real git repository, it changes when anything nestioc's build reads changes, not when
/// the topology does, and it fails (rather than hash nothing) when an input is missing.
#[test]
fn a_cached_nestioc_is_rebuilt_exactly_when_its_source_changes() {
    if !on_path("git") || !on_path("sha256sum") {
        skipped("git or sha256sum is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path();
    let git = |args: &[&str]| {
        let (ok, out) = sh(
            &format!(
                "git -c user.name=t -c user.email=t@example.com {}",
                args.join(" ")
            ),
            repo,
            None,
            &[],
        );
        assert!(ok, "git {args:?}: {out}");
    };
    git(&["init", "-q"]);
    let mut files: Vec<(String, String)> = ci::NESTIOC_BUILD_INPUTS
        .iter()
        .map(|i| {
            if i.contains('.') {
                (format!("tools/nestioc/{i}"), "x\n".to_owned())
            } else {
                (format!("tools/nestioc/{i}/a"), "x\n".to_owned())
            }
        })
        .collect();
    files.push(("services/api.kdl".into(), "service \"api\"\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_files(repo, &refs);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "one"]);
    let source = ci::NestiocSource::Path("tools/nestioc".into());
    let id = || {
        let script = format!("set -e\n{}\necho \"$id\"", source.id_lines("id").join("\n"));
        let (ok, out) = sh(&script, repo, None, &[]);
        assert!(ok, "{out}");
        out.trim().to_owned()
    };
    let first = id();
    assert_eq!(first.len(), 16, "{first}");
    write_files(repo, &[("services/api.kdl", "service \"api\" {}\n")]);
    git(&["commit", "-q", "-am", "topology"]);
    assert_eq!(id(), first, "a topology change rebuilds nestioc");
    write_files(repo, &[("tools/nestioc/compiler/a", "y\n")]);
    git(&["commit", "-q", "-am", "compiler"]);
    let second = id();
    assert_ne!(
        second, first,
        "a change to nestioc's source keeps the old build"
    );
    write_files(repo, &[("tools/nestioc/Cargo.lock", "y\n")]);
    git(&["commit", "-q", "-am", "lock"]);
    assert_ne!(id(), second, "a new lock file keeps the old build");
    // Under `set -e` (as every CI system runs a script), a git that cannot read the
    // repository fails the script instead of hashing nothing into a constant key.
    let elsewhere = tempfile::tempdir().expect("tmp");
    let script = format!("set -e\n{}\necho \"$id\"", source.id_lines("id").join("\n"));
    let (ok, out) = sh(
        &script,
        elsewhere.path(),
        None,
        &[("GIT_CEILING_DIRECTORIES", "/")],
    );
    assert!(
        !ok,
        "outside a repository the identity is an error, not {out}"
    );
}

/// The build inputs hashed into that identity are everything nestioc's build reads: the
/// crate's `include` list (Cargo.toml) and every file the compiler embeds.
#[test]
fn nestioc_build_inputs_cover_what_the_build_reads() {
    let covered = |path: &str| {
        ci::NESTIOC_BUILD_INPUTS
            .iter()
            .any(|i| path == *i || path.starts_with(&format!("{i}/")))
    };
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let include = manifest
        .lines()
        .find_map(|l| l.strip_prefix("include = ["))
        .expect("Cargo.toml has `include = [...]` on one line");
    for inc in include.trim_end_matches(']').split(',') {
        let inc = inc.trim().trim_matches('"').trim_end_matches("/**");
        assert!(
            covered(inc) || inc == "README.md",
            "Cargo.toml includes {inc}"
        );
    }
    for entry in walkdir::WalkDir::new(root().join("compiler/src")) {
        let entry = entry.expect("walk");
        if entry.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("read");
        for part in text.split("include_str!(\"").skip(1) {
            let rel = part.split('"').next().expect("path");
            let abs = entry.path().parent().expect("dir").join(rel);
            let abs = abs.canonicalize().unwrap_or(abs);
            let from_root = abs
                .strip_prefix(root().canonicalize().expect("root"))
                .expect("in the repository");
            assert!(
                covered(&from_root.to_string_lossy()),
                "{} embeds {}",
                entry.path().display(),
                from_root.display()
            );
        }
    }
}
