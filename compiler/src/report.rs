//! `nestioc report`: one self-contained HTML page (inline CSS, SVG and script, nothing
//! fetched) with the topology laid out by release wave and a card per service; with a
//! base, what changed is highlighted.
//!
//! The graph is drawn here, not in the browser: the page works with scripts off, and the
//! script only selects a service. Every user string is HTML-escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::diff::{Semantic, exposure_text, rollout_text};
use crate::graph::{PortStyle, Topology};
use crate::model::{Model, Service};
use crate::source::SourceMap;

const COL_W: f64 = 250.0;
const ROW_H: f64 = 84.0;
const NODE_W: f64 = 180.0;
const NODE_H: f64 = 50.0;
const PAD_X: f64 = 30.0;
const PAD_Y: f64 = 56.0;

/// The head project, and optionally the base it is compared with.
#[derive(Debug)]
pub struct Input<'a> {
    pub model: &'a Model,
    pub topology: &'a Topology,
    pub sources: &'a SourceMap,
    pub base: Option<Base<'a>>,
}

#[derive(Debug)]
pub struct Base<'a> {
    pub label: &'a str,
    pub model: &'a Model,
    pub topology: &'a Topology,
    pub changes: &'a Semantic,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Same,
    Added,
    Removed,
    Changed,
}

impl Status {
    fn class(self) -> &'static str {
        match self {
            Status::Same => "",
            Status::Added => " added",
            Status::Removed => " removed",
            Status::Changed => " changed",
        }
    }
}

struct Node<'a> {
    service: &'a Service,
    wave: usize,
    x: f64,
    y: f64,
    status: Status,
    /// The graph the service is from (the base, for a removed service).
    topology: &'a Topology,
}

struct EdgeView {
    from: String,
    to: String,
    label: String,
    optional: bool,
    status: Status,
}

fn edge_views(topology: &Topology, status: Status) -> Vec<EdgeView> {
    topology
        .edges
        .iter()
        .map(|e| EdgeView {
            from: e.caller.clone(),
            to: e.callee.clone(),
            label: e.label(PortStyle::Name),
            optional: e.optional(),
            status,
        })
        .collect()
}

fn layout<'a>(input: &Input<'a>) -> (Vec<Node<'a>>, Vec<EdgeView>, usize, usize) {
    let changes = input.base.as_ref().map(|b| b.changes);
    let changed: BTreeSet<&String> = changes
        .map(|c| c.blast_radius.keys().collect())
        .unwrap_or_default();
    let mut nodes = Vec::new();
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut place = |wave: usize| {
        let row = rows.entry(wave).or_insert(0);
        let at = (PAD_X + wave as f64 * COL_W, PAD_Y + *row as f64 * ROW_H);
        *row += 1;
        at
    };
    // Within a wave, services sit near the ones they call (one barycentre pass, left to
    // right), which keeps most edges short and uncrossed.
    let mut row_of: BTreeMap<&str, f64> = BTreeMap::new();
    let mut ordered: Vec<Vec<&String>> = Vec::new();
    for names in &input.topology.waves {
        let mut keyed: Vec<(f64, &String)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let rows: Vec<f64> = input
                    .topology
                    .calls(n)
                    .filter_map(|e| row_of.get(e.callee.as_str()).copied())
                    .collect();
                let at = if rows.is_empty() {
                    i as f64
                } else {
                    rows.iter().sum::<f64>() / rows.len() as f64
                };
                (at, n)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        for (i, (_, n)) in keyed.iter().enumerate() {
            row_of.insert(n.as_str(), i as f64);
        }
        ordered.push(keyed.into_iter().map(|(_, n)| n).collect());
    }
    for (wave, names) in ordered.iter().enumerate() {
        for name in names {
            let Some(service) = input.model.services.get(*name) else {
                continue;
            };
            let status = match changes {
                Some(c) if c.services_added.contains(*name) => Status::Added,
                Some(_) if changed.contains(*name) => Status::Changed,
                _ => Status::Same,
            };
            let (x, y) = place(wave);
            nodes.push(Node {
                service,
                wave,
                x,
                y,
                status,
                topology: input.topology,
            });
        }
    }
    let mut edges = edge_views(input.topology, Status::Same);
    if let Some(base) = &input.base {
        for e in &mut edges {
            if base
                .changes
                .edges_added
                .iter()
                .any(|a| a.caller == e.from && a.callee == e.to)
            {
                e.status = Status::Added;
            }
        }
        // Removed services stay where they were, greyed out, with their removed calls.
        for name in &base.changes.services_removed {
            let Some(service) = base.model.services.get(name) else {
                continue;
            };
            let wave = base.topology.wave_of(name);
            let (x, y) = place(wave);
            nodes.push(Node {
                service,
                wave,
                x,
                y,
                status: Status::Removed,
                topology: base.topology,
            });
        }
        for e in edge_views(base.topology, Status::Removed) {
            if base
                .changes
                .edges_removed
                .iter()
                .any(|r| r.caller == e.from && r.callee == e.to)
            {
                edges.push(e);
            }
        }
    }
    let cols = nodes.iter().map(|n| n.wave + 1).max().unwrap_or(1);
    let max_rows = rows.values().copied().max().unwrap_or(1);
    (nodes, edges, cols, max_rows)
}

