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

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, AtomicFile, PathError, perr};

pub const MANIFEST_SUFFIX: &str = ".manifest.json.zst";
/// Manifests up to this size (as JSON; an incremental run's) are compressed at zstd level 6:
/// on a 200 KB manifest of 500 changed files, 2 ms for 46.9 KB, where level 15 took 32 ms
/// for 42.7 KB and level 3 gave 53.6 KB.
const SMALL_MANIFEST: usize = 1 << 20;
/// The format this version writes. 2: incremental manifests hold only changes. 3: a file
/// that only grew may be kept in `parts`, its appended bytes stored as a tail record.
pub const FORMAT: u32 = 3;
/// Formats this version reads (a format-2 manifest is a format-3 one without parts).
pub const READABLE_FORMATS: [u32; 2] = [2, 3];
/// The PAX keyword of a tail record in an archive: the byte offset in the file at which the
/// record's bytes go. A plain `tar` extracts such a record as a short file of its own.
pub const TAIL_OFFSET_KEY: &str = "KKOJI.tail.offset";

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
    /// A file kept in pieces (format 3): its content is the parts' bytes in order, each
    /// part in its run's archive — the first a whole file, the others tail records. Set when
    /// a file only grew since the parent run (a build log being written): an incremental run
    /// then stores the appended bytes, not the file again. Empty: the whole content is in
    /// `stored_in` (which, with parts, names the run of the last part).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
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

/// One stored piece of a file kept in parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub run: String,
    pub size: u64,
    /// BLAKE3 of this part's bytes.
    pub blake3: String,
}

/// Where a range of a file's bytes is stored, and what they hash to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    pub run: &'a str,
    pub offset: u64,
    pub size: u64,
    pub blake3: &'a str,
    /// Stored as a tail record (not a whole file).
    pub tail: bool,
}

impl Entry {
    /// The stored pieces of a file's content, in file order (none for other kinds, or a
    /// file without a recorded run).
    pub fn pieces(&self) -> Vec<Piece<'_>> {
        if self.kind != Kind::File {
            return Vec::new();
        }
        if self.parts.is_empty() {
            return match (&self.stored_in, &self.blake3) {
                (Some(run), Some(b)) => vec![Piece {
                    run,
                    offset: 0,
                    size: self.size,
                    blake3: b,
                    tail: false,
                }],
                _ => Vec::new(),
            };
        }
        let mut offset = 0u64;
        self.parts
            .iter()
            .map(|p| {
                let piece = Piece {
                    run: &p.run,
                    offset,
                    size: p.size,
                    blake3: &p.blake3,
                    tail: offset > 0,
                };
                offset = offset.saturating_add(p.size);
                piece
            })
            .collect()
    }

    /// The content as parts (a file stored whole is one part).
    pub fn as_parts(&self) -> Vec<Part> {
        self.pieces()
            .into_iter()
            .map(|p| Part {
                run: p.run.to_owned(),
                size: p.size,
                blake3: p.blake3.to_owned(),
            })
            .collect()
    }
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
    /// Of `files_stored`, the files stored as a tail record (format 3).
    #[serde(default)]
    pub tails_stored: u64,
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
            .flat_map(|e| {
                e.stored_in
                    .iter()
                    .cloned()
                    .chain(e.parts.iter().map(|p| p.run.clone()))
            })
            .collect();
        runs.sort();
        runs.dedup();
        runs
    }
}

/// `m` and its ancestors back to its full run, newest first, each manifest read once (a
/// full run's is large).
pub fn chain(root: &Path, m: Manifest) -> Result<Vec<Manifest>, ManifestError> {
    chain_with(root, m, |_| {})
}

/// [`chain`], calling `before_read` with each ancestor's run id before its manifest is read
/// (the last one read, the full run's, is the large one).
pub fn chain_with(
    root: &Path,
    m: Manifest,
    mut before_read: impl FnMut(&str),
) -> Result<Vec<Manifest>, ManifestError> {
    let mut seen = std::collections::HashSet::new();
    let mut chain = vec![m];
    while let Some(last) = chain.last().filter(|l| l.kind != RunKind::Full) {
        let Some(p) = last.parent.clone() else {
            return Err(ManifestError::Bad {
                path: manifest_path(root, &last.run),
                msg: "an incremental run without a parent".to_owned(),
            });
        };
        if !seen.insert(p.clone()) {
            return Err(ManifestError::Bad {
                path: manifest_path(root, &last.run),
                msg: format!("the chain loops at {p}"),
            });
        }
        before_read(&p);
        chain.push(read(root, &p)?);
    }
    Ok(chain)
}

