//! Builds between tags: what is left untagged, what still refers to a build and tag
//! notification records. Tagging and untagging rows themselves
//! are `builds::tag` / `builds::untag`.

use super::builds::state;
use super::{Conn, Page, Paged, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// What `untaggedBuilds` may be ordered by.
pub const UNTAGGED_ORDER: &[(&str, &str)] = &[
    ("id", "b.id"),
    ("name", "p.name"),
    ("version", "b.version"),
    ("release", "b.release"),
];

/// A COMPLETE build tagged nowhere (`untaggedBuilds`).
#[derive(Debug, Clone)]
pub struct Untagged {
    pub id: i32,
    pub name: String,
    pub version: String,
    pub release: String,
}

const UNTAGGED_WHERE: &str = "FROM build b JOIN package p ON p.id = b.pkg_id \
     WHERE b.state = $1 AND NOT EXISTS (SELECT 1 FROM tag_listing tl WHERE tl.build_id = b.id AND tl.active) \
       AND ($2::text IS NULL OR p.name = $2) AND ($3::bool IS NULL OR b.draft = $3)";

/// COMPLETE builds (of package `name`, draft or not) with no current tagging, ordered by
/// `order` (SQL built from checked column names) and paged by `page`.
pub async fn untagged(
    db: &mut Conn,
    name: Option<&str>,
    draft: Option<bool>,
    page: &Page,
) -> Result<Paged<Untagged>> {
    let sql = page.sql(
        &format!("SELECT b.id, p.name, b.version, b.release {UNTAGGED_WHERE}"),
        "b.id",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(state::COMPLETE)
        .bind(name.map(str::to_string))
        .bind(draft);
    page.fetch(db, q, |r| {
        Ok(Untagged {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            version: r.try_get("version")?,
            release: r.try_get("release")?,
        })
    })
    .await
}

/// (tag id, tag name) of the tags a build is tagged in now, by tag name.
pub async fn tags_of_build(db: &mut Conn, build: i32) -> Result<Vec<(i32, String)>> {
    sqlx::query_as(
        "SELECT t.id, t.name FROM tag_listing tl JOIN tag t ON t.id = tl.tag_id \
         WHERE tl.build_id = $1 AND tl.active ORDER BY t.name",
    )
    .bind(build)
    .fetch_all(db)
    .await
}

/// An RPM of another COMPLETE build, built in a buildroot that held one of this build's RPMs.
#[derive(Debug, Clone)]
pub struct RefRpm {
    pub id: i32,
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub build_id: i32,
}

/// RPMs of COMPLETE builds made in buildroots that contained an RPM of `build` (at most
/// `limit`), by id.
pub async fn rpms_built_with(db: &mut Conn, build: i32, limit: Option<i64>) -> Result<Vec<RefRpm>> {
    let rows = sqlx::query(
        "SELECT r.id, r.name, r.version, r.release, r.arch, r.build_id FROM rpminfo r \
         JOIN build b ON b.id = r.build_id \
         WHERE b.state = $2 AND r.buildroot_id IN ( \
             SELECT DISTINCT bl.buildroot_id FROM buildroot_listing bl \
             JOIN rpminfo mine ON mine.id = bl.rpm_id WHERE mine.build_id = $1) \
         ORDER BY r.id LIMIT $3",
    )
    .bind(build)
    .bind(state::COMPLETE)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RefRpm {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                version: r.try_get("version")?,
                release: r.try_get("release")?,
                arch: r.try_get("arch")?,
                build_id: r.try_get("build_id")?,
            })
        })
        .collect()
}

/// When a buildroot holding an RPM of `build` was last made (the time of its event).
pub async fn last_used(db: &mut Conn, build: i32) -> Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "SELECT e.time FROM events e WHERE e.id = ( \
             SELECT max(br.create_event) FROM buildroot br WHERE br.id IN ( \
                 SELECT bl.buildroot_id FROM buildroot_listing bl \
                 JOIN rpminfo mine ON mine.id = bl.rpm_id WHERE mine.build_id = $1))",
    )
    .bind(build)
    .fetch_optional(db)
    .await
}

/// A tag operation's outcome, to be told to whoever follows the build or the tags.
pub struct Notification<'a> {
    pub ok: bool,
    pub tag: Option<i32>,
    pub from: Option<i32>,
    pub build: i32,
    pub user: i32,
    pub msg: &'a str,
    /// The builder that reported it (None: the hub did the operation for a user).
    pub host: Option<i32>,
    pub ignore_success: bool,
}

/// Record a tag notification. Tag ids that name no tag are stored as NULL (a builder may
/// report on a tag deleted meanwhile).
pub async fn insert_notification(db: &mut Conn, n: &Notification<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_notification (is_successful, tag_id, from_id, build_id, user_id, failure_msg, host_id, ignore_success) \
         VALUES ($1, (SELECT id FROM tag WHERE id = $2), (SELECT id FROM tag WHERE id = $3), $4, $5, $6, $7, $8)",
    )
    .bind(n.ok)
    .bind(n.tag)
    .bind(n.from)
    .bind(n.build)
    .bind(n.user)
    .bind(n.msg)
    .bind(n.host)
    .bind(n.ignore_success)
    .execute(db)
    .await?;
    Ok(())
}
