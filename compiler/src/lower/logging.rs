//! Log routing settings: the project's `logging` block (the Elasticsearch URL) and a
//! service's `logs` node (format, regex pattern, multi-line start).
//!
//! These values reach Fluentd's configuration (`fluentd/fluent.conf`). The emitter writes
//! every user string as a double-quoted Fluentd string with escapes, so a value can never
//! end its string, open an embedded-Ruby `#{...}` or start a new directive; what cannot be
//! written there at all (control characters, a regex Ruby would not compile) is refused
//! here, where the user wrote it.

use crate::diag::{At, Code, Diagnostic, Diagnostics, Problem};
use crate::model::LogSystem;
use crate::model::values::Duration;
use crate::syntax::{Entry, Node};

/// How long logs are kept when `retention` is not set.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
const HOUR_MS: u64 = 3_600_000;

/// An Elasticsearch endpoint, split as Fluentd's elasticsearch output wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsUrl {
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The path prefix without its trailing `/`; `None` for the root.
    pub path: Option<String>,
}

fn url_problem(url: &str, label: &str) -> Problem {
    Problem {
        code: Code::InvalidName,
        message: format!("invalid Elasticsearch URL `{url}`"),
        label: label.to_owned(),
        help: Some(
            "write `http://HOST[:PORT][/PATH]` or `https://...`, e.g. \"http://elasticsearch.logging.svc:9200\"; \
             credentials, queries and fragments do not belong in the topology"
                .into(),
        ),
    }
}

/// Parses `http(s)://host[:port][/path]`: a lowercase DNS name or IPv4 address, an
/// optional port (default 80 or 443), an optional path of URL-safe characters.
pub fn parse_es_url(url: &str) -> Result<EsUrl, Problem> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else {
        return Err(url_problem(url, "expected `http://` or `https://` first"));
    };
    if rest.contains(['?', '#']) {
        return Err(url_problem(url, "no query or fragment"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(url_problem(
            url,
            "credentials in the URL would be stored in a ConfigMap",
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, digits)) => {
            let port = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse::<u16>().ok())
                .flatten()
                .filter(|n| *n > 0);
            match port {
                Some(port) => (h, port),
                None => {
                    return Err(url_problem(
                        url,
                        "the port must be a number from 1 to 65535",
                    ));
                }
            }
        }
        None => (authority, if scheme == "https" { 443 } else { 80 }),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !host_ok {
        return Err(url_problem(
            url,
            "the host must be a lowercase DNS name or an IPv4 address",
        ));
    }
    let path = path.trim_end_matches('/');
    let path_ok = path.split('/').skip(1).all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    });
    if !path_ok {
        return Err(url_problem(
            url,
            "the path may use letters, digits, `-`, `.`, `_` and `~` between slashes",
        ));
    }
    Ok(EsUrl {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
        path: (!path.is_empty()).then(|| path.to_owned()),
    })
}

