//! The building blocks of every dashboard: exact numbers, selectors scoped to the
//! dashboard's namespace, queries, panels (time series, stat, text, links), the grid that
//! lays them out, and the dashboard skeleton (variables, tags, links) both kinds share.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Number;

use super::{
    DASHBOARD_VERSION, GRID_WIDTH, PROMETHEUS, SCHEMA_VERSION, TESTDATA, dashboard_url, slo_id,
};
use crate::emit::EmitContext;
use crate::emit::prometheus::{BURN_WINDOWS, factor};
use crate::graph::Edge;
use crate::model::{Slo, SloKind};

/// An exact decimal as a JSON number: `0.999`, never `0.9990000000000001`.
fn number(d: Decimal) -> Option<Number> {
    let text = d.normalize().to_string();
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// A dashboard's JSON model
/// (grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DashboardModel {
    uid: String,
    title: String,
    description: String,
    tags: Vec<String>,
    version: u32,
    schema_version: u32,
    editable: bool,
    /// 1: the crosshair is shared by every panel.
    graph_tooltip: u32,
    time: TimeRange,
    timezone: &'static str,
    refresh: &'static str,
    links: Vec<Link>,
    templating: Templating,
    panels: Vec<Panel>,
}

#[derive(Debug, Serialize)]
struct TimeRange {
    from: &'static str,
    to: &'static str,
}

/// A dashboard link; a panel link has the same fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Link {
    as_dropdown: bool,
    icon: &'static str,
    include_vars: bool,
    keep_time: bool,
    /// For a `dashboards` link: the tags of the dashboards it lists.
    tags: Vec<String>,
    target_blank: bool,
    title: String,
    tooltip: String,
    #[serde(rename = "type")]
    type_: LinkType,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// One dashboard (`link`, by URL), or every dashboard with the link's tags (`dashboards`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum LinkType {
    Link,
    Dashboards,
}

/// A panel (the `panels` of the JSON model). `type` and `title` first, then where it is,
/// then the rest: readable diffs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Panel {
    #[serde(rename = "type")]
    type_: PanelType,
    title: String,
    /// The grid's, when it places the panel.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid_pos: Option<GridPos>,
    /// A row's: whether it hides its panels, and the panels it hides (none: rows stay
    /// open, their panels follow them in the dashboard's list).
    #[serde(skip_serializing_if = "Option::is_none")]
    collapsed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    panels: Option<Vec<Panel>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    datasource: Option<DataSourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field_config: Option<FieldConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<PanelOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    targets: Option<Vec<Target>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

impl Panel {
    fn new(type_: PanelType, title: String) -> Self {
        Panel {
            type_,
            title,
            id: None,
            grid_pos: None,
            collapsed: None,
            panels: None,
            description: None,
            datasource: None,
            field_config: None,
            options: None,
            targets: None,
            links: Vec::new(),
        }
    }

    /// A stat panel names each value (by its query's legend), even when there is one.
    pub(super) fn name_values(&mut self) {
        if let Some(PanelOptions::Stat(o)) = &mut self.options {
            o.text_mode = "value_and_name";
        }
    }
}

/// The panel plugin's id.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum PanelType {
    Timeseries,
    Stat,
    Text,
    Row,
    NodeGraph,
}

/// Where a panel is on the 24-column grid, in grid units.
#[derive(Debug, Serialize)]
struct GridPos {
    h: u32,
    w: u32,
    x: u32,
    y: u32,
}

/// A data source by type and uid (here a dashboard variable's value).
#[derive(Debug, Clone, Serialize)]
pub(super) struct DataSourceRef {
    #[serde(rename = "type")]
    type_: &'static str,
    uid: &'static str,
}

/// `fieldConfig`: how the panel shows its fields, by default and for matched fields.
#[derive(Debug, Serialize)]
pub(super) struct FieldConfig {
    pub(super) defaults: FieldDefaults,
    pub(super) overrides: Vec<Override>,
}

/// `fieldConfig.defaults`: each panel kind's own fields, in the order nestioc writes them.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum FieldDefaults {
    Timeseries(TimeseriesDefaults),
    Stat(StatDefaults),
    /// Nothing beyond Grafana's defaults.
    None {},
}

#[derive(Debug, Serialize)]
pub(super) struct TimeseriesDefaults {
    custom: TimeseriesCustom,
    unit: String,
    /// Shown as dashed lines ([`TimeseriesCustom::thresholds_style`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    thresholds: Option<Thresholds>,
}

/// The time series plugin's own field options.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TimeseriesCustom {
    fill_opacity: u32,
    line_width: u32,
    show_points: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thresholds_style: Option<Mode>,
}

#[derive(Debug, Serialize)]
pub(super) struct StatDefaults {
    /// Coloured by the thresholds.
    color: Mode,
    thresholds: Thresholds,
    unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    decimals: Option<u32>,
}

