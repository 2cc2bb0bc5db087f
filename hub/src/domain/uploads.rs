//! Files uploaded into `<topdir>/work/`: who may write where, chunks appended under a lock,
//! checksums. An upload that has begun carries a hidden marker until `checkUpload` (or,
//! for task output, the task's close) confirms it, and a file with a marker is never
//! accepted as an input.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::safefs;
use crate::topdir;
use std::ffi::OsStr;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub fn check_filename(name: &str) -> HResult<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(HubError::generic(format!(
            "Invalid upload filename: {name:?}"
        )));
    }
    Ok(())
}

/// An upload directory, `work/<rel>`, reached without following any symlink: every file
/// of the upload is opened from this descriptor, one name at a time.
pub struct UploadDir {
    fd: std::os::fd::OwnedFd,
    /// Relative to `work/`, for messages (never the server's absolute path).
    pub rel: PathBuf,
}

fn fs_error(what: &str, rel: &Path, e: nix::errno::Errno) -> HubError {
    tracing::warn!(dir = %rel.display(), error = %e, "upload: {what}");
    HubError::generic(format!("{what}: {}", rel.display()))
}

impl UploadDir {
    /// The existing directory, or None (nothing is created).
    pub fn find(c: &Ctx, rel: &Path) -> HResult<Option<UploadDir>> {
        let tree = safefs::Tree::open(&c.hub().config.topdir)?;
        match tree.dir(Some(&Path::new("work").join(rel))) {
            Ok(fd) => Ok(Some(UploadDir {
                fd,
                rel: rel.to_path_buf(),
            })),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(fs_error("Invalid upload directory", rel, e)),
        }
    }

    fn create(c: &Ctx, rel: &Path) -> HResult<UploadDir> {
        let tree = safefs::Tree::open(&c.hub().config.topdir)?;
        let fd = tree
            .mkdirs(&Path::new("work").join(rel))
            .map_err(|e| fs_error("Invalid upload directory", rel, e))?;
        Ok(UploadDir {
            fd,
            rel: rel.to_path_buf(),
        })
    }

    /// What `name` is in this directory (None when absent); a symlink is itself.
    pub fn stat(&self, name: &str) -> Option<nix::sys::stat::FileStat> {
        safefs::at::stat(&self.fd, OsStr::new(name)).ok()
    }

    /// `name` opened for reading; a regular file only.
    pub fn open(&self, name: &str) -> HResult<std::fs::File> {
        safefs::at::open_read(&self.fd, OsStr::new(name))
            .map_err(|e| fs_error("Not a regular file", &self.rel.join(name), e))
    }

    /// The upload of `name` is complete: its marker goes.
    pub fn confirm(&self, name: &str) {
        let marker = topdir::upload_marker(Path::new(name));
        if let Err(e) = safefs::at::remove(&self.fd, marker.as_os_str()) {
            tracing::warn!(dir = %self.rel.display(), %name, error = %e, "cannot drop upload marker");
        }
    }
}

/// Where an upload may go, and who may write there: task directories belong to the host
/// holding that task OPEN; any other directory to its first uploader (a `.user` file).
pub async fn authorize_dir(c: &mut Ctx, rel: &Path) -> HResult<UploadDir> {
    let comps: Vec<String> = rel
        .components()
        .map(|x| x.as_os_str().to_string_lossy().into_owned())
        .collect();
    let uid = c.assert_login()?.user_id;
    if comps.first().map(String::as_str) == Some("tasks") {
        // a number no task can have names no task (never, wrapped, some other task)
        let task_id: Option<i32> = comps.get(2).and_then(|s| s.parse().ok());
        let ok = match task_id {
            Some(t) if comps.get(1).and_then(|s| s.parse::<i32>().ok()) == Some(t % 10000) => {
                crate::storage::tasks::holder_user(c.db().await?, t).await? == Some(uid)
            }
            _ => false,
        };
        if !ok {
            return Err(HubError::not_allowed(format!(
                "Invalid upload directory, not owner: {} (only the host running the task may write there)",
                rel.display()
            )));
        }
        return UploadDir::create(c, rel);
    }
    let dir = UploadDir::create(c, rel)?;
    let me = uid.to_string();
    let owner = OsStr::new(".user");
    let claimed = match safefs::at::create_new(&dir.fd, owner, me.as_bytes()) {
        Ok(()) => return Ok(dir),
        Err(nix::errno::Errno::EEXIST) => safefs::at::read(&dir.fd, owner),
        Err(e) => Err(e),
    }
    .map_err(|e| fs_error("cannot claim upload directory", rel, e))?;
    if String::from_utf8_lossy(&claimed).trim() != me {
        return Err(HubError::generic(format!(
            "Invalid upload directory, not owner: {}",
            rel.display()
        )));
    }
    Ok(dir)
}

