//! The binary as users run it: exit codes, output formats, writing, `--check`, and
//! protection of hand-edited files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::root;

fn nestioc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nestioc")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A scratch copy of a fixture or example project.
fn project(from: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("project");
    let src = root().join(from);
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(&src).expect("prefix");
        if rel.starts_with("generated") {
            continue;
        }
        let to = dest.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &to).expect("copy");
        }
    }
    (tmp, dest)
}

fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path()
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn build_writes_files_and_a_manifest() {
    let (_t, dir) = project("examples/minimal");
    let o = nestioc(&["build", "."], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("compiled 1 service into"),
        "{}",
        stderr(&o)
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("generated/.nestio-manifest.json")).expect("manifest"),
    )
    .expect("json");
    let files = manifest["files"].as_object().expect("files");
    assert!(files.contains_key("kubernetes/default/greeter.yaml"));
    assert!(files.contains_key("helm/greeter/Chart.yaml"));
    for (path, hash) in files {
        let bytes = std::fs::read(dir.join("generated").join(path)).expect("listed file exists");
        use sha2::Digest;
        let h: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash.as_str(), Some(h.as_str()), "{path}");
    }
    // A second build changes nothing.
    let before = snapshot_dir(&dir.join("generated"));
    let o = nestioc(&["build"], &dir);
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("0 written"), "{}", stderr(&o));
    assert_eq!(before, snapshot_dir(&dir.join("generated")));
}

#[test]
fn a_failed_build_leaves_the_output_exactly_as_it_was() {
    let (_t, dir) = project("examples/minimal");
    assert_eq!(code(&nestioc(&["build"], &dir)), 0);
    std::fs::write(dir.join("generated/notes.txt"), "mine").expect("write");
    let before = snapshot_dir(&dir.join("generated"));
    std::fs::write(
        dir.join("broken.kdl"),
        "service \"x\" { depends-on \"nowhere\" ",
    )
    .expect("write");
    let o = nestioc(&["build"], &dir);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert_eq!(before, snapshot_dir(&dir.join("generated")));
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let o = nestioc(
        &[
            "check",
            "tests/fixtures/invalid/many-errors",
            "--format",
            "json",
        ],
        &root(),
    );
    assert_eq!(code(&o), 1);
    let text = stderr(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        for key in [
            "code", "severity", "message", "file", "line", "column", "end", "labels", "help",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {line}");
        }
        assert!(
            v["file"]
                .as_str()
                .expect("file")
                .starts_with("tests/fixtures/invalid/many-errors/"),
            "{line}"
        );
    }
}

#[test]
fn github_diagnostics_are_workflow_commands() {
    let o = nestioc(
        &[
            "check",
            "tests/fixtures/invalid/many-errors",
            "--format",
            "github",
        ],
        &root(),
    );
    assert_eq!(code(&o), 1);
    for line in stderr(&o).lines() {
        assert!(
            line.starts_with("::error file=tests/fixtures/invalid/many-errors/")
                || line.starts_with("::warning file="),
            "{line}"
        );
        assert!(
            line.contains(",line=") && line.contains(",col=") && line.contains("title=NST"),
            "{line}"
        );
    }
}

#[test]
fn sarif_is_a_sarif_log() {
    let o = nestioc(
        &[
            "check",
            "tests/fixtures/invalid/many-errors",
            "--format",
            "sarif",
        ],
        &root(),
    );
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stderr(&o)).expect("sarif is json");
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    assert!(results[0]["locations"][0]["physicalLocation"]["region"]["startLine"].is_u64());
    // Columns are counted in characters; a consumer assuming UTF-16 would misplace every
    // result after an emoji (SARIF 2.1.0 §3.14.17).
    assert_eq!(v["runs"][0]["columnKind"], "unicodeCodePoints");
}

/// `completions bash | head -2`: the reader closing the pipe is not an error (clap_complete
/// panicked with a backtrace).
#[test]
fn completions_into_a_closed_pipe_exit_quietly() {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `build --check 2>&1 | head -1`: the report goes to stderr, and a reader that stops
/// reading must not turn the check's answer (exit 1: files are missing) into a panic
/// (exit 101, outside the documented codes).
#[test]
fn a_check_whose_report_nobody_reads_still_answers() {
    let (_tmp, dir) = project("examples/shop");
    let out = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(["build", "--check", "-o"])
        .arg(out.path())
        .arg(&dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "{status}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(code(&nestioc(&["build", "--no-such-flag"], &root())), 2);
    assert_eq!(
        code(&nestioc(&["build", "/definitely/not/here"], &root())),
        2
    );
    assert_eq!(
        code(&nestioc(
            &["build", "--target", "nope", "examples/minimal"],
            &root()
        )),
        2
    );
    assert_eq!(code(&nestioc(&["explain", "NST9999"], &root())), 2);
}

#[test]
fn a_directory_without_a_project_is_an_input_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = nestioc(&["check", "."], tmp.path());
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("NST0003"), "{}", stderr(&o));
}

