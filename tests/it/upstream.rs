//! `examples/bank` is Google's Bank of Anthos at tag v0.6.9
//! (https://github.com/GoogleCloudPlatform/bank-of-anthos/tree/v0.6.9), described as
//! faithfully as the language allows. This test compares what nestioc renders for it
//! (`kubernetes/<env>/<service>.yaml`, every environment) with the facts of upstream's
//! release manifests (`kubernetes-manifests/*.yaml` at v0.6.9): workload kind and replicas,
//! image, Service and container ports, environment variables, resources, probes, volume
//! mounts and the pods' security settings. Every difference must be one the table
//! [`KNOWN`] expects (with the exact value nestioc renders), and [`KNOWN`] must match the
//! table "Compared by tests/it/upstream.rs" of `examples/bank/README.md`, id for id: a
//! difference that appears, disappears or changes fails here until both are updated.
//!
//! The facts below are data copied from upstream's files (named per workload, at tag
//! v0.6.9); no upstream code is part of this repository.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::support::{compile, render_human, root};

const REGISTRY: &str = "us-central1-docker.pkg.dev/bank-of-anthos-ci/bank-of-anthos";
const TAG: &str = "v0.6.9";

// ---------------------------------------------------------------------------------------
// Upstream's facts (kubernetes-manifests/*.yaml at v0.6.9)
// ---------------------------------------------------------------------------------------

/// ConfigMap `environment-config` (kubernetes-manifests/config.yaml).
const ENVIRONMENT_CONFIG: &[(&str, &str)] = &[
    ("LOCAL_ROUTING_NUM", "883745000"),
    ("PUB_KEY_PATH", "/tmp/.ssh/publickey"),
];

/// ConfigMap `service-api-config` (kubernetes-manifests/config.yaml).
const SERVICE_API_CONFIG: &[(&str, &str)] = &[
    ("TRANSACTIONS_API_ADDR", "ledgerwriter:8080"),
    ("BALANCES_API_ADDR", "balancereader:8080"),
    ("HISTORY_API_ADDR", "transactionhistory:8080"),
    ("CONTACTS_API_ADDR", "contacts:8080"),
    ("USERSERVICE_API_ADDR", "userservice:8080"),
];

/// ConfigMap `demo-data-config` (kubernetes-manifests/config.yaml).
const DEMO_DATA_CONFIG: &[(&str, &str)] = &[
    ("USE_DEMO_DATA", "True"),
    ("DEMO_LOGIN_USERNAME", "testuser"),
    ("DEMO_LOGIN_PASSWORD", "bankofanthos"),
];

/// ConfigMap `accounts-db-config` (kubernetes-manifests/accounts-db.yaml).
const ACCOUNTS_DB_CONFIG: &[(&str, &str)] = &[
    (
        "ACCOUNTS_DB_URI",
        "postgresql://accounts-admin:accounts-pwd@accounts-db:5432/accounts-db",
    ),
    ("POSTGRES_DB", "accounts-db"),
    ("POSTGRES_PASSWORD", "accounts-pwd"),
    ("POSTGRES_USER", "accounts-admin"),
];

/// ConfigMap `ledger-db-config` (kubernetes-manifests/ledger-db.yaml).
const LEDGER_DB_CONFIG: &[(&str, &str)] = &[
    ("POSTGRES_DB", "postgresdb"),
    ("POSTGRES_PASSWORD", "password"),
    ("POSTGRES_USER", "admin"),
    ("SPRING_DATASOURCE_PASSWORD", "password"),
    (
        "SPRING_DATASOURCE_URL",
        "jdbc:postgresql://ledger-db:5432/postgresdb",
    ),
    ("SPRING_DATASOURCE_USERNAME", "admin"),
];

