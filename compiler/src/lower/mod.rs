//! Stage 2: syntax trees -> [`Model`]. Checks structure against the language table,
//! merges templates into services (`uses`), applies defaults and parses every value
//! into its type.

pub mod allow;
pub mod build;
pub mod expand;
pub mod image;
pub mod logging;
pub mod names;
pub mod pod;
pub mod structure;

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use self::names::check_service_name;
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::lang;
use crate::model::values::{self, Duration, Percent, Quantity};
use crate::model::{
    Branching, Cd, CiSystem, CircuitBreaker, CustomSli, Dependency, EnvValue, EnvVar, Environment,
    Expose, External, Image, LogSystem, Logging, Mesh, Model, Port, Project, Protocol, Publish,
    Replicas, Resources, Rollout, RolloutKind, Schedule, Service, Slo, SloKind, Spanned, Step,
    Volume,
};
use crate::source::{Origin, SourceMap, Span};
use crate::suggest;
use crate::syntax::{Document, Entry, Node, Value};

use self::expand::{Expander, Merged, Templates};

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
    for doc in docs {
        let origin = sources.get(doc.source).origin;
        for node in doc.nodes.iter() {
            structure::check_top(node, diags);
            expand::check_param_refs(node, diags);
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
    let mut by_name: BTreeMap<String, Service> = BTreeMap::new();
    let mut first_span: BTreeMap<String, &Node> = BTreeMap::new();
    let mut nodes: BTreeMap<String, &Node> = BTreeMap::new();
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
        if let Some((service, _)) = lower_service(node, &project, &c, None, diags) {
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

// ----------------------------------------------------------------------------- readers

fn child<'a>(children: &'a [Node], name: &str) -> Option<&'a Node> {
    children.iter().find(|c| c.name == name)
}

fn str_of(e: &Entry) -> Option<String> {
    e.value.as_str().map(str::to_owned)
}

fn arg_str(node: &Node, i: usize) -> Option<String> {
    node.arg(i).and_then(str_of)
}

fn prop_str(node: &Node, key: &str) -> Option<String> {
    node.prop(key).and_then(str_of)
}

fn int_of(e: &Entry) -> Option<i128> {
    match e.value {
        Value::Integer(n) => Some(n),
        _ => None,
    }
}

fn prop_u32(node: &Node, key: &str) -> Option<u32> {
    node.prop(key)
        .and_then(int_of)
        .and_then(|n| u32::try_from(n).ok())
}

fn prop_bool(node: &Node, key: &str) -> Option<bool> {
    node.prop(key).and_then(|e| match e.value {
        Value::Bool(b) => Some(b),
        _ => None,
    })
}

fn duration_of(e: &Entry) -> Option<Duration> {
    e.value.as_str().and_then(|s| Duration::parse(s).ok())
}

fn prop_duration(node: &Node, key: &str) -> Option<Spanned<Duration>> {
    node.prop(key)
        .and_then(|e| duration_of(e).map(|d| Spanned::new(d, e.value_span)))
}

fn percent_of(e: &Entry) -> Option<Percent> {
    match e.value {
        Value::String(_) | Value::Integer(_) | Value::Float(_) => Percent::parse(&e.raw).ok(),
        _ => None,
    }
}

fn quantity_of(e: &Entry) -> Option<Quantity> {
    match e.value {
        Value::String(_) | Value::Integer(_) | Value::Float(_) => {
            Quantity::parse(e.raw.trim_matches('"')).ok()
        }
        _ => None,
    }
}

fn spanned_str(node: &Node, key: &str) -> Option<Spanned<String>> {
    node.prop(key)
        .and_then(|e| str_of(e).map(|s| Spanned::new(s, e.value_span)))
}

// ----------------------------------------------------------------------------- project

fn lower_project(node: &Node, diags: &mut Diagnostics) -> Option<Project> {
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
    let cd_repository = cd_node.and_then(|n| spanned_str(n, "repository"));
    if let Some(r) = &cd_repository {
        if let Err(d) = check_repo_url(&r.value).at(r.span) {
            diags.push(d);
        }
    } else if cd != Cd::None
        && let Some(n) = cd_node
    {
        diags.push(
            Diagnostic::error(Code::MissingValue, format!("`cd \"{cd}\"` needs the repository it deploys from"))
                .with_label(n.head_span(), "missing `repository=`")
                .with_help(format!("`cd \"{cd}\" repository=\"https://github.com/acme/shop.git\"`: the repository holding the generated files")),
        );
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
        ci,
        ci_nestioc_source,
        cd,
        cd_repository,
        cd_revision,
        cd_path,
        logging,
        environments,
    })
}

// ----------------------------------------------------------------------------- services

