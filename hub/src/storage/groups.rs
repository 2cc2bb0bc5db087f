//! Comps groups of tags (`groups`, and the versioned `group_config`, `group_req_listing`,
//! `group_package_listing`): a tag's own rows, as of an event; inheritance is the domain's.

use super::{Conn, Result, Stamp, ver};
use crate::ident::Ident;
use sqlx::Row;

/// (id, name) of the group named by id or name, or None.
pub async fn find(db: &mut Conn, ident: &Ident) -> Result<Option<(i32, String)>> {
    match ident {
        Ident::Id(id) => {
            sqlx::query_as("SELECT id, name FROM groups WHERE id = $1")
                .bind(*id)
                .fetch_optional(db)
                .await
        }
        Ident::Name(n) => {
            sqlx::query_as("SELECT id, name FROM groups WHERE name = $1")
                .bind(n)
                .fetch_optional(db)
                .await
        }
    }
}

/// A new group name; returns its id. A concurrent insert of the same name wins and its id
/// is returned.
pub async fn insert(db: &mut Conn, name: &str) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO groups (name) VALUES ($1) \
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(name)
    .fetch_one(db)
    .await
}

/// What a tag says about one group (its `group_config` row).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConfig {
    pub blocked: bool,
    pub exported: Option<bool>,
    pub display_name: String,
    pub is_default: Option<bool>,
    pub uservisible: Option<bool>,
    pub description: Option<String>,
    pub langonly: Option<String>,
    pub biarchonly: Option<bool>,
}

/// A `group_config` row with the group's name and the tag that holds it.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub group_id: i32,
    pub name: String,
    pub tag_id: i32,
    pub cfg: GroupConfig,
}

/// What a tag says about one package of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageConfig {
    pub blocked: bool,
    pub kind: String,
    pub basearchonly: Option<bool>,
    pub requires: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PackageRow {
    pub group_id: i32,
    pub tag_id: i32,
    pub package: String,
    pub cfg: PackageConfig,
}

/// What a tag says about one group requiring another.
#[derive(Debug, Clone, PartialEq)]
pub struct ReqConfig {
    pub blocked: bool,
    pub kind: Option<String>,
    pub is_metapkg: bool,
}

/// A `group_req_listing` row with the required group's name.
#[derive(Debug, Clone)]
pub struct ReqRow {
    pub group_id: i32,
    pub tag_id: i32,
    pub req_id: i32,
    pub req_name: String,
    pub cfg: ReqConfig,
}

/// The group rows of these tags as of `event` (None: now), by group name.
pub async fn configs(db: &mut Conn, tags: &[i32], event: Option<i64>) -> Result<Vec<GroupRow>> {
    let sql = format!(
        "SELECT gc.group_id, g.name, gc.tag_id, gc.blocked, gc.exported, gc.display_name, \
                gc.is_default, gc.uservisible, gc.description, gc.langonly, gc.biarchonly \
         FROM group_config gc JOIN groups g ON g.id = gc.group_id \
         WHERE gc.tag_id = ANY($1) AND {} ORDER BY g.name",
        ver("gc", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tags)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(GroupRow {
                group_id: r.try_get("group_id")?,
                name: r.try_get("name")?,
                tag_id: r.try_get("tag_id")?,
                cfg: GroupConfig {
                    blocked: r.try_get("blocked")?,
                    exported: r.try_get("exported")?,
                    display_name: r.try_get("display_name")?,
                    is_default: r.try_get("is_default")?,
                    uservisible: r.try_get("uservisible")?,
                    description: r.try_get("description")?,
                    langonly: r.try_get("langonly")?,
                    biarchonly: r.try_get("biarchonly")?,
                },
            })
        })
        .collect()
}

/// The group package rows of these tags as of `event`, by package name.
pub async fn packages(db: &mut Conn, tags: &[i32], event: Option<i64>) -> Result<Vec<PackageRow>> {
    let sql = format!(
        "SELECT p.group_id, p.tag_id, p.package, p.blocked, p.type, p.basearchonly, p.requires \
         FROM group_package_listing p WHERE p.tag_id = ANY($1) AND {} ORDER BY p.package",
        ver("p", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tags)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PackageRow {
                group_id: r.try_get("group_id")?,
                tag_id: r.try_get("tag_id")?,
                package: r.try_get("package")?,
                cfg: PackageConfig {
                    blocked: r.try_get("blocked")?,
                    kind: r.try_get("type")?,
                    basearchonly: r.try_get("basearchonly")?,
                    requires: r.try_get("requires")?,
                },
            })
        })
        .collect()
}

/// The group requirement rows of these tags as of `event`, by required group name.
pub async fn reqs(db: &mut Conn, tags: &[i32], event: Option<i64>) -> Result<Vec<ReqRow>> {
    let sql = format!(
        "SELECT r.group_id, r.tag_id, r.req_id, g.name, r.blocked, r.type, r.is_metapkg \
         FROM group_req_listing r JOIN groups g ON g.id = r.req_id \
         WHERE r.tag_id = ANY($1) AND {} ORDER BY g.name",
        ver("r", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tags)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ReqRow {
                group_id: r.try_get("group_id")?,
                tag_id: r.try_get("tag_id")?,
                req_id: r.try_get("req_id")?,
                req_name: r.try_get("name")?,
                cfg: ReqConfig {
                    blocked: r.try_get("blocked")?,
                    kind: r.try_get("type")?,
                    is_metapkg: r.try_get("is_metapkg")?,
                },
            })
        })
        .collect()
}

