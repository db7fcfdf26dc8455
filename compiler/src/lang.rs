//! The language, as data: every node, argument and property nestioc accepts, with its
//! kind and its documentation. Lowering checks structure against this table (unknown
//! nodes and properties, arity, types), and the same table feeds `docs/language.md`,
//! hover and completion, so the reference cannot drift from the compiler.

/// What a value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any string.
    Str,
    /// A DNS-1123 label (services, templates, environments, ...).
    Name,
    /// A DNS-1123 subdomain: a Kubernetes object nestioc refers to by name (a Secret).
    Subdomain,
    /// An IANA service name: a Kubernetes port name (at most 15 characters).
    PortName,
    /// An environment variable name.
    EnvName,
    /// An integer in an inclusive range.
    Int(i64, i64),
    /// A TCP port, 1..=65535.
    Port,
    /// A number (integer or decimal).
    Number,
    /// `#true` or `#false`.
    Bool,
    /// `"300ms"`, `"5m"`, `"30d"`.
    Duration,
    /// A duration of at least a millisecond: a timeout, an interval, a threshold (the
    /// consumers refuse zero: Istio's CRDs require `duration(self) >= duration('1ms')`).
    PositiveDuration,
    /// A Kubernetes quantity: `"500m"`, `"512Mi"`.
    Quantity,
    /// A percentage: `99.9` or `"99.9%"`.
    Percent,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// A string, number or boolean (environment variable values).
    Scalar,
}

impl Kind {
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            Kind::Str => "a string".into(),
            Kind::Name => "a name (lowercase letters, digits and `-`)".into(),
            Kind::Subdomain => {
                "a Kubernetes object name (lowercase letters, digits, `-` and `.`)".into()
            }
            Kind::PortName => "a port name (at most 15 lowercase letters, digits and `-`)".into(),
            Kind::EnvName => "an environment variable name (printable ASCII, no `=`)".into(),
            Kind::Int(lo, hi) => format!("an integer from {lo} to {hi}"),
            Kind::Port => "a port number from 1 to 65535".into(),
            Kind::Number => "a number".into(),
            Kind::Bool => "#true or #false".into(),
            Kind::Duration => "a duration such as \"300ms\", \"2.5s\", \"5m\" or \"30d\"".into(),
            Kind::PositiveDuration => {
                "a duration above zero such as \"300ms\", \"2.5s\", \"5m\" or \"30d\"".into()
            }
            Kind::Quantity => "a Kubernetes quantity such as \"500m\" or \"512Mi\"".into(),
            Kind::Percent => "a percentage such as 99.9 or \"1%\"".into(),
            Kind::Enum(values) => format!(
                "one of {}",
                values
                    .iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Scalar => "a string, number or boolean".into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct PropSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub doc: &'static str,
    /// The property takes several values: the arguments that follow it continue its list
    /// (`command="redis-cli" "ping"`, `add-capabilities="CHOWN" "SETUID"`).
    pub many: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct NodeSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub args: &'static [ArgSpec],
    /// Further arguments of this kind may follow (`ci "github-actions" "gitlab"`).
    pub rest: Option<ArgSpec>,
    pub props: &'static [PropSpec],
    pub children: &'static [&'static NodeSpec],
    /// May appear more than once in its parent.
    pub repeatable: bool,
    /// Repeated nodes are told apart by their first argument (`port "http"`), which must
    /// then be unique.
    pub named: bool,
    /// Any property is accepted, with values of this kind (`uses "t" port=8080` passes
    /// template parameters).
    pub any_props: Option<Kind>,
}

impl NodeSpec {
    /// `port NAME PORT [target=..] [protocol=..]`, for help lines and the reference; here
    /// rather than in the structural checker so that the table does not depend on the checker
    /// that reads it.
    #[must_use]
    pub fn usage(&self) -> String {
        let mut s = self.name.to_owned();
        for a in self.args {
            if a.required {
                s.push_str(&format!(" {}", a.name.to_uppercase()));
            } else {
                s.push_str(&format!(" [{}]", a.name.to_uppercase()));
            }
        }
        if let Some(r) = self.rest {
            s.push_str(&format!(" [{}...]", r.name.to_uppercase()));
        }
        for p in self.props {
            let more = if p.many { " .." } else { "" };
            if p.required {
                s.push_str(&format!(" {}=..{more}", p.name));
            } else {
                s.push_str(&format!(" [{}=..{more}]", p.name));
            }
        }
        s
    }
}

const fn arg(name: &'static str, kind: Kind, doc: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: true,
        doc,
    }
}

const fn prop(name: &'static str, kind: Kind, doc: &'static str) -> PropSpec {
    PropSpec {
        name,
        kind,
        required: false,
        doc,
        many: false,
    }
}

const fn req_prop(name: &'static str, kind: Kind, doc: &'static str) -> PropSpec {
    PropSpec {
        name,
        kind,
        required: true,
        doc,
        many: false,
    }
}

/// A property whose value may go on as further arguments: `command="redis-cli" "ping"`.
const fn many_prop(name: &'static str, kind: Kind, doc: &'static str) -> PropSpec {
    PropSpec {
        name,
        kind,
        required: false,
        doc,
        many: true,
    }
}

const fn node(name: &'static str, doc: &'static str) -> NodeSpec {
    NodeSpec {
        name,
        doc,
        args: &[],
        rest: None,
        props: &[],
        children: &[],
        repeatable: false,
        named: false,
        any_props: None,
    }
}

pub const MESHES: &[&str] = &["istio", "linkerd", "none"];
pub const CI_SYSTEMS: &[&str] = &["github-actions", "gitlab", "circleci", "jenkins"];
pub const CD_SYSTEMS: &[&str] = &["argocd", "spinnaker", "none"];
pub const BRANCHINGS: &[&str] = &["trunk", "gitflow"];
pub const LANGUAGES: &[&str] = &["go", "rust", "node", "python", "java", "dotnet"];
pub const PROTOCOLS: &[&str] = &["http", "grpc", "tcp"];
pub const PROBES: &[&str] = &["http", "grpc", "tcp", "exec", "none"];
pub const PROBE_FOR: &[&str] = &["readiness", "liveness", "startup", "all"];

/// The probes a `probe ... for=` sets: `all` is readiness and liveness (a startup probe is
/// only ever asked for by name).
#[must_use]
pub fn probe_covers(for_: &str) -> &'static [&'static str] {
    match for_ {
        "readiness" => &["readiness"],
        "liveness" => &["liveness"],
        "startup" => &["startup"],
        "all" => &["readiness", "liveness"],
        _ => &[],
    }
}
/// Every Linux capability (capabilities(7)), as Kubernetes names them: without `CAP_`.
pub const CAPABILITIES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];
/// The capabilities a container may add under the Pod Security Standards' `baseline`
/// profile ("Capabilities", https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline):
/// every other one is refused (NST0130).
pub const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
/// Container names the meshes inject (Istio: istio-proxy, istio-init, istio-validation,
/// enable-core-dump, pkg/kube/inject; Linkerd: linkerd-proxy, linkerd-init,
/// linkerd-debug, pkg/k8s/labels.go; linkerd-network-validator,
/// charts/partials/templates/_network-validator.tpl): a sidecar or init
/// container of the same name would replace or collide with the mesh's own (NST0133).
pub const MESH_CONTAINERS: &[&str] = &[
    "enable-core-dump",
    "istio-init",
    "istio-proxy",
    "istio-validation",
    "linkerd-debug",
    "linkerd-init",
    "linkerd-network-validator",
    "linkerd-proxy",
];
pub const SLO_KINDS: &[&str] = &["availability", "latency"];
pub const ROLLOUTS: &[&str] = &["rolling", "canary", "blue-green"];
pub const LOG_FORMATS: &[&str] = &["json", "logfmt", "text", "nginx", "apache", "regex"];
pub const LOGGING: &[&str] = &["fluentd", "none"];

