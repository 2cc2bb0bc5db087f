//! Tags: config, extra, inheritance. All versioned by event.

use super::common::{QueryOpts, build_ref, paged_value, require_tag};
use crate::ctx::Ctx;
use crate::domain::tags::{
    self, Inherited, Link, LinkChange, NewTag, TAG_ORDER, Tag, TagConfig, TagEdit,
};
use crate::domain::{Named, get, glob_to_like};
use crate::error::{HResult, HubError};
use crate::signature::{Args, checked_id, value_ident};
use koji_protocol::{Struct, Value, kstruct};

/// A tag as `getTag` shows it (`listTags` leaves `extra` out).
pub fn tag_value(t: &Tag, with_extra: bool) -> Value {
    let mut v = kstruct! {
        "id" => t.id,
        "name" => t.name.clone(),
        "perm_id" => t.perm_id,
        "perm" => t.perm.clone(),
        "arches" => t.arches.clone(),
        "locked" => t.locked,
        "maven_support" => t.maven_support,
        "maven_include_all" => t.maven_include_all,
    };
    if let Value::Struct(m) = &mut v {
        if with_extra {
            m.insert("extra".into(), Value::Struct(t.extra.clone()));
        }
        if let Some(e) = t.query_event {
            m.insert("query_event".into(), Value::Int(e));
        }
    }
    v
}

/// getTag(tagInfo, strict=False, event=None, blocked=False)
pub async fn get_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let event = a.opt_i64(2)?;
    let found = match event {
        None => tags::current_cached(c, &ident).await?,
        Some(_) => tags::get_tag(c, &ident, event).await?,
    };
    match found {
        Some(t) => Ok(tag_value(&t, true)),
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

async fn perm_id(c: &mut Ctx, v: &Value) -> HResult<Option<i32>> {
    if v.is_nil() {
        return Ok(None);
    }
    let ident = value_ident(v, "permission")?;
    Ok(Some(tags::perm_id(c, &ident).await?))
}

/// createTag(name, parent=None, arches=None, perm=None, locked=False, maven_support=False,
/// maven_include_all=False, extra=None)
pub async fn create_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    let parent = match a.val(1) {
        Value::Nil => None,
        v => Some(tags::parent_id(c, &value_ident(v, "tag")?).await?),
    };
    let arches = match a.opt_str(2)? {
        Some(s) => crate::names::parse_arches(s)?,
        None => String::new(),
    };
    let perm = perm_id(c, a.val(3)).await?;
    let extra = a.opt_struct(7)?.cloned().unwrap_or_default();
    let id = tags::create(
        c,
        NewTag {
            name,
            parent,
            arches,
            perm_id: perm,
            locked: a.truthy(4),
            maven_support: a.truthy(5),
            maven_include_all: a.truthy(6),
            extra,
        },
    )
    .await?;
    Ok(Value::Int(i64::from(id)))
}

/// editTag2(tagInfo, **kwargs)
pub async fn edit_tag2(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let old = tags::config(c, tag_id).await?;
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
    let name = match kw.get("name").and_then(Value::as_str) {
        Some(n) if n != tag_name => {
            tags::check_new_name(c, n).await?;
            Some(n.to_string())
        }
        _ => None,
    };
    let arches = match kw.get("arches") {
        Some(Value::String(s)) => Some(crate::names::parse_arches(s)?),
        Some(Value::Nil) => Some(String::new()),
        Some(_) => return Err(HubError::parameter("arches must be a string")),
        None => old.arches.clone(),
    };
    let perm = match (kw.get("perm"), kw.get("perm_id")) {
        (Some(v), _) | (None, Some(v)) => perm_id(c, v).await?,
        (None, None) => old.perm_id,
    };
    let config = TagConfig {
        arches,
        perm_id: perm,
        locked: opt_bool(kw.get("locked")).unwrap_or(old.locked),
        maven_support: opt_bool(kw.get("maven_support")).unwrap_or(old.maven_support),
        maven_include_all: opt_bool(kw.get("maven_include_all")).unwrap_or(old.maven_include_all),
    };
    let extra = match kw.get("extra") {
        Some(extra) => extra
            .as_struct()
            .ok_or_else(|| HubError::parameter("extra must be a dict"))?
            .clone(),
        None => Struct::new(),
    };
    let mut lists = [Vec::new(), Vec::new()];
    for (i, key) in ["remove_extra", "block_extra"].into_iter().enumerate() {
        if let Some(Value::Array(keys)) = kw.get(key) {
            for k in keys {
                let k = k.as_str().ok_or_else(|| {
                    HubError::parameter(format!("{key} must be a list of strings"))
                })?;
                lists[i].push(k.to_string());
            }
        }
    }
    let [remove_extra, block_extra] = lists;
    tags::edit(
        c,
        tag_id,
        &tag_name,
        TagEdit {
            name,
            config,
            extra,
            remove_extra,
            block_extra,
        },
    )
    .await?;
    Ok(Value::Nil)
}

