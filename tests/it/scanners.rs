//! Secure defaults, proven by the scanners: checkov (kubernetes, dockerfile and
//! github_actions frameworks) and `trivy config` on the full output of every example, with
//! every finding either fixed or suppressed, with its reason, in
//! `tests/scanner-suppressions.txt`; and the defaults the scanners do not all check, asserted
//! on the same output: a default-deny NetworkPolicy for every workload, Istio mTLS STRICT,
//! no floating image tag, secrets only by reference.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{compile, root, subdirs};
use crate::suppressions::{self, Suppression};

/// The validator `name`, or `None` when it is not installed (see
/// [`crate::support::validator`]).
fn tool(name: &str) -> Option<PathBuf> {
    crate::support::validator("scanners", name)
}

/// One example's full output (every target), in a directory whose name does not start
/// with a dot (checkov skips hidden directories).
struct Built {
    name: String,
    out: PathBuf,
    files: Vec<(String, String)>,
    /// Findings the topology asked for: (scanner, check id, service).
    asked: Asked,
    _tmp: tempfile::TempDir,
}

fn build_examples() -> Vec<Built> {
    let dirs: Vec<PathBuf> = subdirs(&root().join("examples"))
        .into_iter()
        .filter(|d| d.join("nestio.kdl").is_file())
        .collect();
    assert!(dirs.len() >= 2, "examples: {dirs:?}");
    dirs.iter().map(|d| build(d)).collect()
}

fn build(dir: &Path) -> Built {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let c = compile(dir, &nestioc::Options::default());
    let set = c.artifacts.unwrap_or_else(|| {
        panic!(
            "{name} compiles:\n{}",
            crate::support::render_human(&c.analysis)
        )
    });
    let tmp = tempfile::Builder::new()
        .prefix("nestioc-scan-")
        .tempdir()
        .expect("tmp");
    let out = tmp.path().join("generated");
    nestioc::driver::write(&out, &set, false).expect("write");
    let files = set
        .files
        .values()
        .map(|a| (a.path.clone(), a.contents.clone()))
        .collect();
    let asked = asked_for(c.analysis.model.as_ref().expect("model"));
    Built {
        name,
        out,
        files,
        asked,
        _tmp: tmp,
    }
}

/// The findings a topology asks for by relaxing a secure default on purpose (`security`,
/// docs/security.md), per service: those, on that service's own files, are the author's
/// decision, not a defect of the generator, so they need no suppression; the same finding
/// on any other service still fails. Check ids from checkov's Kubernetes policies and
/// trivy's KSV checks (the ones each relaxation trips, as observed on examples/socks).
pub(crate) fn asked_for(model: &nestioc::model::Model) -> Asked {
    use nestioc::model::{DEFAULT_ID, RunAs};
    let mut out = BTreeSet::new();
    for (name, svc) in &model.services {
        let containers = std::iter::once(&svc.security)
            .chain(svc.sidecars.iter().map(|c| &c.security))
            .chain(svc.init_containers.iter().map(|c| &c.security));
        let mut ask = |ids: &[(&'static str, &'static str)]| {
            for (scanner, id) in ids {
                out.insert((*scanner, *id, name.to_string()));
            }
        };
        for sec in containers {
            let low = match sec.run_as {
                RunAs::Ids { user, group } => user < DEFAULT_ID || group < DEFAULT_ID,
                RunAs::Image { .. } => true,
            };
            if low || sec.fs_group < DEFAULT_ID {
                // CKV_K8S_40 / KSV-0020 / KSV-0021: UID or GID at or below 10000.
                ask(&[
                    ("checkov", "CKV_K8S_40"),
                    ("trivy", "KSV-0020"),
                    ("trivy", "KSV-0021"),
                ]);
            }
            if !sec.read_only_root {
                // CKV_K8S_22 / KSV-0014: a writable root filesystem.
                ask(&[("checkov", "CKV_K8S_22"), ("trivy", "KSV-0014")]);
            }
            if !sec.add_capabilities.is_empty() {
                // CKV_K8S_25 / KSV-0022: capabilities added after dropping ALL.
                ask(&[("checkov", "CKV_K8S_25"), ("trivy", "KSV-0022")]);
            }
            if sec.add_capabilities.iter().any(|c| c == "NET_BIND_SERVICE")
                && svc.ports.iter().any(|p| p.target < 1024)
            {
                // KSV-0117: a container port below 1024, which is why the capability is there.
                ask(&[("trivy", "KSV-0117")]);
            }
        }
    }
    out
}

