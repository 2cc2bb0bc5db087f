//! What was last seen of external repos upstream: kkoji-repo-regen records it
//! (`repo.setExternalRepoData`), and a new record counts as a change of every tag that uses
//! the repo (see [`super::events`]).

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::storage::external_repos as store;
use koji_protocol::Value;

/// What was last recorded of the repo upstream (Nil: nothing yet).
pub async fn data(c: &mut Ctx, repo: i32) -> HResult<Value> {
    Ok(store::data(c.db().await?, repo).await?)
}

/// Record what was seen of the repo upstream (a dictionary).
pub async fn set_data(c: &mut Ctx, repo: i32, data: &Value) -> HResult<()> {
    if !matches!(data, Value::Struct(_)) {
        return Err(HubError::parameter(
            "external repo data must be a dictionary",
        ));
    }
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_data(db, repo, s).await?;
    store::insert_data(db, repo, data, s).await?;
    Ok(())
}
