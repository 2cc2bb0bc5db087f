//! Tasks: rows, their state changes (every one guarded by the state it expects), subtasks,
//! waiting and refusals.

use super::{Conn, Page, Paged, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Task states, with Koji's numbers (what the CLI shows and filters on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Free = 0,
    Open = 1,
    Closed = 2,
    Canceled = 3,
    Assigned = 4,
    Failed = 5,
}

impl TaskState {
    pub const FINAL: [TaskState; 3] = [TaskState::Closed, TaskState::Canceled, TaskState::Failed];
    /// Holding a host: counted against its capacity and maxjobs (unless waiting).
    pub const ACTIVE: [TaskState; 2] = [TaskState::Open, TaskState::Assigned];

    /// Koji's number for the state.
    pub fn code(self) -> i32 {
        match self {
            TaskState::Free => 0,
            TaskState::Open => 1,
            TaskState::Closed => 2,
            TaskState::Canceled => 3,
            TaskState::Assigned => 4,
            TaskState::Failed => 5,
        }
    }

    pub fn from_code(n: i32) -> Option<TaskState> {
        Some(match n {
            0 => TaskState::Free,
            1 => TaskState::Open,
            2 => TaskState::Closed,
            3 => TaskState::Canceled,
            4 => TaskState::Assigned,
            5 => TaskState::Failed,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }

    /// Koji's name for the state (`koji.TASK_STATES`).
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Free => "FREE",
            TaskState::Open => "OPEN",
            TaskState::Closed => "CLOSED",
            TaskState::Canceled => "CANCELED",
            TaskState::Assigned => "ASSIGNED",
            TaskState::Failed => "FAILED",
        }
    }
}

// Stored as Koji's number (INTEGER), bound as a parameter wherever SQL names a state.
impl sqlx::Type<sqlx::Postgres> for TaskState {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <i32 as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::postgres::PgHasArrayType for TaskState {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <i32 as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for TaskState {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <i32 as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.code(), buf)
    }
}

impl sqlx::Decode<'_, sqlx::Postgres> for TaskState {
    fn decode(
        value: sqlx::postgres::PgValueRef<'_>,
    ) -> std::result::Result<Self, sqlx::error::BoxDynError> {
        let n = <i32 as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        TaskState::from_code(n).ok_or_else(|| format!("unknown task state {n}").into())
    }
}

/// A task row as `getTaskInfo` shows it, with its encoded request and result.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: i32,
    pub state: TaskState,
    pub create_time: DateTime<Utc>,
    pub start_time: Option<DateTime<Utc>>,
    pub completion_time: Option<DateTime<Utc>>,
    pub channel_id: i32,
    pub host_id: Option<i32>,
    pub parent: Option<i32>,
    pub label: Option<String>,
    pub waiting: Option<bool>,
    pub awaited: Option<bool>,
    pub owner: i32,
    pub method: String,
    pub arch: String,
    pub priority: i32,
    pub weight: f64,
    /// The parameters, as an XML-RPC methodCall.
    pub request: String,
    /// The outcome, as an XML-RPC methodResponse (a fault for FAILED tasks).
    pub result: Option<String>,
}

const TASK_COLUMNS: &str = "t.id, t.state, t.create_time, t.start_time, t.completion_time, \
    t.channel_id, t.host_id, t.parent, t.label, t.waiting, t.awaited, t.owner, t.method, t.arch, \
    t.priority, t.weight, t.request, t.result";

fn task(r: &sqlx::postgres::PgRow) -> Result<Task> {
    Ok(Task {
        id: r.try_get("id")?,
        state: r.try_get("state")?,
        create_time: r.try_get("create_time")?,
        start_time: r.try_get("start_time")?,
        completion_time: r.try_get("completion_time")?,
        channel_id: r.try_get("channel_id")?,
        host_id: r.try_get("host_id")?,
        parent: r.try_get("parent")?,
        label: r.try_get("label")?,
        waiting: r.try_get("waiting")?,
        awaited: r.try_get("awaited")?,
        owner: r.try_get("owner")?,
        method: r.try_get("method")?,
        arch: r.try_get("arch")?,
        priority: r.try_get("priority")?,
        weight: r.try_get("weight")?,
        request: r.try_get("request")?,
        result: r.try_get("result")?,
    })
}