/// `{"mode": ...}`, which several options are.
#[derive(Debug, Serialize)]
struct Mode {
    mode: &'static str,
}

/// Threshold steps: a base colour (no value), then a colour from each value up.
#[derive(Debug, Serialize)]
pub(super) struct Thresholds {
    mode: &'static str,
    steps: Vec<ThresholdStep>,
}

#[derive(Debug, Serialize)]
struct ThresholdStep {
    color: &'static str,
    value: Option<Number>,
}

/// `fieldConfig.overrides[*]`: properties for the fields a matcher selects.
#[derive(Debug, Serialize)]
pub(super) struct Override {
    pub(super) matcher: Matcher,
    pub(super) properties: Vec<Property>,
}

#[derive(Debug, Serialize)]
pub(super) struct Matcher {
    pub(super) id: &'static str,
    pub(super) options: &'static str,
}

/// A field property: here only `links`, the field's data links.
#[derive(Debug, Serialize)]
pub(super) struct Property {
    pub(super) id: &'static str,
    pub(super) value: Vec<DataLink>,
}

#[derive(Debug, Serialize)]
pub(super) struct DataLink {
    pub(super) title: &'static str,
    pub(super) url: &'static str,
}

/// A panel's `options`: each panel plugin has its own.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum PanelOptions {
    Timeseries(TimeseriesOptions),
    Stat(StatOptions),
    Text(TextOptions),
    NodeGraph(NodeGraphOptions),
}