/// Where an upstream environment variable's value comes from.
#[derive(Clone, Copy)]
enum Env {
    /// `value:`, or a `configMapKeyRef` into a ConfigMap the manifests ship, resolved.
    Lit(&'static str),
    /// `valueFrom.fieldRef`.
    Field(&'static str),
    /// `valueFrom.configMapKeyRef` with `optional: true`, into a ConfigMap the manifests
    /// do not ship (`oauth-config`): the variable is unset.
    OptionalConfigMap(&'static str, &'static str),
}

/// A probe as upstream writes it; unset timings take the API defaults in [`timing`].
#[derive(Clone, Copy, Default)]
struct Probe {
    path: &'static str,
    port: u16,
    delay: Option<u32>,
    period: Option<u32>,
    timeout: Option<u32>,
    failure: Option<u32>,
}

fn http(path: &'static str, port: u16) -> Probe {
    Probe {
        path,
        port,
        ..Probe::default()
    }
}

impl Probe {
    fn delay(mut self, s: u32) -> Self {
        self.delay = Some(s);
        self
    }
    fn period(mut self, s: u32) -> Self {
        self.period = Some(s);
        self
    }
    fn timeout(mut self, s: u32) -> Self {
        self.timeout = Some(s);
        self
    }
    fn failure(mut self, n: u32) -> Self {
        self.failure = Some(n);
        self
    }
}

/// A Service port: name, port, targetPort.
type ServicePort = (&'static str, u16, u16);

/// One workload of upstream's release manifests.
struct Workload {
    /// The Deployment or StatefulSet, its Service and our service: the same name.
    name: &'static str,
    /// `kubernetes-manifests/<file>.yaml` at v0.6.9.
    file: &'static str,
    kind: &'static str,
    /// The container's name.
    container: &'static str,
    digest: &'static str,
    /// The Service's type and ports (name, port, targetPort), if it has a Service.
    service: Option<(&'static str, Vec<ServicePort>)>,
    container_ports: Vec<u16>,
    /// `envFrom` ConfigMaps, in order.
    env_from: Vec<&'static [(&'static str, &'static str)]>,
    env: Vec<(&'static str, Env)>,
    requests: Vec<(&'static str, &'static str)>,
    limits: Vec<(&'static str, &'static str)>,
    readiness: Option<Probe>,
    liveness: Option<Probe>,
    startup: Option<Probe>,
    /// Container mounts: path and what is mounted there.
    mounts: Vec<(&'static str, &'static str)>,
    /// `serviceAccountName`.
    service_account: &'static str,
    /// `terminationGracePeriodSeconds`, if set.
    grace: Option<u32>,
    /// The pod runs as 1000:1000 (fsGroup 1000) with a read-only root filesystem; without,
    /// the workload sets no securityContext at all.
    hardened: bool,
}

/// The nine workloads (seven services, two databases) of kubernetes-manifests/ at v0.6.9.
fn upstream() -> Vec<Workload> {
    let api_env = |extra: &[(&'static str, Env)]| {
        let mut v = vec![
            ("VERSION", Env::Lit("v0.6.9")),
            ("PORT", Env::Lit("8080")),
            ("ENABLE_TRACING", Env::Lit("true")),
        ];
        v.extend_from_slice(extra);
        v
    };
    let jvm_opts = Env::Lit(
        "-XX:+UnlockExperimentalVMOptions -XX:+UseCGroupMemoryLimitForHeap -Xms256m -Xmx512m",
    );
    let http_service = Some(("ClusterIP", vec![("http", 8080, 8080)]));
    let db_service = Some(("ClusterIP", vec![("tcp", 5432, 5432)]));
    let app_mounts = |key: &'static str| vec![("/tmp", "emptyDir"), ("/tmp/.ssh", key)];
    let db_mounts = vec![("/var/lib/postgresql/data", "emptyDir subPath=postgres")];
    vec![
        Workload {
            name: "frontend",
            file: "frontend.yaml",
            kind: "Deployment",
            container: "front",
            digest: "sha256:70d8db0c0d9edfd9c40e3508265d3addf007187ed30a2c48cd7f30d40e428f13",
            service: Some(("LoadBalancer", vec![("http", 80, 8080)])),
            container_ports: vec![],
            env_from: vec![ENVIRONMENT_CONFIG, SERVICE_API_CONFIG],
            env: api_env(&[
                ("SCHEME", Env::Lit("http")),
                ("LOG_LEVEL", Env::Lit("info")),
                // configMapKeyRef demo-data-config DEMO_LOGIN_USERNAME / _PASSWORD
                ("DEFAULT_USERNAME", Env::Lit("testuser")),
                ("DEFAULT_PASSWORD", Env::Lit("bankofanthos")),
                (
                    "REGISTERED_OAUTH_CLIENT_ID",
                    Env::OptionalConfigMap("oauth-config", "DEMO_OAUTH_CLIENT_ID"),
                ),
                (
                    "ALLOWED_OAUTH_REDIRECT_URI",
                    Env::OptionalConfigMap("oauth-config", "DEMO_OAUTH_REDIRECT_URI"),
                ),
            ]),
            requests: vec![("cpu", "100m"), ("memory", "64Mi")],
            limits: vec![("cpu", "250m"), ("memory", "128Mi")],
            readiness: Some(http("/ready", 8080).delay(10).period(5).timeout(10)),
            liveness: Some(http("/ready", 8080).delay(60).period(15).timeout(30)),
            startup: None,
            mounts: app_mounts("secret jwt-key [jwtRS256.key.pub]"),
            service_account: "bank-of-anthos",
            grace: Some(5),
            hardened: true,
        },
        Workload {
            name: "userservice",
            file: "userservice.yaml",
            kind: "Deployment",
            container: "userservice",
            digest: "sha256:5e2357fb2e429588b2afa497afc6e948b87f050481041b273f1c8b97003620c2",
            service: http_service.clone(),
            container_ports: vec![8080],
            env_from: vec![ENVIRONMENT_CONFIG, ACCOUNTS_DB_CONFIG],
            env: api_env(&[
                ("TOKEN_EXPIRY_SECONDS", Env::Lit("3600")),
                ("PRIV_KEY_PATH", Env::Lit("/tmp/.ssh/privatekey")),
                ("LOG_LEVEL", Env::Lit("info")),
            ]),
            requests: vec![
                ("cpu", "260m"),
                ("ephemeral-storage", "0.25Gi"),
                ("memory", "128Mi"),
            ],
            limits: vec![
                ("cpu", "500m"),
                ("ephemeral-storage", "0.25Gi"),
                ("memory", "256Mi"),
            ],
            readiness: Some(http("/ready", 8080).delay(10).period(5).timeout(10)),
            liveness: None,
            startup: None,
            mounts: app_mounts("secret jwt-key [jwtRS256.key jwtRS256.key.pub]"),
            service_account: "bank-of-anthos",
            grace: Some(5),
            hardened: true,
        },
        Workload {
            name: "contacts",
            file: "contacts.yaml",
            kind: "Deployment",
            container: "contacts",
            digest: "sha256:986fda4ca6779ef6f2a98c43c38beb1959118d3001ebb138f3dcb0a274b6a68e",
            service: http_service.clone(),
            container_ports: vec![],
            env_from: vec![ENVIRONMENT_CONFIG, ACCOUNTS_DB_CONFIG],
            env: api_env(&[("LOG_LEVEL", Env::Lit("info"))]),
            requests: vec![
                ("cpu", "100m"),
                ("ephemeral-storage", "0.25Gi"),
                ("memory", "64Mi"),
            ],
            limits: vec![
                ("cpu", "250m"),
                ("ephemeral-storage", "0.25Gi"),
                ("memory", "128Mi"),
            ],
            readiness: Some(http("/ready", 8080).delay(10).period(5).timeout(10)),
            liveness: None,
            startup: None,
            mounts: app_mounts("secret jwt-key [jwtRS256.key.pub]"),
            service_account: "bank-of-anthos",
            grace: Some(5),
            hardened: true,
        },
        Workload {
            name: "balancereader",
            file: "balance-reader.yaml",
            kind: "Deployment",
            container: "balancereader",
            digest: "sha256:6e4b48918d624f17653f230b53bbddf6c23da45606a89297d2eec72a46c830f9",
            service: http_service.clone(),
            container_ports: vec![],
            env_from: vec![ENVIRONMENT_CONFIG, LEDGER_DB_CONFIG],
            env: api_env(&[
                ("ENABLE_METRICS", Env::Lit("true")),
                ("POLL_MS", Env::Lit("100")),
                ("CACHE_SIZE", Env::Lit("1000000")),
                ("JVM_OPTS", jvm_opts),
                ("LOG_LEVEL", Env::Lit("info")),
                ("NAMESPACE", Env::Field("metadata.namespace")),
            ]),
            requests: vec![
                ("cpu", "100m"),
                ("ephemeral-storage", "0.5Gi"),
                ("memory", "256Mi"),
            ],
            limits: vec![
                ("cpu", "500m"),
                ("ephemeral-storage", "0.5Gi"),
                ("memory", "512Mi"),
            ],
            readiness: Some(http("/ready", 8080).delay(60).period(5).timeout(10)),
            liveness: Some(http("/healthy", 8080).delay(120).period(5).timeout(10)),
            startup: Some(http("/healthy", 8080).failure(30).period(10)),
            mounts: app_mounts("secret jwt-key [jwtRS256.key.pub]"),
            service_account: "bank-of-anthos",
            grace: Some(5),
            hardened: true,
        },
        Workload {
            name: "ledgerwriter",
            file: "ledger-writer.yaml",
            kind: "Deployment",
            container: "ledgerwriter",
            digest: "sha256:72509132f868a3d592cb734a7bd410b1bf69d55d38c413279b18e8265f9d98f8",
            service: http_service.clone(),
            container_ports: vec![],
            env_from: vec![ENVIRONMENT_CONFIG, SERVICE_API_CONFIG, LEDGER_DB_CONFIG],
            env: api_env(&[
                ("ENABLE_METRICS", Env::Lit("true")),
                ("JVM_OPTS", jvm_opts),
                ("LOG_LEVEL", Env::Lit("info")),
                ("NAMESPACE", Env::Field("metadata.namespace")),
            ]),
            requests: vec![
                ("cpu", "100m"),
                ("ephemeral-storage", "0.5Gi"),
                ("memory", "256Mi"),
            ],
            limits: vec![
                ("cpu", "500m"),
                ("ephemeral-storage", "0.5Gi"),
                ("memory", "512Mi"),
            ],
            readiness: Some(http("/ready", 8080).delay(60).period(5).timeout(10)),
            liveness: None,
            startup: Some(http("/ready", 8080).failure(30).period(10)),
            mounts: app_mounts("secret jwt-key [jwtRS256.key.pub]"),
            service_account: "bank-of-anthos",
            grace: Some(5),
            hardened: true,
        },
        Workload {
            name: "transactionhistory",
            file: "transaction-history.yaml",
            kind: "Deployment",
            container: "transactionhistory",
            digest: "sha256:1fa3150e4d43d2645ce8a76640050c3a1aeeec1bc0731dbb2957f8db7a27f321",
            service: http_service,
            container_ports: vec![],
            env_from: vec![ENVIRONMENT_CONFIG, LEDGER_DB_CONFIG],
            env: api_env(&[
                ("ENABLE_METRICS", Env::Lit("true")),
                ("POLL_MS", Env::Lit("100")),
                ("CACHE_SIZE", Env::Lit("1000")),
                ("CACHE_MINUTES", Env::Lit("60")),
                ("HISTORY_LIMIT", Env::Lit("100")),
                ("JVM_OPTS", jvm_opts),
                ("LOG_LEVEL", Env::Lit("info")),
                ("NAMESPACE", Env::Field("metadata.namespace")),
            ]),
            requests: vec![
                ("cpu", "100m"),
                ("ephemeral-storage", "0.5Gi"),
                ("memory", "256Mi"),
            ],
            limits: vec![
                ("cpu", "500m"),
                ("ephemeral-storage", "0.5Gi"),
                ("memory", "512Mi"),
            ],
            readiness: Some(http("/ready", 8080).delay(60).period(5).timeout(10)),
            liveness: Some(http("/healthy", 8080).delay(120).period(5).timeout(10)),
            startup: Some(http("/healthy", 8080).failure(30).period(10)),
            mounts: app_mounts("secret jwt-key [jwtRS256.key.pub]"),
            service_account: "bank-of-anthos",
            grace: Some(5),
            hardened: true,
        },
        Workload {
            name: "loadgenerator",
            file: "loadgenerator.yaml",
            kind: "Deployment",
            container: "loadgenerator",
            digest: "sha256:a95600a753cad11b89ed53026ed49abefd830126b8574881659cc74cdc27d1a2",
            service: None,
            container_ports: vec![],
            env_from: vec![],
            env: vec![
                ("FRONTEND_ADDR", Env::Lit("frontend:80")),
                ("USERS", Env::Lit("5")),
                ("LOG_LEVEL", Env::Lit("error")),
            ],
            requests: vec![("cpu", "100m"), ("memory", "512Mi")],
            limits: vec![("cpu", "250m"), ("memory", "1Gi")],
            readiness: None,
            liveness: None,
            startup: None,
            mounts: vec![],
            service_account: "default",
            grace: Some(5),
            hardened: true,
        },
        Workload {
            name: "accounts-db",
            file: "accounts-db.yaml",
            kind: "StatefulSet",
            container: "accounts-db",
            digest: "sha256:2be5f41ac8b9bdeafeef6f7b23b08990846e4d3c3abdb5223b9441472d3d43d8",
            service: db_service.clone(),
            container_ports: vec![5432],
            env_from: vec![ENVIRONMENT_CONFIG, ACCOUNTS_DB_CONFIG, DEMO_DATA_CONFIG],
            env: vec![],
            requests: vec![("cpu", "100m"), ("memory", "128Mi")],
            limits: vec![("cpu", "250m"), ("memory", "512Mi")],
            readiness: None,
            liveness: None,
            startup: None,
            mounts: db_mounts.clone(),
            // Also `serviceAccount: bank-of-anthos`, the deprecated alias: "If both are
            // specified, ServiceAccountName (the new field) wins" (kubernetes
            // pkg/apis/core/v1/conversion.go, Convert_v1_PodSpec_To_core_PodSpec).
            service_account: "default",
            grace: None,
            hardened: false,
        },
        Workload {
            name: "ledger-db",
            file: "ledger-db.yaml",
            kind: "StatefulSet",
            container: "postgres",
            digest: "sha256:60bac57e17b83e3ecb28557f22edd16cce15abe80bcbe8a9b240455e3f4666f4",
            service: db_service,
            container_ports: vec![5432],
            env_from: vec![ENVIRONMENT_CONFIG, LEDGER_DB_CONFIG, DEMO_DATA_CONFIG],
            env: vec![],
            requests: vec![("cpu", "100m"), ("memory", "512Mi")],
            limits: vec![("cpu", "250m"), ("memory", "1Gi")],
            readiness: None,
            liveness: None,
            startup: None,
            mounts: db_mounts,
            // Also `serviceAccount: bank-of-anthos`, the deprecated alias: "If both are
            // specified, ServiceAccountName (the new field) wins" (kubernetes
            // pkg/apis/core/v1/conversion.go, Convert_v1_PodSpec_To_core_PodSpec).
            service_account: "default",
            grace: None,
            hardened: false,
        },
    ]
}

// ---------------------------------------------------------------------------------------
// The differences examples/bank/README.md lists, with what nestioc renders instead
// ---------------------------------------------------------------------------------------

/// An expected difference: for `services` (empty: every one), the fact `key` (a trailing
/// `*` matches any suffix) is `ours` in our manifests (`None`: absent) where upstream has
/// something else. In `ours`, `{namespace}` stands for the environment's namespace and
/// `{service}` for the service's name.
struct Known {
    id: &'static str,
    services: &'static [&'static str],
    key: &'static str,
    ours: Option<&'static str>,
}

const APIS: &[&str] = &[
    "frontend",
    "userservice",
    "contacts",
    "balancereader",
    "ledgerwriter",
    "transactionhistory",
];
const JAVA: &[&str] = &["balancereader", "ledgerwriter", "transactionhistory"];
const ACCOUNTS: &[&str] = &["userservice", "contacts", "accounts-db"];
const LEDGER: &[&str] = &[
    "balancereader",
    "ledgerwriter",
    "transactionhistory",
    "ledger-db",
];
const DBS: &[&str] = &["accounts-db", "ledger-db"];
/// nestioc's probe timings (compiler/src/emit/chart.rs): readiness and liveness.
const READINESS_TIMING: &str = "delay=0 period=10 timeout=2 failure=3";
const LIVENESS_TIMING: &str = "delay=10 period=20 timeout=2 failure=3";

const KNOWN: &[Known] = &[
    // The JWT keys: upstream mounts Secret jwt-key at /tmp/.ssh.
    Known {
        id: "jwt-key-files",
        services: APIS,
        key: "mount./tmp/.ssh",
        ours: None,
    },
    // Credentials from Secrets instead of ConfigMaps and literals.
    Known {
        id: "credentials-in-secrets",
        services: ACCOUNTS,
        key: "env.POSTGRES_PASSWORD",
        ours: Some("secretKeyRef accounts-db/password"),
    },
    Known {
        id: "credentials-in-secrets",
        services: ACCOUNTS,
        key: "env.ACCOUNTS_DB_URI",
        ours: Some("secretKeyRef accounts-db/uri"),
    },
    Known {
        id: "credentials-in-secrets",
        services: LEDGER,
        key: "env.POSTGRES_PASSWORD",
        ours: Some("secretKeyRef ledger-db/password"),
    },
    Known {
        id: "credentials-in-secrets",
        services: LEDGER,
        key: "env.SPRING_DATASOURCE_PASSWORD",
        ours: Some("secretKeyRef ledger-db/password"),
    },
    Known {
        id: "credentials-in-secrets",
        services: DBS,
        key: "env.DEMO_LOGIN_PASSWORD",
        ours: Some("secretKeyRef demo-login/password"),
    },
    Known {
        id: "credentials-in-secrets",
        services: &["frontend"],
        key: "env.DEFAULT_PASSWORD",
        ours: Some("secretKeyRef demo-login/password"),
    },
    Known {
        id: "token-expiry-secret",
        services: &["userservice"],
        key: "env.TOKEN_EXPIRY_SECONDS",
        ours: Some("secretKeyRef userservice/token-expiry-seconds"),
    },
    Known {
        id: "namespace-literal",
        services: JAVA,
        key: "env.NAMESPACE",
        ours: Some("= {namespace}"),
    },
    Known {
        id: "oauth-config",
        services: &["frontend"],
        key: "env.REGISTERED_OAUTH_CLIENT_ID",
        ours: None,
    },
    Known {
        id: "oauth-config",
        services: &["frontend"],
        key: "env.ALLOWED_OAUTH_REDIRECT_URI",
        ours: None,
    },
    Known {
        id: "frontend-tls",
        services: &["frontend"],
        key: "env.SCHEME",
        ours: Some("= https"),
    },
    Known {
        id: "frontend-exposure",
        services: &["frontend"],
        key: "service.type",
        ours: Some("ClusterIP"),
    },
    Known {
        id: "ephemeral-storage",
        services: &[
            "userservice",
            "contacts",
            "balancereader",
            "ledgerwriter",
            "transactionhistory",
        ],
        key: "resources.*.ephemeral-storage",
        ours: None,
    },
    Known {
        id: "container-ports",
        services: &[
            "frontend",
            "contacts",
            "balancereader",
            "ledgerwriter",
            "transactionhistory",
        ],
        key: "container.ports",
        ours: Some("8080"),
    },
    Known {
        id: "probe-timings",
        services: APIS,
        key: "probe.readiness.timing",
        ours: Some(READINESS_TIMING),
    },
    Known {
        id: "probe-timings",
        services: &["frontend", "balancereader", "transactionhistory"],
        key: "probe.liveness.timing",
        ours: Some(LIVENESS_TIMING),
    },
    Known {
        id: "readiness-path",
        services: &["balancereader", "transactionhistory"],
        key: "probe.readiness",
        ours: Some("httpGet /healthy 8080"),
    },
    Known {
        id: "liveness-added",
        services: &["userservice", "contacts", "ledgerwriter"],
        key: "probe.liveness",
        ours: Some("httpGet /ready 8080"),
    },
    Known {
        id: "liveness-added",
        services: &["userservice", "contacts", "ledgerwriter"],
        key: "probe.liveness.timing",
        ours: Some(LIVENESS_TIMING),
    },
    Known {
        id: "startup-probe",
        services: JAVA,
        key: "probe.startup*",
        ours: None,
    },
    // The databases: the stdlib's postgres preset.
    Known {
        id: "db-port-name",
        services: DBS,
        key: "service.ports",
        ours: Some("postgres 5432->5432"),
    },
    Known {
        id: "db-probes",
        services: DBS,
        key: "probe.readiness",
        ours: Some("tcpSocket 5432"),
    },
    Known {
        id: "db-probes",
        services: DBS,
        key: "probe.readiness.timing",
        ours: Some(READINESS_TIMING),
    },
    Known {
        id: "db-probes",
        services: DBS,
        key: "probe.liveness",
        ours: Some("tcpSocket 5432"),
    },
    Known {
        id: "db-probes",
        services: DBS,
        key: "probe.liveness.timing",
        ours: Some(LIVENESS_TIMING),
    },
    Known {
        id: "db-persistent",
        services: DBS,
        key: "mount./var/lib/postgresql/data",
        ours: Some("volumeClaimTemplate"),
    },
    Known {
        id: "db-pgdata",
        services: DBS,
        key: "env.PGDATA",
        ours: Some("= /var/lib/postgresql/data/pgdata"),
    },
    Known {
        id: "container-names",
        services: &["frontend", "ledger-db"],
        key: "container.name",
        ours: Some("{service}"),
    },
    Known {
        id: "service-accounts",
        services: &[],
        key: "pod.serviceAccountName",
        ours: Some("{service}"),
    },
    Known {
        id: "service-accounts",
        services: &[],
        key: "pod.automountServiceAccountToken",
        ours: Some("false"),
    },
    Known {
        id: "termination-grace",
        services: &[
            "frontend",
            "userservice",
            "contacts",
            "balancereader",
            "ledgerwriter",
            "transactionhistory",
            "loadgenerator",
        ],
        key: "pod.terminationGracePeriodSeconds",
        ours: Some("30"),
    },
    // Security defaults every nestioc workload gets.
    Known {
        id: "run-as-10001",
        services: &[],
        key: "pod.run-as",
        ours: Some("10001:10001 fsGroup=10001 nonRoot"),
    },
    Known {
        id: "read-only-root",
        services: DBS,
        key: "container.readOnlyRootFilesystem",
        ours: Some("true"),
    },
    Known {
        id: "read-only-root",
        services: DBS,
        key: "mount./var/run/postgresql",
        ours: Some("emptyDir"),
    },
    Known {
        id: "read-only-root",
        services: &["loadgenerator", "accounts-db", "ledger-db"],
        key: "mount./tmp",
        ours: Some("emptyDir"),
    },
];

// ---------------------------------------------------------------------------------------
// Facts: both sides flattened to `key -> value`
// ---------------------------------------------------------------------------------------

type Facts = BTreeMap<String, String>;

/// A probe's timings with the API defaults filled in (core/v1 Probe: initialDelaySeconds
/// 0, periodSeconds 10, timeoutSeconds 1, failureThreshold 3;
/// https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#Probe).
fn timing(
    delay: Option<u64>,
    period: Option<u64>,
    timeout: Option<u64>,
    failure: Option<u64>,
) -> String {
    format!(
        "delay={} period={} timeout={} failure={}",
        delay.unwrap_or(0),
        period.unwrap_or(10),
        timeout.unwrap_or(1),
        failure.unwrap_or(3)
    )
}

fn upstream_facts(w: &Workload) -> Facts {
    let mut f = Facts::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    put("kind", w.kind.to_owned());
    // No `replicas` in any upstream Deployment: the API default is 1.
    put("replicas", "1".to_owned());
    put("image.repository", format!("{REGISTRY}/{}", w.name));
    put("image.tag", TAG.to_owned());
    put("image.digest", w.digest.to_owned());
    // Unset: "Defaults to Always if :latest tag is specified, or IfNotPresent otherwise"
    // (core/v1 Container.imagePullPolicy).
    put("image.pullPolicy", "IfNotPresent".to_owned());
    put("container.name", w.container.to_owned());
    put("pod.serviceAccountName", w.service_account.to_owned());
    // PodSpec defaults: automountServiceAccountToken true, terminationGracePeriodSeconds 30.
    put("pod.automountServiceAccountToken", "true".to_owned());
    put(
        "pod.terminationGracePeriodSeconds",
        w.grace.unwrap_or(30).to_string(),
    );
    if let Some((kind, ports)) = &w.service {
        put("service.type", (*kind).to_owned());
        put(
            "service.ports",
            ports_fact(ports.iter().map(|(n, p, t)| ((*n).to_owned(), *p, *t))),
        );
    }
    if !w.container_ports.is_empty() {
        put(
            "container.ports",
            numbers(w.container_ports.iter().copied()),
        );
    }
    // `envFrom` first, in order, then `env`: "When a key exists in multiple sources, the
    // value associated with the last source will take precedence. Values defined by an
    // Env with a duplicate key will take precedence." (core/v1 Container.envFrom)
    let mut env: BTreeMap<&str, String> = BTreeMap::new();
    for cm in &w.env_from {
        for (k, v) in *cm {
            env.insert(k, format!("= {v}"));
        }
    }
    for (k, v) in &w.env {
        let v = match v {
            Env::Lit(s) => format!("= {s}"),
            Env::Field(p) => format!("fieldRef {p}"),
            Env::OptionalConfigMap(cm, key) => format!("configMapKeyRef? {cm}/{key}"),
        };
        env.insert(k, v);
    }
    for (k, v) in env {
        put(&format!("env.{k}"), v);
    }
    for (k, v) in &w.requests {
        put(&format!("resources.requests.{k}"), (*v).to_owned());
    }
    for (k, v) in &w.limits {
        put(&format!("resources.limits.{k}"), (*v).to_owned());
    }
    for (which, p) in [
        ("readiness", w.readiness),
        ("liveness", w.liveness),
        ("startup", w.startup),
    ] {
        if let Some(p) = p {
            put(
                &format!("probe.{which}"),
                format!("httpGet {} {}", p.path, p.port),
            );
            put(
                &format!("probe.{which}.timing"),
                timing(
                    p.delay.map(u64::from),
                    p.period.map(u64::from),
                    p.timeout.map(u64::from),
                    p.failure.map(u64::from),
                ),
            );
        }
    }
    for (path, what) in &w.mounts {
        put(&format!("mount.{path}"), (*what).to_owned());
    }
    if w.hardened {
        put("pod.run-as", "1000:1000 fsGroup=1000 nonRoot".to_owned());
        put("container.readOnlyRootFilesystem", "true".to_owned());
    }
    f
}

fn numbers(ports: impl Iterator<Item = u16>) -> String {
    let mut v: Vec<u16> = ports.collect();
    v.sort_unstable();
    v.iter().map(u16::to_string).collect::<Vec<_>>().join(" ")
}

fn ports_fact(ports: impl Iterator<Item = (String, u16, u16)>) -> String {
    let mut v: Vec<String> = ports.map(|(n, p, t)| format!("{n} {p}->{t}")).collect();
    v.sort();
    v.join(", ")
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Our rendered file for one service in one environment, flattened as upstream's.
fn our_facts(service: &str, docs: &[Value]) -> (Facts, String) {
    let mut f = Facts::new();
    let workload = docs
        .iter()
        .find(|d| {
            matches!(
                d["kind"].as_str(),
                Some("Deployment" | "StatefulSet" | "Rollout")
            ) && d["metadata"]["name"] == service
        })
        .unwrap_or_else(|| panic!("{service}: no workload"));
    let namespace = str_of(&workload["metadata"]["namespace"]);
    let pod = &workload["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{service}: one container, as upstream");
    let c = &containers[0];
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    put("kind", str_of(&workload["kind"]));
    put("replicas", str_of(&workload["spec"]["replicas"]));
    let image = str_of(&c["image"]);
    let (rest, digest) = image.split_once('@').unwrap_or((&image, ""));
    let (repo, tag) = rest.rsplit_once(':').unwrap_or((rest, ""));
    put("image.repository", repo.to_owned());
    put("image.tag", tag.to_owned());
    put("image.digest", digest.to_owned());
    put(
        "image.pullPolicy",
        match c["imagePullPolicy"].as_str() {
            Some(p) => p.to_owned(),
            None if tag == "latest" => "Always".to_owned(),
            None => "IfNotPresent".to_owned(),
        },
    );
    put("container.name", str_of(&c["name"]));
    put("pod.serviceAccountName", str_of(&pod["serviceAccountName"]));
    put(
        "pod.automountServiceAccountToken",
        pod["automountServiceAccountToken"]
            .as_bool()
            .unwrap_or(true)
            .to_string(),
    );
    put(
        "pod.terminationGracePeriodSeconds",
        pod["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap_or(30)
            .to_string(),
    );

    // Named ports resolve to the container's port of that name.
    let named: BTreeMap<String, u16> = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                str_of(&p["name"]),
                p["containerPort"]
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or(0),
            )
        })
        .collect();
    let resolve = |port: &Value| -> u16 {
        match port {
            Value::String(name) => named.get(name).copied().unwrap_or(0),
            n => n.as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
        }
    };
    if let Some(svc) = docs
        .iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == service)
    {
        put("service.type", str_of(&svc["spec"]["type"]));
        let ports = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    str_of(&p["name"]),
                    p["port"]
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .unwrap_or(0),
                    resolve(&p["targetPort"]),
                )
            });
        put("service.ports", ports_fact(ports));
    }
    if !named.is_empty() {
        put("container.ports", numbers(named.values().copied()));
    }
    for e in c["env"].as_array().into_iter().flatten() {
        let name = str_of(&e["name"]);
        let v = if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object() {
            format!("secretKeyRef {}/{}", str_of(&r["name"]), str_of(&r["key"]))
        } else if let Some(r) = e["valueFrom"]["fieldRef"].as_object() {
            format!("fieldRef {}", str_of(&r["fieldPath"]))
        } else if e.get("valueFrom").is_some() {
            format!("valueFrom {}", e["valueFrom"])
        } else {
            format!("= {}", str_of(&e["value"]))
        };
        assert!(
            f.insert(format!("env.{name}"), v).is_none(),
            "{service}: env {name} twice"
        );
    }
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    for kind in ["requests", "limits"] {
        for (k, v) in c["resources"][kind].as_object().into_iter().flatten() {
            put(&format!("resources.{kind}.{k}"), str_of(v));
        }
    }
    for which in ["readiness", "liveness", "startup"] {
        let p = &c[format!("{which}Probe")];
        if p.is_null() {
            continue;
        }
        let handler = if let Some(h) = p["httpGet"].as_object() {
            format!("httpGet {} {}", str_of(&h["path"]), resolve(&h["port"]))
        } else if let Some(h) = p["tcpSocket"].as_object() {
            format!("tcpSocket {}", resolve(&h["port"]))
        } else if let Some(h) = p["grpc"].as_object() {
            format!("grpc {}", resolve(&h["port"]))
        } else {
            format!("other {p}")
        };
        put(&format!("probe.{which}"), handler);
        put(
            &format!("probe.{which}.timing"),
            timing(
                p["initialDelaySeconds"].as_u64(),
                p["periodSeconds"].as_u64(),
                p["timeoutSeconds"].as_u64(),
                p["failureThreshold"].as_u64(),
            ),
        );
    }
    let volumes: BTreeMap<String, &Value> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| (str_of(&v["name"]), v))
        .collect();
    // A StatefulSet's claim templates name the volume each replica's claim mounts as
    // (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#volume-claim-templates).
    let claim_templates: Vec<String> = workload["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| str_of(&t["metadata"]["name"]))
        .collect();
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let v = volumes
            .get(&str_of(&m["name"]))
            .copied()
            .unwrap_or(&Value::Null);
        let what = ["emptyDir", "persistentVolumeClaim", "secret", "configMap"]
            .into_iter()
            .find(|k| v.get(*k).is_some())
            .or_else(|| {
                claim_templates
                    .contains(&str_of(&m["name"]))
                    .then_some("volumeClaimTemplate")
            })
            .unwrap_or("other");
        put(
            &format!("mount.{}", str_of(&m["mountPath"])),
            what.to_owned(),
        );
    }
    let sc = &pod["securityContext"];
    if !sc.is_null() {
        put(
            "pod.run-as",
            format!(
                "{}:{} fsGroup={}{}",
                str_of(&sc["runAsUser"]),
                str_of(&sc["runAsGroup"]),
                str_of(&sc["fsGroup"]),
                if sc["runAsNonRoot"] == true {
                    " nonRoot"
                } else {
                    ""
                }
            ),
        );
    }
    if c["securityContext"]["readOnlyRootFilesystem"] == true {
        put("container.readOnlyRootFilesystem", "true".to_owned());
    }
    (f, namespace)
}

