//! The CI targets: `github-actions`, `gitlab`, `circleci` and `jenkins`. Each emits only
//! when the project lists its system in `ci`, under `ci/` laid out as the repository root
//! (`ci/.github/workflows/<service>.yml`, `ci/.gitlab-ci.yml`, `ci/.circleci/config.yml`,
//! `ci/Jenkinsfile`).
//!
//! Every system gets the same plan, built here once ([`plan`]): a gate that runs
//! `nestioc build --check`; per service with a `source` directory, a test step by
//! `language` (or `ci { test }`) in a pinned toolchain, an image built with the generated
//! Dockerfile and pushed tagged with the commit SHA, and promotion by `branching` through
//! Argo CD. The system modules only spell that plan in their own syntax.
//!
//! User strings reach the files through the YAML writer or [`groovy_str`]; test commands,
//! which a CI system may read as its own syntax even inside a string, are escaped for that
//! system ([`github_literal`], [`circleci_literal`]).

pub mod circleci;
pub mod github;
pub mod gitlab;
pub mod jenkins;

pub(super) use circleci::CircleCi;
pub(super) use github::GithubActions;
pub(super) use gitlab::Gitlab;
pub(super) use jenkins::Jenkins;

use super::EmitContext;
use super::chart::crd::argo::{CanaryStep, RolloutStrategy};
use crate::model::{Branching, Cd, Environment, Service};

/// The version of nestioc the pipelines install: the one that generated them, so that
/// `nestioc build --check` compares like with like.
pub const NESTIOC_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where nestioc's source is published (Cargo.toml `repository`): the gate builds the
/// release from it, since nestioc is not on crates.io.
pub const NESTIOC_REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// What nestioc's build reads, from the root of its repository: the crate (Cargo.toml
/// `include`) and its lock file. The identity of a build from source hashes them.
pub const NESTIOC_BUILD_INPUTS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "compiler",
    "stdlib",
    "docs",
    "schemas",
];

/// Where the gate's nestioc comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NestiocSource {
    /// The release that generated the pipelines: the tag `v<version>` of nestioc's
    /// repository, built with its own lock file (`--locked`).
    Release,
    /// The repository holds nestioc's source at this directory (`ci ... nestioc-source=`):
    /// the gate builds it at the commit under test, so the check compares the generated
    /// files with what that very commit's nestioc generates.
    Path(String),
}

impl NestiocSource {
    /// The release tag, `v0.1.0`.
    #[must_use]
    pub fn tag() -> String {
        format!("v{NESTIOC_VERSION}")
    }

    /// `cargo install` of nestioc into `root` (its `bin/` then holds `nestioc`).
    #[must_use]
    pub fn install_command(&self, root: &str) -> String {
        match self {
            Self::Release => format!(
                "cargo install --locked --force --root \"{root}\" --git {NESTIOC_REPOSITORY} --tag {} nestioc",
                Self::tag()
            ),
            Self::Path(p) => format!(
                "cargo install --locked --force --root \"{root}\" --path {}",
                sh_word(p)
            ),
        }
    }