pub async fn get(db: &mut Conn, id: i32) -> Result<Option<Task>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM task t WHERE t.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(task)
    .transpose()
}

/// The subtasks of a task, by id.
pub async fn children(db: &mut Conn, parent: i32) -> Result<Vec<Task>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM task t WHERE t.parent = $1 ORDER BY t.id"
    )))
    .bind(parent)
    .fetch_all(db)
    .await?;
    rows.iter().map(task).collect()
}

/// The ids of a task's subtasks.
pub async fn child_ids(db: &mut Conn, parent: i32) -> Result<Vec<i32>> {
    sqlx::query_scalar("SELECT id FROM task WHERE parent = $1")
        .bind(parent)
        .fetch_all(db)
        .await
}

/// A task and all its descendants.
pub async fn tree_ids(db: &mut Conn, root: i32) -> Result<Vec<i32>> {
    sqlx::query_scalar(
        "WITH RECURSIVE tree(id) AS (SELECT id FROM task WHERE id = $1 \
           UNION SELECT t.id FROM task t JOIN tree ON t.parent = tree.id) SELECT id FROM tree",
    )
    .bind(root)
    .fetch_all(db)
    .await
}

/// What a new task is.
pub struct NewTask<'a> {
    pub method: &'a str,
    /// The parameters, as an XML-RPC methodCall.
    pub request: &'a str,
    pub owner: i32,
    pub arch: &'a str,
    pub channel_id: i32,
    pub priority: i32,
    pub weight: f64,
    pub parent: Option<i32>,
    pub label: Option<&'a str>,
}

/// A new FREE task; returns its id.
pub async fn insert(db: &mut Conn, t: &NewTask<'_>) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO task (state, channel_id, parent, label, owner, method, request, arch, priority, weight) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(TaskState::Free)
    .bind(t.channel_id)
    .bind(t.parent)
    .bind(t.label)
    .bind(t.owner)
    .bind(t.method)
    .bind(t.request)
    .bind(t.arch)
    .bind(t.priority)
    .bind(t.weight)
    .fetch_one(db)
    .await
}

/// Unfinished tasks among `ids` become CANCELED; returns how many.
pub async fn cancel(db: &mut Conn, ids: &[i32]) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE task SET state = $2, completion_time = clock_timestamp(), waiting = NULL \
         WHERE id = ANY($1) AND NOT (state = ANY($3))",
    )
    .bind(ids)
    .bind(TaskState::Canceled)
    .bind(TaskState::FINAL)
    .execute(db)
    .await?
    .rows_affected())
}

/// The tasks among `ids` running `method` that are in `state`.
pub async fn with_method_in_state(
    db: &mut Conn,
    ids: &[i32],
    method: &str,
    state: TaskState,
) -> Result<Vec<i32>> {
    sqlx::query_scalar("SELECT id FROM task WHERE id = ANY($1) AND method = $2 AND state = $3")
        .bind(ids)
        .bind(method)
        .bind(state)
        .fetch_all(db)
        .await
}

