//! The command line: clap definitions, and the commands that drive the library.
//! Exit codes: 0 success (warnings allowed), 1 the input has errors or `--check` found
//! drift, 2 usage or I/O error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diag::render::{self, Format, RenderOptions};
use crate::diag::{Code, Diagnostic, Severity};
use crate::driver::{self, WriteFailure};
use crate::emit::{self, EmitContext, Templates};
use crate::{Analysis, Options, Timings};

#[derive(Debug, Parser)]
#[command(
    name = "nestioc",
    version,
    about = "Compiles a microservice topology (KDL) into Helm charts, Kubernetes manifests and the rest of a platform's configuration",
    long_about = None,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to use colour in human diagnostics (NO_COLOR is respected)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Threads for parsing, emitting and writing [default: one per core]. The output is
    /// the same for any number; 1 runs everything on one thread
    #[arg(long, short = 'j', global = true, env = "NESTIOC_JOBS")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DiagFormat {
    Human,
    Json,
    Github,
    Sarif,
}

impl From<DiagFormat> for Format {
    fn from(f: DiagFormat) -> Self {
        match f {
            DiagFormat::Human => Format::Human,
            DiagFormat::Json => Format::Json,
            DiagFormat::Github => Format::Github,
            DiagFormat::Sarif => Format::Sarif,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile the project and write the generated files
    Build(BuildArgs),
    /// Check the project and report diagnostics, writing nothing
    Check(CheckArgs),
    /// Print the dependency graph
    Graph(GraphArgs),
    /// Explain a diagnostic code (e.g. `nestioc explain NST0201`); without a code, list them
    Explain(ExplainArgs),
    /// What a change does, for a pull-request comment: topology, access, SLOs, rollouts,
    /// images and blast radius, then every generated object that changed
    Diff(DiffArgs),
    /// Format the project's KDL files canonically (comments kept)
    Fmt(FmtArgs),
    /// Run the language server on stdin/stdout (for editors)
    Lsp,
    /// Create a new project that builds with no diagnostics (asks on a terminal)
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    Man,
    /// Write a self-contained HTML page: the graph by release wave and a card per service
    Report(ReportArgs),
    /// Show where a service's value comes from: defaults, templates, service, environment
    #[command(visible_alias = "explain-value")]
    Why(WhyArgs),
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The service
    pub service: String,
    /// The entry (`replicas`, `resources`, `image`, `port`, `env`, ...); all when omitted
    pub field: Option<String>,
    /// For named entries: which one (`env LOG_LEVEL`, `port http`)
    pub name: Option<String>,
    /// Project directory (containing nestio.kdl)
    #[arg(short = 'C', long = "dir", default_value = ".")]
    pub dir: PathBuf,
    /// As in this environment (its overrides and replica scaling)
    #[arg(long)]
    pub env: Option<String>,
    /// Print the service with every default and template spelled out, as KDL
    #[arg(long)]
    pub kdl: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DiffFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Project directory (containing nestio.kdl)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// What to compare with: a previous output directory, another project directory, or a
    /// git revision of this project (`origin/main`, `HEAD~1`)
    #[arg(long)]
    pub base: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Markdown)]
    pub format: DiffFormat,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project [default: the current directory]
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Project name [default: the directory's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Kubernetes namespace [default: the project name]
    #[arg(long)]
    pub namespace: Option<String>,
    /// Image registry [default: ghcr.io/acme]
    #[arg(long)]
    pub registry: Option<String>,
    /// Service mesh: istio, linkerd or none [default: istio]
    #[arg(long)]
    pub mesh: Option<String>,
    /// The first service's name [default: api]
    #[arg(long)]
    pub service: Option<String>,
    /// Its language: go, rust, node, python, java or dotnet [default: go]
    #[arg(long)]
    pub language: Option<String>,
    /// The owning team [default: platform-team]
    #[arg(long)]
    pub owner: Option<String>,
    /// CI system: github-actions, gitlab, circleci, jenkins or none [default: github-actions]
    #[arg(long)]
    pub ci: Option<String>,
    /// Ask nothing, even on a terminal: take the flags and the defaults
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Project directory (containing nestio.kdl)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Write nothing; exit 1 if a file is not formatted, showing the difference
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Project directory (containing nestio.kdl)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to write the page
    #[arg(short = 'o', long = "out", default_value = "report.html")]
    pub out: PathBuf,
    /// Highlight what changed since this project directory or git revision
    #[arg(long)]
    pub base: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Project directory (containing nestio.kdl)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output directory [default: DIR/generated]
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// Targets to generate, comma-separated [default: all]
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(emit::target_names()))]
    pub target: Vec<String>,
    /// Generate only this environment's files
    #[arg(long)]
    pub env: Option<String>,
    /// Compare with the output directory instead of writing; exit 1 on any difference
    #[arg(long)]
    pub check: bool,
    /// Overwrite generated files edited by hand (keeping them as <file>.orig)
    #[arg(long)]
    pub force: bool,
    /// Diagnostics format
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
    /// Treat warnings as errors
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print the time spent in each stage
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Project directory (containing nestio.kdl)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Diagnostics format
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
    /// Treat warnings as errors
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also check that this environment exists
    #[arg(long)]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Project directory (containing nestio.kdl)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A code (`NST0201`) or its name (`unknown-service`)
    pub code: Option<String>,
}

