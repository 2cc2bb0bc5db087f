//! What the scheduler did and why, for `koji scheduler-info` and `koji scheduler-logs`:
//! task runs (each assignment of a task to a host) and log messages (assignments,
//! timeouts, refusals, and why a FREE task waits). Read through three views whose fields
//! and filters are Koji's `scheduler.*` QueryViews; a caller names fields, the SQL
//! expressions are the constants here.

use super::{Conn, Page, Paged, Result};
use koji_protocol::{Struct, Value};
use sqlx::Row;

/// How a field reads and compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bool,
    /// Seconds since the epoch, as a float (Koji's `*_ts`).
    Time,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub expr: &'static str,
    pub kind: Kind,
}

const fn f(name: &'static str, expr: &'static str, kind: Kind) -> Field {
    Field { name, expr, kind }
}

/// One of the `scheduler.*` views.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub fields: &'static [Field],
    pub defaults: &'static [&'static str],
    from: &'static str,
    default_order: &'static str,
}

impl View {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

pub const TASK_RUNS: View = View {
    fields: &[
        f("id", "r.id", Kind::Int),
        f("task_id", "r.task_id", Kind::Int),
        f("method", "t.method", Kind::Text),
        f("state", "t.state", Kind::Int),
        f("owner", "t.owner", Kind::Int),
        f("arch", "t.arch", Kind::Text),
        f("channel_id", "t.channel_id", Kind::Int),
        f("host_name", "h.name", Kind::Text),
        f("host_ready", "h.ready", Kind::Bool),
        f("host_id", "r.host_id", Kind::Int),
        f("active", "r.active", Kind::Bool),
        f(
            "create_ts",
            "extract(epoch FROM r.create_time)::float8",
            Kind::Time,
        ),
        f(
            "start_ts",
            "extract(epoch FROM t.start_time)::float8",
            Kind::Time,
        ),
        f(
            "completion_ts",
            "extract(epoch FROM t.completion_time)::float8",
            Kind::Time,
        ),
    ],
    defaults: &["id", "task_id", "host_id", "active", "create_ts"],
    from: "scheduler_task_runs r JOIN task t ON t.id = r.task_id JOIN host h ON h.id = r.host_id",
    default_order: "r.id",
};

pub const LOG_MESSAGES: View = View {
    fields: &[
        f("id", "m.id", Kind::Int),
        f("task_id", "m.task_id", Kind::Int),
        f("host_id", "m.host_id", Kind::Int),
        f(
            "msg_ts",
            "extract(epoch FROM m.msg_time)::float8",
            Kind::Time,
        ),
        f("msg", "m.msg", Kind::Text),
        f("method", "t.method", Kind::Text),
        f("state", "t.state", Kind::Int),
        f("owner", "t.owner", Kind::Int),
        f("arch", "t.arch", Kind::Text),
        f("channel_id", "t.channel_id", Kind::Int),
        f("host_name", "h.name", Kind::Text),
        f("host_ready", "h.ready", Kind::Bool),
    ],
    defaults: &["id", "task_id", "host_id", "msg", "msg_ts"],
    from: "scheduler_log_messages m LEFT JOIN task t ON t.id = m.task_id \
           LEFT JOIN host h ON h.id = m.host_id",
    default_order: "m.id",
};

pub const TASK_REFUSALS: View = View {
    fields: &[
        f("task_id", "x.task_id", Kind::Int),
        f("host_id", "x.host_id", Kind::Int),
        // every refusal here is the host's own (host.refuseTask)
        f("by_host", "TRUE", Kind::Bool),
        f("soft", "x.soft", Kind::Bool),
        f("msg", "x.msg", Kind::Text),
        f("ts", "extract(epoch FROM x.time)::float8", Kind::Time),
        f("method", "t.method", Kind::Text),
        f("state", "t.state", Kind::Int),
        f("owner", "t.owner", Kind::Int),
        f("arch", "t.arch", Kind::Text),
        f("channel_id", "t.channel_id", Kind::Int),
        f("host_name", "h.name", Kind::Text),
        f("host_ready", "h.ready", Kind::Bool),
    ],
    defaults: &["task_id", "host_id", "by_host", "soft", "msg", "ts"],
    from: "task_refusals x JOIN task t ON t.id = x.task_id JOIN host h ON h.id = x.host_id",
    default_order: "x.time, x.task_id, x.host_id",
};

/// A comparison a clause makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

/// A clause's value, already of its field's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Float(f64),
    Ints(Vec<i64>),
    Texts(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Clause {
    pub field: &'static Field,
    pub op: Op,
    pub val: Val,
}

/// The rows of `view` matching every clause, with the named fields; one page.
pub async fn query(
    db: &mut Conn,
    view: &View,
    fields: &[&'static Field],
    clauses: &[Clause],
    page: &Page,
) -> Result<Paged<Struct>> {
    let mut conds = Vec::new();
    let mut binds = Vec::new();
    for c in clauses {
        let e = c.field.expr;
        let n = binds.len() + 1;
        let cond = match (&c.val, c.op) {
            (Val::Null, Op::Eq) => format!("{e} IS NULL"),
            (Val::Null, _) => format!("{e} IS NOT NULL"),
            (_, Op::In) => format!("{e} = ANY(${n})"),
            (_, Op::NotIn) => format!("NOT ({e} = ANY(${n}))"),
            (_, op) => {
                let sym = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    _ => ">=",
                };
                format!("{e} {sym} ${n}")
            }
        };
        conds.push(cond);
        if c.val != Val::Null {
            binds.push(c.val.clone());
        }
    }
    let cols: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} AS c{i}", f.expr))
        .collect();
    let base = format!(
        "SELECT {} FROM {} WHERE {}",
        cols.join(", "),
        view.from,
        if conds.is_empty() {
            "TRUE".to_string()
        } else {
            conds.join(" AND ")
        }
    );
    let sql = page.sql(&base, view.default_order);
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = match b {
            Val::Int(v) => q.bind(v),
            Val::Text(v) => q.bind(v),
            Val::Bool(v) => q.bind(v),
            Val::Float(v) => q.bind(v),
            Val::Ints(v) => q.bind(v),
            Val::Texts(v) => q.bind(v),
            Val::Null => q,
        };
    }
    page.fetch(db, q, |r| {
        let mut out = Struct::new();
        for (i, f) in fields.iter().enumerate() {
            let v = match f.kind {
                Kind::Int => r
                    .try_get::<Option<i32>, _>(i)?
                    .map_or(Value::Nil, |x| Value::Int(i64::from(x))),
                Kind::Text => r
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Value::Nil, Value::String),
                Kind::Bool => r
                    .try_get::<Option<bool>, _>(i)?
                    .map_or(Value::Nil, Value::Bool),
                Kind::Time => r
                    .try_get::<Option<f64>, _>(i)?
                    .map_or(Value::Nil, Value::Double),
            };
            out.insert(f.name.to_string(), v);
        }
        Ok(out)
    })
    .await
}

