//! Comps groups of tags: what a tag's groups are through inheritance (the nearest tag that
//! names a group, a package of a group or a requirement decides, and a blocked entry hides
//! what a parent has), the changes Koji allows to them, and the comps.xml a repo gets.

use super::tags::inheritance_order;
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::groups as store;
use std::collections::{BTreeMap, HashMap, HashSet};

pub use crate::storage::groups::{GroupConfig, PackageConfig, PackageRow, ReqConfig, ReqRow};

/// Koji's column widths: a longer name or type is refused before it reaches the database.
const MAX_GROUP_NAME: usize = 50;
const MAX_TYPE: usize = 25;

/// One group of a tag as seen through its inheritance: the entry of the nearest tag that
/// names it (which may be a block), and its packages and requirements.
#[derive(Debug, Clone)]
pub struct TagGroup {
    pub group_id: i32,
    pub name: String,
    /// The tag whose entry this is.
    pub tag_id: i32,
    pub cfg: GroupConfig,
    /// By package name (None when not asked for).
    pub packages: Option<Vec<PackageRow>>,
    /// By required group name (None when not asked for).
    pub reqs: Option<Vec<ReqRow>>,
}

/// (id, name) of an existing group.
pub async fn require(c: &mut Ctx, ident: &Ident) -> HResult<(i32, String)> {
    store::find(c.db().await?, ident)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such group: {ident}")))
}

/// The group named by `ident`, created when a name is new (Koji's lookup_group(create=True):
/// a number names an existing group only).
async fn require_or_create(c: &mut Ctx, ident: &Ident) -> HResult<(i32, String)> {
    if let Some(found) = store::find(c.db().await?, ident).await? {
        return Ok(found);
    }
    let Ident::Name(name) = ident else {
        return Err(HubError::generic(format!("No such group: {ident}")));
    };
    check_group_name(name)?;
    c.mark_write();
    let id = store::insert(c.db().await?, name).await?;
    Ok((id, name.clone()))
}

fn check_group_name(name: &str) -> HResult<()> {
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME {
        return Err(HubError::generic(format!(
            "Invalid group name {name:?}: 1 to {MAX_GROUP_NAME} characters"
        )));
    }
    if name.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
        return Err(HubError::generic(format!(
            "Invalid group name {name:?}: no spaces or control characters"
        )));
    }
    Ok(())
}

fn check_package_name(name: &str) -> HResult<()> {
    if name.is_empty() || name.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
        return Err(HubError::generic(format!("Invalid package name {name:?}")));
    }
    Ok(())
}

fn check_type(kind: &str) -> HResult<()> {
    if kind.is_empty() || kind.chars().count() > MAX_TYPE {
        return Err(HubError::parameter(format!(
            "Invalid type {kind:?}: 1 to {MAX_TYPE} characters"
        )));
    }
    Ok(())
}

