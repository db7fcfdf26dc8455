//! Merge rules and precedence, asserted value by value on
//! `tests/fixtures/valid/merge-precedence` (its snapshot shows the generated files).

use nestioc::model::{EnvValue, Service};

use crate::support::{compile, root};

fn env(s: &Service, name: &str) -> Option<String> {
    s.env
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| match &e.value {
            EnvValue::Literal(v) => Some(v.clone()),
            _ => None,
        })
}

#[test]
fn precedence_is_defaults_templates_service_environment() {
    let c = compile(
        &root().join("tests/fixtures/valid/merge-precedence"),
        &nestioc::Options::default(),
    );
    let model = c.analysis.model.expect("model");
    let api = &model.services["api"];
    let worker = &model.services["worker"];

    // defaults < template < service: each level replaces a single entry as a whole.
    assert_eq!(
        api.owner.as_deref(),
        Some("platform-team"),
        "kept from defaults"
    );
    assert_eq!(
        api.resources.cpu.text, "200m",
        "the service's own entry wins"
    );
    assert_eq!(
        worker.resources.cpu.text, "100m",
        "the template wins over defaults"
    );
    assert_eq!(worker.resources.memory.text, "128Mi");

    // Named entries merge by name: new names append, same names replace.
    assert_eq!(
        env(api, "REGION").as_deref(),
        Some("eu-west-1"),
        "kept from defaults"
    );
    assert_eq!(
        env(worker, "LOG_LEVEL").as_deref(),
        Some("warn"),
        "defaults only"
    );
    assert_eq!(
        env(api, "LOG_LEVEL").as_deref(),
        Some("trace"),
        "`uses \"base\" \"tracing\"`: the later template wins"
    );
    let ports: Vec<(&str, u16)> = api
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.port))
        .collect();
    assert_eq!(
        ports,
        [("http", 9090), ("admin", 9100)],
        "template port replaced by parameter, service port appended"
    );

    // Parameters: passed, defaulted, implicit, and formatted.
    assert_eq!(
        env(api, "OTEL_SERVICE_NAME").as_deref(),
        Some("api"),
        "`(param)\"service\"`"
    );
    assert_eq!(
        env(api, "FEATURE_FLAGS").as_deref(),
        Some("api-defaults"),
        "`(fmt)\"{{service}}-defaults\"`"
    );
    assert_eq!(
        api.source_path.as_deref(),
        Some("services/api"),
        "`(fmt)` in defaults"
    );
    assert_eq!(worker.source_path.as_deref(), Some("services/worker"));
    assert_eq!(api.uses, ["std/http-service", "base", "tracing"]);

    // The environment's override wins over everything, and is not scaled.
    let staging_api = &model.env_services["staging"]["api"];
    assert_eq!(env(staging_api, "LOG_LEVEL").as_deref(), Some("debug"));
    assert_eq!(staging_api.image.tag.as_deref(), Some("2.0.0-rc.1"));
    assert!(staging_api.replicas.fixed);
    let staging = model
        .project
        .environments()
        .into_iter()
        .find(|e| e.name == "staging")
        .expect("staging");
    assert_eq!(
        nestioc::emit::chart::scaled(staging_api, Some(&staging)).replicas,
        1
    );
    assert_eq!(
        nestioc::emit::chart::scaled(worker, Some(&staging)).replicas,
        2,
        "4 x 0.5"
    );
    assert!(
        !model
            .env_services
            .get("prod")
            .is_some_and(|m| m.contains_key("api"))
    );
}

#[test]
fn environment_values_carry_only_what_the_environment_changes() {
    let c = compile(
        &root().join("tests/fixtures/valid/merge-precedence"),
        &nestioc::Options::default(),
    );
    let set = c.artifacts.expect("artifacts");
    let staging = &set.files["helm/api/values-staging.yaml"].contents;
    assert!(staging.contains("tag: 2.0.0-rc.1"), "{staging}");
    assert!(staging.contains("value: debug"), "{staging}");
    // Helm replaces lists whole: the changed env list is written in full...
    assert!(staging.contains("REGION"), "{staging}");
    // ...while unchanged values stay out.
    assert!(
        !staging.contains("ports:") && !staging.contains("resources:"),
        "{staging}"
    );
    let prod = &set.files["helm/api/values-prod.yaml"].contents;
    assert!(!prod.contains("image"), "{prod}");
}

/// `defaults { depends-on "cache" }` is every other service's dependency: the cache does
/// not get an edge to itself (it was NST0207, with no way to leave one service out).
#[test]
fn a_default_dependency_skips_the_service_it_names() {
    let set = crate::support::compile_kdl(
        r#"project "p" {
    registry "ghcr.io/acme"
    defaults {
        depends-on "cache" env="CACHE_ADDR"
    }
}
service "cache" {
    uses "std/redis"
}
service "api" {
    uses "std/http-service"
    image "api" tag="1.0.0"
}
"#,
    );
    let api = &set.files["kubernetes/default/api.yaml"].contents;
    assert!(api.contains("CACHE_ADDR"), "{api}");
    let cache = &set.files["kubernetes/default/cache.yaml"].contents;
    assert!(!cache.contains("CACHE_ADDR"), "{cache}");
}

/// A variable is one variable whatever sets it: a later layer's `env-secret` replaces an
/// earlier `env` of the same name and the other way round (templates.md: the service's own
/// entries win, the environment's override wins over everything). It was NST0111, "set
/// twice", which made "a literal in staging, a Secret in production" impossible.
#[test]
fn a_later_layer_switches_a_variable_between_literal_and_secret() {
    let set = crate::support::compile_kdl(
        r#"project "p" {
    registry "ghcr.io/acme"
    environment "staging"
    environment "prod" {
        service "api" {
            env-secret "SENTRY_DSN" secret="sentry" key="dsn"
        }
    }
}
template "base" {
    env-secret "DB_URL" secret="db" key="url"
}
service "api" {
    uses "std/http-service" "base"
    image "api" tag="1.0.0"
    env "SENTRY_DSN" "https://public@sentry.example.com/1"
    env "DB_URL" "postgres://localhost/dev"
}
"#,
    );
    let env_of = |file: &str| -> Vec<serde_json::Value> {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple::<serde_json::Value>(&set.files[file].contents)
                .expect("yaml");
        let d = docs
            .iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("Deployment");
        d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .expect("env")
            .clone()
    };
    let var = |env: &[serde_json::Value], name: &str| -> Vec<serde_json::Value> {
        env.iter().filter(|e| e["name"] == name).cloned().collect()
    };
    let staging = env_of("kubernetes/staging/api.yaml");
    let prod = env_of("kubernetes/prod/api.yaml");
    // The service's literal wins over the template's Secret, in every environment.
    for env in [&staging, &prod] {
        let db = var(env, "DB_URL");
        assert_eq!(db.len(), 1, "{db:?}");
        assert_eq!(db[0]["value"], "postgres://localhost/dev");
    }
    let dsn = var(&staging, "SENTRY_DSN");
    assert_eq!(dsn.len(), 1, "{dsn:?}");
    assert_eq!(dsn[0]["value"], "https://public@sentry.example.com/1");
    // Production's Secret wins over the service's literal.
    let dsn = var(&prod, "SENTRY_DSN");
    assert_eq!(dsn.len(), 1, "{dsn:?}");
    assert_eq!(dsn[0]["valueFrom"]["secretKeyRef"]["name"], "sentry");
}