/// Parses the arguments and runs the command.
pub fn run<I, T>(args: I, no_color_env: bool) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let color = match cli.global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color_env && std::io::stderr().is_terminal(),
    };
    if let Some(jobs) = cli.global.jobs {
        // Once per process; a second call (tests run several commands) keeps the first.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build_global();
    }
    match cli.command {
        Command::Build(a) => build(&a, color),
        Command::Check(a) => check(&a, color),
        Command::Graph(a) => graph(&a, color),
        Command::Explain(a) => explain(a.code.as_deref()),
        Command::Why(a) => why(&a, color),
        Command::Diff(a) => diff(&a, color),
        Command::Report(a) => report(&a, color),
        Command::Fmt(a) => fmt(&a, color),
        Command::Init(a) => init(&a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "nestioc", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Lsp => match crate::lsp::run_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: language server: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn render_options(dir: &Path, color: bool) -> RenderOptions {
    let prefix = dir.to_string_lossy().replace('\\', "/");
    let prefix = prefix.trim_start_matches("./").trim_end_matches('/');
    RenderOptions {
        prefix: if prefix == "." {
            String::new()
        } else {
            prefix.to_owned()
        },
        color,
        width: None,
    }
}

fn print_diagnostics(
    analysis: &Analysis,
    diags: &[Diagnostic],
    format: DiagFormat,
    opts: &RenderOptions,
) {
    let text = render::render(diags, &analysis.sources, format.into(), opts);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
}

fn summary_counts(diags: &[Diagnostic]) -> String {
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) => plural(w, "warning"),
        (e, 0) => plural(e, "error"),
        (e, w) => format!("{} and {}", plural(e, "error"), plural(w, "warning")),
    }
}

fn io_failure(e: &driver::IoError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// Loads and analyses a project. `Err` is an I/O problem (exit 2).
/// The input limits, with the overrides of `NESTIOC_LIMITS` (`services=20000,nodes=...`;
/// docs/security.md). Read here, in the CLI: the library never reads the environment.
fn limits_from_env() -> Result<crate::syntax::Limits, driver::IoError> {
    let defaults = crate::syntax::Limits::default();
    let Some(spec) = std::env::var_os("NESTIOC_LIMITS") else {
        return Ok(defaults);
    };
    defaults
        .with_overrides(&spec.to_string_lossy())
        .map_err(|e| driver::IoError {
            message: format!("invalid NESTIOC_LIMITS: {e}"),
        })
}

fn analyse(
    dir: &Path,
    out: &Path,
    opts: &Options,
    timings: &mut Timings,
) -> Result<Analysis, driver::IoError> {
    let mut opts = opts.clone();
    opts.limits = limits_from_env()?;
    let opts = &opts;
    let mut last = Instant::now();
    let (sources, pre) = driver::load_project(dir, out)?;
    timings.stages.push(("discover", last.elapsed()));
    last = Instant::now();
    let mut clock = |stage: &'static str| {
        timings.stages.push((stage, last.elapsed()));
        last = Instant::now();
    };
    Ok(crate::analyze(sources, pre, opts, &mut clock))
}

