//! File uploads as the stock client sends them: raw `application/octet-stream` chunks
//! (`rawUpload`, parameters in the query string, answered in XML-RPC), `checkUpload`, and the
//! legacy base64 `uploadFile`. Files land under `<topdir>/work/<filepath>/<filename>`.
//!
//! Integrity: each chunk's adler32 is returned for the client to compare; an upload that
//! has begun carries a hidden marker until `checkUpload` (or, for task output, the task's
//! close) confirms it, and a file with a marker is never accepted as an input.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::hub::Hub;
use crate::session::{self, SessionHeaders};
use crate::signature::Args;
use crate::tls::PeerInfo;
use crate::topdir;
use base64::Engine;
use koji_protocol::{Value, encode_fault, encode_response, kstruct};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest raw upload chunk accepted (the stock client sends 1 MiB).
pub const MAX_CHUNK: usize = 64 << 20;

struct UploadParams {
    filename: String,
    filepath: String,
    fileverify: String,
    offset: i64,
    overwrite: bool,
}

fn parse_query(query: Option<&str>) -> HResult<UploadParams> {
    let mut p = UploadParams {
        filename: String::new(),
        filepath: String::new(),
        fileverify: String::new(),
        offset: 0,
        overwrite: false,
    };
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "filename" => p.filename = v.into_owned(),
            "filepath" => p.filepath = v.into_owned(),
            "fileverify" => p.fileverify = v.into_owned(),
            "offset" => {
                p.offset = v
                    .trim()
                    .parse()
                    .map_err(|_| HubError::parameter(format!("Invalid upload offset: {v}")))?
            }
            "overwrite" => p.overwrite = v != "0" && !v.is_empty(),
            "volume" if v != "DEFAULT" => {
                return Err(HubError::generic(format!("No such volume: {v}")));
            }
            _ => {}
        }
    }
    Ok(p)
}

fn check_filename(name: &str) -> HResult<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(HubError::generic(format!(
            "Invalid upload filename: {name:?}"
        )));
    }
    Ok(())
}