    /// Shell lines that set `var` to the identity of the nestioc to install: the release
    /// tag, or a hash of the git entries (mode, object id, path) of its build inputs at
    /// `HEAD` (a tree's object id changes exactly when something under it does), so a
    /// cached build is reused until nestioc's source changes, and no longer. The entries
    /// are read in an assignment of their own: under `set -e` a failing `git` fails the
    /// script, where the status of a pipeline would be the last command's (`cut`) and the
    /// identity would silently be the hash of nothing.
    #[must_use]
    pub fn id_lines(&self, var: &str) -> Vec<String> {
        match self {
            Self::Release => vec![format!("{var}={}", Self::tag())],
            Self::Path(_) => vec![
                format!(
                    "nestioc_src=\"$(git ls-tree HEAD -- {})\"",
                    self.watched()
                        .iter()
                        .map(|w| sh_word(w))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                format!("{var}=\"$(printf '%s\\n' \"$nestioc_src\" | sha256sum | cut -c1-16)\""),
            ],
        }
    }

    /// The repository paths whose change can change what the gate's nestioc generates
    /// (its source, when the repository holds it).
    #[must_use]
    pub fn watched(&self) -> Vec<String> {
        match self {
            Self::Release => Vec::new(),
            Self::Path(p) => NESTIOC_BUILD_INPUTS
                .iter()
                .map(|i| {
                    if p == "." {
                        (*i).to_owned()
                    } else {
                        format!("{p}/{i}")
                    }
                })
                .collect(),
        }
    }

    /// The gate's script for a container job: install nestioc into `root` unless the one
    /// there (restored from a cache, or left in the workspace) has the right identity,
    /// then put it on PATH.
    #[must_use]
    pub fn install_script(&self, root: &str) -> Vec<String> {
        let mut lines = self.id_lines("nestioc_id");
        lines.extend([
            format!(
                "if [ \"$(cat \"{root}/nestioc.id\" 2>/dev/null || true)\" != \"$nestioc_id\" ]; then {} && echo \"$nestioc_id\" > \"{root}/nestioc.id\"; fi",
                self.install_command(root)
            ),
            format!("export PATH=\"{root}/bin:$PATH\""),
        ]);
        lines
    }
}

/// Where the project and its generated files are in the repository, and how the gate
/// checks them.
///
/// The generated files are where the CD system reads them: `cd ... path=` (default
/// `generated`), in the same repository, since the gate requires them committed beside the
/// topology. The project is the directory that holds them when they are in a directory
/// named `generated` (the default output directory), else the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The project directory (`.` for the repository root), repository-relative.
    pub project_dir: String,
    /// The output directory, repository-relative.
    pub out_dir: String,
}

impl Layout {
    #[must_use]
    pub fn new(cd_path: &str) -> Self {
        let out_dir = cd_path.trim_end_matches('/');
        let out_dir = if out_dir.is_empty() {
            "generated"
        } else {
            out_dir
        };
        let project_dir = match out_dir.rsplit_once('/') {
            Some((dir, "generated")) => dir,
            _ => ".",
        };
        Self {
            project_dir: project_dir.to_owned(),
            out_dir: out_dir.to_owned(),
        }
    }

    /// A project file's path from the repository root.
    #[must_use]
    pub fn in_project(&self, file: &str) -> String {
        if self.project_dir == "." {
            file.to_owned()
        } else {
            format!("{}/{file}", self.project_dir)
        }
    }

    /// `nestioc build --check`, with the directories when they are not the defaults.
    #[must_use]
    pub fn check_command(&self) -> String {
        let mut c = "nestioc build".to_owned();
        if self.project_dir != "." {
            c.push(' ');
            c.push_str(&sh_word(&self.project_dir));
        }
        if self.out_dir != self.in_project("generated") {
            c.push_str(" -o ");
            c.push_str(&sh_word(&self.out_dir));
        }
        c.push_str(" --check");
        c
    }

    /// The `[DIR]` argument of other nestioc commands: empty for the root.
    #[must_use]
    pub fn dir_arg(&self) -> String {
        if self.project_dir == "." {
            String::new()
        } else {
            format!(" {}", sh_word(&self.project_dir))
        }
    }
}

/// The Rust toolchain that installs nestioc (its minimum supported version).
pub const RUST_VERSION: &str = "1.95.0";
/// The image of that toolchain, for the container-based systems.
pub const RUST_IMAGE: &str = "rust:1.95";

/// The Argo CD CLI, for deployments.
pub const ARGOCD_IMAGE: &str = "quay.io/argoproj/argocd:v3.3.14";

/// How long Kubernetes and Argo Rollouts give a rollout to make progress before they call
/// it failed (`progressDeadlineSeconds` of a Deployment and of a Rollout, default 600);
/// past it Argo CD shows the application Degraded and `argocd app wait --health` fails at
/// once. The base of every deployment's wait.
pub const PROGRESS_DEADLINE_SECONDS: u64 = 600;

/// Per canary traffic step: the canary ReplicaSet scales to the step's weight and its
/// pods become ready.
pub const STEP_SECONDS: u64 = 60;

/// The wait for an operation in flight, and for our own sync (which applies the chart and
/// returns; the rollout is waited for after it).
pub const SYNC_TIMEOUT_SECONDS: u64 = 300;

/// The image tags that deploy to production.
pub const RELEASE_TAG_GLOB: &str = "v*";
pub const RELEASE_TAG_REGEX: &str = "^v.*";

/// The test image of a service that has a `ci { test }` but no `language`.
pub const GENERIC_IMAGE: &str = "buildpack-deps:bookworm";

/// A GitHub action pinned to a full commit SHA; `version` is the release tag the commit
/// carries (written as a comment after the SHA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub name: &'static str,
    pub sha: &'static str,
    pub version: &'static str,
}

