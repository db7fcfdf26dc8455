//! kubeconform `-strict` over every generated cluster object (the same set the API server
//! judges in `cluster.rs`: rendered manifests, the real Helm's renders, mesh files, Argo CD,
//! PrometheusRules, dashboard ConfigMaps, Fluentd, the playbook's objects), with the
//! Kubernetes 1.37 schemas and a schema for every CRD the test cluster installs
//! (`scripts/install-validators.sh` writes both under `.go-validators/kubeconform-schemas/`).
//! No kind may go without a schema (`-ignore-missing-schemas` is not used). kubeconform
//! reports every error of an object where kubernetes-validate stops at the first; it does
//! not evaluate CEL rules or name formats, which the API server does.

use std::process::Command;

use crate::cluster::deployable;
use crate::conformance::{build_examples, build_opts, temp_dir};
use crate::support::{fixture_options, root, subdirs, validator};

/// kubeconform with the schemas: Kubernetes 1.37 (strict), then the CRDs'.
fn command() -> Option<Command> {
    let tool = validator("kubeconform", "kubeconform")?;
    let schemas = crate::support::go_validators().join("kubeconform-schemas");
    let mut cmd = Command::new(tool);
    cmd.args(["-strict", "-summary", "-kubernetes-version", "1.37.0"])
        .arg("-schema-location")
        .arg(format!(
            "{}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            schemas.display()
        ))
        .arg("-schema-location")
        .arg(format!(
            "{}/crds/{{{{ .Group }}}}-{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            schemas.display()
        ));
    Some(cmd)
}

fn run(mut cmd: Command, files: &[std::path::PathBuf]) -> (bool, String) {
    let out = cmd.args(files).output().expect("run kubeconform");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn kubeconform(files: &[std::path::PathBuf], what: &str) {
    let Some(cmd) = command() else {
        return;
    };
    let (ok, text) = run(cmd, files);
    assert!(
        ok && text.contains("Invalid: 0, Errors: 0, Skipped: 0"),
        "{what}: kubeconform -strict:\n{text}"
    );
}

#[test]
fn kubeconform_accepts_every_object_of_every_example() {
    if validator("kubeconform", "kubeconform").is_none() {
        return;
    }
    for built in build_examples() {
        let scratch = temp_dir();
        let (files, objects) = deployable(&built, scratch.path());
        assert!(objects > 0, "{}: no objects", built.name);
        kubeconform(&files, &built.name);
    }
}

#[test]
fn kubeconform_accepts_every_object_of_every_valid_fixture() {
    if validator("kubeconform", "kubeconform").is_none() {
        return;
    }
    for dir in subdirs(&root().join("tests/fixtures/valid")) {
        let mut opts = fixture_options(&dir);
        opts.targets.clear();
        let built = build_opts(&dir, &opts);
        let scratch = temp_dir();
        let (files, _) = deployable(&built, scratch.path());
        kubeconform(&files, &built.name);
    }
}

/// The harness can fail: an unknown field in a core object and in a custom resource.
#[test]
fn kubeconform_refuses_unknown_fields() {
    if validator("kubeconform", "kubeconform").is_none() {
        return;
    }
    let scratch = temp_dir();
    for (name, object) in [
        (
            "deployment",
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"x","image":"x:1","imagee":"y"}]}}}}"#,
        ),
        (
            "virtualservice",
            r#"{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"x"},"spec":{"hosts":["x"],"htp":[]}}"#,
        ),
    ] {
        let file = scratch.path().join(format!("{name}.yaml"));
        std::fs::write(&file, object).expect("write");
        let (ok, text) = run(command().expect("found above"), &[file]);
        assert!(
            !ok && text.contains("additional properties"),
            "{name}: kubeconform should refuse the unknown field:\n{text}"
        );
    }
}
