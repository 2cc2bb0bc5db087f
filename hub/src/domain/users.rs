//! Users and permissions.

use super::{Named, find, get};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::users as store;

pub use crate::storage::users::{
    STATUS_BLOCKED, STATUS_NORMAL, USER_HOST, USER_NORMAL, USER_ORDER, User,
};
use crate::storage::{Page, Paged};

/// How a caller names a user.
#[derive(Debug, Clone)]
pub enum UserRef {
    /// By id or name (a name that is no user's is tried as a Kerberos principal).
    Ident(Ident),
    Principal(String),
}

pub async fn get_user(c: &mut Ctx, id: i32) -> HResult<Option<User>> {
    Ok(store::get(c.db().await?, id).await?)
}

pub async fn name_of(c: &mut Ctx, id: i32) -> HResult<Option<String>> {
    Ok(store::name_of(c.db().await?, id).await?)
}

async fn by_principal(c: &mut Ctx, p: &str) -> HResult<Option<i32>> {
    Ok(store::by_principal(c.db().await?, p).await?)
}

/// The id of the user named by `r`.
pub async fn find_user(c: &mut Ctx, r: &UserRef) -> HResult<Option<i32>> {
    let ident = match r {
        UserRef::Principal(p) => return by_principal(c, p).await,
        UserRef::Ident(i) => i,
    };
    if let Some((id, _)) = find(c, Named::User, ident).await? {
        return Ok(Some(id));
    }
    if let Ident::Name(n) = ident {
        return by_principal(c, n).await;
    }
    Ok(None)
}

/// A user status from the wire (0 normal, 1 blocked).
pub fn checked_status(status: i64) -> HResult<i32> {
    match status {
        0 => Ok(STATUS_NORMAL),
        1 => Ok(STATUS_BLOCKED),
        _ => Err(HubError::generic(format!("Invalid status: {status}"))),
    }
}

/// The id of the user named by `r`; "No such user: {shown}" when there is none.
pub async fn require_user(c: &mut Ctx, r: &UserRef, shown: &str) -> HResult<i32> {
    find_user(c, r)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such user: {shown}")))
}

/// createUser: a normal user, optionally with a Kerberos principal.
pub async fn create(c: &mut Ctx, name: &str, status: i32, principal: Option<&str>) -> HResult<i32> {
    crate::names::check_user(name)?;
    if find(c, Named::User, &Ident::Name(name.to_string()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!("user already exists: {name}")));
    }
    if let Some(p) = principal
        && by_principal(c, p).await?.is_some()
    {
        return Err(HubError::generic(format!(
            "user with this Kerberos principal already exists: {p}"
        )));
    }
    c.mark_write();
    let db = c.db().await?;
    let id = store::insert(db, name, status, USER_NORMAL).await?;
    if let Some(p) = principal {
        store::add_principal(db, id, p).await?;
    }
    Ok(id)
}

/// enableUser / disableUser.
pub async fn set_status(c: &mut Ctx, id: i32, status: i32) -> HResult<()> {
    c.mark_write();
    store::set_status(c.db().await?, id, status).await?;
    c.hub().sessions.forget_user(id);
    Ok(())
}

/// Users of a type (whose name is LIKE `like`, holding `perm`), by id.
pub async fn list(
    c: &mut Ctx,
    usertype: i32,
    like: Option<&str>,
    perm: Option<&str>,
    page: &Page,
) -> HResult<Paged<User>> {
    let ids = match store::list_ids(c.db().await?, usertype, like, perm, page).await? {
        Paged::Count(n) => return Ok(Paged::Count(n)),
        Paged::Rows(ids) => ids,
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(u) = get_user(c, id).await? {
            out.push(u);
        }
    }
    Ok(Paged::Rows(out))
}

/// (id, name, description) of every permission.
pub async fn all_perms(c: &mut Ctx) -> HResult<Vec<(i32, String, Option<String>)>> {
    Ok(store::all_perms(c.db().await?).await?)
}

/// The permission names a user holds, sorted.
pub async fn perms_of(c: &mut Ctx, user: i32) -> HResult<Vec<String>> {
    Ok(store::perms_by_name(c.db().await?, user).await?)
}

/// Whether the user holds any of `perms` (admin is not implied).
pub async fn has_any_perm(c: &mut Ctx, user: i32, perms: &[&str]) -> HResult<bool> {
    Ok(store::has_any_perm(c.db().await?, user, perms).await?)
}

pub async fn is_admin(c: &mut Ctx, user: i32) -> HResult<bool> {
    Ok(store::is_admin(c.db().await?, user).await?)
}

