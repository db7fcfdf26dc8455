//! Images: which repository a pod pulls (the project registry only for images the
//! project builds), what the standard library's database presets must mount for their
//! images to run under the pods' security defaults, and what a generated Dockerfile may
//! guess (NST0317) or must be told (`build`, `dockerfile`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{compile, render_human, root};

/// A scratch project from `(path, text)` files.
fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("project");
    for (path, text) in files {
        let to = dir.join(path);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::write(&to, text).expect("write");
    }
    (tmp, dir)
}

fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .expect("yaml")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// The rendered objects of `kubernetes/<env>/<service>.yaml`.
fn rendered(set: &nestioc::emit::ArtifactSet, env: &str, service: &str) -> Vec<Value> {
    let path = format!("kubernetes/{env}/{service}.yaml");
    let file = set.files.get(&path).unwrap_or_else(|| panic!("no {path}"));
    documents(&file.contents)
}

fn workload(objs: &[Value]) -> &Value {
    objs.iter()
        .find(|o| {
            ["Deployment", "StatefulSet", "Rollout", "CronJob"]
                .contains(&o["kind"].as_str().unwrap_or(""))
        })
        .expect("a workload")
}

fn pod_spec(w: &Value) -> &Value {
    if w["kind"] == "CronJob" {
        &w["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &w["spec"]["template"]["spec"]
    }
}

use crate::support::codes;

// ------------------------------------------------------------------ item 6: image names

#[test]
fn only_images_the_project_builds_get_the_project_registry() {
    // Kubernetes: "If you don't specify a registry hostname, Kubernetes assumes that you
    // mean the Docker public registry" (https://kubernetes.io/docs/concepts/containers/
    // images/#image-names); containerd normalises `redis` to docker.io/library/redis
    // (distribution/reference normalize.go). A third-party image written as `redis` must
    // reach the pod as written, not as `<project registry>/redis`, which nobody pushes.
    let (_t, dir) = project(&[(
        "nestio.kdl",
        r#"project "p" {
    registry "ghcr.io/acme"
}
service "cache" {
    image "redis" tag="alpine"
    port "redis" 6379 protocol="tcp"
    volume "data" path="/data" size="1Gi"
}
service "queue" {
    image "bitnami/rabbitmq" tag="4.1.2"
    port "amqp" 5672 protocol="tcp"
}
service "api" {
    uses "http-service"
    image "api" tag="1.0.0"
    source "src/api"
}
service "mirror" {
    uses "http-service"
    image "quay.io/acme/mirror" tag="2.0.0"
}
"#,
    )]);
    let c = compile(&dir, &nestioc::Options::default());
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    for (service, image) in [
        ("cache", "redis:alpine"),
        ("queue", "bitnami/rabbitmq:4.1.2"),
        ("api", "ghcr.io/acme/api:1.0.0"),
        ("mirror", "quay.io/acme/mirror:2.0.0"),
    ] {
        let objs = rendered(&set, "default", service);
        let container = &pod_spec(workload(&objs))["containers"][0];
        assert_eq!(container["image"], image, "{service}");
    }
}

fn nestioc_bin(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nestioc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nestioc");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn why_image_names_the_rule_that_applied() {
    let (_t, dir) = project(&[(
        "nestio.kdl",
        r#"project "p" {
    registry "ghcr.io/acme"
}
service "cache" {
    image "redis" tag="alpine"
    port "redis" 6379 protocol="tcp"
    volume "data" path="/data" size="1Gi"
}
service "api" {
    uses "http-service"
    image "api" tag="1.0.0"
    language "python"
    source "src/api"
    build main="api.py"
}
service "mirror" {
    uses "http-service"
    image "quay.io/acme/mirror" tag="2.0.0"
}
"#,
    )]);
    for (service, expect) in [
        (
            "cache",
            &[
                "final: redis:alpine",
                "a third-party image",
                "pulled from: docker.io/library/redis",
            ][..],
        ),
        (
            "api",
            &[
                "final: ghcr.io/acme/api:1.0.0",
                "the project registry `ghcr.io/acme` is prefixed",
                "here: `language` and `source`",
            ][..],
        ),
        (
            "mirror",
            &[
                "final: quay.io/acme/mirror:2.0.0",
                "the name starts with a registry host",
            ][..],
        ),
    ] {
        let (code, text) = nestioc_bin(&["why", service, "image"], &dir);
        assert_eq!(code, 0, "{text}");
        for e in expect {
            assert!(
                text.contains(e),
                "why {service} image: no `{e}` in:\n{text}"
            );
        }
    }
}

