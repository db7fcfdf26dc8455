//! The only module that does I/O: finds and reads the project's files, writes the
//! artifacts (a new tree built beside the old one and swapped in at once, with a manifest
//! of hashes), and compares
//! them with what is on disk for `--check`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::emit::ArtifactSet;
use crate::source::{Origin, Source, SourceMap, Span};
use crate::stdlib;

/// The project's root file.
pub const ROOT_FILE: &str = "nestio.kdl";
/// The manifest of generated files, inside the output directory.
pub const MANIFEST: &str = ".nestio-manifest.json";
/// The default output directory, inside the project.
pub const DEFAULT_OUT: &str = "generated";
pub use crate::emit::templates::TEMPLATE_DIR;

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
    let walker = WalkDir::new(dir)
        .follow_links(false)
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
            !hidden && !is_out
        });
    let mut found_root = false;
    for entry in walker {
        let entry = entry.map_err(|e| IoError {
            message: format!("cannot walk `{}`: {e}", dir.display()),
        })?;
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
        let bytes = fs::read(entry.path()).map_err(|e| io_err("cannot read", entry.path(), &e))?;
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
            let rel = entry
                .path()
                .strip_prefix(out)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .replace('\\', "/");
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
    let Ok(text) = fs::read_to_string(out.join(MANIFEST)) else {
        return BTreeMap::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return BTreeMap::new();
    };
    v.get("files")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let h = v
                        .as_str()
                        .or_else(|| v.get("sha256").and_then(Value::as_str))?;
                    // Only paths we could have written: relative, no `..`.
                    safe_relative(k).then(|| (k.clone(), h.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn safe_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The manifest, given the artifacts' hashes in the set's order.
fn manifest_text(set: &ArtifactSet, hashes: &[String]) -> String {
    let files: serde_json::Map<String, Value> = set
        .files
        .values()
        .zip(hashes)
        .map(|(a, h)| (a.path.clone(), json!(h)))
        .collect();
    let doc = json!({
        "$comment": "Generated by nestioc. Lists every generated file and its sha256; `nestioc build` prunes only files listed here and refuses to overwrite a listed file edited by hand.",
        "generator": format!("nestioc {}", env!("CARGO_PKG_VERSION")),
        "files": files,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// How the output directory differs from the artifacts.
#[derive(Debug, Default)]
pub struct Drift {
    /// Generated, but different on disk.
    pub stale: Vec<String>,
    /// Generated, not on disk.
    pub missing: Vec<String>,
    /// On disk and in the manifest, but no longer generated (edited by hand or not).
    pub extra: Vec<String>,
    /// Listed in the manifest, but their content no longer matches its hash.
    pub edited: Vec<String>,
    /// On disk, not in the manifest, at a path we would write.
    pub foreign: Vec<String>,
}

impl Drift {
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.stale.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compares the artifacts with the output directory, without changing anything.
#[must_use]
pub fn compare(out: &Path, set: &ArtifactSet) -> Drift {
    survey(out, set, &artifact_hashes(set)).0
}

/// The sha256 of every artifact, in the set's order, computed on every thread.
fn artifact_hashes(set: &ArtifactSet) -> Vec<String> {
    let artifacts: Vec<&crate::emit::Artifact> = set.files.values().collect();
    artifacts
        .par_iter()
        .map(|a| sha256(a.contents.as_bytes()))
        .collect()
}

/// What the output directory holds at an artifact's path.
enum OnDisk {
    Missing,
    /// Exactly the artifact's bytes (so its hash is the artifact's).
    Same,
    /// Other bytes, with their hash.
    Different(String),
}

/// [`compare`], given the artifacts' hashes; also says, per artifact in the set's order,
/// whether the file on disk already has its bytes. Files are read on every thread and
/// compared byte for byte; only a file that differs is hashed, to tell a hand edit from
/// a stale file through the manifest.
fn survey(out: &Path, set: &ArtifactSet, hashes: &[String]) -> (Drift, Vec<bool>) {
    let old = read_manifest(out);
    let mut drift = Drift::default();
    let entries: Vec<(&String, &crate::emit::Artifact)> = set.files.iter().collect();
    let on_disk: Vec<OnDisk> = entries
        .par_iter()
        .map(|(path, artifact)| match fs::read(out.join(path)) {
            Ok(bytes) if bytes == artifact.contents.as_bytes() => OnDisk::Same,
            Ok(bytes) => OnDisk::Different(sha256(&bytes)),
            Err(_) => OnDisk::Missing,
        })
        .collect();
    for (((path, _), state), new_hash) in entries.iter().zip(&on_disk).zip(hashes) {
        match state {
            OnDisk::Missing => drift.missing.push((*path).clone()),
            OnDisk::Same => {
                if old.get(*path).is_some_and(|h| h != new_hash) {
                    drift.edited.push((*path).clone());
                }
            }
            OnDisk::Different(hash) => {
                match old.get(*path) {
                    Some(h) if h != hash => drift.edited.push((*path).clone()),
                    None => drift.foreign.push((*path).clone()),
                    _ => {}
                }
                drift.stale.push((*path).clone());
            }
        }
    }
    let gone: Vec<(&String, &String)> = old
        .iter()
        .filter(|(path, _)| !set.files.contains_key(*path))
        .collect();
    let gone_on_disk: Vec<Option<bool>> = gone
        .par_iter()
        .map(|(path, hash)| fs::read(out.join(path)).ok().map(|b| sha256(&b) != **hash))
        .collect();
    for ((path, _), state) in gone.iter().zip(gone_on_disk) {
        if let Some(edited) = state {
            drift.extra.push((*path).clone());
            if edited {
                drift.edited.push((*path).clone());
            }
        }
    }
    let unchanged = on_disk.iter().map(|s| matches!(s, OnDisk::Same)).collect();
    (drift, unchanged)
}

/// What a write did.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: usize,
    pub unchanged: usize,
    pub pruned: Vec<String>,
    /// Hand-edited files that are no longer generated: kept, and no longer managed.
    pub kept: Vec<String>,
    /// Hand-edited files overwritten under `--force`, saved as `<file>.orig`.
    pub backed_up: Vec<String>,
}

/// Writes the artifacts into `out`. Refuses (with NST0401, nothing written) to overwrite
/// files edited by hand or not written by nestioc, unless `force`.
///
/// The new tree is built beside the old one (unchanged and foreign files hard-linked from
/// it, changed files written, the manifest last) and swapped in with one atomic
/// `renameat2(RENAME_EXCHANGE)`: a build killed at any moment leaves the old tree or the
/// new one, never a mix. Where the exchange is not available (not Linux, or a file system
/// without it) two renames are used, and a kill between them is not covered.
pub fn write(out: &Path, set: &ArtifactSet, force: bool) -> Result<WriteReport, WriteFailure> {
    check_output_dir_safe(out, set)?;
    let _lock = lock_output_dir(out)?;
    // `-o` may name a link (the user's choice): the tree is swapped where it really lives,
    // and the staging tree must sit on the same file system, in the same directory.
    let real =
        fs::canonicalize(out).map_err(|e| WriteFailure::Io(io_err("cannot resolve", out, &e)))?;
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(WriteFailure::Io(IoError {
            message: format!(
                "cannot write into `{}`: choose an output directory below the file system's root",
                out.display()
            ),
        }));
    };
    let staging_prefix = format!(".{}.nestio-", name.to_string_lossy());
    remove_stale_staging(parent, &staging_prefix);
    let hashes = artifact_hashes(set);
    let (drift, unchanged) = survey(out, set, &hashes);
    let conflicts: BTreeSet<&String> = drift
        .edited
        .iter()
        .chain(&drift.foreign)
        .filter(|p| set.files.contains_key(*p))
        .collect();
    if !conflicts.is_empty() && !force {
        let list = conflicts
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(WriteFailure::Conflict(
            Diagnostic::error(
                Code::HandEditedOutput,
                format!(
                    "{} generated file{} changed by hand: {list}",
                    conflicts.len(),
                    if conflicts.len() == 1 { " was" } else { "s were" }
                ),
            )
            .with_help(format!(
                "move the change into the topology (or a template override) and delete the file, or rerun with `--force` to overwrite it (the edited copy is kept as <file>.orig) in `{}`",
                out.display()
            )),
        ));
    }
    let mut report = WriteReport::default();
    // Only what changed is written: the survey already read every file once.
    let to_write: BTreeMap<&str, &str> = set
        .files
        .iter()
        .zip(&unchanged)
        .filter(|(_, same)| !**same)
        .map(|((path, a), _)| (path.as_str(), a.contents.as_str()))
        .collect();
    report.unchanged = set.len() - to_write.len();
    report.written = to_write.len();
    // An edited file no longer generated is kept: pruning removes only our own bytes.
    let prune: BTreeSet<&String> = drift
        .extra
        .iter()
        .filter(|p| !drift.edited.contains(p))
        .collect();
    report.pruned = prune.iter().map(|p| (*p).clone()).collect();
    report.kept = drift
        .edited
        .iter()
        .filter(|p| !set.files.contains_key(*p))
        .cloned()
        .collect();
    let manifest = manifest_text(set, &hashes);
    if to_write.is_empty()
        && prune.is_empty()
        && fs::read(real.join(MANIFEST)).is_ok_and(|m| m == manifest.as_bytes())
    {
        return Ok(report);
    }

    let staging = tempfile::Builder::new()
        .prefix(&staging_prefix)
        .tempdir_in(parent)
        .map_err(|e| {
            WriteFailure::Io(io_err("cannot create a staging directory in", parent, &e))
        })?;
    let new = staging.path().join("tree");
    // What the new tree keeps of the old one: every file but the changed and pruned
    // generated ones and the manifest; a hand-edited file overwritten under `--force`
    // stays as `<file>.orig`. The lock file is linked too, so that a build waiting for
    // the lock keeps waiting on the same file after the swap.
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for entry in WalkDir::new(&real).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            WriteFailure::Io(IoError {
                message: format!("cannot walk `{}`: {e}", out.display()),
            })
        })?;
        let rel_path = entry.path().strip_prefix(&real).unwrap_or(entry.path());
        let rel = rel_path.to_string_lossy().replace('\\', "/");
        if entry.file_type().is_dir() {
            // Directories the user made and left empty survive; the others come back
            // with their files.
            if fs::read_dir(entry.path()).is_ok_and(|mut d| d.next().is_none()) {
                dirs.insert(new.join(rel_path));
            }
            continue;
        }
        if rel == MANIFEST || prune.contains(&rel) {
            continue;
        }
        let dest = if to_write.contains_key(rel.as_str()) {
            if !conflicts.contains(&rel) {
                continue;
            }
            report.backed_up.push(format!("{rel}.orig"));
            new.join(format!("{rel}.orig"))
        } else {
            new.join(rel_path)
        };
        if let Some(d) = dest.parent() {
            dirs.insert(d.to_path_buf());
        }
        links.push((entry.path().to_path_buf(), dest));
    }
    dirs.insert(new.clone());
    dirs.extend(
        to_write
            .keys()
            .filter_map(|p| new.join(p).parent().map(Path::to_path_buf)),
    );
    for dir in &dirs {
        fs::create_dir_all(dir).map_err(|e| WriteFailure::Io(io_err("cannot create", dir, &e)))?;
    }
    links
        .par_iter()
        .try_for_each(|(from, to)| link_or_copy(from, to))?;
    to_write.par_iter().try_for_each(|(path, contents)| {
        let dest = new.join(path);
        fs::write(&dest, contents).map_err(|e| WriteFailure::Io(io_err("cannot write", &dest, &e)))
    })?;
    let manifest_path = new.join(MANIFEST);
    fs::write(&manifest_path, &manifest)
        .map_err(|e| WriteFailure::Io(io_err("cannot write", &manifest_path, &e)))?;
    // The staging directory is private (0700); the tree keeps the old directory's mode.
    if let Ok(meta) = fs::metadata(&real) {
        let _ = fs::set_permissions(&new, meta.permissions());
    }
    swap_trees(&new, &real)?;
    // `new` now holds the old tree: dropping `staging` deletes it. A kill from here on
    // leaves only that leftover, removed by the next build.
    drop(staging);
    Ok(report)
}

/// Puts the tree at `new` in place of the one at `real`, leaving the old one at `new`.
fn swap_trees(new: &Path, real: &Path) -> Result<(), WriteFailure> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, new, CWD, real, RenameFlags::EXCHANGE).is_ok() {
            return Ok(());
        }
    }
    let aside = new.with_extension("old");
    fs::rename(real, &aside).map_err(|e| WriteFailure::Io(io_err("cannot move", real, &e)))?;
    fs::rename(new, real).map_err(|e| WriteFailure::Io(io_err("cannot move", new, &e)))?;
    fs::rename(&aside, new).map_err(|e| WriteFailure::Io(io_err("cannot move", &aside, &e)))
}

