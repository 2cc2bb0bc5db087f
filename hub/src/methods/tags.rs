//! Tags: config, extra, inheritance. All versioned by event.

use super::common::{self, Named, ver};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::{Args, Ident};
use koji_protocol::{Struct, Value, kstruct};
use sqlx::Row;
use std::collections::HashSet;

const TAG_SELECT: &str = "SELECT t.id, t.name, c.arches, c.perm_id, p.name AS perm, c.locked, \
    c.maven_support, c.maven_include_all FROM tag t JOIN tag_config c ON c.tag_id = t.id";

fn tag_value(r: &sqlx::postgres::PgRow, extra: Struct) -> HResult<Value> {
    Ok(kstruct! {
        "id" => r.try_get::<i32, _>("id")?,
        "name" => r.try_get::<String, _>("name")?,
        "perm_id" => r.try_get::<Option<i32>, _>("perm_id")?,
        "perm" => r.try_get::<Option<String>, _>("perm")?,
        "arches" => r.try_get::<Option<String>, _>("arches")?.unwrap_or_default(),
        "locked" => r.try_get::<bool, _>("locked")?,
        "maven_support" => r.try_get::<bool, _>("maven_support")?,
        "maven_include_all" => r.try_get::<bool, _>("maven_include_all")?,
        "extra" => Value::Struct(extra),
    })
}

/// The tag record as of `event` (None = now), or None.
pub async fn tag_record(c: &mut Ctx, ident: &Ident, event: Option<i64>) -> HResult<Option<Value>> {
    // one round trip: the extra keys and values come along as two ordered arrays
    let sql = format!(
        "SELECT t.id, t.name, c.arches, c.perm_id, p.name AS perm, c.locked, c.maven_support, \
           c.maven_include_all, x.extra_keys, x.extra_values \
         FROM tag t JOIN tag_config c ON c.tag_id = t.id AND {cv} LEFT JOIN permissions p ON p.id = c.perm_id, \
           LATERAL (SELECT COALESCE(array_agg(e.key ORDER BY e.key), '{{}}') AS extra_keys, \
                           COALESCE(array_agg(e.value ORDER BY e.key), '{{}}') AS extra_values \
                    FROM tag_extra e WHERE e.tag_id = t.id AND {ev}) x \
         WHERE {}",
        match ident {
            Ident::Id(_) => "t.id = $1",
            Ident::Name(_) => "t.name = $1",
        },
        cv = ver("c", event),
        ev = ver("e", event),
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql));
    let q = match ident {
        Ident::Id(i) => q.bind(common::opt_i32(Some(*i)).unwrap_or(-1)),
        Ident::Name(n) => q.bind(n.clone()),
    };
    let Some(r) = q.fetch_optional(c.db().await?).await? else {
        return Ok(None);
    };
    let keys: Vec<String> = r.try_get("extra_keys")?;
    let values: Vec<String> = r.try_get("extra_values")?;
    let extra: Struct = keys
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k, common::load_value(&v)))
        .collect();
    let mut v = tag_value(&r, extra)?;
    if let (Some(e), Value::Struct(m)) = (event, &mut v) {
        m.insert("query_event".into(), Value::Int(e));
    }
    Ok(Some(v))
}

/// (id, name) of a tag that must exist now.
pub async fn require_tag(c: &mut Ctx, v: &Value) -> HResult<(i64, String)> {
    let ident = common::ident_of(v, "tag")?;
    common::get(c, Named::Tag, &ident).await
}

/// getTag(tagInfo, strict=False, event=None, blocked=False)
pub async fn get_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let event = a.opt_i64(2)?;
    // the current record of a tag is read far more often than it changes: serve it from the
    // hub's cache while no change has been committed since it was read
    let generation = c.hub().generation();
    if event.is_none()
        && let Ok(cache) = c.hub().tag_cache.lock()
        && let Some((g, v)) = cache.get(&ident)
        && *g == generation
    {
        return Ok(v.clone());
    }
    let found = tag_record(c, &ident, event).await?;
    if event.is_none()
        && let Some(v) = &found
        && let Ok(mut cache) = c.hub().tag_cache.lock()
    {
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.retain(|_, (g, _)| *g == generation);
        cache.insert(ident.clone(), (generation, v.clone()));
    }
    match found {
        Some(t) => Ok(t),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "No such tagInfo: {}",
            crate::pyrepr::repr(a.val(0))
        ))),
        None => Ok(Value::Nil),
    }
}