// ------------------------------------------------------------------ item 7: presets

/// What an official image's Dockerfile says about who it runs as and where it writes, read
/// for the exact tag the preset pins. Bumping a preset's version fails
/// `stdlib_presets_run_their_images_under_the_pod_security_defaults` until these are read
/// again from the new tag's Dockerfile.
struct ImageFacts {
    preset: &'static str,
    repository: &'static str,
    tag: &'static str,
    /// The image's own user and group.
    uid: u32,
    gid: u32,
    /// The entrypoint runs as any UID (not only root stepping down to `uid`).
    any_uid: bool,
    /// Directories the image writes to at run time.
    writes: &'static [&'static str],
}

const FACTS: &[ImageFacts] = &[
    // docker-library/redis, Dockerfile.template (the source of 7.4/debian/Dockerfile, from
    // which redis:7.4.1 was built; these lines are unchanged since 2019), at commit
    // e92049967d6b: `groupadd -r -g 999 redis; useradd -r -g redis -u 999 redis`;
    // `RUN mkdir /data && chown redis:redis /data`, `VOLUME /data`, `WORKDIR /data`
    // (Redis's `dir`, where it saves dump.rdb and the AOF, defaults to the working
    // directory). docker-entrypoint.sh: steps down with gosu only
    // `if [ "$1" = 'redis-server' -a "$(id -u)" = '0' ]` ("allow the container to be
    // started with `--user`", commit b9756ce3 "Allow arbitrary --user values"): as any
    // other UID it execs redis-server directly.
    ImageFacts {
        preset: "redis",
        repository: "docker.io/library/redis",
        tag: "7.4.1",
        uid: 999,
        gid: 999,
        any_uid: true,
        writes: &["/data"],
    },
    // docker-library/postgres, 16/bookworm/Dockerfile at commit 3a94d965ec ("Update 16 to
    // 16.4"): `groupadd -r postgres --gid=999`, `useradd -r -g postgres --uid=999`;
    // `install --directory --owner postgres --group postgres --mode 3777
    // /var/run/postgresql` (socket and lock file); `ENV PGDATA /var/lib/postgresql/data`
    // with "this 1777 will be replaced by 0700 at runtime (allows semi-arbitrary "--user"
    // values)", `VOLUME /var/lib/postgresql/data`. docker-entrypoint.sh: as a UID with no
    // passwd entry, initdb runs under nss_wrapper, whose passwd and group files it creates
    // with `mktemp` (in /tmp); `mkdir -p "$PGDATA"` and `chmod 00700 "$PGDATA"` on every
    // start.
    ImageFacts {
        preset: "postgres",
        repository: "docker.io/library/postgres",
        tag: "16.4",
        uid: 999,
        gid: 999,
        any_uid: true,
        writes: &["$PGDATA", "/var/run/postgresql", "/tmp"],
    },
];

