//! `fluentd`: log routing for `logging "fluentd"`. Three files:
//!
//! - `fluentd/fluent.conf`: tails every service's container logs in the project's
//!   namespaces, joins split and multi-line records, parses each service's lines by its
//!   `logs format`, adds Kubernetes metadata and ships them to Elasticsearch, one data
//!   stream per service, through a file buffer that outlives an Elasticsearch outage;
//! - `fluentd/fluentd.yaml`: the ServiceAccount, ClusterRole and ClusterRoleBinding the
//!   metadata filter needs, the ConfigMap holding fluent.conf, a NetworkPolicy and the
//!   DaemonSet, in the namespace [`NAMESPACE`];
//! - `fluentd/ilm-policy.json`: the index lifecycle policy from `retention` (also
//!   installed by Fluentd itself, from fluent.conf).
//!
//! Every plugin used is in one pinned image, [`IMAGE`]; the parameters are checked
//! against the plugins' sources by `tests/it/fluentd.rs`. User strings (regex patterns,
//! the URL) reach fluent.conf only through [`quote`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, HTTPGetAction, HostPathVolumeSource, KeyToPath, ObjectFieldSelector,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretVolumeSource, SecurityContext, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::yaml::{documents, header};
use super::{Artifact, EmitContext, Emitter};
use crate::diag::{Code, Diagnostic};
use crate::lower::logging::{EsUrl, parse_es_url};
use crate::model::{LogSystem, Logging, Service};

pub(super) struct Fluentd;

/// The namespace the log router runs in (next to Elasticsearch in most clusters). It is
/// not created here: deleting these manifests must never delete Elasticsearch with it.
pub(super) const NAMESPACE: &str = "logging";

/// The image, and the plugin versions it bundles (its Gemfile.lock): Fluentd 1.19.3,
/// fluent-plugin-parser-cri 0.1.1, fluent-plugin-concat 2.6.2,
/// fluent-plugin-kubernetes_metadata_filter 3.8.0, fluent-plugin-elasticsearch 5.4.4.
pub(super) const IMAGE: &str =
    "docker.io/fluent/fluentd-kubernetes-daemonset:v1.19.3-debian-elasticsearch8-1.1";
const FLUENTD_VERSION: &str = "1.19.3";

/// File buffers and tail positions live on the node, so a restarted pod resumes where
/// the previous one stopped; each project has its own directory below this one.
const BUFFER_ROOT: &str = "/var/log/fluentd-buffers";

/// `monitor_agent`: what the probes ask.
const MONITOR_PORT: u16 = 24220;
const MONITOR_PATH: &str = "/api/plugins.json";

/// The label events enter once their lines are joined: parsing, metadata, output.
const LABEL: &str = "@NESTIO";

/// Containers a mesh adds to every pod: never a service's own logs.
const SIDECARS: &[&str] = &[
    "istio-init",
    "istio-proxy",
    "istio-validation",
    "linkerd-init",
    "linkerd-network-validator",
    "linkerd-proxy",
];

/// A Fluentd double-quoted string. Fluentd reads `\` escapes and `#{...}` (embedded
/// Ruby) inside double quotes, so `\`, `"` and `#` are escaped and control characters
/// written as escapes: whatever the value, it stays one string on one line.
#[must_use]
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '#' => out.push_str("\\#"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}' => out.push_str("\\0"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A regular expression as Fluentd's `regexp` parameters (and fluent-plugin-concat,
/// which strips the first and last character) read it: `/.../`, quoted. The slashes
/// also keep a pattern that starts with `/` from being taken for a `/.../i` literal.
fn regex(pattern: &str) -> String {
    quote(&format!("/{pattern}/"))
}

/// A comment line never ends early: control characters become `?`.
fn comment_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// fluent.conf, written line by line with two-space indentation.
#[derive(Default)]
struct Conf {
    text: String,
    depth: usize,
}

impl Conf {
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.text.push_str("  ");
        }
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn blank(&mut self) {
        self.text.push('\n');
    }

    fn comment(&mut self, s: &str) {
        for l in s.lines() {
            let l = comment_safe(l);
            if l.is_empty() {
                self.line("#");
            } else {
                self.line(&format!("# {l}"));
            }
        }
    }

    /// `<name>` or `<name arg>`: `arg` is a tag pattern or a label built from names.
    fn open(&mut self, name: &str, arg: Option<&str>) {
        match arg {
            Some(a) => self.line(&format!("<{name} {a}>")),
            None => self.line(&format!("<{name}>")),
        }
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.line(&format!("</{name}>"));
    }

    /// A parameter whose value is a constant of this module or a number.
    fn param(&mut self, key: &str, value: impl std::fmt::Display) {
        self.line(&format!("{key} {value}"));
    }

    /// A parameter whose value is (or contains) a user string.
    fn string(&mut self, key: &str, value: &str) {
        self.line(&format!("{key} {}", quote(value)));
    }
}

