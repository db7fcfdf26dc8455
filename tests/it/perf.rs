//! Performance invariants (docs/performance.md): the parallel build gives exactly the
//! bytes of the sequential one, and the generated benchmark topology is valid. Every
//! figure, the scaling of the graph, checks and diff on wide fan-out and long chains
//! included, comes from `cargo bench` and `scripts/bench.sh`, never from a timed test.

#[path = "../../benches/support/topology.rs"]
mod topology;

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
