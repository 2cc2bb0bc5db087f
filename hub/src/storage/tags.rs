//! Tags: the tag row, its versioned config and extra values, and inheritance links.

use super::{Conn, Page, Paged, Result, Stamp, load_value, store_value, ver};
use crate::ident::Ident;
use koji_protocol::{Struct, Value};
use sqlx::Row;

/// A tag as of some event.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: i32,
    pub name: String,
    pub perm_id: Option<i32>,
    pub perm: Option<String>,
    pub arches: String,
    pub locked: bool,
    pub maven_support: bool,
    pub maven_include_all: bool,
    /// Extra values by key, in key order.
    pub extra: Struct,
    /// The event the record was read at, when not now.
    pub query_event: Option<i64>,
}

fn tag(r: &sqlx::postgres::PgRow, extra: Struct, query_event: Option<i64>) -> Result<Tag> {
    Ok(Tag {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        perm_id: r.try_get("perm_id")?,
        perm: r.try_get("perm")?,
        arches: r
            .try_get::<Option<String>, _>("arches")?
            .unwrap_or_default(),
        locked: r.try_get("locked")?,
        maven_support: r.try_get("maven_support")?,
        maven_include_all: r.try_get("maven_include_all")?,
        extra,
        query_event,
    })
}

/// The tag named by `ident` as of `event` (None = now), extra values included.
pub async fn get(db: &mut Conn, ident: &Ident, event: Option<i64>) -> Result<Option<Tag>> {
    // one round trip: the extra keys and values come along as two ordered arrays
    let sql = format!(
        "SELECT t.id, t.name, c.arches, c.perm_id, p.name AS perm, c.locked, c.maven_support, \
           c.maven_include_all, x.extra_keys, x.extra_values \
         FROM tag t JOIN tag_config c ON c.tag_id = t.id AND {cv} LEFT JOIN permissions p ON p.id = c.perm_id, \
           LATERAL (SELECT COALESCE(array_agg(e.key ORDER BY e.key), '{{}}') AS extra_keys, \
                           COALESCE(array_agg(e.value ORDER BY e.key), '{{}}') AS extra_values \
                    FROM tag_extra e WHERE e.tag_id = t.id AND {ev}) x \
         WHERE {}",
        match ident {
            Ident::Id(_) => "t.id = $1",
            Ident::Name(_) => "t.name = $1",
        },
        cv = ver("c", event),
        ev = ver("e", event),
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql));
    let q = match ident {
        Ident::Id(i) => q.bind(*i),
        Ident::Name(n) => q.bind(n.clone()),
    };
    let Some(r) = q.fetch_optional(db).await? else {
        return Ok(None);
    };
    let keys: Vec<String> = r.try_get("extra_keys")?;
    let values: Vec<String> = r.try_get("extra_values")?;
    let extra: Struct = keys
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k, load_value(&v)))
        .collect();
    tag(&r, extra, event).map(Some)
}

/// What `listTags` may be ordered by.
pub const TAG_ORDER: &[(&str, &str)] = &[("id", "t.id"), ("name", "t.name")];

/// Current tags (without extra values) whose name is LIKE `like`, that list `package`,
/// that have `build` tagged; one page.
pub async fn list(
    db: &mut Conn,
    like: Option<&str>,
    package: Option<i32>,
    build: Option<i32>,
    page: &Page,
) -> Result<Paged<Tag>> {
    let sql = "SELECT t.id, t.name, c.arches, c.perm_id, p.name AS perm, c.locked, \
           c.maven_support, c.maven_include_all FROM tag t JOIN tag_config c ON c.tag_id = t.id \
         AND c.active LEFT JOIN permissions p ON p.id = c.perm_id \
         WHERE ($1::text IS NULL OR t.name LIKE $1) \
           AND ($2::int IS NULL OR EXISTS (SELECT 1 FROM tag_packages tp WHERE tp.tag_id = t.id \
                AND tp.package_id = $2 AND tp.active)) \
           AND ($3::int IS NULL OR EXISTS (SELECT 1 FROM tag_listing tl WHERE tl.tag_id = t.id \
                AND tl.build_id = $3 AND tl.active))";
    let q = sqlx::query(sqlx::AssertSqlSafe(page.sql(sql, "t.name")))
        .bind(like.map(str::to_string))
        .bind(package)
        .bind(build);
    page.fetch(db, q, |r| tag(r, Struct::new(), None)).await
}

/// A new tag row; returns its id.
pub async fn insert(db: &mut Conn, name: &str) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO tag (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(db)
        .await
}

pub async fn rename(db: &mut Conn, tag: i32, name: &str) -> Result<()> {
    sqlx::query("UPDATE tag SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(tag)
        .execute(db)
        .await?;
    Ok(())
}

/// The versioned settings of a tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TagConfig {
    pub arches: Option<String>,
    pub perm_id: Option<i32>,
    pub locked: bool,
    pub maven_support: bool,
    pub maven_include_all: bool,
}

pub async fn current_config(db: &mut Conn, tag: i32) -> Result<TagConfig> {
    let r = sqlx::query(
        "SELECT arches, perm_id, locked, maven_support, maven_include_all FROM tag_config WHERE tag_id = $1 AND active",
    )
    .bind(tag)
    .fetch_one(db)
    .await?;
    Ok(TagConfig {
        arches: r.try_get("arches")?,
        perm_id: r.try_get("perm_id")?,
        locked: r.try_get("locked")?,
        maven_support: r.try_get("maven_support")?,
        maven_include_all: r.try_get("maven_include_all")?,
    })
}