/// An Elasticsearch time value: one unit only (`14d`, `36h`), as ILM wants it.
fn es_time(millis: u64) -> String {
    for (unit, factor) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis >= factor && millis.is_multiple_of(factor) {
            return format!("{}{unit}", millis / factor);
        }
    }
    format!("{millis}ms")
}

/// Where the DaemonSet mounts the Secret named by `elasticsearch ... ca=`.
const ES_CA_DIR: &str = "/fluentd/elasticsearch-ca";
/// Where the DaemonSet mounts the Secret named by `elasticsearch ... credentials=`.
const ES_CREDENTIALS_DIR: &str = "/fluentd/elasticsearch-credentials";

struct Names {
    /// Every object of the log router: `fluentd-<project>`.
    object: String,
    /// The data stream of a service is `<stream_prefix><service>`.
    stream_prefix: String,
    ilm_policy: String,
    buffer_dir: String,
}

fn names(project: &str) -> Names {
    Names {
        object: format!("fluentd-{project}"),
        // `.` is in no project or service name: `nestio-a.b-c` and `nestio-a-b.c`
        // stay apart. Not `logs-*-*`, whose built-in template would win over ours.
        stream_prefix: format!("nestio-{project}."),
        ilm_policy: format!("nestio-{project}-logs"),
        buffer_dir: format!("{BUFFER_ROOT}/{project}"),
    }
}

/// The index lifecycle: roll the backing index over daily (or sooner for a retention
/// under a day, or at 50 GB a shard), delete it `retention` after its rollover.
fn ilm_policy(cx: &EmitContext<'_>, logging: &Logging) -> IlmPolicy {
    let retention = logging.retention.millis.max(1000);
    IlmPolicy {
        policy: Policy {
            meta: PolicyMeta {
                generated_by: format!(
                    "Generated by nestioc from {}. Do not edit: change the topology and run `nestioc build`.",
                    cx.sources.get(cx.model.project.source).name
                ),
                source: cx.location(logging.span),
                retention: logging.retention.canonical(),
            },
            phases: Phases {
                hot: HotPhase {
                    actions: HotActions {
                        rollover: Rollover {
                            max_age: es_time(retention.min(86_400_000)),
                            max_primary_shard_size: "50gb",
                        },
                    },
                },
                delete: DeletePhase {
                    min_age: es_time(retention),
                    actions: DeleteActions { delete: Delete {} },
                },
            },
        },
    }
}

/// An index lifecycle policy, as `PUT _ilm/policy/<name>` takes it
/// (www.elastic.co/guide/en/elasticsearch/reference/current/ilm-put-lifecycle.html).
#[derive(Debug, Serialize)]
struct IlmPolicy {
    policy: Policy,
}

#[derive(Debug, Serialize)]
struct Policy {
    /// Elasticsearch keeps `_meta` as given: where the policy comes from.
    #[serde(rename = "_meta")]
    meta: PolicyMeta,
    phases: Phases,
}

#[derive(Debug, Serialize)]
struct PolicyMeta {
    generated_by: String,
    source: String,
    retention: String,
}

#[derive(Debug, Serialize)]
struct Phases {
    hot: HotPhase,
    delete: DeletePhase,
}

#[derive(Debug, Serialize)]
struct HotPhase {
    actions: HotActions,
}

#[derive(Debug, Serialize)]
struct HotActions {
    rollover: Rollover,
}

/// A new backing index when the current one is this old, or a primary shard this large.
#[derive(Debug, Serialize)]
struct Rollover {
    max_age: String,
    max_primary_shard_size: &'static str,
}

