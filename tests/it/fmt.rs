//! `nestioc fmt`: every example and fixture is in canonical form; formatting is
//! idempotent and never changes what a project compiles to; `--check` and errors behave.

use std::path::{Path, PathBuf};
use std::process::Command;

use nestioc::diag::Diagnostics;
use nestioc::driver;
use nestioc::source::Origin;

use crate::support::{compile, root, subdirs};

/// Every project directory the repository holds.
fn projects() -> Vec<PathBuf> {
    let mut v = subdirs(&root().join("examples"));
    for group in ["valid", "invalid", "expanded"] {
        v.extend(subdirs(&root().join("tests/fixtures").join(group)));
    }
    v.extend(subdirs(&root().join("tests/fixtures/diff/review")));
    v
}

/// `(file, text, formatted)` for each KDL file of a project; `None` when one does not parse.
fn formatted(dir: &Path) -> Option<Vec<(String, String, String)>> {
    let (sources, _) = driver::load_project(dir, &dir.join("generated")).ok()?;
    let mut diags = Diagnostics::new();
    let out = nestioc::fmt::format_project(&sources, &mut diags)?;
    Some(
        out.into_iter()
            .map(|(id, text)| {
                let s = sources.get(id);
                (s.name.clone(), s.text.clone(), text)
            })
            .collect(),
    )
}

