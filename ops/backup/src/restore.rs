//! Bringing back the scratch tree at one run (all of it or a subtree) and the database dump
//! of the same run. The manifest is the source of truth for the tree's shape and metadata;
//! archives are only read for file contents, each once, and every file's hash is checked as
//! it is written.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::fsutil::{PathError, perr};
use crate::manifest::{self, Entry, Kind, Manifest, ManifestError};
use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Refused(String),
    #[error("{}: {msg}", archive.display())]
    Archive { archive: PathBuf, msg: String },
}

/// `--at`: a run id, or a date/time (UTC) meaning the last run at or before it; none: the
/// newest run.
pub fn resolve_run(root: &Path, at: Option<&str>) -> Result<String, RestoreError> {
    let ids = manifest::run_ids(root)?;
    let Some(at) = at else {
        return ids.last().cloned().ok_or_else(|| {
            RestoreError::Refused(format!("no finished backup in {}", root.display()))
        });
    };
    if ids.iter().any(|i| i == at) {
        return Ok(at.to_owned());
    }
    let when = parse_when(at).ok_or_else(|| {
        RestoreError::Refused(format!(
            "--at {at:?}: neither a run id of {} nor a date (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS], UTC)",
            root.display()
        ))
    })?;
    ids.iter()
        .rev()
        .find(|id| manifest::parse_run_time(id).is_some_and(|t| t <= when))
        .cloned()
        .ok_or_else(|| RestoreError::Refused(format!("no backup at or before {when}")))
}

fn parse_when(s: &str) -> Option<DateTime<Utc>> {
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    // A day: the end of it.
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| t.and_utc())
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct TreeStats {
    pub dirs: u64,
    pub files: u64,
    pub bytes: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
}

/// Only the selected part of the tree: `path` itself and everything under it.
fn selected(e: &Entry, sub: Option<&str>) -> bool {
    match sub {
        None => true,
        Some(s) => e.path == s || e.path.strip_prefix(s).is_some_and(|r| r.starts_with('/')),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Restores the tree of run `m` into `target`.
pub fn restore_tree(
    root: &Path,
    m: &Manifest,
    target: &Path,
    subpath: Option<&str>,
    force: bool,
) -> Result<TreeStats, RestoreError> {
    let sub = subpath
        .map(|s| s.trim_matches('/').to_owned())
        .filter(|s| !s.is_empty() && s != ".");
    if let Some(s) = &sub
        && s.split('/').any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(RestoreError::Refused(format!(
            "--path {s:?}: not a plain relative path"
        )));
    }
    match fs::read_dir(target) {
        Ok(mut rd) => {
            if rd.next().is_some() && !force {
                return Err(RestoreError::Refused(format!(
                    "{} is not empty; restore into an empty directory or add --force to overwrite",
                    target.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(target).map_err(perr(target))?;
        }
        Err(e) => return Err(perr(target)(e).into()),
    }
    let state = manifest::state(root, m)?;
    let entries: Vec<&Entry> = state
        .iter()
        .filter(|e| selected(e, sub.as_deref()))
        .collect();
    if entries.is_empty() {
        return Err(RestoreError::Refused(format!(
            "run {} has no path {:?}",
            m.run,
            sub.unwrap_or_default()
        )));
    }
    let by_path: HashMap<&str, &Entry> = state.iter().map(|e| (e.path.as_str(), e)).collect();
    let dest = |p: &str| -> PathBuf {
        if p == "." {
            target.to_path_buf()
        } else {
            target.join(p)
        }
    };
    if let Some(s) = &sub
        && let Some(parent) = Path::new(s).parent()
    {
        let p = target.join(parent);
        fs::create_dir_all(&p).map_err(perr(&p))?;
    }
    let mut stats = TreeStats::default();
    // 1. Directories (writable for now; final modes at the end).
    for e in entries.iter().filter(|e| e.kind == Kind::Dir) {
        let p = dest(&e.path);
        make_room(&p, Kind::Dir, force)?;
        match fs::create_dir(&p) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(perr(&p)(err).into()),
        }
        stats.dirs += 1;
    }
    // 2. File contents, grouped by the run whose archive holds them. A hard link whose
    // first name lies outside the selected subtree becomes a copy.
    let mut wanted: BTreeMap<String, HashMap<String, (&Entry, Vec<PathBuf>)>> = BTreeMap::new();
    let mut total = 0u64;
    for e in &entries {
        let content_of = match e.kind {
            Kind::File => Some(*e),
            Kind::Hardlink => {
                let t = e.target.as_deref().unwrap_or_default();
                let first = by_path.get(t).copied();
                match first {
                    Some(f) if !selected(f, sub.as_deref()) => Some(f),
                    Some(_) => None,
                    None => {
                        return Err(RestoreError::Refused(format!(
                            "manifest of run {}: hard link {} points to {t}, which is not listed",
                            m.run, e.path
                        )));
                    }
                }
            }
            _ => None,
        };
        let Some(c) = content_of else { continue };
        let run = c.stored_in.clone().ok_or_else(|| {
            RestoreError::Refused(format!(
                "manifest of run {}: {} names no archive",
                m.run, c.path
            ))
        })?;
        let slot = wanted
            .entry(run)
            .or_default()
            .entry(c.path.clone())
            .or_insert_with(|| (c, Vec::new()));
        slot.1.push(dest(&e.path));
        total += c.size;
    }
    let mut progress = Progress::new("restore", total);
    let root_user = is_root();
    // Files are read from the archive here and written by a few threads: creating many
    // small files is kernel time, which several threads overlap.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(workers * 64);
    let rx = std::sync::Mutex::new(rx);
    let failures: std::sync::Mutex<Vec<RestoreError>> = std::sync::Mutex::new(Vec::new());
    let read_result = std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if let Err(err) =
                        write_file(&job.dests, &job.entry, &job.data, force, root_user)
                        && let Ok(mut f) = failures.lock()
                    {
                        f.push(err);
                    }
                }
            });
        }
        let r = read_contents(
            root,
            m,
            wanted,
            &tx,
            &mut progress,
            &mut stats,
            force,
            root_user,
        );
        drop(tx);
        r
    });
    read_result?;
    if let Some(err) = failures
        .into_inner()
        .ok()
        .and_then(|mut v| (!v.is_empty()).then(|| v.remove(0)))
    {
        return Err(err);
    }
    progress.finish();
    // 3. Symlinks and hard links.
    for e in &entries {
        let p = dest(&e.path);
        match e.kind {
            Kind::Symlink => {
                make_room(&p, Kind::Symlink, force)?;
                std::os::unix::fs::symlink(e.target.as_deref().unwrap_or_default(), &p)
                    .map_err(perr(&p))?;
                set_meta(&p, e, true, root_user)?;
                stats.symlinks += 1;
            }
            Kind::Hardlink => {
                let t = e.target.as_deref().unwrap_or_default();
                if by_path.get(t).is_some_and(|f| selected(f, sub.as_deref())) {
                    make_room(&p, Kind::Hardlink, force)?;
                    fs::hard_link(dest(t), &p).map_err(perr(&p))?;
                    stats.hardlinks += 1;
                }
            }
            _ => {}
        }
    }
    // 4. Directory metadata, deepest first (writing into a directory changes its mtime).
    for e in entries.iter().rev().filter(|e| e.kind == Kind::Dir) {
        set_meta(&dest(&e.path), e, false, root_user)?;
    }
    Ok(stats)
}

