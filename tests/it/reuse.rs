//! Reuse (`compiler/src/emit/reuse.rs`): a rebuild hands back the files of every service
//! whose inputs (the service, its neighbours, the edges between them, the project) are
//! the last build's, instead of making them again. It is sound only if the key covers
//! everything those files read: each test here makes one kind of edit, rebuilds over the
//! previous output with the cache, and compares the result byte for byte with a clean
//! build of the edited project (no cache, empty directory). An edit whose effect reaches
//! a file the key does not cover shows up as a difference.

use std::path::Path;

use crate::incremental::{
    all_counts, build, clean_build, nestioc, shop, stderr, tree, without_lock,
};

/// Replaces `from` by `to` in the project file `rel`, once; the edit must apply.
fn replace(dir: &Path, rel: &str, from: &str, to: &str) {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).expect("read");
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "`{from}` is in {rel}");
    std::fs::write(&path, edited).expect("write");
}

/// `(files, reused)` of a build's summary line.
fn files_and_reused(log: &str) -> (usize, usize) {
    let n = all_counts(log);
    (n[0] + n[1], n[3])
}

/// One edit, or a change of options: what it is, what it does to the project, the extra
/// arguments of the build after it, and how much must be reused (`Some(true)`: some,
/// `Some(false)`: nothing, `None`: either).
type Step<'a> = (
    &'a str,
    Box<dyn Fn(&Path) + 'a>,
    &'a [&'a str],
    Option<bool>,
);

