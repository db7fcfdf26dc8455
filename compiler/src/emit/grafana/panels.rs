//! The building blocks of every dashboard: exact numbers, selectors scoped to the
//! dashboard's namespace, queries, panels (time series, stat, text, links), the grid that
//! lays them out, and the dashboard skeleton (variables, tags, links) both kinds share.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::{
    DASHBOARD_VERSION, GRID_WIDTH, PROMETHEUS, SCHEMA_VERSION, TESTDATA, dashboard_url, slo_id,
};
use crate::emit::EmitContext;
use crate::emit::prometheus::{BURN_WINDOWS, factor};
use crate::graph::Edge;
use crate::model::{Slo, SloKind};

/// An exact decimal as a JSON number: `0.999`, never `0.9990000000000001`.
fn number(d: Decimal) -> Value {
    let text = d.normalize().to_string();
    if let Ok(i) = text.parse::<i64>() {
        return json!(i);
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// The SLO's objective as a ratio (99.9 -> 0.999).
pub(super) fn objective(slo: &Slo) -> Decimal {
    slo.target.value.ratio()
}

/// The burn rate at which the `prometheus` target's fast-burn alert pages: 2% of the
/// budget spent in an hour (14.4 for a 30-day period).
pub(super) fn page_burn_rate(slo: &Slo) -> Decimal {
    BURN_WINDOWS
        .first()
        .map_or(Decimal::ONE, |w| factor(w, &slo.window))
}

/// "availability: 99.9% over 30d", "latency: 99% under 300ms over 30d".
pub(super) fn slo_title(slo: &Slo) -> String {
    let under = slo
        .threshold
        .as_ref()
        .map(|t| format!(" under {}", t.value.canonical()))
        .unwrap_or_default();
    format!(
        "{}: {}{under} over {}",
        slo.kind.as_str(),
        slo.target.value,
        slo.window.canonical()
    )
}

/// Namespaces of the environments, in declaration order, once each.
fn namespaces(cx: &EmitContext<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for env in cx.environments() {
        if !out.contains(&env.namespace) {
            out.push(env.namespace);
        }
    }
    out
}

/// Scopes a query from [`metrics`](crate::emit::metrics) to the dashboard's namespace. Every `{` in those
/// queries opens a selector with at least one matcher, so the namespace matcher goes first.
#[must_use]
pub(super) fn in_namespace(expr: &str) -> String {
    expr.replace('{', "{namespace=\"$namespace\",")
}

pub(super) fn slo_selector(service: &str, kind: SloKind, namespaced: bool) -> String {
    let ns = if namespaced {
        ", namespace=\"$namespace\""
    } else {
        ""
    };
    format!("{{slo_id=\"{}\"{ns}}}", slo_id(service, kind))
}

pub(super) fn edge_selector(edge: &Edge) -> String {
    format!(
        "{{source=\"{}\", destination=\"{}\", namespace=\"$namespace\"}}",
        edge.caller, edge.callee
    )
}

pub(super) fn prometheus() -> Value {
    json!({"type": PROMETHEUS, "uid": "${datasource}"})
}

pub(super) fn testdata() -> Value {
    json!({"type": TESTDATA, "uid": "${testdata}"})
}

/// A range query (a line over the dashboard's time range). Queries name no data source:
/// they use their panel's, `${datasource}`.
pub(super) fn query(ref_id: &str, expr: &str, legend: &str) -> Value {
    json!({
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": true,
        "refId": ref_id,
    })
}

/// An instant query (one value: now).
pub(super) fn instant(ref_id: &str, expr: &str, legend: &str) -> Value {
    json!({
        "editorMode": "code",
        "expr": expr,
        "instant": true,
        "legendFormat": legend,
        "range": false,
        "refId": ref_id,
    })
}

pub(super) fn ref_id(i: usize) -> String {
    char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)).to_string()
}

