//! A real control plane: every generated cluster object is applied to a real
//! `kube-apiserver` with server-side apply, `dryRun=All` and `fieldValidation=Strict`.
//!
//! The API server (built from `k8s.io/kubernetes` by `scripts/install-validators.sh`) runs
//! over etcd on free loopback ports, with the CRDs of Istio, Gateway API, Argo CD, Argo
//! Rollouts and the Prometheus Operator installed. It is started once per test binary
//! (`scripts/test-cluster up`) and stopped by PID when the binary exits, passing, failing or
//! killed: the script's watcher waits for this process to end.
//!
//! What it refuses that no schema tool does: CRD CEL rules (`x-kubernetes-validations`),
//! names that are not RFC 1123, a selector that does not match the pod template, unknown
//! fields under strict field validation, admission (a namespace that does not exist),
//! immutable or defaulted fields. `the_harness_can_fail` proves each refusal reaches the test.
//!
//! Linkerd's CRDs ship only as Helm templates in Linkerd's charts, which the module proxy
//! does not carry: the installer rebuilds them from `schemas/linkerd/` (converted from the
//! Linkerd 2.20 CRDs), so the server checks Linkerd objects' fields and names too, and
//! `scripts/linkerd-check` (`conformance.rs`) adds the rules of Linkerd's admission webhooks.
//!
//! Run alone: `cargo test --test integration cluster::` (after `scripts/install-validators.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::conformance::{Built, build_examples, documents, temp_dir};
use crate::support::{fixture_options, root, subdirs, validator};

/// A running API server.
pub(crate) struct Cluster {
    url: String,
    token: String,
    python: PathBuf,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

/// The test binary's API server, started on first use; `None` when its tools are missing
/// and validators are not required.
pub(crate) fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

fn start() -> Option<Cluster> {
    validator("kube-apiserver", "kube-apiserver")?;
    validator("kube-apiserver (etcd)", "etcd")?;
    // The validators venv's python: kube-apply needs its PyYAML.
    let venv = std::env::var_os("VALIDATORS_VENV")
        .map_or_else(|| root().join(".venv-validators"), PathBuf::from);
    let python = venv.join("bin/python");
    if !python.is_file() {
        assert!(
            std::env::var_os("NESTIOC_REQUIRE_VALIDATORS").is_none_or(|v| v != "1"),
            "conformance check kube-apiserver: {} not found",
            python.display()
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("nestioc-cluster-{}", std::process::id()));
    let out = Command::new(root().join("scripts/test-cluster"))
        .arg("up")
        .arg(&dir)
        .arg(std::process::id().to_string())
        .env("VALIDATORS_VENV", &venv)
        .output()
        .expect("run scripts/test-cluster");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/test-cluster up failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (url, token) = stdout
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("scripts/test-cluster printed {stdout:?}"));
    Some(Cluster {
        url: url.to_owned(),
        token: token.to_owned(),
        python,
    })
}

/// What `scripts/kube-apply` said.
pub(crate) struct Applied {
    pub ok: bool,
    pub text: String,
    pub passed: usize,
    pub failed: usize,
}

impl Applied {
    /// The `FAIL` lines.
    pub(crate) fn failures(&self) -> Vec<&str> {
        self.text
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect()
    }
}

impl Cluster {
    /// Server-side apply of every object in `files`, in dry-run: nothing is stored. The
    /// namespaces the objects name are created first, for real.
    pub(crate) fn dry_run(&self, files: &[PathBuf]) -> Applied {
        self.kube_apply(files, true)
    }

