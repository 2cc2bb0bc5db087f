//! Files uploaded into `<topdir>/work/`: who may write where, chunks appended under a lock,
//! checksums. An upload that has begun carries a hidden marker until `checkUpload` (or,
//! for task output, the task's close) confirms it, and a file with a marker is never
//! accepted as an input.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::topdir;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub fn check_filename(name: &str) -> HResult<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(HubError::generic(format!(
            "Invalid upload filename: {name:?}"
        )));
    }
    Ok(())
}

/// Where an upload may go, and who may write there: task directories belong to the host
/// holding that task OPEN; any other directory to its first uploader (a `.user` file).
pub async fn authorize_dir(c: &mut Ctx, rel: &Path) -> HResult<PathBuf> {
    let comps: Vec<String> = rel
        .components()
        .map(|x| x.as_os_str().to_string_lossy().into_owned())
        .collect();
    let dir = topdir::work(&c.hub().config.topdir).join(rel);
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
        return Ok(dir);
    }
    let marker = dir.join(".user");
    match std::fs::read_to_string(&marker) {
        Ok(owner) if owner.trim() == uid.to_string() => {}
        Ok(_) => {
            return Err(HubError::generic(format!(
                "Invalid upload directory, not owner: {}",
                rel.display()
            )));
        }
        Err(_) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| HubError::generic(format!("cannot create upload directory: {e}")))?;
            write_atomic(&marker, uid.to_string().as_bytes())
                .map_err(|e| HubError::generic(format!("cannot claim upload directory: {e}")))?;
        }
    }
    Ok(dir)
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Append/overwrite one chunk under an exclusive non-blocking lock. Returns the offset the
/// chunk was written at.
pub fn write_chunk(
    path: &Path,
    offset: i64,
    overwrite: bool,
    data: &[u8],
    max_size: u64,
) -> HResult<i64> {
    let shown = path.file_name().unwrap_or_default().to_string_lossy();
    if let Ok(m) = std::fs::symlink_metadata(path)
        && !m.file_type().is_file()
    {
        return Err(HubError::generic(format!(
            "destination not a file: {shown}"
        )));
    }
    if offset > 0 && std::fs::symlink_metadata(path).is_err() {
        // a new file starts at 0: nothing is created for a chunk that cannot be written
        return Err(HubError::generic(format!(
            "Invalid upload offset {offset}: the file has 0 bytes"
        )));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| HubError::generic(format!("cannot create directory: {e}")))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| HubError::generic(format!("cannot open upload file: {e}")))?;
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
        file.set_len(offset as u64)
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
        std::fs::write(topdir::upload_marker(path), b"")
            .map_err(|e| HubError::generic(format!("cannot mark upload: {e}")))?;
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

pub fn digest_file(path: &Path, kind: &str) -> HResult<String> {
    let mut f = std::fs::File::open(path).map_err(|e| HubError::generic(e.to_string()))?;
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

/// Drop the upload markers under a task's work dir: the host declared its output complete.
pub fn clear_markers(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else if name.starts_with('.') && name.ends_with(".uploading") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
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

    #[test]
    fn chunks_append_and_refuse_gaps() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.src.rpm");
        assert_eq!(write_chunk(&f, 0, true, b"abc", 1 << 20).unwrap(), 0);
        assert!(topdir::upload_marker(&f).exists());
        assert_eq!(write_chunk(&f, 3, true, b"def", 1 << 20).unwrap(), 3);
        assert_eq!(std::fs::read(&f).unwrap(), b"abcdef");
        assert!(write_chunk(&f, 10, false, b"zz", 1 << 20).is_err());
        assert!(write_chunk(&f, 0, false, b"zz", 1 << 20).is_err());
        assert_eq!(write_chunk(&f, -1, false, b"g", 1 << 20).unwrap(), 6);
        // overwrite truncates at the offset (a retried chunk)
        assert_eq!(write_chunk(&f, 3, true, b"XY", 1 << 20).unwrap(), 3);
        assert_eq!(std::fs::read(&f).unwrap(), b"abcXY");
        // never past the end (no sparse growth), never past the cap
        assert!(write_chunk(&f, 1 << 40, true, b"z", 1 << 20).is_err());
        assert!(write_chunk(&f, 5, false, b"123456", 10).is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"abcXY");
    }

    #[test]
    fn bad_names() {
        assert!(check_filename("../x").is_err());
        assert!(check_filename(".hidden").is_err());
        assert!(check_filename("").is_err());
    }
}
