//! The handlebars registry for text templates: strict mode (an unknown variable is an
//! error, never an empty string) and no HTML escaping. Helm's own Go-template regions
//! sit inside `{{{{raw}}}}` blocks and pass through untouched.

use std::collections::BTreeMap;

use handlebars::{Handlebars, no_escape};
use serde::Serialize;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{Origin, SourceId, SourceMap, Span};
use crate::suggest;

/// The stdlib text templates, by name (the path under `stdlib/`).
pub const STDLIB_TEMPLATES: &[(&str, &str)] = &[
    (
        "helm/_helpers.tpl",
        include_str!("../../../stdlib/helm/_helpers.tpl.hbs"),
    ),
    (
        "helm/serviceaccount.yaml",
        include_str!("../../../stdlib/helm/serviceaccount.yaml.hbs"),
    ),
    (
        "helm/service.yaml",
        include_str!("../../../stdlib/helm/service.yaml.hbs"),
    ),
    (
        "helm/deployment.yaml",
        include_str!("../../../stdlib/helm/deployment.yaml.hbs"),
    ),
    (
        "helm/statefulset.yaml",
        include_str!("../../../stdlib/helm/statefulset.yaml.hbs"),
    ),
    (
        "helm/cronjob.yaml",
        include_str!("../../../stdlib/helm/cronjob.yaml.hbs"),
    ),
    (
        "helm/pvc.yaml",
        include_str!("../../../stdlib/helm/pvc.yaml.hbs"),
    ),
    (
        "helm/rollout.yaml",
        include_str!("../../../stdlib/helm/rollout.yaml.hbs"),
    ),
    (
        "helm/istio.yaml",
        include_str!("../../../stdlib/helm/istio.yaml.hbs"),
    ),
    (
        "helm/linkerd.yaml",
        include_str!("../../../stdlib/helm/linkerd.yaml.hbs"),
    ),
    (
        "helm/hpa.yaml",
        include_str!("../../../stdlib/helm/hpa.yaml.hbs"),
    ),
    (
        "helm/pdb.yaml",
        include_str!("../../../stdlib/helm/pdb.yaml.hbs"),
    ),
    (
        "helm/podmonitor.yaml",
        include_str!("../../../stdlib/helm/podmonitor.yaml.hbs"),
    ),
    (
        "helm/networkpolicy.yaml",
        include_str!("../../../stdlib/helm/networkpolicy.yaml.hbs"),
    ),
    (
        "helm/ingress.yaml",
        include_str!("../../../stdlib/helm/ingress.yaml.hbs"),
    ),
    (
        "docker/go.Dockerfile",
        include_str!("../../../stdlib/docker/go.Dockerfile.hbs"),
    ),
    (
        "docker/rust.Dockerfile",
        include_str!("../../../stdlib/docker/rust.Dockerfile.hbs"),
    ),
    (
        "docker/node.Dockerfile",
        include_str!("../../../stdlib/docker/node.Dockerfile.hbs"),
    ),
    (
        "docker/python.Dockerfile",
        include_str!("../../../stdlib/docker/python.Dockerfile.hbs"),
    ),
    (
        "docker/java.Dockerfile",
        include_str!("../../../stdlib/docker/java.Dockerfile.hbs"),
    ),
    (
        "docker/dotnet.Dockerfile",
        include_str!("../../../stdlib/docker/dotnet.Dockerfile.hbs"),
    ),
];

/// Where a project puts text-template overrides (`templates/helm/deployment.yaml.hbs`).
pub const TEMPLATE_DIR: &str = "templates/";

/// Where an override came from, to locate its errors.
#[derive(Debug, Clone)]
struct OverrideFile {
    id: SourceId,
    path: String,
}