/// grantPermission (creating the permission with `create`).
pub async fn grant(
    c: &mut Ctx,
    uid: i32,
    perm: &str,
    create: bool,
    description: Option<&str>,
) -> HResult<()> {
    let pid = match find(c, Named::Permission, &Ident::Name(perm.to_string())).await? {
        Some((id, _)) => id,
        None if create => {
            crate::names::check_internal(perm)?;
            c.mark_write();
            store::insert_perm(c.db().await?, perm, description).await?
        }
        None => return Err(HubError::generic(format!("No such permission: {perm}"))),
    };
    if store::holds(c.db().await?, uid, pid).await? {
        let uname = name_of(c, uid).await?.unwrap_or_default();
        return Err(HubError::generic(format!(
            "user {uname} already has permission: {perm}"
        )));
    }
    let s = c.stamp().await?;
    store::grant(c.db().await?, uid, pid, s).await?;
    Ok(())
}

/// revokePermission.
pub async fn revoke(c: &mut Ctx, uid: i32, perm: &str) -> HResult<()> {
    let (pid, _) = get(c, Named::Permission, &Ident::Name(perm.to_string())).await?;
    let s = c.stamp().await?;
    let n = store::revoke_perm(c.db().await?, uid, pid, s).await?;
    if n == 0 {
        let uname = name_of(c, uid).await?.unwrap_or_default();
        return Err(HubError::generic(format!(
            "user {uname} does not have permission: {perm}"
        )));
    }
    Ok(())
}

/// editPermission.
pub async fn edit_perm(c: &mut Ctx, perm: &str, description: Option<&str>) -> HResult<()> {
    let (pid, _) = get(c, Named::Permission, &Ident::Name(perm.to_string())).await?;
    c.mark_write();
    store::set_perm_description(c.db().await?, pid, description).await?;
    Ok(())
}

/// One change to a user's Kerberos principals (editUser): add `new`, remove `old`, or both.
#[derive(Debug, Clone, Default)]
pub struct PrincipalChange {
    pub old: Option<String>,
    pub new: Option<String>,
}

/// editUser: rename and/or change Kerberos principals, checked as a whole first so that a
/// refused edit changes nothing.
pub async fn edit(
    c: &mut Ctx,
    id: i32,
    name: Option<&str>,
    changes: &[PrincipalChange],
) -> HResult<()> {
    let Some(user) = get_user(c, id).await? else {
        return Err(HubError::generic(format!("No such user: {id}")));
    };
    let rename = name.filter(|n| !n.is_empty() && *n != user.name);
    if let Some(n) = rename {
        crate::names::check_user(n)?;
        if let Some((other, _)) = find(c, Named::User, &Ident::Name(n.to_string())).await? {
            return Err(HubError::generic(format!(
                "Name {n} already taken by user {other}"
            )));
        }
    }
    let mut added: Vec<&str> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    for ch in changes {
        if let Some(o) = ch.old.as_deref().filter(|s| !s.is_empty())
            && !removed.contains(&o)
        {
            removed.push(o);
        }
        if let Some(n) = ch.new.as_deref().filter(|s| !s.is_empty()) {
            crate::names::check_principal(n)?;
            if !added.contains(&n) {
                added.push(n);
            }
        }
    }
    let both: Vec<&str> = added
        .iter()
        .copied()
        .filter(|a| removed.contains(a))
        .collect();
    if !both.is_empty() {
        return Err(HubError::generic(format!(
            "There are some conflicts between added and removed Kerberos principals: {}",
            both.join(", ")
        )));
    }
    let current = &user.krb_principals;
    let existing: Vec<&str> = added
        .iter()
        .copied()
        .filter(|a| current.iter().any(|p| p == a))
        .collect();
    if !existing.is_empty() {
        return Err(HubError::generic(format!(
            "Cannot add existing Kerberos principals: {}",
            existing.join(", ")
        )));
    }
    let missing: Vec<&str> = removed
        .iter()
        .copied()
        .filter(|r| !current.iter().any(|p| p == r))
        .collect();
    if !missing.is_empty() {
        return Err(HubError::generic(format!(
            "Cannot remove non-existent Kerberos principals: {}",
            missing.join(", ")
        )));
    }
    for a in &added {
        if let Some(other) = by_principal(c, a).await? {
            return Err(HubError::generic(format!(
                "Kerberos principal {a} already belongs to user {other}"
            )));
        }
    }
    if rename.is_none() && added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    c.mark_write();
    let db = c.db().await?;
    if let Some(n) = rename {
        store::rename(db, id, n).await?;
    }
    for r in &removed {
        store::remove_principal(db, id, r).await?;
    }
    for a in &added {
        store::add_principal(db, id, a).await?;
    }
    c.hub().sessions.forget_user(id);
    tracing::info!(user = id, renamed = ?rename, added = ?added, removed = ?removed, "user edited");
    Ok(())
}
