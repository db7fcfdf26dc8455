//! The several kinds of names a topology spells (DNS labels, port names, environment
//! variable names) and what lowering infers from them (a credential by its name), each
//! checked once with a precise problem on failure.

use crate::diag::{Code, Problem};

fn name_help(name: &str, max: usize) -> Option<String> {
    let mut fixed: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while fixed.contains("--") {
        fixed = fixed.replace("--", "-");
    }
    let fixed: String = fixed.trim_matches('-').chars().take(max).collect();
    let fixed = fixed.trim_matches('-').to_owned();
    if fixed.is_empty() || fixed == name {
        Some(
            "use lowercase letters, digits and `-`, starting and ending with a letter or digit"
                .into(),
        )
    } else {
        Some(format!("try `{fixed}`"))
    }
}

/// Lowercase letters, digits and `-`, starting and ending with a letter or digit: one
/// label of a DNS-1123 name, whatever its length limit.
fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// A DNS-1123 label: it becomes a Kubernetes name and a file name, so it can never
/// contain `/`, `.` or anything else that could leave the output directory.
pub fn check_dns_label(name: &str, what: &str) -> Result<(), Problem> {
    if name.len() <= 63 && is_label(name) {
        return Ok(());
    }
    let why = if name.is_empty() {
        "it is empty".to_owned()
    } else if name.len() > 63 {
        format!("it is {} characters long, the limit is 63", name.len())
    } else {
        "only lowercase letters, digits and `-` are allowed, starting and ending with a letter or digit".to_owned()
    };
    Err(Problem::new(
        Code::InvalidName,
        format!("invalid {what} name `{name}`: {why}"),
        "not a DNS-1123 label",
        name_help(name, 63),
    ))
}

/// A DNS-1123 subdomain: what Kubernetes allows for most object names, a Secret's among
/// them (`api.example.com`: apimachinery `IsDNS1123Subdomain`, at most 253 characters of
/// dot-separated labels). Only for names nestioc refers to and never derives a name or a
/// path from.
pub fn check_dns_subdomain(name: &str, what: &str) -> Result<(), Problem> {
    if name.len() <= 253 && name.split('.').all(is_label) {
        return Ok(());
    }
    let why = if name.is_empty() {
        "it is empty".to_owned()
    } else if name.len() > 253 {
        format!("it is {} characters long, the limit is 253", name.len())
    } else {
        "only lowercase letters, digits, `-` and `.` are allowed, each part between dots starting and ending with a letter or digit".to_owned()
    };
    Err(Problem::new(
        Code::InvalidName,
        format!("invalid {what} name `{name}`: {why}"),
        "not a DNS-1123 subdomain",
        name_help(name, 253),
    ))
}

/// A service name is also a Kubernetes Service name: a DNS-1035 label, which must start
/// with a letter.
pub fn check_service_name(name: &str) -> Result<(), Problem> {
    check_dns_label(name, "service")?;
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Problem::new(
            Code::InvalidName,
            format!("invalid service name `{name}`: it must start with a letter"),
            "a Kubernetes Service name starts with a letter",
            Some(format!("try `svc-{name}`")),
        ));
    }
    Ok(())
}

/// A Kubernetes port name is an IANA service name: at most 15 characters, lowercase
/// letters, digits and single hyphens, with at least one letter.
pub fn check_port_name(name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        return Ok(());
    }
    let why = if name.len() > 15 {
        format!("it is {} characters long, the limit is 15", name.len())
    } else {
        "use lowercase letters, digits and single `-`, with at least one letter".to_owned()
    };
    Err(Problem::new(
        Code::InvalidName,
        format!("invalid port name `{name}`: {why}"),
        "not a valid Kubernetes port name",
        name_help(name, 15),
    ))
}