/// A list filter of `listTasks`.
#[derive(Debug, Clone)]
pub enum TaskCond {
    /// An int column (`state`, `owner`, `host_id`, `channel_id`, `id`) is one of these.
    IntIn(&'static str, Vec<i32>),
    /// A text column (`method`, `arch`) is one of these.
    TextIn(&'static str, Vec<String>),
    /// `parent` is this task (None: top-level tasks).
    Parent(Option<i32>),
    /// A time column compared (`op`: `<` or `>`) with a Unix time or a timestamp text.
    Time(&'static str, &'static str, TimeBound),
}

#[derive(Debug, Clone)]
pub enum TimeBound {
    Unix(f64),
    Text(String),
}

/// A task in a list, with its owner's name and type.
#[derive(Debug, Clone)]
pub struct ListedTask {
    pub task: Task,
    pub owner_name: String,
    pub owner_type: i32,
}

enum Bind {
    Ints(Vec<i32>),
    Texts(Vec<String>),
    Int(i32),
    Float(f64),
    Text(String),
}

/// The WHERE clause of `conds` (columns of `task t`) and its binds.
fn where_clause(conds: &[TaskCond]) -> (String, Vec<Bind>) {
    let mut sql = Vec::new();
    let mut binds = Vec::new();
    for c in conds {
        let n = binds.len() + 1;
        match c {
            TaskCond::IntIn(col, v) => {
                sql.push(format!("t.{col} = ANY(${n})"));
                binds.push(Bind::Ints(v.clone()));
            }
            TaskCond::TextIn(col, v) => {
                sql.push(format!("t.{col} = ANY(${n})"));
                binds.push(Bind::Texts(v.clone()));
            }
            TaskCond::Parent(None) => sql.push("t.parent IS NULL".into()),
            TaskCond::Parent(Some(p)) => {
                sql.push(format!("t.parent = ${n}"));
                binds.push(Bind::Int(*p));
            }
            TaskCond::Time(col, op, TimeBound::Unix(f)) => {
                sql.push(format!("t.{col} {op} to_timestamp(${n})"));
                binds.push(Bind::Float(*f));
            }
            TaskCond::Time(col, op, TimeBound::Text(s)) => {
                sql.push(format!("t.{col} {op} ${n}::timestamptz"));
                binds.push(Bind::Text(s.clone()));
            }
        }
    }
    let w = if sql.is_empty() {
        "TRUE".to_string()
    } else {
        sql.join(" AND ")
    };
    (w, binds)
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Ints(v) => q.bind(v),
                Bind::Texts(v) => q.bind(v),
                Bind::Int(v) => q.bind(v),
                Bind::Float(v) => q.bind(v),
                Bind::Text(v) => q.bind(v),
            };
        }
        q
    }};
}

/// What `listTasks` may be ordered by.
pub const TASK_ORDER: &[(&str, &str)] = &[
    ("id", "t.id"),
    ("priority", "t.priority"),
    ("create_time", "t.create_time"),
    ("start_time", "t.start_time"),
    ("completion_time", "t.completion_time"),
    ("state", "t.state"),
    ("method", "t.method"),
    ("owner", "t.owner"),
    ("host_id", "t.host_id"),
    ("parent", "t.parent"),
];

/// Tasks matching `conds`, one page (or its count).
pub async fn list(db: &mut Conn, conds: &[TaskCond], page: &Page) -> Result<Paged<ListedTask>> {
    let (w, binds) = where_clause(conds);
    let sql = page.sql(
        &format!(
            "SELECT {TASK_COLUMNS}, u.name AS owner_name, u.usertype AS owner_type FROM task t JOIN users u ON u.id = t.owner \
             WHERE {w}"
        ),
        "t.id",
    );
    let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql)), binds);
    page.fetch(db, q, |r| {
        Ok(ListedTask {
            task: task(r)?,
            owner_name: r.try_get("owner_name")?,
            owner_type: r.try_get("owner_type")?,
        })
    })
    .await
}

/// A task as `host.getTasks` offers it.
#[derive(Debug, Clone)]
pub struct Offer {
    pub id: i32,
    pub state: TaskState,
    pub channel_id: i32,
    pub host_id: Option<i32>,
    pub arch: String,
    pub method: String,
    pub priority: i32,
    pub create_time: DateTime<Utc>,
    pub weight: f64,
}

