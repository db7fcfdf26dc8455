//! Hardening (docs/security.md): safe writes (no symbolic link inside the output
//! directory is followed, concurrent builds are serialised by a lock file, a killed build
//! leaves the old tree or the new one), input limits with clear diagnostics, unsafe file
//! names, and adversarial inputs whose cost must grow linearly.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nestioc::diag::Code;
use nestioc::source::{Origin, Source, SourceMap};
use nestioc::syntax::Limits;

fn nestioc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("NESTIOC_LIMITS")
        .output()
        .expect("run nestioc")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A project of `n` services (`tag` in every image, so two tags give two different
/// output trees): a chain of required dependencies and an HTTP port each.
fn write_project(dir: &Path, n: usize, tag: &str) {
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"big\" {\n    registry \"ghcr.io/acme\"\n    mesh \"istio\"\n    ci \"github-actions\" \"jenkins\"\n    environment \"staging\"\n    environment \"prod\"\n}\n",
    )
    .unwrap();
    for i in 0..n {
        let mut s = format!(
            "service \"svc-{i}\" {{\n    uses \"http-service\"\n    image \"svc-{i}\" tag=\"{tag}\"\n    language \"go\"\n    source \"src/svc-{i}\"\n    env \"VERSION\" \"{tag}\"\n"
        );
        if i > 0 {
            let _ = writeln!(s, "    depends-on \"svc-{}\"", i - 1);
        }
        s.push_str("}\n");
        std::fs::write(dir.join(format!("services/svc-{i}.kdl")), s).unwrap();
    }
}

/// Every file and symbolic link under `dir` (relative path -> bytes or link target).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let bytes = if e.path_is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            (rel, bytes)
        })
        .collect();
    v.sort();
    v
}

fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

// ------------------------------------------------------------------ safe writes

fn minimal_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    write_project(&dir, 2, "1.0.0");
    (tmp, dir)
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_inside_the_output_is_refused_and_nothing_is_written() {
    let (tmp, dir) = minimal_project();
    let o = nestioc(&["build", "."], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.join("generated");
    // An attacker replaces generated/helm with a link to a directory elsewhere.
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "untouched").unwrap();
    std::fs::remove_dir_all(out.join("helm")).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("helm")).unwrap();
    let before = tree(&out);
    let outside_before = tree(&outside);
    // A change, so that the build would write files.
    write_project(&dir, 2, "2.0.0");
    let o = nestioc(&["build", "."], &dir);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("NST0404"), "{err}");
    assert!(err.contains("`helm` -> `"), "{err}");
    assert_eq!(tree(&out), before, "the output directory changed");
    assert_eq!(tree(&outside), outside_before, "the link's target changed");
    // No staging directory is left behind either.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".nestio-staging")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_file_inside_the_output_is_refused_and_its_target_untouched() {
    let (tmp, dir) = minimal_project();
    let o = nestioc(&["build", "."], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.join("generated");
    let victim = tmp.path().join("authorized_keys");
    std::fs::write(&victim, "ssh-ed25519 AAAA... admin\n").unwrap();
    let values = out.join("helm/svc-0/values.yaml");
    std::fs::remove_file(&values).unwrap();
    std::os::unix::fs::symlink(&victim, &values).unwrap();
    write_project(&dir, 2, "2.0.0");
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["build", "."];
        args.extend(extra);
        let o = nestioc(&args, &dir);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("NST0404"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "ssh-ed25519 AAAA... admin\n"
        );
        assert!(values.is_symlink());
    }
}

#[cfg(unix)]
#[test]
fn the_output_directory_itself_may_be_a_link() {
    let (tmp, dir) = minimal_project();
    let real = tmp.path().join("real-out");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("generated")).unwrap();
    let o = nestioc(&["build", "."], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(real.join(".nestio-manifest.json").is_file());
}