#[test]
fn explain_prints_the_explanation() {
    let o = nestioc(&["explain", "NST0201"], &root());
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("# NST0201: unknown-service"));
    let o = nestioc(&["explain", "dependency-cycle"], &root());
    assert!(stdout(&o).starts_with("# NST0301"));
    let o = nestioc(&["explain"], &root());
    assert_eq!(stdout(&o).lines().count(), nestioc::diag::Code::ALL.len());
}

#[test]
fn check_mode_reports_drift_and_exit_1() {
    let (_t, dir) = project("examples/minimal");
    assert_eq!(
        code(&nestioc(&["build", "--check"], &dir)),
        1,
        "nothing generated yet"
    );
    assert_eq!(code(&nestioc(&["build"], &dir)), 0);
    let o = nestioc(&["build", "--check"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let f = dir.join("generated/kubernetes/default/greeter.yaml");
    let text = std::fs::read_to_string(&f).expect("read");
    std::fs::write(&f, text.replace("replicas: 2", "replicas: 5")).expect("write");
    std::fs::remove_file(dir.join("generated/helm/greeter/Chart.yaml")).expect("rm");
    let o = nestioc(&["build", "--check"], &dir);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains("stale:   kubernetes/default/greeter.yaml"),
        "{err}"
    );
    assert!(
        err.contains("-  replicas: 5") && err.contains("+  replicas: 2"),
        "{err}"
    );
    assert!(err.contains("missing: helm/greeter/Chart.yaml"), "{err}");
}

#[test]
fn hand_edited_files_are_not_overwritten_without_force() {
    let (_t, dir) = project("examples/minimal");
    assert_eq!(code(&nestioc(&["build"], &dir)), 0);
    let f = dir.join("generated/kubernetes/default/greeter.yaml");
    let edited = std::fs::read_to_string(&f)
        .expect("read")
        .replace("replicas: 2", "replicas: 9");
    std::fs::write(&f, &edited).expect("write");
    std::fs::write(
        dir.join("nestio.kdl"),
        std::fs::read_to_string(dir.join("nestio.kdl"))
            .expect("read")
            .replace("1.0.0", "1.0.1"),
    )
    .expect("write");
    let o = nestioc(&["build"], &dir);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("NST0401"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&f).expect("read"),
        edited,
        "the edit is kept"
    );
    let o = nestioc(&["build", "--force"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("generated/kubernetes/default/greeter.yaml.orig"))
            .expect("orig"),
        edited
    );
    assert!(std::fs::read_to_string(&f).expect("read").contains("1.0.1"));
}

#[test]
fn files_no_longer_generated_are_pruned_unless_edited() {
    let (_t, dir) = project("examples/shop");
    assert_eq!(code(&nestioc(&["build"], &dir)), 0);
    let out_dir = dir.join("generated");
    let edited = out_dir.join("kubernetes/prod/recommendations.yaml");
    std::fs::write(&edited, "# mine\n").expect("write");
    std::fs::remove_file(dir.join("services/recommendations.kdl")).expect("rm");
    let sf = dir.join("services/storefront.kdl");
    let text = std::fs::read_to_string(&sf).expect("read");
    let text: String = text
        .lines()
        .filter(|l| !l.contains("\"recommendations\""))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&sf, text).expect("write");
    let o = nestioc(&["build"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !out_dir
            .join("kubernetes/staging/recommendations.yaml")
            .exists()
    );
    assert!(
        !out_dir.join("helm/recommendations").exists(),
        "empty chart directory removed"
    );
    assert_eq!(std::fs::read_to_string(&edited).expect("kept"), "# mine\n");
    assert!(
        stderr(&o).contains("edited by hand: kept"),
        "{}",
        stderr(&o)
    );
}

