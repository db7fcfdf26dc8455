//! The stat cache: what the last build knows of the files it left in an output
//! directory (inode, size, modification time, and the sha256 of their bytes then), so
//! that the next build can tell an unchanged file from its metadata instead of reading it,
//! and can tell that nothing at all has changed without emitting anything.
//!
//! It lives outside the output directory (the directory is reviewed and committed, and
//! two builds of one project must give the same bytes wherever they run), in the user's
//! cache directory, one file per output directory. It is only ever a hint: a file is
//! trusted only when its inode, size and modification time (to the nanosecond) are the
//! ones recorded, which any write, replacement or `touch` changes. Hard links, which the
//! writer makes for unchanged files, change a file's ctime but not these, so ctime is
//! not compared. A file edited in place within the file system's timestamp granularity
//! of the build's own write, to the same size, would go unnoticed: that needs a writer
//! racing the build, which the output directory's lock already rules out for nestioc
//! and which no person editing a file can do.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{IoError, MANIFEST, io_err, safe_relative, sha256};

const HEADER: &str = "nestioc-stat 2";

/// What identifies a version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    ino: u64,
    size: u64,
    mtime_ns: u128,
}

impl Stat {
    /// A regular file's identity, or `None` for anything else (missing, a directory, a
    /// link).
    pub(super) fn of(path: &Path) -> Option<Stat> {
        let meta = fs::symlink_metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let ino = 0;
        let mtime_ns = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some(Stat {
            ino,
            size: meta.len(),
            mtime_ns,
        })
    }
}

/// A file's identity and the hash of its bytes when it had that identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Known {
    pub(super) stat: Stat,
    pub(super) hash: String,
}

/// What one key's files were ([`crate::emit::reuse`]): the note they were put with and
/// their paths (their hashes and identities are in [`StatCache::files`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Made {
    pub(super) note: String,
    pub(super) paths: Vec<String>,
}

/// The identity of the running nestioc, the salt of its reuse keys: its version, and its
/// executable's inode, size and modification time (two builds of one version may make
/// other bytes). `None` when the executable cannot be found: then nothing is reused.
pub(super) fn tool_identity() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let stat = Stat::of(&fs::canonicalize(exe).ok()?)?;
    Some(format!(
        "nestioc {} {} {} {}",
        env!("CARGO_PKG_VERSION"),
        stat.ino,
        stat.size,
        stat.mtime_ns
    ))
}

/// A note in a cache line, with the characters that would end a field or a line (and the
/// escape itself) escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    let mut rest = s;
    // Runs of plain text are copied whole: a note is mostly YAML.
    while let Some(i) = rest.find(['\\', '\t', '\n', '\r', '\0']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => "\\0",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out
}

/// [`escape`] undone; `None` for an escape it never writes.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            '0' => '\0',
            _ => return None,
        });
    }
    Some(out)
}

/// The cache of one output directory.
#[derive(Debug, Default)]
pub(super) struct StatCache {
    /// Where it is kept (`None`: no cache directory, nothing is kept).
    path: Option<PathBuf>,
    /// The inputs of the build that left the directory (see `crate::fingerprint`).
    pub(super) fingerprint: String,
    /// The sha256 of the manifest that build wrote.
    pub(super) manifest: String,
    pub(super) files: BTreeMap<String, Known>,
    /// The files of each reuse key that build made or reused.
    pub(super) made: BTreeMap<String, Made>,
}

impl StatCache {
    /// The cache of the output directory `real` (canonical), kept in `dir`; empty when
    /// there is none or it cannot be read.
    pub(super) fn load(dir: Option<&Path>, real: &Path) -> StatCache {
        Self::load_if(dir, real, None)
    }

    /// The (empty) cache of the output directory `real`, without reading it: to replace
    /// or remove it.
    pub(super) fn at(dir: Option<&Path>, real: &Path) -> StatCache {
        StatCache {
            path: dir.map(|dir| {
                dir.join(format!(
                    "{}.stat",
                    &sha256(real.as_os_str().as_encoded_bytes())[..32]
                ))
            }),
            ..StatCache::default()
        }
    }

    /// [`StatCache::load`] for [`StatCache::up_to_date`]: no further than the header
    /// when the fingerprint there is not `fingerprint`, and without the reuse records.
    pub(super) fn load_fresh(dir: Option<&Path>, real: &Path, fingerprint: &str) -> StatCache {
        Self::load_if(dir, real, Some(fingerprint))
    }

