//! Users and permissions.

use super::common::{QueryOpts, paged_value};
use crate::ctx::Ctx;
use crate::domain::users::{self, USER_ORDER, User, UserRef};
use crate::domain::{Named, find, glob_to_like};
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::signature::{Args, checked_id, value_ident};
use koji_protocol::{Value, kstruct};

fn user_value(u: &User) -> Value {
    kstruct! {
        "id" => u.id,
        "name" => u.name.clone(),
        "status" => u.status,
        "usertype" => u.usertype,
        "krb_principals" => Value::Array(u.krb_principals.iter().map(|p| Value::from(p.as_str())).collect()),
    }
}

/// A user named by id, name, krb principal or dict.
fn user_ref(v: &Value) -> HResult<UserRef> {
    match v {
        Value::Struct(s) if s.get("krb_principal").is_some() && s.get("id").is_none() => {
            let p = s.get("krb_principal").and_then(Value::as_str).unwrap_or("");
            Ok(UserRef::Principal(p.to_string()))
        }
        _ => Ok(UserRef::Ident(value_ident(v, "user")?)),
    }
}

/// The user named by argument `i`; "No such user: {repr}" otherwise.
async fn require_arg(c: &mut Ctx, a: &Args, i: usize) -> HResult<i32> {
    let r = user_ref(a.val(i))?;
    users::require_user(c, &r, &crate::pyrepr::repr(a.val(i))).await
}

/// getUser(userInfo=None, strict=False, krb_princs=True, groups=False)
pub async fn get_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = if a.is_nil(0) {
        match c.user_id() {
            Some(id) => Some(id),
            None => return Ok(Value::Nil),
        }
    } else {
        users::find_user(c, &user_ref(a.val(0))?).await?
    };
    let rec = match id {
        Some(id) => users::get_user(c, id).await?,
        None => None,
    };
    match rec {
        Some(u) => Ok(user_value(&u)),
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
    let Some(u) = users::get_user(c, s.user_id).await? else {
        return Ok(Value::Nil);
    };
    let Value::Struct(mut r) = user_value(&u) else {
        return Ok(Value::Nil);
    };
    let first = u
        .krb_principals
        .first()
        .map_or(Value::Nil, |p| Value::from(p.as_str()));
    r.insert("authtype".into(), Value::Int(i64::from(s.authtype)));
    r.insert("krb_principal".into(), first);
    Ok(Value::Struct(r))
}

/// createUser(username, status=None, krb_principal=None, krb_princ_check=True)
pub async fn create_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_user(&name)?;
    let status = users::checked_status(a.opt_i64(1)?.unwrap_or(0))?;
    let princ = a.opt_str(2)?.map(str::to_string);
    let id = users::create(c, &name, status, princ.as_deref()).await?;
    Ok(Value::Int(i64::from(id)))
}

async fn set_user_status(c: &mut Ctx, a: Args, status: i32) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let id = require_arg(c, &a, 0).await?;
    users::set_status(c, id, status).await?;
    Ok(Value::Nil)
}

/// enableUser(username)
pub async fn enable_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_user_status(c, a, users::STATUS_NORMAL).await
}

/// disableUser(username)
pub async fn disable_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_user_status(c, a, users::STATUS_BLOCKED).await
}

/// listUsers(userType=0, prefix=None, queryOpts=None, perm=None, inherited_perm=False)
pub async fn list_users(c: &mut Ctx, a: Args) -> HResult<Value> {
    let utype = checked_id("userType", a.opt_i64(0)?.unwrap_or(0))?;
    let prefix = a.opt_str(1)?.map(|p| format!("{}%", glob_to_like(p)));
    let qo = QueryOpts::parse(a.val(2), USER_ORDER)?;
    let perm = a.opt_str(3)?.map(str::to_string);
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = users::list(c, utype, prefix.as_deref(), perm.as_deref(), &page).await?;
    Ok(paged_value(rows, |u| user_value(&u)))
}

/// getAllPerms()
pub async fn get_all_perms(c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::Array(
        users::all_perms(c)
            .await?
            .into_iter()
            .map(|(id, name, d)| kstruct! { "id" => id, "name" => name, "description" => d })
            .collect(),
    ))
}