/// A pattern for a message: control characters as escapes, the rest as written.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A regular expression as Ruby (Onigmo) reads it, checked for what would make Fluentd
/// refuse its whole configuration or could not be written into it: control characters,
/// a trailing `\`, unbalanced groups or character classes, Python's `(?P<name>`.
/// Returns the names of its named captures.
pub fn check_ruby_regex(pattern: &str, what: &str) -> Result<Vec<String>, Problem> {
    let bad = |label: &str, help: &str| Problem {
        code: Code::InvalidName,
        message: format!("invalid {what} `{}`", visible(pattern)),
        label: label.to_owned(),
        help: Some(help.to_owned()),
    };
    if pattern.is_empty() {
        return Err(bad(
            "an empty regular expression",
            "give a regular expression, e.g. `^\\d{4}-\\d{2}-\\d{2}`",
        ));
    }
    if pattern.chars().any(char::is_control) {
        return Err(bad(
            "contains a control character (a newline or a tab)",
            "Fluentd matches one line at a time, so a pattern holds no line break; for a tab, write the regex escape `\\t` (in a KDL string `\\\\t`, or use a raw string `#\"...\"#`)",
        ));
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut names = Vec::new();
    let mut groups = 0usize;
    let mut class = 0usize;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 == chars.len() {
                    return Err(bad(
                        "ends with a lone `\\`",
                        "escape a literal backslash as `\\\\`, or remove it",
                    ));
                }
                i += 1;
            }
            '[' => {
                class += 1;
                // A `]` right after `[` or `[^` is a literal in Ruby.
                if chars.get(i + 1) == Some(&'^') {
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    i += 1;
                }
            }
            ']' if class > 0 => class -= 1,
            '(' if class == 0 => {
                groups += 1;
                let rest: String = chars[i + 1..].iter().collect();
                if rest.starts_with("?P<") {
                    return Err(bad(
                        "Ruby does not accept Python's `(?P<name>...)`",
                        "write a named capture as `(?<name>...)`",
                    ));
                }
                if let Some(after) = rest.strip_prefix("?<")
                    && !after.starts_with(['=', '!'])
                {
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        || !after[name.len()..].starts_with('>')
                    {
                        return Err(bad(
                            "a capture name is a letter or `_`, then letters, digits and `_`, closed by `>`",
                            "write a named capture as `(?<name>...)`, e.g. `(?<level>\\w+)`",
                        ));
                    }
                    names.push(name);
                }
            }
            ')' if class == 0 => {
                if groups == 0 {
                    return Err(bad(
                        "a `)` closes no group",
                        "escape a literal parenthesis as `\\)`",
                    ));
                }
                groups -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    if class > 0 {
        return Err(bad(
            "a `[` character class is not closed",
            "close it with `]`, or escape a literal bracket as `\\[`",
        ));
    }
    if groups > 0 {
        return Err(bad(
            "a `(` group is not closed",
            "close it with `)`, or escape a literal parenthesis as `\\(`",
        ));
    }
    Ok(names)
}

/// A service's `logs` settings, checked.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    pub format: Option<String>,
    pub pattern: Option<String>,
    pub multiline_start: Option<String>,
}

fn located(p: Problem, span: crate::source::Span) -> Diagnostic {
    let d = Diagnostic::error(p.code, p.message).with_label(span, p.label);
    match p.help {
        Some(h) => d.with_help(h),
        None => d,
    }
}

fn str_entry<'a>(n: &'a Node, key: &str) -> Option<(String, &'a Entry)> {
    let e = n.prop(key)?;
    Some((e.value.as_str()?.to_owned(), e))
}

/// Reads `logs format= pattern= multiline-start=`, reporting the combinations Fluentd
/// cannot run. A refused pattern is left out, so that nothing downstream sees it.
pub fn lower_logs(node: Option<&Node>, diags: &mut Diagnostics) -> Logs {
    let Some(n) = node else {
        return Logs::default();
    };
    let format = str_entry(n, "format");
    let pattern = str_entry(n, "pattern");
    let multiline = str_entry(n, "multiline-start");
    let is_regex = format.as_ref().is_some_and(|(f, _)| f == "regex");
    let mut logs = Logs {
        format: format.as_ref().map(|(f, _)| f.clone()),
        ..Logs::default()
    };
    match (&format, &pattern) {
        (Some((_, f)), None) if is_regex => diags.push(
            Diagnostic::error(
                Code::MissingValue,
                "`logs format=\"regex\"` needs a `pattern=`",
            )
            .with_label(f.value_span, "a regex format without a pattern")
            .with_help(
                "add a regular expression whose named captures become the fields, e.g. \
                 `logs format=\"regex\" pattern=#\"^(?<level>\\w+) (?<message>.*)$\"#`",
            ),
        ),
        (_, Some((_, p))) if !is_regex => {
            let mut d = Diagnostic::error(
                Code::ConflictingEntries,
                "`pattern=` is only read with `format=\"regex\"`",
            )
            .with_label(p.value_span, "a pattern the format does not use");
            d = match &format {
                Some((f, e)) => d.with_secondary(e.value_span, format!("the format is `{f}`")),
                None => d.with_secondary(n.ident_span(), "no `format=`: the logs are text"),
            };
            diags.push(d.with_help(
                "set `format=\"regex\"` to parse lines with the pattern, or remove `pattern=`",
            ));
        }
        (_, Some((p, e))) => match check_ruby_regex(p, "log `pattern`") {
            Ok(names) if names.is_empty() => diags.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("log `pattern` `{}` has no named capture", visible(p)),
                )
                .with_label(e.value_span, "names no field")
                .with_help(
                    "each named capture `(?<name>...)` becomes a field of the log record, e.g. \
                     `pattern=#\"^(?<level>\\w+) (?<message>.*)$\"#`",
                ),
            ),
            Ok(_) => logs.pattern = Some(p.to_string()),
            Err(problem) => diags.push(located(problem, e.value_span)),
        },
        _ => {}
    }
    if let Some((m, e)) = &multiline {
        match check_ruby_regex(m, "`multiline-start` pattern") {
            Ok(_) => logs.multiline_start = Some(m.to_string()),
            Err(problem) => diags.push(located(problem, e.value_span)),
        }
    }
    logs
}