/// deleteTag(tagInfo)
pub async fn delete_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    tags::delete(c, tag_id).await?;
    Ok(Value::Nil)
}

/// listTags(build=None, package=None, perms=True, queryOpts=None, pattern=None)
pub async fn list_tags(c: &mut Ctx, a: Args) -> HResult<Value> {
    let build = match a.val(0) {
        Value::Nil => None,
        v => {
            let r = build_ref(v)?;
            match crate::domain::builds::find(c, &r).await? {
                Some(b) => Some(b.id),
                None => {
                    return Err(HubError::generic(format!(
                        "No such build: {}",
                        crate::pyrepr::repr(v)
                    )));
                }
            }
        }
    };
    let package = match a.opt_ident(1)? {
        Some(i) => Some(get(c, Named::Package, &i).await?.0),
        None => None,
    };
    let qo = QueryOpts::parse(a.val(3), TAG_ORDER)?;
    let pattern = a.opt_str(4)?.map(glob_to_like);
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = tags::list(c, pattern.as_deref(), package, build, &page).await?;
    Ok(paged_value(rows, |t| tag_value(&t, false)))
}

/// An inheritance link as `getInheritanceData` shows it.
fn link_value(child: i32, parent: i32, name: &str, l: &Link) -> Struct {
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

/// A tag reached through inheritance, as `getFullInheritance` shows it.
fn inherited_value(e: &Inherited) -> Value {
    let mut row = link_value(e.child_id, e.parent_id, &e.name, &e.link);
    row.insert("currdepth".into(), Value::Int(e.currdepth));
    row.insert("nextdepth".into(), e.nextdepth.into());
    row.insert(
        "filter".into(),
        Value::Array(e.filter.iter().map(|f| Value::from(f.as_str())).collect()),
    );
    if e.reverse {
        row.insert("tag_id".into(), Value::Int(i64::from(e.child_id)));
    }
    Value::Struct(row)
}

/// getInheritanceData(tag, event=None)
pub async fn get_inheritance_data(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let event = a.opt_i64(1)?;
    let rows = tags::links(c, tag_id, event, false).await?;
    Ok(Value::Array(
        rows.iter()
            .map(|r| Value::Struct(link_value(r.child_id, r.parent_id, &r.name, &r.link)))
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
    let mut changes = Vec::new();
    for d in &data {
        let s = d
            .as_struct()
            .ok_or_else(|| HubError::parameter("inheritance link must be a dict"))?;
        let parent = s
            .get("parent_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| HubError::parameter("inheritance link lacks parent_id"))?;
        let num = |k: &str| -> HResult<Option<i32>> {
            s.get(k)
                .and_then(Value::as_i64)
                .map(|n| checked_id(k, n))
                .transpose()
        };
        changes.push(LinkChange {
            link: Link {
                parent_id: checked_id("parent_id", parent)?,
                priority: num("priority")?.unwrap_or(0),
                maxdepth: num("maxdepth")?,
                intransitive: s.get("intransitive").is_some_and(Value::is_truthy),
                noconfig: s.get("noconfig").is_some_and(Value::is_truthy),
                pkg_filter: s
                    .get("pkg_filter")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            },
            delete: s
                .get("delete link")
                .or_else(|| s.get("delete_link"))
                .is_some_and(Value::is_truthy),
        });
    }
    tags::set_inheritance(c, tag_id, changes, clear).await?;
    Ok(Value::Nil)
}

/// getFullInheritance(tag, event=None, reverse=False)
pub async fn get_full_inheritance(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let rows = tags::full_inheritance(c, tag_id, a.opt_i64(1)?, a.truthy(2)).await?;
    Ok(Value::Array(rows.iter().map(inherited_value).collect()))
}

/// getBuildConfig(tag, event=None): the tag with arches and extra filled from its
/// ancestors (links marked noconfig are skipped).
pub async fn get_build_config(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let event = a.opt_i64(1)?;
    let Some(tag) = tags::build_config(c, &ident, event).await? else {
        return Err(HubError::generic(format!("No such tagInfo: {ident}")));
    };
    let mut v = tag_value(&tag, true);
    if let Value::Struct(m) = &mut v {
        m.insert(
            "config_inheritance".into(),
            kstruct! { "extra" => Value::Struct(Struct::new()), "arches" => Value::Nil },
        );
    }
    Ok(v)
}