/// Removes what killed builds into this output directory left beside it (their staging
/// trees, or the old tree they had swapped out). Only called under the lock, so no
/// running build owns them.
fn remove_stale_staging(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix)
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A hard link (the old tree's file, without copying its bytes), or a copy where the file
/// system has no hard links.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), WriteFailure> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| WriteFailure::Io(io_err("cannot write", to, &e)))
}

/// The lock file inside the output directory that serialises concurrent builds.
pub const LOCK_FILE: &str = ".nestio-lock";

/// Refuses (NST0404, nothing written) an output directory with a symbolic link anywhere
/// inside it, and any artifact path that is not a plain relative path: a build must never
/// write outside its output directory. The directory itself may be a link (the user chose
/// it); it is not followed below that.
pub fn check_output_dir_safe(out: &Path, set: &ArtifactSet) -> Result<(), WriteFailure> {
    let bad_paths: Vec<&str> = set
        .files
        .keys()
        .map(String::as_str)
        .filter(|p| !safe_relative(p))
        .collect();
    if let Some(first) = bad_paths.first() {
        return Err(WriteFailure::Conflict(
            Diagnostic::error(
                Code::UnsafeOutput,
                format!(
                    "the output path `{}` would leave the output directory",
                    first.escape_debug()
                ),
            )
            .with_help(
                "this is a bug in nestioc: please report it with the topology that caused it",
            ),
        ));
    }
    if fs::symlink_metadata(out).is_err() {
        return Ok(());
    }
    let mut links = Vec::new();
    // min_depth(1): `out` itself may be a link; nothing under it may be.
    for entry in WalkDir::new(out)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            WriteFailure::Io(IoError {
                message: format!("cannot walk `{}`: {e}", out.display()),
            })
        })?;
        if entry.path_is_symlink() {
            let rel = entry
                .path()
                .strip_prefix(out)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .replace('\\', "/");
            let target = fs::read_link(entry.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            links.push(format!("`{rel}` -> `{target}`"));
        }
    }
    if links.is_empty() {
        return Ok(());
    }
    Err(WriteFailure::Conflict(
        Diagnostic::error(
            Code::UnsafeOutput,
            format!(
                "the output directory `{}` contains {} symbolic link{}: {}",
                out.display(),
                links.len(),
                if links.len() == 1 { "" } else { "s" },
                links.join(", ")
            ),
        )
        .with_help(
            "generated files are regular files: remove the links (the files they point at are untouched) and build again",
        ),
    ))
}

/// Takes the output directory's lock file (creating the directory), waiting while another
/// build holds it: concurrent builds into one directory run one after the other. The lock
/// is released when the returned file is dropped (or the process dies).
fn lock_output_dir(out: &Path) -> Result<fs::File, WriteFailure> {
    fs::create_dir_all(out).map_err(|e| WriteFailure::Io(io_err("cannot create", out, &e)))?;
    let path = out.join(LOCK_FILE);
    // The walk of check_output_dir_safe has just refused a link at this path.
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    let file = options
        .open(&path)
        .map_err(|e| WriteFailure::Io(io_err("cannot open the lock file", &path, &e)))?;
    file.lock()
        .map_err(|e| WriteFailure::Io(io_err("cannot lock", &path, &e)))?;
    Ok(file)
}

#[derive(Debug)]
pub enum WriteFailure {
    Conflict(Diagnostic),
    Io(IoError),
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

/// The on-disk content of a generated file, for diffs.
#[must_use]
pub fn read_existing(out: &Path, path: &str) -> String {
    fs::read(out.join(path))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
