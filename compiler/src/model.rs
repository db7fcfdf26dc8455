//! The checked, typed model of a project: what lowering produces and every later stage
//! reads. Defaults are applied; every element keeps the span it came from.

pub mod metrics;
pub mod names;
pub mod values;

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use self::values::{Duration, Percent, Quantity};
use crate::source::{SourceId, Span};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub project: Project,
    /// Services by name (sorted: output order is name order).
    pub services: BTreeMap<String, Box<Service>>,
    /// Services as an environment overrides them: environment -> name -> service. Only
    /// services with an override appear.
    pub env_services: BTreeMap<String, BTreeMap<String, Service>>,
}

impl Model {
    /// The external endpoints (`external`) the services call, shared by name, host and
    /// port: two services calling `stripe` at one address meet at one node of a graph. The
    /// value lists the callers, in name order.
    #[must_use]
    pub fn shared_externals(&self) -> BTreeMap<(String, String, u16), Vec<String>> {
        let mut map: BTreeMap<(String, String, u16), Vec<String>> = BTreeMap::new();
        for s in self.services.values() {
            for e in &s.externals {
                map.entry((e.name.clone(), e.host.clone(), e.port))
                    .or_default()
                    .push(s.name.clone());
            }
        }
        map
    }

    /// A service as it runs in an environment (its override, or the service itself).
    #[must_use]
    pub fn service_in<'a>(&'a self, env: &str, service: &'a Service) -> &'a Service {
        self.env_services
            .get(env)
            .and_then(|m| m.get(&service.name))
            .unwrap_or(service)
    }

    /// How `service` (as declared, before any environment) is exposed in `env`. One
    /// ingress gateway or controller serves the whole cluster, so two environments must
    /// not claim the same host (Istio's IST0145 ConflictingGateways; ingress-nginx keeps
    /// the oldest Ingress for a host and path). The rule:
    /// - an environment that gives the service its own `expose` uses it as written;
    /// - production (an environment that syncs manually, see [`Project::is_production`])
    ///   serves the declared host;
    /// - every other environment serves `<env>.<host>` (`*.<env>.<domain>` for a
    ///   wildcard `*.<domain>`), with the same path, port and TLS Secret.
    #[must_use]
    pub fn expose_in(&self, env: &Environment, service: &Service) -> Option<Expose> {
        let in_env = self.service_in(&env.name, service);
        let e = in_env.expose.as_ref()?;
        let own = service
            .expose
            .as_ref()
            .is_none_or(|base| base.span != e.span);
        if own || self.project.is_production(env) {
            return Some(e.clone());
        }
        Some(Expose {
            host: derived_host(&env.name, &e.host),
            ..e.clone()
        })
    }

    /// How `service` is published on the nodes (`expose node-port=` or
    /// `load-balancer=`) in `env`. A node port is one of the whole cluster, and every
    /// environment runs in the same cluster, so only production (or an environment that
    /// gives the service its own `expose`) takes the declared node port; every other
    /// environment leaves it to the API server, which allocates a free one
    /// (https://kubernetes.io/docs/concepts/services-networking/service/#type-nodeport).
    #[must_use]
    pub fn publish_in(&self, env: &Environment, service: &Service) -> Option<Publish> {
        let in_env = self.service_in(&env.name, service);
        let p = in_env.publish.as_ref()?;
        let own = service
            .publish
            .as_ref()
            .is_none_or(|base| base.span != p.span);
        if own || self.project.is_production(env) {
            return Some(p.clone());
        }
        Some(Publish {
            node_port: None,
            ..p.clone()
        })
    }
}

/// The host a non-production environment serves for `host`: `<env>.<host>`, or
/// `*.<env>.<domain>` for a wildcard `*.<domain>`.
#[must_use]
pub fn derived_host(env: &str, host: &str) -> String {
    match host.strip_prefix("*.") {
        Some(domain) => format!("*.{env}.{domain}"),
        None => format!("{env}.{host}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    Istio,
    Linkerd,
    None,
}

impl Mesh {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mesh::Istio => "istio",
            Mesh::Linkerd => "linkerd",
            Mesh::None => "none",
        }
    }
}

