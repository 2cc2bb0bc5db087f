//! Packages and tag package lists (owner, blocked, extra arches), versioned.

use super::{Conn, Page, Paged, Result, Stamp, ver};
use sqlx::Row;

/// A new package; returns its id.
pub async fn insert(db: &mut Conn, name: &str) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO package (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(db)
        .await
}

/// What `listPackages` may be ordered by: in SQL for the plain package list, by the same
/// names in memory for a tag's computed list.
pub const PACKAGE_ORDER: &[(&str, &str)] = &[
    ("package_id", "id"),
    ("package_name", "name"),
    ("tag_id", "id"),
    ("tag_name", "name"),
    ("owner_name", "name"),
];

/// (id, name) of every package whose name is LIKE `like`, by name; one page.
pub async fn list(db: &mut Conn, like: Option<&str>, page: &Page) -> Result<Paged<(i32, String)>> {
    let sql = page.sql(
        "SELECT id, name FROM package WHERE ($1::text IS NULL OR name LIKE $1 || '%')",
        "name",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(like.map(str::to_string));
    page.fetch(db, q, |r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .await
}

/// One package list entry of a tag.
#[derive(Debug, Clone)]
pub struct Listing {
    pub package_id: i32,
    pub package_name: String,
    pub tag_id: i32,
    pub tag_name: String,
    pub owner_id: Option<i32>,
    pub owner_name: Option<String>,
    pub extra_arches: Option<String>,
    pub blocked: bool,
}

/// The package list of one tag (or of every tag) as of `event`, by package then tag name.
pub async fn listings(db: &mut Conn, tag: Option<i32>, event: Option<i64>) -> Result<Vec<Listing>> {
    let sql = format!(
        "SELECT p.package_id, pk.name AS package_name, p.tag_id, t.name AS tag_name, o.owner, u.name AS owner_name, \
                p.extra_arches, p.blocked \
         FROM tag_packages p JOIN package pk ON pk.id = p.package_id JOIN tag t ON t.id = p.tag_id \
         LEFT JOIN tag_package_owners o ON o.tag_id = p.tag_id AND o.package_id = p.package_id AND {} \
         LEFT JOIN users u ON u.id = o.owner \
         WHERE {} AND ($1::int IS NULL OR p.tag_id = $1) ORDER BY pk.name, t.name",
        ver("o", event),
        ver("p", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tag)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Listing {
                package_id: r.try_get("package_id")?,
                package_name: r.try_get("package_name")?,
                tag_id: r.try_get("tag_id")?,
                tag_name: r.try_get("tag_name")?,
                owner_id: r.try_get("owner")?,
                owner_name: r.try_get("owner_name")?,
                extra_arches: r.try_get("extra_arches")?,
                blocked: r.try_get("blocked")?,
            })
        })
        .collect()
}

/// The tag's own current entry for a package: (blocked, extra_arches, owner).
pub async fn own_entry(
    db: &mut Conn,
    tag: i32,
    package: i32,
) -> Result<Option<(bool, Option<String>, Option<i32>)>> {
    sqlx::query_as(
        "SELECT p.blocked, p.extra_arches, o.owner FROM tag_packages p \
         LEFT JOIN tag_package_owners o ON o.tag_id = p.tag_id AND o.package_id = p.package_id AND o.active \
         WHERE p.tag_id = $1 AND p.package_id = $2 AND p.active",
    )
    .bind(tag)
    .bind(package)
    .fetch_optional(db)
    .await
}

/// Revoke the tag's own entry for a package; 0 when it had none.
pub async fn revoke_entry(db: &mut Conn, tag: i32, package: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "tag_packages",
        "tag_id = $3 AND package_id = $4",
        &[tag, package],
        s,
    )
    .await
}

/// Revoke the owner of a package in a tag.
pub async fn revoke_owner(db: &mut Conn, tag: i32, package: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "tag_package_owners",
        "tag_id = $3 AND package_id = $4",
        &[tag, package],
        s,
    )
    .await
}

/// A new version of a tag's entry for a package (the current one must be revoked first).
pub async fn insert_entry(
    db: &mut Conn,
    tag: i32,
    package: i32,
    blocked: bool,
    extra_arches: Option<&str>,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_packages (package_id, tag_id, blocked, extra_arches, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(package)
    .bind(tag)
    .bind(blocked)
    .bind(extra_arches)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// A new version of a package's owner in a tag (the current one must be revoked first).
pub async fn insert_owner(
    db: &mut Conn,
    tag: i32,
    package: i32,
    owner: i32,
    s: Stamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_package_owners (package_id, tag_id, owner, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(package)
    .bind(tag)
    .bind(owner)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the tag's own current list blocks the package named `name` (None: not listed).
pub async fn blocked_by_name(db: &mut Conn, tag: i32, name: &str) -> Result<Option<bool>> {
    sqlx::query_scalar(
        "SELECT tp.blocked FROM tag_packages tp JOIN package p ON p.id = tp.package_id \
         WHERE tp.tag_id = $1 AND p.name = $2 AND tp.active",
    )
    .bind(tag)
    .bind(name)
    .fetch_optional(db)
    .await
}

/// (package name, blocked) of every entry of the tag's own list as of `event`.
pub async fn names_and_blocks(
    db: &mut Conn,
    tag: i32,
    event: Option<i64>,
) -> Result<Vec<(String, bool)>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.name, tp.blocked FROM tag_packages tp JOIN package p ON p.id = tp.package_id \
         WHERE tp.tag_id = $1 AND {}",
        ver("tp", event)
    )))
    .bind(tag)
    .fetch_all(db)
    .await
}
