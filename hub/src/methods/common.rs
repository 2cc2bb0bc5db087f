//! Argument and answer helpers shared by the handlers.

use crate::ctx::Ctx;
use crate::domain::builds::BuildRef;
use crate::error::{HResult, HubError};
use crate::signature::{checked_id, value_ident};
use koji_protocol::Value;

/// (id, name) of the tag named by `v` that must exist now.
pub async fn require_tag(c: &mut Ctx, v: &Value) -> HResult<(i32, String)> {
    let ident = value_ident(v, "tag")?;
    crate::domain::tags::require(c, &ident).await
}

/// A build named by id, NVR or dict (`{'id': N}` or name, version and release).
pub fn build_ref(v: &Value) -> HResult<BuildRef> {
    match v {
        Value::Int(id) => Ok(BuildRef::Id(checked_id("buildInfo", *id)?)),
        Value::String(s) => Ok(BuildRef::Nvr(s.clone())),
        Value::Struct(s) => {
            if let Some(id) = s.get("id").and_then(Value::as_i64) {
                return Ok(BuildRef::Id(checked_id("buildInfo", id)?));
            }
            match (s.get("name"), s.get("version"), s.get("release")) {
                (Some(Value::String(n)), Some(Value::String(ver)), Some(Value::String(rel))) => {
                    Ok(BuildRef::Nvr(format!("{n}-{ver}-{rel}")))
                }
                _ => Err(HubError::generic(
                    "Invalid build info: need id or name/version/release",
                )),
            }
        }
        other => Err(HubError::parameter(format!(
            "Invalid build value: {}",
            crate::pyrepr::repr(other)
        ))),
    }
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
