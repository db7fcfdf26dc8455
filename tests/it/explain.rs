//! Every code has an explanation with the fixed headings, and every explanation file
//! belongs to a code.

use nestioc::diag::Code;

use crate::support::root;

#[test]
fn every_code_is_explained_with_the_standard_headings() {
    for code in Code::ALL {
        let text = code.explanation();
        let title = format!("# {}: {}", code.as_str(), code.slug());
        assert!(
            text.starts_with(&title),
            "{code}: first line should be `{title}`"
        );
        for heading in [
            "## What it means",
            "## Why it matters",
            "## Example",
            "## Fix",
        ] {
            assert!(text.contains(heading), "{code}: missing `{heading}`");
        }
    }
}

#[test]
fn every_explanation_file_has_a_code() {
    let dir = root().join("docs/diagnostics");
    for entry in std::fs::read_dir(dir).expect("docs/diagnostics") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let code = name.trim_end_matches(".md");
        assert!(Code::parse(code).is_some(), "{name} documents no code");
    }
}

#[test]
fn codes_parse_by_number_and_name() {
    assert_eq!(Code::parse("NST0201"), Some(Code::UnknownService));
    assert_eq!(Code::parse("nst0201"), Some(Code::UnknownService));
    assert_eq!(Code::parse("unknown-service"), Some(Code::UnknownService));
    assert_eq!(Code::parse("NST9999"), None);
}

/// Every `Diagnostic::error(Code::X` and `Diagnostic::warning(Code::X` in the compiler
/// agrees with the severity the code table gives X: the table is the one place severities
/// live (the documentation index is generated from it).
#[test]
fn every_diagnostic_is_built_with_its_codes_severity() {
    let by_variant: std::collections::BTreeMap<String, Code> =
        Code::ALL.iter().map(|c| (format!("{c:?}"), *c)).collect();
    let mut problems = Vec::new();
    let mut seen = 0;
    for entry in walkdir::WalkDir::new(root().join("compiler/src")) {
        let entry = entry.expect("walk");
        if entry.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("read");
        for (ctor, severity) in [
            ("Diagnostic::error(", nestioc::diag::Severity::Error),
            ("Diagnostic::warning(", nestioc::diag::Severity::Warning),
        ] {
            for (at, _) in text.match_indices(ctor) {
                let rest = text[at + ctor.len()..].trim_start();
                let Some(variant) = rest.strip_prefix("Code::") else {
                    continue; // a code passed in a variable: checked where it is chosen
                };
                let variant: String = variant
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                let code = by_variant
                    .get(&variant)
                    .unwrap_or_else(|| panic!("unknown code variant {variant}"));
                seen += 1;
                if code.severity() != severity {
                    problems.push(format!(
                        "{}: {ctor}Code::{variant} but the table says {code} is {:?}",
                        entry.path().display(),
                        code.severity()
                    ));
                }
            }
        }
    }
    assert!(seen > 50, "only {seen} diagnostics found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The first paragraph of an explanation is its summary (the index and `nestioc explain`
/// show it): one whole sentence, ending with a period.
#[test]
fn every_summary_is_a_whole_sentence() {
    for code in Code::ALL {
        let summary = nestioc::diag::code::summary(code.explanation());
        assert!(
            summary.ends_with('.') && !summary.is_empty(),
            "{code}: the summary stops mid-sentence: {summary:?}"
        );
        assert!(!summary.contains('\n'), "{code}: {summary:?}");
    }
}

/// An unknown code is answered with the number of codes, not of codes and names.
#[test]
fn explain_counts_codes_once() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(["explain", "NST9999"])
        .output()
        .expect("run nestioc");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text.contains(&format!("there are {} codes", Code::ALL.len())),
        "{text}"
    );
}

/// Labels in other files are shown nested under the diagnostic, never under an
/// `Advice:` header with nothing after it.
#[test]
fn labels_in_other_files_have_no_empty_headers() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("templates")).expect("mkdir");
    std::fs::write(
        tmp.path().join("nestio.kdl"),
        "project \"p\" {\n    registry \"r.example.com/p\"\n}\nservice \"api\" {\n    uses \"t\"\n    image \"api\" tag=\"1.0.0\"\n    source \"src/api\"\n}\n",
    )
    .expect("write");
    std::fs::write(
        tmp.path().join("templates/t.kdl"),
        "template \"t\" {\n    language \"python\"\n    port \"http\" 8080 protocol=\"http\"\n}\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .arg("check")
        .arg(tmp.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run nestioc");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("templates/t.kdl"), "{text}");
    for line in text.lines() {
        let l = line.trim();
        assert!(
            !matches!(l, "Advice:" | "Warning:" | "Error:"),
            "an empty header: {text}"
        );
    }
}
