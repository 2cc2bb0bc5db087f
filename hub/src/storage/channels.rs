//! Channel rows changed by an admin (the reads and host membership live in `hosts`).

use super::Conn;
use sqlx::Result;

/// What `editChannel` may change; `None` leaves a column as it is.
#[derive(Debug, Default)]
pub struct ChannelEdit {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub comment: Option<Option<String>>,
}

/// Apply an edit to one channel (one statement).
pub async fn update(db: &mut Conn, id: i32, e: &ChannelEdit) -> Result<()> {
    sqlx::query(
        "UPDATE channels SET \
           name = COALESCE($2, name), \
           description = CASE WHEN $3 THEN $4 ELSE description END, \
           comment = CASE WHEN $5 THEN $6 ELSE comment END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(e.name.as_deref())
    .bind(e.description.is_some())
    .bind(e.description.clone().flatten())
    .bind(e.comment.is_some())
    .bind(e.comment.clone().flatten())
    .execute(db)
    .await?;
    Ok(())
}

/// enableChannel / disableChannel: the flag, and the comment when one is given.
pub async fn set_enabled(
    db: &mut Conn,
    id: i32,
    enabled: bool,
    comment: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE channels SET enabled = $2, comment = COALESCE($3, comment) WHERE id = $1")
        .bind(id)
        .bind(enabled)
        .bind(comment)
        .execute(db)
        .await?;
    Ok(())
}