fn edge_path(from: &Node<'_>, to: &Node<'_>) -> String {
    let (fy, ty) = (from.y + NODE_H / 2.0, to.y + NODE_H / 2.0);
    if to.wave < from.wave {
        // The usual case: a caller depends on an earlier wave, to its left.
        let (x1, x2) = (from.x, to.x + NODE_W + 8.0);
        format!(
            "M{x1:.1},{fy:.1} C{:.1},{fy:.1} {:.1},{ty:.1} {x2:.1},{ty:.1}",
            x1 - 70.0,
            x2 + 70.0
        )
    } else if to.wave > from.wave {
        // An optional call may point to a later wave.
        let (x1, x2) = (from.x + NODE_W, to.x - 8.0);
        format!(
            "M{x1:.1},{fy:.1} C{:.1},{fy:.1} {:.1},{ty:.1} {x2:.1},{ty:.1}",
            x1 + 70.0,
            x2 - 70.0
        )
    } else {
        let x = from.x + NODE_W;
        let bulge = x + 40.0 + (fy - ty).abs() / 4.0;
        format!(
            "M{x:.1},{fy:.1} C{bulge:.1},{fy:.1} {bulge:.1},{ty:.1} {:.1},{ty:.1}",
            x + 8.0
        )
    }
}

fn svg(out: &mut String, nodes: &[Node<'_>], edges: &[EdgeView], cols: usize, rows: usize) {
    let width = PAD_X * 2.0 + (cols as f64 - 1.0) * COL_W + NODE_W;
    let height = PAD_Y + rows as f64 * ROW_H;
    let _ = writeln!(
        out,
        r##"<svg id="topology" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="Service dependency graph by release wave">"##
    );
    out.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>
"##,
    );
    out.push_str("<g class=\"waves\">\n");
    for w in 0..cols {
        let x = PAD_X + w as f64 * COL_W - 12.0;
        let _ = writeln!(
            out,
            r#"<rect class="wave" x="{x:.1}" y="8" width="{:.1}" height="{:.1}" rx="10"/><text class="wave-label" x="{:.1}" y="30">wave {w}</text>"#,
            NODE_W + 24.0,
            height - 16.0,
            x + 12.0
        );
    }
    out.push_str("</g>\n<g class=\"edges\">\n");
    let at: BTreeMap<&str, &Node<'_>> =
        nodes.iter().map(|n| (n.service.name.as_str(), n)).collect();
    for e in edges {
        let (Some(from), Some(to)) = (at.get(e.from.as_str()), at.get(e.to.as_str())) else {
            continue;
        };
        let _ = writeln!(
            out,
            r#"<path class="edge{}{}" data-from="{}" data-to="{}" d="{}" marker-end="url(#arrow)"><title>{} → {}: {}</title></path>"#,
            if e.optional { " optional" } else { "" },
            e.status.class(),
            esc(&e.from),
            esc(&e.to),
            edge_path(from, to),
            esc(&e.from),
            esc(&e.to),
            esc(&e.label)
        );
    }
    out.push_str("</g>\n<g class=\"nodes\">\n");
    for n in nodes {
        let s = n.service;
        let mut sub = Vec::new();
        if let Some(t) = &s.tier {
            sub.push(format!("tier {}", t.value));
        }
        if let Some(o) = &s.owner {
            sub.push(o.clone());
        }
        if s.schedule.is_some() {
            sub.push("cron".into());
        } else if s.is_worker() {
            sub.push("worker".into());
        }
        let badge = match n.status {
            Status::Added => "+ ",
            Status::Removed => "− ",
            Status::Changed => "~ ",
            Status::Same => "",
        };
        let _ = writeln!(
            out,
            r#"<g class="node{}" data-service="{}" tabindex="0" role="button" aria-label="{}" transform="translate({:.1},{:.1})"><rect width="{NODE_W}" height="{NODE_H}" rx="8"/><text class="name" x="12" y="21">{}{}</text><text class="sub" x="12" y="39">{}</text></g>"#,
            n.status.class(),
            esc(&s.name),
            esc(&format!("service {}", s.name)),
            n.x,
            n.y,
            badge,
            esc(&s.name),
            esc(&sub.join(" · "))
        );
    }
    out.push_str("</g>\n</svg>\n");
}

