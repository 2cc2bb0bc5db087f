//! `checkUpload` and the legacy base64 `uploadFile`. Files land under
//! `<topdir>/work/<filepath>/<filename>` (see [`crate::domain::uploads`]).

use crate::ctx::Ctx;
use crate::domain::uploads::{authorize_dir, check_filename, digest_file, write_chunk};
use crate::error::{HResult, HubError};
use crate::signature::Args;
use crate::topdir;
use base64::Engine;
use koji_protocol::{Value, kstruct};

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