pub struct Templates {
    registry: Handlebars<'static>,
    overrides: BTreeMap<String, OverrideFile>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("overrides", &self.overrides.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The template a project file overrides: `templates/helm/deployment.yaml.hbs` ->
/// `helm/deployment.yaml`.
fn override_name(path: &str) -> Option<&str> {
    path.strip_prefix(TEMPLATE_DIR)?.strip_suffix(".hbs")
}

fn locate(
    sources: &SourceMap,
    file: &OverrideFile,
    line: Option<usize>,
    col: Option<usize>,
) -> Span {
    let src = sources.get(file.id);
    let Some(line) = line else {
        return Span::file_start(file.id);
    };
    // handlebars counts lines from 1 and columns from 1 (in characters).
    let start = src.offset_of_utf16(line.saturating_sub(1), 0);
    let line_text = &src.text[start..];
    let line_end = line_text.find('\n').map_or(src.text.len(), |i| start + i);
    let col_offset = line_text
        .char_indices()
        .nth(col.unwrap_or(1).saturating_sub(1))
        .map_or(line_end, |(i, _)| start + i)
        .min(line_end);
    Span::new(file.id, col_offset, line_end.max(col_offset))
}

/// Reports override files that match no stdlib template (NST0403).
pub fn check_overrides(sources: &SourceMap, diags: &mut Diagnostics) {
    let known: Vec<&str> = STDLIB_TEMPLATES.iter().map(|(n, _)| *n).collect();
    for (id, src) in sources.iter() {
        if src.origin != Origin::TemplateOverride {
            continue;
        }
        let name = override_name(&src.name).unwrap_or(&src.name);
        if !known.contains(&name) {
            diags.push(
                Diagnostic::error(
                    Code::UnknownTemplateFile,
                    format!("`{}` overrides no template", src.name),
                )
                .with_label(Span::file_start(id), "this file is never used")
                .with_help(
                    match suggest::did_you_mean(name, known.iter().copied()) {
                        Some(s) => format!("did you mean `{TEMPLATE_DIR}{s}.hbs`?"),
                        None => format!(
                            "overridable templates: {}",
                            known
                                .iter()
                                .map(|k| format!("`{TEMPLATE_DIR}{k}.hbs`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    },
                ),
            );
        }
    }
}

impl Templates {
    /// The standard library's templates only.
    pub fn stdlib() -> Result<Self, Diagnostic> {
        Self::new(&SourceMap::new()).map_err(|mut d| d.remove(0))
    }

    /// The standard library's templates, with the project's overrides (files under
    /// `templates/` with the same name and `.hbs`) in their place.
    pub fn new(sources: &SourceMap) -> Result<Self, Vec<Diagnostic>> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(no_escape);
        let mut errors = Vec::new();
        for (name, text) in STDLIB_TEMPLATES {
            if let Err(e) = registry.register_template_string(name, *text) {
                errors.push(Diagnostic::error(
                    Code::TemplateRender,
                    format!("stdlib template `{name}` does not parse: {e}"),
                ));
            }
        }
        let mut overrides = BTreeMap::new();
        for (id, src) in sources.iter() {
            if src.origin != Origin::TemplateOverride {
                continue;
            }
            let Some(name) = override_name(&src.name) else {
                continue;
            };
            if !STDLIB_TEMPLATES.iter().any(|(n, _)| *n == name) {
                continue; // reported by `check_overrides`
            }
            let file = OverrideFile {
                id,
                path: src.name.clone(),
            };
            if let Err(e) = registry.register_template_string(name, &src.text) {
                let (line, col) = e.pos().map_or((None, None), |(l, c)| (Some(l), Some(c)));
                let span = locate(sources, &file, line, col);
                errors.push(
                    Diagnostic::error(
                        Code::TemplateRender,
                        format!("template `{}` does not parse: {}", file.path, e.reason()),
                    )
                    .with_label(span, "here")
                    .with_help("see https://handlebarsjs.com/guide/ for the syntax; Helm's own `{{ }}` go inside `{{{{raw}}}} ... {{{{/raw}}}}`"),
                );
                continue;
            }
            overrides.insert(name.to_owned(), file);
        }
        if errors.is_empty() {
            Ok(Self {
                registry,
                overrides,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether the project replaces this template with its own file.
    #[must_use]
    pub fn is_overridden(&self, name: &str) -> bool {
        self.overrides.contains_key(name)
    }

    /// Renders a template; trims the blank lines that block tags leave behind at the
    /// start so every file starts with its header.
    pub fn render<T: Serialize>(
        &self,
        sources: &SourceMap,
        name: &str,
        data: &T,
    ) -> Result<String, Diagnostic> {
        let mut s = self.registry.render(name, data).map_err(|e| {
            let what = self.overrides.get(name).map_or_else(|| format!("stdlib/{name}.hbs"), |f| f.path.clone());
            let mut d = Diagnostic::error(
                Code::TemplateRender,
                format!("template `{what}` failed to render: {}", e.reason()),
            )
            .with_help(format!(
                "templates run in strict mode: an unknown variable is an error; the variables are {}",
                serde_json::to_value(data)
                    .ok()
                    .and_then(|v| v.as_object().map(|o| o.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")))
                    .unwrap_or_default()
            ));
            if let Some(file) = self.overrides.get(name) {
                d = d.with_label(locate(sources, file, e.line_no, e.column_no), "fails here");
            }
            d
        })?;
        while s.contains("\n\n\n") {
            s = s.replace("\n\n\n", "\n\n");
        }
        let s = s
            .replace("\n\n{{-", "\n{{-")
            .replace("\n\napiVersion", "\napiVersion");
        let mut s = s.trim_start_matches('\n').to_owned();
        if !s.ends_with('\n') {
            s.push('\n');
        }
        Ok(s)
    }
}
