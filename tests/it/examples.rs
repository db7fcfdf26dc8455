//! Every bundled example compiles with zero diagnostics, and compiling is
//! deterministic: the same project in two different directories gives the same bytes.

use std::path::Path;

use crate::support::{compile, render_human, root, subdirs};

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).sort_by_file_name() {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("prefix");
        if rel.components().any(|c| c.as_os_str() == "generated") {
            continue;
        }
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn examples_compile_without_diagnostics() {
    let examples = subdirs(&root().join("examples"));
    assert!(
        examples.len() >= 2,
        "examples/minimal and examples/shop at least"
    );
    for dir in examples {
        let c = compile(&dir, &nestioc::Options::default());
        assert!(
            c.analysis.diagnostics.is_empty(),
            "{} has diagnostics:\n{}",
            dir.display(),
            render_human(&c.analysis)
        );
        assert!(c.artifacts.is_some_and(|a| !a.is_empty()));
    }
}

#[test]
fn shop_is_realistic() {
    let c = compile(&root().join("examples/shop"), &nestioc::Options::default());
    let model = c.analysis.model.expect("model");
    assert!(model.services.len() >= 8);
    assert!(model.services.values().any(|s| s.is_worker()));
    assert!(model.services.values().any(|s| !s.externals.is_empty()));
    assert!(
        model
            .services
            .values()
            .any(|s| s.rollout.kind == nestioc::model::RolloutKind::Canary)
    );
    assert!(model.project.environments.len() >= 2);
}

#[test]
fn builds_are_byte_identical_from_different_directories() {
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let pa = a.path().join("one/shop");
    let pb = b.path().join("elsewhere/deeper/shop");
    copy_dir(&root().join("examples/shop"), &pa);
    copy_dir(&root().join("examples/shop"), &pb);
    let sa = compile(&pa, &nestioc::Options::default())
        .artifacts
        .expect("a");
    let sb = compile(&pb, &nestioc::Options::default())
        .artifacts
        .expect("b");
    assert_eq!(
        sa.files.keys().collect::<Vec<_>>(),
        sb.files.keys().collect::<Vec<_>>()
    );
    for (path, art) in &sa.files {
        assert_eq!(art.contents, sb.files[path].contents, "{path} differs");
        assert!(
            !art.contents.contains(&*a.path().to_string_lossy()),
            "{path} has an absolute path"
        );
    }
}

/// Lines of KDL that say something: not blank, not comments.
fn meaningful_lines(dir: &Path) -> (usize, usize) {
    let mut lines = 0;
    let mut bytes = 0;
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("walk");
        if entry.path().extension().is_none_or(|x| x != "kdl") {
            continue;
        }
        for l in std::fs::read_to_string(entry.path()).expect("read").lines() {
            let t = l.trim();
            if !t.is_empty() && !t.starts_with("//") {
                lines += 1;
                bytes += l.len() + 1;
            }
        }
    }
    (lines, bytes)
}

/// `examples/shop` uses templates, stdlib presets, parameters and defaults;
/// `tests/fixtures/expanded/shop` is the same topology spelled out without any of them.
/// They generate the same bytes, and the reuse makes the shop at least 40% shorter.
#[test]
fn templated_shop_equals_its_expanded_form_and_is_much_shorter() {
    let short = root().join("examples/shop");
    let long = root().join("tests/fixtures/expanded/shop");
    for entry in walkdir::WalkDir::new(&long) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let text = std::fs::read_to_string(entry.path()).expect("read");
            assert!(
                !text.contains("uses ")
                    && !text.contains("defaults")
                    && !text.contains("(param)")
                    && !text.contains("(fmt)"),
                "{} still uses templates or defaults",
                entry.path().display()
            );
        }
    }
    let a = compile(&short, &nestioc::Options::default());
    let b = compile(&long, &nestioc::Options::default());
    assert!(
        b.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&b.analysis)
    );
    let (a, b) = (a.artifacts.expect("short"), b.artifacts.expect("long"));
    assert_eq!(
        a.files.keys().collect::<Vec<_>>(),
        b.files.keys().collect::<Vec<_>>()
    );
    for (path, art) in &a.files {
        assert_eq!(art.contents, b.files[path].contents, "{path} differs");
    }
    let (short_lines, short_bytes) = meaningful_lines(&short);
    let (long_lines, long_bytes) = meaningful_lines(&long);
    assert!(
        short_lines * 100 <= long_lines * 60,
        "examples/shop has {short_lines} lines, the expanded form {long_lines}: less than 40% shorter"
    );
    assert!(short_bytes < long_bytes);
}