/// Log messages, each `(task, host, text)`, in one statement.
pub async fn log(db: &mut Conn, entries: &[(Option<i32>, Option<i32>, String)]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let tasks: Vec<Option<i32>> = entries.iter().map(|e| e.0).collect();
    let hosts: Vec<Option<i32>> = entries.iter().map(|e| e.1).collect();
    let msgs: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    sqlx::query(
        "INSERT INTO scheduler_log_messages (task_id, host_id, msg) \
         SELECT * FROM unnest($1::int[], $2::int[], $3::text[])",
    )
    .bind(tasks)
    .bind(hosts)
    .bind(msgs)
    .execute(db)
    .await?;
    Ok(())
}

/// A new run of each task on `host` (older runs of those tasks become inactive), and the
/// log line `msg` for each.
pub async fn runs(db: &mut Conn, host: i32, tasks: &[i32], msg: &str) -> Result<()> {
    sqlx::query(
        "WITH old AS (UPDATE scheduler_task_runs SET active = FALSE \
                      WHERE task_id = ANY($2) AND active), \
              new AS (INSERT INTO scheduler_task_runs (task_id, host_id) \
                      SELECT unnest($2::int[]), $1) \
         INSERT INTO scheduler_log_messages (task_id, host_id, msg) \
         SELECT unnest($2::int[]), $1, $3",
    )
    .bind(host)
    .bind(tasks)
    .bind(msg)
    .execute(db)
    .await?;
    Ok(())
}

/// Log messages older than `secs` go.
pub async fn prune(db: &mut Conn, secs: f64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM scheduler_log_messages \
         WHERE msg_time < clock_timestamp() - make_interval(secs => $1)",
    )
    .bind(secs)
    .execute(db)
    .await?
    .rows_affected())
}

/// (host, what it reported at its last check-in, its status line) of one host or all, by
/// host id; hosts that never reported are left out.
pub async fn host_data(
    db: &mut Conn,
    host: Option<i32>,
) -> Result<Vec<(i32, Value, Option<String>)>> {
    let rows: Vec<(i32, String, Option<String>)> = sqlx::query_as(
        "SELECT id, data, status FROM host WHERE data IS NOT NULL \
         AND ($1::int IS NULL OR id = $1) ORDER BY id",
    )
    .bind(host)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, data, status)| (id, super::load_value(&data), status))
        .collect())
}