// ----------------------------------------------------------------------------- project

pub const REGISTRY: NodeSpec = NodeSpec {
    args: &[arg(
        "registry",
        Kind::Str,
        "Image registry prefix, e.g. \"ghcr.io/acme\"",
    )],
    ..node(
        "registry",
        "Where the project's own images are pushed: the image name of a service that builds its image (it has `language`, `source` or `dockerfile`) is prefixed with this, unless it names a registry. Other images (`image \"redis\"`) are pulled as written.",
    )
};

pub const NAMESPACE: NodeSpec = NodeSpec {
    args: &[arg("namespace", Kind::Name, "Kubernetes namespace")],
    ..node(
        "namespace",
        "The Kubernetes namespace the services run in (default: the project name).",
    )
};

pub const MESH: NodeSpec = NodeSpec {
    args: &[arg("mesh", Kind::Enum(MESHES), "The service mesh")],
    ..node(
        "mesh",
        "The service mesh: `istio`, `linkerd` or `none` (default `none`).",
    )
};

pub const RULE_FORMS: &[&str] = &["operator", "files"];

pub const PROMETHEUS: NodeSpec = NodeSpec {
    args: &[arg(
        "form",
        Kind::Enum(RULE_FORMS),
        "The form of the rules and the alert routing",
    )],
    ..node(
        "prometheus",
        "The one form the SLO rules and the alert routing are written in: `operator` (default: `prometheus/<service>.prometheusrule.yaml` PrometheusRules and `alertmanager/alertmanagerconfig.yaml` AlertmanagerConfigs, for the Prometheus Operator the platform installs and Argo CD deploys) or `files` (`prometheus/<service>.rules.yaml` rule files and `alertmanager/inhibit.yaml`, for a Prometheus and an Alertmanager configured by hand). Either way `prometheus/<service>.rules.test.yaml` holds the promtool tests.",
    )
};

pub const CI: NodeSpec = NodeSpec {
    args: &[arg("system", Kind::Enum(CI_SYSTEMS), "A CI system")],
    rest: Some(arg("system", Kind::Enum(CI_SYSTEMS), "A CI system")),
    props: &[prop(
        "nestioc-source",
        Kind::Str,
        "The directory of the repository that holds nestioc's own source (`\".\"` for the root): the gate builds nestioc from it, at the commit under test, instead of installing the release that generated the pipelines",
    )],
    ..node("ci", "The CI systems to generate pipelines for.")
};

pub const BRANCHING: NodeSpec = NodeSpec {
    args: &[arg(
        "strategy",
        Kind::Enum(BRANCHINGS),
        "Branching strategy",
    )],
    ..node(
        "branching",
        "How commits are promoted: `trunk` (default: main deploys staging, tags deploy prod) or `gitflow` (develop deploys staging, main and tags deploy prod).",
    )
};

pub const REVIEW: NodeSpec = NodeSpec {
    args: &[arg("enabled", Kind::Bool, "#true to emit the job")],
    ..node(
        "review",
        "With `#true`, the CI targets also emit a job that posts `nestioc diff` on pull requests.",
    )
};

pub const CD: NodeSpec = NodeSpec {
    args: &[arg("system", Kind::Enum(CD_SYSTEMS), "The CD system")],
    props: &[
        prop(
            "repository",
            Kind::Str,
            "The Git repository the CD system reads the generated files from; without it, argocd and spinnaker objects name a placeholder that never resolves (warning NST0142)",
        ),
        prop(
            "revision",
            Kind::Str,
            "The branch or tag it follows (default \"main\")",
        ),
        prop(
            "path",
            Kind::Str,
            "Where the generated files are in that repository (default \"generated\")",
        ),
    ],
    ..node(
        "cd",
        "The continuous-delivery system: `argocd`, `spinnaker` or `none` (default `none`).",
    )
};

pub const ELASTICSEARCH: NodeSpec = NodeSpec {
    args: &[arg("url", Kind::Str, "Elasticsearch URL")],
    props: &[
        prop(
            "credentials",
            Kind::Name,
            "A Secret in the log router's namespace with `username` and `password`: Fluentd signs in with them (Elasticsearch 8 requires it by default)",
        ),
        prop(
            "ca",
            Kind::Name,
            "A Secret in the log router's namespace with `ca.crt`, the CA of Elasticsearch's certificate (https; default: the image's system CAs)",
        ),
    ],
    ..node("elasticsearch", "Where Fluentd sends the logs.")
};

pub const RETENTION: NodeSpec = NodeSpec {
    args: &[arg(
        "duration",
        Kind::Duration,
        "How long logs are kept, e.g. \"30d\"",
    )],
    ..node(
        "retention",
        "How long Elasticsearch keeps the logs: an index lifecycle policy deletes older indices (default 30d).",
    )
};

pub const LOGGING_NODE: NodeSpec = NodeSpec {
    args: &[arg("system", Kind::Enum(LOGGING), "The log router")],
    children: &[&ELASTICSEARCH, &RETENTION],
    ..node("logging", "Log routing: `fluentd` (or `none`).")
};

pub const REPLICAS_SCALE: NodeSpec = NodeSpec {
    args: &[arg("factor", Kind::Number, "Multiplier, e.g. 0.5")],
    ..node(
        "replicas-scale",
        "Multiplies the replica counts of the services in this environment (rounded up, at least 1), except stateful services (a persistent volume) that do not say `replicas ... scale=#true`, services that say `scale=#false`, and replicas the environment overrides.",
    )
};

/// What an environment may change about a service.
pub const OVERRIDABLE: &[&NodeSpec] = &[&IMAGE, &REPLICAS, &RESOURCES, &ENV, &ENV_SECRET, &EXPOSE];

pub const ENV_SERVICE: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::Name, "The service to override")],
    children: OVERRIDABLE,
    repeatable: true,
    named: true,
    ..node(
        "service",
        "Overrides a service in this environment: `image`, `replicas`, `resources`, `env`, `env-secret`, `expose`. An overridden `replicas` is not scaled by `replicas-scale`.",
    )
};

pub const SYNC: NodeSpec = NodeSpec {
    args: &[arg(
        "mode",
        Kind::Enum(&["auto", "manual"]),
        "auto or manual",
    )],
    ..node(
        "sync",
        "How the CD system deploys this environment: `auto` (on every change) or `manual` (default: manual for an environment named prod, production or prd, auto otherwise).",
    )
};

