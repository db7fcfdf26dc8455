//! `tests/scanner-suppressions.txt`: the one list of suppressed security-scanner findings
//! (checkov and trivy), each scoped to paths of the output directory and with its reason.

use crate::support::root;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suppression {
    pub scanner: String,
    pub id: String,
    /// A path in the output directory; `*` matches any characters, `/` included.
    pub path: String,
    pub reason: String,
    /// `tests/scanner-suppressions.txt:LINE`.
    pub at: String,
}

impl Suppression {
    pub(crate) fn matches(&self, scanner: &str, id: &str, path: &str) -> bool {
        self.scanner == scanner && self.id == id && glob(&self.path, path.trim_start_matches('/'))
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// Every suppression, checked: a known scanner, a check id of its form, a reason.
pub(crate) fn all() -> Vec<Suppression> {
    let file = "tests/scanner-suppressions.txt";
    let text = std::fs::read_to_string(root().join(file)).expect(file);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{file}:{}", i + 1);
        let (fields, reason) = line.split_once('#').unwrap_or((line, ""));
        let fields: Vec<&str> = fields.split_whitespace().collect();
        let [scanner, id, path] = fields[..] else {
            panic!("{at}: expected `SCANNER CHECK-ID PATH  # reason`, got `{line}`");
        };
        assert!(
            !reason.trim().is_empty(),
            "{at}: `{id}` needs a reason: `{scanner} {id} {path}  # why`"
        );
        let id_ok = match scanner {
            "checkov" => {
                id.starts_with("CKV") && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
            "trivy" => id.starts_with("KSV-") || id.starts_with("DS-") || id.starts_with("AVD-"),
            other => panic!("{at}: unknown scanner `{other}` (checkov or trivy)"),
        };
        assert!(id_ok, "{at}: `{id}` is not a {scanner} check id");
        out.push(Suppression {
            scanner: scanner.to_owned(),
            id: id.to_owned(),
            path: path.to_owned(),
            reason: reason.trim().to_owned(),
            at,
        });
    }
    out
}

/// The checkov ids suppressed for a path (for `--skip-check`, where a test scans only
/// files of that path).
pub(crate) fn checkov_ids_for(path: &str) -> Vec<String> {
    let mut ids: Vec<String> = all()
        .into_iter()
        .filter(|s| s.scanner == "checkov" && glob(&s.path, path))
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn globs_match_as_documented() {
    assert!(glob("kubernetes/*", "kubernetes/prod/a.yaml"));
    assert!(glob(
        "helm/*/templates/*",
        "helm/cart/templates/deployment.yaml"
    ));
    assert!(!glob("helm/*/templates/*", "helm/cart/values.yaml"));
    assert!(glob("fluentd/fluentd.yaml", "fluentd/fluentd.yaml"));
    assert!(!glob("fluentd/fluentd.yaml", "fluentd/fluentd.yaml.orig"));
}

#[test]
fn the_suppression_file_is_well_formed() {
    let all = all();
    assert!(!all.is_empty());
    for (i, a) in all.iter().enumerate() {
        assert!(
            !all[..i]
                .iter()
                .any(|b| b.scanner == a.scanner && b.id == a.id && b.path == a.path),
            "{}: duplicate of an earlier line",
            a.at
        );
    }
}
