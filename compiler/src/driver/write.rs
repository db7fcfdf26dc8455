//! Writing a build into its output directory, and comparing one with it (`--check`).
//!
//! The writer is the emitters' [`Sink`]: each file is hashed as it arrives, compared with
//! what the directory holds at its path (through the stat cache, reading the file only
//! when the cache cannot vouch for it), written into a new tree beside the old one only if
//! it changed, and dropped. A build therefore never holds its output in memory, and
//! writes only what changed. When the emitters are done, the new tree gets the old one's
//! other files (hard links), the manifest, and replaces the old tree with one
//! `renameat2(RENAME_EXCHANGE)`: a build killed at any moment leaves the old tree or the
//! new one, never a mix. The tree swapped out is kept in the cache directory as the next
//! build's spare: that build brings it up to date (only the files that differ from it are
//! replaced) rather than hard-linking every unchanged file into a new tree and deleting
//! the old one.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use walkdir::WalkDir;

use super::stat::{Known, Made, Stat, StatCache, tool_identity};
use super::{IoError, LOCK_FILE, MANIFEST, io_err, read_manifest, relative, safe_relative, sha256};
use crate::diag::{Code, Diagnostic};
use crate::emit::{Artifact, ArtifactSet, Sink};

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

/// What the output directory holds at an artifact's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OnDisk {
    Missing,
    /// Exactly the artifact's bytes (so its hash is the artifact's).
    Same,
    /// Other bytes, with their hash.
    Different(String),
}

/// What is known of one generated file.
#[derive(Debug)]
struct Entry {
    /// The sha256 of its new bytes.
    hash: String,
    disk: OnDisk,
    /// Its identity in the new tree, for the stat cache.
    stat: Option<Stat>,
    /// Its identity in the output directory, when it holds these bytes there.
    out: Option<Stat>,
}

/// What the output directory holds at `rel`, and the file's identity when it is a file.
/// Trusts the stat cache for a file it knows unchanged; reads the file otherwise.
fn on_disk(
    real: &Path,
    cache: &StatCache,
    rel: &str,
    contents: &[u8],
    new_hash: &str,
) -> (OnDisk, Option<Stat>) {
    let path = real.join(rel);
    let Some(stat) = Stat::of(&path) else {
        return (OnDisk::Missing, None);
    };
    if let Some(hash) = cache.hash_of(rel, stat) {
        let state = if hash == new_hash {
            OnDisk::Same
        } else {
            OnDisk::Different(hash.to_owned())
        };
        return (state, Some(stat));
    }
    match fs::read(&path) {
        Ok(bytes) if bytes == contents => (OnDisk::Same, Some(stat)),
        Ok(bytes) => (OnDisk::Different(sha256(&bytes)), Some(stat)),
        Err(_) => (OnDisk::Missing, None),
    }
}

/// The drift of the generated files `entries` against the directory `real`, whose
/// previous build's manifest is `old`: also the files that build wrote and this one no
/// longer does (read and hashed, to tell a hand edit).
fn drift_of(
    real: &Path,
    old: &BTreeMap<String, String>,
    cache: &StatCache,
    entries: &BTreeMap<String, Entry>,
) -> Drift {
    let mut drift = Drift::default();
    for (path, e) in entries {
        match &e.disk {
            OnDisk::Missing => drift.missing.push(path.clone()),
            OnDisk::Same => {
                if old.get(path).is_some_and(|h| *h != e.hash) {
                    drift.edited.push(path.clone());
                }
            }
            OnDisk::Different(hash) => {
                match old.get(path) {
                    Some(h) if h != hash => drift.edited.push(path.clone()),
                    None => drift.foreign.push(path.clone()),
                    _ => {}
                }
                drift.stale.push(path.clone());
            }
        }
    }
    let gone: Vec<(&String, &String)> = old
        .iter()
        .filter(|(path, _)| !entries.contains_key(*path))
        .collect();
    let gone_on_disk: Vec<Option<bool>> = gone
        .par_iter()
        .map(|(path, hash)| {
            let file = real.join(path);
            let stat = Stat::of(&file)?;
            if let Some(known) = cache.hash_of(path, stat) {
                return Some(known != hash.as_str());
            }
            fs::read(&file).ok().map(|b| sha256(&b) != **hash)
        })
        .collect();
    for ((path, _), state) in gone.iter().zip(gone_on_disk) {
        if let Some(edited) = state {
            drift.extra.push((*path).clone());
            if edited {
                drift.edited.push((*path).clone());
            }
        }
    }
    drift
}

/// Compares the artifacts with the output directory, without changing anything.
#[must_use]
pub fn compare(out: &Path, set: &ArtifactSet) -> Drift {
    compare_cached(out, set, None)
}

/// [`compare`], trusting the stat cache kept in `cache_dir` for the files it knows.
#[must_use]
pub fn compare_cached(out: &Path, set: &ArtifactSet, cache_dir: Option<&Path>) -> Drift {
    compare_scoped(out, set, cache_dir, None)
}