pub const ENVIRONMENT: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::Name, "Environment name")],
    children: &[&NAMESPACE, &REPLICAS_SCALE, &SYNC, &ENV_SERVICE],
    repeatable: true,
    named: true,
    ..node(
        "environment",
        "A deployment environment: values-<env>.yaml and kubernetes/<env>/.",
    )
};

pub const DEFAULTS: NodeSpec = NodeSpec {
    children: SERVICE_CHILDREN,
    ..node(
        "defaults",
        "Entries every service starts from, before its templates and its own entries (precedence: defaults < templates < service < environment).",
    )
};

pub const PROJECT: NodeSpec = NodeSpec {
    args: &[arg(
        "name",
        Kind::Name,
        "Project name (the umbrella chart's name)",
    )],
    children: &[
        &REGISTRY,
        &NAMESPACE,
        &MESH,
        &CI,
        &BRANCHING,
        &REVIEW,
        &CD,
        &LOGGING_NODE,
        &PROMETHEUS,
        &DEFAULTS,
        &ENVIRONMENT,
        &ALLOW,
    ],
    ..node("project", "The project: one per project, in nestio.kdl.")
};

// ----------------------------------------------------------------------------- service

pub const USES: NodeSpec = NodeSpec {
    args: &[arg("template", Kind::Str, "A template name")],
    rest: Some(arg("template", Kind::Str, "A template name")),
    repeatable: true,
    any_props: Some(Kind::Scalar),
    ..node(
        "uses",
        "Merges templates into this node (project templates first, then the standard library; `std/` names only the standard library). The node's own entries win. Properties pass template parameters: `uses \"http-service\" port=9090`.",
    )
};

pub const OWNER: NodeSpec = NodeSpec {
    args: &[arg("team", Kind::Str, "Owning team")],
    ..node(
        "owner",
        "The owning team: alert routing label and ownership.",
    )
};

pub const TIER: NodeSpec = NodeSpec {
    args: &[arg("tier", Kind::Int(1, 3), "1 = most critical")],
    ..node(
        "tier",
        "Criticality, 1 (most critical) to 3; a tier-1 service must not require a tier-3 one.",
    )
};

pub const IMAGE: NodeSpec = NodeSpec {
    args: &[arg(
        "reference",
        Kind::Str,
        "Image reference: `NAME`, `NAME:TAG`, `NAME@DIGEST` or `NAME:TAG@DIGEST`, e.g. \"redis:7.2-alpine\", \"ghcr.io/acme/api@sha256:...\"; the name is prefixed with the project registry when the service builds its image and the name names no registry",
    )],
    props: &[
        prop(
            "tag",
            Kind::Str,
            "Image tag, when the reference has none: `image \"redis\" tag=\"7.2\"` is `image \"redis:7.2\"`. Optional for a third-party image (without a tag or digest it pulls `latest`: warning NST0121); an image the service builds needs a tag or a digest (NST0106)",
        ),
        prop(
            "digest",
            Kind::Str,
            "Image digest (\"sha256:\" and 64 hex digits, or \"sha512:\" and 128), when the reference has none",
        ),
    ],
    ..node(
        "image",
        "The container image, as a reference of the distribution grammar Docker, containerd and Kubernetes read: a registry host when the first component has a `.` or a `:` or is `localhost` (`ghcr.io/acme/api`, `localhost:5000/api`), then a lower-case repository path, then an optional `:TAG` and `@DIGEST`. A tag or digest is given once, in the reference or as `tag=`/`digest=` (both: NST0120). A service that builds its image (it has `language`, `source` or `dockerfile`) gets the project `registry` prefixed and must pin a tag or digest; any other name is pulled as written, as Kubernetes resolves it (`redis` is Docker Hub's `docker.io/library/redis`), and pulls `latest` when it has neither (warning NST0121). `nestioc why SERVICE image` shows which rule applied and the reference's parts.",
    )
};

pub const LANGUAGE: NodeSpec = NodeSpec {
    args: &[arg(
        "language",
        Kind::Enum(LANGUAGES),
        "Implementation language",
    )],
    ..node(
        "language",
        "The implementation language: drives the CI test step and the Dockerfile.",
    )
};

pub const SOURCE_NODE: NodeSpec = NodeSpec {
    args: &[arg("path", Kind::Str, "Path in the repository")],
    ..node(
        "source",
        "The service's source directory, relative to the repository root: the image's build context and CI path filters.",
    )
};

pub const DOCKERFILE: NodeSpec = NodeSpec {
    args: &[arg(
        "path",
        Kind::Str,
        "The Dockerfile, relative to the repository root, e.g. \"src/frontend/Dockerfile\"",
    )],
    ..node(
        "dockerfile",
        "Builds the image with the repository's own Dockerfile: nestioc generates none, and CI builds this one with the `source` directory as its context. Needs `source`.",
    )
};

pub const BUILD_COPY: NodeSpec = NodeSpec {
    args: &[arg(
        "path",
        Kind::Str,
        "A file or directory of the build context, e.g. \"templates\"",
    )],
    rest: Some(arg(
        "path",
        Kind::Str,
        "A file or directory of the build context",
    )),
    repeatable: true,
    ..node(
        "copy",
        "Files the program reads at run time, copied from the build context into the runtime image under `/app` (its working directory). Go, Rust, Java and .NET images hold only the build's output; Python and Node images already hold the whole context.",
    )
};

pub const BUILD: NodeSpec = NodeSpec {
    props: &[prop(
        "main",
        Kind::Str,
        "The entry point: Go's main package (\"./cmd/server\"), Rust's binary target, Python's script (\"server.py\") or module (\"app\"), Node's script (\"server.js\"), Java's runnable jar (\"build/libs/app-all.jar\"), .NET's project (\"src/App.csproj\")",
    )],
    children: &[&BUILD_COPY],
    ..node(
        "build",
        "What the Dockerfile generated for `language` cannot know: the entry point and the files the program reads at run time. Without it the generated Dockerfile guesses (a warning, NST0317, names the guess). Needs `language`; see docs/outputs.md for what each language's Dockerfile does.",
    )
};

pub const REPLICAS: NodeSpec = NodeSpec {
    args: &[arg(
        "replicas",
        Kind::Int(0, 10_000),
        "Replica count (minimum when autoscaled)",
    )],
    props: &[
        prop(
            "max",
            Kind::Int(1, 10_000),
            "Autoscaling maximum (adds an HPA)",
        ),
        prop(
            "cpu-target",
            Kind::Int(1, 100),
            "Autoscaling target CPU utilisation, percent (default 80)",
        ),
        prop(
            "scale",
            Kind::Bool,
            "Whether an environment's `replicas-scale` applies: default #true, #false for a stateful service (one with a persistent volume)",
        ),
    ],
    ..node(
        "replicas",
        "Replica count and autoscaling. An environment's `replicas-scale` multiplies both, except for a stateful service (a persistent volume: each replica has its own data) unless it says `scale=#true`, and for any service that says `scale=#false`; `nestioc why <service> replicas --env <env>` tells which rule applied.",
    )
};

