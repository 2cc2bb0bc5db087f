//! `koji dist-repo`: distRepo (the request, checked and refused here before any file or
//! row exists) and host.distRepoMove (a builder's arch moved into place).

use crate::ctx::Ctx;
use crate::domain::repos::dist;
use crate::domain::tasks::{self, NewTask};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::methods::host_api::verify;
use crate::registry::Registry;
use crate::signature::Args;
use koji_protocol::{Struct, Value};

/// Koji's priority of a distRepo task.
const DIST_REPO_PRIORITY: i64 = 15;

/// The dist repo methods, as one block of the method table.
pub fn register(r: &mut Registry) {
    r.add(
        "distRepo",
        "tag, keys, **task_opts",
        "Create a dist-repo task. returns task id",
        handler!(dist_repo),
    );
    r.add(
        "host.distRepoMove",
        "repo_id, uploadpath, arch",
        "Move one arch of a dist repo into place.",
        handler!(dist_repo_move),
    );
    r.add(
        "host.writeSignedRPM",
        "an_rpm, sigkey, force=False",
        "Write a signed copy of an rpm (a dist repo's --write-signed-rpms).",
        handler!(host_write_signed_rpm),
    );
}

/// distRepo(tag, keys, **task_opts): `dist-repo` or `admin` permission (kkoji has no
/// policy language for Koji's `dist_repo` policy); the repo row and directories, then a
/// distRepo task in the createrepo channel. What kkoji does not do (multilib, delta RPMs,
/// zchunk, split debuginfo, other volumes) is refused before anything is written.
async fn dist_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    let me = c.assert_login()?.clone();
    if !c.has_perm("dist-repo").await? && !c.is_admin().await? {
        return Err(HubError::not_allowed(format!(
            "policy violation (dist_repo): dist-repo permission required (logged in as {})",
            me.user_name
        )));
    }
    let tag = a.ident(0)?;
    let keys: Vec<String> = match a.val(1) {
        Value::Array(list) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| HubError::parameter("keys must be a list of strings"))
            })
            .collect::<HResult<_>>()?,
        _ => return Err(HubError::parameter("keys must be a list of strings")),
    };
    let keys = dist::check_keys(&keys)?;
    let mut opts: Struct = a.extra.clone();
    opts.shift_remove("__starstar");
    dist::refuse_unsupported(&opts)?;
    let init = dist::init(c, &tag, &keys, &opts).await?;
    opts.insert("event".into(), Value::Int(init.event));
    let channel_id = tasks::channel_id(c, kkoji_task_kinds::CREATEREPO_CHANNEL).await?;
    let id = tasks::create(
        c,
        NewTask {
            method: "distRepo",
            params: vec![
                Value::String(init.tag_name.clone()),
                Value::Int(i64::from(init.repo_id)),
                Value::Array(keys.iter().map(|k| Value::from(k.as_str())).collect()),
                Value::Struct(opts),
            ],
            owner: me.user_id,
            arch: "noarch",
            channel_id,
            priority: DIST_REPO_PRIORITY,
            parent: None,
            label: None,
        },
    )
    .await?;
    dist::set_task(c, init.repo_id, id).await?;
    tracing::info!(task = id, repo = init.repo_id, tag = %init.tag_name, "distRepo task created");
    Ok(Value::Int(i64::from(id)))
}

/// host.distRepoMove(repo_id, uploadpath, arch): the upload dir must be the work dir of
/// a task this host holds (or of a subtask of one).
async fn dist_repo_move(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.id(0)?;
    let upath = a.str(1)?.to_string();
    let arch = a.str(2)?.to_string();
    let upload = crate::methods::repos::assert_upload_dir_held(c, host, &upath).await?;
    dist::move_arch(c, id, &upload, &arch).await?;
    Ok(Value::Nil)
}

/// host.writeSignedRPM(an_rpm, sigkey, force=False): what `writeSignedRPM` does, for the
/// builder running a distRepo with `--write-signed-rpms` (the request's owner had
/// `dist-repo`; the signature header itself was imported by someone with `sign`).
async fn host_write_signed_rpm(c: &mut Ctx, a: Args) -> HResult<Value> {
    verify(c).await?;
    let id = a.id(0)?;
    let key = a.str(1)?.to_string();
    crate::domain::signatures::write_signed(
        c,
        &crate::domain::builds::RpmRef::Id(id),
        &id.to_string(),
        &key,
        a.truthy(2),
    )
    .await?;
    Ok(Value::Nil)
}
