//! External repositories (mirrors of upstream yum repos), their links to tags, and what
//! was last seen of them upstream.

use super::{Conn, Page, Paged, Result, Stamp, load_value, store_value, ver};
use crate::ident::Ident;
use koji_protocol::Value;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct ExternalRepo {
    pub id: i32,
    pub name: String,
    pub url: String,
}

/// What `listExternalRepos` may be ordered by.
pub const EXTERNAL_REPO_ORDER: &[(&str, &str)] =
    &[("id", "r.id"), ("name", "r.name"), ("url", "c.url")];

/// External repos as of `event` (all, the one named by `ident`, those with `url`), one page
/// (by name unless asked otherwise).
pub async fn list(
    db: &mut Conn,
    ident: Option<&Ident>,
    url: Option<&str>,
    event: Option<i64>,
    page: &Page,
) -> Result<Paged<ExternalRepo>> {
    let (id, name) = match ident {
        Some(Ident::Id(i)) => (Some(*i), None),
        Some(Ident::Name(n)) => (None, Some(n.clone())),
        None => (None, None),
    };
    let sql = format!(
        "SELECT r.id, r.name, c.url FROM external_repo r JOIN external_repo_config c \
           ON c.external_repo_id = r.id AND {} \
         WHERE ($1::int IS NULL OR r.id = $1) AND ($2::text IS NULL OR r.name = $2) \
           AND ($3::text IS NULL OR c.url = $3)",
        ver("c", event)
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(page.sql(&sql, "r.name")))
        .bind(id)
        .bind(name)
        .bind(url.map(str::to_string));
    page.fetch(db, q, |r| {
        Ok(ExternalRepo {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            url: r.try_get("url")?,
        })
    })
    .await
}

/// A new external repo row; returns its id.
pub async fn insert(db: &mut Conn, name: &str) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO external_repo (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(db)
        .await
}

pub async fn rename(db: &mut Conn, repo: i32, name: &str) -> Result<()> {
    sqlx::query("UPDATE external_repo SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(repo)
        .execute(db)
        .await?;
    Ok(())
}

/// A new version of a repo's URL (the current one must be revoked first).
pub async fn insert_config(db: &mut Conn, repo: i32, url: &str, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO external_repo_config (external_repo_id, url, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(repo)
    .bind(url)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Revoke the repo's URL (before a new version is inserted, or when it is deleted).
pub async fn revoke_config(db: &mut Conn, repo: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "external_repo_config",
        "external_repo_id = $3",
        &[repo],
        s,
    )
    .await
}

/// Revoke every tag's link to the repo.
pub async fn revoke_links_of_repo(db: &mut Conn, repo: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "tag_external_repos",
        "external_repo_id = $3",
        &[repo],
        s,
    )
    .await
}

/// Revoke one tag's link to the repo; 0 when there was none.
pub async fn revoke_link(db: &mut Conn, tag: i32, repo: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "tag_external_repos",
        "tag_id = $3 AND external_repo_id = $4",
        &[tag, repo],
        s,
    )
    .await
}

/// Revoke the upstream data (before a new version is inserted).
pub async fn revoke_data(db: &mut Conn, repo: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "external_repo_data",
        "external_repo_id = $3",
        &[repo],
        s,
    )
    .await
}

/// A tag's link to an external repo.
#[derive(Debug, Clone)]
pub struct TagLink {
    pub tag_id: i32,
    pub tag_name: String,
    pub external_repo_id: i32,
    pub external_repo_name: String,
    pub url: String,
    pub merge_mode: String,
    pub priority: i32,
    pub arches: Option<String>,
}

/// Links as of `event` (of a tag, of a repo, or all), by priority then tag name.
pub async fn tag_links(
    db: &mut Conn,
    tag: Option<i32>,
    repo: Option<i32>,
    event: Option<i64>,
) -> Result<Vec<TagLink>> {
    let sql = format!(
        "SELECT l.tag_id, t.name AS tag_name, l.external_repo_id, r.name AS external_repo_name, rc.url, \
                l.merge_mode, l.priority, l.arches \
         FROM tag_external_repos l JOIN tag t ON t.id = l.tag_id JOIN external_repo r ON r.id = l.external_repo_id \
         JOIN external_repo_config rc ON rc.external_repo_id = r.id AND {} \
         WHERE {} AND ($1::int IS NULL OR l.tag_id = $1) AND ($2::int IS NULL OR l.external_repo_id = $2) \
         ORDER BY l.priority, t.name",
        ver("rc", event),
        ver("l", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tag)
        .bind(repo)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(TagLink {
                tag_id: r.try_get("tag_id")?,
                tag_name: r.try_get("tag_name")?,
                external_repo_id: r.try_get("external_repo_id")?,
                external_repo_name: r.try_get("external_repo_name")?,
                url: r.try_get("url")?,
                merge_mode: r.try_get("merge_mode")?,
                priority: r.try_get("priority")?,
                arches: r.try_get("arches")?,
            })
        })
        .collect()
}

/// A new version of a tag's link to a repo (the current one must be revoked first).
#[allow(clippy::too_many_arguments)]
pub async fn insert_link(
    db: &mut Conn,
    tag: i32,
    repo: i32,
    priority: i32,
    merge_mode: &str,
    arches: Option<&str>,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_external_repos (tag_id, external_repo_id, priority, merge_mode, arches, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tag)
    .bind(repo)
    .bind(priority)
    .bind(merge_mode)
    .bind(arches)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// What was last recorded of the repo upstream (Nil: nothing yet).
pub async fn data(db: &mut Conn, repo: i32) -> Result<Value> {
    let v: Option<String> = sqlx::query_scalar(
        "SELECT data FROM external_repo_data WHERE external_repo_id = $1 AND active",
    )
    .bind(repo)
    .fetch_optional(db)
    .await?;
    Ok(v.map(|s| load_value(&s)).unwrap_or(Value::Nil))
}

/// A new version of the upstream data (the current one must be revoked first).
pub async fn insert_data(db: &mut Conn, repo: i32, data: &Value, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO external_repo_data (external_repo_id, data, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(repo)
    .bind(store_value(data))
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}