/// [`compare_cached`] for a partial build (`--target`, `--env`; `env` is its `--env`):
/// what the build would keep as it is (see [`Writer::partial`]) is no drift. Files it
/// does not make are not extra, and with `env`, a file made that belongs to no
/// environment is compared only when the last build did not list it.
#[must_use]
pub fn compare_partial(
    out: &Path,
    set: &ArtifactSet,
    cache_dir: Option<&Path>,
    env: Option<&str>,
) -> Drift {
    let mut drift = compare_scoped(out, set, cache_dir, env);
    drift.extra.clear();
    drift
}

/// Does a build for the one environment `env` (`--env`) keep the last build's file at
/// `path` instead of the version it made? Yes for a file that serves every environment
/// and that the last build listed (see [`Writer::partial`]).
fn kept_by_env_build(env: Option<&str>, old: &BTreeMap<String, String>, path: &str) -> bool {
    env.is_some_and(|env| !crate::emit::belongs_to_environment(path, env) && old.contains_key(path))
}

fn compare_scoped(
    out: &Path,
    set: &ArtifactSet,
    cache_dir: Option<&Path>,
    env: Option<&str>,
) -> Drift {
    let real = fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    let cache = StatCache::load(cache_dir, &real);
    let old = read_manifest(&real);
    let artifacts: Vec<&Artifact> = set
        .files
        .values()
        .filter(|a| !kept_by_env_build(env, &old, &a.path))
        .collect();
    let entries: BTreeMap<String, Entry> = artifacts
        .par_iter()
        .map(|a| {
            let hash = sha256(a.contents.as_bytes());
            let (disk, stat) = on_disk(&real, &cache, &a.path, a.contents.as_bytes(), &hash);
            let out = stat.filter(|_| disk == OnDisk::Same);
            (
                a.path.clone(),
                Entry {
                    hash,
                    disk,
                    stat,
                    out,
                },
            )
        })
        .collect();
    drift_of(&real, &old, &cache, &entries)
}

/// Whether the output directory is exactly what a build with these inputs (see
/// [`crate::fingerprint`]) left there, unchanged since: then building again would write
/// the same bytes. The number of generated files, when it is. Needs the stat cache.
#[must_use]
pub fn up_to_date(out: &Path, cache_dir: Option<&Path>, fingerprint: &str) -> Option<usize> {
    let real = fs::canonicalize(out).ok()?;
    StatCache::load_fresh(cache_dir, &real, fingerprint).up_to_date(&real, fingerprint)
}

/// What a write did.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Every generated file.
    pub files: usize,
    pub written: usize,
    pub unchanged: usize,
    /// Of the unchanged, those not made again: their service's inputs were the last
    /// build's, and the files still what it left ([`crate::emit::reuse`]).
    pub reused: usize,
    pub pruned: Vec<String>,
    /// Hand-edited files that are no longer generated: kept, and no longer managed.
    pub kept: Vec<String>,
    /// Hand-edited files overwritten under `--force`, saved as `<file>.orig`.
    pub backed_up: Vec<String>,
}

#[derive(Debug)]
pub enum WriteFailure {
    Conflict(Diagnostic),
    Io(IoError),
}

/// A build being written into its output directory: the emitters' [`Sink`]. Holds the
/// directory's lock from [`Writer::begin`] to [`Writer::finish`]; dropped without
/// finishing (an emitter failed), it leaves the directory as it was.
#[derive(Debug)]
pub struct Writer {
    out: PathBuf,
    real: PathBuf,
    force: bool,
    _lock: fs::File,
    staging: tempfile::TempDir,
    new: PathBuf,
    old: BTreeMap<String, String>,
    cache: StatCache,
    cache_dir: Option<PathBuf>,
    /// Where the tree the last build swapped out is kept between builds, in the cache
    /// directory (`None`: no cache directory).
    spare_home: Option<PathBuf>,
    /// The stat cache of that tree, when this build started from it: `new` is then that
    /// tree, brought up to date file by file instead of built from nothing.
    spare: Option<StatCache>,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// The salt of the reuse keys (`None`: no cache directory, or no identity for this
    /// nestioc; nothing is reused).
    salt: Option<String>,
    /// The files of each reuse key this build made or reused, for the stat cache.
    made: Mutex<BTreeMap<String, Made>>,
    reused: std::sync::atomic::AtomicUsize,
    failure: Mutex<Option<WriteFailure>>,
    /// A build of part of the output (`--target`, `--env`): what it does not make is
    /// kept as the last build left it (see [`Writer::partial`]).
    partial: Option<Partial>,
}

/// What a partial build leaves alone.
#[derive(Debug)]
struct Partial {
    /// With `--env`: the environment. The files that do not belong to it (the charts'
    /// `Chart.yaml`, dashboards, Argo CD's project) summarise every environment; made
    /// for one, they would lose the others, so the last build's are kept.
    env: Option<String>,
}

/// Where the spare tree of the output directory `real` is kept in `cache_dir`.
fn spare_home(cache_dir: &Path, real: &Path) -> PathBuf {
    cache_dir
        .join("spare")
        .join(&sha256(real.as_os_str().as_encoded_bytes())[..32])
}