pub const RESOURCES: NodeSpec = NodeSpec {
    props: &[
        prop("cpu", Kind::Quantity, "CPU request (default \"100m\")"),
        prop(
            "memory",
            Kind::Quantity,
            "Memory request (default \"128Mi\")",
        ),
        prop(
            "cpu-limit",
            Kind::Quantity,
            "CPU limit (default: twice the request)",
        ),
        prop(
            "memory-limit",
            Kind::Quantity,
            "Memory limit (default: twice the request)",
        ),
    ],
    ..node("resources", "Container resource requests and limits.")
};

pub const PORT: NodeSpec = NodeSpec {
    args: &[
        arg("name", Kind::PortName, "Port name"),
        arg("port", Kind::Port, "Service port"),
    ],
    props: &[
        prop(
            "target",
            Kind::Port,
            "Container port (default: the same as the service port)",
        ),
        prop(
            "protocol",
            Kind::Enum(PROTOCOLS),
            "Application protocol (default http)",
        ),
    ],
    repeatable: true,
    named: true,
    ..node(
        "port",
        "A port the service listens on; a service with no port is a worker.",
    )
};

pub const PROBE: NodeSpec = NodeSpec {
    args: &[arg("kind", Kind::Enum(PROBES), "Probe kind")],
    props: &[
        prop("path", Kind::Str, "HTTP path (default \"/healthz\")"),
        prop(
            "port",
            Kind::PortName,
            "Port name (default: the container's first port)",
        ),
        many_prop(
            "command",
            Kind::Str,
            "For `exec`: the program and its arguments, run in the container without a shell; further values follow as arguments: `command=\"redis-cli\" \"ping\"`",
        ),
        prop(
            "for",
            Kind::Enum(PROBE_FOR),
            "Which probes this sets: `readiness`, `liveness`, `startup`, or `all` (default): readiness and liveness",
        ),
        prop(
            "initial-delay",
            Kind::Duration,
            "Whole seconds before the first probe (default: none for readiness and startup, \"10s\" for liveness)",
        ),
        prop(
            "period",
            Kind::Duration,
            "Whole seconds between probes (default \"10s\"; liveness \"20s\")",
        ),
        prop(
            "timeout",
            Kind::Duration,
            "Whole seconds a probe may take (default \"2s\")",
        ),
        prop(
            "failures",
            Kind::Int(1, 10_000),
            "Failed probes in a row before the container is unready (readiness) or restarted (liveness, startup); default 3, startup 30",
        ),
    ],
    repeatable: true,
    ..node(
        "probe",
        "How the kubelet checks the container: `http` (GET `path`), `grpc` (the gRPC health service), `tcp` (a connection), `exec` (a command that exits 0), or `none` (no probe: a warning, NST0131, for a container with a port). Without `probe`, a container with a port gets a TCP probe on its first port. Repeatable once per `for=`: `probe \"http\" path=\"/ready\" for=\"readiness\"` beside `probe \"exec\" command=\"/bin/healthcheck\" for=\"liveness\"`; a later layer (`uses` < the service) replaces only the probes it names. `startup` is never implied by `all`: a startup probe holds back the other two until it passes, and is for slow starters (its `failures` x `period` is the time allowed to start, 5 minutes by default).",
    )
};

pub const ENV: NodeSpec = NodeSpec {
    args: &[
        arg("name", Kind::EnvName, "Variable name"),
        arg("value", Kind::Scalar, "Value"),
    ],
    repeatable: true,
    named: true,
    ..node(
        "env",
        "An environment variable with a literal value. Names are what Kubernetes accepts: any printable ASCII but `=` (`spring.rabbitmq.host`, `MY_VAR`). A name that says it holds a credential (`DB_PASSWORD`, `API_KEY`, `GITHUB_TOKEN`, ...) with a literal value is a warning (NST0122): read it from a Secret with `env-secret`.",
    )
};

pub const ENV_SECRET: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::EnvName, "Variable name")],
    props: &[
        req_prop("secret", Kind::Subdomain, "Kubernetes Secret name"),
        req_prop("key", Kind::Str, "Key in the Secret"),
    ],
    repeatable: true,
    named: true,
    ..node("env-secret", "An environment variable read from a Secret.")
};

pub const CIRCUIT_BREAKER: NodeSpec = NodeSpec {
    props: &[
        prop(
            "consecutive-errors",
            Kind::Int(1, 1000),
            "Errors before ejection (default 5)",
        ),
        prop(
            "interval",
            Kind::PositiveDuration,
            "Analysis interval (default \"10s\")",
        ),
        prop(
            "ejection",
            Kind::PositiveDuration,
            "Base ejection time (default \"30s\")",
        ),
        prop(
            "max-ejection",
            Kind::Percent,
            "Most endpoints ejected at once (default 50%)",
        ),
        prop(
            "max-connections",
            Kind::Int(1, 1_000_000),
            "Istio connection pool: most TCP connections to the callee",
        ),
        prop(
            "max-pending",
            Kind::Int(1, 1_000_000),
            "Istio connection pool: most requests waiting for a connection",
        ),
        prop(
            "max-requests",
            Kind::Int(1, 1_000_000),
            "Istio connection pool: most requests in flight",
        ),
    ],
    ..node(
        "circuit-breaker",
        "Outlier detection for this dependency (needs a mesh).",
    )
};

pub const DEPENDS_ON: NodeSpec = NodeSpec {
    args: &[arg("service", Kind::Name, "The service called")],
    props: &[
        prop(
            "env",
            Kind::EnvName,
            "Injects NAME=<service>:<port> into the caller",
        ),
        prop(
            "port",
            Kind::PortName,
            "Which of the callee's ports (default: its first)",
        ),
        prop(
            "timeout",
            Kind::PositiveDuration,
            "Per-request timeout (mesh)",
        ),
        prop("retries", Kind::Int(0, 10), "Retry attempts (mesh)"),
        prop(
            "optional",
            Kind::Bool,
            "The caller works without it: excluded from SLO feasibility and cycles",
        ),
        prop(
            "fallback",
            Kind::Name,
            "A service the caller falls back to: counted as parallel redundancy",
        ),
    ],
    children: &[&CIRCUIT_BREAKER],
    repeatable: true,
    named: true,
    ..node("depends-on", "A call from this service to another.")
};

pub const EXTERNAL: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::Name, "Name of the external system")],
    props: &[
        req_prop("host", Kind::Str, "Host name"),
        prop("port", Kind::Port, "Port (default 443)"),
        prop(
            "protocol",
            Kind::Enum(&["https", "http", "tcp", "tls", "grpc"]),
            "Protocol (default https)",
        ),
    ],
    repeatable: true,
    named: true,
    ..node(
        "external",
        "A system outside the cluster that this service calls.",
    )
};

pub const SLI_ERRORS: NodeSpec = NodeSpec {
    args: &[arg(
        "query",
        Kind::Str,
        "PromQL for bad events, with {{window}}",
    )],
    ..node("errors", "Custom SLI: the bad-events query.")
};

pub const SLI_TOTAL: NodeSpec = NodeSpec {
    args: &[arg(
        "query",
        Kind::Str,
        "PromQL for all events, with {{window}}",
    )],
    ..node("total", "Custom SLI: the all-events query.")
};