impl Action {
    /// `owner/repo@sha` (the version comment is added by [`github::pin_comments`]).
    #[must_use]
    pub fn uses(&self) -> String {
        format!("{}@{}", self.name, self.sha)
    }
}

// Each SHA is the commit its release tag points to in the action's repository (checked
// with `git rev-parse <tag>^{commit}`); see docs/delivery.md.
pub const CHECKOUT: Action = Action {
    name: "actions/checkout",
    sha: "3d3c42e5aac5ba805825da76410c181273ba90b1",
    version: "v7.0.1",
};
pub const SETUP_GO: Action = Action {
    name: "actions/setup-go",
    sha: "b7ad1dad31e06c5925ef5d2fc7ad053ef454303e",
    version: "v7.0.0",
};
pub const SETUP_NODE: Action = Action {
    name: "actions/setup-node",
    sha: "820762786026740c76f36085b0efc47a31fe5020",
    version: "v7.0.0",
};
pub const SETUP_PYTHON: Action = Action {
    name: "actions/setup-python",
    sha: "5fda3b95a4ea91299a34e894583c3862153e4b97",
    version: "v7.0.0",
};
pub const SETUP_JAVA: Action = Action {
    name: "actions/setup-java",
    sha: "b6effb05e454b25005698d916606bdc6ffcbf961",
    version: "v5.7.0",
};
pub const SETUP_DOTNET: Action = Action {
    name: "actions/setup-dotnet",
    sha: "a98b56852c35b8e3190ac28c8c2271da59106c68",
    version: "v6.0.0",
};
/// dtolnay/rust-toolchain has no release tags: the commit is the head of its `master`
/// branch, and the toolchain is an input.
pub const RUST_TOOLCHAIN: Action = Action {
    name: "dtolnay/rust-toolchain",
    sha: "3c5f7ea28cd621ae0bf5283f0e981fb97b8a7af9",
    version: "master, 2026-03-27",
};
pub const SETUP_BUILDX: Action = Action {
    name: "docker/setup-buildx-action",
    sha: "37fe631027851001ddb9b187196cc803df7f5f0e",
    version: "v4.3.0",
};
pub const DOCKER_LOGIN: Action = Action {
    name: "docker/login-action",
    sha: "4907a6ddec9925e35a0a9e82d7399ccc52663121",
    version: "v4.1.0",
};
pub const BUILD_PUSH: Action = Action {
    name: "docker/build-push-action",
    sha: "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
    version: "v7.3.0",
};
pub const CACHE: Action = Action {
    name: "actions/cache",
    sha: "27d5ce7f107fe9357f9df03efb73ab90386fccae",
    version: "v5.0.5",
};

/// Every pinned action (the tests check that each is written with its version comment).
pub const ACTIONS: &[Action] = &[
    CHECKOUT,
    SETUP_GO,
    SETUP_NODE,
    SETUP_PYTHON,
    SETUP_JAVA,
    SETUP_DOTNET,
    RUST_TOOLCHAIN,
    SETUP_BUILDX,
    DOCKER_LOGIN,
    BUILD_PUSH,
    CACHE,
];

/// The CircleCI orb that turns changed paths into pipeline parameters.
pub const PATH_FILTERING_ORB: &str = "circleci/path-filtering@2.1.0";

/// How one `language` is tested: its default command, its container image and its
/// GitHub setup action (with that action's inputs). Versions follow the build stages of
/// the stdlib Dockerfiles (`stdlib/docker/*.Dockerfile.hbs`), by minor version: the tests
/// run on the toolchain the image is built with.
#[derive(Debug, Clone, Copy)]
pub struct Toolchain {
    pub language: &'static str,
    pub test: &'static str,
    pub image: &'static str,
    pub setup: Action,
    pub with: &'static [(&'static str, &'static str)],
}

/// Java's test step: the Gradle wrapper, else the Maven wrapper.
pub const JAVA_TEST: &str = "if [ -f gradlew ]; then sh ./gradlew --no-daemon --console=plain test; elif [ -f mvnw ]; then sh ./mvnw --batch-mode test; else echo 'no Gradle or Maven wrapper (gradlew, mvnw) here' >&2; exit 1; fi";

