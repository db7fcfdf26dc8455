//! `circleci`: dynamic configuration, since CircleCI has no path filters of its own.
//!
//! `ci/.circleci/config.yml` is a setup workflow: the `circleci/path-filtering` orb diffs the
//! commit against the integration branch and continues the pipeline with
//! `ci/.circleci/continue_config.yml`, setting the boolean parameter `run-<service>` for each
//! service whose paths changed. There, each service's workflow runs when its parameter is
//! set or the pipeline is for a release tag; a `nestioc_check` workflow runs the gate alone when
//! no service does. (The project must have "Enable dynamic config using setup workflows"
//! turned on.)
//!
//! CircleCI reads `<<` as a pipeline parameter anywhere in a string, so test commands are
//! written with [`circleci_literal`].

use indexmap::IndexMap;
use serde::Serialize;
use serde::ser::SerializeMap;

use super::{
    GENERIC_IMAGE, PATH_FILTERING_ORB, Plan, RELEASE_TAG_REGEX, RUST_IMAGE, Refs, ServicePlan,
    Watch, circleci_literal, plan, regex_escape,
};
use crate::diag::Diagnostic;
use crate::emit::yaml::{header, to_yaml};
use crate::emit::{Artifact, EmitContext, Emitter};
use crate::model::CiSystem;

pub(in crate::emit) struct CircleCi;

pub const CONTINUE_CONFIG: &str = ".circleci/continue_config.yml";
pub const DOCKER_CLI_IMAGE: &str = "docker:27.5-cli";

// Names: a service's jobs are `<service>_<what>` and the gate's workflow has an `_` too.
// Service and environment names never contain `_`, so no two names can meet.
pub const GATE_WORKFLOW: &str = "nestioc_check";

/// Where the gate keeps nestioc, and the file holding its identity (in the checkout: the
/// `checksum` of a cache key reads a file of the working directory).
const NESTIOC_ROOT: &str = "$HOME/.nestioc";
const NESTIOC_CACHE_PATH: &str = "~/.nestioc";
const NESTIOC_ID_FILE: &str = ".nestioc-id";

/// A CircleCI configuration, the setup one or the continuation
/// (circleci.com/docs/configuration-reference/).
#[derive(Debug, Serialize)]
struct Config {
    /// 2.1: orbs, pipeline parameters and `when` need it.
    version: f64,
    /// A setup configuration: its workflow continues the pipeline with another.
    #[serde(skip_serializing_if = "Option::is_none")]
    setup: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    orbs: Option<IndexMap<&'static str, &'static str>>,
    /// The pipeline parameters the setup workflow sets, by name.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    parameters: IndexMap<String, Parameter>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    jobs: IndexMap<String, Job>,
    workflows: IndexMap<String, Workflow>,
}

/// A pipeline parameter: here always a boolean, off unless the setup workflow sets it.
#[derive(Debug, Serialize)]
struct Parameter {
    #[serde(rename = "type")]
    type_: &'static str,
    default: bool,
}

/// A job: its container (the Docker executor) and its steps.
#[derive(Debug, Serialize)]
struct Job {
    docker: Vec<DockerImage>,
    steps: Vec<Step>,
}

#[derive(Debug, Serialize)]
struct DockerImage {
    image: &'static str,
}

fn docker(image: &'static str) -> Vec<DockerImage> {
    vec![DockerImage { image }]
}

/// A step: a built-in one by its name, or one with parameters under its name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    Checkout,
    SetupRemoteDocker,
    Run(Run),
    RestoreCache {
        keys: Vec<String>,
    },
    SaveCache {
        key: String,
        paths: Vec<&'static str>,
    },
}

#[derive(Debug, Default, Serialize)]
struct Run {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<String>,
    command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_output_timeout: Option<String>,
}

fn run(name: &str, command: String) -> Step {
    Step::Run(Run {
        name: name.to_owned(),
        command,
        ..Run::default()
    })
}

