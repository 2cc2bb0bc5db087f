//! Tags: config, extra values and inheritance, all versioned by event.

use super::{Named, find, get};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::tags as store;
use koji_protocol::{Struct, Value};
use std::collections::HashSet;

pub use crate::storage::tags::{Link, LinkRow, TAG_ORDER, Tag, TagConfig};
use crate::storage::{Page, Paged};

/// The tag named by `ident` as of `event` (None = now).
pub async fn get_tag(c: &mut Ctx, ident: &Ident, event: Option<i64>) -> HResult<Option<Tag>> {
    Ok(store::get(c.db().await?, ident, event).await?)
}

/// The current record of a tag, served from the hub's cache while no change has been
/// committed since it was read (it is read far more often than it changes).
pub async fn current_cached(c: &mut Ctx, ident: &Ident) -> HResult<Option<Tag>> {
    let generation = c.hub().generation();
    if let Ok(cache) = c.hub().tag_cache.lock()
        && let Some((g, t)) = cache.get(ident)
        && *g == generation
    {
        return Ok(Some(t.clone()));
    }
    let found = get_tag(c, ident, None).await?;
    if let Some(t) = &found
        && let Ok(mut cache) = c.hub().tag_cache.lock()
    {
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.retain(|_, (g, _)| *g == generation);
        cache.insert(ident.clone(), (generation, t.clone()));
    }
    Ok(found)
}

/// (id, name) of a tag that must exist now.
pub async fn require(c: &mut Ctx, ident: &Ident) -> HResult<(i32, String)> {
    get(c, Named::Tag, ident).await
}

/// The id of a permission that must exist.
pub async fn perm_id(c: &mut Ctx, ident: &Ident) -> HResult<i32> {
    Ok(get(c, Named::Permission, ident).await?.0)
}

/// A new tag's settings.
pub struct NewTag {
    pub name: String,
    pub parent: Option<i32>,
    /// Checked and space-joined.
    pub arches: String,
    pub perm_id: Option<i32>,
    pub locked: bool,
    pub maven_support: bool,
    pub maven_include_all: bool,
    pub extra: Struct,
}

/// The id of the parent a new tag names; "Parent tag 'x' could not be found" otherwise.
pub async fn parent_id(c: &mut Ctx, ident: &Ident) -> HResult<i32> {
    match find(c, Named::Tag, ident).await? {
        Some((id, _)) => Ok(id),
        None => Err(HubError::generic(format!(
            "Parent tag '{ident}' could not be found"
        ))),
    }
}

/// createTag: returns the new tag's id.
pub async fn create(c: &mut Ctx, t: NewTag) -> HResult<i32> {
    crate::names::check_internal(&t.name)?;
    if find(c, Named::Tag, &Ident::Name(t.name.clone()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!(
            "A tag with the name '{}' already exists",
            t.name
        )));
    }
    let s = c.stamp().await?;
    let db = c.db().await?;
    let id = store::insert(db, &t.name).await?;
    let cfg = TagConfig {
        arches: Some(t.arches),
        perm_id: t.perm_id,
        locked: t.locked,
        maven_support: t.maven_support,
        maven_include_all: t.maven_include_all,
    };
    store::insert_config(db, id, &cfg, s).await?;
    for (k, v) in &t.extra {
        set_extra(c, id, k, v).await?;
    }
    if let Some(p) = t.parent {
        let link = Link {
            parent_id: p,
            priority: 0,
            maxdepth: None,
            intransitive: false,
            noconfig: false,
            pkg_filter: String::new(),
        };
        store::insert_link(c.db().await?, id, &link, s).await?;
    }
    tracing::info!(tag = %t.name, "tag created");
    Ok(id)
}

async fn set_extra(c: &mut Ctx, tag: i32, key: &str, value: &Value) -> HResult<()> {
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::remove_extra(db, tag, key, s).await?;
    store::insert_extra(db, tag, key, value, s).await?;
    Ok(())
}

/// The current config of a tag.
pub async fn config(c: &mut Ctx, tag: i32) -> HResult<TagConfig> {
    Ok(store::current_config(c.db().await?, tag).await?)
}

/// A new name for a tag must be valid and free.
pub async fn check_new_name(c: &mut Ctx, name: &str) -> HResult<()> {
    crate::names::check_internal(name)?;
    if find(c, Named::Tag, &Ident::Name(name.to_string()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!(
            "Name {name} already taken by tag"
        )));
    }
    Ok(())
}

/// What `editTag2` changes.
pub struct TagEdit {
    /// A new name (different from the current one).
    pub name: Option<String>,
    pub config: TagConfig,
    pub extra: Struct,
    /// Extra keys to remove (each must exist) and to block (removed if present).
    pub remove_extra: Vec<String>,
    pub block_extra: Vec<String>,
}