#[derive(Debug, Serialize)]
pub(super) struct TimeseriesOptions {
    legend: Legend,
    tooltip: Tooltip,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Legend {
    calcs: Vec<&'static str>,
    display_mode: &'static str,
    placement: &'static str,
    show_legend: bool,
}

#[derive(Debug, Serialize)]
struct Tooltip {
    mode: &'static str,
    sort: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatOptions {
    color_mode: &'static str,
    graph_mode: &'static str,
    justify_mode: &'static str,
    orientation: &'static str,
    reduce_options: ReduceOptions,
    /// `value_and_name` names each value (by its query's legend).
    text_mode: &'static str,
}

/// Which value of each series a stat shows: the last one.
#[derive(Debug, Serialize)]
struct ReduceOptions {
    calcs: Vec<&'static str>,
    fields: &'static str,
    values: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct TextOptions {
    content: String,
    mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NodeGraphOptions {
    pub(super) layout_algorithm: &'static str,
    pub(super) zoom_mode: &'static str,
}

/// A query (`targets[*]`), as its data source reads it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Target {
    Prometheus(PrometheusQuery),
    TestData(TestDataQuery),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PrometheusQuery {
    editor_mode: &'static str,
    expr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    instant: Option<bool>,
    legend_format: String,
    range: bool,
    ref_id: String,
}

/// A TestData query: here a frame written into the dashboard as CSV.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TestDataQuery {
    pub(super) datasource: DataSourceRef,
    pub(super) ref_id: &'static str,
    pub(super) scenario_id: &'static str,
    pub(super) csv_content: String,
}

/// `templating`: the dashboard's variables.
#[derive(Debug, Serialize)]
pub(super) struct Templating {
    list: Vec<Variable>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Variable {
    name: &'static str,
    label: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
    #[serde(rename = "type")]
    type_: VariableType,
    /// A `datasource` variable's plugin id; a `custom` one's values, comma-separated.
    query: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<Current>,
    /// 0: shown with its label.
    hide: u32,
    include_all: bool,
    multi: bool,
    /// 1: the data sources are listed when the dashboard loads.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regex: Option<&'static str>,
    options: Vec<VariableOption>,
}

impl Variable {
    /// A data source variable: any data source of the plugin `query`.
    fn datasource(name: &'static str, label: &'static str, query: &str) -> Self {
        Variable {
            name,
            label,
            description: None,
            type_: VariableType::Datasource,
            query: query.to_owned(),
            current: None,
            hide: 0,
            include_all: false,
            multi: false,
            refresh: Some(1),
            regex: Some(""),
            options: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum VariableType {
    Datasource,
    Custom,
}

#[derive(Debug, Serialize)]
struct Current {
    text: String,
    value: String,
}

#[derive(Debug, Serialize)]
struct VariableOption {
    selected: bool,
    text: String,
    value: String,
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

pub(super) fn prometheus() -> DataSourceRef {
    DataSourceRef {
        type_: PROMETHEUS,
        uid: "${datasource}",
    }
}

pub(super) fn testdata() -> DataSourceRef {
    DataSourceRef {
        type_: TESTDATA,
        uid: "${testdata}",
    }
}

/// A range query (a line over the dashboard's time range). Queries name no data source:
/// they use their panel's, `${datasource}`.
pub(super) fn query(ref_id: &str, expr: &str, legend: &str) -> Target {
    Target::Prometheus(PrometheusQuery {
        editor_mode: "code",
        expr: expr.to_owned(),
        instant: None,
        legend_format: legend.to_owned(),
        range: true,
        ref_id: ref_id.to_owned(),
    })
}

/// An instant query (one value: now).
pub(super) fn instant(ref_id: &str, expr: &str, legend: &str) -> Target {
    Target::Prometheus(PrometheusQuery {
        editor_mode: "code",
        expr: expr.to_owned(),
        instant: Some(true),
        legend_format: legend.to_owned(),
        range: false,
        ref_id: ref_id.to_owned(),
    })
}

pub(super) fn ref_id(i: usize) -> String {
    char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)).to_string()
}

/// Threshold steps: a base colour, then `(value, colour)` in increasing order.
pub(super) fn thresholds(base: &'static str, steps: &[(Decimal, &'static str)]) -> Thresholds {
    let mut list = vec![ThresholdStep {
        color: base,
        value: None,
    }];
    list.extend(steps.iter().map(|&(v, color)| ThresholdStep {
        color,
        value: number(v),
    }));
    Thresholds {
        mode: "absolute",
        steps: list,
    }
}

/// A link to another dashboard, keeping the time range and the variables.
pub(super) fn link(title: &str, tooltip: &str, uid: &str) -> Link {
    Link {
        as_dropdown: false,
        icon: "dashboard",
        include_vars: true,
        keep_time: true,
        tags: Vec::new(),
        target_blank: false,
        title: title.to_owned(),
        tooltip: tooltip.to_owned(),
        type_: LinkType::Link,
        url: Some(dashboard_url(uid)),
    }
}

/// The same link as a panel link: panel links carry the time range and the variables in
/// their URL.
pub(super) fn panel_link(title: &str, uid: &str) -> Link {
    Link {
        url: Some(format!(
            "{}?${{__url_time_range}}&${{__all_variables}}",
            dashboard_url(uid)
        )),
        ..link(title, title, uid)
    }
}

pub(super) struct Timeseries<'a> {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) unit: &'a str,
    pub(super) targets: Vec<Target>,
    /// Dashed lines (a threshold the series should stay under).
    pub(super) lines: Option<Thresholds>,
    pub(super) links: Vec<Link>,
}

pub(super) fn timeseries(t: Timeseries<'_>) -> Panel {
    let defaults = TimeseriesDefaults {
        custom: TimeseriesCustom {
            fill_opacity: 10,
            line_width: 1,
            show_points: "never",
            thresholds_style: t.lines.as_ref().map(|_| Mode { mode: "dashed" }),
        },
        unit: t.unit.to_owned(),
        thresholds: t.lines,
    };
    Panel {
        description: Some(t.description),
        datasource: Some(prometheus()),
        field_config: Some(FieldConfig {
            defaults: FieldDefaults::Timeseries(defaults),
            overrides: Vec::new(),
        }),
        options: Some(PanelOptions::Timeseries(TimeseriesOptions {
            legend: Legend {
                calcs: Vec::new(),
                display_mode: "list",
                placement: "bottom",
                show_legend: true,
            },
            tooltip: Tooltip {
                mode: "multi",
                sort: "desc",
            },
        })),
        targets: Some(t.targets),
        links: t.links,
        ..Panel::new(PanelType::Timeseries, t.title)
    }
}

pub(super) struct Stat<'a> {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) unit: &'a str,
    pub(super) decimals: Option<u32>,
    pub(super) targets: Vec<Target>,
    pub(super) thresholds: Thresholds,
    pub(super) links: Vec<Link>,
}

pub(super) fn stat(s: Stat<'_>) -> Panel {
    let defaults = StatDefaults {
        color: Mode { mode: "thresholds" },
        thresholds: s.thresholds,
        unit: s.unit.to_owned(),
        decimals: s.decimals,
    };
    Panel {
        description: Some(s.description),
        datasource: Some(prometheus()),
        field_config: Some(FieldConfig {
            defaults: FieldDefaults::Stat(defaults),
            overrides: Vec::new(),
        }),
        options: Some(PanelOptions::Stat(StatOptions {
            color_mode: "value",
            graph_mode: "none",
            justify_mode: "auto",
            orientation: "auto",
            reduce_options: ReduceOptions {
                calcs: vec!["lastNotNull"],
                fields: "",
                values: false,
            },
            text_mode: if s.targets.len() > 1 {
                "value_and_name"
            } else {
                "auto"
            },
        })),
        targets: Some(s.targets),
        links: s.links,
        ..Panel::new(PanelType::Stat, s.title)
    }
}

pub(super) fn text(title: &str, markdown: &str, links: Vec<Link>) -> Panel {
    Panel {
        options: Some(PanelOptions::Text(TextOptions {
            content: markdown.to_owned(),
            mode: "markdown",
        })),
        links,
        ..Panel::new(PanelType::Text, title.to_owned())
    }
}

/// A panel of any kind, for what the helpers above do not make (the node graph).
pub(super) fn panel(
    type_: PanelType,
    title: &str,
    description: String,
    datasource: DataSourceRef,
    field_config: FieldConfig,
    options: PanelOptions,
    targets: Vec<Target>,
) -> Panel {
    Panel {
        description: Some(description),
        datasource: Some(datasource),
        field_config: Some(field_config),
        options: Some(options),
        targets: Some(targets),
        ..Panel::new(type_, title.to_owned())
    }
}

/// Lays panels out on Grafana's 24-column grid, left to right, a new line when a panel
/// does not fit; numbers them in order.
#[derive(Default)]
pub(super) struct Grid {
    pub(super) panels: Vec<Panel>,
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

