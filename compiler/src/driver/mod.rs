//! The only module that does I/O: finds and reads the project's files, writes the
//! artifacts (a new tree built beside the old one and swapped in at once, with a manifest
//! of hashes), and compares
//! them with what is on disk for `--check`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{Origin, Source, SourceMap, Span};
use crate::stdlib;

/// The project's root file.
pub const ROOT_FILE: &str = "nestio.kdl";
/// The manifest of generated files, inside the output directory.
pub const MANIFEST: &str = ".nestio-manifest.json";
/// The lock file inside the output directory that serialises concurrent builds.
pub const LOCK_FILE: &str = ".nestio-lock";
/// The default output directory, inside the project.
pub const DEFAULT_OUT: &str = "generated";
pub use crate::emit::templates::TEMPLATE_DIR;

mod stat;
mod write;

pub use write::{
    Drift, WriteFailure, WriteReport, Writer, check_output_dir_safe, compare, compare_cached,
    compare_partial, up_to_date, write,
};

/// An error that is not about the input: a missing directory, an unwritable file.
#[derive(Debug)]
pub struct IoError {
    pub message: String,
}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn io_err(what: impl std::fmt::Display, path: &Path, e: &io::Error) -> IoError {
    IoError {
        message: format!("{what} `{}`: {e}", path.display()),
    }
}

/// Reads every `*.kdl` file under `dir` (sorted; skipping hidden directories and the
/// output directory) plus the stdlib. Files that are not UTF-8 are reported, not fatal.
pub fn load_project(dir: &Path, out: &Path) -> Result<(SourceMap, Diagnostics), IoError> {
    let meta = fs::metadata(dir).map_err(|e| io_err("cannot read project directory", dir, &e))?;
    if !meta.is_dir() {
        return Err(IoError {
            message: format!("`{}` is not a directory", dir.display()),
        });
    }
    let mut sources = SourceMap::new();
    stdlib::load(&mut sources);
    let mut diags = Diagnostics::new();
    let out_canon = fs::canonicalize(out).ok();
    let mut skipped_out: Option<PathBuf> = None;
    // Links are followed, to files and to directories: a project that links a shared
    // file or directory in (`services/b.kdl -> ../../shared/b.kdl`) means it to be part
    // of the project. walkdir reports a link that loops back to an ancestor instead of
    // following it, and a link to nothing: both are reported below, not fatal.
    let walker = WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            let is_out = e.file_type().is_dir()
                && out_canon
                    .as_ref()
                    .is_some_and(|o| fs::canonicalize(e.path()).ok().as_ref() == Some(o));
            if is_out && !hidden {
                skipped_out = Some(e.path().to_path_buf());
            }
            !hidden && !is_out
        });
    let mut found_root = false;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            // Below the project directory: one entry cannot be read (a dangling link, a
            // link loop, a directory without permission). The project directory itself
            // was read above.
            // A hidden entry that cannot be read is skipped as a readable one is: walkdir
            // reports the error before `filter_entry` sees the name. Emacs keeps a lock
            // file `.#checkout.kdl`, a link to nothing, while a buffer has unsaved edits.
            Err(e)
                if e.depth() > 0
                    && e.path()
                        .and_then(Path::file_name)
                        .is_some_and(|n| n.to_string_lossy().starts_with('.')) =>
            {
                continue;
            }
            Err(e) if e.depth() > 0 => {
                let path = e.path().unwrap_or(dir);
                let rel = path.strip_prefix(dir).unwrap_or(path);
                let why = if e.loop_ancestor().is_some() {
                    "the link points back to a directory that contains it".to_owned()
                } else {
                    e.io_error()
                        .map_or_else(|| e.to_string(), std::string::ToString::to_string)
                };
                diags.push(
                    Diagnostic::error(
                        Code::UnreadableSource,
                        format!("cannot read `{}`: {why}", rel.display()),
                    )
                    .with_help("fix or remove the link: every `*.kdl` file below the project directory is part of the project"),
                );
                continue;
            }
            Err(e) => {
                return Err(IoError {
                    message: format!("cannot walk `{}`: {e}", dir.display()),
                });
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if !is_project_file(&rel) {
            continue;
        }
        if rel == ROOT_FILE {
            found_root = true;
        }
        files.push((rel, entry.into_path()));
    }
    // Outputs are never `*.kdl` files: sources inside the output directory (`-o services`)
    // would be left out of the project without a word, and the build would go on without them.
    // A directory with a build's manifest is an output (`generated/` after a build, 150,000
    // files at 5,000 services): it is not walked on every build. Such a build never
    // succeeded into a directory of sources, so none has a manifest.
    if let Some(skipped) = skipped_out.as_ref().filter(|d| !d.join(MANIFEST).is_file()) {
        let inside = WalkDir::new(skipped)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| relative(e.path(), dir))
            .filter(|rel| is_project_file(rel) && !rel.split('/').any(|c| c.starts_with('.')))
            .collect::<Vec<_>>();
        if let Some(first) = inside.first() {
            let more = match inside.len() {
                1 => String::new(),
                2 => " and 1 other source".to_owned(),
                n => format!(" and {} other sources", n - 1),
            };
            diags.push(
                Diagnostic::error(
                    Code::UnsafeOutput,
                    format!(
                        "the output directory `{}` holds the project's source `{first}`{more}",
                        relative(skipped, dir)
                    ),
                )
                .with_help(
                    "a build reads no sources from its output directory and may prune it: write the output elsewhere (the default is `generated/`)",
                ),
            );
        }
    }
    // Read on every thread (a large project is thousands of small files), added in the
    // walk's sorted order; the first file that cannot be read, in that order, is the error.
    let read: Vec<io::Result<Vec<u8>>> = files.par_iter().map(|(_, p)| fs::read(p)).collect();
    for ((rel, path), bytes) in files.into_iter().zip(read) {
        let bytes = bytes.map_err(|e| io_err("cannot read", &path, &e))?;
        add_file(&mut sources, &mut diags, rel, bytes);
    }
    if !found_root {
        diags.push(
            Diagnostic::error(
                Code::MissingProject,
                format!("no {ROOT_FILE} in `{}`", dir.display()),
            )
            .with_help(format!(
                "a project is a directory with {ROOT_FILE} at its root; run `nestioc init` or pass the project directory"
            )),
        );
    }
    Ok((sources, diags))
}

