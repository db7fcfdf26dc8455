//! `github-actions`: one workflow per service, `ci/.github/workflows/<service>.yml`, and
//! with `review #true` the pull-request review workflow `nestioc-review.yml`.
//!
//! Every action is pinned to a full commit SHA with its release as a comment; the workflow
//! grants `contents: read` and each job only what it uses. User strings never go inside
//! `${{ }}`: the service name and paths are outside every expression, and a test command is
//! written with [`github_literal`] so that GitHub runs it exactly as written.

use rayon::prelude::*;
use serde_json::{Map, Value, json};

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

fn step(action: super::Action, with: Option<Value>) -> Value {
    let mut s = Map::new();
    s.insert("uses".into(), json!(action.uses()));
    if let Some(w) = with {
        s.insert("with".into(), w);
    }
    Value::Object(s)
}

/// Checkout without leaving the token in `.git/config` (no later step pushes).
fn checkout() -> Value {
    step(CHECKOUT, Some(json!({"persist-credentials": false})))
}

/// Where the gate keeps nestioc: `$HOME/.nestioc/bin/nestioc`, cached by actions/cache.
const NESTIOC_ROOT: &str = "$HOME/.nestioc";
const NESTIOC_CACHE_PATH: &str = "~/.nestioc";

/// nestioc on PATH, from the cache when a build with the same identity is there (the
/// release tag, or a hash of nestioc's source in this repository); built otherwise, and
/// then cached by the action's post step. Follows a checkout.
fn install_steps(plan: &Plan<'_>) -> Vec<Value> {
    let miss = "steps.nestioc-cache.outputs.cache-hit != 'true'";
    let mut steps = Vec::new();
    let key = match &plan.nestioc {
        NestiocSource::Release => format!("nestioc-${{{{ runner.os }}}}-{}", NestiocSource::tag()),
        NestiocSource::Path(_) => {
            steps.push(json!({
                "name": "Identify nestioc's source",
                "id": "nestioc-id",
                "run": plan.nestioc.id_lines("id").join("\n")
                    + "\necho \"id=$id\" >> \"$GITHUB_OUTPUT\"\n",
            }));
            "nestioc-${{ runner.os }}-${{ steps.nestioc-id.outputs.id }}".to_owned()
        }
    };
    steps.push(json!({
        "name": "Restore nestioc",
        "id": "nestioc-cache",
        "uses": CACHE.uses(),
        "with": {"path": NESTIOC_CACHE_PATH, "key": key},
    }));
    steps.push(json!({
        "if": miss,
        "uses": RUST_TOOLCHAIN.uses(),
        "with": {"toolchain": RUST_VERSION},
    }));
    steps.push(json!({
        "name": "Build nestioc",
        "if": miss,
        "run": plan.nestioc.install_command(NESTIOC_ROOT),
    }));
    steps.push(json!({
        "name": "Put nestioc on PATH",
        "run": format!("echo \"{NESTIOC_ROOT}/bin\" >> \"$GITHUB_PATH\""),
    }));
    steps
}

/// The gate alone, on every change to what nestioc reads or writes.
fn gate_workflow(plan: &Plan<'_>) -> Value {
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
    let mut steps = vec![checkout()];
    steps.extend(install_steps(plan));
    steps.push(
        json!({"name": "Generated files are up to date", "run": plan.layout.check_command()}),
    );
    let mut push = Map::new();
    push.insert("branches".into(), json!(plan.push_refs.branches));
    push.insert("paths".into(), json!(paths));
    json!({
        "name": "nestioc check",
        "on": {"push": push, "pull_request": {"paths": paths}},
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": format!("{}-{GATE_WORKFLOW}-${{{{ github.ref }}}}", plan.project),
            "cancel-in-progress": true,
        },
        "jobs": {
            "nestioc-check": {
                "name": "nestioc build --check",
                "runs-on": RUNNER,
                "permissions": {"contents": "read"},
                "timeout-minutes": 30,
                "steps": steps,
            },
        },
    })
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

fn deploy_job(svc: &ServicePlan<'_>, d: &Deploy) -> Value {
    let mut script = vec![
        "# The Argo CD CLI, from its pinned image; ARGOCD_OPTS may add e.g. --grpc-web.".to_owned(),
        format!(
            "argocd() {{ docker run --rm -e ARGOCD_SERVER -e ARGOCD_AUTH_TOKEN -e ARGOCD_OPTS --entrypoint argocd {} \"$@\"; }}",
            super::ARGOCD_IMAGE
        ),
    ];
    script.extend(super::deploy_commands(svc, d, "GITHUB_SHA"));
    json!({
        "name": format!("Deploy to {}", d.env),
        "needs": ["image"],
        "if": ref_condition(&d.refs),
        "runs-on": RUNNER,
        "environment": d.env,
        "concurrency": {"group": format!("deploy-{}", d.app), "cancel-in-progress": false},
        "permissions": {},
        "timeout-minutes": super::deploy_minutes(svc),
        "steps": [{
            "name": format!("Set the image of {} and sync it", d.app),
            "env": {
                "ARGOCD_SERVER": "${{ secrets.ARGOCD_SERVER }}",
                "ARGOCD_AUTH_TOKEN": "${{ secrets.ARGOCD_AUTH_TOKEN }}",
                "ARGOCD_OPTS": "${{ vars.ARGOCD_OPTS }}",
            },
            "run": script.join("\n") + "\n",
        }],
    })
}

