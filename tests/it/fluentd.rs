//! Fluentd's configuration has no validator we can install here (Fluentd is a Ruby gem and
//! `fluentd --dry-run` needs the plugins), so this module checks the generated
//! `fluentd/fluent.conf` against:
//!
//! - the syntax, with a parser that follows Fluentd's own (`lib/fluent/config/
//!   v1_parser.rb`, `literal_parser.rb`, `basic_parser.rb` of Fluentd 1.19.3): directives
//!   with arguments, nested sections, `key value` lines, double-quoted strings with their
//!   escapes (embedded Ruby `#{...}` refused: the generator must never produce it, but
//!   for the two fixed reads of the Elasticsearch credentials from their mounted files),
//!   single-quoted strings, JSON arrays and hashes, unquoted values up to a ` #` comment;
//! - a table of every plugin the generator uses, taken from the plugins' sources at the
//!   versions the pinned image bundles (its Gemfile.lock): each parameter's type
//!   (string, integer, float, bool, time, size, enum, regexp, array, hash), the sections
//!   a plugin takes and its required parameters. An unknown plugin, parameter or section,
//!   a wrong type or a missing required parameter is a failure;
//! - the routing: every tail source's events reach the Elasticsearch output, and every
//!   label a plugin names exists.
//!
//! It also proves that user strings (regex patterns) stay inside their value, whatever
//! characters they hold, and that what cannot be written there is refused.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{compile, fixture_options, render_human, root};

// ------------------------------------------------------------------ syntax

/// A directive or section: `<name arg> ... </name>`; the root has name `ROOT`.
#[derive(Debug, Clone, Default)]
struct Element {
    name: String,
    arg: String,
    /// Parameters in order: key, value (unescaped), line.
    params: Vec<(String, String, usize)>,
    elements: Vec<Element>,
    line: usize,
}

impl Element {
    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    fn all(&self) -> Vec<&Element> {
        let mut out = vec![self];
        for e in &self.elements {
            out.extend(e.all());
        }
        out
    }
}

struct Parser<'a> {
    s: &'a [char],
    pos: usize,
}

type Parsed<T> = Result<T, String>;

const RESERVED: &[&str] = &["@type", "@id", "@label", "@log_level"];
const DIRECTIVES: &[&str] = &["match", "source", "filter", "system"];

impl<'a> Parser<'a> {
    fn line(&self) -> usize {
        self.s[..self.pos.min(self.s.len())]
            .iter()
            .filter(|c| **c == '\n')
            .count()
            + 1
    }

    fn err<T>(&self, what: &str) -> Parsed<T> {
        Err(format!("line {}: {what}", self.line()))
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.s.get(self.pos + i) == Some(&c))
    }

    fn eof(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// SPACING: blanks, newlines and `#` comments.
    fn spacing(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
                self.pos += 1;
            } else if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// SPACING_WITHOUT_COMMENT; says whether it crossed a newline.
    fn spacing_without_comment(&mut self) -> bool {
        let mut newline = false;
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\r' | '\n') {
                newline |= c == '\n';
                self.pos += 1;
            } else {
                break;
            }
        }
        newline
    }

    /// Whether LINE_END (`[ \t]*(#.*)?(\z|\n)`) matches here.
    fn at_line_end(&self) -> bool {
        let mut i = self.pos;
        while matches!(self.s.get(i), Some(' ' | '\t')) {
            i += 1;
        }
        matches!(self.s.get(i), None | Some('#' | '\n' | '\r'))
    }

    /// LINE_END, required after a value or a tag.
    fn line_end(&mut self) -> Parsed<()> {
        if !self.at_line_end() {
            return self.err("expected end of line");
        }
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        if self.peek() == Some('#') {
            while self.peek().is_some_and(|c| c != '\n') {
                self.pos += 1;
            }
        }
        if self.peek().is_some() {
            self.pos += 1;
        }
        Ok(())
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            n.push(c);
            self.pos += 1;
        }
        n
    }

    fn double_quoted(&mut self) -> Parsed<String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.err("end of file in a double-quoted string");
            };
            let next = self.s.get(self.pos + 1).copied();
            if c == '"' {
                self.pos += 1;
                return Ok(out);
            } else if matches!(next, None | Some('\n' | '\r')) {
                // Fluentd joins lines here; the generator must never need it.
                return self.err("a double-quoted string spans lines");
            } else if c == '\\' {
                let e = next.unwrap_or_default();
                out.push(match e {
                    'r' => '\r',
                    'n' => '\n',
                    't' => '\t',
                    'f' => '\u{c}',
                    'b' => '\u{8}',
                    '0' => '\0',
                    c if c.is_ascii_alphanumeric() => {
                        return self.err(&format!("unknown escape `\\{c}`"));
                    }
                    c => c,
                });
                self.pos += 2;
            } else if c == '#' && next == Some('{') {
                // The one embedded Ruby the generator writes: the Elasticsearch
                // credentials read from their mounted files, fixed strings with no user value
                // (user strings have their `#` escaped).
                let rest: String = self.s[self.pos..].iter().collect();
                let allowed = [
                    "#{File.read('/fluentd/elasticsearch-credentials/username').chomp}",
                    "#{File.read('/fluentd/elasticsearch-credentials/password').chomp}",
                ]
                .into_iter()
                .find(|a| rest.starts_with(&format!("{a}\"")));
                let Some(a) = allowed else {
                    return self.err("embedded Ruby `#{` in a double-quoted string");
                };
                out.push_str(a);
                self.pos += a.chars().count();
            } else {
                out.push(c);
                self.pos += 1;
            }
        }
    }

    fn single_quoted(&mut self) -> Parsed<String> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => return self.err("unterminated single-quoted string"),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') if matches!(self.s.get(self.pos + 1), Some('\'' | '\\')) => {
                    out.push(self.s[self.pos + 1]);
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// An unquoted value: up to LINE_END (or, for a tag, up to `>`); a `#` right after
    /// a character belongs to the value.
    fn unquoted(&mut self, tag: bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            let stop = if tag {
                let mut i = self.pos;
                while matches!(self.s.get(i), Some(' ' | '\t')) {
                    i += 1;
                }
                self.s.get(i) == Some(&'>') || c == '\n'
            } else {
                c != '#' && self.at_line_end()
            };
            if stop {
                break;
            }
            out.push(c);
            self.pos += 1;
        }
        out
    }

    /// JSON after `[` or `{`: read until the text so far parses.
    fn json(&mut self) -> Parsed<String> {
        let start = self.pos;
        while !self.eof() {
            self.pos += 1;
            let text: String = self.s[start..self.pos].iter().collect();
            if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
                return Ok(text);
            }
        }
        self.err("incomplete JSON value")
    }

    fn literal(&mut self) -> Parsed<String> {
        match self.peek() {
            Some('"') => {
                self.pos += 1;
                self.double_quoted()
            }
            Some('\'') => {
                self.pos += 1;
                self.single_quoted()
            }
            Some('[' | '{') => self.json(),
            _ => Ok(self.unquoted(false)),
        }
    }

    fn element(&mut self, name: &str, arg: String, line: usize) -> Parsed<Element> {
        let root = name == "ROOT";
        let mut e = Element {
            name: name.to_owned(),
            arg,
            line,
            ..Element::default()
        };
        loop {
            self.spacing();
            if self.eof() {
                if root {
                    return Ok(e);
                }
                return self.err(&format!("`<{name}>` is not closed"));
            }
            if self.at("</") {
                self.pos += 2;
                let closing = self.name();
                self.spacing();
                if self.peek() != Some('>') {
                    return self.err("expected `>`");
                }
                self.pos += 1;
                self.line_end()?;
                if closing != name {
                    return self.err(&format!("`</{closing}>` closes `<{name}>`"));
                }
                return Ok(e);
            }
            if self.peek() == Some('<') {
                let line = self.line();
                self.pos += 1;
                let child = self.name();
                if child.is_empty() {
                    return self.err("expected a directive name after `<`");
                }
                self.spacing();
                let arg = match self.peek() {
                    Some('"') => {
                        self.pos += 1;
                        self.double_quoted()?
                    }
                    _ => self.unquoted(true),
                };
                self.spacing();
                if self.peek() != Some('>') {
                    return self.err("expected `>`");
                }
                self.pos += 1;
                self.line_end()?;
                let el = self.element(&child, arg.trim().to_owned(), line)?;
                e.elements.push(el);
                continue;
            }
            if self.at("@include") || self.at("include ") {
                return self.err("@include: the generated configuration is one file");
            }
            let line = self.line();
            let mut key = String::new();
            while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
                key.push(c);
                self.pos += 1;
            }
            let crossed = self.spacing_without_comment();
            if crossed || self.eof() {
                e.params.push((key, String::new(), line));
                continue;
            }
            if key.starts_with('@')
                && !RESERVED.contains(&key.as_str())
                && (root || DIRECTIVES.contains(&name))
            {
                return self.err(&format!("`{key}`: `@` is reserved"));
            }
            let value = self.literal()?;
            self.line_end()?;
            e.params.push((key, value, line));
        }
    }
}

