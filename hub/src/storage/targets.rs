//! Build targets: a name mapping to a build tag and a destination tag, versioned.

use super::{Conn, Page, Paged, Result, Stamp, ver};
use crate::ident::Ident;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct Target {
    pub id: i32,
    pub name: String,
    pub build_tag: i32,
    pub build_tag_name: String,
    pub dest_tag: i32,
    pub dest_tag_name: String,
}

/// What `getBuildTargets` may be ordered by.
pub const TARGET_ORDER: &[(&str, &str)] = &[
    ("id", "bt.id"),
    ("name", "bt.name"),
    ("build_tag", "c.build_tag"),
    ("dest_tag", "c.dest_tag"),
];

/// Targets as of `event`, by name unless asked otherwise: all, or the one named by `ident`,
/// or those with the given build/destination tag.
pub async fn list(
    db: &mut Conn,
    ident: Option<&Ident>,
    event: Option<i64>,
    build_tag: Option<i32>,
    dest_tag: Option<i32>,
    page: &Page,
) -> Result<Paged<Target>> {
    let (id, name) = match ident {
        Some(Ident::Id(i)) => (Some(*i), None),
        Some(Ident::Name(n)) => (None, Some(n.clone())),
        None => (None, None),
    };
    let sql = format!(
        "SELECT bt.id, bt.name, c.build_tag, bt_tag.name AS build_tag_name, \
           c.dest_tag, dt.name AS dest_tag_name FROM build_target bt \
           JOIN build_target_config c ON c.build_target_id = bt.id AND {} \
           JOIN tag bt_tag ON bt_tag.id = c.build_tag JOIN tag dt ON dt.id = c.dest_tag \
         WHERE ($1::int IS NULL OR bt.id = $1) AND ($2::text IS NULL OR bt.name = $2) \
           AND ($3::int IS NULL OR c.build_tag = $3) AND ($4::int IS NULL OR c.dest_tag = $4)",
        ver("c", event)
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(page.sql(&sql, "bt.name")))
        .bind(id)
        .bind(name)
        .bind(build_tag)
        .bind(dest_tag);
    page.fetch(db, q, |r| {
        Ok(Target {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            build_tag: r.try_get("build_tag")?,
            build_tag_name: r.try_get("build_tag_name")?,
            dest_tag: r.try_get("dest_tag")?,
            dest_tag_name: r.try_get("dest_tag_name")?,
        })
    })
    .await
}

/// A new target row; returns its id.
pub async fn insert(db: &mut Conn, name: &str) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO build_target (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(db)
        .await
}

pub async fn rename(db: &mut Conn, target: i32, name: &str) -> Result<()> {
    sqlx::query("UPDATE build_target SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(target)
        .execute(db)
        .await?;
    Ok(())
}

/// A new version of a target's tags (the current one must be revoked first).
pub async fn insert_config(
    db: &mut Conn,
    target: i32,
    build_tag: i32,
    dest_tag: i32,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO build_target_config (build_target_id, build_tag, dest_tag, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(target)
    .bind(build_tag)
    .bind(dest_tag)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Revoke the target's tags (before a new version is inserted, or when it is deleted).
pub async fn revoke_config(db: &mut Conn, target: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "build_target_config",
        "build_target_id = $3",
        &[target],
        s,
    )
    .await
}

/// The build tags of current targets, ascending.
pub async fn build_tags(db: &mut Conn) -> Result<Vec<i32>> {
    sqlx::query_scalar(
        "SELECT DISTINCT build_tag FROM build_target_config WHERE active ORDER BY build_tag",
    )
    .fetch_all(db)
    .await
}