#[test]
fn stdlib_presets_run_their_images_under_the_pod_security_defaults() {
    let (_t, dir) = project(&[(
        "nestio.kdl",
        r#"project "p" {
    registry "ghcr.io/acme"
}
service "cache" {
    uses "std/redis"
}
service "db" {
    uses "std/postgres"
}
"#,
    )]);
    let c = compile(&dir, &nestioc::Options::default());
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    let model = c.analysis.model.clone().expect("model");
    let set = c.artifacts.expect("artifacts");
    for (service, facts) in [("cache", &FACTS[0]), ("db", &FACTS[1])] {
        let svc = &model.services[service];
        assert!(svc.uses.iter().any(|u| u.ends_with(facts.preset)));
        // The facts were read for exactly this image and tag.
        assert_eq!(
            nestioc::lower::image::canonical(&svc.image.repository),
            facts.repository
        );
        assert_eq!(
            svc.image.tag.as_deref(),
            Some(facts.tag),
            "std/{}: the preset's version changed: read the new tag's Dockerfile and update FACTS",
            facts.preset
        );
        let objs = rendered(&set, "default", service);
        let spec = pod_spec(workload(&objs));
        let container = &spec["containers"][0];
        let sc = &spec["securityContext"];
        let uid = sc["runAsUser"].as_u64().expect("runAsUser");
        let gid = sc["runAsGroup"].as_u64().expect("runAsGroup");
        // The pods run as UID/GID 10001 (a high UID: checkov CKV_K8S_40), not as the
        // image's 999: the image must accept any UID, which its entrypoint does.
        assert!(
            (uid, gid) == (u64::from(facts.uid), u64::from(facts.gid)) || facts.any_uid,
            "{service}: runs as {uid}:{gid}, the image as {}:{} and only as that",
            facts.uid,
            facts.gid
        );
        // Volumes are writable by that UID: emptyDir is world-writable, and a PVC gets the
        // pod's fsGroup (https://kubernetes.io/docs/tasks/configure-pod-container/
        // security-context/#set-the-security-context-for-a-pod).
        assert_eq!(sc["fsGroup"].as_u64(), Some(gid), "{service}: fsGroup");
        assert_eq!(
            container["securityContext"]["readOnlyRootFilesystem"], true,
            "{service}"
        );
        let mounts: Vec<&str> = container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter_map(|m| m["mountPath"].as_str())
            .collect();
        let env = |name: &str| {
            container["env"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["name"] == name)
                .and_then(|e| e["value"].as_str())
                .map(str::to_owned)
        };
        for w in facts.writes {
            let path = match *w {
                "$PGDATA" => env("PGDATA").unwrap_or_else(|| "/var/lib/postgresql/data".into()),
                p => p.to_owned(),
            };
            let mount = mounts
                .iter()
                .find(|m| path == **m || path.starts_with(&format!("{m}/")))
                .unwrap_or_else(|| {
                    panic!("{service}: the image writes to {path}, under no volume ({mounts:?})")
                });
            if *w == "$PGDATA" {
                // initdb refuses a non-empty directory, and a volume's root may hold
                // `lost+found`: PGDATA is a subdirectory of the mount (Docker Hub's postgres
                // documentation, PGDATA: "a subdirectory of the mount point").
                assert_ne!(path, *mount, "{service}: PGDATA is the volume's root");
            }
        }
        // The compiler's own table (NST0318) agrees with the Dockerfiles.
        let pgdata = env("PGDATA");
        for (dir, _) in nestioc::lower::image::data_dirs(
            &svc.image.repository,
            svc.image.tag.as_deref(),
            pgdata.as_deref(),
        ) {
            assert!(
                facts
                    .writes
                    .iter()
                    .any(|w| *w == dir
                        || (*w == "$PGDATA" && pgdata.as_deref() == Some(dir.as_str()))),
                "{service}: NST0318 checks {dir}, which the Dockerfile does not write"
            );
        }
    }
}

#[test]
fn a_hand_written_redis_without_a_data_volume_is_warned() {
    let (_t, dir) = project(&[(
        "nestio.kdl",
        r#"project "p" {
    registry "ghcr.io/acme"
}
service "cache" {
    image "redis" tag="7.4.1"
    port "redis" 6379 protocol="tcp"
}
service "db" {
    image "docker.io/library/postgres" tag="17.5"
    port "postgres" 5432 protocol="tcp"
    volume "data" path="/var/lib/postgresql/data" size="10Gi" persistent=#true
}
service "db18" {
    image "postgres" tag="18.1"
    port "postgres" 5432 protocol="tcp"
    volume "data" path="/var/lib/postgresql/data" size="10Gi" persistent=#true
    volume "run" path="/var/run/postgresql" size="16Mi"
}
"#,
    )]);
    let c = compile(&dir, &nestioc::Options::default());
    let text = render_human(&c.analysis);
    assert!(!c.analysis.has_errors(), "{text}");
    let warned: Vec<String> = c
        .analysis
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "NST0318")
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(
        warned,
        [
            "`cache` runs `redis` but no volume is mounted at `/data`",
            "`db` runs `docker.io/library/postgres` but no volume is mounted at `/var/run/postgresql`",
            // PostgreSQL 18 moved PGDATA to /var/lib/postgresql/18/docker (docker-library/
            // postgres 18/trixie/Dockerfile: "in 18+, PGDATA has changed").
            "`db18` runs `postgres` but no volume is mounted at `/var/lib/postgresql/18/docker`",
        ],
        "{text}"
    );
}

