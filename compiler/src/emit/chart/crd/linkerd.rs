//! Linkerd's policy objects (`policy.linkerd.io`), the fields nestioc writes. Names and
//! meanings are Linkerd's reference (linkerd.io/2-edge/reference/authorization-policy/):
//! a `Server` selects a port of the pods, an `AuthorizationPolicy` admits the clients one
//! authentication (`MeshTLSAuthentication`: identities; `NetworkAuthentication`:
//! networks) lets through to a `Server` or a route.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::gateway::{GrpcRouteSpec, HttpRouteSpec};
use super::{Resource, Spec};

/// Any of the objects of a service's Linkerd policy; serialises as the object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LinkerdObject {
    Server(Resource<ServerSpec>),
    MeshTlsAuthentication(Resource<MeshTlsAuthenticationSpec>),
    NetworkAuthentication(Resource<NetworkAuthenticationSpec>),
    AuthorizationPolicy(Resource<AuthorizationPolicySpec>),
    HttpRoute(Resource<HttpRouteSpec>),
    GrpcRoute(Resource<GrpcRouteSpec>),
}

/// `Server`: a port of the selected pods, and how the proxy serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSpec {
    pub pod_selector: PodSelector,
    /// The container port's name.
    pub port: String,
    /// `unknown` (detect), `HTTP/1`, `HTTP/2`, `gRPC`, `opaque` or `TLS`.
    pub proxy_protocol: ProxyProtocol,
    /// What a client no policy admits gets.
    pub access_policy: String,
}

impl Spec for ServerSpec {
    const API_VERSION: &'static str = "policy.linkerd.io/v1beta3";
    const KIND: &'static str = "Server";
    const PLURAL: &'static str = "servers";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSelector {
    pub match_labels: IndexMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProxyProtocol {
    #[serde(rename = "unknown")]
    Unknown,
    #[serde(rename = "HTTP/1")]
    Http1,
    #[serde(rename = "HTTP/2")]
    Http2,
    #[serde(rename = "gRPC")]
    Grpc,
    #[serde(rename = "opaque")]
    Opaque,
}

/// `MeshTLSAuthentication`: clients by their mesh identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshTlsAuthenticationSpec {
    pub identity_refs: Vec<IdentityRef>,
}

impl Spec for MeshTlsAuthenticationSpec {
    const API_VERSION: &'static str = "policy.linkerd.io/v1alpha1";
    const KIND: &'static str = "MeshTLSAuthentication";
    const PLURAL: &'static str = "meshtlsauthentications";
}

/// A ServiceAccount, in the policy's namespace unless `namespace` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRef {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `NetworkAuthentication`: clients by address, meshed or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkAuthenticationSpec {
    pub networks: Vec<Network>,
}

impl Spec for NetworkAuthenticationSpec {
    const API_VERSION: &'static str = "policy.linkerd.io/v1alpha1";
    const KIND: &'static str = "NetworkAuthentication";
    const PLURAL: &'static str = "networkauthentications";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub cidr: String,
}

/// `AuthorizationPolicy`: the target admits what every required authentication admits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationPolicySpec {
    pub target_ref: ObjectRef,
    pub required_authentication_refs: Vec<ObjectRef>,
}

impl Spec for AuthorizationPolicySpec {
    const API_VERSION: &'static str = "policy.linkerd.io/v1alpha1";
    const KIND: &'static str = "AuthorizationPolicy";
    const PLURAL: &'static str = "authorizationpolicies";
}

/// A Server, a route or an authentication, in the policy's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl ObjectRef {
    #[must_use]
    pub fn new(group: &str, kind: &str, name: &str) -> Self {
        ObjectRef {
            group: group.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }
}
