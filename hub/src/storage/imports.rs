//! Builds made by hand (`createEmptyBuild`, `koji import`): no task, COMPLETE at once.

use super::Conn;
use crate::storage::builds::state;
use sqlx::Result;

/// A new COMPLETE build without a task; returns its id.
pub async fn insert_complete(
    db: &mut Conn,
    package: i32,
    version: &str,
    release: &str,
    epoch: Option<i32>,
    owner: i32,
    event: i64,
) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO build (pkg_id, version, release, epoch, state, owner, create_event, completion_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp()) RETURNING id",
    )
    .bind(package)
    .bind(version)
    .bind(release)
    .bind(epoch)
    .bind(state::COMPLETE)
    .bind(owner)
    .bind(event)
    .fetch_one(db)
    .await
}

/// A FAILED or CANCELED build's NVR is taken again by an empty COMPLETE build (Koji's
/// recycling): its task and RPMs are forgotten.
pub async fn recycle_complete(
    db: &mut Conn,
    id: i32,
    owner: i32,
    epoch: Option<i32>,
    event: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE build SET state = $5, task_id = NULL, owner = $2, epoch = $3, create_event = $4, \
         start_time = clock_timestamp(), completion_time = clock_timestamp() WHERE id = $1",
    )
    .bind(id)
    .bind(owner)
    .bind(epoch)
    .bind(event)
    .bind(state::COMPLETE)
    .execute(&mut *db)
    .await?;
    sqlx::query("DELETE FROM rpminfo WHERE build_id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