/// Whether the tag's own current entry for the group is blocked (None: it has none). The
/// row is locked until the call's transaction ends.
pub async fn own_group_blocked(db: &mut Conn, tag: i32, group: i32) -> Result<Option<bool>> {
    sqlx::query_scalar(
        "SELECT blocked FROM group_config WHERE tag_id = $1 AND group_id = $2 AND active FOR UPDATE",
    )
    .bind(tag)
    .bind(group)
    .fetch_optional(db)
    .await
}

/// Like [`own_group_blocked`], for a package of a group.
pub async fn own_package_blocked(
    db: &mut Conn,
    tag: i32,
    group: i32,
    package: &str,
) -> Result<Option<bool>> {
    sqlx::query_scalar(
        "SELECT blocked FROM group_package_listing \
         WHERE tag_id = $1 AND group_id = $2 AND package = $3 AND active FOR UPDATE",
    )
    .bind(tag)
    .bind(group)
    .bind(package)
    .fetch_optional(db)
    .await
}

/// Like [`own_group_blocked`], for a group's requirement.
pub async fn own_req_blocked(
    db: &mut Conn,
    tag: i32,
    group: i32,
    req: i32,
) -> Result<Option<bool>> {
    sqlx::query_scalar(
        "SELECT blocked FROM group_req_listing \
         WHERE tag_id = $1 AND group_id = $2 AND req_id = $3 AND active FOR UPDATE",
    )
    .bind(tag)
    .bind(group)
    .bind(req)
    .fetch_optional(db)
    .await
}

/// Revoke the tag's own entry for a group; 0 when it had none.
pub async fn revoke_group(db: &mut Conn, tag: i32, group: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "group_config",
        "tag_id = $3 AND group_id = $4",
        &[tag, group],
        s,
    )
    .await
}

/// A new version of the tag's entry for a group (the current one must be revoked first).
pub async fn insert_group(
    db: &mut Conn,
    tag: i32,
    group: i32,
    cfg: &GroupConfig,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO group_config (group_id, tag_id, blocked, exported, display_name, is_default, \
                uservisible, description, langonly, biarchonly, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(group)
    .bind(tag)
    .bind(cfg.blocked)
    .bind(cfg.exported)
    .bind(&cfg.display_name)
    .bind(cfg.is_default)
    .bind(cfg.uservisible)
    .bind(&cfg.description)
    .bind(&cfg.langonly)
    .bind(cfg.biarchonly)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Revoke the tag's own entry for a package of a group; 0 when it had none.
pub async fn revoke_package(
    db: &mut Conn,
    tag: i32,
    group: i32,
    package: &str,
    s: Stamp,
) -> Result<u64> {
    // the package is a name, which the shared revoke (integer binds) cannot take
    Ok(sqlx::query(
        "UPDATE group_package_listing SET active = NULL, revoke_event = $1, revoker_id = $2 \
         WHERE active AND tag_id = $3 AND group_id = $4 AND package = $5",
    )
    .bind(s.event)
    .bind(s.user)
    .bind(tag)
    .bind(group)
    .bind(package)
    .execute(db)
    .await?
    .rows_affected())
}

/// A new version of the tag's entry for a package of a group.
pub async fn insert_package(
    db: &mut Conn,
    tag: i32,
    group: i32,
    package: &str,
    cfg: &PackageConfig,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO group_package_listing (group_id, tag_id, package, blocked, type, basearchonly, \
                requires, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(group)
    .bind(tag)
    .bind(package)
    .bind(cfg.blocked)
    .bind(&cfg.kind)
    .bind(cfg.basearchonly)
    .bind(&cfg.requires)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Revoke the tag's own entry for a group's requirement; 0 when it had none.
pub async fn revoke_req(db: &mut Conn, tag: i32, group: i32, req: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "group_req_listing",
        "tag_id = $3 AND group_id = $4 AND req_id = $5",
        &[tag, group, req],
        s,
    )
    .await
}

/// A new version of the tag's entry for a group's requirement.
pub async fn insert_req(
    db: &mut Conn,
    tag: i32,
    group: i32,
    req: i32,
    cfg: &ReqConfig,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO group_req_listing (group_id, tag_id, req_id, blocked, type, is_metapkg, \
                create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(group)
    .bind(tag)
    .bind(req)
    .bind(cfg.blocked)
    .bind(&cfg.kind)
    .bind(cfg.is_metapkg)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// The group tables keyed by tag: a deleted tag's rows are revoked from them.
pub const TAG_TABLES: &[&str] = &["group_config", "group_req_listing", "group_package_listing"];

/// Revoke every group row of a (deleted) tag.
pub async fn revoke_all(db: &mut Conn, tag: i32, s: Stamp) -> Result<()> {
    for table in TAG_TABLES {
        super::revoke(db, table, "tag_id = $3", &[tag], s).await?;
    }
    Ok(())
}
