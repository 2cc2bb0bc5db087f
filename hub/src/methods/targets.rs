//! Build targets: a name mapping to a build tag and a destination tag, versioned.

use super::common::{self, Named, ver};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::{Args, Ident};
use koji_protocol::{Value, kstruct};
use sqlx::Row;

const TARGET_SELECT: &str = "SELECT bt.id, bt.name, c.build_tag, bt_tag.name AS build_tag_name, \
    c.dest_tag, dt.name AS dest_tag_name FROM build_target bt \
    JOIN build_target_config c ON c.build_target_id = bt.id";

fn target_value(r: &sqlx::postgres::PgRow) -> HResult<Value> {
    Ok(kstruct! {
        "id" => r.try_get::<i32, _>("id")?,
        "name" => r.try_get::<String, _>("name")?,
        "build_tag" => r.try_get::<i32, _>("build_tag")?,
        "build_tag_name" => r.try_get::<String, _>("build_tag_name")?,
        "dest_tag" => r.try_get::<i32, _>("dest_tag")?,
        "dest_tag_name" => r.try_get::<String, _>("dest_tag_name")?,
    })
}

async fn query_targets(
    c: &mut Ctx,
    ident: Option<&Ident>,
    event: Option<i64>,
    build_tag: Option<i64>,
    dest_tag: Option<i64>,
) -> HResult<Vec<Value>> {
    let (id, name) = match ident {
        Some(Ident::Id(i)) => (Some(common::opt_i32(Some(*i)).unwrap_or(-1)), None),
        Some(Ident::Name(n)) => (None, Some(n.clone())),
        None => (None, None),
    };
    let sql = format!(
        "{TARGET_SELECT} AND {} JOIN tag bt_tag ON bt_tag.id = c.build_tag JOIN tag dt ON dt.id = c.dest_tag \
         WHERE ($1::int IS NULL OR bt.id = $1) AND ($2::text IS NULL OR bt.name = $2) \
           AND ($3::int IS NULL OR c.build_tag = $3) AND ($4::int IS NULL OR c.dest_tag = $4) \
         ORDER BY bt.name",
        ver("c", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(name)
        .bind(common::opt_i32(build_tag))
        .bind(common::opt_i32(dest_tag))
        .fetch_all(c.db().await?)
        .await?;
    rows.iter().map(target_value).collect()
}

/// The current target named by `ident`, as `getBuildTarget` returns it.
pub async fn find_target(c: &mut Ctx, ident: &Ident) -> HResult<Option<Value>> {
    Ok(query_targets(c, Some(ident), None, None, None).await?.pop())
}

/// getBuildTarget(info, event=None, strict=False)
pub async fn get_build_target(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let mut rows = query_targets(c, Some(&ident), a.opt_i64(1)?, None, None).await?;
    match rows.pop() {
        Some(t) => Ok(t),
        None if a.truthy(2) => Err(HubError::generic(format!("No such build target: {ident}"))),
        None => Ok(Value::Nil),
    }
}

/// getBuildTargets(info=None, event=None, buildTagID=None, destTagID=None, queryOpts=None)
pub async fn get_build_targets(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.opt_ident(0)?;
    let bt = match a.opt_ident(2)? {
        Some(i) => Some(common::find(c, Named::Tag, &i).await?.map_or(-1, |x| x.0)),
        None => None,
    };
    let dt = match a.opt_ident(3)? {
        Some(i) => Some(common::find(c, Named::Tag, &i).await?.map_or(-1, |x| x.0)),
        None => None,
    };
    let qo = common::QueryOpts::parse(a.val(4), &["id", "name"])?;
    let rows = query_targets(c, ident.as_ref(), a.opt_i64(1)?, bt, dt).await?;
    Ok(qo.apply(rows))
}

async fn insert_config(c: &mut Ctx, target: i64, build: i64, dest: i64) -> HResult<()> {
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO build_target_config (build_target_id, build_tag, dest_tag, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(target as i32)
    .bind(build as i32)
    .bind(dest as i32)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(())
}

async fn tags_of(c: &mut Ctx, build: &Value, dest: &Value) -> HResult<(i64, i64)> {
    let b = match common::find(c, Named::Tag, &common::ident_of(build, "tag")?).await? {
        Some((id, _)) => id,
        None => {
            return Err(HubError::generic(format!(
                "build tag '{}' does not exist",
                crate::pyrepr::repr(build).trim_matches('\'')
            )));
        }
    };
    let d = match common::find(c, Named::Tag, &common::ident_of(dest, "tag")?).await? {
        Some((id, _)) => id,
        None => {
            return Err(HubError::generic(format!(
                "destination tag '{}' does not exist",
                crate::pyrepr::repr(dest).trim_matches('\'')
            )));
        }
    };
    Ok((b, d))
}

/// createBuildTarget(name, build_tag, dest_tag)
pub async fn create_build_target(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("target").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    if !query_targets(c, Some(&Ident::Name(name.clone())), None, None, None)
        .await?
        .is_empty()
    {
        return Err(HubError::generic(format!(
            "A build target with the name '{name}' already exists"
        )));
    }
    let (b, d) = tags_of(c, a.val(1), a.val(2)).await?;
    c.event().await?;
    // a deleted target keeps its row (history); creating it again reuses the id
    let id: i32 = match common::find(c, Named::Target, &Ident::Name(name.clone())).await? {
        Some((id, _)) => id as i32,
        None => {
            sqlx::query_scalar("INSERT INTO build_target (name) VALUES ($1) RETURNING id")
                .bind(&name)
                .fetch_one(c.db().await?)
                .await?
        }
    };
    insert_config(c, i64::from(id), b, d).await?;
    Ok(Value::Nil)
}

/// editBuildTarget(buildTargetInfo, name, build_tag, dest_tag)
pub async fn edit_build_target(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("target").await?;
    let ident = a.ident(0)?;
    let (tid, old_name) = common::get(c, Named::Target, &ident).await?;
    if query_targets(c, Some(&ident), None, None, None)
        .await?
        .is_empty()
    {
        return Err(common::no_such(Named::Target, &ident));
    }
    let name = a.str(1)?.to_string();
    crate::names::check_internal(&name)?;
    if name != old_name {
        if common::find(c, Named::Target, &Ident::Name(name.clone()))
            .await?
            .is_some()
        {
            return Err(HubError::generic(format!(
                "A build target with the name '{name}' already exists"
            )));
        }
        c.mark_write();
        sqlx::query("UPDATE build_target SET name = $1 WHERE id = $2")
            .bind(&name)
            .bind(tid as i32)
            .execute(c.db().await?)
            .await?;
    }
    let (b, d) = tags_of(c, a.val(2), a.val(3)).await?;
    common::revoke(c, "build_target_config", "build_target_id = $2", &[tid]).await?;
    insert_config(c, tid, b, d).await?;
    Ok(Value::Nil)
}

/// deleteBuildTarget(buildTargetInfo)
pub async fn delete_build_target(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("target").await?;
    let ident = a.ident(0)?;
    let (tid, _) = common::get(c, Named::Target, &ident).await?;
    if query_targets(c, Some(&ident), None, None, None)
        .await?
        .is_empty()
    {
        return Err(common::no_such(Named::Target, &ident));
    }
    common::revoke(c, "build_target_config", "build_target_id = $2", &[tid]).await?;
    Ok(Value::Nil)
}