/// A workflow: its jobs, run when (or unless) a logic statement holds.
#[derive(Debug, Serialize)]
struct Workflow {
    #[serde(skip_serializing_if = "Option::is_none")]
    when: Option<Logic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unless: Option<Logic>,
    jobs: Vec<WorkflowJob>,
}

impl Workflow {
    fn jobs(jobs: Vec<WorkflowJob>) -> Self {
        Workflow {
            when: None,
            unless: None,
            jobs,
        }
    }
}

/// A logic statement (circleci.com/docs/configuration-reference/#logic-statements).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
enum Logic {
    Or(Vec<Logic>),
    And(Vec<Logic>),
    Equal(Vec<String>),
    Matches {
        pattern: &'static str,
        value: &'static str,
    },
    /// A value, true unless empty or false: here a pipeline parameter.
    #[serde(untagged)]
    Value(String),
}

/// A job in a workflow: its name alone, or a one-key map from its name to its parameters.
#[derive(Debug)]
struct WorkflowJob {
    job: String,
    params: Option<Params>,
}

impl Serialize for WorkflowJob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.params {
            None => s.serialize_str(&self.job),
            Some(p) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(&self.job, p)?;
                m.end()
            }
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Params {
    Job(JobParams),
    PathFilter(PathFilter),
}

fn job(job: impl Into<String>, params: JobParams) -> WorkflowJob {
    WorkflowJob {
        job: job.into(),
        params: Some(Params::Job(params)),
    }
}

/// The parameters every job takes in a workflow.
#[derive(Debug, Serialize)]
struct JobParams {
    /// The job's name in this workflow, when the same job runs in several.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requires: Option<Vec<String>>,
    filters: Filters,
}

/// The `circleci/path-filtering` orb's `filter` job
/// (circleci.com/developer/orbs/orb/circleci/path-filtering).
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct PathFilter {
    name: &'static str,
    base_revision: String,
    config_path: &'static str,
    /// `<regex> <parameter> <value>` lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    mapping: Option<String>,
    filters: Filters,
}