impl std::fmt::Display for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CI system the project generates pipelines for (`ci`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CiSystem {
    GithubActions,
    Gitlab,
    Circleci,
    Jenkins,
}

impl CiSystem {
    /// In the order the language lists them (`lang::CI_SYSTEMS`), which is the order of
    /// [`Project::ci`].
    pub const ALL: [CiSystem; 4] = [
        CiSystem::GithubActions,
        CiSystem::Gitlab,
        CiSystem::Circleci,
        CiSystem::Jenkins,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CiSystem::GithubActions => "github-actions",
            CiSystem::Gitlab => "gitlab",
            CiSystem::Circleci => "circleci",
            CiSystem::Jenkins => "jenkins",
        }
    }

    /// The system a `ci` argument names; `None` for a name the language does not know
    /// (lowering's structural check has reported it).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for CiSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The continuous-delivery system (`cd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cd {
    ArgoCd,
    Spinnaker,
    None,
}

impl Cd {
    pub const ALL: [Cd; 3] = [Cd::ArgoCd, Cd::Spinnaker, Cd::None];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Cd::ArgoCd => "argocd",
            Cd::Spinnaker => "spinnaker",
            Cd::None => "none",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Cd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How commits are promoted (`branching`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branching {
    /// main deploys staging, tags deploy production.
    Trunk,
    /// develop deploys staging, main and tags deploy production.
    Gitflow,
}

impl Branching {
    pub const ALL: [Branching; 2] = [Branching::Trunk, Branching::Gitflow];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Branching::Trunk => "trunk",
            Branching::Gitflow => "gitflow",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Branching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The log router (`logging`); `logging "none"` is no [`Logging`] at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSystem {
    Fluentd,
}

impl LogSystem {
    pub const ALL: [LogSystem; 1] = [LogSystem::Fluentd];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LogSystem::Fluentd => "fluentd",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for LogSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one form the SLO rules and the alert routing are written in (`prometheus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RulesForm {
    /// `PrometheusRule` and `AlertmanagerConfig` objects, for the Prometheus Operator (what
    /// the platform playbook installs, and what Argo CD deploys).
    #[default]
    Operator,
    /// Rule files with their promtool tests, and an Alertmanager configuration fragment,
    /// for a Prometheus and an Alertmanager configured by hand.
    Files,
}

impl RulesForm {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RulesForm::Operator => "operator",
            RulesForm::Files => "files",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub span: Span,
    pub source: SourceId,
    pub registry: Option<String>,
    pub namespace: String,
    pub mesh: Mesh,
    pub mesh_span: Option<Span>,
    /// `mesh` names no mesh nestio knows (NST0103 said so): checks that depend on the
    /// mesh stay silent rather than report the consequences of the typo.
    pub mesh_unknown: bool,
    /// Each system once, in [`CiSystem::ALL`]'s order.
    pub ci: Vec<CiSystem>,
    /// `ci ... nestioc-source=`: where nestioc's source is in the repository (`.` for its
    /// root), when the gate builds it from there instead of installing its release.
    pub ci_nestioc_source: Option<String>,
    pub branching: Branching,
    /// Emit the pull-request review job with the CI targets.
    pub review: bool,
    pub cd: Cd,
    /// `cd ... repository=`: where the CD system reads the generated files.
    pub cd_repository: Option<Spanned<String>>,
    pub cd_revision: String,
    pub cd_path: String,
    pub logging: Option<Logging>,
    /// `prometheus "operator"|"files"`.
    pub rules: RulesForm,
    /// Declared environments, in declaration order. When none is declared, one
    /// environment named `default` stands in (see [`Project::environments`]).
    pub environments: Vec<Environment>,
}

impl Project {
    /// Production, for what differs between environments (the exposed hosts): an
    /// environment the CD system syncs manually (`sync "manual"`, the default for an
    /// environment named prod, production or prd), or the project's only environment.
    #[must_use]
    pub fn is_production(&self, env: &Environment) -> bool {
        !env.auto_sync || self.environments.len() <= 1
    }

    /// The environments outputs are generated for.
    #[must_use]
    pub fn environments(&self) -> Vec<Environment> {
        if self.environments.is_empty() {
            vec![Environment {
                name: "default".into(),
                span: self.span,
                namespace: self.namespace.clone(),
                replicas_scale: Decimal::ONE,
                auto_sync: true,
            }]
        } else {
            self.environments.clone()
        }
    }
}

#[derive(Debug, Clone)]
pub struct Logging {
    pub system: LogSystem,
    pub elasticsearch: Option<String>,
    /// A Secret (in the log router's namespace) with `username` and `password`.
    pub es_credentials: Option<String>,
    /// A Secret with `ca.crt`, the CA of Elasticsearch's certificate.
    pub es_ca: Option<String>,
    /// How long logs are kept (index lifecycle).
    pub retention: values::Duration,
    /// The `logging` node's name.
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub span: Span,
    pub namespace: String,
    pub replicas_scale: Decimal,
    /// The CD system syncs this environment on every change.
    pub auto_sync: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Grpc,
    Tcp,
}

impl Protocol {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Port {
    pub name: String,
    pub port: u16,
    pub target: u16,
    pub protocol: Protocol,
    /// The sidecar that listens on it; `None`: the service's own container.
    pub sidecar: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Http,
    Grpc,
    Tcp,
    Exec,
}

/// Probe timings as written (`None`: the default of the probe's use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay: Option<u32>,
    pub period: Option<u32>,
    pub timeout: Option<u32>,
    pub failures: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub kind: ProbeKind,
    pub path: String,
    /// Index into the service's ports (`None` for an `exec` probe).
    pub port: Option<usize>,
    /// `exec`: the program and its arguments.
    pub command: Vec<String>,
    pub timing: ProbeTiming,
    pub span: Span,
}

/// A container's probes, by use, after `for=` and the layers are applied.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    pub readiness: Option<Probe>,
    pub liveness: Option<Probe>,
    pub startup: Option<Probe>,
}

impl Probes {
    /// Every probe with its use: `readiness`, `liveness`, `startup`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Probe)> {
        [
            ("readiness", &self.readiness),
            ("liveness", &self.liveness),
            ("startup", &self.startup),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.as_ref().map(|p| (k, p)))
    }
}

/// Who the container runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAs {
    /// UID (and GID) as given, or nestioc's 10001.
    Ids { user: u32, group: u32 },
    /// The image's own USER (`run-as="image"`): no `runAsUser`; `group` when given.
    Image { group: Option<u32> },
}

/// The UID, GID and fsGroup every pod runs as unless it says otherwise: a high UID maps
/// to no user of the node (checkov CKV_K8S_40, trivy KSV-0020/KSV-0021).
pub const DEFAULT_ID: u32 = 10001;

/// A container's security context, the defaults relaxed where the topology says so.
#[derive(Debug, Clone)]
pub struct Security {
    pub run_as: RunAs,
    pub read_only_root: bool,
    /// Added after dropping ALL, in the order written.
    pub add_capabilities: Vec<String>,
    /// The pod's `fsGroup` (the service's `security` only).
    pub fs_group: u32,
    /// The `security` node, when there is one.
    pub span: Option<Span>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            run_as: RunAs::Ids {
                user: DEFAULT_ID,
                group: DEFAULT_ID,
            },
            read_only_root: true,
            add_capabilities: Vec::new(),
            fs_group: DEFAULT_ID,
            span: None,
        }
    }
}

/// A volume a sidecar or init container mounts: one of the service's, or (`size`) a
/// scratch volume of its own.
#[derive(Debug, Clone)]
pub struct Mount {
    pub name: String,
    pub path: String,
    /// `Some`: an emptyDir of this container's own, with this size limit.
    pub size: Option<Quantity>,
    pub span: Span,
}

/// A `sidecar` or an `init-container`.
#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
    pub name_span: Span,
    pub image: Image,
    /// An init container without its own `image` runs the service's (a migration runs
    /// the code it migrates for): `image` is then the service's, and the chart reads
    /// the service's image values, so a tag set at deploy time reaches both.
    pub service_image: bool,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// `env` and `env-secret`.
    pub env: Vec<EnvVar>,
    pub resources: Resources,
    pub mounts: Vec<Mount>,
    /// A sidecar's probes (an init container has none).
    pub probes: Probes,
    pub security: Security,
    pub span: Span,
}

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

#[derive(Debug, Clone)]
pub struct Image {
    /// The repository pods pull, as resolved by [`crate::lower::image::resolve`]:
    /// `ghcr.io/acme/checkout` (the project registry prefixed) or `redis` (a third-party
    /// image, as written).
    pub repository: String,
    /// The name as written in `image`, without its tag and digest.
    pub written: String,
    /// Which resolution rule applied.
    pub rule: ImageRule,
    /// From the reference (`image "redis:7.2"`) or `tag=`, never both (NST0120).
    pub tag: Option<String>,
    /// From the reference (`@sha256:...`) or `digest=`, never both (NST0120).
    pub digest: Option<String>,
    pub span: Span,
}

impl Image {
    /// The registry host (and port) of the repository, `None` when it names none (Docker
    /// Hub, implied): the reference grammar's domain.
    #[must_use]
    pub fn registry(&self) -> Option<&str> {
        names_registry(&self.repository)
            .then(|| self.repository.split_once('/').map_or("", |(d, _)| d))
    }

    /// The repository path, without the registry host: `acme/api`, `redis`.
    #[must_use]
    pub fn path(&self) -> &str {
        if self.registry().is_some() {
            self.repository.split_once('/').map_or("", |(_, p)| p)
        } else {
            &self.repository
        }
    }

    /// `repository:tag`, `repository@digest` or both.
    #[must_use]
    pub fn reference(&self) -> String {
        let mut s = self.repository.clone();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

#[derive(Debug, Clone)]
pub struct Replicas {
    pub min: u32,
    pub max: Option<u32>,
    pub cpu_target: u32,
    pub span: Span,
    /// Set by an environment override: not scaled by `replicas-scale`.
    pub fixed: bool,
    /// `scale=` as written: whether an environment's `replicas-scale` applies.
    pub scale: Option<Spanned<bool>>,
}

/// Why an environment's `replicas-scale` applies to a service, or does not.
#[derive(Debug, Clone, Copy)]
pub enum ScaleRule<'a> {
    /// Scaled by the environment's factor.
    Scaled,
    /// The environment's override sets `replicas`: taken as written.
    Fixed,
    /// `replicas ... scale=#false`.
    OptedOut(Span),
    /// A stateful service (this persistent volume) that did not say `scale=#true`: each
    /// replica has its own data, so a new replica starts empty and a removed one leaves
    /// its claim behind; how many it runs is the service's decision.
    Stateful(&'a Volume),
}

#[derive(Debug, Clone)]
pub struct Resources {
    pub cpu: Quantity,
    pub memory: Quantity,
    pub cpu_limit: Quantity,
    pub memory_limit: Quantity,
}

#[derive(Debug, Clone)]
pub enum EnvValue {
    Literal(String),
    Secret {
        secret: String,
        key: String,
    },
    /// `depends-on env=`: the callee's address, `<service>:<port>`, known after the
    /// graph is built.
    Dependency,
}

#[derive(Debug, Clone)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    pub consecutive_errors: u32,
    pub interval: Duration,
    pub ejection: Duration,
    pub max_ejection: Percent,
    pub max_connections: Option<u32>,
    pub max_pending: Option<u32>,
    pub max_requests: Option<u32>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Dependency {
    pub target: Spanned<String>,
    pub env: Option<Spanned<String>>,
    /// The callee's port name, as written (`port=`), resolved by the graph stage.
    pub port: Option<Spanned<String>>,
    pub timeout: Option<Spanned<Duration>>,
    pub retries: Option<Spanned<u32>>,
    pub optional: bool,
    pub fallback: Option<Spanned<String>>,
    pub circuit_breaker: Option<CircuitBreaker>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct External {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub protocol: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SloKind {
    Availability,
    Latency,
}

impl SloKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SloKind::Availability => "availability",
            SloKind::Latency => "latency",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CustomSli {
    pub errors: String,
    pub total: String,
}

#[derive(Debug, Clone)]
pub struct Slo {
    pub kind: SloKind,
    pub target: Spanned<Percent>,
    pub window: Duration,
    pub threshold: Option<Spanned<Duration>>,
    pub custom: Option<CustomSli>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutKind {
    Rolling,
    Canary,
    BlueGreen,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub weight: u32,
    pub pause: Option<Duration>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Rollout {
    pub kind: RolloutKind,
    pub steps: Vec<Step>,
    pub abort_error_rate: Option<Percent>,
    pub abort_latency: Option<Duration>,
    /// The `abort-if` node, when written.
    pub abort_span: Option<Span>,
    pub span: Option<Span>,
}

/// `expose host=`: HTTP through the cluster's ingress (an Ingress, or the Istio ingress
/// gateway).
#[derive(Debug, Clone)]
pub struct Expose {
    pub host: String,
    pub path: String,
    pub port_name: Option<Spanned<String>>,
    pub tls_secret: Option<String>,
    pub span: Span,
}

/// `expose node-port=` or `expose load-balancer=#true`: one port of the service published
/// outside the cluster by a Service of type NodePort or LoadBalancer, `<service>-public`.
#[derive(Debug, Clone)]
pub struct Publish {
    pub load_balancer: bool,
    /// The node port; `None` lets the API server allocate one.
    pub node_port: Option<Spanned<u16>>,
    pub port_name: Option<Spanned<String>>,
    /// The `expose` node's head.
    pub span: Span,
}

impl Publish {
    /// The `type` of the `<service>-public` Service.
    #[must_use]
    pub fn service_type(&self) -> &'static str {
        if self.load_balancer {
            "LoadBalancer"
        } else {
            "NodePort"
        }
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// The service's name argument.
    pub name_span: Span,
    /// The whole `service` node.
    pub span: Span,
    pub source: SourceId,
    /// Templates merged in, in order (`std/...` for the standard library).
    pub uses: Vec<String>,
    /// A template it uses could not be merged (reported): it lacks what the template would
    /// have given, so later stages do not report that lack again.
    pub incomplete: bool,
    pub owner: Option<String>,
    pub tier: Option<Spanned<u8>>,
    pub image: Image,
    pub language: Option<String>,
    pub source_path: Option<String>,
    pub replicas: Replicas,
    pub resources: Resources,
    /// The pod's ports: the service's own container's, then each sidecar's.
    pub ports: Vec<Port>,
    /// The service's own container's probes.
    pub probes: Probes,
    pub env: Vec<EnvVar>,
    pub depends_on: Vec<Dependency>,
    pub externals: Vec<External>,
    pub slos: Vec<Slo>,
    pub rollout: Rollout,
    pub logs_format: Option<String>,
    /// `logs format="regex" pattern=`: named captures.
    pub logs_pattern: Option<String>,
    /// `logs multiline-start=`: the first line of a multi-line record.
    pub logs_multiline_start: Option<String>,
    pub expose: Option<Expose>,
    /// `expose node-port=` / `load-balancer=`.
    pub publish: Option<Publish>,
    pub args: Vec<String>,
    /// `command`: the container's entrypoint (empty: the image's).
    pub command: Vec<String>,
    /// The service's own container's security (and the pod's `fsGroup`).
    pub security: Security,
    /// `annotation`: on the pod template, by key.
    pub pod_annotations: BTreeMap<String, String>,
    /// `label`: on the pod template, by key.
    pub pod_labels: BTreeMap<String, String>,
    /// `service-annotation`: on the Service, by key.
    pub service_annotations: BTreeMap<String, String>,
    /// `sidecar`s, in declaration order.
    pub sidecars: Vec<Container>,
    /// `init-container`s, in the order they run.
    pub init_containers: Vec<Container>,
    /// `ci { test "..." }`: the test command instead of the language's default.
    pub ci_test: Option<String>,
    pub volumes: Vec<Volume>,
    pub schedule: Option<Schedule>,
    /// `dockerfile`: the repository's own Dockerfile (repository-relative); nestioc
    /// generates none and CI builds this one.
    pub dockerfile: Option<Spanned<String>>,
    /// `build`: what the generated Dockerfile cannot know.
    pub build: Option<Build>,
}

/// `build main=... { copy ... }`: the entry point and the run-time files of a service
/// whose Dockerfile nestioc generates.
#[derive(Debug, Clone)]
pub struct Build {
    /// The entry point, in the language's terms: Go's main package, Rust's binary target,
    /// Python's script or module, Node's script, Java's runnable jar, .NET's project.
    pub main: Option<Spanned<String>>,
    /// Paths of the build context copied into the runtime image, under `/app`.
    pub copy: Vec<Spanned<String>>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Volume {
    pub name: String,
    pub path: String,
    pub size: Quantity,
    pub persistent: bool,
    /// A persistent volume's claim outlives the service: Helm, and Argo CD's prune and
    /// cascading deletion, leave it (`keep`, default true). Always false for scratch space.
    pub keep: bool,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: String,
    /// `Forbid`, `Replace` or `Allow` (CronJob `concurrencyPolicy`).
    pub concurrency: &'static str,
    pub span: Span,
}

impl Service {
    #[must_use]
    pub(crate) fn with_fixed_replicas(mut self, fixed: bool) -> Self {
        self.replicas.fixed = fixed;
        self
    }

    /// Whether the project builds this service's image: it has a `language`, a `source`
    /// or its own `dockerfile`. Only such images get the project registry.
    #[must_use]
    pub fn builds_image(&self) -> bool {
        self.language.is_some() || self.source_path.is_some() || self.dockerfile.is_some()
    }

    #[must_use]
    pub fn is_worker(&self) -> bool {
        self.ports.is_empty()
    }

    /// The ports of the service's own container (the pod's ports, sidecars' aside).
    pub fn own_ports(&self) -> impl Iterator<Item = &Port> {
        self.ports.iter().filter(|p| p.sidecar.is_none())
    }

    /// The ports a sidecar listens on.
    pub fn sidecar_ports<'a>(&'a self, sidecar: &'a str) -> impl Iterator<Item = &'a Port> {
        self.ports
            .iter()
            .filter(move |p| p.sidecar.as_deref() == Some(sidecar))
    }

    /// Every probe of the pod, the sidecars' included, with its use.
    pub fn all_probes(&self) -> impl Iterator<Item = (&'static str, &Probe)> {
        self.probes
            .iter()
            .chain(self.sidecars.iter().flat_map(|c| c.probes.iter()))
    }

    /// A service whose replicas keep data of their own: a persistent volume, outside a
    /// CronJob. It runs as a StatefulSet, each replica with its own claims.
    #[must_use]
    pub fn is_stateful(&self) -> bool {
        self.schedule.is_none() && self.volumes.iter().any(|v| v.persistent)
    }

    /// Whether, and why, an environment's `replicas-scale` applies.
    #[must_use]
    pub fn scale_rule(&self) -> ScaleRule<'_> {
        if self.replicas.fixed {
            return ScaleRule::Fixed;
        }
        match &self.replicas.scale {
            Some(s) if !s.value => ScaleRule::OptedOut(s.span),
            Some(_) => ScaleRule::Scaled,
            None => match self.volumes.iter().find(|v| v.persistent) {
                Some(v) if self.schedule.is_none() => ScaleRule::Stateful(v),
                _ => ScaleRule::Scaled,
            },
        }
    }

    /// The protocol the service's SLIs are measured in: its first port's (HTTP for a
    /// worker). Without a mesh it chooses the client library's histogram.
    #[must_use]
    pub fn primary_protocol(&self) -> Protocol {
        self.ports.first().map_or(Protocol::Http, |p| p.protocol)
    }

    /// The port `expose node-port=`/`load-balancer=` publishes: the one it names, else
    /// the first.
    #[must_use]
    pub fn publish_port(&self) -> Option<&Port> {
        let publish = self.publish.as_ref()?;
        match &publish.port_name {
            Some(name) => self.port(&name.value),
            None => self.ports.first(),
        }
    }

    #[must_use]
    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The port an `expose` routes to: the one it names, else the first HTTP port.
    #[must_use]
    pub fn expose_port(&self) -> Option<&Port> {
        let expose = self.expose.as_ref()?;
        match &expose.port_name {
            Some(name) => self.port(&name.value),
            None => self.ports.iter().find(|p| p.protocol == Protocol::Http),
        }
    }

    /// The port Prometheus scrapes `/metrics` from when there is no mesh (the mesh's
    /// proxies export the request metrics otherwise): a port named `metrics`, else the
    /// first HTTP port. A gRPC-only service has none.
    #[must_use]
    pub fn metrics_port(&self) -> Option<&Port> {
        self.ports
            .iter()
            .find(|p| p.name == "metrics")
            .or_else(|| self.ports.iter().find(|p| p.protocol == Protocol::Http))
    }

    #[must_use]
    pub fn slo(&self, kind: SloKind) -> Option<&Slo> {
        self.slos.iter().find(|s| s.kind == kind)
    }
}