fn lower_service(
    node: &Node,
    project: &Project,
    c: &Collected<'_>,
    env: Option<(&str, &Node)>,
    diags: &mut Diagnostics,
) -> Option<(Service, Vec<Merged>)> {
    let name_entry = node.arg(0)?;
    let name = str_of(name_entry)?;
    if let Err(d) = check_service_name(&name).at(name_entry.value_span) {
        // `check_top` already reported names that are not DNS-1123 labels.
        if names::check_dns_label(&name, "service").is_ok() {
            diags.push(d);
        }
        return None;
    }
    let implicit = expand::implicit_values(&name, name_entry.value_span);
    let defaults = c.defaults.map(|d| expand::substitute(d, &implicit));
    let mut expander = Expander::new(&c.templates, implicit, diags);
    let mut merged = match &defaults {
        Some(d) => expander.body(d, "defaults"),
        None => Vec::new(),
    };
    let own = expander.body(node, "service");
    expand::merge_into(&mut merged, own);
    if let Some((env_name, o)) = env {
        let over = expander.body(o, &format!("environment `{env_name}`"));
        expand::merge_into(&mut merged, over);
    }
    let uses = std::mem::take(&mut expander.used);
    let incomplete = expander.incomplete;
    let kids_owned: Vec<Node> = merged.iter().map(|m| m.node.clone()).collect();
    let kids = kids_owned.as_slice();
    let replicas_fixed = env.is_some_and(|(_, o)| o.children.iter().any(|c| c.name == "replicas"));

    // Whether the project builds the image decides whether its registry is prefixed.
    let builds = ["language", "source", "dockerfile"]
        .iter()
        .any(|k| child(kids, k).is_some());
    let image = lower_image(&name, node, kids, project, builds, diags);
    let replicas = lower_replicas(node, kids, diags);
    let resources = lower_resources(kids, diags);
    let mut ports = lower_ports(kids, diags);
    let env = lower_env(kids, &name, diags);
    let depends_on = kids
        .iter()
        .filter(|c| c.name == "depends-on")
        .filter_map(lower_dependency)
        .collect();
    let externals = kids
        .iter()
        .filter(|c| c.name == "external")
        .filter_map(|n| {
            let host_entry = n.prop("host")?;
            let host = str_of(host_entry)?;
            if let Err(d) = check_host(&host).at(host_entry.value_span) {
                diags.push(d);
                return None;
            }
            Some(External {
                name: arg_str(n, 0)?,
                host,
                port: n
                    .prop("port")
                    .and_then(int_of)
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(443),
                protocol: prop_str(n, "protocol").unwrap_or_else(|| "https".into()),
                span: n.ident_span(),
            })
        })
        .collect();
    let slos = kids
        .iter()
        .filter(|c| c.name == "slo")
        .filter_map(|n| lower_slo(n, diags))
        .collect();
    let rollout = lower_rollout(child(kids, "rollout"), diags);
    let (expose, publish) = child(kids, "expose").map_or((None, None), |n| lower_expose(n, diags));
    let args = lower_args(kids, diags);
    let command = pod::lower_command(kids, diags);
    let volumes = lower_volumes(kids, diags);
    let (sidecars, init_containers) =
        pod::lower_containers(&name, kids, project, &volumes, &mut ports, diags);
    let probes = pod::lower_probes(&name, kids, &ports, None, diags);
    let security = pod::lower_security(&name, kids, true, diags);
    let pod_annotations = pod::lower_metadata(kids, lang::ANNOTATION.name, diags);
    let pod_labels = pod::lower_metadata(kids, lang::LABEL.name, diags);
    let service_annotations = pod::lower_metadata(kids, lang::SERVICE_ANNOTATION.name, diags);
    let schedule = child(kids, "schedule").and_then(|n| lower_schedule(n, diags));
    let logs = logging::lower_logs(child(kids, "logs"), diags);
    check_conflicts(
        &name,
        kids,
        &ports,
        &replicas,
        &volumes,
        schedule.as_ref(),
        expose
            .as_ref()
            .map(|e| e.span)
            .or(publish.as_ref().map(|p| p.span)),
        &rollout,
        diags,
    );
    let owner = child(kids, "owner").and_then(|n| {
        let e = n.arg(0)?;
        let s = str_of(e)?;
        match check_label_value(&s).at(e.value_span) {
            Ok(()) => Some(s),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    });
    let dockerfile = build::lower_dockerfile(kids, diags);
    let build = build::lower_build(kids, diags);
    build::check_build(&name, kids, dockerfile.as_ref(), build.as_ref(), diags);
    let source_path = child(kids, "source").and_then(|n| {
        let e = n.arg(0)?;
        let s = str_of(e)?;
        match check_repo_path(&s).at(e.value_span) {
            Ok(()) => Some(s.trim_end_matches('/').to_owned()),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    });
    check_image_data(&name, &image, &env, &volumes, diags);
    let language = child(kids, "language").and_then(|n| arg_str(n, 0));
    if let (Some(l), None) = (&language, &dockerfile)
        && let Some(d) = build::unverified_dockerfile(
            &name,
            name_entry.value_span,
            l,
            child(kids, "language").map(Node::head_span),
            build.as_ref(),
            source_path.as_deref(),
        )
    {
        diags.push(d);
    }
    Some((
        Service {
            name,
            name_span: name_entry.value_span,
            span: node.span,
            source: node.span.source,
            uses,
            incomplete,
            owner,
            tier: child(kids, "tier").and_then(|n| {
                let e = n.arg(0)?;
                let t = u8::try_from(int_of(e)?)
                    .ok()
                    .filter(|t| (1..=3).contains(t))?;
                Some(Spanned::new(t, e.value_span))
            }),
            image,
            language,
            source_path,
            replicas,
            resources,
            ports,
            probes,
            env,
            depends_on,
            externals,
            slos,
            rollout,
            logs_format: logs.format,
            logs_pattern: logs.pattern,
            logs_multiline_start: logs.multiline_start,
            expose,
            publish,
            args,
            command,
            security,
            pod_annotations,
            pod_labels,
            service_annotations,
            sidecars,
            init_containers,
            ci_test: child(kids, "ci")
                .and_then(|c| child(&c.children, "test"))
                .and_then(|t| {
                    let e = t.arg(0)?;
                    let command = str_of(e)?;
                    match check_command(&command).at(e.value_span) {
                        Ok(()) => Some(command),
                        Err(d) => {
                            diags.push(d);
                            None
                        }
                    }
                }),
            volumes,
            schedule,
            dockerfile,
            build,
        }
        .with_fixed_replicas(replicas_fixed),
        merged,
    ))
}

/// `args`: free text, carried exactly into YAML.
fn lower_args(kids: &[Node], diags: &mut Diagnostics) -> Vec<String> {
    child(kids, "args")
        .map(|n| {
            n.args()
                .filter_map(|e| {
                    let s = str_of(e)?;
                    match check_free_text(&s, "container argument").at(e.value_span) {
                        Ok(()) => Some(s),
                        Err(d) => {
                            diags.push(d);
                            None
                        }
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `image "NAME[:TAG][@DIGEST]" [tag=] [digest=]`: the reference split by
/// [`image::parse_reference`], the tag and digest given at most once each, the repository
/// resolved by [`image::resolve`].
fn lower_image(
    service: &str,
    node: &Node,
    kids: &[Node],
    project: &Project,
    builds: bool,
    diags: &mut Diagnostics,
) -> Image {
    let image_node = child(kids, "image");
    let (written, span) = image_node
        .and_then(|n| n.arg(0).and_then(|e| str_of(e).map(|s| (s, e.value_span))))
        .unwrap_or_else(|| (service.to_owned(), node.ident_span()));
    let mut valid = true;
    let reference = match image::parse_reference(&written).at(span) {
        Ok(r) => r,
        Err(d) => {
            diags.push(d);
            valid = false;
            image::Reference {
                domain: None,
                path: written.clone(),
                tag: None,
                digest: None,
            }
        }
    };
    let name = reference.name();
    let resolved = image::resolve(&name, project.registry.as_deref(), builds);
    // `tag=` / `digest=`, checked like the reference's own, and refused (NST0120) when
    // the reference already has one: two places for one value disagree sooner or later.
    let mut property = |key: &str,
                        check: fn(&str) -> Result<(), crate::diag::Problem>,
                        in_ref: Option<&String>|
     -> Option<String> {
        let e = image_node?.prop(key)?;
        let s = str_of(e)?;
        if let Err(d) = check(&s).at(e.value_span) {
            diags.push(d);
            valid = false;
            return None;
        }
        if let Some(r) = in_ref {
            diags.push(
                Diagnostic::error(
                    Code::ImageReferenceConflict,
                    format!("the image's {key} is given twice: `{r}` in the reference and `{s}` as `{key}=`"),
                )
                .with_label(e.value_span, format!("a second {key}"))
                .with_secondary(span, format!("the reference has the {key} `{r}`"))
                .with_help(format!(
                    "give it once: `image \"{name}{}{r}\"` or `image \"{name}\" {key}=\"{r}\"`",
                    if key == "tag" { ":" } else { "@" }
                )),
            );
            valid = false;
            return None;
        }
        Some(s)
    };
    let tag_prop = property("tag", image::check_tag, reference.tag.as_ref());
    let digest_prop = property("digest", image::check_digest, reference.digest.as_ref());
    let tag = reference.tag.clone().or(tag_prop);
    let digest = reference.digest.clone().or(digest_prop);
    // A tag written with the wrong type, or as a second argument, is reported as such.
    let attempted = image_node.is_some_and(|n| n.entries.len() > 1);
    if valid && !attempted && tag.is_none() && digest.is_none() {
        let at = image_node.map_or(node.ident_span(), Node::head_span);
        if builds || image_node.is_none() {
            // The project's own image: CI pushes it tagged, and a deployment must say
            // which build it runs.
            diags.push(
                Diagnostic::error(
                    Code::MissingValue,
                    format!("service `{service}` has no image tag"),
                )
                .with_label(at, "no tag or digest")
                .with_help(format!(
                    "pin the image, e.g. `image \"{name}:1.0.0\"` or `image \"{name}\" tag=\"1.0.0\"`; a floating `latest` makes deployments unreproducible"
                )),
            );
        } else {
            // A third-party image: the container runtime pulls `latest` (normalize.go
            // `TagNameOnly`), which works, and moves.
            diags.push(
                Diagnostic::warning(
                    Code::UnpinnedImage,
                    format!("image `{name}` has no tag: it pulls `{name}:latest`"),
                )
                .with_label(span, "no tag or digest: `latest`")
                .with_help(format!(
                    "pin a version, e.g. `image \"{name}:VERSION\"`, or a digest, `image \"{name}@sha256:...\"`, so that every pod runs the same image and a rollback rolls back"
                )),
            );
        }
    }
    if valid && tag.as_deref() == Some("latest") {
        let at = image_node
            .and_then(|n| n.prop("tag"))
            .map_or(span, |e| e.value_span);
        diags.push(
            Diagnostic::warning(Code::UnpinnedImage, "image tag `latest` is not pinned")
                .with_label(at, "floating tag")
                .with_help(
                    "use an immutable version tag or a digest, so that every pod runs the same image and a rollback rolls back",
                ),
        );
    }
    Image {
        repository: resolved.repository,
        written: name,
        rule: resolved.rule,
        tag,
        digest,
        span,
    }
}

fn lower_replicas(node: &Node, kids: &[Node], diags: &mut Diagnostics) -> Replicas {
    let Some(n) = child(kids, "replicas") else {
        return Replicas {
            min: 1,
            max: None,
            cpu_target: 80,
            fixed: false,
            scale: None,
            span: node.ident_span(),
        };
    };
    let min = n
        .arg(0)
        .and_then(int_of)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(1);
    let mut max = prop_u32(n, "max");
    if let (Some(m), Some(e)) = (max, n.prop("max"))
        && m < min
    {
        diags.push(
            Diagnostic::error(
                Code::OutOfRange,
                format!("`max` ({m}) is below the replica count ({min})"),
            )
            .with_label(e.value_span, format!("must be at least {min}"))
            .with_help("`replicas N max=M` autoscales from N to M replicas; M must be at least N"),
        );
        max = None;
    }
    Replicas {
        min,
        max: max.filter(|m| *m > min),
        cpu_target: prop_u32(n, "cpu-target").unwrap_or(80),
        fixed: false,
        scale: n.prop("scale").and_then(|e| match e.value {
            Value::Bool(b) => Some(Spanned::new(b, e.span)),
            _ => None,
        }),
        span: n.head_span(),
    }
}

fn lower_resources(kids: &[Node], diags: &mut Diagnostics) -> Resources {
    let n = child(kids, "resources");
    let get = |key: &str| {
        n.and_then(|n| n.prop(key))
            .and_then(|e| quantity_of(e).map(|q| (q, e.value_span)))
    };
    let mut check_unit = |q: &Option<(Quantity, Span)>, memory: bool| {
        let Some((q, span)) = q else { return };
        if memory && q.suffix == "m" {
            diags.push(
                Diagnostic::error(
                    Code::InvalidQuantity,
                    format!("memory `{}` is in millibytes", q.text),
                )
                .with_label(*span, "`m` means one thousandth of a byte")
                .with_help(format!("did you mean `{}Mi`?", &q.text[..q.text.len() - 1])),
            );
        } else if !memory && q.suffix.ends_with('i') {
            diags.push(
                Diagnostic::error(
                    Code::InvalidQuantity,
                    format!("CPU `{}` uses a memory unit", q.text),
                )
                .with_label(*span, "binary suffixes are for bytes")
                .with_help("CPU is counted in cores: \"500m\" is half a core, \"2\" is two"),
            );
        }
    };
    let cpu = get("cpu");
    let memory = get("memory");
    let cpu_limit = get("cpu-limit");
    let memory_limit = get("memory-limit");
    check_unit(&cpu, false);
    check_unit(&cpu_limit, false);
    check_unit(&memory, true);
    check_unit(&memory_limit, true);
    let default = |text: &str| {
        Quantity::parse(text).unwrap_or(Quantity {
            text: text.into(),
            value: Decimal::ZERO,
            suffix: String::new(),
        })
    };
    let cpu_q = cpu
        .as_ref()
        .map_or_else(|| default("100m"), |(q, _)| q.clone());
    let mem_q = memory
        .as_ref()
        .map_or_else(|| default("128Mi"), |(q, _)| q.clone());
    let mut limit = |l: Option<(Quantity, Span)>, request: &Quantity, what: &str| match l {
        Some((q, span)) => {
            if q.value < request.value {
                diags.push(
                    Diagnostic::error(
                        Code::LimitBelowRequest,
                        format!("{what} limit `{}` is below the request `{}`", q.text, request.text),
                    )
                    .with_label(span, "limit below request")
                    .with_help(format!("Kubernetes rejects a limit below the request; raise the limit to at least `{}`", request.text)),
                );
            }
            q
        }
        None => request.times(2),
    };
    let cpu_limit = limit(cpu_limit, &cpu_q, "CPU");
    let memory_limit = limit(memory_limit, &mem_q, "memory");
    Resources {
        cpu: cpu_q,
        memory: mem_q,
        cpu_limit,
        memory_limit,
    }
}

fn lower_ports(kids: &[Node], diags: &mut Diagnostics) -> Vec<Port> {
    let mut ports: Vec<Port> = Vec::new();
    for n in kids.iter().filter(|c| c.name == "port") {
        let (Some(name), Some(port_entry)) = (arg_str(n, 0), n.arg(1)) else {
            continue;
        };
        if names::check_port_name(&name).is_err() {
            continue;
        }
        let Some(port) = int_of(port_entry)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
        else {
            continue;
        };
        let target = n
            .prop("target")
            .and_then(int_of)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .unwrap_or(port);
        if let Some(other) = ports.iter().find(|p| p.port == port) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("port {port} is declared twice"),
                )
                .with_label(port_entry.value_span, "declared again here")
                .with_secondary(other.span, format!("already used by `{}`", other.name))
                .with_help("each port number can be used once per service"),
            );
            continue;
        }
        if let Some(other) = ports.iter().find(|p| p.target == target) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("container port {target} is the target of two ports"),
                )
                .with_label(n.head_span(), format!("targets {target}"))
                .with_secondary(other.span, format!("`{}` targets it too", other.name))
                .with_help("give each port its own container port with `target=`"),
            );
            continue;
        }
        let protocol = match prop_str(n, "protocol").as_deref() {
            Some("grpc") => Protocol::Grpc,
            Some("tcp") => Protocol::Tcp,
            _ => Protocol::Http,
        };
        ports.push(Port {
            name,
            port,
            target,
            protocol,
            sidecar: None,
            span: n.ident_span(),
        });
    }
    ports
}

/// A diagnostic for a port name that the service does not declare.
#[must_use]
pub fn unknown_port(service: &str, name: &str, span: Span, ports: &[Port]) -> Diagnostic {
    Diagnostic::error(
        Code::UnknownPort,
        format!("service `{service}` has no port `{name}`"),
    )
    .with_label(span, "no port with this name")
    .with_help(if ports.is_empty() {
        format!("`{service}` declares no ports (it is a worker)")
    } else {
        suggest::help_for(name, ports.iter().map(|p| p.name.as_str()), "port")
    })
}

fn lower_env(kids: &[Node], service: &str, diags: &mut Diagnostics) -> Vec<EnvVar> {
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
fn plain_text_secret(n: &Node, name: &str, value_span: Span, service: &str) -> Diagnostic {
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

fn lower_dependency(n: &Node) -> Option<Dependency> {
    let target_entry = n.arg(0)?;
    let target = str_of(target_entry)?;
    if names::check_dns_label(&target, "service").is_err() {
        return None;
    }
    let circuit_breaker = child(&n.children, "circuit-breaker").map(|cb| CircuitBreaker {
        consecutive_errors: prop_u32(cb, "consecutive-errors").unwrap_or(5),
        interval: prop_duration(cb, "interval").map_or(Duration::from_millis(10_000), |d| d.value),
        ejection: prop_duration(cb, "ejection").map_or(Duration::from_millis(30_000), |d| d.value),
        max_ejection: cb
            .prop("max-ejection")
            .and_then(percent_of)
            .unwrap_or(Percent(Decimal::from(50))),
        max_connections: prop_u32(cb, "max-connections"),
        max_pending: prop_u32(cb, "max-pending"),
        max_requests: prop_u32(cb, "max-requests"),
        span: cb.head_span(),
    });
    Some(Dependency {
        target: Spanned::new(target, target_entry.value_span),
        env: spanned_str(n, "env"),
        port: spanned_str(n, "port"),
        timeout: prop_duration(n, "timeout"),
        retries: n.prop("retries").and_then(|e| {
            int_of(e)
                .and_then(|r| u32::try_from(r).ok())
                .map(|r| Spanned::new(r, e.value_span))
        }),
        optional: prop_bool(n, "optional").unwrap_or(false),
        fallback: spanned_str(n, "fallback"),
        circuit_breaker,
        span: n.head_span(),
    })
}

fn lower_slo(n: &Node, diags: &mut Diagnostics) -> Option<Slo> {
    let kind = match arg_str(n, 0).as_deref() {
        Some("availability") => SloKind::Availability,
        Some("latency") => SloKind::Latency,
        _ => return None,
    };
    let target_entry = n.prop("target")?;
    let target = percent_of(target_entry)?;
    if target.0 <= Decimal::ZERO || target.0 >= Decimal::ONE_HUNDRED {
        diags.push(
            Diagnostic::error(
                Code::OutOfRange,
                format!("SLO target {target} leaves no room"),
            )
            .with_label(target_entry.value_span, "must be above 0 and below 100")
            .with_help(if target.0 >= Decimal::ONE_HUNDRED {
                "a 100% objective has no error budget, so every error pages: use e.g. 99.9"
            } else {
                "use an objective such as 99 or 99.9"
            }),
        );
        return None;
    }
    let window =
        prop_duration(n, "window").map_or(Duration::from_millis(30 * 86_400_000), |d| d.value);
    // The burn-rate alerts look back up to 3 days; a period shorter than a day leaves
    // them nothing to compare with.
    if window.millis < 86_400_000 {
        if let Some(e) = n.prop("window") {
            diags.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    format!("SLO window `{window}` is too short"),
                )
                .with_label(e.value_span, "at least one day")
                .with_help("SLO windows are days or weeks: \"7d\", \"28d\", \"30d\""),
            );
        }
        return None;
    }
    let threshold = prop_duration(n, "threshold");
    match (kind, &threshold) {
        // A threshold that is there but invalid was reported where it is written.
        (SloKind::Latency, None) if n.prop("threshold").is_some() => return None,
        (SloKind::Latency, None) if child(&n.children, "errors").is_none() => {
            diags.push(
                Diagnostic::error(Code::MissingValue, "latency SLO needs a `threshold`")
                    .with_label(n.head_span(), "missing `threshold=`")
                    .with_help("requests slower than the threshold are bad: `slo \"latency\" target=99 threshold=\"300ms\"`"),
            );
            return None;
        }
        (SloKind::Availability, Some(t)) => {
            diags.push(
                Diagnostic::error(
                    Code::UnknownProperty,
                    "`threshold` applies to latency SLOs only",
                )
                .with_label(t.span, "not used by an availability SLO")
                .with_help("remove it, or declare `slo \"latency\" ... threshold=`"),
            );
        }
        _ => {}
    }
    let query = |what: &str, diags: &mut Diagnostics| {
        let e = child(&n.children, what)?.arg(0)?;
        let q = str_of(e)?;
        match check_free_text(&q, "custom SLI query").at(e.value_span) {
            Ok(()) => Some(q),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    };
    let errors = query("errors", diags);
    let total = query("total", diags);
    let custom = match (errors, total) {
        (Some(errors), Some(total)) => {
            // Without the placeholder every window would read the same range, and the
            // multi-window alerts would compare a window with itself.
            for (what, q) in [("errors", &errors), ("total", &total)] {
                if !q.contains("{{window}}") {
                    let span = child(&n.children, what)
                        .and_then(|c| c.arg(0))
                        .map_or(n.head_span(), |e| e.value_span);
                    diags.push(
                        Diagnostic::error(Code::MissingValue, format!("custom SLI query `{what}` has no `{{{{window}}}}`"))
                            .with_label(span, "no `{{window}}` in this query")
                            .with_help("write the range as `[{{window}}]`: nestioc evaluates the query over 5m, 30m, 1h, 2h, 6h, 1d and 3d"),
                    );
                }
            }
            Some(CustomSli { errors, total })
        }
        (None, None) => None,
        _ => {
            diags.push(
                Diagnostic::error(Code::MissingValue, "a custom SLI needs both `errors` and `total`")
                    .with_label(n.head_span(), "incomplete custom SLI")
                    .with_help("give both queries: `errors \"sum(rate(..{code=~\\\"5..\\\"}[{{window}}]))\"` and `total \"sum(rate(..[{{window}}]))\"`"),
            );
            None
        }
    };
    Some(Slo {
        kind,
        target: Spanned::new(target, target_entry.value_span),
        window,
        threshold,
        custom,
        span: n.ident_span(),
    })
}

fn lower_rollout(n: Option<&Node>, diags: &mut Diagnostics) -> Rollout {
    let Some(n) = n else {
        return Rollout {
            kind: RolloutKind::Rolling,
            steps: Vec::new(),
            abort_error_rate: None,
            abort_latency: None,
            span: None,
        };
    };
    let kind = match arg_str(n, 0).as_deref() {
        Some("canary") => RolloutKind::Canary,
        Some("blue-green") => RolloutKind::BlueGreen,
        _ => RolloutKind::Rolling,
    };
    let steps = n
        .children
        .iter()
        .filter(|c| c.name == "step")
        .filter_map(|s| {
            let pause = prop_duration(s, "pause");
            // Argo Rollouts reads a pause as whole seconds, truncating the rest
            // (pkg/apis/rollouts/v1alpha1/types.go `RolloutPause.DurationSeconds`:
            // `int32(d.Seconds())`): "1.5s" would pause 1s, "500ms" not at all.
            if let Some(p) = &pause
                && let Err(d) = values::check_whole_seconds(
                    &p.value,
                    "`pause` of `step`",
                    "Argo Rollouts pauses whole seconds",
                )
                .at(p.span)
            {
                diags.push(d);
            }
            Some(Step {
                weight: prop_u32(s, "weight")?,
                pause: pause.map(|d| d.value),
                span: s.head_span(),
            })
        })
        .collect();
    let abort = child(&n.children, "abort-if");
    Rollout {
        kind,
        steps,
        abort_error_rate: abort
            .and_then(|a| a.prop("error-rate"))
            .and_then(percent_of),
        abort_latency: abort
            .and_then(|a| prop_duration(a, "latency"))
            .map(|d| d.value),
        span: Some(n.ident_span()),
    }
}

/// `expose`: the ingress form (`host=`), or a port published by a Service of type
/// NodePort or LoadBalancer (`node-port=`, `load-balancer=#true`), never both: the ingress
/// terminates TLS and authorizes through the ingress controller or gateway, and a node
/// port on the same service would be a second door that skips both.
fn lower_expose(n: &Node, diags: &mut Diagnostics) -> (Option<Expose>, Option<Publish>) {
    let node_port = n.prop("node-port").and_then(|e| {
        // Out of range is NST0105, from the language table.
        let p = u16::try_from(int_of(e)?)
            .ok()
            .filter(|p| (30000..=32767).contains(p))?;
        Some(Spanned::new(p, e.value_span))
    });
    let load_balancer = n.prop("load-balancer");
    let lb = load_balancer.is_some_and(|e| e.value == Value::Bool(true));
    let publishes = n.prop("node-port").is_some() || lb;
    let Some(host_entry) = n.prop("host") else {
        if publishes {
            for key in ["path", "tls-secret"] {
                if let Some(e) = n.prop(key) {
                    diags.push(
                        Diagnostic::error(
                            Code::ConflictingEntries,
                            format!("`{key}` applies to `expose host=`, not to a published port"),
                        )
                        .with_label(e.span, "ignored")
                        .with_secondary(n.head_span(), "published on the nodes or a load balancer: plain TCP, no host, path or TLS")
                        .with_help(format!(
                            "remove `{key}`, or expose HTTP through the ingress with `host=` instead"
                        )),
                    );
                }
            }
            let publish = Publish {
                load_balancer: lb,
                node_port,
                port_name: spanned_str(n, "port"),
                span: n.head_span(),
            };
            return (None, Some(publish));
        }
        // Nothing says how: `host=` is the usual form.
        if load_balancer.is_none() {
            diags.push(
                Diagnostic::error(Code::MissingValue, "`expose` says neither how nor where")
                    .with_label(n.head_span(), "no `host=`, `node-port=` or `load-balancer=`")
                    .with_help(
                        "expose HTTP on a host (`expose host=\"shop.example.com\"`), or publish a port: `expose node-port=30080` or `expose load-balancer=#true`",
                    ),
            );
        } else if let Some(e) = load_balancer {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    "`expose load-balancer=#false` exposes nothing",
                )
                .with_label(e.span, "no load balancer")
                .with_help("remove `expose` to keep the service inside the cluster"),
            );
        }
        return (None, None);
    };
    if publishes {
        let other = n
            .prop("node-port")
            .or(load_balancer)
            .map_or(n.head_span(), |e| e.span);
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                "`expose` names a host and publishes a port: choose one",
            )
            .with_label(other, "publishes the port on the nodes or a load balancer")
            .with_secondary(host_entry.span, "serves HTTP through the ingress")
            .with_help("keep `host=` for HTTP through the ingress (TLS, the gateway's authorization), or `node-port=`/`load-balancer=#true` for the port itself; a node port beside the ingress would reach the pods without either")
            .with_note("one `expose` per service; a port published beside the ingress would bypass the ingress controller's TLS and the mesh gateway's authorization"),
        );
        return (None, None);
    }
    let Some(host) = str_of(host_entry) else {
        return (None, None);
    };
    if let Err(d) = check_host(&host).at(host_entry.value_span) {
        diags.push(d);
        return (None, None);
    }
    let path = prop_str(n, "path").unwrap_or_else(|| "/".into());
    if let Some(e) = n.prop("path")
        && let Err(d) = check_http_path(&path).at(e.value_span)
    {
        diags.push(d);
        return (None, None);
    }
    let expose = Expose {
        host,
        path,
        port_name: spanned_str(n, "port"),
        tls_secret: prop_str(n, "tls-secret"),
        span: n.head_span(),
    };
    (Some(expose), None)
}

