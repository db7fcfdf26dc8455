//! Fixture projects with insta snapshots.
//!
//! `tests/fixtures/valid/<case>/` must compile with zero diagnostics; the snapshot
//! `tests/snapshots/valid__<case>.snap` holds every emitted file.
//! `tests/fixtures/invalid/<case>/` must fail (or warn); the snapshot holds the rendered
//! diagnostics. A case named after a code (`NST0201-...`) must report that code.
//! Regenerate with `cargo insta test --review` and read every change before accepting.

use crate::support::{compile, dump, fixture_options, render_human, root, subdirs};

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn valid_fixtures_compile_cleanly() {
    let dirs = subdirs(&root().join("tests/fixtures/valid"));
    assert!(!dirs.is_empty());
    for dir in dirs {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let c = compile(&dir, &fixture_options(&dir));
        assert!(
            c.analysis.diagnostics.is_empty(),
            "{case} should compile without diagnostics:\n{}",
            render_human(&c.analysis)
        );
        let mut set = c.artifacts.expect("artifacts");
        // The platform playbook reads nothing but the project's mesh, CD and logging:
        // only the fixtures that select their targets (`ansible-*`) show it.
        if fixture_options(&dir).targets.is_empty() {
            set.files.retain(|path, _| !path.starts_with("ansible/"));
        }
        let generic = case == "http-service";
        settings().bind(|| insta::assert_snapshot!(format!("valid__{case}"), dump(&set, generic)));
    }
}

#[test]
fn invalid_fixtures_report_their_code() {
    let dirs = subdirs(&root().join("tests/fixtures/invalid"));
    assert!(!dirs.is_empty());
    for dir in dirs {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let c = compile(&dir, &fixture_options(&dir));
        assert!(
            !c.analysis.diagnostics.is_empty(),
            "{case} should report a diagnostic"
        );
        if let Some(code) = case.split('-').next().filter(|c| c.starts_with("NST")) {
            assert!(
                c.analysis
                    .diagnostics
                    .iter()
                    .any(|d| d.code.as_str() == code),
                "{case} should report {code}:\n{}",
                render_human(&c.analysis)
            );
        }
        // A case with `expected-codes` must report exactly those diagnostics, in order: one
        // mistake is one diagnostic, never a cascade of follow-on errors.
        if let Ok(expected) = std::fs::read_to_string(dir.join("expected-codes")) {
            let got: Vec<&str> = c
                .analysis
                .diagnostics
                .iter()
                .map(|d| d.code.as_str())
                .collect();
            let want: Vec<&str> = expected.lines().filter(|l| !l.is_empty()).collect();
            assert_eq!(got, want, "{case}:\n{}", render_human(&c.analysis));
        }
        settings().bind(|| {
            insta::assert_snapshot!(format!("invalid__{case}"), render_human(&c.analysis))
        });
    }
}

#[test]
fn every_code_has_an_invalid_fixture() {
    let cases: Vec<String> = subdirs(&root().join("tests/fixtures/invalid"))
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // NST0401 and NST0404 come from the output directory, not the input: tests/it/cli.rs
    // and tests/it/hardening.rs cover them.
    let missing: Vec<&str> = nestioc::diag::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| *c != "NST0401" && *c != "NST0404")
        .filter(|c| !cases.iter().any(|case| case.starts_with(c)))
        .collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}
