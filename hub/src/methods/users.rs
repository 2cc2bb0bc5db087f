//! Users and permissions.

use super::common::{self, Named};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::{Args, Ident};
use koji_protocol::{Value, kstruct};

async fn user_record(c: &mut Ctx, id: i64) -> HResult<Option<Value>> {
    let row: Option<(i32, String, i32, i32, Vec<String>)> = sqlx::query_as(
        "SELECT u.id, u.name, u.status, u.usertype, \
           ARRAY(SELECT p.krb_principal FROM user_krb_principals p WHERE p.user_id = u.id ORDER BY 1) \
         FROM users u WHERE u.id = $1",
    )
    .bind(id as i32)
    .fetch_optional(c.db().await?)
    .await?;
    let Some((id, name, status, usertype, princs)) = row else {
        return Ok(None);
    };
    Ok(Some(kstruct! {
        "id" => id,
        "name" => name,
        "status" => status,
        "usertype" => usertype,
        "krb_principals" => Value::Array(princs.into_iter().map(Value::from).collect()),
    }))
}

/// A user named by id, name, krb principal or dict.
async fn find_user(c: &mut Ctx, v: &Value) -> HResult<Option<i64>> {
    let ident = match v {
        Value::Struct(s) if s.get("krb_principal").is_some() && s.get("id").is_none() => {
            let p = s.get("krb_principal").and_then(Value::as_str).unwrap_or("");
            return find_by_principal(c, p).await;
        }
        _ => common::ident_of(v, "user")?,
    };
    if let Some((id, _)) = common::find(c, Named::User, &ident).await? {
        return Ok(Some(id));
    }
    if let Ident::Name(n) = &ident {
        return find_by_principal(c, n).await;
    }
    Ok(None)
}

async fn find_by_principal(c: &mut Ctx, p: &str) -> HResult<Option<i64>> {
    let id: Option<i32> =
        sqlx::query_scalar("SELECT user_id FROM user_krb_principals WHERE krb_principal = $1")
            .bind(p)
            .fetch_optional(c.db().await?)
            .await?;
    Ok(id.map(i64::from))
}

/// getUser(userInfo=None, strict=False, krb_princs=True, groups=False)
pub async fn get_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = if a.is_nil(0) {
        match c.user_id() {
            Some(id) => Some(id),
            None => return Ok(Value::Nil),
        }
    } else {
        find_user(c, a.val(0)).await?
    };
    let rec = match id {
        Some(id) => user_record(c, id).await?,
        None => None,
    };
    match rec {
        Some(r) => Ok(r),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "No such user: {}",
            crate::pyrepr::repr(a.val(0))
        ))),
        None => Ok(Value::Nil),
    }
}

/// getLoggedInUser()
pub async fn get_logged_in_user(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let Some(s) = c.session.clone() else {
        return Ok(Value::Nil);
    };
    let Some(Value::Struct(mut r)) = user_record(c, s.user_id).await? else {
        return Ok(Value::Nil);
    };
    let first = r
        .get("krb_principals")
        .and_then(Value::as_array)
        .and_then(|p| p.first().cloned())
        .unwrap_or(Value::Nil);
    r.insert("authtype".into(), Value::Int(i64::from(s.authtype)));
    r.insert("krb_principal".into(), first);
    Ok(Value::Struct(r))
}

/// createUser(username, status=None, krb_principal=None, krb_princ_check=True)
pub async fn create_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_user(&name)?;
    let status = a.opt_i64(1)?.unwrap_or(0);
    if !(0..=1).contains(&status) {
        return Err(HubError::generic(format!("Invalid status: {status}")));
    }
    if common::find(c, Named::User, &Ident::Name(name.clone()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!("user already exists: {name}")));
    }
    let princ = a.opt_str(2)?.map(str::to_string);
    if let Some(p) = &princ
        && find_by_principal(c, p).await?.is_some()
    {
        return Err(HubError::generic(format!(
            "user with this Kerberos principal already exists: {p}"
        )));
    }
    c.mark_write();
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO users (name, status, usertype) VALUES ($1, $2, 0) RETURNING id",
    )
    .bind(&name)
    .bind(status as i32)
    .fetch_one(c.db().await?)
    .await?;
    if let Some(p) = princ {
        sqlx::query("INSERT INTO user_krb_principals (user_id, krb_principal) VALUES ($1, $2)")
            .bind(id)
            .bind(p)
            .execute(c.db().await?)
            .await?;
    }
    Ok(Value::Int(i64::from(id)))
}