fn parse(text: &str) -> Parsed<Element> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser { s: &chars, pos: 0 };
    p.element("ROOT", String::new(), 1)
}

// ------------------------------------------------------------------ the plugins' parameters

#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    Int,
    Float,
    Bool,
    /// `10`, `10s`, `5m`, `1h`, `1d`, `0.5`.
    Time,
    /// `1024`, `8k`, `8MB`, `2g`.
    Size,
    Enum(&'static [&'static str]),
    /// `/.../` with `i`, `m`, `x` flags, or a plain pattern.
    Regexp,
    /// fluent-plugin-concat's regexps: the first and last characters are cut off.
    SlashRegexp,
    /// A JSON array or a comma-separated list.
    Array,
    /// A JSON object or `key:value,...`.
    Hash,
    /// A string that must name a `<label>`.
    Label,
    /// A string holding a JSON object.
    JsonObject,
}

type Params = &'static [(&'static str, Ty)];

const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "fatal"];

/// Fluentd 1.19.3, in_tail.rb.
const TAIL: Params = &[
    ("path", Ty::Str),
    ("path_delimiter", Ty::Str),
    (
        "glob_policy",
        Ty::Enum(&["backward_compatible", "extended", "always"]),
    ),
    ("tag", Ty::Str),
    ("exclude_path", Ty::Array),
    ("rotate_wait", Ty::Time),
    ("pos_file", Ty::Str),
    ("pos_file_compaction_interval", Ty::Time),
    ("read_from_head", Ty::Bool),
    ("refresh_interval", Ty::Time),
    ("read_lines_limit", Ty::Int),
    ("read_bytes_limit_per_second", Ty::Size),
    ("multiline_flush_interval", Ty::Time),
    ("emit_unmatched_lines", Ty::Bool),
    ("enable_watch_timer", Ty::Bool),
    ("enable_stat_watcher", Ty::Bool),
    ("encoding", Ty::Str),
    ("from_encoding", Ty::Str),
    ("path_key", Ty::Str),
    ("open_on_every_update", Ty::Bool),
    ("limit_recently_modified", Ty::Time),
    ("skip_refresh_on_startup", Ty::Bool),
    ("ignore_repeated_permission_error", Ty::Bool),
    ("path_timezone", Ty::Str),
    ("follow_inodes", Ty::Bool),
    ("max_line_size", Ty::Size),
];

/// Fluentd 1.19.3, in_monitor_agent.rb.
const MONITOR_AGENT: Params = &[
    ("bind", Ty::Str),
    ("port", Ty::Int),
    ("tag", Ty::Str),
    ("emit_interval", Ty::Time),
    ("include_config", Ty::Bool),
    ("include_retry", Ty::Bool),
    ("include_debug_info", Ty::Bool),
];

/// Fluentd 1.19.3, filter_parser.rb.
const FILTER_PARSER: Params = &[
    ("key_name", Ty::Str),
    ("reserve_data", Ty::Bool),
    ("reserve_time", Ty::Bool),
    ("remove_key_name_field", Ty::Bool),
    ("inject_key_prefix", Ty::Str),
    ("replace_invalid_sequence", Ty::Bool),
    ("hash_value_field", Ty::Str),
    ("emit_invalid_record_to_error", Ty::Bool),
];

