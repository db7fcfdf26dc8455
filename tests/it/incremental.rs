//! Rebuilds: `nestioc build` over its own output writes only what changed, trusts its stat
//! cache only for files untouched since, and skips emitting altogether when neither the
//! inputs nor the files changed. Every rebuild must leave exactly the tree a clean build
//! would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{copy_tree, root};

/// Runs nestioc with its stat cache in `cache` (never the user's).
pub(crate) fn nestioc(args: &[&str], cwd: &Path, cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("NESTIOC_CACHE_DIR", cache)
        .output()
        .expect("run nestioc")
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shop example in a scratch directory, with a cache directory beside it.
pub(crate) fn shop() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("shop");
    copy_tree(&root().join("examples/shop"), &dir);
    let _ = std::fs::remove_dir_all(dir.join("generated"));
    let cache = tmp.path().join("cache");
    (tmp, dir, cache)
}

pub(crate) fn build(dir: &Path, cache: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build", "."];
    args.extend_from_slice(extra);
    let o = nestioc(&args, dir, cache);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stderr(&o)
}

/// `(written, unchanged, removed)` from the summary line.
pub(crate) fn counts(log: &str) -> (usize, usize, usize) {
    let n = all_counts(log);
    (n[0], n[1], n[2])
}

/// Every count of the summary line: written, unchanged, removed, reused.
pub(crate) fn all_counts(log: &str) -> Vec<usize> {
    let line = log
        .lines()
        .find(|l| l.starts_with("compiled "))
        .expect("summary line");
    let inner = &line[line.rfind('(').expect("(") + 1..line.rfind(')').expect(")")];
    let n: Vec<usize> = inner
        .split(", ")
        .map(|p| p.split(' ').next().unwrap_or("").parse().expect("count"))
        .collect();
    n
}

/// Every file under `dir`, with its bytes.
pub(crate) fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).expect("prefix");
            (
                rel.to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("stat"))
}

#[cfg(unix)]
#[test]
fn a_rebuild_with_nothing_changed_emits_nothing_and_touches_nothing() {
    let (_tmp, dir, cache) = shop();
    let first = build(&dir, &cache, &[]);
    let (written, _, _) = counts(&first);
    let out = dir.join("generated");
    let before = tree(&out);
    let file = out.join("kubernetes/prod/checkout.yaml");
    let ino = inode(&file);
    let again = build(&dir, &cache, &["--timings"]);
    assert_eq!(counts(&again), (0, written, 0), "{again}");
    // Skipped: no emitter ran (the timings list each one that does).
    assert!(!again.contains("\n    helm "), "{again}");
    assert!(again.contains("survey"), "{again}");
    assert_eq!(tree(&out), before);
    assert_eq!(inode(&file), ino, "the file was not replaced");
    // `--check` takes the same short cut.
    let o = nestioc(&["build", ".", "--check"], &dir, &cache);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("are up to date"), "{}", stderr(&o));
}

