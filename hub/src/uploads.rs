//! Raw uploads as the stock client sends them: `application/octet-stream` chunks with the
//! parameters in the query string (`rawUpload`), answered in XML-RPC. The session and the
//! destination are checked before the body is read. What may be written where is in
//! [`crate::domain::uploads`]; `checkUpload` and `uploadFile` are in `methods/uploads.rs`.

use crate::ctx::Ctx;
use crate::domain::sessions::{self, SessionHeaders};
use crate::domain::uploads::{authorize_dir, check_filename, write_chunk};
use crate::error::{HResult, HubError};
use crate::hub::Hub;
use crate::tls::PeerInfo;
use crate::topdir;
use koji_protocol::{Value, encode_fault, encode_response, kstruct};
use std::sync::Arc;

pub use crate::domain::uploads::adler32_hex;

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
    let s = sessions::validate(&hub, &peer, &headers, "").await?;
    let p = parse_query(query.as_deref())?;
    check_filename(&p.filename)?;
    let rel = topdir::clean_relative(&p.filepath)
        .map_err(|_| HubError::generic(format!("Invalid upload directory: {}", p.filepath)))?;
    let mut ctx = Ctx::new(hub.clone(), peer.clone(), Some(s));
    ctx.method = "rawUpload";
    let dir = authorize_dir(&mut ctx, &rel).await;
    ctx.rollback().await;
    let dir = dir?;
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
    let name = p.filename.clone();
    let at = tokio::task::spawn_blocking(move || {
        let at = write_chunk(&dir, &name, offset, overwrite, &body, max_size)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_queries() {
        assert!(parse_query(Some("filename=a&offset=zz")).is_err());
        let p = parse_query(Some(
            "filename=a.rpm&filepath=cli-build%2Fx&fileverify=adler32&offset=0&overwrite=1",
        ))
        .unwrap();
        assert_eq!((p.filepath.as_str(), p.overwrite), ("cli-build/x", true));
    }
}