/// fluent-plugin-concat 2.6.2, filter_concat.rb.
const CONCAT: Params = &[
    ("key", Ty::Str),
    ("separator", Ty::Str),
    ("n_lines", Ty::Int),
    ("multiline_start_regexp", Ty::SlashRegexp),
    ("multiline_end_regexp", Ty::SlashRegexp),
    ("continuous_line_regexp", Ty::SlashRegexp),
    ("stream_identity_key", Ty::Str),
    ("flush_interval", Ty::Time),
    ("timeout_label", Ty::Label),
    ("use_first_timestamp", Ty::Bool),
    ("partial_key", Ty::Str),
    ("partial_value", Ty::Str),
    ("keep_partial_key", Ty::Bool),
    ("use_partial_metadata", Ty::Bool),
    (
        "partial_metadata_format",
        Ty::Enum(&[
            "docker-fluentd",
            "docker-journald",
            "docker-journald-lowercase",
        ]),
    ),
    ("keep_partial_metadata", Ty::Bool),
    ("use_partial_cri_logtag", Ty::Bool),
    ("partial_cri_logtag_key", Ty::Str),
    ("partial_cri_stream_key", Ty::Str),
    ("buffer_limit_size", Ty::Size),
    (
        "buffer_overflow_method",
        Ty::Enum(&["ignore", "truncate", "drop", "new"]),
    ),
];

/// fluent-plugin-kubernetes_metadata_filter 3.8.0 (filter_kubernetes_metadata.rb).
const KUBERNETES_METADATA: Params = &[
    ("kubernetes_url", Ty::Str),
    ("cache_size", Ty::Int),
    ("cache_ttl", Ty::Int),
    ("watch", Ty::Bool),
    ("apiVersion", Ty::Str),
    ("client_cert", Ty::Str),
    ("client_key", Ty::Str),
    ("ca_file", Ty::Str),
    ("verify_ssl", Ty::Bool),
    ("open_timeout", Ty::Int),
    ("read_timeout", Ty::Int),
    ("tag_to_kubernetes_name_regexp", Ty::Str),
    ("bearer_token_file", Ty::Str),
    ("secret_dir", Ty::Str),
    ("annotation_match", Ty::Array),
    ("stats_interval", Ty::Int),
    ("allow_orphans", Ty::Bool),
    ("orphaned_namespace_name", Ty::Str),
    ("orphaned_namespace_id", Ty::Str),
    ("lookup_from_k8s_field", Ty::Bool),
    ("ssl_partial_chain", Ty::Bool),
    ("skip_labels", Ty::Bool),
    ("skip_pod_labels", Ty::Bool),
    ("skip_namespace_labels", Ty::Bool),
    ("skip_container_metadata", Ty::Bool),
    ("skip_master_url", Ty::Bool),
    ("skip_namespace_metadata", Ty::Bool),
    ("include_ownerrefs_metadata", Ty::Bool),
    ("watch_retry_interval", Ty::Int),
    ("watch_retry_exponential_backoff_base", Ty::Int),
    ("watch_retry_max_times", Ty::Int),
];

/// fluent-plugin-elasticsearch 5.4.4, out_elasticsearch.rb (the parameters the data
/// stream output inherits, as far as they are plain values) and
/// out_elasticsearch_data_stream.rb; Fluentd 1.19.3's output.rb.
const ELASTICSEARCH_DATA_STREAM: Params = &[
    ("host", Ty::Str),
    ("port", Ty::Int),
    ("user", Ty::Str),
    ("password", Ty::Str),
    ("cloud_id", Ty::Str),
    ("cloud_auth", Ty::Str),
    ("path", Ty::Str),
    ("scheme", Ty::Enum(&["https", "http"])),
    ("hosts", Ty::Str),
    ("time_key_format", Ty::Str),
    ("time_precision", Ty::Int),
    ("include_timestamp", Ty::Bool),
    ("id_key", Ty::Str),
    ("request_timeout", Ty::Time),
    ("reload_connections", Ty::Bool),
    ("reload_on_failure", Ty::Bool),
    ("resurrect_after", Ty::Time),
    ("time_key", Ty::Str),
    ("ssl_verify", Ty::Bool),
    // elasticsearch_tls.rb, with an OpenSSL that knows TLS 1.3 (the image's Ruby 3.x).
    (
        "ssl_version",
        Ty::Enum(&["TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"]),
    ),
    (
        "ssl_min_version",
        Ty::Enum(&["TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"]),
    ),
    (
        "ssl_max_version",
        Ty::Enum(&["TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"]),
    ),
    ("client_key", Ty::Str),
    ("client_cert", Ty::Str),
    ("ca_file", Ty::Str),
    ("remove_keys", Ty::Str),
    ("max_retry_putting_template", Ty::Int),
    ("fail_on_putting_template_retry_exceed", Ty::Bool),
    ("fail_on_detecting_es_version_retry_exceed", Ty::Bool),
    ("max_retry_get_es_version", Ty::Int),
    ("include_tag_key", Ty::Bool),
    ("tag_key", Ty::Str),
    ("reconnect_on_error", Ty::Bool),
    ("with_transporter_log", Ty::Bool),
    ("sniffer_class_name", Ty::Str),
    ("reload_after", Ty::Int),
    ("http_backend", Ty::Enum(&["excon", "typhoeus"])),
    ("verify_es_version_at_startup", Ty::Bool),
    ("default_elasticsearch_version", Ty::Int),
    ("log_es_400_reason", Ty::Bool),
    ("custom_headers", Ty::Hash),
    ("api_key", Ty::Str),
    (
        "compression_level",
        Ty::Enum(&[
            "no_compression",
            "best_speed",
            "best_compression",
            "default_compression",
        ]),
    ),
    ("catch_transport_exception_on_retry", Ty::Bool),
    ("data_stream_name", Ty::Str),
    ("data_stream_ilm_name", Ty::Str),
    ("data_stream_template_name", Ty::Str),
    ("data_stream_ilm_policy", Ty::JsonObject),
    ("data_stream_ilm_policy_overwrite", Ty::Bool),
    ("data_stream_template_use_index_patterns_wildcard", Ty::Bool),
    ("time_as_integer", Ty::Bool),
    ("slow_flush_log_threshold", Ty::Float),
];

