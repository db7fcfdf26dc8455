//! The standard library, embedded in the binary. Its files are added to every
//! compilation with `<stdlib/...>` names, so diagnostics inside them point there.

use crate::source::{Origin, Source, SourceMap};

/// Stdlib KDL files: `(path under stdlib/, text)`.
pub const FILES: &[(&str, &str)] = &[
    (
        "templates/http-service.kdl",
        include_str!("../../stdlib/templates/http-service.kdl"),
    ),
    (
        "templates/grpc-service.kdl",
        include_str!("../../stdlib/templates/grpc-service.kdl"),
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