/// The service a generated file belongs to: `kubernetes/<env>/<svc>.yaml` or
/// `helm/<svc>/...`.
pub(crate) fn service_of(path: &str) -> Option<&str> {
    let path = path.trim_start_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    match parts[..] {
        ["kubernetes", _, file] => file.strip_suffix(".yaml"),
        ["helm", svc, ..] => Some(svc),
        _ => None,
    }
}

/// Findings a topology asked for: (scanner, check id, service).
pub(crate) type Asked = BTreeSet<(&'static str, &'static str, String)>;

/// Whether a finding on `path` is one the topology asked for.
pub(crate) fn is_asked(asked: &Asked, scanner: &str, id: &str, path: &str) -> bool {
    service_of(path).is_some_and(|svc| {
        asked
            .iter()
            .any(|(sc, i, s)| *sc == scanner && *i == id && s == svc)
    })
}

/// A finding: (scanner, check id, path in the output directory, what).
type Finding = (String, String, String, String);

fn checkov_findings(checkov: &Path, b: &Built, problems: &mut String) -> Vec<Finding> {
    let out = Command::new(checkov)
        .arg("-d")
        .arg(&b.out)
        .args([
            "--framework",
            "kubernetes",
            "dockerfile",
            "github_actions",
            "--skip-download",
            "--compact",
            "--quiet",
            "-o",
            "json",
        ])
        .output()
        .expect("run checkov");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(
                problems,
                "{}: checkov printed no JSON report ({e}):\n{text}\n{}",
                b.name,
                String::from_utf8_lossy(&out.stderr)
            );
            return Vec::new();
        }
    };
    // One report per framework (an array), or one object when only one ran.
    let reports: Vec<Value> = match report {
        Value::Array(a) => a,
        v => vec![v],
    };
    let frameworks: BTreeSet<&str> = reports
        .iter()
        .filter_map(|r| r["check_type"].as_str())
        .collect();
    for f in ["kubernetes", "dockerfile", "github_actions"] {
        // The minimal example has no CI and no Dockerfile: only what exists is scanned.
        let expected = match f {
            "dockerfile" => b.files.iter().any(|(p, _)| p.ends_with("/Dockerfile")),
            "github_actions" => b
                .files
                .iter()
                .any(|(p, _)| p.contains(".github/workflows/")),
            _ => true,
        };
        if expected && !frameworks.contains(f) {
            let _ = writeln!(
                problems,
                "{}: checkov ran no {f} checks (frameworks: {frameworks:?})",
                b.name
            );
        }
    }
    let mut findings = Vec::new();
    for r in &reports {
        let summary = &r["summary"];
        if summary["parsing_errors"] != 0 {
            let _ = writeln!(
                problems,
                "{}: checkov {} parsing errors: {summary}",
                b.name, r["check_type"]
            );
        }
        for c in r["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let path = c["file_path"].as_str().unwrap_or("?");
            // checkov reports paths from the scanned directory: `/generated/...` or `/...`.
            let path = path.trim_start_matches('/');
            let path = path.strip_prefix("generated/").unwrap_or(path);
            findings.push((
                "checkov".to_owned(),
                c["check_id"].as_str().unwrap_or("?").to_owned(),
                path.to_owned(),
                format!(
                    "{} on {}",
                    c["check_name"].as_str().unwrap_or("?"),
                    c["resource"].as_str().unwrap_or("?")
                ),
            ));
        }
    }
    findings
}