#[test]
fn a_rebuild_after_an_edit_writes_only_what_changed_and_equals_a_clean_build() {
    let (tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    edit_owner(&dir, "team-edited");
    let log = build(&dir, &cache, &[]);
    let (written, unchanged, removed) = counts(&log);
    assert!(written > 0 && written < 20, "{log}");
    assert!(unchanged > 150, "{log}");
    assert_eq!(removed, 0, "{log}");
    // The same tree as a clean build of the edited project, into an empty directory
    // with no cache.
    let clean = clean_build(&dir, tmp.path(), "clean");
    assert_eq!(
        without_lock(tree(&dir.join("generated"))),
        without_lock(tree(&clean))
    );
}

#[test]
fn the_cache_never_vouches_for_a_file_changed_since() {
    let (_tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    let out = dir.join("generated");
    // Edited by hand, in place: the build refuses to overwrite it (NST0401), whatever
    // the cache says.
    let file = out.join("grafana/overview.json");
    let mut text = std::fs::read(&file).expect("read");
    let last = text.len() - 2;
    text[last] = if text[last] == b' ' { b'\t' } else { b' ' };
    std::fs::write(&file, &text).expect("edit");
    let o = nestioc(&["build", "."], &dir, &cache);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("NST0401"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&file).expect("read"), text, "left as edited");
    // Deleted: the build puts it back.
    std::fs::remove_file(&file).expect("rm");
    let log = build(&dir, &cache, &[]);
    assert_eq!(counts(&log).0, 1, "{log}");
    assert!(file.is_file());
    // Replaced by an identical copy of another build's tree (new inodes): read, found
    // equal, nothing written.
    let copy = dir.join("copy");
    copy_tree(&out, &copy);
    std::fs::remove_dir_all(&out).expect("rm");
    std::fs::rename(&copy, &out).expect("mv");
    let log = build(&dir, &cache, &[]);
    assert_eq!(counts(&log).0, 0, "{log}");
    // Edited in place to the same size, its modification time put back (`touch -r`): the
    // stat cache cannot see it, and `--check`, which CI relies on, does not consult it.
    let file = out.join("kubernetes/prod/cart.yaml");
    let before = std::fs::metadata(&file)
        .expect("stat")
        .modified()
        .expect("mtime");
    let text = std::fs::read_to_string(&file).expect("read");
    let edited = text.replacen("image: ", "image:\t", 1);
    assert_eq!(edited.len(), text.len());
    std::fs::write(&file, &edited).expect("edit");
    std::fs::File::options()
        .write(true)
        .open(&file)
        .expect("open")
        .set_modified(before)
        .expect("touch -r");
    let o = nestioc(&["build", ".", "--check"], &dir, &cache);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cart.yaml"), "{}", stderr(&o));
}

#[test]
fn a_failing_emitter_leaves_the_output_as_it_was() {
    let (_tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    let out = dir.join("generated");
    let before = tree(&out);
    // A Dockerfile template that reads a value it is not given: handlebars (strict)
    // fails when the `docker` target renders it, after every target before it (charts,
    // manifests, rules, dashboards) has been written into the new tree.
    std::fs::create_dir_all(dir.join("templates/docker")).expect("mkdir");
    std::fs::write(
        dir.join("templates/docker/go.Dockerfile.hbs"),
        "FROM scratch\n{{nope.deeper}}\n",
    )
    .expect("write");
    // And a change, so that the earlier targets have files to write.
    edit_owner(&dir, "team-edited");
    let o = nestioc(&["build", "."], &dir, &cache);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
    assert_eq!(tree(&out), before, "{}", stderr(&o));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".nestio-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Gives the shop's checkout the owner `owner` (in place of its own, whatever earlier
/// calls gave it).
fn edit_owner(dir: &Path, owner: &str) {
    let svc = dir.join("services/checkout.kdl");
    let text =
        std::fs::read_to_string(root().join("examples/shop/services/checkout.kdl")).expect("read");
    let edited = text.replacen(
        "service \"checkout\" {",
        &format!("service \"checkout\" {{\n    owner \"{owner}\""),
        1,
    );
    assert_ne!(edited, text, "the edit applies");
    std::fs::write(&svc, edited).expect("write");
}

/// [`shop`], built, edited (checkout's owner is `team-a`) and built again: the cache
/// directory holds the tree the second build swapped out, as its spare.
fn shop_with_spare() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    edit_owner(&dir, "team-a");
    build(&dir, &cache, &[]);
    (tmp, dir, cache)
}

/// A build into an empty directory swaps out that directory, holding the lock file alone.
/// The next build starts its tree from nothing rather than clearing each path of that
/// spare; it still equals a clean build, and the lock file is still one file linked in
/// both trees, so that a build waiting for the lock keeps waiting on the same file.
#[cfg(unix)]
#[test]
fn the_first_rebuild_starts_from_nothing_and_keeps_one_lock_file() {
    let (tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    let out = dir.join("generated");
    let names: Vec<_> = std::fs::read_dir(spare_of(&cache))
        .expect("read")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, [".nestio-lock"], "the spare a first build leaves");
    edit_owner(&dir, "team-a");
    let log = build(&dir, &cache, &[]);
    assert!(counts(&log).0 > 0, "{log}");
    let clean = clean_build(&dir, tmp.path(), "clean");
    assert!(
        without_lock(tree(&out)) == without_lock(tree(&clean)),
        "the first rebuild differs from a clean build"
    );
    assert_eq!(
        inode(&out.join(".nestio-lock")),
        inode(&spare_of(&cache).join(".nestio-lock")),
        "one lock file in both trees"
    );
}

/// The one spare tree the cache directory keeps for the shop's output.
fn spare_of(cache: &Path) -> PathBuf {
    let spares: Vec<PathBuf> = std::fs::read_dir(cache.join("spare"))
        .expect("a spare directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(spares.len(), 1, "{spares:?}");
    spares[0].clone()
}

pub(crate) fn without_lock(t: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    t.into_iter().filter(|(p, _)| p != ".nestio-lock").collect()
}

/// A clean build of the project in `dir` into `scratch/<name>` (an empty directory, no
/// cache): what every rebuild must equal.
pub(crate) fn clean_build(dir: &Path, scratch: &Path, name: &str) -> PathBuf {
    let clean = scratch.join(name);
    let o = nestioc(
        &["build", ".", "-o", clean.to_str().expect("utf-8")],
        dir,
        &scratch.join("no-cache"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    clean
}

/// The cache directory keeps the tree each build swaps out (the spare), and the next
/// build brings it up to date and swaps it in, instead of hard-linking every unchanged
/// file into a new tree and deleting the old one. Whatever happened to the spare since
/// (a file added, removed, changed, a directory where a file was and the other way
/// round), the output is exactly a clean build's; and the tree swapped out becomes the
/// next spare.
#[cfg(unix)]
#[test]
fn a_rebuild_from_a_tampered_spare_tree_still_equals_a_clean_build() {
    let (tmp, dir, cache) = shop_with_spare();
    let out = dir.join("generated");
    let spare = spare_of(&cache);
    assert!(spare.join("kubernetes/prod/checkout.yaml").is_file());
    // Files of the spare may be hard links of the output's: replaced, never written
    // through, here as by the writer.
    std::fs::write(spare.join("stray.txt"), "not generated").expect("write");
    std::fs::remove_file(spare.join("grafana/cart.json")).expect("rm");
    std::fs::create_dir_all(spare.join("grafana/cart.json/inner")).expect("mkdir");
    std::fs::remove_file(spare.join("helm/cart/values.yaml")).expect("rm");
    let changed = spare.join("prometheus/cart.prometheusrule.yaml");
    std::fs::remove_file(&changed).expect("rm");
    std::fs::write(&changed, "changed").expect("write");
    std::fs::remove_dir_all(spare.join("docker/cart")).expect("rm");
    std::fs::write(spare.join("docker/cart"), "a file").expect("write");
    // Links, at the top and deeper, to a directory outside: removed, never followed.
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("keep.txt"), "untouched").expect("write");
    std::os::unix::fs::symlink(&outside, spare.join("linked")).expect("ln");
    std::os::unix::fs::symlink(&outside, spare.join("helm/linked")).expect("ln");
    let before = tree(&out);

    edit_owner(&dir, "team-b");
    let log = build(&dir, &cache, &[]);
    let (written, _, removed) = counts(&log);
    assert!(written > 0 && written < 20, "{log}");
    assert_eq!(removed, 0, "{log}");
    let clean = clean_build(&dir, tmp.path(), "clean");
    assert!(
        without_lock(tree(&out)) == without_lock(tree(&clean)),
        "the build from the tampered spare differs from a clean build"
    );
    assert!(!out.join("linked").exists() && !out.join("helm/linked").exists());
    assert_eq!(
        std::fs::read_to_string(outside.join("keep.txt")).expect("read"),
        "untouched"
    );
    assert!(
        without_lock(tree(&spare_of(&cache))) == without_lock(before),
        "the spare is not the tree the build swapped out"
    );
    // The output's cache describes the swapped-in files: the next build skips.
    let again = build(&dir, &cache, &["--timings"]);
    assert_eq!(counts(&again).0, 0, "{again}");
    assert!(!again.contains("\n    helm "), "{again}");
}

/// What the user keeps in the output directory (a file beside generated ones, a file and
/// an empty directory of their own, deep) survives rebuilds that start from a spare tree
/// which has none of it, and so does every generated file next to it.
#[cfg(unix)]
#[test]
fn a_rebuild_from_a_spare_keeps_the_users_files_and_directories() {
    let (tmp, dir, cache) = shop();
    let out = dir.join("generated");
    build(&dir, &cache, &[]);
    let mine = [
        ("kubernetes/prod/NOTES.md", "beside generated files\n"),
        ("extra/deep/file.txt", "a tree of our own\n"),
    ];
    for (rel, text) in mine {
        let f = out.join(rel);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(&f, text).expect("write");
    }
    std::fs::create_dir_all(out.join("notes/empty")).expect("mkdir");
    for owner in ["team-a", "team-b", "team-c"] {
        edit_owner(&dir, owner);
        build(&dir, &cache, &[]);
        for (rel, text) in mine {
            assert_eq!(
                std::fs::read_to_string(out.join(rel)).ok().as_deref(),
                Some(text),
                "{rel} after the build for {owner}"
            );
        }
        assert!(
            out.join("notes/empty").is_dir(),
            "after the build for {owner}"
        );
    }
    let clean = clean_build(&dir, tmp.path(), "clean");
    let ours = |t: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        without_lock(t)
            .into_iter()
            .filter(|(p, _)| !mine.iter().any(|(m, _)| m == p))
            .collect()
    };
    assert!(
        ours(tree(&out)) == ours(tree(&clean)),
        "the generated files differ from a clean build"
    );
}

/// A spare tree no build has kept for a month (its output directory deleted or moved,
/// most likely) is deleted by the next build that keeps one; a recent one is not.
#[cfg(unix)]
#[test]
fn spare_trees_unused_for_a_month_are_deleted() {
    let (_tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    let spares = cache.join("spare");
    let make = |name: &str, age_days: u64| -> PathBuf {
        let d = spares.join(name);
        std::fs::create_dir_all(d.join("helm")).expect("mkdir");
        std::fs::write(d.join("helm/Chart.yaml"), "old").expect("write");
        // "Now" as the file system has it (the directory was just made).
        let now = std::fs::metadata(&d)
            .and_then(|m| m.modified())
            .expect("mtime");
        let when = now - std::time::Duration::from_secs(age_days * 24 * 3600);
        std::fs::File::open(&d)
            .and_then(|f| f.set_modified(when))
            .expect("set mtime");
        d
    };
    let stale = make("0123456789abcdef0123456789abcdef", 40);
    let recent = make("fedcba9876543210fedcba9876543210", 3);
    edit_owner(&dir, "team-a");
    build(&dir, &cache, &[]);
    assert!(!stale.exists(), "a spare unused for 40 days is kept");
    assert!(recent.exists(), "a spare used 3 days ago is deleted");
    let ours: Vec<PathBuf> = std::fs::read_dir(&spares)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| *p != recent)
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].join("kubernetes/prod/checkout.yaml").is_file());
}

/// A build whose files all equal the output's (the inputs changed, not what they
/// generate) swaps nothing, puts the spare back, and leaves a cache by which the next
/// build skips emitting.
#[cfg(unix)]
#[test]
fn a_rebuild_that_changes_no_file_keeps_the_output_and_its_cache() {
    let (_tmp, dir, cache) = shop_with_spare();
    let out = dir.join("generated");
    let before = tree(&out);
    let file = out.join("kubernetes/prod/checkout.yaml");
    let ino = inode(&file);
    // A comment changes the inputs' fingerprint, not one generated byte (at the end:
    // the sources' line numbers are in the output).
    let svc = dir.join("services/checkout.kdl");
    let text = std::fs::read_to_string(&svc).expect("read");
    std::fs::write(&svc, format!("{text}// reviewed\n")).expect("write");
    let log = build(&dir, &cache, &["--timings"]);
    assert_eq!(counts(&log).0, 0, "{log}");
    assert!(log.contains("\n    helm "), "the emitters ran: {log}");
    assert_eq!(tree(&out), before);
    assert_eq!(inode(&file), ino, "the file was not replaced");
    assert!(
        spare_of(&cache)
            .join("kubernetes/prod/checkout.yaml")
            .is_file()
    );
    let again = build(&dir, &cache, &["--timings"]);
    assert_eq!(counts(&again).0, 0, "{again}");
    assert!(!again.contains("\n    helm "), "{again}");
}

/// A project of `n` chained services, service `i` at image tag `tags[i]`.
fn write_chain(dir: &Path, tags: &[&str]) {
    let _ = std::fs::remove_dir_all(dir.join("services"));
    std::fs::create_dir_all(dir.join("services")).expect("mkdir");
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"chain\" {\n    registry \"ghcr.io/acme\"\n    mesh \"istio\"\n    ci \"github-actions\"\n    environment \"staging\"\n    environment \"prod\"\n}\n",
    )
    .expect("write");
    for (i, tag) in tags.iter().enumerate() {
        let mut s = format!(
            "service \"svc-{i}\" {{\n    uses \"http-service\"\n    image \"svc-{i}\" tag=\"{tag}\"\n    language \"go\"\n    source \"src/svc-{i}\"\n"
        );
        if i > 0 {
            s.push_str(&format!("    depends-on \"svc-{}\"\n", i - 1));
        }
        s.push_str("}\n");
        std::fs::write(dir.join(format!("services/svc-{i}.kdl")), s).expect("write");
    }
}

