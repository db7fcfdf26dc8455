//! The Helm layout (issue 14, item 3): the generic templates are written once, in the
//! shared chart `helm/nestio-service/`; a service's chart is its `Chart.yaml` and values;
//! chart versions change exactly when what a chart deploys changes.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{SHARED_CHART, root};

/// The shared chart's version and the digest of its templates and values schema. A change
/// to either must come with a new version (in `compiler/src/emit/helm.rs`,
/// `SHARED_CHART_VERSION`), so that a chart repository and Argo CD see a new chart: Helm
/// refuses nothing when two different charts carry one version, it just serves one of them.
const PINNED: (&str, &str) = (
    "1.4.0",
    "72102828c42264236fa25486636d044865c324d39f6f0e48d773349ebd94d805",
);

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

#[test]
fn the_shared_chart_changes_version_with_its_templates() {
    let files = crate::support::artifacts_of(&root().join("examples/shop"));
    let prefix = format!("helm/{SHARED_CHART}/");
    let mut hash = Sha256::new();
    for (path, text) in files.iter().filter(|(p, _)| p.starts_with(&prefix)) {
        if path.ends_with("Chart.yaml") {
            continue;
        }
        // The first line names the project's file; the rest is the chart.
        let body = if path.ends_with(".json") {
            text.as_str()
        } else {
            text.split_once('\n').map_or("", |(_, rest)| rest)
        };
        hash.update(path.as_bytes());
        hash.update(body.as_bytes());
    }
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let chart = yaml(&files[&format!("{prefix}Chart.yaml")]);
    let version = chart["version"].as_str().expect("version");
    assert_eq!(
        (version, digest.as_str()),
        PINNED,
        "the shared chart's templates or schema changed: bump SHARED_CHART_VERSION in \
         compiler/src/emit/helm.rs and set PINNED in tests/it/charts.rs to the new pair"
    );
}

#[test]
fn a_service_chart_is_its_chart_yaml_and_values() {
    let files = crate::support::artifacts_of(&root().join("examples/shop"));
    let mut templates = 0;
    for path in files.keys().filter(|p| p.starts_with("helm/")) {
        let parts: Vec<&str> = path.split('/').collect();
        match parts[..] {
            ["helm", chart, ..] if chart == SHARED_CHART => {
                templates += usize::from(path.contains("/templates/"));
            }
            ["helm", "shop", ..] => {}
            ["helm", _, "Chart.yaml" | "values.yaml"] | ["helm", _, "templates", "NOTES.txt"] => {}
            ["helm", _, file] if file.starts_with("values-") && file.ends_with(".yaml") => {}
            _ => panic!("{path}: a service chart holds its Chart.yaml and values only"),
        }
    }
    assert!(templates > 10, "the shared chart holds the templates");
    let cart = yaml(&files["helm/cart/Chart.yaml"]);
    assert_eq!(cart["dependencies"][0]["name"], SHARED_CHART);
    assert_eq!(
        cart["dependencies"][0]["repository"],
        format!("file://../{SHARED_CHART}")
    );
    let values = yaml(&files["helm/cart/values.yaml"]);
    assert!(
        values[SHARED_CHART]["image"]["repository"].is_string(),
        "values under the shared chart's key: {values}"
    );
}

/// A project of two services, `a` at `tag` and `b`.
fn project(tag: &str, replicas: u32) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("services")).expect("mkdir");
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\" {\n    registry \"ghcr.io/acme\"\n    environment \"prod\"\n}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("services/a.kdl"),
        format!(
            "service \"a\" {{\n    uses \"http-service\"\n    image \"a\" tag=\"{tag}\"\n    replicas {replicas}\n}}\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("services/b.kdl"),
        "service \"b\" {\n    uses \"http-service\"\n    image \"b\" tag=\"2.0.0\"\n}\n",
    )
    .expect("write");
    tmp
}

fn versions(tag: &str, replicas: u32) -> (String, String, String) {
    let (a, app, b, _) = versions_with_umbrella(tag, replicas);
    (a, app, b)
}

/// [`versions`], and the umbrella chart's version.
fn versions_with_umbrella(tag: &str, replicas: u32) -> (String, String, String, String) {
    let tmp = project(tag, replicas);
    let files = crate::support::artifacts_of(tmp.path());
    let a = yaml(&files["helm/a/Chart.yaml"]);
    let b = yaml(&files["helm/b/Chart.yaml"]);
    let umbrella = yaml(&files["helm/p/Chart.yaml"]);
    (
        a["version"].as_str().expect("version").to_owned(),
        a["appVersion"].as_str().expect("appVersion").to_owned(),
        b["version"].as_str().expect("version").to_owned(),
        umbrella["version"].as_str().expect("version").to_owned(),
    )
}

/// A chart repository keys charts by version, and Argo CD shows a chart's version: both
/// must see a new version when the image or anything else the chart deploys changes, and
/// the same version when nothing did (https://helm.sh/docs/topics/charts/#the-chartyaml-file:
/// "Every chart must have a version number"; SemVer 2 build metadata makes a distinct
/// version string).
#[test]
fn service_chart_versions_follow_what_they_deploy() {
    let (a1, app1, b1) = versions("1.0.0", 2);
    let (a2, app2, b2) = versions("1.0.1", 2);
    let (a3, _, b3) = versions("1.0.0", 3);
    let (a4, _, _) = versions("1.0.0", 2);
    assert_eq!((app1.as_str(), app2.as_str()), ("1.0.0", "1.0.1"));
    assert_ne!(a1, a2, "a new image is a new chart version");
    assert_ne!(a1, a3, "new values are a new chart version");
    assert_eq!(a1, a4, "the same input gives the same version");
    assert_eq!((&b1, &b2), (&b3, &b1), "b's chart did not change");
    let metadata = a1
        .strip_prefix(&format!("{}+", PINNED.0))
        .expect("the shared chart's version");
    assert!(
        metadata.len() == 12 && metadata.bytes().all(|b| b.is_ascii_hexdigit()),
        "{a1}"
    );
}

/// The umbrella chart is a chart too: `helm package` names its archive by version, and a
/// repository would be handed a different `p-1.4.0.tgz` after every change. Its version
/// follows its dependencies' versions (and so every service's values and image).
#[test]
fn the_umbrella_chart_changes_version_with_its_services() {
    let (_, _, _, u1) = versions_with_umbrella("1.0.0", 2);
    let (_, _, _, u2) = versions_with_umbrella("1.0.1", 2);
    let (_, _, _, u3) = versions_with_umbrella("1.0.0", 2);
    assert_ne!(u1, u2, "a service's new image is a new umbrella version");
    assert_eq!(u1, u3, "the same input gives the same version");
    assert!(u1.starts_with(&format!("{}+", PINNED.0)), "{u1}");
}
