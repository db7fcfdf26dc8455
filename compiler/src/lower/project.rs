//! The `project` node: registry, namespace, mesh, CI, CD, branching, logging and the
//! environments.

use rust_decimal::Decimal;

use super::checks::{check_repo_path, check_repo_url};
use super::names;
use super::read::{arg_str, child, prop_str, spanned_str, str_of};
use super::{image, logging};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::model::{Branching, Cd, CiSystem, Environment, LogSystem, Logging, Mesh, Project};
use crate::syntax::{Node, Value};

pub(super) fn lower_project(node: &Node, diags: &mut Diagnostics) -> Option<Project> {
    let name = arg_str(node, 0)?;
    if names::check_dns_label(&name, "project").is_err() {
        return None;
    }
    let kids = &node.children;
    let registry = child(kids, "registry").and_then(|n| {
        let e = n.arg(0)?;
        let r = str_of(e)?.trim_end_matches('/').to_owned();
        // A prefix of image names: `REGISTRY/NAME` must be a name of the reference grammar.
        match image::check_registry(&r).at(e.value_span) {
            Ok(()) => Some(r),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    });
    let namespace = child(kids, "namespace")
        .and_then(|n| arg_str(n, 0))
        .unwrap_or_else(|| name.clone());
    let mesh_node = child(kids, "mesh");
    let mesh = match mesh_node.and_then(|n| arg_str(n, 0)).as_deref() {
        Some("istio") => Mesh::Istio,
        Some("linkerd") => Mesh::Linkerd,
        _ => Mesh::None,
    };
    let mut ci: Vec<CiSystem> = kids
        .iter()
        .filter(|n| n.name == "ci")
        .flat_map(|n| n.args().filter_map(str_of).collect::<Vec<_>>())
        .filter_map(|s| CiSystem::parse(&s))
        .collect();
    ci.sort();
    ci.dedup();
    let ci_nestioc_source = kids
        .iter()
        .filter(|n| n.name == "ci")
        .find_map(|n| n.prop("nestioc-source"))
        .and_then(|e| {
            let s = str_of(e)?;
            let s = s.trim_end_matches('/');
            if s == "." {
                return Some(".".to_owned());
            }
            match check_repo_path(s).at(e.value_span) {
                Ok(()) => Some(s.to_owned()),
                Err(d) => {
                    diags.push(d);
                    None
                }
            }
        });
    let cd_node = child(kids, "cd");
    // An unknown system is reported by the structural check.
    let cd = cd_node
        .and_then(|n| arg_str(n, 0))
        .and_then(|s| Cd::parse(&s))
        .unwrap_or(Cd::None);
    let mut cd_repository = cd_node.and_then(|n| spanned_str(n, "repository"));
    if let Some(r) = &cd_repository {
        if let Err(d) = check_repo_url(&r.value).at(r.span) {
            diags.push(d);
        }
    } else if cd != Cd::None
        && let Some(n) = cd_node
    {
        // The contract's own example writes `cd "argocd"` alone, so this is no error: the
        // objects point at a URL under `.invalid` (RFC 2606: it never resolves), which
        // the CD system reports as an unreachable repository on the first sync, instead
        // of a guess that could name somebody else's repository.
        let placeholder = unset_repository(&name);
        diags.push(
            Diagnostic::warning(Code::UnsetRepository, format!("`cd \"{cd}\"` does not say which repository it deploys from"))
                .with_label(n.head_span(), "no `repository=`")
                .with_help(format!("`cd \"{cd}\" repository=\"https://github.com/acme/{name}.git\"`: the repository holding the generated files"))
                .with_note(format!("until then the generated objects name `{placeholder}`, which never resolves: {cd} cannot sync them")),
        );
        cd_repository = Some(crate::model::Spanned {
            value: placeholder,
            span: n.head_span(),
        });
    }
    let cd_revision = cd_node
        .and_then(|n| prop_str(n, "revision"))
        .unwrap_or_else(|| "main".into());
    let cd_path = cd_node
        .and_then(|n| prop_str(n, "path"))
        .unwrap_or_else(|| "generated".into());
    for (key, value) in [("revision", &cd_revision), ("path", &cd_path)] {
        if let Some(e) = cd_node.and_then(|n| n.prop(key)) {
            let ok = !value.is_empty()
                && !value.starts_with('/')
                && value.split('/').all(|c| c != "..")
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
            if !ok {
                diags.push(
                    Diagnostic::error(Code::InvalidName, format!("invalid {key} `{value}`"))
                        .with_label(e.value_span, format!("not a valid {key}"))
                        .with_help(
                            "letters, digits, `-`, `_`, `.` and `/`, relative, without `..`",
                        ),
                );
            }
        }
    }
    let logging = child(kids, "logging").and_then(|n| {
        // `None` for `none`, and for a name the structural check has reported.
        let system = LogSystem::parse(&arg_str(n, 0)?);
        let elasticsearch = logging::lower_elasticsearch(n, diags);
        let retention = logging::lower_retention(n, diags);
        let es_node = n.children.iter().find(|c| c.name == "elasticsearch");
        Some(Logging {
            system: system?,
            elasticsearch,
            es_credentials: es_node.and_then(|e| prop_str(e, "credentials")),
            es_ca: es_node.and_then(|e| prop_str(e, "ca")),
            retention,
            span: n.ident_span(),
        })
    });
    let mut environments = Vec::new();
    for env in kids.iter().filter(|n| n.name == "environment") {
        let Some(env_name) = arg_str(env, 0) else {
            continue;
        };
        if names::check_dns_label(&env_name, "environment").is_err()
            || environments
                .iter()
                .any(|e: &Environment| e.name == env_name)
        {
            continue;
        }
        let scale = match child(&env.children, "replicas-scale").and_then(|n| n.arg(0)) {
            Some(e) => match e.raw.parse::<Decimal>() {
                Ok(d) if d > Decimal::ZERO && d <= Decimal::from(100) => d,
                _ => {
                    if matches!(e.value, Value::Integer(_) | Value::Float(_)) {
                        diags.push(
                            Diagnostic::error(
                                Code::OutOfRange,
                                format!(
                                    "`replicas-scale` of `{env_name}` is out of range: {}",
                                    e.raw
                                ),
                            )
                            .with_label(e.value_span, "must be above 0 and at most 100")
                            .with_help("use a factor such as 0.5 (half the replicas) or 2"),
                        );
                    }
                    Decimal::ONE
                }
            },
            None => Decimal::ONE,
        };
        let auto_sync = match child(&env.children, "sync")
            .and_then(|n| arg_str(n, 0))
            .as_deref()
        {
            Some("auto") => true,
            Some("manual") => false,
            _ => !matches!(env_name.as_str(), "prod" | "production" | "prd"),
        };
        environments.push(Environment {
            auto_sync,
            namespace: child(&env.children, "namespace")
                .and_then(|n| arg_str(n, 0))
                .unwrap_or_else(|| namespace.clone()),
            name: env_name,
            span: env.ident_span(),
            replicas_scale: scale,
        });
    }
    let branching = child(kids, "branching")
        .and_then(|n| arg_str(n, 0))
        .and_then(|s| Branching::parse(&s))
        .unwrap_or(Branching::Trunk);
    let review = child(kids, "review")
        .and_then(|n| n.arg(0))
        .is_some_and(|e| e.value == Value::Bool(true));
    // Unknown forms are reported by the structure check against `lang::RULE_FORMS`.
    let rules = match child(kids, "prometheus")
        .and_then(|n| arg_str(n, 0))
        .as_deref()
    {
        Some("files") => crate::model::RulesForm::Files,
        _ => crate::model::RulesForm::Operator,
    };
    Some(Project {
        branching,
        review,
        name,
        span: node.ident_span(),
        source: node.span.source,
        registry,
        namespace,
        mesh,
        mesh_span: mesh_node.and_then(|n| n.arg(0)).map(|e| e.value_span),
        mesh_unknown: mesh_node
            .and_then(|n| arg_str(n, 0))
            .is_some_and(|m| !crate::lang::MESHES.contains(&m.as_str())),
        ci,
        ci_nestioc_source,
        cd,
        cd_repository,
        cd_revision,
        cd_path,
        logging,
        rules,
        environments,
    })
}

/// The repository URL the CD objects name when the project does not set one: under the
/// `.invalid` top-level domain, reserved never to resolve (RFC 2606 section 2).
fn unset_repository(project: &str) -> String {
    format!("https://repository.invalid/{project}.git")
}