fn opt_bool(v: Option<&Value>) -> Option<bool> {
    v.filter(|x| !x.is_nil()).map(Value::is_truthy)
}

async fn perm_id(c: &mut Ctx, v: &Value) -> HResult<Option<i64>> {
    if v.is_nil() {
        return Ok(None);
    }
    let ident = common::ident_of(v, "permission")?;
    Ok(Some(common::get(c, Named::Permission, &ident).await?.0))
}

async fn insert_config(
    c: &mut Ctx,
    tag_id: i64,
    arches: &str,
    perm: Option<i64>,
    locked: bool,
    maven: (bool, bool),
) -> HResult<()> {
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO tag_config (tag_id, arches, perm_id, locked, maven_support, maven_include_all, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tag_id as i32)
    .bind(arches)
    .bind(common::opt_i32(perm))
    .bind(locked)
    .bind(maven.0)
    .bind(maven.1)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(())
}

async fn set_extra(c: &mut Ctx, tag_id: i64, key: &str, value: &Value) -> HResult<()> {
    remove_extra(c, tag_id, key).await?;
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO tag_extra (tag_id, key, value, create_event, creator_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tag_id as i32)
    .bind(key)
    .bind(common::store_value(value))
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(())
}

async fn remove_extra(c: &mut Ctx, tag_id: i64, key: &str) -> HResult<bool> {
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    let n = sqlx::query(
        "UPDATE tag_extra SET active = NULL, revoke_event = $1, revoker_id = $2 \
         WHERE active AND tag_id = $3 AND key = $4",
    )
    .bind(ev)
    .bind(me)
    .bind(tag_id as i32)
    .bind(key)
    .execute(c.db().await?)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// createTag(name, parent=None, arches=None, perm=None, locked=False, maven_support=False,
/// maven_include_all=False, extra=None)
pub async fn create_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    let parent = match a.val(1) {
        Value::Nil => None,
        v => {
            let ident = common::ident_of(v, "tag")?;
            match common::find(c, Named::Tag, &ident).await? {
                Some((id, _)) => Some(id),
                None => {
                    return Err(HubError::generic(format!(
                        "Parent tag '{ident}' could not be found"
                    )));
                }
            }
        }
    };
    let arches = match a.opt_str(2)? {
        Some(s) => crate::names::parse_arches(s)?,
        None => String::new(),
    };
    let perm = perm_id(c, a.val(3)).await?;
    if common::find(c, Named::Tag, &Ident::Name(name.clone()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!(
            "A tag with the name '{name}' already exists"
        )));
    }
    let extra = a.opt_struct(7)?.cloned().unwrap_or_default();
    c.event().await?;
    let id: i32 = sqlx::query_scalar("INSERT INTO tag (name) VALUES ($1) RETURNING id")
        .bind(&name)
        .fetch_one(c.db().await?)
        .await?;
    let id = i64::from(id);
    insert_config(
        c,
        id,
        &arches,
        perm,
        a.truthy(4),
        (a.truthy(5), a.truthy(6)),
    )
    .await?;
    for (k, v) in &extra {
        set_extra(c, id, k, v).await?;
    }
    if let Some(p) = parent {
        insert_link(
            c,
            id,
            &Link {
                parent_id: p,
                priority: 0,
                maxdepth: None,
                intransitive: false,
                noconfig: false,
                pkg_filter: String::new(),
            },
        )
        .await?;
    }
    tracing::info!(tag = %name, "tag created");
    Ok(Value::Int(id))
}

