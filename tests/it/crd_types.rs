//! The typed custom resources (`nestioc::emit::chart::crd`) against the real CRDs
//! (`.go-validators/crds/<plural>.<group>.yaml`, from `scripts/install-validators.sh`):
//!
//! - every field a spec's type can write exists in the CRD's `openAPIV3Schema`, for the
//!   version the type writes, at the same place and with a compatible type (and an enum's
//!   values among the CRD's), so a misspelt or misplaced field fails here even when no
//!   example sets it; and every field the CRD requires, the type always writes;
//! - every object of those kinds that the examples and the valid fixtures emit passes the
//!   CRD's whole schema.
//!
//! A CRD that is missing skips its spec, unless NESTIOC_REQUIRE_VALIDATORS=1.

use std::collections::BTreeMap;
use std::path::Path;

use nestioc::emit::chart::crd::{SpecSchema, spec_schemas};
use serde_json::Value;

use crate::support::{compile, fixture_options, go_validators, root, subdirs};

/// The CRD's `openAPIV3Schema` for the spec's version, or `None` (and a SKIPPED line)
/// when the CRD is not installed.
fn crd_schema(spec: &SpecSchema) -> Option<Value> {
    let path = go_validators().join("crds").join(spec.crd_file());
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var_os("NESTIOC_REQUIRE_VALIDATORS").is_none_or(|v| v != "1"),
            "{}: not found; NESTIOC_REQUIRE_VALIDATORS=1 makes that an error",
            path.display()
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED conformance check crd-types: {} not found (run scripts/install-validators.sh)",
            path.display()
        );
        return None;
    };
    let crd: Value = serde_saphyr::from_str(&text).expect("CRD YAML");
    let versions = crd["spec"]["versions"].as_array().expect("spec.versions");
    let version = versions
        .iter()
        .find(|v| v["name"] == spec.version())
        .unwrap_or_else(|| panic!("{}: no version {}", spec.crd_file(), spec.version()));
    assert_eq!(
        version["served"],
        true,
        "{}: {} is not served",
        spec.crd_file(),
        spec.version()
    );
    Some(version["schema"]["openAPIV3Schema"].clone())
}

/// Holds one of our schemas against one of the CRD's.
struct Walk<'a> {
    defs: &'a Value,
    errors: Vec<String>,
    /// Every path checked, for a count and for the failure messages.
    fields: usize,
}

fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `ours` with `$ref`s resolved against the root's `$defs`.
fn resolve<'s>(defs: &'s Value, mut ours: &'s Value) -> &'s Value {
    while let Some(r) = ours["$ref"].as_str() {
        let name = r.strip_prefix("#/$defs/").expect("a local $ref");
        ours = &defs[name];
    }
    ours
}

