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
