//! Argo CD's objects (`argoproj.io/v1alpha1`): `Application` and `AppProject`, the fields
//! nestioc writes. Names and meanings are Argo CD's (argo-cd docs/operator-manual/
//! application.yaml and project.yaml, pkg/apis/application/v1alpha1/types.go).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Spec;

/// `Application`: a source in Git, where it goes, and how it syncs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSpec {
    /// The AppProject that bounds the Application's sources and destinations.
    pub project: String,
    pub source: ApplicationSource,
    pub destination: Destination,
    pub sync_policy: SyncPolicy,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<IgnoreDifference>,
}

impl Spec for ApplicationSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "Application";
    const PLURAL: &'static str = "applications";
}

/// A path at a revision of a repository: a Helm chart (`helm`), a directory of manifests
/// (`directory`), or a directory Argo CD detects as Kustomize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSource {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub target_revision: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmSource {
    pub release_name: String,
    /// Relative to the chart.
    pub value_files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorySource {
    /// A glob (`{a,b}` alternatives) of the files to read.
    pub include: String,
}

/// A cluster (by API server URL) and a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    pub server: String,
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncPolicy {
    /// Absent: sync by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    pub retry: Retry,
}

/// `prune`: delete what left the source; `selfHeal`: undo changes made in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Automated {
    pub prune: bool,
    pub self_heal: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub limit: u32,
    pub backoff: Backoff,
}

/// The wait before retry n is `duration × factor^n`, at most `maxDuration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    pub duration: String,
    pub factor: u32,
    pub max_duration: String,
}

/// Fields of a kind that Argo CD leaves alone when it diffs (and, with
/// `RespectIgnoreDifferences=true`, when it syncs): by jq path or JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreDifference {
    /// `""` for Kubernetes' core group.
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
}

/// `AppProject`: the repositories, destinations and cluster-scoped kinds its
/// Applications may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppProjectSpec {
    pub description: String,
    pub source_repos: Vec<String>,
    pub destinations: Vec<Destination>,
    pub cluster_resource_whitelist: Vec<GroupKind>,
}

impl Spec for AppProjectSpec {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const KIND: &'static str = "AppProject";
    const PLURAL: &'static str = "appprojects";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    #[must_use]
    pub fn new(group: &str, kind: &str) -> Self {
        GroupKind {
            group: group.to_owned(),
            kind: kind.to_owned(),
        }
    }
}
