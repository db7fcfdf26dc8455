//! The language server, driven in memory through the protocol (lsp-server's in-memory
//! connection): diagnostics across files with UTF-16 ranges, hover, definition,
//! references, completion, symbols, rename, formatting and quick fixes. The same
//! scenario runs against a real client in `tests/lsp/` (pytest-lsp), see `lsp_client`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};

use crate::support::root;

struct Client {
    conn: Connection,
    next: i32,
    /// Notifications received while waiting for responses.
    notes: Vec<Notification>,
    thread: Option<std::thread::JoinHandle<Result<bool, String>>>,
}

fn uri(p: &Path) -> String {
    url::Url::from_file_path(p).unwrap().to_string()
}

impl Client {
    fn start() -> Self {
        let (server, client) = Connection::memory();
        let thread = std::thread::spawn(move || nestioc::lsp::serve(&server));
        let mut c = Client {
            conn: client,
            next: 0,
            notes: Vec::new(),
            thread: Some(thread),
        };
        let r = c.request("initialize", json!({"capabilities": {}}));
        assert!(r["capabilities"]["hoverProvider"] == json!(true), "{r}");
        c.notify("initialized", json!({}));
        c
    }

    fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Message::Notification(Notification::new(
                method.into(),
                params,
            )))
            .unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.conn
            .sender
            .send(Message::Request(Request::new(
                id.clone(),
                method.into(),
                params,
            )))
            .unwrap();
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(30))
                .unwrap()
            {
                Message::Response(r) if r.id == id => {
                    return match r.response_result {
                        Ok(v) => v,
                        Err(e) => json!({"error": e.message}),
                    };
                }
                Message::Notification(n) => self.notes.push(n),
                _ => {}
            }
        }
    }

    /// The diagnostics last published for a file, after the server has handled
    /// everything sent so far.
    fn diagnostics(&mut self, file: &Path) -> Vec<Value> {
        // A request round-trip flushes the notifications sent before its response.
        self.request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": uri(file)}}),
        );
        self.notes
            .iter()
            .rev()
            .filter(|n| n.method == "textDocument/publishDiagnostics")
            .find(|n| n.params["uri"] == uri(file))
            .map(|n| n.params["diagnostics"].as_array().unwrap().clone())
            .unwrap_or_default()
    }

    fn open(&self, file: &Path) {
        let text = std::fs::read_to_string(file).unwrap();
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri(file), "languageId": "kdl", "version": 1, "text": text}}),
        );
    }

    fn change(&self, file: &Path, text: &str, version: i32) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri(file), "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    fn shutdown(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let t = self.thread.take().unwrap();
        assert_eq!(t.join().unwrap(), Ok(true));
    }
}

fn at(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

/// The project of `tests/lsp/project/`, copied so that edits stay in the test.
fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let src = root().join("tests/lsp/project");
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let to = dir.join(e.path().strip_prefix(&src).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
    (tmp, dir)
}

#[test]
fn diagnostics_follow_edits_across_files_with_utf16_ranges() {
    let (_t, dir) = project();
    let checkout = dir.join("services/checkout.kdl");
    let mut c = Client::start();
    c.open(&checkout);
    let diags = c.diagnostics(&checkout);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["code"], "NST0201");
    assert_eq!(d["severity"], 1);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `payments`?")
    );
    // `    depends-on /* für 💳 */ "paymnets"`: the value starts at byte 31, character
    // 27, UTF-16 code unit 28 (`ü` is one unit, `💳` two).
    assert_eq!(d["range"]["start"], at(3, 28), "{d}");
    assert_eq!(d["range"]["end"], at(3, 38), "{d}");

    // Fix the typo: the diagnostic is cleared.
    let fixed = std::fs::read_to_string(&checkout)
        .unwrap()
        .replace("paymnets", "payments");
    c.change(&checkout, &fixed, 2);
    assert_eq!(c.diagnostics(&checkout), Vec::<Value>::new());

    // Break another file the open one depends on: the error lands in that file.
    let payments = dir.join("services/payments.kdl");
    let text = std::fs::read_to_string(&payments).unwrap();
    c.open(&payments);
    c.change(
        &payments,
        &text.replace("service \"payments\"", "service \"payment\""),
        2,
    );
    let diags = c.diagnostics(&checkout);
    assert_eq!(
        diags.len(),
        1,
        "the dangling depends-on is in checkout.kdl: {diags:?}"
    );
    c.shutdown();
}

