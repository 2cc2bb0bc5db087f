//! Argument and answer helpers shared by the handlers.

use crate::ctx::Ctx;
use crate::domain::builds::BuildRef;
use crate::domain::{Page, Paged};
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

/// An RPM named as Koji's `get_rpm` takes it: id, id or N-V-R.A as a string, or a dict
/// (`{'id': N}` or name, version, release and arch).
pub fn rpm_ref(v: &Value) -> HResult<crate::domain::builds::RpmRef> {
    use crate::domain::builds::RpmRef;
    match v {
        Value::Int(id) => Ok(RpmRef::Id(checked_id("rpminfo", *id)?)),
        Value::String(s) => match s.parse::<i64>() {
            Ok(id) => Ok(RpmRef::Id(checked_id("rpminfo", id)?)),
            Err(_) => Ok(RpmRef::Nvra(s.clone())),
        },
        Value::Struct(s) => {
            if let Some(id) = s.get("id").and_then(Value::as_i64) {
                return Ok(RpmRef::Id(checked_id("rpminfo", id)?));
            }
            let field = |k: &str| s.get(k).and_then(Value::as_str);
            match (
                field("name"),
                field("version"),
                field("release"),
                field("arch"),
            ) {
                (Some(n), Some(ver), Some(rel), Some(arch)) => {
                    Ok(RpmRef::Nvra(format!("{n}-{ver}-{rel}.{arch}")))
                }
                _ => Err(HubError::generic(
                    "Invalid rpm info: need id or name/version/release/arch",
                )),
            }
        }
        other => Err(HubError::generic(format!(
            "Invalid type for rpminfo: {}",
            crate::pyrepr::repr(other)
        ))),
    }
}

/// `queryOpts` subset: order (comma-separated, `-` for descending, each a name the listing
/// offers), offset, limit, countOnly.
pub struct QueryOpts {
    /// For SQL: the listing's expressions.
    pub order: Vec<(&'static str, bool)>,
    /// For rows built in memory: the answer's field names.
    pub fields: Vec<(String, bool)>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub count_only: bool,
}

impl QueryOpts {
    /// `columns`: the answer's field names a caller may order by, with the listing's SQL
    /// expression for each (a storage constant).
    pub fn parse(v: &Value, columns: &[(&str, &'static str)]) -> HResult<QueryOpts> {
        let mut q = QueryOpts {
            order: Vec::new(),
            fields: Vec::new(),
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
            for p in o.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (desc, col) = match p.strip_prefix('-') {
                    Some(c) => (true, c),
                    None => (false, p),
                };
                let Some((_, expr)) = columns.iter().find(|(n, _)| *n == col) else {
                    return Err(HubError::parameter(format!("Invalid order field: {col}")));
                };
                q.order.push((expr, desc));
                q.fields.push((col.to_string(), desc));
            }
        }
        for (key, slot) in [("limit", &mut q.limit), ("offset", &mut q.offset)] {
            match s.get(key) {
                None | Some(Value::Nil) => {}
                Some(Value::Int(n)) if *n >= 0 => *slot = Some(*n),
                Some(_) => {
                    return Err(HubError::parameter(format!(
                        "queryOpts {key} must be a non-negative int"
                    )));
                }
            }
        }
        q.count_only = s.get("countOnly").is_some_and(Value::is_truthy);
        Ok(q)
    }

    /// The page for the database: rows never more than `max` (a list call must not make
    /// the hub build an answer of unbounded size); a count is not capped, as it sends no rows.
    pub fn page(&self, max: i64) -> Page {
        Page {
            order: self.order.clone(),
            limit: if self.count_only {
                self.limit
            } else {
                Some(self.limit.map_or(max, |l| l.min(max)))
            },
            offset: self.offset.unwrap_or(0),
            count_only: self.count_only,
        }
    }

    /// Apply to rows built in memory: for the few listings that are computed rather than
    /// selected (a tag's packages through inheritance, as Koji computes them too), which are
    /// as large as the tag, not the farm. Without an order the caller's order stands.
    pub fn apply(&self, mut rows: Vec<Value>, max: i64) -> Value {
        if !self.fields.is_empty() {
            rows.sort_by(|x, y| {
                self.fields
                    .iter()
                    .map(|(f, desc)| {
                        let o = cmp_field(x, y, f);
                        if *desc { o.reverse() } else { o }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        if let Some(off) = self.offset {
            let off = usize::try_from(off).unwrap_or(usize::MAX).min(rows.len());
            rows.drain(..off);
        }
        if let Some(l) = self.limit {
            rows.truncate(usize::try_from(l).unwrap_or(usize::MAX));
        }
        if self.count_only {
            return Value::Int(i64::try_from(rows.len()).unwrap_or(i64::MAX));
        }
        rows.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        Value::Array(rows)
    }
}

/// Python's order for the values a listing holds: None first, then numbers or strings.
fn cmp_field(x: &Value, y: &Value, col: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let a = x.get(col).filter(|v| !v.is_nil());
    let b = y.get(col).filter(|v| !v.is_nil());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(Value::Int(a)), Some(Value::Int(b))) => a.cmp(b),
        (Some(Value::String(a)), Some(Value::String(b))) => a.cmp(b),
        (Some(a), Some(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
    }
}

/// A listing's answer: its rows as values, or its count.
pub fn paged_value<T>(p: Paged<T>, f: impl FnMut(T) -> Value) -> Value {
    match p.map(f) {
        Paged::Rows(r) => Value::Array(r),
        Paged::Count(n) => Value::Int(n),
    }
}
