//! `nestioc build`: analyse, emit, write (or compare with `--check`), `--timings`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use super::{
    BuildArgs, DiagFormat, analyse, cache_dir, io_failure, print_diagnostics, render_options,
    summary_counts,
};
use crate::driver::{self, WriteFailure};
use crate::emit;
use crate::{Options, Timings};

pub(super) fn build(a: &BuildArgs, color: bool) -> ExitCode {
    let started = Instant::now();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.dir.join(driver::DEFAULT_OUT));
    let opts = Options {
        env: a.env.clone(),
        targets: a.target.clone(),
        deny_warnings: a.deny_warnings,
        ..Options::default()
    };
    let render_opts = render_options(&a.dir, color);
    let mut timings = Timings::default();
    let analysis = match analyse(&a.dir, &out, &opts, &mut timings) {
        Ok(x) => x,
        Err(e) => return io_failure(&e),
    };
    let human = a.format == DiagFormat::Human;
    if analysis.has_errors() {
        print_diagnostics(&analysis, &analysis.diagnostics, a.format, &render_opts);
        if human {
            errln!(
                "error: could not compile `{}`: {}; nothing was written",
                a.dir.display(),
                summary_counts(&analysis.diagnostics)
            );
        }
        return ExitCode::from(1);
    }
    let mut last = Instant::now();
    let mut clock = |stage: &'static str| {
        timings.stages.push((stage, last.elapsed()));
        last = Instant::now();
    };
    let mut shown = analysis.diagnostics.clone();
    let services = analysis.model.as_ref().map_or(0, |m| m.services.len());
    let cache = cache_dir();
    let fingerprint = crate::fingerprint(&analysis.sources, &opts);
    // The directory holds what a build of these very inputs wrote, untouched since: this
    // build would write the same bytes. Nothing to emit or write (the diagnostics above
    // were still computed and are still shown).
    // `--check` is the verification a CI job relies on: it reads every file rather than
    // trusting the stat cache, which a file edited in place to the same size with its
    // modification time restored (`touch -r`) would fool.
    let current = if a.check {
        None
    } else {
        driver::up_to_date(&out, cache.as_deref(), &fingerprint)
    };
    clock("survey");
    let code = if a.check {
        let drift_and_files = match current {
            Some(files) => Ok((driver::Drift::default(), None, files)),
            None => crate::emit(&analysis, &opts, &mut clock).map(|artifacts| {
                let drift = if opts.is_partial() {
                    driver::compare_partial(&out, &artifacts, None, opts.env.as_deref())
                } else {
                    driver::compare_cached(&out, &artifacts, None)
                };
                let files = artifacts.len();
                (drift, Some(artifacts), files)
            }),
        };
        let (drift, artifacts, files) = match drift_and_files {
            Ok(x) => x,
            Err(diags) => {
                let mut all = analysis.diagnostics.clone();
                all.extend(diags);
                print_diagnostics(&analysis, &all, a.format, &render_opts);
                return ExitCode::from(1);
            }
        };
        print_diagnostics(&analysis, &shown, a.format, &render_opts);
        if drift.is_clean() {
            if human {
                errln!(
                    "{files} generated files in `{}` are up to date",
                    out.display()
                );
            }
            ExitCode::SUCCESS
        } else {
            report_drift(&out, artifacts.as_ref(), &drift);
            ExitCode::from(1)
        }
    } else {
        let result = match current {
            Some(files) => Ok(driver::WriteReport {
                files,
                unchanged: files,
                ..driver::WriteReport::default()
            }),
            None => write(
                &analysis,
                &opts,
                &out,
                a.force,
                cache.as_deref(),
                &fingerprint,
                &mut clock,
            ),
        };
        match result {
            Ok(report) => {
                print_diagnostics(&analysis, &shown, a.format, &render_opts);
                if human {
                    for p in &report.kept {
                        errln!(
                            "warning: `{}` is no longer generated but was edited by hand: kept, and no longer managed by nestioc",
                            out.join(p).display()
                        );
                    }
                    for p in &report.backed_up {
                        errln!(
                            "warning: overwrote a hand-edited file; the edited copy is `{}`",
                            out.join(p).display()
                        );
                    }
                    let ms = started.elapsed().as_millis();
                    let warn = if shown.is_empty() {
                        String::new()
                    } else {
                        format!(" with {}", summary_counts(&shown))
                    };
                    errln!(
                        "compiled {services} service{} into {} files in {ms} ms{warn} ({} written, {} unchanged, {} removed, {} reused) -> {}",
                        if services == 1 { "" } else { "s" },
                        report.files,
                        report.written,
                        report.unchanged,
                        report.pruned.len(),
                        report.reused,
                        out.display()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(Failure::Emit(diags)) => {
                shown.extend(diags);
                print_diagnostics(&analysis, &shown, a.format, &render_opts);
                ExitCode::from(1)
            }
            Err(Failure::Write(WriteFailure::Conflict(d))) => {
                shown.push(d);
                print_diagnostics(&analysis, &shown, a.format, &render_opts);
                ExitCode::from(1)
            }
            Err(Failure::Write(WriteFailure::Io(e))) => io_failure(&e),
        }
    };
    if a.timings {
        print_timings(&timings, started.elapsed());
    }
    code
}

/// Why a build wrote nothing.
enum Failure {
    Emit(Vec<crate::diag::Diagnostic>),
    Write(WriteFailure),
}

/// Emits into the output directory's [`driver::Writer`]: each file is written (into the
/// new tree) as soon as it is made, if it changed, and dropped.
fn write(
    analysis: &crate::Analysis,
    opts: &Options,
    out: &Path,
    force: bool,
    cache: Option<&Path>,
    fingerprint: &str,
    clock: &mut dyn FnMut(&'static str),
) -> Result<driver::WriteReport, Failure> {
    let mut writer = driver::Writer::begin(out, force, cache).map_err(Failure::Write)?;
    if opts.is_partial() {
        writer = writer.partial(opts.env.as_deref());
    }
    crate::emit_into(analysis, opts, &writer, clock).map_err(Failure::Emit)?;
    let report = writer.finish(fingerprint).map_err(Failure::Write);
    clock("write");
    report
}

/// `--timings`: the stages in order; the emitters (and the template registry they share)
/// indented under their sum, `emit`.
pub(super) fn print_timings(timings: &Timings, total: std::time::Duration) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let targets = emit::target_names();
    // The emitters follow `templates` (the target `graph` is not the stage `graph`).
    let start = timings.stages.iter().position(|(s, _)| *s == "templates");
    let is_emit = |i: usize, stage: &str| {
        start.is_some_and(|t| i == t || (i > t && (targets.contains(&stage) || stage == "keys")))
    };
    let emit_total: std::time::Duration = timings
        .stages
        .iter()
        .enumerate()
        .filter(|(i, (s, _))| is_emit(*i, s))
        .map(|(_, (_, d))| *d)
        .sum();
    errln!("timings:");
    for (i, (stage, d)) in timings.stages.iter().enumerate() {
        if is_emit(i, stage) {
            if start == Some(i) {
                errln!("  {:<14} {:>9.3} ms", "emit", ms(emit_total));
            }
            errln!("    {stage:<12} {:>9.3} ms", ms(*d));
        } else {
            errln!("  {stage:<14} {:>9.3} ms", ms(*d));
        }
    }
    errln!("  {:<14} {:>9.3} ms", "total", ms(total));
    errln!("  ({} threads)", rayon::current_num_threads());
}

pub(super) fn report_drift(
    out: &Path,
    set: Option<&crate::emit::ArtifactSet>,
    drift: &driver::Drift,
) {
    let total = drift.stale.len() + drift.missing.len() + drift.extra.len();
    errln!(
        "error: {total} generated file{} out of date in `{}`; run `nestioc build`",
        if total == 1 { " is" } else { "s are" },
        out.display()
    );
    for p in &drift.missing {
        errln!("  missing: {p}");
    }
    let edited = |p: &String| {
        if drift.edited.contains(p) {
            " (edited by hand since the last build)"
        } else {
            ""
        }
    };
    for p in &drift.stale {
        errln!("  stale:   {p}{}", edited(p));
        if let Some(a) = set.and_then(|s| s.files.get(p)) {
            err!(
                "{}",
                driver::short_diff(&driver::read_existing(out, p), &a.contents, 12)
            );
        }
    }
    for p in &drift.extra {
        if drift.edited.contains(p) {
            errln!(
                "  extra:   {p} (no longer generated; edited by hand, so `nestioc build` keeps it)"
            );
        } else {
            errln!("  extra:   {p} (no longer generated)");
        }
    }
}
