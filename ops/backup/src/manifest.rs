//! What one run wrote: the manifest (`ephemeral/<RUN>.manifest.json.zst`) describes the
//! tree as it was at the run — every entry with its metadata and content hash, and for each
//! file the run whose archive holds its bytes — plus the paths deleted since the parent run,
//! the database dump and the archive with their sizes and hashes.
//!
//! An incremental run's manifest holds only the entries that are new or changed since its
//! parent (and the deleted paths); [`state`] replays the chain to get the whole tree.
//!
//! The manifest is written last: a run exists for `list`, `verify` and `restore` only once
//! its manifest does, so a run killed half-way is simply not there.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, AtomicFile, PathError, perr};

pub const MANIFEST_SUFFIX: &str = ".manifest.json.zst";
/// 2: incremental manifests hold only changes.
pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// Another name of a file listed earlier in the manifest (`target`).
    Hardlink,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative to the scratch tree, `/`-separated; `.` is the tree's root.
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// BLAKE3 of the content (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// The run whose archive holds the content (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_in: Option<String>,
    /// Symlink target, or the path a hard link shares its inode with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Change hints for the next incremental run (not restored).
    #[serde(default)]
    pub ctime: i64,
    #[serde(default)]
    pub ctime_nsec: u32,
    #[serde(default)]
    pub ino: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A file of the run (archive or dump) with what it must look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative to the backup root.
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Full,
    Incremental,
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunKind::Full => "full",
            RunKind::Incremental => "incremental",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub run: String,
    pub time: DateTime<Utc>,
    pub kind: RunKind,
    /// The previous run of the chain (incremental runs).
    pub parent: Option<String>,
    pub scratch_tree: String,
    pub exclude: Vec<String>,
    pub archive: FileRecord,
    pub database: Option<FileRecord>,
    pub entries: Vec<Entry>,
    /// Paths present at the parent run and gone now.
    pub deleted: Vec<String>,
    /// Things skipped on purpose (sockets, FIFOs, devices).
    pub notes: Vec<String>,
    /// Things that could not be backed up (unreadable files); the run exits 1.
    pub errors: Vec<String>,
    pub files_stored: u64,
    pub bytes_stored: u64,
    /// Entries of the whole tree at this run (`entries` of an incremental run holds only
    /// what changed since its parent).
    #[serde(default)]
    pub tree_entries: u64,
}

impl Manifest {
    /// Runs whose archives this run's restore reads.
    pub fn archives_needed(&self) -> Vec<String> {
        let mut runs: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| e.stored_in.clone())
            .collect();
        runs.sort();
        runs.dedup();
        runs
    }
}

/// The whole tree at run `m`: its full run's entries with every later run's changes and
/// deletions applied, in manifest order.
pub fn state(root: &Path, m: &Manifest) -> Result<Vec<Entry>, ManifestError> {
    if m.kind == RunKind::Full {
        return Ok(m.entries.clone());
    }
    let mut chain = vec![m.clone()];
    let mut seen = std::collections::HashSet::new();
    loop {
        let last = chain
            .last()
            .map(|c| (c.kind, c.parent.clone(), c.run.clone()));
        let Some((kind, parent, run)) = last else {
            break;
        };
        if kind == RunKind::Full {
            break;
        }
        let Some(parent) = parent else {
            return Err(ManifestError::Bad {
                path: manifest_path(root, &run),
                msg: "an incremental run without a parent".to_owned(),
            });
        };
        if !seen.insert(parent.clone()) {
            return Err(ManifestError::Bad {
                path: manifest_path(root, &run),
                msg: format!("the chain loops at {parent}"),
            });
        }
        chain.push(read(root, &parent)?);
    }
    let mut map: BTreeMap<String, Entry> = BTreeMap::new();
    for mm in chain.iter().rev() {
        for d in &mm.deleted {
            map.remove(d);
        }
        for e in &mm.entries {
            map.insert(e.path.clone(), e.clone());
        }
    }
    let mut v: Vec<Entry> = map.into_values().collect();
    v.sort_by(|a, b| component_order(&a.path, &b.path));
    Ok(v)
}

/// `.` first, then paths compared component by component (a directory before its contents).
pub fn component_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a == ".", b == ".") {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.split('/').cmp(b.split('/')),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("{}: not a readable manifest: {msg}", path.display())]
    Bad { path: PathBuf, msg: String },
}

pub fn ephemeral_dir(root: &Path) -> PathBuf {
    root.join("ephemeral")
}

pub fn postgres_dir(root: &Path) -> PathBuf {
    root.join("postgres")
}

pub fn manifest_path(root: &Path, run: &str) -> PathBuf {
    ephemeral_dir(root).join(format!("{run}{MANIFEST_SUFFIX}"))
}

pub fn archive_rel(run: &str, kind: RunKind) -> String {
    let k = match kind {
        RunKind::Full => "full",
        RunKind::Incremental => "incr",
    };
    format!("ephemeral/{run}.{k}.tar.zst")
}

pub fn dump_rel(db: &str, run: &str) -> String {
    format!("postgres/{db}_{run}.dump")
}