pub const TOOLCHAINS: &[Toolchain] = &[
    Toolchain {
        language: "go",
        test: "go test ./...",
        image: "golang:1.27",
        setup: SETUP_GO,
        with: &[("go-version", "1.27")],
    },
    Toolchain {
        language: "rust",
        test: "cargo test --locked",
        image: "rust:1.98",
        setup: RUST_TOOLCHAIN,
        with: &[("toolchain", "1.98")],
    },
    Toolchain {
        language: "node",
        // The test runner is a devDependency: `npm ci` omits devDependencies when
        // NODE_ENV is `production` (npm docs, `omit`: "Default: 'dev' if the NODE_ENV
        // environment variable is set to 'production'"); `--include=dev` wins over that.
        test: "npm ci --include=dev && npm test",
        image: "node:24",
        setup: SETUP_NODE,
        with: &[("node-version", "24")],
    },
    Toolchain {
        language: "python",
        // requirements.txt holds what the service runs with, and pytest is rarely one of
        // them: install the runner with it (a pin of pytest in the requirements wins, pip
        // resolves both together). `python -m pytest` rather than `pytest`: where pip falls
        // back to a user install (a container run as a non-root user, as Jenkins does), the
        // `pytest` script is not on PATH but the module is importable; `python -m pip` is
        // the pip of that same interpreter.
        test: "python -m pip install -r requirements.txt pytest && python -m pytest",
        image: "python:3.14",
        setup: SETUP_PYTHON,
        with: &[("python-version", "3.14")],
    },
    Toolchain {
        language: "java",
        // The project's own build wrapper, which downloads the Gradle or Maven it pins
        // (the image has neither). Through `sh`: a wrapper committed without its
        // executable bit still runs. The Dockerfile builds with the Gradle wrapper.
        test: JAVA_TEST,
        image: "eclipse-temurin:25-jdk",
        setup: SETUP_JAVA,
        with: &[("distribution", "temurin"), ("java-version", "25")],
    },
    Toolchain {
        language: "dotnet",
        test: "dotnet test",
        image: "mcr.microsoft.com/dotnet/sdk:10.0",
        setup: SETUP_DOTNET,
        with: &[("dotnet-version", "10.0.x")],
    },
];

#[must_use]
pub fn toolchain(language: &str) -> Option<&'static Toolchain> {
    TOOLCHAINS.iter().find(|t| t.language == language)
}

/// Which refs a job runs for: branch names, and whether release tags (`v*`) count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refs {
    pub branches: Vec<&'static str>,
    pub tags: bool,
}

/// One deployment: an environment, its Argo CD application and the refs that deploy it.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub env: String,
    pub app: String,
    pub refs: Refs,
    /// The environment syncs automatically, with pruning: the pipeline's sync prunes too.
    pub prune: bool,
}

/// What a deployment waits for, from the service's rollout policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Seconds for the rollout to end, or to reach its gate: [`PROGRESS_DEADLINE_SECONDS`],
    /// plus every timed pause, every analysis that blocks a step, and [`STEP_SECONDS`] per
    /// traffic step, up to the gate.
    pub timeout: u64,
    /// A step that waits for a person (a blue-green rollout without automatic promotion,
    /// or an untimed canary pause): the wait ends there, with the application Suspended.
    pub gate: Option<Gate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// `blueGreen.autoPromotionEnabled: false`: the preview runs, the active Service waits.
    BlueGreen,
    /// A canary `pause: {}`.
    CanaryPause,
}

impl Wait {
    /// The wait of a service's deployment: Argo CD rates a paused Rollout Suspended (its
    /// Rollout health check copies the controller's phase, and `Paused` becomes
    /// `Suspended`: argo-cd resource_customizations/argoproj.io/Rollout/health.lua), for a
    /// timed pause as for a manual one. `argocd app wait --health` waits through timed
    /// pauses, so their durations add up; a manual gate would keep it waiting for good, so
    /// the wait accepts Suspended there (`--suspended`) and stops at the gate.
    #[must_use]
    pub fn of(cx: &EmitContext<'_>, service: &Service) -> Self {
        let strategy = super::rollout::strategy(cx, service);
        let mut timeout = PROGRESS_DEADLINE_SECONDS;
        let mut gate = None;
        match &strategy {
            Some(RolloutStrategy::Canary(canary)) => {
                for step in &canary.steps {
                    match step {
                        CanaryStep::SetWeight(_) => timeout += STEP_SECONDS,
                        CanaryStep::Pause(p) => match p.duration.as_deref().and_then(seconds) {
                            Some(d) => timeout += d,
                            None => {
                                gate = Some(Gate::CanaryPause);
                                break;
                            }
                        },
                    }
                }
            }
            // The strategies nestioc writes run no analysis before the end of the wait: a
            // canary's runs in the background, a blue-green's after promotion, the gate.
            Some(RolloutStrategy::BlueGreen(bg)) if !bg.auto_promotion_enabled => {
                gate = Some(Gate::BlueGreen);
            }
            Some(RolloutStrategy::BlueGreen(_)) | None => {}
        }
        Self { timeout, gate }
    }
}

