//! Conformance: every example's generated output, checked by the third-party tools that
//! `scripts/install-validators.sh` installs.
//!
//! - Helm (the real Helm v4 Go SDK, through `nestioc-helm-check`): every service chart lints
//!   under `--strict` and renders, per environment, exactly the objects the `kubernetes`
//!   target wrote; the umbrella chart, with its dependencies vendored as `helm dependency
//!   build` would, renders the union of them.
//! - `kubernetes-validate --strict` accepts every rendered manifest.
//! - `checkov` fails no check, apart from those in `tests/scanner-suppressions.txt`.
//!
//! A validator is looked up by `support::validator` (the Go-built tools, `PATH`, the venv).
//! When it is missing the test says so on stderr and passes, unless
//! `NESTIOC_REQUIRE_VALIDATORS=1`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{compile, render_human, root, subdirs};

// ------------------------------------------------------------------ validators

/// A validator command.
struct Tool {
    path: PathBuf,
}

impl Tool {
    /// The validator `name` (`support::validator`): `None`, after a `SKIPPED` line on
    /// stderr, when it is missing and validators are not required.
    fn find(check: &str, name: &str) -> Option<Self> {
        crate::support::validator(check, name).map(|path| Self { path })
    }

    /// Runs the tool with its own directory first on `PATH`, so that it finds its
    /// siblings (the venv's python, helper binaries) even when the venv is not on `PATH`.
    fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut dirs: Vec<PathBuf> = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        let path: OsString = std::env::join_paths(dirs).expect("PATH entries join");
        Command::new(&self.path)
            .args(args)
            .env("PATH", path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.path.display()))
    }
}

/// stdout and stderr of a run, for assertion messages.
fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ------------------------------------------------------------------ built examples

/// A temporary directory whose name does not start with a dot: checkov silently skips
/// hidden directories, and `tempfile`'s default `.tmpXXXX` is one.
pub(crate) fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("nestioc-conformance-")
        .tempdir()
        .expect("temp dir")
}

/// One example, built with every target into a temporary directory.
pub(crate) struct Built {
    pub name: String,
    pub out: PathBuf,
    /// The scanner findings the topology asks for (`security` relaxations).
    pub asked: crate::scanners::Asked,
    _tmp: TempDir,
}

/// Every `examples/*/` with a `nestio.kdl`, built.
pub(crate) fn build_examples() -> Vec<Built> {
    let dirs: Vec<PathBuf> = subdirs(&root().join("examples"))
        .into_iter()
        .filter(|d| d.join("nestio.kdl").is_file())
        .collect();
    assert!(!dirs.is_empty(), "no examples/*/nestio.kdl");
    let mut built: Vec<Built> = dirs.iter().map(|dir| build(dir)).collect();
    // The shop again with each other mesh: every variant must pass every validator.
    for mesh in ["linkerd", "none"] {
        let (_tmp, dir) = crate::support::shop_with_mesh(mesh);
        let mut b = build(&dir);
        b.name = format!("shop (mesh {mesh})");
        built.push(b);
    }
    built
}

pub(crate) fn build(dir: &Path) -> Built {
    build_opts(dir, &nestioc::Options::default())
}

/// A project built with `opts` into a temporary directory.
pub(crate) fn build_opts(dir: &Path, opts: &nestioc::Options) -> Built {
    let compiled = compile(dir, opts);
    let set = compiled.artifacts.unwrap_or_else(|| {
        panic!(
            "{} does not compile:\n{}",
            dir.display(),
            render_human(&compiled.analysis)
        )
    });
    let tmp = temp_dir();
    let out = tmp.path().join("generated");
    for (path, artifact) in &set.files {
        let dest = out.join(path);
        std::fs::create_dir_all(dest.parent().expect("artifact path has a parent"))
            .expect("create artifact directory");
        std::fs::write(&dest, &artifact.contents).expect("write artifact");
    }
    let name = dir
        .file_name()
        .expect("example directory name")
        .to_string_lossy()
        .into_owned();
    let asked = crate::scanners::asked_for(compiled.analysis.model.as_ref().expect("model"));
    Built {
        name,
        out,
        asked,
        _tmp: tmp,
    }
}