/// The tasks assigned to a host, in the order it should take them.
pub async fn assigned_to(db: &mut Conn, host: i32) -> Result<Vec<Offer>> {
    let rows = sqlx::query(
        "SELECT id, state, channel_id, host_id, arch, method, priority, create_time, weight FROM task \
         WHERE host_id = $1 AND state = $2 ORDER BY priority, create_time, id",
    )
    .bind(host)
    .bind(TaskState::Assigned)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Offer {
                id: r.try_get("id")?,
                state: r.try_get("state")?,
                channel_id: r.try_get("channel_id")?,
                host_id: r.try_get("host_id")?,
                arch: r.try_get("arch")?,
                method: r.try_get("method")?,
                priority: r.try_get("priority")?,
                create_time: r.try_get("create_time")?,
                weight: r.try_get("weight")?,
            })
        })
        .collect()
}

/// The OPEN tasks of a host: (id, waiting, weight, alert), where `alert` says a waiting
/// task has an awaited subtask that finished.
pub async fn open_on(db: &mut Conn, host: i32) -> Result<Vec<(i32, Option<bool>, f64, bool)>> {
    sqlx::query_as(
        "SELECT t.id, t.waiting, t.weight, \
                (t.waiting IS TRUE AND EXISTS (SELECT 1 FROM task s WHERE s.parent = t.id \
                   AND s.awaited IS TRUE AND s.state = ANY($3))) AS alert \
         FROM task t WHERE t.host_id = $1 AND t.state = $2 ORDER BY t.id",
    )
    .bind(host)
    .bind(TaskState::Open)
    .bind(TaskState::FINAL)
    .fetch_all(db)
    .await
}

/// FREE, or ASSIGNED to `host`, → OPEN on `host`; the opened task, or None.
pub async fn open(db: &mut Conn, id: i32, host: i32) -> Result<Option<Task>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE task t SET state = $3, host_id = $2, start_time = clock_timestamp() \
         WHERE t.id = $1 AND (t.state = $4 OR (t.state = $5 AND t.host_id = $2)) RETURNING {TASK_COLUMNS}"
    )))
    .bind(id)
    .bind(host)
    .bind(TaskState::Open)
    .bind(TaskState::Free)
    .bind(TaskState::Assigned)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(task)
    .transpose()
}

/// A finished task: its final state and result; it waits for nothing any more.
pub async fn finish(db: &mut Conn, id: i32, state: TaskState, result: &str) -> Result<()> {
    sqlx::query(
        "UPDATE task SET state = $2, result = $3, completion_time = clock_timestamp(), waiting = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(result)
    .execute(db)
    .await?;
    Ok(())
}

/// The host's OPEN tasks among `ids` go back to FREE.
pub async fn free_open(db: &mut Conn, ids: &[i32], host: i32) -> Result<()> {
    sqlx::query(
        "UPDATE task SET state = $3, host_id = NULL, start_time = NULL, assign_time = NULL \
         WHERE id = ANY($1) AND host_id = $2 AND state = $4",
    )
    .bind(ids)
    .bind(host)
    .bind(TaskState::Free)
    .bind(TaskState::Open)
    .execute(db)
    .await?;
    Ok(())
}

/// Record a host's refusal of a task (the newest one counts).
pub async fn refuse(db: &mut Conn, id: i32, host: i32, soft: bool, msg: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO task_refusals (task_id, host_id, soft, msg) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (task_id, host_id) DO UPDATE SET soft = $3, msg = $4, time = clock_timestamp()",
    )
    .bind(id)
    .bind(host)
    .bind(soft)
    .bind(msg)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "UPDATE task SET state = $3, host_id = NULL, start_time = NULL, assign_time = NULL \
         WHERE id = $1 AND host_id = $2 AND state = ANY($4)",
    )
    .bind(id)
    .bind(host)
    .bind(TaskState::Free)
    .bind(TaskState::ACTIVE)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_weight(db: &mut Conn, id: i32, weight: f64) -> Result<()> {
    sqlx::query("UPDATE task SET weight = $2 WHERE id = $1")
        .bind(id)
        .bind(weight)
        .execute(db)
        .await?;
    Ok(())
}

