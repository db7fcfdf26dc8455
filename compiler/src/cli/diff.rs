//! `nestioc diff`: compiles both sides in memory and prints the comparison; also the base
//! loading that `nestioc report --base` shares.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{
    DiagFormat, DiffArgs, DiffFormat, io_failure, print_diagnostics, render_options, summary_counts,
};
use crate::diag::Diagnostic;
use crate::diag::render::RenderOptions;
use crate::driver;
use crate::{Analysis, Options};

/// A compiled side of a diff: its analysis and every generated file.
struct Compiled {
    analysis: Analysis,
    files: std::collections::BTreeMap<String, String>,
}

/// Analyses and emits all targets in memory. `Err(exit code)` after printing why.
fn compile_in_memory(
    sources: crate::source::SourceMap,
    pre: crate::diag::Diagnostics,
    what: &str,
    render_opts: &RenderOptions,
) -> Result<Compiled, ExitCode> {
    let opts = Options::default();
    let analysis = crate::analyze(sources, pre, &opts, &mut |_| {});
    let failed = |analysis: &Analysis, diags: &[Diagnostic]| {
        print_diagnostics(analysis, diags, DiagFormat::Human, render_opts);
        errln!("error: {what} does not compile: {}", summary_counts(diags));
        ExitCode::from(1)
    };
    if analysis.has_errors() {
        return Err(failed(&analysis, &analysis.diagnostics));
    }
    match crate::emit(&analysis, &opts, &mut |_| {}) {
        Ok(set) => {
            let files = set
                .files
                .values()
                .map(|a| (a.path.clone(), a.contents.clone()))
                .collect();
            Ok(Compiled { analysis, files })
        }
        Err(d) => Err(failed(&analysis, &d)),
    }
}

/// The base of a comparison: a directory (a project when it has a nestio.kdl, else a
/// previous output directory) or a git revision of the project in `dir`. The analysis is
/// `None` for an output directory.
pub(super) fn load_base(
    dir: &Path,
    base: &str,
    color: bool,
) -> Result<(Option<Analysis>, std::collections::BTreeMap<String, String>), ExitCode> {
    let base_path = Path::new(base);
    if base_path.is_dir() {
        if base_path.join(driver::ROOT_FILE).is_file() {
            let opts = render_options(base_path, color);
            let (sources, pre) =
                driver::load_project(base_path, &base_path.join(driver::DEFAULT_OUT))
                    .map_err(|e| io_failure(&e))?;
            let c = compile_in_memory(sources, pre, &format!("the base `{base}`"), &opts)?;
            return Ok((Some(c.analysis), c.files));
        }
        // A mistyped `--base` (`--base services`) would otherwise be compared as an
        // output directory, and the comment would say every file was added.
        if !base_path.join(driver::MANIFEST).is_file() {
            errln!(
                "error: `{base}` is neither a project (no {}) nor an output directory (no {})",
                driver::ROOT_FILE,
                driver::MANIFEST
            );
            return Err(ExitCode::from(2));
        }
        let files = driver::read_output_dir(base_path).map_err(|e| io_failure(&e))?;
        return Ok((None, files));
    }
    let (sources, pre) =
        driver::load_project_at_revision(dir, base, driver::DEFAULT_OUT).map_err(|e| {
            errln!("error: `{base}` is neither a directory nor a git revision of the project");
            io_failure(&e)
        })?;
    let c = compile_in_memory(
        sources,
        pre,
        &format!("the project at `{base}`"),
        &render_options(dir, color),
    )?;
    Ok((Some(c.analysis), c.files))
}

pub(super) fn diff(a: &DiffArgs, color: bool) -> ExitCode {
    let render_opts = render_options(&a.dir, color);
    let out = a.dir.join(driver::DEFAULT_OUT);
    let head = match driver::load_project(&a.dir, &out) {
        Ok((sources, pre)) => match compile_in_memory(sources, pre, "the project", &render_opts) {
            Ok(c) => c,
            Err(code) => return code,
        },
        Err(e) => return io_failure(&e),
    };
    let base = match load_base(&a.dir, &a.base, color) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let (base_analysis, base_files) = base;
    // Against a revision the head is the working tree; against a directory, a directory.
    let head_label = if Path::new(&a.base).is_dir() {
        a.dir.display().to_string()
    } else {
        "working tree".to_owned()
    };
    fn pair(an: Option<&Analysis>) -> Option<(&crate::model::Model, &crate::graph::Topology)> {
        an.and_then(|x| Some((x.model.as_ref()?, x.topology.as_ref()?)))
    }
    let head_pair = pair(Some(&head.analysis));
    let base_pair = pair(base_analysis.as_ref());
    let project = head_pair.map_or_else(String::new, |(m, _)| m.project.name.clone());
    let d = crate::diff::diff(
        &project,
        crate::diff::Side {
            model: base_pair.map(|p| p.0),
            topology: base_pair.map(|p| p.1),
            files: &base_files,
            label: &a.base,
        },
        crate::diff::Side {
            model: head_pair.map(|p| p.0),
            topology: head_pair.map(|p| p.1),
            files: &head.files,
            label: &head_label,
        },
    );
    let text = match a.format {
        DiffFormat::Markdown => crate::diff::markdown(&d, head_pair, base_pair),
        DiffFormat::Json => {
            let mut s = serde_json::to_string_pretty(&d).unwrap_or_default();
            s.push('\n');
            s
        }
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}