    /// [`StatCache::load`], reading no further than the header when its fingerprint is
    /// not `fingerprint` (given).
    fn load_if(dir: Option<&Path>, real: &Path, fingerprint: Option<&str>) -> StatCache {
        let mut cache = Self::at(dir, real);
        let Some(path) = &cache.path else {
            return cache;
        };
        // The header alone first: a cache of other inputs is not read any further.
        if let Some(want) = fingerprint {
            let mut first = String::new();
            let read = fs::File::open(path).and_then(|f| {
                std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut first)
            });
            let mut head = first.trim_end_matches('\n').split('\t');
            if read.is_err() || head.next() != Some(HEADER) || head.next() != Some(want) {
                return cache;
            }
        }
        let Ok(text) = fs::read_to_string(path) else {
            return cache;
        };
        let mut lines = text.lines();
        let mut head = lines.next().unwrap_or_default().split('\t');
        if head.next() != Some(HEADER) {
            return cache;
        }
        cache.fingerprint = head.next().unwrap_or_default().to_owned();
        cache.manifest = head.next().unwrap_or_default().to_owned();

        for line in lines {
            if let Some(rest) = line.strip_prefix("made\t") {
                // What reuse needs; the up-to-date check (`fingerprint` given) does not.
                if fingerprint.is_some() {
                    continue;
                }
                let mut f = rest.split('\t');
                let (Some(key), Some(note)) = (f.next(), f.next().and_then(unescape)) else {
                    continue;
                };
                let paths: Vec<String> = f.map(str::to_owned).collect();
                if key.len() == 64 && paths.iter().all(|p| safe_relative(p)) {
                    cache.made.insert(key.to_owned(), Made { note, paths });
                }
                continue;
            }
            let mut f = line.splitn(5, '\t');
            let (Some(hash), Some(ino), Some(size), Some(mtime), Some(rel)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let (Ok(ino), Ok(size), Ok(mtime_ns)) = (ino.parse(), size.parse(), mtime.parse())
            else {
                continue;
            };
            if safe_relative(rel) && hash.len() == 64 {
                cache.files.insert(
                    rel.to_owned(),
                    Known {
                        stat: Stat {
                            ino,
                            size,
                            mtime_ns,
                        },
                        hash: hash.to_owned(),
                    },
                );
            }
        }
        cache
    }

    /// The hash of the file at `rel` if it is still the version the cache knows.
    pub(super) fn hash_of(&self, rel: &str, stat: Stat) -> Option<&str> {
        self.files
            .get(rel)
            .filter(|k| k.stat == stat)
            .map(|k| k.hash.as_str())
    }

    /// Whether the output directory `real` is exactly what the build with these inputs
    /// left there: same inputs, the same manifest, and every file it lists unchanged
    /// since. Then the build it would do now would write the same bytes, and can be
    /// skipped. The number of files, when it is.
    pub(super) fn up_to_date(&self, real: &Path, fingerprint: &str) -> Option<usize> {
        // (Read with `load_if(.., Some(fingerprint))`: the files are only there when the
        // fingerprint matches.)
        if self.path.is_none() || self.fingerprint != fingerprint {
            return None;
        }
        let manifest = fs::read(real.join(MANIFEST)).ok()?;
        if sha256(&manifest) != self.manifest {
            return None;
        }
        let listed = super::manifest_paths(&manifest)?;
        if listed.len() != self.files.len() || listed.iter().any(|p| !self.files.contains_key(p)) {
            return None;
        }
        let files: Vec<(&String, &Known)> = self.files.iter().collect();
        files
            .par_iter()
            .all(|(rel, known)| Stat::of(&real.join(rel)) == Some(known.stat))
            .then_some(files.len())
    }

    /// Deletes the cache's file.
    pub(super) fn remove(&self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }

    /// Replaces the cache with the files of the build that has just finished, written
    /// through a temporary file (a build killed meanwhile leaves the old cache, which no
    /// longer matches the files it changed).
    pub(super) fn save(
        &self,
        fingerprint: &str,
        manifest: &str,
        files: &BTreeMap<String, Known>,
        made: &BTreeMap<String, Made>,
    ) -> Result<(), IoError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        use std::fmt::Write as _;
        let mut text = String::with_capacity(files.len() * 128);
        let _ = writeln!(
            text,
            "{HEADER}\t{fingerprint}\t{}",
            sha256(manifest.as_bytes())
        );
        for (rel, k) in files {
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{rel}",
                k.hash, k.stat.ino, k.stat.size, k.stat.mtime_ns
            );
        }
        for (key, m) in made {
            text.push_str("made\t");
            text.push_str(key);
            text.push('\t');
            text.push_str(&escape(&m.note));
            for p in &m.paths {
                text.push('\t');
                text.push_str(p);
            }
            text.push('\n');
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| io_err("cannot create", dir, &e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| io_err("cannot create a temporary file in", dir, &e))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())
            .map_err(|e| io_err("cannot write", path, &e))?;
        tmp.persist(path)
            .map_err(|e| io_err("cannot write", path, &e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_survive_a_cache_line() {
        for note in ["", "0.1.0+abc", "a\tb\nc\\d\r\0e\\n", "é\u{0}x"] {
            let line = escape(note);
            assert!(!line.contains(['\t', '\n', '\r', '\0']), "{line:?}");
            assert_eq!(unescape(&line).as_deref(), Some(note));
        }
        assert_eq!(unescape("a\\x"), None);
        assert_eq!(unescape("a\\"), None);
    }
}