/// editTag2.
pub async fn edit(c: &mut Ctx, tag: i32, tag_name: &str, e: TagEdit) -> HResult<()> {
    if let Some(n) = &e.name {
        check_new_name(c, n).await?;
        c.mark_write();
        store::rename(c.db().await?, tag, n).await?;
        c.event().await?;
    }
    let old = config(c, tag).await?;
    if e.config != old {
        let s = c.stamp().await?;
        let db = c.db().await?;
        store::revoke_config(db, tag, s).await?;
        store::insert_config(db, tag, &e.config, s).await?;
    }
    for (k, v) in &e.extra {
        set_extra(c, tag, k, v).await?;
    }
    for k in &e.remove_extra {
        let s = c.stamp().await?;
        if !store::remove_extra(c.db().await?, tag, k, s).await? {
            return Err(HubError::generic(format!(
                "Tag {tag_name} has no extra value {k}"
            )));
        }
    }
    for k in &e.block_extra {
        let s = c.stamp().await?;
        store::remove_extra(c.db().await?, tag, k, s).await?;
    }
    Ok(())
}

/// deleteTag: refused while a build target uses the tag.
pub async fn delete(c: &mut Ctx, tag: i32) -> HResult<()> {
    if store::used_by_target(c.db().await?, tag).await? {
        return Err(HubError::generic("Tag is used by a build target"));
    }
    let s = c.stamp().await?;
    store::revoke_all(c.db().await?, tag, s).await?;
    crate::storage::groups::revoke_all(c.db().await?, tag, s).await?;
    Ok(())
}

/// listTags: current tags (name LIKE `like`, listing `package`, with `build` tagged).
pub async fn list(
    c: &mut Ctx,
    like: Option<&str>,
    package: Option<i32>,
    build: Option<i32>,
    page: &Page,
) -> HResult<Paged<Tag>> {
    Ok(store::list(c.db().await?, like, package, build, page).await?)
}

/// Direct links of a tag (to its parents, or with `reverse` to its children), by priority.
pub async fn links(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
    reverse: bool,
) -> HResult<Vec<LinkRow>> {
    Ok(store::links(c.db().await?, tag, event, reverse).await?)
}

/// One change of `setInheritanceData`: a link to `parent_id` set, or deleted.
pub struct LinkChange {
    pub link: Link,
    pub delete: bool,
}

/// setInheritanceData: the tag's parent links after `changes` (applied to the current
/// ones, or to none with `clear`).
pub async fn set_inheritance(
    c: &mut Ctx,
    tag: i32,
    changes: Vec<LinkChange>,
    clear: bool,
) -> HResult<()> {
    let current = links(c, tag, None, false).await?;
    let mut wanted: Vec<Link> = if clear {
        Vec::new()
    } else {
        current.into_iter().map(|x| x.link).collect()
    };
    for ch in changes {
        let parent = ch.link.parent_id;
        if parent == tag {
            return Err(HubError::generic("A tag cannot inherit from itself"));
        }
        get(c, Named::Tag, &Ident::Id(parent)).await?;
        wanted.retain(|l| l.parent_id != parent);
        if !ch.delete {
            wanted.push(ch.link);
        }
    }
    let mut prios = HashSet::new();
    for l in &wanted {
        if !prios.insert(l.priority) {
            return Err(HubError::generic(format!(
                "Multiple parent tags with priority {}",
                l.priority
            )));
        }
    }
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_links(db, tag, s).await?;
    for l in &wanted {
        store::insert_link(db, tag, l, s).await?;
    }
    Ok(())
}

/// One tag reached through inheritance.
#[derive(Debug, Clone)]
pub struct Inherited {
    pub child_id: i32,
    pub parent_id: i32,
    /// The name of the tag at the far end (the parent, or the child when reversed).
    pub name: String,
    pub link: Link,
    pub currdepth: i64,
    pub nextdepth: Option<i64>,
    /// The package filters collected on the way.
    pub filter: Vec<String>,
    pub reverse: bool,
}

impl Inherited {
    /// The tag this entry reaches.
    pub fn reached(&self) -> i32 {
        if self.reverse {
            self.child_id
        } else {
            self.parent_id
        }
    }
}

/// The full inheritance chain, depth first in priority order. A tag appears once (first
/// reach wins); `maxdepth` limits how far beyond a link the walk goes; intransitive links
/// only count from the starting tag.
pub async fn full_inheritance(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
    reverse: bool,
) -> HResult<Vec<Inherited>> {
    let mut seen = HashSet::from([tag]);
    let mut out = Vec::new();
    walk_from(
        c,
        (tag, 1, None, Vec::new()),
        event,
        reverse,
        &mut seen,
        &mut out,
    )
    .await?;
    Ok(out)
}