fn dl(out: &mut String, rows: &[(&str, String)]) {
    out.push_str("<dl>\n");
    for (k, v) in rows {
        if !v.is_empty() {
            let _ = writeln!(out, "<dt>{}</dt><dd>{v}</dd>", esc(k));
        }
    }
    out.push_str("</dl>\n");
}

fn link(name: &str) -> String {
    format!(r##"<a href="#{0}" data-select="{0}">{0}</a>"##, esc(name))
}

/// What changed for one service, in words, from the semantic diff.
fn service_changes(name: &str, c: &Semantic) -> Vec<String> {
    let mut v = Vec::new();
    if c.services_added.iter().any(|s| s == name) {
        v.push("added".to_owned());
    }
    if c.services_removed.iter().any(|s| s == name) {
        v.push("removed".to_owned());
    }
    for x in c.images.iter().chain(&c.rollouts).chain(&c.exposure) {
        if x.service == name {
            v.push(format!(
                "{}: <code>{}</code> → <code>{}</code>",
                esc(&x.what),
                esc(&x.before),
                esc(&x.after)
            ));
        }
    }
    for s in c.slos.iter().filter(|s| s.service == name) {
        v.push(format!(
            "{} SLO: {} → {}",
            esc(&s.slo),
            esc(s.before.as_deref().unwrap_or("none")),
            esc(s.after.as_deref().unwrap_or("none"))
        ));
    }
    for s in c.ceilings.iter().filter(|s| s.service == name) {
        v.push(format!(
            "availability ceiling: {} → {}{}",
            esc(s.before.as_deref().unwrap_or("none")),
            esc(s.after.as_deref().unwrap_or("none")),
            if s.feasible {
                ""
            } else {
                " (objective infeasible)"
            }
        ));
    }
    for e in &c.edges_added {
        if e.caller == name {
            v.push(format!("now calls {}", link(&e.callee)));
        } else if e.callee == name {
            v.push(format!("now called by {}", link(&e.caller)));
        }
    }
    for e in &c.edges_removed {
        if e.caller == name {
            v.push(format!("no longer calls {}", link(&e.callee)));
        } else if e.callee == name {
            v.push(format!("no longer called by {}", link(&e.caller)));
        }
    }
    v
}

fn card(out: &mut String, n: &Node<'_>, sources: Option<&SourceMap>, changes: Option<&Semantic>) {
    let s = n.service;
    let _ = writeln!(
        out,
        r#"<article class="card{}" id="card-{}" data-service="{}" hidden>"#,
        n.status.class(),
        esc(&s.name),
        esc(&s.name)
    );
    let _ = writeln!(out, "<h2>{}</h2>", esc(&s.name));
    if let Some(c) = changes {
        let list = service_changes(&s.name, c);
        if !list.is_empty() {
            out.push_str("<ul class=\"changes\">\n");
            for l in list {
                let _ = writeln!(out, "<li>{l}</li>");
            }
            out.push_str("</ul>\n");
        }
    }
    let kind = if s.schedule.is_some() {
        "cron job"
    } else if s.is_worker() {
        "worker"
    } else {
        "server"
    };
    let replicas = match s.replicas.max {
        Some(max) if max != s.replicas.min => format!(
            "{}–{} (CPU target {}%)",
            s.replicas.min, max, s.replicas.cpu_target
        ),
        _ => s.replicas.min.to_string(),
    };
    let slos: Vec<String> = s
        .slos
        .iter()
        .map(|x| {
            let mut t = format!(
                "{} {} over {}",
                x.kind.as_str(),
                x.target.value,
                x.window.canonical()
            );
            if let Some(th) = &x.threshold {
                let _ = write!(t, " under {}", th.value.canonical());
            }
            esc(&t)
        })
        .collect();
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|p| esc(&format!("{} {}/{}", p.name, p.port, p.protocol.as_str())))
        .collect();
    let calls: Vec<String> = n
        .topology
        .calls(&s.name)
        .map(|e| {
            let policy = e.policy_label();
            let extra = if policy.is_empty() {
                String::new()
            } else {
                format!(", {policy}")
            };
            format!(
                "{}{}",
                link(&e.callee),
                esc(&format!(" ({}){extra}", e.port_label(PortStyle::Name)))
            )
        })
        .collect();
    let callers: Vec<String> = n
        .topology
        .callers(&s.name)
        .iter()
        .map(|e| link(&e.caller))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let externals: Vec<String> = s
        .externals
        .iter()
        .map(|x| esc(&format!("{} ({}:{})", x.name, x.host, x.port)))
        .collect();
    let source = sources.map_or_else(String::new, |m| esc(&m.location(s.name_span)));
    dl(
        out,
        &[
            ("Source", source.clone()),
            ("Owner", s.owner.as_deref().map(esc).unwrap_or_default()),
            (
                "Tier",
                s.tier
                    .as_ref()
                    .map(|t| t.value.to_string())
                    .unwrap_or_default(),
            ),
            ("Kind", kind.to_owned()),
            ("Release wave", n.wave.to_string()),
            (
                "Image",
                format!("<code>{}</code>", esc(&s.image.reference())),
            ),
            ("Replicas", replicas),
            ("Ports", ports.join("<br>")),
            ("SLOs", slos.join("<br>")),
            ("Rollout", esc(&rollout_text(s))),
            (
                "Exposed",
                if s.expose.is_some() {
                    esc(&exposure_text(s))
                } else {
                    String::new()
                },
            ),
            ("Calls", calls.join("<br>")),
            ("Called by", callers.join(", ")),
            ("External", externals.join("<br>")),
        ],
    );
    out.push_str("</article>\n");
}

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --line: #d1d9e0;
  --accent: #0969da; --added: #1a7f37; --added-bg: #dafbe1; --removed: #cf222e; --removed-bg: #ffebe9;
  --changed: #9a6700; --changed-bg: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 16px 24px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: var(--muted); }