    fn kube_apply(&self, files: &[PathBuf], create_namespaces: bool) -> Applied {
        let mut cmd = Command::new(&self.python);
        cmd.arg(root().join("scripts/kube-apply")).args([
            "--server",
            &self.url,
            "--token",
            &self.token,
            "--dry-run",
        ]);
        if create_namespaces {
            cmd.arg("--create-namespaces");
        }
        let out = cmd.args(files).output().expect("run scripts/kube-apply");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        Applied {
            ok: out.status.success(),
            passed: lines("OK"),
            failed: lines("FAIL"),
            text,
        }
    }
}

// ------------------------------------------------------------------ what a build deploys

/// A Kubernetes object: a map with apiVersion, kind and metadata.name.
fn is_object(doc: &Value) -> bool {
    doc["apiVersion"].is_string() && doc["kind"].is_string() && doc["metadata"]["name"].is_string()
}

/// The objects the platform playbook applies itself (`kubernetes.core.k8s` tasks with an
/// inline `definition`), such as the logging namespace.
fn playbook_objects(out: &Path) -> Vec<Value> {
    let path = out.join("ansible/platform.yml");
    if !path.is_file() {
        return Vec::new();
    }
    let mut objects = Vec::new();
    for play in documents(&path)
        .iter()
        .flat_map(|d| d.as_array().cloned().unwrap_or_default())
    {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let def = &task["kubernetes.core.k8s"]["definition"];
            if is_object(def) {
                objects.push(def.clone());
            }
        }
    }
    objects
}

/// Every cluster object a build generates, written into `scratch` (one file per source,
/// its path in the name, objects only): each YAML file of the output outside `helm/`
/// (rendered manifests, mesh files, Argo CD, PrometheusRules, dashboard ConfigMaps,
/// Fluentd), what `helm template` renders from every chart for every environment, and the
/// playbook's inline objects. Returns the files and the number of objects in them.
pub(crate) fn deployable(built: &Built, scratch: &Path) -> (Vec<PathBuf>, usize) {
    let mut sources: Vec<(String, Vec<Value>)> = Vec::new();
    let mut yaml: Vec<PathBuf> = walkdir::WalkDir::new(&built.out)
        .into_iter()
        .map(|e| e.expect("walk output").into_path())
        .filter(|p| {
            !p.strip_prefix(&built.out)
                .expect("under out")
                .starts_with("helm")
                && p.extension().is_some_and(|x| x == "yaml" || x == "yml")
        })
        .collect();
    yaml.sort();
    for f in &yaml {
        let rel = f.strip_prefix(&built.out).expect("under out");
        sources.push((rel.display().to_string(), documents(f)));
    }
    // The chart renders, by the real Helm (conformance.rs proves them equal to
    // kubernetes/<env>/ object by object; here the consumers judge them).
    if let Some(helm) = validator("kube-apiserver (helm)", "helm") {
        let vendored = tempfile::tempdir().expect("tmp");
        for chart in subdirs(&built.out.join("helm")) {
            // The umbrella renders the union of the service charts; the shared chart
            // renders through each service chart.
            if !crate::support::is_service_chart(&chart) {
                continue;
            }
            let service = crate::conformance::file_name(&chart);
            let chart =
                crate::support::vendor_chart(&built.out.join("helm"), &service, vendored.path());
            for env in built.envs() {
                let manifest = built.manifest(&env, &service);
                let ns = crate::conformance::namespace(&manifest);
                let out = Command::new(&helm)
                    .args(["template", &service])
                    .arg(&chart)
                    .arg("-f")
                    .arg(chart.join(format!("values-{env}.yaml")))
                    .args(["--namespace", &ns])
                    .output()
                    .expect("run helm template");
                assert!(
                    out.status.success(),
                    "{}: helm template {service} ({env}) failed:\n{}",
                    built.name,
                    String::from_utf8_lossy(&out.stderr)
                );
                let docs =
                    serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout))
                        .expect("helm template output is YAML");
                sources.push((format!("helm template {service} ({env})"), docs));
            }
        }
    }
    sources.push((
        "ansible/platform.yml (inline objects)".into(),
        playbook_objects(&built.out),
    ));
    let (mut files, mut objects) = (Vec::new(), 0);
    for (i, (source, docs)) in sources.into_iter().enumerate() {
        let docs: Vec<Value> = docs.into_iter().filter(is_object).collect();
        if docs.is_empty() {
            continue;
        }
        objects += docs.len();
        let name: String = source
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dest = scratch.join(format!("{i:03}-{name}.yaml"));
        let text: String = docs
            .iter()
            .map(|o| format!("---\n{}\n", serde_json::to_string(o).expect("json")))
            .collect();
        std::fs::write(&dest, text).expect("write objects");
        files.push(dest);
    }
    (files, objects)
}