    pub(super) fn place(&mut self, w: u32, h: u32, mut panel: Panel) {
        if self.x + w > GRID_WIDTH {
            self.new_line();
        }
        self.next_id += 1;
        panel.id = Some(self.next_id);
        panel.grid_pos = Some(GridPos {
            h,
            w,
            x: self.x,
            y: self.y,
        });
        self.panels.push(panel);
        self.x += w;
        self.line_height = self.line_height.max(h);
    }

    /// A row: a full-width header; the panels after it belong to it (rows stay open).
    pub(super) fn row(&mut self, title: &str) {
        self.new_line();
        self.next_id += 1;
        self.panels.push(Panel {
            id: Some(self.next_id),
            grid_pos: Some(GridPos {
                h: 1,
                w: GRID_WIDTH,
                x: 0,
                y: self.y,
            }),
            collapsed: Some(false),
            panels: Some(Vec::new()),
            ..Panel::new(PanelType::Row, title.to_owned())
        });
        self.y += 1;
    }
}

pub(super) fn variables(cx: &EmitContext<'_>, with_testdata: bool) -> Templating {
    let ns = namespaces(cx);
    let first = ns.first().cloned().unwrap_or_default();
    let options: Vec<VariableOption> = ns
        .iter()
        .enumerate()
        .map(|(i, n)| VariableOption {
            selected: i == 0,
            text: n.clone(),
            value: n.clone(),
        })
        .collect();
    let mut list = vec![
        Variable::datasource("datasource", "Prometheus", PROMETHEUS),
        Variable {
            name: "namespace",
            label: "Namespace",
            description: Some("The environment's namespace (from the project's environments)"),
            type_: VariableType::Custom,
            query: ns.join(","),
            current: Some(Current {
                text: first.clone(),
                value: first,
            }),
            hide: 0,
            include_all: false,
            multi: false,
            refresh: None,
            regex: None,
            options,
        },
    ];
    if with_testdata {
        list.push(Variable {
            description: Some(
                "A TestData data source: the topology graph is static, written into the dashboard as CSV",
            ),
            ..Variable::datasource("testdata", "Topology (TestData)", TESTDATA)
        });
    }
    Templating { list }
}

pub(super) fn project_tag(cx: &EmitContext<'_>) -> String {
    format!("project:{}", cx.model.project.name)
}

pub(super) fn project_dashboards_link(cx: &EmitContext<'_>) -> Link {
    Link {
        as_dropdown: true,
        icon: "external link",
        include_vars: true,
        keep_time: true,
        tags: vec![project_tag(cx)],
        target_blank: false,
        title: format!("{} dashboards", cx.model.project.name),
        tooltip: "Every dashboard of the project".to_owned(),
        type_: LinkType::Dashboards,
        url: None,
    }
}

pub(super) struct Dashboard {
    pub(super) uid: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) tags: Vec<String>,
    pub(super) links: Vec<Link>,
    pub(super) templating: Templating,
    pub(super) panels: Vec<Panel>,
}

pub(super) fn dashboard(d: Dashboard) -> DashboardModel {
    DashboardModel {
        uid: d.uid,
        title: d.title,
        description: d.description,
        tags: d.tags,
        version: DASHBOARD_VERSION,
        schema_version: SCHEMA_VERSION,
        editable: false,
        graph_tooltip: 1,
        time: TimeRange {
            from: "now-6h",
            to: "now",
        },
        timezone: "browser",
        refresh: "1m",
        links: d.links,
        templating: d.templating,
        panels: d.panels,
    }
}

pub(super) fn to_json<T: Serialize>(v: &T) -> String {
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
        let text = |d| number(d).map(|n| n.to_string());
        assert_eq!(text(Decimal::new(999, 3)).as_deref(), Some("0.999"));
        assert_eq!(
            text(Decimal::ONE - Decimal::new(9995, 4)).as_deref(),
            Some("0.0005")
        );
    }
}