/// Makes room for a file at `dest` in the spare tree: whatever is there goes (a file is
/// unlinked, never written through: it may be a hard link of the output directory's),
/// and so does a file standing where one of its directories must be.
fn clear_for_file(root: &Path, dest: &Path) -> Result<(), WriteFailure> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(dest),
        Ok(_) => fs::remove_file(dest),
        Err(_) => Ok(()),
    }
    .map_err(|e| WriteFailure::Io(io_err("cannot remove", dest, &e)))?;
    let mut dir = dest.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) {
            break;
        }
        if fs::symlink_metadata(d).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(d).map_err(|e| WriteFailure::Io(io_err("cannot remove", d, &e)))?;
            break;
        }
        dir = d.parent();
    }
    if let Some(d) = dest.parent() {
        fs::create_dir_all(d).map_err(|e| WriteFailure::Io(io_err("cannot create", d, &e)))?;
    }
    Ok(())
}

impl Writer {
    /// Locks the output directory (creating it) and readies the new tree beside it. A
    /// symbolic link inside the directory is refused (NST0404) by [`Writer::finish`], whose
    /// walk of the directory meets every entry anyway, before anything in it changes.
    /// `cache_dir` keeps the stat cache (`None`: every file on disk is read to be
    /// compared).
    pub fn begin(out: &Path, force: bool, cache_dir: Option<&Path>) -> Result<Self, WriteFailure> {
        let lock = lock_output_dir(out)?;
        // `-o` may name a link (the user's choice): the tree is swapped where it really
        // lives, and the staging tree must sit on the same file system, in the same
        // directory.
        let real = fs::canonicalize(out)
            .map_err(|e| WriteFailure::Io(io_err("cannot resolve", out, &e)))?;
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
        let staging = tempfile::Builder::new()
            .prefix(&staging_prefix)
            .tempdir_in(parent)
            .map_err(|e| {
                WriteFailure::Io(io_err("cannot create a staging directory in", parent, &e))
            })?;
        let new = staging.path().join("tree");
        // The tree the last build swapped out differs from the output directory by that
        // build's changes only: moved into the staging directory (one rename, which also
        // proves it is on the output's file system), it becomes the new tree at the cost
        // of the files that changed since, instead of a hard link for every file. A
        // build killed from here on leaves it in the staging directory, which the next
        // build removes: it then starts from nothing, as without a spare.
        let spare_home = cache_dir.map(|d| spare_home(d, &real));
        let spare = match &spare_home {
            Some(home) if home.is_dir() => {
                if fs::rename(home, &new).is_ok() {
                    // The empty directory a build into an empty output replaced (it
                    // holds the lock file only) is no spare: every file is linked into it
                    // anyway, and with nothing in it there is nothing to clear before
                    // each link (four more system calls a file, 40,000 files at 5,000
                    // services).
                    let empty = fs::read_dir(&new)
                        .is_ok_and(|d| d.flatten().all(|e| e.file_name() == LOCK_FILE));
                    if empty {
                        // Made empty, the tree is one being built from nothing: the lock
                        // file is linked in at the end with the rest.
                        let _ = fs::remove_file(new.join(LOCK_FILE));
                        None
                    } else {
                        Some(StatCache::load(cache_dir, home))
                    }
                } else {
                    let _ = fs::remove_dir_all(home);
                    None
                }
            }
            _ => None,
        };
        if spare.is_none() {
            fs::create_dir_all(&new)
                .map_err(|e| WriteFailure::Io(io_err("cannot create", &new, &e)))?;
        }
        Ok(Writer {
            out: out.to_path_buf(),
            old: read_manifest(&real),
            cache: StatCache::load(cache_dir, &real),
            real,
            force,
            _lock: lock,
            staging,
            new,
            cache_dir: cache_dir.map(Path::to_path_buf),
            spare_home,
            spare,
            entries: Mutex::default(),
            salt: cache_dir.and_then(|_| tool_identity()),
            made: Mutex::default(),
            reused: std::sync::atomic::AtomicUsize::new(0),
            failure: Mutex::default(),
            partial: None,
        })
    }

    /// Makes this a build of part of the output (`--target`, `--env`): the files the
    /// last build listed that this one does not make stay as they are, still listed in
    /// the manifest (a full build prunes them when they are no longer generated), and
    /// with an `env`, the files made that belong to no environment are written only
    /// where the last build did not list them. So `build --env staging --target
    /// kubernetes` refreshes `kubernetes/staging/` and changes nothing else.
    #[must_use]
    pub fn partial(mut self, env: Option<&str>) -> Self {
        self.partial = Some(Partial {
            env: env.map(str::to_owned),
        });
        self
    }

    /// A partial build keeps this file as the last build left it, instead of the
    /// version it made (see [`Writer::partial`]).
    fn keeps_old(&self, path: &str) -> bool {
        let env = self.partial.as_ref().and_then(|p| p.env.as_deref());
        kept_by_env_build(env, &self.old, path)
    }

