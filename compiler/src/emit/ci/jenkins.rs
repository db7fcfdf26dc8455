//! `jenkins`: `ci/Jenkinsfile`, a declarative pipeline for a multibranch job. A
//! `nestioc check` stage, then per service `<service>: test`, `<service>: image` and
//! `<service>: deploy <env>` stages, each guarded by `when { changeset ... }` on the
//! service's paths (or a release tag). Tests and deployments run in pinned images through
//! Docker agents; the image stage uses the agent's Docker.
//!
//! Every string is a single-quoted Groovy literal ([`groovy_str`]): `$` stays literal for
//! the shell, and quotes and backslashes are escaped.

use std::fmt::Write as _;

use super::{
    GENERIC_IMAGE, Plan, RELEASE_TAG_GLOB, RUST_IMAGE, Refs, ServicePlan, Watch, groovy_str, plan,
};
use crate::diag::Diagnostic;
use crate::emit::{Artifact, EmitContext, Emitter};
use crate::model::CiSystem;

pub(in crate::emit) struct Jenkins;

/// Jenkins credential ids the pipeline uses.
pub const REGISTRY_CREDENTIALS: &str = "registry-credentials";
pub const ARGOCD_SERVER_CREDENTIALS: &str = "argocd-server";
pub const ARGOCD_TOKEN_CREDENTIALS: &str = "argocd-auth-token";

/// Docker agents run as the agent's user, which the images do not know: give it a
/// writable home for caches (Go, npm, pip's user installs, Gradle, NuGet).
const DOCKER_ARGS: &str = "-e HOME=/tmp";

/// Where the gate keeps nestioc: the job's workspace.
const NESTIOC_ROOT: &str = "$WORKSPACE/.nestioc";

/// A Groovy text writer with four-space indentation.
struct Out {
    text: String,
    depth: usize,
}

impl Out {
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.text.push_str("    ");
        }
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn open(&mut self, s: &str) {
        self.line(&format!("{s} {{"));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth -= 1;
        self.line("}");
    }

    fn docker_agent(&mut self, image: &str, args: &str) {
        self.open("agent");
        self.open("docker");
        self.line(&format!("image {}", groovy_str(image)));
        self.line(&format!("args {}", groovy_str(args)));
        // Same node and workspace as the rest of the build.
        self.line("reuseNode true");
        self.close();
        self.close();
    }

    fn sh(&mut self, command: &str) {
        self.line(&format!("sh {}", groovy_str(command)));
    }
}

fn tag_condition() -> String {
    format!(
        "tag pattern: {}, comparator: 'GLOB'",
        groovy_str(RELEASE_TAG_GLOB)
    )
}

/// `when` for a service's stage: the refs (when given) and its paths; a release tag
/// counts as a change (tag builds have no changeset, and a release deploys every service).
fn when(out: &mut Out, svc: &ServicePlan<'_>, refs: Option<&Refs>) {
    out.open("when");
    // Skip the stage before starting its agent's container.
    out.line("beforeAgent true");
    if let Some(r) = refs {
        let mut conditions: Vec<String> = r
            .branches
            .iter()
            .map(|b| format!("branch {}", groovy_str(b)))
            .collect();
        if r.tags {
            conditions.push(tag_condition());
        }
        if let [one] = conditions.as_slice() {
            out.line(one);
        } else {
            out.open("anyOf");
            for c in &conditions {
                out.line(c);
            }
            out.close();
        }
    }
    out.open("anyOf");
    out.line(&tag_condition());
    for w in svc.watches() {
        let pattern = match w {
            Watch::Dir(d) => format!("{d}/**"),
            Watch::File(f) => f,
        };
        out.line(&format!("changeset {}", groovy_str(&pattern)));
    }
    out.close();
    out.close();
}

