//! Exposure across environments: every environment of a project runs in one cluster,
//! behind one ingress gateway or controller, so no two of their Gateways or Ingresses may
//! claim the same host. The checks here are the real consumers' rules:
//!
//! - Istio's analyzer, IST0145 ConflictingGateways (istio/istio @ 86c9f01
//!   pkg/config/analysis/analyzers/gateway/conflictinggateway.go): two Gateways of different
//!   names whose selectors are equal (L78), on a server with the same port number (L115),
//!   with a host in common for the same `bind` (L121, `isGWConflict` L139, which uses
//!   pilot/pkg/model/gateway.go `CheckDuplicates` L583-595: exact string equality).
//! - ingress-nginx: "If the same path for the same host is defined in more than one
//!   Ingress, the oldest rule wins" (docs/how-it-works.md), and the admission webhook
//!   refuses the second ("host ... and path ... is already defined in ingress ...").

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{compile, root, shop_with_mesh, subdirs};

/// Every object of every environment of a project.
fn all_objects(dir: &Path) -> Vec<Value> {
    crate::policy::build(dir)
        .envs
        .into_iter()
        .flat_map(|(_, objects)| objects)
        .collect()
}

/// IST0145 between every pair of Istio Gateways: `(gateway, gateway, port, host)`.
fn conflicting_gateways(objects: &[Value]) -> Vec<String> {
    let gateways: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "Gateway"
                && o["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("networking.istio.io/"))
        })
        .collect();
    let full_name = |g: &Value| {
        format!(
            "{}/{}",
            g["metadata"]["namespace"].as_str().unwrap_or_default(),
            g["metadata"]["name"].as_str().unwrap_or_default()
        )
    };
    let mut out = Vec::new();
    for (i, a) in gateways.iter().enumerate() {
        for b in &gateways[i + 1..] {
            if full_name(a) == full_name(b) || a["spec"]["selector"] != b["spec"]["selector"] {
                continue;
            }
            for sa in a["spec"]["servers"].as_array().into_iter().flatten() {
                for sb in b["spec"]["servers"].as_array().into_iter().flatten() {
                    if sa["port"]["number"] != sb["port"]["number"] || sa["bind"] != sb["bind"] {
                        continue;
                    }
                    for h in sa["hosts"].as_array().into_iter().flatten() {
                        if sb["hosts"].as_array().into_iter().flatten().any(|x| x == h) {
                            out.push(format!(
                                "{} and {} on port {}: {h}",
                                full_name(a),
                                full_name(b),
                                sa["port"]["number"]
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Ingress rules that share a host and a path.
fn conflicting_ingresses(objects: &[Value]) -> Vec<String> {
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut out = Vec::new();
    for ing in objects.iter().filter(|o| o["kind"] == "Ingress") {
        // ingress-nginx skips an Ingress without a class unless its class is the
        // cluster's default, which its chart does not make it
        // (`controller.ingressClassResource.default: false`).
        assert_eq!(ing["spec"]["ingressClassName"], "nginx", "{ing}");
        let name = format!(
            "{}/{}",
            ing["metadata"]["namespace"].as_str().unwrap_or_default(),
            ing["metadata"]["name"].as_str().unwrap_or_default()
        );
        for rule in ing["spec"]["rules"].as_array().into_iter().flatten() {
            let host = rule["host"].as_str().unwrap_or_default().to_owned();
            for p in rule["http"]["paths"].as_array().into_iter().flatten() {
                let key = (host.clone(), p["path"].as_str().unwrap_or("/").to_owned());
                if let Some(other) = seen.insert(key.clone(), name.clone()) {
                    out.push(format!("{other} and {name}: {} {}", key.0, key.1));
                }
            }
        }
    }
    out
}

#[test]
fn no_two_environments_or_services_claim_a_host() {
    let mut projects: Vec<std::path::PathBuf> = subdirs(&root().join("examples"));
    projects.extend(subdirs(&root().join("tests/fixtures/valid")));
    let mut keep = Vec::new();
    for mesh in ["linkerd", "none"] {
        let (t, dir) = shop_with_mesh(mesh);
        keep.push(t);
        projects.push(dir);
    }
    let mut gateways = 0;
    for dir in &projects {
        let objects = all_objects(dir);
        gateways += objects.iter().filter(|o| o["kind"] == "Gateway").count();
        let c = conflicting_gateways(&objects);
        assert!(c.is_empty(), "{}: IST0145\n{}", dir.display(), c.join("\n"));
        let c = conflicting_ingresses(&objects);
        assert!(c.is_empty(), "{}: Ingress\n{}", dir.display(), c.join("\n"));
    }
    assert!(gateways >= 8, "{gateways}");
}

/// The hosts each environment serves, by service: `(env, service) -> hosts`.
fn served_hosts(dir: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let c = compile(dir, &nestioc::Options::default());
    let set = c.artifacts.expect("artifacts");
    let mut out = BTreeMap::new();
    for (path, art) in &set.files {
        let Some(rest) = path.strip_prefix("kubernetes/") else {
            continue;
        };
        let Some((env, file)) = rest.split_once('/') else {
            continue;
        };
        for o in serde_saphyr::from_multiple::<Value>(&art.contents).expect("yaml") {
            let hosts: Vec<String> = match o["kind"].as_str() {
                Some("Gateway") => o["spec"]["servers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| s["hosts"].as_array().cloned().unwrap_or_default())
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect(),
                Some("Ingress") => o["spec"]["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["host"].as_str().map(str::to_owned))
                    .collect(),
                Some("VirtualService") if o["spec"]["gateways"].is_array() => o["spec"]["hosts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect(),
                _ => continue,
            };
            let entry: &mut Vec<String> = out
                .entry((env.to_owned(), file.trim_end_matches(".yaml").to_owned()))
                .or_default();
            entry.extend(hosts);
            entry.sort();
            entry.dedup();
        }
    }
    out
}

#[test]
fn production_serves_the_declared_host_and_other_environments_their_own() {
    let dir = root().join("tests/fixtures/valid/environment-hosts");
    let hosts = served_hosts(&dir);
    let get = |env: &str, svc: &str| hosts[&(env.to_owned(), svc.to_owned())].clone();
    // prod syncs manually: the declared hosts.
    assert_eq!(get("prod", "frontend"), ["shop.example.com"]);
    assert_eq!(get("prod", "docs"), ["docs.example.com"]);
    assert_eq!(get("prod", "tenants"), ["*.tenants.example.com"]);
    // dev and staging sync automatically: `<env>.<host>`, `*.<env>.<domain>`.
    assert_eq!(get("dev", "frontend"), ["dev.shop.example.com"]);
    assert_eq!(get("staging", "frontend"), ["staging.shop.example.com"]);
    assert_eq!(get("dev", "tenants"), ["*.dev.tenants.example.com"]);
    // An environment's own `expose` wins.
    assert_eq!(get("staging", "docs"), ["docs-preview.example.com"]);
    assert_eq!(get("dev", "docs"), ["dev.docs.example.com"]);

    // Under an Ingress (no Istio) the same hosts, and a project with one environment
    // keeps the declared host.
    let tmp = tempfile::tempdir().expect("tmp");
    for (mesh, envs) in [
        ("none", "environment \"staging\"\n    environment \"prod\""),
        ("linkerd", ""),
    ] {
        std::fs::write(
            tmp.path().join("nestio.kdl"),
            format!(
                "project \"web\" {{\n    registry \"ghcr.io/acme\"\n    mesh \"{mesh}\"\n    {envs}\n}}\n\
                 service \"frontend\" {{\n    uses \"std/http-service\"\n    image \"frontend\" tag=\"1.0.0\"\n    expose host=\"shop.example.com\"\n}}\n"
            ),
        )
        .expect("write");
        let hosts = served_hosts(tmp.path());
        if envs.is_empty() {
            assert_eq!(
                hosts[&("default".to_owned(), "frontend".to_owned())],
                ["shop.example.com"]
            );
        } else {
            assert_eq!(
                hosts[&("prod".to_owned(), "frontend".to_owned())],
                ["shop.example.com"]
            );
            assert_eq!(
                hosts[&("staging".to_owned(), "frontend".to_owned())],
                ["staging.shop.example.com"]
            );
        }
    }
}

/// What NST0313 refuses is what Istio and ingress-nginx refuse: the same host on two
/// Gateways (any path), the same host and path on two Ingresses. Two services on one host
/// with different paths are fine behind an Ingress.
#[test]
fn conflicting_hosts_are_refused_as_the_gateways_would() {
    let tmp = tempfile::tempdir().expect("tmp");
    let project = |mesh: &str, blog_path: &str| {
        std::fs::write(
            tmp.path().join("nestio.kdl"),
            format!(
                "project \"web\" {{\n    registry \"ghcr.io/acme\"\n    mesh \"{mesh}\"\n}}\n\
                 service \"frontend\" {{\n    uses \"std/http-service\"\n    image \"frontend\" tag=\"1.0.0\"\n    expose host=\"shop.example.com\"\n}}\n\
                 service \"blog\" {{\n    uses \"std/http-service\"\n    image \"blog\" tag=\"1.0.0\"\n    expose host=\"shop.example.com\" path=\"{blog_path}\"\n}}\n"
            ),
        )
        .expect("write");
        let c = compile(tmp.path(), &nestioc::Options::default());
        let codes: Vec<&str> = c
            .analysis
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect();
        (codes.contains(&"NST0313"), c)
    };
    assert!(project("istio", "/blog").0, "Istio: one host, two Gateways");
    assert!(
        project("none", "/").0,
        "Ingress: one host and path, two Ingresses"
    );
    let (refused, c) = project("none", "/blog");
    assert!(!refused, "Ingress: one host, two paths");
    let set = c.artifacts.expect("artifacts");
    let objects: Vec<Value> = set
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("kubernetes/"))
        .flat_map(|(_, a)| serde_saphyr::from_multiple::<Value>(&a.contents).expect("yaml"))
        .collect();
    assert!(conflicting_ingresses(&objects).is_empty());
}