pub const SLO: NodeSpec = NodeSpec {
    args: &[arg(
        "kind",
        Kind::Enum(SLO_KINDS),
        "availability or latency",
    )],
    props: &[
        req_prop("target", Kind::Percent, "Objective, e.g. 99.9"),
        prop("window", Kind::Duration, "SLO period (default \"30d\")"),
        prop(
            "threshold",
            Kind::PositiveDuration,
            "Latency SLO: requests slower than this are bad",
        ),
    ],
    children: &[&SLI_ERRORS, &SLI_TOTAL],
    repeatable: true,
    named: true,
    ..node("slo", "A service level objective.")
};

pub const STEP: NodeSpec = NodeSpec {
    props: &[
        req_prop(
            "weight",
            Kind::Int(1, 1000),
            "Traffic percent to the canary, 1 to 100, increasing",
        ),
        prop(
            "pause",
            Kind::Duration,
            "Pause after this step, in whole seconds (Argo Rollouts counts a pause in seconds)",
        ),
    ],
    repeatable: true,
    ..node("step", "A canary step.")
};

pub const ABORT_IF: NodeSpec = NodeSpec {
    props: &[
        prop(
            "error-rate",
            Kind::Percent,
            "Abort when the canary's error rate exceeds this",
        ),
        prop(
            "latency",
            Kind::PositiveDuration,
            "Abort when the canary's p99 latency exceeds this",
        ),
    ],
    ..node("abort-if", "Automatic rollback conditions.")
};

pub const ROLLOUT: NodeSpec = NodeSpec {
    args: &[arg("strategy", Kind::Enum(ROLLOUTS), "Rollout strategy")],
    children: &[&STEP, &ABORT_IF],
    ..node(
        "rollout",
        "How new versions roll out: `rolling` (default), `canary` or `blue-green`.",
    )
};

pub const LOGS: NodeSpec = NodeSpec {
    props: &[
        prop(
            "format",
            Kind::Enum(LOG_FORMATS),
            "Log line format (default text). `logfmt` is split at the spaces before each `key=` (Fluentd's `ltsv` parser; the image has no logfmt parser): a quoted value keeps its quotes, and a `key=` inside quotes starts a new pair (docs/outputs.md)",
        ),
        prop(
            "pattern",
            Kind::Str,
            "For format=\"regex\": a regular expression with named captures (`(?<level>\\w+)`)",
        ),
        prop(
            "multiline-start",
            Kind::Str,
            "A regular expression matching the first line of a record: following lines (stack traces) join it",
        ),
    ],
    ..node("logs", "How the service logs: drives log parsing.")
};

pub const CI_TEST: NodeSpec = NodeSpec {
    args: &[arg(
        "command",
        Kind::Str,
        "A shell command, run at the service's source directory",
    )],
    ..node(
        "test",
        "The test command (one line of shell, run in the service's `source` directory), instead of the language's default (`go test ./...`, `cargo test --locked`, `npm ci --include=dev && npm test`, `python -m pip install -r requirements.txt pytest && python -m pytest`, the Gradle or Maven wrapper's `test`, `dotnet test`); see docs/delivery.md.",
    )
};

pub const SERVICE_CI: NodeSpec = NodeSpec {
    children: &[&CI_TEST],
    ..node("ci", "CI settings of the service.")
};

pub const ARGS: NodeSpec = NodeSpec {
    args: &[arg("arg", Kind::Str, "An argument")],
    rest: Some(arg("arg", Kind::Str, "An argument")),
    ..node(
        "args",
        "Arguments passed to the container's entrypoint (Kubernetes `args`).",
    )
};

pub const COMMAND: NodeSpec = NodeSpec {
    args: &[arg("command", Kind::Str, "The program, e.g. \"/app\"")],
    rest: Some(arg("arg", Kind::Str, "An argument")),
    ..node(
        "command",
        "The container's entrypoint (Kubernetes `command`, which replaces the image's ENTRYPOINT); `args` are passed to it (and replace the image's CMD).",
    )
};

/// The largest UID or GID Kubernetes accepts: `runAsUser`, `runAsGroup` and `fsGroup` are
/// validated by `IsValidUserID`/`IsValidGroupID`, "must be between 0 and 2147483647,
/// inclusive" (k8s.io/apimachinery pkg/util/validation/validation.go).
pub const MAX_ID: i64 = 2_147_483_647;

pub const SECURITY: NodeSpec = NodeSpec {
    props: &[
        prop(
            "run-as-user",
            Kind::Int(0, MAX_ID),
            "The UID the container runs as, instead of 10001 (below 10000: a warning, NST0125; 0 is refused, NST0129)",
        ),
        prop(
            "run-as-group",
            Kind::Int(0, MAX_ID),
            "The GID the container runs as, instead of 10001 (below 10000: NST0125; 0 is refused)",
        ),
        prop(
            "fs-group",
            Kind::Int(0, MAX_ID),
            "The pod's `fsGroup`, the group that owns its volumes, instead of 10001 (the service's `security` only; below 10000: NST0125)",
        ),
        prop(
            "run-as",
            Kind::Enum(&["image"]),
            "`\"image\"`: keep the image's own USER (no `runAsUser`, still `runAsNonRoot`: the image must name a numeric non-root UID); a warning, NST0126",
        ),
        prop(
            "read-only-root",
            Kind::Bool,
            "`#false` makes the root filesystem writable (default `#true`); a warning, NST0127",
        ),
        many_prop(
            "add-capabilities",
            Kind::Str,
            "Linux capabilities added after dropping all, as Kubernetes names them (`\"NET_BIND_SERVICE\"`, without `CAP_`); further values follow as arguments. Each is a warning (NST0128); those the Pod Security Standards' `baseline` forbids (`SYS_ADMIN`, `NET_ADMIN`, `NET_RAW`, `SYS_PTRACE`, ...) are refused (NST0130)",
        ),
        prop(
            "reason",
            Kind::Str,
            "Why the container needs these relaxations: with it, they are not warned about (the topology says why instead)",
        ),
        prop(
            "privileged",
            Kind::Bool,
            "Refused (NST0130): a privileged container is root on the node",
        ),
        prop(
            "host-network",
            Kind::Bool,
            "Refused (NST0130): the pod would share the node's network namespace",
        ),
        prop(
            "host-pid",
            Kind::Bool,
            "Refused (NST0130): the pod would see and signal every process on the node",
        ),
        prop(
            "host-ipc",
            Kind::Bool,
            "Refused (NST0130): the pod would share the node's IPC namespace",
        ),
    ],
    ..node(
        "security",
        "Relaxes the container's security defaults (UID and GID 10001, `runAsNonRoot`, read-only root filesystem, every capability dropped, no privilege escalation, `seccompProfile: RuntimeDefault`) where an image needs it. Each relaxation is a warning naming what it opens, unless `reason=` says why; privileged containers, host namespaces and capabilities beyond the Pod Security Standards' `baseline` are refused. See docs/security.md.",
    )
};

