//! `gitlab`: `ci/.gitlab-ci.yml`, one job set per service (`<service>:test`,
//! `<service>:image`, `<service>:deploy:<env>`) run only when `rules: changes:` matches the
//! service's paths, after one `nestioc:check` gate; with `review #true`, a merge-request
//! job that runs `nestioc diff` and shows it in the merge request.
//!
//! GitLab does not expand variables inside `script`: the shell does, so a test command is
//! written as is (the YAML writer keeps it a plain string).

use indexmap::IndexMap;
use serde::Serialize;

use super::{
    GENERIC_IMAGE, NestiocSource, Plan, RELEASE_TAG_REGEX, RUST_IMAGE, Refs, ServicePlan, Watch,
    plan, sh_quote,
};
use crate::diag::Diagnostic;
use crate::emit::yaml::{header, to_yaml};
use crate::emit::{Artifact, EmitContext, Emitter};
use crate::model::CiSystem;

pub(in crate::emit) struct Gitlab;

pub const DOCKER_IMAGE: &str = "docker:27.5";
pub const DIND_IMAGE: &str = "docker:27.5-dind";

/// The gate job. A service's jobs are `<service>:test`, `<service>:image` and
/// `<service>:deploy:<env>`; service and environment names have no `:`, so names never meet.
pub const GATE: &str = "nestioc:check";

/// `.gitlab-ci.yml` (docs.gitlab.com/ee/ci/yaml/): the global keywords, then the jobs by name.
#[derive(Debug, Serialize)]
struct Pipeline {
    workflow: Workflow,
    stages: Vec<Stage>,
    /// [`GATE`].
    #[serde(rename = "nestioc:check")]
    gate: Job,
    #[serde(rename = "nestioc:review", skip_serializing_if = "Option::is_none")]
    review: Option<ReviewJob>,
    /// The services' jobs, `<service>:<what>`, in the order they run.
    #[serde(flatten)]
    jobs: IndexMap<String, Job>,
}

