//! An admin's hand on the queue: a task assigned, freed or reprioritised by hand. Each is
//! one statement; the scheduler log records it like the scheduler's own decisions.

use super::tasks::TaskState;
use super::{Conn, Result};

/// `task` ASSIGNED to `host` if it is FREE, or with `force` if it is not finished; the
/// previous run goes inactive and, unless `override_`, a new run is recorded. Returns
/// whether it was assigned, and the host it was taken from.
pub async fn assign(
    db: &mut Conn,
    task: i32,
    host: i32,
    force: bool,
    override_: bool,
) -> Result<Option<Option<i32>>> {
    let row: Option<(Option<i32>,)> = sqlx::query_as(
        "WITH old AS (SELECT id, host_id FROM task WHERE id = $1 \
                        AND (state = $4 OR ($3 AND state <> ALL($5))) FOR UPDATE), \
              moved AS (UPDATE task t SET state = $6, host_id = $2, assign_time = clock_timestamp(), \
                          start_time = NULL FROM old WHERE t.id = old.id RETURNING t.id), \
              runs_off AS (UPDATE scheduler_task_runs SET active = FALSE \
                           WHERE task_id IN (SELECT id FROM moved) AND active), \
              run AS (INSERT INTO scheduler_task_runs (task_id, host_id) \
                      SELECT id, $2 FROM moved WHERE NOT $7), \
              logged AS (INSERT INTO scheduler_log_messages (task_id, host_id, msg) \
                         SELECT id, $2, CASE WHEN $7 THEN 'Assigning task (override)' \
                                        ELSE 'Assigning task (by an admin)' END FROM moved) \
         SELECT old.host_id FROM old JOIN moved ON moved.id = old.id",
    )
    .bind(task)
    .bind(host)
    .bind(force)
    .bind(TaskState::Free)
    .bind(TaskState::FINAL)
    .bind(TaskState::Assigned)
    .bind(override_)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(h,)| h))
}

/// A task that is not finished goes back to FREE, off its host. Returns the host it had,
/// or None when the task is finished (or missing).
pub async fn free(db: &mut Conn, task: i32) -> Result<Option<Option<i32>>> {
    let row: Option<(Option<i32>,)> = sqlx::query_as(
        "WITH old AS (SELECT id, host_id FROM task WHERE id = $1 AND state <> ALL($2) FOR UPDATE), \
              freed AS (UPDATE task t SET state = $3, host_id = NULL, assign_time = NULL, \
                          start_time = NULL FROM old WHERE t.id = old.id RETURNING t.id), \
              runs_off AS (UPDATE scheduler_task_runs SET active = FALSE \
                           WHERE task_id IN (SELECT id FROM freed) AND active), \
              logged AS (INSERT INTO scheduler_log_messages (task_id, host_id, msg) \
                         SELECT old.id, old.host_id, 'Task freed by an admin' FROM old) \
         SELECT host_id FROM old",
    )
    .bind(task)
    .bind(TaskState::FINAL)
    .bind(TaskState::Free)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(h,)| h))
}

/// The priority of `task` (and with `recurse`, of every task below it); returns how many
/// tasks changed.
pub async fn set_priority(db: &mut Conn, task: i32, priority: i32, recurse: bool) -> Result<u64> {
    Ok(sqlx::query(
        "WITH RECURSIVE tree AS (SELECT id FROM task WHERE id = $1 \
           UNION SELECT t.id FROM task t JOIN tree ON t.parent = tree.id WHERE $3) \
         UPDATE task SET priority = $2 WHERE id IN (SELECT id FROM tree)",
    )
    .bind(task)
    .bind(priority)
    .bind(recurse)
    .execute(db)
    .await?
    .rows_affected())
}
