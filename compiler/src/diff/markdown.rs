//! The Markdown of a diff, for a pull-request comment.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::Diff;
use super::resources::FileDiff;
use super::semantic::{Edge, Semantic, edges};
use crate::graph::Topology;
use crate::model::Model;

fn edge_md(e: &Edge) -> String {
    format!("`{}` → `{}:{}`", e.caller, e.callee, e.port)
}

fn mermaid(
    s: &Semantic,
    head: Option<(&Model, &Topology)>,
    base: Option<(&Model, &Topology)>,
) -> Option<String> {
    let changed: BTreeSet<&String> = s.blast_radius.keys().collect();
    if changed.is_empty() {
        return None;
    }
    let id = |n: &str| format!("s_{}", n.replace('-', "_"));
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    let mut lines: Vec<String> = Vec::new();
    let mut edge_set: BTreeSet<(String, String, &str)> = BTreeSet::new();
    for (m, t) in [head, base].into_iter().flatten() {
        for e in edges(m, t) {
            if changed.contains(&e.caller) || changed.contains(&e.callee) {
                let style = if s
                    .edges_added
                    .iter()
                    .any(|x| x.caller == e.caller && x.callee == e.callee)
                {
                    "added"
                } else if s
                    .edges_removed
                    .iter()
                    .any(|x| x.caller == e.caller && x.callee == e.callee)
                {
                    "removed"
                } else {
                    "same"
                };
                edge_set.insert((e.caller.clone(), e.callee.clone(), style));
                nodes.insert(e.caller.clone());
                nodes.insert(e.callee.clone());
            }
        }
    }
    for c in &changed {
        nodes.insert((*c).clone());
    }
    let mut out = String::from("```mermaid\nflowchart LR\n");
    for n in &nodes {
        let class = if s.services_added.contains(n) {
            ":::added"
        } else if s.services_removed.contains(n) {
            ":::removed"
        } else if changed.contains(n) {
            ":::changed"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}[\"{n}\"]{class}", id(n));
    }
    for (a, b, style) in edge_set {
        let arrow = match style {
            "added" => "==>|added|",
            "removed" => "-.->|removed|",
            _ => "-->",
        };
        lines.push(format!("  {} {arrow} {}", id(&a), id(&b)));
    }
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    out.push_str("  classDef added fill:#dafbe1,stroke:#1a7f37\n  classDef removed fill:#ffebe9,stroke:#cf222e\n  classDef changed fill:#fff8c5,stroke:#9a6700\n```\n");
    Some(out)
}

const COMMENT_LIMIT: usize = 60_000;

fn objects_list(f: &FileDiff) -> String {
    let names: Vec<String> = f
        .objects
        .iter()
        .filter(|o| !o.object.starts_with("document "))
        .map(|o| format!("`{}`", o.object))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    }
}

fn generated_files(out: &mut String, files: &[FileDiff]) {
    let count = |st: &str| files.iter().filter(|f| f.status == st).count();
    let _ = writeln!(
        out,
        "### Generated files\n\n{} changed, {} added, {} removed.\n",
        count("changed"),
        count("added"),
        count("removed")
    );
    for status in ["added", "removed"] {
        let list: Vec<&FileDiff> = files.iter().filter(|f| f.status == status).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<details><summary>{} {status}</summary>\n", list.len());
        for f in list {
            let _ = writeln!(out, "- `{}`{}", f.path, objects_list(f));
        }
        out.push_str("\n</details>\n\n");
    }
    for f in files.iter().filter(|f| f.status == "changed") {
        let summary = match (&f.lines, f.objects.len()) {
            (Some((r, a)), _) => format!("-{r} +{a} lines"),
            (None, n) => format!("{n} object{}", if n == 1 { "" } else { "s" }),
        };
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code>: {summary}</summary>\n",
            f.path
        );
        for o in f.objects.iter().take(50) {
            if o.fields.is_empty() {
                let _ = writeln!(out, "- {} `{}`", o.status, o.object);
                continue;
            }
            let _ = writeln!(out, "- changed `{}`", o.object);
            for c in o.fields.iter().take(20) {
                let v = |x: &Option<String>| {
                    x.as_ref().map_or_else(
                        || "(none)".to_owned(),
                        |s| {
                            if s.is_empty() {
                                "(empty)".to_owned()
                            } else {
                                format!("`{}`", s.replace('`', "'"))
                            }
                        },
                    )
                };
                let _ = writeln!(
                    out,
                    "  - `{}`: {} → {}",
                    c.path.replace('`', "'"),
                    v(&c.before),
                    v(&c.after)
                );
            }
            if o.fields.len() > 20 {
                let _ = writeln!(out, "  - … and {} more fields", o.fields.len() - 20);
            }
        }
        if f.objects.len() > 50 {
            let _ = writeln!(out, "- … and {} more objects", f.objects.len() - 50);
        }
        if let Some(p) = &f.patch {
            let _ = writeln!(out, "```diff\n{}```", p.replace("```", "'''"));
        }
        out.push_str("\n</details>\n\n");
    }
}

