//! `kkoji-backup run`: the database dump and the scratch tree archive of one run.
//!
//! The tree is walked once (sorted, so manifests are stable), then every file that is new or
//! changed since the parent run is streamed into `ephemeral/<RUN>.<full|incr>.tar.zst`,
//! hashed on the way. Unchanged files are listed with the run that already holds them.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::db;
use crate::fsutil::{self, AtomicFile, PathError, perr};
use crate::lock::Lock;
use crate::manifest::{self, Entry, FileRecord, Kind, Manifest, RunKind};
use crate::progress::Progress;
use crate::scan::{Scan, ScanError, ScanItem, scan_tree};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("writing the archive {}: {source}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RunOptions {
    /// Take a full backup whatever the age of the last one.
    pub full: bool,
}

pub fn lock_path(root: &Path) -> PathBuf {
    root.join(".kkoji-backup.lock")
}

/// What the next run will do, and why; for an incremental, the chain it goes on (the last
/// run and its ancestors back to their full run, newest first, each manifest read once).
pub fn plan(
    s: &Settings,
    now: DateTime<Utc>,
    force_full: bool,
) -> (RunKind, Vec<Manifest>, String) {
    let ids = match manifest::run_ids(&s.backup_root) {
        Ok(ids) => ids,
        Err(e) => {
            return (
                RunKind::Full,
                Vec::new(),
                format!("full (cannot list runs: {e})"),
            );
        }
    };
    let Some(last) = ids.last() else {
        return (RunKind::Full, Vec::new(), "full (no backup yet)".to_owned());
    };
    if force_full {
        return (RunKind::Full, Vec::new(), "full (--full)".to_owned());
    }
    let chain = match manifest::read(&s.backup_root, last)
        .and_then(|m| manifest::chain(&s.backup_root, m))
    {
        Ok(c) => c,
        Err(e) => {
            return (
                RunKind::Full,
                Vec::new(),
                format!("full (the chain of the last run {last} cannot be read: {e})"),
            );
        }
    };
    // An incremental goes on the last run's chain: its full run is the one whose age counts.
    let Some(full_time) = chain.last().map(|m| m.time) else {
        return (RunKind::Full, Vec::new(), "full (no backup yet)".to_owned());
    };
    let age = now.signed_duration_since(full_time);
    if age >= chrono::Duration::days(i64::from(s.full_after_days)) {
        return (
            RunKind::Full,
            Vec::new(),
            format!(
                "full (last full is {} days old, full_after_days = {})",
                age.num_days(),
                s.full_after_days
            ),
        );
    }
    let why = format!(
        "incremental on {last} (last full {} days old)",
        age.num_days()
    );
    (RunKind::Incremental, chain, why)
}

pub struct RunOutcome {
    pub manifest: Manifest,
    pub removed_leftovers: Vec<PathBuf>,
}

