//! `cargo bench`: the pipeline's stages on generated topologies of 100 to 20,000 services
//! (benches/support/topology.rs), in memory: parse, analyse (parse to check), each
//! emitter alone, the `kubernetes,istio,prometheus` subset and every target. Whole-process
//! wall time, the write and peak memory are measured by `scripts/bench.sh`.
//!
//! `cargo bench -- N` runs the sizes whose name contains N (divan's filter), e.g.
//! `cargo bench -- 1000`; `DIVAN_SAMPLE_COUNT=3` trades precision for time. The biggest
//! sizes hold the whole output in memory (about 280 KB per service for every target).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

#[path = "support/topology.rs"]
mod topology;

use std::sync::OnceLock;

use nestioc::source::{Origin, Source, SourceMap};
use nestioc::{Analysis, Options};

const SIZES: &[usize] = &[100, 1_000, 5_000, 20_000];

// As in the binary (compiler/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn options() -> Options {
    Options {
        // The default cap (10,000 services) is for untrusted input; this one is ours.
        limits: nestioc::syntax::Limits {
            services: 1_000_000,
            ..Default::default()
        },
        ..Options::default()
    }
}

fn sources(n: usize) -> SourceMap {
    let mut map = SourceMap::new();
    nestioc::stdlib::load(&mut map);
    for (path, text) in topology::files(n) {
        map.add(Source::new(path, text, Origin::Project));
    }
    map
}

fn analysis(n: usize) -> &'static Analysis {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(usize, &'static Analysis)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    if let Some((_, a)) = cache.iter().find(|(k, _)| *k == n) {
        return a;
    }
    let a: &'static Analysis = Box::leak(Box::new(nestioc::analyze(
        sources(n),
        nestioc::diag::Diagnostics::new(),
        &options(),
        &mut |_| {},
    )));
    assert!(
        a.diagnostics.is_empty(),
        "the generated topology has diagnostics"
    );
    cache.push((n, a));
    a
}

/// Parsing alone (KDL -> our tree), all files.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn parse(bencher: divan::Bencher<'_, '_>, n: usize) {
    let map = sources(n);
    bencher.bench_local(|| {
        let mut diags = nestioc::diag::Diagnostics::new();
        nestioc::syntax::parse_all_with(&map, &options().limits, &mut diags)
    });
}

/// Parse, lower, graph and check: what `nestioc check` does after reading the files.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn analyse(bencher: divan::Bencher<'_, '_>, n: usize) {
    let map = sources(n);
    bencher
        .with_inputs(|| map.clone())
        .bench_local_values(|map| {
            nestioc::analyze(
                map,
                nestioc::diag::Diagnostics::new(),
                &options(),
                &mut |_| {},
            )
        });
}

fn emit(n: usize, targets: &[&str]) -> usize {
    let opts = Options {
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        ..options()
    };
    nestioc::emit(analysis(n), &opts, &mut |_| {})
        .unwrap()
        .len()
}

/// The subset of the performance targets: `--target kubernetes,istio,prometheus`.
#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn emit_subset(bencher: divan::Bencher<'_, '_>, n: usize) {
    analysis(n);
    bencher.bench_local(|| emit(n, &["kubernetes", "istio", "prometheus"]));
}

/// Every target.
#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn emit_all(bencher: divan::Bencher<'_, '_>, n: usize) {
    analysis(n);
    bencher.bench_local(|| emit(n, &[]));
}

/// Each emitter alone, at 1,000 services.
#[divan::bench(
    args = ["helm", "kubernetes", "istio", "prometheus", "alertmanager", "argocd", "grafana",
            "fluentd", "github-actions", "gitlab", "circleci", "jenkins", "graph", "docker",
            "ansible"],
    sample_count = 5,
    sample_size = 1
)]
fn emitter_1000(bencher: divan::Bencher<'_, '_>, target: &str) {
    analysis(1_000);
    bencher.bench_local(|| emit(1_000, &[target]));
}

/// A hub called by `n` services, and a chain of `n` services each requiring the previous:
/// the shapes that would expose a quadratic step in the graph, the checks or the diff.
fn wide_and_long(n: usize, extra: bool) -> String {
    let mut s = String::from(
        "project \"scale\" {\n    mesh \"istio\"\n    environment \"prod\"\n}\nservice \"hub\" {\n    image \"hub\" tag=\"1\"\n    port \"http\" 8080\n    slo \"availability\" target=99\n}\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "service \"caller-{i}\" {{\n    image \"c\" tag=\"1\"\n    port \"http\" 8080\n    depends-on \"hub\" timeout=\"1s\"\n}}\n"
        ));
        let dep = if i == 0 {
            "hub".to_owned()
        } else {
            format!("link-{}", i - 1)
        };
        s.push_str(&format!(
            "service \"link-{i}\" {{\n    image \"l\" tag=\"1\"\n    port \"http\" 8080\n    depends-on \"{dep}\"\n}}\n"
        ));
    }
    if extra {
        s.push_str("service \"late\" {\n    image \"l\" tag=\"1\"\n    depends-on \"hub\"\n}\n");
    }
    s
}

