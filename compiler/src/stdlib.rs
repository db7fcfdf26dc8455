//! The standard library, embedded in the binary. Its files are added to every
//! compilation with `<stdlib/...>` names, so diagnostics inside them point there.

use crate::source::{Origin, Source, SourceMap};

/// Stdlib KDL files: `(path under stdlib/, text)`.
pub const FILES: &[(&str, &str)] = &[
    (
        "templates/api-slos.kdl",
        include_str!("../../stdlib/templates/api-slos.kdl"),
    ),
    (
        "templates/blue-green.kdl",
        include_str!("../../stdlib/templates/blue-green.kdl"),
    ),
    (
        "templates/cron-job.kdl",
        include_str!("../../stdlib/templates/cron-job.kdl"),
    ),
    (
        "templates/grpc-service.kdl",
        include_str!("../../stdlib/templates/grpc-service.kdl"),
    ),
    (
        "templates/http-service.kdl",
        include_str!("../../stdlib/templates/http-service.kdl"),
    ),
    (
        "templates/json-logs.kdl",
        include_str!("../../stdlib/templates/json-logs.kdl"),
    ),
    (
        "templates/logfmt-logs.kdl",
        include_str!("../../stdlib/templates/logfmt-logs.kdl"),
    ),
    (
        "templates/postgres.kdl",
        include_str!("../../stdlib/templates/postgres.kdl"),
    ),
    (
        "templates/progressive-canary.kdl",
        include_str!("../../stdlib/templates/progressive-canary.kdl"),
    ),
    (
        "templates/redis.kdl",
        include_str!("../../stdlib/templates/redis.kdl"),
    ),
    (
        "templates/text-logs.kdl",
        include_str!("../../stdlib/templates/text-logs.kdl"),
    ),
    (
        "templates/worker.kdl",
        include_str!("../../stdlib/templates/worker.kdl"),
    ),
];

/// Adds the stdlib files to a source map.
pub fn load(sources: &mut SourceMap) {
    for (path, text) in FILES {
        sources.add(Source::new(
            format!("<stdlib/{path}>"),
            *text,
            Origin::Stdlib,
        ));
    }
}

/// A stdlib file's documentation: the leading `//` comment, split into its title,
/// its prose and its example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub name: String,
    pub prose: String,
    pub example: String,
}

/// Reads the leading comment of a stdlib file: `// # name`, prose, then an indented
/// `// Example:` block.
#[must_use]
pub fn doc(text: &str) -> Doc {
    let mut name = String::new();
    let mut prose = Vec::new();
    let mut example = Vec::new();
    let mut in_example = false;
    for line in text.lines() {
        let Some(c) = line.strip_prefix("//") else {
            break;
        };
        let c = c.strip_prefix(' ').unwrap_or(c);
        if let Some(t) = c.strip_prefix("# ") {
            name = t.trim().to_owned();
        } else if c.trim() == "Example:" {
            in_example = true;
        } else if in_example {
            example.push(c.strip_prefix("    ").unwrap_or(c).to_owned());
        } else {
            prose.push(c.to_owned());
        }
    }
    Doc {
        name,
        prose: prose.join("\n").trim().to_owned(),
        example: example.join("\n").trim_end().to_owned(),
    }
}
