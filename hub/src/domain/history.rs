//! `queryHistory`: which versioned tables answer a question and what its filters name.
//! Koji's rules: a table-specific filter limits the answer to the tables it applies to; a
//! name is looked up (and refused when unknown) only when a table that uses it is read, in
//! the tables' order; an unknown host or channel matches nothing.

use super::builds::BuildRef;
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::history::{self as store, Arg, Table};
use crate::storage::{Named, Page, Paged};
use koji_protocol::Struct;

pub use crate::storage::history::{Filter, Query, TABLES, table};

/// What a filter was given: a thing by id or name (as the caller wrote it, for messages and
/// for the group package filter, which compares text), or a build.
#[derive(Debug, Clone)]
pub enum Given {
    Ident(Ident, String),
    Build(BuildRef, String),
}

/// The tables to read: those named (each one Koji knows), or all of them.
pub fn tables(names: Option<&[String]>) -> HResult<Vec<&'static Table>> {
    let Some(names) = names else {
        return Ok(TABLES.iter().collect());
    };
    names
        .iter()
        .map(|n| table(n).ok_or_else(|| HubError::generic(format!("No such history table: {n}"))))
        .collect()
}

/// Filters resolved to what the SQL binds, each looked up once, when first needed.
#[derive(Default)]
struct Resolved {
    ids: Vec<(Filter, Option<i32>)>,
}

/// `Koji's lookup_name(strict=True)` refusal.
fn no_entry(table: &str, shown: &str) -> HubError {
    HubError::generic(format!("No such entry in table {table}: {shown}"))
}

async fn named(c: &mut Ctx, kind: Named, ident: &Ident) -> HResult<Option<i32>> {
    Ok(super::find(c, kind, ident).await?.map(|(id, _)| id))
}

/// The id a filter binds; Koji's refusal when the thing is unknown (a host or a channel
/// that is unknown matches nothing instead).
async fn resolve(c: &mut Ctx, filter: Filter, given: &Given) -> HResult<Option<i32>> {
    let (ident, shown) = match given {
        Given::Build(r, shown) => return Ok(Some(super::builds::require(c, r, shown).await?.id)),
        Given::Ident(i, s) => (i, s.as_str()),
    };
    let strict = |id: Option<i32>, table: &str| id.map(Some).ok_or_else(|| no_entry(table, shown));
    match filter {
        Filter::Tag => strict(named(c, Named::Tag, ident).await?, "tag"),
        Filter::Package => strict(named(c, Named::Package, ident).await?, "package"),
        Filter::Permission => strict(named(c, Named::Permission, ident).await?, "permissions"),
        Filter::ExternalRepo => {
            strict(named(c, Named::ExternalRepo, ident).await?, "external_repo")
        }
        Filter::BuildTarget => strict(named(c, Named::Target, ident).await?, "build_target"),
        Filter::Group => strict(store::group_id(c.db().await?, ident).await?, "groups"),
        // kkoji has no content generators: every name is unknown, as on a Koji without it
        Filter::Cg => Err(no_entry("content_generator", shown)),
        Filter::Host => named(c, Named::Host, ident).await,
        Filter::Channel => named(c, Named::Channel, ident).await,
        Filter::User => {
            let r = super::users::UserRef::Ident(ident.clone());
            Ok(Some(super::users::require_user(c, &r, shown).await?))
        }
        Filter::Build | Filter::Xkey => Ok(None),
    }
}

/// What one table's query binds for the filters asked.
async fn bind(
    c: &mut Ctx,
    t: &Table,
    filters: &[(Filter, Given)],
    done: &mut Resolved,
) -> HResult<Vec<(Filter, Arg)>> {
    let mut out = Vec::new();
    for (filter, given) in filters {
        let text = match given {
            Given::Ident(_, s) | Given::Build(_, s) => s.clone(),
        };
        // text filters: a tag extra's key, the RPM name of a group package entry
        if *filter == Filter::Xkey
            || (*filter == Filter::Package && t.name == "group_package_listing")
        {
            out.push((*filter, Arg::Text(text)));
            continue;
        }
        let id = match done.ids.iter().find(|(f, _)| f == filter) {
            Some((_, id)) => *id,
            None => {
                let id = resolve(c, *filter, given).await?;
                done.ids.push((*filter, id));
                id
            }
        };
        out.push((*filter, Arg::Id(id)));
    }
    Ok(out)
}

/// Versions of each table (of `tables`) that every filter applies to; `page` per table.
pub async fn query(
    c: &mut Ctx,
    tables: &[&'static Table],
    filters: &[(Filter, Given)],
    common: &Query,
    page: impl Fn(&'static Table) -> HResult<Page>,
) -> HResult<Vec<(&'static str, Paged<Struct>)>> {
    let mut done = Resolved::default();
    let mut out = Vec::new();
    let generic = match c.transaction_db().await? {
        Some(db) => {
            store::prefer_generic_plans(db).await?;
            true
        }
        None => false,
    };
    for t in tables {
        if !filters.iter().all(|(f, _)| t.applies(*f)) {
            continue;
        }
        let p = page(t)?;
        let q = Query {
            filters: bind(c, t, filters, &mut done).await?,
            ..common.clone()
        };
        let rows = if t.present {
            store::versions(c.db().await?, t, &q, &p).await?
        } else if p.count_only {
            Paged::Count(0)
        } else {
            Paged::Rows(Vec::new())
        };
        out.push((t.name, rows));
    }
    if generic {
        store::default_plans(c.db().await?).await?;
    }
    Ok(out)
}
