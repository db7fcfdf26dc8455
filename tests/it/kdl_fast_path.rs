//! The parser's fast path (`compiler/src/syntax/fast.rs`) against the kdl crate, the
//! reference: whenever the fast path answers, its nodes must be exactly the kdl crate's
//! (names, values, the text of every value, type annotations, every span). And it must
//! answer for every real input (examples, the standard library, generated topologies),
//! or it would be tested but never used.
//!
//! The inputs: every KDL file of the repository, valid or not; generated topologies;
//! hand-written snippets for each construct and corner; deterministic mutations of the
//! real files; random token soups and random nodes (proptest).

use nestioc::source::SourceId;
use nestioc::syntax::{self, Node, fast};
use proptest::prelude::*;

use crate::perf::topology;
use crate::support::root;

/// Runs both paths on `text`; panics when the fast path answers and differs from the kdl
/// crate (or answers where it reports an error). Returns whether the fast path answered.
fn compare(what: &str, text: &str) -> bool {
    let id = SourceId(3);
    let Some(fast) = fast::parse(id, text, syntax::MAX_DEPTH) else {
        return false;
    };
    let Some(reference) = syntax::parse_with_kdl(id, text) else {
        panic!(
            "{what}: the fast path reads what the kdl crate refuses\n--- input\n{text}\n--- fast\n{fast:#?}"
        );
    };
    // Debug output tells floats apart bit for bit (-0.0, NaN), which `==` does not.
    let (f, r) = (format!("{fast:#?}"), format!("{reference:#?}"));
    if fast != reference || f != r {
        let line = f
            .lines()
            .zip(r.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let context = |s: &str| {
            s.lines()
                .skip(line.saturating_sub(8))
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{what}: the fast path differs from the kdl crate\n--- input\n{text}\n--- fast\n{}\n--- kdl\n{}",
            context(&f),
            context(&r)
        );
    }
    true
}

fn count(nodes: &[Node]) -> usize {
    nodes.iter().map(|n| 1 + count(&n.children)).sum()
}

/// Every `*.kdl` file under `dir`, as (path, text); text that is not UTF-8 is read lossily,
/// as the driver keeps it for rendering.
fn kdl_files(dir: &str) -> Vec<(String, String)> {
    walkdir::WalkDir::new(root().join(dir))
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "kdl"))
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            (
                e.path().display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

#[test]
fn fast_path_matches_kdl_on_every_repository_file() {
    let mut used = 0;
    for dir in ["examples", "stdlib"] {
        let files = kdl_files(dir);
        assert!(files.len() > 5, "no KDL files under {dir}");
        for (path, text) in files {
            assert!(
                compare(&path, &text),
                "{path}: the fast path does not read this file"
            );
            used += 1;
        }
    }
    let fixtures = kdl_files("tests/fixtures");
    assert!(fixtures.len() > 50, "no fixtures");
    let mut fixtures_read = 0;
    for (path, text) in &fixtures {
        fixtures_read += usize::from(compare(path, text));
    }
    // Invalid fixtures may fall back, but most fixtures are valid KDL.
    assert!(
        fixtures_read * 10 > fixtures.len() * 8,
        "the fast path reads only {fixtures_read} of {} fixtures",
        fixtures.len()
    );
    assert!(used > 20);
}

#[test]
fn fast_path_matches_kdl_on_generated_topologies() {
    let files = topology::files(300);
    let mut nodes = 0;
    for (path, text) in &files {
        assert!(
            compare(path, text),
            "{path}: the fast path does not read it"
        );
        nodes += count(&fast::parse(SourceId(3), text, syntax::MAX_DEPTH).unwrap());
    }
    assert!(nodes > 300 * 15, "only {nodes} nodes");
}

/// Snippets the fast path must read, and agree on: one per construct and corner.
const READ: &[&str] = &[
    "",
    "\n\n",
    "a",
    "a\n",
    "a 1",
    "  a 1 2  ",
    "a 1 ; b",
    "a;b",
    "a; b;",
    "a \"b\" c=\"d\" e=#true f=#false g=#null",
    "\"quoted name\" \"x\"",
    "\"\" 1",
    "a \"\"=1",
    "a k = 1",
    "a k =1 j= 2",
    "a \"k\"=v",
    "a k=v",
    "a -1 +2 0 -0 007 1_000 1_000_",
    "a 1.5 -2.25 +0.5 99.9 1_0.5_0 1_.5 0.0 -0.0",
    "a 1e3 1E3 1e-3 2.5E+10 1_e3 1e999 -1e999",
    "a 170141183460469231731687303715884105727",
    "a -170141183460469231731687303715884105727",
    "a bare-word x.y .x +x -x - + -- +. .",
    "a ,<>?!$%&'*+-:@^_`|~",
    "a -inf-x nan-x true-x nullable falsey",
    "(t)a",
    "(t) a",
    "( t )a",
    "(\"t y\")a",
    "a (t)1 (u)\"s\" (v) #true k=(w)2 j=(x) 3",
    "a (\"t\")1",
    "a {}",
    "a{}",
    "a {b}",
    "a{b;c}",
    "a { b; c }",
    "a {\n  b 1\n}\nc",
    "a {\n  b {\n    c {\n      d 1\n    }\n  }\n}\n",
    "a 1{b}",
    "a \"x\"{b}",
    "a #true{b}",
    "a k=v{b}",
    "a {\n}\n",
    "a { // comment\n}",
    "a {b} ;c",
    "a {b};c",
    "// comment\na 1 // trailing\nb // end",
    "// at the end",
    "a 1 //",
    "a /* c */ 1 /* d */ 2 /* e */",
    "a/* c */1",
    "a 1/* c */",
    "/* multi\nline */ a",
    "/* nested /* twice */ still */ a",
    "/* **/ a /*/ x */",
    "/***/a",
    "a 1 /* c\n */ 2",
    "/- a 1\nb",
    "/-a\nb",
    "/- a { b }\nc",
    "/- \t a\nb",
    "/-\na\nb",
    "/- // c\n a\nb",
    "a /- 1 2",
    "a /-1 2",
    "a 1 /- 2",
    "a 1 /- k=v j=w",
    "a /- 1 /- 2 3",
    "a /- (t)1 2",
    "a /- {x}",
    "a /- {x} {y}",
    "a /- {x} /- {y} {z}",
    "a {x} /- {y}",
    "a {x} /- {y} /- {z}",
    "a 1 /- {x}",
    "a /- 1 /- {x} {y}",
    "a /- 1 {x}",
    "a { /- b }",
    "a { b /- c }",
    "a {\n  /- b 1\n  c\n}",
    "a \\\n  1",
    "a \\ // comment\n  1",
    "a \\   \n 1 \\\n 2",
    "a 1 \\\n",
    "a 1 \\",
    "a \\\r\n 1",
    "a k\\\n=1",
    "a /* c */ \\ /* d */ // e\n 1",
    "\\\na",
    "a 1\r\nb 2\r\n",
    "a\rb",
    "a {\r\n  b\r\n}\r\n",
    "// c\r\na",
    "\u{feff}a 1",
    "a \"\\n\\t\\\\\\\"\\b\\f\\r\\s\"",
    "a \"\\u{1}\\u{41}\\u{10FFFF}\\u{0}\\u{00e9}\"",
    "a \"x\\\n   y\"",
    "a \"x\\   \\\ty\"",
    "a \"x\\\r\n y\"",
    "a \"tab\there\"",
    "a \"caf\u{e9} \u{4e16}\u{754c} \u{1f600}\"",
    "a \"x\u{7f}y\"",
    "a \"// not a comment\" \"/* nor this */\" \"{\" \"}\" \";\"",
    "a \"\\\"\"",
    "a \"{{ .Values }}\" \"${HOME}\"",
    "a \"\"",
    "a \"\" \"\"",
    "a 1\n\n\n   \n\tb 2",
    "a;\nb",
    "a    ;    b",
    "service \"checkout\" {\n    port \"http\" 8080 protocol=\"http\"\n    slo \"availability\" target=99.9\n}\n",
    "a k=1 k=2",
    "-a 1",
    "+ 1",
    "a #\"raw\"#",
    "a ##\"raw\"##",
    "a #\"C:\\path\\\"quoted\"\"# ##\"a\"#b\"##",
    "a ##\"x\"#y\"##",
    "a k=#\"^(?<t>\\d{4}) \\[.*\\]$\"# j=#\"\t\u{7f}caf\u{e9}\"#",
    "#\"raw name\"# #\"k\"#=1 (#\"t\"#)2",
    "a #\"{\"# {b}",
];

/// Snippets the fast path must leave to the kdl crate (it may not read them, whether the
/// crate accepts them or reports an error).
const FALL_BACK: &[&str] = &[
    "-inf 1",
    "a #\"\"#",
    "a #\"\"\"#",
    "a #\"x\"##",
    "a #\"x\"",
    "a #\"x\ny\"#",
    "a #\"\u{200f}\"#",
    "a \"\"\"\nmulti\n\"\"\"",
    "a #\"\"\"\nmulti\n\"\"\"#",
    "a 0x10",
    "a 0o17",
    "a 0b101",
    "a -0x10",
    "a #inf",
    "a #-inf",
    "a #nan",
    "a true",
    "a null",
    "a inf",
    "a -inf",
    "caf\u{e9} 1",
    "a caf\u{e9}",
    "a\u{a0}1",
    "a 1\u{2028}b",
    "a 1\u{85}b",
    "a 1\u{b}b",
    "a 1\u{c}b",
    "// c\u{2028}a",
    "a \"\u{200e}\"",
    "a \"\u{feff}\"",
    "a \"\u{1}\"",
    "a \"\\/\"",
    "a \"\\x\"",
    "a \"\\u{}\"",
    "a \"\\u{110000}\"",
    "a \"\\u{D800}\"",
    "a \"\\u{1234567}\"",
    "a \"\\u41\"",
    "a \"x\\\u{a0}y\"",
    "a \"line\nbreak\"",
    "a \"unterminated",
    "a 1.",
    "a .5",
    "a -.5",
    "a 1._5",
    "a 1e",
    "a 1e5.5",
    "a 1x",
    "a 1_000x",
    "a 100000000000000000000000000000000000000000.5",
    "a 1.100000000000000000000000000000000000000000",
    "a 170141183460469231731687303715884105728",
    "a -170141183460469231731687303715884105728",
    "a {",
    "a }",
    "}",
    "{ a }",
    "a { b } c",
    "a { } 1",
    "a {} {}",
    "a;;b",
    ";a",
    "a;\n;b",
    "/- a; b",
    "/- a{}b",
    "/-",
    "a /-",
    "a /-\n1",
    "a /- // c\n 1",
    "a /-{x} 1",
    "a /- {x} /- 1",
    "a /- {x} 1",
    "a {x}/-{y}",
    "a 1/-2",
    "a 1/2",
    "a/-1",
    "a\"b\"",
    "a \"b\"\"c\"",
    "a 1(t)2",
    "a(t)1",
    "a (t)k=1",
    "a k=\"v\"=1",
    "a k=v=w",
    "a k=",
    "a =1",
    "a 1=2",
    "a #true=1",
    "a #truex",
    "a #",
    "a #x",
    "1 a",
    "#true a",
    "(1)a",
    "a (#true)1",
    "a (t",
    "a [1]",
    "a \\ x\n1",
    "a /* unterminated",
    "a /* /* */",
    "a k=(t)(u)1",
];

#[test]
fn fast_path_matches_kdl_on_snippets() {
    for text in READ {
        assert!(
            compare(text, text),
            "{text:?}: the fast path should read this"
        );
    }
    for text in FALL_BACK {
        assert!(
            !compare(text, text),
            "{text:?}: the fast path should leave this to the kdl crate"
        );
    }
}

/// Deterministic mutations of every repository file: near-valid input, where the two
/// parsers are most likely to disagree.
#[test]
fn fast_path_matches_kdl_on_mutated_files() {
    const PIECES: &[&str] = &[
        "\"", "{", "}", "=", "#", "/*", "*/", "//", "/-", "\\", "\n", "\r\n", "\r", ";", " ",
        "(t)", "#true", "#null", "-1", "1.5", "1e3", "1_0", "\\n", "\\u{41}", "\\\n", "é",
        "\u{a0}", "\u{2028}", "0x1", "\"\"\"", "#\"", ".", "+", "-",
    ];
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        usize::try_from(rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33).unwrap() % n.max(1)
    };
    let mut files = kdl_files("examples");
    files.extend(kdl_files("stdlib"));
    files.extend(kdl_files("tests/fixtures"));
    let (mut read, mut total) = (0, 0);
    for (path, text) in &files {
        let chars: Vec<char> = text.chars().collect();
        for round in 0..24 {
            let mut s = chars.clone();
            for _ in 0..=next(2) {
                let i = next(s.len() + 1);
                match next(4) {
                    0 => {
                        let end = (i + 1 + next(4)).min(s.len());
                        s.drain(i.min(end)..end);
                    }
                    1 | 2 => {
                        let piece = PIECES[next(PIECES.len())];
                        for (k, c) in piece.chars().enumerate() {
                            s.insert(i + k, c);
                        }
                    }
                    _ => {
                        if i < s.len() {
                            s[i] = PIECES[next(PIECES.len())].chars().next().unwrap();
                        }
                    }
                }
            }
            let mutated: String = s.into_iter().collect();
            read += usize::from(compare(&format!("{path} (mutation {round})"), &mutated));
            total += 1;
        }
    }
    // The mutations must leave enough valid input for the comparison to mean something.
    assert!(
        read * 4 > total,
        "the fast path read only {read} of {total}"
    );
}

