//! Where the SQL lives: one module per domain, each a set of queries on a connection its
//! caller owns (a call's transaction, or a background loop's own connection). Nothing here
//! knows about calls, sessions, permissions or XML-RPC: functions take ids and values,
//! return rows as records, and fail only with the database's own error.
//!
//! Ids are `i32` (the schema's `INTEGER` columns); events and sessions are `i64`
//! (`BIGSERIAL`). Numbers from the wire are checked before they get here, never cast.

pub mod buildroots;
pub mod builds;
pub mod calls;
pub mod channels;
pub mod dist_repos;
pub mod events;
pub mod external_repos;
pub mod groups;
pub mod history;
pub mod hosts;
pub mod imports;
pub mod notifications;
pub mod packages;
pub mod repo_queue;
pub mod repos;
pub mod scheduler;
pub mod scheduler_log;
pub mod search;
pub mod sessions;
pub mod signatures;
pub mod tagging;
pub mod tags;
pub mod targets;
pub mod task_admin;
pub mod tasks;
pub mod users;
pub mod volumes;

use crate::ident::Ident;
use koji_protocol::{Limits, Value, decode_response, encode_response};

pub use sqlx::PgConnection as Conn;

pub type Result<T> = std::result::Result<T, sqlx::Error>;

/// One page of a list call (`queryOpts`). The ORDER BY text is made only of the listing's
/// own column expressions (a storage constant, picked by names the handler checked) and the
/// rest are numbers, so nothing a client sends becomes SQL text.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// `(expression, descending)`; empty means the listing's default order.
    pub order: Vec<(&'static str, bool)>,
    /// Already capped by the handler for rows; a count may be unbounded.
    pub limit: Option<i64>,
    pub offset: i64,
    /// Answer `count(*)` of the (limited, offset) rows instead of the rows, as Koji does.
    pub count_only: bool,
}

/// Rows of a list call, or their number when the caller asked `countOnly`.
#[derive(Debug)]
pub enum Paged<T> {
    Rows(Vec<T>),
    Count(i64),
}

impl Page {
    /// `base` (a SELECT without ORDER BY) ordered, limited and offset; wrapped in a count when
    /// only the number is wanted, so the database never sends the rows.
    pub fn sql(&self, base: &str, default_order: &str) -> String {
        let order = if self.order.is_empty() {
            default_order.to_string()
        } else {
            self.order
                .iter()
                .map(|(e, desc)| {
                    if *desc {
                        // a multi-column expression ("a, b") is descending in every column
                        e.split(", ")
                            .map(|c| format!("{c} DESC"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    } else {
                        (*e).to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut sql = format!("{base} ORDER BY {order}");
        if let Some(l) = self.limit {
            sql.push_str(&format!(" LIMIT {}", l.max(0)));
        }
        if self.offset > 0 {
            sql.push_str(&format!(" OFFSET {}", self.offset));
        }
        if self.count_only {
            format!("SELECT count(*) FROM ({sql}) q")
        } else {
            sql
        }
    }

    /// Run `q` (built on [`Page::sql`]) and read its rows with `row`, or its count.
    pub async fn fetch<'q, T>(
        &self,
        db: &mut Conn,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        row: impl Fn(&sqlx::postgres::PgRow) -> Result<T>,
    ) -> Result<Paged<T>> {
        use sqlx::Row;
        if self.count_only {
            let r = q.fetch_one(db).await?;
            return Ok(Paged::Count(r.try_get(0)?));
        }
        let rows = q.fetch_all(db).await?;
        Ok(Paged::Rows(rows.iter().map(row).collect::<Result<_>>()?))
    }
}

impl<T> Paged<T> {
    /// The rows (none for a count: callers inside the hub never ask one).
    pub fn into_rows(self) -> Vec<T> {
        match self {
            Paged::Rows(r) => r,
            Paged::Count(_) => Vec::new(),
        }
    }

    /// The same listing with each row turned into `f`'s answer.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        match self {
            Paged::Rows(r) => Paged::Rows(r.into_iter().map(f).collect()),
            Paged::Count(n) => Paged::Count(n),
        }
    }
}

/// Who changes versioned rows, and the event the change belongs to (`create_event` of new
/// rows, `revoke_event` of replaced ones).
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub event: i64,
    pub user: Option<i32>,
}

/// SQL condition selecting the rows of a versioned table current at `event` (or now).
pub fn ver(alias: &str, event: Option<i64>) -> String {
    match event {
        None => format!("{alias}.active"),
        Some(e) => format!(
            "({alias}.create_event <= {e} AND ({alias}.revoke_event IS NULL OR {alias}.revoke_event > {e}))"
        ),
    }
}

/// Stored form of a free-form value (tag extra, host data, repo options): XML-RPC, so every
/// type round-trips.
pub fn store_value(v: &Value) -> String {
    encode_response(v)
}

/// A stored free-form value; text that does not decode is taken as a plain string.
pub fn load_value(s: &str) -> Value {
    match decode_response(s.as_bytes(), &Limits::default()) {
        Ok(Ok(v)) => v,
        _ => Value::String(s.to_string()),
    }
}

/// Mark the current rows matching `cond` of a versioned table as revoked (by `s`).
/// `cond` names its parameters from `$3` on; they are `binds`, in order.
async fn revoke(db: &mut Conn, table: &str, cond: &str, binds: &[i32], s: Stamp) -> Result<u64> {
    let sql = format!(
        "UPDATE {table} SET active = NULL, revoke_event = $1, revoker_id = $2 WHERE active AND {cond}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(s.event)
        .bind(s.user);
    for b in binds {
        q = q.bind(*b);
    }
    Ok(q.execute(db).await?.rows_affected())
}

/// Tables with `id` and unique `name` that Koji lets callers name either way.
#[derive(Clone, Copy, Debug)]
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

    /// What the thing is called in messages ("No such build target: x").
    pub fn what(self) -> &'static str {
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
pub async fn find(db: &mut Conn, kind: Named, ident: &Ident) -> Result<Option<(i32, String)>> {
    let col = match ident {
        Ident::Id(_) => "id",
        Ident::Name(_) => "name",
    };
    let q = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, name FROM {} WHERE {col} = $1",
        kind.table()
    )));
    let q = match ident {
        Ident::Id(i) => q.bind(*i),
        Ident::Name(n) => q.bind(n.clone()),
    };
    q.fetch_optional(db).await
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
    fn page_sql_orders_limits_and_counts() {
        let p = Page {
            order: vec![("p.name, b.version", true), ("b.id", false)],
            limit: Some(5),
            offset: 10,
            count_only: false,
        };
        assert_eq!(
            p.sql("SELECT 1 FROM b", "b.id"),
            "SELECT 1 FROM b ORDER BY p.name DESC, b.version DESC, b.id LIMIT 5 OFFSET 10"
        );
        let c = Page {
            count_only: true,
            ..Page::default()
        };
        assert_eq!(
            c.sql("SELECT 1 FROM b", "b.id"),
            "SELECT count(*) FROM (SELECT 1 FROM b ORDER BY b.id) q"
        );
    }
}