#[test]
fn navigation_hover_completion_rename_format_and_fixes() {
    let (_t, dir) = project();
    let checkout = dir.join("services/checkout.kdl");
    let payments = dir.join("services/payments.kdl");
    let mut c = Client::start();
    c.open(&checkout);
    let text = std::fs::read_to_string(&checkout).unwrap();

    // Quick fix for the typo.
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri(&checkout)}, "range": {"start": at(3, 30), "end": at(3, 30)}, "context": {"diagnostics": []}}),
    );
    let edit = &actions[0]["edit"]["changes"][uri(&checkout)][0];
    assert_eq!(edit["newText"], "\"payments\"", "{actions}");
    assert_eq!(actions[0]["title"], "Replace with `payments`");
    let fixed = text.replace("paymnets", "payments");
    c.change(&checkout, &fixed, 2);

    // Definition across files.
    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri(&checkout)}, "position": at(3, 30)}),
    );
    assert_eq!(def["uri"], uri(&payments), "{def}");
    assert_eq!(def["range"]["start"], at(0, 8));

    // Hover on the callee: its ports, SLOs and owner.
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&checkout)}, "position": at(3, 30)}),
    );
    let value = hover["contents"]["value"].as_str().unwrap();
    for needle in [
        "service `payments`",
        "owner: payments-team",
        "port `grpc`: 50051",
        "SLO availability: 99.95%",
    ] {
        assert!(value.contains(needle), "{needle:?} in {value}");
    }
    // Hover on a node name: the reference text.
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&checkout)}, "position": at(3, 6)}),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("**depends-on** — A call from this service to another.")
    );

    // References of `payments`: its declaration and the call.
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": uri(&checkout)}, "position": at(3, 30), "context": {"includeDeclaration": true}}),
    );
    assert_eq!(refs.as_array().unwrap().len(), 2, "{refs}");

    // Completion of a service name in a new depends-on.
    let partial = fixed.replacen("    slo ", "    depends-on \"\n    slo ", 1);
    c.change(&checkout, &partial, 3);
    let line = partial
        .lines()
        .position(|l| l == "    depends-on \"")
        .unwrap() as u32;
    let items = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri(&checkout)}, "position": at(line, 16)}),
    );
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"payments") && labels.contains(&"inventory"),
        "{labels:?}"
    );
    c.change(&checkout, &fixed, 4);

    // Rename `payments` everywhere.
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri(&checkout)}, "position": at(3, 30), "newName": "billing"}),
    );
    let changes = edit["changes"].as_object().unwrap();
    assert_eq!(changes.len(), 2, "{edit}");
    assert_eq!(changes[&uri(&payments)][0]["newText"], "\"billing\"");
    let bad = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri(&checkout)}, "position": at(3, 30), "newName": "Billing!"}),
    );
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("invalid service name"),
        "{bad}"
    );

    // Symbols and formatting.
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri(&checkout)}}),
    );
    assert_eq!(symbols[0]["name"], "service checkout");
    let messy = fixed.replace("    owner", "  owner");
    c.change(&checkout, &messy, 5);
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri(&checkout)}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(edits[0]["newText"], fixed, "{edits}");
    c.shutdown();
}

/// The properties of issue 16's items 7 to 9 come from the language table like every
/// other: `expose |` offers `node-port=` and `load-balancer=`, `replicas 1 |` offers
/// `scale=`, and hovering `node-port=` explains it.
#[test]
fn published_ports_and_scale_are_completed_and_explained() {
    let (_t, dir) = project();
    let file = dir.join("services/broker.kdl");
    let text = "service \"broker\" {\n    image \"broker\" tag=\"1.0.0\"\n    port \"mqtt\" 1883 protocol=\"tcp\"\n    replicas 1 \n    expose \n}\n";
    std::fs::write(&file, text).unwrap();
    let mut c = Client::start();
    c.open(&file);
    let labels = |c: &mut Client, line: u32, character: u32| -> Vec<String> {
        let items = c.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri(&file)}, "position": at(line, character)}),
        );
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_owned())
            .collect()
    };
    let expose = labels(&mut c, 4, 11);
    for want in ["node-port=", "load-balancer=", "host="] {
        assert!(expose.iter().any(|l| l == want), "{want} in {expose:?}");
    }
    let replicas = labels(&mut c, 3, 15);
    assert!(replicas.iter().any(|l| l == "scale="), "{replicas:?}");
    let published = text.replace("expose \n", "expose node-port=30001\n");
    c.change(&file, &published, 2);
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&file)}, "position": at(4, 13)}),
    );
    let value = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        value.contains("**node-port=** on `expose`") && value.contains("NodePort"),
        "{hover}"
    );
    c.shutdown();
}