impl Walk<'_> {
    fn check(&mut self, path: &str, ours: &Value, theirs: &Value) {
        let ours = resolve(self.defs, ours).clone();
        let ours = &ours;
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in ours[key].as_array().into_iter().flatten() {
                self.check(path, branch, theirs);
            }
        }
        let ours_types: Vec<&str> = types(ours).into_iter().filter(|t| *t != "null").collect();
        if ours_types.is_empty() {
            return;
        }
        self.fields += 1;
        // A free-form part of the CRD takes anything.
        if theirs["x-kubernetes-preserve-unknown-fields"] == true
            && theirs.get("properties").is_none()
            && theirs.get("type").is_none_or(|t| t == "object")
        {
            return;
        }
        let int_or_string = theirs["x-kubernetes-int-or-string"] == true;
        let their_type = theirs["type"].as_str().unwrap_or("");
        for t in ours_types {
            let fits = match t {
                "integer" => their_type == "integer" || int_or_string,
                "number" => their_type == "number",
                "string" => their_type == "string" || int_or_string,
                other => their_type == other,
            };
            if !fits {
                self.errors.push(format!(
                    "{path}: the type writes {t}, the CRD wants {}",
                    if int_or_string {
                        "int-or-string"
                    } else {
                        their_type
                    }
                ));
                continue;
            }
            match t {
                "object" => self.object(path, ours, theirs),
                "array" => self.check(&format!("{path}[]"), &ours["items"], &theirs["items"]),
                _ => self.values(path, ours, theirs),
            }
        }
    }

    fn object(&mut self, path: &str, ours: &Value, theirs: &Value) {
        let required: Vec<&str> = ours["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for need in theirs["required"].as_array().into_iter().flatten() {
            let need = need.as_str().unwrap_or_default();
            if !required.contains(&need) {
                self.errors.push(format!(
                    "{path}.{need}: the CRD requires it, the type may leave it out"
                ));
            }
        }
        let their_map = theirs.get("additionalProperties").filter(|a| a.is_object());
        for (key, sub) in ours["properties"].as_object().into_iter().flatten() {
            let p = format!("{path}.{key}");
            match theirs["properties"].get(key).or(their_map) {
                Some(their_sub) => self.check(&p, sub, their_sub),
                None => self.errors.push(format!("{p}: no such field in the CRD")),
            }
        }
        if let Some(our_map) = ours.get("additionalProperties").filter(|a| a.is_object()) {
            match their_map {
                Some(their_map) => self.check(&format!("{path}.*"), our_map, their_map),
                None => self.errors.push(format!(
                    "{path}: the type writes any key, the CRD has fixed fields"
                )),
            }
        }
    }

    /// An enum's values must be among the CRD's.
    fn values(&mut self, path: &str, ours: &Value, theirs: &Value) {
        let Some(allowed) = theirs["enum"].as_array() else {
            return;
        };
        let ours: Vec<&Value> = ours["enum"]
            .as_array()
            .map(|e| e.iter().collect())
            .or_else(|| ours.get("const").map(|c| vec![c]))
            .unwrap_or_default();
        for v in ours {
            if !allowed.contains(v) {
                self.errors.push(format!(
                    "{path}: the type writes {v}, the CRD allows {allowed:?}"
                ));
            }
        }
    }
}

/// What is wrong with a spec's type against the CRD's `spec` schema, and how many fields
/// were checked.
fn mismatches(spec: &SpecSchema, crd: &Value) -> (Vec<String>, usize) {
    let defs = spec.schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut walk = Walk {
        defs: &defs,
        errors: Vec::new(),
        fields: 0,
    };
    walk.check("spec", &spec.schema, &crd["properties"]["spec"]);
    (walk.errors, walk.fields)
}

#[test]
fn every_field_a_typed_spec_writes_is_in_its_crd() {
    let specs = spec_schemas();
    assert!(specs.len() >= 7, "Istio's kinds at least");
    let mut failures = Vec::new();
    for spec in &specs {
        let Some(crd) = crd_schema(spec) else {
            continue;
        };
        let (errors, fields) = mismatches(spec, &crd);
        assert!(fields >= 3, "{}: only {fields} fields walked", spec.kind);
        failures.extend(errors.into_iter().map(|e| format!("{}: {e}", spec.kind)));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The walk finds a misspelt field, a field in the wrong place, a wrong type and a value
/// the CRD's enum does not have.
#[test]
fn the_field_check_can_fail() {
    let Some(spec) = spec_schemas()
        .into_iter()
        .find(|s| s.kind == "DestinationRule")
    else {
        panic!("DestinationRule is typed");
    };
    let Some(crd) = crd_schema(&spec) else {
        return;
    };
    let (errors, _) = mismatches(&spec, &crd);
    assert!(errors.is_empty(), "{errors:?}");
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut s = spec.clone();
        edit(&mut s.schema);
        mismatches(&s, &crd).0
    };
    let misspelt = broken(&|s| {
        let p = s["properties"].as_object_mut().expect("properties");
        let v = p.remove("exportTo").expect("exportTo");
        p.insert("exportsTo".into(), v);
    });
    assert!(
        misspelt
            .iter()
            .any(|e| e.contains("spec.exportsTo: no such field")),
        "{misspelt:?}"
    );
    let misplaced = broken(&|s| {
        let v = s["properties"]["host"].clone();
        s["$defs"]["TrafficPolicy"]["properties"]["host"] = v;
    });
    assert!(
        misplaced
            .iter()
            .any(|e| e.contains("spec.trafficPolicy.host: no such field")),
        "{misplaced:?}"
    );
    let wrong_type = broken(&|s| s["properties"]["host"]["type"] = "integer".into());
    assert!(
        wrong_type
            .iter()
            .any(|e| e.contains("spec.host: the type writes integer")),
        "{wrong_type:?}"
    );
    let wrong_value = broken(&|s| {
        s["$defs"]["ClientTlsMode"]["enum"][0] = "ISTIO_MUTUAL_TLS".into();
    });
    assert!(
        wrong_value.iter().any(
            |e| e.contains("spec.trafficPolicy.tls.mode: the type writes \"ISTIO_MUTUAL_TLS\"")
        ),
        "{wrong_value:?}"
    );
}

/// Every project the tests build without errors: the examples and the valid fixtures.
fn projects() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = subdirs(&root().join("examples"))
        .into_iter()
        .filter(|d| d.join("nestio.kdl").is_file())
        .collect();
    dirs.extend(subdirs(&root().join("tests/fixtures/valid")));
    dirs
}

