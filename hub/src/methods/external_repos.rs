//! External repositories (mirrors of upstream yum repos) and their links to tags.

use super::common::{self, Named, ver};
use super::tags::{inheritance_order, require_tag};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::{Args, Ident};
use koji_protocol::{Value, kstruct};
use sqlx::Row;

const MERGE_MODES: &[&str] = &["koji", "simple", "bare"];

/// Koji stores external repo URLs with a trailing slash; `$arch` stays literal.
fn normalize_url(url: &str) -> HResult<String> {
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

async fn repo_rows(
    c: &mut Ctx,
    ident: Option<&Ident>,
    url: Option<&str>,
    event: Option<i64>,
) -> HResult<Vec<Value>> {
    let (id, name) = match ident {
        Some(Ident::Id(i)) => (Some(common::opt_i32(Some(*i)).unwrap_or(-1)), None),
        Some(Ident::Name(n)) => (None, Some(n.clone())),
        None => (None, None),
    };
    let sql = format!(
        "SELECT r.id, r.name, c.url FROM external_repo r JOIN external_repo_config c \
           ON c.external_repo_id = r.id AND {} \
         WHERE ($1::int IS NULL OR r.id = $1) AND ($2::text IS NULL OR r.name = $2) \
           AND ($3::text IS NULL OR c.url = $3) ORDER BY r.name",
        ver("c", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(name)
        .bind(url)
        .fetch_all(c.db().await?)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(kstruct! {
            "id" => r.try_get::<i32, _>("id")?,
            "name" => r.try_get::<String, _>("name")?,
            "url" => r.try_get::<String, _>("url")?,
        });
    }
    Ok(out)
}

async fn require_repo(c: &mut Ctx, v: &Value) -> HResult<(i64, String)> {
    let ident = common::ident_of(v, "external repo")?;
    let mut rows = repo_rows(c, Some(&ident), None, None).await?;
    match rows.pop() {
        Some(r) => Ok((
            r.get("id").and_then(Value::as_i64).unwrap_or(0),
            r.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )),
        None => Err(HubError::generic(format!("No such repo: {ident}"))),
    }
}

/// createExternalRepo(name, url)
pub async fn create_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    let url = normalize_url(a.str(1)?)?;
    if !repo_rows(c, Some(&Ident::Name(name.clone())), None, None)
        .await?
        .is_empty()
    {
        return Err(HubError::generic(format!(
            "An external repo named \"{name}\" already exists"
        )));
    }
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    let id: i32 = match common::find(c, Named::ExternalRepo, &Ident::Name(name.clone())).await? {
        Some((id, _)) => id as i32,
        None => {
            sqlx::query_scalar("INSERT INTO external_repo (name) VALUES ($1) RETURNING id")
                .bind(&name)
                .fetch_one(c.db().await?)
                .await?
        }
    };
    sqlx::query(
        "INSERT INTO external_repo_config (external_repo_id, url, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(&url)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    tracing::info!(repo = %name, %url, "external repo created");
    Ok(kstruct! { "id" => id, "name" => name, "url" => url })
}

/// getExternalRepo(info, strict=False, event=None)
pub async fn get_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let mut rows = repo_rows(c, Some(&ident), None, a.opt_i64(2)?).await?;
    match rows.pop() {
        Some(r) => Ok(r),
        None if a.truthy(1) => Err(HubError::generic(format!("No such repo: {ident}"))),
        None => Ok(Value::Nil),
    }
}

/// listExternalRepos(info=None, url=None, event=None, queryOpts=None)
pub async fn list_external_repos(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.opt_ident(0)?;
    let url = a.opt_str(1)?.map(str::to_string);
    let qo = common::QueryOpts::parse(a.val(3), &["id", "name", "url"])?;
    let rows = repo_rows(c, ident.as_ref(), url.as_deref(), a.opt_i64(2)?).await?;
    Ok(qo.apply(rows))
}

/// editExternalRepo(info, name=None, url=None)
pub async fn edit_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let (id, old_name) = require_repo(c, a.val(0)).await?;
    if let Some(n) = a.opt_str(1)?
        && n != old_name
    {
        crate::names::check_internal(n)?;
        if common::find(c, Named::ExternalRepo, &Ident::Name(n.to_string()))
            .await?
            .is_some()
        {
            return Err(HubError::generic(format!(
                "name \"{n}\" is already taken by an external repo"
            )));
        }
        c.mark_write();
        sqlx::query("UPDATE external_repo SET name = $1 WHERE id = $2")
            .bind(n)
            .bind(id as i32)
            .execute(c.db().await?)
            .await?;
    }
    if let Some(u) = a.opt_str(2)? {
        let url = normalize_url(u)?;
        common::revoke(c, "external_repo_config", "external_repo_id = $2", &[id]).await?;
        let ev = c.event().await?;
        let me = c.user_id().map(|x| x as i32);
        sqlx::query(
            "INSERT INTO external_repo_config (external_repo_id, url, create_event, creator_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(id as i32)
        .bind(url)
        .bind(ev)
        .bind(me)
        .execute(c.db().await?)
        .await?;
    }
    Ok(Value::Nil)
}

/// deleteExternalRepo(info)
pub async fn delete_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let (id, _) = require_repo(c, a.val(0)).await?;
    common::revoke(c, "tag_external_repos", "external_repo_id = $2", &[id]).await?;
    common::revoke(c, "external_repo_config", "external_repo_id = $2", &[id]).await?;
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
    let (repo_id, repo_name) = require_repo(c, a.val(1)).await?;
    let priority = a.i64(2)?;
    let merge = parse_merge_mode(a.val(3))?.unwrap_or_else(|| "koji".into());
    let arches = match a.opt_str(4)? {
        Some(s) => Some(crate::names::parse_arches(s)?),
        None => None,
    };
    let links = tag_links(c, Some(tag_id), None, None).await?;
    for l in &links {
        if l.get("external_repo_id").and_then(Value::as_i64) == Some(repo_id) {
            return Err(HubError::generic(format!(
                "tag {tag_name} already associated with external repo {repo_name}"
            )));
        }
        if l.get("priority").and_then(Value::as_i64) == Some(priority) {
            return Err(HubError::generic(format!(
                "tag {tag_name} already associated with an external repo at priority {priority}"
            )));
        }
    }
    insert_link(c, tag_id, repo_id, priority, &merge, arches.as_deref()).await?;
    Ok(Value::Nil)
}

