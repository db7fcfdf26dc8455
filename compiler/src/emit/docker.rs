//! `docker`: a multi-stage Dockerfile per service that declares a `language`
//! (`docker/<service>/Dockerfile`), rendered from the stdlib templates
//! `stdlib/docker/<language>.Dockerfile.hbs` (a project overrides one with
//! `templates/docker/<language>.Dockerfile.hbs`), and a `Dockerfile.dockerignore` beside it
//! that keeps VCS data, local secrets and build output out of the build context.
//!
//! Every value a template receives is checked here before it reaches the template: names
//! are DNS labels, ports are numbers, the context and the probe path use a closed set of
//! characters, and the header names a file with its control characters replaced. No user
//! string can start a line of the Dockerfile, so none can become an instruction.

use serde_json::{Value, json};

use super::yaml::header;
use super::{Artifact, EmitContext, Emitter};
use crate::diag::{Code, Diagnostic};
use crate::model::{ProbeKind, Protocol, Service};
use crate::source::Span;

pub(super) struct Docker;

/// The UID and GID the image runs as: the same as the pods' `runAsUser`/`runAsGroup`.
const UID: u32 = 10001;

/// The languages with a Dockerfile template, and what their runtime image can probe with
/// (`None`: no HTTP client in the image, `HEALTHCHECK NONE`).
const LANGUAGES: &[(&str, Option<&str>)] = &[
    ("go", None),
    ("rust", None),
    ("node", Some("node")),
    ("python", Some("python")),
    ("java", None),
    ("dotnet", None),
];

/// What each language's build leaves in the source tree: kept out of the build context.
fn ignored(language: &str) -> &'static [&'static str] {
    match language {
        "rust" => &["target"],
        "node" => &["node_modules", "npm-debug.log*", "coverage"],
        "python" => &[
            "**/__pycache__",
            "**/*.py[cod]",
            ".venv",
            "venv",
            ".pytest_cache",
        ],
        "java" => &["build", ".gradle", "target"],
        "dotnet" => &["**/bin", "**/obj"],
        _ => &[],
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A repository path as lowering accepts it (`src/checkout`): no `..`, no spaces, no
/// quotes, no line breaks.
fn is_context_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && s.split('/').all(|c| c != "..")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// An HTTP path as lowering accepts it: it goes into a JSON string of an exec-form
/// `HEALTHCHECK`, where `"`, `\` and line breaks could not appear anyway.
fn is_http_path(s: &str) -> bool {
    s.starts_with('/')
        && s.len() <= 1024
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c))
}

fn unsafe_value(what: &str, value: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::InvalidName,
        format!("{what} `{value}` cannot go into a Dockerfile"),
    )
    .with_label(span, "this value")
    .with_help("use letters, digits and `-`, `_`, `.`, `/` only")
}

/// The template's variables for one service.
fn data(cx: &EmitContext<'_>, service: &Service, language: &str) -> Result<Value, Diagnostic> {
    if !is_dns_label(&service.name) {
        return Err(unsafe_value(
            "service name",
            &service.name,
            service.name_span,
        ));
    }
    let context = service.source_path.clone().unwrap_or_else(|| ".".into());
    if !is_context_path(&context) {
        return Err(unsafe_value("source path", &context, service.span));
    }
    // Container ports, in declaration order, each once.
    let mut ports: Vec<u16> = Vec::new();
    for p in &service.ports {
        if !ports.contains(&p.target) {
            ports.push(p.target);
        }
    }
    let client = LANGUAGES
        .iter()
        .find(|(l, _)| *l == language)
        .and_then(|(_, c)| *c);
    let health = match (&service.probe, client) {
        (Some(probe), Some(_)) if probe.kind == ProbeKind::Http => {
            if !is_http_path(&probe.path) {
                return Err(unsafe_value("probe path", &probe.path, probe.span));
            }
            service.ports.get(probe.port).map_or(Value::Null, |port| {
                json!({
                    "port": port.target,
                    "path": probe.path,
                    "url": format!("http://127.0.0.1:{}{}", port.target, probe.path),
                })
            })
        }
        _ => Value::Null,
    };
    // .NET's Kestrel listens on these (`ASPNETCORE_HTTP_PORTS`); gRPC needs HTTP/2,
    // which the app configures itself.
    let http: Vec<String> = service
        .ports
        .iter()
        .filter(|p| p.protocol == Protocol::Http)
        .map(|p| p.target.to_string())
        .collect();
    let file = cx.file_of(service);
    Ok(json!({
        "header": header(&file).trim_end(),
        "service": service.name,
        "language": language,
        "context": context,
        "ports": ports,
        "http_ports": if http.is_empty() { Value::Null } else { json!(http.join(";")) },
        "health": health,
        "uid": UID,
    }))
}

fn dockerignore(file: &str, language: &str) -> String {
    let mut s = header(file);
    s.push_str(
        "# The build context of the Dockerfile beside this file (BuildKit reads\n\
         # `<Dockerfile>.dockerignore` next to the Dockerfile): keep version control data,\n\
         # local secrets and build output out of it, and so out of the image.\n\
         .git\n**/.env\n**/.env.*\n**/*.pem\n**/*.key\n",
    );
    for p in ignored(language) {
        s.push_str(p);
        s.push('\n');
    }
    s
}

impl Emitter for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn description(&self) -> &'static str {
        "a multi-stage, non-root Dockerfile per service with a `language`: docker/<service>/Dockerfile"
    }

    fn emit(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        let files = super::per_service(cx, |service| {
            let mut out = Vec::new();
            let Some(language) = service.language.as_deref() else {
                return Ok(out); // an upstream image (`std/redis`, ...): nothing to build
            };
            if !LANGUAGES.iter().any(|(l, _)| *l == language) {
                return Err(Diagnostic::error(
                    Code::UnknownValue,
                    format!("no Dockerfile template for language `{language}`"),
                )
                .with_label(service.span, "in this service"));
            }
            let data = data(cx, service, language)?;
            let dir = format!("docker/{}", service.name);
            let template = format!("docker/{language}.Dockerfile");
            out.push(Artifact {
                path: format!("{dir}/Dockerfile"),
                contents: cx.templates.render(cx.sources, &template, &data)?,
                source: Some(service.name_span),
            });
            out.push(Artifact {
                path: format!("{dir}/Dockerfile.dockerignore"),
                contents: dockerignore(&cx.file_of(service), language),
                source: Some(service.name_span),
            });
            Ok(out)
        });
        let mut out = Vec::new();
        for f in files {
            out.extend(f?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_values_pass() {
        assert!(is_dns_label("order-worker"));
        assert!(!is_dns_label("Order"));
        assert!(!is_dns_label("a\nRUN x"));
        assert!(is_context_path("src/checkout"));
        assert!(!is_context_path("src/../etc"));
        assert!(!is_context_path("src/a b"));
        assert!(!is_context_path("src/a\nRUN curl x"));
        assert!(is_http_path("/health/ready"));
        assert!(!is_http_path("/a\"b"));
        assert!(!is_http_path("/a\\b"));
        assert!(!is_http_path("/a\nRUN x"));
    }

    #[test]
    fn every_language_has_a_template() {
        for (language, _) in LANGUAGES {
            let name = format!("docker/{language}.Dockerfile");
            assert!(
                super::super::templates::STDLIB_TEMPLATES
                    .iter()
                    .any(|(n, _)| *n == name),
                "{name}"
            );
        }
        let langs: Vec<&str> = LANGUAGES.iter().map(|(l, _)| *l).collect();
        assert_eq!(langs, crate::lang::LANGUAGES);
    }
}