#[test]
fn a_sequence_of_rebuilds_always_equals_a_clean_build() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("chain");
    let cache = tmp.path().join("cache");
    let out = dir.join("generated");
    // Each step changes the project or the output, then builds over the previous output
    // (with the cache), and the result must be exactly a clean build's.
    type Step<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let steps: Vec<Step<'_>> = vec![
        (
            "first build",
            Box::new(|| write_chain(&dir, &["1", "1", "1", "1"])),
        ),
        ("nothing", Box::new(|| {})),
        (
            "one tag",
            Box::new(|| write_chain(&dir, &["1", "2", "1", "1"])),
        ),
        (
            "a service added",
            Box::new(|| write_chain(&dir, &["1", "2", "1", "1", "1"])),
        ),
        (
            "two services removed",
            Box::new(|| write_chain(&dir, &["1", "2", "1"])),
        ),
        (
            "a source rewritten with the same bytes",
            Box::new(|| write_chain(&dir, &["1", "2", "1"])),
        ),
        (
            "a generated file deleted",
            Box::new(|| std::fs::remove_file(out.join("grafana/svc-1.json")).expect("rm")),
        ),
        (
            "the manifest deleted",
            Box::new(|| std::fs::remove_file(out.join(".nestio-manifest.json")).expect("rm")),
        ),
        (
            "back to the start",
            Box::new(|| write_chain(&dir, &["1", "1", "1", "1"])),
        ),
    ];
    for (k, (what, step)) in steps.iter().enumerate() {
        step();
        build(&dir, &cache, &[]);
        let clean = clean_build(&dir, tmp.path(), &format!("clean-{k}"));
        assert!(
            without_lock(tree(&out)) == without_lock(tree(&clean)),
            "after `{what}`, the rebuilt output differs from a clean build"
        );
    }
}