/// Fluentd 1.19.3: the `<buffer>` section of output.rb, buffer.rb and buf_file.rb.
const BUFFER: Params = &[
    ("@type", Ty::Enum(&["memory", "file", "file_single"])),
    ("timekey", Ty::Time),
    ("timekey_wait", Ty::Time),
    ("timekey_use_utc", Ty::Bool),
    ("timekey_zone", Ty::Str),
    ("flush_at_shutdown", Ty::Bool),
    (
        "flush_mode",
        Ty::Enum(&["default", "lazy", "interval", "immediate"]),
    ),
    ("flush_interval", Ty::Time),
    ("flush_thread_count", Ty::Int),
    ("flush_thread_interval", Ty::Float),
    ("flush_thread_burst_interval", Ty::Float),
    ("delayed_commit_timeout", Ty::Time),
    (
        "overflow_action",
        Ty::Enum(&["throw_exception", "block", "drop_oldest_chunk"]),
    ),
    ("retry_forever", Ty::Bool),
    ("retry_timeout", Ty::Time),
    ("retry_max_times", Ty::Int),
    ("retry_secondary_threshold", Ty::Float),
    ("retry_type", Ty::Enum(&["exponential_backoff", "periodic"])),
    ("retry_wait", Ty::Time),
    ("retry_exponential_backoff_base", Ty::Float),
    ("retry_max_interval", Ty::Time),
    ("retry_randomize", Ty::Bool),
    ("chunk_limit_size", Ty::Size),
    ("total_limit_size", Ty::Size),
    ("queue_limit_length", Ty::Int),
    ("chunk_limit_records", Ty::Int),
    ("chunk_full_threshold", Ty::Float),
    ("queued_chunks_limit_size", Ty::Int),
    ("compress", Ty::Enum(&["text", "gzip", "zstd"])),
    ("decompression_size_limit", Ty::Size),
    ("disable_chunk_backup", Ty::Bool),
    ("path", Ty::Str),
    ("path_suffix", Ty::Str),
    ("file_permission", Ty::Str),
    ("dir_permission", Ty::Str),
];

/// Fluentd 1.19.3, parser.rb and time.rb: what every parser takes.
const PARSER_BASE: Params = &[
    ("types", Ty::Hash),
    ("time_key", Ty::Str),
    ("null_value_pattern", Ty::Regexp),
    ("null_empty_string", Ty::Bool),
    ("estimate_current_event", Ty::Bool),
    ("keep_time_key", Ty::Bool),
    ("timeout", Ty::Time),
    (
        "time_type",
        Ty::Enum(&["string", "unixtime", "float", "mixed"]),
    ),
    ("time_format", Ty::Str),
    ("localtime", Ty::Bool),
    ("utc", Ty::Bool),
    ("timezone", Ty::Str),
    ("time_format_fallbacks", Ty::Array),
];

/// Each parser's own parameters: Fluentd 1.19.3 parser_json.rb, parser_ltsv.rb,
/// parser_regexp.rb (nginx is a regexp parser), parser_apache2.rb;
/// fluent-plugin-parser-cri 0.1.1 parser_cri.rb.
fn parser_params(ty: &str) -> Option<Params> {
    Some(match ty {
        "json" => &[
            ("json_parser", Ty::Enum(&["oj", "yajl", "json"])),
            ("stream_buffer_size", Ty::Int),
        ],
        "ltsv" => &[
            ("delimiter", Ty::Str),
            ("delimiter_pattern", Ty::Regexp),
            ("label_delimiter", Ty::Str),
        ],
        "regexp" | "nginx" => &[
            ("expression", Ty::Regexp),
            ("ignorecase", Ty::Bool),
            ("multiline", Ty::Bool),
        ],
        "apache2" => &[],
        "cri" => &[("merge_cri_fields", Ty::Bool)],
        _ => return None,
    })
}

/// A plugin: its parameters, the ones it cannot do without, the sections it takes.
struct Plugin {
    params: Params,
    required: &'static [&'static str],
    sections: &'static [&'static str],
}

fn plugin(directive: &str, ty: &str) -> Option<Plugin> {
    let p = |params, required, sections| Plugin {
        params,
        required,
        sections,
    };
    Some(match (directive, ty) {
        ("source", "tail") => p(TAIL, &["path", "tag"], &["parse"]),
        ("source", "monitor_agent") => p(MONITOR_AGENT, &[], &[]),
        ("filter", "parser") => p(FILTER_PARSER, &["key_name"], &["parse"]),
        ("filter", "concat") => p(CONCAT, &["key"], &[]),
        ("filter", "kubernetes_metadata") => p(KUBERNETES_METADATA, &[], &[]),
        ("match", "relabel") => p(&[], &["@label"], &[]),
        ("match", "elasticsearch_data_stream") => p(
            ELASTICSEARCH_DATA_STREAM,
            &["data_stream_name"],
            &["buffer"],
        ),
        _ => return None,
    })
}