pub fn write(root: &Path, m: &Manifest) -> Result<(), PathError> {
    let target = manifest_path(root, &m.run);
    let mut f = AtomicFile::create(&target)?;
    let temp = f.temp_path().to_path_buf();
    let json = serde_json::to_vec(m).map_err(|e| perr(&temp)(io::Error::other(e)))?;
    let compressed = zstd::encode_all(&json[..], 3).map_err(perr(&temp))?;
    f.write_all(&compressed).map_err(perr(&temp))?;
    f.commit()
}

pub fn read(root: &Path, run: &str) -> Result<Manifest, ManifestError> {
    read_file(&manifest_path(root, run))
}

pub fn read_file(path: &Path) -> Result<Manifest, ManifestError> {
    let bytes = fs::read(path).map_err(perr(path))?;
    let bad = |msg: String| ManifestError::Bad {
        path: path.to_path_buf(),
        msg,
    };
    let mut json = Vec::new();
    zstd::Decoder::new(&bytes[..])
        .and_then(|mut d| d.read_to_end(&mut json))
        .map_err(|e| bad(format!("zstd: {e}")))?;
    let m: Manifest = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    if m.format != FORMAT {
        return Err(bad(format!("unknown format {}", m.format)));
    }
    // A restore writes these paths under its target: none may lead out of it.
    if let Some(e) = m.entries.iter().find(|e| !plain_relative(&e.path)) {
        return Err(bad(format!(
            "entry {:?} is not a plain relative path",
            e.path
        )));
    }
    let expected = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if expected != format!("{}{MANIFEST_SUFFIX}", m.run) {
        return Err(bad(format!("names run {} (renamed file?)", m.run)));
    }
    Ok(m)
}

/// `.` or `a/b/c` with no empty, `.` or `..` components.
pub fn plain_relative(p: &str) -> bool {
    p == "." || (!p.is_empty() && p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// Finished runs (those with a manifest), oldest first.
pub fn run_ids(root: &Path) -> Result<Vec<String>, PathError> {
    let dir = ephemeral_dir(root);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(perr(&dir)(e)),
    };
    let mut ids = Vec::new();
    for ent in rd {
        let ent = ent.map_err(perr(&dir))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Some(id) = name.strip_suffix(MANIFEST_SUFFIX)
            && parse_run_time(id).is_some()
        {
            ids.push(id.to_owned());
        }
    }
    ids.sort_by_key(|a| run_order(a));
    Ok(ids)
}

/// Run ids are `YYYYMMDD-HHMMSS` (UTC), with `-N` appended when a second run starts within
/// the same second.
pub fn parse_run_time(id: &str) -> Option<DateTime<Utc>> {
    let stamp = id.get(..15)?;
    let rest = &id[15..];
    if !(rest.is_empty()
        || (rest.starts_with('-')
            && rest.len() > 1
            && rest[1..].chars().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

fn run_order(id: &str) -> (String, u64) {
    let seq = id
        .get(16..)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    (id.get(..15).unwrap_or(id).to_owned(), seq)
}

/// A fresh run id for `now` that no finished or unfinished run uses.
pub fn new_run_id(root: &Path, now: DateTime<Utc>) -> String {
    let base = now.format("%Y%m%d-%H%M%S").to_string();
    let taken = |id: &str| {
        manifest_path(root, id).exists()
            || fs::read_dir(ephemeral_dir(root))
                .map(|rd| {
                    rd.flatten().any(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.starts_with(&format!("{id}.")) || n.starts_with(&format!(".{id}."))
                    })
                })
                .unwrap_or(false)
    };
    if !taken(&base) {
        return base;
    }
    (2u64..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken(id))
        .unwrap_or(base)
}

/// Removes a run's files (manifest first, so a half-removed run is never "finished").
pub fn remove_run(root: &Path, m: &Manifest) -> Result<(), PathError> {
    let mp = manifest_path(root, &m.run);
    fs::remove_file(&mp).map_err(perr(&mp))?;
    for rec in std::iter::once(&m.archive).chain(m.database.as_ref()) {
        let p = root.join(&rec.path);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(perr(&p)(e)),
        }
    }
    fsutil::sync_dir(&ephemeral_dir(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths() {
        assert!(plain_relative("."));
        assert!(plain_relative("work/tasks/1/build.log"));
        for p in ["", "/etc/passwd", "a/../../x", "..", "a//b", "./a"] {
            assert!(!plain_relative(p), "{p}");
        }
    }

    #[test]
    fn run_ids_order_and_parse() {
        assert!(parse_run_time("20261203-091500").is_some());
        assert!(parse_run_time("20261203-091500-2").is_some());
        assert!(parse_run_time("20261203-091500-").is_none());
        assert!(parse_run_time("2026120-091500").is_none());
        let mut v = vec!["20261203-091500-10", "20261203-091500-2", "20261203-091500"];
        v.sort_by_key(|a| run_order(a));
        assert_eq!(
            v,
            ["20261203-091500", "20261203-091500-2", "20261203-091500-10"]
        );
    }
}