/// Append/overwrite one chunk of `name` under an exclusive non-blocking lock. Returns the
/// offset the chunk was written at.
pub fn write_chunk(
    dir: &UploadDir,
    name: &str,
    offset: i64,
    overwrite: bool,
    data: &[u8],
    max_size: u64,
) -> HResult<i64> {
    let shown = name;
    match dir.stat(name) {
        Some(st) if !safefs::at::is_file(&st) => {
            return Err(HubError::generic(format!(
                "destination not a file: {shown}"
            )));
        }
        None if offset > 0 => {
            // a new file starts at 0: nothing is created for a chunk that cannot be written
            return Err(HubError::generic(format!(
                "Invalid upload offset {offset}: the file has 0 bytes"
            )));
        }
        _ => {}
    }
    let file = safefs::at::open_rw(&dir.fd, OsStr::new(name))
        .map_err(|e| fs_error("cannot open upload file", &dir.rel.join(name), e))?;
    let mut file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| HubError::Lock(format!("upload file is locked ({e}): {shown}")))?;
    let len = i64::try_from(
        file.metadata()
            .map_err(|e| HubError::generic(e.to_string()))?
            .len(),
    )
    .unwrap_or(i64::MAX);
    let at = if offset == -1 {
        len
    } else if offset < 0 {
        return Err(HubError::parameter(format!(
            "Invalid upload offset: {offset}"
        )));
    } else if offset > len {
        // never a sparse file of any size: a chunk starts at or before the current end
        return Err(HubError::generic(format!(
            "Invalid upload offset {offset}: the file has {len} bytes"
        )));
    } else if overwrite {
        file.set_len(u64::try_from(offset).unwrap_or(0))
            .map_err(|e| HubError::generic(e.to_string()))?;
        offset
    } else if offset == 0 && len > 0 {
        return Err(HubError::generic(format!("upload path exists: {shown}")));
    } else if offset != len {
        return Err(HubError::generic(format!(
            "Invalid upload offset {offset}: the file has {len} bytes"
        )));
    } else {
        offset
    };
    let end = u64::try_from(at)
        .unwrap_or(u64::MAX)
        .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
    if end > max_size {
        return Err(HubError::generic(format!(
            "Upload too large: {shown} would exceed {max_size} bytes"
        )));
    }
    if at == 0 {
        let marker = topdir::upload_marker(Path::new(name));
        safefs::at::open_rw(&dir.fd, marker.as_os_str())
            .map_err(|e| fs_error("cannot mark upload", &dir.rel.join(name), e))?;
    }
    file.seek(SeekFrom::Start(u64::try_from(at).unwrap_or(0)))
        .and_then(|_| file.write_all(data))
        .and_then(|_| file.flush())
        .map_err(|e| HubError::generic(format!("write failed: {e}")))?;
    Ok(at)
}

pub fn adler32_hex(data: &[u8]) -> String {
    let mut a = adler2::Adler32::new();
    a.write_slice(data);
    format!("{:08x}", a.checksum())
}

/// The digest of an open file (read from the start).
pub fn digest_file(mut f: std::fs::File, kind: &str) -> HResult<String> {
    let mut buf = vec![0u8; 1 << 20];
    match kind {
        "adler32" => {
            let mut a = adler2::Adler32::new();
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| HubError::generic(e.to_string()))?;
                if n == 0 {
                    break;
                }
                a.write_slice(&buf[..n]);
            }
            Ok(format!("{:08x}", a.checksum()))
        }
        "sha256" => {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| HubError::generic(e.to_string()))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(hex::encode(h.finalize()))
        }
        other => Err(HubError::parameter(format!(
            "Unsupported file verification: {other}"
        ))),
    }
}

