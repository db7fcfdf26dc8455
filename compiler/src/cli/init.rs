//! `nestioc init`: asks on a terminal, then writes the files of a new project.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::{InitArgs, io_failure};
use crate::driver;

/// Reads one answer on a terminal; the default when the answer is empty.
fn ask(question: &str, default: &str) -> String {
    err!("{question} [{default}]: ");
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(n) if n > 0 && !line.trim().is_empty() => line.trim().to_owned(),
        _ => default.to_owned(),
    }
}

pub(super) fn init(a: &InitArgs) -> ExitCode {
    let dir_name = std::fs::canonicalize(&a.dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| a.dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut plan = crate::init::Plan::for_dir(&dir_name);
    let interactive = !a.yes && std::io::stdin().is_terminal();
    let pick = |flag: &Option<String>, question: &str, field: &mut String| {
        if let Some(v) = flag {
            v.clone_into(field);
        } else if interactive {
            *field = ask(question, field);
        }
    };
    pick(&a.name, "Project name", &mut plan.project);
    // The namespace defaults to the project's name, as chosen.
    plan.namespace.clone_from(&plan.project);
    pick(&a.namespace, "Namespace", &mut plan.namespace);
    pick(&a.registry, "Image registry", &mut plan.registry);
    pick(
        &a.mesh,
        "Service mesh (istio, linkerd, none)",
        &mut plan.mesh,
    );
    pick(&a.service, "First service", &mut plan.service);
    pick(
        &a.language,
        "Its language (go, rust, node, python, java, dotnet)",
        &mut plan.language,
    );
    pick(&a.owner, "Owning team", &mut plan.owner);
    let mut ci = plan.ci.clone().unwrap_or_else(|| "none".into());
    pick(
        &a.ci,
        "CI (github-actions, gitlab, circleci, jenkins, none)",
        &mut ci,
    );
    plan.ci = (ci != "none").then_some(ci);
    if let Err(e) = plan.validate() {
        errln!("error: {e}");
        return ExitCode::from(2);
    }
    let files = plan.files();
    for (rel, _) in &files {
        if a.dir.join(rel).exists() {
            errln!(
                "error: `{}` already exists: nestioc init never overwrites a file",
                a.dir.join(rel).display()
            );
            return ExitCode::from(2);
        }
    }
    for (rel, text) in &files {
        let path = a.dir.join(rel);
        if let Some(parent) = path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            errln!("error: cannot create `{}`: {e}", parent.display());
            return ExitCode::from(2);
        }
        if let Err(e) = driver::write_file(&path, text) {
            return io_failure(&e);
        }
        errln!("created {}", path.display());
    }
    errln!(
        "next: `nestioc build {}` writes the charts and the rest into {}",
        a.dir.display(),
        a.dir.join(driver::DEFAULT_OUT).display()
    );
    ExitCode::SUCCESS
}
