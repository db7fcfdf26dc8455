//! A service's environment variables: literals, Secret references, and the plain-text
//! credentials they must not carry.

use super::checks::{check_free_text, check_secret_key};
use super::names;
use super::read::{arg_str, prop_str, str_of};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::model::{EnvValue, EnvVar};
use crate::source::Span;
use crate::syntax::{Node, Value};

pub(super) fn lower_env(kids: &[Node], service: &str, diags: &mut Diagnostics) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = Vec::new();
    let mut push = |var: EnvVar, diags: &mut Diagnostics| {
        if let Some(first) = env.iter().find(|e| e.name == var.name) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("environment variable `{}` is set twice", var.name),
                )
                .with_label(var.span, "set again here")
                .with_secondary(first.span, "first set here")
                .with_help(
                    "each variable can be set once, by `env`, `env-secret` or `depends-on env=`",
                ),
            );
        } else {
            env.push(var);
        }
    };
    for n in kids {
        match n.name.as_str() {
            "env" => {
                let (Some(name), Some(v)) = (arg_str(n, 0), n.arg(1)) else {
                    continue;
                };
                let value = match &v.value {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Integer(_) | Value::Float(_) => v.raw.clone(),
                    Value::Null => continue,
                };
                if let Err(d) =
                    check_free_text(&value, "environment variable value").at(v.value_span)
                {
                    diags.push(d);
                    continue;
                }
                if names::check_env_name(&name).is_ok() {
                    if names::plain_text_secret(&name, &value) {
                        diags.push(plain_text_secret(n, &name, v.value_span, service));
                    }
                    push(
                        EnvVar {
                            name,
                            value: EnvValue::Literal(value),
                            span: n.ident_span(),
                        },
                        diags,
                    );
                }
            }
            "env-secret" => {
                let (Some(name), Some(secret), Some(key)) =
                    (arg_str(n, 0), prop_str(n, "secret"), prop_str(n, "key"))
                else {
                    continue;
                };
                if let Some(e) = n.prop("key")
                    && let Err(d) = check_secret_key(&key).at(e.value_span)
                {
                    diags.push(d);
                    continue;
                }
                if names::check_env_name(&name).is_ok() {
                    push(
                        EnvVar {
                            name,
                            value: EnvValue::Secret { secret, key },
                            span: n.ident_span(),
                        },
                        diags,
                    );
                }
            }
            "depends-on" => {
                // `depends-on env=` sets a variable too: it takes part in the
                // duplicate check, and its value is filled in by the graph stage.
                if let Some(e) = n.prop("env")
                    && let Some(name) = str_of(e)
                    && names::check_env_name(&name).is_ok()
                {
                    push(
                        EnvVar {
                            name,
                            value: EnvValue::Dependency,
                            span: e.value_span,
                        },
                        diags,
                    );
                }
            }
            _ => {}
        }
    }
    env.retain(|e| !matches!(e.value, EnvValue::Dependency));
    env
}

/// NST0122: `env` with a credential's name and a literal value. The message never
/// repeats the value (it would end up in CI logs).
pub(super) fn plain_text_secret(
    n: &Node,
    name: &str,
    value_span: Span,
    service: &str,
) -> Diagnostic {
    let quoted = n
        .arg(0)
        .map_or_else(|| format!("{name:?}"), |e| e.raw.clone());
    Diagnostic::warning(
        Code::PlainTextSecret,
        format!("`{}` looks like a credential, and its value is written in plain text", name.escape_debug()),
    )
    .with_label(value_span, "in plain text in values.yaml and every manifest")
    .with_secondary(n.ident_span(), "a credential's name (NST0122 says which names are)")
    .with_help(format!(
        "keep the value in a Kubernetes Secret and read it: `env-secret {quoted} secret=\"{service}\" key=\"{}\"`",
        names::secret_key_for(name)
    ))
}