fn lower_volumes(kids: &[Node], diags: &mut Diagnostics) -> Vec<Volume> {
    let mut volumes: Vec<Volume> = Vec::new();
    for n in kids.iter().filter(|c| c.name == "volume") {
        let (Some(name), Some(path_entry)) = (arg_str(n, 0), n.prop("path")) else {
            continue;
        };
        let Some(path) = str_of(path_entry) else {
            continue;
        };
        if let Err(d) = check_mount_path(&path).at(path_entry.value_span) {
            diags.push(d);
            continue;
        }
        if name == "tmp" {
            diags.push(
                Diagnostic::error(Code::ConflictingEntries, "the volume name `tmp` is taken")
                    .with_label(n.ident_span(), "every container has a `tmp` volume at /tmp")
                    .with_help("give the volume another name"),
            );
            continue;
        }
        if path == "/tmp" {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    "`/tmp` is already a scratch volume",
                )
                .with_label(path_entry.value_span, "mounted by every service")
                .with_help("every container gets a writable /tmp; mount this volume elsewhere"),
            );
            continue;
        }
        if let Some(other) = volumes.iter().find(|v| v.path == path) {
            diags.push(mounted_twice(
                &path,
                path_entry.value_span,
                &other.name,
                other.span,
            ));
            continue;
        }
        let size = n.prop("size").and_then(quantity_of).unwrap_or_else(|| {
            Quantity::parse("1Gi").unwrap_or(Quantity {
                text: "1Gi".into(),
                value: Decimal::from(1u64 << 30),
                suffix: "Gi".into(),
            })
        });
        let persistent = prop_bool(n, "persistent").unwrap_or(false);
        if let (false, Some(keep)) = (persistent, n.prop("keep")) {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    format!(
                        "volume `{name}` is scratch space: `keep` applies to persistent volumes"
                    ),
                )
                .with_label(keep.span, "nothing to keep")
                .with_secondary(n.ident_span(), "an emptyDir, deleted with its pod")
                .with_help("remove `keep`, or make the volume persistent (`persistent=#true`)"),
            );
        }
        volumes.push(Volume {
            name,
            path,
            size,
            persistent,
            keep: persistent && prop_bool(n, "keep").unwrap_or(true),
            span: n.ident_span(),
        });
    }
    volumes
}

