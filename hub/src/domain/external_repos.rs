//! External repositories (mirrors of upstream yum repos) and their links to tags. What
//! was last seen of them upstream is in [`super::repos::external`].

use super::tags::inheritance_order;
use super::{Named, find};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::external_repos as store;

pub use crate::storage::external_repos::{EXTERNAL_REPO_ORDER, ExternalRepo, TagLink};
use crate::storage::{Page, Paged};

pub const MERGE_MODES: &[&str] = &["koji", "simple", "bare"];

/// Koji stores external repo URLs with a trailing slash; `$arch` stays literal.
pub fn normalize_url(url: &str) -> HResult<String> {
    let url = url.trim();
    let scheme_ok = ["http://", "https://", "file://", "ftp://"]
        .iter()
        .any(|s| url.starts_with(s));
    if !scheme_ok {
        return Err(HubError::generic(format!(
            "Invalid url: {url} (expected http://, https://, ftp:// or file://)"
        )));
    }
    Ok(if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    })
}

/// External repos as of `event` (all, the one named by `ident`, those with `url`).
pub async fn list(
    c: &mut Ctx,
    ident: Option<&Ident>,
    url: Option<&str>,
    event: Option<i64>,
    page: &Page,
) -> HResult<Paged<ExternalRepo>> {
    Ok(store::list(c.db().await?, ident, url, event, page).await?)
}

/// The current repo named by `ident`; "No such repo" otherwise.
pub async fn require(c: &mut Ctx, ident: &Ident) -> HResult<ExternalRepo> {
    list(c, Some(ident), None, None, &Page::default())
        .await?
        .into_rows()
        .pop()
        .ok_or_else(|| HubError::generic(format!("No such repo: {ident}")))
}

/// createExternalRepo (a deleted repo's name is reused with its id).
pub async fn create(c: &mut Ctx, name: &str, url: &str) -> HResult<ExternalRepo> {
    crate::names::check_internal(name)?;
    let url = normalize_url(url)?;
    if !list(
        c,
        Some(&Ident::Name(name.to_string())),
        None,
        None,
        &Page::default(),
    )
    .await?
    .into_rows()
    .is_empty()
    {
        return Err(HubError::generic(format!(
            "An external repo named \"{name}\" already exists"
        )));
    }
    let s = c.stamp().await?;
    let id = match find(c, Named::ExternalRepo, &Ident::Name(name.to_string())).await? {
        Some((id, _)) => id,
        None => store::insert(c.db().await?, name).await?,
    };
    store::insert_config(c.db().await?, id, &url, s).await?;
    tracing::info!(repo = %name, %url, "external repo created");
    Ok(ExternalRepo {
        id,
        name: name.to_string(),
        url,
    })
}

/// editExternalRepo: a new name (must be free), a new URL.
pub async fn edit(
    c: &mut Ctx,
    repo: &ExternalRepo,
    name: Option<&str>,
    url: Option<&str>,
) -> HResult<()> {
    if let Some(n) = name
        && n != repo.name
    {
        crate::names::check_internal(n)?;
        if find(c, Named::ExternalRepo, &Ident::Name(n.to_string()))
            .await?
            .is_some()
        {
            return Err(HubError::generic(format!(
                "name \"{n}\" is already taken by an external repo"
            )));
        }
        c.mark_write();
        store::rename(c.db().await?, repo.id, n).await?;
    }
    if let Some(u) = url {
        let url = normalize_url(u)?;
        let s = c.stamp().await?;
        let db = c.db().await?;
        store::revoke_config(db, repo.id, s).await?;
        store::insert_config(db, repo.id, &url, s).await?;
    }
    Ok(())
}

/// deleteExternalRepo: its tag links and URL are revoked.
pub async fn delete(c: &mut Ctx, repo: i32) -> HResult<()> {
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_links_of_repo(db, repo, s).await?;
    store::revoke_config(db, repo, s).await?;
    Ok(())
}

/// Links as of `event` (of a tag, of a repo, or all).
pub async fn tag_links(
    c: &mut Ctx,
    tag: Option<i32>,
    repo: Option<i32>,
    event: Option<i64>,
) -> HResult<Vec<TagLink>> {
    Ok(store::tag_links(c.db().await?, tag, repo, event).await?)
}

/// addExternalRepoToTag: one link per repo and priority.
pub async fn add_to_tag(
    c: &mut Ctx,
    tag: (i32, &str),
    repo: &ExternalRepo,
    priority: i32,
    merge: &str,
    arches: Option<&str>,
) -> HResult<()> {
    for l in tag_links(c, Some(tag.0), None, None).await? {
        if l.external_repo_id == repo.id {
            return Err(HubError::generic(format!(
                "tag {} already associated with external repo {}",
                tag.1, repo.name
            )));
        }
        if l.priority == priority {
            return Err(HubError::generic(format!(
                "tag {} already associated with an external repo at priority {priority}",
                tag.1
            )));
        }
    }
    let s = c.stamp().await?;
    store::insert_link(c.db().await?, tag.0, repo.id, priority, merge, arches, s).await?;
    Ok(())
}

/// removeExternalRepoFromTag.
pub async fn remove_from_tag(c: &mut Ctx, tag: (i32, &str), repo: &ExternalRepo) -> HResult<()> {
    let s = c.stamp().await?;
    let n = store::revoke_link(c.db().await?, tag.0, repo.id, s).await?;
    if n == 0 {
        return Err(not_associated(tag.1, &repo.name));
    }
    Ok(())
}

fn not_associated(tag: &str, repo: &str) -> HubError {
    HubError::generic(format!(
        "external repo {repo} not associated with tag {tag}"
    ))
}

/// The current link of a tag to a repo; "not associated" otherwise.
pub async fn require_link(c: &mut Ctx, tag: (i32, &str), repo: &ExternalRepo) -> HResult<TagLink> {
    tag_links(c, Some(tag.0), Some(repo.id), None)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_associated(tag.1, &repo.name))
}

/// editTagExternalRepo: a new version of the link.
pub async fn set_link(
    c: &mut Ctx,
    tag: i32,
    repo: i32,
    priority: i32,
    merge: &str,
    arches: Option<&str>,
) -> HResult<()> {
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_link(db, tag, repo, s).await?;
    store::insert_link(db, tag, repo, priority, merge, arches, s).await?;
    Ok(())
}

/// getExternalRepoList: the tag's links including inherited ones, first by inheritance
/// order, then by priority; a repo appears once.
pub async fn inherited_links(c: &mut Ctx, tag: i32, event: Option<i64>) -> HResult<Vec<TagLink>> {
    let order: Vec<i32> = inheritance_order(c, tag, event)
        .await?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for t in order {
        for l in tag_links(c, Some(t), None, event).await? {
            if seen.insert(l.external_repo_id) {
                out.push(l);
            }
        }
    }
    Ok(out)
}