impl Built {
    /// The environments: the `kubernetes/<env>/` directories.
    pub(crate) fn envs(&self) -> Vec<String> {
        let envs: Vec<String> = subdirs(&self.out.join("kubernetes"))
            .iter()
            .map(|d| file_name(d))
            .collect();
        assert!(
            !envs.is_empty(),
            "{}: no kubernetes/<env>/ output",
            self.name
        );
        envs
    }

    /// The service charts and the umbrella chart (the one that depends on the service
    /// charts); the shared chart `helm/nestio-service/` is neither.
    fn charts(&self) -> (Vec<String>, String) {
        let mut services = Vec::new();
        let mut umbrellas = Vec::new();
        for dir in subdirs(&self.out.join("helm")) {
            if file_name(&dir) == crate::support::SHARED_CHART {
                continue;
            }
            if crate::support::is_service_chart(&dir) {
                services.push(file_name(&dir));
            } else {
                umbrellas.push(file_name(&dir));
            }
        }
        assert!(!services.is_empty(), "{}: no service charts", self.name);
        assert_eq!(
            umbrellas.len(),
            1,
            "{}: one umbrella chart: {umbrellas:?}",
            self.name
        );
        (services, umbrellas.remove(0))
    }

    /// `kubernetes/<env>/<service>.yaml`.
    pub(crate) fn manifest(&self, env: &str, service: &str) -> PathBuf {
        self.out.join(format!("kubernetes/{env}/{service}.yaml"))
    }

