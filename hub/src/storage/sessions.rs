//! Sessions: the row a login creates, renewal, exclusivity, closing, and the callnum a
//! committed write records.

use super::{Conn, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A session row with its user's name and status.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user_id: i32,
    pub user_name: String,
    pub user_status: i32,
    pub usertype: i32,
    pub key: String,
    pub master: Option<i64>,
    pub hostip: String,
    pub authtype: i32,
    /// The last callnum committed for this session.
    pub callnum: Option<i64>,
    /// The callnum of the current request.
    pub callnum_received: Option<i64>,
    pub start_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub renew_time: Option<DateTime<Utc>>,
    pub expired: bool,
    pub exclusive: bool,
}

const SESSION_COLUMNS: &str = "s.id, s.user_id, s.key, s.master, s.hostip, s.authtype, s.callnum, \
    s.start_time, s.update_time, s.renew_time, s.expired, COALESCE(s.exclusive, FALSE) AS exclusive, \
    u.name AS user_name, u.status AS user_status, u.usertype";

fn session(r: &sqlx::postgres::PgRow) -> Result<Session> {
    Ok(Session {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        user_status: r.try_get("user_status")?,
        usertype: r.try_get("usertype")?,
        key: r.try_get("key")?,
        master: r.try_get("master")?,
        hostip: r.try_get("hostip")?,
        authtype: r.try_get("authtype")?,
        callnum: r.try_get("callnum")?,
        callnum_received: None,
        start_time: r.try_get("start_time")?,
        update_time: r.try_get("update_time")?,
        renew_time: r.try_get("renew_time")?,
        expired: r.try_get("expired")?,
        exclusive: r.try_get("exclusive")?,
    })
}

/// The open session with this id and key, and the user's open exclusive session if any.
pub async fn open_by_key(
    db: &mut Conn,
    id: i64,
    key: &str,
) -> Result<Option<(Session, Option<i64>)>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, \
           (SELECT x.id FROM sessions x WHERE x.user_id = s.user_id AND x.exclusive AND NOT x.closed LIMIT 1) AS excl_id \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.key = $2 AND NOT s.closed"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(key)
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) => Ok(Some((session(&r)?, r.try_get("excl_id")?))),
        None => Ok(None),
    }
}

/// The open sessions of a user, oldest first.
pub async fn open_of_user(db: &mut Conn, user: i32) -> Result<Vec<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.user_id = $1 AND NOT s.closed ORDER BY s.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .fetch_all(db)
        .await?;
    rows.iter().map(session).collect()
}

/// Mark a session and its subsessions expired.
pub async fn expire(db: &mut Conn, id: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET expired = TRUE WHERE id = $1 OR master = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A renewed session: a new key, no longer expired, callnums start over.
pub async fn renew(db: &mut Conn, id: i64, key: &str, exclusive: bool) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET key = $1, expired = FALSE, renew_time = clock_timestamp(), \
         callnum = NULL, exclusive = CASE WHEN $3 THEN TRUE ELSE exclusive END WHERE id = $2",
    )
    .bind(key)
    .bind(id)
    .bind(exclusive)
    .execute(db)
    .await?;
    Ok(())
}

/// A new session (a subsession with `master`); returns its id.
pub async fn insert(
    db: &mut Conn,
    user: i32,
    key: &str,
    hostip: &str,
    authtype: i32,
    master: Option<i64>,
) -> Result<i64> {
    match master {
        None => {
            sqlx::query_scalar(
                "INSERT INTO sessions (user_id, key, hostip, authtype) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(user)
            .bind(key)
            .bind(hostip)
            .bind(authtype)
            .fetch_one(db)
            .await
        }
        Some(m) => {
            sqlx::query_scalar(
                "INSERT INTO sessions (user_id, key, hostip, authtype, master) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(user)
            .bind(key)
            .bind(hostip)
            .bind(authtype)
            .bind(m)
            .fetch_one(db)
            .await
        }
    }
}

/// The user a session belongs to.
pub async fn owner(db: &mut Conn, id: i64) -> Result<Option<i32>> {
    sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Close a session and its subsessions (logout).
pub async fn close_tree(db: &mut Conn, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET expired = TRUE, closed = TRUE, exclusive = NULL \
         WHERE id = $1 OR master = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Close one subsession of `master`; false when it is not one.
pub async fn close_child(db: &mut Conn, child: i64, master: i64) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE sessions SET expired = TRUE, closed = TRUE WHERE id = $1 AND master = $2",
    )
    .bind(child)
    .bind(master)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// The user's open exclusive session, locked until the transaction ends.
pub async fn exclusive_of_user_for_update(db: &mut Conn, user: i32) -> Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = $1 AND exclusive AND NOT closed FOR UPDATE",
    )
    .bind(user)
    .fetch_optional(db)
    .await
}

/// Make a session exclusive (`true`) or shared (`false`).
pub async fn set_exclusive(db: &mut Conn, id: i64, exclusive: bool) -> Result<()> {
    let sql = if exclusive {
        "UPDATE sessions SET exclusive = TRUE WHERE id = $1"
    } else {
        "UPDATE sessions SET exclusive = NULL WHERE id = $1"
    };
    sqlx::query(sql).bind(id).execute(db).await?;
    Ok(())
}

/// Whether a session is exclusive (a host's subsession inherits its master's).
pub async fn is_exclusive(db: &mut Conn, id: i64) -> Result<bool> {
    Ok(
        sqlx::query_scalar::<_, Option<bool>>("SELECT exclusive FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .flatten()
            .unwrap_or(false),
    )
}

/// Record a committed write: the callnum (if any) and the time, only while the session is
/// open, not expired, and the callnum newer than the last one. False when refused.
pub async fn record_call(db: &mut Conn, id: i64, callnum: Option<i64>) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE sessions SET callnum = COALESCE($1, callnum), update_time = clock_timestamp() \
         WHERE id = $2 AND NOT closed AND NOT expired \
           AND ($1::bigint IS NULL OR callnum IS NULL OR callnum < $1)",
    )
    .bind(callnum)
    .bind(id)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// (closed, expired) of a session.
pub async fn status(db: &mut Conn, id: i64) -> Result<Option<(bool, bool)>> {
    sqlx::query_as("SELECT closed, expired FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