    /// The files the last build listed and this partial build did not make, carried
    /// over unchanged: the output's file, when it still holds the listed bytes (one
    /// `stat` against the stat cache, else a read), enters the new tree as if made
    /// again. One edited by hand since is left to the drift check, which keeps it.
    fn carry_over(&self) {
        let missing: Vec<(&String, &String)> = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            self.old
                .iter()
                .filter(|(p, _)| !entries.contains_key(*p))
                .collect()
        };
        for (rel, hash) in missing {
            if !safe_relative(rel) {
                continue;
            }
            let path = self.real.join(rel);
            let Some(out) = Stat::of(&path) else {
                continue;
            };
            let vouched = self
                .cache
                .files
                .get(rel)
                .is_some_and(|k| k.stat == out && &k.hash == hash);
            if !vouched && !fs::read(&path).is_ok_and(|b| sha256(&b) == *hash) {
                continue;
            }
            if let Err(f) = self.keep_from_out(rel, hash, out) {
                return self.fail(f);
            }
        }
    }

    /// Enters the output directory's file at `rel` (identity `out`, known to hash
    /// `hash`) as generated by this build, unchanged: brought into the spare tree when
    /// the build works in one, else linked into the new tree at the end, keeping its
    /// identity.
    fn keep_from_out(&self, rel: &str, hash: &str, out: Stat) -> Result<(), WriteFailure> {
        let stat = match &self.spare {
            Some(spare) => self.refresh_spare_from_out(spare, rel, hash)?,
            None => Some(out),
        };
        self.enter(
            rel.to_owned(),
            Entry {
                hash: hash.to_owned(),
                disk: OnDisk::Same,
                stat,
                out: Some(out),
            },
        );
        Ok(())
    }

    fn fail(&self, failure: WriteFailure) {
        let mut slot = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(failure);
    }

    fn failed(&self) -> bool {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Writes one changed file into the new tree; its identity there.
    fn stage(&self, path: &str, contents: &str) -> Result<Option<Stat>, WriteFailure> {
        let dest = self.new.join(path);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| WriteFailure::Io(io_err("cannot create", dir, &e)))?;
        }
        fs::write(&dest, contents)
            .map_err(|e| WriteFailure::Io(io_err("cannot write", &dest, &e)))?;
        Ok(Stat::of(&dest))
    }

    /// Brings the spare tree's file at `path` to `contents`: kept when it already holds
    /// them, else a hard link of the output directory's file when that one does
    /// (`same_in_out`), else written. Its identity in the new tree.
    fn refresh_spare(
        &self,
        spare: &StatCache,
        path: &str,
        contents: &str,
        hash: &str,
        same_in_out: bool,
    ) -> Result<Option<Stat>, WriteFailure> {
        let (state, stat) = on_disk(&self.new, spare, path, contents.as_bytes(), hash);
        if state == OnDisk::Same {
            return Ok(stat);
        }
        self.replace_in_spare(path, (!same_in_out).then_some(contents))
    }

    /// Brings the spare tree's file at `path` to the output directory's file there, known
    /// to hash `hash`: kept when the spare's cache vouches for the same bytes, else a hard
    /// link of the output's. Its identity in the new tree.
    fn refresh_spare_from_out(
        &self,
        spare: &StatCache,
        path: &str,
        hash: &str,
    ) -> Result<Option<Stat>, WriteFailure> {
        if let Some(stat) = Stat::of(&self.new.join(path))
            && spare.hash_of(path, stat) == Some(hash)
        {
            return Ok(Some(stat));
        }
        self.replace_in_spare(path, None)
    }

    /// Replaces the spare tree's file at `path` (unlinked, never written through: it may
    /// be a hard link of the output's) by `contents`, or by a hard link of the output
    /// directory's file (`None`). Its identity in the new tree.
    fn replace_in_spare(
        &self,
        path: &str,
        contents: Option<&str>,
    ) -> Result<Option<Stat>, WriteFailure> {
        let dest = self.new.join(path);
        clear_for_file(&self.new, &dest)?;
        match contents {
            Some(contents) => fs::write(&dest, contents)
                .map_err(|e| WriteFailure::Io(io_err("cannot write", &dest, &e)))?,
            None => link_or_copy(&self.real.join(path), &dest)?,
        }
        Ok(Stat::of(&dest))
    }

    /// Records a generated file; refuses a second file at one path.
    fn enter(&self, path: String, entry: Entry) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Two files at one path would leave whichever came last, which depends on the
        // threads: refuse rather than write either.
        if entries.contains_key(&path) {
            drop(entries);
            return self.fail(WriteFailure::Conflict(
                Diagnostic::error(
                    Code::UnsafeOutput,
                    format!("two generated files have the path `{path}`"),
                )
                .with_help(
                    "this is a bug in nestioc: please report it with the topology that caused it",
                ),
            ));
        }
        entries.insert(path, entry);
    }

    /// Ends the build: refuses (NST0401, nothing changed) to overwrite files edited by
    /// hand or not written by nestioc, unless `force`; otherwise completes the new tree
    /// and swaps it in, prunes what is no longer generated, and records the files in the
    /// stat cache with the build's `fingerprint`.
    pub fn finish(self, fingerprint: &str) -> Result<WriteReport, WriteFailure> {
        if self.partial.is_some() && !self.failed() {
            self.carry_over();
        }
        if let Some(f) = self
            .failure
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            return Err(f);
        }
        let entries = self
            .entries
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let made = self
            .made
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let (out, real, new) = (&self.out, &self.real, &self.new);
        let drift = drift_of(real, &self.old, &self.cache, &entries);
        let conflicts: BTreeSet<&str> = drift
            .edited
            .iter()
            .chain(&drift.foreign)
            .filter(|p| entries.contains_key(*p))
            .map(String::as_str)
            .collect();
        if !conflicts.is_empty() && !self.force {
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
        let written: BTreeSet<&str> = entries
            .iter()
            .filter(|(_, e)| e.disk != OnDisk::Same)
            .map(|(p, _)| p.as_str())
            .collect();
        let mut report = WriteReport {
            files: entries.len(),
            written: written.len(),
            unchanged: entries.len() - written.len(),
            reused: self.reused.into_inner(),
            ..WriteReport::default()
        };
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
            .filter(|p| !entries.contains_key(*p))
            .cloned()
            .collect();
        let manifest = manifest_text(&entries);
        let known_of = |which: fn(&Entry) -> Option<Stat>| -> BTreeMap<String, Known> {
            entries
                .iter()
                .filter_map(|(p, e)| {
                    let stat = which(e)?;
                    let hash = e.hash.clone();
                    Some((p.clone(), Known { stat, hash }))
                })
                .collect()
        };
        let known = known_of(|e| e.stat);
        if written.is_empty()
            && prune.is_empty()
            && fs::read(real.join(MANIFEST)).is_ok_and(|m| m == manifest.as_bytes())
        {
            // Nothing to swap: the output directory's files stay, with their identities.
            // A cache that cannot be written only makes the next build read the files.
            let _ = self
                .cache
                .save(fingerprint, &manifest, &known_of(|e| e.out), &made);
            if self.spare.is_some() {
                keep_spare(
                    &self.new,
                    self.spare_home.as_deref(),
                    self.cache_dir.as_deref(),
                    &known,
                );
            }
            return Ok(report);
        }

        // What the new tree keeps of the old one: every file but the changed and pruned
        // generated ones and the manifest; a hand-edited file overwritten under `--force`
        // stays as `<file>.orig`. The lock file is linked too, so that a build waiting
        // for the lock keeps waiting on the same file after the swap.
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
        // Every directory, and those with something in them: the difference is the empty
        // ones (told from the walk itself, not by listing each directory again).
        let mut all_dirs: Vec<PathBuf> = Vec::new();
        let mut filled: HashSet<PathBuf> = HashSet::new();
        let (mut last_parent, mut last_dir): (Option<PathBuf>, Option<PathBuf>) = (None, None);
        let mut symlinks = Vec::new();
        // What the walk passes over, looked up by path once per entry: the manifest, the
        // pruned files, and (from a spare, which already has them) the unchanged
        // generated files.
        let mut pass: HashSet<&str> = prune.iter().map(|p| p.as_str()).collect();
        pass.insert(MANIFEST);
        if self.spare.is_some() {
            pass.extend(
                entries
                    .keys()
                    .map(String::as_str)
                    .filter(|p| !written.contains(p)),
            );
        }
        let seen = walk_sorted(real, |entry| {
            let rel_path = entry
                .path()
                .strip_prefix(real)
                .unwrap_or(entry.path())
                .to_path_buf();
            if entry.path_is_symlink() {
                return (rel_path, Seen::Symlink(entry.path().to_path_buf()));
            }
            if entry.file_type().is_dir() {
                return (rel_path, Seen::Dir);
            }
            let rel = relative_str(entry.path(), real);
            let rel = rel.as_ref();
            if pass.contains(rel) {
                return (rel_path, Seen::Nothing);
            }
            let (to, backup) = if written.contains(rel) {
                if !conflicts.contains(rel) {
                    return (rel_path, Seen::Nothing);
                }
                let orig = format!("{rel}.orig");
                (new.join(&orig), Some(orig))
            } else {
                (new.join(&rel_path), None)
            };
            let from = entry.path().to_path_buf();
            (rel_path, Seen::Link { from, to, backup })
        })?;
        for (rel_path, seen) in seen {
            // The entries of a directory come one after the other: one lookup for them.
            if let Some(parent) = rel_path.parent()
                && last_parent.as_deref() != Some(parent)
            {
                filled.insert(parent.to_path_buf());
                last_parent = Some(parent.to_path_buf());
            }
            match seen {
                Seen::Nothing => {}
                Seen::Symlink(path) => symlinks.push(path),
                Seen::Dir => all_dirs.push(rel_path),
                Seen::Link { from, to, backup } => {
                    report.backed_up.extend(backup);
                    if let Some(d) = to.parent()
                        && last_dir.as_deref() != Some(d)
                    {
                        dirs.insert(d.to_path_buf());
                        last_dir = Some(d.to_path_buf());
                    }
                    links.push((from, to));
                }
            }
        }
        // Nothing has changed in the output directory yet.
        if !symlinks.is_empty() {
            return Err(symlinks_refused(out, real, &symlinks));
        }
        // Directories the user made and left empty survive; the others come back with
        // their files.
        dirs.extend(
            all_dirs
                .iter()
                .filter(|d| !filled.contains(*d))
                .map(|d| new.join(d)),
        );
        for dir in &dirs {
            fs::create_dir_all(dir)
                .map_err(|e| WriteFailure::Io(io_err("cannot create", dir, &e)))?;
        }
        links.par_iter().try_for_each(|(from, to)| {
            if self.spare.is_some() {
                clear_for_file(new, to)?;
            }
            link_or_copy(from, to)
        })?;
        if self.spare.is_some() {
            remove_unexpected(new, &entries, &links, &dirs)?;
        }
        let manifest_path = new.join(MANIFEST);
        if self.spare.is_some() {
            clear_for_file(new, &manifest_path)?;
        }
        fs::write(&manifest_path, &manifest)
            .map_err(|e| WriteFailure::Io(io_err("cannot write", &manifest_path, &e)))?;
        // The staging directory is private (0700); the tree keeps the old directory's
        // mode.
        if let Ok(meta) = fs::metadata(real) {
            let _ = fs::set_permissions(new, meta.permissions());
        }
        swap_trees(new, real)?;
        // `new` now holds the old tree: kept as the next build's spare (what the output's
        // cache knew of its files is true of them there: same inodes), or deleted with
        // `staging`. A kill from here on leaves only a leftover, removed by the next build.
        keep_spare(
            new,
            self.spare_home.as_deref(),
            self.cache_dir.as_deref(),
            &self.cache.files,
        );
        let _ = self.cache.save(fingerprint, &manifest, &known, &made);
        drop(self.staging);
        Ok(report)
    }
}