/// Builds and pushes the image. GHCR takes the workflow's own token (with
/// `packages: write`); any other registry takes the REGISTRY_USERNAME / REGISTRY_PASSWORD
/// secrets and no package permission.
fn image_job(svc: &ServicePlan<'_>, dockerfile: &str, needs: &[&str]) -> Value {
    let ghcr = svc.registry == "ghcr.io";
    let mut login = Map::new();
    if svc.registry != "docker.io" {
        login.insert("registry".into(), json!(svc.registry));
    }
    if ghcr {
        login.insert("username".into(), json!("${{ github.actor }}"));
        login.insert("password".into(), json!("${{ secrets.GITHUB_TOKEN }}"));
    } else {
        login.insert("username".into(), json!("${{ secrets.REGISTRY_USERNAME }}"));
        login.insert("password".into(), json!("${{ secrets.REGISTRY_PASSWORD }}"));
    }
    let mut permissions = Map::new();
    permissions.insert("contents".into(), json!("read"));
    if ghcr {
        permissions.insert("packages".into(), json!("write"));
    }
    json!({
        "name": "Build and push the image",
        "needs": needs,
        "if": "github.event_name == 'push'",
        "runs-on": RUNNER,
        "permissions": permissions,
        "timeout-minutes": 30,
        "steps": [
            checkout(),
            step(SETUP_BUILDX, None),
            step(DOCKER_LOGIN, Some(Value::Object(login))),
            step(BUILD_PUSH, Some(json!({
                "context": svc.source,
                "file": dockerfile,
                "push": true,
                "tags": format!("{}:${{{{ github.sha }}}}", svc.repository),
            }))),
        ],
    })
}

fn service_workflow(plan: &Plan<'_>, svc: &ServicePlan<'_>) -> Value {
    let paths = paths(svc);
    let mut push = Map::new();
    push.insert("branches".into(), json!(plan.push_refs.branches));
    push.insert("tags".into(), json!([RELEASE_TAG_GLOB]));
    push.insert("paths".into(), json!(paths));
    let mut jobs = Map::new();
    let mut steps = vec![checkout()];
    steps.extend(install_steps(plan));
    steps.push(
        json!({"name": "Generated files are up to date", "run": plan.layout.check_command()}),
    );
    jobs.insert(
        "nestioc-check".into(),
        json!({
            "name": "nestioc build --check",
            "runs-on": RUNNER,
            "permissions": {"contents": "read"},
            "timeout-minutes": 30,
            "steps": steps,
        }),
    );
    let mut image_needs = vec!["nestioc-check"];
    if let Some(test) = &svc.test {
        let mut steps = vec![checkout()];
        if let Some(tc) = test.toolchain {
            let mut with = Map::new();
            for (k, v) in tc.with {
                with.insert((*k).into(), json!(v));
            }
            if tc.language == "go" {
                with.insert(
                    "cache-dependency-path".into(),
                    json!(format!("{}/go.sum", svc.source)),
                );
            }
            steps.push(step(tc.setup, Some(Value::Object(with))));
        }
        steps.push(json!({
            "name": "Test",
            "working-directory": svc.source,
            "run": github_literal(&test.command),
        }));
        jobs.insert(
            "test".into(),
            json!({
                "name": "Test",
                "runs-on": RUNNER,
                "permissions": {"contents": "read"},
                "timeout-minutes": 30,
                "steps": steps,
            }),
        );
        image_needs.push("test");
    }
    if let Some(dockerfile) = &svc.dockerfile {
        jobs.insert("image".into(), image_job(svc, dockerfile, &image_needs));
    }
    for d in &svc.deploys {
        jobs.insert(format!("deploy-{}", d.env), deploy_job(svc, d));
    }
    json!({
        "name": svc.name,
        "on": {
            "push": push,
            "pull_request": {"paths": paths},
        },
        "permissions": {"contents": "read"},
        // One run per service and ref at a time, in order: a newer run replaces a pending
        // one, a running one finishes (cancelling a deployment half-way helps no one).
        "concurrency": {
            "group": format!("{}-{}-${{{{ github.ref }}}}", plan.project, svc.name),
            "cancel-in-progress": false,
        },
        "jobs": jobs,
    })
}

/// The review workflow: on a pull request that changes the topology, `nestioc diff`
/// against the base branch, posted as one comment updated in place (and written to the
/// job summary, which also works for pull requests from forks, whose token cannot
/// comment).
fn review_workflow(plan: &Plan<'_>) -> Value {
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
        Some(json!({"fetch-depth": 0, "persist-credentials": false})),
    )];
    steps.extend(install_steps(plan));
    steps.push(json!({"name": "nestioc diff", "run": diff}));
    steps.push(json!({
        "name": "Post or update the review comment",
        "if": "github.event.pull_request.head.repo.full_name == github.repository",
        "env": {
            "GH_TOKEN": "${{ secrets.GITHUB_TOKEN }}",
            "PR": "${{ github.event.pull_request.number }}",
        },
        "run": comment,
    }));
    steps.push(
        json!({"name": "Generated files are up to date", "run": plan.layout.check_command()}),
    );
    json!({
        "name": "nestioc review",
        "on": {"pull_request": {"paths": [
            plan.layout.in_project("**.kdl"),
            plan.layout.in_project("templates/**"),
            format!("{WORKFLOWS}/{REVIEW_WORKFLOW}.yml"),
        ]}},
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": format!("{}-{REVIEW_WORKFLOW}-${{{{ github.event.pull_request.number }}}}", plan.project),
            "cancel-in-progress": true,
        },
        "jobs": {
            "review": {
                "name": "nestioc diff",
                "runs-on": RUNNER,
                "permissions": {"contents": "read", "pull-requests": "write"},
                "timeout-minutes": 30,
                "steps": steps,
            },
        },
    })
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