async fn insert_link(
    c: &mut Ctx,
    tag_id: i64,
    repo_id: i64,
    priority: i64,
    merge: &str,
    arches: Option<&str>,
) -> HResult<()> {
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO tag_external_repos (tag_id, external_repo_id, priority, merge_mode, arches, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tag_id as i32)
    .bind(repo_id as i32)
    .bind(priority as i32)
    .bind(merge)
    .bind(arches)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(())
}

/// removeExternalRepoFromTag(tag_info, repo_info)
pub async fn remove_external_repo_from_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let (repo_id, repo_name) = require_repo(c, a.val(1)).await?;
    let n = common::revoke(
        c,
        "tag_external_repos",
        "tag_id = $2 AND external_repo_id = $3",
        &[tag_id, repo_id],
    )
    .await?;
    if n == 0 {
        return Err(HubError::generic(format!(
            "external repo {repo_name} not associated with tag {tag_name}"
        )));
    }
    Ok(Value::Nil)
}

/// editTagExternalRepo(tag_info, repo_info, priority=None, merge_mode=None, arches=None)
pub async fn edit_tag_external_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let (repo_id, repo_name) = require_repo(c, a.val(1)).await?;
    let links = tag_links(c, Some(tag_id), Some(repo_id), None).await?;
    let Some(cur) = links.first() else {
        return Err(HubError::generic(format!(
            "external repo {repo_name} not associated with tag {tag_name}"
        )));
    };
    let priority = a
        .opt_i64(2)?
        .unwrap_or_else(|| cur.get("priority").and_then(Value::as_i64).unwrap_or(0));
    let merge = parse_merge_mode(a.val(3))?.unwrap_or_else(|| {
        cur.get("merge_mode")
            .and_then(Value::as_str)
            .unwrap_or("koji")
            .to_string()
    });
    let arches = match a.opt_str(4)? {
        Some(s) => Some(crate::names::parse_arches(s)?),
        None => cur
            .get("arches")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    common::revoke(
        c,
        "tag_external_repos",
        "tag_id = $2 AND external_repo_id = $3",
        &[tag_id, repo_id],
    )
    .await?;
    insert_link(c, tag_id, repo_id, priority, &merge, arches.as_deref()).await?;
    Ok(Value::Bool(true))
}

async fn tag_links(
    c: &mut Ctx,
    tag: Option<i64>,
    repo: Option<i64>,
    event: Option<i64>,
) -> HResult<Vec<Value>> {
    let sql = format!(
        "SELECT l.tag_id, t.name AS tag_name, l.external_repo_id, r.name AS external_repo_name, rc.url, \
                l.merge_mode, l.priority, l.arches \
         FROM tag_external_repos l JOIN tag t ON t.id = l.tag_id JOIN external_repo r ON r.id = l.external_repo_id \
         JOIN external_repo_config rc ON rc.external_repo_id = r.id AND {} \
         WHERE {} AND ($1::int IS NULL OR l.tag_id = $1) AND ($2::int IS NULL OR l.external_repo_id = $2) \
         ORDER BY l.priority, t.name",
        ver("rc", event),
        ver("l", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(common::opt_i32(tag))
        .bind(common::opt_i32(repo))
        .fetch_all(c.db().await?)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(kstruct! {
            "tag_id" => r.try_get::<i32, _>("tag_id")?,
            "tag_name" => r.try_get::<String, _>("tag_name")?,
            "external_repo_id" => r.try_get::<i32, _>("external_repo_id")?,
            "external_repo_name" => r.try_get::<String, _>("external_repo_name")?,
            "url" => r.try_get::<String, _>("url")?,
            "merge_mode" => r.try_get::<String, _>("merge_mode")?,
            "priority" => r.try_get::<i32, _>("priority")?,
            "arches" => r.try_get::<Option<String>, _>("arches")?,
        });
    }
    Ok(out)
}

/// getTagExternalRepos(tag_info=None, repo_info=None, event=None)
pub async fn get_tag_external_repos(c: &mut Ctx, a: Args) -> HResult<Value> {
    let tag = match a.val(0) {
        Value::Nil => None,
        v => Some(require_tag(c, v).await?.0),
    };
    let repo = match a.val(1) {
        Value::Nil => None,
        v => Some(require_repo(c, v).await?.0),
    };
    Ok(Value::Array(tag_links(c, tag, repo, a.opt_i64(2)?).await?))
}

/// getExternalRepoList(tag_info, event=None): the tag's external repos including inherited
/// ones, first by inheritance order, then by priority; a repo appears once.
pub async fn get_external_repo_list(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let event = a.opt_i64(1)?;
    let order: Vec<i64> = inheritance_order(c, tag_id, event)
        .await?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for t in order {
        for l in tag_links(c, Some(t), None, event).await? {
            let rid = l
                .get("external_repo_id")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if seen.insert(rid) {
                out.push(l);
            }
        }
    }
    Ok(Value::Array(out))
}