/// One file for the writer threads.
struct Job {
    dests: Vec<PathBuf>,
    entry: Entry,
    data: Vec<u8>,
}

/// Files up to this size are read into memory and handed to a writer thread; larger ones
/// are streamed to disk by the reader.
const IN_MEMORY: u64 = 8 << 20;

type Wanted<'a> = BTreeMap<String, HashMap<String, (&'a Entry, Vec<PathBuf>)>>;

/// Reads every archive that holds wanted content once, checks each file's BLAKE3.
#[allow(clippy::too_many_arguments)]
fn read_contents(
    root: &Path,
    m: &Manifest,
    wanted: Wanted<'_>,
    tx: &std::sync::mpsc::SyncSender<Job>,
    progress: &mut Progress,
    stats: &mut TreeStats,
    force: bool,
    root_user: bool,
) -> Result<(), RestoreError> {
    for (run, mut files) in wanted {
        let archive_rel = if run == m.run {
            m.archive.path.clone()
        } else {
            manifest::read(root, &run)?.archive.path
        };
        let archive = root.join(&archive_rel);
        let aerr = |msg: String| RestoreError::Archive {
            archive: archive.clone(),
            msg,
        };
        let f = File::open(&archive).map_err(perr(&archive))?;
        let dec = zstd::Decoder::new(f).map_err(|e| aerr(e.to_string()))?;
        let mut ar = tar::Archive::new(dec);
        let iter = ar.entries().map_err(|e| aerr(e.to_string()))?;
        let mut buf = vec![0u8; 1 << 16];
        for ent in iter {
            if files.is_empty() {
                break;
            }
            let mut ent = ent.map_err(|e| aerr(format!("unreadable: {e}")))?;
            if ent.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = ent
                .path()
                .map_err(|e| aerr(format!("bad entry name: {e}")))?
                .to_string_lossy()
                .into_owned();
            let Some((e, dests)) = files.remove(&path) else {
                continue;
            };
            let mut hasher = blake3::Hasher::new();
            let mut n_total = 0u64;
            let in_memory = e.size <= IN_MEMORY;
            let mut data = Vec::with_capacity(if in_memory {
                usize::try_from(e.size).unwrap_or(0)
            } else {
                0
            });
            let mut out = None;
            if !in_memory {
                make_room(&dests[0], Kind::File, force)?;
                out = Some(create(&dests[0], force)?);
            }
            loop {
                let n = match ent.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(aerr(format!("reading {path}: {err}"))),
                };
                hasher.update(&buf[..n]);
                match out.as_mut() {
                    Some(o) => o.write_all(&buf[..n]).map_err(perr(&dests[0]))?,
                    None => data.extend_from_slice(&buf[..n]),
                }
                let n = u64::try_from(n).unwrap_or(0);
                n_total += n;
                progress.bytes(n);
            }
            let got = hasher.finalize().to_hex().to_string();
            if Some(&got) != e.blake3.as_ref() || n_total != e.size {
                return Err(aerr(format!(
                    "{path}: content does not match the manifest (blake3 {got}, {n_total} bytes)"
                )));
            }
            stats.files += u64::try_from(dests.len()).unwrap_or(0);
            stats.bytes += e.size * u64::try_from(dests.len()).unwrap_or(0);
            progress.file_done(0);
            match out {
                Some(o) => {
                    set_handle_meta(&o, &dests[0], e, root_user)?;
                    drop(o);
                    copy_to_others(&dests, e, force, root_user)?;
                }
                None => {
                    let job = Job {
                        dests,
                        entry: e.clone(),
                        data,
                    };
                    if tx.send(job).is_err() {
                        return Err(aerr("the writer threads stopped".to_owned()));
                    }
                }
            }
        }
        if let Some(missing) = files.keys().next() {
            return Err(aerr(format!(
                "{missing} (and {} more) not found in the archive",
                files.len() - 1
            )));
        }
    }
    Ok(())
}

