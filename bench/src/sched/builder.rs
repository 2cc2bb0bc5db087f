//! One simulated builder: the host side of the protocol, nothing else. It checks in with
//! `host.updateHost`, long-polls `host.waitTasks`, opens every task handed to it with
//! `host.openTask` and closes it at once with `host.closeTask` (a light task that takes no
//! time), recording when each call answered.

use koji_protocol::{ClientError, KojiClient, Struct, Value, encode_response};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// What the coordinator wants the builders to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not ready (`updateHost(ready=False)`), not polling.
    Paused,
    /// Ready and polling; the number tags the phase the opens belong to.
    Running(u8),
    /// Log out and end.
    Stop,
}

/// A builder re-sends its check-in this often while running (the hub drops the ready flag
/// of a host silent for 180 s).
const CHECKIN_EVERY: Duration = Duration::from_secs(30);
/// After this many failed calls in a row the builder gives up.
const MAX_CONSECUTIVE_ERRORS: u32 = 20;
const MAX_EXAMPLES: usize = 3;

/// A successful `openTask`.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    pub task: i64,
    pub at: Instant,
    /// The phase tag of the mode the builder was in.
    pub phase: u8,
    /// `host_id` of the task record `openTask` returned (this builder's host).
    pub host_id: Option<i64>,
}

#[derive(Debug, Default)]
pub struct BuilderLog {
    pub idx: usize,
    /// (task, when the waitTasks answer listing it arrived)
    pub offers: Vec<(i64, Instant)>,
    pub opens: Vec<Open>,
    /// Tasks whose `openTask` answered None (someone else had it, or it was gone).
    pub open_none: Vec<i64>,
    pub closes: u64,
    pub wait_calls: u64,
    pub empty_waits: u64,
    pub errors: u64,
    pub error_examples: Vec<String>,
    /// Stopped early after too many errors in a row.
    pub gave_up: bool,
}

impl BuilderLog {
    fn error(&mut self, what: &str, e: &ClientError) {
        self.errors += 1;
        if self.error_examples.len() < MAX_EXAMPLES {
            self.error_examples
                .push(format!("builder {}: {what}: {e}", self.idx));
        }
    }
}

pub struct BuilderConfig {
    pub maxjobs: u32,
    pub wait: Duration,
}

/// Sent to the coordinator: a builder applied a mode (its check-in is done), or closed a task.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    Applied {
        builder: usize,
        mode: Mode,
    },
    Closed {
        task: i64,
    },
    /// The builder ended (stopped, or gave up).
    Gone {
        builder: usize,
    },
    /// A submitter created a task (sent by the submitters, for the progress count).
    Submitted {
        task: i64,
    },
}

/// Logs in (exclusive session, forced: a previous run's session may linger) and reports
/// the host as not ready.
pub async fn login(client: &KojiClient, maxjobs: u32) -> Result<(), ClientError> {
    client.ssl_login().await?;
    let mut kw = Struct::new();
    kw.insert("force".into(), Value::Bool(true));
    client.call_kw("exclusiveSession", Vec::new(), kw).await?;
    update_host(client, false, maxjobs, "bench: logged in, paused").await
}

async fn update_host(
    client: &KojiClient,
    ready: bool,
    maxjobs: u32,
    status: &str,
) -> Result<(), ClientError> {
    let mut data = Struct::new();
    data.insert("maxjobs".into(), Value::Int(i64::from(maxjobs)));
    data.insert("status".into(), Value::String(status.into()));
    client
        .call(
            "host.updateHost",
            vec![Value::Double(0.0), Value::Bool(ready), Value::Struct(data)],
        )
        .await?;
    Ok(())
}

/// The task ids of a `waitTasks` answer.
pub fn task_ids(v: &Value) -> Result<Vec<i64>, String> {
    let rows = v
        .as_array()
        .ok_or_else(|| format!("waitTasks answered a {}, not a list", v.type_name()))?;
    rows.iter()
        .map(|r| {
            r.get("id")
                .and_then(Value::as_i64)
                .ok_or_else(|| "waitTasks row without an id".to_string())
        })
        .collect()
}

