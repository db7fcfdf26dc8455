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

use serde::Serialize;

use super::yaml::header;
use super::{Artifact, EmitContext, Emitter, Sink};
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
        && !s.starts_with(['/', '-'])
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

/// The variables a Dockerfile template receives (docs/outputs.md, "Overriding"): an
/// interface of project templates, so every field is always there (`null` when unset).
#[derive(Debug, Serialize)]
struct TemplateData<'a> {
    header: String,
    service: &'a str,
    language: &'a str,
    context: String,
    ports: Vec<u16>,
    /// .NET: the HTTP and gRPC ports joined by `;`, none when they mix.
    http_ports: Option<String>,
    http2_only: bool,
    /// .NET, mixed protocols: one Kestrel endpoint per port.
    endpoints: Vec<Endpoint>,
    health: Option<Health>,
    uid: u32,
    entrypoint: String,
    main: Option<&'a str>,
    go_package: String,
    rust_bin: &'a str,
    copy: Vec<&'a str>,
    script: Option<&'a str>,
}

/// A Kestrel endpoint (`Kestrel:Endpoints:<name>`).
#[derive(Debug, Serialize)]
struct Endpoint {
    name: String,
    url: String,
    protocols: &'static str,
}

/// The HTTP probe the image's `HEALTHCHECK` requests.
#[derive(Debug, Serialize)]
struct Health {
    port: u16,
    path: String,
    url: String,
}

/// The template's variables for one service.
fn data<'a>(
    cx: &EmitContext<'_>,
    service: &'a Service,
    language: &'a str,
) -> Result<TemplateData<'a>, Diagnostic> {
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
    // Container ports, in declaration order, each once (a sidecar's are its image's).
    let mut ports: Vec<u16> = Vec::new();
    for p in service.own_ports() {
        if !ports.contains(&p.target) {
            ports.push(p.target);
        }
    }
    let client = LANGUAGES
        .iter()
        .find(|(l, _)| *l == language)
        .and_then(|(_, c)| *c);
    // The HTTP probe the kubelet uses to tell whether the container serves: readiness's,
    // else liveness's.
    let http_probe = [&service.probes.readiness, &service.probes.liveness]
        .into_iter()
        .flatten()
        .find(|p| p.kind == ProbeKind::Http);
    let health = match (http_probe, client) {
        (Some(probe), Some(_)) => {
            if !is_http_path(&probe.path) {
                return Err(unsafe_value("probe path", &probe.path, probe.span));
            }
            probe
                .port
                .and_then(|i| service.ports.get(i))
                .map(|port| Health {
                    port: port.target,
                    path: probe.path.clone(),
                    url: format!("http://127.0.0.1:{}{}", port.target, probe.path),
                })
        }
        _ => None,
    };
    // .NET: Kestrel serves the HTTP and gRPC ports. gRPC needs HTTP/2, and without TLS
    // Kestrel speaks HTTP/2 only on an endpoint configured for HTTP/2 alone ("Http1AndHttp2
    // requires TLS for ALPN protocol negotiation. You either need separate ports for
    // HTTP/1.1 and HTTP/2, or use TLS", https://github.com/grpc/grpc-dotnet/issues/979),
    // while the kubelet's httpGet probes speak HTTP/1.1. So: every port the same protocol,
    // ASPNETCORE_HTTP_PORTS (with `Http2` as the endpoints' default when they are all
    // gRPC); a mix, one configured endpoint per port with its protocol (Kestrel's
    // `Kestrel:Endpoints` configuration, read from `Kestrel__Endpoints__...` environment
    // variables: https://learn.microsoft.com/aspnet/core/fundamentals/servers/kestrel/endpoints).
    let mut kestrel: Vec<(u16, Protocol)> = Vec::new();
    for p in service.own_ports().filter(|p| p.protocol != Protocol::Tcp) {
        if !kestrel.iter().any(|(port, _)| *port == p.target) {
            kestrel.push((p.target, p.protocol));
        }
    }
    let mixed = kestrel.iter().any(|(_, p)| *p == Protocol::Grpc)
        && kestrel.iter().any(|(_, p)| *p == Protocol::Http);
    let http_ports = if kestrel.is_empty() || mixed {
        None
    } else {
        Some(
            kestrel
                .iter()
                .map(|(p, _)| p.to_string())
                .collect::<Vec<_>>()
                .join(";"),
        )
    };
    let http2_only = !kestrel.is_empty() && kestrel.iter().all(|(_, p)| *p == Protocol::Grpc);
    let endpoints: Vec<Endpoint> = if mixed {
        kestrel
            .iter()
            .map(|(port, protocol)| Endpoint {
                name: format!("port{port}"),
                url: format!("http://+:{port}"),
                protocols: if *protocol == Protocol::Grpc {
                    "Http2"
                } else {
                    "Http1"
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let build = service.build.as_ref();
    let main = build
        .and_then(|b| b.main.as_ref())
        .map(|m| m.value.as_str());
    for m in build.iter().flat_map(|b| b.main.iter().chain(&b.copy)) {
        if !is_context_path(&m.value) {
            return Err(unsafe_value("build path", &m.value, m.span));
        }
    }
    let copy: Vec<&str> = build
        .map(|b| b.copy.iter().map(|c| c.value.as_str()).collect())
        .unwrap_or_default();
    // What the runtime image runs (exec form), for the interpreted languages.
    let entrypoint: Vec<String> = match (language, main) {
        ("node", Some(m)) => vec!["node".into(), m.into()],
        ("node", None) => vec!["node".into(), "/app".into()],
        ("python", Some(m)) if m.ends_with(".py") => vec!["python".into(), m.into()],
        ("python", Some(m)) => vec!["python".into(), "-m".into(), m.into()],
        ("python", None) => vec!["python".into(), "main.py".into()],
        _ => Vec::new(),
    };
    // Go builds a package path: `./cmd/server`, never an import path in the standard library.
    let go_package = main.map_or_else(
        || ".".to_owned(),
        |m| {
            if m == "." || m.starts_with("./") {
                m.to_owned()
            } else {
                format!("./{m}")
            }
        },
    );
    let file = cx.file_of(service);
    Ok(TemplateData {
        header: header(&file).trim_end().to_owned(),
        service: &service.name,
        language,
        context,
        ports,
        http_ports,
        http2_only,
        endpoints,
        health,
        uid: UID,
        // Exec form; every word was checked above (`is_context_path`), none needs escaping.
        entrypoint: format!(
            "[{}]",
            entrypoint
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        main,
        go_package,
        rust_bin: main.unwrap_or(&service.name),
        copy,
        // Python's script, checked at build time (a module is imported only at run time).
        script: match (language, main) {
            ("python", Some(m)) if m.ends_with(".py") => Some(m),
            ("python", None) => Some("main.py"),
            _ => None,
        },
    })
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

    fn emit(&self, cx: &EmitContext<'_>, sink: &dyn Sink) -> Result<(), Diagnostic> {
        super::stream_files_reusing(cx, sink, self.name(), |service| {
            let mut out = Vec::new();
            let Some(language) = service.language.as_deref() else {
                return Ok(out); // an upstream image (`std/redis`, ...): nothing to build
            };
            if service.dockerfile.is_some() {
                return Ok(out); // built with the repository's own Dockerfile
            }
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
        })
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