pub const ANNOTATION: NodeSpec = NodeSpec {
    args: &[
        arg(
            "key",
            Kind::Str,
            "A Kubernetes qualified name: `[prefix/]name`, e.g. \"prometheus.io/scrape\"",
        ),
        arg("value", Kind::Str, "The value"),
    ],
    repeatable: true,
    named: true,
    ..node(
        "annotation",
        "An annotation on the pod template. `app.kubernetes.io/*`, `nestio.dev/*` and the keys nestioc sets itself (the mesh's) are reserved (NST0132).",
    )
};

pub const LABEL: NodeSpec = NodeSpec {
    args: &[
        arg(
            "key",
            Kind::Str,
            "A Kubernetes qualified name: `[prefix/]name`, e.g. \"team\"",
        ),
        arg(
            "value",
            Kind::Str,
            "A label value: at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit, or empty",
        ),
    ],
    repeatable: true,
    named: true,
    ..node(
        "label",
        "A label on the pod template. `app.kubernetes.io/*`, `nestio.dev/*` and the keys nestioc sets itself (the mesh's) are reserved (NST0132).",
    )
};

pub const SERVICE_ANNOTATION: NodeSpec = NodeSpec {
    args: &[
        arg(
            "key",
            Kind::Str,
            "A Kubernetes qualified name: `[prefix/]name`",
        ),
        arg("value", Kind::Str, "The value"),
    ],
    repeatable: true,
    named: true,
    ..node(
        "service-annotation",
        "An annotation on the service's Kubernetes Service (a cloud load balancer's settings, a scrape hint). Reserved keys as for `annotation`.",
    )
};

/// What a sidecar container may declare.
pub const SIDECAR_CHILDREN: &[&NodeSpec] = &[
    &IMAGE,
    &COMMAND,
    &ARGS,
    &PORT,
    &ENV,
    &ENV_SECRET,
    &RESOURCES,
    &VOLUME,
    &PROBE,
    &SECURITY,
];

pub const SIDECAR: NodeSpec = NodeSpec {
    args: &[arg(
        "name",
        Kind::Name,
        "The container's name (a DNS label, not the service's own nor a mesh proxy's)",
    )],
    children: SIDECAR_CHILDREN,
    repeatable: true,
    named: true,
    ..node(
        "sidecar",
        "A container that runs beside the service's own for the pod's whole life (a metrics exporter, a proxy to a database): a Kubernetes sidecar container (an init container with `restartPolicy: Always`, Kubernetes 1.29+), started before the service's container and stopped after it. Its `port`s are the service's: callers name them with `depends-on ... port=`, and the Service, NetworkPolicy and mesh policy follow. It has the service's security defaults and relaxations (`security`), its own `resources` (default 100m CPU, 128Mi memory), `probe`s (a TCP probe on its first port by default) and `/tmp`. A `volume` naming one of the service's volumes mounts it (at the sidecar's own `path`); another name is a scratch volume of the sidecar's own. The mesh's proxy is not one of these: the mesh injects it as always (under Linkerd as a Kubernetes sidecar container too, in a pod with a `sidecar` or `init-container`, so that it starts first and stops last).",
    )
};

/// What an init container may declare.
pub const INIT_CONTAINER_CHILDREN: &[&NodeSpec] = &[
    &IMAGE,
    &COMMAND,
    &ARGS,
    &ENV,
    &ENV_SECRET,
    &RESOURCES,
    &VOLUME,
    &SECURITY,
];

pub const INIT_CONTAINER: NodeSpec = NodeSpec {
    args: &[arg(
        "name",
        Kind::Name,
        "The container's name (a DNS label, not the service's own nor a mesh proxy's)",
    )],
    children: INIT_CONTAINER_CHILDREN,
    repeatable: true,
    named: true,
    ..node(
        "init-container",
        "A container that runs to completion before the service's container starts (a database migration, a file to prepare), in declaration order, after the sidecars have started. Without `image` it runs the service's own image, the tag of each environment and the tag CI deploys included (`init-container \"migrate\" { command \"python\" \"manage.py\" \"migrate\" }`): a migration runs the code of the release it prepares. It has no port and no probe; security, resources and volumes as for `sidecar`. Under a mesh it can reach other services only when the mesh's proxy starts first: under Linkerd, nestioc asks for the proxy as a Kubernetes sidecar container (`config.beta.linkerd.io/proxy-enable-native-sidecar`) in every pod with a `sidecar` or `init-container`, and in a scheduled job's (whose pod could not complete while the proxy runs); Istio does so by itself where every kubelet is 1.33+ (elsewhere an init container runs before Istio's proxy and cannot reach other services).",
    )
};

pub const VOLUME: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::Name, "Volume name")],
    props: &[
        req_prop("path", Kind::Str, "Absolute mount path in the container"),
        prop(
            "size",
            Kind::Quantity,
            "Size limit (scratch) or requested storage (persistent); default \"1Gi\"",
        ),
        prop(
            "persistent",
            Kind::Bool,
            "Keep the data across restarts: the service runs as a StatefulSet and each replica gets a PersistentVolumeClaim of its own (`volumeClaimTemplates`) instead of scratch space; a scheduled job mounts one claim",
        ),
        prop(
            "keep",
            Kind::Bool,
            "Persistent volumes: keep the claims, and their data, when the service is renamed or removed, scaled down or its application is deleted (default #true); #false deletes them with the service (all persistent volumes of a service agree)",
        ),
    ],
    repeatable: true,
    named: true,
    ..node(
        "volume",
        "A writable directory in the container (the root filesystem is read-only): scratch space, or a persistent volume.",
    )
};

pub const SCHEDULE: NodeSpec = NodeSpec {
    args: &[arg(
        "cron",
        Kind::Str,
        "A cron expression (`\"0 3 * * *\"`) or `@hourly`, `@daily`, `@weekly`, `@monthly`",
    )],
    props: &[prop(
        "concurrency",
        Kind::Enum(&["forbid", "replace", "allow"]),
        "What to do when a run is due while the last still runs (default forbid)",
    )],
    ..node(
        "schedule",
        "Runs the service on a schedule: a CronJob instead of a Deployment (no port, no autoscaling).",
    )
};

pub const EXPOSE: NodeSpec = NodeSpec {
    props: &[
        prop(
            "host",
            Kind::Str,
            "Public host name: HTTP through an Ingress, or the Istio ingress gateway",
        ),
        prop("path", Kind::Str, "Path prefix of `host` (default \"/\")"),
        prop(
            "port",
            Kind::PortName,
            "Which port: for `host` an HTTP one (default: the first HTTP port); for `node-port`/`load-balancer` any (default: the first)",
        ),
        prop(
            "tls-secret",
            Kind::Name,
            "Secret holding the TLS certificate of `host`",
        ),
        prop(
            "node-port",
            Kind::Int(30000, 32767),
            "Publish the port on every node at this port (a NodePort Service; the API server's default range)",
        ),
        prop(
            "load-balancer",
            Kind::Bool,
            "Publish the port through the cloud's load balancer (a LoadBalancer Service)",
        ),
    ],
    ..node(
        "expose",
        "Exposes the service outside the cluster, in one of two ways. `host=`: HTTP through an Ingress, or the Istio ingress gateway; production (an environment that syncs manually, or the only one) serves `host`, every other environment `<environment>.<host>` unless it overrides `expose` (NST0313). `node-port=` or `load-balancer=#true`: one port, any protocol, published by a Service `<service>-public` of type NodePort or LoadBalancer and open to every client on that port only; a node port is the cluster's, so only production takes the declared one (NST0140), every other environment gets one the API server allocates.",
    )
};