/// A new version of a tag's config (the current one must be revoked first).
pub async fn insert_config(db: &mut Conn, tag: i32, cfg: &TagConfig, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_config (tag_id, arches, perm_id, locked, maven_support, maven_include_all, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tag)
    .bind(cfg.arches.as_deref().unwrap_or(""))
    .bind(cfg.perm_id)
    .bind(cfg.locked)
    .bind(cfg.maven_support)
    .bind(cfg.maven_include_all)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the tag is locked now.
pub async fn locked(db: &mut Conn, tag: i32) -> Result<bool> {
    sqlx::query_scalar("SELECT locked FROM tag_config WHERE tag_id = $1 AND active")
        .bind(tag)
        .fetch_one(db)
        .await
}

/// Revoke an extra value; false when the tag had none under `key`.
pub async fn remove_extra(db: &mut Conn, tag: i32, key: &str, s: Stamp) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE tag_extra SET active = NULL, revoke_event = $1, revoker_id = $2 \
         WHERE active AND tag_id = $3 AND key = $4",
    )
    .bind(s.event)
    .bind(s.user)
    .bind(tag)
    .bind(key)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// A new extra value (the current one must be revoked first).
pub async fn insert_extra(
    db: &mut Conn,
    tag: i32,
    key: &str,
    value: &Value,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_extra (tag_id, key, value, create_event, creator_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tag)
    .bind(key)
    .bind(store_value(value))
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// (tag, value) of every current `key` extra value.
pub async fn extra_values(db: &mut Conn, key: &str) -> Result<Vec<(i32, Value)>> {
    let rows: Vec<(i32, String)> =
        sqlx::query_as("SELECT tag_id, value FROM tag_extra WHERE active AND key = $1")
            .bind(key)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(t, v)| (t, load_value(&v))).collect())
}

/// Revoke the tag's config (before a new version is inserted).
pub async fn revoke_config(db: &mut Conn, tag: i32, s: Stamp) -> Result<u64> {
    super::revoke(db, "tag_config", "tag_id = $3", &[tag], s).await
}

/// Revoke the tag's parent links (before the new set is inserted).
pub async fn revoke_links(db: &mut Conn, tag: i32, s: Stamp) -> Result<u64> {
    super::revoke(db, "tag_inheritance", "tag_id = $3", &[tag], s).await
}

/// Revoke everything of a deleted tag: config, extra, links either way, package list and
/// owners, external repo links.
pub async fn revoke_all(db: &mut Conn, tag: i32, s: Stamp) -> Result<()> {
    for (table, cond) in [
        ("tag_config", "tag_id = $3"),
        ("tag_extra", "tag_id = $3"),
        ("tag_inheritance", "(tag_id = $3 OR parent_id = $3)"),
        ("tag_packages", "tag_id = $3"),
        ("tag_package_owners", "tag_id = $3"),
        ("tag_external_repos", "tag_id = $3"),
    ] {
        super::revoke(db, table, cond, &[tag], s).await?;
    }
    Ok(())
}

/// Whether a build target uses the tag (as build or destination tag).
pub async fn used_by_target(db: &mut Conn, tag: i32) -> Result<bool> {
    let used: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM build_target_config WHERE active AND (build_tag = $1 OR dest_tag = $1) LIMIT 1",
    )
    .bind(tag)
    .fetch_optional(db)
    .await?;
    Ok(used.is_some())
}

/// One inheritance link of a tag to a parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub parent_id: i32,
    pub priority: i32,
    pub maxdepth: Option<i32>,
    pub intransitive: bool,
    pub noconfig: bool,
    pub pkg_filter: String,
}

/// A link with the tags on both ends and the name of the one at the other end.
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub child_id: i32,
    pub parent_id: i32,
    pub name: String,
    pub link: Link,
}

pub async fn insert_link(db: &mut Conn, tag: i32, l: &Link, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_inheritance (tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tag)
    .bind(l.parent_id)
    .bind(l.priority)
    .bind(l.maxdepth)
    .bind(l.intransitive)
    .bind(l.noconfig)
    .bind(&l.pkg_filter)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Direct links of a tag (to its parents, or with `reverse` to its children), by priority.
pub async fn links(
    db: &mut Conn,
    tag: i32,
    event: Option<i64>,
    reverse: bool,
) -> Result<Vec<LinkRow>> {
    let (me_col, other_col) = if reverse {
        ("parent_id", "tag_id")
    } else {
        ("tag_id", "parent_id")
    };
    let sql = format!(
        "SELECT i.tag_id, i.parent_id, i.priority, i.maxdepth, i.intransitive, i.noconfig, i.pkg_filter, t.name \
         FROM tag_inheritance i JOIN tag t ON t.id = i.{other_col} \
         WHERE i.{me_col} = $1 AND {} ORDER BY i.priority, i.{other_col}",
        ver("i", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tag)
        .fetch_all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let parent: i32 = r.try_get("parent_id")?;
        out.push(LinkRow {
            child_id: r.try_get("tag_id")?,
            parent_id: parent,
            name: r.try_get("name")?,
            link: Link {
                parent_id: parent,
                priority: r.try_get("priority")?,
                maxdepth: r.try_get("maxdepth")?,
                intransitive: r.try_get("intransitive")?,
                noconfig: r.try_get("noconfig")?,
                pkg_filter: r.try_get("pkg_filter")?,
            },
        });
    }
    Ok(out)
}
