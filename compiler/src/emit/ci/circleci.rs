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

use serde_json::{Map, Value, json};

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

fn param(svc: &ServicePlan<'_>) -> String {
    format!("run-{}", svc.name)
}

fn tag_filter() -> Value {
    json!({"only": format!("/{RELEASE_TAG_REGEX}/")})
}

/// Job filters: CircleCI runs a job for a tag only when its filter names the tag.
fn filters(refs: Option<&Refs>) -> Value {
    match refs {
        None => json!({"tags": tag_filter()}),
        Some(r) => {
            let mut f = Map::new();
            if r.branches.is_empty() {
                f.insert("branches".into(), json!({"ignore": "/.*/"}));
            } else {
                f.insert("branches".into(), json!({"only": r.branches}));
            }
            if r.tags {
                f.insert("tags".into(), tag_filter());
            }
            Value::Object(f)
        }
    }
}

fn setup_config(plan: &Plan<'_>) -> Value {
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
    let mut filter = Map::new();
    filter.insert("name".into(), json!("nestioc-paths"));
    filter.insert("base-revision".into(), json!(plan.base_branch()));
    filter.insert("config-path".into(), json!(CONTINUE_CONFIG));
    if !mapping.is_empty() {
        filter.insert("mapping".into(), json!(mapping));
    }
    filter.insert("filters".into(), filters(None));
    json!({
        "version": 2.1,
        "setup": true,
        "orbs": {"path-filtering": PATH_FILTERING_ORB},
        "workflows": {
            "nestioc-setup": {"jobs": [{"path-filtering/filter": filter}]},
        },
    })
}

fn docker(image: &str) -> Value {
    json!([{"image": image}])
}

fn run(name: &str, command: &str) -> Value {
    json!({"run": {"name": name, "command": command}})
}

fn continue_config(plan: &Plan<'_>) -> Value {
    let mut parameters = Map::new();
    let mut jobs = Map::new();
    let mut workflows = Map::new();
    // nestioc is cached under the key of its identity (the release tag, or a hash of its
    // source in this repository), written to a file for `checksum`; each `run` is its own
    // shell, so the check puts it on PATH again.
    let key = format!("nestioc-v1-{{{{ checksum \"{NESTIOC_ID_FILE}\" }}}}");
    let on_path = format!("export PATH=\"{NESTIOC_ROOT}/bin:$PATH\"");
    jobs.insert(
        "nestioc-check".into(),
        json!({
            "docker": docker(RUST_IMAGE),
            "steps": [
                "checkout",
                run("Identify nestioc", &(plan.nestioc.id_lines("id").join("\n") + &format!("\necho \"$id\" > {NESTIOC_ID_FILE}\n"))),
                {"restore_cache": {"keys": [key]}},
                run("Install nestioc", &(plan.nestioc.install_script(NESTIOC_ROOT).join("\n") + "\n")),
                {"save_cache": {"key": key, "paths": [NESTIOC_CACHE_PATH]}},
                run("Generated files are up to date", &format!("{on_path}\n{}\n", plan.layout.check_command())),
            ],
        }),
    );
    let is_release =
        json!({"matches": {"pattern": RELEASE_TAG_REGEX, "value": "<< pipeline.git.tag >>"}});
    let mut any_service = vec![is_release.clone()];
    for svc in &plan.services {
        let p = param(svc);
        parameters.insert(p.clone(), json!({"type": "boolean", "default": false}));
        any_service.push(json!(format!("<< pipeline.parameters.{p} >>")));
        let check = format!("{}_nestioc_check", svc.name);
        let mut wf_jobs = vec![json!({"nestioc-check": {"name": check, "filters": filters(None)}})];
        let mut image_requires = check.clone();
        if let Some(test) = &svc.test {
            let image = test.toolchain.map_or(GENERIC_IMAGE, |t| t.image);
            let name = format!("{}_test", svc.name);
            jobs.insert(
                name.clone(),
                json!({
                    "docker": docker(image),
                    "steps": [
                        "checkout",
                        {"run": {
                            "name": "Test",
                            "working_directory": svc.source,
                            "command": circleci_literal(&test.command),
                        }},
                    ],
                }),
            );
            wf_jobs.push(json!({name.clone(): {"requires": [check], "filters": filters(None)}}));
            image_requires = name;
        }
        if let Some(dockerfile) = &svc.dockerfile {
            let mut commands = vec![super::login_command(svc)];
            commands.extend(super::image_commands(svc, dockerfile, "CIRCLE_SHA1"));
            let image_job = format!("{}_image", svc.name);
            jobs.insert(
                image_job.clone(),
                json!({
                    "docker": docker(DOCKER_CLI_IMAGE),
                    "steps": [
                        "checkout",
                        "setup_remote_docker",
                        run("Build and push the image", &(commands.join("\n") + "\n")),
                    ],
                }),
            );
            wf_jobs.push(json!({image_job.clone(): {
                "requires": [image_requires],
                "filters": filters(Some(&plan.push_refs)),
            }}));
            for d in &svc.deploys {
                let name = format!("{}_deploy_{}", svc.name, d.env);
                jobs.insert(
                    name.clone(),
                    json!({
                        "docker": docker(super::ARGOCD_IMAGE),
                        // `argocd app wait` prints nothing while a rollout pauses:
                        // CircleCI's 10-minute no-output limit would end the step.
                        "steps": [{"run": {
                            "name": format!("Deploy to {}", d.env),
                            "command": super::deploy_commands(svc, d, "CIRCLE_SHA1").join("\n") + "\n",
                            "no_output_timeout": format!("{}m", super::deploy_minutes(svc)),
                        }}],
                    }),
                );
                wf_jobs.push(json!({name: {
                    "requires": [image_job.clone()],
                    "filters": filters(Some(&d.refs)),
                }}));
            }
        }
        workflows.insert(
            svc.name.to_owned(),
            json!({
                "when": {"or": [json!(format!("<< pipeline.parameters.{p} >>")), is_release.clone()]},
                "jobs": wf_jobs,
            }),
        );
    }
    let mut gate = Map::new();
    if plan.services.is_empty() {
        gate.insert(
            "jobs".into(),
            json!([{"nestioc-check": {"filters": filters(None)}}]),
        );
    } else {
        gate.insert("unless".into(), json!({"or": any_service}));
        gate.insert("jobs".into(), json!(["nestioc-check"]));
    }
    workflows.insert(GATE_WORKFLOW.into(), Value::Object(gate));
    let mut doc = Map::new();
    doc.insert("version".into(), json!(2.1));
    if !parameters.is_empty() {
        doc.insert("parameters".into(), Value::Object(parameters));
    }
    doc.insert("jobs".into(), Value::Object(jobs));
    doc.insert("workflows".into(), Value::Object(workflows));
    Value::Object(doc)
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
