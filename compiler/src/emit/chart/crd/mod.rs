//! Typed custom resources: the objects of the CRDs nestioc writes, which `k8s-openapi`
//! (Kubernetes' own kinds only) has no types for. Each spec is a struct that serialises to
//! what the CRD accepts; `tests/it/crd_types.rs` checks every field a spec can produce
//! against the CRD's `openAPIV3Schema` for the version written (from
//! `scripts/install-validators.sh`'s CRDs), and every object the examples and fixtures emit
//! against the whole schema.
//!
//! Field order is the order the keys are written in (the chart values carry the mesh's
//! specs, so it is also their order in `values.yaml`).

pub mod argo;
pub mod argocd;
pub mod gateway;
pub mod istio;
pub mod linkerd;
pub mod prometheus;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// A custom resource's spec: what it is, and where its CRD is.
pub trait Spec: Serialize + JsonSchema {
    /// `group/version`, as written in `apiVersion`.
    const API_VERSION: &'static str;
    const KIND: &'static str;
    /// The CRD's `spec.names.plural`: the CRD is `<plural>.<group>`.
    const PLURAL: &'static str;
}

/// A custom resource: `apiVersion` and `kind` from its spec's type, then metadata and spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource<S> {
    pub metadata: ObjectMeta,
    pub spec: S,
}

impl<S> Resource<S> {
    pub fn new(metadata: ObjectMeta, spec: S) -> Self {
        Resource { metadata, spec }
    }
}

impl<S: Spec> Serialize for Resource<S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut st = s.serialize_struct(S::KIND, 4)?;
        st.serialize_field("apiVersion", S::API_VERSION)?;
        st.serialize_field("kind", S::KIND)?;
        st.serialize_field("metadata", &self.metadata)?;
        st.serialize_field("spec", &self.spec)?;
        st.end()
    }
}

/// A typed spec's JSON Schema, and the CRD it must fit.
#[derive(Debug, Clone)]
pub struct SpecSchema {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// The spec's JSON Schema (schemars, draft 2020-12, `$defs` for shared types).
    pub schema: serde_json::Value,
}

impl SpecSchema {
    fn of<S: Spec>() -> Self {
        SpecSchema {
            api_version: S::API_VERSION,
            kind: S::KIND,
            plural: S::PLURAL,
            schema: schemars::schema_for!(S).to_value(),
        }
    }

    /// The CRD's file name, `<plural>.<group>.yaml`.
    #[must_use]
    pub fn crd_file(&self) -> String {
        let group = self.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        format!("{}.{group}.yaml", self.plural)
    }

    /// The version part of `apiVersion`, whose schema the spec must fit.
    #[must_use]
    pub fn version(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map_or(self.api_version, |(_, v)| v)
    }
}

/// Every typed spec, for the test that holds them against their CRDs.
#[must_use]
pub fn spec_schemas() -> Vec<SpecSchema> {
    use istio::{
        AuthorizationPolicySpec, DestinationRuleSpec, GatewaySpec, PeerAuthenticationSpec,
        ServiceEntrySpec, SidecarSpec, VirtualServiceSpec,
    };
    vec![
        SpecSchema::of::<PeerAuthenticationSpec>(),
        SpecSchema::of::<AuthorizationPolicySpec>(),
        SpecSchema::of::<SidecarSpec>(),
        SpecSchema::of::<VirtualServiceSpec>(),
        SpecSchema::of::<DestinationRuleSpec>(),
        SpecSchema::of::<ServiceEntrySpec>(),
        SpecSchema::of::<GatewaySpec>(),
        SpecSchema::of::<linkerd::ServerSpec>(),
        SpecSchema::of::<linkerd::MeshTlsAuthenticationSpec>(),
        SpecSchema::of::<linkerd::NetworkAuthenticationSpec>(),
        SpecSchema::of::<linkerd::AuthorizationPolicySpec>(),
        SpecSchema::of::<gateway::HttpRouteSpec>(),
        SpecSchema::of::<gateway::GrpcRouteSpec>(),
        SpecSchema::of::<prometheus::PrometheusRuleSpec>(),
        SpecSchema::of::<prometheus::PodMonitorSpec>(),
        SpecSchema::of::<prometheus::AlertmanagerConfigSpec>(),
        SpecSchema::of::<argo::RolloutSpec>(),
        SpecSchema::of::<argo::AnalysisTemplateSpec>(),
        SpecSchema::of::<argocd::ApplicationSpec>(),
        SpecSchema::of::<argocd::AppProjectSpec>(),
    ]
}