/// `min_age`: counted from the rollover.
#[derive(Debug, Serialize)]
struct DeletePhase {
    min_age: String,
    actions: DeleteActions,
}

#[derive(Debug, Serialize)]
struct DeleteActions {
    delete: Delete,
}

/// The delete action, with no options.
#[derive(Debug, Serialize)]
struct Delete {}

/// The glob of a service's container log files in one namespace. Kubelet names them
/// `<pod>_<namespace>_<container>-<64 hex id>.log`; a service's pods start with its
/// name and its container is named after it.
fn log_glob(pod: &str, namespace: &str, container: &str) -> String {
    format!("/var/log/containers/{pod}-*_{namespace}_{container}-*.log")
}

/// What a service's glob also matches and must leave out: `cart-*` matches the pods
/// and containers of `cart-sessions`, and of a mesh sidecar of a service named `istio`.
fn excluded(cx: &EmitContext<'_>, service: &Service, namespaces: &[String]) -> Vec<String> {
    let prefix = format!("{}-", service.name);
    let mut others: Vec<&str> = cx
        .model
        .services
        .keys()
        .map(String::as_str)
        .chain(SIDECARS.iter().copied())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    others.sort_unstable();
    others.dedup();
    let mut out = Vec::new();
    for ns in namespaces {
        for other in &others {
            out.push(format!("/var/log/containers/*_{ns}_{other}-*.log"));
        }
        // A service named `fluentd` in the log router's own namespace would read the
        // router's logs, which it then writes: a loop.
        if service.name == "fluentd" && ns == NAMESPACE {
            out.push(format!(
                "/var/log/containers/fluentd-{}-*_{NAMESPACE}_fluentd-*.log",
                cx.model.project.name
            ));
        }
    }
    out
}

fn format_of(service: &Service) -> &str {
    service.logs_format.as_deref().unwrap_or("text")
}

fn header_comment(conf: &mut Conf, cx: &EmitContext<'_>, n: &Names, namespaces: &[String]) {
    let project = &cx.model.project.name;
    conf.text
        .push_str(&header(&cx.sources.get(cx.model.project.source).name));
    conf.comment(&format!(
        "\nThe log router of project `{project}`: the DaemonSet {} (fluentd.yaml) runs it\n\
         with the image {IMAGE},\n\
         which bundles every plugin used here: Fluentd {FLUENTD_VERSION} (tail, monitor_agent, relabel,\n\
         parser; the json, ltsv, nginx, apache2 and regexp parsers), fluent-plugin-parser-cri\n\
         0.1.1, fluent-plugin-concat 2.6.2, fluent-plugin-kubernetes_metadata_filter 3.8.0 and\n\
         fluent-plugin-elasticsearch 5.4.4.\n\
         \n\
         1. One tail source per service and environment reads its containers' log files\n   \
         (the CRI format of containerd and CRI-O) in the namespaces {}.\n   \
         Its events are tagged nestio.<service>.<environment>.<file>.\n\
         2. Lines the runtime split at 16 KiB are joined again; with `logs multiline-start`,\n   \
         the lines after a record's first line (a stack trace) join it.\n\
         3. In label {LABEL}: the service's `logs format` parses the line, Kubernetes metadata\n   \
         is added, and Elasticsearch receives one data stream per environment and service,\n   \
         {}<environment>.<service>, whose old indices the ILM policy\n   \
         {} (ilm-policy.json) deletes.",
        n.object,
        namespaces.join(", "),
        n.stream_prefix,
        n.ilm_policy,
    ));
    conf.blank();
}

fn monitor_source(conf: &mut Conf) {
    conf.comment(
        "The DaemonSet's probes ask this; it serves no configuration (include_config false).",
    );
    conf.open("source", None);
    conf.param("@type", "monitor_agent");
    conf.param("@id", "monitor_agent");
    conf.param("bind", "0.0.0.0");
    conf.param("port", MONITOR_PORT);
    conf.param("include_config", false);
    conf.close("source");
    conf.blank();
}

