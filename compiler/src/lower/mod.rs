//! Stage 2: syntax trees -> [`Model`]. Checks structure against the language table,
//! merges templates into services (`uses`), applies defaults and parses every value
//! into its type.

pub mod allow;
pub mod build;
mod checks;
pub(crate) use checks::check_label_value;
mod env;
pub mod expand;
pub mod image;
pub mod logging;
pub mod names;
mod network;
pub mod pod;
mod project;
mod read;
mod rollout;
mod service;
mod slo;
pub mod structure;
mod workload;

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::model::{Model, Service};
use crate::source::{Origin, SourceMap, Span};
use crate::suggest;
use crate::syntax::{Document, Node};

use self::expand::{Merged, Templates};
use self::project::lower_project;
use self::service::lower_service;
// Used by the later stages: the graph and the checks report an unknown port and an
// invalid host as lowering does.
pub use self::checks::valid_host;
pub use self::network::unknown_port;

/// Prefix that names a standard-library template explicitly.
pub const STD_PREFIX: &str = "std/";

/// Everything lowering needs from the syntax trees, gathered once.
struct Collected<'a> {
    project: &'a Node,
    services: Vec<&'a Node>,
    templates: Templates<'a>,
    defaults: Option<&'a Node>,
    /// environment -> service -> the override node
    overrides: BTreeMap<String, BTreeMap<String, &'a Node>>,
}

/// Checks structure and gathers the project, services, templates, defaults and
/// environment overrides. `None` when there is no usable `project` node.
fn collect<'a>(
    docs: &'a [Document],
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> Option<Collected<'a>> {
    let mut projects: Vec<&Node> = Vec::new();
    let mut services: Vec<&Node> = Vec::new();
    let mut templates = Templates::default();
    // The structure of every file is checked on every thread.
    diags.par_each(docs, |doc, local| {
        for node in doc.nodes.iter() {
            structure::check_top(node, local);
            expand::check_param_refs(node, local);
        }
    });
    for doc in docs {
        let origin = sources.get(doc.source).origin;
        for node in doc.nodes.iter() {
            match (node.name.as_str(), origin) {
                ("project", Origin::Project) => projects.push(node),
                ("service", Origin::Project) => services.push(node),
                ("template", _) => {
                    let Some(name) = node.name_arg() else {
                        continue;
                    };
                    let table = match origin {
                        Origin::Stdlib => &mut templates.stdlib,
                        _ => &mut templates.project,
                    };
                    if let Some(first) = table.get(name) {
                        diags.push(duplicate("template", name, node, first));
                    } else {
                        table.insert(name, node);
                    }
                }
                _ => {}
            }
        }
    }

    let project = match projects.as_slice() {
        [] if docs
            .iter()
            .all(|d| sources.get(d.source).name != "nestio.kdl")
            && sources.find("nestio.kdl").is_some() =>
        {
            // nestio.kdl did not parse: its syntax errors are the whole story.
            return None;
        }
        // No nestio.kdl at all: discovery reported it (NST0003, "no nestio.kdl in ..."),
        // which says all there is to say.
        [] if sources.find("nestio.kdl").is_none() => return None,
        [] => {
            let mut d = Diagnostic::error(Code::MissingProject, "no `project` node in the project")
                .with_help(
                    "declare the project in nestio.kdl: `project \"shop\" { namespace \"shop\" }`",
                );
            if let Some(id) = sources.find("nestio.kdl") {
                d = d.with_label(
                    Span::file_start(id),
                    "expected `project \"NAME\" { ... }` here",
                );
            }
            diags.push(d);
            return None;
        }
        [one, rest @ ..] => {
            for extra in rest {
                diags.push(
                    Diagnostic::error(Code::MissingProject, "more than one `project` node")
                        .with_label(extra.name_span, "another project here")
                        .with_secondary(one.name_span, "the project is declared here")
                        .with_help("a project has exactly one `project` node, in nestio.kdl"),
                );
            }
            *one
        }
    };
    let mut overrides: BTreeMap<String, BTreeMap<String, &Node>> = BTreeMap::new();
    for env in project.children.iter().filter(|c| c.name == "environment") {
        let Some(env_name) = env.name_arg() else {
            continue;
        };
        for o in env.children.iter().filter(|c| c.name == "service") {
            if let Some(name) = o.name_arg() {
                overrides
                    .entry(env_name.to_owned())
                    .or_default()
                    .entry(name.to_owned())
                    .or_insert(o);
            }
        }
    }
    Some(Collected {
        project,
        services,
        templates,
        defaults: project.children.iter().find(|c| c.name == "defaults"),
        overrides,
    })
}

