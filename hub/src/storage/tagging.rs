//! Builds between tags: what is left untagged, what still refers to a build, the history
//! of `tag_listing`, and tag notification records. Tagging and untagging rows themselves
//! are `builds::tag` / `builds::untag`.

use super::builds::state;
use super::{Conn, Page, Paged, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// What `queryHistory`'s tag_listing may be ordered by.
pub const HISTORY_ORDER: &[(&str, &str)] = &[
    ("create_event", "tl.create_event"),
    ("revoke_event", "tl.revoke_event"),
    ("build_id", "tl.build_id"),
    ("tag_id", "tl.tag_id"),
    ("name", "p.name"),
    ("create_ts", "e1.time"),
    ("revoke_ts", "e2.time"),
];

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

/// What a query of `tag_listing`'s history selects (every field optional).
#[derive(Debug, Clone, Default)]
pub struct ListingFilter {
    pub tag: Option<i32>,
    pub build: Option<i32>,
    pub package: Option<i32>,
    /// Some(true): current rows; Some(false): revoked ones.
    pub active: Option<bool>,
    pub editor: Option<i32>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub after_event: Option<i64>,
    pub before_event: Option<i64>,
}

/// One version of a build's tagging.
#[derive(Debug, Clone)]
pub struct ListingRow {
    pub active: Option<bool>,
    pub create_event: i64,
    pub revoke_event: Option<i64>,
    pub creator_id: Option<i32>,
    pub revoker_id: Option<i32>,
    pub creator_name: Option<String>,
    pub revoker_name: Option<String>,
    pub create_time: DateTime<Utc>,
    pub revoke_time: Option<DateTime<Utc>>,
    pub build_id: i32,
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i32>,
    pub build_state: i32,
    pub tag_id: i32,
    pub tag_name: String,
    /// Created / revoked by `editor`, after / before the times and events asked for.
    pub created_by: Option<bool>,
    pub revoked_by: Option<bool>,
}

/// Versions of `tag_listing` matching `f`, oldest first.
pub async fn listing_history(
    db: &mut Conn,
    f: &ListingFilter,
    page: &Page,
) -> Result<Paged<ListingRow>> {
    let sql = page.sql(
        "SELECT tl.active, tl.create_event, tl.revoke_event, tl.creator_id, tl.revoker_id, \
                cu.name AS creator_name, ru.name AS revoker_name, e1.time AS create_time, e2.time AS revoke_time, \
                tl.build_id, p.name, b.version, b.release, b.epoch, b.state, tl.tag_id, t.name AS tag_name, \
                (tl.creator_id = $5) AS created_by, (tl.revoker_id = $5) AS revoked_by \
         FROM tag_listing tl JOIN events e1 ON e1.id = tl.create_event \
         LEFT JOIN events e2 ON e2.id = tl.revoke_event \
         LEFT JOIN users cu ON cu.id = tl.creator_id LEFT JOIN users ru ON ru.id = tl.revoker_id \
         JOIN build b ON b.id = tl.build_id JOIN package p ON p.id = b.pkg_id JOIN tag t ON t.id = tl.tag_id \
         WHERE ($1::int IS NULL OR tl.tag_id = $1) AND ($2::int IS NULL OR tl.build_id = $2) \
           AND ($3::int IS NULL OR b.pkg_id = $3) \
           AND ($4::bool IS NULL OR ($4 AND tl.active IS TRUE) OR (NOT $4 AND tl.active IS NULL)) \
           AND ($5::int IS NULL OR tl.creator_id = $5 OR tl.revoker_id = $5) \
           AND ($6::timestamptz IS NULL OR e1.time > $6 OR e2.time > $6) \
           AND ($7::timestamptz IS NULL OR e1.time < $7 OR e2.time < $7) \
           AND ($8::bigint IS NULL OR tl.create_event > $8 OR tl.revoke_event > $8) \
           AND ($9::bigint IS NULL OR tl.create_event < $9 OR tl.revoke_event < $9)",
        "tl.create_event, tl.build_id, tl.tag_id",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(f.tag)
        .bind(f.build)
        .bind(f.package)
        .bind(f.active)
        .bind(f.editor)
        .bind(f.after)
        .bind(f.before)
        .bind(f.after_event)
        .bind(f.before_event);
    page.fetch(db, q, |r| {
        Ok(ListingRow {
            active: r.try_get("active")?,
            create_event: r.try_get("create_event")?,
            revoke_event: r.try_get("revoke_event")?,
            creator_id: r.try_get("creator_id")?,
            revoker_id: r.try_get("revoker_id")?,
            creator_name: r.try_get("creator_name")?,
            revoker_name: r.try_get("revoker_name")?,
            create_time: r.try_get("create_time")?,
            revoke_time: r.try_get("revoke_time")?,
            build_id: r.try_get("build_id")?,
            name: r.try_get("name")?,
            version: r.try_get("version")?,
            release: r.try_get("release")?,
            epoch: r.try_get("epoch")?,
            build_state: r.try_get("state")?,
            tag_id: r.try_get("tag_id")?,
            tag_name: r.try_get("tag_name")?,
            created_by: r.try_get("created_by")?,
            revoked_by: r.try_get("revoked_by")?,
        })
    })
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
