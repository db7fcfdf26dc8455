//! Lowering, the graph and the checks on structurally valid KDL: an `arbitrary`
//! topology (services, templates, environments, edges, SLOs, hostile free text) printed as
//! KDL, then parse, lower, graph and check. Any panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nestioc_fuzz::{Topology, run};

fuzz_target!(|topology: Topology| {
    let files = topology.files();
    let outcome = run(&files, false);
    // A structurally valid document never gets a syntax error.
    assert!(
        !outcome
            .analysis
            .diagnostics
            .iter()
            .any(|d| d.code == nestioc::diag::Code::KdlSyntax),
        "generated KDL did not parse: {files:#?}\n{:#?}",
        outcome.analysis.diagnostics
    );
});
