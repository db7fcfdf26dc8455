//! `nestioc graph`: the dependency graph on stdout.

use std::io::Write;
use std::process::ExitCode;

use super::{
    DiagFormat, GraphArgs, GraphFormat, analyse, io_failure, print_diagnostics, render_options,
};
use crate::driver;
use crate::emit::{self, EmitContext, Templates};
use crate::{Options, Timings};

pub(super) fn graph(a: &GraphArgs, color: bool) -> ExitCode {
    let out = a.dir.join(driver::DEFAULT_OUT);
    let analysis = match analyse(&a.dir, &out, &Options::default(), &mut Timings::default()) {
        Ok(x) => x,
        Err(e) => return io_failure(&e),
    };
    let render_opts = render_options(&a.dir, color);
    print_diagnostics(
        &analysis,
        &analysis.diagnostics,
        DiagFormat::Human,
        &render_opts,
    );
    let (Some(model), Some(topology)) = (&analysis.model, &analysis.topology) else {
        return ExitCode::from(1);
    };
    if analysis.has_errors() {
        return ExitCode::from(1);
    }
    let templates = match Templates::new(&analysis.sources) {
        Ok(t) => t,
        Err(d) => {
            print_diagnostics(&analysis, &d, DiagFormat::Human, &render_opts);
            return ExitCode::from(1);
        }
    };
    let cx = EmitContext::new(model, topology, &analysis.sources, &templates, None);
    let text = match a.format {
        GraphFormat::Dot => emit::graph::dot(&cx),
        GraphFormat::Mermaid => emit::graph::mermaid(&cx),
        GraphFormat::Json => emit::graph::json(&cx),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}