/// Counts the files put, to find a path put twice.
#[derive(Default)]
struct Counting(std::sync::Mutex<Vec<String>>);

impl nestioc::emit::Sink for Counting {
    fn put(&self, artifact: nestioc::emit::Artifact) {
        self.0.lock().expect("lock").push(artifact.path);
    }
}

/// The writer refuses a path put twice (which would otherwise leave whichever the threads
/// put last), so no target may ever make one: every example and valid fixture, checked.
#[test]
fn no_two_generated_files_share_a_path() {
    let mut dirs = crate::support::subdirs(&root().join("examples"));
    dirs.extend(crate::support::subdirs(
        &root().join("tests/fixtures/valid"),
    ));
    for dir in dirs {
        let c = crate::support::compile(&dir, &nestioc::Options::default());
        if c.analysis.has_errors() {
            continue;
        }
        let sink = Counting::default();
        nestioc::emit_into(
            &c.analysis,
            &nestioc::Options::default(),
            &sink,
            &mut |_| {},
        )
        .expect("emits");
        let mut paths = sink.0.into_inner().expect("lock");
        let all = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(
            all,
            paths.len(),
            "{}: a path is generated twice",
            dir.display()
        );
    }
}

/// Every pod template of a build, by file and object: the part whose change makes the
/// controller start a new revision (a rolling update, a canary with its analysis, Fluentd
/// restarting on every node).
fn pod_templates(
    files: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut out = std::collections::BTreeMap::new();
    for (path, text) in files {
        if !(path.starts_with("kubernetes/") || path == "fluentd/fluentd.yaml") {
            continue;
        }
        for doc in serde_saphyr::from_multiple::<serde_json::Value>(text).expect("yaml") {
            let template = doc
                .pointer("/spec/template")
                .or_else(|| doc.pointer("/spec/jobTemplate/spec/template"));
            if let Some(t) = template {
                let key = format!("{path} {} {}", doc["kind"], doc["metadata"]["name"]);
                out.insert(key, t.clone());
            }
        }
    }
    out
}