const CRON_MACROS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

fn lower_schedule(n: &Node, diags: &mut Diagnostics) -> Option<Schedule> {
    let e = n.arg(0)?;
    let cron = str_of(e)?.trim().to_owned();
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let field_ok = |f: &str| {
        !f.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || "*/,-?".contains(c))
    };
    let ok = CRON_MACROS.contains(&cron.as_str())
        || (fields.len() == 5 && fields.iter().all(|f| field_ok(f)));
    if !ok {
        diags.push(
            Diagnostic::error(Code::UnknownValue, format!("invalid cron schedule `{cron}`"))
                .with_label(e.value_span, "not a cron expression")
                .with_help("five fields, minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\" (03:00 every day), or @hourly, @daily, @weekly, @monthly"),
        );
        return None;
    }
    Some(Schedule {
        cron,
        concurrency: match prop_str(n, "concurrency").as_deref() {
            Some("replace") => "Replace",
            Some("allow") => "Allow",
            _ => "Forbid",
        },
        span: n.head_span(),
    })
}

/// NST0318: a well-known image whose data directories have no volume, under the
/// read-only root filesystem.
fn check_image_data(
    name: &str,
    image: &Image,
    env: &[EnvVar],
    volumes: &[Volume],
    diags: &mut Diagnostics,
) {
    let pgdata = env.iter().find_map(|e| match &e.value {
        EnvValue::Literal(v) if e.name == "PGDATA" => Some(v.as_str()),
        _ => None,
    });
    for (dir, what) in image::data_dirs(&image.repository, image.tag.as_deref(), pgdata) {
        let covered = std::iter::once("/tmp")
            .chain(volumes.iter().map(|v| v.path.as_str()))
            .any(|m| {
                let m = m.trim_end_matches('/');
                dir == m || dir.starts_with(&format!("{m}/"))
            });
        if covered {
            continue;
        }
        let volume = dir
            .rsplit('/')
            .next()
            .filter(|s| names::check_dns_label(s, "volume").is_ok())
            .unwrap_or("data");
        diags.push(
            Diagnostic::warning(
                Code::ImageDataWithoutVolume,
                format!("`{name}` runs `{}` but no volume is mounted at `{dir}`", image.written),
            )
            .with_label(image.span, format!("writes to `{dir}`: {what}"))
            .with_help(format!(
                "mount one: `volume \"{volume}\" path=\"{dir}\" size=\"1Gi\"` (add `persistent=#true` to keep the data across restarts)"
            ))
            .with_note("every container's root filesystem is read-only: without a volume the first write fails (docs/security.md)"),
        );
    }
}

