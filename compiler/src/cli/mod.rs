//! The command line: clap definitions, the dispatch, and the printing the commands share;
//! each command is a module of its own. Exit codes: 0 success (warnings allowed), 1 the input has errors or `--check` found
//! drift, 2 usage or I/O error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

// Output that nobody reads is not an error: `nestioc build --check 2>&1 | head -1` closes
// the pipe, and `eprintln!` would panic on the broken pipe (Rust ignores SIGPIPE, so the write
// fails with EPIPE). The command runs to its end and exits with its own code.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut e = std::io::stderr().lock();
        let _ = write!(e, $($t)*);
        let _ = e.flush();
    }};
}

mod build;
mod check;
mod completions;
mod diff;
mod explain;
mod fmt;
mod graph;
mod init;
mod lsp;
mod report;
mod why;

use crate::diag::render::{self, Format, RenderOptions};
use crate::diag::{Diagnostic, Severity};
use crate::driver;
use crate::emit;
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
    /// Where to write the page (`-` for standard output)
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
        Command::Build(a) => build::build(&a, color),
        Command::Check(a) => check::check(&a, color),
        Command::Graph(a) => graph::graph(&a, color),
        Command::Explain(a) => explain::explain(a.code.as_deref()),
        Command::Why(a) => why::why(&a, color),
        Command::Diff(a) => diff::diff(&a, color),
        Command::Report(a) => report::report(&a, color),
        Command::Fmt(a) => fmt::fmt(&a, color),
        Command::Init(a) => init::init(&a),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
        Command::Lsp => lsp::lsp(),
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
    errln!("error: {e}");
    ExitCode::from(2)
}

/// Loads and analyses a project. `Err` is an I/O problem (exit 2).
/// The input limits, with the overrides of `NESTIOC_LIMITS` (`services=20000,nodes=...`;
/// docs/security.md). Read here, in the CLI: the library never reads the environment.
/// Where `nestioc build` keeps what it knows of its output directories (the stat cache,
/// see `driver`): `NESTIOC_CACHE_DIR` (set but empty: nowhere), else
/// `$XDG_CACHE_HOME/nestioc`, else `~/.cache/nestioc`.
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("NESTIOC_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    let absolute = |d: &OsString| Path::new(d).is_absolute();
    std::env::var_os("XDG_CACHE_HOME")
        .filter(absolute)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(absolute)
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .map(|d| d.join("nestioc"))
}

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