pub const ALLOW: NodeSpec = NodeSpec {
    args: &[arg(
        "warning",
        Kind::Str,
        "A warning's code (`\"NST0121\"`) or name (`\"unpinned-image\"`)",
    )],
    rest: Some(arg("warning", Kind::Str, "Another warning")),
    repeatable: true,
    ..node(
        "allow",
        "Accepts warnings that were read and judged: a warning located inside the `project`, `service` or `template` that says `allow` is not reported (nor made an error by `--deny-warnings`). Errors cannot be allowed. Say why in a comment next to it.",
    )
};

/// The nodes a service body, and a template body, may contain.
pub const SERVICE_CHILDREN: &[&NodeSpec] = &[
    &USES,
    &ALLOW,
    &OWNER,
    &TIER,
    &IMAGE,
    &LANGUAGE,
    &SOURCE_NODE,
    &DOCKERFILE,
    &BUILD,
    &REPLICAS,
    &RESOURCES,
    &PORT,
    &PROBE,
    &ENV,
    &ENV_SECRET,
    &DEPENDS_ON,
    &EXTERNAL,
    &SLO,
    &ROLLOUT,
    &LOGS,
    &EXPOSE,
    &ARGS,
    &COMMAND,
    &SECURITY,
    &ANNOTATION,
    &LABEL,
    &SERVICE_ANNOTATION,
    &SIDECAR,
    &INIT_CONTAINER,
    &VOLUME,
    &SCHEDULE,
    &SERVICE_CI,
];

pub const SERVICE: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::Name, "Service name")],
    children: SERVICE_CHILDREN,
    repeatable: true,
    named: true,
    ..node("service", "A microservice.")
};

pub const PARAM: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::Name, "Parameter name")],
    props: &[prop(
        "default",
        Kind::Scalar,
        "Value when `uses` does not pass one; without it the parameter is required",
    )],
    repeatable: true,
    named: true,
    ..node(
        "param",
        "A template parameter, referenced in the template as `(param)\"name\"` and passed by `uses \"template\" name=value`.",
    )
};

/// A template body: service entries plus parameters.
pub const TEMPLATE_CHILDREN: &[&NodeSpec] = &[
    &PARAM,
    &USES,
    &ALLOW,
    &OWNER,
    &TIER,
    &IMAGE,
    &LANGUAGE,
    &SOURCE_NODE,
    &DOCKERFILE,
    &BUILD,
    &REPLICAS,
    &RESOURCES,
    &PORT,
    &PROBE,
    &ENV,
    &ENV_SECRET,
    &DEPENDS_ON,
    &EXTERNAL,
    &SLO,
    &ROLLOUT,
    &LOGS,
    &EXPOSE,
    &ARGS,
    &COMMAND,
    &SECURITY,
    &ANNOTATION,
    &LABEL,
    &SERVICE_ANNOTATION,
    &SIDECAR,
    &INIT_CONTAINER,
    &VOLUME,
    &SCHEDULE,
    &SERVICE_CI,
];

pub const TEMPLATE: NodeSpec = NodeSpec {
    args: &[arg("name", Kind::Name, "Template name")],
    children: TEMPLATE_CHILDREN,
    repeatable: true,
    named: true,
    ..node(
        "template",
        "Reusable service entries, merged into services with `uses`.",
    )
};

/// The nodes allowed at the top level of a file.
pub const TOP_LEVEL: &[&NodeSpec] = &[&PROJECT, &SERVICE, &TEMPLATE];

/// Looks up the spec of a node by its path of names from the top level.
#[must_use]
pub fn find(path: &[&str]) -> Option<&'static NodeSpec> {
    let (first, rest) = path.split_first()?;
    let mut spec = *TOP_LEVEL.iter().find(|s| s.name == *first)?;
    for name in rest {
        spec = *spec.children.iter().find(|s| s.name == *name)?;
    }
    Some(spec)
}

/// How the kinds of values are read: the part of the reference no table row can hold.
const VALUES_MD: &str = "## Values\n\n\
- **Durations** are a number and a unit, `ms`, `s`, `m`, `h`, `d` or `w`, possibly \
several (`\"1h30m\"`). A number may have decimals (`\"2.5s\"`, `\"1.5h\"`), read exactly: \
a duration is a whole number of milliseconds, so one that leaves a fraction of a \
millisecond (`\"0.5ms\"`, `\"1.0005s\"`) is an error (NST0107) whose help gives the two \
nearest exact spellings. Where an output counts whole seconds (an Argo Rollouts pause), a \
duration that is not a whole number of seconds is an error too, never rounded. Each \
output gets the spelling its reader parses: `\"1.5s\"` for Istio, `\"1500ms\"` for \
Linkerd's annotations (one number, one unit), `\"36h\"` rather than `\"1d12h\"` for \
Argo Rollouts (Go's parser has no day), `\"1h30m\"` for Prometheus.\n\
- **Environment variable names** are what the Kubernetes API server accepts (1.34 and \
later): any printable ASCII character but `=`, so `spring.rabbitmq.host` and `my-var` \
too. Names reach only YAML, where they are quoted as needed (docs/security.md).\n\
- **Image references** follow the distribution reference grammar: see `image` below.\n\n";