fn service_stages(out: &mut Out, plan: &Plan<'_>, svc: &ServicePlan<'_>) {
    if let Some(test) = &svc.test {
        out.open(&format!(
            "stage({})",
            groovy_str(&format!("{}: test", svc.name))
        ));
        when(out, svc, None);
        out.docker_agent(
            test.toolchain.map_or(GENERIC_IMAGE, |t| t.image),
            DOCKER_ARGS,
        );
        out.open("steps");
        out.open(&format!("dir({})", groovy_str(svc.source)));
        out.sh(&test.command);
        out.close();
        out.close();
        out.close();
    }
    let Some(dockerfile) = &svc.dockerfile else {
        return;
    };
    out.open(&format!(
        "stage({})",
        groovy_str(&format!("{}: image", svc.name))
    ));
    when(out, svc, Some(&plan.push_refs));
    out.open("steps");
    out.open(&format!(
        "withCredentials([usernamePassword(credentialsId: {}, usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD')])",
        groovy_str(REGISTRY_CREDENTIALS)
    ));
    out.sh(&super::login_command(svc));
    out.close();
    for c in super::image_commands(svc, dockerfile, "GIT_COMMIT") {
        out.sh(&c);
    }
    out.close();
    out.close();
    for d in &svc.deploys {
        out.open(&format!(
            "stage({})",
            groovy_str(&format!("{}: deploy {}", svc.name, d.env))
        ));
        when(out, svc, Some(&d.refs));
        out.open("options");
        out.line(&format!(
            "timeout(time: {}, unit: 'MINUTES')",
            super::deploy_minutes(svc)
        ));
        out.close();
        out.docker_agent(super::ARGOCD_IMAGE, "--entrypoint=");
        out.open("steps");
        out.open(&format!(
            "withCredentials([string(credentialsId: {}, variable: 'ARGOCD_SERVER'), string(credentialsId: {}, variable: 'ARGOCD_AUTH_TOKEN')])",
            groovy_str(ARGOCD_SERVER_CREDENTIALS),
            groovy_str(ARGOCD_TOKEN_CREDENTIALS)
        ));
        for c in super::deploy_commands(svc, d, "GIT_COMMIT") {
            out.sh(&c);
        }
        out.close();
        out.close();
        out.close();
    }
}

fn jenkinsfile(plan: &Plan<'_>) -> String {
    let mut out = Out {
        text: String::new(),
        depth: 0,
    };
    let _ = writeln!(
        out.text,
        "// Generated by nestioc from {}. Do not edit: change the topology and run `nestioc build`.",
        plan.project_file
    );
    let _ = writeln!(
        out.text,
        "// Credentials: `{REGISTRY_CREDENTIALS}` (username and password for the image registry), `{ARGOCD_SERVER_CREDENTIALS}` and\n// `{ARGOCD_TOKEN_CREDENTIALS}` (secret text). Plugins: Pipeline, Docker Pipeline, Credentials Binding."
    );
    out.open("pipeline");
    out.line("agent any");
    out.open("options");
    out.line("disableConcurrentBuilds()");
    out.close();
    out.open("stages");
    out.open(&format!("stage({})", groovy_str("nestioc check")));
    out.docker_agent(RUST_IMAGE, DOCKER_ARGS);
    out.open("steps");
    // One shell: nestioc is put on PATH for the check. It stays in the workspace between
    // builds (Jenkins keeps a branch's workspace), rebuilt when its identity changes.
    let mut script = plan.nestioc.install_script(NESTIOC_ROOT);
    script.push(plan.layout.check_command());
    out.sh(&(script.join("\n") + "\n"));
    out.close();
    out.close();
    for svc in &plan.services {
        service_stages(&mut out, plan, svc);
    }
    out.close();
    out.close();
    out.text
}

impl Emitter for Jenkins {
    fn name(&self) -> &'static str {
        // The target is named after the system it generates for.
        CiSystem::Jenkins.as_str()
    }

    fn description(&self) -> &'static str {
        "Jenkins declarative pipeline (ci \"jenkins\"): ci/Jenkinsfile"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        if !cx.model.project.ci.contains(&CiSystem::Jenkins) {
            return Ok(Vec::new());
        }
        let plan = plan(cx);
        Ok(vec![Artifact {
            path: "ci/Jenkinsfile".into(),
            contents: jenkinsfile(&plan),
            source: Some(cx.model.project.span),
        }])
    }
}