/// The subtask of `parent` with this label.
pub async fn child_by_label(db: &mut Conn, parent: i32, label: &str) -> Result<Option<i32>> {
    sqlx::query_scalar("SELECT id FROM task WHERE parent = $1 AND label = $2")
        .bind(parent)
        .bind(label)
        .fetch_optional(db)
        .await
}

/// A new task goes straight to `host` (ASSIGNED), whatever its channel and arch.
pub async fn assign_new(db: &mut Conn, id: i32, host: i32) -> Result<()> {
    sqlx::query(
        "UPDATE task SET state = $3, host_id = $2, assign_time = clock_timestamp() \
         WHERE id = $1 AND state = $4",
    )
    .bind(id)
    .bind(host)
    .bind(TaskState::Assigned.code())
    .bind(TaskState::Free.code())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_waiting(db: &mut Conn, id: i32, waiting: bool) -> Result<()> {
    sqlx::query("UPDATE task SET waiting = $2 WHERE id = $1")
        .bind(id)
        .bind(waiting)
        .execute(db)
        .await?;
    Ok(())
}

/// The parent awaits the given subtasks (None: all of them), and no others.
pub async fn set_awaited(db: &mut Conn, parent: i32, ids: Option<&[i32]>) -> Result<()> {
    sqlx::query("UPDATE task SET awaited = ($2::int[] IS NULL OR id = ANY($2)) WHERE parent = $1")
        .bind(parent)
        .bind(ids)
        .execute(db)
        .await?;
    Ok(())
}

/// (id, state) of the subtasks the parent awaits, by id.
pub async fn awaited(db: &mut Conn, parent: i32) -> Result<Vec<(i32, TaskState)>> {
    sqlx::query_as("SELECT id, state FROM task WHERE parent = $1 AND awaited ORDER BY id")
        .bind(parent)
        .fetch_all(db)
        .await
}

/// These tasks are awaited no more.
pub async fn unawait(db: &mut Conn, ids: &[i32]) -> Result<()> {
    sqlx::query("UPDATE task SET awaited = FALSE WHERE id = ANY($1)")
        .bind(ids)
        .execute(db)
        .await?;
    Ok(())
}

/// No subtask of the parent is awaited any more.
pub async fn unawait_children(db: &mut Conn, parent: i32) -> Result<()> {
    sqlx::query("UPDATE task SET awaited = FALSE WHERE parent = $1")
        .bind(parent)
        .execute(db)
        .await?;
    Ok(())
}

/// (id, state, result) of the finished subtasks of a parent (among `ids`, if given), by id.
pub async fn finished_children(
    db: &mut Conn,
    parent: i32,
    ids: Option<&[i32]>,
) -> Result<Vec<(i32, TaskState, Option<String>)>> {
    sqlx::query_as(
        "SELECT id, state, result FROM task WHERE parent = $1 AND state = ANY($3) \
         AND ($2::int[] IS NULL OR id = ANY($2)) ORDER BY id",
    )
    .bind(parent)
    .bind(ids)
    .bind(TaskState::FINAL)
    .fetch_all(db)
    .await
}

/// The stored result of a task.
pub async fn result_of(db: &mut Conn, id: i32) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT result FROM task WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// The user of the host holding the task OPEN.
pub async fn holder_user(db: &mut Conn, id: i32) -> Result<Option<i32>> {
    sqlx::query_scalar(
        "SELECT h.user_id FROM task t JOIN host h ON h.id = t.host_id WHERE t.id = $1 AND t.state = $2",
    )
    .bind(id)
    .bind(TaskState::Open)
    .fetch_optional(db)
    .await
}

/// The id of a channel by name.
pub async fn channel_id(db: &mut Conn, name: &str) -> Result<Option<i32>> {
    sqlx::query_scalar("SELECT id FROM channels WHERE name = $1")
        .bind(name)
        .fetch_optional(db)
        .await
}

/// Whether a channel with this id exists.
pub async fn channel_exists(db: &mut Conn, id: i32) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar("SELECT id FROM channels WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}
