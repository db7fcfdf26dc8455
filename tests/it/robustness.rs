//! No input makes the compiler panic. Deterministic mutations of the bundled examples
//! (byte flips, truncations, deletions, duplicated lines, hostile strings) all go through
//! the whole pipeline, and each either compiles or reports diagnostics.

use nestioc::source::{Origin, Source, SourceMap};

use crate::support::root;

/// xorshift64*: a fixed sequence, so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const HOSTILE: &[&str] = &[
    "\"",
    "{",
    "}",
    "=",
    "#",
    "/*",
    "*/",
    "//",
    "\\",
    "\n",
    "\"../../etc\"",
    "\"{{ .Values }}\"",
    "\"${HOME}\"",
    "\"'''\"",
    "\"\u{2028}\"",
    "#true",
    "#null",
    "-1",
    "99999999999999999999",
    "1e999",
    "0.0",
    "\"\"",
    "r#\"x\"#",
    "(param)",
    ";",
    "depends-on \"x\"",
    "service \"a\" {}",
];

fn compile_text(files: &[(String, String)]) {
    let mut sources = SourceMap::new();
    nestioc::stdlib::load(&mut sources);
    for (name, text) in files {
        sources.add(Source::new(name.clone(), text.clone(), Origin::Project));
    }
    let opts = nestioc::Options::default();
    let analysis = nestioc::analyze(
        sources,
        nestioc::diag::Diagnostics::new(),
        &opts,
        &mut |_| {},
    );
    if !analysis.has_errors() {
        let _ = nestioc::emit(&analysis, &opts, &mut |_| {});
    }
    // Rendering must not panic either, whatever the spans.
    let _ = nestioc::diag::render::render(
        &analysis.diagnostics,
        &analysis.sources,
        nestioc::diag::render::Format::Human,
        &nestioc::diag::render::RenderOptions::default(),
    );
}

fn example_files(dir: &str) -> Vec<(String, String)> {
    let base = root().join(dir);
    walkdir::WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "kdl"))
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(&base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect()
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(3) {
        if s.is_empty() {
            break;
        }
        let i = rng.below(s.len());
        match rng.below(6) {
            0 => {
                s.truncate(i);
            }
            1 => {
                let end = (i + rng.below(20)).min(s.len());
                s.drain(i..end);
            }
            2 => {
                let h = HOSTILE[rng.below(HOSTILE.len())];
                for (k, c) in h.chars().enumerate() {
                    s.insert(i + k, c);
                }
            }
            3 => s[i] = char::from_u32(rng.below(0x3000) as u32).unwrap_or('x'),
            4 => {
                let line: String = s[i..].iter().take_while(|c| **c != '\n').collect();
                for (k, c) in line.chars().enumerate() {
                    s.insert(i + k, c);
                }
            }
            _ => {
                let j = rng.below(s.len());
                s.swap(i, j);
            }
        }
    }
    s.into_iter().collect()
}

#[test]
fn mutated_examples_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for dir in [
        "examples/shop",
        "examples/minimal",
        "tests/fixtures/valid/grpc-mesh-dependencies",
    ] {
        let files = example_files(dir);
        for _ in 0..150 {
            let mut mutated = files.clone();
            let k = rng.below(mutated.len());
            mutated[k].1 = mutate(&mut rng, &mutated[k].1);
            compile_text(&mutated);
        }
    }
}

#[test]
fn empty_and_degenerate_projects_never_panic() {
    for text in [
        "",
        "project",
        "project \"\"",
        "project \"p\" { environment \"\" }",
        "service",
        "template \"t\" { uses \"t\" }\nproject \"p\"\nservice \"s\" { uses \"t\" }",
        "\u{feff}project \"p\"",
        "project \"p\"\nservice \"a\" { depends-on \"a\" port=\"x\" }",
    ] {
        compile_text(&[("nestio.kdl".into(), text.into())]);
    }
}