/// Koji's get_tag_groups: the groups of `tag` as of `event` (None: now), through its
/// inheritance with `inherit`, blocked entries included. Packages and requirements of a
/// blocked group are left out, and so are requirements on a group the tag does not have
/// (or blocks).
pub async fn tag_groups(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
    inherit: bool,
    incl_pkgs: bool,
    incl_reqs: bool,
) -> HResult<Vec<TagGroup>> {
    let order: Vec<i32> = if inherit {
        inheritance_order(c, tag, event)
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    } else {
        vec![tag]
    };
    // a tag reached twice counts where it is first reached
    let mut pos: HashMap<i32, usize> = HashMap::new();
    for (i, t) in order.iter().enumerate() {
        pos.entry(*t).or_insert(i);
    }
    let rank = |t: i32| pos.get(&t).copied().unwrap_or(usize::MAX);

    let mut rows = store::configs(c.db().await?, &order, event).await?;
    rows.sort_by_key(|r| rank(r.tag_id));
    let mut groups: BTreeMap<i32, TagGroup> = BTreeMap::new();
    for r in rows {
        groups.entry(r.group_id).or_insert(TagGroup {
            group_id: r.group_id,
            name: r.name,
            tag_id: r.tag_id,
            cfg: r.cfg,
            packages: incl_pkgs.then(Vec::new),
            reqs: incl_reqs.then(Vec::new),
        });
    }

    if incl_pkgs {
        let mut rows = store::packages(c.db().await?, &order, event).await?;
        rows.sort_by_key(|r| rank(r.tag_id));
        let mut seen: HashSet<(i32, String)> = HashSet::new();
        for r in rows {
            let Some(g) = groups.get_mut(&r.group_id) else {
                continue;
            };
            if g.cfg.blocked || !seen.insert((r.group_id, r.package.clone())) {
                continue;
            }
            if let Some(list) = g.packages.as_mut() {
                list.push(r);
            }
        }
    }

    if incl_reqs {
        let usable: HashSet<i32> = groups
            .values()
            .filter(|g| !g.cfg.blocked)
            .map(|g| g.group_id)
            .collect();
        let mut rows = store::reqs(c.db().await?, &order, event).await?;
        rows.sort_by_key(|r| rank(r.tag_id));
        let mut seen: HashSet<(i32, i32)> = HashSet::new();
        for r in rows {
            if !usable.contains(&r.group_id) || !usable.contains(&r.req_id) {
                continue;
            }
            if !seen.insert((r.group_id, r.req_id)) {
                continue;
            }
            if let Some(list) = groups.get_mut(&r.group_id).and_then(|g| g.reqs.as_mut()) {
                list.push(r);
            }
        }
    }

    let mut out: Vec<TagGroup> = groups.into_values().collect();
    for g in &mut out {
        if let Some(p) = g.packages.as_mut() {
            p.sort_by(|a, b| a.package.cmp(&b.package));
        }
        if let Some(r) = g.reqs.as_mut() {
            r.sort_by(|a, b| a.req_name.cmp(&b.req_name));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Koji's readTagGroups: without `incl_blocked`, blocked groups, packages and
/// requirements are dropped.
pub fn visible(groups: Vec<TagGroup>, incl_blocked: bool) -> Vec<TagGroup> {
    if incl_blocked {
        return groups;
    }
    groups
        .into_iter()
        .filter(|g| !g.cfg.blocked)
        .map(|mut g| {
            if let Some(p) = g.packages.as_mut() {
                p.retain(|x| !x.cfg.blocked);
            }
            if let Some(r) = g.reqs.as_mut() {
                r.retain(|x| !x.cfg.blocked);
            }
            g
        })
        .collect()
}

/// The groups of a tag as its repo's comps.xml shows them (inherited, blocks applied).
pub async fn for_repo(c: &mut Ctx, tag: i32, event: i64) -> HResult<Vec<TagGroup>> {
    Ok(visible(
        tag_groups(c, tag, Some(event), true, true, true).await?,
        false,
    ))
}

/// What `groupListAdd` sets; None leaves a field as the tag's current entry has it (or at
/// Koji's default for a new entry). `Some(None)` is an explicit NULL.
#[derive(Debug, Default, Clone)]
pub struct GroupOpts {
    pub exported: Option<Option<bool>>,
    pub display_name: Option<String>,
    pub is_default: Option<Option<bool>>,
    pub uservisible: Option<Option<bool>>,
    pub description: Option<Option<String>>,
    pub langonly: Option<Option<String>>,
    pub biarchonly: Option<Option<bool>>,
}

impl GroupOpts {
    fn over(self, base: GroupConfig) -> GroupConfig {
        GroupConfig {
            blocked: base.blocked,
            exported: self.exported.unwrap_or(base.exported),
            display_name: self.display_name.unwrap_or(base.display_name),
            is_default: self.is_default.unwrap_or(base.is_default),
            uservisible: self.uservisible.unwrap_or(base.uservisible),
            description: self.description.unwrap_or(base.description),
            langonly: self.langonly.unwrap_or(base.langonly),
            biarchonly: self.biarchonly.unwrap_or(base.biarchonly),
        }
    }
}

fn blocked_in_tag(group: &str, tag: &str) -> HubError {
    HubError::generic(format!("group {group} is blocked in tag {tag}"))
}

/// groupListAdd / groupListBlock: a new version of the tag's entry for the group (created
/// by name when new). A group blocked through inheritance needs `force`; nothing is written
/// when the entry the tag sees already says the same.
pub async fn list_add(
    c: &mut Ctx,
    tag: (i32, &str),
    group: &Ident,
    block: bool,
    force: bool,
    opts: GroupOpts,
) -> HResult<()> {
    let (tag_id, tag_name) = tag;
    let (group_id, group_name) = require_or_create(c, group).await?;
    let current = tag_groups(c, tag_id, None, true, false, false).await?;
    let cfg = match current.into_iter().find(|g| g.group_id == group_id) {
        Some(prev) => {
            if prev.cfg.blocked && !force {
                return Err(blocked_in_tag(&group_name, tag_name));
            }
            let mut cfg = opts.over(prev.cfg.clone());
            cfg.blocked = block;
            if cfg == prev.cfg {
                return Ok(());
            }
            cfg
        }
        None => {
            let mut cfg = opts.over(GroupConfig {
                blocked: block,
                exported: Some(true),
                display_name: group_name.clone(),
                is_default: None,
                uservisible: Some(true),
                description: None,
                langonly: None,
                biarchonly: Some(false),
            });
            cfg.blocked = block;
            cfg
        }
    };
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_group(db, tag_id, group_id, s).await?;
    store::insert_group(db, tag_id, group_id, &cfg, s).await?;
    Ok(())
}

/// groupListRemove: the tag's own entry goes (an inherited one stays). Without `force` the
/// tag must have one.
pub async fn list_remove(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    force: bool,
) -> HResult<()> {
    let own = store::own_group_blocked(c.db().await?, tag.0, group.0).await?;
    if own.is_none() && !force {
        return Err(HubError::generic(format!(
            "No group: {} found for tag: {}",
            group.1, tag.1
        )));
    }
    let s = c.stamp().await?;
    store::revoke_group(c.db().await?, tag.0, group.0, s).await?;
    Ok(())
}

/// groupListUnblock: the tag's own blocking entry goes; a block inherited from a parent
/// cannot be lifted here (the tag can add the group with `force` instead).
pub async fn list_unblock(c: &mut Ctx, tag: (i32, &str), group: (i32, &str)) -> HResult<()> {
    if store::own_group_blocked(c.db().await?, tag.0, group.0).await? != Some(true) {
        return Err(HubError::generic(format!(
            "group {} is NOT blocked in tag {}",
            group.1, tag.1
        )));
    }
    let s = c.stamp().await?;
    store::revoke_group(c.db().await?, tag.0, group.0, s).await?;
    Ok(())
}

/// The group as the tag sees it, which must be there and not blocked (before its packages
/// or requirements change).
async fn usable_group(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    incl_pkgs: bool,
    incl_reqs: bool,
) -> HResult<TagGroup> {
    let current = tag_groups(c, tag.0, None, true, incl_pkgs, incl_reqs).await?;
    match current.into_iter().find(|g| g.group_id == group.0) {
        None => Err(HubError::generic(format!(
            "group {} not present in tag {}",
            group.1, tag.1
        ))),
        Some(g) if g.cfg.blocked => Err(blocked_in_tag(group.1, tag.1)),
        Some(g) => Ok(g),
    }
}

/// What `groupPackageListAdd` sets; None keeps the current entry's value.
#[derive(Debug, Default, Clone)]
pub struct PackageOpts {
    pub kind: Option<String>,
    pub basearchonly: Option<Option<bool>>,
    pub requires: Option<Option<String>>,
}

/// groupPackageListAdd / groupPackageListBlock: a new version of the tag's entry for a
/// package of the group. A package blocked through inheritance needs `force`; nothing is
/// written when nothing changes (unless blocking or forced).
pub async fn package_add(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    package: &str,
    block: bool,
    force: bool,
    opts: PackageOpts,
) -> HResult<()> {
    check_package_name(package)?;
    if let Some(k) = &opts.kind {
        check_type(k)?;
    }
    let g = usable_group(c, tag, group, true, false).await?;
    let prev = g
        .packages
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.package == package);
    let base = match &prev {
        Some(p) => {
            if p.cfg.blocked && !force {
                return Err(HubError::generic(format!(
                    "package {package} blocked in group {}, tag {}",
                    group.1, tag.1
                )));
            }
            p.cfg.clone()
        }
        None => PackageConfig {
            blocked: block,
            kind: "mandatory".into(),
            basearchonly: None,
            requires: None,
        },
    };
    let cfg = PackageConfig {
        blocked: block,
        kind: opts.kind.unwrap_or(base.kind.clone()),
        basearchonly: opts.basearchonly.unwrap_or(base.basearchonly),
        requires: opts.requires.unwrap_or(base.requires.clone()),
    };
    if prev.is_some() {
        let fields_changed = (&cfg.kind, cfg.basearchonly, &cfg.requires)
            != (&base.kind, base.basearchonly, &base.requires);
        if !fields_changed && !block && !force {
            return Ok(());
        }
    }
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_package(db, tag.0, group.0, package, s).await?;
    store::insert_package(db, tag.0, group.0, package, &cfg, s).await?;
    Ok(())
}

/// groupPackageListRemove: the tag's own entry for the package goes, if it has one.
pub async fn package_remove(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    package: &str,
) -> HResult<()> {
    let s = c.stamp().await?;
    store::revoke_package(c.db().await?, tag.0, group.0, package, s).await?;
    Ok(())
}

/// groupPackageListUnblock: the tag's own blocking entry for the package goes.
pub async fn package_unblock(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    package: &str,
) -> HResult<()> {
    if store::own_package_blocked(c.db().await?, tag.0, group.0, package).await? != Some(true) {
        return Err(HubError::generic(format!(
            "package {package} is NOT blocked in group {}, tag {}",
            group.1, tag.1
        )));
    }
    let s = c.stamp().await?;
    store::revoke_package(c.db().await?, tag.0, group.0, package, s).await?;
    Ok(())
}

/// What `groupReqListAdd` sets; None keeps the current entry's value.
#[derive(Debug, Default, Clone)]
pub struct ReqOpts {
    pub kind: Option<Option<String>>,
    pub is_metapkg: Option<bool>,
}

/// groupReqListAdd / groupReqListBlock: a new version of the tag's entry for the group's
/// requirement on `req`. A requirement blocked through inheritance needs `force`; nothing
/// is written when nothing changes (unless blocking).
pub async fn req_add(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    req: (i32, &str),
    block: bool,
    force: bool,
    opts: ReqOpts,
) -> HResult<()> {
    if let Some(Some(k)) = &opts.kind {
        check_type(k)?;
    }
    let g = usable_group(c, tag, group, false, true).await?;
    let prev = g
        .reqs
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.req_id == req.0);
    let base = match &prev {
        Some(r) => {
            if r.cfg.blocked && !force {
                return Err(HubError::generic(format!(
                    "requirement on group {} blocked in group {}, tag {}",
                    req.1, group.1, tag.1
                )));
            }
            r.cfg.clone()
        }
        None => ReqConfig {
            blocked: block,
            kind: Some("mandatory".into()),
            is_metapkg: false,
        },
    };
    let cfg = ReqConfig {
        blocked: block,
        kind: opts.kind.unwrap_or(base.kind.clone()),
        is_metapkg: opts.is_metapkg.unwrap_or(base.is_metapkg),
    };
    if prev.is_some() {
        let fields_changed = (&cfg.kind, cfg.is_metapkg) != (&base.kind, base.is_metapkg);
        if !fields_changed && !block {
            return Ok(());
        }
    }
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_req(db, tag.0, group.0, req.0, s).await?;
    store::insert_req(db, tag.0, group.0, req.0, &cfg, s).await?;
    Ok(())
}

/// groupReqListRemove: the tag's own entry for the requirement goes, if it has one.
pub async fn req_remove(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    req: (i32, &str),
) -> HResult<()> {
    let s = c.stamp().await?;
    store::revoke_req(c.db().await?, tag.0, group.0, req.0, s).await?;
    Ok(())
}

/// groupReqListUnblock: the tag's own blocking entry for the requirement goes.
pub async fn req_unblock(
    c: &mut Ctx,
    tag: (i32, &str),
    group: (i32, &str),
    req: (i32, &str),
) -> HResult<()> {
    if store::own_req_blocked(c.db().await?, tag.0, group.0, req.0).await? != Some(true) {
        return Err(HubError::generic(format!(
            "group req {} is NOT blocked in group {}, tag {}",
            req.1, group.1, tag.1
        )));
    }
    let s = c.stamp().await?;
    store::revoke_req(c.db().await?, tag.0, group.0, req.0, s).await?;
    Ok(())
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            ch => out.push(ch),
        }
    }
    out
}