impl Sink for Writer {
    fn put(&self, artifact: Artifact) {
        if self.failed() {
            return;
        }
        if !safe_relative(&artifact.path) {
            self.fail(unsafe_path(&artifact.path));
            return;
        }
        if self.keeps_old(&artifact.path) {
            return;
        }
        let contents = artifact.contents.as_bytes();
        let hash = sha256(contents);
        let (disk, mut stat) = on_disk(&self.real, &self.cache, &artifact.path, contents, &hash);
        let out = stat.filter(|_| disk == OnDisk::Same);
        if let Some(spare) = &self.spare {
            let same = disk == OnDisk::Same;
            match self.refresh_spare(spare, &artifact.path, &artifact.contents, &hash, same) {
                Ok(s) => stat = s,
                Err(f) => return self.fail(f),
            }
        } else if disk != OnDisk::Same {
            match self.stage(&artifact.path, &artifact.contents) {
                Ok(s) => stat = s,
                Err(f) => return self.fail(f),
            }
        }
        self.enter(
            artifact.path,
            Entry {
                hash,
                disk,
                stat,
                out,
            },
        );
    }

    fn reuse_salt(&self) -> Option<&str> {
        self.salt.as_deref()
    }

    /// Reuses the files the last build made from `key` when every one of them is still
    /// the version the stat cache knows in the output directory (one `stat` each): their
    /// bytes are then the ones the same inputs make.
    fn reuse(&self, key: &str) -> Option<String> {
        if self.salt.is_none() || self.failed() {
            return None;
        }
        let made = self.cache.made.get(key)?;
        let mut found = Vec::with_capacity(made.paths.len());
        for rel in &made.paths {
            let known = self.cache.files.get(rel)?;
            let stat = Stat::of(&self.real.join(rel))?;
            if stat != known.stat {
                return None;
            }
            found.push((rel, &known.hash, stat));
        }
        self.reused
            .fetch_add(found.len(), std::sync::atomic::Ordering::Relaxed);
        for (rel, hash, out) in found {
            if let Err(f) = self.keep_from_out(rel, hash, out) {
                self.fail(f);
                return None;
            }
        }
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), made.clone());
        Some(made.note.clone())
    }

    fn put_made(&self, key: String, note: String, artifacts: Vec<Artifact>) {
        let paths = artifacts.iter().map(|a| a.path.clone()).collect();
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Made { note, paths });
        self.put_all(artifacts);
    }
}