/// Drop the upload markers under a task's work dir (relative to the topdir): the host
/// declared its output complete.
pub fn clear_markers(topdir: &Path, task_dir: &Path) {
    let Ok(tree) = safefs::Tree::open(topdir) else {
        return;
    };
    let Ok(fd) = tree.dir(Some(task_dir)) else {
        return;
    };
    safefs::at::remove_below(fd, &|name| {
        let n = name.to_string_lossy();
        n.starts_with('.') && n.ends_with(".uploading")
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_matches_zlib() {
        // zlib.adler32(b"Wikipedia") == 0x11e60398
        assert_eq!(adler32_hex(b"Wikipedia"), "11e60398");
        assert_eq!(adler32_hex(b""), "00000001");
    }

    fn dir_at(top: &Path, rel: &str) -> UploadDir {
        let tree = safefs::Tree::open(top).unwrap();
        UploadDir {
            fd: tree.mkdirs(&Path::new("work").join(rel)).unwrap(),
            rel: PathBuf::from(rel),
        }
    }

    #[test]
    fn chunks_append_and_refuse_gaps() {
        let d = tempfile::tempdir().unwrap();
        let dir = dir_at(d.path(), "cli-build/u");
        let f = d.path().join("work/cli-build/u/x.src.rpm");
        let w = |off, ow, data: &[u8], max| write_chunk(&dir, "x.src.rpm", off, ow, data, max);
        assert_eq!(w(0, true, b"abc", 1 << 20).unwrap(), 0);
        assert!(topdir::upload_marker(&f).exists());
        assert_eq!(w(3, true, b"def", 1 << 20).unwrap(), 3);
        assert_eq!(std::fs::read(&f).unwrap(), b"abcdef");
        assert!(w(10, false, b"zz", 1 << 20).is_err());
        assert!(w(0, false, b"zz", 1 << 20).is_err());
        assert_eq!(w(-1, false, b"g", 1 << 20).unwrap(), 6);
        // overwrite truncates at the offset (a retried chunk)
        assert_eq!(w(3, true, b"XY", 1 << 20).unwrap(), 3);
        assert_eq!(std::fs::read(&f).unwrap(), b"abcXY");
        // never past the end (no sparse growth), never past the cap
        assert!(w(1 << 40, true, b"z", 1 << 20).is_err());
        assert!(w(5, false, b"123456", 10).is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"abcXY");
        dir.confirm("x.src.rpm");
        assert!(!topdir::upload_marker(&f).exists());
    }

    #[test]
    fn uploads_never_pass_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("work/cli-build")).unwrap();
        std::fs::create_dir_all(top.join("packages/foo")).unwrap();
        std::fs::write(top.join("packages/foo/a.rpm"), "released").unwrap();
        // a directory link (the kind repo toplinks are) and a file link inside an upload dir
        std::os::unix::fs::symlink(top.join("packages/foo"), top.join("work/cli-build/via"))
            .unwrap();
        let tree = safefs::Tree::open(&top).unwrap();
        assert!(tree.mkdirs(Path::new("work/cli-build/via")).is_err());
        let dir = dir_at(&top, "cli-build/u");
        std::os::unix::fs::symlink(
            top.join("packages/foo/a.rpm"),
            top.join("work/cli-build/u/a.rpm"),
        )
        .unwrap();
        assert!(write_chunk(&dir, "a.rpm", 0, true, b"evil", 1 << 20).is_err());
        assert!(dir.open("a.rpm").is_err());
        assert_eq!(
            std::fs::read(top.join("packages/foo/a.rpm")).unwrap(),
            b"released"
        );
        // markers go only below the task dir, through real directories
        std::fs::create_dir_all(top.join("work/tasks/1/1/sub")).unwrap();
        std::fs::write(top.join("work/tasks/1/1/sub/.x.uploading"), "").unwrap();
        std::fs::write(top.join("packages/foo/.a.rpm.uploading"), "").unwrap();
        std::os::unix::fs::symlink(top.join("packages/foo"), top.join("work/tasks/1/1/link"))
            .unwrap();
        clear_markers(&top, Path::new("work/tasks/1/1"));
        assert!(!top.join("work/tasks/1/1/sub/.x.uploading").exists());
        assert!(top.join("packages/foo/.a.rpm.uploading").exists());
    }

    #[test]
    fn bad_names() {
        assert!(check_filename("../x").is_err());
        assert!(check_filename(".hidden").is_err());
        assert!(check_filename("").is_err());
    }
}