fn sha256(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Is this project-relative path a source: a `.kdl` file, or a text-template override?
pub fn is_project_file(rel: &str) -> bool {
    rel.ends_with(".kdl") || (rel.starts_with(TEMPLATE_DIR) && rel.ends_with(".hbs"))
}

/// Adds one project file; a file that is not UTF-8 is reported and kept for rendering.
pub fn add_file(sources: &mut SourceMap, diags: &mut Diagnostics, rel: String, bytes: Vec<u8>) {
    let origin = if rel.ends_with(".kdl") {
        Origin::Project
    } else {
        Origin::TemplateOverride
    };
    match String::from_utf8(bytes) {
        Ok(text) => {
            sources.add(Source::new(rel, text, origin));
        }
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let at = text
                .char_indices()
                .nth(
                    String::from_utf8_lossy(&e.as_bytes()[..valid])
                        .chars()
                        .count(),
                )
                .map_or(0, |(i, _)| i);
            let mut source = Source::new(rel.clone(), text, origin);
            source.unreadable = true;
            let id = sources.add(source);
            diags.push(
                Diagnostic::error(
                    Code::UnreadableSource,
                    format!("`{rel}` is not valid UTF-8"),
                )
                .with_label(Span::new(id, at, at + 1), "invalid byte sequence here")
                .with_help("save the file as UTF-8"),
            );
        }
    }
}

/// Runs git in `dir`; `Err` with git's message.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, IoError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| IoError {
            message: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(IoError {
            message: format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out.stdout)
}

/// Reads the project in `dir` as it was at git revision `rev`, without touching the
/// working tree: `git ls-tree` and `git show`.
pub fn load_project_at_revision(
    dir: &Path,
    rev: &str,
    out_rel: &str,
) -> Result<(SourceMap, Diagnostics), IoError> {
    if rev.starts_with('-') || rev.chars().any(char::is_whitespace) {
        return Err(IoError {
            message: format!("`{rev}` is not a git revision"),
        });
    }
    let listing = git(dir, &["ls-tree", "-r", "--name-only", rev, "--", "."])?;
    let mut sources = SourceMap::new();
    stdlib::load(&mut sources);
    let mut diags = Diagnostics::new();
    let mut found_root = false;
    let mut paths: Vec<String> = String::from_utf8_lossy(&listing)
        .lines()
        .map(str::to_owned)
        .collect();
    paths.sort();
    let out_rel = out_rel.trim_end_matches('/');
    for rel in paths {
        let hidden = rel.split('/').any(|c| c.starts_with('.'));
        let in_out =
            !out_rel.is_empty() && (rel == out_rel || rel.starts_with(&format!("{out_rel}/")));
        if hidden || in_out || !is_project_file(&rel) {
            continue;
        }
        if rel == ROOT_FILE {
            found_root = true;
        }
        let bytes = git(dir, &["show", &format!("{rev}:./{rel}")])?;
        add_file(&mut sources, &mut diags, rel, bytes);
    }
    if !found_root {
        return Err(IoError {
            message: format!("no {ROOT_FILE} in `{}` at revision `{rev}`", dir.display()),
        });
    }
    Ok((sources, diags))
}