#[test]
fn artifact_paths_that_leave_the_output_directory_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for bad in ["../escape.yaml", "/etc/passwd", "a//b", "a/./b", "a\\b", ""] {
        let mut set = nestioc::emit::ArtifactSet::default();
        set.insert(nestioc::emit::Artifact {
            path: bad.to_owned(),
            contents: "x\n".into(),
            source: None,
        });
        match nestioc::driver::write(&out, &set, true) {
            Err(nestioc::driver::WriteFailure::Conflict(d)) => {
                assert_eq!(d.code, Code::UnsafeOutput, "{bad:?}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(!tmp.path().join("escape.yaml").exists());
    assert!(!out.exists(), "nothing is created for a refused write");
}

#[cfg(unix)]
#[test]
fn a_build_waits_for_the_lock_of_another_build() {
    let (_tmp, dir) = minimal_project();
    let out = dir.join("generated");
    std::fs::create_dir_all(&out).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(out.join(nestioc::driver::LOCK_FILE))
        .unwrap();
    lock.lock().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(["build", "."])
        .current_dir(&dir)
        .env_remove("NESTIOC_LIMITS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for an unlocked build of two services to finish many times over.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build did not wait for the lock"
    );
    assert!(!out.join(".nestio-manifest.json").exists());
    drop(lock);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join(".nestio-manifest.json").is_file());
}

#[test]
fn concurrent_builds_into_one_directory_leave_one_whole_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_project(&a, 12, "1.0.0");
    write_project(&b, 12, "2.0.0");
    // The reference trees, built alone.
    let (ref_a, ref_b) = (tmp.path().join("ref-a"), tmp.path().join("ref-b"));
    for (p, o) in [(&a, &ref_a), (&b, &ref_b)] {
        let out = nestioc(&["build", ".", "-o", o.to_str().unwrap()], p);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (tree_a, tree_b) = (tree(&ref_a), tree(&ref_b));
    let shared = tmp.path().join("shared");
    for round in 0..4 {
        let spawn = |p: &Path| {
            Command::new(env!("CARGO_BIN_EXE_nestioc"))
                .args(["build", ".", "-o", shared.to_str().unwrap()])
                .current_dir(p)
                .env_remove("NESTIOC_LIMITS")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (c1, c2) = (spawn(first), spawn(second));
        let (o1, o2) = (
            c1.wait_with_output().unwrap(),
            c2.wait_with_output().unwrap(),
        );
        assert!(o1.status.success(), "round {round}: {}", stderr(&o1));
        assert!(o2.status.success(), "round {round}: {}", stderr(&o2));
        let got = tree(&shared);
        assert!(
            got == tree_a || got == tree_b,
            "round {round}: the output is a mix of two builds"
        );
    }
}

/// A build killed at any moment leaves either the old tree or the new one, never a mix.
/// The build is killed (SIGKILL) at delays spread over its whole run, from before it
/// starts writing to after it is done. After some of the kills the build is run again: it
/// must finish with the new tree (nothing reported as edited by hand) and leave nothing
/// of the killed build's staging beside the output directory. The builds share a cache
/// directory, so that most start from the spare tree an earlier one swapped out (and a
/// kill can land while the spare is half brought up to date).
#[cfg(unix)]
#[test]
fn a_killed_build_leaves_the_old_tree_or_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_project(&a, 100, "1.0.0");
    write_project(&b, 100, "2.0.0");
    let (ref_a, ref_b) = (tmp.path().join("ref-a"), tmp.path().join("ref-b"));
    let o = nestioc(&["build", ".", "-o", ref_a.to_str().unwrap()], &a);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = tmp.path().join("out");
    let cache = tmp.path().join("cache");
    copy_tree(&ref_a, &out);
    let started = Instant::now();
    let o = nestioc(&["build", ".", "-o", out.to_str().unwrap()], &b);
    let full = started.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    copy_tree(&out, &ref_b);
    let (tree_a, tree_b) = (tree(&ref_a), tree(&ref_b));
    let mut report = String::new();
    let mut mixed = 0;
    // A few kills early (compiling), most in the last 40% of the run, where it writes.
    let delays: Vec<Duration> = (0..3u32)
        .map(|k| full * k / 6)
        .chain((0..=20u32).map(|k| full * (60 + 2 * k) / 100))
        .collect();
    for (k, delay) in delays.into_iter().enumerate() {
        copy_tree(&ref_a, &out);
        let mut child = Command::new(env!("CARGO_BIN_EXE_nestioc"))
            .args(["build", ".", "-o", out.to_str().unwrap()])
            .current_dir(&b)
            .env_remove("NESTIOC_LIMITS")
            .env("NESTIOC_CACHE_DIR", &cache)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let got = tree(&out);
        let state = if got == tree_a {
            "old tree".to_owned()
        } else if got == tree_b {
            "new tree".to_owned()
        } else {
            mixed += 1;
            let new_files = got
                .iter()
                .filter(|f| tree_b.contains(f) && !tree_a.contains(f))
                .count();
            let old_files = got
                .iter()
                .filter(|f| tree_a.contains(f) && !tree_b.contains(f))
                .count();
            format!("MIX ({new_files} files new, {old_files} old)")
        };
        let _ = writeln!(report, "killed after {delay:?} ({status}): {state}");
        if k % 4 == 0 {
            let o = Command::new(env!("CARGO_BIN_EXE_nestioc"))
                .args(["build", ".", "-o", out.to_str().unwrap()])
                .current_dir(&b)
                .env_remove("NESTIOC_LIMITS")
                .env("NESTIOC_CACHE_DIR", &cache)
                .output()
                .unwrap();
            assert!(o.status.success(), "after a kill: {}", stderr(&o));
            assert!(
                tree(&out) == tree_b,
                "the build after a kill is not the new tree"
            );
            let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".out.nestio-"))
                .map(|e| e.file_name())
                .collect();
            assert!(
                leftovers.is_empty(),
                "left beside the output: {leftovers:?}"
            );
        }
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), report.as_bytes());
    assert_eq!(
        mixed, 0,
        "a killed build left a mix of trees (full build {full:?}):\n{report}"
    );
}