    /// Every `kubernetes/<env>/*.yaml`, sorted.
    fn manifests(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(self.out.join("kubernetes"))
            .into_iter()
            .map(|e| e.expect("walk kubernetes/").into_path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no kubernetes/*/*.yaml", self.name);
        files
    }
}

pub(crate) fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

// ------------------------------------------------------------------ YAML objects

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The non-empty documents of a YAML stream.
pub(crate) fn documents(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(path))
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Kinds from Kubernetes itself, which kubernetes-validate knows; custom resources (Istio,
/// Linkerd, Gateway API) are checked by their own validators below.
fn is_core_kind(doc: &Value) -> bool {
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    matches!(
        group,
        "" | "apps"
            | "batch"
            | "autoscaling"
            | "policy"
            | "networking.k8s.io"
            | "rbac.authorization.k8s.io"
    )
}

/// Objects by `Kind/namespace/name`; a key twice is an error.
type Objects = BTreeMap<String, Value>;

fn key(obj: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    format!(
        "{}/{}/{}",
        s(&obj["kind"]),
        s(&obj["metadata"]["namespace"]),
        s(&obj["metadata"]["name"])
    )
}

fn add_objects(into: &mut Objects, docs: Vec<Value>, from: &Path) {
    for d in docs {
        let k = key(&d);
        assert!(
            into.insert(k.clone(), d).is_none(),
            "{k} twice (last in {})",
            from.display()
        );
    }
}

/// Every `*.yaml` under `dir` (a `--out` directory of `nestioc-helm-check`).
fn rendered_objects(dir: &Path) -> Objects {
    let mut objects = Objects::new();
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk rendered output").into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for f in files {
        add_objects(&mut objects, documents(&f), &f);
    }
    objects
}

/// The one namespace every object of a manifest is in.
pub(crate) fn namespace(path: &Path) -> String {
    let docs = documents(path);
    let first = docs
        .first()
        .and_then(|d| d["metadata"]["namespace"].as_str())
        .unwrap_or_else(|| panic!("{}: no metadata.namespace", path.display()))
        .to_owned();
    for d in &docs {
        assert_eq!(
            d["metadata"]["namespace"].as_str(),
            Some(first.as_str()),
            "{}: {} is in another namespace",
            path.display(),
            key(d)
        );
    }
    first
}

/// Where two values differ, one line a difference: `spec.replicas: 2 != 1`.
fn diff(path: &str, helm: &Value, kube: &Value, out: &mut String) {
    let show = |v: Option<&Value>| v.map_or_else(|| "(absent)".to_owned(), Value::to_string);
    match (helm, kube) {
        (Value::Object(h), Value::Object(k)) => {
            let mut keys: Vec<&String> = h.keys().chain(k.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let p = format!("{path}.{key}");
                match (h.get(key), k.get(key)) {
                    (Some(a), Some(b)) => diff(&p, a, b, out),
                    (a, b) => {
                        let _ = writeln!(out, "    {p}: {} != {}", show(a), show(b));
                    }
                }
            }
        }
        (Value::Array(h), Value::Array(k)) if h.len() == k.len() => {
            for (i, (a, b)) in h.iter().zip(k).enumerate() {
                diff(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (a, b) if a != b => {
            let _ = writeln!(out, "    {path}: {a} != {b}");
        }
        _ => {}
    }
}

/// The same objects on both sides, compared as JSON values (key order aside).
fn assert_same_objects(what: &str, helm: &Objects, kubernetes: &Objects) {
    let mut msg = String::new();
    for k in kubernetes.keys().filter(|k| !helm.contains_key(*k)) {
        let _ = writeln!(msg, "  only in kubernetes/: {k}");
    }
    for k in helm.keys().filter(|k| !kubernetes.contains_key(*k)) {
        let _ = writeln!(msg, "  only in the Helm render: {k}");
    }
    for (k, h) in helm {
        if let Some(kube) = kubernetes.get(k).filter(|kube| *kube != h) {
            let _ = writeln!(msg, "  {k} differs (Helm render != kubernetes/):");
            diff("", h, kube, &mut msg);
        }
    }
    assert!(
        msg.is_empty(),
        "{what}: the Helm render and the kubernetes target disagree:\n{msg}"
    );
    assert!(!helm.is_empty(), "{what}: nothing rendered");
}

// ------------------------------------------------------------------ Helm

/// `nestioc-helm-check` output, and the directory it rendered into.
struct HelmRun {
    ok: bool,
    text: String,
    rendered: TempDir,
}

fn helm_check(tool: &Tool, chart: &Path, values: &Path, release: &str, ns: &str) -> HelmRun {
    let rendered = temp_dir();
    let out = tool.run([
        chart.as_os_str(),
        "-f".as_ref(),
        values.as_os_str(),
        "--strict".as_ref(),
        "--release".as_ref(),
        release.as_ref(),
        "--namespace".as_ref(),
        ns.as_ref(),
        "--out".as_ref(),
        rendered.path().as_os_str(),
    ]);
    HelmRun {
        ok: out.status.success(),
        text: output_text(&out),
        rendered,
    }
}

#[test]
fn helm_service_charts_render_what_the_kubernetes_target_wrote() {
    let Some(tool) = Tool::find("helm", "nestioc-helm-check") else {
        return;
    };
    for built in build_examples() {
        let (services, _) = built.charts();
        for env in built.envs() {
            for service in &services {
                let what = format!("{}: helm/{service} in {env}", built.name);
                let vendored = temp_dir();
                let chart =
                    crate::support::vendor_chart(&built.out.join("helm"), service, vendored.path());
                let values = chart.join(format!("values-{env}.yaml"));
                assert!(values.is_file(), "{what}: no {}", values.display());
                let manifest = built.manifest(&env, service);
                let ns = namespace(&manifest);
                let run = helm_check(&tool, &chart, &values, service, &ns);
                assert!(
                    run.ok,
                    "{what}: nestioc-helm-check --strict failed:\n{}",
                    run.text
                );

                let mut expected = Objects::new();
                add_objects(&mut expected, documents(&manifest), &manifest);
                assert_same_objects(&what, &rendered_objects(run.rendered.path()), &expected);
            }
        }
    }
}

#[test]
fn helm_umbrella_chart_renders_every_service() {
    let Some(tool) = Tool::find("helm", "nestioc-helm-check") else {
        return;
    };
    for built in build_examples() {
        let (services, project) = built.charts();
        // `helm dependency build`, offline: the `file://../<service>` charts go to charts/,
        // each with the shared chart in its own charts/.
        let vendored = temp_dir();
        let chart = vendored.path().join(&project);
        crate::support::copy_tree(&built.out.join("helm").join(&project), &chart);
        for service in &services {
            crate::support::vendor_chart(&built.out.join("helm"), service, &chart.join("charts"));
        }
        for env in built.envs() {
            let what = format!("{}: umbrella chart helm/{project} in {env}", built.name);
            let mut expected = Objects::new();
            let mut namespaces = Vec::new();
            for service in &services {
                let manifest = built.manifest(&env, service);
                namespaces.push(namespace(&manifest));
                add_objects(&mut expected, documents(&manifest), &manifest);
            }
            namespaces.dedup();
            assert_eq!(
                namespaces.len(),
                1,
                "{what}: one namespace per environment: {namespaces:?}"
            );

            let values = chart.join(format!("values-{env}.yaml"));
            assert!(values.is_file(), "{what}: no {}", values.display());
            let run = helm_check(&tool, &chart, &values, &project, &namespaces[0]);
            assert!(
                run.ok,
                "{what}: nestioc-helm-check --strict failed:\n{}",
                run.text
            );
            assert_same_objects(&what, &rendered_objects(run.rendered.path()), &expected);
        }
    }
}

// ------------------------------------------------------------------ kubernetes-validate

#[test]
fn kubernetes_validate_accepts_every_manifest() {
    let Some(tool) = Tool::find("kubernetes", "kubernetes-validate") else {
        return;
    };
    for built in build_examples() {
        let files = built.manifests();
        let mut args: Vec<OsString> = vec!["--strict".into()];
        args.extend(files.iter().map(|f| f.as_os_str().to_owned()));
        let out = tool.run(&args);
        let text = output_text(&out);
        assert!(
            out.status.success() && !text.contains("ERROR") && !text.contains("FAIL"),
            "{}: kubernetes-validate --strict rejects the manifests:\n{text}",
            built.name
        );
        let objects: usize = files
            .iter()
            .map(|f| documents(f).iter().filter(|d| is_core_kind(d)).count())
            .sum();
        let passed = text
            .lines()
            .filter(|l| l.contains(" passed for resource "))
            .count();
        assert_eq!(
            passed, objects,
            "{}: kubernetes-validate checked {passed} of {objects} objects:\n{text}",
            built.name
        );
    }
}

// ------------------------------------------------------------------ checkov

/// The checkov checks suppressed on the rendered manifests (`kubernetes/...` in
/// `tests/scanner-suppressions.txt`, each with its reason).
fn checkov_skips() -> Vec<String> {
    crate::suppressions::checkov_ids_for("kubernetes/env/service.yaml")
}

#[test]
fn checkov_fails_no_check_outside_the_skip_file() {
    let skips = checkov_skips();
    let Some(tool) = Tool::find("checkov", "checkov") else {
        return;
    };
    // Every example is scanned before the test fails, so one run lists every finding.
    let mut problems = String::new();
    for built in build_examples() {
        let mut args: Vec<OsString> = vec!["-d".into(), built.out.join("kubernetes").into()];
        for a in [
            "--framework",
            "kubernetes",
            "--compact",
            "--quiet",
            "--skip-download",
        ] {
            args.push(a.into());
        }
        args.extend(["-o".into(), "json".into()]);
        if !skips.is_empty() {
            args.extend(["--skip-check".into(), skips.join(",").into()]);
        }
        let out = tool.run(&args);
        let text = output_text(&out);
        let Ok(report) = serde_json::from_slice::<Value>(&out.stdout) else {
            let _ = writeln!(
                problems,
                "{}: checkov printed no JSON report:\n{text}",
                built.name
            );
            continue;
        };
        // One framework: one report; just its summary when nothing was scanned.
        let summary = report.get("summary").unwrap_or(&report);
        for c in report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let path = format!("kubernetes{}", c["file_path"].as_str().unwrap_or("?"));
            if crate::scanners::is_asked(
                &built.asked,
                "checkov",
                c["check_id"].as_str().unwrap_or("?"),
                &path,
            ) {
                continue;
            }
            let _ = writeln!(
                problems,
                "{}: {} \"{}\" fails on {} (kubernetes{}:{})",
                built.name,
                c["check_id"].as_str().unwrap_or("?"),
                c["check_name"].as_str().unwrap_or("?"),
                c["resource"].as_str().unwrap_or("?"),
                c["file_path"].as_str().unwrap_or("?"),
                c["file_line_range"][0]
            );
        }
        // checkov counts each container as a resource of its own, beside its workload.
        let objects: usize = built.manifests().iter().map(|f| documents(f).len()).sum();
        let scanned = summary["resource_count"].as_u64().unwrap_or(0);
        if summary["parsing_errors"] != 0 || scanned < objects as u64 {
            let _ = writeln!(
                problems,
                "{}: checkov scanned {scanned} resources for {objects} objects:\n{text}",
                built.name
            );
        }
        if !out.status.success() && summary["failed"] == 0 {
            let _ = writeln!(
                problems,
                "{}: checkov exited with {}:\n{text}",
                built.name, out.status
            );
        }
    }
    assert!(
        problems.is_empty(),
        "checkov findings (fix the generated output, or add a justified suppression to tests/scanner-suppressions.txt):\n{problems}"
    );
}

/// What the CKV_K8S_8 / CKV_K8S_9 skips rest on: the only workloads without readiness and
/// liveness probes are workers, which listen on no port.
#[test]
fn only_workers_go_without_probes() {
    for built in build_examples() {
        for file in built.manifests() {
            for d in documents(&file)
                .iter()
                .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
            {
                let component = &d["metadata"]["labels"]["app.kubernetes.io/component"];
                for c in d["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let probed =
                        c.get("readinessProbe").is_some() && c.get("livenessProbe").is_some();
                    let listens = c
                        .get("ports")
                        .is_some_and(|p| p.as_array().is_some_and(|p| !p.is_empty()));
                    assert!(
                        probed || (*component == "worker" && !listens),
                        "{}: {} has no probes but is not a worker without ports",
                        file.display(),
                        key(d)
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------------------ service mesh

/// The mesh objects of a build, as files: each service's (in the charts, so in
/// `kubernetes/<env>/<service>.yaml`, beside its workload; one file per rendered manifest
/// with only its mesh objects) and the namespace-wide `istio/_namespace.yaml` or
/// `linkerd/_namespace.yaml`. Empty when the build has no `istio/` or `linkerd/`.
struct MeshFiles {
    _dir: TempDir,
    files: Vec<PathBuf>,
}

fn mesh_files(built: &Built, dir: &str) -> MeshFiles {
    let tmp = temp_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(built.out.join(dir))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "yaml"));
    if !files.is_empty() {
        let groups: &[&str] = if dir == "istio" {
            &["istio.io/"]
        } else {
            &["linkerd.io/", "gateway.networking.k8s.io/"]
        };
        for manifest in built.manifests() {
            // The documents as written (the YAML writer starts each with `apiVersion:`).
            let text = read(&manifest);
            let mesh: Vec<&str> = text
                .split("\n---\n")
                .filter(|d| {
                    d.lines().any(|l| {
                        l.strip_prefix("apiVersion: ")
                            .is_some_and(|a| groups.iter().any(|g| a.contains(g)))
                    })
                })
                .collect();
            if mesh.is_empty() {
                continue;
            }
            let env = file_name(manifest.parent().expect("kubernetes/<env>/"));
            let dest = tmp.path().join(format!("{env}-{}", file_name(&manifest)));
            std::fs::write(&dest, mesh.join("\n---\n") + "\n").expect("write");
            files.push(dest);
        }
    }
    files.sort();
    MeshFiles { _dir: tmp, files }
}

fn count_objects(files: &[PathBuf], group_prefix: &str) -> usize {
    files
        .iter()
        .flat_map(|f| documents(f))
        .filter(|d| {
            d["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with(group_prefix))
        })
        .count()
}

#[test]
fn istio_objects_pass_the_istio_validators() {
    let builds = build_examples();
    let with_istio: Vec<&Built> = builds
        .iter()
        .filter(|b| !mesh_files(b, "istio").files.is_empty())
        .collect();
    assert!(!with_istio.is_empty(), "the shop uses Istio");
    // Both validators: the pydantic models (Istio 1.24: required fields) and the CRD
    // schemas (Istio 1.18: types, enums, arrays).
    for (check, tool) in [
        ("istio (cloudcoil)", "nestioc-istio-check"),
        ("istio (CRD schemas)", "nestioc-crd-check"),
    ] {
        let Some(tool) = Tool::find(check, tool) else {
            continue;
        };
        for built in &with_istio {
            let mesh = mesh_files(built, "istio");
            let files = &mesh.files;
            let out = tool.run(files);
            let text = output_text(&out);
            assert!(
                out.status.success() && !text.contains("FAIL"),
                "{}: {check} rejects:\n{text}",
                built.name
            );
            let ok = text.lines().filter(|l| l.starts_with("OK")).count();
            let objects = count_objects(files, "networking.istio.io")
                + count_objects(files, "security.istio.io");
            assert_eq!(
                ok, objects,
                "{}: {check} checked {ok} of {objects} objects:\n{text}",
                built.name
            );
        }
    }
}

#[test]
fn linkerd_objects_match_the_linkerd_crd_schemas() {
    // The schemas of the Linkerd 2.20 CRDs, shipped in schemas/linkerd/: checked with the
    // jsonschema crate, so this runs on every machine.
    let builds = build_examples();
    let linkerd: Vec<&Built> = builds
        .iter()
        .filter(|b| !mesh_files(b, "linkerd").files.is_empty())
        .collect();
    assert!(!linkerd.is_empty(), "the shop is built with Linkerd too");
    let mut checked = 0;
    for built in linkerd {
        for file in mesh_files(built, "linkerd").files {
            for doc in documents(&file) {
                let api = doc["apiVersion"].as_str().unwrap_or_default();
                if !api.contains("linkerd.io") {
                    continue;
                }
                let schema_file = root().join(format!(
                    "schemas/linkerd/{}_{}.json",
                    api.replace('/', "_"),
                    doc["kind"].as_str().unwrap_or_default()
                ));
                let schema: Value = serde_json::from_str(&read(&schema_file)).expect("schema JSON");
                let validator = jsonschema::validator_for(&schema).expect("schema compiles");
                let errors: Vec<String> = validator
                    .iter_errors(&doc)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{}: {} {}:\n{}",
                    built.name,
                    doc["kind"],
                    doc["metadata"]["name"],
                    errors.join("\n")
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} Linkerd objects");
}

#[test]
fn linkerd_objects_pass_linkerd_check() {
    // linkerd-check adds the rules of Linkerd's admission webhooks to the schemas.
    let Some(python_tool) = Tool::find("linkerd", "check-jsonschema") else {
        return;
    };
    let venv_python = python_tool.path.with_file_name("python");
    let builds = build_examples();
    for built in builds
        .iter()
        .filter(|b| !mesh_files(b, "linkerd").files.is_empty())
    {
        let mesh = mesh_files(built, "linkerd");
        let files = &mesh.files;
        let out = Command::new(root().join("scripts/linkerd-check"))
            .args(files)
            .env("LINKERD_CHECK_SCHEMAS", root().join("schemas/linkerd"))
            .env("LINKERD_CHECK_PYTHON", &venv_python)
            .output()
            .expect("run scripts/linkerd-check");
        let text = output_text(&out);
        assert!(
            out.status.success() && text.contains(" 0 failed"),
            "{}: linkerd-check rejects:\n{text}",
            built.name
        );
        // Gateway API routes (GRPCRoute) are not Linkerd's: check them against the Gateway
        // API CRD schemas. The validators bundle GRPCRoute v1alpha2 only, whose schema is
        // the same as v1's; the check reads the objects as v1alpha2.
        let Some(crd) = Tool::find("gateway-api", "nestioc-crd-check") else {
            continue;
        };
        let tmp = temp_dir();
        let mut routes = Vec::new();
        for f in files {
            let text = read(f).replace(
                "apiVersion: gateway.networking.k8s.io/v1\n",
                "apiVersion: gateway.networking.k8s.io/v1alpha2\n",
            );
            let dest = tmp.path().join(file_name(f));
            std::fs::write(&dest, text).expect("write");
            routes.push(dest);
        }
        let out = crd.run(&routes);
        let text = output_text(&out);
        assert!(
            out.status.success() && !text.contains("FAIL"),
            "{}: Gateway API routes rejected:\n{text}",
            built.name
        );
        let grpc = count_objects(files, "gateway.networking.k8s.io");
        let ok = text
            .lines()
            .filter(|l| l.starts_with("OK") && (l.contains("GRPCRoute") || l.contains("HTTPRoute")))
            .count();
        assert_eq!(
            ok, grpc,
            "{}: {ok} of {grpc} Gateway API routes checked:\n{text}",
            built.name
        );
    }
}

// ------------------------------------------------------------------ Grafana

/// `grafana/*.json` of a build: the dashboards.
fn grafana_dashboards(built: &Built) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(built.out.join("grafana"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    files
}

#[test]
fn grafana_dashboards_match_the_grafana_schema() {
    let Some(tool) = Tool::find("grafana", "nestioc-grafana-check") else {
        return;
    };
    let builds = build_examples();
    let mut files = Vec::new();
    for built in &builds {
        let dashboards = grafana_dashboards(built);
        assert!(dashboards.len() >= 2, "{}: no grafana/*.json", built.name);
        files.extend(dashboards);
    }
    // One run over every dashboard of every example.
    let out = tool.run(&files);
    let text = output_text(&out);
    assert!(
        out.status.success() && text.contains("ok -- validation done"),
        "nestioc-grafana-check (the @grafana/schema 13.2 dashboard schema) rejects {} dashboards:\n{text}",
        files.len()
    );
}

#[test]
fn grafana_config_maps_pass_kubernetes_validate() {
    let Some(tool) = Tool::find("kubernetes", "kubernetes-validate") else {
        return;
    };
    let builds = build_examples();
    let files: Vec<PathBuf> = builds
        .iter()
        .map(|b| b.out.join("grafana/dashboards.yaml"))
        .collect();
    let mut args: Vec<OsString> = vec!["--strict".into()];
    args.extend(files.iter().map(|f| f.as_os_str().to_owned()));
    let out = tool.run(&args);
    let text = output_text(&out);
    assert!(
        out.status.success() && !text.contains("ERROR") && !text.contains("FAIL"),
        "kubernetes-validate --strict rejects grafana/dashboards.yaml:\n{text}"
    );
    let objects: usize = files.iter().map(|f| documents(f).len()).sum();
    let passed = text
        .lines()
        .filter(|l| l.contains(" passed for resource configmap/"))
        .count();
    assert_eq!(
        passed, objects,
        "kubernetes-validate checked {passed} of {objects} ConfigMaps:\n{text}"
    );
}

// ------------------------------------------------------------------ fluentd

/// The shop's `fluentd/fluentd.yaml`: the log router's ServiceAccount, RBAC, ConfigMap,
/// NetworkPolicy and DaemonSet.
fn fluentd_manifest(built: &Built) -> PathBuf {
    let path = built.out.join("fluentd/fluentd.yaml");
    assert!(path.is_file(), "{}: no fluentd/fluentd.yaml", built.name);
    path
}

fn shop_built() -> Built {
    build(&root().join("examples/shop"))
}

#[test]
fn fluentd_manifests_pass_kubernetes_validate() {
    let Some(tool) = Tool::find("fluentd (kubernetes)", "kubernetes-validate") else {
        return;
    };
    let built = shop_built();
    let file = fluentd_manifest(&built);
    let out = tool.run([OsString::from("--strict"), file.clone().into_os_string()]);
    let text = output_text(&out);
    assert!(
        out.status.success() && !text.contains("ERROR") && !text.contains("FAIL"),
        "kubernetes-validate --strict rejects fluentd/fluentd.yaml:\n{text}"
    );
    let objects = documents(&file).len();
    let passed = text
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed, objects,
        "kubernetes-validate checked {passed} of {objects} objects:\n{text}"
    );
}

/// The checkov checks suppressed on `fluentd/fluentd.yaml` in
/// `tests/scanner-suppressions.txt`: id -> reason.
fn fluentd_checkov_skips() -> BTreeMap<String, String> {
    crate::suppressions::all()
        .into_iter()
        .filter(|s| {
            s.scanner == "checkov" && crate::suppressions::glob(&s.path, "fluentd/fluentd.yaml")
        })
        .map(|s| (s.id, s.reason))
        .collect()
}

/// checkov runs without skips, so that the skip file can be held to exactly the checks
/// that fail: nothing else fails, and every skip is still needed.
#[test]
fn fluentd_manifests_fail_no_checkov_check_outside_their_skip_file() {
    let skips = fluentd_checkov_skips();
    let Some(tool) = Tool::find("fluentd (checkov)", "checkov") else {
        return;
    };
    let built = shop_built();
    let file = fluentd_manifest(&built);
    let mut args: Vec<OsString> = vec!["-f".into(), file.clone().into_os_string()];
    for a in [
        "--framework",
        "kubernetes",
        "--compact",
        "--quiet",
        "--skip-download",
        "-o",
        "json",
    ] {
        args.push(a.into());
    }
    let out = tool.run(&args);
    let text = output_text(&out);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkov printed no JSON report ({e}):\n{text}"));
    let summary = report.get("summary").unwrap_or(&report);
    let objects = documents(&file).len() as u64;
    assert!(
        summary["parsing_errors"] == 0 && summary["resource_count"].as_u64() >= Some(objects),
        "checkov scanned {} resources for {objects} objects:\n{text}",
        summary["resource_count"]
    );
    let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        failed
            .entry(c["check_id"].as_str().unwrap_or("?").to_owned())
            .or_default()
            .push(format!(
                "{} ({})",
                c["check_name"].as_str().unwrap_or("?"),
                c["resource"].as_str().unwrap_or("?")
            ));
    }
    let unexpected: Vec<String> = failed
        .iter()
        .filter(|(id, _)| !skips.contains_key(*id))
        .map(|(id, what)| format!("{id}: {}", what.join(", ")))
        .collect();
    assert!(
        unexpected.is_empty(),
        "checkov findings on fluentd/fluentd.yaml (fix the generated output, or add a justified suppression to tests/scanner-suppressions.txt):\n{}",
        unexpected.join("\n")
    );
    let stale: Vec<&String> = skips
        .keys()
        .filter(|id| !failed.contains_key(*id))
        .collect();
    assert!(
        stale.is_empty(),
        "tests/scanner-suppressions.txt suppresses checks on fluentd/fluentd.yaml that pass now: {stale:?}"
    );
}