/// Every file of a previous output directory (the manifest's list when there is one),
/// by relative path.
pub fn read_output_dir(out: &Path) -> Result<BTreeMap<String, String>, IoError> {
    let mut files = BTreeMap::new();
    let listed = read_manifest(out);
    if listed.is_empty() {
        for entry in WalkDir::new(out).sort_by_file_name() {
            let entry = entry.map_err(|e| IoError {
                message: format!("cannot walk `{}`: {e}", out.display()),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = relative(entry.path(), out);
            if rel == MANIFEST || rel.split('/').any(|c| c.starts_with('.')) {
                continue;
            }
            let text =
                fs::read(entry.path()).map_err(|e| io_err("cannot read", entry.path(), &e))?;
            files.insert(rel, String::from_utf8_lossy(&text).into_owned());
        }
    } else {
        for rel in listed.keys() {
            if let Ok(bytes) = fs::read(out.join(rel)) {
                files.insert(rel.clone(), String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    Ok(files)
}

/// The manifest of a previous build: path -> sha256.
fn read_manifest(out: &Path) -> BTreeMap<String, String> {
    fs::read(out.join(MANIFEST))
        .ok()
        .and_then(|bytes| parse_manifest(&bytes))
        .unwrap_or_default()
}

/// A manifest's files (path -> sha256); `None` when it is not one.
fn parse_manifest(bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    /// What is read of a manifest: its files, each a hash or an object with one (an
    /// entry of any other shape is skipped).
    #[derive(serde::Deserialize)]
    struct Manifest {
        files: BTreeMap<String, Hash>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Hash {
        Plain(String),
        Object { sha256: String },
        Other(serde::de::IgnoredAny),
    }
    let m = serde_json::from_slice::<Manifest>(bytes).ok()?;
    Some(
        m.files
            .into_iter()
            .filter_map(|(k, v)| {
                let h = match v {
                    Hash::Plain(h) | Hash::Object { sha256: h } => h,
                    Hash::Other(_) => return None,
                };
                // Only paths we could have written: relative, no `..`.
                safe_relative(&k).then_some((k, h))
            })
            .collect(),
    )
}

/// The paths a manifest lists.
fn manifest_paths(bytes: &[u8]) -> Option<Vec<String>> {
    parse_manifest(bytes).map(|m| m.into_keys().collect())
}

/// `path` below `base`, `/`-separated.
fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn safe_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// A short, line-based diff for `--check` output: the first lines that differ.
#[must_use]
pub fn short_diff(old: &str, new: &str, max_lines: usize) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    let mut shown = 0;
    let mut more = 0;
    for group in diff.grouped_ops(1) {
        let Some(first) = group.first() else {
            continue;
        };
        if shown < max_lines {
            out.push_str(&format!("    @@ line {} @@\n", first.old_range().start + 1));
        }
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                if shown < max_lines {
                    let line = change.value().trim_end_matches(['\n', '\r']);
                    out.push_str(&format!("    {sign}{line}\n"));
                    shown += 1;
                } else if sign != ' ' {
                    more += 1;
                }
            }
        }
    }
    if more > 0 {
        out.push_str(&format!("    ... and {more} more changed lines\n"));
    }
    if out.is_empty() {
        out.push_str("    (whitespace at the end of the file)\n");
    }
    out
}

/// Writes one file (a report), through a temporary file beside it so that a failure
/// leaves any previous version whole.
pub fn write_file(path: &Path, contents: &str) -> Result<(), IoError> {
    // Write through what the path names, never replace it: a link stays a link (its
    // target is rewritten), and a device or a pipe (`/dev/stdout`, `/dev/null`, a FIFO)
    // is written to, as a shell redirection would. Replacing `/dev/null` with a regular
    // file, as root in a CI container, would break every later command.
    let resolved;
    let mut path = path;
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        match fs::canonicalize(path) {
            Ok(p) => {
                resolved = p;
                path = &resolved;
            }
            // A dangling link: creating through it makes its target.
            Err(_) => return write_in_place(path, contents, true),
        }
    }
    if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return write_in_place(path, contents, false);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| io_err("cannot create a temporary file in", &dir, &e))?;
    std::io::Write::write_all(&mut tmp, contents.as_bytes())
        .map_err(|e| io_err("cannot write", path, &e))?;
    // A temporary file is private (0600): keep the permissions of the file it replaces
    // (a formatted source), or make a new one readable like any other output.
    let perms = fs::metadata(path).map(|m| m.permissions());
    #[cfg(unix)]
    let perms = perms.or_else(|_| {
        use std::os::unix::fs::PermissionsExt as _;
        Ok::<_, std::io::Error>(fs::Permissions::from_mode(0o644))
    });
    if let Ok(p) = perms {
        let _ = tmp.as_file().set_permissions(p);
    }
    tmp.persist(path)
        .map_err(|e| io_err("cannot write", path, &e.error))?;
    Ok(())
}

/// Writes `contents` into the file `path` names, opening it for writing (no temporary
/// file, no rename): for what cannot be replaced, a device, a pipe or a dangling link.
fn write_in_place(path: &Path, contents: &str, create: bool) -> Result<(), IoError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(create)
        .truncate(create)
        .open(path)
        .map_err(|e| io_err("cannot write", path, &e))?;
    std::io::Write::write_all(&mut file, contents.as_bytes())
        .map_err(|e| io_err("cannot write", path, &e))
}

/// The on-disk content of a generated file, for diffs.
#[must_use]
pub fn read_existing(out: &Path, path: &str) -> String {
    fs::read(out.join(path))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
