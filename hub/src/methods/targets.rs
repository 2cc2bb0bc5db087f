//! Build targets: a name mapping to a build tag and a destination tag, versioned.

use super::common::{QueryOpts, paged_value};
use crate::ctx::Ctx;
use crate::domain::targets::{self, TARGET_ORDER, Target};
use crate::domain::{Named, Page, find};
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::signature::{Args, value_ident};
use koji_protocol::{Value, kstruct};

fn target_value(t: &Target) -> Value {
    kstruct! {
        "id" => t.id,
        "name" => t.name.clone(),
        "build_tag" => t.build_tag,
        "build_tag_name" => t.build_tag_name.clone(),
        "dest_tag" => t.dest_tag,
        "dest_tag_name" => t.dest_tag_name.clone(),
    }
}

/// getBuildTarget(info, event=None, strict=False)
pub async fn get_build_target(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let mut rows = targets::list(c, Some(&ident), a.opt_i64(1)?, None, None, &Page::default())
        .await?
        .into_rows();
    match rows.pop() {
        Some(t) => Ok(target_value(&t)),
        None if a.truthy(2) => Err(HubError::generic(format!("No such build target: {ident}"))),
        None => Ok(Value::Nil),
    }
}

/// The id of a tag a filter names; a tag nobody has filters everything out.
async fn tag_filter(c: &mut Ctx, ident: Option<Ident>) -> HResult<Option<i32>> {
    match ident {
        Some(i) => Ok(Some(find(c, Named::Tag, &i).await?.map_or(-1, |x| x.0))),
        None => Ok(None),
    }
}

/// getBuildTargets(info=None, event=None, buildTagID=None, destTagID=None, queryOpts=None)
pub async fn get_build_targets(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.opt_ident(0)?;
    let bt = tag_filter(c, a.opt_ident(2)?).await?;
    let dt = tag_filter(c, a.opt_ident(3)?).await?;
    let qo = QueryOpts::parse(a.val(4), TARGET_ORDER)?;
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = targets::list(c, ident.as_ref(), a.opt_i64(1)?, bt, dt, &page).await?;
    Ok(paged_value(rows, |t| target_value(&t)))
}

/// The build and destination tags a target names (both must exist).
async fn tags_of(c: &mut Ctx, build: &Value, dest: &Value) -> HResult<(i32, i32)> {
    let b = match find(c, Named::Tag, &value_ident(build, "tag")?).await? {
        Some((id, _)) => id,
        None => {
            return Err(HubError::generic(format!(
                "build tag '{}' does not exist",
                crate::pyrepr::repr(build).trim_matches('\'')
            )));
        }
    };
    let d = match find(c, Named::Tag, &value_ident(dest, "tag")?).await? {
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
    targets::check_free_name(c, &name).await?;
    let (b, d) = tags_of(c, a.val(1), a.val(2)).await?;
    targets::create(c, &name, b, d).await?;
    Ok(Value::Nil)
}

/// editBuildTarget(buildTargetInfo, name, build_tag, dest_tag)
pub async fn edit_build_target(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("target").await?;
    let ident = a.ident(0)?;
    let (tid, old_name) = targets::require(c, &ident).await?;
    let name = a.str(1)?.to_string();
    crate::names::check_internal(&name)?;
    if name != old_name {
        targets::rename(c, tid, &name).await?;
    }
    let (b, d) = tags_of(c, a.val(2), a.val(3)).await?;
    targets::set_tags(c, tid, b, d).await?;
    Ok(Value::Nil)
}

/// deleteBuildTarget(buildTargetInfo)
pub async fn delete_build_target(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("target").await?;
    let ident = a.ident(0)?;
    let (tid, _) = targets::require(c, &ident).await?;
    targets::delete(c, tid).await?;
    Ok(Value::Nil)
}