/// Writes the artifacts into `out` ([`Writer`], without a stat cache). A path that would
/// leave the directory is refused before anything, the directory included, is created
/// (the writer refuses it too, as it arrives, leaving the directory as it was).
pub fn write(out: &Path, set: &ArtifactSet, force: bool) -> Result<WriteReport, WriteFailure> {
    if let Some(first) = set.files.keys().find(|p| !safe_relative(p)) {
        return Err(unsafe_path(first));
    }
    let writer = Writer::begin(out, force, None)?;
    for a in set.files.values() {
        writer.put(a.clone());
    }
    writer.finish("")
}

/// The manifest of the generated files.
fn manifest_text(entries: &BTreeMap<String, Entry>) -> String {
    /// The manifest's format (`read_manifest` reads it back), fields in file order.
    #[derive(serde::Serialize)]
    struct Manifest<'a> {
        #[serde(rename = "$comment")]
        comment: &'a str,
        generator: String,
        /// Path -> sha256, sorted.
        files: BTreeMap<&'a str, &'a str>,
    }
    let doc = Manifest {
        comment: "Generated by nestioc. Lists every generated file and its sha256; `nestioc build` prunes only files listed here and refuses to overwrite a listed file edited by hand.",
        generator: format!("nestioc {}", env!("CARGO_PKG_VERSION")),
        files: entries
            .iter()
            .map(|(path, e)| (path.as_str(), e.hash.as_str()))
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The directory of a relative path given as bytes (`None` at the top).
fn parent(p: &[u8]) -> Option<&[u8]> {
    p.iter().rposition(|&b| b == b'/').map(|i| &p[..i])
}

/// A relative path's bytes, `/`-separated (as generated paths are).
fn rel_bytes(rel: &Path) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        std::borrow::Cow::Borrowed(rel.as_os_str().as_encoded_bytes())
    }
    #[cfg(not(unix))]
    {
        std::borrow::Cow::Owned(relative(rel, Path::new("")).into_bytes())
    }
}