#[test]
fn every_example_and_fixture_is_formatted() {
    let mut checked = 0;
    for dir in projects() {
        let Some(files) = formatted(&dir) else {
            // Only the fixtures about unparsable input may fail to parse.
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with("NST0001") || name.starts_with("NST0002"),
                "{} does not parse",
                dir.display()
            );
            continue;
        };
        for (name, text, out) in files {
            assert!(
                text == out,
                "{}/{name} is not formatted; run `nestioc fmt {}`",
                dir.display(),
                dir.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "checked {checked} files");
}

/// A canonical file made sloppy without changing its meaning or its line numbers:
/// two-space indents, and simple string values unquoted (KDL v2 allows identifiers).
fn sloppy(text: &str) -> String {
    let mut out = String::new();
    let mut in_multiline = false;
    for line in text.lines() {
        if line.contains("\"\"\"") {
            in_multiline = !in_multiline || line.matches("\"\"\"").count() == 2;
        }
        let depth = (line.len() - line.trim_start_matches(' ').len()) / 4;
        let rest = &line[depth * 4..];
        let mut l = format!("{}{rest}", "  ".repeat(depth));
        // Lines with a comment keep their length: fmt keeps the author's spacing before a
        // trailing comment (aligned comments stay aligned).
        if !in_multiline && !line.contains('#') && !line.contains("//") {
            l = unquote_simple(&l);
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// `"abc-1"` -> `abc-1` where it stands alone as a value (after a space or `=`).
fn unquote_simple(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('"') {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        let inner_end = after[1..].find('"').map(|j| j + 1);
        match inner_end {
            Some(j) => {
                let inner = &after[1..j];
                let next = after[j + 1..].chars().next();
                let standalone = (before.ends_with(' ') || before.ends_with('='))
                    && matches!(next, None | Some(' ' | '{'));
                let ident = inner.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && inner
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !matches!(inner, "true" | "false" | "null" | "inf" | "nan");
                if standalone && ident {
                    out.push_str(inner);
                } else {
                    out.push_str(&after[..=j]);
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn copy_project(from: &Path, to: &Path, transform: impl Fn(&str) -> String) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        if rel.starts_with("generated") {
            continue;
        }
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if entry.path().extension().is_some_and(|e| e == "kdl") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(&dest, transform(&text)).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn formatting_restores_canonical_text_and_keeps_the_artifacts() {
    let mut dirs = subdirs(&root().join("examples"));
    dirs.extend(subdirs(&root().join("tests/fixtures/valid")));
    for dir in dirs {
        let tmp = tempfile::tempdir().unwrap();
        let messy = tmp.path().join("p");
        copy_project(&dir, &messy, sloppy);
        let files = formatted(&messy).expect("the sloppy copy parses");
        let original = formatted(&dir).expect("parses");
        for ((name, messy_text, out), (_, canonical, _)) in files.iter().zip(&original) {
            assert_eq!(
                out,
                canonical,
                "{}/{name}: formatting the sloppy copy gives the canonical text back\n--- sloppy:\n{messy_text}",
                dir.display()
            );
        }
        // The sloppy copy means the same: the same artifacts, byte for byte.
        let opts = crate::support::fixture_options(&dir);
        let a = compile(&dir, &opts).artifacts.expect("compiles");
        let b = compile(&messy, &opts)
            .artifacts
            .expect("the sloppy copy compiles");
        assert!(
            a.files.keys().eq(b.files.keys()),
            "{}: same files",
            dir.display()
        );
        for (path, art) in &a.files {
            assert!(
                art.contents == b.files[path].contents,
                "{}: {path} differs",
                dir.display()
            );
        }
    }
}

#[test]
fn formatting_is_idempotent_on_odd_input() {
    let odd = "project   p{namespace ns;mesh istio}\n\n\n\n// a\n\n\n// b\nservice s   {\n\t  port http 8080 protocol=http // the port\n/- env OLD \"1\"\n  env A \\\n      \"1\"\n\n  }\n";
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("nestio.kdl"), odd).unwrap();
    let once = formatted(tmp.path()).expect("parses")[0].2.clone();
    std::fs::write(tmp.path().join("nestio.kdl"), &once).unwrap();
    let twice = formatted(tmp.path()).expect("parses")[0].2.clone();
    assert_eq!(once, twice, "idempotent:\n{once}");
    for needle in [
        "project \"p\" {\n    namespace \"ns\"\n    mesh \"istio\"\n}\n\n// a\n\n// b\nservice \"s\" {\n",
        "    port \"http\" 8080 protocol=\"http\" // the port\n",
        // A slashdashed node is a comment: kept as written.
        "    /- env OLD \"1\"\n",
        "    env \"A\" \\\n        \"1\"\n}\n",
    ] {
        assert!(once.contains(needle), "{needle:?} in:\n{once}");
    }
}

fn nestioc(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn fmt_command_checks_writes_and_refuses_broken_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\" {\n    namespace \"p\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("services/api.kdl"),
        "service api {\n  uses \"http-service\"\n  image api tag=\"1.0.0\"\n}\n",
    )
    .unwrap();
    let o = nestioc(&["fmt", "--check"], dir);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("services/api.kdl"), "{err}");
    assert!(err.contains("+service \"api\" {"), "{err}");
    let o = nestioc(&["fmt"], dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("services/api.kdl")).unwrap(),
        "service \"api\" {\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n}\n"
    );
    assert_eq!(nestioc(&["fmt", "--check"], dir).status.code(), Some(0));
    // A file that does not parse: a diagnostic, exit 1, and no file is touched.
    std::fs::write(
        dir.join("services/api.kdl"),
        "service \"api\" {\n  image \"api\" tag=\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("nestio.kdl"),
        "project   \"p\" {\n namespace \"p\"\n}\n",
    )
    .unwrap();
    let o = nestioc(&["fmt"], dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NST0001"));
    assert_eq!(
        std::fs::read_to_string(dir.join("nestio.kdl")).unwrap(),
        "project   \"p\" {\n namespace \"p\"\n}\n",
        "nothing written when a file does not parse"
    );
}

#[test]
fn formatted_files_keep_their_origin_only() {
    // Template overrides (.hbs) and the standard library are not formatted.
    let dir = root().join("examples/shop");
    let (sources, _) = driver::load_project(&dir, &dir.join("generated")).unwrap();
    let mut diags = Diagnostics::new();
    let out = nestioc::fmt::format_project(&sources, &mut diags).unwrap();
    assert!(
        out.iter()
            .all(|(id, _)| sources.get(*id).origin == Origin::Project)
    );
}