// ------------------------------------------------------------------ input limits

fn analyze_with(files: &[(&str, String)], limits: Limits) -> nestioc::Analysis {
    let mut sources = SourceMap::new();
    nestioc::stdlib::load(&mut sources);
    for (name, text) in files {
        sources.add(Source::new(*name, text.clone(), Origin::Project));
    }
    let opts = nestioc::Options {
        limits,
        ..nestioc::Options::default()
    };
    nestioc::analyze(
        sources,
        nestioc::diag::Diagnostics::new(),
        &opts,
        &mut |_| {},
    )
}

fn services(n: usize) -> String {
    let mut s = String::from("project \"p\" {\n    registry \"ghcr.io/acme\"\n}\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "service \"s{i}\" {{\n    uses \"http-service\"\n    image \"s{i}\" tag=\"1.0.0\"\n}}"
        );
    }
    s
}

#[test]
fn the_limits_have_documented_defaults() {
    let l = Limits::default();
    assert_eq!(l.file_bytes, 16 * 1024 * 1024);
    assert_eq!(l.depth, 48);
    assert_eq!(l.nodes, 1_000_000);
    assert_eq!(l.services, 10_000);
    assert_eq!(l.string_bytes, 65_536);
    let doc = std::fs::read_to_string(crate::support::root().join("docs/security.md")).unwrap();
    for needle in [
        "16 MiB",
        "48",
        "1,000,000",
        "10,000",
        "65,536",
        "NESTIOC_LIMITS",
    ] {
        assert!(
            doc.contains(needle),
            "docs/security.md does not mention {needle}"
        );
    }
}

#[test]
fn limits_are_overridden_by_name() {
    let l = Limits::default()
        .with_overrides(
            "services=20000, nodes=2_000_000,string-bytes=131072,depth=100,file-bytes=1",
        )
        .unwrap();
    assert_eq!(
        (l.services, l.nodes, l.string_bytes, l.depth, l.file_bytes),
        (20_000, 2_000_000, 131_072, 100, 1)
    );
    for bad in [
        "services",
        "services=0",
        "services=-1",
        "colours=3",
        "depth=100000",
    ] {
        assert!(Limits::default().with_overrides(bad).is_err(), "{bad}");
    }
}

#[test]
fn too_many_services_is_one_error_at_the_first_one_too_many() {
    let limits = Limits {
        services: 5,
        ..Limits::default()
    };
    let a = analyze_with(&[("nestio.kdl", services(5))], limits);
    assert!(a.diagnostics.is_empty(), "{:?}", a.diagnostics);
    let a = analyze_with(&[("nestio.kdl", services(7))], limits);
    assert_eq!(a.diagnostics.len(), 1, "{:?}", a.diagnostics);
    let d = &a.diagnostics[0];
    assert_eq!(d.code, Code::LimitExceeded);
    assert!(d.message.contains("more than 5 services"), "{}", d.message);
    let span = d.primary_span().unwrap();
    assert_eq!(&a.sources.get(span.source).text[span.range()], "\"s5\"");
    assert!(
        a.sources.location(span).ends_with(":24"),
        "{}",
        a.sources.location(span)
    );
    assert!(d.help.as_deref().unwrap().contains("NESTIOC_LIMITS"));
    assert!(a.model.is_none());
}