/// Threshold steps: a base colour, then `(value, colour)` in increasing order.
pub(super) fn thresholds(base: &str, steps: &[(Decimal, &str)]) -> Value {
    let mut list = vec![json!({"color": base, "value": null})];
    list.extend(
        steps
            .iter()
            .map(|(v, c)| json!({"color": c, "value": number(*v)})),
    );
    json!({"mode": "absolute", "steps": list})
}

/// A link to another dashboard, keeping the time range and the variables.
pub(super) fn link(title: &str, tooltip: &str, uid: &str) -> Value {
    json!({
        "asDropdown": false,
        "icon": "dashboard",
        "includeVars": true,
        "keepTime": true,
        "tags": [],
        "targetBlank": false,
        "title": title,
        "tooltip": tooltip,
        "type": "link",
        "url": dashboard_url(uid),
    })
}

/// The same link as a panel link: panel links carry the time range and the variables in
/// their URL.
pub(super) fn panel_link(title: &str, uid: &str) -> Value {
    let mut l = link(title, title, uid);
    l["url"] = json!(format!(
        "{}?${{__url_time_range}}&${{__all_variables}}",
        dashboard_url(uid)
    ));
    l
}

pub(super) struct Timeseries<'a> {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) unit: &'a str,
    pub(super) targets: Vec<Value>,
    /// Dashed lines (a threshold the series should stay under).
    pub(super) lines: Option<Value>,
    pub(super) links: Vec<Value>,
}

pub(super) fn timeseries(t: Timeseries<'_>) -> Value {
    let mut defaults = json!({
        "custom": {"fillOpacity": 10, "lineWidth": 1, "showPoints": "never"},
        "unit": t.unit,
    });
    if let Some(lines) = t.lines {
        defaults["custom"]["thresholdsStyle"] = json!({"mode": "dashed"});
        defaults["thresholds"] = lines;
    }
    let mut p = json!({
        "type": "timeseries",
        "title": t.title,
        "description": t.description,
        "datasource": prometheus(),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": true},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": t.targets,
    });
    if !t.links.is_empty() {
        p["links"] = json!(t.links);
    }
    p
}

pub(super) struct Stat<'a> {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) unit: &'a str,
    pub(super) decimals: Option<u32>,
    pub(super) targets: Vec<Value>,
    pub(super) thresholds: Value,
    pub(super) links: Vec<Value>,
}

pub(super) fn stat(s: Stat<'_>) -> Value {
    let mut defaults = json!({
        "color": {"mode": "thresholds"},
        "thresholds": s.thresholds,
        "unit": s.unit,
    });
    if let Some(d) = s.decimals {
        defaults["decimals"] = json!(d);
    }
    let mut p = json!({
        "type": "stat",
        "title": s.title,
        "description": s.description,
        "datasource": prometheus(),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "textMode": if s.targets.len() > 1 { "value_and_name" } else { "auto" },
        },
        "targets": s.targets,
    });
    if !s.links.is_empty() {
        p["links"] = json!(s.links);
    }
    p
}

pub(super) fn text(title: &str, markdown: &str, links: Vec<Value>) -> Value {
    let mut p = json!({
        "type": "text",
        "title": title,
        "options": {"content": markdown, "mode": "markdown"},
    });
    if !links.is_empty() {
        p["links"] = json!(links);
    }
    p
}

/// Lays panels out on Grafana's 24-column grid, left to right, a new line when a panel
/// does not fit; numbers them in order.
#[derive(Default)]
pub(super) struct Grid {
    pub(super) panels: Vec<Value>,
    pub(super) next_id: u32,
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) line_height: u32,
}

impl Grid {
    pub(super) fn new_line(&mut self) {
        if self.x > 0 {
            self.y += self.line_height;
            self.x = 0;
            self.line_height = 0;
        }
    }