/// The scenario in `tests/lsp/test_server.py` against a real LSP client: pytest-lsp and
/// pygls, installed into the validators' venv by scripts/install-validators.sh.
#[test]
fn lsp_client() {
    let python = root().join(".venv-validators/bin/python");
    let ready = python.is_file()
        && std::process::Command::new(&python)
            .args(["-c", "import pytest_lsp"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("NESTIOC_REQUIRE_VALIDATORS").is_none_or(|v| v != "1"),
            "LSP client test: pytest-lsp not found in .venv-validators; NESTIOC_REQUIRE_VALIDATORS=1 makes that an error"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED LSP client test: pytest-lsp not found (run scripts/install-validators.sh)"
        );
        return;
    }
    let o = std::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("tests/lsp"))
        .env("NESTIOC_BIN", env!("CARGO_BIN_EXE_nestioc"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pytest-lsp scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The pod nodes of issue 16 come from lang.rs like every other: completion inside a
/// `sidecar` offers a container's nodes (and not `sidecar` again), `probe for=` its uses,
/// `security` its relaxations; hover on `sidecar`, `init-container` and `security` shows
/// their reference text.
#[test]
fn completion_and_hover_cover_the_pod_nodes() {
    let (_t, dir) = project();
    let file = dir.join("services/cache.kdl");
    let text = "service \"cache\" {\n    image \"redis\" tag=\"7.4.1\"\n    port \"redis\" 6379 protocol=\"tcp\"\n    security run-as-user=999\n    init-container \"prepare\" {\n        image \"busybox\" tag=\"1.37.0\"\n    }\n    sidecar \"exporter\" {\n        \n    }\n}\n";
    std::fs::write(&file, text).unwrap();
    let mut c = Client::start();
    c.open(&file);
    let labels = |c: &mut Client, text: &str, line: u32, col: u32| -> Vec<String> {
        c.change(&file, text, 2);
        let items = c.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri(&file)}, "position": at(line, col)}),
        );
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_owned())
            .collect()
    };
    // Inside the sidecar's block (line 8, after the indentation).
    let got = labels(&mut c, text, 8, 8);
    for want in [
        "image",
        "command",
        "args",
        "port",
        "env",
        "resources",
        "volume",
        "probe",
        "security",
    ] {
        assert!(got.iter().any(|l| l == want), "{want} in {got:?}");
    }
    for not in ["sidecar", "init-container", "expose", "depends-on"] {
        assert!(!got.iter().any(|l| l == not), "{not} not in {got:?}");
    }
    // Inside the service: the new nodes are offered.
    let at_service = text.replacen("    security run-as-user=999\n", "    \n", 1);
    let got = labels(&mut c, &at_service, 3, 4);
    for want in [
        "probe",
        "command",
        "security",
        "annotation",
        "label",
        "service-annotation",
        "sidecar",
        "init-container",
    ] {
        assert!(got.iter().any(|l| l == want), "{want} in {got:?}");
    }
    // `for=` of a probe: its uses.
    let probe = text.replacen("        \n", "        probe \"http\" for=\"\n", 1);
    let got = labels(&mut c, &probe, 8, 29);
    for want in ["readiness", "liveness", "startup", "all"] {
        assert!(got.iter().any(|l| l == want), "{want} in {got:?}");
    }
    // The properties of `security`.
    let security = text.replacen("        \n", "        security \n", 1);
    let got = labels(&mut c, &security, 8, 17);
    for want in [
        "run-as-user=",
        "run-as-group=",
        "run-as=",
        "read-only-root=",
        "add-capabilities=",
        "reason=",
    ] {
        assert!(got.iter().any(|l| l == want), "{want} in {got:?}");
    }
    c.change(&file, text, 3);
    for (line, col, needle) in [
        (7u32, 6u32, "**sidecar**"),
        (4, 6, "**init-container**"),
        (3, 6, "**security**"),
    ] {
        let hover = c.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri(&file)}, "position": at(line, col)}),
        );
        let value = hover["contents"]["value"].as_str().unwrap_or_default();
        assert!(value.contains(needle), "{needle} in {hover}");
    }
    c.shutdown();
}

