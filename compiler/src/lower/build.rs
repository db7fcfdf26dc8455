//! How a service's image is built: `dockerfile` (the repository's own) or `build` (what
//! the Dockerfile generated for its `language` cannot know), and the warning that names
//! every guess a generated Dockerfile still makes (NST0317).
//!
//! nestioc never reads the service's source tree, so a generated Dockerfile can only know
//! what the topology says. What it cannot know it either checks while the image builds
//! (a failed build is loud), or guesses; a guess that would build an image that fails
//! only when it runs is reported here, with the two ways to state the fact instead.

use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::model::{Build, Spanned};
use crate::source::Span;
use crate::syntax::Node;

use super::checks::problem;
use super::read::{child, str_of};

/// A path of the build context or the repository as the Dockerfile and the CI scripts
/// take it: relative, without `..`, made of characters no shell, Dockerfile or YAML
/// reader treats specially, and not starting with `-` (it could be read as an option).
pub(crate) fn check_build_path(path: &str, what: &str) -> Result<(), crate::diag::Problem> {
    let ok = !path.is_empty()
        && path.len() <= 512
        && !path.starts_with(['/', '-'])
        && path.split('/').all(|c| c != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid {what} `{path}`"),
            "not a relative path",
            "give a relative path such as \"cmd/server\": letters, digits, `-`, `_`, `.` and `/`, not starting with `/` or `-`, without `..`",
        ))
    }
}

fn spanned_path(
    e: &crate::syntax::Entry,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Spanned<String>> {
    let s = str_of(e)?;
    match check_build_path(&s, what).at(e.value_span) {
        Ok(()) => Some(Spanned::new(
            s.trim_end_matches('/').to_owned(),
            e.value_span,
        )),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// `dockerfile "path"`.
pub(super) fn lower_dockerfile(kids: &[Node], diags: &mut Diagnostics) -> Option<Spanned<String>> {
    let n = child(kids, "dockerfile")?;
    let e = n.arg(0)?;
    spanned_path(e, "Dockerfile path", diags)
}

/// The shape `main=` must have in each language, beyond being a relative path.
fn check_main(language: Option<&str>, main: &str) -> Result<(), String> {
    match language {
        Some("python") if !main.ends_with(".py") => {
            if main.split('.').all(|p| {
                !p.is_empty()
                    && !p.starts_with(|c: char| c.is_ascii_digit())
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }) {
                Ok(())
            } else {
                Err("a Python script (\"server.py\") or a module (\"app.main\")".into())
            }
        }
        Some("rust")
            if !main
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) =>
        {
            Err("the name of a binary target of the package (`cargo build --bin NAME`)".into())
        }
        Some("java") if !main.ends_with(".jar") => {
            Err("the runnable jar the Gradle build leaves, e.g. \"build/libs/app-all.jar\"".into())
        }
        _ => Ok(()),
    }
}

/// `build main=... { copy ... }`.
pub(super) fn lower_build(kids: &[Node], diags: &mut Diagnostics) -> Option<Build> {
    let n = child(kids, "build")?;
    let language = child(kids, "language")
        .and_then(|l| l.arg(0))
        .and_then(str_of);
    let main = n.prop("main").and_then(|e| {
        let m = spanned_path(e, "entry point", diags)?;
        match check_main(language.as_deref(), &m.value) {
            Ok(()) => Some(m),
            Err(expected) => {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidName,
                        format!(
                            "`{}` is not a {} entry point",
                            m.value,
                            language.as_deref().unwrap_or_default()
                        ),
                    )
                    .with_label(m.span, "not an entry point of this language")
                    .with_help(format!("give {expected}")),
                );
                None
            }
        }
    });
    let copy = n
        .children
        .iter()
        .filter(|c| c.name == "copy")
        .flat_map(Node::args)
        .filter_map(|e| spanned_path(e, "path to copy", diags))
        .collect();
    Some(Build {
        main,
        copy,
        span: n.head_span(),
    })
}