/// The project's `elasticsearch` URL, checked; `logging "fluentd"` needs one.
pub fn lower_elasticsearch(logging: &Node, diags: &mut Diagnostics) -> Option<String> {
    let system = logging.arg(0)?;
    let Some(node) = logging.children.iter().find(|c| c.name == "elasticsearch") else {
        if system.value.as_str().and_then(LogSystem::parse) == Some(LogSystem::Fluentd) {
            diags.push(
                Diagnostic::error(
                    Code::MissingValue,
                    "`logging \"fluentd\"` has no `elasticsearch` URL",
                )
                .with_label(system.value_span, "Fluentd has nowhere to send the logs")
                .with_help(
                    "add the URL in the block: `logging \"fluentd\" { elasticsearch \"http://elasticsearch.logging.svc:9200\" }`",
                ),
            );
        }
        return None;
    };
    let e = node.arg(0)?;
    let url = e.value.as_str()?;
    match parse_es_url(url).at(e.value_span) {
        Ok(_) => Some(url.to_owned()),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// `retention`, default 30 days. Elasticsearch checks lifecycles every 10 minutes and
/// rolls indices over at most daily here, so less than an hour means nothing.
pub fn lower_retention(logging: &Node, diags: &mut Diagnostics) -> Duration {
    let default = Duration::from_millis(DEFAULT_RETENTION_DAYS * 24 * HOUR_MS);
    let Some(e) = logging
        .children
        .iter()
        .find(|c| c.name == "retention")
        .and_then(|r| r.arg(0))
    else {
        return default;
    };
    // Not a duration: the structural checks reported it.
    let Some(d) = e.value.as_str().and_then(|s| Duration::parse(s).ok()) else {
        return default;
    };
    if d.millis < HOUR_MS {
        diags.push(
            Diagnostic::error(
                Code::OutOfRange,
                format!("`retention` {} is shorter than an hour", d.canonical()),
            )
            .with_label(e.value_span, "at least 1h")
            .with_help(
                "Elasticsearch deletes old indices through a lifecycle it checks every 10 minutes; \
                 keep logs for hours or days, e.g. \"14d\"",
            ),
        );
        return default;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_their_parts() {
        let u = parse_es_url("https://es.example.com/logs/").expect("valid");
        assert_eq!(
            u,
            EsUrl {
                scheme: "https".into(),
                host: "es.example.com".into(),
                port: 443,
                path: Some("/logs".into()),
            }
        );
        let u = parse_es_url("http://10.0.0.7:9200").expect("valid");
        assert_eq!((u.port, u.path), (9200, None));
        for bad in [
            "elasticsearch:9200",
            "ftp://es",
            "http://user:pw@es:9200",
            "http://es:0",
            "http://es:99999",
            "http://es:92a0",
            "http://ES:9200",
            "http://es:9200/a b",
            "http://es:9200/?q=1",
            "http://es:9200/a/../b",
            "http://",
            "http://es\n:9200",
        ] {
            assert!(parse_es_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn regex_structure_is_checked() {
        assert_eq!(
            check_ruby_regex(r"^(?<level>\w+) (?<msg>.*)$", "p").expect("valid"),
            ["level", "msg"]
        );
        assert!(
            check_ruby_regex(r"(?<=a)b(?<!c)", "p")
                .expect("valid")
                .is_empty()
        );
        assert!(check_ruby_regex(r"[]()]", "p").expect("valid").is_empty());
        assert!(check_ruby_regex(r"[^]a(]", "p").is_ok());
        assert!(check_ruby_regex(r"\(\)", "p").is_ok());
        for bad in [
            "",
            "a\\",
            "(a",
            "a)",
            "[a",
            "(?P<x>a)",
            "(?<x-y>a)",
            "a\nb",
            "a\tb",
        ] {
            assert!(
                check_ruby_regex(bad, "p").is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