async fn user_arg_or_self(c: &mut Ctx, a: &Args, i: usize) -> HResult<i32> {
    if a.is_nil(i) {
        return Ok(c.assert_login()?.user_id);
    }
    require_arg(c, a, i).await
}

/// getPerms(userID=None) / getUserPerms(userID=None, with_groups=True)
pub async fn get_user_perms(c: &mut Ctx, a: Args) -> HResult<Value> {
    let uid = user_arg_or_self(c, &a, 0).await?;
    Ok(Value::Array(
        users::perms_of(c, uid)
            .await?
            .into_iter()
            .map(Value::from)
            .collect(),
    ))
}

/// getUserPermsInheritance(userID): {perm: [None]} for directly held permissions.
pub async fn get_user_perms_inheritance(c: &mut Ctx, a: Args) -> HResult<Value> {
    let uid = user_arg_or_self(c, &a, 0).await?;
    let mut out = koji_protocol::Struct::new();
    for p in users::perms_of(c, uid).await? {
        out.insert(p, Value::Array(vec![Value::Nil]));
    }
    Ok(Value::Struct(out))
}

/// hasPerm(perm, strict=False)
pub async fn has_perm(c: &mut Ctx, a: Args) -> HResult<Value> {
    let perm = a.str(0)?.to_string();
    if a.truthy(1)
        && find(c, Named::Permission, &Ident::Name(perm.clone()))
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
    let uid = require_arg(c, &a, 0).await?;
    let perm = a.str(1)?.to_string();
    let create = a.truthy(2);
    let desc = a.opt_str(3)?.map(str::to_string);
    users::grant(c, uid, &perm, create, desc.as_deref()).await?;
    Ok(Value::Nil)
}

/// revokePermission(userinfo, permission)
pub async fn revoke_permission(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let uid = require_arg(c, &a, 0).await?;
    let perm = a.str(1)?.to_string();
    users::revoke(c, uid, &perm).await?;
    Ok(Value::Nil)
}

/// editPermission(permission, description)
pub async fn edit_permission(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let perm = a.str(0)?.to_string();
    let desc = a.opt_str(1)?.map(str::to_string);
    users::edit_perm(c, &perm, desc.as_deref()).await?;
    Ok(Value::Nil)
}

/// The user methods registered as a block of their own (the rest are in the main table).
pub fn register(r: &mut crate::registry::Registry) {
    r.add(
        "editUser",
        "userInfo, name=None, krb_principal_mappings=None",
        "Rename a user and/or add, remove or change its Kerberos principals ([{'old': …, 'new': …}]). [admin]",
        crate::handler!(edit_user),
    );
}

/// One entry of krb_principal_mappings: a dict of "old" and "new" (each a string or nil).
fn principal_change(v: &Value) -> HResult<users::PrincipalChange> {
    let Value::Struct(s) = v else {
        return Err(HubError::parameter(format!(
            "Invalid Kerberos principal mapping: {}",
            crate::pyrepr::repr(v)
        )));
    };
    let side = |k: &str| -> HResult<Option<String>> {
        match s.get(k) {
            None | Some(Value::Nil) => Ok(None),
            Some(Value::String(p)) => Ok(Some(p.clone())),
            Some(other) => Err(HubError::generic(format!(
                "Kerberos principal should be string, not {}",
                crate::pyrepr::repr(other)
            ))),
        }
    };
    Ok(users::PrincipalChange {
        old: side("old")?,
        new: side("new")?,
    })
}

/// editUser(userInfo, name=None, krb_principal_mappings=None)
async fn edit_user(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let id = require_arg(c, &a, 0).await?;
    let name = match a.val(1) {
        Value::Nil => None,
        Value::String(s) => Some(s.clone()),
        _ => return Err(HubError::generic("Name should be string")),
    };
    let changes = match a.val(2) {
        Value::Nil => Vec::new(),
        Value::Array(items) => items.iter().map(principal_change).collect::<HResult<_>>()?,
        other => {
            return Err(HubError::parameter(format!(
                "Invalid krb_principal_mappings: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    users::edit(c, id, name.as_deref(), &changes).await?;
    Ok(Value::Nil)
}