#[test]
fn every_kind_of_edit_rebuilds_exactly_what_a_clean_build_makes() {
    let (tmp, dir, cache) = shop();
    let out = dir.join("generated");
    let steps: Vec<Step<'_>> = vec![
        ("the first build", Box::new(|_| {}), &[], Some(false)),
        (
            "a service's own setting (checkout's maximum replicas)",
            Box::new(|d| {
                replace(
                    d,
                    "services/checkout.kdl",
                    "replicas 3 max=10",
                    "replicas 3 max=12",
                );
            }),
            &[],
            Some(true),
        ),
        (
            "a callee's image tag (payments, called by checkout)",
            Box::new(|d| {
                replace(
                    d,
                    "services/payments.kdl",
                    "version=\"3.2.0\"",
                    "version=\"3.3.0\"",
                )
            }),
            &[],
            Some(true),
        ),
        (
            "an edge's policy, in the caller's file (checkout -> payments timeout and retries)",
            Box::new(|d| {
                replace(
                    d,
                    "services/checkout.kdl",
                    "timeout=\"100ms\" retries=2 {",
                    "timeout=\"150ms\" retries=3 {",
                );
            }),
            &[],
            Some(true),
        ),
        (
            "a callee's port (cart's, which storefront's address and egress name)",
            Box::new(|d| {
                replace(
                    d,
                    "services/cart.kdl",
                    "port \"http\" 80 target=8080",
                    "port \"http\" 8081 target=8080",
                );
            }),
            &[],
            Some(true),
        ),
        (
            "a callee's objective (payments' availability, which bounds checkout's)",
            Box::new(|d| {
                replace(
                    d,
                    "services/payments.kdl",
                    "availability=99.95",
                    "availability=99.99",
                )
            }),
            &[],
            Some(true),
        ),
        (
            "an edge made optional (order-worker -> email)",
            Box::new(|d| {
                replace(
                    d,
                    "services/order-worker.kdl",
                    "depends-on \"email\" env=\"EMAIL_SERVICE_ADDR\" timeout=\"2s\" retries=3",
                    "depends-on \"email\" env=\"EMAIL_SERVICE_ADDR\" timeout=\"2s\" retries=3 optional=#true",
                );
            }),
            &[],
            Some(true),
        ),
        (
            "lines moved (a comment above a service: its locations change, not its data)",
            Box::new(|d| {
                replace(
                    d,
                    "services/email.kdl",
                    "service \"email\" {",
                    "// moved down\nservice \"email\" {",
                );
            }),
            &[],
            Some(true),
        ),
        (
            "a template declared in one service's file (email's), used by another (cart)",
            Box::new(|d| {
                let path = d.join("services/email.kdl");
                let mut text = std::fs::read_to_string(&path).expect("read");
                text.push_str("\ntemplate \"extra-env\" {\n    env \"EXTRA\" \"1\"\n}\n");
                std::fs::write(&path, text).expect("write");
                replace(
                    d,
                    "services/cart.kdl",
                    "    env \"SESSION_TTL\"",
                    "    uses \"extra-env\"\n    env \"SESSION_TTL\"",
                );
            }),
            &[],
            Some(true),
        ),
        (
            "that template changed, in the other service's file",
            Box::new(|d| {
                replace(
                    d,
                    "services/email.kdl",
                    "env \"EXTRA\" \"1\"",
                    "env \"EXTRA\" \"2\"",
                )
            }),
            &[],
            Some(true),
        ),
        (
            "a service added that calls an existing one (payments gains a caller)",
            Box::new(|d| {
                // The shop's own email service, without the template added above.
                let email = std::fs::read_to_string(
                    crate::support::root().join("examples/shop/services/email.kdl"),
                )
                .expect("read");
                let audit = email
                    .replace("service \"email\" {", "service \"audit\" {")
                    .replace("\n}", "\n    depends-on \"payments\" timeout=\"1s\"\n}");
                std::fs::write(d.join("services/audit.kdl"), audit).expect("write");
            }),
            &[],
            Some(true),
        ),
        (
            "that service removed again",
            Box::new(|d| std::fs::remove_file(d.join("services/audit.kdl")).expect("rm")),
            &[],
            Some(true),
        ),
        (
            "a template the gRPC services use (their log level)",
            Box::new(|d| {
                replace(
                    d,
                    "templates/shop.kdl",
                    "env \"LOG_LEVEL\" \"info\"",
                    "env \"LOG_LEVEL\" \"debug\"",
                )
            }),
            &[],
            None,
        ),
        (
            "an environment's setting (staging's replica scale)",
            Box::new(|d| replace(d, "nestio.kdl", "replicas-scale 0.5", "replicas-scale 0.25")),
            &[],
            Some(false),
        ),
        (
            "an environment's service override (storefront in staging)",
            Box::new(|d| {
                replace(
                    d,
                    "nestio.kdl",
                    "env \"NODE_ENV\" \"staging\"",
                    "env \"NODE_ENV\" \"stage\"",
                )
            }),
            &[],
            Some(false),
        ),
        (
            "one environment only (`--env prod`)",
            Box::new(|_| {}),
            &["--env", "prod"],
            Some(false),
        ),
        (
            "every environment again",
            Box::new(|_| {}),
            &[],
            Some(false),
        ),
        (
            "a reused service's file deleted from the output",
            Box::new(|_| {
                std::fs::remove_file(out.join("kubernetes/prod/catalog.yaml")).expect("rm");
            }),
            &[],
            Some(true),
        ),
        (
            "a project setting (the mesh)",
            Box::new(|d| replace(d, "nestio.kdl", "mesh \"istio\"", "mesh \"linkerd\"")),
            &[],
            Some(false),
        ),
    ];
    for (k, (what, step, args, reuses)) in steps.iter().enumerate() {
        let before = without_lock(tree(&out));
        step(&dir);
        let log = build(&dir, &cache, args);
        let (files, reused) = files_and_reused(&log);
        match reuses {
            Some(true) => assert!(reused > 0 && reused < files, "after `{what}`: {log}"),
            Some(false) => assert_eq!(reused, 0, "after `{what}`: {log}"),
            None => {}
        }
        // The clean build, with the same options.
        let clean = tmp.path().join(format!("clean-{k}"));
        let mut clean_args = vec!["build", ".", "-o", clean.to_str().expect("utf-8")];
        clean_args.extend_from_slice(args);
        let o = nestioc(&clean_args, &dir, &tmp.path().join("no-cache"));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let got = without_lock(tree(&out));
        // A partial build (`--env`) changes only its environment's files: what it must
        // leave is the last build's output with the clean partial build's files for that
        // environment laid over it (the manifest lists the same files either way).
        let want = if args.is_empty() {
            without_lock(tree(&clean))
        } else {
            let env = args[1];
            let mut want: std::collections::BTreeMap<String, Vec<u8>> =
                before.into_iter().collect();
            for (path, bytes) in without_lock(tree(&clean)) {
                if nestioc::emit::belongs_to_environment(&path, env) || !want.contains_key(&path) {
                    want.insert(path, bytes);
                }
            }
            let manifest = ".nestio-manifest.json";
            if let Some((_, m)) = got.iter().find(|(p, _)| p == manifest) {
                want.insert(manifest.to_owned(), m.clone());
            }
            want.into_iter().collect()
        };
        let differ: Vec<&str> = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.0.as_str())
            .collect();
        assert!(
            got == want,
            "after `{what}`, the rebuilt output differs from a clean build: {} vs {} files, first differing: {differ:?}",
            got.len(),
            want.len()
        );
    }
}

/// Reuse trusts a file only while the stat cache vouches for it: a reused service's file
/// edited by hand is still refused (NST0401), not silently kept or replaced.
#[test]
fn a_hand_edit_of_a_reusable_file_is_still_refused() {
    let (_tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    let file = dir.join("generated/helm/catalog/values.yaml");
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str("# edited\n");
    std::fs::write(&file, &text).expect("write");
    // Another service changes, so that the build runs (and catalog's key is unchanged).
    replace(&dir, "services/email.kdl", "replicas 1", "replicas 2");
    let o = nestioc(&["build", "."], &dir, &cache);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("NST0401"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
}

/// The cache directory is only ever a help: deleted between two builds, nothing is
/// reused, and the rebuild is still exactly a clean build.
#[test]
fn without_its_cache_a_rebuild_reuses_nothing_and_equals_a_clean_build() {
    let (tmp, dir, cache) = shop();
    build(&dir, &cache, &[]);
    std::fs::remove_dir_all(&cache).expect("rm");
    replace(&dir, "services/email.kdl", "replicas 1", "replicas 2");
    let log = build(&dir, &cache, &[]);
    assert_eq!(files_and_reused(&log).1, 0, "{log}");
    let clean = clean_build(&dir, tmp.path(), "clean");
    assert!(without_lock(tree(&dir.join("generated"))) == without_lock(tree(&clean)));
}