/// `dockerfile` and `build` against the rest of the service: `build` describes a
/// generated Dockerfile, so it needs a `language` and cannot go with `dockerfile`; CI
/// builds a `dockerfile` with the `source` directory as its context.
pub(super) fn check_build(
    service: &str,
    kids: &[Node],
    dockerfile: Option<&Spanned<String>>,
    build: Option<&Build>,
    diags: &mut Diagnostics,
) {
    let language = child(kids, "language");
    let source = child(kids, "source");
    if let (Some(d), Some(b)) = (dockerfile, build) {
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                format!("`{service}` has its own Dockerfile and a `build` for a generated one"),
            )
            .with_label(b.span, "describes a generated Dockerfile")
            .with_secondary(d.span, "no Dockerfile is generated: this one is built")
            .with_help("remove `build` (the repository's Dockerfile says how the image is built), or remove `dockerfile` to have nestioc generate one"),
        );
    } else if let (Some(b), None) = (build, language) {
        diags.push(
            Diagnostic::error(
                Code::IncompleteBuild,
                format!("`build` of `{service}` needs a `language`"),
            )
            .with_label(b.span, "describes a generated Dockerfile")
            .with_help(format!("the Dockerfile is generated from the `language`'s template: add `language \"go\"` (or the service's language), or build with the repository's own Dockerfile: `dockerfile \"src/{service}/Dockerfile\"`")),
        );
    }
    if let (Some(d), None) = (dockerfile, source) {
        diags.push(
            Diagnostic::error(
                Code::IncompleteBuild,
                format!("`dockerfile` of `{service}` needs a `source`"),
            )
            .with_label(d.span, "built with the source directory as its context")
            .with_help(format!(
                "add `source \"{}\"`: the build context of the Dockerfile, and the directory whose changes run the service's CI pipeline",
                d.value.rsplit_once('/').map_or(".", |(dir, _)| dir)
            )),
        );
    }
}

/// What a language's generated Dockerfile guesses when `build` does not say: `None` when
/// it guesses nothing that the image build does not check. `build` is the service's
/// `build`, if any.
#[must_use]
pub fn guess(language: &str, build: Option<&Build>) -> Option<String> {
    let main = build.and_then(|b| b.main.as_ref());
    let mut guesses: Vec<String> = Vec::new();
    // What the image build checks is no guess: Go's package is `main` (`go list`), Rust's
    // binary target exists (`cargo build --bin`), .NET has exactly one executable project,
    // Node's entry point resolves and Python's script exists. What it cannot check is.
    match language {
        // Node runs `node /app`: the package.json `main`, else `index.js`
        // (https://nodejs.org/api/modules.html#folders-as-modules).
        "node" if main.is_none() => guesses
            .push("runs `node /app`, which loads the `main` of package.json, else `index.js`".into()),
        "python" if main.is_none() => guesses.push("runs `python main.py`".into()),
        // `assemble` leaves a runnable jar only with Spring Boot's `bootJar` or a fat-jar
        // plugin; the `application` plugin's jar has neither its dependencies nor, unless
        // configured, a `Main-Class`.
        "java" if main.is_none() => guesses.push(
            "runs the jar `./gradlew assemble` leaves in build/libs with `java -jar`, which fails at start unless it is runnable with its dependencies (Spring Boot's, or a fat jar; not the `application` plugin's)".into(),
        ),
        // Rust: `cargo build --bin <service>` fails when there is no such target. .NET:
        // `dotnet publish` of the one executable project at the context root (the build
        // fails unless there is exactly one), Kestrel's endpoints from the declared ports.
        _ => {}
    }
    // The runtime stage of a compiled language receives the build's output only: anything
    // the program reads at run time (templates, static files) is missing unless `copy`
    // names it. A `build` node states it, even with no `copy`.
    if matches!(language, "go" | "rust") && build.is_none() {
        guesses.push(
            "copies only the binary into the image, without any file the program reads at run time (templates, static files)".into(),
        );
    }
    (!guesses.is_empty()).then(|| guesses.join(", and "))
}

/// The example `build` line a warning suggests, per language.
fn example(language: &str) -> &'static str {
    match language {
        "go" => "build { copy \"templates\" \"static\" }",
        "rust" => "build { copy \"templates\" }",
        "node" => "build main=\"server.js\"",
        "python" => "build main=\"server.py\"",
        "java" => "build main=\"build/libs/app-all.jar\"",
        _ => "build main=\"...\"",
    }
}

/// NST0317: the warning for a service whose generated Dockerfile guesses.
#[must_use]
pub fn unverified_dockerfile(
    service: &str,
    name_span: Span,
    language: &str,
    language_span: Option<Span>,
    build: Option<&Build>,
    source: Option<&str>,
) -> Option<Diagnostic> {
    let guess = guess(language, build)?;
    let mut d = Diagnostic::warning(
        Code::UnverifiedDockerfile,
        format!("the generated Dockerfile of `{service}` guesses how to run it"),
    )
    .with_label(name_span, format!("its Dockerfile {guess}"));
    if let Some(span) = language_span {
        d = d.with_secondary(
            span,
            format!("docker/{service}/Dockerfile is generated for this language"),
        );
    }
    let own = match source {
        Some(dir) => format!("`dockerfile \"{dir}/Dockerfile\"`"),
        None => format!(
            "`source \"src/{service}\"` (its build context) and `dockerfile \"src/{service}/Dockerfile\"`"
        ),
    };
    Some(
        d.with_help(format!(
            "state it: `{}` in the service, or build with the repository's own Dockerfile: {own}",
            example(language),
        ))
        .with_note("nestioc does not read the source tree: a wrong guess builds an image that fails only when it runs"),
    )
}
