-- What the scheduler did and why (Koji 1.34's scheduler tables, for scheduler-info and
-- scheduler-logs). Runs: each assignment of a task to a host, the newest one active.
CREATE TABLE scheduler_task_runs (
    id SERIAL PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES task (id),
    host_id INTEGER NOT NULL REFERENCES host (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    create_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX scheduler_task_runs_task ON scheduler_task_runs (task_id);
CREATE INDEX scheduler_task_runs_host ON scheduler_task_runs (host_id);

-- Messages: assignments, timeouts, hosts marked not ready, and why a FREE task waits.
-- Pruned after [scheduler] log_retention_days.
CREATE TABLE scheduler_log_messages (
    id SERIAL PRIMARY KEY,
    task_id INTEGER REFERENCES task (id),
    host_id INTEGER REFERENCES host (id),
    msg_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    msg TEXT NOT NULL
);
CREATE INDEX scheduler_log_messages_task ON scheduler_log_messages (task_id);
CREATE INDEX scheduler_log_messages_time ON scheduler_log_messages (msg_time);