/// Runs until the mode is `Stop` (or the channel closes), then says it is leaving.
pub async fn run(
    idx: usize,
    client: KojiClient,
    cfg: BuilderConfig,
    mut mode_rx: watch::Receiver<Mode>,
    events: mpsc::UnboundedSender<Event>,
) -> BuilderLog {
    let mut log = BuilderLog {
        idx,
        ..BuilderLog::default()
    };
    // The mode the hub has been told (Paused after login).
    let mut applied = Mode::Paused;
    let mut last_checkin = Instant::now();
    let mut consecutive_errors = 0u32;
    let closed_result = encode_response(&Value::Nil);
    loop {
        if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
            log.gave_up = true;
            break;
        }
        let mode = *mode_rx.borrow_and_update();
        match mode {
            Mode::Stop => break,
            Mode::Paused => {
                if applied != Mode::Paused {
                    if let Err(e) = update_host(&client, false, cfg.maxjobs, "bench: paused").await
                    {
                        log.error("updateHost", &e);
                        consecutive_errors += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    applied = Mode::Paused;
                }
                let _ = events.send(Event::Applied { builder: idx, mode });
                if mode_rx.changed().await.is_err() {
                    break;
                }
            }
            Mode::Running(phase) => {
                if applied != mode || last_checkin.elapsed() >= CHECKIN_EVERY {
                    if let Err(e) = update_host(&client, true, cfg.maxjobs, "bench: ready").await {
                        log.error("updateHost", &e);
                        consecutive_errors += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    last_checkin = Instant::now();
                    if applied != mode {
                        applied = mode;
                        let _ = events.send(Event::Applied { builder: idx, mode });
                    }
                }
                let mut kw = Struct::new();
                kw.insert("timeout".into(), Value::Double(cfg.wait.as_secs_f64()));
                log.wait_calls += 1;
                let answer = client.call_kw("host.waitTasks", Vec::new(), kw).await;
                let got = Instant::now();
                let ids = match answer {
                    Ok(v) => match task_ids(&v) {
                        Ok(ids) => ids,
                        Err(msg) => {
                            log.errors += 1;
                            if log.error_examples.len() < MAX_EXAMPLES {
                                log.error_examples.push(format!("builder {idx}: {msg}"));
                            }
                            consecutive_errors += 1;
                            continue;
                        }
                    },
                    Err(e) => {
                        log.error("waitTasks", &e);
                        consecutive_errors += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                consecutive_errors = 0;
                if ids.is_empty() {
                    log.empty_waits += 1;
                    continue;
                }
                log.offers.extend(ids.iter().map(|&t| (t, got)));
                // Start everything handed to us first (a real builder forks a runner per
                // task), then report each one finished.
                let mut opened = Vec::with_capacity(ids.len());
                for &task in &ids {
                    match client.call("host.openTask", vec![Value::Int(task)]).await {
                        Ok(Value::Nil) => log.open_none.push(task),
                        Ok(v) => {
                            log.opens.push(Open {
                                task,
                                at: Instant::now(),
                                phase,
                                host_id: v.get("host_id").and_then(Value::as_i64),
                            });
                            opened.push(task);
                        }
                        Err(e) => {
                            log.error("openTask", &e);
                            consecutive_errors += 1;
                        }
                    }
                }
                for task in opened {
                    match client
                        .call(
                            "host.closeTask",
                            vec![Value::Int(task), Value::String(closed_result.clone())],
                        )
                        .await
                    {
                        Ok(_) => {
                            log.closes += 1;
                            let _ = events.send(Event::Closed { task });
                        }
                        Err(e) => {
                            log.error("closeTask", &e);
                            consecutive_errors += 1;
                        }
                    }
                }
            }
        }
    }
    // Leave politely; failures here change no figure.
    let _ = update_host(&client, false, cfg.maxjobs, "bench: stopped").await;
    let _ = client.logout().await;
    let _ = events.send(Event::Gone { builder: idx });
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

    #[test]
    fn wait_tasks_answers() {
        let v = Value::Array(vec![
            kstruct! { "id" => 7, "method" => "build" },
            kstruct! { "id" => 9, "method" => "build" },
        ]);
        assert_eq!(task_ids(&v), Ok(vec![7, 9]));
        assert_eq!(task_ids(&Value::Array(vec![])), Ok(vec![]));
        assert!(task_ids(&Value::Nil).is_err());
        assert!(task_ids(&Value::Array(vec![kstruct! { "method" => "x" }])).is_err());
    }
}