fn check_value(ty: Ty, v: &str, labels: &[String]) -> Result<(), String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let number = |s: &str| {
        let s = s.strip_prefix('-').unwrap_or(s);
        match s.split_once('.') {
            Some((a, b)) => digits(a) && digits(b),
            None => digits(s),
        }
    };
    let ok = match ty {
        Ty::Str => true,
        Ty::Int => {
            let s = v.strip_prefix('-').unwrap_or(v);
            digits(s)
        }
        Ty::Float => number(v),
        Ty::Bool => matches!(v, "true" | "false" | "yes" | "no"),
        Ty::Time => {
            let n = v.trim_end_matches(['s', 'm', 'h', 'd']);
            number(n) && v.len() - n.len() <= 1
        }
        Ty::Size => {
            let lower = v.to_ascii_lowercase();
            let n = lower.trim_end_matches('b');
            let n = n.trim_end_matches(['k', 'm', 'g', 't']);
            digits(n) && lower.len() - n.len() <= 2
        }
        Ty::Enum(values) => values.contains(&v),
        Ty::Regexp => {
            if let Some(rest) = v.strip_prefix('/') {
                let end = rest
                    .rfind('/')
                    .ok_or("a `/` regexp without its closing `/`")?;
                rest[end + 1..].chars().all(|c| "imx".contains(c)) && end > 0
            } else {
                !v.is_empty()
            }
        }
        Ty::SlashRegexp => v.len() > 2 && v.starts_with('/') && v.ends_with('/'),
        Ty::Array => {
            if v.starts_with('[') {
                serde_json::from_str::<Vec<serde_json::Value>>(v).is_ok()
            } else {
                !v.trim().is_empty()
            }
        }
        Ty::Hash => {
            if v.starts_with('{') {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v).is_ok()
            } else {
                v.split(',')
                    .all(|kv| kv.split_once(':').is_some_and(|(k, _)| !k.is_empty()))
            }
        }
        Ty::Label => labels.iter().any(|l| l == v),
        Ty::JsonObject => {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v).is_ok()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{v}` is not a valid {ty:?}"))
    }
}

fn check_params(
    e: &Element,
    params: &[Params],
    required: &[&str],
    labels: &[String],
    problems: &mut Vec<String>,
) {
    let what = format!("<{} {}> (line {})", e.name, e.arg, e.line);
    for (key, value, line) in &e.params {
        if matches!(key.as_str(), "@type" | "@id") && e.name != "buffer" {
            continue;
        }
        if key == "@log_level" {
            if !LOG_LEVELS.contains(&value.as_str()) {
                problems.push(format!("line {line}: @log_level `{value}`"));
            }
            continue;
        }
        if key == "@label" {
            if !labels.contains(value) {
                problems.push(format!("line {line}: @label `{value}` names no <label>"));
            }
            continue;
        }
        match params.iter().flat_map(|p| p.iter()).find(|(k, _)| k == key) {
            None => problems.push(format!("line {line}: {what}: unknown parameter `{key}`")),
            Some((_, ty)) => {
                if let Err(why) = check_value(*ty, value, labels) {
                    problems.push(format!("line {line}: {what}: `{key}`: {why}"));
                }
            }
        }
        if e.params.iter().filter(|(k, _, _)| k == key).count() > 1 {
            problems.push(format!("line {line}: {what}: `{key}` is set twice"));
        }
    }
    for r in required {
        if e.get(r).is_none() {
            problems.push(format!("{what}: `{r}` is required"));
        }
    }
    // fluent-plugin-elasticsearch 5.4.4 elasticsearch_tls.rb: "When you set
    // 'ssl_min_version', must set 'ssl_max_version' together." (and the reverse).
    if e.get("ssl_min_version").is_some() != e.get("ssl_max_version").is_some() {
        problems.push(format!(
            "{what}: `ssl_min_version` and `ssl_max_version` go together"
        ));
    }
}

fn check_parse_section(e: &Element, labels: &[String], problems: &mut Vec<String>) {
    let ty = e.get("@type").unwrap_or_default();
    let Some(own) = parser_params(ty) else {
        problems.push(format!("line {}: unknown parser `{ty}`", e.line));
        return;
    };
    let required: &[&str] = if ty == "regexp" { &["expression"] } else { &[] };
    check_params(e, &[PARSER_BASE, own], required, labels, problems);
    if !e.elements.is_empty() {
        problems.push(format!("line {}: <parse {ty}> has sections", e.line));
    }
}

/// Every problem with the configuration, empty when it is valid.
fn check_conf(root: &Element) -> Vec<String> {
    let mut problems = Vec::new();
    let labels: Vec<String> = root
        .elements
        .iter()
        .filter(|e| e.name == "label")
        .map(|e| e.arg.clone())
        .collect();
    if !root.params.is_empty() {
        problems.push(format!("parameters outside a directive: {:?}", root.params));
    }
    let mut directives: Vec<&Element> = Vec::new();
    for e in &root.elements {
        match e.name.as_str() {
            "source" | "filter" | "match" => directives.push(e),
            "label" => {
                if !e.arg.starts_with('@') || !e.params.is_empty() {
                    problems.push(format!("line {}: <label {}>", e.line, e.arg));
                }
                for d in &e.elements {
                    if matches!(d.name.as_str(), "filter" | "match") {
                        directives.push(d);
                    } else {
                        problems.push(format!("line {}: <{}> in a label", d.line, d.name));
                    }
                }
            }
            other => problems.push(format!("line {}: unexpected <{other}>", e.line)),
        }
    }
    let mut ids = Vec::new();
    for d in directives {
        if d.name != "source" && d.arg.is_empty() {
            problems.push(format!(
                "line {}: <{}> without a tag pattern",
                d.line, d.name
            ));
        }
        if let Some(id) = d.get("@id") {
            if ids.contains(&id) {
                problems.push(format!("line {}: @id `{id}` is used twice", d.line));
            }
            ids.push(id);
        }
        let ty = d.get("@type").unwrap_or_default();
        let Some(p) = plugin(&d.name, ty) else {
            problems.push(format!(
                "line {}: unknown plugin <{} @type {ty}>",
                d.line, d.name
            ));
            continue;
        };
        check_params(d, &[p.params], p.required, &labels, &mut problems);
        for s in &d.elements {
            if !p.sections.contains(&s.name.as_str()) {
                problems.push(format!("line {}: <{}> in {ty}", s.line, s.name));
                continue;
            }
            match s.name.as_str() {
                "parse" => check_parse_section(s, &labels, &mut problems),
                "buffer" => {
                    check_params(s, &[BUFFER], &[], &labels, &mut problems);
                    if s.get("@type") == Some("file") && s.get("path").is_none() {
                        problems.push(format!("line {}: a file buffer needs a path", s.line));
                    }
                    if !s.elements.is_empty() {
                        problems.push(format!("line {}: <buffer> has sections", s.line));
                    }
                }
                _ => {}
            }
        }
        for s in p.sections {
            if *s == "parse" && !d.elements.iter().any(|e| e.name == "parse") {
                problems.push(format!("line {}: {ty} needs <parse>", d.line));
            }
        }
    }
    problems
}

// ------------------------------------------------------------------ routing

/// Fluentd's tag patterns: `*` is one tag part (or part of one), `**` any number.
fn tag_matches(pattern: &str, tag: &str) -> bool {
    pattern
        .split_whitespace()
        .any(|p| glob(p.as_bytes(), tag.as_bytes()))
}

fn glob(p: &[u8], t: &[u8]) -> bool {
    match p {
        [] => t.is_empty(),
        [b'*', b'*', b'.', rest @ ..] => {
            glob(rest, t) || (0..t.len()).any(|i| t[i] == b'.' && glob(rest, &t[i + 1..]))
        }
        [b'*', b'*'] => true,
        [b'*', rest @ ..] => (0..=t.len())
            .take_while(|&i| i == 0 || t[i - 1] != b'.')
            .any(|i| glob(rest, &t[i..])),
        [c, rest @ ..] => t.first() == Some(c) && glob(rest, &t[1..]),
    }
}

/// The directives an event with `tag` goes through, from the root: filters in order,
/// then the first match (following relabel into its label).
fn route<'a>(root: &'a Element, tag: &str) -> Vec<&'a Element> {
    let mut out = Vec::new();
    let mut scope: Vec<&Element> = root
        .elements
        .iter()
        .filter(|e| e.name != "source" && e.name != "label")
        .collect();
    for _ in 0..4 {
        let mut next = None;
        for d in &scope {
            if !tag_matches(&d.arg, tag) {
                continue;
            }
            out.push(*d);
            if d.name == "match" {
                next = d
                    .get("@label")
                    .filter(|_| d.get("@type") == Some("relabel"));
                break;
            }
        }
        let Some(label) = next else {
            break;
        };
        scope = root
            .elements
            .iter()
            .filter(|e| e.name == "label" && e.arg == label)
            .flat_map(|l| l.elements.iter())
            .collect();
    }
    out
}

// ------------------------------------------------------------------ the tests

fn fluent_conf(dir: &Path) -> String {
    let c = compile(dir, &fixture_options(dir));
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    set.files["fluentd/fluent.conf"].contents.clone()
}

fn checked(dir: &Path) -> Element {
    let text = fluent_conf(dir);
    let root = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let problems = check_conf(&root);
    assert!(
        problems.is_empty(),
        "{}: fluent.conf:\n{}",
        dir.display(),
        problems.join("\n")
    );
    root
}

#[test]
fn the_parser_reads_fluentd_syntax() {
    let root = parse(
        "# comment\n<source>\n  @type tail # trailing\n  path /a/b#c\n  tag \"x.\\\"y\\\\\\#{z}\"\n  \
         flag\n  list [\"a\", \"b\"]\n  single 'it\\'s'\n  <parse>\n    @type none\n  </parse>\n</source>\n\
         <match  a.** b.*  >\n  @type null\n</match>\n",
    )
    .expect("parses");
    let source = &root.elements[0];
    assert_eq!(source.get("@type"), Some("tail"));
    assert_eq!(source.get("path"), Some("/a/b#c"));
    assert_eq!(source.get("tag"), Some("x.\"y\\#{z}"));
    assert_eq!(source.get("flag"), Some(""));
    assert_eq!(source.get("list"), Some("[\"a\", \"b\"]"));
    assert_eq!(source.get("single"), Some("it's"));
    assert_eq!(source.elements[0].name, "parse");
    assert_eq!(root.elements[1].arg, "a.** b.*");
    for bad in [
        "<source>\n",
        "<source>\n</match>\n",
        "<source>\n  tag \"a\n",
        "<source>\n  tag \"#{`id`}\"\n</source>\n",
        "<source>\n  tag \"\\d\"\n</source>\n",
        "<source>\n  tag \"a\" b\n</source>\n",
        "<source>\n  @weird x\n</source>\n",
        "@include other.conf\n",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn the_checker_finds_unknown_parameters_and_wrong_types() {
    let conf = |body: &str| {
        let root = parse(&format!(
            "<source>\n  @type tail\n  path /x\n  tag t\n{body}  <parse>\n    @type json\n  </parse>\n</source>\n"
        ))
        .expect("parses");
        check_conf(&root)
    };
    assert!(conf("").is_empty(), "{:?}", conf(""));
    assert_eq!(conf("  read_from_hed true\n").len(), 1);
    assert_eq!(conf("  read_from_head maybe\n").len(), 1);
    assert_eq!(conf("  refresh_interval soon\n").len(), 1);
    assert_eq!(conf("  max_line_size 8XB\n").len(), 1);
    assert_eq!(conf("  glob_policy sometimes\n").len(), 1);
    assert!(conf("  refresh_interval 10s\n  max_line_size 8MB\n").is_empty());
    let missing = check_conf(&parse("<source>\n  @type tail\n</source>\n").expect("parses"));
    assert!(missing.iter().any(|p| p.contains("`path` is required")));
    let label = check_conf(
        &parse("<match **>\n  @type relabel\n  @label @NOWHERE\n</match>\n").expect("parses"),
    );
    assert!(
        label.iter().any(|p| p.contains("names no <label>")),
        "{label:?}"
    );
}

#[test]
fn tag_patterns_match_as_fluentd_does() {
    assert!(tag_matches("nestio.**", "nestio.a.var.log"));
    assert!(tag_matches("nestio.a.**", "nestio.a.var.log"));
    assert!(!tag_matches("nestio.a.**", "nestio.a-b.var.log"));
    assert!(tag_matches("a.*", "a.b"));
    assert!(!tag_matches("a.*", "a.b.c"));
    assert!(tag_matches("x y.**", "y.z"));
}

#[test]
fn generated_configurations_pass_the_syntax_and_plugin_checks() {
    for dir in [
        root().join("tests/fixtures/valid/fluentd-routing"),
        root().join("examples/shop"),
    ] {
        checked(&dir);
    }
}

#[test]
fn every_service_is_tailed_parsed_by_its_format_and_shipped() {
    let dir = root().join("tests/fixtures/valid/fluentd-routing");
    let root_el = checked(&dir);
    let c = compile(&dir, &fixture_options(&dir));
    let model = c.analysis.model.expect("model");
    let sources: BTreeMap<String, &Element> = root_el
        .elements
        .iter()
        .filter(|e| e.name == "source" && e.get("@type") == Some("tail"))
        .map(|e| (e.get("tag").unwrap_or_default().to_owned(), e))
        .collect();
    // One source per service and environment, each reading that environment's namespace.
    let envs = [("prod", "routing"), ("staging", "routing-staging")];
    assert_eq!(sources.len(), model.services.len() * envs.len());
    for (name, service) in &model.services {
        for (env, ns) in envs {
            let source = sources[&format!("nestio.{name}.{env}.*")];
            assert_eq!(
                source.get("path"),
                Some(format!("/var/log/containers/{name}-*_{ns}_{name}-*.log").as_str()),
                "{name} in {env}"
            );
        }
        // An event as in_tail tags it, from a pod of this service.
        let tag = format!(
            "nestio.{name}.prod.var.log.containers.{name}-6d4f9-x2b7q_routing_{name}-{}.log",
            "0".repeat(64)
        );
        let route = route(&root_el, &tag);
        let types: Vec<&str> = route
            .iter()
            .map(|d| d.get("@type").unwrap_or_default())
            .collect();
        let parsers: Vec<&str> = route
            .iter()
            .filter(|d| d.get("@type") == Some("parser"))
            .flat_map(|d| d.elements.iter().filter_map(|p| p.get("@type")))
            .collect();
        let expected: &[&str] = match service.logs_format.as_deref() {
            Some("json") => &["json"],
            Some("logfmt") => &["ltsv"],
            Some("nginx") => &["nginx"],
            Some("apache") => &["apache2"],
            Some("regex") => &["regexp"],
            _ => &[],
        };
        assert_eq!(parsers, expected, "{name}: {types:?}");
        let joins = route
            .iter()
            .filter(|d| d.get("multiline_start_regexp").is_some())
            .count();
        assert_eq!(joins, usize::from(service.logs_multiline_start.is_some()));
        assert_eq!(
            types.last(),
            Some(&"elasticsearch_data_stream"),
            "{name} is not shipped: {types:?}"
        );
        assert!(types.contains(&"kubernetes_metadata"), "{name}: {types:?}");
    }
    // `api` must not read `api-gateway`'s files, which its glob also matches.
    let api = sources["nestio.api.prod.*"];
    assert!(
        api.get("exclude_path")
            .is_some_and(|x| x.contains("_routing_api-gateway-*.log"))
    );
}

/// A project with one service whose regex pattern is `pattern`.
fn project_with_pattern(pattern: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // A KDL raw string with enough `#`s to hold any pattern.
    let hashes = "#".repeat(pattern.matches('#').count() + 1);
    std::fs::write(
        dir.join("nestio.kdl"),
        format!(
            "project \"p\" {{\n    logging \"fluentd\" {{\n        elasticsearch \"http://es:9200\"\n    }}\n}}\n\
             service \"svc\" {{\n    image \"svc\" tag=\"1.0.0\"\n    \
             logs format=\"regex\" pattern={hashes}\"{pattern}\"{hashes}\n}}\n"
        ),
    )
    .expect("write");
    std::fs::write(dir.join("options"), "targets=fluentd\n").expect("write");
    (tmp, dir)
}

