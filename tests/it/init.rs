//! `nestioc init`: the new project compiles with no diagnostics for every mesh, language
//! and CI choice; it never overwrites; it asks only on a terminal. Also the completion
//! scripts and the man page.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::compile;

fn nestioc(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn new_projects_compile_cleanly_for_every_choice() {
    let cases = [
        ("istio", "go", "github-actions"),
        ("linkerd", "python", "gitlab"),
        ("none", "node", "none"),
        ("istio", "java", "jenkins"),
        ("linkerd", "rust", "circleci"),
        ("none", "dotnet", "github-actions"),
    ];
    for (mesh, language, ci) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("payments platform");
        std::fs::create_dir_all(&dir).unwrap();
        let o = nestioc(
            &[
                "init",
                "--mesh",
                mesh,
                "--language",
                language,
                "--ci",
                ci,
                "--service",
                "ledger",
            ],
            &dir,
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let kdl = std::fs::read_to_string(dir.join("nestio.kdl")).unwrap();
        assert!(kdl.contains("project \"payments-platform\""), "{kdl}");
        let c = compile(&dir, &nestioc::Options::default());
        assert!(
            c.analysis.diagnostics.is_empty(),
            "{mesh}/{language}/{ci}: {:?}",
            c.analysis.diagnostics
        );
        assert!(c.artifacts.is_some());
        assert_eq!(nestioc(&["fmt", "--check"], &dir).status.code(), Some(0));
        let o = nestioc(&["build"], &dir);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn init_never_overwrites_and_rejects_bad_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("nestio.kdl"), "// mine\n").unwrap();
    let o = nestioc(&["init"], dir);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(dir.join("nestio.kdl")).unwrap(),
        "// mine\n"
    );
    assert!(!dir.join("services").exists());

    let fresh = dir.join("fresh");
    for bad in [
        ["--mesh", "consul"],
        ["--service", "Bad_Name"],
        ["--registry", "ghcr.io/acme\"\n"],
        ["--language", "cobol"],
    ] {
        std::fs::create_dir_all(&fresh).unwrap();
        let mut args = vec!["init"];
        args.extend(bad);
        let o = nestioc(&args, &fresh);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(
            !fresh.join("nestio.kdl").exists(),
            "{bad:?}: nothing written"
        );
    }
}

/// On a terminal, `init` asks; `script` gives it one (util-linux).
#[test]
fn init_asks_on_a_terminal() {
    let Ok(script) = which("script") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cmd = format!("{} init", env!("CARGO_BIN_EXE_nestioc"));
    let mut child = Command::new(script)
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let stdin = child.stdin.as_mut().unwrap();
        // Project, namespace, registry, mesh, service, language, owner, CI.
        stdin
            .write_all(b"shop\n\n\nlinkerd\ncheckout\n\n\nnone\n")
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Project name ["), "it asked: {out}");
    let kdl = std::fs::read_to_string(dir.join("nestio.kdl")).unwrap();
    assert!(kdl.contains("project \"shop\""), "{kdl}");
    assert!(kdl.contains("namespace \"shop\""), "{kdl}");
    assert!(kdl.contains("mesh \"linkerd\""), "{kdl}");
    assert!(!kdl.contains("ci \""), "{kdl}");
    assert!(dir.join("services/checkout.kdl").is_file());
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn completions_and_man_page() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = nestioc(&["completions", shell], tmp.path());
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("nestioc") && text.contains("build"),
            "{shell}"
        );
    }
    // The bash script is valid bash.
    let o = nestioc(&["completions", "bash"], tmp.path());
    let f = tmp.path().join("nestioc.bash");
    std::fs::write(&f, &o.stdout).unwrap();
    let b = Command::new("bash").arg("-n").arg(&f).output().unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let o = nestioc(&["man"], tmp.path());
    let man = String::from_utf8_lossy(&o.stdout);
    assert!(
        man.starts_with(".ie") || man.contains(".TH nestioc"),
        "{man}"
    );
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
        "nestioc\\-build",
    ] {
        assert!(man.contains(section), "{section} in the man page");
    }
}
