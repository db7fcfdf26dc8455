//! Shared helpers: compile a project directory through the library, render diagnostics
//! the way snapshots want them (no colour, 80 columns), list artifacts.

use std::path::{Path, PathBuf};

use nestioc::diag::render::{self, Format, RenderOptions};
use nestioc::emit::ArtifactSet;
use nestioc::{Analysis, Options, driver};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) struct Compiled {
    pub analysis: Analysis,
    pub artifacts: Option<ArtifactSet>,
}

/// Options read from a fixture's `options` file: `env=NAME`, `deny-warnings`,
/// `targets=A,B`, `limits=NAME=N,...` (as `NESTIOC_LIMITS`).
/// Where `scripts/install-validators.sh` put the Go-built tools, CRDs and kubeconform
/// schemas: `GO_VALIDATORS`, else `<repo>/.go-validators`.
pub(crate) fn go_validators() -> PathBuf {
    std::env::var_os("GO_VALIDATORS").map_or_else(|| root().join(".go-validators"), PathBuf::from)
}

/// A validator: first among the Go-built consumers in `<repo>/.go-validators/bin` (so that
/// `promtool` is promtool 3 even where an older one is on PATH), then on PATH, in the
/// repository's venv or in its npm directory; `None` (and a `SKIPPED conformance check
/// <check>` line) when missing, unless NESTIOC_REQUIRE_VALIDATORS=1 makes that an error.
pub(crate) fn validator(check: &str, name: &str) -> Option<PathBuf> {
    let found = [go_validators().join("bin")]
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .chain([
            root().join(".venv-validators/bin"),
            root().join(".node-validators/node_modules/.bin"),
        ])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("NESTIOC_REQUIRE_VALIDATORS").is_none_or(|v| v != "1"),
            "conformance check {check}: {name} not found; NESTIOC_REQUIRE_VALIDATORS=1 makes that an error"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED conformance check {check}: {name} not found (run scripts/install-validators.sh)"
        );
    }
    found
}

pub(crate) fn fixture_options(dir: &Path) -> Options {
    let mut opts = Options::default();
    if let Ok(text) = std::fs::read_to_string(dir.join("options")) {
        for line in text.lines().map(str::trim) {
            if let Some(env) = line.strip_prefix("env=") {
                opts.env = Some(env.to_owned());
            } else if line == "deny-warnings" {
                opts.deny_warnings = true;
            } else if let Some(t) = line.strip_prefix("targets=") {
                opts.targets = t.split(',').map(str::to_owned).collect();
            } else if let Some(l) = line.strip_prefix("limits=") {
                opts.limits = opts.limits.with_overrides(l).expect("limits=");
            }
        }
    }
    opts
}

pub(crate) fn compile(dir: &Path, opts: &Options) -> Compiled {
    let (sources, pre) = driver::load_project(dir, &dir.join("generated")).expect("project loads");
    let mut analysis = nestioc::analyze(sources, pre, opts, &mut |_| {});
    let artifacts = if analysis.has_errors() {
        None
    } else {
        // Emitting can fail too (a broken template override): those are diagnostics.
        match nestioc::emit(&analysis, opts, &mut |_| {}) {
            Ok(set) => Some(set),
            Err(diags) => {
                analysis.diagnostics.extend(diags);
                None
            }
        }
    };
    Compiled {
        analysis,
        artifacts,
    }
}

/// The artifacts of a one-file project, `nestio.kdl` = `kdl`, that must compile.
pub(crate) fn compile_kdl(kdl: &str) -> ArtifactSet {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("nestio.kdl"), kdl).expect("write");
    let c = compile(dir.path(), &Options::default());
    c.artifacts
        .unwrap_or_else(|| panic!("does not compile:\n{}", render_human(&c.analysis)))
}

/// The codes of every diagnostic of a compilation, in report order.
pub(crate) fn codes(c: &Compiled) -> Vec<&'static str> {
    c.analysis
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

