//! Shared code of the fuzz targets: a generator of structurally valid topology documents
//! (`arbitrary`), the whole pipeline as one function, and the oracles every run checks.
//!
//! The generator draws most values from pools of valid ones, so that a good share of the
//! inputs gets through lowering and the checks into the emitters, and mixes in arbitrary
//! strings (hostile ones included) wherever the language takes free text.

use std::fmt::Write as _;

use arbitrary::{Arbitrary, Result, Unstructured};
use nestioc::diag::render::{self, Format, RenderOptions};
use nestioc::source::{Origin, Source, SourceMap};

/// Strings that have broken, or could break, one of the output formats.
const HOSTILE: &[&str] = &[
    "",
    " ",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "\\",
    "\n",
    "\r\n",
    "\t",
    "{{ .Values }}",
    "{{- fail \"x\" -}}",
    "${HOME}",
    "${{ secrets.TOKEN }}",
    "$(id)",
    "`id`",
    "#{ENV['X']}",
    "# not a comment",
    "</script><script>alert(1)</script>",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{feff}",
    "\u{202e}",
    "a: b",
    "- x",
    "[a, b]",
    "{a: b}",
    "&anchor",
    "*alias",
    "!!binary",
    "~",
    "null",
    "yes",
    "on",
    "0x1f",
    "1e3",
    ".inf",
    "<< pipeline.id >>",
    "@{x}",
    "%{x}",
    "}",
    "=~",
    "\0",
];

/// A name from a small alphabet, so that references between nodes often hit.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Ref(u8);

impl Ref {
    fn name(self) -> String {
        format!("s{}", self.0 % 12)
    }
}

/// A free-text value: from the hostile pool, from a plain pool, or arbitrary.
#[derive(Debug, Clone)]
pub struct Text(pub String);

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Text(match u.int_in_range(0..=3u8)? {
            0 => (*u.choose(HOSTILE)?).to_owned(),
            1 => {
                let a = *u.choose(HOSTILE)?;
                let b = *u.choose(HOSTILE)?;
                format!("x{a}y{b}z")
            }
            2 => (*u.choose(&["info", "1", "true", "8080", "a b c", "https://x.example/y"])?)
                .to_owned(),
            _ => {
                let s: String = u.arbitrary()?;
                s.chars().take(200).collect()
            }
        }))
    }
}