/// A comment added above a service (or `nestioc fmt` moving it) changes the line every
/// object's `nestio.dev/source` names, and nothing that runs: Kubernetes rolls a
/// Deployment, StatefulSet or DaemonSet when anything in `spec.template` changes
/// (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#updating-a-deployment:
/// "a Deployment's rollout is triggered if and only if the Deployment's Pod template
/// (that is, .spec.template) is changed"), and Argo Rollouts starts a new canary.
#[test]
fn a_comment_above_a_service_restarts_no_pod() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("shop");
    copy_tree(&root().join("examples/shop"), &dir);
    let before = crate::support::artifacts_of(&dir);
    let file = dir.join("services/checkout.kdl");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, format!("// Owned by the payments team.\n\n{text}")).expect("write");
    let after = crate::support::artifacts_of(&dir);
    let checkout = "kubernetes/prod/checkout.yaml";
    assert_ne!(
        before[checkout], after[checkout],
        "the objects name the new line"
    );
    let (b, a) = (pod_templates(&before), pod_templates(&after));
    assert!(
        b.keys().any(|k| k.contains("checkout")) && b.len() > 20,
        "{b:?}"
    );
    for (key, template) in &b {
        assert_eq!(
            Some(template),
            a.get(key),
            "{key}: the pod template changed"
        );
    }
}
