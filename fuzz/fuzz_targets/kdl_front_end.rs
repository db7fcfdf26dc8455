//! The KDL front end on raw bytes: the depth and size checks, the KDL parser, the
//! conversion into nestioc's tree with spans, and the rendering of whatever diagnostics
//! come out. Any panic, stack overflow or hang is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nestioc::diag::Diagnostics;
use nestioc::diag::render::{self, Format, RenderOptions};
use nestioc::source::{Origin, Source, SourceMap};

fuzz_target!(|data: &[u8]| {
    // The driver reports files that are not UTF-8 and keeps a lossy copy for rendering;
    // the parser sees only text.
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = SourceMap::new();
    let id = sources.add(Source::new("nestio.kdl", text.clone(), Origin::Project));
    let mut diags = Diagnostics::new();
    if let Some(doc) = nestioc::syntax::parse_one(id, &text, &mut diags) {
        // Every span must lie inside the file, on character boundaries.
        fn walk(nodes: &[nestioc::syntax::Node], text: &str) {
            for n in nodes {
                for span in [n.span, n.name_span] {
                    assert!(text.get(span.range()).is_some(), "bad span {span:?}");
                }
                for e in &n.entries {
                    assert!(text.get(e.span.range()).is_some(), "bad span {:?}", e.span);
                    assert!(text.get(e.value_span.range()).is_some());
                }
                walk(&n.children, text);
            }
        }
        walk(&doc.nodes, &text);
    }
    let diags = diags.finish();
    for format in [Format::Human, Format::Json] {
        let _ = render::render(&diags, &sources, format, &RenderOptions::default());
    }
});