/// Names users try from Kubernetes, Helm or Score that are not nodes of the language, and
/// what nestio offers instead: the unknown-node diagnostic (NST0101) answers with it, and
/// the reference lists it.
pub const INSTEAD: &[(&[&str], &str)] = &[
    (
        &["container", "containers"],
        "a service is one container: its `image`, `port`, `env`, `resources`, `command` and `args` are the container's; another container in the pod is a `sidecar`, one that runs to completion first an `init-container`",
    ),
    (
        &[
            "kind",
            "workload",
            "deployment",
            "statefulset",
            "replicaset",
        ],
        "nestioc chooses the workload: a Deployment; a StatefulSet for a service with a `persistent` volume; a CronJob with `schedule`; an Argo Rollout with `rollout \"canary\"` or `rollout \"blue-green\"`",
    ),
    (
        &["daemonset"],
        "not supported: nestio runs services, not node agents (the log router of `logging \"fluentd\"` is the one DaemonSet it writes)",
    ),
    (
        &["cronjob", "job", "cron"],
        "`schedule \"0 3 * * *\"` runs the service as a CronJob",
    ),
    (
        &["configmap", "config", "configuration"],
        "`env \"NAME\" \"value\"` for settings; a `template` shares them between services (files mounted from a ConfigMap are not supported)",
    ),
    (
        &["secret", "secrets", "secretref"],
        "`env-secret \"NAME\" secret=\"SECRET\" key=\"KEY\"` reads a key of an existing Secret",
    ),
    (
        &[
            "capabilities",
            "securitycontext",
            "security-context",
            "privileged",
        ],
        "`security add-capabilities=\"NET_BIND_SERVICE\"`, `run-as-user=`, `read-only-root=#false`, ...: each relaxation of the secure defaults is explicit, and privileged pods are refused",
    ),
    (
        &[
            "node-port",
            "nodeport",
            "load-balancer",
            "loadbalancer",
            "service-type",
        ],
        "`expose node-port=30001` or `expose load-balancer=#true`",
    ),
    (
        &["ingress", "gateway", "route", "host"],
        "`expose host=\"shop.example.com\" path=\"/\"` (an Ingress, or the mesh's gateway)",
    ),
    (
        &["hpa", "autoscaling", "autoscale", "autoscaler"],
        "`replicas 2 max=10 cpu-target=70`",
    ),
    (
        &[
            "pvc",
            "volumeclaim",
            "persistentvolumeclaim",
            "storage",
            "volumes",
        ],
        "`volume \"data\" path=\"/data\" size=\"10Gi\" persistent=#true`",
    ),
    (
        &["networkpolicy", "network-policy", "ingress-rule"],
        "access follows the graph: a `depends-on` edge admits exactly that caller, on the port it names",
    ),
    (
        &["serviceaccount", "service-account", "rbac", "role"],
        "every service gets a ServiceAccount of its own, with no Kubernetes API access (not configurable)",
    ),
    (
        &[
            "liveness",
            "readiness",
            "startup",
            "healthcheck",
            "health-check",
            "livenessprobe",
            "readinessprobe",
        ],
        "`probe \"http\" path=\"/health\" port=\"http\"` (`for=\"readiness\"`, `\"liveness\"`, `\"startup\"`)",
    ),
    (
        &["limits", "requests", "cpu", "memory"],
        "`resources cpu=\"100m\" memory=\"128Mi\" cpu-limit=\"500m\" memory-limit=\"512Mi\"`",
    ),
    (
        &["labels", "annotations"],
        "one `label \"KEY\" \"VALUE\"` or `annotation \"KEY\" \"VALUE\"` per entry",
    ),
    (&["entrypoint", "cmd"], "`command \"/app\"` (and `args`)"),
    (
        &["helm", "chart", "values", "manifest"],
        "nestioc writes the charts and manifests from the topology (`nestioc build`)",
    ),
];

/// What nestio offers instead of `name`, if it is a name users try.
#[must_use]
pub fn instead_of(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    INSTEAD
        .iter()
        .find(|(names, _)| names.contains(&lower.as_str()))
        .map(|(_, offer)| *offer)
}

/// The language reference (`docs/language.md`), generated from this table so that the
/// documentation cannot drift from what the compiler accepts.
#[must_use]
pub fn reference_markdown() -> String {
    fn node_md(spec: &NodeSpec, path: &str, out: &mut String) {
        let full = if path.is_empty() {
            spec.name.to_owned()
        } else {
            format!("{path} > {}", spec.name)
        };
        out.push_str(&format!("### `{}`\n\n", full));
        out.push_str(&format!("{}\n\n", spec.doc));
        out.push_str(&format!(
            "Usage: `{}`{}{}\n\n",
            spec.usage(),
            if spec.children.is_empty() {
                ""
            } else {
                " `{ ... }`"
            },
            match (spec.repeatable, spec.named) {
                (true, true) => " (repeatable; unique by its first argument)",
                (true, false) => " (repeatable)",
                _ => "",
            }
        ));
        if !spec.args.is_empty() || spec.rest.is_some() || !spec.props.is_empty() {
            out.push_str("| entry | kind | required | meaning |\n|---|---|---|---|\n");
            for a in spec.args {
                out.push_str(&format!(
                    "| argument `{}` | {} | {} | {} |\n",
                    a.name.to_uppercase(),
                    a.kind.describe(),
                    if a.required { "yes" } else { "no" },
                    a.doc
                ));
            }
            if let Some(r) = spec.rest {
                out.push_str(&format!(
                    "| more arguments `{}...` | {} | no | {} |\n",
                    r.name.to_uppercase(),
                    r.kind.describe(),
                    r.doc
                ));
            }
            for p in spec.props {
                out.push_str(&format!(
                    "| `{}=` | {} | {} | {} |\n",
                    p.name,
                    p.kind.describe(),
                    if p.required { "yes" } else { "no" },
                    p.doc
                ));
            }
            out.push('\n');
        }
        if spec.name == TEMPLATE.name {
            out.push_str("Children: the same as `service`; see above.\n\n");
            return;
        }
        if !spec.children.is_empty() {
            out.push_str(&format!(
                "Children: {}.\n\n",
                spec.children
                    .iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for c in spec.children {
            node_md(c, &full, out);
        }
    }
    let mut out = String::from(
        "<!-- Generated from compiler/src/lang.rs by `NESTIOC_UPDATE_DOCS=1 cargo test docs`. Do not edit. -->\n\
         # Language reference\n\n\
         Every node, argument and property `nestioc` accepts, with its kind. KDL v2 syntax: strings \
         are quoted, booleans are `#true`/`#false`, properties are `key=value`. Anything not listed \
         here is reported as an unknown node (NST0101) or property (NST0102), with a suggestion.\n\n\
         A project is a directory with `nestio.kdl` at its root; every `*.kdl` file under it \
         (except hidden directories and the output directory), links to files and directories \
         included, is part of it. Each file holds \
         top-level `project`, `service` and `template` nodes.\n\n",
    );
    out.push_str(VALUES_MD);
    out.push_str("## Project\n\n");
    node_md(&PROJECT, "", &mut out);
    out.push_str("## Services\n\n");
    node_md(&SERVICE, "", &mut out);
    out.push_str("## Templates\n\n");
    node_md(&TEMPLATE, "", &mut out);
    out.push_str(
        "## Not in the language\n\nNames people try from Kubernetes, Helm or Score, and what \
         to write instead (the unknown-node diagnostic, NST0101, says the same):\n\n\
         | instead of | write |\n|---|---|\n",
    );
    for (names, offer) in INSTEAD {
        out.push_str(&format!(
            "| {} | {offer} |\n",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Branching, Cd, CiSystem, LogSystem, Mesh};

    /// The language's choices are the model's enums, spelled the same and in the same
    /// order (the order `ci` lists systems in, and the docs list choices in): a variant
    /// added to one and not the other would be accepted and dropped, or never accepted.
    #[test]
    fn project_choices_are_the_models_enums() {
        let names = |v: &[&'static str]| v.to_vec();
        assert_eq!(names(CI_SYSTEMS), CiSystem::ALL.map(CiSystem::as_str));
        assert_eq!(names(CD_SYSTEMS), Cd::ALL.map(Cd::as_str));
        assert_eq!(names(BRANCHINGS), Branching::ALL.map(Branching::as_str));
        // `none` is no log router: the model has no `Logging` then.
        let mut logging = LogSystem::ALL.map(LogSystem::as_str).to_vec();
        logging.push("none");
        assert_eq!(names(LOGGING), logging);
        assert_eq!(
            names(MESHES),
            [Mesh::Istio, Mesh::Linkerd, Mesh::None].map(Mesh::as_str)
        );
    }
}
