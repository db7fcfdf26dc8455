//! `nestioc fmt`: formats the project's KDL files, or `--check`s them.

use std::io::Write;
use std::process::ExitCode;

use super::{FmtArgs, io_failure, render_options, summary_counts};
use crate::diag::render::{self, Format};
use crate::driver;

pub(super) fn fmt(a: &FmtArgs, color: bool) -> ExitCode {
    let out = a.dir.join(driver::DEFAULT_OUT);
    let (sources, pre) = match driver::load_project(&a.dir, &out) {
        Ok(x) => x,
        Err(e) => return io_failure(&e),
    };
    let mut diags = pre;
    let formatted = crate::fmt::format_project(&sources, &mut diags);
    let render_opts = render_options(&a.dir, color);
    let diags = diags.finish();
    let Some(formatted) = formatted else {
        let text = render::render(&diags, &sources, Format::Human, &render_opts);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        errln!(
            "error: could not format `{}`: {}; nothing was written",
            a.dir.display(),
            summary_counts(&diags)
        );
        return ExitCode::from(1);
    };
    let changed: Vec<(&str, &str, &str)> = formatted
        .iter()
        .filter_map(|(id, text)| {
            let src = sources.get(*id);
            (src.text != *text).then_some((src.name.as_str(), src.text.as_str(), text.as_str()))
        })
        .collect();
    if a.check {
        if changed.is_empty() {
            errln!(
                "{} file{} formatted",
                formatted.len(),
                if formatted.len() == 1 { " is" } else { "s are" }
            );
            return ExitCode::SUCCESS;
        }
        errln!(
            "error: {} file{} not formatted; run `nestioc fmt`",
            changed.len(),
            if changed.len() == 1 { " is" } else { "s are" }
        );
        for (name, old, new) in &changed {
            errln!("  {}", a.dir.join(name).display());
            err!("{}", driver::short_diff(old, new, 12));
        }
        return ExitCode::from(1);
    }
    for (name, _, new) in &changed {
        if let Err(e) = driver::write_file(&a.dir.join(name), new) {
            return io_failure(&e);
        }
    }
    errln!(
        "formatted {} file{} ({} unchanged)",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" },
        formatted.len() - changed.len()
    );
    ExitCode::SUCCESS
}