/// `path` below `base` as [`relative`] spells it, borrowed when it can be (UTF-8, no
/// backslash).
fn relative_str<'a>(path: &'a Path, base: &Path) -> std::borrow::Cow<'a, str> {
    match path.strip_prefix(base).ok().and_then(Path::to_str) {
        Some(rel) if !rel.contains('\\') => std::borrow::Cow::Borrowed(rel),
        _ => std::borrow::Cow::Owned(relative(path, base)),
    }
}

/// What the walk of the output directory found at one entry.
enum Seen {
    /// Nothing to do: a generated file the new tree has, the manifest, a pruned file.
    Nothing,
    Symlink(PathBuf),
    Dir,
    /// A file the new tree keeps (a user's, an unchanged one, a backup of an overwritten
    /// hand edit): linked from the output directory.
    Link {
        from: PathBuf,
        to: PathBuf,
        backup: Option<String>,
    },
}

/// `f` of every entry under `root` (not `root` itself), in the order of a walk sorted by
/// file name. The top-level entries' subtrees are walked in parallel (an output directory
/// is a few wide trees: `helm/`, `kubernetes/`, `prometheus/`...), each in order.
fn walk_sorted<T: Send>(
    root: &Path,
    f: impl Fn(&walkdir::DirEntry) -> T + Sync,
) -> Result<Vec<T>, WriteFailure> {
    let failed = |e: walkdir::Error| {
        WriteFailure::Io(IoError {
            message: format!("cannot walk `{}`: {e}", root.display()),
        })
    };
    let tops: Vec<walkdir::DirEntry> = WalkDir::new(root)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(failed)?;
    let parts: Vec<Vec<T>> = tops
        .par_iter()
        .map(|top| {
            let mut out = vec![f(top)];
            if top.file_type().is_dir() {
                for entry in WalkDir::new(top.path()).min_depth(1).sort_by_file_name() {
                    out.push(f(&entry.map_err(failed)?));
                }
            }
            Ok(out)
        })
        .collect::<Result<_, WriteFailure>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// Puts the tree at `new` back as the spare at `home`, with its stat cache: after a build
/// that changed nothing (the tree is the spare it started from), or after the swap (the
/// tree is the one swapped out, and `files` what the output's cache knew of it). A tree
/// that cannot be kept is deleted with the staging directory.
fn keep_spare(
    new: &Path,
    home: Option<&Path>,
    cache_dir: Option<&Path>,
    files: &BTreeMap<String, Known>,
) {
    let Some(home) = home else {
        return;
    };
    let Some(dir) = home.parent() else {
        return;
    };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let _ = fs::remove_dir_all(home);
    if fs::rename(new, home).is_ok() {
        let _ = StatCache::at(cache_dir, home).save("", "", files, &BTreeMap::new());
        // Marked as used now: what `forget_old_spares` goes by.
        let _ = fs::File::open(home).and_then(|d| d.set_modified(wall_clock()));
    }
    forget_old_spares(dir, home, cache_dir);
}

/// The time, for the cache's housekeeping only: nothing generated depends on it.
#[expect(
    clippy::disallowed_methods,
    reason = "the age of a spare tree in the cache directory, never part of an output"
)]
fn wall_clock() -> std::time::SystemTime {
    std::time::SystemTime::now()
}

/// How long a spare tree no build has used is kept: its output directory has most likely
/// been deleted or moved (a spare is keyed by the output's path).
const SPARE_UNUSED_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Deletes the spare trees (and their stat caches) in `dir` that no build has kept for
/// [`SPARE_UNUSED_FOR`], other than `home`. A spare a build is using is not in `dir` (it
/// was moved into that build's staging directory), so none is deleted under a build.
fn forget_old_spares(dir: &Path, home: &Path, cache_dir: Option<&Path>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = wall_clock();
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > SPARE_UNUSED_FOR);
        if path != home && old && fs::remove_dir_all(&path).is_ok() {
            StatCache::at(cache_dir, &path).remove();
        }
    }
}