// ------------------------------------------------------------------ item 8: Dockerfiles

fn dockerfile(set: &nestioc::emit::ArtifactSet, service: &str) -> String {
    set.files
        .get(&format!("docker/{service}/Dockerfile"))
        .unwrap_or_else(|| panic!("no docker/{service}/Dockerfile"))
        .contents
        .clone()
}

fn entrypoint(dockerfile: &str) -> &str {
    dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT")
}

#[test]
fn a_generated_dockerfile_warns_of_each_guess_and_build_states_it() {
    let services = [
        ("go", "http-service"),
        ("rust", "worker"),
        ("node", "http-service"),
        ("python", "http-service"),
        ("java", "http-service"),
        ("dotnet", "grpc-service"),
    ];
    let mut text = String::from("project \"p\" {\n    registry \"ghcr.io/acme\"\n}\n");
    for (lang, template) in services {
        text.push_str(&format!(
            "service \"{lang}-app\" {{\n    uses \"{template}\"\n    image \"{lang}-app\" tag=\"1.0.0\"\n    language \"{lang}\"\n    source \"src/{lang}\"\n}}\n"
        ));
    }
    let (_t, dir) = project(&[("nestio.kdl", &text)]);
    let c = compile(&dir, &nestioc::Options::default());
    let human = render_human(&c.analysis);
    let warned: Vec<(String, String)> = c
        .analysis
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "NST0317")
        .map(|d| {
            (
                d.message.clone(),
                d.labels
                    .first()
                    .map(|l| l.message.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    // The guesses of issue 15, item 8 (Online Boutique v0.10.6): Python's `main.py`; Node's
    // entry point (`node /app` loads package.json's `main`, else index.js:
    // https://nodejs.org/api/modules.html#folders-as-modules); a Gradle `application` jar
    // run with `java -jar` (its jar has neither a Main-Class nor its dependencies:
    // https://docs.gradle.org/current/userguide/application_plugin.html, "installDist"
    // builds the runnable distribution); Go without its templates/ and static/. .NET
    // guesses nothing: its gRPC port is now Kestrel's (below).
    let expect = [
        ("go-app", "copies only the binary"),
        ("rust-app", "copies only the binary"),
        ("node-app", "runs `node /app`"),
        ("python-app", "runs `python main.py`"),
        ("java-app", "`java -jar`"),
    ];
    for (service, guess) in expect {
        assert!(
            warned
                .iter()
                .any(|(m, l)| m.contains(&format!("`{service}`")) && l.contains(guess)),
            "{service}: no NST0317 naming `{guess}`:\n{human}"
        );
    }
    assert!(
        !warned.iter().any(|(m, _)| m.contains("dotnet-app")),
        "{human}"
    );
    for (m, _) in &warned {
        let d = c
            .analysis
            .diagnostics
            .iter()
            .find(|d| d.message == *m)
            .expect("diagnostic");
        let help = d.help.as_deref().unwrap_or_default();
        assert!(
            help.contains("`build") && help.contains("dockerfile \"src/"),
            "the help names both fixes: {help}"
        );
    }

    // Stated: no warning, and the Dockerfiles run what `build` says.
    let mut stated = String::from("project \"p\" {\n    registry \"ghcr.io/acme\"\n}\n");
    for (lang, template, build) in [
        (
            "go",
            "http-service",
            "build main=\"./cmd/server\" {\n        copy \"templates\" \"static\"\n    }",
        ),
        ("rust", "worker", "build"),
        ("node", "http-service", "build main=\"server.js\""),
        ("python", "http-service", "build main=\"email_server.py\""),
        (
            "java",
            "http-service",
            "build main=\"build/libs/app-all.jar\"",
        ),
        (
            "dotnet",
            "grpc-service",
            "build main=\"src/App/App.csproj\"",
        ),
    ] {
        stated.push_str(&format!(
            "service \"{lang}-app\" {{\n    uses \"{template}\"\n    image \"{lang}-app\" tag=\"1.0.0\"\n    language \"{lang}\"\n    source \"src/{lang}\"\n    {build}\n}}\n"
        ));
    }
    let (_t2, dir2) = project(&[("nestio.kdl", &stated)]);
    let c = compile(&dir2, &nestioc::Options::default());
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    let go = dockerfile(&set, "go-app");
    assert!(go.contains(" -o /out/go-app ./cmd/server\n"), "{go}");
    // A package that is not `main` builds an ar archive with `go build -o`
    // (https://github.com/golang/go/issues/20017): checked before the build.
    assert!(
        go.contains(r#"if [ "$(go list -f '{{.Name}}' ./cmd/server)" != main ]; then"#),
        "{go}"
    );
    assert!(
        go.contains("COPY --from=build /src/templates /app/templates\n"),
        "{go}"
    );
    assert!(
        go.contains("COPY --from=build /src/static /app/static\n"),
        "{go}"
    );
    assert!(go.contains("WORKDIR /app\n"), "{go}");
    assert_eq!(
        entrypoint(&dockerfile(&set, "node-app")),
        r#"["node", "server.js"]"#
    );
    assert_eq!(
        entrypoint(&dockerfile(&set, "python-app")),
        r#"["python", "email_server.py"]"#
    );
    let java = dockerfile(&set, "java-app");
    assert!(
        java.contains("&& cp build/libs/app-all.jar /out/app.jar\n"),
        "{java}"
    );
    let dotnet = dockerfile(&set, "dotnet-app");
    assert!(
        dotnet.contains("dotnet publish src/App/App.csproj --configuration Release"),
        "{dotnet}"
    );
}

#[test]
fn a_python_module_runs_with_dash_m() {
    let (_t, dir) = project(&[(
        "nestio.kdl",
        r#"project "p" {
    registry "ghcr.io/acme"
}
service "quotes" {
    uses "http-service"
    image "quotes" tag="1.0.0"
    language "python"
    source "src/quotes"
    build main="quotes.app"
}
"#,
    )]);
    let c = compile(&dir, &nestioc::Options::default());
    let set = c.artifacts.expect("artifacts");
    // `python -m module` runs a module as a script (https://docs.python.org/3/using/cmdline.html#cmdoption-m).
    assert_eq!(
        entrypoint(&dockerfile(&set, "quotes")),
        r#"["python", "-m", "quotes.app"]"#
    );
}

#[test]
fn dotnet_kestrel_listens_on_the_grpc_ports_with_http2() {
    // Kestrel listens on ASPNETCORE_HTTP_PORTS (the aspnet images default it to 8080), so
    // a gRPC-only service without it listens on the wrong port. Without TLS, HTTP/2 needs
    // an endpoint configured for HTTP/2 alone: "Http1AndHttp2 requires TLS for ALPN
    // protocol negotiation. You either need separate ports for HTTP/1.1 and HTTP/2, or use
    // TLS" (grpc-dotnet maintainer, https://github.com/grpc/grpc-dotnet/issues/979).
    // Configuration keys from environment variables use `__` for `:`
    // (https://learn.microsoft.com/aspnet/core/fundamentals/configuration/#non-prefixed-environment-variables).
    let c = compile(
        &root().join("tests/fixtures/valid/docker-languages"),
        &nestioc::Options::default(),
    );
    let set = c.artifacts.expect("artifacts");
    let rates = dockerfile(&set, "rates");
    assert!(
        rates.contains("\nENV ASPNETCORE_HTTP_PORTS=50051\n"),
        "{rates}"
    );
    assert!(
        rates.contains("\nENV Kestrel__EndpointDefaults__Protocols=Http2\n"),
        "{rates}"
    );
    let notifier = dockerfile(&set, "notifier");
    assert!(!notifier.contains("ASPNETCORE_HTTP_PORTS"), "{notifier}");
    assert!(
        notifier.contains(
            "\nENV Kestrel__Endpoints__port5000__Url=http://+:5000 Kestrel__Endpoints__port5000__Protocols=Http1\n"
        ),
        "{notifier}"
    );
    assert!(
        notifier.contains(
            "\nENV Kestrel__Endpoints__port5001__Url=http://+:5001 Kestrel__Endpoints__port5001__Protocols=Http2\n"
        ),
        "{notifier}"
    );
}

#[test]
fn an_own_dockerfile_is_built_by_ci_and_none_is_generated() {
    let (_t, dir) = project(&[(
        "nestio.kdl",
        r#"project "p" {
    registry "ghcr.io/acme"
    ci "github-actions" "gitlab" "circleci" "jenkins"
}
service "frontend" {
    uses "http-service"
    image "frontend" tag="0.10.6"
    language "go"
    source "src/frontend"
    dockerfile "src/frontend/Dockerfile"
}
service "tools" {
    uses "worker"
    image "tools" tag="1.0.0"
    source "src/tools"
    dockerfile "docker/tools.Dockerfile"
}
"#,
    )]);
    let c = compile(&dir, &nestioc::Options::default());
    assert!(
        c.analysis.diagnostics.is_empty(),
        "{}",
        render_human(&c.analysis)
    );
    let set = c.artifacts.expect("artifacts");
    assert!(
        !set.files.keys().any(|p| p.starts_with("docker/")),
        "no Dockerfile is generated"
    );
    let github = &set.files["ci/.github/workflows/frontend.yml"].contents;
    assert!(github.contains("file: src/frontend/Dockerfile"), "{github}");
    assert!(!github.contains("generated/docker/frontend"), "{github}");
    let tools = &set.files["ci/.github/workflows/tools.yml"].contents;
    assert!(tools.contains("file: docker/tools.Dockerfile"), "{tools}");
    // A Dockerfile outside the source directory runs the pipeline when it changes.
    assert!(tools.contains("- docker/tools.Dockerfile"), "{tools}");
    for (file, needle) in [
        (
            "ci/.gitlab-ci.yml",
            "docker build -f src/frontend/Dockerfile -t ghcr.io/acme/frontend:",
        ),
        (
            "ci/.circleci/continue_config.yml",
            "docker build -f src/frontend/Dockerfile -t ghcr.io/acme/frontend:",
        ),
        ("ci/Jenkinsfile", "docker build -f src/frontend/Dockerfile"),
    ] {
        let text = &set.files[file].contents;
        assert!(text.contains(needle), "{file}: no `{needle}`");
    }
}

#[test]
fn build_and_dockerfile_need_what_they_describe() {
    let (_t, dir) = project(&[(
        "nestio.kdl",
        r#"project "p" {
    registry "ghcr.io/acme"
}
service "a" {
    uses "http-service"
    image "a" tag="1.0.0"
    build main="server.js"
}
service "b" {
    uses "http-service"
    image "b" tag="1.0.0"
    dockerfile "src/b/Dockerfile"
}
service "c" {
    uses "http-service"
    image "c" tag="1.0.0"
    language "node"
    source "src/c"
    dockerfile "src/c/Dockerfile"
    build main="server.js"
}
service "d" {
    uses "http-service"
    image "d" tag="1.0.0"
    language "java"
    source "src/d"
    build main="build/libs/d.war"
}
service "e" {
    uses "http-service"
    image "e" tag="1.0.0"
    language "go"
    source "src/e"
    build main="../e" {
        copy "-rf"
    }
}
"#,
    )]);
    let c = compile(&dir, &nestioc::Options::default());
    let text = render_human(&c.analysis);
    let got = codes(&c);
    assert_eq!(
        got.iter().filter(|c| **c == "NST0118").count(),
        2,
        "`build` without language, `dockerfile` without source:\n{text}"
    );
    assert!(got.contains(&"NST0115"), "build with dockerfile:\n{text}");
    assert!(
        text.contains("`build/libs/d.war` is not a java entry point"),
        "{text}"
    );
    assert!(text.contains("invalid entry point `../e`"), "{text}");
    assert!(text.contains("invalid path to copy `-rf`"), "{text}");
}

// ------------------------------------------------------------------ item 21: pod details

const POD_DETAILS: &str = r#"project "p" {
    registry "ghcr.io/acme"
    mesh "linkerd"
    environment "staging" {
        replicas-scale 0.5
    }
    environment "prod"
}
service "web" {
    uses "http-service"
    image "web" tag="1.0.0"
    source "src/web"
    replicas 2
}
service "pinned" {
    uses "http-service"
    image "pinned" digest="sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    source "src/pinned"
    replicas 1
}
service "sha" {
    uses "http-service"
    image "sha" tag="3d3c42e5aac5ba805825da76410c181273ba90b1"
    source "src/sha"
    replicas 1 max=4
}
service "jobs" {
    uses "worker"
    image "jobs" tag="2.0.0"
    source "src/jobs"
    replicas 3
}
service "nightly" {
    uses "std/cron-job" schedule="0 3 * * *"
    image "nightly" tag="1.0.0"
    source "src/nightly"
}
service "db" {
    uses "std/postgres"
}
"#;