/// An environment variable name, as the Kubernetes API server accepts it: any printable
/// ASCII character but `=`, at least one (k8s.io/apimachinery pkg/util/validation
/// `IsRelaxedEnvVarName`, which `ValidateEnv` uses since the feature gate
/// `RelaxedEnvironmentVariableValidation` went GA and locked on in Kubernetes 1.34;
/// pkg/features/kube_features.go, v1.37.2). So `spring.rabbitmq.host` and `my-var` pass.
///
/// That is safe in every output a name reaches: names are written only into YAML (the
/// container's `env`, through the YAML writer, which quotes what needs it), the HTML report
/// (escaped) and terminal text; never into a shell line, a Dockerfile or a template
/// (docs/security.md, "Output contexts"). What Kubernetes refuses (`=`, a line break, a
/// tab, any other control character, anything outside ASCII) is refused here.
pub fn check_env_name(name: &str) -> Result<(), Problem> {
    let bad = name
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ') || *c == '=');
    if !name.is_empty() && bad.is_none() {
        return Ok(());
    }
    let why = match bad {
        None => "it is empty".to_owned(),
        Some('=') => "`=` separates a name from its value".to_owned(),
        Some(c) => format!(
            "{} is not a printable ASCII character",
            if c.is_control() {
                format!("U+{:04X}", u32::from(c))
            } else {
                format!("`{c}`")
            }
        ),
    };
    let fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Err(Problem::new(
        Code::InvalidName,
        format!(
            "invalid environment variable name `{}`: {why}",
            name.escape_debug()
        ),
        "not an environment variable name Kubernetes accepts",
        Some(if fixed.is_empty() || fixed == name {
            "use printable ASCII characters other than `=`, e.g. `DB_URL` or `spring.datasource.url`".into()
        } else {
            format!("use printable ASCII characters other than `=`, e.g. `{fixed}`")
        }),
    ))
}

/// The words of an environment variable name, upper-cased: split at anything that is not
/// a letter or digit, and between a lower-case letter and an upper-case one
/// (`spring.datasource.password` and `dbPassword` end in `PASSWORD`).
fn env_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_uppercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The words before `KEY` that make `*_KEY` something other than a credential: a public
/// key is meant to be shared, and the others name a key of a data structure or protocol.
const NOT_SECRET_KEYS: &[&str] = &[
    "PUBLIC",
    "PUB",
    "ROUTING",
    "PARTITION",
    "SORT",
    "CACHE",
    "PRIMARY",
    "FOREIGN",
    "SHARD",
    "HASH",
    "IDEMPOTENCY",
    "LOOKUP",
    "GROUP",
    "QUEUE",
    "TOPIC",
    "MESSAGE",
    "OBJECT",
    "S3",
    "BUCKET",
    "METADATA",
];

/// Whether an environment variable's name says it holds a credential, so that a literal
/// value for it is a secret written in plain text (NST0122). One rule, shared with the
/// scanner test (tests/it/scanners.rs). The name is read as words (see [`env_words`]);
/// trailing words made only of digits (`ADMIN_PASSWORD_2`) are skipped; then the last word
/// decides:
///
/// - it ends in `PASSWORD`, `PASSWD`, `PASSPHRASE`, `SECRET` or `TOKEN`, or is `PASS` or
///   `PWD` (`DB_PASSWORD`, `RABBITMQ_DEFAULT_PASS`, `GITHUB_TOKEN`, `ACCESSTOKEN`,
///   `CLIENT_SECRET`, `spring.datasource.password`, `dbPassword`);
/// - it is `KEY`, after another word that does not name a non-secret kind of key
///   (`API_KEY`, `AWS_SECRET_ACCESS_KEY`, `apiKey`; not `PUBLIC_KEY`, `ROUTING_KEY`,
///   `CACHE_KEY`: [`NOT_SECRET_KEYS`]), or it is `APIKEY`.
///
/// A credential word that is not last names a setting *about* the credential, and is not
/// one: `TOKEN_EXPIRY_SECONDS`, `PASSWORD_MIN_LENGTH`, `KEY_PREFIX`, `SECRET_NAME`,
/// `DB_PASSWORD_FILE` (a path to a mounted secret: the recommended form), `PRIV_KEY_PATH`.
#[must_use]
pub fn looks_like_credential(name: &str) -> bool {
    let mut words = env_words(name);
    while words
        .last()
        .is_some_and(|w| w.bytes().all(|b| b.is_ascii_digit()))
    {
        words.pop();
    }
    let Some(last) = words.last() else {
        return false;
    };
    let last = last.as_str();
    if ["PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN"]
        .iter()
        .any(|w| last.ends_with(w))
        || matches!(last, "PASS" | "PWD" | "APIKEY")
    {
        return true;
    }
    last == "KEY" && words.len() >= 2 && !NOT_SECRET_KEYS.contains(&words[words.len() - 2].as_str())
}

/// Whether `env NAME VALUE` writes a credential in plain text (NST0122): the name looks
/// like one ([`looks_like_credential`]) and the value is not empty or a yes/no flag
/// (`MYSQL_ALLOW_EMPTY_PASSWORD "yes"`, `MYSQL_RANDOM_ROOT_PASSWORD "1"` are switches, not
/// passwords). The scanner test of the examples applies this same function to the
/// rendered manifests.
#[must_use]
pub fn plain_text_secret(name: &str, value: &str) -> bool {
    const FLAGS: &[&str] = &["", "yes", "no", "true", "false", "on", "off", "1", "0"];
    looks_like_credential(name) && !FLAGS.iter().any(|f| f.eq_ignore_ascii_case(value.trim()))
}

