//! `allow`: a warning read and accepted is not reported, within the node that says so and
//! only there; errors cannot be allowed.

use nestioc::source::{Origin, Source, SourceMap};

fn codes(text: &str, deny_warnings: bool) -> Vec<String> {
    let mut sources = SourceMap::new();
    nestioc::stdlib::load(&mut sources);
    sources.add(Source::new("nestio.kdl", text.to_owned(), Origin::Project));
    let opts = nestioc::Options {
        deny_warnings,
        ..nestioc::Options::default()
    };
    nestioc::analyze(
        sources,
        nestioc::diag::Diagnostics::new(),
        &opts,
        &mut |_| {},
    )
    .diagnostics
    .iter()
    .map(|d| format!("{}:{:?}", d.code, d.severity))
    .collect()
}

const PROJECT: &str = "project \"p\" {\n    registry \"r.example.com/p\"\n    ALLOW\n}\n";

fn project(project_allow: &str, db_allow: &str, cache_allow: &str) -> String {
    format!(
        "{}service \"db\" {{\n    {db_allow}\n    image \"ghcr.io/acme/db\"\n    port \"mongo\" 27017 protocol=\"tcp\"\n}}\nservice \"cache\" {{\n    {cache_allow}\n    image \"ghcr.io/acme/cache\"\n    port \"redis\" 6379 protocol=\"tcp\"\n}}\n",
        PROJECT.replace("ALLOW", project_allow)
    )
}

#[test]
fn a_warning_is_allowed_inside_the_node_that_allows_it_and_only_there() {
    let none = codes(&project("", "", ""), false);
    assert_eq!(none, ["NST0121:Warning", "NST0121:Warning"]);
    // By name in one service: the other service's warning stays.
    assert_eq!(
        codes(&project("", "allow \"unpinned-image\"", ""), false),
        ["NST0121:Warning"]
    );
    // By code, and under --deny-warnings (an allowed warning does not become an error).
    assert_eq!(
        codes(&project("", "allow \"NST0121\"", "allow \"nst0121\""), true),
        Vec::<String>::new()
    );
    // The project's allow covers the project node only, not the services.
    assert_eq!(
        codes(&project("allow \"unpinned-image\"", "", ""), false),
        ["NST0121:Warning", "NST0121:Warning"]
    );
    // Allowing another warning leaves this one.
    assert_eq!(
        codes(
            &project("", "allow \"no-metrics-endpoint\" \"NST0309\"", ""),
            false
        )
        .len(),
        2
    );
}

#[test]
fn errors_and_unknown_names_cannot_be_allowed() {
    let got = codes(
        &project("", "allow \"NST0201\"", "allow \"unpined-image\""),
        false,
    );
    assert_eq!(
        got.iter()
            .filter(|c| c.starts_with("NST0103:Error"))
            .count(),
        2,
        "{got:?}"
    );
    // The errors do not hide anything: both warnings are still reported.
    assert_eq!(
        got.iter().filter(|c| c.starts_with("NST0121")).count(),
        2,
        "{got:?}"
    );
}
