//! One `service` node, its templates and overrides merged, into a [`Service`]: the
//! image, the container's arguments, and the checks across a service's entries.

use super::checks::{
    check_command, check_free_text, check_host, check_label_value, check_repo_path,
};
use super::env::lower_env;
use super::expand::{Expander, Merged};
use super::names::{self, check_service_name};
use super::network::{lower_dependency, lower_expose, lower_ports};
use super::read::{arg_str, child, int_of, prop_str, str_of};
use super::rollout::lower_rollout;
use super::slo::lower_slo;
use super::workload::{lower_replicas, lower_resources, lower_schedule, lower_volumes};
use super::{Collected, build, expand, image, logging, pod};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::lang;
use crate::model::{
    EnvValue, EnvVar, External, Image, Port, Project, Replicas, Rollout, RolloutKind, Schedule,
    Service, Spanned, Volume,
};
use crate::source::Span;
use crate::syntax::Node;

pub(super) fn lower_service(
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
    let mut defaults = c.defaults.map(|d| expand::substitute(d, &implicit));
    // `defaults { depends-on "cache" }` means every other service: the cache itself would
    // depend on itself (NST0207), and there was no way to leave it out.
    if let Some(d) = &mut defaults {
        d.children
            .retain(|k| !(k.name == "depends-on" && arg_str(k, 0).as_deref() == Some(&*name)));
    }
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
        pod::lower_containers(&name, &image, kids, project, &volumes, &mut ports, diags);
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
pub(super) fn lower_args(kids: &[Node], diags: &mut Diagnostics) -> Vec<String> {
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
pub(super) fn lower_image(
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
    // `(param)` outside a template was refused (NST0208): its text is not an image.
    let mut valid = image_node
        .and_then(|n| n.arg(0))
        .is_none_or(|e| e.ty.as_deref() != Some("param"));
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
    // `imgae "api:1.0"` is reported as an unknown node with its "did you mean": the
    // missing image is that same mistake, not a second one.
    let misspelt = image_node.is_none()
        && node.children.iter().any(|c| {
            c.name != "image" && crate::suggest::did_you_mean(&c.name, ["image"]).is_some()
        });
    if valid && !attempted && !misspelt && tag.is_none() && digest.is_none() {
        let at = image_node.map_or(node.ident_span(), Node::head_span);
        if builds || image_node.is_none() {
            // The project's own image: CI pushes it tagged, and a deployment must say
            // which build it runs.
            diags.push(
                Diagnostic::error(
                    Code::MissingValue,
                    if image_node.is_some() {
                        format!("service `{service}` has no image tag")
                    } else {
                        format!("service `{service}` has no image")
                    },
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

/// NST0318: a well-known image whose data directories have no volume, under the
/// read-only root filesystem.
pub(super) fn check_image_data(
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
pub(super) fn check_conflicts(
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