/// The whole tree at the newest run of `chain` (as [`chain`] returns it: newest first, a
/// full run last), and each run's archive by run id.
pub fn merge(chain: Vec<Manifest>) -> (Vec<Entry>, BTreeMap<String, String>) {
    let archives: BTreeMap<String, String> = chain
        .iter()
        .map(|m| (m.run.clone(), m.archive.path.clone()))
        .collect();
    // The full run's entries stay where they are (in component order): each incremental
    // replaces or deletes some of them through an index, or adds paths it did not have. A
    // 50,000-entry chain merged through an ordered map of cloned paths cost 30-40 ms of a
    // restore's single-threaded start.
    let mut runs = chain.into_iter().rev();
    let Some(full) = runs.next() else {
        return (Vec::new(), archives);
    };
    let mut base = full.entries;
    if runs.len() == 0 {
        // The full run alone: its entries as they are (in order, unless the file was edited).
        if !base.is_sorted_by(|a, b| component_order(&a.path, &b.path).is_le()) {
            base.sort_by(|a, b| component_order(&a.path, &b.path));
        }
        return (base, archives);
    }
    let mut slots: Vec<Slot> = Vec::new();
    slots.resize_with(base.len(), || Slot::Kept);
    let mut added: BTreeMap<String, Entry> = BTreeMap::new();
    {
        let index: HashMap<&str, usize> = base
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.as_str(), i))
            .collect();
        for mm in runs {
            for d in mm.deleted {
                match index.get(d.as_str()) {
                    Some(&i) => slots[i] = Slot::Deleted,
                    None => {
                        added.remove(&d);
                    }
                }
            }
            for e in mm.entries {
                match index.get(e.path.as_str()) {
                    Some(&i) => slots[i] = Slot::Replaced(e),
                    None => {
                        added.insert(e.path.clone(), e);
                    }
                }
            }
        }
    }
    let sorted =
        added.is_empty() && base.is_sorted_by(|a, b| component_order(&a.path, &b.path).is_le());
    let mut v: Vec<Entry> = Vec::with_capacity(base.len() + added.len());
    for (e, slot) in base.drain(..).zip(slots) {
        match slot {
            Slot::Kept => v.push(e),
            Slot::Replaced(n) => v.push(n),
            Slot::Deleted => {}
        }
    }
    v.extend(added.into_values());
    if !sorted {
        // stable and adaptive: the full run's order is kept, the few additions merged in
        v.sort_by(|a, b| component_order(&a.path, &b.path));
    }
    (v, archives)
}

/// What the chain made of one of the full run's entries.
enum Slot {
    Kept,
    Replaced(Entry),
    Deleted,
}

/// `.` first, then paths compared component by component (a directory before its contents,
/// `a/b` before `a-b`). Compared byte by byte with `/` taken as lower than any other byte,
/// which orders paths without empty components the same way, without splitting them.
pub fn component_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a == ".", b == ".") {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => {
            let (a, b) = (a.as_bytes(), b.as_bytes());
            let n = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            match (a.get(n), b.get(n)) {
                (Some(x), Some(y)) => slash_lowest(*x).cmp(&slash_lowest(*y)),
                _ => a.len().cmp(&b.len()),
            }
        }
    }
}