/// One source per service and environment: the tag carries both
/// (`nestio.<service>.<environment>.<file>`), so each environment writes its own data
/// stream.
fn tail_source(
    conf: &mut Conf,
    cx: &EmitContext<'_>,
    n: &Names,
    service: &Service,
    env: &str,
    namespace: &str,
) {
    let name = &service.name;
    conf.comment(&format!(
        "{name} in {env} ({}): logs format {}",
        cx.location(service.name_span),
        format_of(service)
    ));
    conf.open("source", None);
    conf.param("@type", "tail");
    conf.string("@id", &format!("tail_{name}_{env}"));
    conf.string("path", &log_glob(name, namespace, name));
    let excluded = excluded(cx, service, &[namespace.to_owned()]);
    if !excluded.is_empty() {
        conf.string("exclude_path", &excluded.join(","));
    }
    conf.string(
        "pos_file",
        &format!("{}/tail-{name}-{env}.pos", n.buffer_dir),
    );
    conf.string("tag", &format!("nestio.{name}.{env}.*"));
    conf.param("read_from_head", true);
    conf.param("follow_inodes", true);
    conf.param("refresh_interval", "10s");
    conf.param("emit_unmatched_lines", true);
    conf.open("parse", None);
    conf.param("@type", "cri");
    conf.param("keep_time_key", false);
    conf.close("parse");
    conf.close("source");
    conf.blank();
}

/// What every concat filter ends with: the joined record keeps its first line's time, and
/// a record still open after 5 s goes on alone through [`LABEL`] rather than waiting.
fn end_concat(conf: &mut Conf) {
    conf.param("use_first_timestamp", true);
    conf.param("flush_interval", "5s");
    conf.param("timeout_label", LABEL);
    conf.close("filter");
    conf.blank();
}

fn join_filters(conf: &mut Conf, cx: &EmitContext<'_>) {
    conf.comment(
        "containerd and CRI-O split a line longer than 16 KiB into partial records (logtag P).\n\
         fluent-plugin-concat deletes `partial_cri_stream_key` from the joined record: naming\n\
         logtag there (removed anyway) keeps `stream`, which separates stdout from stderr.",
    );
    conf.open("filter", Some("nestio.**"));
    conf.param("@type", "concat");
    conf.param("@id", "join_partial_lines");
    conf.param("key", "message");
    conf.param("use_partial_cri_logtag", true);
    conf.param("partial_cri_logtag_key", "logtag");
    conf.param("partial_cri_stream_key", "logtag");
    conf.param("stream_identity_key", "stream");
    conf.string("separator", "");
    end_concat(conf);
    for service in cx.model.services.values() {
        let Some(start) = &service.logs_multiline_start else {
            continue;
        };
        let name = &service.name;
        conf.comment(&format!(
            "{name}: a record starts at a line matching `logs multiline-start`; the lines after it\n\
             (a stack trace) join it, stdout and stderr apart. A record still open after 5 s\n\
             goes on alone, through {LABEL}."
        ));
        conf.open("filter", Some(&format!("nestio.{name}.**")));
        conf.param("@type", "concat");
        conf.string("@id", &format!("join_multiline_{name}"));
        conf.param("key", "message");
        conf.line(&format!("multiline_start_regexp {}", regex(start)));
        conf.param("stream_identity_key", "stream");
        end_concat(conf);
    }
    conf.open("match", Some("nestio.**"));
    conf.param("@type", "relabel");
    conf.param("@label", LABEL);
    conf.close("match");
    conf.blank();
}

fn parse_intro(conf: &mut Conf) {
    conf.comment(
        "Each service's `logs format` parses `message`. A parsed event keeps the container\n\
         runtime's timestamp (reserve_time) and its other fields (reserve_data); a line that does\n\
         not parse goes on as it is (emit_invalid_record_to_error false). `time_key \"\"` leaves a\n\
         `time` field of the line as data: a time Fluentd could not read would drop the line.",
    );
    conf.blank();
}