fn analyse_text(text: &str) -> Analysis {
    let mut map = SourceMap::new();
    nestioc::stdlib::load(&mut map);
    map.add(Source::new("nestio.kdl", text.to_owned(), Origin::Project));
    nestioc::analyze(
        map,
        nestioc::diag::Diagnostics::new(),
        &options(),
        &mut |_| {},
    )
}

/// Graph, checks and semantic diff over a hub with `n` callers plus a chain of `n`
/// (2n + 1 services): time(4n) / time(n) near 4 is linear, near 16 quadratic.
#[divan::bench(args = [1_000, 4_000, 16_000], sample_count = 5, sample_size = 1)]
fn graph_check_diff_fan_out_and_chain(bencher: divan::Bencher<'_, '_>, n: usize) {
    let base = analyse_text(&wide_and_long(n, false));
    let head = analyse_text(&wide_and_long(n, true));
    let (Some(bm), Some(hm)) = (&base.model, &head.model) else {
        panic!("the fan-out topology does not lower");
    };
    let no_files = std::collections::BTreeMap::new();
    bencher.bench_local(|| {
        let mut diags = nestioc::diag::Diagnostics::new();
        let bt = nestioc::graph::build(bm, &mut diags);
        let ht = nestioc::graph::build(hm, &mut diags);
        nestioc::check::check(hm, &ht, &Default::default(), &mut diags);
        let side = |m, t, label| nestioc::diff::Side {
            model: Some(m),
            topology: Some(t),
            files: &no_files,
            label,
        };
        nestioc::diff::diff("scale", side(bm, &bt, "base"), side(hm, &ht, "head"))
    });
}

/// An in-memory language client (lsp-server's connection) on a project on disk.
struct LspClient {
    conn: lsp_server::Connection,
    next: i32,
    _thread: std::thread::JoinHandle<Result<bool, String>>,
}

impl LspClient {
    fn start() -> Self {
        let (server, conn) = lsp_server::Connection::memory();
        let thread = std::thread::spawn(move || nestioc::lsp::serve(&server));
        let mut c = LspClient {
            conn,
            next: 0,
            _thread: thread,
        };
        c.request("initialize", serde_json::json!({"capabilities": {}}));
        c.notify("initialized", serde_json::json!({}));
        c
    }

    fn notify(&self, method: &str, params: serde_json::Value) {
        self.conn
            .sender
            .send(lsp_server::Message::Notification(
                lsp_server::Notification::new(method.into(), params),
            ))
            .unwrap();
    }

    /// Sends a request and waits for its answer: the server handles messages in order,
    /// so every notification sent before it has been handled (diagnostics published).
    fn request(&mut self, method: &str, params: serde_json::Value) {
        self.next += 1;
        let id = lsp_server::RequestId::from(self.next);
        self.conn
            .sender
            .send(lsp_server::Message::Request(lsp_server::Request::new(
                id.clone(),
                method.into(),
                params,
            )))
            .unwrap();
        loop {
            if let lsp_server::Message::Response(r) = self.conn.receiver.recv().unwrap()
                && r.id == id
            {
                return;
            }
        }
    }
}

/// `nestioc lsp`: the time from a one-line edit of one service file (`didChange`, full
/// text) to the project's diagnostics being published, in a 1,000-service project.
#[divan::bench(args = [1_000, 5_000], sample_count = 10, sample_size = 1)]
fn lsp_recheck_after_one_line_edit(bencher: divan::Bencher<'_, '_>, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    topology::write(n, dir.path()).unwrap();
    let file = dir.path().join("services/svc-7.kdl");
    let text = std::fs::read_to_string(&file).unwrap();
    let uri = url::Url::from_file_path(&file).unwrap().to_string();
    let mut client = LspClient::start();
    client.notify(
        "textDocument/didOpen",
        serde_json::json!({"textDocument": {"uri": uri, "languageId": "kdl", "version": 1, "text": text}}),
    );
    let symbols = serde_json::json!({"textDocument": {"uri": uri}});
    client.request("textDocument/documentSymbol", symbols.clone());
    let mut version = 1;
    bencher.bench_local(|| {
        version += 1;
        // A different replica count each time, so that the text really changes.
        let edited = text.replacen("replicas 2", &format!("replicas {}", 3 + version % 5), 1);
        client.notify(
            "textDocument/didChange",
            serde_json::json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": edited}]}),
        );
        client.request("textDocument/documentSymbol", symbols.clone());
    });
}
