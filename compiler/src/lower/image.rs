//! How an `image` name becomes the repository a pod pulls: the one place that decides,
//! so that every later form of image reference (a full `name:tag` reference, a digest in
//! the name) extends [`resolve`] instead of adding a second rule elsewhere.
//!
//! A container runtime reads a reference without a registry host as a Docker Hub one:
//! `redis` is `docker.io/library/redis`, `bitnami/redis` is `docker.io/bitnami/redis`
//! (the normalisation of the distribution reference grammar that Kubernetes and
//! containerd apply, <https://github.com/distribution/reference/blob/main/normalize.go>,
//! `ParseNormalizedNamed`; Kubernetes: "If you don't specify a registry hostname,
//! Kubernetes assumes that you mean the Docker public registry",
//! <https://kubernetes.io/docs/concepts/containers/images/#image-names>). nestioc prefixes
//! the project's `registry` only to the images the project builds itself: anything else
//! is left as written, so that `image "redis"` is the official Redis and not
//! `ghcr.io/acme/redis`, an image nobody pushes.

use crate::diag::{Code, Problem};
use crate::model::{ImageRule, names_registry};

/// An image reference split as the distribution reference grammar splits it
/// (<https://github.com/distribution/reference>, reference.go, "Grammar"):
///
/// ```text
/// reference  := name [ ":" tag ] [ "@" digest ]
/// name       := [domain '/'] path
/// domain     := host [':' port-number]
/// path       := path-component ['/' path-component]*
/// ```
///
/// `ghcr.io/acme/api:1.2@sha256:...` is the domain `ghcr.io`, the path `acme/api`, the tag
/// `1.2` and the digest; `redis:7.2-alpine` has no domain (Docker Hub, once normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host and port, when the name starts with one (see [`names_registry`]).
    pub domain: Option<String>,
    /// The repository path (the grammar's "remote-name").
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// The name: `[domain/]path`, without tag or digest.
    #[must_use]
    pub fn name(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}", self.path),
            None => self.path.clone(),
        }
    }
}

/// The most characters a repository path may have (reference.go
/// `RepositoryNameTotalLengthMax`).
const PATH_MAX: usize = 255;

fn invalid(what: &str, text: &str, why: &str, help: String) -> Problem {
    Problem {
        code: Code::InvalidName,
        message: format!("invalid {what} `{}`: {why}", text.escape_debug()),
        label: format!("not a valid {what}"),
        help: Some(help),
    }
}