fn slash_lowest(b: u8) -> u16 {
    if b == b'/' { 0 } else { u16::from(b) + 1 }
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

/// The run of an archive's file name ([`archive_rel`]), if it is one.
pub fn run_of_archive_name(name: &str) -> Option<&str> {
    name.strip_suffix(".full.tar.zst")
        .or_else(|| name.strip_suffix(".incr.tar.zst"))
        .filter(|run| parse_run_time(run).is_some())
}

/// The run of a dump's file name ([`dump_rel`]: the database name may hold `_`, the run id
/// does not), if it is one.
pub fn run_of_dump_name(name: &str) -> Option<&str> {
    name.strip_suffix(".dump")
        .and_then(|n| n.rsplit_once('_'))
        .map(|(_, run)| run)
        .filter(|run| parse_run_time(run).is_some())
}

pub fn write(root: &Path, m: &Manifest) -> Result<(), PathError> {
    let target = manifest_path(root, &m.run);
    let mut f = AtomicFile::create(&target)?;
    let temp = f.temp_path().to_path_buf();
    let json = serde_json::to_vec(m).map_err(|e| perr(&temp)(io::Error::other(e)))?;
    // A full run's manifest is large (tens of MB of JSON): level 3.
    let level = if json.len() <= SMALL_MANIFEST { 6 } else { 3 };
    // In one call, so zstd knows the size and sizes its tables for it.
    let compressed = zstd::bulk::compress(&json, level).map_err(perr(&temp))?;
    f.write_all(&compressed).map_err(perr(&temp))?;
    f.commit()
}

pub fn read(root: &Path, run: &str) -> Result<Manifest, ManifestError> {
    read_file(&manifest_path(root, run))
}

/// The most a manifest's buffer is sized for up front (it still grows past it if it must).
const MANIFEST_PRESIZE_MAX: usize = 512 << 20;

pub fn read_file(path: &Path) -> Result<Manifest, ManifestError> {
    let bytes = fs::read(path).map_err(perr(path))?;
    let bad = |msg: String| ManifestError::Bad {
        path: path.to_path_buf(),
        msg,
    };
    // Sized from the frame header when it says (a full run's manifest is tens of MB: no
    // doubling and copying as it is read), within a bound a damaged header cannot pass.
    let size_hint = zstd::zstd_safe::get_frame_content_size(&bytes)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .min(MANIFEST_PRESIZE_MAX);
    let mut json = Vec::with_capacity(size_hint);
    zstd::Decoder::new(&bytes[..])
        .and_then(|mut d| d.read_to_end(&mut json))
        .map_err(|e| bad(format!("zstd: {e}")))?;
    let m: Manifest = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    if !READABLE_FORMATS.contains(&m.format) {
        return Err(bad(format!(
            "unknown format {} (this kkoji-backup reads formats {}; a newer version wrote it?)",
            m.format,
            READABLE_FORMATS.map(|f| f.to_string()).join(", ")
        )));
    }
    // A restore writes these paths under its target: none may lead out of it.
    if let Some(e) = m.entries.iter().find(|e| !plain_relative(&e.path)) {
        return Err(bad(format!(
            "entry {:?} is not a plain relative path",
            e.path
        )));
    }
    if let Some(e) = m.entries.iter().find(|e| !parts_consistent(e)) {
        return Err(bad(format!(
            "entry {:?}: its parts do not add up to its size",
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

/// A file kept in parts: at least two, summing to its size, the last one in `stored_in`.
fn parts_consistent(e: &Entry) -> bool {
    if e.parts.is_empty() {
        return true;
    }
    e.kind == Kind::File
        && e.parts.len() >= 2
        && e.parts.iter().try_fold(0u64, |a, p| a.checked_add(p.size)) == Some(e.size)
        && e.parts.last().map(|p| &p.run) == e.stored_in.as_ref()
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
    fn component_order_is_by_components() {
        let paths = [
            ".", "a", "a/b", "a/b/c", "a-b", "a.b", "a0", "a/b-c", "a/b/c-d", "a/bc", "ab", "b",
            "-x", "A", "a/!", "a/~", "é", "a/é", "z/a", "z",
        ];
        let by_split = |a: &str, b: &str| match (a == ".", b == ".") {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => a.split('/').cmp(b.split('/')),
        };
        for a in paths {
            for b in paths {
                assert_eq!(component_order(a, b), by_split(a, b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn runs_of_file_names() {
        assert_eq!(
            run_of_archive_name("20261203-091500.full.tar.zst"),
            Some("20261203-091500")
        );
        assert_eq!(
            run_of_archive_name("20261203-091500-2.incr.tar.zst"),
            Some("20261203-091500-2")
        );
        assert_eq!(run_of_archive_name("notes.tar.zst"), None);
        assert_eq!(
            run_of_archive_name("20261203-091500.manifest.json.zst"),
            None
        );
        assert_eq!(
            run_of_dump_name("koji_db_20261203-091500.dump"),
            Some("20261203-091500")
        );
        assert_eq!(run_of_dump_name("koji.dump"), None);
        assert_eq!(run_of_dump_name("koji_latest.dump"), None);
        for (db, run) in [("koji", "20261203-091500"), ("a_b", "20261203-091500-3")] {
            let rel = dump_rel(db, run);
            let name = rel.rsplit('/').next().unwrap_or_default();
            assert_eq!(run_of_dump_name(name), Some(run));
            let rel = archive_rel(run, RunKind::Incremental);
            let name = rel.rsplit('/').next().unwrap_or_default();
            assert_eq!(run_of_archive_name(name), Some(run));
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