/// Entries that cannot go together in one service.
#[allow(clippy::too_many_arguments)]
fn check_conflicts(
    name: &str,
    kids: &[Node],
    ports: &[Port],
    replicas: &Replicas,
    volumes: &[Volume],
    schedule: Option<&Schedule>,
    expose: Option<Span>,
    rollout: &Rollout,
    diags: &mut Diagnostics,
) {
    let conflict = |what: String, span: Span, other: Span, other_label: &str, help: &str| {
        Diagnostic::error(Code::ConflictingEntries, what)
            .with_label(span, "conflicts")
            .with_secondary(other, other_label.to_owned())
            .with_help(help.to_owned())
    };
    if let Some(s) = schedule {
        if let Some(p) = ports.first() {
            diags.push(conflict(
                format!("scheduled service `{name}` declares a port"),
                p.span,
                s.span,
                "runs on a schedule",
                "a scheduled job runs to completion and is never called: remove the port, or the `schedule`",
            ));
        }
        if replicas.max.is_some() {
            diags.push(conflict(
                format!("scheduled service `{name}` cannot autoscale"),
                replicas.span,
                s.span,
                "runs on a schedule",
                "remove `max=`: each scheduled run is one Job",
            ));
        }
        if let Some(e) = expose {
            diags.push(conflict(
                format!("scheduled service `{name}` cannot be exposed"),
                e,
                s.span,
                "runs on a schedule",
                "remove `expose`",
            ));
        }
        if let (Some(span), false) = (rollout.span, rollout.kind == RolloutKind::Rolling) {
            diags.push(conflict(
                format!("scheduled service `{name}` has no rollout"),
                span,
                s.span,
                "runs on a schedule",
                "each run uses the current image; remove `rollout`",
            ));
        }
        let _ = kids;
    }
    if rollout.kind == RolloutKind::BlueGreen
        && ports.is_empty()
        && let Some(span) = rollout.span
    {
        diags.push(
            Diagnostic::error(Code::ConflictingEntries, format!("`{name}` rolls out blue-green but has no port"))
                .with_label(span, "blue-green switches a Service")
                .with_secondary(replicas.span, "this service declares no `port`")
                .with_help("blue-green swaps the Service between two versions: declare a port, or use `rollout \"canary\"` (by replica count) for a worker"),
        );
    }
    let persistent: Vec<&Volume> = volumes.iter().filter(|v| v.persistent).collect();
    let Some(first) = persistent.first() else {
        return;
    };
    match schedule {
        // A scheduled job mounts one claim, ReadWriteOnce: two runs at once on two nodes
        // would leave the second waiting for the volume.
        Some(s) if s.concurrency == "Allow" => diags.push(conflict(
            format!("`{name}` may run twice at once but volume `{}` is persistent", first.name),
            s.span,
            first.span,
            "one claim, ReadWriteOnce: attached to one node at a time",
            "use `concurrency=\"forbid\"` (the default) or `\"replace\"`, or make the volume scratch space (remove `persistent=#true`)",
        )),
        Some(_) => {}
        None => {
            // Argo Rollouts runs ReplicaSets, which have no volumeClaimTemplates: a Rollout
            // cannot give each replica its own claim (argo-rollouts
            // pkg/apis/rollouts/v1alpha1/types.go RolloutSpec: template, no claim templates).
            if let (Some(span), false) = (rollout.span, rollout.kind == RolloutKind::Rolling) {
                let kind = if rollout.kind == RolloutKind::Canary { "canary" } else { "blue-green" };
                diags.push(
                    Diagnostic::error(
                        Code::ConflictingEntries,
                        format!("stateful service `{name}` cannot roll out by {kind}"),
                    )
                    .with_label(span, format!("a {kind} rollout runs two versions side by side"))
                    .with_secondary(first.span, "persistent: a StatefulSet, each replica with its own claim")
                    .with_help("remove `rollout`: a StatefulSet replaces its pods one at a time, highest ordinal first, each on its own data; or make the volume scratch space if a second version may start empty")
                    .with_note("Argo Rollouts manages ReplicaSets, which cannot give each replica a PersistentVolumeClaim of its own, and two versions writing one data directory would corrupt it"),
                );
            }
            // The claims' retention is the StatefulSet's (`persistentVolumeClaimRetentionPolicy`),
            // one for all its claim templates.
            if let Some(other) = persistent.iter().find(|v| v.keep != first.keep) {
                let (kept, dropped) = if first.keep { (first, other) } else { (other, first) };
                diags.push(conflict(
                    format!(
                        "the persistent volumes of `{name}` disagree on `keep`: `{}` keeps its claims, `{}` does not",
                        kept.name, dropped.name
                    ),
                    dropped.span,
                    kept.span,
                    "kept when the service goes",
                    "give every persistent volume of the service the same `keep`: the StatefulSet has one claim retention policy",
                ));
            }
        }
    }
}