#[test]
fn too_many_nodes_is_an_error() {
    let limits = Limits {
        nodes: 20,
        ..Limits::default()
    };
    let a = analyze_with(&[("nestio.kdl", services(10))], limits);
    assert!(
        a.diagnostics
            .iter()
            .any(|d| d.code == Code::LimitExceeded && d.message.contains("more than 20 nodes")),
        "{:?}",
        a.diagnostics
    );
    assert!(a.model.is_none());
}

#[test]
fn a_string_over_the_limit_is_an_error_at_the_string() {
    let project = |len: usize| {
        format!(
            "project \"p\" {{\n    registry \"ghcr.io/acme\"\n}}\nservice \"s\" {{\n    uses \"http-service\"\n    image \"s\" tag=\"1.0.0\"\n    env \"BIG\" \"{}\"\n}}\n",
            "x".repeat(len)
        )
    };
    let a = analyze_with(&[("nestio.kdl", project(65_536))], Limits::default());
    assert!(a.diagnostics.is_empty(), "{:?}", a.diagnostics);
    let a = analyze_with(&[("nestio.kdl", project(65_537))], Limits::default());
    assert_eq!(a.diagnostics.len(), 1, "{:?}", a.diagnostics);
    let d = &a.diagnostics[0];
    assert_eq!(d.code, Code::LimitExceeded);
    assert_eq!(
        d.labels[0].span.len(),
        65_537 + 2,
        "the label covers the string"
    );
}

#[test]
fn nestioc_limits_overrides_the_limits_and_a_bad_value_is_a_usage_error() {
    let (_tmp, dir) = minimal_project();
    let run = |limits: &str| {
        Command::new(env!("CARGO_BIN_EXE_nestioc"))
            .args(["check", "."])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("NESTIOC_LIMITS", limits)
            .output()
            .unwrap()
    };
    let o = run("services=1");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("NST0004"), "{}", stderr(&o));
    let o = run("services=2");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run("servics=2");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown limit `servics`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn file_names_that_could_become_code_are_refused() {
    for name in [
        "services/{{ fail \"x\" }}.kdl",
        "services/a\nb.kdl",
        "services/a\u{2028}b.kdl",
        "services/a-->b.kdl",
        "services/$(id).kdl",
        "services/ü.kdl",
    ] {
        let a = analyze_with(
            &[
                ("nestio.kdl", services(1)),
                (name, "// nothing\n".to_owned()),
            ],
            Limits::default(),
        );
        let d = a
            .diagnostics
            .iter()
            .find(|d| d.code == Code::UnsafeFileName)
            .unwrap_or_else(|| panic!("{name:?}: {:?}", a.diagnostics));
        assert!(d.primary_span().is_some() && d.help.is_some(), "{d:?}");
    }
    for name in ["services/a b.kdl", "services/v1.2_x-y+z@w.kdl"] {
        let a = analyze_with(
            &[
                ("nestio.kdl", services(1)),
                (name, "// nothing\n".to_owned()),
            ],
            Limits::default(),
        );
        assert!(a.diagnostics.is_empty(), "{name:?}: {:?}", a.diagnostics);
    }
}

#[cfg(unix)]
#[test]
fn a_file_name_with_a_template_action_is_refused_by_the_cli() {
    let (_tmp, dir) = minimal_project();
    std::fs::rename(
        dir.join("services/svc-1.kdl"),
        dir.join("services/{{ fail \"boom\" }}.kdl"),
    )
    .unwrap();
    let o = nestioc(&["build", "."], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("NST0005"), "{}", stderr(&o));
    assert!(
        !dir.join("generated").exists(),
        "a failed build writes nothing"
    );
}

// ------------------------------------------------------------------ adversarial scaling