fn parse_filter(conf: &mut Conf, service: &Service) {
    let format = format_of(service);
    if format == "text" {
        return;
    }
    let name = &service.name;
    let structured = matches!(format, "json" | "logfmt");
    conf.comment(&format!(
        "{name}: logs format {format}.{}",
        if structured {
            " The parsed fields replace the raw line."
        } else {
            " The raw line stays in `message` beside the parsed fields."
        }
    ));
    conf.open("filter", Some(&format!("nestio.{name}.**")));
    conf.param("@type", "parser");
    conf.string("@id", &format!("parse_{name}"));
    conf.param("key_name", "message");
    conf.param("reserve_data", true);
    conf.param("reserve_time", true);
    conf.param("remove_key_name_field", structured);
    conf.param("emit_invalid_record_to_error", false);
    conf.open("parse", None);
    match format {
        "json" => {
            conf.param("@type", "json");
            conf.string("time_key", "");
        }
        "logfmt" => {
            // No logfmt parser is in the image: ltsv splits `key=value` pairs at the
            // spaces that precede a key, so a quoted value keeps its spaces (and quotes).
            conf.param("@type", "ltsv");
            conf.line(&format!(
                "delimiter_pattern {}",
                regex(r#"\s+(?=[^\s="]+=)"#)
            ));
            conf.string("label_delimiter", "=");
            conf.string("time_key", "");
        }
        "nginx" => {
            conf.param("@type", "nginx");
            conf.string("types", "code:integer,size:integer");
        }
        "apache" => conf.param("@type", "apache2"),
        "regex" => {
            conf.param("@type", "regexp");
            if let Some(p) = &service.logs_pattern {
                conf.line(&format!("expression {}", regex(p)));
            }
            conf.string("time_key", "");
        }
        other => conf.param("@type", other),
    }
    conf.close("parse");
    conf.close("filter");
    conf.blank();
}

fn output(
    conf: &mut Conf,
    n: &Names,
    es: &EsUrl,
    logging: &crate::model::Logging,
    policy: &IlmPolicy,
) {
    conf.comment(&format!(
        "Elasticsearch: one data stream per environment and service, named after the third\n\
         and second tag parts, {0}<environment>.<service>,\n\
         with an index template of the same name and the ILM policy\n\
         {1}.\n\
         They are created at a service's first write, so Fluentd starts even while\n\
         Elasticsearch is down; the policy is written again then, so a new `retention`\n\
         applies once the pods restart with it.\n\
         \n\
         The buffer survives an Elasticsearch outage: its chunks are files on the node, in\n\
         {2},\n\
         kept across restarts and retried forever, with exponential backoff up to 60 s.\n\
         When the buffer is full (2 GB), `overflow_action block` makes the tail sources wait:\n\
         lines stay in the containers' own log files (lost only if the kubelet rotates them\n\
         away first) and are read once Elasticsearch catches up. drop_oldest_chunk would\n\
         lose logs; throw_exception would have in_tail read the lines again, through the\n\
         joining filters a second time.",
        n.stream_prefix, n.ilm_policy, n.buffer_dir
    ));
    conf.open("match", Some("nestio.**"));
    conf.param("@type", "elasticsearch_data_stream");
    conf.param("@id", "elasticsearch");
    conf.string("host", &es.host);
    conf.param("port", es.port);
    conf.param("scheme", &es.scheme);
    if let Some(path) = &es.path {
        conf.string("path", path);
    }
    if es.scheme == "https" {
        // Verify Elasticsearch's certificate (the plugin's default, said out loud), with
        // the CA from `ca=` or the image's system store; TLS 1.2 to 1.3, where the
        // daemonset image's own fluent.conf asks for TLSv1. The plugin refuses one bound
        // without the other (5.4.4 elasticsearch_tls.rb set_tls_minmax_version_config).
        conf.param("ssl_verify", true);
        conf.param("ssl_min_version", "TLSv1_2");
        conf.param("ssl_max_version", "TLSv1_3");
        if logging.es_ca.is_some() {
            conf.string("ca_file", &format!("{ES_CA_DIR}/ca.crt"));
        }
    }
    if logging.es_credentials.is_some() {
        // Embedded Ruby, evaluated once when the configuration is read: the files the
        // DaemonSet mounts from the Secret `credentials=` names (files, not environment
        // variables, which leak into child processes and crash reports). Fixed strings,
        // never a user value.
        conf.param(
            "user",
            format!("\"#{{File.read('{ES_CREDENTIALS_DIR}/username').chomp}}\""),
        );
        conf.param(
            "password",
            format!("\"#{{File.read('{ES_CREDENTIALS_DIR}/password').chomp}}\""),
        );
    }
    conf.string(
        "data_stream_name",
        &format!("{}${{tag[2]}}.${{tag[1]}}", n.stream_prefix),
    );
    conf.string(
        "data_stream_template_name",
        &format!("{}${{tag[2]}}.${{tag[1]}}", n.stream_prefix),
    );
    conf.param("data_stream_template_use_index_patterns_wildcard", false);
    conf.string("data_stream_ilm_name", &n.ilm_policy);
    conf.string(
        "data_stream_ilm_policy",
        &serde_json::to_string(policy).unwrap_or_default(),
    );
    conf.param("data_stream_ilm_policy_overwrite", true);
    conf.param("verify_es_version_at_startup", false);
    conf.param("default_elasticsearch_version", 8);
    conf.param("max_retry_putting_template", 3);
    conf.param("request_timeout", "30s");
    conf.param("reconnect_on_error", true);
    conf.param("reload_connections", false);
    conf.param("reload_on_failure", false);
    conf.open("buffer", Some("tag"));
    conf.param("@type", "file");
    conf.string("path", &format!("{}/elasticsearch", n.buffer_dir));
    conf.param("flush_mode", "interval");
    conf.param("flush_interval", "5s");
    conf.param("flush_thread_count", 2);
    conf.param("chunk_limit_size", "8MB");
    conf.param("total_limit_size", "2GB");
    conf.param("overflow_action", "block");
    conf.param("retry_type", "exponential_backoff");
    conf.param("retry_wait", "1s");
    conf.param("retry_exponential_backoff_base", 2);
    conf.param("retry_max_interval", "60s");
    conf.param("retry_randomize", true);
    conf.param("retry_forever", true);
    conf.close("buffer");
    conf.close("match");
}

fn fluent_conf(
    cx: &EmitContext<'_>,
    n: &Names,
    es: &EsUrl,
    logging: &crate::model::Logging,
    policy: &IlmPolicy,
    envs: &[(String, String)],
) -> String {
    let namespaces: Vec<String> = envs.iter().map(|(_, ns)| ns.clone()).collect();
    let mut conf = Conf::default();
    header_comment(&mut conf, cx, n, &namespaces);
    monitor_source(&mut conf);
    for service in cx.model.services.values() {
        for (env, ns) in envs {
            tail_source(&mut conf, cx, n, service, env, ns);
        }
    }
    join_filters(&mut conf, cx);
    conf.open("label", Some(LABEL));
    parse_intro(&mut conf);
    for service in cx.model.services.values() {
        parse_filter(&mut conf, service);
    }
    conf.comment(
        "Pod and namespace metadata, after parsing so that a log field cannot replace it.",
    );
    conf.open("filter", Some("nestio.**"));
    conf.param("@type", "kubernetes_metadata");
    conf.param("@id", "kubernetes_metadata");
    conf.param("skip_master_url", true);
    conf.close("filter");
    conf.blank();
    output(&mut conf, n, es, logging, policy);
    conf.close("label");
    conf.text
}

/// One object of `fluentd/fluentd.yaml`; serialises as the object.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Object {
    ServiceAccount(ServiceAccount),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    ConfigMap(ConfigMap),
    NetworkPolicy(NetworkPolicy),
    DaemonSet(DaemonSet),
}

