//! Files a task reads from the topdir (the SRPM it builds) and files it uploads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use koji_protocol::{Fault, Value};

use crate::config::Config;
use crate::probe::on_thread;
use crate::srpm::{self, SrpmInfo};
use crate::tasks::context::{TaskCtx, TaskError, build_error};
use crate::uploads::upload_file;

/// Reading an SRPM header from topdir (possibly NFS) must not hang a task forever.
const SRPM_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads an SRPM header from `<topdir>/work/<rel>` on a thread that may hang (NFS).
pub(crate) async fn read_work_srpm(
    cfg: &Config,
    rel: &str,
) -> Result<(PathBuf, SrpmInfo), TaskError> {
    if rel.split('/').any(|c| c == "..") || rel.starts_with('/') {
        return Err(build_error(format!("invalid SRPM path: {rel}")));
    }
    let path = cfg.topdir.join("work").join(rel);
    let p = path.clone();
    let info = on_thread("read srpm", SRPM_READ_TIMEOUT, move || {
        if !p.exists() {
            return Err(format!("SRPM file missing: {}", p.display()));
        }
        srpm::read_srpm(&p).map_err(|e| e.to_string())
    })
    .await
    .map_err(build_error)?;
    if !info.is_source {
        return Err(build_error(format!("{rel} is not a source package")));
    }
    Ok((path, info))
}

/// Uploads one file into the task's upload dir; the result is its path there, as the
/// hub's import calls take it.
pub(crate) async fn upload_one(
    ctx: &TaskCtx,
    upload_path: &str,
    p: &Path,
) -> Result<Value, TaskError> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            TaskError::Fault(Fault::generic(format!("bad file name {}", p.display())))
        })?;
    upload_file(ctx.hub.as_ref(), upload_path, p, &name)
        .await
        .map_err(|e| TaskError::Fault(Fault::generic(format!("upload failed: {e}"))))?;
    Ok(Value::String(format!("{upload_path}/{name}")))
}