/// `workflow:`: which pipelines GitLab creates at all.
#[derive(Debug, Serialize)]
struct Workflow {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum Stage {
    Check,
    Test,
    Image,
    Deploy,
}

/// One of `rules:`; the first that matches decides.
#[derive(Debug, Default, Serialize)]
struct Rule {
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    if_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    when: Option<&'static str>,
}

impl Rule {
    fn matching(condition: &str) -> Self {
        Rule {
            if_: Some(condition.to_owned()),
            ..Rule::default()
        }
    }
}

/// A job: the gate and every service job.
#[derive(Debug, Serialize)]
struct Job {
    stage: Stage,
    image: Image,
    /// Containers beside the job's (Docker-in-Docker for the image build).
    #[serde(skip_serializing_if = "Option::is_none")]
    services: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variables: Option<IndexMap<&'static str, &'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    needs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interruptible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules: Option<Vec<Rule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<Cache>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
    /// Deployments of one application wait for each other.
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    script: Vec<String>,
}

impl Job {
    fn new(stage: Stage, image: Image, script: Vec<String>) -> Self {
        Job {
            stage,
            image,
            services: None,
            variables: None,
            needs: None,
            interruptible: None,
            rules: None,
            cache: None,
            environment: None,
            resource_group: None,
            timeout: None,
            script,
        }
    }
}

/// The merge-request review job: a job whose keys nestioc has always written in this
/// order (`variables` after `rules`), so that the file does not change.
#[derive(Debug, Serialize)]
struct ReviewJob {
    stage: Stage,
    image: Image,
    interruptible: bool,
    rules: Vec<Rule>,
    variables: IndexMap<&'static str, &'static str>,
    cache: Cache,
    script: Vec<String>,
    artifacts: Artifacts,
}

/// `image:`, by name, or with the entrypoint replaced (GitLab runs the script in a shell,
/// which an image whose entrypoint is its program would not start).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Image {
    Name(&'static str),
    Entrypoint {
        name: &'static str,
        entrypoint: Vec<&'static str>,
    },
}

#[derive(Debug, Serialize)]
struct Cache {
    key: String,
    paths: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct Environment {
    name: String,
}

/// `artifacts:` with `expose_as`, which links them from the merge request.
#[derive(Debug, Serialize)]
struct Artifacts {
    expose_as: &'static str,
    paths: Vec<&'static str>,
    when: &'static str,
}

/// `rules: if:` for refs.
fn ref_condition(refs: &Refs) -> String {
    let mut parts: Vec<String> = refs
        .branches
        .iter()
        .map(|b| format!("$CI_COMMIT_BRANCH == \"{b}\""))
        .collect();
    if refs.tags {
        parts.push(format!("$CI_COMMIT_TAG =~ /{RELEASE_TAG_REGEX}/"));
    }
    parts.join(" || ")
}

fn changes(svc: &ServicePlan<'_>) -> Vec<String> {
    svc.watches()
        .into_iter()
        .map(|w| match w {
            Watch::Dir(d) => format!("{d}/**/*"),
            Watch::File(f) => f,
        })
        .collect()
}

/// Rules: the refs (when given) and the service's paths. In tag pipelines GitLab counts
/// `changes` as matched, so a release tag runs every service.
fn rules(svc: &ServicePlan<'_>, refs: Option<&Refs>) -> Option<Vec<Rule>> {
    Some(vec![Rule {
        if_: refs.map(ref_condition),
        changes: Some(changes(svc)),
        when: None,
    }])
}

/// Where the gate keeps nestioc: GitLab caches only paths inside the project directory.
const NESTIOC_ROOT: &str = "$CI_PROJECT_DIR/.nestioc";

/// The cache that keeps nestioc between pipelines: one key per release; for a build from
/// this repository's source one key, whose content is rebuilt (and uploaded again at the
/// end of the job) when its identity file no longer matches.
fn nestioc_cache(plan: &Plan<'_>) -> Cache {
    let key = match &plan.nestioc {
        NestiocSource::Release => format!("nestioc-{}", NestiocSource::tag()),
        NestiocSource::Path(_) => "nestioc-source".to_owned(),
    };
    Cache {
        key,
        paths: vec![".nestioc/"],
    }
}

/// nestioc from the cache, or built; then on PATH for the lines that follow (GitLab runs
/// a job's script lines in one shell).
fn install_lines(plan: &Plan<'_>) -> Vec<String> {
    plan.nestioc.install_script(NESTIOC_ROOT)
}

/// The gate: no `rules`, so it runs in every pipeline the workflow creates (a push to any
/// branch, a merge request, a tag), whatever changed.
fn gate_job(plan: &Plan<'_>) -> Job {
    let mut script = install_lines(plan);
    script.push(plan.layout.check_command());
    Job {
        interruptible: Some(true),
        cache: Some(nestioc_cache(plan)),
        ..Job::new(Stage::Check, Image::Name(RUST_IMAGE), script)
    }
}

fn review_job(plan: &Plan<'_>) -> ReviewJob {
    let mut script = install_lines(plan);
    script.extend([
        "git fetch origin \"+refs/heads/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME:refs/remotes/origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"".to_owned(),
        format!(
            "nestioc diff{} --base \"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\" --format markdown > nestioc-diff.md",
            plan.layout.dir_arg()
        ),
    ]);
    ReviewJob {
        stage: Stage::Check,
        image: Image::Name(RUST_IMAGE),
        interruptible: true,
        rules: vec![Rule::matching(
            "$CI_PIPELINE_SOURCE == \"merge_request_event\"",
        )],
        variables: IndexMap::from([("GIT_DEPTH", "0")]),
        cache: nestioc_cache(plan),
        script,
        artifacts: Artifacts {
            expose_as: "nestioc diff",
            paths: vec!["nestioc-diff.md"],
            when: "always",
        },
    }
}

fn document(plan: &Plan<'_>) -> Pipeline {
    let mut jobs = IndexMap::new();
    for svc in &plan.services {
        let mut needs = GATE.to_owned();
        if let Some(test) = &svc.test {
            let image = test.toolchain.map_or(GENERIC_IMAGE, |t| t.image);
            jobs.insert(
                format!("{}:test", svc.name),
                Job {
                    needs: Some(vec![needs]),
                    interruptible: Some(true),
                    rules: rules(svc, None),
                    ..Job::new(
                        Stage::Test,
                        Image::Name(image),
                        vec![format!("cd {}", sh_quote(svc.source)), test.command.clone()],
                    )
                },
            );
            needs = format!("{}:test", svc.name);
        }
        let Some(dockerfile) = &svc.dockerfile else {
            continue;
        };
        let mut script = vec![super::login_command(svc)];
        script.extend(super::image_commands(svc, dockerfile, "CI_COMMIT_SHA"));
        jobs.insert(
            format!("{}:image", svc.name),
            Job {
                services: Some(vec![DIND_IMAGE]),
                variables: Some(IndexMap::from([("DOCKER_TLS_CERTDIR", "/certs")])),
                needs: Some(vec![needs]),
                rules: rules(svc, Some(&plan.push_refs)),
                ..Job::new(Stage::Image, Image::Name(DOCKER_IMAGE), script)
            },
        );
        for d in &svc.deploys {
            jobs.insert(
                format!("{}:deploy:{}", svc.name, d.env),
                Job {
                    needs: Some(vec![format!("{}:image", svc.name)]),
                    rules: rules(svc, Some(&d.refs)),
                    environment: Some(Environment {
                        name: d.env.clone(),
                    }),
                    resource_group: Some(d.app.clone()),
                    timeout: Some(format!("{} minutes", super::deploy_minutes(svc))),
                    ..Job::new(
                        Stage::Deploy,
                        Image::Entrypoint {
                            name: super::ARGOCD_IMAGE,
                            entrypoint: vec![""],
                        },
                        super::deploy_commands(svc, d, "CI_COMMIT_SHA"),
                    )
                },
            );
        }
    }
    Pipeline {
        // Merge-request pipelines for merge requests, branch pipelines otherwise, never both.
        workflow: Workflow {
            rules: vec![
                Rule::matching("$CI_PIPELINE_SOURCE == \"merge_request_event\""),
                Rule {
                    when: Some("never"),
                    ..Rule::matching("$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS")
                },
                Rule::matching("$CI_COMMIT_BRANCH"),
                Rule::matching("$CI_COMMIT_TAG"),
            ],
        },
        stages: vec![Stage::Check, Stage::Test, Stage::Image, Stage::Deploy],
        gate: gate_job(plan),
        review: plan.review.then(|| review_job(plan)),
        jobs,
    }
}

impl Emitter for Gitlab {
    fn name(&self) -> &'static str {
        // The target is named after the system it generates for.
        CiSystem::Gitlab.as_str()
    }

    fn description(&self) -> &'static str {
        "GitLab CI pipeline (ci \"gitlab\"): ci/.gitlab-ci.yml"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if !cx.model.project.ci.contains(&CiSystem::Gitlab) {
            return Ok(Vec::new());
        }
        let plan = plan(cx);
        Ok(vec![Artifact {
            path: "ci/.gitlab-ci.yml".into(),
            contents: header(&plan.project_file) + &to_yaml(&document(&plan)),
            source: Some(cx.model.project.span),
        }])
    }
}