/// Applies a build in dry-run and asserts that the server accepts every object.
fn assert_accepted(cluster: &Cluster, built: &Built) -> String {
    let scratch = temp_dir();
    let (files, objects) = deployable(built, scratch.path());
    let applied = cluster.dry_run(&files);
    assert!(
        applied.ok && applied.failed == 0,
        "{}: the API server refuses {} objects:\n{}",
        built.name,
        applied.failed,
        applied.failures().join("\n")
    );
    // A warning is what the server will refuse later (a deprecated version) or a
    // convention the output breaks: none is accepted.
    let warnings: Vec<&str> = applied
        .text
        .lines()
        .filter(|l| l.starts_with("WARN"))
        .collect();
    assert!(
        warnings.is_empty(),
        "{}: the API server warns:\n{}",
        built.name,
        warnings.join("\n")
    );
    assert_eq!(
        applied.passed, objects,
        "{}: {} of {objects} objects applied:\n{}",
        built.name, applied.passed, applied.text
    );
    format!("{}: {objects} objects accepted", built.name)
}

#[test]
fn api_server_accepts_every_object_of_every_example() {
    let Some(cluster) = cluster() else {
        return;
    };
    for built in build_examples() {
        let line = assert_accepted(cluster, &built);
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

#[test]
fn api_server_accepts_every_object_of_every_valid_fixture() {
    let Some(cluster) = cluster() else {
        return;
    };
    for dir in subdirs(&root().join("tests/fixtures/valid")) {
        // Every target, whatever the fixture's own selection.
        let mut opts = fixture_options(&dir);
        opts.targets.clear();
        let built = crate::conformance::build_opts(&dir, &opts);
        assert_accepted(cluster, &built);
    }
}

// ------------------------------------------------------------------ the harness can fail

/// One object per refusal the API server makes that the schema tools do not, each with the
/// words of the server's message (k8s.io/apimachinery field validation, the Gateway API
/// CRD's CEL rules, apimachinery's DNS-1123 validation, apps/v1 Deployment validation,
/// the NamespaceLifecycle admission plugin).
#[test]
fn the_harness_can_fail() {
    let Some(cluster) = cluster() else {
        return;
    };
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown field",
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"typo","namespace":"default"},
               "spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},
               "spec":{"containers":[{"name":"x","image":"x:1","imagee":"x:2"}]}}}}"#,
            // Server-side apply builds a typed object from the schema first.
            ".spec.template.spec.containers[name=\"x\"].imagee: field not declared in schema",
        ),
        (
            "CEL rule",
            r#"{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"cel","namespace":"default"},
               "spec":{"rules":[{"filters":[{"type":"RequestRedirect","requestRedirect":{"statusCode":301}}],
               "backendRefs":[{"name":"svc","port":80}]}]}}"#,
            "RequestRedirect filter must not be used together with backendRefs",
        ),
        (
            "Linkerd field",
            r#"{"apiVersion":"policy.linkerd.io/v1beta3","kind":"Server","metadata":{"name":"srv","namespace":"default"},
               "spec":{"podSelector":{"matchLabels":{"app":"x"}},"port":8080,"proxyProtocl":"HTTP/2"}}"#,
            ".spec.proxyProtocl: field not declared in schema",
        ),
        (
            "RFC 1123 name",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Checkout_Bad","namespace":"default"}}"#,
            "a lowercase RFC 1123 subdomain",
        ),
        (
            "selector",
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"sel","namespace":"default"},
               "spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"y"}},
               "spec":{"containers":[{"name":"x","image":"x:1"}]}}}}"#,
            "selector` does not match template `labels`",
        ),
        (
            "admission",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"lost","namespace":"nope"}}"#,
            "namespaces \"nope\" not found",
        ),
    ];
    let scratch = temp_dir();
    for (what, object, expected) in cases {
        let file = scratch.path().join("bad.yaml");
        std::fs::write(&file, object).expect("write");
        // The admission case needs a namespace that does not exist: no namespaces created.
        let applied = cluster.kube_apply(&[file], *what != "admission");
        assert!(
            !applied.ok && applied.failed == 1 && applied.text.contains(expected),
            "{what}: the API server should refuse with {expected:?}:\n{}",
            applied.text
        );
    }
}
