//! The handlebars registry for text templates: strict mode (an unknown variable is an
//! error, never an empty string) and no HTML escaping. Helm's own Go-template regions
//! sit inside `{{{{raw}}}}` blocks and pass through untouched.

use handlebars::{Handlebars, no_escape};
use serde::Serialize;

use crate::diag::{Code, Diagnostic};

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
        "helm/hpa.yaml",
        include_str!("../../../stdlib/helm/hpa.yaml.hbs"),
    ),
    (
        "helm/pdb.yaml",
        include_str!("../../../stdlib/helm/pdb.yaml.hbs"),
    ),
    (
        "helm/networkpolicy.yaml",
        include_str!("../../../stdlib/helm/networkpolicy.yaml.hbs"),
    ),
    (
        "helm/ingress.yaml",
        include_str!("../../../stdlib/helm/ingress.yaml.hbs"),
    ),
];

pub struct Templates {
    registry: Handlebars<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// The standard library's templates.
    pub fn stdlib() -> Result<Self, Diagnostic> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(no_escape);
        for (name, text) in STDLIB_TEMPLATES {
            registry
                .register_template_string(name, *text)
                .map_err(|e| {
                    Diagnostic::error(
                        Code::TemplateRender,
                        format!("stdlib template `{name}` does not parse: {e}"),
                    )
                })?;
        }
        Ok(Self { registry })
    }

    /// Renders a template; trims the blank lines that block tags leave behind at the
    /// start so every file starts with its header.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, Diagnostic> {
        let mut s = self.registry.render(name, data).map_err(|e| {
            Diagnostic::error(
                Code::TemplateRender,
                format!("template `{name}` failed to render: {e}"),
            )
            .with_help("check the template for unknown variables (templates run in strict mode)")
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
