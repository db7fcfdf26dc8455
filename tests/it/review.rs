//! Pull-request review: `nestioc diff` against a project directory, an output directory
//! and a git revision; `build --check` on each kind of drift.
//!
//! The scenario in `tests/fixtures/diff/review/`: from `base` to `head`, one image tag is
//! bumped (`api`), one dependency added (`api` -> `inventory`), one SLO lowered
//! (`payments`) and one service removed (`reports`). The summary must name exactly those.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::root;

fn nestioc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nestioc")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scenario() -> PathBuf {
    root().join("tests/fixtures/diff/review")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("prefix");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// The summary: everything before the resource diff.
fn summary(markdown: &str) -> &str {
    markdown.split("### Generated files").next().expect("split")
}

#[test]
fn diff_summary_names_exactly_the_changes() {
    let o = nestioc(&["diff", "head", "--base", "base"], &scenario());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s.bind(|| insta::assert_snapshot!("review__diff-summary", summary(&md)));

    // The resource diff is per object and per field, not per line.
    for needle in [
        "- changed `Deployment/store/api`",
        "`spec.template.spec.containers[name=api].image`: `registry.example.com/store/api:1.8.2` → `registry.example.com/store/api:1.9.0`",
        "`spec.template.spec.containers[name=api].env[name=INVENTORY_URL]`: (none) → ",
        "- added `VirtualService/store/inventory`",
        "`kubernetes/default/reports.yaml`: `AuthorizationPolicy/store/reports`, `Deployment/store/reports`",
        "`spec.groups[name=nestio-slo-meta-payments-availability].rules[record=slo:objective:ratio].expr`: `vector(0.9995)` → `vector(0.999)`",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in:\n{md}");
    }
}

#[test]
fn diff_json_has_the_same_semantic_changes() {
    let o = nestioc(
        &["diff", "head", "--base", "base", "--format", "json"],
        &scenario(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let s = &v["semantic"];
    assert_eq!(s["services_added"], serde_json::json!([]));
    assert_eq!(s["services_removed"], serde_json::json!(["reports"]));
    assert_eq!(
        s["edges_added"],
        serde_json::json!([{"caller": "api", "callee": "inventory", "port": "http"}])
    );
    assert_eq!(s["edges_removed"], serde_json::json!([]));
    assert_eq!(s["access_granted"], s["edges_added"]);
    assert_eq!(s["access_revoked"], serde_json::json!([]));
    assert_eq!(s["images"].as_array().map(Vec::len), Some(1));
    assert_eq!(s["images"][0]["service"], "api");
    assert_eq!(s["slos"].as_array().map(Vec::len), Some(1));
    assert_eq!(s["slos"][0]["service"], "payments");
    assert_eq!(s["slos"][0]["after"], "99.9% over 30d");
    assert_eq!(s["ceilings"][0]["service"], "api");
    assert_eq!(s["ceilings"][0]["after"], "99.8001%");
    assert_eq!(s["rollouts"], serde_json::json!([]));
    assert_eq!(s["exposure"], serde_json::json!([]));
    assert_eq!(
        s["blast_radius"]["inventory"],
        serde_json::json!(["api", "web"])
    );
    let files = v["resources"].as_array().expect("resources");
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "helm/reports/Chart.yaml" && f["status"] == "removed")
    );
}

#[test]
fn diff_against_a_previous_output_directory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("old");
    let o = nestioc(
        &["build", "base", "-o", out.to_str().expect("utf-8")],
        &scenario(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = nestioc(
        &["diff", "head", "--base", out.to_str().expect("utf-8")],
        &scenario(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    assert!(md.contains("The base is an output directory"), "{md}");
    // A directory that is neither a project nor an output (a mistyped `--base`) is
    // refused, not compared as if every file had been added.
    let bad = nestioc(&["diff", "head", "--base", "head/services"], &scenario());
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stdout));
    assert!(
        text(&bad.stderr).contains("neither a project"),
        "{}",
        text(&bad.stderr)
    );
    assert!(
        md.contains(
            "`registry.example.com/store/api:1.8.2` → `registry.example.com/store/api:1.9.0`"
        ),
        "{md}"
    );
    // The same resource diff as against the project directory.
    let by_dir = nestioc(
        &["diff", "head", "--base", "base", "--format", "json"],
        &scenario(),
    );
    let by_out = nestioc(
        &[
            "diff",
            "head",
            "--base",
            out.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
        &scenario(),
    );
    let a: Value = serde_json::from_slice(&by_dir.stdout).expect("json");
    let b: Value = serde_json::from_slice(&by_out.stdout).expect("json");
    assert_eq!(a["resources"], b["resources"]);
    assert!(b["semantic"].is_null());
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(o.status.success(), "git {args:?}: {}", text(&o.stderr));
}

#[test]
fn diff_against_a_git_revision_leaves_the_working_tree_alone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path();
    // The project lives in a subdirectory of the repository, as in a monorepo.
    let project = repo.join("platform");
    copy_dir(&scenario().join("base"), &project);
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "base"]);
    std::fs::remove_dir_all(&project).expect("rm");
    copy_dir(&scenario().join("head"), &project);
    let before = walkdir::WalkDir::new(&project)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().to_path_buf())
        .collect::<Vec<_>>();

    let o = nestioc(&["diff", "--base", "main"], &project);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    let by_dir = nestioc(&["diff", "head", "--base", "base"], &scenario());
    assert_eq!(
        summary(&md)
            .replace("`main`", "`base`")
            .replace("`working tree`", "`head`"),
        summary(&text(&by_dir.stdout)),
        "the revision compiles to the same base"
    );
    let after = walkdir::WalkDir::new(&project)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().to_path_buf())
        .collect::<Vec<_>>();
    assert_eq!(before, after, "nothing written into the working tree");

    let o = nestioc(&["diff", "--base", "no-such-branch"], &project);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("neither a directory nor a git revision"),
        "{}",
        text(&o.stderr)
    );
}