/// The fastest of three runs of `f`.
fn time(mut f: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn analyze_text(text: &str) -> nestioc::Analysis {
    analyze_with(&[("nestio.kdl", text.to_owned())], Limits::default())
}

/// `cost(4n) / cost(n)`: about 4 for linear growth, 16 for quadratic. The bound leaves
/// room for noise on a loaded machine while still catching a quadratic step.
fn assert_linear(what: &str, n: usize, make: impl Fn(usize) -> String, emit: bool) {
    let run = |text: &str| {
        let a = analyze_text(text);
        assert!(!a.has_errors(), "{what}: {:?}", a.diagnostics.first());
        if emit {
            nestioc::emit(&a, &nestioc::Options::default(), &mut |_| {}).expect("emit");
        }
    };
    let (small, large) = (make(n), make(4 * n));
    run(&small); // warm-up
    let t1 = time(|| run(&small));
    let t4 = time(|| run(&large));
    let ratio = t4.as_secs_f64() / t1.as_secs_f64().max(1e-6);
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!(
            "scaling {what}: n={n} {t1:?}, 4n={} {t4:?}, ratio {ratio:.1}\n",
            4 * n
        ),
    );
    assert!(
        ratio < 9.0,
        "{what}: 4x the input took {ratio:.1}x the time ({t1:?} -> {t4:?}): worse than linear"
    );
}

fn fan_in(n: usize) -> String {
    let mut s = String::from(
        "project \"p\" {\n    registry \"ghcr.io/acme\"\n    mesh \"istio\"\n}\nservice \"hub\" {\n    uses \"http-service\"\n    image \"hub\" tag=\"1.0.0\"\n}\n",
    );
    for i in 0..n {
        let _ = writeln!(
            s,
            "service \"c{i}\" {{\n    uses \"http-service\"\n    image \"c{i}\" tag=\"1.0.0\"\n    depends-on \"hub\" timeout=\"1s\"\n}}"
        );
    }
    s
}

fn chain(n: usize) -> String {
    let mut s =
        String::from("project \"p\" {\n    registry \"ghcr.io/acme\"\n    mesh \"istio\"\n}\n");
    for i in 0..n {
        let _ = write!(
            s,
            "service \"c{i}\" {{\n    uses \"http-service\"\n    image \"c{i}\" tag=\"1.0.0\"\n    slo \"availability\" target=90\n"
        );
        if i > 0 {
            let _ = writeln!(s, "    depends-on \"c{}\"", i - 1);
        }
        s.push_str("}\n");
    }
    s
}

#[test]
fn one_service_called_by_two_thousand_scales_linearly() {
    assert_linear("fan-in to one service (analyze)", 500, fan_in, false);
}

#[test]
fn a_two_thousand_long_dependency_chain_scales_linearly() {
    assert_linear("dependency chain (analyze)", 500, chain, false);
}

#[test]
fn emitting_scales_linearly_with_services() {
    assert_linear("fan-in to one service (analyze + emit)", 50, fan_in, true);
}

#[test]
fn long_strings_and_names_scale_linearly() {
    let long = |n: usize| {
        let mut s = String::from("project \"p\" {\n    registry \"ghcr.io/acme\"\n}\n");
        // The longest service name a DNS label allows, and long values.
        let name = "n".repeat(50);
        for i in 0..8 {
            let _ = writeln!(
                s,
                "service \"{name}{i}\" {{\n    uses \"http-service\"\n    image \"x\" tag=\"1.0.0\"\n    env \"A\" \"{}\"\n    args \"{}\"\n}}",
                "v".repeat(n),
                "a".repeat(n)
            );
        }
        s
    };
    assert_linear("long strings (analyze + emit)", 4_000, long, true);
}

#[test]
fn deep_nesting_is_refused_in_linear_time() {
    let nested = |n: usize| format!("{}{}", "a {".repeat(n), "}".repeat(n));
    let run = |text: &str| {
        let a = analyze_text(text);
        assert!(
            a.diagnostics
                .iter()
                .any(|d| d.code == Code::UnreadableSource),
            "{:?}",
            a.diagnostics.first()
        );
    };
    let (small, large) = (nested(250_000), nested(1_000_000));
    let t1 = time(|| run(&small));
    let t4 = time(|| run(&large));
    let ratio = t4.as_secs_f64() / t1.as_secs_f64().max(1e-6);
    assert!(ratio < 9.0, "deep nesting: {t1:?} -> {t4:?}");
    // Nesting up to the limit parses (the parser's stack is sized for it).
    let limits = Limits::default().with_overrides("depth=256").unwrap();
    let deep = format!("project \"p\" {}{}", "{ a ".repeat(256), "}".repeat(256));
    let a = analyze_with(&[("nestio.kdl", deep)], limits);
    assert!(
        !a.diagnostics
            .iter()
            .any(|d| matches!(d.code, Code::UnreadableSource | Code::KdlSyntax)),
        "{:?}",
        a.diagnostics.first()
    );
}