/// The real server on stdio: a body that is not JSON gets JSON-RPC's Parse error (-32700,
/// id null; JSON-RPC 2.0 §5.1) and the server goes on answering (lsp-server's own
/// transport stopped, and every later request hit a closed pipe). `exit` without
/// `shutdown` exits with 1, as the protocol says ("exit" notification); after `shutdown`,
/// with 0.
#[test]
fn the_stdio_server_survives_a_malformed_message_and_exits_as_the_protocol_says() {
    use std::io::{Read as _, Write as _};
    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }
    let run = |messages: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nestioc"))
            .arg("lsp")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn nestioc lsp");
        let mut stdin = child.stdin.take().expect("stdin");
        for m in messages {
            stdin.write_all(frame(m).as_bytes()).expect("write");
        }
        drop(stdin);
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        (child.wait().expect("wait").code(), out)
    };
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
    let initialized = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
    let broken = r#"{"jsonrpc":"2.0","id":77,"method":"#;
    let shutdown = r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#;
    let exit = r#"{"jsonrpc":"2.0","method":"exit"}"#;

    let (code, out) = run(&[init, initialized, broken, shutdown, exit]);
    assert!(out.contains(r#""code":-32700"#), "{out}");
    assert!(
        out.contains(r#""id":2"#),
        "no answer to shutdown after the bad message: {out}"
    );
    assert_eq!(code, Some(0), "{out}");

    let (code, out) = run(&[init, initialized, exit]);
    assert_eq!(code, Some(1), "{out}");
}

/// A port is named by `depends-on port=`, `expose port=` and `probe port=` (NST0203):
/// renaming it edits all three (the probe's was left, and the project stopped compiling).
/// A port that a template declares too is not renamed in one place: the service would get
/// a second port.
#[test]
fn renaming_a_port_edits_its_probes_and_refuses_a_template_port() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\" {\n    registry \"ghcr.io/acme\"\n}\ntemplate \"web-api\" {\n    port \"http\" 8080 protocol=\"http\"\n}\n",
    )
    .unwrap();
    let web = dir.join("services/web.kdl");
    let text = "service \"web\" {\n    uses \"web-api\"\n    image \"web\" tag=\"1.0.0\"\n    port \"http\" 80 target=8080 protocol=\"http\"\n    port \"admin\" 9090 protocol=\"http\"\n    probe \"http\" path=\"/healthz\" port=\"admin\"\n}\n";
    std::fs::write(&web, text).unwrap();
    let mut c = Client::start();
    c.open(&web);

    // `port "admin"`: line 4, the name starts at character 10.
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri(&web)}, "position": at(4, 11), "newName": "mgmt"}),
    );
    let edits = edit["changes"][uri(&web)]
        .as_array()
        .expect("edits")
        .clone();
    let lines: Vec<u64> = edits
        .iter()
        .map(|e| e["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![4, 5], "{edit}");

    // The probe's `port="admin"` is a reference too: definition goes to the port.
    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri(&web)}, "position": at(5, 43)}),
    );
    assert_eq!(def["range"]["start"], at(4, 9), "{def}");

    // `port "http"` overrides the template's: refused, with the template named.
    let refused = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri(&web)}, "position": at(3, 11), "newName": "web"}),
    );
    let message = refused["error"].as_str().unwrap_or_default();
    assert!(message.contains("template `web-api`"), "{refused}");
    c.shutdown();
}

/// A completion item replaces the partial word before the cursor (`textEdit`): editors
/// split words at `-` and `/`, so accepting `cart-sessions` after `cart-se` would otherwise
/// insert `cart-cart-sessions`. Hover on a bare standard-library name (`uses
/// "http-service"`) describes the template, as `uses` resolves it.
#[test]
fn completion_replaces_the_partial_name_and_bare_stdlib_names_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::write(
        dir.join("nestio.kdl"),
        "project \"p\" {\n    registry \"ghcr.io/acme\"\n}\nservice \"cart-sessions\" {\n    uses \"std/redis\"\n}\n",
    )
    .unwrap();
    let web = dir.join("services/web.kdl");
    let text = "service \"web\" {\n    uses \"http-service\"\n    image \"web\" tag=\"1.0.0\"\n    depends-on \"cart-se\"\n}\n";
    std::fs::write(&web, text).unwrap();
    let mut c = Client::start();
    c.open(&web);
    let items = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri(&web)}, "position": at(3, 23)}),
    );
    let item = items
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["label"] == "cart-sessions")
        .unwrap_or_else(|| panic!("no cart-sessions in {items}"))
        .clone();
    assert_eq!(item["textEdit"]["newText"], "cart-sessions", "{item}");
    assert_eq!(item["textEdit"]["range"]["start"], at(3, 16), "{item}");
    assert_eq!(item["textEdit"]["range"]["end"], at(3, 23), "{item}");

    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&web)}, "position": at(1, 12)}),
    );
    let shown = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        shown.contains("stdlib/templates/http-service.kdl") && shown.contains("health-path"),
        "{hover}"
    );
    c.shutdown();
}