#[test]
fn hostile_patterns_stay_inside_their_value() {
    for pattern in [
        r#"(?<a>x)" @type exec"#,
        r"(?<a>x)\",
        r"(?<a>x)\\",
        r#"(?<a>#{`touch /tmp/pwned`})"#,
        "(?<a>x)</parse></filter><match **>",
        "(?<a>x) # not a comment",
        r#"/(?<a>x)/i"#,
        r#"(?<a>["'\\#])"#,
        "(?<a>ünïcödé)",
        r"(?<a>\})\{",
    ] {
        let (_tmp, dir) = project_with_pattern(pattern);
        let c = compile(&dir, &fixture_options(&dir));
        if c.analysis.has_errors() {
            // Only a pattern Ruby would not compile may be refused, never a quote or `#`.
            assert!(
                pattern.ends_with('\\') && !pattern.ends_with(r"\\"),
                "{pattern:?} refused:\n{}",
                render_human(&c.analysis)
            );
            continue;
        }
        let text = c.artifacts.expect("artifacts").files["fluentd/fluent.conf"]
            .contents
            .clone();
        let root_el = parse(&text).unwrap_or_else(|e| panic!("{pattern:?}: {e}\n{text}"));
        assert!(check_conf(&root_el).is_empty(), "{pattern:?}");
        let expressions: Vec<&str> = root_el
            .all()
            .into_iter()
            .filter_map(|e| e.get("expression"))
            .collect();
        assert_eq!(expressions, [format!("/{pattern}/")], "{pattern:?}");
        // Nothing else appeared: one source per service plus the monitor, the same
        // directives as for a harmless pattern.
        let (_t2, plain_dir) = project_with_pattern("(?<a>x)");
        let plain = parse(&fluent_conf(&plain_dir)).expect("parses");
        let shape = |e: &Element| {
            e.all()
                .iter()
                .map(|d| format!("{} {}", d.name, d.params.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&root_el), shape(&plain), "{pattern:?}");
    }
}

#[test]
fn patterns_that_cannot_be_written_are_refused() {
    for (pattern, why) in [
        ("(?<a>x)\ny", "control character"),
        ("(?<a>x)\r", "control character"),
        ("(?<a>x\t)", "control character"),
        ("(?<a>x", "not closed"),
        ("(?<a>x))", "closes no group"),
        ("(?<a>[x)", "not closed"),
        ("(?P<a>x)", "Python"),
        ("(x)", "no named capture"),
        ("(?<a>x)\\", "lone"),
    ] {
        // A KDL string with escapes: the control characters must reach the compiler.
        let escaped = pattern
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t");
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("p");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("nestio.kdl"),
            format!(
                "project \"p\" {{\n    logging \"fluentd\" {{\n        elasticsearch \"http://es:9200\"\n    }}\n}}\n\
                 service \"svc\" {{\n    image \"svc\" tag=\"1.0.0\"\n    logs format=\"regex\" pattern=\"{escaped}\"\n}}\n"
            ),
        )
        .expect("write");
        let c = compile(&dir, &nestioc::Options::default());
        let text = render_human(&c.analysis);
        assert!(
            c.analysis.has_errors() && text.contains(why) && text.contains("NST0110"),
            "{pattern:?} should be refused ({why}):\n{text}"
        );
    }
}