#[test]
fn immutable_references_are_pulled_if_not_present() {
    // "Always: every time the kubelet launches a container, the kubelet queries the
    // container image registry to resolve the name to an image digest": worth it for a tag
    // that can move, a registry round trip (and a registry outage blocking every restart)
    // for one that cannot; a digest or a commit SHA is immutable
    // (https://kubernetes.io/docs/concepts/containers/images/#image-pull-policy).
    let (_t, dir) = project(&[("nestio.kdl", POD_DETAILS)]);
    let c = compile(&dir, &nestioc::Options::default());
    assert!(!c.analysis.has_errors(), "{}", render_human(&c.analysis));
    let set = c.artifacts.expect("artifacts");
    for (service, policy) in [
        ("web", "Always"),
        ("pinned", "IfNotPresent"),
        ("sha", "IfNotPresent"),
    ] {
        let objs = rendered(&set, "prod", service);
        assert_eq!(
            pod_spec(workload(&objs))["containers"][0]["imagePullPolicy"],
            policy,
            "{service}"
        );
    }
    // CI deploys the commit SHA as the tag (`argocd app set --helm-set
    // nestio-service.image.tag=$SHA`):
    // the real Helm must derive IfNotPresent from that tag, not keep the values' policy.
    let Some(helm) = crate::support::validator("helm (pull policy)", "helm") else {
        return;
    };
    let out_dir = tempfile::tempdir().expect("tmp");
    for (path, a) in set.files.iter().filter(|(p, _)| p.starts_with("helm/")) {
        let to = out_dir.path().join(path);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::write(&to, &a.contents).expect("write");
    }
    let vendored = tempfile::tempdir().expect("tmp");
    let chart = crate::support::vendor_chart(&out_dir.path().join("helm"), "web", vendored.path());
    for (tag, policy) in [
        ("3d3c42e5aac5ba805825da76410c181273ba90b1", "IfNotPresent"),
        ("3d3c42e", "IfNotPresent"),
        ("1.0.1", "Always"),
    ] {
        let out = Command::new(&helm)
            .arg("template")
            .arg("web")
            .arg(&chart)
            .args([
                "--namespace",
                "p",
                "--set-string",
                // The service chart holds its values under the shared chart's key.
                &format!("{}.image.tag={tag}", crate::support::SHARED_CHART),
            ])
            .output()
            .expect("helm template");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let objs = documents(&text);
        let container = &pod_spec(workload(&objs))["containers"][0];
        assert_eq!(container["image"], format!("ghcr.io/acme/web:{tag}"));
        assert_eq!(container["imagePullPolicy"], policy, "tag {tag}");
    }
}