/// An Argo Rollouts duration (`"5m"`, `"1h30m"`, or a number of seconds) in seconds.
fn seconds(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().or_else(|| {
        crate::model::values::Duration::parse(s)
            .ok()
            .map(|d| d.millis.div_ceil(1000))
    })
}

/// What is tested: the command, and the toolchain it runs in (none: the system's plain
/// runner or [`GENERIC_IMAGE`]).
#[derive(Debug, Clone)]
pub struct Test {
    pub command: String,
    pub toolchain: Option<&'static Toolchain>,
}

/// Something whose change runs a service's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    Dir(String),
    File(String),
}

/// The pipeline of one service.
#[derive(Debug, Clone)]
pub struct ServicePlan<'a> {
    pub service: &'a Service,
    pub name: &'a str,
    /// The source directory (repository-relative, validated: letters, digits, `-_./`).
    pub source: &'a str,
    /// The topology file that declares the service (project-relative, for headers).
    pub file: String,
    /// The same file from the repository root.
    pub repo_file: String,
    pub out_dir: String,
    /// The Dockerfile the image is built with: the service's own (`dockerfile`), else the
    /// generated one (it has a `language`); without one the pipeline tests and stops.
    pub dockerfile: Option<String>,
    /// Whether `dockerfile` is the one nestioc generates.
    pub generated_dockerfile: bool,
    pub test: Option<Test>,
    /// `ghcr.io/acme/checkout`.
    pub repository: &'a str,
    /// The registry host to log in to (`docker.io` when the repository names none).
    pub registry: String,
    pub deploys: Vec<Deploy>,
    /// What its deployments wait for.
    pub wait: Wait,
}

impl ServicePlan<'_> {
    /// The paths that run the pipeline: the source, the service's topology file and its
    /// generated Dockerfile.
    #[must_use]
    pub fn watches(&self) -> Vec<Watch> {
        let mut w = vec![
            Watch::Dir(self.source.to_owned()),
            Watch::File(self.repo_file.clone()),
        ];
        match &self.dockerfile {
            Some(_) if self.generated_dockerfile => {
                w.push(Watch::Dir(format!("{}/docker/{}", self.out_dir, self.name)));
            }
            // The service's own Dockerfile may live outside its source directory.
            Some(own) if !own.starts_with(&format!("{}/", self.source)) => {
                w.push(Watch::File(own.clone()));
            }
            _ => {}
        }
        w
    }
}

/// Everything the CI emitters need.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub project: &'a str,
    /// Where the gate's nestioc comes from.
    pub nestioc: NestiocSource,
    /// The file the project is declared in, for headers.
    pub project_file: String,
    pub layout: Layout,
    pub trunk: bool,
    pub review: bool,
    /// Refs whose images are pushed: exactly those that deploy.
    pub push_refs: Refs,
    pub services: Vec<ServicePlan<'a>>,
}

impl Plan<'_> {
    /// The branch changes are compared with (the integration branch).
    #[must_use]
    pub fn base_branch(&self) -> &'static str {
        if self.trunk { "main" } else { "develop" }
    }

    /// What the gate must see change to run: everything `nestioc build` reads (every
    /// `*.kdl` of the project, its `templates/` with their overrides), everything it writes
    /// (the whole output directory, so a hand edit is caught), and nestioc's own source when
    /// the repository holds it.
    #[must_use]
    pub fn gate_watches(&self) -> Vec<GateWatch> {
        let mut w = vec![
            GateWatch::Kdl(self.layout.project_dir.clone()),
            GateWatch::Dir(self.layout.in_project("templates")),
            GateWatch::Dir(self.layout.out_dir.clone()),
        ];
        for p in self.nestioc.watched() {
            // Cargo.toml and Cargo.lock are files, the others directories.
            if p.rsplit('/').next().is_some_and(|n| n.contains('.')) {
                w.push(GateWatch::File(p));
            } else {
                w.push(GateWatch::Dir(p));
            }
        }
        w
    }
}

