//! `nestioc why`: where a service's value comes from.

use std::io::Write;
use std::process::ExitCode;

use super::{DiagFormat, WhyArgs, analyse, io_failure, print_diagnostics, render_options};
use crate::driver;
use crate::{Options, Timings};

pub(super) fn why(a: &WhyArgs, color: bool) -> ExitCode {
    let out = a.dir.join(driver::DEFAULT_OUT);
    let opts = Options {
        env: a.env.clone(),
        ..Options::default()
    };
    let analysis = match analyse(&a.dir, &out, &opts, &mut Timings::default()) {
        Ok(x) => x,
        Err(e) => return io_failure(&e),
    };
    let render_opts = render_options(&a.dir, color);
    if analysis.has_errors() {
        print_diagnostics(
            &analysis,
            &analysis.diagnostics,
            DiagFormat::Human,
            &render_opts,
        );
        return ExitCode::from(1);
    }
    let Some(model) = &analysis.model else {
        return ExitCode::from(1);
    };
    if !model.services.contains_key(&a.service) {
        errln!(
            "error: no service `{}`\nhelp: {}",
            a.service,
            crate::suggest::help_for(
                &a.service,
                model.services.keys().map(String::as_str),
                "service"
            )
        );
        return ExitCode::from(1);
    }
    let env = a.env.as_ref().and_then(|e| {
        model
            .project
            .environments()
            .into_iter()
            .find(|x| x.name == *e)
    });
    let mut diags = crate::diag::Diagnostics::new();
    let docs = crate::syntax::parse_all(&analysis.sources, &mut diags);
    let Some(p) = crate::lower::provenance(
        &docs,
        &analysis.sources,
        &a.service,
        a.env.as_deref(),
        &mut diags,
    ) else {
        return ExitCode::from(1);
    };
    if a.kdl {
        let _ = std::io::stdout()
            .lock()
            .write_all(crate::why::expanded_kdl(&p).as_bytes());
        return ExitCode::SUCCESS;
    }
    match crate::why::explain(
        &p,
        &analysis.sources,
        a.field.as_deref(),
        a.name.as_deref(),
        env.as_ref(),
    ) {
        Ok(text) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