/// Parses `image`'s argument: `name[:tag][@digest]`. Each part is checked against the
/// grammar (regexp.go), in the subset the outputs carry: the registry host is lower case
/// (DNS names are case-insensitive; the chart's values schema and every shell word in CI
/// expect it) and is a name, not an IPv6 literal; digests are `sha256` or `sha512`, the
/// algorithms the OCI image specification registers (image-spec descriptor.md,
/// "Registered algorithms"), in lower-case hex of their exact length, as go-digest
/// validates them (algorithm.go `anchoredEncodedRegexps`).
pub fn parse_reference(text: &str) -> Result<Reference, Problem> {
    let (name_tag, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    // A tag is after the last `:` that follows the last `/` (`localhost:5000/x` has none).
    let after_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[after_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..after_slash + i],
            Some(&name_tag[after_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    let (domain, path) = split_name(name)?;
    if let Some(t) = tag {
        check_tag(t)?;
    }
    if let Some(d) = digest {
        check_digest(d)?;
    }
    Ok(Reference {
        domain: domain.map(str::to_owned),
        path: path.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// Checks a name (`[domain/]path`, no tag) and splits it.
pub fn split_name(name: &str) -> Result<(Option<&str>, &str), Problem> {
    split_name_exact(name).map_err(|mut p| {
        // Upper case is the usual mistake: when the lower-case name is valid, say so.
        let lower = name.to_ascii_lowercase();
        if lower != name && split_name_exact(&lower).is_ok() {
            p.help = Some(format!("write `{lower}`"));
        }
        p
    })
}

fn split_name_exact(name: &str) -> Result<(Option<&str>, &str), Problem> {
    const HELP: &str = "an image name is lower-case path components (letters, digits, separated by `.`, `_`, `__` or dashes) joined by `/`, after an optional registry host, e.g. \"redis\", \"bitnami/redis\" or \"ghcr.io/acme/api\"";
    if name.is_empty() {
        return Err(invalid("image name", name, "it is empty", HELP.into()));
    }
    // ParseNormalizedNamed: "cannot specify 64-byte hexadecimal strings" (an image ID).
    if name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(invalid(
            "image name",
            name,
            "a 64-digit hexadecimal string is an image ID, not a name",
            "name the repository, and give the digest after `@`: \"NAME@sha256:...\"".into(),
        ));
    }
    let (domain, path) = if names_registry(name) {
        let (d, p) = name.split_once('/').unwrap_or((name, ""));
        check_domain(d)?;
        (Some(d), p)
    } else {
        (None, name)
    };
    // The limit applies to the normalised path: `redis` is `library/redis` on Docker Hub.
    let normalised = canonical(name);
    let normalised_path = normalised.split_once('/').map_or("", |(_, p)| p);
    if normalised_path.len() > PATH_MAX {
        return Err(invalid(
            "image name",
            name,
            &format!(
                "its repository path `{}...` is {} characters long, the limit is {PATH_MAX}",
                normalised_path.chars().take(20).collect::<String>(),
                normalised_path.len()
            ),
            HELP.into(),
        ));
    }
    for component in path.split('/') {
        if !is_path_component(component) {
            let why = if component.is_empty() {
                "it has an empty path component".to_owned()
            } else if component.bytes().any(|b| b.is_ascii_uppercase()) {
                format!("`{component}` has upper-case letters: repository names are lower case")
            } else {
                format!("`{}` is not a path component", component.escape_debug())
            };
            return Err(invalid("image name", name, &why, HELP.into()));
        }
    }
    Ok((domain, path))
}

/// Checks a project `registry`: a prefix of image names, so `REGISTRY/NAME` is a name of
/// the grammar: a registry host with an optional path (`ghcr.io/acme`,
/// `registry.example.com:5000/team`), or a Docker Hub namespace (`acme`).
pub fn check_registry(r: &str) -> Result<(), Problem> {
    const HELP: &str = "a registry is a lower-case host with an optional port and path, e.g. \"ghcr.io/acme\", \"registry.example.com:5000/team\", or a Docker Hub namespace, \"acme\"";
    let probe = format!("{r}/x");
    split_name(&probe).map(|_| ()).map_err(|p| {
        let mut why = p
            .message
            .split_once(": ")
            .map_or(String::new(), |(_, w)| w.to_owned());
        if why.contains("characters long") {
            why = format!("it is {} characters long, the limit is {PATH_MAX}", r.len());
        }
        Problem {
            code: Code::InvalidName,
            message: format!("invalid registry `{}`: {why}", r.escape_debug()),
            label: "not a valid registry".into(),
            help: match p.help {
                Some(h) if h.starts_with("write `") => {
                    Some(format!("write `{}`", r.to_ascii_lowercase()))
                }
                _ => Some(HELP.into()),
            },
        }
    })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` (regexp.go `pathComponent`).
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `domainNameComponent(\.domainNameComponent)*(:[0-9]+)?` (regexp.go `domainAndPort`),
/// lower case, no IPv6 literal.
fn check_domain(d: &str) -> Result<(), Problem> {
    let help = "a registry host is a lower-case DNS name with an optional port, e.g. \"ghcr.io\", \"registry.example.com:5000\" or \"localhost:5000\"";
    if d.starts_with('[') {
        return Err(invalid(
            "registry host",
            d,
            "IPv6 literal hosts are not supported",
            "give the registry a DNS name".into(),
        ));
    }
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(
            "registry host",
            d,
            &format!("`{}` is not a port number", p.escape_debug()),
            help.into(),
        ));
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        let ok = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        !b.is_empty() && ok(b[0]) && ok(b[b.len() - 1]) && b.iter().all(|&x| ok(x) || x == b'-')
    };
    if let Some(bad) = host.split('.').find(|l| !label_ok(l)) {
        let why = if bad.bytes().any(|b| b.is_ascii_uppercase()) {
            "write the host in lower case".to_owned()
        } else {
            format!("`{}` is not a host name label", bad.escape_debug())
        };
        return Err(invalid("registry host", d, &why, help.into()));
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}` (regexp.go `tag`; `\w` is ASCII `[0-9A-Za-z_]` in Go's RE2).
pub fn check_tag(t: &str) -> Result<(), Problem> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok =
        t.len() <= 128 && t.starts_with(word) && t.chars().all(|c| word(c) || c == '.' || c == '-');
    if ok {
        return Ok(());
    }
    let why = if t.is_empty() {
        "it is empty".to_owned()
    } else if t.len() > 128 {
        format!("it is {} characters long, the limit is 128", t.len())
    } else if !t.starts_with(word) {
        "it must start with a letter, a digit or `_`".to_owned()
    } else {
        "a tag is letters, digits, `_`, `.` and `-`".to_owned()
    };
    Err(invalid(
        "image tag",
        t,
        &why,
        "a tag is letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`, at most 128, e.g. \"1.4.2\" or \"7.2-alpine\"".into(),
    ))
}

/// `sha256:` and 64, or `sha512:` and 128, lower-case hex digits.
pub fn check_digest(d: &str) -> Result<(), Problem> {
    let help = "a digest is \"sha256:\" and 64 lower-case hex digits (or \"sha512:\" and 128), as `docker buildx imagetools inspect` or `crane digest` prints it";
    let Some((algorithm, hex)) = d.split_once(':') else {
        return Err(invalid(
            "image digest",
            d,
            "it has no algorithm",
            help.into(),
        ));
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => {
            return Err(invalid(
                "image digest",
                d,
                &format!(
                    "`{}` is not a registered digest algorithm (sha256, sha512)",
                    algorithm.escape_debug()
                ),
                help.into(),
            ));
        }
    };
    if hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(());
    }
    let why = if hex.len() != len {
        format!(
            "a {algorithm} digest has {len} hex digits, this one {}",
            hex.len()
        )
    } else {
        "hex digits are `0-9` and lower-case `a-f`".to_owned()
    };
    Err(invalid("image digest", d, &why, help.into()))
}

/// An image name after [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The repository the pod pulls, as it is written into manifests.
    pub repository: String,
    pub rule: ImageRule,
}

/// The repository an `image` name resolves to. `builds` is whether the project builds the
/// image itself (the service has `language`, `source` or `dockerfile`).
#[must_use]
pub fn resolve(name: &str, registry: Option<&str>, builds: bool) -> Resolved {
    let (repository, rule) = if names_registry(name) {
        (name.to_owned(), ImageRule::ExplicitRegistry)
    } else if !builds {
        (name.to_owned(), ImageRule::ThirdParty)
    } else if let Some(r) = registry {
        (format!("{r}/{name}"), ImageRule::ProjectRegistry)
    } else {
        (name.to_owned(), ImageRule::BuiltWithoutRegistry)
    };
    Resolved { repository, rule }
}

/// The fully qualified repository a container runtime pulls for `repository`:
/// `redis` -> `docker.io/library/redis`, `acme/x` -> `docker.io/acme/x`; a name with a
/// registry host is unchanged. (`index.docker.io` is Docker Hub's legacy name.)
#[must_use]
pub fn canonical(repository: &str) -> String {
    if names_registry(repository) {
        let (host, rest) = repository.split_once('/').unwrap_or((repository, ""));
        if host == "index.docker.io" || host == "docker.io" {
            return canonical_hub(rest);
        }
        return repository.to_owned();
    }
    canonical_hub(repository)
}

fn canonical_hub(path: &str) -> String {
    if path.contains('/') {
        format!("docker.io/{path}")
    } else {
        format!("docker.io/library/{path}")
    }
}

/// The directories a well-known image writes to at run time, from its Dockerfile: each
/// needs a volume under the read-only root filesystem every pod runs with (NST0318).
/// `tag` picks the version's layout; `pgdata` is the service's literal `PGDATA`, if any.
#[must_use]
pub fn data_dirs(
    repository: &str,
    tag: Option<&str>,
    pgdata: Option<&str>,
) -> Vec<(String, &'static str)> {
    let major: Option<u32> = tag
        .and_then(|t| t.split(['.', '-']).next())
        .and_then(|m| m.parse().ok());
    match canonical(repository).as_str() {
        // docker-library/redis Dockerfile.template: `WORKDIR /data` (owned by redis,
        // `VOLUME /data`); Redis's `dir` defaults to the working directory.
        "docker.io/library/redis" => vec![(
            "/data".into(),
            "Redis's working directory, where it saves its RDB snapshot and append-only file",
        )],
        // docker-library/postgres: `ENV PGDATA /var/lib/postgresql/data` up to 17 (e.g.
        // 16/bookworm/Dockerfile), `/var/lib/postgresql/18/docker` from 18 ("PGDATA has
        // changed to match the pg_ctlcluster standard directory structure"), and
        // /var/run/postgresql (mode 3777) for the socket.
        "docker.io/library/postgres" => {
            let mut dirs = Vec::new();
            let data = match (pgdata, major) {
                (Some(p), _) => Some(p.to_owned()),
                (None, Some(m)) if m <= 17 => Some("/var/lib/postgresql/data".to_owned()),
                (None, Some(m)) => Some(format!("/var/lib/postgresql/{m}/docker")),
                (None, None) => None,
            };
            if let Some(d) = data {
                dirs.push((d, "PostgreSQL's data directory (PGDATA)"));
            }
            dirs.push((
                "/var/run/postgresql".into(),
                "PostgreSQL's socket and lock file",
            ));
            dirs
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_prefixed_only_when_the_project_builds_it() {
        // The case of issue 15, item 6: `image "redis" tag="alpine"` in a project with a
        // registry must stay Docker Hub's redis.
        let r = resolve("redis", Some("ghcr.io/acme"), false);
        assert_eq!(r.repository, "redis");
        assert_eq!(r.rule, ImageRule::ThirdParty);
        assert_eq!(canonical(&r.repository), "docker.io/library/redis");
        let r = resolve("checkout", Some("ghcr.io/acme"), true);
        assert_eq!(r.repository, "ghcr.io/acme/checkout");
        assert_eq!(r.rule, ImageRule::ProjectRegistry);
        let r = resolve("checkout", None, true);
        assert_eq!(r.repository, "checkout");
        assert_eq!(r.rule, ImageRule::BuiltWithoutRegistry);
        // A Docker Hub namespace is not a registry host.
        let r = resolve("bitnami/redis", Some("ghcr.io/acme"), false);
        assert_eq!(r.repository, "bitnami/redis");
        assert_eq!(canonical(&r.repository), "docker.io/bitnami/redis");
        for explicit in [
            "ghcr.io/acme/x",
            "localhost/x",
            "localhost:5000/x",
            "docker.io/library/redis",
        ] {
            for builds in [false, true] {
                let r = resolve(explicit, Some("ghcr.io/acme"), builds);
                assert_eq!(r.repository, explicit);
                assert_eq!(r.rule, ImageRule::ExplicitRegistry);
            }
        }
    }

    fn parts(s: &str) -> (Option<String>, String, Option<String>, Option<String>) {
        let r = parse_reference(s).unwrap_or_else(|p| panic!("{s}: {}", p.message));
        (r.domain, r.path, r.tag, r.digest)
    }

    /// Issue 16, item 1: the forms of the issue, and the grammar's corner cases, split as
    /// distribution/reference splits them (reference_test.go has the same cases:
    /// `localhost:5000/x` has a port and no tag, a bare `localhost:5000` is name and tag).
    #[test]
    fn references_split_into_registry_path_tag_and_digest() {
        let sha = "0d3b3bd0d1bd1c4c5b4b0b6c8e6b1f2a3c4d5e6f708192a3b4c5d6e7f8091a2b";
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(
            parts("redis:7.2-alpine"),
            (None, "redis".into(), s("7.2-alpine"), None)
        );
        assert_eq!(
            parts(&format!("ghcr.io/acme/api@sha256:{sha}")),
            (
                s("ghcr.io"),
                "acme/api".into(),
                None,
                s(&format!("sha256:{sha}"))
            )
        );
        assert_eq!(
            parts("docker.io/weaveworksdemos/carts:0.4.8"),
            (
                s("docker.io"),
                "weaveworksdemos/carts".into(),
                s("0.4.8"),
                None
            )
        );
        assert_eq!(
            parts(&format!("localhost:5000/a/b:v1@sha256:{sha}")),
            (
                s("localhost:5000"),
                "a/b".into(),
                s("v1"),
                s(&format!("sha256:{sha}"))
            )
        );
        assert_eq!(
            parts("localhost:5000"),
            (None, "localhost".into(), s("5000"), None)
        );
        assert_eq!(
            parts("localhost/x"),
            (s("localhost"), "x".into(), None, None)
        );
        assert_eq!(parts("mongo"), (None, "mongo".into(), None, None));
        // A Docker Hub namespace is a path component, not a host.
        assert_eq!(
            parts("bitnami/redis:7"),
            (None, "bitnami/redis".into(), s("7"), None)
        );
        // Separators: `.`, `_`, `__`, any number of `-`.
        for ok in ["a.b", "a_b", "a__b", "a---b", "a-b/c.d_e", "x/y/z/w", "9"] {
            assert!(parse_reference(ok).is_ok(), "{ok}");
        }
        // Tags: `[\w][\w.-]{0,127}`.
        for ok in ["_", "A", "v1.0_RC-2", &"t".repeat(128)] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        assert!(parse_reference(&format!("r:{}", "t".repeat(128))).is_ok());
        assert!(parse_reference(&format!("r:{}", "t".repeat(129))).is_err());
        assert!(parse_reference(&format!("r@sha512:{}", "a".repeat(128))).is_ok());
        for bad in [
            "",
            "Redis",
            "a..b",
            "a___b",
            "a.-b",
            "-a",
            "a-",
            "a//b",
            "a/",
            "/a",
            "r:",
            "r:.1",
            "r:-1",
            "r:1+1",
            "r@",
            "r@sha256:ABC",
            &format!("r@sha256:{}", sha.to_uppercase()),
            &format!("r@sha384:{}", "a".repeat(96)),
            "r@x@y",
            "a b",
            "a\"b",
            "[::1]:5000/x",
            "Ghcr.io/x",
            "ghcr.io:/x",
            "-ghcr.io/x",
            &"0".repeat(64),
            &"a".repeat(256),
        ] {
            assert!(parse_reference(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_reference(&"a".repeat(247)).is_ok());
    }

    /// What distribution/reference v0.6.0 itself says, for the same inputs: the expected
    /// column is the output of a Go program calling `reference.ParseNormalizedNamed` (as
    /// containerd and the kubelet do) and printing `Domain/Path|Tag|Digest`, or `ERR`.
    /// nestioc's parts, normalised by [`canonical`], must agree, except where nestioc
    /// refuses on purpose what the outputs cannot carry (`SUBSET`).
    #[test]
    fn references_agree_with_distribution_reference() {
        const SHA: &str = "0d3b3bd0d1bd1c4c5b4b0b6c8e6b1f2a3c4d5e6f708192a3b4c5d6e7f8091a2b";
        // Accepted by Go, refused by nestioc: an IPv6 literal host, an upper-case host
        // (Go takes an upper-case first component for a host), an unregistered algorithm.
        const SUBSET: &[&str] = &["[::1]:5000/x", "Ghcr.io/x", "ACME/api", "r@sha384:"];
        let mut cases: Vec<(String, String)> = [
            ("redis:7.2-alpine", "docker.io/library/redis|7.2-alpine|"),
            (
                "ghcr.io/acme/api@sha256:{SHA}",
                "ghcr.io/acme/api||sha256:{SHA}",
            ),
            (
                "docker.io/weaveworksdemos/carts:0.4.8",
                "docker.io/weaveworksdemos/carts|0.4.8|",
            ),
            (
                "localhost:5000/a/b:v1@sha256:{SHA}",
                "localhost:5000/a/b|v1|sha256:{SHA}",
            ),
            ("localhost:5000", "docker.io/library/localhost|5000|"),
            ("localhost/x", "localhost/x||"),
            ("mongo", "docker.io/library/mongo||"),
            ("bitnami/redis:7", "docker.io/bitnami/redis|7|"),
            ("a.b", "docker.io/library/a.b||"),
            ("a_b", "docker.io/library/a_b||"),
            ("a__b", "docker.io/library/a__b||"),
            ("a---b", "docker.io/library/a---b||"),
            ("a-b/c.d_e", "docker.io/a-b/c.d_e||"),
            ("x/y/z/w", "docker.io/x/y/z/w||"),
            ("9", "docker.io/library/9||"),
            ("Redis", "ERR"),
            ("a..b", "ERR"),
            ("a___b", "ERR"),
            ("a.-b", "ERR"),
            ("-a", "ERR"),
            ("a-", "ERR"),
            ("a//b", "ERR"),
            ("a/", "ERR"),
            ("/a", "ERR"),
            ("r:", "ERR"),
            ("r:.1", "ERR"),
            ("r:-1", "ERR"),
            ("r:1+1", "ERR"),
            ("r:_", "docker.io/library/r|_|"),
            ("r:A", "docker.io/library/r|A|"),
            ("r@", "ERR"),
            ("r@sha256:ABC", "ERR"),
            (
                "r@sha256:0D3B3BD0D1BD1C4C5B4B0B6C8E6B1F2A3C4D5E6F708192A3B4C5D6E7F8091A2B",
                "ERR",
            ),
            ("r@md5:0123456789abcdef0123456789abcdef", "ERR"),
            ("r@x@y", "ERR"),
            ("a b", "ERR"),
            ("[::1]:5000/x", "[::1]:5000/x||"),
            ("Ghcr.io/x", "Ghcr.io/x||"),
            ("ghcr.io:/x", "ERR"),
            ("-ghcr.io/x", "ERR"),
            ("ghcr.io/Acme/x", "ERR"),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "ERR",
            ),
            (
                "index.docker.io/library/redis:7",
                "docker.io/library/redis|7|",
            ),
            ("docker.io/redis", "docker.io/library/redis||"),
            ("my_registry:5000x/api:1.0.0", "ERR"),
            ("my_registry:5000/api:1.0.0", "ERR"),
            ("ACME/api", "ACME/api||"),
            ("example.com", "docker.io/library/example.com||"),
            ("example.com:5000", "docker.io/library/example.com|5000|"),
            ("a:b:c", "ERR"),
            (
                "ghcr.io/acme/api:1.0@sha256:{SHA}",
                "ghcr.io/acme/api|1.0|sha256:{SHA}",
            ),
        ]
        .iter()
        .map(|(r, e)| (r.replace("{SHA}", SHA), e.replace("{SHA}", SHA)))
        .collect();
        let a = |n: usize| "a".repeat(n);
        let t = |n: usize| "t".repeat(n);
        cases.extend([
            (
                format!("r@sha384:{}", a(96)),
                format!("docker.io/library/r||sha384:{}", a(96)),
            ),
            (
                format!("r@sha512:{}", a(128)),
                format!("docker.io/library/r||sha512:{}", a(128)),
            ),
            (a(255), "ERR".into()),
            (a(256), "ERR".into()),
            (format!("x/{}", a(253)), format!("docker.io/x/{}||", a(253))),
            (format!("x/{}", a(254)), "ERR".into()),
            (
                format!("r:{}", t(128)),
                format!("docker.io/library/r|{}|", t(128)),
            ),
            (format!("r:{}", t(129)), "ERR".into()),
        ]);
        for (input, expected) in &cases {
            let ours = match parse_reference(input) {
                Ok(r) => format!(
                    "{}|{}|{}",
                    canonical(&r.name()),
                    r.tag.unwrap_or_default(),
                    r.digest.unwrap_or_default()
                ),
                Err(_) => "ERR".into(),
            };
            if SUBSET.iter().any(|s| input.starts_with(s)) {
                assert_eq!(ours, "ERR", "{input}: refused by nestioc's subset");
                assert_ne!(expected, "ERR", "{input}: accepted by Go");
            } else {
                assert_eq!(&ours, expected, "{input}");
            }
        }
    }

    #[test]
    fn registries_are_prefixes_of_names() {
        for ok in [
            "ghcr.io/acme",
            "ghcr.io",
            "localhost:5000",
            "r.example.com:5000/team/x",
            "acme",
        ] {
            assert!(check_registry(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Ghcr.io/acme",
            "ghcr.io/Acme",
            "ghcr.io//acme",
            "ghcr.io/acme:1",
            "a b",
        ] {
            assert!(check_registry(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_registry("Ghcr.io/acme").err().and_then(|p| p.help),
            Some("write `ghcr.io/acme`".into())
        );
    }

    #[test]
    fn canonical_names_follow_the_distribution_normalisation() {
        // normalize.go: `splitDockerDomain` (legacy `index.docker.io`, the `library/`
        // namespace for official images).
        assert_eq!(canonical("docker.io/redis"), "docker.io/library/redis");
        assert_eq!(
            canonical("index.docker.io/library/redis"),
            "docker.io/library/redis"
        );
        assert_eq!(
            canonical("quay.io/argoproj/argocd"),
            "quay.io/argoproj/argocd"
        );
        assert_eq!(canonical("library/postgres"), "docker.io/library/postgres");
    }
}