.legend span { display: inline-block; margin-right: 12px; padding: 0 6px; border-radius: 4px; border: 1px solid; }
.legend .added { color: var(--added); background: var(--added-bg); }
.legend .removed { color: var(--removed); background: var(--removed-bg); }
.legend .changed { color: var(--changed); background: var(--changed-bg); }
main { display: grid; grid-template-columns: minmax(0, 1fr) 380px; min-height: calc(100vh - 80px); }
#graph { overflow: auto; padding: 12px; }
#topology { max-width: 100%; height: auto; }
#cards { border-left: 1px solid var(--line); background: var(--panel); padding: 16px 20px; overflow: auto; }
#hint { color: var(--muted); }
.wave { fill: var(--panel); stroke: var(--line); }
.wave-label { fill: var(--muted); font-size: 12px; font-weight: 600; }
.edge { fill: none; stroke: #818b98; stroke-width: 1.5; }
.edge.optional { stroke-dasharray: 5 4; }
.edge.added { stroke: var(--added); stroke-width: 2.5; }
.edge.removed { stroke: var(--removed); stroke-dasharray: 3 3; }
.edge.related { stroke: var(--accent); stroke-width: 2.5; }
.node { cursor: pointer; }
.node rect { fill: var(--bg); stroke: #818b98; stroke-width: 1.5; }
.node .name { font-weight: 600; font-size: 14px; fill: var(--fg); }
.node .sub { font-size: 11px; fill: var(--muted); }
.node.added rect { fill: var(--added-bg); stroke: var(--added); }
.node.removed rect { fill: var(--removed-bg); stroke: var(--removed); stroke-dasharray: 4 3; }
.node.changed rect { fill: var(--changed-bg); stroke: var(--changed); }
.node:focus { outline: none; }
.node:focus rect, .node.selected rect { stroke: var(--accent); stroke-width: 3; }
.card h2 { margin: 0 0 8px; font-size: 18px; }
.card dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; }
.card dt { color: var(--muted); }
.card dd { margin: 0; overflow-wrap: anywhere; }
.card ul.changes { margin: 0 0 12px; padding: 8px 8px 8px 24px; background: var(--changed-bg); border-radius: 6px; }
.card a { color: var(--accent); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
"#;

const SCRIPT: &str = r##"
(function () {
  "use strict";
  var nodes = document.querySelectorAll(".node");
  function select(name) {
    var found = false;
    document.querySelectorAll(".card").forEach(function (c) {
      var on = c.getAttribute("data-service") === name;
      c.hidden = !on;
      found = found || on;
    });
    if (!found) { return; }
    nodes.forEach(function (n) { n.classList.toggle("selected", n.getAttribute("data-service") === name); });
    document.querySelectorAll(".edge").forEach(function (e) {
      e.classList.toggle("related", e.getAttribute("data-from") === name || e.getAttribute("data-to") === name);
    });
    document.getElementById("hint").hidden = true;
    try { history.replaceState(null, "", "#" + encodeURIComponent(name)); } catch (err) { /* file: URLs in some browsers */ }
  }
  nodes.forEach(function (n) {
    n.addEventListener("click", function () { select(n.getAttribute("data-service")); });
    n.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(n.getAttribute("data-service")); }
    });
  });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("[data-select]") : null;
    if (a) { ev.preventDefault(); select(a.getAttribute("data-select")); }
  });
  if (location.hash.length > 1) { select(decodeURIComponent(location.hash.slice(1))); }
})();
"##;

