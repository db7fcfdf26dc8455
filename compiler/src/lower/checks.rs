//! What a value may contain before it reaches an output: mount paths, commands, free
//! text, repository URLs and paths, hosts, HTTP paths, label values and Secret keys
//! (docs/security.md lists each output context).

use crate::diag::Code;

/// An absolute path inside the container.
pub(super) fn check_mount_path(path: &str) -> Result<(), crate::diag::Problem> {
    let ok = path.starts_with('/')
        && path.len() > 1
        && path.len() <= 1024
        && path
            .split('/')
            .skip(1)
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid mount path `{path}`"),
            "not an absolute path",
            "give an absolute directory such as \"/data\", without `..`",
        ))
    }
}

pub(super) fn problem(
    code: Code,
    message: String,
    label: &str,
    help: &str,
) -> crate::diag::Problem {
    crate::diag::Problem {
        code,
        message,
        label: label.into(),
        help: Some(help.into()),
    }
}

/// A CI test command: one line of shell. Every CI system takes it as a string, but a line
/// break cannot be written in the Jenkinsfile's single-quoted Groovy strings and changes how
/// the YAML-based systems run it (one command per line), and other control characters are
/// invisible in review.
pub(super) fn check_command(command: &str) -> Result<(), crate::diag::Problem> {
    if command.trim().is_empty() {
        return Err(problem(
            Code::InvalidCommand,
            "empty test command".into(),
            "no command here",
            "give a shell command, e.g. \"make test\", or remove `test` to use the language's default",
        ));
    }
    if let Some(c) = command
        .chars()
        .find(|c| (c.is_control() && *c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        let what = match c {
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => "a line break".to_owned(),
            c => format!("the control character U+{:04X}", u32::from(c)),
        };
        return Err(problem(
            Code::InvalidCommand,
            format!("the test command contains {what}"),
            "not a one-line command",
            "join the commands with `&&` on one line, or put them in a script in the source directory and run it (`./ci/test.sh`)",
        ));
    }
    Ok(())
}

/// Free text that reaches YAML through Helm as well as through nestioc's own serializer
/// (environment variable values, container arguments, custom SLI queries). Helm writes
/// values with `toYaml | nindent`: go-yaml puts a value with a line break into a block
/// scalar, and YAML 1.1 readers (go-yaml, so Helm and kubectl) also break lines at NEL,
/// LINE SEPARATOR and PARAGRAPH SEPARATOR, which `nindent` does not indent; the rest of
/// the value would become YAML. Those three characters are refused; every other
/// character, line breaks, quotes and template braces included, is carried exactly.
/// NUL is refused too: environment and arguments reach the process through `execve`, whose
/// strings end at the first NUL, and the runtime refuses them (Go's `syscall.Exec`, under
/// runc and crun's callers, fails with EINVAL on a NUL in any string), so the container
/// never starts.
pub(super) fn check_free_text(value: &str, what: &str) -> Result<(), crate::diag::Problem> {
    if value.contains('\0') {
        return Err(problem(
            Code::UnsafeValue,
            format!("the {what} contains U+0000 NUL"),
            "a process's environment and arguments cannot hold NUL",
            "remove the `\\u{0}` escape: the container runtime refuses to start a process with it",
        ));
    }
    let Some(c) = value
        .chars()
        .find(|c| matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}'))
    else {
        return Ok(());
    };
    let name = match c {
        '\u{85}' => "NEXT LINE",
        '\u{2028}' => "LINE SEPARATOR",
        _ => "PARAGRAPH SEPARATOR",
    };
    Err(problem(
        Code::UnsafeValue,
        format!(
            "the {what} contains U+{:04X} {name}, which YAML 1.1 readers (Helm, kubectl) take for a line break",
            u32::from(c)
        ),
        "cannot be carried through Helm's YAML",
        "write a `\\n` line break instead, or remove the character",
    ))
}

/// A Git repository URL: `https://` or `ssh://` or `git@host:path`, no whitespace.
pub(super) fn check_repo_url(url: &str) -> Result<(), crate::diag::Problem> {
    let ok = (url.starts_with("https://") || url.starts_with("ssh://") || url.starts_with("git@"))
        && url.len() <= 512
        && url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@~".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid repository URL `{url}`"),
            "not a Git repository URL",
            "e.g. \"https://github.com/acme/shop.git\" or \"git@github.com:acme/shop.git\"",
        ))
    }
}

/// A DNS host name, lowercase, optionally a wildcard `*.<domain>` (as Istio's ServiceEntry
/// allows).
#[must_use]
pub fn valid_host(host: &str) -> bool {
    let body = host.strip_prefix("*.").unwrap_or(host);
    !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

pub(super) fn check_host(host: &str) -> Result<(), crate::diag::Problem> {
    if valid_host(host) {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid host name `{host}`"),
            "not a DNS host name",
            "a host is lowercase labels separated by dots, e.g. \"api.stripe.com\"; no scheme, port or path",
        ))
    }
}

/// An HTTP path prefix: `/` and URL-safe characters only.
pub(super) fn check_http_path(path: &str) -> Result<(), crate::diag::Problem> {
    let ok = path.starts_with('/')
        && path.len() <= 1024
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid HTTP path `{path}`"),
            "not an HTTP path",
            "a path starts with `/` and uses URL characters only, e.g. \"/api\"",
        ))
    }
}

/// A Kubernetes label value (owner becomes a label).
pub(crate) fn check_label_value(value: &str) -> Result<(), crate::diag::Problem> {
    let ok = value.len() <= 63
        && !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid owner `{value}`"),
            "not a Kubernetes label value",
            "an owner becomes a label: at most 63 letters, digits, `-`, `_` and `.`, e.g. \"payments-team\"",
        ))
    }
}

/// A relative path inside the repository (CI path filters).
pub(super) fn check_repo_path(path: &str) -> Result<(), crate::diag::Problem> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && path.len() <= 512
        && path.split('/').all(|c| c != ".." && c != ".")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid source path `{path}`"),
            "not a relative repository path",
            "give the directory relative to the repository root, e.g. \"src/checkout\", without `..`",
        ))
    }
}

/// A key of a Secret: letters, digits, `-`, `_` and `.`.
pub(super) fn check_secret_key(key: &str) -> Result<(), crate::diag::Problem> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(problem(
            Code::InvalidName,
            format!("invalid secret key `{key}`"),
            "not a Secret key",
            "Secret keys are letters, digits, `-`, `_` and `.`",
        ))
    }
}