/// The writer swaps in a whole new tree (docs/security.md): what the user keeps in the
/// output directory must come along, and files that did not change must not be rewritten.
#[cfg(unix)]
#[test]
fn a_rebuild_keeps_the_users_files_and_does_not_rewrite_unchanged_ones() {
    use std::os::unix::fs::MetadataExt as _;
    let (_t, dir) = project("examples/shop");
    assert_eq!(code(&nestioc(&["build"], &dir)), 0);
    let out_dir = dir.join("generated");
    std::fs::write(out_dir.join("README.md"), "# ours\n").expect("write");
    std::fs::create_dir_all(out_dir.join("notes/empty")).expect("mkdir");
    let unchanged = out_dir.join("kubernetes/prod/payments.yaml");
    let changed = out_dir.join("kubernetes/prod/checkout.yaml");
    let inode = std::fs::metadata(&unchanged).expect("meta").ino();
    let sf = dir.join("services/checkout.kdl");
    let text = std::fs::read_to_string(&sf).expect("read");
    assert!(text.contains("version=\"1.4.2\""), "{text}");
    std::fs::write(
        &sf,
        text.replacen("version=\"1.4.2\"", "version=\"9.9.9\"", 1),
    )
    .expect("write");
    let o = nestioc(&["build"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&changed)
            .expect("read")
            .contains("9.9.9")
    );
    assert_eq!(std::fs::metadata(&unchanged).expect("meta").ino(), inode);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("README.md")).expect("kept"),
        "# ours\n"
    );
    assert!(out_dir.join("notes/empty").is_dir());
    // Nothing is left beside the output directory.
    let beside: Vec<String> = std::fs::read_dir(&dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("nestio-"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = "tests/fixtures/invalid/NST0302-slo-infeasible";
    let o = nestioc(&["check", dir], &root());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("NST0302"));
    assert_eq!(
        code(&nestioc(&["check", dir, "--deny-warnings"], &root())),
        1
    );
}

