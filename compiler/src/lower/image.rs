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

/// Which rule gave an image its repository (`nestioc why <service> image` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRule {
    /// The name starts with a registry host (`ghcr.io/acme/x`, `localhost:5000/x`): as
    /// written.
    ExplicitRegistry,
    /// The project builds the image (the service has `language`, `source` or
    /// `dockerfile`) and names a `registry`: the registry is prefixed.
    ProjectRegistry,
    /// The project builds the image but declares no `registry`: as written, so Docker Hub.
    BuiltWithoutRegistry,
    /// A third-party image (the project does not build it): as written, as the container
    /// runtime resolves it (Docker Hub for a bare name).
    ThirdParty,
}

impl ImageRule {
    /// One line for `nestioc why`: which rule, and why it applied.
    #[must_use]
    pub fn explain(self, registry: Option<&str>) -> String {
        match self {
            ImageRule::ExplicitRegistry => {
                "as written: the name starts with a registry host".to_owned()
            }
            ImageRule::ProjectRegistry => format!(
                "the project registry `{}` is prefixed: the service builds its image (it has `language`, `source` or `dockerfile`)",
                registry.unwrap_or_default()
            ),
            ImageRule::BuiltWithoutRegistry => {
                "as written (Docker Hub): the service builds its image, but the project declares no `registry`".to_owned()
            }
            ImageRule::ThirdParty => {
                "as written: a third-party image (the service has no `language`, `source` or `dockerfile`), pulled as the container runtime resolves it".to_owned()
            }
        }
    }
}

/// An image name after [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The repository the pod pulls, as it is written into manifests.
    pub repository: String,
    pub rule: ImageRule,
}

/// Whether the first path component of an image name is a registry host rather than a
/// Docker Hub namespace: it has a `.` or a `:` (a port), or is `localhost` (the
/// distribution reference grammar's `splitDockerDomain`).
#[must_use]
pub fn names_registry(name: &str) -> bool {
    match name.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
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