/// A fact that differs: (service, key, upstream's value, ours).
type Difference = (String, String, Option<String>, Option<String>);

fn differences(service: &str, upstream: &Facts, ours: &Facts) -> Vec<Difference> {
    let keys: BTreeSet<&String> = upstream.keys().chain(ours.keys()).collect();
    keys.into_iter()
        .filter(|k| upstream.get(*k) != ours.get(*k))
        .map(|k| {
            (
                service.to_owned(),
                k.clone(),
                upstream.get(k).cloned(),
                ours.get(k).cloned(),
            )
        })
        .collect()
}

impl Known {
    fn matches(&self, d: &Difference, namespace: &str) -> bool {
        let (service, key, _, ours) = d;
        let key_ok = match self.key.split_once('*') {
            Some((prefix, suffix)) => {
                key.len() >= prefix.len() + suffix.len()
                    && key.starts_with(prefix)
                    && key.ends_with(suffix)
            }
            None => key == self.key,
        };
        let service_ok = self.services.is_empty() || self.services.contains(&service.as_str());
        let ours_ok = self.ours.map(|o| {
            o.replace("{namespace}", namespace)
                .replace("{service}", service)
        }) == *ours;
        key_ok && service_ok && ours_ok
    }
}

/// The rendered documents of `kubernetes/<env>/<service>.yaml`, by environment and service.
fn rendered() -> BTreeMap<(String, String), Vec<Value>> {
    let c = compile(&root().join("examples/bank"), &nestioc::Options::default());
    assert!(
        c.analysis.diagnostics.is_empty(),
        "examples/bank has diagnostics:\n{}",
        render_human(&c.analysis)
    );
    let set = c.artifacts.expect("examples/bank builds");
    let mut out = BTreeMap::new();
    for (path, a) in &set.files {
        let Some(rest) = path.strip_prefix("kubernetes/") else {
            continue;
        };
        let (env, file) = rest.split_once('/').expect("kubernetes/<env>/<file>");
        let service = file.strip_suffix(".yaml").expect(".yaml");
        let docs: Vec<Value> = serde_saphyr::from_multiple::<Value>(&a.contents)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .into_iter()
            .filter(|d| !d.is_null())
            .collect();
        out.insert((env.to_owned(), service.to_owned()), docs);
    }
    out
}

