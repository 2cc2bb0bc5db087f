//! `checkUpload` and the legacy base64 `uploadFile`. Files land under
//! `<topdir>/work/<filepath>/<filename>` (see [`crate::domain::uploads`]).

use crate::ctx::Ctx;
use crate::domain::uploads::{UploadDir, authorize_dir, check_filename, digest_file, write_chunk};
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
    let Some(dir) = UploadDir::find(c, &rel)? else {
        return Ok(Value::Nil);
    };
    if dir.stat(&name).is_none() {
        return Ok(Value::Nil);
    }
    let file = dir.open(&name)?;
    if let Ok(own) = authorize_dir(c, &rel).await {
        own.confirm(&name);
    }
    let meta = file
        .metadata()
        .map_err(|e| HubError::generic(format!("checkUpload: cannot stat {name}: {e}")))?;
    let size = i64::try_from(meta.len()).unwrap_or(i64::MAX);
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut v = kstruct! { "size" => size, "mtime" => mtime };
    if let Some(kind) = a.opt_str(2)? {
        // hashing a large file takes seconds: never on the async workers
        let kind = kind.to_string();
        let d = tokio::task::spawn_blocking(move || digest_file(file, &kind))
            .await
            .map_err(|e| HubError::generic(format!("checkUpload worker failed: {e}")))??;
        if let Value::Struct(m) = &mut v {
            m.insert("sumlength".into(), Value::Int(size));
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
    if i64::try_from(data.len()).ok() != Some(size) {
        return Err(HubError::generic(format!(
            "Data size mismatch: {} != {size}",
            data.len()
        )));
    }
    let dir = std::sync::Arc::new(authorize_dir(c, &rel).await?);
    let (sum_kind, sum) = match a.val(3) {
        Value::Array(v) if v.len() == 2 => (
            v[0].as_str().unwrap_or("").to_string(),
            v[1].as_str().unwrap_or("").to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    let max_size = c.hub().config.limits.max_upload_size;
    let (d2, n2) = (dir.clone(), name.clone());
    tokio::task::spawn_blocking(move || {
        if offset == -1 {
            Ok(0)
        } else {
            write_chunk(&d2, &n2, offset, offset == 0, &data, max_size)
        }
    })
    .await
    .map_err(|e| HubError::generic(format!("upload worker failed: {e}")))??;
    if offset == -1 {
        if !sum_kind.is_empty() {
            let file = dir.open(&name)?;
            let k = sum_kind.clone();
            let got = tokio::task::spawn_blocking(move || digest_file(file, &k))
                .await
                .map_err(|e| HubError::generic(format!("upload worker failed: {e}")))??;
            if got != sum {
                return Err(HubError::generic(format!(
                    "File checksum mismatch: {got} != {sum}"
                )));
            }
        }
        dir.confirm(&name);
    }
    Ok(Value::Bool(true))
}