#[derive(Debug, Clone, Arbitrary)]
pub enum Scalar {
    Text(Text),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Project {
    pub mesh: u8,
    pub ci: Vec<u8>,
    pub cd: u8,
    pub review: bool,
    pub gitflow: bool,
    /// `prometheus "files"` instead of the default `operator` form.
    pub rules_files: bool,
    pub logging: Option<Logging>,
    pub environments: Vec<Environment>,
    pub registry: Option<u8>,
    pub defaults: Option<Vec<Entry>>,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Logging {
    pub elasticsearch: Option<Text>,
    pub retention: Option<u16>,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Environment {
    pub name: u8,
    pub scale: Option<u8>,
    pub manual: Option<bool>,
    pub overrides: Vec<(Ref, Vec<Entry>)>,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Service {
    pub name: Ref,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Template {
    pub name: u8,
    pub params: Vec<(u8, Option<Scalar>)>,
    pub entries: Vec<Entry>,
}

/// One service entry. Numbers are raw so that out-of-range values occur too.
#[derive(Debug, Clone, Arbitrary)]
pub enum Entry {
    Uses(u8, Vec<(u8, Scalar)>),
    Owner(Text),
    Tier(i8),
    Image {
        name: Option<Text>,
        tag: Option<Text>,
        latest: bool,
    },
    Language(u8),
    Source(Text),
    Replicas(i32, Option<i32>, Option<u8>),
    Resources(u8, u8),
    Port {
        name: u8,
        port: u16,
        target: Option<u16>,
        protocol: u8,
    },
    Probe(u8, Option<Text>),
    Env(u8, Scalar),
    EnvSecret(u8, Text, Text),
    DependsOn {
        target: Ref,
        env: Option<u8>,
        port: Option<u8>,
        timeout_ms: Option<u16>,
        retries: Option<u8>,
        optional: bool,
        fallback: Option<Ref>,
        breaker: bool,
    },
    External(u8, Text, Option<u16>),
    Slo {
        latency: bool,
        target: u16,
        threshold_ms: Option<u16>,
        window_days: Option<u8>,
        custom: Option<(Text, Text)>,
    },
    Rollout(u8, Vec<(u16, Option<u8>)>, Option<u8>),
    Logs(u8, Option<Text>, Option<Text>),
    Expose(Text, Option<Text>, Option<u8>),
    /// `expose node-port=` (any number: out of range too) or `load-balancer=`, with a port
    /// name that may name nothing.
    Publish(Option<u16>, bool, Option<u8>),
    /// `replicas N scale=`: the environment scaling rule of issue 16.
    ReplicasScale(i32, bool),
    Args(Vec<Text>),
    Volume(u8, Text, bool),
    Schedule(Text),
    CiTest(Text),
    /// `probe ... for=`: a kind (`exec` and `none` included), a use, and free text as the
    /// path or the exec command.
    ProbeFor(u8, u8, Vec<Text>),
    Command(Vec<Text>),
    Security {
        user: Option<u32>,
        group: Option<u32>,
        image_user: bool,
        writable: bool,
        caps: Vec<u8>,
        reason: Option<Text>,
    },
    /// `annotation`, `label` or `service-annotation` (by the first number), key and value.
    Metadata(u8, Text, Text),
    /// `sidecar` (with a port and a probe) or `init-container`: a name and free text for
    /// its command and args.
    Container {
        init: bool,
        name: Text,
        port: Option<(u8, u16)>,
        command: Vec<Text>,
        args: Vec<Text>,
        security: Option<u32>,
    },
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Topology {
    pub project: Project,
    pub services: Vec<Service>,
    pub templates: Vec<Template>,
    /// Put each service in its own file under services/.
    pub split: bool,
}

/// A KDL v2 quoted string.
#[must_use]
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{feff}')
                || ('\u{200e}'..='\u{200f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(v: &Scalar) -> String {
    match v {
        Scalar::Text(t) => quote(&t.0),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) if f.is_finite() => format!("{f:?}"),
        Scalar::Float(_) => "#nan".into(),
        Scalar::Bool(b) => if *b { "#true" } else { "#false" }.into(),
        Scalar::Null => "#null".into(),
    }
}

fn pick<'a>(i: u8, pool: &[&'a str]) -> &'a str {
    pool[usize::from(i) % pool.len()]
}

const PORT_NAMES: &[&str] = &["http", "grpc", "admin", "metrics", "tcp"];
const ENV_NAMES: &[&str] = &["LOG_LEVEL", "A", "B_C", "lower", "9BAD", "PATH"];
const TEMPLATES: &[&str] = &[
    "http-service",
    "grpc-service",
    "worker",
    "redis",
    "postgres",
    "cron-job",
    "api-slos",
    "progressive-canary",
    "blue-green",
    "json-logs",
    "t0",
    "t1",
    "t2",
    "nope",
];
const PARAMS: &[&str] = &["port", "name", "image", "p0", "p1", "tag"];

fn entry(e: &Entry, out: &mut String, indent: &str) {
    let line = match e {
        Entry::Uses(t, params) => {
            let mut s = format!("uses {}", quote(pick(*t, TEMPLATES)));
            for (k, v) in params.iter().take(3) {
                let _ = write!(s, " {}={}", pick(*k, PARAMS), scalar(v));
            }
            s
        }
        Entry::Owner(t) => format!("owner {}", quote(&t.0)),
        Entry::Tier(t) => format!("tier {t}"),
        Entry::Image { name, tag, latest } => {
            let mut s = format!(
                "image {}",
                quote(name.as_ref().map_or("app", |n| n.0.as_str()))
            );
            if *latest {
                s.push_str(" tag=\"latest\"");
            } else if let Some(t) = tag {
                let _ = write!(s, " tag={}", quote(&t.0));
            } else {
                s.push_str(" tag=\"1.0.0\"");
            }
            s
        }
        Entry::Language(l) => format!(
            "language {}",
            quote(pick(
                *l,
                &["go", "rust", "node", "python", "java", "dotnet", "cobol"]
            ))
        ),
        Entry::Source(t) => format!("source {}", quote(&t.0)),
        Entry::Replicas(n, max, cpu) => {
            let mut s = format!("replicas {n}");
            if let Some(m) = max {
                let _ = write!(s, " max={m}");
            }
            if let Some(c) = cpu {
                let _ = write!(s, " cpu-target={c}");
            }
            s
        }
        Entry::Resources(c, m) => format!(
            "resources cpu={} memory={}",
            quote(pick(*c, &["100m", "1", "250m", "2.5", "x"])),
            quote(pick(*m, &["64Mi", "1Gi", "128M", "0", "lots"]))
        ),
        Entry::Port {
            name,
            port,
            target,
            protocol,
        } => {
            let mut s = format!("port {} {port}", quote(pick(*name, PORT_NAMES)));
            if let Some(t) = target {
                let _ = write!(s, " target={t}");
            }
            let _ = write!(
                s,
                " protocol={}",
                quote(pick(*protocol, &["http", "grpc", "tcp", "udp"]))
            );
            s
        }
        Entry::Probe(k, path) => {
            let mut s = format!("probe {}", quote(pick(*k, &["http", "grpc", "tcp"])));
            if let Some(p) = path {
                let _ = write!(s, " path={}", quote(&p.0));
            }
            s
        }
        Entry::Env(n, v) => format!("env {} {}", quote(pick(*n, ENV_NAMES)), scalar(v)),
        Entry::EnvSecret(n, secret, key) => format!(
            "env-secret {} secret={} key={}",
            quote(pick(*n, ENV_NAMES)),
            quote(&secret.0),
            quote(&key.0)
        ),
        Entry::DependsOn {
            target,
            env,
            port,
            timeout_ms,
            retries,
            optional,
            fallback,
            breaker,
        } => {
            let mut s = format!("depends-on {}", quote(&target.name()));
            if let Some(e) = env {
                let _ = write!(
                    s,
                    " env={}",
                    quote(&format!("{}_ADDR", pick(*e, ENV_NAMES)))
                );
            }
            if let Some(p) = port {
                let _ = write!(s, " port={}", quote(pick(*p, PORT_NAMES)));
            }
            if let Some(t) = timeout_ms {
                let _ = write!(s, " timeout=\"{t}ms\"");
            }
            if let Some(r) = retries {
                let _ = write!(s, " retries={r}");
            }
            if *optional {
                s.push_str(" optional=#true");
            }
            if let Some(f) = fallback {
                let _ = write!(s, " fallback={}", quote(&f.name()));
            }
            if *breaker {
                s.push_str(
                    " {\n        circuit-breaker consecutive-errors=3 interval=\"10s\"\n    }",
                );
            }
            s
        }
        Entry::External(n, host, port) => {
            let mut s = format!(
                "external {} host={}",
                quote(pick(*n, &["stripe", "mail", "x"])),
                quote(&host.0)
            );
            if let Some(p) = port {
                let _ = write!(s, " port={p}");
            }
            s
        }
        Entry::Slo {
            latency,
            target,
            threshold_ms,
            window_days,
            custom,
        } => {
            let mut s = format!(
                "slo {} target={}.{}",
                if *latency {
                    "\"latency\""
                } else {
                    "\"availability\""
                },
                target / 100,
                target % 100
            );
            if let Some(t) = threshold_ms {
                let _ = write!(s, " threshold=\"{t}ms\"");
            }
            if let Some(w) = window_days {
                let _ = write!(s, " window=\"{w}d\"");
            }
            if let Some((errors, total)) = custom {
                let _ = write!(
                    s,
                    " {{\n        errors {}\n        total {}\n    }}",
                    quote(&format!(
                        "sum(rate(e{{x=\"{}\"}}[{{{{window}}}}]))",
                        errors.0
                    )),
                    quote(&format!("sum(rate(t[{{{{window}}}}])) {}", total.0))
                );
            }
            s
        }
        Entry::Rollout(kind, steps, abort) => {
            let mut s = format!(
                "rollout {} {{\n",
                quote(pick(*kind, &["rolling", "canary", "blue-green"]))
            );
            for (w, pause) in steps.iter().take(6) {
                let _ = write!(s, "        step weight={w}");
                if let Some(p) = pause {
                    let _ = write!(s, " pause=\"{p}m\"");
                }
                s.push('\n');
            }
            if let Some(a) = abort {
                let _ = writeln!(s, "        abort-if error-rate=\"{a}%\"");
            }
            s.push_str("    }");
            s
        }
        Entry::Logs(f, pattern, multiline) => {
            let mut s = format!(
                "logs format={}",
                quote(pick(
                    *f,
                    &["json", "logfmt", "text", "nginx", "apache", "regex"]
                ))
            );
            if let Some(p) = pattern {
                let _ = write!(s, " pattern={}", quote(&format!("^(?<msg>{})$", p.0)));
            }
            if let Some(m) = multiline {
                let _ = write!(s, " multiline-start={}", quote(&m.0));
            }
            s
        }
        Entry::Expose(host, path, tls) => {
            let mut s = format!("expose host={}", quote(&host.0));
            if let Some(p) = path {
                let _ = write!(s, " path={}", quote(&p.0));
            }
            if let Some(t) = tls {
                let _ = write!(s, " tls-secret=\"tls-{t}\"");
            }
            s
        }
        Entry::Publish(node_port, lb, port) => {
            let mut s = match node_port {
                Some(n) => format!("expose node-port={n}"),
                None => format!("expose load-balancer={}", if *lb { "#true" } else { "#false" }),
            };
            if let Some(p) = port {
                let _ = write!(s, " port={}", quote(pick(*p, PORT_NAMES)));
            }
            s
        }
        Entry::ReplicasScale(n, scale) => {
            format!("replicas {n} scale={}", if *scale { "#true" } else { "#false" })
        }
        Entry::Args(args) => {
            let mut s = "args".to_owned();
            for a in args.iter().take(4) {
                let _ = write!(s, " {}", quote(&a.0));
            }
            if args.is_empty() {
                s.push_str(" \"--x\"");
            }
            s
        }
        Entry::Volume(n, path, persistent) => format!(
            "volume \"v{}\" path={}{}",
            n % 4,
            quote(&path.0),
            if *persistent { " persistent=#true" } else { "" }
        ),
        Entry::Schedule(cron) => format!("schedule {}", quote(&cron.0)),
        Entry::CiTest(cmd) => format!("ci {{\n        test {}\n    }}", quote(&cmd.0)),
        Entry::ProbeFor(k, f, texts) => {
            let kind = pick(*k, &["http", "grpc", "tcp", "exec", "none"]);
            let mut s = format!(
                "probe {} for={}",
                quote(kind),
                quote(pick(*f, &["readiness", "liveness", "startup", "all"]))
            );
            match (kind, texts.first()) {
                ("exec", _) => {
                    s.push_str(" command=\"/check\"");
                    for t in texts.iter().take(3) {
                        let _ = write!(s, " {}", quote(&t.0));
                    }
                }
                ("http", Some(t)) => {
                    let _ = write!(s, " path={}", quote(&t.0));
                }
                _ => {}
            }
            s
        }
        Entry::Command(texts) => {
            let mut s = "command \"/app\"".to_owned();
            for t in texts.iter().take(4) {
                let _ = write!(s, " {}", quote(&t.0));
            }
            s
        }
        Entry::Security {
            user,
            group,
            image_user,
            writable,
            caps,
            reason,
        } => {
            let mut s = "security".to_owned();
            if let Some(u) = user {
                let _ = write!(s, " run-as-user={}", u % 20_000);
            }
            if let Some(g) = group {
                let _ = write!(s, " fs-group={}", g % 20_000);
            }
            if *image_user {
                s.push_str(" run-as=\"image\"");
            }
            if *writable {
                s.push_str(" read-only-root=#false");
            }
            if !caps.is_empty() {
                s.push_str(" add-capabilities=");
                let names: Vec<String> = caps
                    .iter()
                    .take(3)
                    .map(|c| {
                        quote(pick(
                            *c,
                            &["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN", "ALL", "net_raw"],
                        ))
                    })
                    .collect();
                s.push_str(&names.join(" "));
            }
            if let Some(r) = reason {
                let _ = write!(s, " reason={}", quote(&r.0));
            }
            s
        }
        Entry::Metadata(which, key, value) => {
            let node = pick(*which, &["annotation", "label", "service-annotation"]);
            // Half the keys valid, so that values reach the output.
            let key = if which % 2 == 0 {
                format!("example.com/k{}", key.0.len() % 5)
            } else {
                key.0.clone()
            };
            format!("{node} {} {}", quote(&key), quote(&value.0))
        }
        Entry::Container {
            init,
            name,
            port,
            command,
            args,
            security,
        } => {
            let node = if *init { "init-container" } else { "sidecar" };
            let name = if name.0.len() % 2 == 0 {
                format!("c{}", name.0.len() % 3)
            } else {
                name.0.clone()
            };
            let inner = format!("{indent}    ");
            let mut s = format!(
                "{node} {} {{\n{inner}image \"helper\" tag=\"1.0.0\"\n",
                quote(&name)
            );
            if let Some((n, p)) = port {
                let _ = writeln!(s, "{inner}port {} {}", quote(pick(*n, PORT_NAMES)), p);
                let _ = writeln!(s, "{inner}probe \"tcp\"");
            }
            if !command.is_empty() {
                s.push_str(&inner);
                s.push_str("command \"/helper\"");
                for t in command.iter().take(3) {
                    let _ = write!(s, " {}", quote(&t.0));
                }
                s.push('\n');
            }
            if !args.is_empty() {
                s.push_str(&inner);
                s.push_str("args");
                for t in args.iter().take(3) {
                    let _ = write!(s, " {}", quote(&t.0));
                }
                s.push('\n');
            }
            if let Some(u) = security {
                let _ = writeln!(s, "{inner}security run-as-user={}", u % 20_000);
            }
            let _ = write!(s, "{indent}}}");
            s
        }
    };
    let _ = writeln!(out, "{indent}{line}");
}

impl Topology {
    /// The project as files: `(path, text)`.
    #[must_use]
    pub fn files(&self) -> Vec<(String, String)> {
        let p = &self.project;
        let mut root = String::from("project \"fuzz\" {\n");
        if let Some(r) = p.registry {
            let _ = writeln!(
                root,
                "    registry {}",
                quote(pick(r, &["ghcr.io/acme", "localhost:5000", "bad registry"]))
            );
        }
        let _ = writeln!(
            root,
            "    mesh {}",
            quote(pick(p.mesh, &["istio", "linkerd", "none"]))
        );
        if !p.ci.is_empty() {
            root.push_str("    ci");
            for c in p.ci.iter().take(4) {
                let _ = write!(
                    root,
                    " {}",
                    quote(pick(
                        *c,
                        &["github-actions", "gitlab", "circleci", "jenkins"]
                    ))
                );
            }
            root.push('\n');
        }
        match p.cd % 3 {
            0 => {
                root.push_str("    cd \"argocd\" repository=\"https://github.com/acme/fuzz.git\"\n")
            }
            1 => root
                .push_str("    cd \"spinnaker\" repository=\"https://github.com/acme/fuzz.git\"\n"),
            _ => {}
        }
        if p.review {
            root.push_str("    review #true\n");
        }
        if p.gitflow {
            root.push_str("    branching \"gitflow\"\n");
        }
        if p.rules_files {
            root.push_str("    prometheus \"files\"\n");
        }
        if let Some(l) = &p.logging {
            root.push_str("    logging \"fluentd\" {\n");
            let url = l
                .elasticsearch
                .as_ref()
                .map_or("http://es.logging.svc:9200", |t| t.0.as_str());
            let _ = writeln!(root, "        elasticsearch {}", quote(url));
            if let Some(r) = l.retention {
                let _ = writeln!(root, "        retention \"{r}d\"");
            }
            root.push_str("    }\n");
        }
        if let Some(d) = &p.defaults {
            root.push_str("    defaults {\n");
            for e in d.iter().take(4) {
                entry(e, &mut root, "        ");
            }
            root.push_str("    }\n");
        }
        for env in p.environments.iter().take(3) {
            let _ = writeln!(
                root,
                "    environment {} {{",
                quote(pick(env.name, &["staging", "prod", "dev", "qa"]))
            );
            if let Some(s) = env.scale {
                let _ = writeln!(root, "        replicas-scale {}.{}", s / 50, s % 50);
            }
            if let Some(m) = env.manual {
                let _ = writeln!(
                    root,
                    "        sync {}",
                    if m { "\"manual\"" } else { "\"auto\"" }
                );
            }
            for (svc, entries) in env.overrides.iter().take(2) {
                let _ = writeln!(root, "        service {} {{", quote(&svc.name()));
                for e in entries.iter().take(3) {
                    entry(e, &mut root, "            ");
                }
                root.push_str("        }\n");
            }
            root.push_str("    }\n");
        }
        root.push_str("}\n");
        let mut files = vec![("nestio.kdl".to_owned(), root)];
        let mut tpl = String::new();
        for t in self.templates.iter().take(3) {
            let _ = writeln!(tpl, "template \"t{}\" {{", t.name % 3);
            for (name, default) in t.params.iter().take(3) {
                let _ = write!(tpl, "    param {}", quote(pick(*name, PARAMS)));
                if let Some(d) = default {
                    let _ = write!(tpl, " default={}", scalar(d));
                }
                tpl.push('\n');
            }
            for e in t.entries.iter().take(12) {
                entry(e, &mut tpl, "    ");
            }
            tpl.push_str("}\n");
        }
        if !tpl.is_empty() {
            files.push(("templates/t.kdl".to_owned(), tpl));
        }
        let mut all = String::new();
        for (i, s) in self.services.iter().take(12).enumerate() {
            let mut text = format!("service {} {{\n", quote(&s.name.name()));
            for e in s.entries.iter().take(24) {
                entry(e, &mut text, "    ");
            }
            text.push_str("}\n");
            if self.split {
                files.push((format!("services/s{i}.kdl"), text));
            } else {
                all.push_str(&text);
            }
        }
        if !all.is_empty() {
            files.push(("services/all.kdl".to_owned(), all));
        }
        files
    }
}

/// Splits one input into project files at lines `//@file <path>`; text before the first
/// such line is `nestio.kdl`.
#[must_use]
pub fn split_files(text: &str) -> Vec<(String, String)> {
    let mut files = vec![("nestio.kdl".to_owned(), String::new())];
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("//@file ") {
            files.push((name.trim().to_owned(), String::new()));
        } else if let Some(last) = files.last_mut() {
            last.1.push_str(line);
        }
    }
    files
}

/// What one run of the pipeline gave.
#[derive(Debug)]
pub struct Outcome {
    pub analysis: nestioc::Analysis,
    pub artifacts: Option<nestioc::emit::ArtifactSet>,
}

/// Parse, lower, graph, check and (with `emit` and no errors) emit; then render the
/// diagnostics in every format, which must not panic whatever their spans.
#[must_use]
pub fn run(files: &[(String, String)], emit: bool) -> Outcome {
    let mut sources = SourceMap::new();
    nestioc::stdlib::load(&mut sources);
    for (name, text) in files {
        sources.add(Source::new(name.clone(), text.clone(), Origin::Project));
    }
    let opts = nestioc::Options::default();
    let mut analysis = nestioc::analyze(
        sources,
        nestioc::diag::Diagnostics::new(),
        &opts,
        &mut |_| {},
    );
    let artifacts = if emit && !analysis.has_errors() {
        match nestioc::emit(&analysis, &opts, &mut |_| {}) {
            Ok(set) => Some(set),
            Err(diags) => {
                analysis.diagnostics.extend(diags);
                None
            }
        }
    } else {
        None
    };
    for format in [Format::Human, Format::Json, Format::Github, Format::Sarif] {
        let _ = render::render(
            &analysis.diagnostics,
            &analysis.sources,
            format,
            &RenderOptions::default(),
        );
    }
    Outcome {
        analysis,
        artifacts,
    }
}

/// The oracle on artifacts: every JSON file parses, every YAML file that is not a Helm
/// template parses, and no file is empty. Panics (a fuzz finding) otherwise.
pub fn check_artifacts(set: &nestioc::emit::ArtifactSet) {
    for (path, a) in &set.files {
        assert!(!a.contents.is_empty(), "{path} is empty");
        assert!(
            !path.starts_with('/') && path.split('/').all(|c| !c.is_empty() && c != ".."),
            "unsafe artifact path {path:?}"
        );
        if path.ends_with(".json") {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&a.contents) {
                panic!("{path} is not JSON: {e}\n{}", a.contents);
            }
        } else if (path.ends_with(".yaml") || path.ends_with(".yml"))
            && !path.contains("/templates/")
        {
            if let Err(e) = serde_saphyr::from_multiple::<serde_json::Value>(&a.contents) {
                panic!("{path} is not YAML: {e}\n{}", a.contents);
            }
        }
    }
}