#[test]
fn bank_of_anthos_renders_upstreams_facts_but_the_listed_differences() {
    let upstream = upstream();
    let rendered = rendered();
    let envs: BTreeSet<&str> = rendered.keys().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        envs,
        BTreeSet::from(["production", "staging"]),
        "the example's environments"
    );
    let mut problems = String::new();
    let mut used = vec![false; KNOWN.len()];
    for env in &envs {
        let ours: BTreeSet<&str> = rendered
            .keys()
            .filter(|(e, _)| e == env)
            .map(|(_, s)| s.as_str())
            .collect();
        let theirs: BTreeSet<&str> = upstream.iter().map(|w| w.name).collect();
        if ours != theirs {
            let _ = writeln!(
                problems,
                "{env}: services {ours:?}, upstream's workloads {theirs:?}"
            );
        }
        for w in &upstream {
            let Some(docs) = rendered.get(&((*env).to_owned(), w.name.to_owned())) else {
                continue;
            };
            let (facts, namespace) = our_facts(w.name, docs);
            for d in differences(w.name, &upstream_facts(w), &facts) {
                let hits: Vec<usize> = KNOWN
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.matches(&d, &namespace))
                    .map(|(i, _)| i)
                    .collect();
                match hits.as_slice() {
                    [i] => used[*i] = true,
                    [] => {
                        let _ = writeln!(
                            problems,
                            "{env}: {} ({}): `{}` upstream {:?}, ours {:?}: not a listed difference",
                            w.name, w.file, d.1, d.2, d.3
                        );
                    }
                    many => {
                        let ids: Vec<&str> = many.iter().map(|i| KNOWN[*i].id).collect();
                        let _ = writeln!(
                            problems,
                            "{env}: {} `{}` matches several listed differences: {ids:?}",
                            w.name, d.1
                        );
                    }
                }
            }
        }
    }
    for (k, used) in KNOWN.iter().zip(&used) {
        if !used {
            let _ = writeln!(
                problems,
                "`{}` ({:?} {}) is listed but no longer differs: remove it here and from examples/bank/README.md",
                k.id, k.services, k.key
            );
        }
    }
    assert!(
        problems.is_empty(),
        "examples/bank against Bank of Anthos v0.6.9's kubernetes-manifests/:\n{problems}"
    );
}

