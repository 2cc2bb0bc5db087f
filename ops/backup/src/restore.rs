//! Bringing back the scratch tree at one run (all of it or a subtree) and the database dump
//! of the same run. The manifest is the source of truth for the tree's shape and metadata;
//! archives are only read for file contents, each once, and every file's hash is checked as
//! it is written.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::creation::{self, Made, Wait};
use crate::fsutil::{PathError, perr};
use crate::manifest::{self, Entry, Kind, Manifest, ManifestError, Piece, RunKind};
use crate::prefetch::Prefetch;
use crate::progress::Progress;
use crate::writeback::{self, DropBehind, Writeback};

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
    let t0 = std::time::Instant::now();
    // The full run's archive starts decompressing while the manifests are read (prefetch.rs).
    let mut prefetch = (m.kind == RunKind::Full)
        .then(|| Prefetch::start(root.join(&m.archive.path)))
        .flatten();
    let chain = manifest::chain_with(root, m.clone(), |run| {
        if prefetch.is_none() {
            let p = root.join(manifest::archive_rel(run, RunKind::Full));
            // an incremental run's parent, known to be full by its archive's name
            if p.is_file() {
                prefetch = Prefetch::start(p);
            }
        }
    })?;
    let (state, archives) = manifest::merge(chain);
    let t_state = t0.elapsed();
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
    // Only hard links look paths up (most trees have none).
    let by_path: HashMap<&str, &Entry> = if entries.iter().any(|e| e.kind == Kind::Hardlink) {
        state.iter().map(|e| (e.path.as_str(), e)).collect()
    } else {
        HashMap::new()
    };
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
    let meta = MetaPlan::new(target, force);
    // 1. Directories (writable for now; final modes at the end), each made by the writer
    // thread that first needs it (creation.rs), the others at the end. `fresh[i]`: created
    // by this restore, so it has the mode and owner a new directory gets.
    let dirs: Vec<&Entry> = entries
        .iter()
        .copied()
        .filter(|e| e.kind == Kind::Dir)
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    let depths = by_depth(&dirs);
    let levels: Vec<Vec<Vec<usize>>> = depths
        .iter()
        .map(|level| shares(level, &dirs, workers))
        .collect();
    // the directories no file needed: each writer's share, made once it is through
    let to_make = creation::shares(&dirs, &depths, workers);
    // Where each entry is created, and so what must exist first.
    let waits = creation::parents(&entries);
    let dir_waits: Vec<Wait> = entries
        .iter()
        .zip(&waits)
        .filter(|(e, _)| e.kind == Kind::Dir)
        .map(|(_, w)| *w)
        .collect();
    let fresh: Vec<AtomicBool> = dirs.iter().map(|_| AtomicBool::new(false)).collect();
    let make_dir = |i: usize| -> Result<(), RestoreError> {
        let e = dirs[i];
        let p = dest(&e.path);
        make_room(&p, Kind::Dir, force)?;
        match fs::create_dir(&p) {
            Ok(()) => fresh[i].store(e.path != ".", Ordering::Relaxed),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(perr(&p)(err).into()),
        }
        Ok(())
    };
    // 2. File contents, grouped by the run whose archive holds them. A hard link whose
    // first name lies outside the selected subtree becomes a copy. A file kept in parts
    // (grown over several runs) is created empty first; each archive writes its part at
    // its offset, in whatever order, and its metadata is set once all parts are in.
    let mut wanted: Wanted<'_> = BTreeMap::new();
    let mut parted: Vec<(&Entry, Vec<PathBuf>)> = Vec::new();
    // the directory of each of them
    let mut part_dirs: Vec<Wait> = Vec::new();
    let mut total = 0u64;
    // Each file's content with the names it is written to: a file its own name; a hard link
    // whose first name lies outside the selected subtree a copy (several such links to one
    // file share its content). Links whose first name is restored are made in step 3.
    let mut content: Vec<(&Entry, Vec<PathBuf>, Wait)> = Vec::new();
    let mut outside_at: HashMap<&str, usize> = HashMap::new();
    for (e, wait) in entries.iter().zip(&waits) {
        match e.kind {
            Kind::File => content.push((e, vec![dest(&e.path)], *wait)),
            Kind::Hardlink => {
                let t = e.target.as_deref().unwrap_or_default();
                match by_path.get(t).copied() {
                    Some(f) if !selected(f, sub.as_deref()) => {
                        let i = *outside_at.entry(f.path.as_str()).or_insert_with(|| {
                            content.push((f, Vec::new(), *wait));
                            content.len() - 1
                        });
                        if let Some((_, dests, w)) = content.get_mut(i) {
                            dests.push(dest(&e.path));
                            // names in several directories
                            if dests.len() > 1 {
                                *w = Wait::All;
                            }
                        }
                    }
                    Some(_) => {}
                    None => {
                        return Err(RestoreError::Refused(format!(
                            "manifest of run {}: hard link {} points to {t}, which is not listed",
                            m.run, e.path
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    for (c, dests, wait) in content {
        total += c.size * u64::try_from(dests.len()).unwrap_or(0);
        let pieces = c.pieces();
        if pieces.is_empty() {
            return Err(RestoreError::Refused(format!(
                "manifest of run {}: {} names no archive",
                m.run, c.path
            )));
        }
        if let [piece] = pieces[..] {
            wanted.entry(piece.run.to_owned()).or_default().insert(
                c.path.as_str(),
                Want {
                    entry: c,
                    piece,
                    dests,
                    whole: true,
                    wait,
                },
            );
            continue;
        }
        let first = dests.first().cloned().unwrap_or_default();
        let k = parted.len();
        parted.push((c, dests));
        part_dirs.push(wait);
        for piece in pieces {
            wanted.entry(piece.run.to_owned()).or_default().insert(
                c.path.as_str(),
                Want {
                    entry: c,
                    piece,
                    dests: vec![first.clone()],
                    whole: false,
                    // parts go into a file made empty before the first of them
                    wait: Wait::Part(k),
                },
            );
        }
    }
    // A `--path` restore may need nothing from the archive being prefetched: its thread stops
    // now rather than decompressing up to `AHEAD` bytes for nobody.
    if prefetch.as_ref().is_some_and(|p| {
        !wanted
            .keys()
            .any(|run| archives.get(run).is_some_and(|a| root.join(a) == p.path()))
    }) {
        prefetch = None;
    }
    let t_plan = t0.elapsed();
    let mut progress = Progress::new("restore", total);
    // Files are read from the archive here and written by a few threads: creating many
    // small files is kernel time, which several threads overlap. Jobs go in batches so the
    // threads do not wake per file.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Job<'_>>>(workers * 4);
    let rx = std::sync::Mutex::new(rx);
    let failures: std::sync::Mutex<Vec<RestoreError>> = std::sync::Mutex::new(Vec::new());
    let fail = |err: RestoreError| {
        if let Ok(mut f) = failures.lock() {
            f.push(err);
        }
    };
    let make_dir_or_fail = |i: usize| {
        if let Err(err) = make_dir(i) {
            fail(err);
        }
    };
    let make_part = |k: usize| {
        if let Some((_, dests)) = parted.get(k) {
            let first = &dests[0];
            if let Err(err) = make_room(first, Kind::File, force)
                .and_then(|()| create(first, force, 0o600).map(drop))
            {
                fail(err);
            }
        }
    };
    let made = Made::new(dir_waits, part_dirs, &make_dir_or_fail, &make_part);
    // The target's filesystem, for the syncfs calls: one open file, so a writeback error seen
    // by any of them stays reported (syncfs reports an error once per open file).
    let fs_handle = File::open(target).map_err(perr(target))?;
    let writeback = Writeback::new(writeback::raise_open_files_limit());
    let mut held = Vec::new();
    let read_result = std::thread::scope(|scope| {
        let flushing = scope.spawn(|| writeback.run(&fs_handle));
        let mut writers = Vec::with_capacity(workers);
        for w in 0..workers {
            let (fail, rx, to_make, made) = (&fail, &rx, &to_make, &made);
            let (meta, writeback) = (&meta, &writeback);
            writers.push(scope.spawn(move || {
                loop {
                    let batch = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => break,
                    };
                    let Ok(batch) = batch else { break };
                    for job in batch {
                        made.ensure(job.wait);
                        if let Err(err) = write_job(&job, force, meta, writeback) {
                            fail(err);
                        }
                    }
                }
                // the directories no file needed
                for &i in &to_make[w] {
                    made.ensure(Wait::Dir(i));
                }
            }));
        }
        let r = read_contents(
            root,
            &archives,
            wanted,
            prefetch,
            &tx,
            &mut progress,
            &mut stats,
            force,
            &meta,
            &made,
            &writeback,
        );
        drop(tx);
        for w in writers {
            if w.join().is_err() {
                fail(RestoreError::Refused("a writer thread panicked".to_owned()));
            }
        }
        held = writeback.finish();
        if flushing.join().is_err() {
            fail(RestoreError::Refused(
                "the flusher thread panicked".to_owned(),
            ));
        }
        r
    });
    if let Some(err) = writeback.error() {
        return Err(perr(target)(err).into());
    }
    // A writer's error first: a directory that could not be made explains the rest.
    if let Some(err) = failures
        .into_inner()
        .ok()
        .and_then(|mut v| (!v.is_empty()).then(|| v.remove(0)))
    {
        return Err(err);
    }
    read_result?;
    stats.dirs = u64::try_from(dirs.len()).unwrap_or(0);
    for (e, dests) in &parted {
        let first = &dests[0];
        set_meta(first, e, false, meta.root_user)?;
        copy_to_others(dests, e, force, meta.root_user)?;
        stats.files += u64::try_from(dests.len()).unwrap_or(0);
        stats.bytes += e.size * u64::try_from(dests.len()).unwrap_or(0);
    }
    progress.finish();
    let t_contents = t0.elapsed();
    // 3. Symlinks and hard links.
    for e in &entries {
        let p = dest(&e.path);
        match e.kind {
            Kind::Symlink => {
                make_room(&p, Kind::Symlink, force)?;
                std::os::unix::fs::symlink(e.target.as_deref().unwrap_or_default(), &p)
                    .map_err(perr(&p))?;
                if meta.chown_needed(e) {
                    std::os::unix::fs::lchown(&p, Some(e.uid), Some(e.gid)).map_err(perr(&p))?;
                }
                set_times(&p, e)?;
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
    let t_links = t0.elapsed();
    // 4. Directory metadata, once nothing more is created in them (that would change their
    // mtime); deepest first, so a directory left without write or search permission does
    // not stand in the way of its subdirectories. A level's directories are independent.
    // A directory this restore created already has the owner and mode a new one gets.
    let dir_meta = |i: usize| -> Result<(), RestoreError> {
        let e = dirs[i];
        let fresh = fresh[i].load(Ordering::Relaxed);
        let p = dest(&e.path);
        let chown = meta.root_user && (!fresh || meta.chown_needed(e));
        if chown {
            std::os::unix::fs::lchown(&p, Some(e.uid), Some(e.gid)).map_err(perr(&p))?;
        }
        if chown || !fresh || Some(e.mode) != meta.new_dir_mode() {
            fs::set_permissions(&p, fs::Permissions::from_mode(e.mode)).map_err(perr(&p))?;
        }
        set_times(&p, e)
    };
    for level in levels.iter().rev() {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let dir_meta = &dir_meta;
                    scope.spawn(move || -> Result<(), RestoreError> {
                        for &i in &level[w] {
                            dir_meta(i)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(RestoreError::Refused(
                            "a directory metadata thread panicked".to_owned(),
                        ))
                    })
                })
                .collect::<Result<Vec<()>, RestoreError>>()
        })?;
    }
    let t_dirs = t0.elapsed();
    // 5. Nothing was fsynced file by file: a last syncfs of the target's filesystem makes the
    // whole tree durable before the restore reports success.
    nix::unistd::syncfs(&fs_handle).map_err(|e| perr(target)(io::Error::from(e)))?;
    writeback::let_go(held);
    tracing::debug!(
        state = ?t_state,
        plan = ?t_plan - t_state,
        contents = ?t_contents - t_plan,
        links = ?t_links - t_contents,
        dir_metadata = ?t_dirs - t_links,
        syncfs = ?t0.elapsed() - t_dirs,
        "restore phases"
    );
    Ok(stats)
}

/// Indices of `dirs` grouped by depth (`.` first), shallowest level first: a level can be
/// created in parallel once the one before it exists.
fn by_depth(dirs: &[&Entry]) -> Vec<Vec<usize>> {
    let mut levels: Vec<Vec<usize>> = Vec::new();
    for (i, e) in dirs.iter().enumerate() {
        let depth = if e.path == "." {
            0
        } else {
            e.path.split('/').count()
        };
        if levels.len() <= depth {
            levels.resize_with(depth + 1, Vec::new);
        }
        levels[depth].push(i);
    }
    levels.retain(|l| !l.is_empty());
    levels
}

/// One level's directories split among `workers`, siblings together: creating entries in
/// one parent takes that parent's lock, so writers sharing a parent only wait for each
/// other (spinning on the lock). Each parent's group goes to the least loaded worker.
fn shares(level: &[usize], dirs: &[&Entry], workers: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); workers.max(1)];
    let parent = |i: usize| dirs[i].path.rsplit_once('/').map_or("", |(p, _)| p);
    // Siblings are next to each other: the manifest is in pre-order with sorted names.
    let mut start = 0;
    while start < level.len() {
        let p = parent(level[start]);
        let end = level[start..]
            .iter()
            .position(|&i| parent(i) != p)
            .map_or(level.len(), |n| start + n);
        if let Some(least) = out.iter_mut().min_by_key(|v| v.len()) {
            least.extend_from_slice(&level[start..end]);
        }
        start = end;
    }
    out
}

/// Which metadata calls a restored file needs: a file or directory this restore creates
/// already has the restoring user's owner and the mode it was created with (less the
/// umask), so the calls that would set them again are skipped.
struct MetaPlan {
    root_user: bool,
    /// Nothing under the target pre-exists (no --force), and entries created there get the
    /// requested mode less the umask and the restoring user's uid and gid (probed).
    fresh: bool,
    euid: u32,
    egid: u32,
    umask: Option<u32>,
}

impl MetaPlan {
    fn new(target: &Path, force: bool) -> MetaPlan {
        let euid = nix::unistd::geteuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        let umask = process_umask();
        let fresh = !force && umask.is_some_and(|u| new_entries_plain(target, u, euid, egid));
        MetaPlan {
            root_user: is_root(),
            fresh,
            euid,
            egid,
            umask,
        }
    }

    fn chown_needed(&self, e: &Entry) -> bool {
        self.root_user && !(self.fresh && e.uid == self.euid && e.gid == self.egid)
    }

    /// The mode of a new file created with `e.mode`, when that is exactly `e.mode`.
    fn create_mode_exact(&self, e: &Entry) -> bool {
        self.fresh && e.mode & 0o7000 == 0 && self.umask.is_some_and(|u| e.mode & u == 0)
    }

    fn new_dir_mode(&self) -> Option<u32> {
        self.umask.filter(|_| self.fresh).map(|u| 0o777 & !u)
    }
}

/// Whether a directory and a file created in `target` get exactly the requested mode less
/// the umask and the restoring user's uid and gid — not so under a setgid directory, a
/// default ACL, or a filesystem that maps owners. Tried once with a probe.
fn new_entries_plain(target: &Path, umask: u32, euid: u32, egid: u32) -> bool {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let dir = target.join(format!(".kkoji-restore-probe.{}", std::process::id()));
    let file = dir.join("f");
    let plain = (|| -> io::Result<bool> {
        fs::DirBuilder::new().mode(0o777).create(&dir)?;
        drop(
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .open(&file)?,
        );
        let d = fs::symlink_metadata(&dir)?;
        let f = fs::symlink_metadata(&file)?;
        Ok(d.mode() & 0o7777 == 0o777 & !umask
            && f.mode() & 0o7777 == 0o666 & !umask
            && [d.uid(), f.uid()] == [euid; 2]
            && [d.gid(), f.gid()] == [egid; 2])
    })();
    let _ = fs::remove_file(&file);
    let _ = fs::remove_dir(&dir);
    plain.unwrap_or(false)
}

/// The process umask, read without changing it (`umask(2)` can only set it, and other
/// threads may be creating files).
fn process_umask() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
}

/// One piece of content for the writer threads.
struct Job<'a> {
    dests: Vec<PathBuf>,
    entry: &'a Entry,
    data: Vec<u8>,
    /// A whole file (created here, metadata set here) or a part of a file kept in parts
    /// (already created; written at `offset`).
    whole: bool,
    offset: u64,
    /// What must exist before it is written.
    wait: Wait,
}

/// What one archive must give for one path.
struct Want<'a> {
    entry: &'a Entry,
    piece: Piece<'a>,
    dests: Vec<PathBuf>,
    whole: bool,
    wait: Wait,
}

/// Files up to this size are read into memory and handed to a writer thread; larger ones
/// are streamed to disk by the reader.
const IN_MEMORY: u64 = 8 << 20;
/// A batch for the writer threads is sent once it holds this many files or bytes.
const BATCH_FILES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

type Wanted<'a> = BTreeMap<String, HashMap<&'a str, Want<'a>>>;

/// Reads every archive that holds wanted content once, checks each piece's BLAKE3.
#[allow(clippy::too_many_arguments)]
fn read_contents<'a>(
    root: &Path,
    archives: &BTreeMap<String, String>,
    wanted: Wanted<'a>,
    mut prefetch: Option<Prefetch>,
    tx: &std::sync::mpsc::SyncSender<Vec<Job<'a>>>,
    progress: &mut Progress,
    stats: &mut TreeStats,
    force: bool,
    meta: &MetaPlan,
    made: &Made,
    writeback: &Writeback,
) -> Result<(), RestoreError> {
    let mut batch: Vec<Job<'a>> = Vec::with_capacity(BATCH_FILES);
    let mut batch_bytes = 0usize;
    for (run, mut files) in wanted {
        // A run outside the chain (a damaged manifest naming another chain's run).
        let archive_rel = match archives.get(&run) {
            Some(a) => a.clone(),
            None => manifest::read(root, &run)?.archive.path,
        };
        let archive = root.join(&archive_rel);
        let aerr = |msg: String| RestoreError::Archive {
            archive: archive.clone(),
            msg,
        };
        let dec: Box<dyn Read> = match prefetch.take_if(|p| p.path() == archive) {
            Some(p) => Box::new(p),
            None => {
                let f = File::open(&archive).map_err(perr(&archive))?;
                Box::new(zstd::Decoder::new(DropBehind::new(f)).map_err(|e| aerr(e.to_string()))?)
            }
        };
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
            let Some(w) = files.remove(path.as_str()) else {
                continue;
            };
            let offset = tail_offset(&mut ent).map_err(|e| aerr(format!("{path}: {e}")))?;
            if offset != w.piece.tail.then_some(w.piece.offset) {
                return Err(aerr(format!(
                    "{path}: the archive holds {} where the manifest expects {}",
                    describe_piece(offset),
                    describe_piece(w.piece.tail.then_some(w.piece.offset))
                )));
            }
            let size = w.piece.size;
            let mut hasher = blake3::Hasher::new();
            let in_memory = size <= IN_MEMORY;
            let mut out = None;
            let mut data = Vec::new();
            let n_total;
            if in_memory {
                data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                (&mut ent)
                    .take(size.saturating_add(1))
                    .read_to_end(&mut data)
                    .map_err(|err| aerr(format!("reading {path}: {err}")))?;
                hasher.update(&data);
                n_total = u64::try_from(data.len()).unwrap_or(u64::MAX);
                progress.bytes(n_total);
            } else {
                // Written here, not by a writer: its directory must exist first.
                made.ensure(w.wait);
                let first = &w.dests[0];
                let mut o = if w.whole {
                    make_room(first, Kind::File, force)?;
                    create(first, force, w.entry.mode & 0o777)?
                } else {
                    let mut o = open_part(first)?;
                    o.seek(io::SeekFrom::Start(w.piece.offset))
                        .map_err(perr(first))?;
                    o
                };
                let mut n = 0u64;
                loop {
                    let k = match ent.read(&mut buf) {
                        Ok(0) => break,
                        Ok(k) => k,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => return Err(aerr(format!("reading {path}: {err}"))),
                    };
                    hasher.update(&buf[..k]);
                    o.write_all(&buf[..k]).map_err(perr(first))?;
                    let k = u64::try_from(k).unwrap_or(0);
                    n += k;
                    progress.bytes(k);
                }
                n_total = n;
                out = Some(o);
            }
            let got = hasher.finalize().to_hex().to_string();
            if got != w.piece.blake3 || n_total != size {
                return Err(aerr(format!(
                    "{path}: content does not match the manifest (blake3 {got}, {n_total} bytes)"
                )));
            }
            if w.whole {
                stats.files += u64::try_from(w.dests.len()).unwrap_or(0);
                stats.bytes += w.entry.size * u64::try_from(w.dests.len()).unwrap_or(0);
                progress.file_done(0);
            }
            match out {
                Some(o) => {
                    if w.whole {
                        set_handle_meta(&o, &w.dests[0], w.entry, meta)?;
                        copy_to_others(&w.dests, w.entry, force, meta.root_user)?;
                        writeback.hold(o);
                    }
                }
                None => {
                    batch_bytes += data.len();
                    batch.push(Job {
                        dests: w.dests,
                        entry: w.entry,
                        data,
                        whole: w.whole,
                        offset: w.piece.offset,
                        wait: w.wait,
                    });
                    if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
                        batch_bytes = 0;
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_FILES));
                        if tx.send(full).is_err() {
                            return Err(aerr("the writer threads stopped".to_owned()));
                        }
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
    if !batch.is_empty() && tx.send(batch).is_err() {
        return Err(RestoreError::Refused(
            "the writer threads stopped".to_owned(),
        ));
    }
    Ok(())
}

fn describe_piece(offset: Option<u64>) -> String {
    match offset {
        Some(o) => format!("a tail record at offset {o}"),
        None => "a whole file".to_owned(),
    }
}

/// The offset a tail record's bytes go to; `None` for an ordinary (whole-file) entry.
pub fn tail_offset<R: Read>(ent: &mut tar::Entry<'_, R>) -> io::Result<Option<u64>> {
    let Some(exts) = ent.pax_extensions()? else {
        return Ok(None);
    };
    for ext in exts {
        let ext = ext?;
        if ext.key_bytes() == manifest::TAIL_OFFSET_KEY.as_bytes() {
            let v = ext
                .value()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| io::Error::other("a tail record with a bad offset"))?;
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// A new file; without --force it must not exist yet. Created with `mode` (less the umask).
fn create(p: &Path, force: bool, mode: u32) -> Result<File, RestoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!force)
        .mode(mode)
        .open(p)
        .map_err(|e| perr(p)(e).into())
}

/// A file kept in parts, created before its parts are written.
fn open_part(p: &Path) -> Result<File, RestoreError> {
    fs::OpenOptions::new()
        .write(true)
        .open(p)
        .map_err(|e| perr(p)(e).into())
}

/// Writes one job: a whole file with its metadata (further names get copies), or one part
/// of a file kept in parts at its offset.
fn write_job(
    job: &Job<'_>,
    force: bool,
    meta: &MetaPlan,
    writeback: &Writeback,
) -> Result<(), RestoreError> {
    let first = &job.dests[0];
    if !job.whole {
        let out = open_part(first)?;
        return out
            .write_all_at(&job.data, job.offset)
            .map_err(|e| perr(first)(e).into());
    }
    let e = job.entry;
    make_room(first, Kind::File, force)?;
    let mut out = create(first, force, e.mode & 0o777)?;
    out.write_all(&job.data).map_err(perr(first))?;
    set_handle_meta(&out, first, e, meta)?;
    copy_to_others(&job.dests, e, force, meta.root_user)?;
    writeback.hold(out);
    Ok(())
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

/// Owner, mode and mtime through the open file (no more path lookups), skipping what the
/// file got when it was created.
fn set_handle_meta(f: &File, p: &Path, e: &Entry, meta: &MetaPlan) -> Result<(), RestoreError> {
    let chown = meta.chown_needed(e);
    if chown {
        std::os::unix::fs::fchown(f, Some(e.uid), Some(e.gid)).map_err(perr(p))?;
    }
    // A chown clears setuid/setgid bits, so the mode goes after it.
    if chown || !meta.create_mode_exact(e) {
        f.set_permissions(fs::Permissions::from_mode(e.mode))
            .map_err(perr(p))?;
    }
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
    if !symlink {
        fs::set_permissions(p, fs::Permissions::from_mode(e.mode)).map_err(perr(p))?;
    }
    set_times(p, e)
}

/// utimensat without following: no open of the path (and right for symlinks).
fn set_times(p: &Path, e: &Entry) -> Result<(), RestoreError> {
    let t = filetime::FileTime::from_unix_time(e.mtime, e.mtime_nsec);
    filetime::set_symlink_file_times(p, t, t).map_err(|e| perr(p)(e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(path: &str) -> Entry {
        Entry {
            path: path.to_owned(),
            kind: Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nsec: 0,
            size: 0,
            blake3: None,
            stored_in: None,
            target: None,
            parts: Vec::new(),
            ctime: 0,
            ctime_nsec: 0,
            ino: 0,
        }
    }

    #[test]
    fn siblings_go_to_one_writer() {
        let entries: Vec<Entry> = ["a/1", "a/2", "a/3", "b/1", "c/1", "c/2"]
            .into_iter()
            .map(dir)
            .collect();
        let dirs: Vec<&Entry> = entries.iter().collect();
        let level: Vec<usize> = (0..dirs.len()).collect();
        assert_eq!(shares(&level, &dirs, 2), [vec![0, 1, 2], vec![3, 4, 5]]);
        // Every directory once, whatever the number of writers.
        for w in 1..5 {
            let mut all: Vec<usize> = shares(&level, &dirs, w).concat();
            all.sort_unstable();
            assert_eq!(all, level);
        }
    }

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