// ----------------------------------------------------------------------------- value checks

/// An absolute path inside the container.
fn check_mount_path(path: &str) -> Result<(), crate::diag::Problem> {
    let ok = path.starts_with('/')
        && path.len() > 1
        && path.len() <= 1024
        && path
            .split('/')
            .skip(1)
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid mount path `{path}`"),
            "not an absolute path",
            "give an absolute directory such as \"/data\", without `..`",
        ))
    }
}

fn problem(code: Code, message: String, label: &str, help: &str) -> crate::diag::Problem {
    crate::diag::Problem {
        code,
        message,
        label: label.into(),
        help: Some(help.into()),
    }
}

/// A CI test command: one line of shell. Every CI system takes it as a string, but a line
/// break cannot be written in the Jenkinsfile's single-quoted Groovy strings and changes how
/// the YAML-based systems run it (one command per line), and other control characters are
/// invisible in review.
fn check_command(command: &str) -> Result<(), crate::diag::Problem> {
    if command.trim().is_empty() {
        return Err(problem(
            Code::InvalidCommand,
            "empty test command".into(),
            "no command here",
            "give a shell command, e.g. \"make test\", or remove `test` to use the language's default",
        ));
    }
    if let Some(c) = command
        .chars()
        .find(|c| (c.is_control() && *c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        let what = match c {
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => "a line break".to_owned(),
            c => format!("the control character U+{:04X}", u32::from(c)),
        };
        return Err(problem(
            Code::InvalidCommand,
            format!("the test command contains {what}"),
            "not a one-line command",
            "join the commands with `&&` on one line, or put them in a script in the source directory and run it (`./ci/test.sh`)",
        ));
    }
    Ok(())
}

/// Free text that reaches YAML through Helm as well as through nestioc's own serializer
/// (environment variable values, container arguments, custom SLI queries). Helm writes
/// values with `toYaml | nindent`: go-yaml puts a value with a line break into a block
/// scalar, and YAML 1.1 readers (go-yaml, so Helm and kubectl) also break lines at NEL,
/// LINE SEPARATOR and PARAGRAPH SEPARATOR, which `nindent` does not indent; the rest of
/// the value would become YAML. Those three characters are refused; every other
/// character, line breaks, quotes and template braces included, is carried exactly.
pub(crate) fn check_free_text(value: &str, what: &str) -> Result<(), crate::diag::Problem> {
    let Some(c) = value
        .chars()
        .find(|c| matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}'))
    else {
        return Ok(());
    };
    let name = match c {
        '\u{85}' => "NEXT LINE",
        '\u{2028}' => "LINE SEPARATOR",
        _ => "PARAGRAPH SEPARATOR",
    };
    Err(problem(
        Code::UnsafeValue,
        format!(
            "the {what} contains U+{:04X} {name}, which YAML 1.1 readers (Helm, kubectl) take for a line break",
            u32::from(c)
        ),
        "cannot be carried through Helm's YAML",
        "write a `\\n` line break instead, or remove the character",
    ))
}

/// A Git repository URL: `https://` or `ssh://` or `git@host:path`, no whitespace.
fn check_repo_url(url: &str) -> Result<(), crate::diag::Problem> {
    let ok = (url.starts_with("https://") || url.starts_with("ssh://") || url.starts_with("git@"))
        && url.len() <= 512
        && url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@~".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid repository URL `{url}`"),
            "not a Git repository URL",
            "e.g. \"https://github.com/acme/shop.git\" or \"git@github.com:acme/shop.git\"",
        ))
    }
}