/// The ids in the first column of the Markdown table under `heading` in `text`, and the
/// rows whose reason column does not start with "Language gap" or "Deliberate".
fn table_ids(text: &str, heading: &str) -> (Vec<String>, Vec<String>) {
    let section = text
        .split_once(heading)
        .unwrap_or_else(|| panic!("examples/bank/README.md has no `{heading}`"))
        .1;
    let section = section.split("\n#").next().unwrap_or_default();
    let mut ids = Vec::new();
    let mut unclassified = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        // `| id | upstream | here | why |`
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let id = cells[1].trim_matches('`').to_owned();
        let why = cells.len().checked_sub(2).map(|i| cells[i]);
        if !why.is_some_and(|w| w.starts_with("Language gap") || w.starts_with("Deliberate")) {
            unclassified.push(id.clone());
        }
        ids.push(id);
    }
    (ids, unclassified)
}

#[test]
fn the_readme_lists_exactly_the_differences_the_test_expects() {
    let readme = std::fs::read_to_string(root().join("examples/bank/README.md")).expect("README");
    let (compared, unclassified_a) = table_ids(&readme, "### Compared by tests/it/upstream.rs");
    let (other, unclassified_b) = table_ids(&readme, "### Not compared");
    let known: BTreeSet<String> = KNOWN.iter().map(|k| k.id.to_owned()).collect();
    let listed: BTreeSet<String> = compared.iter().cloned().collect();
    assert_eq!(
        listed.len(),
        compared.len(),
        "an id listed twice in the README: {compared:?}"
    );
    assert_eq!(
        listed, known,
        "README table `Compared by tests/it/upstream.rs` vs KNOWN in tests/it/upstream.rs"
    );
    let others: BTreeSet<String> = other.iter().cloned().collect();
    assert_eq!(others.len(), other.len(), "an id listed twice: {other:?}");
    assert!(
        others.is_disjoint(&known),
        "compared differences listed as not compared: {:?}",
        others.intersection(&known).collect::<Vec<_>>()
    );
    let unclassified: Vec<String> = unclassified_a.into_iter().chain(unclassified_b).collect();
    assert!(
        unclassified.is_empty(),
        "every difference says why: `Language gap: ...` or `Deliberate: ...` (rows {unclassified:?})"
    );
}