async fn set_user_status(c: &mut Ctx, a: Args, status: i32) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let id = find_user(c, a.val(0)).await?.ok_or_else(|| {
        HubError::generic(format!("No such user: {}", crate::pyrepr::repr(a.val(0))))
    })?;
    c.mark_write();
    sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id as i32)
        .execute(c.db().await?)
        .await?;
    c.hub().sessions.forget_user(id);
    Ok(Value::Nil)
}

/// enableUser(username)
pub async fn enable_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_user_status(c, a, 0).await
}

/// disableUser(username)
pub async fn disable_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_user_status(c, a, 1).await
}

/// listUsers(userType=0, prefix=None, queryOpts=None, perm=None, inherited_perm=False)
pub async fn list_users(c: &mut Ctx, a: Args) -> HResult<Value> {
    let utype = a.opt_i64(0)?.unwrap_or(0);
    let prefix = a
        .opt_str(1)?
        .map(|p| format!("{}%", common::glob_to_like(p)));
    let qo = common::QueryOpts::parse(a.val(2), &["id", "name", "status", "usertype"])?;
    let perm = a.opt_str(3)?.map(str::to_string);
    let ids: Vec<i32> = sqlx::query_scalar(
        "SELECT u.id FROM users u WHERE u.usertype = $1 AND ($2::text IS NULL OR u.name LIKE $2) \
         AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
              WHERE up.user_id = u.id AND up.active AND p.name = $3)) ORDER BY u.id",
    )
    .bind(utype as i32)
    .bind(prefix)
    .bind(perm)
    .fetch_all(c.db().await?)
    .await?;
    let mut rows = Vec::new();
    for id in ids {
        if let Some(r) = user_record(c, i64::from(id)).await? {
            rows.push(r);
        }
    }
    if let Some(order) = &qo.order {
        let key = order.split(',').next().unwrap_or("id").trim().to_string();
        let desc = key.ends_with(" DESC");
        let col = key.trim_end_matches(" DESC").to_string();
        rows.sort_by(|x, y| cmp_field(x, y, &col));
        if desc {
            rows.reverse();
        }
    }
    Ok(qo.apply(rows))
}

fn cmp_field(x: &Value, y: &Value, col: &str) -> std::cmp::Ordering {
    match (x.get(col), y.get(col)) {
        (Some(Value::Int(a)), Some(Value::Int(b))) => a.cmp(b),
        (Some(Value::String(a)), Some(Value::String(b))) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    }
}

/// getAllPerms()
pub async fn get_all_perms(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let rows: Vec<(i32, String, Option<String>)> =
        sqlx::query_as("SELECT id, name, description FROM permissions ORDER BY id")
            .fetch_all(c.db().await?)
            .await?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|(id, name, d)| kstruct! { "id" => id, "name" => name, "description" => d })
            .collect(),
    ))
}

async fn perms_of(c: &mut Ctx, uid: i64) -> HResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
         WHERE up.user_id = $1 AND up.active ORDER BY p.name",
    )
    .bind(uid as i32)
    .fetch_all(c.db().await?)
    .await?)
}

async fn user_arg_or_self(c: &mut Ctx, v: &Value) -> HResult<i64> {
    if v.is_nil() {
        return Ok(c.assert_login()?.user_id);
    }
    find_user(c, v)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such user: {}", crate::pyrepr::repr(v))))
}

