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
         (also in `docs/diagnostics/CODE.md`). Warnings become errors under `--deny-warnings`.\n\n\
         | code | name | severity | summary |\n|---|---|---|---|\n",
    );
    for c in nestioc::diag::Code::ALL {
        let summary = c
            .explanation()
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        let severity = match c.as_str() {
            "NST0302" | "NST0303" | "NST0304" => "warning",
            _ => "error",
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
