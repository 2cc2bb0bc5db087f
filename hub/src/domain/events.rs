//! Events: every change is stamped with one, and versioned reads are "as of event N".

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::storage::events as store;
use chrono::{DateTime, Utc};

/// (id, time) of an event.
pub async fn get(c: &mut Ctx, id: i64) -> HResult<Option<(i64, DateTime<Utc>)>> {
    Ok(store::get(c.db().await?, id).await?)
}

/// The newest event, or the newest before a Unix time.
pub async fn last(c: &mut Ctx, before: Option<f64>) -> HResult<Option<(i64, DateTime<Utc>)>> {
    Ok(store::last(c.db().await?, before).await?)
}

/// An event a caller names must exist ("Invalid event" otherwise).
pub async fn require(c: &mut Ctx, id: i64) -> HResult<i64> {
    if store::exists(c.db().await?, id).await? {
        Ok(id)
    } else {
        Err(HubError::parameter(format!("Invalid event: {id}")))
    }
}