/// A new file; without --force it must not exist yet.
fn create(p: &Path, force: bool) -> Result<File, RestoreError> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!force)
        .open(p)
        .map_err(|e| perr(p)(e).into())
}

/// Writes one file's (already checked) bytes and its metadata; further names get copies.
fn write_file(
    dests: &[PathBuf],
    e: &Entry,
    data: &[u8],
    force: bool,
    root_user: bool,
) -> Result<(), RestoreError> {
    let first = &dests[0];
    make_room(first, Kind::File, force)?;
    let mut out = create(first, force)?;
    out.write_all(data).map_err(perr(first))?;
    set_handle_meta(&out, first, e, root_user)?;
    drop(out);
    copy_to_others(dests, e, force, root_user)
}

fn copy_to_others(
    dests: &[PathBuf],
    e: &Entry,
    force: bool,
    root_user: bool,
) -> Result<(), RestoreError> {
    for d in &dests[1..] {
        make_room(d, Kind::File, force)?;
        fs::copy(&dests[0], d).map_err(perr(d))?;
        set_meta(d, e, false, root_user)?;
    }
    Ok(())
}

/// Owner, mode and mtime through the open file (no more path lookups).
fn set_handle_meta(f: &File, p: &Path, e: &Entry, root_user: bool) -> Result<(), RestoreError> {
    if root_user {
        std::os::unix::fs::fchown(f, Some(e.uid), Some(e.gid)).map_err(perr(p))?;
    }
    f.set_permissions(fs::Permissions::from_mode(e.mode))
        .map_err(perr(p))?;
    let t = filetime::FileTime::from_unix_time(e.mtime, e.mtime_nsec);
    filetime::set_file_handle_times(f, Some(t), Some(t)).map_err(perr(p))?;
    Ok(())
}

/// With `--force`, removes whatever is in the way of a new entry (a directory stays a
/// directory and is merged into).
fn make_room(p: &Path, kind: Kind, force: bool) -> Result<(), RestoreError> {
    // Without --force the target was empty: nothing can be in the way, and creating files
    // with create_new still refuses to replace anything.
    if !force {
        return Ok(());
    }
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(perr(p)(e).into()),
    };
    if meta.is_dir() && kind == Kind::Dir {
        return Ok(());
    }
    if !force {
        return Err(RestoreError::Refused(format!(
            "{} exists; add --force to overwrite",
            p.display()
        )));
    }
    if meta.is_dir() {
        fs::remove_dir_all(p).map_err(perr(p))?;
    } else {
        fs::remove_file(p).map_err(perr(p))?;
    }
    Ok(())
}

fn set_meta(p: &Path, e: &Entry, symlink: bool, root_user: bool) -> Result<(), RestoreError> {
    if root_user {
        std::os::unix::fs::lchown(p, Some(e.uid), Some(e.gid)).map_err(perr(p))?;
    }
    let t = filetime::FileTime::from_unix_time(e.mtime, e.mtime_nsec);
    if !symlink {
        fs::set_permissions(p, fs::Permissions::from_mode(e.mode)).map_err(perr(p))?;
    }
    // utimensat without following: no open of the path (and right for symlinks).
    filetime::set_symlink_file_times(p, t, t).map_err(perr(p))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_dates() {
        assert_eq!(
            parse_when("2026-12-03").map(|t| t.to_rfc3339()),
            Some("2026-12-03T23:59:59+00:00".to_owned())
        );
        assert!(parse_when("2026-12-03T10:00").is_some());
        assert!(parse_when("yesterday").is_none());
    }
}