pub fn run(s: &Settings, opts: RunOptions) -> Result<RunOutcome, RunError> {
    let root = &s.backup_root;
    let t0 = std::time::Instant::now();
    fsutil::ensure_dir(root)?;
    let _lock = Lock::acquire(&lock_path(root))?;
    let eph = manifest::ephemeral_dir(root);
    let pgd = manifest::postgres_dir(root);
    fsutil::ensure_dir(&eph)?;
    fsutil::ensure_dir(&pgd)?;
    let mut removed = fsutil::remove_leftovers(&eph)?;
    removed.extend(fsutil::remove_leftovers(&pgd)?);
    removed.extend(remove_orphans(root)?);
    for p in &removed {
        tracing::warn!(file = %p.display(), "removed the leftover of an interrupted run");
    }
    let now = Utc::now();
    let run_id = manifest::new_run_id(root, now);
    // The parent chain is read (a full run's manifest is tens of MB of JSON, one core's work
    // for a fifth of a second) while the database is dumped and the tree walked.
    let mut finished = Finished::default();
    let (planned, scanned) = std::thread::scope(|sc| {
        let planner = sc.spawn(|| {
            let (kind, chain, why) = plan(s, now, opts.full);
            let parent = chain.first().map(|p| p.run.clone());
            (kind, parent, why, manifest::merge(chain).0)
        });
        let scanned = dump_and_scan(s, &run_id, &mut finished);
        (planner.join(), scanned)
    });
    let (kind, parent, why, parent_state) = planned.map_err(|_| {
        RunError::Io(perr(root)(io::Error::other(
            "the thread reading the last run's manifests panicked",
        )))
    })?;
    tracing::info!(run = %run_id, "backup run: {why}");
    let (database, scan) = scanned?;
    let t_scan = t0.elapsed();
    tracing::debug!(entries = scan.items.len(), "tree scanned");
    // Each scanned entry's version in the parent run, and the parent's paths the tree no
    // longer has, in one pass over both lists (both in manifest order).
    let (prev, mut deleted) = pair_with_parent(&scan.items, &parent_state);
    let to_store_item = |k: usize, i: &ScanItem| -> bool {
        i.entry.kind == Kind::File && !unchanged(&i.entry, prev[k])
    };
    let archive_rel = manifest::archive_rel(&run_id, kind);
    let archive_path = root.join(&archive_rel);
    let mut errors = scan.errors;
    let mut notes = scan.notes;
    let mut entries = Vec::with_capacity(scan.items.len());
    let to_store: u64 = scan
        .items
        .iter()
        .enumerate()
        .filter(|(k, i)| to_store_item(*k, i))
        .map(|(_, i)| i.entry.size)
        .sum();
    // What the archive will roughly hold: a grown file's appended bytes, others whole.
    let to_archive: u64 = scan
        .items
        .iter()
        .enumerate()
        .filter(|(k, i)| to_store_item(*k, i))
        .map(|(k, i)| match prev[k] {
            Some(p) if tail_candidate(p, &i.entry) => i.entry.size - p.size,
            _ => i.entry.size,
        })
        .sum();
    let mut progress = Progress::new("backup", to_store);
    let out = AtomicFile::create(&archive_path)?;
    let temp = out.temp_path().to_path_buf();
    let arch_err = |source: io::Error| RunError::Archive {
        path: temp.clone(),
        source,
    };
    let hashing = HashingWriter::new(BufWriter::with_capacity(1 << 20, out));
    let mut enc =
        zstd::Encoder::new(hashing, archive_level(s.zstd_level, to_archive)).map_err(arch_err)?;
    enc.include_checksum(true).map_err(arch_err)?;
    // Sized for what it will hold: zstd's tables for an unknown size at the small-archive
    // level are tens of MiB, zeroed before the first byte.
    enc.set_parameter(zstd::stream::raw::CParameter::SrcSizeHint(
        u32::try_from(to_archive.max(1)).unwrap_or(u32::MAX),
    ))
    .map_err(arch_err)?;
    // Compression is most of a full run's CPU: use every core (same output size).
    let threads = std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1);
    if threads > 1 {
        enc.multithread(threads).map_err(arch_err)?;
    }
    let mut tar = tar::Builder::new(enc);
    let mut files_stored = 0u64;
    let mut tails_stored = 0u64;
    let mut bytes_stored = 0u64;
    let prefetch = Prefetch::start(
        scan.items
            .iter()
            .enumerate()
            .filter(|(k, i)| to_store_item(*k, i))
            .map(|(_, i)| (i.abs.clone(), i.entry.size))
            .collect(),
    );
    let mut nth_read = 0usize;
    // An incremental manifest keeps only the entries that differ from the parent run's.
    let keep_all = kind == RunKind::Full;
    let mut tree_entries = 0u64;
    for (item, p_prev) in scan.items.into_iter().zip(prev.iter().copied()) {
        let mut e = item.entry;
        match e.kind {
            Kind::File if unchanged(&e, p_prev) => {
                if let Some(p) = p_prev {
                    if !keep_all {
                        tree_entries += 1;
                        continue;
                    }
                    e.blake3.clone_from(&p.blake3);
                    e.stored_in.clone_from(&p.stored_in);
                    e.parts.clone_from(&p.parts);
                }
            }
            Kind::File => {
                prefetch.reached(nth_read);
                nth_read += 1;
                let grown = p_prev.filter(|p| tail_candidate(p, &e));
                let res = match grown {
                    Some(p) => match store_tail(&mut tar, &item.abs, &e, p) {
                        Ok(Some(stored)) => Ok((stored, Some(p))),
                        Ok(None) => store_file(&mut tar, &item.abs, &e).map(|s| (s, None)),
                        Err(err) => Err(err),
                    },
                    None => store_file(&mut tar, &item.abs, &e).map(|s| (s, None)),
                };
                match res {
                    Ok((stored, tail_of)) => {
                        progress.file_done(e.size);
                        if let Some(n) = stored.note {
                            notes.push(n);
                        }
                        e.blake3 = Some(stored.blake3);
                        e.stored_in = Some(run_id.clone());
                        files_stored += 1;
                        if let (Some(p), Some(piece)) = (tail_of, stored.piece) {
                            let mut parts = p.as_parts();
                            parts.push(piece.into_part(&run_id));
                            e.parts = parts;
                            tails_stored += 1;
                            bytes_stored += e.size - p.size;
                        } else {
                            bytes_stored += e.size;
                        }
                    }
                    Err(StoreError::Source(err)) => {
                        errors.push(format!("{}: {err}; not backed up", item.abs.display()));
                        // Not in this run's tree: gone, for a restore at this run.
                        deleted.extend(p_prev.map(|p| p.path.clone()));
                        continue;
                    }
                    Err(StoreError::Archive(err)) => return Err(arch_err(err)),
                }
            }
            // An incremental archive, like its manifest, holds only what changed: the
            // restore takes directories and links from the manifests.
            Kind::Dir | Kind::Symlink | Kind::Hardlink if p_prev == Some(&e) => {}
            Kind::Dir if e.path != "." => {
                let mut h = header(&e, tar::EntryType::Directory);
                tar.append_data(&mut h, format!("{}/", e.path), io::empty())
                    .map_err(arch_err)?;
            }
            Kind::Symlink | Kind::Hardlink => {
                let t = if e.kind == Kind::Symlink {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = header(&e, t);
                let target = e.target.clone().unwrap_or_default();
                tar.append_link(&mut h, &e.path, &target)
                    .map_err(arch_err)?;
            }
            Kind::Dir => {}
        }
        tree_entries += 1;
        if keep_all || p_prev != Some(&e) {
            entries.push(e);
        }
    }
    drop(prefetch);
    let enc = tar.into_inner().map_err(arch_err)?;
    let hashing = enc.finish().map_err(arch_err)?;
    let (buf, archive_hash, archive_size) = hashing.finish();
    let out = buf.into_inner().map_err(|e| arch_err(e.into_error()))?;
    out.commit()?;
    let t_archive = t0.elapsed();
    finished.0.push(archive_path.clone());
    progress.finish();

    deleted.sort();
    let m = Manifest {
        format: manifest::FORMAT,
        run: run_id,
        time: now,
        kind,
        parent,
        scratch_tree: s.scratch_tree.display().to_string(),
        exclude: s.exclude.clone(),
        archive: FileRecord {
            path: archive_rel,
            size: archive_size,
            blake3: archive_hash,
        },
        database,
        entries,
        deleted,
        notes,
        errors,
        files_stored,
        bytes_stored,
        tails_stored,
        tree_entries,
    };
    manifest::write(root, &m)?;
    finished.0.clear();
    tracing::debug!(
        plan_dump_and_scan = ?t_scan,
        archive = ?t_archive - t_scan,
        manifest = ?t0.elapsed() - t_archive,
        "run phases"
    );
    Ok(RunOutcome {
        manifest: m,
        removed_leftovers: removed,
    })
}