#[test]
fn replicated_services_spread_over_zones_and_nodes() {
    // Pod topology spread constraints: zones, then nodes; `ScheduleAnyway` keeps a
    // one-zone cluster schedulable; the selector matches the pods' own labels; and
    // `matchLabelKeys: [pod-template-hash]` spreads each revision on its own
    // (https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/).
    let (_t, dir) = project(&[("nestio.kdl", POD_DETAILS)]);
    let c = compile(&dir, &nestioc::Options::default());
    let set = c.artifacts.expect("artifacts");
    for (env, service, spread) in [
        ("prod", "web", true),      // 2 replicas
        ("staging", "web", false),  // scaled to 1, no autoscaler
        ("prod", "sha", true),      // 1 replica, autoscaled to 4
        ("staging", "sha", true),   // autoscaled to 2
        ("prod", "pinned", false),  // 1 replica
        ("prod", "jobs", true),     // a worker with 3 replicas
        ("prod", "nightly", false), // a CronJob
    ] {
        let objs = rendered(&set, env, service);
        let w = workload(&objs);
        let spec = pod_spec(w);
        let constraints = spec["topologySpreadConstraints"].as_array();
        assert_eq!(constraints.is_some(), spread, "{env}/{service}");
        let Some(constraints) = constraints else {
            continue;
        };
        let keys: Vec<&str> = constraints
            .iter()
            .filter_map(|c| c["topologyKey"].as_str())
            .collect();
        assert_eq!(
            keys,
            ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        );
        let pod_labels = w["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .expect("labels");
        for c in constraints {
            assert_eq!(c["whenUnsatisfiable"], "ScheduleAnyway");
            assert_eq!(c["maxSkew"], 1);
            for (k, v) in c["labelSelector"]["matchLabels"]
                .as_object()
                .expect("selector")
            {
                assert_eq!(pod_labels.get(k), Some(v), "{env}/{service}: selector {k}");
            }
            assert_eq!(
                c["matchLabelKeys"],
                serde_json::json!(["pod-template-hash"])
            );
        }
    }
}

#[test]
fn serving_pods_drain_before_they_stop() {
    // The Pod leaves its Services' EndpointSlices as the preStop hook starts; the hook's
    // sleep keeps the process serving while every proxy learns it, within
    // terminationGracePeriodSeconds, which counts the hook
    // (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination).
    // A `sleep` action (no shell or `sleep` binary needed in distroless images under a
    // read-only root). Linkerd's proxy "refuses all new requests" once it gets TERM, so it
    // is told to wait longer than the app's preStop and within the grace period
    // (https://linkerd.io/2/tasks/graceful-shutdown/).
    let (_t, dir) = project(&[("nestio.kdl", POD_DETAILS)]);
    let c = compile(&dir, &nestioc::Options::default());
    let set = c.artifacts.expect("artifacts");
    for (service, drains) in [
        ("web", true),
        ("sha", true),
        ("jobs", false),    // a worker: no Service sends it requests
        ("nightly", false), // a CronJob
        ("db", false),      // Recreate: no other replica takes over while it stops
    ] {
        let objs = rendered(&set, "prod", service);
        let w = workload(&objs);
        let spec = pod_spec(w);
        let grace = spec["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("terminationGracePeriodSeconds");
        let container = &spec["containers"][0];
        let sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64();
        assert_eq!(sleep.is_some(), drains, "{service}");
        assert!(
            container["lifecycle"]["preStop"]["exec"].is_null(),
            "{service}: no exec hook under a read-only root"
        );
        let annotations = if w["kind"] == "CronJob" {
            &w["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
        } else {
            &w["spec"]["template"]["metadata"]["annotations"]
        };
        let proxy_wait = annotations["config.alpha.linkerd.io/proxy-wait-before-exit-seconds"]
            .as_str()
            .map(|s| s.parse::<u64>().expect("seconds"));
        if let Some(sleep) = sleep {
            assert!(
                sleep >= 5 && sleep < grace,
                "{service}: sleep {sleep} of {grace}"
            );
            let wait = proxy_wait.expect("the Linkerd proxy waits");
            assert!(
                sleep < wait && wait <= grace,
                "{service}: {sleep} < {wait} <= {grace}"
            );
        } else {
            assert!(proxy_wait.is_none(), "{service}");
        }
    }
}

#[test]
fn the_language_server_completes_build_and_dockerfile() {
    // Completion reads the language table (compiler/src/lang.rs): the new nodes and their
    // property come with it.
    let snapshot = nestioc::lsp::features::Snapshot {
        sources: nestioc::source::SourceMap::new(),
        docs: Vec::new(),
        model: None,
        diagnostics: Vec::new(),
    };
    let labels = |text: &str| -> Vec<String> {
        let offset = text.find('|').expect("cursor");
        let text = text.replacen('|', "", 1);
        snapshot
            .complete(&text, offset)
            .into_iter()
            .map(|(label, _, _)| label)
            .collect()
    };
    let in_service = labels("service \"web\" {\n    |\n}\n");
    for n in ["build", "dockerfile"] {
        assert!(in_service.iter().any(|l| l == n), "{n}: {in_service:?}");
    }
    let in_build = labels("service \"web\" {\n    build {\n        |\n    }\n}\n");
    assert_eq!(in_build, ["copy"]);
    let props = labels("service \"web\" {\n    build |\n}\n");
    assert!(props.iter().any(|l| l.starts_with("main")), "{props:?}");
}
