//! External repositories (mirrors of upstream yum repos) and their links to tags.

use super::common::{QueryOpts, paged_value, require_tag};
use crate::ctx::Ctx;
use crate::domain::Page;
use crate::domain::external_repos::{
    self, EXTERNAL_REPO_ORDER, ExternalRepo, MERGE_MODES, TagLink,
};
use crate::error::{HResult, HubError};
use crate::signature::{Args, checked_id, value_ident};
use koji_protocol::{Value, kstruct};

fn repo_value(r: &ExternalRepo) -> Value {
    kstruct! { "id" => r.id, "name" => r.name.clone(), "url" => r.url.clone() }
}

fn link_value(l: &TagLink) -> Value {
    kstruct! {
        "tag_id" => l.tag_id,
        "tag_name" => l.tag_name.clone(),
        "external_repo_id" => l.external_repo_id,
        "external_repo_name" => l.external_repo_name.clone(),
        "url" => l.url.clone(),
        "merge_mode" => l.merge_mode.clone(),
        "priority" => l.priority,
        "arches" => l.arches.clone(),
    }
}

/// The current external repo named by `v`.
async fn require_repo(c: &mut Ctx, v: &Value) -> HResult<ExternalRepo> {
    let ident = value_ident(v, "external repo")?;
    external_repos::require(c, &ident).await
}

/// createExternalRepo(name, url)
pub async fn create_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    let url = a.str(1)?.to_string();
    let r = external_repos::create(c, &name, &url).await?;
    Ok(repo_value(&r))
}

/// getExternalRepo(info, strict=False, event=None)
pub async fn get_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let mut rows = external_repos::list(c, Some(&ident), None, a.opt_i64(2)?, &Page::default())
        .await?
        .into_rows();
    match rows.pop() {
        Some(r) => Ok(repo_value(&r)),
        None if a.truthy(1) => Err(HubError::generic(format!("No such repo: {ident}"))),
        None => Ok(Value::Nil),
    }
}

/// listExternalRepos(info=None, url=None, event=None, queryOpts=None)
pub async fn list_external_repos(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.opt_ident(0)?;
    let url = a.opt_str(1)?.map(str::to_string);
    let qo = QueryOpts::parse(a.val(3), EXTERNAL_REPO_ORDER)?;
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows =
        external_repos::list(c, ident.as_ref(), url.as_deref(), a.opt_i64(2)?, &page).await?;
    Ok(paged_value(rows, |r| repo_value(&r)))
}

/// editExternalRepo(info, name=None, url=None)
pub async fn edit_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let repo = require_repo(c, a.val(0)).await?;
    let name = a.opt_str(1)?.map(str::to_string);
    let url = a.opt_str(2)?.map(str::to_string);
    external_repos::edit(c, &repo, name.as_deref(), url.as_deref()).await?;
    Ok(Value::Nil)
}

/// deleteExternalRepo(info)
pub async fn delete_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let repo = require_repo(c, a.val(0)).await?;
    external_repos::delete(c, repo.id).await?;
    Ok(Value::Nil)
}

fn parse_merge_mode(v: &Value) -> HResult<Option<String>> {
    match v {
        Value::Nil => Ok(None),
        Value::String(m) if MERGE_MODES.contains(&m.as_str()) => Ok(Some(m.clone())),
        other => Err(HubError::generic(format!(
            "Invalid merge mode: {}",
            crate::pyrepr::repr(other)
        ))),
    }
}

/// addExternalRepoToTag(tag_info, repo_info, priority, merge_mode='koji', arches=None)
pub async fn add_external_repo_to_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let repo = require_repo(c, a.val(1)).await?;
    let priority = checked_id("priority", a.i64(2)?)?;
    let merge = parse_merge_mode(a.val(3))?.unwrap_or_else(|| "koji".into());
    let arches = match a.opt_str(4)? {
        Some(s) => Some(crate::names::parse_arches(s)?),
        None => None,
    };
    external_repos::add_to_tag(
        c,
        (tag_id, &tag_name),
        &repo,
        priority,
        &merge,
        arches.as_deref(),
    )
    .await?;
    Ok(Value::Nil)
}

/// removeExternalRepoFromTag(tag_info, repo_info)
pub async fn remove_external_repo_from_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let repo = require_repo(c, a.val(1)).await?;
    external_repos::remove_from_tag(c, (tag_id, &tag_name), &repo).await?;
    Ok(Value::Nil)
}

/// editTagExternalRepo(tag_info, repo_info, priority=None, merge_mode=None, arches=None)
pub async fn edit_tag_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let repo = require_repo(c, a.val(1)).await?;
    let cur = external_repos::require_link(c, (tag_id, &tag_name), &repo).await?;
    let priority = match a.opt_i64(2)? {
        Some(p) => checked_id("priority", p)?,
        None => cur.priority,
    };
    let merge = parse_merge_mode(a.val(3))?.unwrap_or(cur.merge_mode);
    let arches = match a.opt_str(4)? {
        Some(s) => Some(crate::names::parse_arches(s)?),
        None => cur.arches,
    };
    external_repos::set_link(c, tag_id, repo.id, priority, &merge, arches.as_deref()).await?;
    Ok(Value::Bool(true))
}

/// getTagExternalRepos(tag_info=None, repo_info=None, event=None)
pub async fn get_tag_external_repos(c: &mut Ctx, a: Args) -> HResult<Value> {
    let tag = match a.val(0) {
        Value::Nil => None,
        v => Some(require_tag(c, v).await?.0),
    };
    let repo = match a.val(1) {
        Value::Nil => None,
        v => Some(require_repo(c, v).await?.id),
    };
    let rows = external_repos::tag_links(c, tag, repo, a.opt_i64(2)?).await?;
    Ok(Value::Array(rows.iter().map(link_value).collect()))
}

/// getExternalRepoList(tag_info, event=None): the tag's external repos including inherited
/// ones, first by inheritance order, then by priority; a repo appears once.
pub async fn get_external_repo_list(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let rows = external_repos::inherited_links(c, tag_id, a.opt_i64(1)?).await?;
    Ok(Value::Array(rows.iter().map(link_value).collect()))
}