    pub(super) fn place(&mut self, w: u32, h: u32, panel: Value) {
        if self.x + w > GRID_WIDTH {
            self.new_line();
        }
        self.next_id += 1;
        let pos = json!({"h": h, "w": w, "x": self.x, "y": self.y});
        // `type` and `title` first, then where it is, then the rest: readable diffs.
        let mut m = Map::new();
        let Value::Object(fields) = panel else {
            return;
        };
        for key in ["type", "title"] {
            if let Some(v) = fields.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
        m.insert("id".into(), json!(self.next_id));
        m.insert("gridPos".into(), pos);
        for (k, v) in fields {
            if k != "type" && k != "title" {
                m.insert(k, v);
            }
        }
        self.panels.push(Value::Object(m));
        self.x += w;
        self.line_height = self.line_height.max(h);
    }

    /// A row: a full-width header; the panels after it belong to it (rows stay open).
    pub(super) fn row(&mut self, title: &str) {
        self.new_line();
        self.next_id += 1;
        self.panels.push(json!({
            "type": "row",
            "title": title,
            "id": self.next_id,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": self.y},
            "collapsed": false,
            "panels": [],
        }));
        self.y += 1;
    }
}

pub(super) fn variables(cx: &EmitContext<'_>, with_testdata: bool) -> Value {
    let ns = namespaces(cx);
    let first = ns.first().cloned().unwrap_or_default();
    let options: Vec<Value> = ns
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"selected": i == 0, "text": n, "value": n}))
        .collect();
    let mut list = vec![
        json!({
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": PROMETHEUS,
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "refresh": 1,
            "regex": "",
            "options": [],
        }),
        json!({
            "name": "namespace",
            "label": "Namespace",
            "description": "The environment's namespace (from the project's environments)",
            "type": "custom",
            "query": ns.join(","),
            "current": {"text": first, "value": first},
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "options": options,
        }),
    ];
    if with_testdata {
        list.push(json!({
            "name": "testdata",
            "label": "Topology (TestData)",
            "description": "A TestData data source: the topology graph is static, written into the dashboard as CSV",
            "type": "datasource",
            "query": TESTDATA,
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "refresh": 1,
            "regex": "",
            "options": [],
        }));
    }
    json!({ "list": list })
}

pub(super) fn project_tag(cx: &EmitContext<'_>) -> String {
    format!("project:{}", cx.model.project.name)
}

pub(super) fn project_dashboards_link(cx: &EmitContext<'_>) -> Value {
    json!({
        "asDropdown": true,
        "icon": "external link",
        "includeVars": true,
        "keepTime": true,
        "tags": [project_tag(cx)],
        "targetBlank": false,
        "title": format!("{} dashboards", cx.model.project.name),
        "tooltip": "Every dashboard of the project",
        "type": "dashboards",
    })
}

pub(super) struct Dashboard {
    pub(super) uid: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) tags: Vec<String>,
    pub(super) links: Vec<Value>,
    pub(super) templating: Value,
    pub(super) panels: Vec<Value>,
}

pub(super) fn dashboard(d: Dashboard) -> Value {
    json!({
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": d.tags,
        "version": DASHBOARD_VERSION,
        "schemaVersion": SCHEMA_VERSION,
        "editable": false,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "refresh": "1m",
        "links": d.links,
        "templating": d.templating,
        "panels": d.panels,
    })
}

pub(super) fn to_json(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_goes_into_every_selector() {
        let q = "sum by (namespace) (rate(x_total{job=\"a\"}[5m])) / sum(rate(y{b=\"c\"}[5m]))";
        assert_eq!(
            in_namespace(q),
            "sum by (namespace) (rate(x_total{namespace=\"$namespace\",job=\"a\"}[5m])) / sum(rate(y{namespace=\"$namespace\",b=\"c\"}[5m]))"
        );
    }

    #[test]
    fn decimals_stay_exact() {
        assert_eq!(number(Decimal::new(999, 3)).to_string(), "0.999");
        assert_eq!(
            number(Decimal::ONE - Decimal::new(9995, 4)).to_string(),
            "0.0005"
        );
    }
}
