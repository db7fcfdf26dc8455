//! The Gateway API's routes (`gateway.networking.k8s.io/v1`), as Linkerd reads them: a
//! route's parent is a Service (per-caller policy: timeouts, retries, weights) or a
//! Linkerd `Server` (inbound policy). Names and meanings are the Gateway API reference
//! (gateway-api.sigs.k8s.io/reference/spec/) and Linkerd's
//! (linkerd.io/2-edge/reference/httproute/, /grpcroute/).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Spec;

const GATEWAY_V1: &str = "gateway.networking.k8s.io/v1";

/// `HTTPRoute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRouteSpec {
    pub parent_refs: Vec<ParentRef>,
    pub rules: Vec<HttpRouteRule>,
}

impl Spec for HttpRouteSpec {
    const API_VERSION: &'static str = GATEWAY_V1;
    const KIND: &'static str = "HTTPRoute";
    const PLURAL: &'static str = "httproutes";
}

/// `GRPCRoute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcRouteSpec {
    pub parent_refs: Vec<ParentRef>,
    pub rules: Vec<GrpcRouteRule>,
}

impl Spec for GrpcRouteSpec {
    const API_VERSION: &'static str = GATEWAY_V1;
    const KIND: &'static str = "GRPCRoute";
    const PLURAL: &'static str = "grpcroutes";
}

/// What a route attaches to: a Service (`group: core`, with its port, as Linkerd's
/// documentation writes it) or a Linkerd `Server` (`group: policy.linkerd.io`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParentRef {
    pub group: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

/// A rule without `matches` matches every request (the Gateway API's default: a `/`
/// prefix); without `backendRefs` a route attached to a `Server` is policy only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRouteRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpRouteMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<BackendRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRouteMatch {
    pub path: PathMatch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathMatch {
    #[serde(rename = "type")]
    pub type_: PathMatchType,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PathMatchType {
    Exact,
    PathPrefix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcRouteRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<GrpcRouteMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<BackendRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrpcRouteMatch {
    pub method: GrpcMethodMatch,
}

/// `service` is the fully qualified gRPC service (`grpc.health.v1.Health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrpcMethodMatch {
    #[serde(rename = "type")]
    pub type_: GrpcMethodMatchType,
    pub service: String,
    pub method: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GrpcMethodMatchType {
    Exact,
}

/// A Service and port that takes the route's traffic; `weight` splits it between the
/// stable Service and its canary twin (Argo Rollouts shifts it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendRef {
    pub name: String,
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}