/// Removes from the spare tree `new` what the new tree must not hold: every file that is
/// neither generated (`entries`) nor linked from the output directory (`links`), and
/// every directory that holds none of those and is not one the output keeps empty.
fn remove_unexpected(
    new: &Path,
    entries: &BTreeMap<String, Entry>,
    links: &[(PathBuf, PathBuf)],
    kept_dirs: &BTreeSet<PathBuf>,
) -> Result<(), WriteFailure> {
    // Looked up by their relative paths' bytes: hashing those is much cheaper than
    // comparing paths component by component, and there is one lookup per file of the
    // tree. The generated files' paths are borrowed, not joined to `new`.
    let owned = |p: &Path| p.strip_prefix(new).ok().map(|r| rel_bytes(r).into_owned());
    let linked: Vec<Vec<u8>> = links.iter().filter_map(|(_, to)| owned(to)).collect();
    let kept: Vec<Vec<u8>> = kept_dirs.iter().filter_map(|d| owned(d)).collect();
    let generated = entries.keys().map(String::as_bytes);
    let files: HashSet<&[u8]> = generated
        .clone()
        .chain(linked.iter().map(Vec::as_slice))
        .collect();
    // Every directory on the way to a file or a kept directory. A directory is only ever
    // added with all of its ancestors, so meeting one already added ends the climb.
    let mut dirs: HashSet<&[u8]> = HashSet::new();
    let seeds = kept.iter().map(|d| Some(d.as_slice())).chain(
        generated
            .chain(linked.iter().map(Vec::as_slice))
            .map(parent),
    );
    for seed in seeds {
        let mut d = seed;
        while let Some(dir) = d {
            if dir.is_empty() || !dirs.insert(dir) {
                break;
            }
            d = parent(dir);
        }
    }
    // Each top-level entry's subtree on its own thread.
    let tops: Vec<PathBuf> = fs::read_dir(new)
        .map_err(|e| WriteFailure::Io(io_err("cannot list", new, &e)))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| WriteFailure::Io(io_err("cannot list", new, &e)))?;
    tops.par_iter().try_for_each(|top| {
        // A link at the top is removed as a file, never followed.
        let mut walk = WalkDir::new(top).follow_root_links(false).into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.map_err(|e| {
                WriteFailure::Io(IoError {
                    message: format!("cannot walk `{}`: {e}", new.display()),
                })
            })?;
            let path = entry.path();
            let key = rel_bytes(path.strip_prefix(new).unwrap_or(path));
            let key = key.as_ref();
            if entry.file_type().is_dir() {
                if !dirs.contains(key) {
                    fs::remove_dir_all(path)
                        .map_err(|e| WriteFailure::Io(io_err("cannot remove", path, &e)))?;
                    walk.skip_current_dir();
                }
            } else if !files.contains(key) {
                fs::remove_file(path)
                    .map_err(|e| WriteFailure::Io(io_err("cannot remove", path, &e)))?;
            }
        }
        Ok(())
    })
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

fn unsafe_path(path: &str) -> WriteFailure {
    WriteFailure::Conflict(
        Diagnostic::error(
            Code::UnsafeOutput,
            format!(
                "the output path `{}` would leave the output directory",
                path.escape_debug()
            ),
        )
        .with_help("this is a bug in nestioc: please report it with the topology that caused it"),
    )
}

/// Refuses (NST0404, nothing written) an output directory with a symbolic link anywhere
/// inside it, and any artifact path that is not a plain relative path: a build must never
/// write outside its output directory. The directory itself may be a link (the user chose
/// it); it is not followed below that.
pub fn check_output_dir_safe(out: &Path, set: &ArtifactSet) -> Result<(), WriteFailure> {
    if let Some(first) = set.files.keys().find(|p| !safe_relative(p)) {
        return Err(unsafe_path(first));
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
            links.push(entry.path().to_path_buf());
        }
    }
    if links.is_empty() {
        return Ok(());
    }
    Err(symlinks_refused(out, out, &links))
}

/// NST0404: the symbolic links `links` found under `root` (the output directory `out`, or
/// where it really is).
fn symlinks_refused(out: &Path, root: &Path, links: &[PathBuf]) -> WriteFailure {
    let shown: Vec<String> = links
        .iter()
        .map(|link| {
            let target = fs::read_link(link)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            format!("`{}` -> `{target}`", relative(link, root))
        })
        .collect();
    WriteFailure::Conflict(
        Diagnostic::error(
            Code::UnsafeOutput,
            format!(
                "the output directory `{}` contains {} symbolic link{}: {}",
                out.display(),
                shown.len(),
                if shown.len() == 1 { "" } else { "s" },
                shown.join(", ")
            ),
        )
        .with_help(
            "generated files are regular files: remove the links (the files they point at are untouched) and build again",
        ),
    )
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