/// Something whose change runs the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateWatch {
    /// Every `*.kdl` file under this directory (`.` for the repository).
    Kdl(String),
    /// Everything under this directory.
    Dir(String),
    /// This file.
    File(String),
}

/// The registry host of an image repository, as `docker login` wants it.
#[must_use]
pub fn registry_host(repository: &str) -> String {
    match repository.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_owned()
        }
        _ => "docker.io".to_owned(),
    }
}

/// The environments that CI deploys: `(staging, prod)`. Staging is the environment named
/// `staging` (else the first of several); production is the one named `prod` or
/// `production` (else the last). With one environment, only production is deployed.
#[must_use]
pub fn promotion_envs(envs: &[Environment]) -> (Option<&Environment>, Option<&Environment>) {
    let prod = envs
        .iter()
        .find(|e| e.name == "prod" || e.name == "production")
        .or_else(|| envs.last());
    let staging = envs
        .iter()
        .find(|e| e.name == "staging")
        .or_else(|| (envs.len() > 1).then(|| &envs[0]))
        .filter(|s| prod.is_none_or(|p| p.name != s.name));
    (staging, prod)
}

/// Builds the plan: services in name order, only those with a `source` directory (a
/// service without one is built elsewhere, e.g. a public image) and something to do: a
/// test, or an image to build (the `docker` target writes a Dockerfile for every service
/// with a `language`).
#[must_use]
pub fn plan<'a>(cx: &EmitContext<'a>) -> Plan<'a> {
    let project = &cx.model.project;
    let trunk = project.branching == Branching::Trunk;
    let (staging_refs, prod_refs, push_refs) = if trunk {
        (
            Refs {
                branches: vec!["main"],
                tags: false,
            },
            Refs {
                branches: vec![],
                tags: true,
            },
            Refs {
                branches: vec!["main"],
                tags: true,
            },
        )
    } else {
        (
            Refs {
                branches: vec!["develop"],
                tags: false,
            },
            Refs {
                branches: vec!["main"],
                tags: true,
            },
            Refs {
                branches: vec!["develop", "main"],
                tags: true,
            },
        )
    };
    let layout = Layout::new(&project.cd_path);
    // CI files are not per environment: `--env` does not narrow them.
    let envs = project.environments();
    let (staging, prod) = promotion_envs(&envs);
    let mut services = Vec::new();
    for service in cx.model.services.values() {
        let Some(source) = service.source_path.as_deref() else {
            continue;
        };
        let tc = service.language.as_deref().and_then(toolchain);
        let test = match (&service.ci_test, tc) {
            (Some(cmd), _) => Some(Test {
                command: cmd.clone(),
                toolchain: tc,
            }),
            (None, Some(t)) => Some(Test {
                command: t.test.to_owned(),
                toolchain: Some(t),
            }),
            (None, None) => None,
        };
        let own = service.dockerfile.as_ref().map(|d| d.value.clone());
        let generated_dockerfile = own.is_none() && tc.is_some();
        let dockerfile = own.or_else(|| {
            tc.map(|_| format!("{}/docker/{}/Dockerfile", layout.out_dir, service.name))
        });
        if test.is_none() && dockerfile.is_none() {
            continue;
        }
        let mut deploys = Vec::new();
        if project.cd == Cd::ArgoCd && dockerfile.is_some() {
            for (env, refs) in [(staging, &staging_refs), (prod, &prod_refs)] {
                if let Some(env) = env {
                    deploys.push(Deploy {
                        env: env.name.clone(),
                        app: format!("{}-{}-{}", project.name, service.name, env.name),
                        refs: refs.clone(),
                        prune: env.auto_sync,
                    });
                }
            }
        }
        services.push(ServicePlan {
            service,
            name: &service.name,
            source,
            file: cx.file_of(service),
            repo_file: layout.in_project(&cx.file_of(service)),
            out_dir: layout.out_dir.clone(),
            dockerfile,
            generated_dockerfile,
            test,
            repository: &service.image.repository,
            registry: registry_host(&service.image.repository),
            deploys,
            wait: Wait::of(cx, service),
        });
    }
    Plan {
        project: &project.name,
        nestioc: project
            .ci_nestioc_source
            .clone()
            .map_or(NestiocSource::Release, NestiocSource::Path),
        project_file: cx.sources.get(project.source).name.clone(),
        layout,
        trunk,
        review: project.review,
        push_refs,
        services,
    }
}