/// Where an upload may go, and who may write there: task directories belong to the host
/// holding that task OPEN; any other directory to its first uploader (a `.user` file).
async fn authorize_dir(c: &mut Ctx, rel: &Path) -> HResult<PathBuf> {
    let comps: Vec<String> = rel
        .components()
        .map(|x| x.as_os_str().to_string_lossy().into_owned())
        .collect();
    let dir = topdir::work(&c.hub().config.topdir).join(rel);
    let uid = c.assert_login()?.user_id;
    if comps.first().map(String::as_str) == Some("tasks") {
        let task_id: Option<i64> = comps.get(2).and_then(|s| s.parse().ok());
        let ok = match task_id {
            Some(t) if comps.get(1).and_then(|s| s.parse::<i64>().ok()) == Some(t % 10000) => {
                let holder: Option<i32> = sqlx::query_scalar(
                    "SELECT h.user_id FROM task t JOIN host h ON h.id = t.host_id WHERE t.id = $1 AND t.state = 1",
                )
                .bind(t as i32)
                .fetch_optional(c.db().await?)
                .await?;
                holder.map(i64::from) == Some(uid)
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
fn write_chunk(
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

/// A raw octet-stream upload: session from the headers, parameters from the query.
/// `Err` carries the fault text of a call whose body was not read: the connection must
/// close after it.
pub async fn handle_raw_upload(
    hub: Arc<Hub>,
    peer: Arc<PeerInfo>,
    headers: SessionHeaders,
    query: Option<String>,
    body: axum::body::Body,
) -> Result<String, String> {
    match raw_upload(hub, peer, headers, query, body).await {
        Ok(v) => Ok(encode_response(&v)),
        Err(e) => Err(encode_fault(&e.into_fault_for("rawUpload"))),
    }
}

async fn raw_upload(
    hub: Arc<Hub>,
    peer: Arc<PeerInfo>,
    headers: SessionHeaders,
    query: Option<String>,
    body: axum::body::Body,
) -> HResult<Value> {
    if !headers.present() {
        return Err(HubError::not_allowed(
            "you must be logged-in to upload a file",
        ));
    }
    // uploads are checked with an empty method name: never retry-whitelisted
    let s = session::validate(&hub, &peer, &headers, "").await?;
    let p = parse_query(query.as_deref())?;
    check_filename(&p.filename)?;
    let rel = topdir::clean_relative(&p.filepath)
        .map_err(|_| HubError::generic(format!("Invalid upload directory: {}", p.filepath)))?;
    let mut ctx = Ctx::new(hub.clone(), peer.clone(), Some(s));
    ctx.method = "rawUpload";
    let dir = authorize_dir(&mut ctx, &rel).await;
    ctx.rollback().await;
    let path = dir?.join(&p.filename);
    let limits = &hub.config.limits;
    let (max_chunk, max_size) = (limits.max_upload_chunk, limits.max_upload_size);
    let timeout = std::time::Duration::from_secs_f64(limits.body_timeout_secs);
    let body = crate::body::read(body, max_chunk, timeout)
        .await
        .map_err(|e| {
            tracing::info!(peer = %peer.addr, error = ?e, "refused upload body");
            e.error("upload")
        })?;
    let len = body.len();
    let (overwrite, offset, verify) = (p.overwrite, p.offset, p.fileverify.clone());
    let at = tokio::task::spawn_blocking(move || {
        let at = write_chunk(&path, offset, overwrite, &body, max_size)?;
        let digest = match verify.as_str() {
            "" => None,
            "adler32" => Some(adler32_hex(&body)),
            "sha256" => Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))),
            other => {
                return Err(HubError::parameter(format!(
                    "Unsupported file verification: {other}"
                )));
            }
        };
        Ok((at, digest))
    })
    .await
    .map_err(|e| HubError::generic(format!("upload worker failed: {e}")))??;
    let mut v = kstruct! { "size" => len, "fileverify" => p.fileverify.as_str(), "offset" => at.0 };
    if let (Some(d), Value::Struct(m)) = (at.1, &mut v) {
        m.insert("hexdigest".into(), Value::String(d));
    }
    Ok(v)
}

fn digest_file(path: &Path, kind: &str) -> HResult<String> {
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

/// checkUpload(path, name, verify=None, tail=None, volume=None): stat (and digest) of an
/// uploaded file, or None. A logged-in owner's call also confirms the upload complete.
pub async fn check_upload(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let rel = topdir::clean_relative(a.str(0)?)?;
    let name = a.str(1)?.to_string();
    check_filename(&name)?;
    let dir = topdir::work(&c.hub().config.topdir).join(&rel);
    let path = dir.join(&name);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(Value::Nil);
    };
    if !meta.file_type().is_file() {
        return Err(HubError::generic(format!(
            "Not a regular file: {}",
            rel.join(&name).display()
        )));
    }
    if authorize_dir(c, &rel).await.is_ok() {
        let _ = std::fs::remove_file(topdir::upload_marker(&path));
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut v = kstruct! { "size" => meta.len() as i64, "mtime" => mtime };
    if let Some(kind) = a.opt_str(2)? {
        // hashing a large file takes seconds: never on the async workers
        let kind = kind.to_string();
        let d = tokio::task::spawn_blocking(move || digest_file(&path, &kind))
            .await
            .map_err(|e| HubError::generic(format!("checkUpload worker failed: {e}")))??;
        if let Value::Struct(m) = &mut v {
            m.insert("sumlength".into(), Value::Int(meta.len() as i64));
            m.insert("hexdigest".into(), Value::String(d));
        }
    }
    Ok(v)
}

/// uploadFile(path, name, size, md5sum, offset, data, volume=None, checksum=None): the
/// legacy base64 upload. The last chunk comes with offset -1 and the whole file's digest.
pub async fn upload_file(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let rel = topdir::clean_relative(a.str(0)?)
        .map_err(|_| HubError::generic("Invalid upload directory"))?;
    let name = a.str(1)?.to_string();
    check_filename(&name)?;
    let size = a.i64(2)?;
    let offset = a.i64(4)?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(a.str(5)?.as_bytes())
        .map_err(|e| HubError::parameter(format!("data is not base64: {e}")))?;
    if data.len() as i64 != size {
        return Err(HubError::generic(format!(
            "Data size mismatch: {} != {size}",
            data.len()
        )));
    }
    let dir = authorize_dir(c, &rel).await?;
    let path = dir.join(&name);
    let (sum_kind, sum) = match a.val(3) {
        Value::Array(v) if v.len() == 2 => (
            v[0].as_str().unwrap_or("").to_string(),
            v[1].as_str().unwrap_or("").to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    let p2 = path.clone();
    let max_size = c.hub().config.limits.max_upload_size;
    tokio::task::spawn_blocking(move || {
        if offset == -1 {
            Ok(0)
        } else {
            write_chunk(&p2, offset, offset == 0, &data, max_size)
        }
    })
    .await
    .map_err(|e| HubError::generic(format!("upload worker failed: {e}")))??;
    if offset == -1 {
        if !sum_kind.is_empty() {
            let (p3, k) = (path.clone(), sum_kind.clone());
            let got = tokio::task::spawn_blocking(move || digest_file(&p3, &k))
                .await
                .map_err(|e| HubError::generic(format!("upload worker failed: {e}")))??;
            if got != sum {
                return Err(HubError::generic(format!(
                    "File checksum mismatch: {got} != {sum}"
                )));
            }
        }
        let _ = std::fs::remove_file(topdir::upload_marker(&path));
    }
    Ok(Value::Bool(true))
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
    fn bad_names_and_queries() {
        assert!(check_filename("../x").is_err());
        assert!(check_filename(".hidden").is_err());
        assert!(check_filename("").is_err());
        assert!(parse_query(Some("filename=a&offset=zz")).is_err());
        let p = parse_query(Some(
            "filename=a.rpm&filepath=cli-build%2Fx&fileverify=adler32&offset=0&overwrite=1",
        ))
        .unwrap();
        assert_eq!((p.filepath.as_str(), p.overwrite), ("cli-build/x", true));
    }
}
