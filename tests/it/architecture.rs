//! The layering ARCHITECTURE.md draws, read from the source: a stage imports only the
//! stages before it (syntax -> lower -> graph -> check -> emit), the model sits below every
//! stage, and the language table below the checker that reads it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::root;

fn src() -> PathBuf {
    root().join("compiler/src")
}

/// Every `.rs` file at `path` (a file, or a directory walked recursively), sorted.
fn rust_files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(path.to_path_buf());
        return out;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The crate's top-level modules a source file names through `crate::` (in `use` lines
/// and in paths, `crate::{a, b::{c, d}}` groups included, over several lines too).
/// Comments are skipped, so a doc link does not count as a dependency.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| {
            let line = line.trim_start();
            if line.starts_with("//") {
                ""
            } else {
                line.split(" //").next().unwrap_or("")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // The first segment of each top-level item of the group.
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                if item_start && depth == 0 {
                    let name = ident(&group[j..]);
                    if !name.is_empty() {
                        out.insert(name);
                        item_start = false;
                    }
                }
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    _ => {}
                }
            }
        } else {
            let name = ident(after);
            if !name.is_empty() {
                out.insert(name);
            }
        }
        rest = after;
    }
    out
}

/// The files under `path` (relative to compiler/src) that name any of `forbidden`.
fn offenders(path: &str, forbidden: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for file in rust_files(&src().join(path)) {
        let text = std::fs::read_to_string(&file).unwrap();
        for m in crate_modules(&text) {
            if forbidden.contains(&m.as_str()) {
                let rel = file.strip_prefix(root()).unwrap().display().to_string();
                out.push(format!("{rel} imports crate::{m}"));
            }
        }
    }
    out
}

#[test]
fn the_reader_sees_grouped_and_nested_imports() {
    let m = crate_modules(
        "use crate::{\n    emit::{a, b},\n    model::Model,\n};\n// crate::graph in a comment\nlet x = crate::check::run(); // crate::lsp\n",
    );
    assert_eq!(
        m.into_iter().collect::<Vec<_>>(),
        ["check", "emit", "model"]
    );
}

#[test]
fn parsing_imports_no_later_stage() {
    let bad = offenders("syntax", &["lower", "graph", "check", "emit"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_graph_imports_no_later_stage() {
    let bad = offenders("graph", &["check", "emit"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn checks_do_not_import_emitters() {
    let bad = offenders("check", &["emit"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn lowering_imports_no_later_stage() {
    let bad = offenders("lower", &["graph", "check", "emit"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_language_table_does_not_import_lowering() {
    // `lower/structure.rs` checks the syntax tree against `lang`; the table itself must
    // not reach back into the checker.
    let bad = offenders("lang.rs", &["lower"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_model_imports_no_stage() {
    // The model, its value types and the names and metrics derived from it sit below every
    // stage: lowering builds it, and the graph, the checks and the emitters read it.
    let stages = ["syntax", "lower", "graph", "check", "emit", "driver", "cli"];
    let mut bad = offenders("model.rs", &stages);
    bad.extend(offenders("model", &stages));
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The paths in the first column of ARCHITECTURE.md's code map, one entry per row (a row
/// may name several paths: `benches/`, `scripts/bench.sh`).
fn code_map_rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let start = text
        .find("## Code map")
        .expect("ARCHITECTURE.md has a code map");
    let section = &text[start + "## Code map".len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut rows = Vec::new();
    for line in section.lines() {
        let Some(cells) = line.strip_prefix('|') else {
            continue;
        };
        let first = cells.split('|').next().unwrap_or("");
        let paths: Vec<String> = first
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if !paths.is_empty() {
            rows.push(paths);
        }
    }
    rows
}

#[test]
fn the_code_map_names_every_source_file_once() {
    let rows = code_map_rows();
    let named: Vec<&String> = rows.iter().flatten().collect();
    let mut missing = Vec::new();
    for file in rust_files(&src()) {
        let rel = file.strip_prefix(root()).unwrap().display().to_string();
        let rows_naming = rows.iter().filter(|r| r.contains(&rel)).count();
        let alone = rows.iter().any(|r| r.len() == 1 && r[0] == rel);
        if rows_naming != 1 || !alone {
            missing.push(format!(
                "{rel}: named in {rows_naming} rows of the code map (want one row of its own)"
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map must give every source file one row saying what it is for:\n{}",
        missing.join("\n")
    );
    let stale: Vec<&&String> = named
        .iter()
        .filter(|p| !root().join(p.as_str()).exists())
        .collect();
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md's code map names paths that do not exist: {stale:?}"
    );
}