/// The deployment commands, for a shell where `argocd` is the Argo CD CLI (authenticated
/// by `ARGOCD_SERVER` and `ARGOCD_AUTH_TOKEN`) and `sha_var` holds the commit SHA.
///
/// 1. The tag is set as a Helm parameter of the application.
/// 2. The pipeline's own sync applies it: an automatically synced application may already
///    be syncing (a second sync is refused while an operation runs), so the sync waits for
///    any operation in flight, and is tried once more if one started in between. Every
///    sync that starts after `app set` applies the new tag, so when ours succeeds the
///    cluster has it. Waiting on the application alone could succeed on the old state:
///    right after `app set` it still shows Synced and Healthy until the controller
///    compares again, and `argocd app wait` has no revision to wait for.
/// 3. `argocd app wait --sync --health --operation` for the rollout: `--operation` waits
///    until the controller has reconciled once after the operation finished (argo-cd
///    cmd/argocd/commands/app.go `checkAppWaitConditions`), so the health it reads is the
///    new Rollout's or Deployment's, which stays Progressing until their controller has
///    observed the new spec. The timeout comes from the rollout ([`Wait`]); a Degraded
///    application (an aborted rollout, a missed progress deadline) fails the wait at once.
///    At a manual gate the wait also accepts Suspended, and says so.
#[must_use]
pub fn deploy_commands(plan: &ServicePlan<'_>, deploy: &Deploy, sha_var: &str) -> Vec<String> {
    let app = &deploy.app;
    // The service chart holds its values under the shared chart's key (Helm scopes a
    // subchart's values by its name).
    let key = crate::emit::helm::SHARED_CHART;
    let mut set = format!("argocd app set {app} --helm-set \"{key}.image.tag=${sha_var}\"");
    if plan.service.image.digest.is_some() {
        // A digest wins over the tag in the chart: clear it so the new tag is what runs.
        set.push_str(&format!(" --helm-set {key}.image.digest="));
    }
    let sync = format!(
        "argocd app sync {app}{} --timeout {SYNC_TIMEOUT_SECONDS}",
        if deploy.prune { " --prune" } else { "" }
    );
    let op_wait = format!("argocd app wait {app} --operation --timeout {SYNC_TIMEOUT_SECONDS}");
    let mut cmds = vec![
        set,
        op_wait.clone(),
        format!("{sync} || {{ {op_wait} && {sync}; }}"),
    ];
    let wait = &plan.wait;
    match &wait.gate {
        None => cmds.push(format!(
            "argocd app wait {app} --sync --health --operation --timeout {}",
            wait.timeout
        )),
        Some(gate) => {
            cmds.push(format!(
                "argocd app wait {app} --sync --health --suspended --operation --timeout {}",
                wait.timeout
            ));
            let what = match gate {
                Gate::BlueGreen => {
                    "its blue-green promotion: the new version runs behind the preview Service"
                }
                Gate::CanaryPause => "a manual canary step",
            };
            // `--suspended` alone succeeds only on Suspended; on Healthy it times out.
            cmds.push(format!(
                "if argocd app wait {app} --suspended --timeout 15 > /dev/null 2>&1; then echo \"{app}: {} waits for {what}. Promote it with: argocd app actions run {app} resume --kind Rollout --resource-name {}\"; fi",
                plan.name, plan.name
            ));
        }
    }
    cmds
}

/// The minutes a deployment job may take: the syncs (at most four waits of
/// [`SYNC_TIMEOUT_SECONDS`]), the rollout's wait, and five minutes for the job itself.
#[must_use]
pub fn deploy_minutes(plan: &ServicePlan<'_>) -> u64 {
    (4 * SYNC_TIMEOUT_SECONDS + plan.wait.timeout + 15).div_ceil(60) + 5
}

/// `docker build` and `docker push` of a service's image, tagged with `$sha_var`.
#[must_use]
pub fn image_commands(plan: &ServicePlan<'_>, dockerfile: &str, sha_var: &str) -> Vec<String> {
    let image = format!("{}:\"${sha_var}\"", sh_word(plan.repository));
    vec![
        format!(
            "docker build -f {} -t {image} {}",
            sh_word(dockerfile),
            sh_word(plan.source)
        ),
        format!("docker push {image}"),
    ]
}