/// Job filters: CircleCI runs a job for a tag only when its filter names the tag.
#[derive(Debug, Serialize)]
struct Filters {
    #[serde(skip_serializing_if = "Option::is_none")]
    branches: Option<BranchFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<TagFilter>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum BranchFilter {
    Only(Vec<&'static str>),
    Ignore(&'static str),
}

#[derive(Debug, Serialize)]
struct TagFilter {
    only: String,
}

fn param(svc: &ServicePlan<'_>) -> String {
    format!("run-{}", svc.name)
}

fn tag_filter() -> TagFilter {
    TagFilter {
        only: format!("/{RELEASE_TAG_REGEX}/"),
    }
}

fn filters(refs: Option<&Refs>) -> Filters {
    match refs {
        None => Filters {
            branches: None,
            tags: Some(tag_filter()),
        },
        Some(r) => Filters {
            branches: Some(if r.branches.is_empty() {
                BranchFilter::Ignore("/.*/")
            } else {
                BranchFilter::Only(r.branches.clone())
            }),
            tags: r.tags.then(tag_filter),
        },
    }
}

fn setup_config(plan: &Plan<'_>) -> Config {
    let mut mapping = String::new();
    for svc in &plan.services {
        for w in svc.watches() {
            let re = match w {
                Watch::Dir(d) => format!("{}/.*", regex_escape(&d)),
                Watch::File(f) => regex_escape(&f),
            };
            mapping.push_str(&format!("{re} {} true\n", param(svc)));
        }
    }
    let filter = |base_revision: String| WorkflowJob {
        job: "path-filtering/filter".into(),
        params: Some(Params::PathFilter(PathFilter {
            name: "nestioc-paths",
            base_revision,
            config_path: CONTINUE_CONFIG,
            mapping: (!mapping.is_empty()).then(|| mapping.clone()),
            filters: filters(None),
        })),
    };
    // The orb diffs HEAD against the merge base with `base-revision`; on the integration
    // branch itself that is HEAD, and the orb falls back to HEAD~1 (its
    // `create-parameters.py`): a push of several commits would be judged by its last one.
    // There the base is the revision of the branch's previous pipeline,
    // `pipeline.git.base_revision`, which CircleCI leaves empty on a branch's first pipeline
    // and for API triggers (then the integration branch, as elsewhere).
    let on_branch_after_a_pipeline = Logic::And(vec![
        Logic::Equal(vec![
            plan.base_branch().to_owned(),
            "<< pipeline.git.branch >>".to_owned(),
        ]),
        Logic::Value("<< pipeline.git.base_revision >>".to_owned()),
    ]);
    let mut setup = Workflow::jobs(vec![filter(plan.base_branch().to_owned())]);
    setup.unless = Some(on_branch_after_a_pipeline.clone());
    let mut pushed = Workflow::jobs(vec![filter("<< pipeline.git.base_revision >>".to_owned())]);
    pushed.when = Some(on_branch_after_a_pipeline);
    Config {
        version: 2.1,
        setup: Some(true),
        orbs: Some(IndexMap::from([("path-filtering", PATH_FILTERING_ORB)])),
        parameters: IndexMap::new(),
        jobs: IndexMap::new(),
        workflows: IndexMap::from([
            ("nestioc-setup".to_owned(), setup),
            ("nestioc-setup-push".to_owned(), pushed),
        ]),
    }
}

fn continue_config(plan: &Plan<'_>) -> Config {
    let mut parameters = IndexMap::new();
    let mut jobs = IndexMap::new();
    let mut workflows = IndexMap::new();
    // nestioc is cached under the key of its identity (the release tag, or a hash of its
    // source in this repository), written to a file for `checksum`; each `run` is its own
    // shell, so the check puts it on PATH again.
    let key = format!("nestioc-v1-{{{{ checksum \"{NESTIOC_ID_FILE}\" }}}}");
    let on_path = format!("export PATH=\"{NESTIOC_ROOT}/bin:$PATH\"");
    jobs.insert(
        "nestioc-check".to_owned(),
        Job {
            docker: docker(RUST_IMAGE),
            steps: vec![
                Step::Checkout,
                run(
                    "Identify nestioc",
                    plan.nestioc.id_lines("id").join("\n")
                        + &format!("\necho \"$id\" > {NESTIOC_ID_FILE}\n"),
                ),
                Step::RestoreCache {
                    keys: vec![key.clone()],
                },
                run(
                    "Install nestioc",
                    plan.nestioc.install_script(NESTIOC_ROOT).join("\n") + "\n",
                ),
                Step::SaveCache {
                    key,
                    paths: vec![NESTIOC_CACHE_PATH],
                },
                run(
                    "Generated files are up to date",
                    format!("{on_path}\n{}\n", plan.layout.check_command()),
                ),
            ],
        },
    );
    let is_release = Logic::Matches {
        pattern: RELEASE_TAG_REGEX,
        value: "<< pipeline.git.tag >>",
    };
    let mut any_service = vec![is_release.clone()];
    for svc in &plan.services {
        let p = param(svc);
        parameters.insert(
            p.clone(),
            Parameter {
                type_: "boolean",
                default: false,
            },
        );
        any_service.push(Logic::Value(format!("<< pipeline.parameters.{p} >>")));
        let check = format!("{}_nestioc_check", svc.name);
        let mut wf_jobs = vec![job(
            "nestioc-check",
            JobParams {
                name: Some(check.clone()),
                requires: None,
                filters: filters(None),
            },
        )];
        let mut image_requires = check.clone();
        if let Some(test) = &svc.test {
            let image = test.toolchain.map_or(GENERIC_IMAGE, |t| t.image);
            let name = format!("{}_test", svc.name);
            jobs.insert(
                name.clone(),
                Job {
                    docker: docker(image),
                    steps: vec![
                        Step::Checkout,
                        Step::Run(Run {
                            name: "Test".into(),
                            working_directory: Some(svc.source.to_owned()),
                            command: circleci_literal(&test.command),
                            no_output_timeout: None,
                        }),
                    ],
                },
            );
            wf_jobs.push(job(
                name.clone(),
                JobParams {
                    name: None,
                    requires: Some(vec![check]),
                    filters: filters(None),
                },
            ));
            image_requires = name;
        }
        if let Some(dockerfile) = &svc.dockerfile {
            let mut commands = vec![super::login_command(svc)];
            commands.extend(super::image_commands(svc, dockerfile, "CIRCLE_SHA1"));
            let image_job = format!("{}_image", svc.name);
            jobs.insert(
                image_job.clone(),
                Job {
                    docker: docker(DOCKER_CLI_IMAGE),
                    steps: vec![
                        Step::Checkout,
                        Step::SetupRemoteDocker,
                        run("Build and push the image", commands.join("\n") + "\n"),
                    ],
                },
            );
            wf_jobs.push(job(
                image_job.clone(),
                JobParams {
                    name: None,
                    requires: Some(vec![image_requires]),
                    filters: filters(Some(&plan.push_refs)),
                },
            ));
            for d in &svc.deploys {
                let name = format!("{}_deploy_{}", svc.name, d.env);
                jobs.insert(
                    name.clone(),
                    Job {
                        docker: docker(super::ARGOCD_IMAGE),
                        // `argocd app wait` prints nothing while a rollout pauses:
                        // CircleCI's 10-minute no-output limit would end the step.
                        steps: vec![Step::Run(Run {
                            name: format!("Deploy to {}", d.env),
                            working_directory: None,
                            command: super::deploy_commands(svc, d, "CIRCLE_SHA1").join("\n")
                                + "\n",
                            no_output_timeout: Some(format!("{}m", super::deploy_minutes(svc))),
                        })],
                    },
                );
                wf_jobs.push(job(
                    name,
                    JobParams {
                        name: None,
                        requires: Some(vec![image_job.clone()]),
                        filters: filters(Some(&d.refs)),
                    },
                ));
            }
        }
        workflows.insert(
            svc.name.to_owned(),
            Workflow {
                when: Some(Logic::Or(vec![
                    Logic::Value(format!("<< pipeline.parameters.{p} >>")),
                    is_release.clone(),
                ])),
                ..Workflow::jobs(wf_jobs)
            },
        );
    }
    let gate = if plan.services.is_empty() {
        Workflow::jobs(vec![job(
            "nestioc-check",
            JobParams {
                name: None,
                requires: None,
                filters: filters(None),
            },
        )])
    } else {
        Workflow {
            unless: Some(Logic::Or(any_service)),
            ..Workflow::jobs(vec![WorkflowJob {
                job: "nestioc-check".into(),
                params: None,
            }])
        }
    };
    workflows.insert(GATE_WORKFLOW.into(), gate);
    Config {
        version: 2.1,
        setup: None,
        orbs: None,
        parameters,
        jobs,
        workflows,
    }
}

impl Emitter for CircleCi {
    fn name(&self) -> &'static str {
        // The target is named after the system it generates for.
        CiSystem::Circleci.as_str()
    }

    fn description(&self) -> &'static str {
        "CircleCI setup and continuation config (ci \"circleci\"): ci/.circleci/config.yml, continue_config.yml"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if !cx.model.project.ci.contains(&CiSystem::Circleci) {
            return Ok(Vec::new());
        }
        let plan = plan(cx);
        let head = header(&plan.project_file);
        Ok(vec![
            Artifact {
                path: "ci/.circleci/config.yml".into(),
                contents: head.clone() + &to_yaml(&setup_config(&plan)),
                source: Some(cx.model.project.span),
            },
            Artifact {
                path: format!("ci/{CONTINUE_CONFIG}"),
                contents: head + &to_yaml(&continue_config(&plan)),
                source: Some(cx.model.project.span),
            },
        ])
    }
}