/// getPerms(userID=None) / getUserPerms(userID=None, with_groups=True)
pub async fn get_user_perms(c: &mut Ctx, a: Args) -> HResult<Value> {
    let uid = user_arg_or_self(c, a.val(0)).await?;
    Ok(Value::Array(
        perms_of(c, uid)
            .await?
            .into_iter()
            .map(Value::from)
            .collect(),
    ))
}

/// getUserPermsInheritance(userID): {perm: [None]} for directly held permissions.
pub async fn get_user_perms_inheritance(c: &mut Ctx, a: Args) -> HResult<Value> {
    let uid = user_arg_or_self(c, a.val(0)).await?;
    let mut out = koji_protocol::Struct::new();
    for p in perms_of(c, uid).await? {
        out.insert(p, Value::Array(vec![Value::Nil]));
    }
    Ok(Value::Struct(out))
}

/// hasPerm(perm, strict=False)
pub async fn has_perm(c: &mut Ctx, a: Args) -> HResult<Value> {
    let perm = a.str(0)?.to_string();
    if a.truthy(1)
        && common::find(c, Named::Permission, &Ident::Name(perm.clone()))
            .await?
            .is_none()
    {
        return Err(HubError::generic(format!(
            "No such permission {perm} defined"
        )));
    }
    Ok(Value::Bool(c.has_perm(&perm).await?))
}

/// grantPermission(userinfo, permission, create=False, description=None)
pub async fn grant_permission(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let uid = find_user(c, a.val(0)).await?.ok_or_else(|| {
        HubError::generic(format!("No such user: {}", crate::pyrepr::repr(a.val(0))))
    })?;
    let perm = a.str(1)?.to_string();
    let create = a.truthy(2);
    let desc = a.opt_str(3)?.map(str::to_string);
    let pid = match common::find(c, Named::Permission, &Ident::Name(perm.clone())).await? {
        Some((id, _)) => id,
        None if create => {
            crate::names::check_internal(&perm)?;
            c.mark_write();
            let id: i32 = sqlx::query_scalar(
                "INSERT INTO permissions (name, description) VALUES ($1, $2) RETURNING id",
            )
            .bind(&perm)
            .bind(&desc)
            .fetch_one(c.db().await?)
            .await?;
            i64::from(id)
        }
        None => return Err(HubError::generic(format!("No such permission: {perm}"))),
    };
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM user_perms WHERE user_id = $1 AND perm_id = $2 AND active",
    )
    .bind(uid as i32)
    .bind(pid as i32)
    .fetch_optional(c.db().await?)
    .await?;
    if held.is_some() {
        let uname = common::user_name_of(c, uid).await?.unwrap_or_default();
        return Err(HubError::generic(format!(
            "user {uname} already has permission: {perm}"
        )));
    }
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO user_perms (user_id, perm_id, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(uid as i32)
    .bind(pid as i32)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(Value::Nil)
}

/// revokePermission(userinfo, permission)
pub async fn revoke_permission(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let uid = find_user(c, a.val(0)).await?.ok_or_else(|| {
        HubError::generic(format!("No such user: {}", crate::pyrepr::repr(a.val(0))))
    })?;
    let perm = a.str(1)?.to_string();
    let (pid, _) = common::get(c, Named::Permission, &Ident::Name(perm.clone())).await?;
    let n = common::revoke(
        c,
        "user_perms",
        "user_id = $2 AND perm_id = $3",
        &[uid, pid],
    )
    .await?;
    if n == 0 {
        let uname = common::user_name_of(c, uid).await?.unwrap_or_default();
        return Err(HubError::generic(format!(
            "user {uname} does not have permission: {perm}"
        )));
    }
    Ok(Value::Nil)
}

/// editPermission(permission, description)
pub async fn edit_permission(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let perm = a.str(0)?.to_string();
    let desc = a.opt_str(1)?.map(str::to_string);
    let (pid, _) = common::get(c, Named::Permission, &Ident::Name(perm)).await?;
    c.mark_write();
    sqlx::query("UPDATE permissions SET description = $1 WHERE id = $2")
        .bind(desc)
        .bind(pid as i32)
        .execute(c.db().await?)
        .await?;
    Ok(Value::Nil)
}
