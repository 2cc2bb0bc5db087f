//! Users, their Kerberos principals and permissions.

use super::{Conn, Page, Paged, Result, Stamp};
use sqlx::Row;

/// A user as `getUser` shows it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i32,
    pub name: String,
    pub status: i32,
    pub usertype: i32,
    pub krb_principals: Vec<String>,
}

pub const USER_NORMAL: i32 = 0;
pub const USER_HOST: i32 = 1;
pub const STATUS_NORMAL: i32 = 0;
pub const STATUS_BLOCKED: i32 = 1;

pub async fn get(db: &mut Conn, id: i32) -> Result<Option<User>> {
    let row: Option<(i32, String, i32, i32, Vec<String>)> = sqlx::query_as(
        "SELECT u.id, u.name, u.status, u.usertype, \
           ARRAY(SELECT p.krb_principal FROM user_krb_principals p WHERE p.user_id = u.id ORDER BY 1) \
         FROM users u WHERE u.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(id, name, status, usertype, krb_principals)| User {
            id,
            name,
            status,
            usertype,
            krb_principals,
        }),
    )
}

pub async fn name_of(db: &mut Conn, id: i32) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// (id, status, usertype) of the user with this name.
pub async fn by_name(db: &mut Conn, name: &str) -> Result<Option<(i32, i32, i32)>> {
    sqlx::query_as("SELECT id, status, usertype FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(db)
        .await
}

/// The oldest user (owner of work nobody asked for by name).
pub async fn first(db: &mut Conn) -> Result<i32> {
    sqlx::query_scalar("SELECT id FROM users ORDER BY id LIMIT 1")
        .fetch_one(db)
        .await
}

pub async fn by_principal(db: &mut Conn, principal: &str) -> Result<Option<i32>> {
    sqlx::query_scalar("SELECT user_id FROM user_krb_principals WHERE krb_principal = $1")
        .bind(principal)
        .fetch_optional(db)
        .await
}

/// A new user; returns its id.
pub async fn insert(db: &mut Conn, name: &str, status: i32, usertype: i32) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO users (name, status, usertype) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(status)
    .bind(usertype)
    .fetch_one(db)
    .await
}

pub async fn add_principal(db: &mut Conn, user: i32, principal: &str) -> Result<()> {
    sqlx::query("INSERT INTO user_krb_principals (user_id, krb_principal) VALUES ($1, $2)")
        .bind(user)
        .bind(principal)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_status(db: &mut Conn, id: i32, status: i32) -> Result<()> {
    sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_usertype(db: &mut Conn, id: i32, usertype: i32) -> Result<()> {
    sqlx::query("UPDATE users SET usertype = $2 WHERE id = $1")
        .bind(id)
        .bind(usertype)
        .execute(db)
        .await?;
    Ok(())
}

/// What `listUsers` may be ordered by.
pub const USER_ORDER: &[(&str, &str)] = &[
    ("id", "u.id"),
    ("name", "u.name"),
    ("status", "u.status"),
    ("usertype", "u.usertype"),
];

/// Ids of users of a type, optionally with a name LIKE pattern and holding a permission;
/// one page.
pub async fn list_ids(
    db: &mut Conn,
    usertype: i32,
    like: Option<&str>,
    perm: Option<&str>,
    page: &Page,
) -> Result<Paged<i32>> {
    let sql = page.sql(
        "SELECT u.id FROM users u WHERE u.usertype = $1 AND ($2::text IS NULL OR u.name LIKE $2) \
         AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
              WHERE up.user_id = u.id AND up.active AND p.name = $3))",
        "u.id",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(usertype)
        .bind(like.map(str::to_string))
        .bind(perm.map(str::to_string));
    page.fetch(db, q, |r| r.try_get(0)).await
}

/// (id, name, description) of every permission.
pub async fn all_perms(db: &mut Conn) -> Result<Vec<(i32, String, Option<String>)>> {
    sqlx::query_as("SELECT id, name, description FROM permissions ORDER BY id")
        .fetch_all(db)
        .await
}

/// The names of the permissions a user holds, in the order they were defined.
pub async fn perms_by_id(db: &mut Conn, user: i32) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
         WHERE up.user_id = $1 AND up.active ORDER BY p.id",
    )
    .bind(user)
    .fetch_all(db)
    .await
}

/// The names of the permissions a user holds, sorted by name.
pub async fn perms_by_name(db: &mut Conn, user: i32) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
         WHERE up.user_id = $1 AND up.active ORDER BY p.name",
    )
    .bind(user)
    .fetch_all(db)
    .await
}

/// Whether the user holds any of `perms`.
pub async fn has_any_perm(db: &mut Conn, user: i32, perms: &[&str]) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
         WHERE up.user_id = $1 AND up.active AND p.name = ANY($2)",
    )
    .bind(user)
    .bind(perms)
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// Whether the user is an admin.
pub async fn is_admin(db: &mut Conn, user: i32) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
         WHERE up.user_id = $1 AND up.active AND p.name = 'admin')",
    )
    .bind(user)
    .fetch_one(db)
    .await
}

/// A new permission; returns its id.
pub async fn insert_perm(db: &mut Conn, name: &str, description: Option<&str>) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO permissions (name, description) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(description)
        .fetch_one(db)
        .await
}

pub async fn set_perm_description(
    db: &mut Conn,
    perm: i32,
    description: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE permissions SET description = $1 WHERE id = $2")
        .bind(description)
        .bind(perm)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn holds(db: &mut Conn, user: i32, perm: i32) -> Result<bool> {
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM user_perms WHERE user_id = $1 AND perm_id = $2 AND active",
    )
    .bind(user)
    .bind(perm)
    .fetch_optional(db)
    .await?;
    Ok(held.is_some())
}

pub async fn grant(db: &mut Conn, user: i32, perm: i32, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_perms (user_id, perm_id, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(user)
    .bind(perm)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Revoke a permission; 0 when the user did not hold it.
pub async fn revoke_perm(db: &mut Conn, user: i32, perm: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "user_perms",
        "user_id = $3 AND perm_id = $4",
        &[user, perm],
        s,
    )
    .await
}

/// Grant `admin` by name (start-up bootstrap).
pub async fn grant_admin(db: &mut Conn, user: i32, event: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_perms (user_id, perm_id, create_event) \
         SELECT $1, id, $2 FROM permissions WHERE name = 'admin'",
    )
    .bind(user)
    .bind(event)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn rename(db: &mut Conn, id: i32, name: &str) -> Result<()> {
    sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn remove_principal(db: &mut Conn, user: i32, principal: &str) -> Result<()> {
    sqlx::query("DELETE FROM user_krb_principals WHERE user_id = $1 AND krb_principal = $2")
        .bind(user)
        .bind(principal)
        .execute(db)
        .await?;
    Ok(())
}
