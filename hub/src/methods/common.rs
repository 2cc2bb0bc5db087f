//! Lookups and versioning helpers shared by the method modules.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::Ident;
use koji_protocol::{Limits, Value, decode_response, encode_response};

/// SQL condition selecting the rows of a versioned table current at `event` (or now).
pub fn ver(alias: &str, event: Option<i64>) -> String {
    match event {
        None => format!("{alias}.active"),
        Some(e) => format!(
            "({alias}.create_event <= {e} AND ({alias}.revoke_event IS NULL OR {alias}.revoke_event > {e}))"
        ),
    }
}

/// Tables with `id` and unique `name` that Koji lets callers name either way.
#[derive(Clone, Copy)]
pub enum Named {
    Tag,
    User,
    Host,
    Channel,
    ExternalRepo,
    Package,
    Target,
    Permission,
}

impl Named {
    fn table(self) -> &'static str {
        match self {
            Named::Tag => "tag",
            Named::User => "users",
            Named::Host => "host",
            Named::Channel => "channels",
            Named::ExternalRepo => "external_repo",
            Named::Package => "package",
            Named::Target => "build_target",
            Named::Permission => "permissions",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Named::Tag => "tag",
            Named::User => "user",
            Named::Host => "host",
            Named::Channel => "channel",
            Named::ExternalRepo => "external repo",
            Named::Package => "package",
            Named::Target => "build target",
            Named::Permission => "permission",
        }
    }
}

/// (id, name) of a row named by id or name, or None.
pub async fn find(ctx: &mut Ctx, kind: Named, ident: &Ident) -> HResult<Option<(i64, String)>> {
    let db = ctx.db().await?;
    let row: Option<(i32, String)> = match ident {
        Ident::Id(i) => {
            let Ok(i) = i32::try_from(*i) else {
                return Ok(None);
            };
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, name FROM {} WHERE id = $1",
                kind.table()
            )))
            .bind(i)
            .fetch_optional(db)
            .await?
        }
        Ident::Name(n) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, name FROM {} WHERE name = $1",
                kind.table()
            )))
            .bind(n)
            .fetch_optional(db)
            .await?
        }
    };
    Ok(row.map(|(i, n)| (i64::from(i), n)))
}

/// Like [`find`], failing with Koji's "No such …" GenericError.
pub async fn get(ctx: &mut Ctx, kind: Named, ident: &Ident) -> HResult<(i64, String)> {
    find(ctx, kind, ident)
        .await?
        .ok_or_else(|| no_such(kind, ident))
}

pub fn no_such(kind: Named, ident: &Ident) -> HubError {
    HubError::generic(format!("No such {}: {}", kind.what(), ident))
}

/// Resolve a value given where a name or id is expected.
pub fn ident_of(v: &Value, what: &str) -> HResult<Ident> {
    Ident::from_value(v).ok_or_else(|| {
        HubError::parameter(format!("Invalid {what} value: {}", crate::pyrepr::repr(v)))
    })
}

/// Stored form of an arbitrary value (tag extra): XML-RPC, so every type round-trips.
pub fn store_value(v: &Value) -> String {
    encode_response(v)
}

pub fn load_value(s: &str) -> Value {
    match decode_response(s.as_bytes(), &Limits::default()) {
        Ok(Ok(v)) => v,
        _ => Value::String(s.to_string()),
    }
}

/// Stamp the current rows matching `cond` of a versioned table as revoked.
pub async fn revoke(ctx: &mut Ctx, table: &str, cond: &str, binds: &[i64]) -> HResult<u64> {
    let event = ctx.event().await?;
    let user = ctx.user_id().map(|u| u as i32);
    let sql = format!(
        "UPDATE {table} SET active = NULL, revoke_event = {event}, revoker_id = $1 WHERE active AND {cond}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user);
    for b in binds {
        q = q.bind(*b as i32);
    }
    Ok(q.execute(ctx.db().await?).await?.rows_affected())
}

pub fn opt_i32(v: Option<i64>) -> Option<i32> {
    v.and_then(|x| i32::try_from(x).ok())
}

/// A glob pattern as SQL LIKE (fnmatch subset: `*`, `?`).
pub fn glob_to_like(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `queryOpts` subset: order (comma-separated, `-` for descending, checked against the
/// allowed columns), offset, limit, countOnly.
pub struct QueryOpts {
    pub order: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count_only: bool,
}

impl QueryOpts {
    pub fn parse(v: &Value, allowed: &[&str]) -> HResult<QueryOpts> {
        let mut q = QueryOpts {
            order: None,
            limit: None,
            offset: None,
            count_only: false,
        };
        let Some(s) = v.as_struct() else {
            if v.is_nil() {
                return Ok(q);
            }
            return Err(HubError::parameter("queryOpts must be a dict"));
        };
        if let Some(o) = s.get("order").and_then(Value::as_str) {
            let mut parts = Vec::new();
            for p in o.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (desc, col) = match p.strip_prefix('-') {
                    Some(c) => (true, c),
                    None => (false, p),
                };
                if !allowed.contains(&col) {
                    return Err(HubError::parameter(format!("Invalid order field: {col}")));
                }
                parts.push(format!("{col}{}", if desc { " DESC" } else { "" }));
            }
            if !parts.is_empty() {
                q.order = Some(parts.join(", "));
            }
        }
        q.limit = s.get("limit").and_then(Value::as_i64);
        q.offset = s.get("offset").and_then(Value::as_i64);
        q.count_only = s.get("countOnly").is_some_and(Value::is_truthy);
        Ok(q)
    }

    /// ` LIMIT n OFFSET m` for SQL: the caller's limit, never more than `max` rows (a
    /// list call must not make the hub build an answer of unbounded size).
    pub fn sql_page(&self, max: i64) -> String {
        let limit = self.limit.map_or(max, |l| l.clamp(0, max));
        let offset = self.offset.unwrap_or(0).max(0);
        format!(" LIMIT {limit} OFFSET {offset}")
    }

    /// Apply to already-built rows (our lists are small; this keeps SQL simple).
    pub fn apply(&self, mut rows: Vec<Value>) -> Value {
        if let Some(off) = self.offset {
            let off = usize::try_from(off).unwrap_or(0).min(rows.len());
            rows.drain(..off);
        }
        if let Some(l) = self.limit {
            rows.truncate(usize::try_from(l).unwrap_or(0));
        }
        if self.count_only {
            return Value::Int(rows.len() as i64);
        }
        Value::Array(rows)
    }
}

pub async fn user_name_of(ctx: &mut Ctx, id: i64) -> HResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(id as i32)
        .fetch_optional(ctx.db().await?)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_clause() {
        assert_eq!(ver("c", None), "c.active");
        assert!(ver("c", Some(7)).contains("c.create_event <= 7"));
    }

    #[test]
    fn globs() {
        assert_eq!(glob_to_like("f4*-build"), "f4%-build");
        assert_eq!(glob_to_like("a_b?"), "a\\_b_");
    }
}
