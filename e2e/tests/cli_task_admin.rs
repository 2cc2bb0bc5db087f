//! An admin nudging the queue with the stock koji CLI: `make-task`, `set-task-priority`,
//! `assign-task`, `free-task`, `scheduler-info` and `scheduler-logs`, against quickstart.
//! The tasks are aarch64 (the quickstart builder builds x86_64), so nothing runs them.

use kkoji_e2e::{Farm, Output};
use std::time::Duration;

kkoji_e2e::shared_farm_main!(
    queue_admin_with_the_stock_cli,
    non_admins_cannot_touch_the_queue
);

/// `Created task id N` → N
#[track_caller]
fn created(out: &Output) -> String {
    out.lines()
        .into_iter()
        .find_map(|l| l.strip_prefix("Created task id "))
        .unwrap_or_else(|| panic!("no `Created task id N`:\n{out}"))
        .trim()
        .to_string()
}

/// `koji call --json-output getTaskInfo N`
fn task(farm: &Farm, id: &str) -> serde_json::Value {
    farm.koji(&["call", "--json-output", "getTaskInfo", id])
        .ok()
        .json()
}

/// Rows of a scheduler-info/-logs listing for the task (the header and rule skipped).
fn rows_for<'a>(out: &'a Output, id: &str) -> Vec<&'a str> {
    out.lines()
        .into_iter()
        .filter(|l| l.split_whitespace().next() == Some(id))
        .collect()
}

/// `koji scheduler-logs --task ID`, once one of the task's rows contains `needle` (the
/// scheduler writes at its next pass): generous, 120 looks half a second apart.
fn wait_logged(farm: &Farm, id: &str, needle: &str) -> Output {
    let mut out = farm.koji(&["scheduler-logs", "--task", id]).ok();
    for _ in 0..120 {
        if rows_for(&out, id).iter().any(|l| l.contains(needle)) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
        out = farm.koji(&["scheduler-logs", "--task", id]).ok();
    }
    panic!("task {id}: no scheduler log line with {needle:?}:\n{out}");
}

fn queue_admin_with_the_stock_cli(farm: &Farm) {
    farm.koji(&["add-host", "e2e-idle-host", "x86_64"]).ok();
    let id = created(
        &farm
            .koji(&["make-task", "--arch", "aarch64", "sleep", "600"])
            .ok(),
    );
    // nobody builds aarch64: scheduler-logs says so (the scheduler logs it at its next pass)
    let out = wait_logged(farm, &id, "no enabled host in its channel builds its arch");
    assert!(out.lines()[0].starts_with("Task"), "header:\n{out}");

    farm.koji(&["set-task-priority", "--priority", "5", &id])
        .ok()
        .stdout_empty();
    assert_eq!(task(farm, &id)["priority"], 5);

    farm.koji(&["assign-task", &id, "e2e-idle-host"])
        .ok()
        .stdout_is(&format!("assigned task {id} to host e2e-idle-host\n"));
    let out = farm.koji(&["scheduler-info", "--task", &id]).ok();
    let rows = rows_for(&out, &id);
    assert_eq!(rows.len(), 1, "one run:\n{out}");
    assert_eq!(
        rows[0].split_whitespace().nth(1),
        Some("e2e-idle-host"),
        "{out}"
    );
    let out = farm
        .koji(&["scheduler-info", "--host", "e2e-idle-host"])
        .ok();
    assert_eq!(rows_for(&out, &id).len(), 1, "by host name:\n{out}");
    out.stdout_has("Host data for e2e-idle-host:");
    // the host never checked in: the scheduler takes the task back, and says so
    let out = wait_logged(farm, &id, "Freeing task from unresponsive host");
    out.stdout_has("Assigning task (by an admin)");
    assert_eq!(task(farm, &id)["state"], 0);

    // free-task: an unfinished task goes back to the queue (here it is already FREE)
    farm.koji(&["free-task", &id]).ok().stdout_empty();
    let t = task(farm, &id);
    assert_eq!(
        (t["state"].clone(), t["host_id"].clone()),
        (0.into(), serde_json::Value::Null)
    );

    farm.koji(&["cancel", &id]).ok();
    farm.koji(&["free-task", &id])
        .fails_with(1)
        .stderr_has(&format!("Cannot free task {id}, state is CANCELED"));
    farm.koji(&["set-task-priority", "--priority", "1", &id])
        .ok()
        .stderr_has(&format!("Can't update task priority on closed task: {id}"));
    assert_eq!(task(farm, &id)["priority"], 5);
    // a finished task is not assigned, even with --force
    farm.koji(&["assign-task", "--force", &id, "e2e-idle-host"])
        .ok()
        .stdout_is(&format!(
            "failed to assign task {id} to host e2e-idle-host\n"
        ));
}

fn non_admins_cannot_touch_the_queue(farm: &Farm) {
    let id = created(
        &farm
            .koji(&["make-task", "--arch", "aarch64", "sleep", "600"])
            .ok(),
    );
    farm.koji_as("e2e-queue-user", &["free-task", &id])
        .fails_with(1)
        .stderr_has("admin");
    farm.koji_as(
        "e2e-queue-user",
        &["set-task-priority", "--priority", "1", &id],
    )
    .fails_with(1)
    .stderr_has("admin permission required");
    let t = task(farm, &id);
    assert_eq!(
        (t["state"].clone(), t["priority"].clone()),
        (0.into(), 20.into())
    );
    // anyone may read the scheduler's account
    farm.koji_as("e2e-queue-user", &["scheduler-info", "--task", &id])
        .ok();
    farm.koji(&["cancel", &id]).ok();
}
