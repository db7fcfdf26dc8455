//! Every standard-library preset is documented with an example, and every example
//! compiles with zero diagnostics.

use nestioc::source::{Origin, Source, SourceMap};

#[test]
fn every_stdlib_example_compiles_cleanly() {
    for (path, text) in nestioc::stdlib::FILES {
        let doc = nestioc::stdlib::doc(text);
        assert!(!doc.name.is_empty(), "{path}: no `// # name` title");
        assert!(
            text.contains(&format!("template \"{}\"", doc.name)),
            "{path}: title and template differ"
        );
        assert!(!doc.prose.is_empty(), "{path}: no description");
        assert!(
            doc.example.contains(&format!("std/{}", doc.name)),
            "{path}: the example does not use the preset"
        );
        let project = format!(
            "project \"stdlib\" {{\n    registry \"registry.example.com/stdlib\"\n}}\n{}\n",
            doc.example
        );
        let mut sources = SourceMap::new();
        nestioc::stdlib::load(&mut sources);
        sources.add(Source::new("nestio.kdl", project, Origin::Project));
        let opts = nestioc::Options::default();
        let analysis = nestioc::analyze(
            sources,
            nestioc::diag::Diagnostics::new(),
            &opts,
            &mut |_| {},
        );
        assert!(
            analysis.diagnostics.is_empty(),
            "{path}: example has diagnostics:\n{}",
            crate::support::render_human(&analysis)
        );
        let set = nestioc::emit(&analysis, &opts, &mut |_| {}).expect("emits");
        assert!(!set.is_empty());
    }
}