/// Pieces of KDL, valid and not, for random documents.
const TOKENS: &[&str] = &[
    "a",
    "node",
    "k",
    "-",
    "+x",
    ".",
    "x.y",
    "true",
    "\"s\"",
    "\"\"",
    "\"a b\"",
    "\"\\n\"",
    "\"\\u{41}\"",
    "\"x\\\n y\"",
    "1",
    "-2",
    "+3",
    "1_0",
    "1.5",
    "-0.0",
    "1e3",
    "1.5E-3",
    "0x1",
    "#true",
    "#false",
    "#null",
    "#inf",
    "#\"r\"#",
    "=",
    "(t)",
    "(\"t\")",
    "( t )",
    "(",
    ")",
    "{",
    "}",
    ";",
    " ",
    " ",
    " ",
    "\t",
    "\n",
    "\n",
    "\r\n",
    "\r",
    "//c\n",
    "// c",
    "/*c*/",
    "/* /* */ */",
    "/*",
    "*/",
    "/-",
    "/- ",
    "\\",
    "\\\n",
    "\\ //c\n",
    "é",
    "\u{a0}",
    "[",
    "#",
];

/// 2,048 cases each by default; `PROPTEST_CASES=N` for more.
fn cases() -> u32 {
    std::env::var_os("PROPTEST_CASES")
        .and_then(|v| v.to_str()?.parse().ok())
        .unwrap_or(2048)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn fast_path_matches_kdl_on_random_documents(
        tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)
    ) {
        let text: String = tokens.concat();
        compare("random document", &text);
    }

    /// Random documents built node by node, so that many of them are valid.
    #[test]
    fn fast_path_matches_kdl_on_random_nodes(
        nodes in prop::collection::vec(
            (
                prop::sample::select(&["a", "(t)b", "\"c d\"", "/- e", "-f"][..]),
                prop::collection::vec(
                    prop::sample::select(&[
                        " 1", " -2.5", " 1e3", " x", " \"s\"", " \"\\t\"", " k=v", " k = #true",
                        " (t)3", " /- 4", " /-k=5", " /* c */", " \\\n", " #null", " j=(u)\"w\"",
                    ][..]),
                    0..5,
                ),
                prop::sample::select(&["", " {}", " { x }", " {\n  y 1\n}", " /- { z }", "{w;v}"][..]),
                prop::sample::select(&["\n", ";", " // c\n", "\r\n", "\n\n", " ;\n", ""][..]),
            ),
            0..8,
        )
    ) {
        let mut text = String::new();
        for (name, entries, children, end) in &nodes {
            text.push_str(name);
            for e in entries {
                text.push_str(e);
            }
            text.push_str(children);
            text.push_str(end);
        }
        compare("random nodes", &text);
    }
}