/// Depth-first walk below one reached tag: (tag, currdepth, remaining depth, filters).
async fn walk_from(
    c: &mut Ctx,
    start: (i32, i64, Option<i64>, Vec<String>),
    event: Option<i64>,
    reverse: bool,
    seen: &mut HashSet<i32>,
    out: &mut Vec<Inherited>,
) -> HResult<()> {
    let (tag, depth, budget, filters) = start;
    if depth > 64 {
        return Ok(());
    }
    for row in links(c, tag, event, reverse).await? {
        let l = row.link;
        if l.intransitive && depth > 1 {
            continue;
        }
        let other = if reverse { row.child_id } else { row.parent_id };
        if !seen.insert(other) {
            continue;
        }
        let nextdepth = match (budget.map(|b| b - 1), l.maxdepth.map(i64::from)) {
            (Some(b), Some(m)) => Some(b.min(m)),
            (Some(b), None) => Some(b),
            (None, m) => m,
        };
        let mut filt = filters.clone();
        if !l.pkg_filter.is_empty() {
            filt.push(l.pkg_filter.clone());
        }
        out.push(Inherited {
            child_id: row.child_id,
            parent_id: row.parent_id,
            name: row.name,
            link: l,
            currdepth: depth,
            nextdepth,
            filter: filt.clone(),
            reverse,
        });
        if nextdepth.is_none_or(|d| d > 0) {
            Box::pin(walk_from(
                c,
                (other, depth + 1, nextdepth, filt),
                event,
                reverse,
                seen,
                out,
            ))
            .await?;
        }
    }
    Ok(())
}

/// The tag itself, then its ancestors in inheritance order, each with the package filters
/// (regexes) collected on the way: the order in which package lists, tagged builds and
/// external repos are looked up.
pub async fn inheritance_order(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
) -> HResult<Vec<(i32, Vec<String>)>> {
    let mut order = vec![(tag, Vec::new())];
    for e in full_inheritance(c, tag, event, false).await? {
        order.push((e.parent_id, e.filter));
    }
    Ok(order)
}

/// Whether a package name passes every inherited package filter (an invalid regex, which
/// the CLI would not let in, filters nothing).
pub fn filters_pass(filters: &[String], name: &str) -> bool {
    filters.iter().all(|f| {
        regex::Regex::new(f)
            .map(|re| re.is_match(name))
            .unwrap_or(true)
    })
}

/// The tags a tag takes its build config from: its ancestors in inheritance order, links
/// marked `noconfig` skipped.
pub async fn config_chain(c: &mut Ctx, tag: i32, event: Option<i64>) -> HResult<Vec<Tag>> {
    let mut chain = Vec::new();
    for e in full_inheritance(c, tag, event, false).await? {
        if e.link.noconfig {
            continue;
        }
        if let Some(t) = get_tag(c, &Ident::Id(e.parent_id), event).await? {
            chain.push(t);
        }
    }
    Ok(chain)
}

/// getBuildConfig: the tag with arches (its own, else the first of its config chain) and
/// extra values merged from the chain (nearest wins, its own last).
pub async fn build_config(c: &mut Ctx, ident: &Ident, event: Option<i64>) -> HResult<Option<Tag>> {
    let Some(mut tag) = get_tag(c, ident, event).await? else {
        return Ok(None);
    };
    let chain = config_chain(c, tag.id, event).await?;
    if tag.arches.is_empty()
        && let Some(arches) = chain.iter().map(|t| &t.arches).find(|a| !a.is_empty())
    {
        tag.arches = arches.clone();
    }
    let mut extra = Struct::new();
    for t in chain.iter().rev() {
        for (k, v) in &t.extra {
            extra.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &tag.extra {
        extra.insert(k.clone(), v.clone());
    }
    tag.extra = extra;
    Ok(Some(tag))
}

/// The repo arches of a tag: its own arch list, else the first non-empty one up its
/// inheritance (as getBuildConfig), without noarch/src which are not repo arches.
pub async fn repo_arches(c: &mut Ctx, tag: i32, event: Option<i64>) -> HResult<Vec<String>> {
    let mut arches = get_tag(c, &Ident::Id(tag), event)
        .await?
        .map(|t| t.arches)
        .unwrap_or_default();
    if arches.trim().is_empty() {
        for t in config_chain(c, tag, event).await? {
            if !t.arches.trim().is_empty() {
                arches = t.arches;
                break;
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    for a in arches.split_whitespace() {
        let a = canon_arch(a);
        if a != "noarch" && a != "src" && !out.iter().any(|x| x == a) {
            out.push(a.to_string());
        }
    }
    Ok(out)
}

/// The repo arch an RPM arch belongs to (the 32-bit x86 family shares one repo).
pub fn canon_arch(a: &str) -> &str {
    match a {
        "i486" | "i586" | "i686" | "athlon" | "geode" => "i386",
        other => other,
    }
}

/// Whether the tag is locked now.
pub async fn locked(c: &mut Ctx, tag: i32) -> HResult<bool> {
    Ok(store::locked(c.db().await?, tag).await?)
}

/// Tags with a truthy `key` extra value.
pub async fn with_truthy_extra(c: &mut Ctx, key: &str) -> HResult<Vec<i32>> {
    Ok(store::extra_values(c.db().await?, key)
        .await?
        .into_iter()
        .filter(|(_, v)| v.is_truthy())
        .map(|(t, _)| t)
        .collect())
}
