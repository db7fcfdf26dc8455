//! A deterministic generator of N-service topologies in the nestioc language, for the
//! benchmarks (`benches/pipeline.rs`, `scripts/bench.sh`) and for the test that parallel
//! and sequential builds give the same bytes (`tests/it/perf.rs`).
//!
//! Service `svc-i` requires `svc-(i-1)` and calls `svc-(i/2)` and `svc-(i/3)` optionally:
//! one long chain of required edges (as many release waves as services) and a wide
//! fan-in at the low numbers (`svc-1` has thousands of callers at N = 5,000). Every
//! service has a port (HTTP for even `i`, gRPC for odd), probes, resources, an
//! availability and a latency SLO; every 10th service rolls out as a canary, every 100th
//! is exposed through an Ingress. The project uses Istio, Argo CD, Fluentd, the four CI
//! systems and two environments, so that every target has work to do. The topology
//! compiles without a single diagnostic: the arithmetic (timeouts, retries, SLO ceilings,
//! tiers) is chosen to satisfy every check.

// Each user of this module (bench, example, test) needs a different part of it.
#![allow(dead_code)]

use std::fmt::Write as _;

const LANGUAGES: [&str; 6] = ["go", "rust", "node", "python", "java", "dotnet"];

/// The project file, `nestio.kdl`.
#[must_use]
pub(crate) fn project() -> String {
    r#"// A generated benchmark topology (benches/support/topology.rs).
project "bench" {
    registry "ghcr.io/acme"
    namespace "bench"
    mesh "istio"
    ci "github-actions" "gitlab" "circleci" "jenkins"
    cd "argocd" repository="https://github.com/acme/bench.git" path="generated"
    logging "fluentd" {
        elasticsearch "http://elasticsearch.logging.svc:9200"
    }
    defaults {
        resources cpu="100m" memory="128Mi"
        logs format="json"
    }
    environment "staging" {
        namespace "bench-staging"
        replicas-scale 0.5
    }
    environment "prod"
}
"#
    .to_owned()
}

/// The distinct services `svc-i` calls, the required one (`i-1`) first.
#[must_use]
pub(crate) fn dependencies(i: usize) -> Vec<usize> {
    if i == 0 {
        return Vec::new();
    }
    let mut deps: Vec<usize> = Vec::with_capacity(3);
    for d in [i - 1, i / 2, i / 3] {
        if d != i && !deps.contains(&d) {
            deps.push(d);
        }
    }
    deps
}

/// `services/svc-i.kdl`.
#[must_use]
pub(crate) fn service(i: usize) -> String {
    let mut s = String::with_capacity(1200);
    let name = format!("svc-{i}");
    let _ = writeln!(s, "service \"{name}\" {{");
    let _ = writeln!(s, "    owner \"team-{}\"", i % 20);
    let _ = writeln!(s, "    tier {}", if i < 10 { 1 } else { 2 });
    let _ = writeln!(s, "    image \"{name}\" tag=\"1.{}.{}\"", i % 7, i % 13);
    let language = LANGUAGES[i % LANGUAGES.len()];
    let _ = writeln!(s, "    language \"{language}\"");
    let _ = writeln!(s, "    source \"src/{name}\"");
    // The generated Dockerfile's entry point, stated (NST0317 warns of a guessed one).
    let main = match language {
        "go" => ".".to_owned(),
        "node" => "server.js".to_owned(),
        "python" => "main.py".to_owned(),
        "java" => "build/libs/app.jar".to_owned(),
        "dotnet" => format!("{name}.csproj"),
        _ => name.clone(),
    };
    let _ = writeln!(s, "    build main=\"{main}\"");
    let http = i.is_multiple_of(2);
    if http {
        let _ = writeln!(s, "    port \"http\" 8080 protocol=\"http\"");
        let _ = writeln!(s, "    probe \"http\" path=\"/healthz\" port=\"http\"");
    } else {
        let _ = writeln!(s, "    port \"grpc\" 50051 protocol=\"grpc\"");
        let _ = writeln!(s, "    probe \"grpc\" port=\"grpc\"");
    }
    let _ = writeln!(s, "    replicas 2 max=6 cpu-target=70");
    let _ = writeln!(
        s,
        "    resources cpu=\"100m\" memory=\"128Mi\" cpu-limit=\"500m\" memory-limit=\"256Mi\""
    );
    let _ = writeln!(s, "    env \"LOG_LEVEL\" \"info\"");
    for (k, d) in dependencies(i).into_iter().enumerate() {
        // Calls to svc-0 retry twice with a short timeout (3 × 100ms): exactly what a
        // caller's 300ms timeout allows, so no nested-timeout warning, and one retrying
        // hop per path keeps retry amplification at 3.
        let (timeout, retries) = if d == 0 { ("100ms", 2) } else { ("300ms", 0) };
        let _ = write!(
            s,
            "    depends-on \"svc-{d}\" env=\"SVC_{d}_ADDR\" timeout=\"{timeout}\""
        );
        if retries > 0 {
            let _ = write!(s, " retries={retries}");
        }
        if k > 0 {
            let _ = write!(s, " optional=#true");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "    slo \"availability\" target=99.9 window=\"30d\"");
    let _ = writeln!(
        s,
        "    slo \"latency\" target=99 threshold=\"500ms\" window=\"30d\""
    );
    if i.is_multiple_of(10) {
        s.push_str(
            "    rollout \"canary\" {\n        step weight=10 pause=\"5m\"\n        step weight=50 pause=\"10m\"\n        abort-if error-rate=\"1%\"\n    }\n",
        );
    }
    if i.is_multiple_of(100) {
        let _ = writeln!(
            s,
            "    expose host=\"{name}.example.com\" path=\"/\" tls-secret=\"{name}-tls\""
        );
    }
    s.push_str("}\n");
    s
}

/// Every file of an `n`-service project: (project-relative path, contents), sorted.
#[must_use]
pub(crate) fn files(n: usize) -> Vec<(String, String)> {
    let mut files = vec![("nestio.kdl".to_owned(), project())];
    let mut services: Vec<(String, String)> = (0..n)
        .map(|i| (format!("services/svc-{i}.kdl"), service(i)))
        .collect();
    services.sort();
    files.extend(services);
    files
}

/// Writes an `n`-service project into `dir` (created if needed); services left from a
/// larger `n` are removed.
pub(crate) fn write(n: usize, dir: &std::path::Path) -> std::io::Result<()> {
    let services = dir.join("services");
    std::fs::create_dir_all(&services)?;
    for entry in std::fs::read_dir(&services)? {
        let path = entry?.path();
        let name = path.file_name().map(|f| f.to_string_lossy().into_owned());
        if name.is_some_and(|f| f.starts_with("svc-") && f.ends_with(".kdl")) {
            std::fs::remove_file(&path)?;
        }
    }
    for (path, text) in files(n) {
        std::fs::write(dir.join(path), text)?;
    }
    Ok(())
}
