//! `nestioc report`: the page is self-contained, deterministic and escaped, and in a real
//! headless browser (Debian's Chromium driven by playwright-core) it loads without console
//! errors, draws one node per service and one edge per dependency, and shows a service's
//! card when its node is clicked. Screenshots are kept in `target/test-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::root;

fn nestioc(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nestioc")
}

fn report(dir: &Path, args: &[&str], out: &Path) -> String {
    let mut all = vec!["report", "-o", out.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    let o = nestioc(&all, dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out).expect("report written")
}

/// node, Chromium and playwright-core, or `None` (a failure under
/// NESTIOC_REQUIRE_VALIDATORS=1).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let modules = root().join(".node-validators/node_modules");
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = if !node_ok {
        Some("node")
    } else if !chromium.is_file() {
        Some("chromium")
    } else if !modules.join("playwright-core").is_dir() {
        Some("playwright-core")
    } else {
        None
    };
    if let Some(what) = missing {
        assert!(
            std::env::var_os("NESTIOC_REQUIRE_VALIDATORS").is_none_or(|v| v != "1"),
            "browser test: {what} not found; NESTIOC_REQUIRE_VALIDATORS=1 makes that an error"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED browser test: {what} not found (run scripts/install-validators.sh)"
        );
        return None;
    }
    Some((modules, chromium))
}

fn drive(page: &Path, screenshot: &str, click: &str) -> Option<Value> {
    let (modules, chromium) = browser()?;
    let artifacts = root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let o = Command::new("node")
        .arg(root().join("tests/browser/report.mjs"))
        .arg(page)
        .arg(artifacts.join(screenshot))
        .arg(click)
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    assert!(
        o.status.success(),
        "browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(serde_json::from_slice(&o.stdout).expect("json from the browser script"))
}

fn sorted(v: &Value, f: impl Fn(&Value) -> String) -> Vec<String> {
    let mut out: Vec<String> = v.as_array().expect("array").iter().map(f).collect();
    out.sort();
    out
}

#[test]
fn report_page_in_a_browser_matches_the_topology() {
    let tmp = tempfile::tempdir().expect("tmp");
    let shop = root().join("examples/shop");
    let page = tmp.path().join("shop.html");
    let html = report(&shop, &[], &page);
    assert!(
        !html.contains("<link") && !html.contains(" src="),
        "no external resources"
    );
    // Same input, same bytes.
    let again = report(&shop, &[], &tmp.path().join("again.html"));
    assert_eq!(html, again);

    // What the page should show: the compiler's own graph.
    let o = nestioc(&["graph", "--format", "json"], &shop);
    let graph: Value = serde_json::from_slice(&o.stdout).expect("graph json");
    let services = sorted(&graph["services"], |s| {
        s["name"].as_str().expect("name").to_owned()
    });
    let edges = sorted(&graph["edges"], |e| {
        format!(
            "{}->{}",
            e["from"].as_str().unwrap(),
            e["to"].as_str().unwrap()
        )
    });

    let Some(r) = drive(&page, "report-shop.png", "checkout") else {
        return;
    };
    assert_eq!(r["console_errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["page_errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["requests"], serde_json::json!([]), "self-contained: {r}");
    assert_eq!(r["title"], "shop · topology");
    assert_eq!(
        sorted(&r["nodes"], |n| n.as_str().unwrap().to_owned()),
        services,
        "one node per service"
    );
    assert_eq!(
        sorted(&r["edges"], |e| format!(
            "{}->{}",
            e["from"].as_str().unwrap(),
            e["to"].as_str().unwrap()
        )),
        edges,
        "one edge per dependency"
    );
    assert_eq!(r["visible_cards_before"], 0, "no card until a click");
    assert_eq!(r["visible_cards"], serde_json::json!(["checkout"]));
    assert_eq!(r["selected"], serde_json::json!(["checkout"]));
    let card = r["card_text"].as_str().expect("card text");
    for needle in [
        "payments-team",
        "ghcr.io/acme/checkout:1.4.2",
        "availability 99.9% over 30d",
        "storefront",
        "services/checkout.kdl",
    ] {
        assert!(card.contains(needle), "card lacks {needle:?}:\n{card}");
    }
    let calls = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from"] == "checkout" || e["to"] == "checkout")
        .count();
    assert_eq!(
        r["related_edges"], calls,
        "the clicked service's edges light up"
    );
    // A link in the card selects the service it names.
    assert_eq!(
        r["after_link"],
        serde_json::json!([r["link_target"].as_str().unwrap()])
    );
}

#[test]
fn report_with_a_base_highlights_the_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = root().join("tests/fixtures/diff/review");
    let page = tmp.path().join("review.html");
    let out = page.to_str().unwrap().to_owned();
    let o = nestioc(&["report", "head", "--base", "base", "-o", &out], &scenario);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Compared with <code>base</code>"));
    let Some(r) = drive(&page, "report-review.png", "api") else {
        return;
    };
    assert_eq!(r["console_errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["page_errors"], serde_json::json!([]), "{r}");
    assert_eq!(r["node_classes"]["reports"], "node removed");
    assert_eq!(r["node_classes"]["api"], "node changed");
    assert_eq!(r["node_classes"]["web"], "node");
    let added: Vec<&Value> = r["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["class"].as_str().unwrap().contains("added"))
        .collect();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["from"], "api");
    assert_eq!(added[0]["to"], "inventory");
    let card = r["card_text"].as_str().unwrap();
    assert!(
        card.contains("registry.example.com/store/api:1.8.2"),
        "{card}"
    );
    assert!(card.contains("now calls inventory"), "{card}");
}

#[test]
fn report_needs_a_topology_to_compare_with() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("p");
    copy(&root().join("tests/fixtures/diff/review/base"), &dir);
    let o = nestioc(&["build"], &dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A previous output directory has files, not a topology.
    let o = nestioc(&["report", "--base", "generated", "-o", "x.html"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is an output directory"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dir.join("x.html").exists(), "nothing written");
}

fn copy(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let dest = to.join(entry.path().strip_prefix(from).expect("prefix"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}