/// The checks are not vacuous: each small mistake in the generated configuration is found.
#[test]
fn mutations_of_the_generated_configuration_are_caught() {
    let text = fluent_conf(&root().join("tests/fixtures/valid/fluentd-routing"));
    for (from, to) in [
        ("    reserve_time true\n", "    reserve_tme true\n"),
        (
            "      overflow_action block\n",
            "      overflow_action wait\n",
        ),
        (
            "      chunk_limit_size 8MB\n",
            "      chunk_limit_size lots\n",
        ),
        ("  follow_inodes true\n", "  follow_inodes 1\n"),
        ("  timeout_label @NESTIO\n", "  timeout_label @NESTO\n"),
        ("    @type ltsv\n", "    @type logfmt\n"),
        ("  @type concat\n", "  @type concatenate\n"),
        (
            "    <parse>\n      @type json\n",
            "    <format>\n      @type json\n",
        ),
        (
            "      @type file\n",
            "      @type file\n      <secondary>\n      </secondary>\n",
        ),
        ("    port ", "    prot "),
        (
            "  key_name message\n",
            "  key_name message\n  key_name log\n",
        ),
    ] {
        assert!(text.contains(from), "{from:?} is not in the configuration");
        let mutated = text.replacen(from, to, 1);
        let found = match parse(&mutated) {
            Ok(root) => !check_conf(&root).is_empty(),
            Err(_) => true,
        };
        assert!(found, "{from:?} -> {to:?} went unnoticed");
    }
}