/// The database dump (when a database is configured; its file joins `finished`) and the
/// walk of the tree.
fn dump_and_scan(
    s: &Settings,
    run_id: &str,
    finished: &mut Finished,
) -> Result<(Option<FileRecord>, Scan), RunError> {
    let database = match &s.database {
        Some(src) => {
            let conn = db::Connection::open(src)?;
            let rel = manifest::dump_rel(src.name(), run_id);
            tracing::info!(dump = %rel, "pg_dump -Fc");
            let dump = db::dump(s.pg_bin_dir.as_deref(), &conn.url, &s.backup_root, &rel)?;
            finished.0.push(s.backup_root.join(&rel));
            Some(dump)
        }
        None => None,
    };
    Ok((database, scan_tree(s)?))
}

/// Each scanned entry's version in the parent run (`prev`, by position), and the paths of
/// the parent run that the tree no longer has. Both lists are in manifest order, so one
/// pass over them pairs them: no map of 70,000 paths to build and look up.
fn pair_with_parent<'a>(
    items: &[ScanItem],
    parent: &'a [Entry],
) -> (Vec<Option<&'a Entry>>, Vec<String>) {
    let mut prev = Vec::with_capacity(items.len());
    let mut deleted = Vec::new();
    let mut rest = parent.iter().peekable();
    for item in items {
        let mut found = None;
        while let Some(p) = rest.peek() {
            match manifest::component_order(&p.path, &item.entry.path) {
                std::cmp::Ordering::Less => {
                    deleted.push(p.path.clone());
                    rest.next();
                }
                std::cmp::Ordering::Equal => {
                    found = rest.next();
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        prev.push(found);
    }
    deleted.extend(rest.map(|p| p.path.clone()));
    (prev, deleted)
}

/// Files the prefetcher may be ahead of the archive writer, and the bytes of one file it
/// asks for (a larger file is read ahead by the kernel as it is streamed).
const PREFETCH_FILES: usize = 64;
const PREFETCH_BYTES: u64 = 2 << 20;

/// Reads ahead of the archive writer: asks the kernel for the next files' bytes
/// (`posix_fadvise` WILLNEED, which starts the reads and returns), so that a tree that is
/// not in the page cache — the usual case for a weekly run — is not read one file and one
/// disk round trip at a time.
struct Prefetch {
    reached: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prefetch {
    fn start(files: Vec<(PathBuf, u64)>) -> Prefetch {
        let reached = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, st) = (reached.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("kkoji-prefetch".to_owned())
            .spawn(move || {
                for (i, (path, size)) in files.iter().enumerate() {
                    while i >= r.load(Ordering::Relaxed) + PREFETCH_FILES {
                        if st.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::park_timeout(std::time::Duration::from_millis(20));
                    }
                    if st.load(Ordering::Relaxed) {
                        return;
                    }
                    // Only a hint: a file that cannot be opened is reported by the writer.
                    if let Ok(f) = File::open(path) {
                        let len = i64::try_from((*size).min(PREFETCH_BYTES)).unwrap_or(0);
                        let _ = nix::fcntl::posix_fadvise(
                            &f,
                            0,
                            len,
                            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
                        );
                    }
                }
            })
            .ok();
        Prefetch {
            reached,
            stop,
            thread,
        }
    }

    /// The writer has got to the `i`-th file of the list.
    fn reached(&self, i: usize) {
        self.reached.store(i, Ordering::Relaxed);
        if i.is_multiple_of(PREFETCH_FILES / 4)
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The dump and archive a run has renamed into place: removed again if the run fails before
/// its manifest is written, so a failed run leaves nothing that looks like a backup (a run
/// killed there leaves orphans, which the next run removes).
#[derive(Default)]
struct Finished(Vec<PathBuf>);

impl Drop for Finished {
    fn drop(&mut self) {
        for p in &self.0 {
            match fs::remove_file(p) {
                Ok(()) => tracing::warn!(
                    file = %p.display(),
                    "removed: the run failed before its manifest was written"
                ),
                Err(e) => tracing::warn!(
                    file = %p.display(),
                    "the run failed before its manifest was written; cannot remove this file of it: {e}"
                ),
            }
        }
    }
}

/// Archives and dumps of runs that have no manifest: a run killed between committing its
/// archive and its manifest. Known by name, so no manifest is read (a full run's is large,
/// and a root keeps several); a run whose manifest is there, readable or not, keeps its
/// files, and a file whose name is not one this tool writes is left alone. Only called
/// under the lock.
fn remove_orphans(root: &Path) -> Result<Vec<PathBuf>, PathError> {
    let ids: std::collections::HashSet<String> = manifest::run_ids(root)?.into_iter().collect();
    let mut removed = Vec::new();
    for (dir, run_of) in [
        (
            manifest::ephemeral_dir(root),
            manifest::run_of_archive_name as fn(&str) -> Option<&str>,
        ),
        (manifest::postgres_dir(root), manifest::run_of_dump_name),
    ] {
        for ent in fs::read_dir(&dir).map_err(perr(&dir))?.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(run) = run_of(&name)
                && !ids.contains(run)
            {
                let p = ent.path();
                fs::remove_file(&p).map_err(perr(&p))?;
                removed.push(p);
            }
        }
    }
    Ok(removed)
}

fn unchanged(e: &Entry, parent: Option<&Entry>) -> bool {
    let Some(p) = parent else {
        return false;
    };
    p.kind == Kind::File
        && p.stored_in.is_some()
        && p.blake3.is_some()
        && p.size == e.size
        && p.mtime == e.mtime
        && p.mtime_nsec == e.mtime_nsec
        && p.ctime == e.ctime
        && p.ctime_nsec == e.ctime_nsec
        && p.ino == e.ino
        && p.mode == e.mode
        && p.uid == e.uid
        && p.gid == e.gid
}

/// Archives of up to this many bytes (a typical incremental) are compressed at least at
/// [`SMALL_ARCHIVE_LEVEL`]: it costs a fraction of a second and chains live for weeks.
pub const SMALL_ARCHIVE: u64 = 16 << 20;
pub const SMALL_ARCHIVE_LEVEL: i32 = 12;

fn archive_level(configured: i32, bytes: u64) -> i32 {
    if bytes <= SMALL_ARCHIVE {
        configured.max(SMALL_ARCHIVE_LEVEL)
    } else {
        configured
    }
}

/// A file is kept in at most this many parts; one that grew in more runs since the last
/// full one is stored whole again (a restore opens it once per part).
pub const MAX_PARTS: usize = 32;
/// Below this many old bytes a tail record saves less than it costs (its PAX header, an
/// extra open at restore): the file is stored whole.
pub const MIN_TAIL_PREFIX: u64 = 1024;

/// Worth trying to store only the bytes appended since the parent run: the file is larger
/// than it was and the parent run knows its old content's hash. Whether the old bytes are
/// really still the file's first bytes is checked by [`store_tail`].
fn tail_candidate(p: &Entry, e: &Entry) -> bool {
    p.kind == Kind::File
        && p.size >= MIN_TAIL_PREFIX
        && e.size > p.size
        && p.blake3.is_some()
        && p.stored_in.is_some()
        && p.parts.len() < MAX_PARTS
}

fn header(e: &Entry, t: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(t);
    h.set_mode(e.mode & 0o7777);
    h.set_uid(u64::from(e.uid));
    h.set_gid(u64::from(e.gid));
    h.set_mtime(u64::try_from(e.mtime).unwrap_or(0));
    h.set_size(if t == tar::EntryType::Regular {
        e.size
    } else {
        0
    });
    h
}

struct Stored {
    /// BLAKE3 of the whole file.
    blake3: String,
    /// For a tail record: what it holds.
    piece: Option<StoredPiece>,
    note: Option<String>,
}

struct StoredPiece {
    size: u64,
    blake3: String,
}

impl StoredPiece {
    fn into_part(self, run: &str) -> crate::manifest::Part {
        crate::manifest::Part {
            run: run.to_owned(),
            size: self.size,
            blake3: self.blake3,
        }
    }
}

enum StoreError {
    /// The file could not be read: reported, the run goes on.
    Source(io::Error),
    /// The archive could not be written: the run stops.
    Archive(io::Error),
}

/// Streams one file into the archive. The tar header promised `size` bytes: a file that
/// grew is cut at `size`, one that shrank is padded with zeros (both noted); the recorded
/// hash is of exactly what the archive holds.
fn store_file<W: Write>(
    tar: &mut tar::Builder<W>,
    abs: &Path,
    e: &Entry,
) -> Result<Stored, StoreError> {
    let f = File::open(abs).map_err(StoreError::Source)?;
    let mut reader = ExactReader::new(f, e.size, None);
    let mut h = header(e, tar::EntryType::Regular);
    let res = tar.append_data(&mut h, &e.path, &mut reader);
    let (hash, _, note) = reader.finish(res, abs)?;
    Ok(Stored {
        blake3: hash,
        piece: None,
        note,
    })
}

/// A file that grew since the parent run `p`: if its first `p.size` bytes still hash to what
/// the chain holds, only the bytes after them go into the archive, as a tail record (a PAX
/// `KKOJI.tail.offset` header before a regular entry of the file's name). `None`: the old
/// bytes changed (or the file shrank meanwhile), store it whole.
fn store_tail<W: Write>(
    tar: &mut tar::Builder<W>,
    abs: &Path,
    e: &Entry,
    p: &Entry,
) -> Result<Option<Stored>, StoreError> {
    let mut f = File::open(abs).map_err(StoreError::Source)?;
    let mut whole = blake3::Hasher::new();
    let mut left = p.size;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        match f.read(&mut buf[..want]) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                whole.update(&buf[..n]);
                left -= u64::try_from(n).unwrap_or(0);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(StoreError::Source(err)),
        }
    }
    if Some(whole.finalize().to_hex().as_str()) != p.blake3.as_deref() {
        return Ok(None);
    }
    let tail = e.size - p.size;
    let mut reader = ExactReader::new(f, tail, Some(whole));
    let offset = p.size.to_string();
    tar.append_pax_extensions([(manifest::TAIL_OFFSET_KEY, offset.as_bytes())])
        .map_err(StoreError::Archive)?;
    let mut h = header(e, tar::EntryType::Regular);
    h.set_size(tail);
    let res = tar.append_data(&mut h, &e.path, &mut reader);
    let (piece_hash, whole, note) = reader.finish(res, abs)?;
    Ok(Some(Stored {
        blake3: whole.unwrap_or_default(),
        piece: Some(StoredPiece {
            size: tail,
            blake3: piece_hash,
        }),
        note,
    }))
}

struct ExactReader<R> {
    inner: std::io::Take<R>,
    remaining: u64,
    padded: u64,
    hasher: blake3::Hasher,
    /// Also fed every byte: the whole file's hash when this reads a tail.
    whole: Option<blake3::Hasher>,
    source_error: Option<io::Error>,
}

impl<R: Read> ExactReader<R> {
    fn new(inner: R, size: u64, whole: Option<blake3::Hasher>) -> Self {
        ExactReader {
            inner: inner.take(size),
            remaining: size,
            padded: 0,
            hasher: blake3::Hasher::new(),
            whole,
            source_error: None,
        }
    }

    /// The outcome of appending this reader's bytes: (hash of them, whole-file hash, note).
    fn finish(
        mut self,
        res: io::Result<()>,
        abs: &Path,
    ) -> Result<(String, Option<String>, Option<String>), StoreError> {
        if let Some(err) = self.source_error.take() {
            return Err(StoreError::Archive(io::Error::other(format!(
                "reading {}: {err} (archive left unfinished)",
                abs.display()
            ))));
        }
        res.map_err(StoreError::Archive)?;
        let note = (self.padded > 0).then(|| {
            format!(
                "{}: shrank while being read; {} missing bytes stored as zeros",
                abs.display(),
                self.padded
            )
        });
        Ok((
            self.hasher.finalize().to_hex().to_string(),
            self.whole.map(|w| w.finalize().to_hex().to_string()),
            note,
        ))
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(0) => {
                buf[..want].fill(0);
                self.padded += u64::try_from(want).unwrap_or(0);
                want
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let msg = e.to_string();
                self.source_error = Some(e);
                return Err(io::Error::other(msg));
            }
        };
        self.hasher.update(&buf[..n]);
        if let Some(w) = self.whole.as_mut() {
            w.update(&buf[..n]);
        }
        self.remaining -= u64::try_from(n).unwrap_or(0);
        Ok(n)
    }
}

/// Hashes and counts the compressed bytes on their way to the file.
pub struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: blake3::Hasher::new(),
            size: 0,
        }
    }
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            self.hasher.finalize().to_hex().to_string(),
            self.size,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += u64::try_from(n).unwrap_or(0);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
