//! The floor under any restore of the bench's tree into the work directory's filesystem: the
//! same directories and files made from memory, with nothing else to do.
//!
//! A restore reads archives, decompresses, checks hashes and plans from manifests; what it
//! cannot avoid is the kernel's work of making the tree: a `mkdir` per directory, and per
//! file a create, its bytes written, its mtime set and, at the end, all of it written to disk.
//! Here that work alone is timed, done the fastest plain way: the contents already in
//! memory, one thread per core, the directories level by level and the files split among
//! the threads, a `syncfs` every 250 ms beside them (as kkoji-backup's restore does) and one
//! at the end. Duplicity's restore time over it is the ratio a restore that only made the
//! tree would reach on this filesystem and machine: when that is under 5, the disk and kernel,
//! not the tool, stand between a restore and the target. One run of it moves with the
//! filesystem's state as much as the tools' runs do.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::SystemTime;

use anyhow::{Context, Result};

/// Beyond this many bytes of content the floor is not measured: it holds the whole tree in
/// memory.
pub const MAX_BYTES: u64 = 4 << 30;

/// As kkoji-backup's restore does (writeback.rs).
const FLUSH_EVERY: std::time::Duration = kkoji_backup::writeback::FLUSH_EVERY;

struct Dir {
    rel: PathBuf,
    depth: usize,
    mode: u32,
    mtime: SystemTime,
}

struct FileIn {
    rel: PathBuf,
    data: Vec<u8>,
    mode: u32,
    mtime: SystemTime,
}

/// The tree's directories (pre-order) and its files other than RPMs, contents read in.
pub struct Loaded {
    dirs: Vec<Dir>,
    files: Vec<FileIn>,
}

/// Reads `tree` into memory (untimed).
pub fn load(tree: &Path) -> Result<Loaded> {
    let mut l = Loaded {
        dirs: Vec::new(),
        files: Vec::new(),
    };
    walk(tree, Path::new(""), 0, &mut l)?;
    Ok(l)
}

fn walk(root: &Path, rel: &Path, depth: usize, l: &mut Loaded) -> Result<()> {
    let here = root.join(rel);
    let mut entries = fs::read_dir(&here)
        .with_context(|| here.display().to_string())?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| here.display().to_string())?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let p = root.join(&r);
        let m = fs::symlink_metadata(&p).with_context(|| p.display().to_string())?;
        if m.is_dir() {
            l.dirs.push(Dir {
                rel: r.clone(),
                depth: depth + 1,
                mode: m.mode() & 0o7777,
                mtime: m.modified()?,
            });
            walk(root, &r, depth + 1, l)?;
        } else if m.is_file() && !e.file_name().to_string_lossy().ends_with(".rpm") {
            l.files.push(FileIn {
                data: fs::read(&p).with_context(|| p.display().to_string())?,
                rel: r,
                mode: m.mode() & 0o777,
                mtime: m.modified()?,
            });
        }
    }
    Ok(())
}

/// Makes the loaded tree under `into` (which must not exist) and syncs its filesystem.
pub fn make(l: &Loaded, into: &Path) -> Result<()> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    fs::create_dir(into).with_context(|| into.display().to_string())?;
    // what the umask leaves of a new directory's 0o777, and so what it takes from files
    let new_dir_mode = fs::metadata(into)?.mode() & 0o7777;
    let umask = !new_dir_mode & 0o777;
    let fs_handle = File::open(into)?;
    let deepest = l.dirs.iter().map(|d| d.depth).max().unwrap_or(0);
    let level =
        |depth: usize| -> Vec<&Dir> { l.dirs.iter().filter(|d| d.depth == depth).collect() };
    for depth in 1..=deepest {
        let these = level(depth);
        let per = these.len().div_ceil(threads).max(1);
        each_chunk(&these, per, |d| {
            let p = into.join(&d.rel);
            fs::create_dir(&p).with_context(|| p.display().to_string())
        })?;
    }
    std::thread::scope(|s| -> Result<()> {
        // the flusher stops as soon as the files are made (the sender dropped), not at its
        // next tick
        let (stop, stopped) = mpsc::channel::<()>();
        let fs_handle = &fs_handle;
        let flusher = s.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(FLUSH_EVERY) {
                let _ = nix::unistd::syncfs(fs_handle);
            }
        });
        let per = l.files.len().div_ceil(threads).max(1);
        let made = each_chunk(&l.files, per, |f| {
            let p = into.join(&f.rel);
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(f.mode)
                .open(&p)
                .with_context(|| p.display().to_string())?;
            out.write_all(&f.data)?;
            if f.mode & umask != 0 {
                out.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(f.mode))?;
            }
            out.set_modified(f.mtime)?;
            Ok(())
        });
        drop(stop);
        let _ = flusher.join();
        made
    })?;
    // Modes and mtimes of the directories, deepest first, by path (no open).
    for depth in (1..=deepest).rev() {
        let these = level(depth);
        let per = these.len().div_ceil(threads).max(1);
        each_chunk(&these, per, |d| {
            let p = into.join(&d.rel);
            if d.mode != new_dir_mode {
                fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(d.mode))?;
            }
            let t = nix::sys::time::TimeSpec::from(
                d.mtime
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default(),
            );
            nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                &p,
                &t,
                &t,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .with_context(|| p.display().to_string())
        })?;
    }
    nix::unistd::syncfs(&fs_handle).context("syncfs")?;
    Ok(())
}

/// `f` on every item, `per` items to a thread; the first error.
fn each_chunk<T: Sync>(items: &[T], per: usize, f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter().try_for_each(f))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a thread panicked")))
            })
            .collect::<Result<Vec<()>>>()
            .map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    #[test]
    fn makes_the_same_tree_without_rpms() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("a/b/empty")).expect("dirs");
        fs::write(src.join("a/b/log"), b"line\n").expect("write");
        fs::write(src.join("a/x.rpm"), b"rpm").expect("write");
        fs::set_permissions(src.join("a/b/log"), fs::Permissions::from_mode(0o640)).expect("chmod");
        fs::set_permissions(src.join("a/b"), fs::Permissions::from_mode(0o750)).expect("chmod");
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        File::options()
            .write(true)
            .open(src.join("a/b/log"))
            .and_then(|f| f.set_modified(then))
            .expect("mtime");
        let l = load(&src).expect("load");
        let into = tmp.path().join("made");
        make(&l, &into).expect("make");
        assert_eq!(fs::read(into.join("a/b/log")).expect("read"), b"line\n");
        let m = fs::metadata(into.join("a/b/log")).expect("stat");
        assert_eq!(m.modified().expect("mtime"), then);
        assert_eq!(m.mode() & 0o7777, 0o640);
        let b = fs::metadata(into.join("a/b")).expect("stat");
        assert_eq!(b.mode() & 0o7777, 0o750);
        assert!(into.join("a/b/empty").is_dir());
        assert!(!into.join("a/x.rpm").exists());
        assert_eq!(
            fs::metadata(into.join("a"))
                .expect("stat")
                .modified()
                .expect("mtime"),
            fs::metadata(src.join("a"))
                .expect("stat")
                .modified()
                .expect("mtime")
        );
        // The target must be new: nothing is made over an existing tree.
        assert!(make(&l, &into).is_err());
    }
}
