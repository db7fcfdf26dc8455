//! `gitlab`: `ci/.gitlab-ci.yml`, one job set per service (`<service>:test`,
//! `<service>:image`, `<service>:deploy:<env>`) run only when `rules: changes:` matches the
//! service's paths, after one `nestioc:check` gate; with `review #true`, a merge-request
//! job that runs `nestioc diff` and shows it in the merge request.
//!
//! GitLab does not expand variables inside `script`: the shell does, so a test command is
//! written as is (the YAML writer keeps it a plain string).

use serde_json::{Map, Value, json};

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
fn rules(svc: &ServicePlan<'_>, refs: Option<&Refs>) -> Value {
    let mut rule = Map::new();
    if let Some(r) = refs {
        rule.insert("if".into(), json!(ref_condition(r)));
    }
    rule.insert("changes".into(), json!(changes(svc)));
    json!([rule])
}

/// Where the gate keeps nestioc: GitLab caches only paths inside the project directory.
const NESTIOC_ROOT: &str = "$CI_PROJECT_DIR/.nestioc";

/// The cache that keeps nestioc between pipelines: one key per release; for a build from
/// this repository's source one key, whose content is rebuilt (and uploaded again at the
/// end of the job) when its identity file no longer matches.
fn nestioc_cache(plan: &Plan<'_>) -> Value {
    let key = match &plan.nestioc {
        NestiocSource::Release => format!("nestioc-{}", NestiocSource::tag()),
        NestiocSource::Path(_) => "nestioc-source".to_owned(),
    };
    json!({"key": key, "paths": [".nestioc/"]})
}

/// nestioc from the cache, or built; then on PATH for the lines that follow (GitLab runs
/// a job's script lines in one shell).
fn install_lines(plan: &Plan<'_>) -> Vec<String> {
    plan.nestioc.install_script(NESTIOC_ROOT)
}

/// The gate: no `rules`, so it runs in every pipeline the workflow creates (a push to any
/// branch, a merge request, a tag), whatever changed.
fn gate_job(plan: &Plan<'_>) -> Value {
    let mut script = install_lines(plan);
    script.push(plan.layout.check_command());
    json!({
        "stage": "check",
        "image": RUST_IMAGE,
        "interruptible": true,
        "cache": nestioc_cache(plan),
        "script": script,
    })
}

fn review_job(plan: &Plan<'_>) -> Value {
    let mut script = install_lines(plan);
    script.extend([
        "git fetch origin \"+refs/heads/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME:refs/remotes/origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"".to_owned(),
        format!(
            "nestioc diff{} --base \"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\" --format markdown > nestioc-diff.md",
            plan.layout.dir_arg()
        ),
    ]);
    json!({
        "stage": "check",
        "image": RUST_IMAGE,
        "interruptible": true,
        "rules": [{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""}],
        "variables": {"GIT_DEPTH": "0"},
        "cache": nestioc_cache(plan),
        "script": script,
        "artifacts": {
            "expose_as": "nestioc diff",
            "paths": ["nestioc-diff.md"],
            "when": "always",
        },
    })
}

fn document(plan: &Plan<'_>) -> Value {
    let mut doc = Map::new();
    // Merge-request pipelines for merge requests, branch pipelines otherwise, never both.
    doc.insert(
        "workflow".into(),
        json!({"rules": [
            {"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""},
            {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
            {"if": "$CI_COMMIT_BRANCH"},
            {"if": "$CI_COMMIT_TAG"},
        ]}),
    );
    doc.insert("stages".into(), json!(["check", "test", "image", "deploy"]));
    doc.insert(GATE.into(), gate_job(plan));
    if plan.review {
        doc.insert("nestioc:review".into(), review_job(plan));
    }
    for svc in &plan.services {
        let mut needs = GATE.to_owned();
        if let Some(test) = &svc.test {
            let image = test.toolchain.map_or(GENERIC_IMAGE, |t| t.image);
            doc.insert(
                format!("{}:test", svc.name),
                json!({
                    "stage": "test",
                    "image": image,
                    "needs": [needs],
                    "interruptible": true,
                    "rules": rules(svc, None),
                    "script": [format!("cd {}", sh_quote(svc.source)), test.command],
                }),
            );
            needs = format!("{}:test", svc.name);
        }
        let Some(dockerfile) = &svc.dockerfile else {
            continue;
        };
        let mut script = vec![super::login_command(svc)];
        script.extend(super::image_commands(svc, dockerfile, "CI_COMMIT_SHA"));
        doc.insert(
            format!("{}:image", svc.name),
            json!({
                "stage": "image",
                "image": DOCKER_IMAGE,
                "services": [DIND_IMAGE],
                "variables": {"DOCKER_TLS_CERTDIR": "/certs"},
                "needs": [needs],
                "rules": rules(svc, Some(&plan.push_refs)),
                "script": script,
            }),
        );
        for d in &svc.deploys {
            doc.insert(
                format!("{}:deploy:{}", svc.name, d.env),
                json!({
                    "stage": "deploy",
                    "image": {"name": super::ARGOCD_IMAGE, "entrypoint": [""]},
                    "needs": [format!("{}:image", svc.name)],
                    "rules": rules(svc, Some(&d.refs)),
                    "environment": {"name": d.env},
                    "resource_group": d.app,
                    "timeout": format!("{} minutes", super::deploy_minutes(svc)),
                    "script": super::deploy_commands(svc, d, "CI_COMMIT_SHA"),
                }),
            );
        }
    }
    Value::Object(doc)
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