/// The Markdown for a pull-request comment.
#[must_use]
pub fn markdown(
    d: &Diff,
    head: Option<(&Model, &Topology)>,
    base: Option<(&Model, &Topology)>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- nestioc diff -->\n## nestioc diff: `{}`\n",
        d.project
    );
    let _ = writeln!(out, "Comparing `{}` (base) with `{}`.\n", d.base, d.head);
    let files_changed = d.resources.len();
    match &d.semantic {
        None => {
            let _ = writeln!(
                out,
                "The base is an output directory: no topology to compare, only the generated files.\n"
            );
        }
        Some(s) => {
            let mut summary = Vec::new();
            let count = |n: usize, what: &str| match (n, what.strip_suffix('y')) {
                (1, _) => format!("{n} {what}"),
                (_, Some(stem)) => format!("{n} {stem}ies"),
                (_, None) => format!("{n} {what}s"),
            };
            if !s.services_added.is_empty() {
                summary.push(format!(
                    "{} added",
                    count(s.services_added.len(), "service")
                ));
            }
            if !s.services_removed.is_empty() {
                summary.push(format!(
                    "{} removed",
                    count(s.services_removed.len(), "service")
                ));
            }
            if !s.edges_added.is_empty() {
                summary.push(format!(
                    "{} added",
                    count(s.edges_added.len(), "dependency")
                ));
            }
            if !s.edges_removed.is_empty() {
                summary.push(format!(
                    "{} removed",
                    count(s.edges_removed.len(), "dependency")
                ));
            }
            for (n, what) in [
                (s.project.len(), "project setting"),
                (s.edges_changed.len(), "dependency"),
                (s.slos.len(), "SLO"),
                (s.rollouts.len(), "rollout"),
                (s.images.len(), "image"),
                (s.exposure.len(), "exposure"),
                (s.ports.len(), "port list"),
            ] {
                if n > 0 {
                    summary.push(format!("{} changed", count(n, what)));
                }
            }
            if summary.is_empty() {
                let _ = writeln!(
                    out,
                    "**No change to the topology.** {} generated file{} differ.\n",
                    files_changed,
                    if files_changed == 1 { "" } else { "s" }
                );
            } else {
                let _ = writeln!(
                    out,
                    "**{}** · {} generated file{} differ\n",
                    summary.join(" · "),
                    files_changed,
                    if files_changed == 1 { "" } else { "s" }
                );
            }
            if !s.services_added.is_empty()
                || !s.services_removed.is_empty()
                || !s.edges_added.is_empty()
                || !s.edges_removed.is_empty()
                || !s.edges_changed.is_empty()
                || !s.project.is_empty()
            {
                out.push_str("### Topology\n\n");
                for c in &s.project {
                    let _ = writeln!(out, "- project {}: {} → {}", c.what, c.before, c.after);
                }
                for n in &s.services_added {
                    let _ = writeln!(out, "- added service `{n}`");
                }
                for n in &s.services_removed {
                    let _ = writeln!(out, "- removed service `{n}`");
                }
                for e in &s.edges_added {
                    let _ = writeln!(out, "- added dependency {}", edge_md(e));
                }
                for e in &s.edges_removed {
                    let _ = writeln!(out, "- removed dependency {}", edge_md(e));
                }
                for c in &s.edges_changed {
                    let _ = writeln!(
                        out,
                        "- dependency `{}` → `{}:{}`: {} → {}",
                        c.caller, c.callee, c.port, c.before, c.after
                    );
                }
                out.push('\n');
            }
            if !s.access_granted.is_empty()
                || !s.access_revoked.is_empty()
                || !s.exposure.is_empty()
                || !s.ports.is_empty()
            {
                out.push_str("### Access\n\n");
                for e in &s.access_granted {
                    let _ = writeln!(out, "- **widened**: {} is now allowed", edge_md(e));
                }
                for e in &s.access_revoked {
                    let _ = writeln!(out, "- narrowed: {} is no longer allowed", edge_md(e));
                }
                for c in &s.exposure {
                    let _ = writeln!(
                        out,
                        "- exposure of `{}`: {} → {}",
                        c.service, c.before, c.after
                    );
                }
                for c in &s.ports {
                    let _ = writeln!(
                        out,
                        "- ports of `{}`: {} → {}",
                        c.service, c.before, c.after
                    );
                }
                out.push('\n');
            }
            if !s.slos.is_empty() || !s.ceilings.is_empty() {
                out.push_str("### SLOs\n\n");
            }
            if !s.slos.is_empty() {
                out.push_str("| service | SLO | before | after | ceiling from dependencies |\n|---|---|---|---|---|\n");
                for c in &s.slos {
                    let ceiling = match (&c.ceiling, c.feasible) {
                        (Some(x), true) => x.clone(),
                        (Some(x), false) => format!("{x} (**above it: infeasible**)"),
                        (None, _) => "none".into(),
                    };
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {} | {} | {ceiling} |",
                        c.service,
                        c.slo,
                        c.before.as_deref().unwrap_or("none"),
                        c.after.as_deref().unwrap_or("none")
                    );
                }
                out.push('\n');
            }
            if !s.ceilings.is_empty() {
                out.push_str(
                    "Availability ceilings moved by this change (objectives unchanged):\n\n",
                );
                for c in &s.ceilings {
                    let _ = writeln!(
                        out,
                        "- `{}` (objective {}): ceiling {} → {}{}",
                        c.service,
                        c.objective,
                        c.before.as_deref().unwrap_or("none"),
                        c.after.as_deref().unwrap_or("none"),
                        if c.feasible {
                            ""
                        } else {
                            " (**objective now infeasible**)"
                        }
                    );
                }
                out.push('\n');
            }
            for (title, list) in [("Rollouts", &s.rollouts), ("Images", &s.images)] {
                if list.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "### {title}\n\n| service | before | after |\n|---|---|---|"
                );
                for c in list {
                    let _ = writeln!(out, "| `{}` | `{}` | `{}` |", c.service, c.before, c.after);
                }
                out.push('\n');
            }
            if !s.blast_radius.is_empty() {
                out.push_str("### Blast radius\n\nEvery service that calls a changed one, directly or through others:\n\n");
                for (svc, callers) in &s.blast_radius {
                    if callers.is_empty() {
                        let _ = writeln!(out, "- `{svc}`: no callers");
                    } else {
                        let _ = writeln!(
                            out,
                            "- `{svc}`: reaches {}",
                            callers
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                }
                out.push('\n');
            }
            if let Some(m) = mermaid(s, head, base) {
                let _ = writeln!(out, "### Changed neighbourhood\n\n{m}");
            }
        }
    }
    if !d.resources.is_empty() {
        generated_files(&mut out, &d.resources);
    }
    if out.len() > COMMENT_LIMIT {
        // GitHub refuses comments over 65536 characters: keep the summary whole.
        let mut cut = COMMENT_LIMIT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        if let Some(i) = out.rfind("\n<details>") {
            out.truncate(i + 1);
        }
        out.push_str("\n… the resource diff is cut here to fit a pull-request comment; run `nestioc diff --format json` for all of it.\n");
    }
    out
}