fn build(a: &BuildArgs, color: bool) -> ExitCode {
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
            eprintln!(
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
    let artifacts = match crate::emit(&analysis, &opts, &mut clock) {
        Ok(a) => a,
        Err(diags) => {
            let mut all = analysis.diagnostics.clone();
            all.extend(diags);
            print_diagnostics(&analysis, &all, a.format, &render_opts);
            return ExitCode::from(1);
        }
    };
    let mut shown = analysis.diagnostics.clone();
    let services = analysis.model.as_ref().map_or(0, |m| m.services.len());
    let code = if a.check {
        let drift = driver::compare(&out, &artifacts);
        print_diagnostics(&analysis, &shown, a.format, &render_opts);
        if drift.is_clean() {
            if human {
                eprintln!(
                    "{} generated files in `{}` are up to date",
                    artifacts.len(),
                    out.display()
                );
            }
            ExitCode::SUCCESS
        } else {
            report_drift(&out, &artifacts, &drift);
            ExitCode::from(1)
        }
    } else {
        let last = Instant::now();
        let result = driver::write(&out, &artifacts, a.force);
        timings.stages.push(("write", last.elapsed()));
        match result {
            Ok(report) => {
                print_diagnostics(&analysis, &shown, a.format, &render_opts);
                if human {
                    for p in &report.kept {
                        eprintln!(
                            "warning: `{}` is no longer generated but was edited by hand: kept, and no longer managed by nestioc",
                            out.join(p).display()
                        );
                    }
                    for p in &report.backed_up {
                        eprintln!(
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
                    eprintln!(
                        "compiled {services} service{} into {} files in {ms} ms{warn} ({} written, {} unchanged, {} removed) -> {}",
                        if services == 1 { "" } else { "s" },
                        artifacts.len(),
                        report.written,
                        report.unchanged,
                        report.pruned.len(),
                        out.display()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(WriteFailure::Conflict(d)) => {
                shown.push(d);
                print_diagnostics(&analysis, &shown, a.format, &render_opts);
                ExitCode::from(1)
            }
            Err(WriteFailure::Io(e)) => io_failure(&e),
        }
    };
    if a.timings {
        print_timings(&timings, started.elapsed());
    }
    code
}

/// `--timings`: the stages in order; the emitters (and the template registry they share)
/// indented under their sum, `emit`.
fn print_timings(timings: &Timings, total: std::time::Duration) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let targets = emit::target_names();
    // The emitters follow `templates` (the target `graph` is not the stage `graph`).
    let start = timings.stages.iter().position(|(s, _)| *s == "templates");
    let is_emit = |i: usize, stage: &str| {
        start.is_some_and(|t| i == t || (i > t && targets.contains(&stage)))
    };
    let emit_total: std::time::Duration = timings
        .stages
        .iter()
        .enumerate()
        .filter(|(i, (s, _))| is_emit(*i, s))
        .map(|(_, (_, d))| *d)
        .sum();
    eprintln!("timings:");
    for (i, (stage, d)) in timings.stages.iter().enumerate() {
        if is_emit(i, stage) {
            if start == Some(i) {
                eprintln!("  {:<14} {:>9.3} ms", "emit", ms(emit_total));
            }
            eprintln!("    {stage:<12} {:>9.3} ms", ms(*d));
        } else {
            eprintln!("  {stage:<14} {:>9.3} ms", ms(*d));
        }
    }
    eprintln!("  {:<14} {:>9.3} ms", "total", ms(total));
    eprintln!("  ({} threads)", rayon::current_num_threads());
}

fn report_drift(out: &Path, set: &crate::emit::ArtifactSet, drift: &driver::Drift) {
    let total = drift.stale.len() + drift.missing.len() + drift.extra.len();
    eprintln!(
        "error: {total} generated file{} in `{}` out of date; run `nestioc build`",
        if total == 1 { " is" } else { "s are" },
        out.display()
    );
    for p in &drift.missing {
        eprintln!("  missing: {p}");
    }
    let edited = |p: &String| {
        if drift.edited.contains(p) {
            " (edited by hand since the last build)"
        } else {
            ""
        }
    };
    for p in &drift.stale {
        eprintln!("  stale:   {p}{}", edited(p));
        if let Some(a) = set.files.get(p) {
            eprint!(
                "{}",
                driver::short_diff(&driver::read_existing(out, p), &a.contents, 12)
            );
        }
    }
    for p in &drift.extra {
        if drift.edited.contains(p) {
            eprintln!(
                "  extra:   {p} (no longer generated; edited by hand, so `nestioc build` keeps it)"
            );
        } else {
            eprintln!("  extra:   {p} (no longer generated)");
        }
    }
}

fn check(a: &CheckArgs, color: bool) -> ExitCode {
    let opts = Options {
        env: a.env.clone(),
        targets: Vec::new(),
        deny_warnings: a.deny_warnings,
        ..Options::default()
    };
    let out = a.dir.join(driver::DEFAULT_OUT);
    let render_opts = render_options(&a.dir, color);
    let analysis = match analyse(&a.dir, &out, &opts, &mut Timings::default()) {
        Ok(x) => x,
        Err(e) => return io_failure(&e),
    };
    print_diagnostics(&analysis, &analysis.diagnostics, a.format, &render_opts);
    let failed = analysis.has_errors();
    if a.format == DiagFormat::Human {
        let services = analysis.model.as_ref().map_or(0, |m| m.services.len());
        if failed {
            eprintln!(
                "error: `{}` has {}",
                a.dir.display(),
                summary_counts(&analysis.diagnostics)
            );
        } else if analysis.diagnostics.is_empty() {
            eprintln!(
                "checked {services} service{}: no problems",
                if services == 1 { "" } else { "s" }
            );
        } else {
            eprintln!(
                "checked {services} service{}: {}",
                if services == 1 { "" } else { "s" },
                summary_counts(&analysis.diagnostics)
            );
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn graph(a: &GraphArgs, color: bool) -> ExitCode {
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
    let cx = EmitContext {
        model,
        topology,
        sources: &analysis.sources,
        templates: &templates,
        env: None,
    };
    let text = match a.format {
        GraphFormat::Dot => emit::graph::dot(&cx),
        GraphFormat::Mermaid => emit::graph::mermaid(&cx),
        GraphFormat::Json => emit::graph::json(&cx),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

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
        eprintln!("error: {what} does not compile: {}", summary_counts(diags));
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
fn load_base(
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
        let files = driver::read_output_dir(base_path).map_err(|e| io_failure(&e))?;
        return Ok((None, files));
    }
    let (sources, pre) =
        driver::load_project_at_revision(dir, base, driver::DEFAULT_OUT).map_err(|e| {
            eprintln!("error: `{base}` is neither a directory nor a git revision of the project");
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

/// Reads one answer on a terminal; the default when the answer is empty.
fn ask(question: &str, default: &str) -> String {
    eprint!("{question} [{default}]: ");
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(n) if n > 0 && !line.trim().is_empty() => line.trim().to_owned(),
        _ => default.to_owned(),
    }
}

fn init(a: &InitArgs) -> ExitCode {
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
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let files = plan.files();
    for (rel, _) in &files {
        if a.dir.join(rel).exists() {
            eprintln!(
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
            eprintln!("error: cannot create `{}`: {e}", parent.display());
            return ExitCode::from(2);
        }
        if let Err(e) = driver::write_file(&path, text) {
            return io_failure(&e);
        }
        eprintln!("created {}", path.display());
    }
    eprintln!(
        "next: `nestioc build {}` writes the charts and the rest into {}",
        a.dir.display(),
        a.dir.join(driver::DEFAULT_OUT).display()
    );
    ExitCode::SUCCESS
}

fn fmt(a: &FmtArgs, color: bool) -> ExitCode {
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
        eprintln!(
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
            eprintln!("{} files are formatted", formatted.len());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "error: {} file{} not formatted; run `nestioc fmt`",
            changed.len(),
            if changed.len() == 1 { " is" } else { "s are" }
        );
        for (name, old, new) in &changed {
            eprintln!("  {}", a.dir.join(name).display());
            eprint!("{}", driver::short_diff(old, new, 12));
        }
        return ExitCode::from(1);
    }
    for (name, _, new) in &changed {
        if let Err(e) = driver::write_file(&a.dir.join(name), new) {
            return io_failure(&e);
        }
    }
    eprintln!(
        "formatted {} file{} ({} unchanged)",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" },
        formatted.len() - changed.len()
    );
    ExitCode::SUCCESS
}

fn report(a: &ReportArgs, color: bool) -> ExitCode {
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
                eprintln!(
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
                eprintln!(
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
    match driver::write_file(&a.out, &page) {
        Ok(()) => {
            eprintln!(
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

fn diff(a: &DiffArgs, color: bool) -> ExitCode {
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

fn why(a: &WhyArgs, color: bool) -> ExitCode {
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
        eprintln!(
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
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn explain(code: Option<&str>) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match code {
        None => {
            for c in Code::ALL {
                let summary = crate::diag::code::summary(c.explanation());
                let _ = writeln!(stdout, "{c}  {:<24} {summary}", c.slug());
            }
            ExitCode::SUCCESS
        }
        Some(s) => match Code::parse(s) {
            Some(c) => {
                let _ = stdout.write_all(c.explanation().as_bytes());
                ExitCode::SUCCESS
            }
            None => {
                // A close code or name, else the number of codes (each has two spellings).
                let names = Code::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .chain(Code::ALL.iter().map(|c| c.slug()));
                let help = match crate::suggest::did_you_mean(s, names) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("there are {} codes", Code::ALL.len()),
                };
                eprintln!(
                    "error: unknown diagnostic code `{s}`\nhelp: {help}; `nestioc explain` lists them all"
                );
                ExitCode::from(2)
            }
        },
    }
}