/// A service named `fluentd` in the router's own namespace must not read the router's
/// logs: the router would ship its own output, which it logs, forever.
#[test]
fn the_router_never_tails_its_own_logs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\" {\n    namespace \"logging\"\n    logging \"fluentd\" {\n        \
         elasticsearch \"http://es:9200\"\n    }\n}\n\
         service \"fluentd\" {\n    image \"fluentd\" tag=\"1.0.0\"\n}\n",
    )
    .expect("write");
    std::fs::write(dir.join("options"), "targets=fluentd\n").expect("write");
    let root_el = checked(&dir);
    let source = root_el
        .elements
        .iter()
        .find(|e| {
            e.get("tag")
                .is_some_and(|t| t.starts_with("nestio.fluentd."))
        })
        .expect("the service's source");
    assert_eq!(
        source.get("exclude_path"),
        Some("/var/log/containers/fluentd-p-*_logging_fluentd-*.log")
    );
}

/// What a Fluentd `${tag[N]}` placeholder gives for a tag (Fluentd's extract_placeholders:
/// the tag split at dots).
fn expand_tag_parts(template: &str, tag: &str) -> String {
    let parts: Vec<&str> = tag.split('.').collect();
    let mut out = template.to_owned();
    for (i, p) in parts.iter().enumerate() {
        out = out.replace(&format!("${{tag[{i}]}}"), p);
    }
    out
}

/// Elasticsearch's rules for an index or data stream name, as fluent-plugin-elasticsearch
/// 5.4.4 checks them at start (out_elasticsearch_data_stream.rb
/// validate_data_stream_parameters): lowercase, at most 255 bytes, not starting with `-`,
/// `_`, `+` or `.`, none of `\ / * ? " < > | , # :` or a space, not `.` or `..`.
fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name == name.to_lowercase()
        && !name.starts_with(['-', '_', '+', '.'])
        && !name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ',', '#', ':', ' '])
        && name != "."
        && name != ".."
}

/// Each environment writes its own data streams (`nestio-<project>.<env>.<service>`), and
/// with https the output verifies Elasticsearch's certificate (against the `ca=` Secret)
/// and signs in with the `credentials=` Secret, which the DaemonSet passes as the
/// environment variables fluent.conf reads.
#[test]
fn environments_write_their_own_streams_over_verified_signed_in_tls() {
    let dir = root().join("tests/fixtures/valid/fluentd-routing");
    let root_el = checked(&dir);
    let c = compile(&dir, &fixture_options(&dir));
    let set = c.artifacts.expect("artifacts");
    let label = root_el
        .elements
        .iter()
        .find(|e| e.name == "label")
        .expect("the routing label");
    let output = label
        .elements
        .iter()
        .find(|e| e.name == "match" && e.get("@type") == Some("elasticsearch_data_stream"))
        .expect("the Elasticsearch output");
    let stream = output.get("data_stream_name").expect("data_stream_name");
    let mut names = Vec::new();
    for source in root_el
        .elements
        .iter()
        .filter(|e| e.name == "source" && e.get("@type") == Some("tail"))
    {
        // in_tail replaces the `*` with the file's path, its slashes turned into dots.
        let tag = source
            .get("tag")
            .expect("tag")
            .replace('*', "var.log.containers.x-1_ns_x-0.log");
        let name = expand_tag_parts(stream, &tag);
        assert!(valid_stream_name(&name), "{name}");
        names.push(name);
    }
    for (env, service) in [("prod", "api"), ("staging", "api")] {
        assert!(
            names.contains(&format!("nestio-routing.{env}.{service}")),
            "{names:?}"
        );
    }
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "two sources share a stream: {names:?}"
    );

    // TLS, verified, within the plugin's supported versions.
    assert_eq!(output.get("scheme"), Some("https"));
    assert_eq!(output.get("ssl_verify"), Some("true"));
    assert_eq!(output.get("ssl_min_version"), Some("TLSv1_2"));
    let ca_file = output.get("ca_file").expect("ca_file");
    // Credentials from the files of the Secret (embedded Ruby, in a double-quoted value).
    let file = |v: Option<&str>| -> String {
        let v = v.expect("value");
        v.strip_prefix("#{File.read('")
            .and_then(|r| r.strip_suffix("').chomp}"))
            .unwrap_or_else(|| panic!("not a file read: {v}"))
            .to_owned()
    };
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&set.files["fluentd/fluentd.yaml"].contents).expect("yaml");
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    // Each file is a key of the Secret, mounted where fluent.conf reads it.
    let secret_file = |path: &str| -> (String, String) {
        let mount = container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap_or("?"))))
            .unwrap_or_else(|| panic!("{path} is in no mount"));
        let volume = pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("the mounted volume");
        let item = path.rsplit('/').next().expect("a file name").to_owned();
        let key = volume["secret"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["path"] == item.as_str())
            .unwrap_or_else(|| panic!("{path} is no item of the Secret"))["key"]
            .as_str()
            .expect("key")
            .to_owned();
        (
            volume["secret"]["secretName"]
                .as_str()
                .expect("secret")
                .to_owned(),
            key,
        )
    };
    assert_eq!(
        secret_file(&file(output.get("user"))),
        ("es-fluentd".to_owned(), "username".to_owned())
    );
    assert_eq!(
        secret_file(&file(output.get("password"))),
        ("es-fluentd".to_owned(), "password".to_owned())
    );
    assert!(
        container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| e["valueFrom"]["secretKeyRef"].is_null()),
        "no secret in the environment (checkov CKV_K8S_35)"
    );
    let mount = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| ca_file.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap_or("?"))))
        .unwrap_or_else(|| panic!("{ca_file} is in no mount"));
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the CA volume");
    assert_eq!(volume["secret"]["secretName"], "es-ca");
    assert!(ca_file.ends_with("/ca.crt"));
}
