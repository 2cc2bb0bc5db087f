//! The task model: states, the record the CLI reads, creation, cancellation.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::timefmt;
use chrono::{DateTime, Utc};
use koji_protocol::{Limits, Value, decode_call, encode_call, kstruct};
use sqlx::Row;

pub mod state {
    pub const FREE: i32 = 0;
    pub const OPEN: i32 = 1;
    pub const CLOSED: i32 = 2;
    pub const CANCELED: i32 = 3;
    pub const ASSIGNED: i32 = 4;
    pub const FAILED: i32 = 5;

    pub fn is_final(s: i32) -> bool {
        matches!(s, CLOSED | CANCELED | FAILED)
    }
}

/// Koji's default priority; lower numbers run first.
pub const PRIO_DEFAULT: i64 = 20;

/// The priorities a task may have. Koji sets no bound; kkoji does, so that no number from
/// the wire wraps when stored (a huge "low" priority once came out negative and jumped the
/// queue).
pub const PRIO_RANGE: std::ops::RangeInclusive<i64> = -1000..=1000;

/// A task priority from the wire, checked against [`PRIO_RANGE`].
pub fn checked_priority(p: i64) -> HResult<i64> {
    if PRIO_RANGE.contains(&p) {
        Ok(p)
    } else {
        Err(HubError::parameter(format!(
            "priority {p} is out of range ({}..={})",
            PRIO_RANGE.start(),
            PRIO_RANGE.end()
        )))
    }
}

/// Weights a task starts with (the builder may adjust them with setTaskWeight).
pub fn default_weight(method: &str) -> f64 {
    match method {
        "build" => 0.2,
        "buildArch" => 1.5,
        "newRepo" => 0.1,
        "createrepo" => 1.5,
        "waitrepo" => 0.2,
        _ => 1.0,
    }
}

pub const TASK_COLUMNS: &str = "t.id, t.state, t.create_time, t.start_time, t.completion_time, \
    t.channel_id, t.host_id, t.parent, t.label, t.waiting, t.awaited, t.owner, t.method, t.arch, \
    t.priority, t.weight, t.request, t.result";

/// The task record as `getTaskInfo` returns it (plus `request` when asked).
pub fn task_value(r: &sqlx::postgres::PgRow, with_request: bool) -> HResult<Value> {
    let create: DateTime<Utc> = r.try_get("create_time")?;
    let start: Option<DateTime<Utc>> = r.try_get("start_time")?;
    let done: Option<DateTime<Utc>> = r.try_get("completion_time")?;
    let mut v = kstruct! {
        "id" => r.try_get::<i32, _>("id")?,
        "state" => r.try_get::<i32, _>("state")?,
        "create_time" => timefmt::iso(&create),
        "create_ts" => timefmt::ts(&create),
        "start_time" => timefmt::iso_value(start.as_ref()),
        "start_ts" => timefmt::ts_value(start.as_ref()),
        "completion_time" => timefmt::iso_value(done.as_ref()),
        "completion_ts" => timefmt::ts_value(done.as_ref()),
        "channel_id" => r.try_get::<i32, _>("channel_id")?,
        "host_id" => r.try_get::<Option<i32>, _>("host_id")?,
        "parent" => r.try_get::<Option<i32>, _>("parent")?,
        "label" => r.try_get::<Option<String>, _>("label")?,
        "waiting" => r.try_get::<Option<bool>, _>("waiting")?,
        "awaited" => r.try_get::<Option<bool>, _>("awaited")?,
        "owner" => r.try_get::<i32, _>("owner")?,
        "method" => r.try_get::<String, _>("method")?,
        "arch" => r.try_get::<String, _>("arch")?,
        "priority" => r.try_get::<i32, _>("priority")?,
        "weight" => r.try_get::<f64, _>("weight")?,
    };
    if with_request && let Value::Struct(m) = &mut v {
        let req: String = r.try_get("request")?;
        m.insert("request".into(), Value::Array(decode_params(&req)));
    }
    Ok(v)
}

/// The parameters of a stored request (an unreadable one shows as empty, never fails a
/// listing).
pub fn decode_params(xml: &str) -> Vec<Value> {
    match decode_call(xml.as_bytes(), &Limits::default()) {
        Ok(c) => c.params,
        Err(e) => {
            tracing::warn!(error = %e, "stored task request does not decode");
            Vec::new()
        }
    }
}

