//! `nestioc report`: the HTML page, optionally against a base.

use std::process::ExitCode;

use super::diff::load_base;
use super::{
    DiagFormat, ReportArgs, io_failure, print_diagnostics, render_options, summary_counts,
};
use crate::Options;
use crate::driver;

pub(super) fn report(a: &ReportArgs, color: bool) -> ExitCode {
    let render_opts = render_options(&a.dir, color);
    let out = a.dir.join(driver::DEFAULT_OUT);
    let head = match driver::load_project(&a.dir, &out) {
        Ok((sources, pre)) => {
            let analysis = crate::analyze(sources, pre, &Options::default(), &mut |_| {});
            if analysis.has_errors() {
                print_diagnostics(
                    &analysis,
                    &analysis.diagnostics,
                    DiagFormat::Human,
                    &render_opts,
                );
                errln!(
                    "error: the project does not compile: {}",
                    summary_counts(&analysis.diagnostics)
                );
                return ExitCode::from(1);
            }
            analysis
        }
        Err(e) => return io_failure(&e),
    };
    let (Some(model), Some(topology)) = (&head.model, &head.topology) else {
        return ExitCode::from(1);
    };
    let base = match &a.base {
        Some(b) => match load_base(&a.dir, b, color) {
            Ok((Some(analysis), _)) => Some(analysis),
            Ok((None, _)) => {
                errln!(
                    "error: `{b}` is an output directory; the report compares topologies: give a project directory or a git revision"
                );
                return ExitCode::from(2);
            }
            Err(code) => return code,
        },
        None => None,
    };
    let base_pair = base
        .as_ref()
        .and_then(|x| Some((x.model.as_ref()?, x.topology.as_ref()?)));
    let changes = base_pair.map(|(bm, bt)| {
        crate::diff::diff(
            &model.project.name,
            crate::diff::Side {
                model: Some(bm),
                topology: Some(bt),
                files: &Default::default(),
                label: "",
            },
            crate::diff::Side {
                model: Some(model),
                topology: Some(topology),
                files: &Default::default(),
                label: "",
            },
        )
        .semantic
        .unwrap_or_default()
    });
    let input = crate::report::Input {
        model,
        topology,
        sources: &head.sources,
        base: match (base_pair, &changes, &a.base) {
            (Some((bm, bt)), Some(c), Some(label)) => Some(crate::report::Base {
                label,
                model: bm,
                topology: bt,
                changes: c,
            }),
            _ => None,
        },
    };
    let page = crate::report::html(&input);
    if a.out.as_os_str() == "-" {
        use std::io::Write as _;
        return match std::io::stdout().lock().write_all(page.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                errln!("error: cannot write the report to standard output: {e}");
                ExitCode::from(1)
            }
        };
    }
    match driver::write_file(&a.out, &page) {
        Ok(()) => {
            errln!(
                "wrote the topology report of {} service{} to `{}`",
                model.services.len(),
                if model.services.len() == 1 { "" } else { "s" },
                a.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => io_failure(&e),
    }
}