/// Lowers all documents of a project into the model. Returns `None` when there is no
/// usable `project` node; other problems leave the model partial and reported.
pub fn lower(docs: &[Document], sources: &SourceMap, diags: &mut Diagnostics) -> Option<Model> {
    let c = collect(docs, sources, diags)?;
    let project = lower_project(c.project, diags)?;
    let mut by_name: BTreeMap<String, Box<Service>> = BTreeMap::new();
    let mut first_span: BTreeMap<String, &Node> = BTreeMap::new();
    let mut nodes: BTreeMap<String, &Node> = BTreeMap::new();
    let mut unique: Vec<&Node> = Vec::new();
    for node in &c.services {
        let Some(name) = node.name_arg() else {
            continue;
        };
        if let Some(first) = first_span.get(name) {
            diags.push(duplicate("service", name, node, first));
            continue;
        }
        first_span.insert(name.to_owned(), node);
        nodes.insert(name.to_owned(), node);
        unique.push(node);
    }
    // Each service lowers on its own (the project, templates and defaults are shared and
    // read-only), on every thread; results and diagnostics are taken in source order, so
    // nothing depends on the number of threads.
    let lowered: Vec<(Option<Box<Service>>, Diagnostics)> = unique
        .par_iter()
        .map(|node| {
            let mut local = Diagnostics::new();
            let service =
                lower_service(node, &project, &c, None, &mut local).map(|(s, _)| Box::new(s));
            (service, local)
        })
        .collect();
    for (service, local) in lowered {
        diags.extend(local);
        if let Some(service) = service {
            by_name.insert(service.name.clone(), service);
        }
    }
    let mut env_services: BTreeMap<String, BTreeMap<String, Service>> = BTreeMap::new();
    let names: Vec<&str> = nodes.keys().map(String::as_str).collect();
    for (env, services) in &c.overrides {
        for (name, o) in services {
            let Some(node) = nodes.get(name) else {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownService,
                        format!("environment `{env}` overrides unknown service `{name}`"),
                    )
                    .with_label(o.ident_span(), "no service with this name")
                    .with_help(suggest::help_for(
                        name,
                        names.iter().copied(),
                        "service",
                    )),
                );
                continue;
            };
            if let Some((service, _)) = lower_service(node, &project, &c, Some((env, o)), diags) {
                env_services
                    .entry(env.clone())
                    .or_default()
                    .insert(name.clone(), service);
            }
        }
    }
    Some(Model {
        project,
        services: by_name,
        env_services,
    })
}

/// How a service's entries came to be: every merged child with the layers that set it.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub service: Service,
    pub merged: Vec<Merged>,
}

/// The provenance of one service, in one environment or in the base values.
pub fn provenance(
    docs: &[Document],
    sources: &SourceMap,
    service: &str,
    env: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Provenance> {
    let c = collect(docs, sources, diags)?;
    let project = lower_project(c.project, diags)?;
    let node = c.services.iter().find(|n| n.name_arg() == Some(service))?;
    let over = env.and_then(|e| {
        c.overrides
            .get(e)
            .and_then(|m| m.get(service))
            .map(|o| (e, *o))
    });
    let (service, merged) = lower_service(node, &project, &c, over, diags)?;
    Some(Provenance { service, merged })
}

fn duplicate(what: &str, name: &str, again: &Node, first: &Node) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateName,
        format!("{what} `{name}` is declared more than once"),
    )
    .with_label(again.ident_span(), "declared again here")
    .with_secondary(first.ident_span(), "first declared here")
    .with_help(format!(
        "{what} names are unique across the project; rename or remove one"
    ))
}