pub async fn fetch(c: &mut Ctx, id: i64) -> HResult<Option<sqlx::postgres::PgRow>> {
    let Ok(id) = i32::try_from(id) else {
        return Ok(None);
    };
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM task t WHERE t.id = $1"
    )))
    .bind(id)
    .fetch_optional(c.db().await?)
    .await?)
}

pub async fn require(c: &mut Ctx, id: i64) -> HResult<sqlx::postgres::PgRow> {
    fetch(c, id)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such task: {id}")))
}

pub struct NewTask<'a> {
    pub method: &'a str,
    pub params: Vec<Value>,
    pub owner: i64,
    pub arch: &'a str,
    pub channel_id: i64,
    pub priority: i64,
    pub parent: Option<i64>,
    pub label: Option<String>,
}

/// Create a FREE task and tell every hub (LISTEN/NOTIFY, delivered at commit) so waiting
/// builders hear of it at once.
pub async fn create(c: &mut Ctx, t: NewTask<'_>) -> HResult<i64> {
    c.mark_write();
    // every path that makes a task ends here: no priority can wrap on its way to i32
    let priority = i32::try_from(checked_priority(t.priority)?)
        .map_err(|_| HubError::parameter(format!("priority {} is out of range", t.priority)))?;
    let request = encode_call(t.method, &t.params);
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO task (state, channel_id, parent, label, owner, method, request, arch, priority, weight) \
         VALUES (0, $1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(t.channel_id as i32)
    .bind(t.parent.map(|p| p as i32))
    .bind(&t.label)
    .bind(t.owner as i32)
    .bind(t.method)
    .bind(&request)
    .bind(t.arch)
    .bind(priority)
    .bind(default_weight(t.method))
    .fetch_one(c.db().await?)
    .await?;
    notify_tasks(c).await?;
    tracing::info!(
        task = id,
        method = t.method,
        owner = t.owner,
        "task created"
    );
    Ok(i64::from(id))
}

/// Wake long-polling builders on every hub of this database.
pub async fn notify_tasks(c: &mut Ctx) -> HResult<()> {
    sqlx::query("SELECT pg_notify('kkoji_tasks', '')")
        .execute(c.db().await?)
        .await?;
    Ok(())
}

pub async fn channel_id(c: &mut Ctx, name: &str) -> HResult<i64> {
    let id: Option<i32> = sqlx::query_scalar("SELECT id FROM channels WHERE name = $1")
        .bind(name)
        .fetch_optional(c.db().await?)
        .await?;
    id.map(i64::from)
        .ok_or_else(|| HubError::generic(format!("No such channel: {name}")))
}

/// Cancel a task (and with `recurse` its unfinished descendants). Finished tasks are left
/// alone. Builds in BUILDING state created by a canceled task are canceled too.
pub async fn cancel(c: &mut Ctx, id: i64, recurse: bool) -> HResult<()> {
    let ids: Vec<i32> = if recurse {
        sqlx::query_scalar(
            "WITH RECURSIVE tree(id) AS (SELECT id FROM task WHERE id = $1 \
               UNION SELECT t.id FROM task t JOIN tree ON t.parent = tree.id) SELECT id FROM tree",
        )
        .bind(id as i32)
        .fetch_all(c.db().await?)
        .await?
    } else {
        vec![id as i32]
    };
    c.mark_write();
    let n = sqlx::query(
        "UPDATE task SET state = 3, completion_time = clock_timestamp(), waiting = NULL \
         WHERE id = ANY($1) AND state NOT IN (2, 3, 5)",
    )
    .bind(&ids)
    .execute(c.db().await?)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE build SET state = 4, completion_time = clock_timestamp() WHERE task_id = ANY($1) AND state = 0",
    )
    .bind(&ids)
    .execute(c.db().await?)
    .await?;
    let repo_tasks: Vec<i32> = sqlx::query_scalar(
        "SELECT id FROM task WHERE id = ANY($1) AND method = 'newRepo' AND state = 3",
    )
    .bind(&ids)
    .fetch_all(c.db().await?)
    .await?;
    for t in repo_tasks {
        let t = i64::from(t);
        crate::repos::task_failed(c, t, &format!("task {t} was canceled")).await?;
    }
    if n > 0 {
        notify_tasks(c).await?;
    }
    Ok(())
}
