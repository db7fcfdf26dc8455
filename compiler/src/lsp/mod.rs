//! `nestioc lsp`: a Language Server Protocol server on stdio (`lsp-server` for the
//! transport, `lsp-types` for the messages).
//!
//! Each project (the directory holding `nestio.kdl`, found upwards from an opened file)
//! is read from disk once; open documents overlay it. Every change re-analyses the
//! project in memory, so a change in one file re-checks the files that depend on it and
//! a dangling `depends-on` is reported in the file that has it. Positions are UTF-16,
//! as the protocol counts. Like the CLI, this module is a driver: it owns its I/O (stdio,
//! and reading the project once); the answers come from the pure [`features`].

pub mod features;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lt;
use serde_json::Value;

use crate::diag::{Diagnostics, Severity};
use crate::driver;
use crate::source::{Origin, SourceId, SourceMap, Span};

pub use features::{Snapshot, Symbol};

/// Runs the server on stdin/stdout until the client shuts it down or stdin ends. `Ok(true)`
/// when the client sent `shutdown` before `exit`: the protocol has the server exit with 1
/// otherwise.
///
/// The transport is this module's, not `Connection::stdio`'s: lsp-server's reader thread
/// stops at the first body that is not JSON, which ended the server. Here such a message
/// gets JSON-RPC's Parse error (-32700, id null; JSON-RPC 2.0 §5.1) and the server goes on
/// (the frame's `Content-Length` was read, so the next message is still found).
pub fn run_stdio() -> Result<bool, String> {
    use std::io::{BufRead as _, Write as _};
    use std::sync::{Arc, Mutex};

    let (connection, client) = Connection::memory();
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let out = Arc::clone(&stdout);
    let to_server = client.sender;
    std::thread::Builder::new()
        .name("nestioc-lsp-reader".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut stdin = stdin.lock();
            loop {
                match Message::read(&mut stdin) {
                    Ok(Some(msg)) => {
                        let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                        if to_server.send(msg).is_err() || exit {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the message is not JSON-RPC"}}"#;
                        if let Ok(mut w) = out.lock() {
                            let _ = write!(w, "Content-Length: {}\r\n\r\n{body}", body.len());
                            let _ = w.flush();
                        }
                        // A broken header leaves the stream mid-message: skip to a blank
                        // line, where the next frame's headers can start.
                        if !e.to_string().contains("malformed LSP payload") {
                            let mut line = String::new();
                            while stdin.read_line(&mut line).is_ok_and(|n| n > 0) {
                                if line.trim().is_empty() {
                                    break;
                                }
                                line.clear();
                            }
                        }
                    }
                    Err(_) => break,
                }
            }
        })
        .map_err(|e| e.to_string())?;
    let from_server = client.receiver;
    let writer = std::thread::Builder::new()
        .name("nestioc-lsp-writer".into())
        .spawn(move || -> Result<(), String> {
            for msg in from_server {
                let mut w = stdout.lock().map_err(|e| e.to_string())?;
                msg.write(&mut *w).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    let clean = serve(&connection)?;
    // The writer ends when the server's sender is gone; the reader may still be blocked
    // on stdin, and the process exit ends it.
    drop(connection);
    writer
        .join()
        .map_err(|_| "the writer thread failed".to_owned())??;
    Ok(clean)
}

fn capabilities() -> lt::ServerCapabilities {
    lt::ServerCapabilities {
        text_document_sync: Some(lt::TextDocumentSyncCapability::Options(
            lt::TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(lt::TextDocumentSyncKind::FULL),
                save: Some(lt::TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            },
        )),
        hover_provider: Some(lt::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lt::OneOf::Left(true)),
        references_provider: Some(lt::OneOf::Left(true)),
        document_symbol_provider: Some(lt::OneOf::Left(true)),
        document_formatting_provider: Some(lt::OneOf::Left(true)),
        rename_provider: Some(lt::OneOf::Right(lt::RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: lt::WorkDoneProgressOptions::default(),
        })),
        code_action_provider: Some(lt::CodeActionProviderCapability::Options(
            lt::CodeActionOptions {
                code_action_kinds: Some(vec![lt::CodeActionKind::QUICKFIX]),
                ..Default::default()
            },
        )),
        completion_provider: Some(lt::CompletionOptions {
            trigger_characters: Some(vec!["\"".into(), "=".into(), " ".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Serves one connection (stdio, or in memory for tests). `Ok(true)` after `shutdown` and
/// `exit`; `Ok(false)` when the client exits without `shutdown` or goes away.
pub fn serve(connection: &Connection) -> Result<bool, String> {
    let caps = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    connection.initialize(caps).map_err(|e| e.to_string())?;
    let mut server = Server::default();
    for msg in &connection.receiver {
        let out = match msg {
            Message::Request(req) => {
                if connection
                    .handle_shutdown(&req)
                    .map_err(|e| e.to_string())?
                {
                    return Ok(true);
                }
                vec![Message::Response(server.request(req))]
            }
            Message::Notification(n) if n.method == "exit" => return Ok(false),
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => Vec::new(),
        };
        for m in out {
            connection.sender.send(m).map_err(|e| e.to_string())?;
        }
    }
    Ok(false)
}

/// One project: its files as on disk (relative path -> text), and the latest analysis.
#[derive(Debug, Default)]
struct Project {
    disk: BTreeMap<String, String>,
    snapshot: Option<Snapshot>,
    /// Files whose diagnostics were last published non-empty.
    published: BTreeSet<String>,
    /// The last parse, so that a keystroke re-parses only its file.
    parsed: crate::syntax::ParseCache,
}

/// The server's state.
#[derive(Debug, Default)]
pub struct Server {
    open: BTreeMap<PathBuf, String>,
    projects: BTreeMap<PathBuf, Project>,
}

fn uri_to_path(uri: &lt::Uri) -> Option<PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

fn path_to_uri(path: &Path) -> Option<lt::Uri> {
    let u = url::Url::from_file_path(path).ok()?;
    lt::Uri::from_str(u.as_str()).ok()
}

/// The directory holding the project's `nestio.kdl`, upwards from a file.
fn project_root(file: &Path) -> PathBuf {
    let start = file.parent().unwrap_or(file);
    start
        .ancestors()
        .find(|d| d.join(driver::ROOT_FILE).is_file())
        .unwrap_or(start)
        .to_path_buf()
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    Some(rel.to_string_lossy().replace('\\', "/"))
}

fn read_disk(root: &Path) -> BTreeMap<String, String> {
    let Ok((sources, _)) = driver::load_project(root, &root.join(driver::DEFAULT_OUT)) else {
        return BTreeMap::new();
    };
    sources
        .iter()
        .filter(|(_, s)| matches!(s.origin, Origin::Project | Origin::TemplateOverride))
        .map(|(_, s)| (s.name.clone(), s.text.clone()))
        .collect()
}

fn position(sources: &SourceMap, id: SourceId, offset: usize) -> lt::Position {
    let (line, col) = sources.get(id).line_col_utf16(offset);
    lt::Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        character: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

fn range(sources: &SourceMap, span: Span) -> lt::Range {
    lt::Range {
        start: position(sources, span.source, span.start as usize),
        end: position(sources, span.source, span.end as usize),
    }
}

fn offset(sources: &SourceMap, id: SourceId, p: lt::Position) -> usize {
    sources
        .get(id)
        .offset_of_utf16(p.line as usize, p.character as usize)
}

fn ok<R: serde::Serialize>(id: RequestId, result: R) -> Response {
    Response::new_ok(id, result)
}

impl Server {
    fn project_of(&mut self, path: &Path) -> PathBuf {
        let root = project_root(path);
        self.projects
            .entry(root.clone())
            .or_insert_with(|| Project {
                disk: read_disk(&root),
                ..Project::default()
            });
        root
    }

    /// Re-analyses a project from its files and open documents; returns the diagnostics
    /// to publish.
    fn analyse(&mut self, root: &Path) -> Vec<Message> {
        let Some(project) = self.projects.get_mut(root) else {
            return Vec::new();
        };
        let mut files = project.disk.clone();
        for (path, text) in &self.open {
            if let Some(rel) = relative(root, path)
                && driver::is_project_file(&rel)
                && !rel.split('/').any(|c| c.starts_with('.'))
                && !rel.starts_with(&format!("{}/", driver::DEFAULT_OUT))
            {
                files.insert(rel, text.clone());
            }
        }
        let mut sources = SourceMap::new();
        crate::stdlib::load(&mut sources);
        let mut pre = Diagnostics::new();
        for (rel, text) in files {
            driver::add_file(&mut sources, &mut pre, rel, text.into_bytes());
        }
        // Only the edited file is parsed again; lowering, graph and checks run on the whole
        // project (they are a small part of the time: docs/performance.md).
        let analysis = crate::analyze_cached(
            sources,
            pre,
            &crate::Options::default(),
            &mut project.parsed,
            &mut |_| {},
        );
        let mut docs: Vec<crate::syntax::Document> = project.parsed.documents().cloned().collect();
        docs.sort_by_key(|d| d.source);
        let snapshot = Snapshot {
            sources: analysis.sources,
            docs,
            model: analysis.model,
            diagnostics: analysis.diagnostics,
        };
        let out = publish(root, &snapshot, &mut project.published);
        project.snapshot = Some(snapshot);
        out
    }

    fn notification(&mut self, n: Notification) -> Vec<Message> {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<lt::DidOpenTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return Vec::new();
                };
                self.open.insert(path.clone(), p.text_document.text);
                let root = self.project_of(&path);
                self.analyse(&root)
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<lt::DidChangeTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return Vec::new();
                };
                // Full synchronisation: the last change holds the whole text.
                if let Some(c) = p.content_changes.into_iter().last() {
                    self.open.insert(path.clone(), c.text);
                }
                let root = self.project_of(&path);
                self.analyse(&root)
            }
            "textDocument/didSave" => {
                let Ok(p) = serde_json::from_value::<lt::DidSaveTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return Vec::new();
                };
                let root = self.project_of(&path);
                if let (Some(project), Some(rel), Some(text)) = (
                    self.projects.get_mut(&root),
                    relative(&root, &path),
                    self.open.get(&path),
                ) {
                    project.disk.insert(rel, text.clone());
                }
                self.analyse(&root)
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<lt::DidCloseTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return Vec::new();
                };
                self.open.remove(&path);
                // Unsaved edits are gone: the file is as on disk again.
                let root = self.project_of(&path);
                if let Some(project) = self.projects.get_mut(&root) {
                    project.disk = read_disk(&root);
                }
                self.analyse(&root)
            }
            "workspace/didChangeWatchedFiles" => {
                let roots: Vec<PathBuf> = self.projects.keys().cloned().collect();
                let mut out = Vec::new();
                for root in roots {
                    if let Some(project) = self.projects.get_mut(&root) {
                        project.disk = read_disk(&root);
                    }
                    out.extend(self.analyse(&root));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// The project snapshot and file id of a document.
    fn locate(&self, uri: &lt::Uri) -> Option<(&Snapshot, SourceId, PathBuf)> {
        let path = uri_to_path(uri)?;
        let root = project_root(&path);
        let snap = self.projects.get(&root)?.snapshot.as_ref()?;
        let rel = relative(&root, &path)?;
        let id = snap.sources.find(&rel)?;
        Some((snap, id, root))
    }

    fn location(snap: &Snapshot, root: &Path, span: Span) -> Option<lt::Location> {
        let src = snap.sources.get(span.source);
        if src.origin == Origin::Stdlib {
            return None;
        }
        Some(lt::Location {
            uri: path_to_uri(&root.join(&src.name))?,
            range: range(&snap.sources, span),
        })
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        match self.answer(&req) {
            Ok(v) => ok(id, v),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }

    // lsp-types keys WorkspaceEdit changes by Uri, whose cached parts clippy reads as
    // interior mutability; the keys are never mutated.
    #[allow(clippy::mutable_key_type)]
    fn answer(&self, req: &Request) -> Result<Value, (ErrorCode, String)> {
        let bad = |e: serde_json::Error| (ErrorCode::InvalidParams, e.to_string());
        let params = req.params.clone();
        let none = Value::Null;
        match req.method.as_str() {
            "textDocument/hover" => {
                let p: lt::HoverParams = serde_json::from_value(params).map_err(bad)?;
                let tdp = p.text_document_position_params;
                let Some((snap, file, _)) = self.locate(&tdp.text_document.uri) else {
                    return Ok(none);
                };
                let at = offset(&snap.sources, file, tdp.position);
                Ok(match snap.hover(file, at) {
                    Some((text, span)) => serde_json::to_value(lt::Hover {
                        contents: lt::HoverContents::Markup(lt::MarkupContent {
                            kind: lt::MarkupKind::Markdown,
                            value: text,
                        }),
                        range: Some(range(&snap.sources, span)),
                    })
                    .unwrap_or_default(),
                    None => none,
                })
            }
            "textDocument/definition" => {
                let p: lt::GotoDefinitionParams = serde_json::from_value(params).map_err(bad)?;
                let tdp = p.text_document_position_params;
                let Some((snap, file, root)) = self.locate(&tdp.text_document.uri) else {
                    return Ok(none);
                };
                let at = offset(&snap.sources, file, tdp.position);
                let loc = snap
                    .symbol_at(file, at)
                    .and_then(|(s, _)| snap.definition(&s))
                    .and_then(|span| Self::location(snap, &root, span));
                Ok(loc.map_or(none, |l| serde_json::to_value(l).unwrap_or_default()))
            }
            "textDocument/references" => {
                let p: lt::ReferenceParams = serde_json::from_value(params).map_err(bad)?;
                let tdp = p.text_document_position;
                let Some((snap, file, root)) = self.locate(&tdp.text_document.uri) else {
                    return Ok(none);
                };
                let at = offset(&snap.sources, file, tdp.position);
                let Some((symbol, _)) = snap.symbol_at(file, at) else {
                    return Ok(Value::Array(Vec::new()));
                };
                let locs: Vec<lt::Location> = snap
                    .references(&symbol, p.context.include_declaration)
                    .into_iter()
                    .filter_map(|s| Self::location(snap, &root, s))
                    .collect();
                Ok(serde_json::to_value(locs).unwrap_or_default())
            }
            "textDocument/completion" => {
                let p: lt::CompletionParams = serde_json::from_value(params).map_err(bad)?;
                let tdp = p.text_document_position;
                let Some(path) = uri_to_path(&tdp.text_document.uri) else {
                    return Ok(none);
                };
                let root = project_root(&path);
                let Some(snap) = self.projects.get(&root).and_then(|p| p.snapshot.as_ref()) else {
                    return Ok(none);
                };
                // The document as the editor has it (it may not parse).
                let text = self.open.get(&path).cloned().unwrap_or_default();
                let source = crate::source::Source::new("", text.clone(), Origin::Project);
                let at = source
                    .offset_of_utf16(tdp.position.line as usize, tdp.position.character as usize);
                // The partial word before the cursor, which an item replaces: editors
                // split words at `-` and `/`, so without an edit range accepting
                // `cart-sessions` after `cart-se` would insert `cart-cart-sessions`.
                let word_start = text
                    .get(..at)
                    .unwrap_or_default()
                    .char_indices()
                    .rev()
                    .take_while(|(_, c)| {
                        !c.is_whitespace() && !matches!(c, '"' | '=' | '{' | '}' | ';' | '(' | ')')
                    })
                    .last()
                    .map_or(at, |(i, _)| i);
                let (line, character) = source.line_col_utf16(word_start);
                let replace = lt::Range {
                    start: lt::Position {
                        line: u32::try_from(line).unwrap_or(u32::MAX),
                        character: u32::try_from(character).unwrap_or(u32::MAX),
                    },
                    end: tdp.position,
                };
                let items: Vec<lt::CompletionItem> = snap
                    .complete(&text, at)
                    .into_iter()
                    .map(|(label, detail, doc)| lt::CompletionItem {
                        kind: Some(if label.ends_with('=') {
                            lt::CompletionItemKind::PROPERTY
                        } else if detail == "node" {
                            lt::CompletionItemKind::KEYWORD
                        } else {
                            lt::CompletionItemKind::VALUE
                        }),
                        detail: Some(detail),
                        documentation: (!doc.is_empty()).then_some(
                            lt::Documentation::MarkupContent(lt::MarkupContent {
                                kind: lt::MarkupKind::Markdown,
                                value: doc,
                            }),
                        ),
                        text_edit: Some(lt::CompletionTextEdit::Edit(lt::TextEdit {
                            range: replace,
                            new_text: label.clone(),
                        })),
                        label,
                        ..Default::default()
                    })
                    .collect();
                Ok(serde_json::to_value(lt::CompletionResponse::Array(items)).unwrap_or_default())
            }
            "textDocument/documentSymbol" => {
                let p: lt::DocumentSymbolParams = serde_json::from_value(params).map_err(bad)?;
                let Some((snap, file, _)) = self.locate(&p.text_document.uri) else {
                    return Ok(none);
                };
                let Some(doc) = snap.doc(file) else {
                    return Ok(Value::Array(Vec::new()));
                };
                let symbols: Vec<lt::DocumentSymbol> = doc
                    .nodes
                    .iter()
                    .map(|n| symbol(&snap.sources, n, 0))
                    .collect();
                Ok(
                    serde_json::to_value(lt::DocumentSymbolResponse::Nested(symbols))
                        .unwrap_or_default(),
                )
            }
            "textDocument/formatting" => {
                let p: lt::DocumentFormattingParams =
                    serde_json::from_value(params).map_err(bad)?;
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return Ok(none);
                };
                let Some(text) = self.open.get(&path) else {
                    return Ok(none);
                };
                let mut sources = SourceMap::new();
                let id = sources.add(crate::source::Source::new(
                    "",
                    text.clone(),
                    Origin::Project,
                ));
                let Some(formatted) = crate::fmt::format_source(id, text, &mut Diagnostics::new())
                else {
                    // Does not parse: the diagnostics already say why.
                    return Ok(none);
                };
                if formatted == *text {
                    return Ok(Value::Array(Vec::new()));
                }
                let edit = lt::TextEdit {
                    range: lt::Range {
                        start: lt::Position::new(0, 0),
                        end: position(&sources, id, text.len()),
                    },
                    new_text: formatted,
                };
                Ok(serde_json::to_value(vec![edit]).unwrap_or_default())
            }
            "textDocument/prepareRename" => {
                let p: lt::TextDocumentPositionParams =
                    serde_json::from_value(params).map_err(bad)?;
                let Some((snap, file, _)) = self.locate(&p.text_document.uri) else {
                    return Ok(none);
                };
                let at = offset(&snap.sources, file, p.position);
                Ok(match snap.symbol_at(file, at) {
                    Some((Symbol::Template(t), _)) if t.starts_with(crate::lower::STD_PREFIX) => {
                        none
                    }
                    Some((symbol, span)) => {
                        let placeholder = match symbol {
                            Symbol::Service(s) | Symbol::Template(s) | Symbol::Port(_, s) => s,
                        };
                        serde_json::to_value(lt::PrepareRenameResponse::RangeWithPlaceholder {
                            range: range(&snap.sources, span),
                            placeholder,
                        })
                        .unwrap_or_default()
                    }
                    None => none,
                })
            }
            "textDocument/rename" => {
                let p: lt::RenameParams = serde_json::from_value(params).map_err(bad)?;
                let tdp = p.text_document_position;
                let Some((snap, file, root)) = self.locate(&tdp.text_document.uri) else {
                    return Ok(none);
                };
                let at = offset(&snap.sources, file, tdp.position);
                let Some((symbol, _)) = snap.symbol_at(file, at) else {
                    return Err((ErrorCode::InvalidParams, "nothing to rename here".into()));
                };
                let valid = match &symbol {
                    Symbol::Service(_) => crate::lower::names::check_service_name(&p.new_name),
                    Symbol::Template(t) if t.starts_with(crate::lower::STD_PREFIX) => {
                        return Err((
                            ErrorCode::InvalidParams,
                            "the standard library's templates cannot be renamed".into(),
                        ));
                    }
                    Symbol::Template(_) => {
                        crate::lower::names::check_dns_label(&p.new_name, "template")
                    }
                    Symbol::Port(service, port) => {
                        if let Some(template) = snap.port_template(service, port) {
                            return Err((
                                ErrorCode::InvalidParams,
                                format!(
                                    "port `{port}` of `{service}` is also declared by the template `{template}`: renaming it here would give the service a second port (rename it in the template, for every service that uses it)"
                                ),
                            ));
                        }
                        crate::lower::names::check_port_name(&p.new_name)
                    }
                };
                if let Err(problem) = valid {
                    return Err((ErrorCode::InvalidParams, problem.message));
                }
                let mut changes: std::collections::HashMap<lt::Uri, Vec<lt::TextEdit>> =
                    std::collections::HashMap::new();
                for span in snap.references(&symbol, true) {
                    if let Some(loc) = Self::location(snap, &root, span) {
                        changes.entry(loc.uri).or_default().push(lt::TextEdit {
                            range: loc.range,
                            new_text: format!("\"{}\"", p.new_name),
                        });
                    }
                }
                Ok(serde_json::to_value(lt::WorkspaceEdit {
                    changes: Some(changes),
                    ..Default::default()
                })
                .unwrap_or_default())
            }
            "textDocument/codeAction" => {
                let p: lt::CodeActionParams = serde_json::from_value(params).map_err(bad)?;
                let Some((snap, file, _)) = self.locate(&p.text_document.uri) else {
                    return Ok(none);
                };
                let text = &snap.sources.get(file).text;
                let mut actions = Vec::new();
                for d in &snap.diagnostics {
                    let Some(label) = d.labels.iter().find(|l| l.primary && l.span.source == file)
                    else {
                        continue;
                    };
                    let r = range(&snap.sources, label.span);
                    if r.end < p.range.start || p.range.end < r.start {
                        continue;
                    }
                    let Some(s) = features::suggestion(d) else {
                        continue;
                    };
                    let original = text
                        .get(label.span.start as usize..label.span.end as usize)
                        .unwrap_or_default();
                    let mut changes = std::collections::HashMap::new();
                    changes.insert(
                        p.text_document.uri.clone(),
                        vec![lt::TextEdit {
                            range: r,
                            new_text: features::replacement(original, &s),
                        }],
                    );
                    actions.push(lt::CodeActionOrCommand::CodeAction(lt::CodeAction {
                        title: format!("Replace with `{s}`"),
                        kind: Some(lt::CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![lsp_diagnostic(&snap.sources, d, label.span)]),
                        edit: Some(lt::WorkspaceEdit {
                            changes: Some(changes),
                            ..Default::default()
                        }),
                        is_preferred: Some(true),
                        ..Default::default()
                    }));
                }
                Ok(serde_json::to_value(actions).unwrap_or_default())
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("`{}` is not supported", req.method),
            )),
        }
    }
}

fn symbol(sources: &SourceMap, n: &crate::syntax::Node, depth: usize) -> lt::DocumentSymbol {
    let kind = match n.name.as_str() {
        "project" => lt::SymbolKind::MODULE,
        "service" => lt::SymbolKind::CLASS,
        "template" => lt::SymbolKind::INTERFACE,
        "environment" => lt::SymbolKind::NAMESPACE,
        "port" => lt::SymbolKind::FIELD,
        "depends-on" => lt::SymbolKind::EVENT,
        "slo" => lt::SymbolKind::PROPERTY,
        _ => lt::SymbolKind::KEY,
    };
    let name = match n.name_arg() {
        Some(a) => format!("{} {a}", n.name),
        None => n.name.clone(),
    };
    // Only the structure worth navigating: named children, two levels deep.
    let children: Vec<lt::DocumentSymbol> = if depth < 2 {
        n.children
            .iter()
            .filter(|c| c.name_arg().is_some() || !c.children.is_empty())
            .map(|c| symbol(sources, c, depth + 1))
            .collect()
    } else {
        Vec::new()
    };
    #[allow(deprecated)]
    lt::DocumentSymbol {
        name,
        detail: None,
        kind,
        tags: None,
        deprecated: None,
        range: range(sources, n.span),
        selection_range: range(sources, n.ident_span()),
        children: (!children.is_empty()).then_some(children),
    }
}

fn lsp_diagnostic(sources: &SourceMap, d: &crate::diag::Diagnostic, at: Span) -> lt::Diagnostic {
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    for n in &d.notes {
        message.push_str("\nnote: ");
        message.push_str(n);
    }
    lt::Diagnostic {
        range: range(sources, at),
        severity: Some(match d.severity {
            Severity::Error => lt::DiagnosticSeverity::ERROR,
            Severity::Warning => lt::DiagnosticSeverity::WARNING,
        }),
        code: Some(lt::NumberOrString::String(d.code.as_str().to_owned())),
        code_description: lt::Uri::from_str(&format!(
            "https://github.com/cloudnestio/nestioc/blob/main/docs/diagnostics/{}.md",
            d.code.as_str()
        ))
        .ok()
        .map(|href| lt::CodeDescription { href }),
        source: Some("nestioc".into()),
        message,
        related_information: None,
        tags: None,
        data: None,
    }
}

/// `textDocument/publishDiagnostics` for every file that has diagnostics now or had
/// them at the last publication (to clear them).
fn publish(root: &Path, snap: &Snapshot, published: &mut BTreeSet<String>) -> Vec<Message> {
    let mut by_file: BTreeMap<String, Vec<lt::Diagnostic>> = BTreeMap::new();
    for d in &snap.diagnostics {
        let label = d
            .labels
            .iter()
            .find(|l| l.primary)
            .or_else(|| d.labels.first());
        let (file, span) = match label {
            Some(l) => {
                let src = snap.sources.get(l.span.source);
                if src.origin == Origin::Stdlib {
                    continue;
                }
                (src.name.clone(), l.span)
            }
            // Project-wide problems go on the project file.
            None => match snap.sources.find(driver::ROOT_FILE) {
                Some(id) => (driver::ROOT_FILE.to_owned(), Span::file_start(id)),
                None => continue,
            },
        };
        let mut ld = lsp_diagnostic(&snap.sources, d, span);
        // Labels in the same file become related information the editor can show.
        let uri = path_to_uri(&root.join(&file));
        if let Some(uri) = &uri {
            let related: Vec<lt::DiagnosticRelatedInformation> = d
                .labels
                .iter()
                .filter(|l| !(l.primary && l.span == span))
                .filter_map(|l| {
                    let src = snap.sources.get(l.span.source);
                    if src.origin == Origin::Stdlib {
                        return None;
                    }
                    let u = if src.name == file {
                        uri.clone()
                    } else {
                        path_to_uri(&root.join(&src.name))?
                    };
                    Some(lt::DiagnosticRelatedInformation {
                        location: lt::Location {
                            uri: u,
                            range: range(&snap.sources, l.span),
                        },
                        message: l.message.clone(),
                    })
                })
                .collect();
            if !related.is_empty() {
                ld.related_information = Some(related);
            }
        }
        by_file.entry(file).or_default().push(ld);
    }
    let mut out = Vec::new();
    let now: BTreeSet<String> = by_file.keys().cloned().collect();
    for file in published.iter().filter(|f| !now.contains(*f)) {
        by_file.entry(file.clone()).or_default();
    }
    for (file, diagnostics) in by_file {
        let Some(uri) = path_to_uri(&root.join(&file)) else {
            continue;
        };
        let params = lt::PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        };
        out.push(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            params,
        )));
    }
    *published = now;
    out
}