fn manifests(cx: &EmitContext<'_>, logging: &Logging, n: &Names, conf: &str) -> Vec<Object> {
    let project = &cx.model.project.name;
    let env = vec![EnvVar {
        // Limits the metadata filter's pod watch to this node.
        name: "K8S_NODE_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "spec.nodeName".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }];
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    };
    let host_dir = |name: &str, path: &str, ty: &str| Volume {
        name: name.to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_owned(),
            type_: Some(ty.to_owned()),
        }),
        ..Volume::default()
    };
    let secret = |name: &str, secret: &str, keys: &[&str]| Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            items: Some(
                keys.iter()
                    .map(|k| KeyToPath {
                        key: (*k).to_owned(),
                        path: (*k).to_owned(),
                        ..KeyToPath::default()
                    })
                    .collect(),
            ),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    };
    let mut mounts = vec![
        mount("config", "/fluentd/etc", true),
        mount("containers", "/var/log/containers", true),
        mount("pods", "/var/log/pods", true),
        mount("buffers", &n.buffer_dir, false),
        mount("tmp", "/tmp", false),
    ];
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: n.object.clone(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        host_dir("containers", "/var/log/containers", "Directory"),
        host_dir("pods", "/var/log/pods", "Directory"),
        host_dir("buffers", &n.buffer_dir, "DirectoryOrCreate"),
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("64Mi".into())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];
    if let Some(s) = &logging.es_credentials {
        mounts.push(mount("elasticsearch-credentials", ES_CREDENTIALS_DIR, true));
        volumes.push(secret(
            "elasticsearch-credentials",
            s,
            &["username", "password"],
        ));
    }
    if let Some(s) = &logging.es_ca {
        mounts.push(mount("elasticsearch-ca", ES_CA_DIR, true));
        volumes.push(secret("elasticsearch-ca", s, &["ca.crt"]));
    }
    let selector = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "fluentd".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), project.clone()),
    ]);
    let mut labels = selector.clone();
    for (k, v) in [
        ("app.kubernetes.io/version", FLUENTD_VERSION),
        ("app.kubernetes.io/component", "log-router"),
        ("app.kubernetes.io/part-of", project.as_str()),
        ("app.kubernetes.io/managed-by", "nestioc"),
    ] {
        labels.insert(k.to_owned(), v.to_owned());
    }
    let match_labels = LabelSelector {
        match_labels: Some(selector.clone()),
        ..LabelSelector::default()
    };
    let source = cx.location(logging.span);
    let meta = |namespaced: bool| ObjectMeta {
        name: Some(n.object.clone()),
        namespace: namespaced.then(|| NAMESPACE.to_owned()),
        labels: Some(labels.clone()),
        annotations: Some(BTreeMap::from([(
            "nestio.dev/source".to_owned(),
            source.clone(),
        )])),
        ..ObjectMeta::default()
    };
    // Over the configuration without its comments: they name each service's source line,
    // and moving a line in a .kdl file must not restart Fluentd on every node.
    let mut hasher = Sha256::new();
    for line in conf.lines().filter(|l| !l.trim_start().starts_with('#')) {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let checksum: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let probe = |period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(MONITOR_PATH.into()),
            port: IntOrString::String("monitor".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    };
    let resources = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])
    };
    let container = Container {
        name: "fluentd".into(),
        image: Some(IMAGE.into()),
        image_pull_policy: Some("Always".into()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("monitor".into()),
            container_port: i32::from(MONITOR_PORT),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(resources("100m", "256Mi")),
            limits: Some(resources("1", "512Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        startup_probe: Some(probe(5, 60)),
        liveness_probe: Some(probe(30, 3)),
        readiness_probe: Some(probe(10, 3)),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    vec![
        Object::ServiceAccount(ServiceAccount {
            metadata: meta(true),
            ..ServiceAccount::default()
        }),
        Object::ClusterRole(ClusterRole {
            metadata: meta(false),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["namespaces".into(), "pods".into()]),
                verbs: vec!["get".into(), "list".into(), "watch".into()],
                ..PolicyRule::default()
            }]),
            ..ClusterRole::default()
        }),
        Object::ClusterRoleBinding(ClusterRoleBinding {
            metadata: meta(false),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: n.object.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: n.object.clone(),
                namespace: Some(NAMESPACE.into()),
                ..Subject::default()
            }]),
        }),
        Object::ConfigMap(ConfigMap {
            metadata: meta(true),
            data: Some(BTreeMap::from([(
                "fluent.conf".to_owned(),
                conf.to_owned(),
            )])),
            ..ConfigMap::default()
        }),
        // Nothing calls Fluentd: it only sends. The kubelet's probes come from the node,
        // which NetworkPolicies always admit.
        Object::NetworkPolicy(NetworkPolicy {
            metadata: meta(true),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(match_labels.clone()),
                policy_types: Some(vec!["Ingress".into()]),
                ..NetworkPolicySpec::default()
            }),
        }),
        Object::DaemonSet(DaemonSet {
            metadata: meta(true),
            spec: DaemonSetSpec {
                selector: match_labels,
                update_strategy: Some(DaemonSetUpdateStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDaemonSet {
                        max_unavailable: Some(IntOrString::Int(1)),
                        ..RollingUpdateDaemonSet::default()
                    }),
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels.clone()),
                        // A new fluent.conf rolls the pods. No `nestio.dev/source` here:
                        // the DaemonSet carries it, and a line number in the pod template
                        // would roll every pod when a comment is added above it.
                        annotations: Some(BTreeMap::from([(
                            "nestio.dev/config-sha256".to_owned(),
                            checksum,
                        )])),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        service_account_name: Some(n.object.clone()),
                        // The metadata filter reads pods and namespaces with this token.
                        automount_service_account_token: Some(true),
                        // Root reads the kubelet's root-owned log files; every capability
                        // is dropped, and only the buffer directory is writable.
                        security_context: Some(PodSecurityContext {
                            run_as_user: Some(0),
                            run_as_group: Some(0),
                            run_as_non_root: Some(false),
                            seccomp_profile: Some(SeccompProfile {
                                type_: "RuntimeDefault".into(),
                                ..SeccompProfile::default()
                            }),
                            ..PodSecurityContext::default()
                        }),
                        containers: vec![container],
                        volumes: Some(volumes),
                        ..PodSpec::default()
                    }),
                },
                ..DaemonSetSpec::default()
            },
            ..DaemonSet::default()
        }),
    ]
}

