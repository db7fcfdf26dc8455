//! Performance invariants (docs/performance.md): the parallel build gives exactly the
//! bytes of the sequential one, and the generated benchmark topology is valid. Every
//! figure, the scaling of the graph, checks and diff on wide fan-out and long chains
//! included, comes from `cargo bench` and `scripts/bench.sh`, never from a timed test.

#[path = "../../benches/support/topology.rs"]
pub(crate) mod topology;

use std::collections::BTreeMap;
use std::path::Path;

use nestioc::{Options, driver};

use crate::support::{render_human, root};

/// Every file under `dir` (the manifest included), by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).expect("prefix");
            (
                rel.to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .filter(|(rel, _)| !rel.ends_with(driver::LOCK_FILE))
        .collect()
}

/// Compiles `project` and writes it into `out`, everything on a pool of `threads`.
fn build_on(threads: usize, project: &Path, out: &Path) -> BTreeMap<String, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let opts = Options::default();
        let (sources, pre) = driver::load_project(project, out).expect("project loads");
        let analysis = nestioc::analyze(sources, pre, &opts, &mut |_| {});
        assert!(
            analysis.diagnostics.is_empty(),
            "{}",
            render_human(&analysis)
        );
        let set = nestioc::emit(&analysis, &opts, &mut |_| {}).expect("emits");
        driver::write(out, &set, false).expect("writes");
        // `nestioc build`'s way: each file written as the emitters make it, from any
        // thread; the same tree as the collected set's.
        let streamed = out.with_extension("streamed");
        let writer = driver::Writer::begin(&streamed, false, None).expect("begins");
        nestioc::emit_into(&analysis, &opts, &writer, &mut |_| {}).expect("emits");
        writer.finish("").expect("writes");
        assert!(tree(&streamed) == tree(out), "the streamed tree differs");
        set.files
            .into_iter()
            .map(|(path, a)| (path, a.contents))
            .collect()
    })
}

fn assert_same_bytes(project: &Path) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let one = build_on(1, project, &tmp.path().join("one"));
    let four = build_on(4, project, &tmp.path().join("four"));
    assert_eq!(one.len(), four.len(), "{}", project.display());
    for (path, contents) in &one {
        assert!(
            four.get(path) == Some(contents),
            "{}: `{path}` differs between 1 and 4 threads",
            project.display()
        );
    }
    let (a, b) = (
        tree(&tmp.path().join("one")),
        tree(&tmp.path().join("four")),
    );
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "written files differ"
    );
    assert!(a == b, "written bytes differ between 1 and 4 threads");
}

#[test]
fn parallel_and_sequential_builds_give_the_same_bytes() {
    assert_same_bytes(&root().join("examples/shop"));
    let tmp = tempfile::tempdir().expect("tempdir");
    topology::write(200, tmp.path()).expect("generate");
    assert_same_bytes(tmp.path());
}

#[test]
fn the_generated_topology_compiles_without_diagnostics() {
    let tmp = tempfile::tempdir().expect("tempdir");
    topology::write(120, tmp.path()).expect("generate");
    let c = crate::support::compile(tmp.path(), &Options::default());
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    // Every target has work to do.
    for target in nestioc::emit::target_names() {
        let dir = match target {
            "github-actions" => "ci/.github/",
            "gitlab" => "ci/.gitlab-ci.yml",
            "circleci" => "ci/.circleci/",
            "jenkins" => "ci/Jenkinsfile",
            "linkerd" | "spinnaker" => continue, // the project chose istio and argocd
            other => other,
        };
        assert!(
            set.files.keys().any(|p| p.starts_with(dir)),
            "no output for `{target}`"
        );
    }
}

/// The shop's sources with `edit` applied to the named files (`None` removes the file).
fn shop_with(edits: &[(&str, Option<&str>)]) -> nestioc::source::SourceMap {
    let dir = root().join("examples/shop");
    let (sources, _) = driver::load_project(&dir, &dir.join("generated")).expect("loads");
    let mut map = nestioc::source::SourceMap::new();
    for (_, src) in sources.iter() {
        let mut src = src.clone();
        match edits.iter().find(|(name, _)| *name == src.name) {
            Some((_, None)) => continue,
            Some((_, Some(text))) => src.text = (*text).to_owned(),
            None => {}
        }
        map.add(src);
    }
    map
}

fn outcome(a: &nestioc::Analysis) -> (String, Vec<(String, String)>) {
    let files = nestioc::emit(a, &Options::default(), &mut |_| {})
        .map(|set| {
            set.files
                .into_iter()
                .map(|(p, f)| (p, f.contents))
                .collect()
        })
        .unwrap_or_default();
    (render_human(a), files)
}

/// What the language server does on each keystroke (reuse the parse of unchanged files)
/// gives exactly what a fresh analysis gives, through edits, a syntax error and its fix,
/// and a removed file (which shifts the ids of the files after it).
#[test]
fn a_cached_analysis_equals_a_fresh_one_through_edits() {
    let checkout =
        std::fs::read_to_string(root().join("examples/shop/services/checkout.kdl")).expect("read");
    let steps: Vec<Vec<(&str, Option<String>)>> = vec![
        vec![],
        vec![(
            "services/checkout.kdl",
            Some(checkout.replace("replicas 3", "replicas 4")),
        )],
        vec![(
            "services/checkout.kdl",
            Some(checkout.replace("replicas 3", "replicas \"3")),
        )],
        vec![(
            "services/checkout.kdl",
            Some(checkout.replace("depends-on \"payments\"", "depends-on \"paymnts\"")),
        )],
        vec![],
        vec![("services/cart.kdl", None)],
        vec![],
    ];
    let opts = Options::default();
    let mut cache = nestioc::syntax::ParseCache::default();
    for (i, step) in steps.iter().enumerate() {
        let edits: Vec<(&str, Option<&str>)> =
            step.iter().map(|(n, t)| (*n, t.as_deref())).collect();
        let cached = nestioc::analyze_cached(
            shop_with(&edits),
            nestioc::diag::Diagnostics::new(),
            &opts,
            &mut cache,
            &mut |_| {},
        );
        let fresh = nestioc::analyze(
            shop_with(&edits),
            nestioc::diag::Diagnostics::new(),
            &opts,
            &mut |_| {},
        );
        let (c, f) = (outcome(&cached), outcome(&fresh));
        assert_eq!(c.0, f.0, "step {i}: diagnostics differ");
        assert!(c.1 == f.1, "step {i}: artifacts differ");
        // The steps are not trivial: errors come and go.
        assert_eq!(
            c.0.is_empty(),
            matches!(i, 0 | 1 | 4 | 6),
            "step {i}: {}",
            c.0
        );
    }
}