fn trivy_findings(trivy: &Path, b: &Built, problems: &mut String) -> Vec<Finding> {
    // trivy renders the charts it finds, each with its dependency vendored as `helm
    // dependency build` leaves it (else it renders none).
    let tree = tempfile::tempdir().expect("tmp");
    crate::support::copy_tree(&b.out, tree.path());
    for chart in crate::support::subdirs(&b.out.join("helm")) {
        if crate::support::is_service_chart(&chart) {
            let name = crate::conformance::file_name(&chart);
            crate::support::copy_tree(
                &b.out.join("helm").join(crate::support::SHARED_CHART),
                &tree
                    .path()
                    .join("helm")
                    .join(&name)
                    .join("charts")
                    .join(crate::support::SHARED_CHART),
            );
        }
    }
    let out = Command::new(trivy)
        .args(["config", "--quiet", "--format", "json", "--exit-code", "0"])
        .arg(tree.path())
        .env("TRIVY_DISABLE_VEX_NOTICE", "1")
        .output()
        .expect("run trivy");
    let report: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(
                problems,
                "{}: trivy printed no JSON report ({e}):\n{}",
                b.name,
                String::from_utf8_lossy(&out.stderr)
            );
            return Vec::new();
        }
    };
    let results = report["Results"].as_array().cloned().unwrap_or_default();
    // trivy must have looked at the manifests, the charts and the Dockerfiles.
    let targets: BTreeSet<String> = results
        .iter()
        .filter_map(|r| r["Target"].as_str().map(str::to_owned))
        .collect();
    for (path, _) in &b.files {
        let scanned = targets.contains(path);
        // (A chart template that renders nothing for its service, the Deployment of a
        // canary that runs as a Rollout, say, has no result: only the rendered files and
        // the Dockerfiles are required.)
        let must = path.starts_with("kubernetes/") || path.ends_with("/Dockerfile");
        if must && !scanned {
            let _ = writeln!(problems, "{}: trivy did not scan {path}", b.name);
        }
    }
    if !targets.iter().any(|t| t.starts_with("helm/")) {
        let _ = writeln!(problems, "{}: trivy rendered no Helm chart", b.name);
    }
    let mut findings = Vec::new();
    for r in &results {
        let target = r["Target"].as_str().unwrap_or("?");
        for m in r["Misconfigurations"].as_array().into_iter().flatten() {
            if m["Status"] != "FAIL" {
                continue;
            }
            findings.push((
                "trivy".to_owned(),
                m["ID"].as_str().unwrap_or("?").to_owned(),
                target.to_owned(),
                format!(
                    "{} ({}): {}",
                    m["Title"].as_str().unwrap_or("?"),
                    m["Severity"].as_str().unwrap_or("?"),
                    m["Message"].as_str().unwrap_or("?")
                ),
            ));
        }
    }
    findings
}

/// Every finding of checkov and trivy on every example's full output is suppressed with
/// a reason, and every suppression is still needed by some example.
#[test]
fn checkov_and_trivy_find_nothing_unsuppressed_in_any_example() {
    let all = suppressions::all();
    let checkov = tool("checkov");
    let trivy = tool("trivy");
    if checkov.is_none() && trivy.is_none() {
        return;
    }
    let mut problems = String::new();
    let mut used: BTreeSet<usize> = BTreeSet::new();
    for b in build_examples() {
        let mut findings = Vec::new();
        if let Some(c) = &checkov {
            findings.extend(checkov_findings(c, &b, &mut problems));
        }
        if let Some(t) = &trivy {
            findings.extend(trivy_findings(t, &b, &mut problems));
        }
        for (scanner, id, path, what) in findings {
            if is_asked(&b.asked, &scanner, &id, &path) {
                continue;
            }
            match all.iter().position(|s| s.matches(&scanner, &id, &path)) {
                Some(i) => {
                    used.insert(i);
                }
                None => {
                    let _ = writeln!(problems, "{}: {scanner} {id} {path}: {what}", b.name);
                }
            }
        }
    }
    if checkov.is_some() && trivy.is_some() {
        let stale: Vec<&Suppression> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(_, s)| s)
            .collect();
        for s in stale {
            // The file also serves the narrower scans of conformance.rs and
            // delivery_files.rs; here, on the full output, every line must be hit.
            let _ = writeln!(
                problems,
                "{}: `{} {} {}` matches no finding any more: remove it",
                s.at, s.scanner, s.id, s.path
            );
        }
    }
    assert!(
        problems.is_empty(),
        "scanner findings (fix the generated output, or add a suppression with its reason to tests/scanner-suppressions.txt):\n{problems}"
    );
}

/// Every YAML document of an output that is plain data (not a Helm template).
fn documents(b: &Built) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for (path, text) in &b.files {
        let yaml = path.ends_with(".yaml") || path.ends_with(".yml");
        if !yaml || path.contains("/templates/") {
            continue;
        }
        for d in serde_saphyr::from_multiple::<Value>(text)
            .unwrap_or_else(|e| panic!("{}: {path}: {e}", b.name))
        {
            if !d.is_null() {
                docs.push((path.clone(), d));
            }
        }
    }
    docs
}

fn workload_pod(doc: &Value) -> Option<&Value> {
    match doc["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Rollout" => Some(&doc["spec"]["template"]),
        "CronJob" => Some(&doc["spec"]["jobTemplate"]["spec"]["template"]),
        _ => None,
    }
}