fn emitted_documents(dir: &Path) -> Vec<(String, Value)> {
    let c = compile(dir, &fixture_options(dir));
    let Some(set) = c.artifacts else {
        panic!("{} does not compile", dir.display());
    };
    let mut out = Vec::new();
    for (path, a) in &set.files {
        // The chart's templates are Go templates, not YAML yet: what they render is in
        // kubernetes/.
        if !path.ends_with(".yaml") || path.starts_with("helm/") {
            continue;
        }
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&a.contents).unwrap_or_else(|e| panic!("{path}: {e}"));
        out.extend(
            docs.into_iter()
                .filter(|d| d.is_object())
                .map(|d| (path.clone(), d)),
        );
    }
    out
}

/// The schema as the API server applies it under `fieldValidation=Strict` (what
/// `kubectl apply` asks for by default): an unknown field is an error, not pruned, except
/// under `x-kubernetes-preserve-unknown-fields`
/// (kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning).
fn strict(mut schema: Value) -> Value {
    fn walk(s: &mut Value) {
        let Some(m) = s.as_object_mut() else {
            if let Some(items) = s.as_array_mut() {
                items.iter_mut().for_each(walk);
            }
            return;
        };
        if m.contains_key("properties")
            && !m.contains_key("additionalProperties")
            && m.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true))
        {
            m.insert("additionalProperties".into(), Value::Bool(false));
        }
        m.values_mut().for_each(walk);
    }
    // The root's apiVersion, kind and metadata are the API server's, not in the schema.
    if let Some(spec) = schema.pointer_mut("/properties/spec") {
        walk(spec);
    }
    schema
}

#[test]
fn every_emitted_object_of_a_typed_kind_passes_its_crd() {
    let mut validators = BTreeMap::new();
    for spec in spec_schemas() {
        let Some(crd) = crd_schema(&spec) else {
            continue;
        };
        let v = jsonschema::validator_for(&strict(crd)).expect("the CRD schema compiles");
        validators.insert((spec.api_version, spec.kind), v);
    }
    if validators.is_empty() {
        return;
    }
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for dir in projects() {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        for (path, doc) in emitted_documents(&dir) {
            let Some(((_, kind), validator)) = validators
                .iter()
                .find(|((api, kind), _)| doc["apiVersion"] == *api && doc["kind"] == *kind)
            else {
                continue;
            };
            *checked.entry(kind).or_default() += 1;
            for e in validator.iter_errors(&doc) {
                failures.push(format!(
                    "{}: {path}: {kind} {}: {e} at {}",
                    name.as_deref().unwrap_or("?"),
                    doc["metadata"]["name"],
                    e.instance_path()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (_, kind) in validators.keys() {
        assert!(
            checked.get(kind).is_some_and(|n| *n > 0),
            "no {kind} emitted by any example or fixture: {checked:?}"
        );
    }
}
