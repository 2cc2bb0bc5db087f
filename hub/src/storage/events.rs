//! Events: every change of state is stamped with one, so versioned rows can be read "as of
//! event N".

use super::{Conn, Result};
use chrono::{DateTime, Utc};

/// A new event (now); returns its id.
pub async fn create(db: &mut Conn) -> Result<i64> {
    sqlx::query_scalar("INSERT INTO events DEFAULT VALUES RETURNING id")
        .fetch_one(db)
        .await
}

/// (id, time) of an event.
pub async fn get(db: &mut Conn, id: i64) -> Result<Option<(i64, DateTime<Utc>)>> {
    sqlx::query_as("SELECT id, time FROM events WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The newest event, or the newest before a Unix time.
pub async fn last(db: &mut Conn, before: Option<f64>) -> Result<Option<(i64, DateTime<Utc>)>> {
    match before {
        None => {
            sqlx::query_as("SELECT id, time FROM events ORDER BY id DESC LIMIT 1")
                .fetch_optional(db)
                .await
        }
        Some(ts) => sqlx::query_as(
            "SELECT id, time FROM events WHERE time < to_timestamp($1) ORDER BY id DESC LIMIT 1",
        )
        .bind(ts)
        .fetch_optional(db)
        .await,
    }
}

pub async fn exists(db: &mut Conn, id: i64) -> Result<bool> {
    Ok(get(db, id).await?.is_some())
}