fn selects(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| labels[k] == *v))
        && selector.get("matchExpressions").is_none()
}

#[test]
fn secure_defaults_hold_in_every_example() {
    let mut problems = String::new();
    for b in build_examples() {
        let docs = documents(&b);
        let rendered: Vec<&(String, Value)> = docs
            .iter()
            .filter(|(p, _)| p.starts_with("kubernetes/"))
            .collect();
        assert!(!rendered.is_empty(), "{}: no rendered manifests", b.name);
        for (path, doc) in &rendered {
            let Some(pod) = workload_pod(doc) else {
                continue;
            };
            let labels = &pod["metadata"]["labels"];
            let ns = &doc["metadata"]["namespace"];
            // Default deny: some NetworkPolicy of the same file selects the pod for
            // ingress, and every rule it has names its peers.
            let policies: Vec<&Value> = rendered
                .iter()
                .filter(|(p, d)| {
                    p == path
                        && d["kind"] == "NetworkPolicy"
                        && d["metadata"]["namespace"] == *ns
                        && selects(&d["spec"]["podSelector"], labels)
                })
                .map(|(_, d)| d)
                .collect();
            let denies = policies.iter().any(|p| {
                p["spec"]["policyTypes"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == "Ingress"))
            });
            if !denies {
                let _ = writeln!(
                    problems,
                    "{}: {path}: {} {} has no default-deny NetworkPolicy",
                    b.name, doc["kind"], doc["metadata"]["name"]
                );
            }
            for p in &policies {
                for rule in p["spec"]["ingress"].as_array().into_iter().flatten() {
                    if rule["from"].as_array().is_none_or(Vec::is_empty) {
                        let _ = writeln!(
                            problems,
                            "{}: {path}: NetworkPolicy {} admits any peer: {rule}",
                            b.name, p["metadata"]["name"]
                        );
                    }
                }
            }
            // Pinned images, secrets by reference.
            let spec = &pod["spec"];
            for c in ["containers", "initContainers"]
                .iter()
                .flat_map(|k| spec[k].as_array().into_iter().flatten())
            {
                let image = c["image"].as_str().unwrap_or_default();
                let last = image.rsplit('/').next().unwrap_or_default();
                if !(last.contains(':') || last.contains('@')) || image.ends_with(":latest") {
                    let _ = writeln!(problems, "{}: {path}: unpinned image `{image}`", b.name);
                }
                for e in c["env"].as_array().into_iter().flatten() {
                    let by_ref = e["valueFrom"]
                        .as_object()
                        .is_some_and(|v| v.contains_key("secretKeyRef"));
                    let name = e["name"].as_str().unwrap_or_default();
                    let secretish = ["PASSWORD", "TOKEN", "SECRET", "API_KEY"]
                        .iter()
                        .any(|w| name.contains(w));
                    if secretish && !by_ref {
                        let _ = writeln!(
                            problems,
                            "{}: {path}: `{name}` looks like a secret but is a literal",
                            b.name
                        );
                    }
                }
            }
        }
        // No Secret object, and no secret data, anywhere in the output.
        for (path, doc) in &docs {
            if doc["kind"] == "Secret" || doc["kind"] == "SealedSecret" {
                let _ = writeln!(problems, "{}: {path}: a Secret object", b.name);
            }
        }
        // mTLS STRICT for every service when the mesh is Istio.
        let istio: Vec<&(String, Value)> = docs
            .iter()
            .filter(|(p, d)| p.starts_with("istio/") && d["kind"] == "PeerAuthentication")
            .collect();
        let istio_files: BTreeSet<&str> = b
            .files
            .iter()
            .filter(|(p, _)| p.starts_with("istio/") && p.ends_with(".yaml"))
            .map(|(p, _)| p.as_str())
            .collect();
        for f in &istio_files {
            let strict = istio
                .iter()
                .filter(|(p, _)| p == f)
                .any(|(_, d)| d["spec"]["mtls"]["mode"] == "STRICT");
            if !strict && !f.ends_with("gateway.yaml") {
                let _ = writeln!(
                    problems,
                    "{}: {f}: no PeerAuthentication with mTLS STRICT",
                    b.name
                );
            }
        }
        for (path, d) in &istio {
            if d["spec"]["mtls"]["mode"] != "STRICT" {
                let _ = writeln!(problems, "{}: {path}: mTLS is not STRICT: {d}", b.name);
            }
        }
    }
    assert!(problems.is_empty(), "{problems}");
}