/// editTag2(tagInfo, **kwargs)
pub async fn edit_tag2(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let r = sqlx::query(
        "SELECT arches, perm_id, locked, maven_support, maven_include_all FROM tag_config WHERE tag_id = $1 AND active",
    )
    .bind(tag_id as i32)
    .fetch_one(c.db().await?)
    .await?;
    let old_arches: Option<String> = r.try_get("arches")?;
    let old_perm: Option<i32> = r.try_get("perm_id")?;
    let old_locked: bool = r.try_get("locked")?;
    let old_maven: (bool, bool) = (r.try_get("maven_support")?, r.try_get("maven_include_all")?);
    let kw = &a.extra;
    const KNOWN: &[&str] = &[
        "name",
        "arches",
        "locked",
        "perm",
        "perm_id",
        "maven_support",
        "maven_include_all",
        "extra",
        "remove_extra",
        "block_extra",
    ];
    if let Some(k) = kw.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(HubError::parameter(format!(
            "editTag2() got an unexpected keyword argument '{k}'"
        )));
    }
    if let Some(n) = kw.get("name").and_then(Value::as_str)
        && n != tag_name
    {
        crate::names::check_internal(n)?;
        if common::find(c, Named::Tag, &Ident::Name(n.to_string()))
            .await?
            .is_some()
        {
            return Err(HubError::generic(format!("Name {n} already taken by tag")));
        }
        c.mark_write();
        sqlx::query("UPDATE tag SET name = $1 WHERE id = $2")
            .bind(n)
            .bind(tag_id as i32)
            .execute(c.db().await?)
            .await?;
        c.event().await?;
    }
    let arches = match kw.get("arches") {
        Some(Value::String(s)) => Some(crate::names::parse_arches(s)?),
        Some(Value::Nil) => Some(String::new()),
        Some(_) => return Err(HubError::parameter("arches must be a string")),
        None => old_arches.clone(),
    };
    let perm = match (kw.get("perm"), kw.get("perm_id")) {
        (Some(v), _) | (None, Some(v)) => perm_id(c, v).await?.map(|x| x as i32),
        (None, None) => old_perm,
    };
    let locked = opt_bool(kw.get("locked")).unwrap_or(old_locked);
    let maven = (
        opt_bool(kw.get("maven_support")).unwrap_or(old_maven.0),
        opt_bool(kw.get("maven_include_all")).unwrap_or(old_maven.1),
    );
    if arches != old_arches || perm != old_perm || locked != old_locked || maven != old_maven {
        common::revoke(c, "tag_config", "tag_id = $2", &[tag_id]).await?;
        insert_config(
            c,
            tag_id,
            arches.as_deref().unwrap_or(""),
            perm.map(i64::from),
            locked,
            maven,
        )
        .await?;
    }
    if let Some(extra) = kw.get("extra") {
        let extra = extra
            .as_struct()
            .ok_or_else(|| HubError::parameter("extra must be a dict"))?;
        for (k, v) in extra {
            set_extra(c, tag_id, k, v).await?;
        }
    }
    for key in ["remove_extra", "block_extra"] {
        if let Some(Value::Array(keys)) = kw.get(key) {
            for k in keys {
                let k = k.as_str().ok_or_else(|| {
                    HubError::parameter(format!("{key} must be a list of strings"))
                })?;
                if key == "remove_extra" && !remove_extra(c, tag_id, k).await? {
                    return Err(HubError::generic(format!(
                        "Tag {tag_name} has no extra value {k}"
                    )));
                }
                if key == "block_extra" {
                    remove_extra(c, tag_id, k).await?;
                }
            }
        }
    }
    Ok(Value::Nil)
}

/// deleteTag(tagInfo)
pub async fn delete_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let used: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM build_target_config WHERE active AND (build_tag = $1 OR dest_tag = $1) LIMIT 1",
    )
    .bind(tag_id as i32)
    .fetch_optional(c.db().await?)
    .await?;
    if used.is_some() {
        return Err(HubError::generic("Tag is used by a build target"));
    }
    for (table, cond) in [
        ("tag_config", "tag_id = $2"),
        ("tag_extra", "tag_id = $2"),
        ("tag_inheritance", "(tag_id = $2 OR parent_id = $2)"),
        ("tag_packages", "tag_id = $2"),
        ("tag_package_owners", "tag_id = $2"),
        ("tag_external_repos", "tag_id = $2"),
    ] {
        common::revoke(c, table, cond, &[tag_id]).await?;
    }
    Ok(Value::Nil)
}

/// listTags(build=None, package=None, perms=True, queryOpts=None, pattern=None)
pub async fn list_tags(c: &mut Ctx, a: Args) -> HResult<Value> {
    let build = match a.val(0) {
        Value::Nil => None,
        v => match super::builds::find_build(c, v).await? {
            Some(b) => b.get("id").and_then(Value::as_i64),
            None => {
                return Err(HubError::generic(format!(
                    "No such build: {}",
                    crate::pyrepr::repr(v)
                )));
            }
        },
    };
    let package = match a.opt_ident(1)? {
        Some(i) => Some(common::get(c, Named::Package, &i).await?.0),
        None => None,
    };
    let qo = common::QueryOpts::parse(a.val(3), &["id", "name"])?;
    let pattern = a.opt_str(4)?.map(common::glob_to_like);
    let sql = format!(
        "{TAG_SELECT} AND c.active LEFT JOIN permissions p ON p.id = c.perm_id \
         WHERE ($1::text IS NULL OR t.name LIKE $1) \
           AND ($2::int IS NULL OR EXISTS (SELECT 1 FROM tag_packages tp WHERE tp.tag_id = t.id \
                AND tp.package_id = $2 AND tp.active)) \
           AND ($3::int IS NULL OR EXISTS (SELECT 1 FROM tag_listing tl WHERE tl.tag_id = t.id \
                AND tl.build_id = $3 AND tl.active)) ORDER BY t.{}",
        qo.order.as_deref().unwrap_or("name")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pattern)
        .bind(common::opt_i32(package))
        .bind(common::opt_i32(build))
        .fetch_all(c.db().await?)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let v = tag_value(r, Struct::new())?;
        if let Value::Struct(mut m) = v {
            m.shift_remove("extra");
            out.push(Value::Struct(m));
        }
    }
    Ok(qo.apply(out))
}