/// A built copy of the base project, for the `--check` cases.
fn built() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("p");
    copy_dir(&scenario().join("base"), &dir);
    let o = nestioc(&["build"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = nestioc(&["build", "--check"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    (tmp, dir)
}

fn check_fails_with(dir: &Path, line: &str) {
    let listing = |d: &Path| {
        walkdir::WalkDir::new(d)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().to_path_buf(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = listing(dir);
    let o = nestioc(&["build", "--check"], dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(line),
        "expected {line:?} in:\n{}",
        text(&o.stderr)
    );
    assert!(before == listing(dir), "--check changed nothing on disk");
}

#[test]
fn check_catches_a_stale_file() {
    let (_t, dir) = built();
    let f = dir.join("services/api.kdl");
    let kdl = std::fs::read_to_string(&f).expect("read");
    std::fs::write(&f, kdl.replace("1.8.2", "1.8.3")).expect("write");
    check_fails_with(&dir, "stale:   helm/api/values.yaml\n");
    check_fails_with(&dir, "-    tag: \"1.8.2\"\n    +    tag: \"1.8.3\"");
}

#[test]
fn check_catches_a_missing_file() {
    let (_t, dir) = built();
    std::fs::remove_file(dir.join("generated/helm/web/Chart.yaml")).expect("rm");
    check_fails_with(&dir, "missing: helm/web/Chart.yaml");
}

#[test]
fn check_catches_an_extra_file() {
    let (_t, dir) = built();
    std::fs::remove_file(dir.join("services/reports.kdl")).expect("rm");
    check_fails_with(
        &dir,
        "extra:   helm/reports/Chart.yaml (no longer generated)\n",
    );
}

#[test]
fn check_catches_a_hand_edited_file() {
    let (_t, dir) = built();
    let f = dir.join("generated/kubernetes/default/web.yaml");
    let yaml = std::fs::read_to_string(&f).expect("read");
    std::fs::write(&f, yaml.replace("replicas: 2", "replicas: 7")).expect("write");
    check_fails_with(
        &dir,
        "stale:   kubernetes/default/web.yaml (edited by hand since the last build)",
    );
    // Edited, and no longer generated: still drift, and `build` keeps the file.
    let (_t2, dir) = built();
    let f = dir.join("generated/kubernetes/default/reports.yaml");
    std::fs::write(&f, "# mine\n").expect("write");
    std::fs::remove_file(dir.join("services/reports.kdl")).expect("rm");
    check_fails_with(
        &dir,
        "extra:   kubernetes/default/reports.yaml (no longer generated; edited by hand, so `nestioc build` keeps it)",
    );
    let o = nestioc(&["build"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&f).expect("kept"), "# mine\n");
}

/// docs/review.md shows the scenario's comment: the summary whole, and one file's section.
/// Regenerate with `NESTIOC_UPDATE_DOCS=1 cargo test docs`.
#[test]
fn docs_review_sample_is_up_to_date() {
    let o = nestioc(&["diff", "head", "--base", "base"], &scenario());
    let md = text(&o.stdout);
    let file = md
        .split("<details><summary>")
        .find(|s| s.starts_with("<code>kubernetes/default/api.yaml</code>"))
        .map(|s| format!("<details><summary>{}", s.trim_end()))
        .expect("the api manifests changed");
    let path = root().join("docs/review.md");
    let doc = std::fs::read_to_string(&path).expect("docs/review.md");
    let fill = |doc: &str, tag: &str, body: &str| {
        let begin = format!("<!-- {tag}:begin -->\n");
        let end = format!("<!-- {tag}:end -->");
        let (head, rest) = doc.split_once(&begin).expect("begin marker");
        let (_, tail) = rest.split_once(&end).expect("end marker");
        format!(
            "{head}{begin}````markdown\n{}\n````\n{end}{tail}",
            body.trim_end()
        )
    };
    let expected = fill(&fill(&doc, "sample", summary(&md)), "files", &file);
    if std::env::var_os("NESTIOC_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).expect("write");
        return;
    }
    assert!(
        doc == expected,
        "docs/review.md is out of date: run `NESTIOC_UPDATE_DOCS=1 cargo test docs` and commit it"
    );
}

/// A dependency's policy is part of the topology: a new timeout, or a dependency made
/// optional, changed no node or edge and the comment said "No change to the topology".
#[test]
fn a_changed_dependency_policy_is_a_topology_change() {
    let tmp = tempfile::tempdir().expect("tmp");
    let write = |side: &str, policy: &str| {
        let dir = tmp.path().join(side);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("nestio.kdl"),
            format!(
                "project \"p\" {{\n    registry \"ghcr.io/acme\"\n    mesh \"istio\"\n}}\nservice \"web\" {{\n    uses \"std/http-service\"\n    image \"web\" tag=\"1.0.0\"\n}}\nservice \"api\" {{\n    uses \"std/http-service\"\n    image \"api\" tag=\"1.0.0\"\n    depends-on \"db-api\" {policy}\n}}\nservice \"db-api\" {{\n    uses \"std/http-service\"\n    image \"db-api\" tag=\"1.0.0\"\n}}\nservice \"front\" {{\n    uses \"std/http-service\"\n    image \"front\" tag=\"1.0.0\"\n    depends-on \"api\"\n}}\n"
            ),
        )
        .expect("write");
    };
    write("base", "timeout=\"2s\"");
    write("head", "timeout=\"300ms\" retries=1 optional=#true");
    let o = nestioc(&["diff", "head", "--base", "base"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    assert!(!md.contains("No change to the topology"), "{md}");
    assert!(md.contains("1 dependency changed"), "{md}");
    assert!(
        md.contains("required, timeout 2s → optional, timeout 300ms, retries 1"),
        "{md}"
    );
    let o = nestioc(
        &["diff", "head", "--base", "base", "--format", "json"],
        tmp.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["semantic"]["edges_changed"][0]["caller"], "api", "{v}");
    // Who calls `api` feels the change.
    assert_eq!(v["semantic"]["blast_radius"]["api"][0], "front", "{v}");
}

/// A project setting changes every service's output at once: the summary says which one,
/// instead of "13 images changed" for a new namespace.
#[test]
fn a_changed_project_setting_is_named_in_the_summary() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (side, namespace) in [("base", "shop"), ("head", "shop2")] {
        let dir = tmp.path().join(side);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("nestio.kdl"),
            format!(
                "project \"p\" {{\n    registry \"ghcr.io/acme\"\n    namespace \"{namespace}\"\n}}\nservice \"web\" {{\n    uses \"std/http-service\"\n    image \"web\" tag=\"1.0.0\"\n}}\n"
            ),
        )
        .expect("write");
    }
    let o = nestioc(&["diff", "head", "--base", "base"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    assert!(md.contains("1 project setting changed"), "{md}");
    assert!(md.contains("- project namespace: shop → shop2"), "{md}");
}

/// Moving an environment to another namespace moves every workload deployed there, and a
/// new port number changes every caller's address and the policies that admit it: a
/// reviewer must see both in the summary, and the port's callers in the blast radius.
#[test]
fn an_environments_namespace_and_a_ports_number_are_named_in_the_summary() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (side, namespace, port) in [("base", "shop-staging", 50051), ("head", "shop-stg", 50052)] {
        let dir = tmp.path().join(side);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("nestio.kdl"),
            format!(
                r#"project "p" {{
    registry "ghcr.io/acme"
    environment "staging" {{
        namespace "{namespace}"
    }}
    environment "prod"
}}
service "inventory" {{
    uses "std/grpc-service"
    image "inventory" tag="1.0.0"
    port "grpc" {port} protocol="grpc"
}}
service "web" {{
    uses "std/http-service"
    image "web" tag="1.0.0"
    depends-on "inventory"
}}
"#
            ),
        )
        .expect("write");
    }
    let o = nestioc(&["diff", "head", "--base", "base"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    assert!(
        md.contains("- project environment `staging` namespace: shop-staging → shop-stg"),
        "{md}"
    );
    assert!(md.contains("1 port list changed"), "{md}");
    assert!(
        md.contains("- ports of `inventory`: grpc 50051/grpc → grpc 50052/grpc"),
        "{md}"
    );
    assert!(!md.contains("No change to the topology"), "{md}");
    let o = nestioc(
        &["diff", "head", "--base", "base", "--format", "json"],
        tmp.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let blast = json["semantic"]["blast_radius"].to_string();
    assert!(
        blast.contains("web"),
        "the port's caller is affected: {blast}"
    );
}