/// The page.
#[must_use]
pub fn html(input: &Input<'_>) -> String {
    let (nodes, edges, cols, rows) = layout(input);
    let m = input.model;
    let deps = input.topology.edges.len();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<!-- Generated by nestioc from nestio.kdl; run `nestioc report` to refresh. -->\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"nestioc {}\">\n<title>{} · topology</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        env!("CARGO_PKG_VERSION"),
        esc(&m.project.name)
    );
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let _ = writeln!(
        out,
        "<header>\n<h1>{}</h1>\n<p>{} · {} · {} · namespace <code>{}</code> · mesh {}</p>",
        esc(&m.project.name),
        plural(m.services.len(), "service"),
        if deps == 1 {
            "1 dependency".to_owned()
        } else {
            format!("{deps} dependencies")
        },
        plural(input.topology.waves.len(), "release wave"),
        esc(&m.project.namespace),
        m.project.mesh.as_str()
    );
    if let Some(b) = &input.base {
        let c = b.changes;
        let _ = writeln!(
            out,
            "<p class=\"legend\">Compared with <code>{}</code>: <span class=\"added\">{} added</span><span class=\"removed\">{} removed</span><span class=\"changed\">{} changed</span>dependencies: {} added, {} removed</p>",
            esc(b.label),
            c.services_added.len(),
            c.services_removed.len(),
            nodes.iter().filter(|n| n.status == Status::Changed).count(),
            c.edges_added.len(),
            c.edges_removed.len()
        );
    }
    out.push_str("</header>\n<main>\n<section id=\"graph\">\n");
    svg(&mut out, &nodes, &edges, cols, rows);
    out.push_str(
        "</section>\n<aside id=\"cards\">\n<p id=\"hint\">Select a service in the graph to see its card.</p>\n",
    );
    let mut by_name: Vec<&Node<'_>> = nodes.iter().collect();
    by_name.sort_by(|a, b| a.service.name.cmp(&b.service.name));
    for n in by_name {
        // A removed service's source is in the base, whose files are not loaded here.
        let sources = (n.status != Status::Removed).then_some(input.sources);
        card(&mut out, n, sources, input.base.as_ref().map(|b| b.changes));
    }
    let _ = writeln!(
        out,
        "</aside>\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    // Most user strings are validated long before they get here (names, owners, hosts);
    // the page escapes everything anyway, attributes included.
    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert('x')</script> & "co""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;"
        );
    }
}