/// The codes of every diagnostic of a one-file project, `nestio.kdl` = `kdl`.
pub(crate) fn codes_of(kdl: &str) -> Vec<&'static str> {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("nestio.kdl"), kdl).expect("write");
    codes(&compile(dir.path(), &Options::default()))
}

pub(crate) fn render_human(analysis: &Analysis) -> String {
    render::render(
        &analysis.diagnostics,
        &analysis.sources,
        Format::Human,
        &RenderOptions {
            prefix: String::new(),
            color: false,
            width: Some(100),
        },
    )
}

/// Every artifact, sorted by path, each under a `--- path ---` header. With `generic`
/// false, the files that are the same for every chart (templates, values schema) are
/// left out: one fixture snapshots them, the others stay readable.
pub(crate) fn dump(set: &ArtifactSet, generic: bool) -> String {
    let mut s = String::new();
    for (path, a) in &set.files {
        let is_generic = path.contains("/templates/") || path.ends_with("values.schema.json");
        if is_generic && !generic {
            continue;
        }
        s.push_str(&format!("--- {path} ---\n{}", a.contents));
        if !a.contents.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// Sub-directories of `dir`, sorted.
pub(crate) fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The shop with its mesh switched. With `none`, mesh-only settings are removed (they
/// are errors without a mesh: NST0307).
pub(crate) fn shop_with_mesh(mesh: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("shop");
    let src = root().join("examples/shop");
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(&src).expect("prefix");
        if rel.starts_with("generated") {
            continue;
        }
        let to = dir.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).expect("mkdir");
            continue;
        }
        let mut text = std::fs::read_to_string(entry.path()).expect("read");
        text = text.replace("mesh \"istio\"", &format!("mesh \"{mesh}\""));
        if mesh == "none" {
            text = strip_mesh_only(&text);
        }
        std::fs::write(&to, text).expect("write");
    }
    (tmp, dir)
}

fn strip_mesh_only(text: &str) -> String {
    let mut out = String::new();
    let mut skip_block = false;
    for line in text.lines() {
        if skip_block {
            if line.trim() == "}" {
                skip_block = false;
            }
            continue;
        }
        let mut l: String = line
            .split(' ')
            .filter(|w| !w.starts_with("timeout=") && !w.starts_with("retries="))
            .collect::<Vec<_>>()
            .join(" ");
        if l.trim_end().ends_with('{') && l.contains("depends-on") {
            l = l.trim_end().trim_end_matches('{').trim_end().to_owned();
            skip_block = true;
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The shared chart's directory under `helm/` (every service chart depends on it).
pub(crate) const SHARED_CHART: &str = "nestio-service";

/// A copy of the service chart `helm/<service>/` under `into`, with its dependency vendored
/// as `helm dependency build` would (Helm loads an unpacked chart in `charts/` as one), so
/// `helm template` renders it offline. Returns the copy's path.
pub(crate) fn vendor_chart(helm_dir: &Path, service: &str, into: &Path) -> PathBuf {
    let chart = into.join(service);
    copy_tree(&helm_dir.join(service), &chart);
    copy_tree(
        &helm_dir.join(SHARED_CHART),
        &chart.join("charts").join(SHARED_CHART),
    );
    chart
}

/// Whether `dir` (under `helm/`) is a service chart: it depends on the shared chart only.
pub(crate) fn is_service_chart(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Chart.yaml")) else {
        return false;
    };
    let Ok(chart) = serde_saphyr::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    chart["dependencies"]
        .as_array()
        .is_some_and(|d| d.len() == 1 && d[0]["name"] == SHARED_CHART)
}

/// Copies a directory tree.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("under the tree");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("create directory");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy file");
        }
    }
}

