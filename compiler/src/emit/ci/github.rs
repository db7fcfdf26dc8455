//! `github-actions`: one workflow per service, `ci/.github/workflows/<service>.yml`, and
//! with `review #true` the pull-request review workflow `nestioc-review.yml`.
//!
//! Every action is pinned to a full commit SHA with its release as a comment; the workflow
//! grants `contents: read` and each job only what it uses. User strings never go inside
//! `${{ }}`: the service name and paths are outside every expression, and a test command is
//! written with [`github_literal`] so that GitHub runs it exactly as written.

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::Serialize;

use super::{
    ACTIONS, BUILD_PUSH, CACHE, CHECKOUT, DOCKER_LOGIN, Deploy, GateWatch, NestiocSource, Plan,
    RELEASE_TAG_GLOB, RUST_TOOLCHAIN, RUST_VERSION, Refs, SETUP_BUILDX, ServicePlan, Watch,
    github_literal, plan,
};
use crate::diag::{Code, Diagnostic};
use crate::emit::yaml::{header, to_yaml};
use crate::emit::{Artifact, EmitContext, Emitter};
use crate::model::CiSystem;

pub(in crate::emit) struct GithubActions;

pub const RUNNER: &str = "ubuntu-24.04";
pub const WORKFLOWS: &str = ".github/workflows";
pub const REVIEW_WORKFLOW: &str = "nestioc-review";
/// The gate's own workflow: `nestioc build --check` on any change to the topology, the
/// templates or the generated tree.
pub const GATE_WORKFLOW: &str = "nestioc-check";
/// The hidden marker that identifies the review comment, so that it is updated in place.
pub const REVIEW_MARKER: &str = "<!-- nestioc-review -->";

/// Adds the release comment after every pinned SHA: `uses: actions/checkout@<sha> # v7.0.1`.
/// The YAML writer cannot write comments, and a `#` inside the value would be part of it.
fn pin_comments(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        out.push_str(line);
        if let Some(a) = ACTIONS
            .iter()
            .find(|a| line.trim_start().trim_start_matches("- ") == format!("uses: {}", a.uses()))
        {
            out.push_str(" # ");
            out.push_str(a.version);
        }
        out.push('\n');
    }
    out
}

/// A workflow file (docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions).
#[derive(Debug, Serialize)]
struct Workflow {
    name: String,
    on: On,
    permissions: Permissions,
    concurrency: Concurrency,
    /// By job id, in the order the jobs run.
    jobs: IndexMap<String, Job>,
}

/// `on`: the events that run the workflow. Every workflow runs on pull requests; the
/// review workflow on nothing else.
#[derive(Debug, Serialize)]
struct On {
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<Push>,
    pull_request: PullRequest,
}

/// `on.push`: branches and release tags, and only when a watched path changed.
#[derive(Debug, Serialize)]
struct Push {
    branches: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<&'static str>>,
    paths: Vec<String>,
}

/// `on.pull_request`: only when a watched path changed.
#[derive(Debug, Serialize)]
struct PullRequest {
    paths: Vec<String>,
}

/// `permissions` of the `GITHUB_TOKEN`: an absent scope is no access, so each job lists
/// only what it uses (and `{}`, nothing at all, for a job that needs no token).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Permissions {
    #[serde(skip_serializing_if = "Option::is_none")]
    contents: Option<Access>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packages: Option<Access>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_requests: Option<Access>,
}

impl Permissions {
    fn read() -> Self {
        Permissions {
            contents: Some(Access::Read),
            ..Permissions::default()
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum Access {
    Read,
    Write,
}

/// `concurrency`: one run (or job) per group at a time.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Concurrency {
    group: String,
    cancel_in_progress: bool,
}

/// `jobs.<job_id>`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Job {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    needs: Option<Vec<String>>,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    if_: Option<String>,
    runs_on: &'static str,
    /// A deployment job's GitHub environment, whose protection rules gate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<Concurrency>,
    permissions: Permissions,
    timeout_minutes: u64,
    steps: Vec<Step>,
}

impl Job {
    /// A job on every event, with read access to the repository and 30 minutes.
    fn read_only(name: &str, steps: Vec<Step>) -> Self {
        Job {
            name: name.to_owned(),
            needs: None,
            if_: None,
            runs_on: RUNNER,
            environment: None,
            concurrency: None,
            permissions: Permissions::read(),
            timeout_minutes: 30,
            steps,
        }
    }
}

/// `jobs.<job_id>.steps[*]`: an action (`uses`, with its inputs) or a shell script (`run`).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'static str>,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    if_: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uses: Option<String>,
    /// The action's inputs: each action defines its own (its `action.yml`), so this is a
    /// map, of scalars.
    #[serde(skip_serializing_if = "Option::is_none")]
    with: Option<IndexMap<&'static str, Input>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<IndexMap<&'static str, &'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<String>,
}

