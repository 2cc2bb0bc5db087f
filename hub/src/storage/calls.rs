//! A call's transaction housekeeping: savepoints (one per multicall entry), the commit
//! mode of check-ins, and notifications other hubs hear when the transaction commits.

use super::{Conn, Result};

pub async fn savepoint(db: &mut Conn) -> Result<()> {
    sqlx::query("SAVEPOINT kkoji_call").execute(db).await?;
    Ok(())
}

pub async fn release_savepoint(db: &mut Conn) -> Result<()> {
    sqlx::query("RELEASE SAVEPOINT kkoji_call")
        .execute(db)
        .await?;
    Ok(())
}

pub async fn rollback_to_savepoint(db: &mut Conn) -> Result<()> {
    sqlx::query("ROLLBACK TO SAVEPOINT kkoji_call")
        .execute(db)
        .await?;
    Ok(())
}

/// Other hubs drop their cached reads when this transaction commits.
pub async fn notify_changes(db: &mut Conn) -> Result<()> {
    sqlx::query("SELECT pg_notify('kkoji_changes', '')")
        .execute(db)
        .await?;
    Ok(())
}

/// Tasks changed: long-polling builders and the scheduler on every hub wake when this
/// transaction commits.
pub async fn notify_tasks(db: &mut Conn) -> Result<()> {
    sqlx::query("SELECT pg_notify('kkoji_tasks', '')")
        .execute(db)
        .await?;
    Ok(())
}

/// These hosts were given work (a comma-separated list of ids).
pub async fn notify_assigned(db: &mut Conn, hosts: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify('kkoji_assigned', $1)")
        .bind(hosts)
        .execute(db)
        .await?;
    Ok(())
}

/// A transaction-scoped advisory lock; false when another transaction holds it.
pub async fn try_lock(db: &mut Conn, key: i64) -> Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(db)
        .await
}

/// A transaction-scoped advisory lock, waiting for whoever holds it.
pub async fn lock(db: &mut Conn, key: i64) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}