#[derive(Debug, Clone)]
pub struct Link {
    pub parent_id: i64,
    pub priority: i64,
    pub maxdepth: Option<i64>,
    pub intransitive: bool,
    pub noconfig: bool,
    pub pkg_filter: String,
}

async fn insert_link(c: &mut Ctx, tag_id: i64, l: &Link) -> HResult<()> {
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO tag_inheritance (tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tag_id as i32)
    .bind(l.parent_id as i32)
    .bind(l.priority as i32)
    .bind(common::opt_i32(l.maxdepth))
    .bind(l.intransitive)
    .bind(l.noconfig)
    .bind(&l.pkg_filter)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(())
}

/// Direct links of a tag (to its parents, or with `reverse` to its children), by priority.
async fn links(
    c: &mut Ctx,
    tag_id: i64,
    event: Option<i64>,
    reverse: bool,
) -> HResult<Vec<(i64, i64, String, Link)>> {
    let (me_col, other_col) = if reverse {
        ("parent_id", "tag_id")
    } else {
        ("tag_id", "parent_id")
    };
    let sql = format!(
        "SELECT i.tag_id, i.parent_id, i.priority, i.maxdepth, i.intransitive, i.noconfig, i.pkg_filter, t.name \
         FROM tag_inheritance i JOIN tag t ON t.id = i.{other_col} \
         WHERE i.{me_col} = $1 AND {} ORDER BY i.priority, i.{other_col}",
        ver("i", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tag_id as i32)
        .fetch_all(c.db().await?)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let child: i32 = r.try_get("tag_id")?;
        let parent: i32 = r.try_get("parent_id")?;
        out.push((
            i64::from(child),
            i64::from(parent),
            r.try_get::<String, _>("name")?,
            Link {
                parent_id: i64::from(parent),
                priority: i64::from(r.try_get::<i32, _>("priority")?),
                maxdepth: r.try_get::<Option<i32>, _>("maxdepth")?.map(i64::from),
                intransitive: r.try_get("intransitive")?,
                noconfig: r.try_get("noconfig")?,
                pkg_filter: r.try_get("pkg_filter")?,
            },
        ));
    }
    Ok(out)
}

fn link_value(child: i64, parent: i64, name: &str, l: &Link) -> Struct {
    let Value::Struct(m) = kstruct!(
        "parent_id" => parent,
        "name" => name,
        "priority" => l.priority,
        "maxdepth" => l.maxdepth,
        "intransitive" => l.intransitive,
        "noconfig" => l.noconfig,
        "pkg_filter" => l.pkg_filter.clone(),
        "child_id" => child,
    ) else {
        return Struct::new();
    };
    m
}

/// getInheritanceData(tag, event=None)
pub async fn get_inheritance_data(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let event = a.opt_i64(1)?;
    let rows = links(c, tag_id, event, false).await?;
    Ok(Value::Array(
        rows.iter()
            .map(|(ch, p, n, l)| Value::Struct(link_value(*ch, *p, n, l)))
            .collect(),
    ))
}