/// A Secret key for an environment variable (`DB_PASSWORD` -> `db-password`): what the
/// NST0122 help suggests. Secret keys are `[-._a-zA-Z0-9]+` (`IsConfigMapKey`).
#[must_use]
pub fn secret_key_for(name: &str) -> String {
    let mut key = String::new();
    for c in name.chars() {
        let c = match c {
            '_' | ' ' => '-',
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => c.to_ascii_lowercase(),
            _ => '-',
        };
        if !(c == '-' && (key.is_empty() || key.ends_with('-'))) {
            key.push(c);
        }
    }
    let key = key.trim_matches(['-', '.']).to_owned();
    if key.is_empty() { "value".into() } else { key }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_dns_label("checkout", "service").is_ok());
        assert!(check_dns_label("../../etc", "service").is_err());
        assert!(check_dns_label("Checkout", "service").is_err());
        assert!(check_service_name("1api").is_err());
        assert!(check_port_name("http-metrics").is_ok());
        assert!(check_port_name("a-very-long-port-name").is_err());
        assert!(check_env_name("DB_URL").is_ok());
        assert!(check_env_name("A=B").is_err());
    }

    /// Issue 16, item 10: what Kubernetes 1.37's API server accepts
    /// (`IsRelaxedEnvVarName`: printable ASCII, `unicode.IsPrint(r) && r <= MaxASCII`, but
    /// `=`), and nothing else.
    #[test]
    fn environment_variable_names_are_what_kubernetes_accepts() {
        for ok in [
            "spring.rabbitmq.host",
            "my-var",
            "MY_ENV.NAME",
            "1STARTS_WITH_DIGIT",
            "Kestrel__Endpoints__Http__Url",
            "a b",
            "$x{y}'\"`",
            ".",
            "..",
            "~",
        ] {
            assert!(check_env_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A=B",
            "=",
            "a\nb",
            "tab\there",
            "caf\u{e9}",
            "nel\u{85}",
            "\u{7f}",
        ] {
            let p = check_env_name(bad).expect_err(bad);
            assert_eq!(p.code, Code::InvalidName);
        }
        assert_eq!(
            check_env_name("db host=x").err().and_then(|p| p.help),
            Some("use printable ASCII characters other than `=`, e.g. `db_host_x`".into())
        );
    }

    #[test]
    fn credential_names() {
        for yes in [
            "PASSWORD",
            "DB_PASSWORD",
            "MYSQL_ROOT_PASSWORD",
            "db_password",
            "dbPassword",
            "spring.datasource.password",
            "RABBITMQ_DEFAULT_PASS",
            "REDIS_PWD",
            "LDAP_PASSWD",
            "SSH_PASSPHRASE",
            "GITHUB_TOKEN",
            "ACCESSTOKEN",
            "accessToken",
            "JWT_SECRET",
            "CLIENT_SECRET",
            "SECRET",
            "API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "STRIPE_KEY",
            "apiKey",
            "APIKEY",
            "ADMIN_PASSWORD_2",
            "TOKEN",
        ] {
            assert!(looks_like_credential(yes), "{yes}");
        }
        for no in [
            "TOKEN_EXPIRY_SECONDS",
            "PASSWORD_MIN_LENGTH",
            "KEY_PREFIX",
            "KEY",
            "SECRET_NAME",
            "DB_PASSWORD_FILE",
            "PRIV_KEY_PATH",
            "PUB_KEY_PATH",
            "PUBLIC_KEY",
            "RABBITMQ_ROUTING_KEY",
            "CACHE_KEY",
            "MONKEY",
            "BYPASS",
            "PASSTHROUGH",
            "TOKENIZER",
            "SECRETS_DIR",
            "LOG_LEVEL",
            "AUTH_SERVICE_ADDR",
            "",
            "__",
        ] {
            assert!(!looks_like_credential(no), "{no}");
        }
        assert!(plain_text_secret("DB_PASSWORD", "hunter2"));
        for flag in ["yes", "YES", "", "0", "true"] {
            assert!(
                !plain_text_secret("MYSQL_ALLOW_EMPTY_PASSWORD", flag),
                "{flag}"
            );
        }
        assert_eq!(secret_key_for("DB_PASSWORD"), "db-password");
        assert_eq!(
            secret_key_for("spring.datasource.password"),
            "spring.datasource.password"
        );
        assert_eq!(secret_key_for("apiKey"), "apikey");
        assert_eq!(secret_key_for("__"), "value");
    }
}