impl Step {
    fn run(name: &str, run: String) -> Self {
        Step {
            name: Some(name.to_owned()),
            run: Some(run),
            ..Step::default()
        }
    }
}

/// An action input: YAML scalars, which the runner hands to the action as strings.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Flag(bool),
    Number(u32),
}

impl From<&str> for Input {
    fn from(s: &str) -> Self {
        Input::Text(s.to_owned())
    }
}

impl From<String> for Input {
    fn from(s: String) -> Self {
        Input::Text(s)
    }
}

fn inputs<const N: usize>(pairs: [(&'static str, Input); N]) -> IndexMap<&'static str, Input> {
    pairs.into_iter().collect()
}

fn step(action: super::Action, with: Option<IndexMap<&'static str, Input>>) -> Step {
    Step {
        uses: Some(action.uses()),
        with,
        ..Step::default()
    }
}

/// Checkout without leaving the token in `.git/config` (no later step pushes).
fn checkout() -> Step {
    step(
        CHECKOUT,
        Some(inputs([("persist-credentials", Input::Flag(false))])),
    )
}

/// Where the gate keeps nestioc: `$HOME/.nestioc/bin/nestioc`, cached by actions/cache.
const NESTIOC_ROOT: &str = "$HOME/.nestioc";
const NESTIOC_CACHE_PATH: &str = "~/.nestioc";

/// nestioc on PATH, from the cache when a build with the same identity is there (the
/// release tag, or a hash of nestioc's source in this repository); built otherwise, and
/// then cached by the action's post step. Follows a checkout.
fn install_steps(plan: &Plan<'_>) -> Vec<Step> {
    let miss = "steps.nestioc-cache.outputs.cache-hit != 'true'";
    let mut steps = Vec::new();
    let key = match &plan.nestioc {
        NestiocSource::Release => format!("nestioc-${{{{ runner.os }}}}-{}", NestiocSource::tag()),
        NestiocSource::Path(_) => {
            steps.push(Step {
                id: Some("nestioc-id"),
                ..Step::run(
                    "Identify nestioc's source",
                    plan.nestioc.id_lines("id").join("\n")
                        + "\necho \"id=$id\" >> \"$GITHUB_OUTPUT\"\n",
                )
            });
            "nestioc-${{ runner.os }}-${{ steps.nestioc-id.outputs.id }}".to_owned()
        }
    };
    steps.push(Step {
        name: Some("Restore nestioc".into()),
        id: Some("nestioc-cache"),
        ..step(
            CACHE,
            Some(inputs([
                ("path", NESTIOC_CACHE_PATH.into()),
                ("key", key.into()),
            ])),
        )
    });
    steps.push(Step {
        if_: Some(miss),
        ..step(
            RUST_TOOLCHAIN,
            Some(inputs([("toolchain", RUST_VERSION.into())])),
        )
    });
    steps.push(Step {
        if_: Some(miss),
        ..Step::run("Build nestioc", plan.nestioc.install_command(NESTIOC_ROOT))
    });
    steps.push(Step::run(
        "Put nestioc on PATH",
        format!("echo \"{NESTIOC_ROOT}/bin\" >> \"$GITHUB_PATH\""),
    ));
    steps
}

/// The gate's job: checkout, nestioc, `nestioc build --check`.
fn check_job(plan: &Plan<'_>) -> Job {
    let mut steps = vec![checkout()];
    steps.extend(install_steps(plan));
    steps.push(Step::run(
        "Generated files are up to date",
        plan.layout.check_command(),
    ));
    Job::read_only("nestioc build --check", steps)
}

/// The gate alone, on every change to what nestioc reads or writes.
fn gate_workflow(plan: &Plan<'_>) -> Workflow {
    let mut paths: Vec<String> = plan
        .gate_watches()
        .into_iter()
        .map(|w| match w {
            GateWatch::Kdl(dir) if dir == "." => "**/*.kdl".to_owned(),
            GateWatch::Kdl(dir) => format!("{dir}/**/*.kdl"),
            GateWatch::Dir(d) => format!("{d}/**"),
            GateWatch::File(f) => f,
        })
        .collect();
    paths.push(format!("{WORKFLOWS}/{GATE_WORKFLOW}.yml"));
    Workflow {
        name: "nestioc check".into(),
        on: On {
            push: Some(Push {
                branches: plan.push_refs.branches.clone(),
                tags: None,
                paths: paths.clone(),
            }),
            pull_request: PullRequest { paths },
        },
        permissions: Permissions::read(),
        concurrency: Concurrency {
            group: format!("{}-{GATE_WORKFLOW}-${{{{ github.ref }}}}", plan.project),
            cancel_in_progress: true,
        },
        jobs: IndexMap::from([("nestioc-check".to_owned(), check_job(plan))]),
    }
}

/// `if:` for refs, from the event's `github.ref` (never from user input).
fn ref_condition(refs: &Refs) -> String {
    let mut parts: Vec<String> = refs
        .branches
        .iter()
        .map(|b| format!("github.ref == 'refs/heads/{b}'"))
        .collect();
    if refs.tags {
        parts.push("startsWith(github.ref, 'refs/tags/v')".into());
    }
    parts.join(" || ")
}

fn paths(svc: &ServicePlan<'_>) -> Vec<String> {
    let mut p: Vec<String> = svc
        .watches()
        .into_iter()
        .map(|w| match w {
            Watch::Dir(d) => format!("{d}/**"),
            Watch::File(f) => f,
        })
        .collect();
    p.push(format!("{WORKFLOWS}/{}.yml", svc.name));
    p
}

fn deploy_job(svc: &ServicePlan<'_>, d: &Deploy) -> Job {
    let mut script = vec![
        "# The Argo CD CLI, from its pinned image; ARGOCD_OPTS may add e.g. --grpc-web.".to_owned(),
        format!(
            "argocd() {{ docker run --rm -e ARGOCD_SERVER -e ARGOCD_AUTH_TOKEN -e ARGOCD_OPTS --entrypoint argocd {} \"$@\"; }}",
            super::ARGOCD_IMAGE
        ),
    ];
    script.extend(super::deploy_commands(svc, d, "GITHUB_SHA"));
    Job {
        name: format!("Deploy to {}", d.env),
        needs: Some(vec!["image".to_owned()]),
        if_: Some(ref_condition(&d.refs)),
        runs_on: RUNNER,
        environment: Some(d.env.clone()),
        concurrency: Some(Concurrency {
            group: format!("deploy-{}", d.app),
            cancel_in_progress: false,
        }),
        permissions: Permissions::default(),
        timeout_minutes: super::deploy_minutes(svc),
        steps: vec![Step {
            env: Some(IndexMap::from([
                ("ARGOCD_SERVER", "${{ secrets.ARGOCD_SERVER }}"),
                ("ARGOCD_AUTH_TOKEN", "${{ secrets.ARGOCD_AUTH_TOKEN }}"),
                ("ARGOCD_OPTS", "${{ vars.ARGOCD_OPTS }}"),
            ])),
            ..Step::run(
                &format!("Set the image of {} and sync it", d.app),
                script.join("\n") + "\n",
            )
        }],
    }
}

/// Builds and pushes the image. GHCR takes the workflow's own token (with
/// `packages: write`); any other registry takes the REGISTRY_USERNAME / REGISTRY_PASSWORD
/// secrets and no package permission.
fn image_job(svc: &ServicePlan<'_>, dockerfile: &str, needs: &[&str]) -> Job {
    let ghcr = svc.registry == "ghcr.io";
    let mut login = IndexMap::new();
    if svc.registry != "docker.io" {
        login.insert("registry", svc.registry.as_str().into());
    }
    let (username, password) = if ghcr {
        ("${{ github.actor }}", "${{ secrets.GITHUB_TOKEN }}")
    } else {
        (
            "${{ secrets.REGISTRY_USERNAME }}",
            "${{ secrets.REGISTRY_PASSWORD }}",
        )
    };
    login.insert("username", username.into());
    login.insert("password", password.into());
    Job {
        name: "Build and push the image".into(),
        needs: Some(needs.iter().map(|&n| n.to_owned()).collect()),
        if_: Some("github.event_name == 'push'".into()),
        runs_on: RUNNER,
        environment: None,
        concurrency: None,
        permissions: Permissions {
            packages: ghcr.then_some(Access::Write),
            ..Permissions::read()
        },
        timeout_minutes: 30,
        steps: vec![
            checkout(),
            step(SETUP_BUILDX, None),
            step(DOCKER_LOGIN, Some(login)),
            step(
                BUILD_PUSH,
                Some(inputs([
                    ("context", svc.source.into()),
                    ("file", dockerfile.into()),
                    ("push", Input::Flag(true)),
                    (
                        "tags",
                        format!("{}:${{{{ github.sha }}}}", svc.repository).into(),
                    ),
                ])),
            ),
        ],
    }
}

fn service_workflow(plan: &Plan<'_>, svc: &ServicePlan<'_>) -> Workflow {
    let paths = paths(svc);
    let mut jobs = IndexMap::new();
    jobs.insert("nestioc-check".to_owned(), check_job(plan));
    let mut image_needs = vec!["nestioc-check"];
    if let Some(test) = &svc.test {
        let mut steps = vec![checkout()];
        if let Some(tc) = test.toolchain {
            let mut with: IndexMap<&'static str, Input> =
                tc.with.iter().map(|&(k, v)| (k, v.into())).collect();
            if tc.language == "go" {
                with.insert(
                    "cache-dependency-path",
                    format!("{}/go.sum", svc.source).into(),
                );
            }
            steps.push(step(tc.setup, Some(with)));
        }
        steps.push(Step {
            working_directory: Some(svc.source.to_owned()),
            ..Step::run("Test", github_literal(&test.command))
        });
        jobs.insert("test".to_owned(), Job::read_only("Test", steps));
        image_needs.push("test");
    }
    if let Some(dockerfile) = &svc.dockerfile {
        jobs.insert("image".into(), image_job(svc, dockerfile, &image_needs));
    }
    for d in &svc.deploys {
        jobs.insert(format!("deploy-{}", d.env), deploy_job(svc, d));
    }
    Workflow {
        name: svc.name.to_owned(),
        on: On {
            push: Some(Push {
                branches: plan.push_refs.branches.clone(),
                tags: Some(vec![RELEASE_TAG_GLOB]),
                paths: paths.clone(),
            }),
            pull_request: PullRequest { paths },
        },
        permissions: Permissions::read(),
        // One run per service and ref at a time, in order: a newer run replaces a pending
        // one, a running one finishes (cancelling a deployment half-way helps no one).
        concurrency: Concurrency {
            group: format!("{}-{}-${{{{ github.ref }}}}", plan.project, svc.name),
            cancel_in_progress: false,
        },
        jobs,
    }
}

/// The review workflow: on a pull request that changes the topology, `nestioc diff`
/// against the base branch, posted as one comment updated in place (and written to the
/// job summary, which also works for pull requests from forks, whose token cannot
/// comment).
fn review_workflow(plan: &Plan<'_>) -> Workflow {
    let diff = [
        format!(
            "nestioc diff{} --base \"origin/$GITHUB_BASE_REF\" --format markdown > \"$RUNNER_TEMP/nestioc-diff.md\"",
            plan.layout.dir_arg()
        ),
        "cat \"$RUNNER_TEMP/nestioc-diff.md\" >> \"$GITHUB_STEP_SUMMARY\"".into(),
    ]
    .join("\n")
        + "\n";
    let comment = [
        format!("marker='{REVIEW_MARKER}'"),
        "{ echo \"$marker\"; cat \"$RUNNER_TEMP/nestioc-diff.md\"; } > \"$RUNNER_TEMP/comment.md\"".into(),
        "id=\"$(gh api --paginate \"repos/$GITHUB_REPOSITORY/issues/$PR/comments\" --jq \".[] | select(.body | startswith(\\\"$marker\\\")) | .id\" | head -n 1)\"".into(),
        "if [ -n \"$id\" ]; then".into(),
        "  gh api --method PATCH \"repos/$GITHUB_REPOSITORY/issues/comments/$id\" -F \"body=@$RUNNER_TEMP/comment.md\" > /dev/null".into(),
        "else".into(),
        "  gh api --method POST \"repos/$GITHUB_REPOSITORY/issues/$PR/comments\" -F \"body=@$RUNNER_TEMP/comment.md\" > /dev/null".into(),
        "fi".into(),
    ]
    .join("\n")
        + "\n";
    let mut steps = vec![step(
        CHECKOUT,
        // The whole history: `nestioc diff` builds the base branch too.
        Some(inputs([
            ("fetch-depth", Input::Number(0)),
            ("persist-credentials", Input::Flag(false)),
        ])),
    )];
    steps.extend(install_steps(plan));
    steps.push(Step::run("nestioc diff", diff));
    steps.push(Step {
        if_: Some("github.event.pull_request.head.repo.full_name == github.repository"),
        env: Some(IndexMap::from([
            ("GH_TOKEN", "${{ secrets.GITHUB_TOKEN }}"),
            ("PR", "${{ github.event.pull_request.number }}"),
        ])),
        ..Step::run("Post or update the review comment", comment)
    });
    steps.push(Step::run(
        "Generated files are up to date",
        plan.layout.check_command(),
    ));
    Workflow {
        name: "nestioc review".into(),
        on: On {
            push: None,
            pull_request: PullRequest {
                paths: vec![
                    plan.layout.in_project("**.kdl"),
                    plan.layout.in_project("templates/**"),
                    format!("{WORKFLOWS}/{REVIEW_WORKFLOW}.yml"),
                ],
            },
        },
        permissions: Permissions::read(),
        concurrency: Concurrency {
            group: format!(
                "{}-{REVIEW_WORKFLOW}-${{{{ github.event.pull_request.number }}}}",
                plan.project
            ),
            cancel_in_progress: true,
        },
        jobs: IndexMap::from([(
            "review".to_owned(),
            Job {
                permissions: Permissions {
                    pull_requests: Some(Access::Write),
                    ..Permissions::read()
                },
                ..Job::read_only("nestioc diff", steps)
            },
        )]),
    }
}

impl Emitter for GithubActions {
    fn name(&self) -> &'static str {
        // The target is named after the system it generates for.
        CiSystem::GithubActions.as_str()
    }

    fn description(&self) -> &'static str {
        "GitHub Actions workflows (ci \"github-actions\"): ci/.github/workflows/<service>.yml, nestioc-check.yml, nestioc-review.yml"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if !cx.model.project.ci.contains(&CiSystem::GithubActions) {
            return Ok(Vec::new());
        }
        let plan = plan(cx);
        let files: Vec<Result<Artifact, Diagnostic>> = plan
            .services
            .par_iter()
            .map(|svc| {
                if plan.review && svc.name == REVIEW_WORKFLOW {
                    return Err(Diagnostic::error(
                        Code::DuplicateName,
                        format!("service `{REVIEW_WORKFLOW}` has the name of the review workflow"),
                    )
                    .with_label(
                        svc.service.name_span,
                        "its workflow would be the review workflow's file",
                    )
                    .with_help("rename the service, or turn `review` off"));
                }
                if svc.name == GATE_WORKFLOW {
                    return Err(Diagnostic::error(
                        Code::DuplicateName,
                        format!("service `{GATE_WORKFLOW}` has the name of the gate's workflow"),
                    )
                    .with_label(
                        svc.service.name_span,
                        "its workflow would be the gate workflow's file",
                    )
                    .with_help("rename the service"));
                }
                Ok(Artifact {
                    path: format!("ci/{WORKFLOWS}/{}.yml", svc.name),
                    contents: header(&svc.file)
                        + &pin_comments(&to_yaml(&service_workflow(&plan, svc))),
                    source: Some(svc.service.name_span),
                })
            })
            .collect();
        let mut out = files.into_iter().collect::<Result<Vec<_>, _>>()?;
        out.push(Artifact {
            path: format!("ci/{WORKFLOWS}/{GATE_WORKFLOW}.yml"),
            contents: header(&plan.project_file) + &pin_comments(&to_yaml(&gate_workflow(&plan))),
            source: Some(cx.model.project.span),
        });
        if plan.review {
            out.push(Artifact {
                path: format!("ci/{WORKFLOWS}/{REVIEW_WORKFLOW}.yml"),
                contents: header(&plan.project_file)
                    + &pin_comments(&to_yaml(&review_workflow(&plan))),
                source: Some(cx.model.project.span),
            });
        }
        Ok(out)
    }
}