/// `docker login` with the `REGISTRY_USERNAME` / `REGISTRY_PASSWORD` secrets.
#[must_use]
pub fn login_command(plan: &ServicePlan<'_>) -> String {
    format!(
        "echo \"$REGISTRY_PASSWORD\" | docker login {} -u \"$REGISTRY_USERNAME\" --password-stdin",
        sh_word(&plan.registry)
    )
}

// ----------------------------------------------------------------------------- escaping

/// A POSIX shell word that is always single-quoted (for `cd`).
#[must_use]
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A POSIX shell word: bare when it holds only characters no shell treats specially,
/// single-quoted otherwise.
#[must_use]
pub fn sh_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c))
    {
        s.to_owned()
    } else {
        sh_quote(s)
    }
}

/// A string GitHub Actions reads literally. GitHub evaluates `${{ ... }}` anywhere in a
/// workflow string, `run` scripts included, and has no escape character: the only way to
/// write `${{` is as the expression `${{ '${{' }}`, which evaluates to it. Nothing else
/// in a string is special to GitHub.
#[must_use]
pub fn github_literal(s: &str) -> String {
    s.replace("${{", "${{ '${{' }}")
}

/// A string CircleCI reads literally. CircleCI 2.1 reads `<<` as the start of a pipeline
/// parameter anywhere in the configuration (and rejects an unclosed one); `\<<` is its
/// escape for a literal `<<`.
#[must_use]
pub fn circleci_literal(s: &str) -> String {
    s.replace("<<", r"\<<")
}

/// A single-quoted Groovy string literal: `$` is literal in single quotes; backslash and
/// quote are escaped, and control characters (which lowering rejects in commands) are
/// written as `\uXXXX` so that no input can end the literal or the line.
#[must_use]
pub fn groovy_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            c if c.is_control() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A regular expression matching exactly `s` (for CircleCI's path mapping, `grep -P`).
#[must_use]
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groovy_strings_escape_quote_and_backslash_only() {
        assert_eq!(groovy_str(r#"a'b\c$d"e"#), r#"'a\'b\\c$d"e'"#);
        assert_eq!(groovy_str("x\ny"), r"'x\u000ay'");
        assert_eq!(groovy_str("'''"), r"'\'\'\''");
    }

    #[test]
    fn github_expressions_are_neutralised() {
        assert_eq!(
            github_literal("echo ${{ secrets.X }}"),
            "echo ${{ '${{' }} secrets.X }}"
        );
        assert_eq!(github_literal("echo $HOME }}"), "echo $HOME }}");
    }

    #[test]
    fn circleci_parameters_are_escaped() {
        assert_eq!(
            circleci_literal("cat <<EOF << pipeline.id >>"),
            r"cat \<<EOF \<< pipeline.id >>"
        );
    }

    #[test]
    fn shell_words() {
        assert_eq!(sh_quote("src/a"), "'src/a'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_word("src/a-b_c.d"), "src/a-b_c.d");
        assert_eq!(sh_word("a b"), "'a b'");
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_host("ghcr.io/acme/x"), "ghcr.io");
        assert_eq!(registry_host("localhost:5000/x"), "localhost:5000");
        assert_eq!(registry_host("acme/x"), "docker.io");
        assert_eq!(registry_host("x"), "docker.io");
    }

    #[test]
    fn layouts() {
        let root = Layout::new("generated");
        assert_eq!(root.project_dir, ".");
        assert_eq!(root.check_command(), "nestioc build --check");
        assert_eq!(root.in_project("services/a.kdl"), "services/a.kdl");
        let sub = Layout::new("examples/shop/generated/");
        assert_eq!(sub.project_dir, "examples/shop");
        assert_eq!(sub.check_command(), "nestioc build examples/shop --check");
        assert_eq!(sub.in_project("nestio.kdl"), "examples/shop/nestio.kdl");
        let other = Layout::new("deploy/manifests");
        assert_eq!(other.project_dir, ".");
        assert_eq!(
            other.check_command(),
            "nestioc build -o deploy/manifests --check"
        );
    }

    #[test]
    fn regexes_match_literally() {
        assert_eq!(regex_escape("services/a.kdl"), r"services/a\.kdl");
        assert_eq!(regex_escape("src/my-svc"), "src/my-svc");
    }
}