/// A DNS host name (optionally a `*.` wildcard, as Istio's ServiceEntry allows).
/// A DNS host name, lowercase, optionally a wildcard `*.<domain>`.
#[must_use]
pub fn valid_host(host: &str) -> bool {
    let body = host.strip_prefix("*.").unwrap_or(host);
    !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn check_host(host: &str) -> Result<(), crate::diag::Problem> {
    if valid_host(host) {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid host name `{host}`"),
            "not a DNS host name",
            "a host is lowercase labels separated by dots, e.g. \"api.stripe.com\"; no scheme, port or path",
        ))
    }
}

/// An HTTP path prefix: `/` and URL-safe characters only.
fn check_http_path(path: &str) -> Result<(), crate::diag::Problem> {
    let ok = path.starts_with('/')
        && path.len() <= 1024
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid HTTP path `{path}`"),
            "not an HTTP path",
            "a path starts with `/` and uses URL characters only, e.g. \"/api\"",
        ))
    }
}

/// A Kubernetes label value (owner becomes a label).
fn check_label_value(value: &str) -> Result<(), crate::diag::Problem> {
    let ok = value.len() <= 63
        && !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid owner `{value}`"),
            "not a Kubernetes label value",
            "an owner becomes a label: at most 63 letters, digits, `-`, `_` and `.`, e.g. \"payments-team\"",
        ))
    }
}

/// A relative path inside the repository (CI path filters).
fn check_repo_path(path: &str) -> Result<(), crate::diag::Problem> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && path.len() <= 512
        && path.split('/').all(|c| c != ".." && c != ".")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid source path `{path}`"),
            "not a relative repository path",
            "give the directory relative to the repository root, e.g. \"src/checkout\", without `..`",
        ))
    }
}

/// A key of a Secret: letters, digits, `-`, `_` and `.`.
fn check_secret_key(key: &str) -> Result<(), crate::diag::Problem> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid secret key `{key}`"),
            "not a Secret key",
            "Secret keys are letters, digits, `-`, `_` and `.`",
        ))
    }
}

/// Two volumes of one container at the same path (the service's own, or a sidecar's).
fn mounted_twice(path: &str, at: Span, other: &str, other_at: Span) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateName,
        format!("two volumes are mounted at `{path}`"),
    )
    .with_label(at, "mounted again here")
    .with_secondary(other_at, format!("`{other}` is mounted there"))
    .with_help("give each volume its own path")
}
