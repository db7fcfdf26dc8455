//! The KDL front end on raw bytes: the depth and size checks, the KDL parser, the
//! conversion into nestioc's tree with spans, and the rendering of whatever diagnostics
//! come out. Any panic, stack overflow or hang is a finding; so is the parser's fast path
//! (`syntax::fast`) answering with other nodes than the kdl crate's, or answering where
//! the crate reports an error.
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
    if let Some(fast) = nestioc::syntax::fast::parse(id, &text, nestioc::syntax::MAX_DEPTH) {
        let reference = nestioc::syntax::parse_with_kdl(id, &text);
        // Debug output tells floats apart bit for bit, which `==` does not.
        let (f, r) = (
            format!("{:#?}", Some(&fast)),
            format!("{:#?}", reference.as_ref()),
        );
        assert!(
            reference.as_ref() == Some(&fast) && f == r,
            "the fast path differs from the kdl crate on {text:?}\n--- fast\n{f}\n--- kdl\n{r}"
        );
    }
    let diags = diags.finish();
    for format in [Format::Human, Format::Json] {
        let _ = render::render(&diags, &sources, format, &RenderOptions::default());
    }
});