#[test]
fn unknown_environment_is_reported() {
    let o = nestioc(
        &[
            "build",
            "examples/shop",
            "--env",
            "prd",
            "-o",
            "/nonexistent/never",
        ],
        &root(),
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("NST0204") && stderr(&o).contains("did you mean `prod`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn target_and_env_select_outputs() {
    let (_t, dir) = project("examples/shop");
    let o = nestioc(
        &["build", "--target", "kubernetes,graph", "--env", "staging"],
        &dir,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out_dir = dir.join("generated");
    assert!(out_dir.join("kubernetes/staging/checkout.yaml").exists());
    assert!(!out_dir.join("kubernetes/prod").exists());
    assert!(!out_dir.join("helm").exists());
    assert!(out_dir.join("graph/topology.json").exists());
}

#[test]
fn graph_prints_each_format() {
    for (format, marker) in [
        ("dot", "digraph \"shop\""),
        ("mermaid", "flowchart LR"),
        ("json", "\"waves\""),
    ] {
        let o = nestioc(&["graph", "examples/shop", "--format", format], &root());
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(stdout(&o).contains(marker), "{format}: {}", stdout(&o));
    }
}

/// `report -o` writes through what the path names, as a shell redirection would: a link
/// stays a link, a pipe stays a pipe (replacing `/dev/stdout` or `/dev/null` with a
/// regular file, as root in a CI container, broke the container), and `-o -` is standard
/// output.
#[test]
fn report_writes_through_links_and_pipes_and_to_stdout() {
    let (_tmp, dir) = project("examples/minimal");
    let is_page = |s: &str| s.starts_with("<!DOCTYPE html>") && s.trim_end().ends_with("</html>");

    let o = nestioc(&["report", ".", "-o", "-"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(is_page(&stdout(&o)), "stdout is not the page");

    std::fs::write(dir.join("real.html"), "old").expect("write");
    std::os::unix::fs::symlink("real.html", dir.join("link.html")).expect("symlink");
    let o = nestioc(&["report", ".", "-o", "link.html"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let meta = std::fs::symlink_metadata(dir.join("link.html")).expect("link");
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert!(is_page(
        &std::fs::read_to_string(dir.join("real.html")).expect("read")
    ));

    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the pipe"))
    };
    let o = nestioc(&["report", ".", "-o", "pipe"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        is_page(&reader.join().expect("reader")),
        "the pipe did not get the page"
    );
    use std::os::unix::fs::FileTypeExt as _;
    let meta = std::fs::symlink_metadata(&fifo).expect("pipe");
    assert!(
        meta.file_type().is_fifo(),
        "the pipe was replaced by a regular file"
    );
}

/// Links below the project directory are followed, to files and to directories: a
/// service linked in from a shared directory is part of the project (it was dropped
/// without a word). A link to nothing is reported with its path, and fails the check.
#[test]
fn linked_sources_are_part_of_the_project_and_dangling_links_are_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    let shared = tmp.path().join("shared");
    let dir = tmp.path().join("project");
    std::fs::create_dir_all(shared.join("more")).expect("mkdir");
    std::fs::create_dir_all(dir.join("services")).expect("mkdir");
    std::fs::write(
        shared.join("root.kdl"),
        "project \"links\" {\n    registry \"ghcr.io/acme\"\n}\n",
    )
    .expect("write");
    let service = |name: &str| {
        format!(
            "service \"{name}\" {{\n    uses \"http-service\"\n    image \"{name}\" tag=\"1.0.0\"\n}}\n"
        )
    };
    std::fs::write(dir.join("services/a.kdl"), service("a")).expect("write");
    std::fs::write(shared.join("b.kdl"), service("b")).expect("write");
    std::fs::write(shared.join("more/c.kdl"), service("c")).expect("write");
    std::os::unix::fs::symlink(shared.join("root.kdl"), dir.join("nestio.kdl")).expect("link");
    std::os::unix::fs::symlink(shared.join("b.kdl"), dir.join("services/b.kdl")).expect("link");
    std::os::unix::fs::symlink(shared.join("more"), dir.join("services/more")).expect("link");

    let o = nestioc(&["graph", ".", "--format", "json"], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let graph: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("graph JSON");
    let text = graph.to_string();
    for name in ["\"a\"", "\"b\"", "\"c\""] {
        assert!(text.contains(name), "{name} missing from {text}");
    }

    std::os::unix::fs::symlink(shared.join("gone.kdl"), dir.join("services/d.kdl")).expect("link");
    let o = nestioc(&["check", "."], &dir);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("NST0002"), "{err}");
    assert!(err.contains("services/d.kdl"), "{err}");

    // A hidden link to nothing is skipped like any hidden file: Emacs keeps
    // `.#<file>` (a link to `user@host.pid`) while a buffer has unsaved edits.
    std::fs::remove_file(dir.join("services/d.kdl")).expect("rm");
    std::os::unix::fs::symlink("root@host.1234:1", dir.join("services/.#b.kdl")).expect("link");
    let o = nestioc(&["check", "."], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A build of part of the output (`--target`, `--env`) into a full build's directory
/// changes only that part: it used to prune every other target, and with `--env`
/// rewrite the files that serve every environment (the charts' `Chart.yaml`, the
/// dashboards, Argo CD's project) for one. The README's tour runs exactly this. `--check`
/// with the same options judges that part only.
#[test]
fn a_partial_build_changes_only_its_part() {
    let (_t, dir) = project("examples/shop");
    let out = dir.join("out");
    let out_s = out.to_str().expect("utf-8");
    let o = nestioc(&["build", ".", "-o", out_s], &dir);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let full = snapshot_dir(&out);

    for args in [
        &["--env", "staging", "--target", "kubernetes"][..],
        &["--env", "staging"][..],
        &["--target", "helm,prometheus"][..],
    ] {
        let mut build = vec!["build", ".", "-o", out_s];
        build.extend_from_slice(args);
        let o = nestioc(&build, &dir);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert!(
            snapshot_dir(&out) == full,
            "{args:?} changed the full build's files"
        );
        let mut check = build.clone();
        check.push("--check");
        let o = nestioc(&check, &dir);
        assert_eq!(code(&o), 0, "{args:?} --check: {}", stderr(&o));
    }

    // An edit that changes staging's catalog: the partial build writes that one file,
    // and the full check then finds what it left for a full build.
    let catalog = dir.join("services/catalog.kdl");
    let text = std::fs::read_to_string(&catalog).expect("read");
    std::fs::write(
        &catalog,
        text.replace("replicas 2 max=10", "replicas 4 max=10"),
    )
    .expect("write");
    let o = nestioc(
        &[
            "build",
            ".",
            "-o",
            out_s,
            "--env",
            "staging",
            "--target",
            "kubernetes",
        ],
        &dir,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let changed: Vec<String> = snapshot_dir(&out)
        .into_iter()
        .zip(&full)
        .filter(|(now, before)| now != *before)
        .map(|(now, _)| now.0)
        .collect();
    assert_eq!(
        changed,
        [".nestio-manifest.json", "kubernetes/staging/catalog.yaml"],
        "{changed:?}"
    );
    let o = nestioc(&["build", ".", "-o", out_s, "--check"], &dir);
    assert_eq!(code(&o), 1, "the full check must see the rest as stale");
}

/// The output directory is skipped when sources are read (its files are generated), so an
/// output directory that holds sources (`-o services`) would silently drop them: the
/// build compiled "0 services" and wrote a platform for none. It is refused, and nothing
/// is written.
#[test]
fn an_output_directory_that_holds_sources_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(dir.join("services")).expect("mkdir");
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\" {\n    registry \"ghcr.io/acme\"\n}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("services/api.kdl"),
        "service \"api\" {\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n}\n",
    )
    .expect("write");
    let o = nestioc(&["build", ".", "-o", "services"], &dir);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("NST0404"), "{err}");
    assert!(err.contains("services/api.kdl"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.join("services"))
        .expect("read")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("api.kdl")]);
}