/// Sets the project's rules form (`prometheus "operator"|"files"`) in `dir/nestio.kdl`, in
/// place (for a temporary copy).
pub(crate) fn set_rules_form(dir: &Path, form: &str) {
    let file = dir.join("nestio.kdl");
    let text = std::fs::read_to_string(&file).expect("read nestio.kdl");
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if !done && line.starts_with("project ") && line.trim_end().ends_with('{') {
            out.push_str(&format!("    prometheus \"{form}\"\n"));
            done = true;
        }
    }
    assert!(done, "{}: no `project ... {{` line", file.display());
    std::fs::write(&file, out).expect("write nestio.kdl");
}

/// A copy of the project `dir` (without its `generated/`) with the rules form `form`.
pub(crate) fn with_rules_form(dir: &Path, form: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let to = tmp.path().join(file_name_of(dir));
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(dir).expect("prefix");
        if rel.starts_with("generated") {
            continue;
        }
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(to.join(rel)).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), to.join(rel)).expect("copy");
        }
    }
    set_rules_form(&to, form);
    (tmp, to)
}

fn file_name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What the header of a `prometheus/<service>.rules.test.yaml` tells a user of the
/// `operator` form to do before `promtool test rules`: write each PrometheusRule's `spec`
/// (a rule file: the Prometheus Operator's PrometheusRuleSpec is `groups`) as
/// `prometheus/<service>.rules.yaml`. Returns the files written.
pub(crate) fn extract_rule_files(out: &Path) -> Vec<PathBuf> {
    let dir = out.join("prometheus");
    let mut written = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return written;
    };
    let mut crds: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    crds.retain(|p| p.to_string_lossy().ends_with(".prometheusrule.yaml"));
    crds.sort();
    for crd in crds {
        let doc: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&crd).expect("read")).expect("YAML");
        let name = file_name_of(&crd).replace(".prometheusrule.yaml", ".rules.yaml");
        let dest = dir.join(name);
        assert!(!dest.exists(), "{}: both forms written", dest.display());
        std::fs::write(
            &dest,
            serde_saphyr::to_string(&doc["spec"]).expect("rule file YAML"),
        )
        .expect("write");
        written.push(dest);
    }
    written
}

/// A service's rule file as text, from a build in either form: `prometheus/<service>.rules.yaml`
/// (`files`), or the spec of `prometheus/<service>.prometheusrule.yaml` (`operator`).
pub(crate) fn rule_file_text(set: &ArtifactSet, service: &str) -> Option<String> {
    if let Some(a) = set.files.get(&format!("prometheus/{service}.rules.yaml")) {
        return Some(a.contents.clone());
    }
    let crd = set
        .files
        .get(&format!("prometheus/{service}.prometheusrule.yaml"))?;
    let doc: serde_json::Value = serde_saphyr::from_str(&crd.contents).expect("YAML");
    Some(serde_saphyr::to_string(&doc["spec"]).expect("rule file YAML"))
}

/// `kustomize build DIR`, by the real kustomize (scripts/install-validators.sh builds it):
/// the objects it makes, or `None` (after a `SKIPPED` line) when kustomize is missing.
/// Panics when kustomize refuses the directory.
pub(crate) fn kustomize_build(dir: &Path) -> Option<Vec<serde_json::Value>> {
    let kustomize = validator("kustomize", "kustomize")?;
    let out = std::process::Command::new(kustomize)
        .arg("build")
        .arg(dir)
        .output()
        .expect("run kustomize");
    assert!(
        out.status.success(),
        "kustomize build {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout))
            .expect("kustomize build prints YAML"),
    )
}

/// A project's generated files (path -> text), built with the default options; panics with
/// the diagnostics when it does not compile.
pub(crate) fn artifacts_of(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let c = compile(dir, &Options::default());
    let set = c
        .artifacts
        .unwrap_or_else(|| panic!("compiles:\n{}", render_human(&c.analysis)));
    set.files
        .into_iter()
        .map(|(p, a)| (p, a.contents))
        .collect()
}