/// setInheritanceData(tag, data, clear=False)
pub async fn set_inheritance_data(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let data = match a.val(1) {
        Value::Array(v) => v.clone(),
        Value::Struct(s) => s.values().cloned().collect(),
        _ => {
            return Err(HubError::parameter(
                "data must be a list of inheritance links",
            ));
        }
    };
    let clear = a.truthy(2);
    let current = links(c, tag_id, None, false).await?;
    let mut wanted: Vec<Link> = if clear {
        Vec::new()
    } else {
        current.iter().map(|x| x.3.clone()).collect()
    };
    for d in &data {
        let s = d
            .as_struct()
            .ok_or_else(|| HubError::parameter("inheritance link must be a dict"))?;
        let parent = s
            .get("parent_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| HubError::parameter("inheritance link lacks parent_id"))?;
        if parent == tag_id {
            return Err(HubError::generic("A tag cannot inherit from itself"));
        }
        common::get(c, Named::Tag, &Ident::Id(parent)).await?;
        wanted.retain(|l| l.parent_id != parent);
        if s.get("delete_link").is_some_and(Value::is_truthy) {
            continue;
        }
        wanted.push(Link {
            parent_id: parent,
            priority: s.get("priority").and_then(Value::as_i64).unwrap_or(0),
            maxdepth: s.get("maxdepth").and_then(Value::as_i64),
            intransitive: s.get("intransitive").is_some_and(Value::is_truthy),
            noconfig: s.get("noconfig").is_some_and(Value::is_truthy),
            pkg_filter: s
                .get("pkg_filter")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        });
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
    common::revoke(c, "tag_inheritance", "tag_id = $2", &[tag_id]).await?;
    for l in &wanted {
        insert_link(c, tag_id, l).await?;
    }
    Ok(Value::Nil)
}

/// The tag itself, then its ancestors in inheritance order, each with the package filters
/// (regexes) collected on the way: the order in which package lists, tagged builds and
/// external repos are looked up.
pub async fn inheritance_order(
    c: &mut Ctx,
    tag_id: i64,
    event: Option<i64>,
) -> HResult<Vec<(i64, Vec<String>)>> {
    let mut order = vec![(tag_id, Vec::new())];
    for link in full_inheritance(c, tag_id, event, false).await? {
        let parent = link.get("parent_id").and_then(Value::as_i64).unwrap_or(0);
        let filters = link
            .get("filter")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        order.push((parent, filters));
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

/// The full inheritance chain, depth first in priority order. A tag appears once (first
/// reach wins); `maxdepth` limits how far beyond a link the walk goes; intransitive links
/// only count from the starting tag.
pub async fn full_inheritance(
    c: &mut Ctx,
    tag_id: i64,
    event: Option<i64>,
    reverse: bool,
) -> HResult<Vec<Value>> {
    let mut seen = HashSet::from([tag_id]);
    walk_from(c, (tag_id, 1, None, Vec::new()), event, reverse, &mut seen).await
}

/// Depth-first walk below one reached tag: (tag, currdepth, remaining depth, filters).
async fn walk_from(
    c: &mut Ctx,
    start: (i64, i64, Option<i64>, Vec<String>),
    event: Option<i64>,
    reverse: bool,
    seen: &mut HashSet<i64>,
) -> HResult<Vec<Value>> {
    let (tag, depth, budget, filters) = start;
    let mut out = Vec::new();
    if depth > 64 {
        return Ok(out);
    }
    for (child, parent, name, l) in links(c, tag, event, reverse).await? {
        if l.intransitive && depth > 1 {
            continue;
        }
        let other = if reverse { child } else { parent };
        if !seen.insert(other) {
            continue;
        }
        let nextdepth = match (budget.map(|b| b - 1), l.maxdepth) {
            (Some(b), Some(m)) => Some(b.min(m)),
            (Some(b), None) => Some(b),
            (None, m) => m,
        };
        let mut filt = filters.clone();
        if !l.pkg_filter.is_empty() {
            filt.push(l.pkg_filter.clone());
        }
        let mut row = link_value(child, parent, &name, &l);
        row.insert("currdepth".into(), Value::Int(depth));
        row.insert("nextdepth".into(), nextdepth.into());
        row.insert(
            "filter".into(),
            Value::Array(filt.iter().map(|f| Value::from(f.as_str())).collect()),
        );
        if reverse {
            row.insert("tag_id".into(), Value::Int(child));
        }
        out.push(Value::Struct(row));
        if nextdepth.is_none_or(|d| d > 0) {
            let sub = Box::pin(walk_from(
                c,
                (other, depth + 1, nextdepth, filt),
                event,
                reverse,
                seen,
            ))
            .await?;
            out.extend(sub);
        }
    }
    Ok(out)
}

/// getFullInheritance(tag, event=None, reverse=False)
pub async fn get_full_inheritance(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let rows = full_inheritance(c, tag_id, a.opt_i64(1)?, a.truthy(2)).await?;
    Ok(Value::Array(rows))
}
