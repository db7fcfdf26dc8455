//! The whole compile to artifacts. The input is a project as text, split into files at
//! lines `//@file <path>` (the seed corpus is every example and fixture project), or,
//! when it starts with a NUL byte, an `arbitrary` topology. Every emitted JSON and YAML
//! file must parse, and no path may leave the output directory.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use nestioc_fuzz::{Topology, check_artifacts, run, split_files};

fuzz_target!(|data: &[u8]| {
    let files = if let Some(rest) = data.strip_prefix(b"\0") {
        let mut u = Unstructured::new(rest);
        let Ok(t) = Topology::arbitrary(&mut u) else {
            return;
        };
        t.files()
    } else {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        split_files(text)
    };
    let outcome = run(&files, true);
    if let Some(set) = &outcome.artifacts {
        check_artifacts(set);
    }
});