/// One mistake, one diagnostic: a misspelt `mesh` is not also a `timeout` without a mesh
/// (NST0307), a misspelt `image` node is not also a missing image (NST0106), and an image
/// refused as `(param)` outside a template (NST0208) is not also an image without a tag
/// (NST0121).
#[test]
fn a_mistake_is_not_reported_again_through_its_consequences() {
    let codes = crate::support::codes_of(
        r#"project "p" {
    registry "ghcr.io/acme"
    mesh "istoi"
}
service "api" {
    uses "std/http-service"
    imgae "api" tag="1.0.0"
    language "go"
    build main="."
    depends-on "db" timeout="2s"
}
service "db" {
    uses "std/http-service"
    image (param)"nope"
}
"#,
    );
    for expected in ["NST0103", "NST0101", "NST0208"] {
        assert!(codes.contains(&expected), "{expected} missing: {codes:?}");
    }
    for follow_on in ["NST0307", "NST0106", "NST0121"] {
        assert!(
            !codes.contains(&follow_on),
            "{follow_on} reported: {codes:?}"
        );
    }
}

/// A timeout on a TCP port is one mistake (NST0311): not also a Linkerd route whose policy
/// conflicts (NST0310) nor a latency budget built on that timeout (NST0303).
#[test]
fn a_timeout_on_a_tcp_port_is_reported_once() {
    let codes = crate::support::codes_of(
        r#"project "p" {
    registry "ghcr.io/acme"
    mesh "linkerd"
}
service "accounts-db" {
    uses "std/postgres"
}
service "api" {
    uses "std/http-service"
    image "api" tag="1.0.0"
    slo "latency" target=99 threshold="100ms"
    depends-on "accounts-db" timeout="5s"
}
service "batch" {
    uses "std/http-service"
    image "batch" tag="1.0.0"
    depends-on "accounts-db"
}
"#,
    );
    assert!(codes.contains(&"NST0311"), "{codes:?}");
    assert!(!codes.contains(&"NST0310"), "{codes:?}");
    assert!(!codes.contains(&"NST0303"), "{codes:?}");
}

/// KDL v1 leftovers get a fix in KDL v2 terms, not the parser's "expected identifier
/// string" (docs/diagnostics/NST0001.md promises they are recognised).
#[test]
fn kdl_v1_leftovers_are_named_as_such() {
    for (line, fix) in [
        ("    depends-on \"db\" optional=true\n", "#true"),
        ("    env \"N\" null\n", "#null"),
        ("    image r\"api\"\n", "#\"...\"#"),
    ] {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(
            tmp.path().join("nestio.kdl"),
            format!("project \"p\"\nservice \"api\" {{\n{line}}}\n"),
        )
        .expect("write");
        let c = crate::support::compile(tmp.path(), &nestioc::Options::default());
        let text = crate::support::render_human(&c.analysis);
        assert!(text.contains("NST0001"), "{line}: {text}");
        assert!(text.contains("KDL v1"), "{line}: {text}");
        assert!(text.contains(fix), "{line}: {text}");
    }
}

/// A Secret's name is a DNS-1123 subdomain (Kubernetes' `ValidateSecretName`), so
/// `api.example.com` is a valid one, as cert-manager names them after their host; nestioc
/// only refers to it (`secretKeyRef.name`), so a dot cannot reach a path or a derived
/// name. An empty part between dots is still refused.
#[test]
fn a_secret_may_be_named_like_a_host() {
    let kdl = |secret: &str| {
        format!(
            "project \"p\" {{\n    registry \"ghcr.io/acme\"\n}}\nservice \"api\" {{\n    uses \"std/http-service\"\n    image \"api\" tag=\"1.0.0\"\n    env-secret \"TLS_KEY\" secret=\"{secret}\" key=\"tls.key\"\n}}\n"
        )
    };
    assert_eq!(
        crate::support::codes_of(&kdl("api.example.com")),
        Vec::<&str>::new()
    );
    assert_eq!(crate::support::codes_of(&kdl("api..example")), ["NST0110"]);
    assert_eq!(crate::support::codes_of(&kdl("Api.example")), ["NST0110"]);
}