fn bool_text(b: Option<bool>) -> &'static str {
    if b == Some(true) { "true" } else { "false" }
}

fn package_req(out: &mut String, p: &PackageRow) {
    out.push_str("      <packagereq type=\"");
    out.push_str(&esc(&p.cfg.kind));
    out.push('"');
    if p.cfg.basearchonly == Some(true) {
        out.push_str(" basearchonly=\"true\"");
    }
    if let Some(r) = p.cfg.requires.as_deref().filter(|r| !r.is_empty()) {
        out.push_str(" requires=\"");
        out.push_str(&esc(r));
        out.push('"');
    }
    out.push('>');
    out.push_str(&esc(&p.package));
    out.push_str("</packagereq>\n");
}

/// A comps.xml document of `groups` (as [`visible`] gives them), laid out as Koji's
/// generate_comps lays it out. With `expand`, a group lists the packages of the groups it
/// requires (transitively) instead of a `<grouplist>`: a buildroot installs `@build` from
/// it without resolving group requirements.
pub fn comps_xml(groups: &[TagGroup], expand: bool) -> String {
    let by_name: HashMap<&str, &TagGroup> = groups.iter().map(|g| (g.name.as_str(), g)).collect();
    let mut sorted: Vec<&TagGroup> = groups.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n\
         <!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n\n\
         <!-- Auto-generated by the build system -->\n<comps>\n",
    );
    let empty_pkgs: Vec<PackageRow> = Vec::new();
    let empty_reqs: Vec<ReqRow> = Vec::new();
    for g in sorted {
        let pkgs = g.packages.as_ref().unwrap_or(&empty_pkgs);
        let reqs = g.reqs.as_ref().unwrap_or(&empty_reqs);
        out.push_str("  <group>\n");
        out.push_str(&format!("    <id>{}</id>\n", esc(&g.name)));
        out.push_str(&format!("    <name>{}</name>\n", esc(&g.cfg.display_name)));
        out.push_str(&format!(
            "    <description>{}</description>\n",
            esc(g.cfg.description.as_deref().unwrap_or(""))
        ));
        out.push_str(&format!(
            "    <default>{}</default>\n",
            bool_text(g.cfg.is_default)
        ));
        out.push_str(&format!(
            "    <uservisible>{}</uservisible>\n",
            bool_text(g.cfg.uservisible)
        ));
        if g.cfg.biarchonly == Some(true) {
            out.push_str("    <biarchonly>true</biarchonly>\n");
        }
        if !reqs.is_empty() && !expand {
            out.push_str("    <grouplist>\n");
            for r in reqs {
                let el = if r.cfg.is_metapkg {
                    "metapkg"
                } else {
                    "groupreq"
                };
                match r.cfg.kind.as_deref().filter(|k| !k.is_empty()) {
                    Some(k) => out.push_str(&format!(
                        "      <{el} type=\"{}\">{}</{el}>\n",
                        esc(k),
                        esc(&r.req_name)
                    )),
                    None => out.push_str(&format!("      <{el}>{}</{el}>\n", esc(&r.req_name))),
                }
            }
            out.push_str("    </grouplist>\n");
        }
        out.push_str("    <packagelist>\n");
        let mut seen_pkg: HashSet<&str> = HashSet::new();
        for p in pkgs {
            seen_pkg.insert(&p.package);
            package_req(&mut out, p);
        }
        if expand && !reqs.is_empty() {
            let mut need: Vec<&str> = reqs.iter().map(|r| r.req_name.as_str()).collect();
            let mut seen_grp: HashSet<&str> = HashSet::from([g.name.as_str()]);
            let mut i = 0;
            while i < need.len() {
                let name = need[i];
                i += 1;
                if !seen_grp.insert(name) {
                    continue;
                }
                let Some(req) = by_name.get(name) else {
                    out.push_str(&format!("      <!-- MISSING GROUP: {} -->\n", esc(name)));
                    continue;
                };
                out.push_str(&format!("      <!-- Expanding Group: {} -->\n", esc(name)));
                for p in req.packages.as_ref().unwrap_or(&empty_pkgs) {
                    if seen_pkg.insert(&p.package) {
                        package_req(&mut out, p);
                    }
                }
                for r in req.reqs.as_ref().unwrap_or(&empty_reqs) {
                    if !seen_grp.contains(r.req_name.as_str()) {
                        need.push(&r.req_name);
                    }
                }
            }
        }
        out.push_str("    </packagelist>\n");
        out.push_str("  </group>\n");
    }
    out.push_str("</comps>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: i32, name: &str, pkgs: &[&str], reqs: &[(i32, &str)]) -> TagGroup {
        TagGroup {
            group_id: id,
            name: name.into(),
            tag_id: 1,
            cfg: GroupConfig {
                blocked: false,
                exported: Some(true),
                display_name: format!("{name} & co"),
                is_default: None,
                uservisible: Some(true),
                description: None,
                langonly: None,
                biarchonly: Some(false),
            },
            packages: Some(
                pkgs.iter()
                    .map(|p| PackageRow {
                        group_id: id,
                        tag_id: 1,
                        package: (*p).into(),
                        cfg: PackageConfig {
                            blocked: false,
                            kind: "mandatory".into(),
                            basearchonly: None,
                            requires: None,
                        },
                    })
                    .collect(),
            ),
            reqs: Some(
                reqs.iter()
                    .map(|(rid, r)| ReqRow {
                        group_id: id,
                        tag_id: 1,
                        req_id: *rid,
                        req_name: (*r).into(),
                        cfg: ReqConfig {
                            blocked: false,
                            kind: Some("mandatory".into()),
                            is_metapkg: false,
                        },
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn comps_lists_groups_escaped_and_in_order() {
        let groups = vec![
            group(2, "srpm-build", &["rpm-build"], &[]),
            group(1, "build", &["bash", "gcc"], &[(3, "core")]),
            group(3, "core", &["bash", "coreutils"], &[(4, "missing")]),
        ];
        let xml = comps_xml(&groups, false);
        let build = xml.find("<id>build</id>").unwrap();
        let srpm = xml.find("<id>srpm-build</id>").unwrap();
        assert!(build < srpm, "{xml}");
        assert!(xml.contains("<name>build &amp; co</name>"), "{xml}");
        assert!(
            xml.contains("<groupreq type=\"mandatory\">core</groupreq>"),
            "{xml}"
        );
        assert!(
            xml.contains("<packagereq type=\"mandatory\">gcc</packagereq>"),
            "{xml}"
        );
        assert!(xml.contains("<default>false</default>"), "{xml}");
        assert!(!xml.contains("Expanding"), "{xml}");
    }

    #[test]
    fn expanded_comps_pull_in_required_groups_packages_once() {
        let groups = vec![
            group(1, "build", &["bash", "gcc"], &[(3, "core")]),
            group(3, "core", &["bash", "coreutils"], &[(4, "missing")]),
        ];
        let xml = comps_xml(&groups, true);
        let build = &xml[xml.find("<id>build</id>").unwrap()..xml.find("<id>core</id>").unwrap()];
        assert!(!build.contains("<grouplist>"), "{build}");
        assert!(build.contains("<!-- Expanding Group: core -->"), "{build}");
        assert!(
            build.contains("<packagereq type=\"mandatory\">coreutils</packagereq>"),
            "{build}"
        );
        assert_eq!(build.matches(">bash<").count(), 1, "{build}");
        assert!(build.contains("<!-- MISSING GROUP: missing -->"), "{build}");
    }

    #[test]
    fn blocked_entries_are_hidden_unless_asked_for() {
        let mut b = group(1, "build", &["bash", "gcc"], &[(3, "core")]);
        if let Some(p) = b.packages.as_mut() {
            p[1].cfg.blocked = true;
        }
        let mut x = group(2, "x", &[], &[]);
        x.cfg.blocked = true;
        let all = visible(vec![b.clone(), x.clone()], true);
        assert_eq!(all.len(), 2);
        let shown = visible(vec![b, x], false);
        assert_eq!(shown.len(), 1);
        let names: Vec<&str> = shown[0]
            .packages
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| p.package.as_str())
            .collect();
        assert_eq!(names, vec!["bash"]);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_group_name("build").is_ok());
        assert!(check_group_name("").is_err());
        assert!(check_group_name("a b").is_err());
        assert!(check_group_name(&"x".repeat(51)).is_err());
        assert!(check_package_name("gcc-c++").is_ok());
        assert!(check_package_name("bad\nname").is_err());
    }
}
