//! Storage volumes and which one a build's files are on.

use super::Conn;
use crate::ident::Ident;
use sqlx::Result;

/// The volume every build starts on: the topdir itself.
pub const DEFAULT_ID: i32 = 0;
pub const DEFAULT_NAME: &str = "DEFAULT";

/// A volume row: (id, name).
pub type Volume = (i32, String);

pub async fn list(db: &mut Conn) -> Result<Vec<Volume>> {
    sqlx::query_as("SELECT id, name FROM volume ORDER BY id")
        .fetch_all(db)
        .await
}

pub async fn find(db: &mut Conn, ident: &Ident) -> Result<Option<Volume>> {
    match ident {
        Ident::Id(i) => {
            sqlx::query_as("SELECT id, name FROM volume WHERE id = $1")
                .bind(*i)
                .fetch_optional(db)
                .await
        }
        Ident::Name(n) => {
            sqlx::query_as("SELECT id, name FROM volume WHERE name = $1")
                .bind(n.as_str())
                .fetch_optional(db)
                .await
        }
    }
}

/// A new volume; returns its id.
pub async fn insert(db: &mut Conn, name: &str) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO volume (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(db)
        .await
}

/// Record that a build's files are now on `volume`.
pub async fn set_build_volume(db: &mut Conn, build: i32, volume: i32) -> Result<()> {
    sqlx::query("UPDATE build SET volume_id = $2 WHERE id = $1")
        .bind(build)
        .bind(volume)
        .execute(db)
        .await?;
    Ok(())
}