impl Emitter for Fluentd {
    fn name(&self) -> &'static str {
        // The target is named after the system it generates for.
        LogSystem::Fluentd.as_str()
    }

    fn description(&self) -> &'static str {
        "log routing (logging \"fluentd\"): fluentd/fluent.conf, fluentd/fluentd.yaml, fluentd/ilm-policy.json"
    }

    fn files(&self, cx: &EmitContext<'_>) -> Result<Vec<Artifact>, Diagnostic> {
        let Some(logging) = cx
            .model
            .project
            .logging
            .as_ref()
            .filter(|l| l.system == LogSystem::Fluentd)
        else {
            return Ok(Vec::new());
        };
        // Lowering reported a missing or invalid URL: the build stops before this.
        let Some(url) = logging.elasticsearch.as_deref() else {
            return Ok(Vec::new());
        };
        let es = parse_es_url(url).map_err(|p| {
            Diagnostic::error(Code::InvalidName, p.message).with_label(logging.span, p.label)
        })?;
        // (environment, namespace), one per namespace, by namespace.
        let mut envs: Vec<(String, String)> = cx
            .environments()
            .into_iter()
            .map(|e| (e.name, e.namespace))
            .collect();
        envs.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        envs.dedup_by(|a, b| a.1 == b.1);
        let n = names(&cx.model.project.name);
        let policy = ilm_policy(cx, logging);
        let conf = fluent_conf(cx, &n, &es, logging, &policy, &envs);
        let project_file = cx.sources.get(cx.model.project.source).name.clone();
        let mut policy_json = serde_json::to_string_pretty(&policy).unwrap_or_default();
        policy_json.push('\n');
        let span = Some(logging.span);
        let mut out = vec![
            Artifact {
                path: "fluentd/fluent.conf".into(),
                contents: conf.clone(),
                source: span,
            },
            Artifact {
                path: "fluentd/fluentd.yaml".into(),
                contents: documents(&header(&project_file), &manifests(cx, logging, &n, &conf)),
                source: span,
            },
            Artifact {
                path: "fluentd/ilm-policy.json".into(),
                contents: policy_json,
                source: span,
            },
        ];
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_cannot_break_out() {
        assert_eq!(quote(r#"a"b\c#{x}"#), r#""a\"b\\c\#{x}""#);
        assert_eq!(quote("a\nb\tc"), r#""a\nb\tc""#);
        assert_eq!(regex(r"^\d+ #"), r#""/^\\d+ \#/""#);
    }

    #[test]
    fn ilm_times_use_one_unit() {
        assert_eq!(es_time(14 * 86_400_000), "14d");
        assert_eq!(es_time(36 * 3_600_000), "36h");
        assert_eq!(es_time(90_000), "90s");
        assert_eq!(es_time(1500), "1500ms");
    }
}
