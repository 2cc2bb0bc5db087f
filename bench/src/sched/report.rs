//! The scheduling benchmark's figures: the printed table, PASS/MISS lines, the comparison
//! with Koji's polling design (derived from its defaults), and the JSON form.

use super::builder::BuilderLog;
use super::stats::{self, FinalCheck, HubTask, Summary, Uniqueness};
use crate::cli::SchedArgs;
use crate::monitor::Resources;
use crate::report::{TargetCheck, targets_text, thousands};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The target for the pickup latency's p99.
pub const TARGET_P99_MS: f64 = 100.0;
/// Koji's defaults: kojid's `sleeptime` and the hub scheduler's `run_interval` (Koji 1.34+).
pub const KOJID_SLEEPTIME_S: f64 = 15.0;
pub const KOJI_SCHED_INTERVAL_S: f64 = 60.0;
const MAX_LISTED: usize = 10;

#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseResult {
    pub phase: String,
    pub tag: u8,
    /// Tasks created (submit calls that returned a task id).
    pub submitted: usize,
    pub submit_errors: usize,
    pub submit_error_example: Option<String>,
    /// From the first submit call sent to the last answer.
    pub submit_secs: f64,
    pub submit_rate: f64,
    /// Trickle: how late the latest submit call left against its schedule.
    pub max_submit_lag_ms: f64,
    /// Latency of the submit calls themselves (trickle: one build() each; burst: one
    /// multiCall per batch, counted once per task).
    pub submit_call: Option<Summary>,
    /// From the phase's start (trickle: first submit answer; burst: release) to its first
    /// open, in ms.
    pub first_open_ms: Option<f64>,
    /// Tasks of this phase some builder opened.
    pub opened: usize,
    pub builders: usize,
    /// Builders that opened at least one task of this phase.
    pub builders_used: usize,
    /// Pickup latency measured here: submit answer (or release) -> openTask answer.
    pub client: Option<Summary>,
    /// Pickup latency from the hub's records: start_ts - create_ts (or - release).
    pub hub: Option<Summary>,
    /// Tasks opened before their submit call's answer arrived (counted as 0 ms).
    pub early_opens: usize,
    pub hub_negative: usize,
    /// Assignment throughput: opens per second from the first open to the last.
    pub throughput: Option<f64>,
    /// Burst: from the release of the builders to the last open.
    pub drain_secs: Option<f64>,
    /// Tasks of this phase opened more than once.
    pub duplicates: usize,
    /// Over the pickup window (trickle: submitting included; burst: the drain).
    pub resources: Resources,
    /// Burst: while the tasks were being queued.
    pub submit_resources: Option<Resources>,
    /// Every task of the phase was closed in time.
    pub completed: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SchedReport {
    pub command: String,
    pub hub: String,
    pub hub_version: Option<String>,
    pub cores: usize,
    pub unix_time: u64,
    pub builders: u32,
    pub maxjobs: u32,
    pub wait_secs: u32,
    pub trickle_rate: u32,
    pub trickle_secs: u32,
    pub tasks: u32,
    pub batch: u32,
    pub submitters: u32,
    pub setup_secs: f64,
    pub phases: Vec<PhaseResult>,
    pub uniqueness: Uniqueness,
    pub final_check: FinalCheck,
    pub wait_calls: u64,
    pub empty_waits: u64,
    pub open_none: usize,
    pub builder_errors: u64,
    pub builders_gave_up: usize,
    pub error_examples: Vec<String>,
    pub targets: Vec<TargetCheck>,
    pub notes: Vec<String>,
    pub interrupted: bool,
    /// Every phase ran to its end.
    pub complete: bool,
    pub hub_problem: Option<String>,
}

pub struct Inputs<'a> {
    pub args: &'a SchedArgs,
    pub hub: String,
    pub hub_version: Option<String>,
    pub setup_secs: f64,
    pub phases: Vec<PhaseResult>,
    pub logs: &'a [BuilderLog],
    pub submitted: &'a [i64],
    pub rows: &'a [HubTask],
    pub notes: Vec<String>,
    pub interrupted: bool,
    pub complete: bool,
}

pub fn build(i: Inputs<'_>) -> SchedReport {
    let opens: Vec<(i64, usize)> = i
        .logs
        .iter()
        .flat_map(|l| l.opens.iter().map(move |o| (o.task, l.idx)))
        .collect();
    let offers: Vec<(i64, usize)> = i
        .logs
        .iter()
        .flat_map(|l| l.offers.iter().map(move |(t, _)| (*t, l.idx)))
        .collect();
    let uniqueness = stats::check_uniqueness(i.submitted, &opens, &offers);
    let opener_host: HashMap<i64, i64> = i
        .logs
        .iter()
        .flat_map(|l| l.opens.iter())
        .filter_map(|o| Some((o.task, o.host_id?)))
        .collect();
    let final_check = stats::final_check(i.submitted, i.rows, &opener_host);
    let mut error_examples = Vec::new();
    for l in i.logs {
        for e in &l.error_examples {
            if error_examples.len() < 5 {
                error_examples.push(e.clone());
            }
        }
    }
    for p in &i.phases {
        if let Some(e) = &p.submit_error_example
            && error_examples.len() < 6
        {
            error_examples.push(format!("{} submit: {e}", p.phase));
        }
    }
    let targets = target_checks(&i.phases, &uniqueness, &final_check);
    let a = i.args;
    SchedReport {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        hub: i.hub,
        hub_version: i.hub_version,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        builders: a.builders,
        maxjobs: a.maxjobs,
        wait_secs: a.wait_secs,
        trickle_rate: a.trickle_rate,
        trickle_secs: a.trickle_secs,
        tasks: a.tasks,
        batch: a.batch,
        submitters: a.submitters,
        setup_secs: i.setup_secs,
        phases: i.phases,
        uniqueness,
        final_check,
        wait_calls: i.logs.iter().map(|l| l.wait_calls).sum(),
        empty_waits: i.logs.iter().map(|l| l.empty_waits).sum(),
        open_none: i.logs.iter().map(|l| l.open_none.len()).sum(),
        builder_errors: i.logs.iter().map(|l| l.errors).sum(),
        builders_gave_up: i.logs.iter().filter(|l| l.gave_up).count(),
        error_examples,
        targets,
        notes: i.notes,
        interrupted: i.interrupted,
        complete: i.complete,
        hub_problem: None,
    }
}

fn find<'a>(phases: &'a [PhaseResult], name: &str) -> Option<&'a PhaseResult> {
    phases.iter().find(|p| p.phase == name)
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn list(v: &[i64]) -> String {
    let mut s: Vec<String> = v.iter().take(MAX_LISTED).map(i64::to_string).collect();
    if v.len() > MAX_LISTED {
        s.push(format!("... ({} in all)", v.len()));
    }
    s.join(", ")
}

/// The targets, as PASS/MISS lines.
pub fn target_checks(phases: &[PhaseResult], u: &Uniqueness, f: &FinalCheck) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    let what = format!(
        "p99 pickup < {TARGET_P99_MS:.0} ms, trickle (per task, as a user sees it; client-side)"
    );
    out.push(
        match find(phases, "trickle").and_then(|p| Some((p, p.client?))) {
            Some((p, c)) => TargetCheck {
                what,
                measured: format!(
                    "{} ms (hub-side {} ms)",
                    ms(c.p99_ms),
                    p.hub.map_or_else(|| "-".into(), |h| ms(h.p99_ms))
                ),
                pass: Some(c.p99_ms < TARGET_P99_MS && p.completed && p.opened == p.submitted),
            },
            None => TargetCheck {
                what,
                measured: "not measured in this run".into(),
                pass: None,
            },
        },
    );
    if let Some(p) = find(phases, "burst")
        && let Some(c) = p.client
    {
        let floor = p
            .throughput
            .filter(|t| *t > 0.0)
            .map(|t| p.submitted as f64 / t);
        out.push(TargetCheck {
            what: format!(
                "p99 pickup < {TARGET_P99_MS:.0} ms, burst (from release; includes the queue)"
            ),
            measured: format!(
                "{} ms{}",
                ms(c.p99_ms),
                floor.map_or_else(String::new, |s| format!(
                    " (draining {} tasks at the measured rate takes {:.1} s)",
                    thousands(p.submitted as f64),
                    s
                ))
            ),
            pass: Some(c.p99_ms < TARGET_P99_MS && p.completed),
        });
    }
    let dups = u.opened_twice.len() + u.offered_to_many.len();
    out.push(TargetCheck {
        what: "no task assigned twice (one builder got it, one openTask succeeded)".into(),
        measured: format!(
            "{} opened twice, {} handed to 2+ builders, of {} tasks opened",
            u.opened_twice.len(),
            u.offered_to_many.len(),
            thousands(u.opened as f64)
        ),
        pass: Some(dups == 0 && u.unexpected.is_empty()),
    });
    out.push(TargetCheck {
        what: "every task CLOSED, once, on the host that opened it (listTasks)".into(),
        measured: format!(
            "{}/{} closed, {} listed",
            thousands(f.closed as f64),
            thousands(f.submitted as f64),
            thousands(f.listed as f64)
        ),
        pass: Some(f.ok() && u.never_opened.is_empty()),
    });
    out
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "-".into(), |p| format!("{p:.0}"))
}

fn cells(s: Option<Summary>) -> [String; 4] {
    match s {
        Some(s) => [ms(s.p50_ms), ms(s.p90_ms), ms(s.p99_ms), ms(s.max_ms)],
        None => ["-".into(), "-".into(), "-".into(), "-".into()],
    }
}

/// The results table: two lines per phase (client-side and hub-side latencies).
pub fn table(phases: &[PhaseResult]) -> String {
    let header: Vec<String> = [
        "phase",
        "tasks",
        "builders (used)",
        "side",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "tasks/s",
        "dup",
        "hub CPU%",
        "pg CPU%",
        "bench CPU%",
        "other CPU%",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rows: Vec<Vec<String>> = vec![header];
    for p in phases {
        let r = &p.resources;
        let c = cells(p.client);
        let h = cells(p.hub);
        let mut first = vec![
            p.phase.clone(),
            thousands(p.submitted as f64),
            format!("{} ({})", p.builders, p.builders_used),
            "client".into(),
        ];
        first.extend(c);
        first.extend([
            p.throughput.map_or_else(|| "-".into(), thousands),
            p.duplicates.to_string(),
            pct(r.hub_cpu_pct),
            pct(r.pg_cpu_pct),
            pct(r.bench_cpu_pct),
            pct(r.other_cpu_pct),
        ]);
        rows.push(first);
        let mut second = vec![String::new(), String::new(), String::new(), "hub".into()];
        second.extend(h);
        second.extend(std::iter::repeat_n(String::new(), 6));
        rows.push(second);
    }
    let n = rows[0].len();
    let mut width = vec![0usize; n];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (ri, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if i == 0 || i == 3 {
                let _ = write!(line, "{c:<w$}", w = width[i]);
            } else {
                let _ = write!(line, "{c:>w$}", w = width[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if ri == 0 {
            out.push_str(&"-".repeat(width.iter().sum::<usize>() + 2 * (n - 1)));
            out.push('\n');
        }
    }
    out
}

/// Koji's pickup latency from its defaults (not measured): a task waits for the next
/// scheduler run (uniform over the interval) and then for its builder's next poll.
pub fn koji_expected() -> (f64, f64) {
    let mean = KOJI_SCHED_INTERVAL_S / 2.0 + KOJID_SLEEPTIME_S / 2.0;
    let worst = KOJI_SCHED_INTERVAL_S + KOJID_SLEEPTIME_S;
    (mean, worst)
}

pub fn koji_text(phases: &[PhaseResult]) -> String {
    let (mean, worst) = koji_expected();
    let mut out = format!(
        "Comparison with Koji's design (DERIVED FROM KOJI'S DEFAULTS, NOT MEASURED): kojid polls the \
         hub every {KOJID_SLEEPTIME_S:.0} s (sleeptime) and the hub's task scheduler runs at most \
         every {KOJI_SCHED_INTERVAL_S:.0} s (run_interval, Koji 1.34+), so a new task waits for the \
         next scheduler run and then for its builder's next poll: ~{mean:.1} s on average, up to \
         ~{worst:.0} s (before 1.34 builders took tasks on their own {KOJID_SLEEPTIME_S:.0} s poll: \
         ~{:.1} s on average, up to {KOJID_SLEEPTIME_S:.0} s). Seconds to tens of seconds.\n",
        KOJID_SLEEPTIME_S / 2.0
    );
    if let Some(p) = find(phases, "trickle")
        && let Some(c) = p.client
    {
        let _ = writeln!(
            out,
            "  kkoji trickle pickup: p50 {} ms, p99 {} ms = ~{}x below Koji's expected ~{mean:.1} s \
             average (~{}x below the pre-1.34 ~{:.1} s)",
            ms(c.p50_ms),
            ms(c.p99_ms),
            thousands(mean * 1000.0 / c.p50_ms.max(0.001)),
            thousands(KOJID_SLEEPTIME_S / 2.0 * 1000.0 / c.p50_ms.max(0.001)),
            KOJID_SLEEPTIME_S / 2.0
        );
    }
    out
}

pub fn render(r: &SchedReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kkoji scheduling benchmark: {} ({})",
        r.hub,
        r.hub_version.as_deref().unwrap_or("version unknown")
    );
    let _ = writeln!(
        out,
        "{} simulated builders in this process (own host certificate, exclusive session and TLS \
         connection each; updateHost, waitTasks(timeout={} s), openTask, closeTask), maxjobs {}; \
         light task = scratch build() of a tiny SRPM, opened and closed at once.",
        r.builders, r.wait_secs, r.maxjobs
    );
    let _ = writeln!(
        out,
        "NOTE: the hub, its PostgreSQL and this process (all builders and submitters) share this \
         machine's {} core(s); CPU% is of one core (100 = one core busy); 'other' is everything \
         else the machine ran meanwhile.",
        r.cores
    );
    let _ = writeln!(out, "command: {}\n", r.command);
    if let Some(p) = &r.hub_problem {
        let _ = writeln!(out, "*** HUB PROBLEM: {p} ***\n");
    }
    if r.interrupted {
        out.push_str("*** RUN INTERRUPTED: figures cover what ran before the signal ***\n\n");
    }
    for n in &r.notes {
        let _ = writeln!(out, "*** {n} ***");
    }
    if !r.notes.is_empty() {
        out.push('\n');
    }
    out.push_str(&table(&r.phases));
    out.push('\n');
    out.push_str(
        "pickup = task FREE -> OPEN. client: from the submit call's answer (burst: from the \
         builders' release, if later) to the builder's openTask answer, measured here. hub: the \
         task's start_ts - create_ts from listTasks (burst: start_ts - release time).\n\
         tasks/s = assignment throughput: opens per second from the first open to the last. \
         dup = tasks of the phase opened more than once. CPU%: over the pickup window.\n\n",
    );
    for p in &r.phases {
        match p.phase.as_str() {
            "trickle" => {
                let _ = writeln!(
                    out,
                    "trickle: {} tasks submitted one build() call each by {} clients in {:.1} s \
                     ({:.0}/s, asked {}/s; build() call p50 {} ms, p99 {} ms; latest call {} ms \
                     behind schedule){}; {} opened before the submit answer arrived (counted as \
                     0 ms).",
                    thousands(p.submitted as f64),
                    r.submitters,
                    p.submit_secs,
                    p.submit_rate,
                    r.trickle_rate,
                    p.submit_call.map_or_else(|| "-".into(), |c| ms(c.p50_ms)),
                    p.submit_call.map_or_else(|| "-".into(), |c| ms(c.p99_ms)),
                    ms(p.max_submit_lag_ms),
                    if p.submit_errors > 0 {
                        format!(", {} submit errors", p.submit_errors)
                    } else {
                        String::new()
                    },
                    p.early_opens
                );
            }
            _ => {
                let sr = p.submit_resources.unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{}: {} tasks queued while every builder was paused (not ready), by {} clients \
                     in multiCall batches of {}: {:.1} s ({}/s; hub {}%, pg {}%, bench {}% CPU){}; \
                     then all {} builders checked in as ready: first task opened {} ms, last {} s \
                     after the release.",
                    p.phase,
                    thousands(p.submitted as f64),
                    r.submitters,
                    r.batch,
                    p.submit_secs,
                    thousands(p.submit_rate),
                    pct(sr.hub_cpu_pct),
                    pct(sr.pg_cpu_pct),
                    pct(sr.bench_cpu_pct),
                    if p.submit_errors > 0 {
                        format!(", {} submit errors", p.submit_errors)
                    } else {
                        String::new()
                    },
                    p.builders,
                    p.first_open_ms.map_or_else(|| "-".into(), ms),
                    p.drain_secs
                        .map_or_else(|| "-".into(), |s| format!("{s:.2}")),
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "builders: {} waitTasks calls ({} answered empty after the timeout), {} openTask answered \
         None, {} failed calls{}; setup (hosts, certificates, logins) took {:.1} s.",
        thousands(r.wait_calls as f64),
        thousands(r.empty_waits as f64),
        r.open_none,
        r.builder_errors,
        if r.builders_gave_up > 0 {
            format!(", {} builders gave up", r.builders_gave_up)
        } else {
            String::new()
        },
        r.setup_secs
    );
    for e in &r.error_examples {
        let _ = writeln!(out, "    e.g. {e}");
    }
    let u = &r.uniqueness;
    let f = &r.final_check;
    for (label, v) in [
        ("opened twice", &u.opened_twice),
        ("handed to 2+ builders", &u.offered_to_many),
        ("never opened", &u.never_opened),
        ("opened but not submitted by this run", &u.unexpected),
        ("missing from listTasks", &f.missing),
        ("listed twice", &f.listed_twice),
        (
            "on another host than the one that opened it",
            &f.host_mismatch,
        ),
    ] {
        if !v.is_empty() {
            let _ = writeln!(out, "  tasks {label}: {}", list(v));
        }
    }
    if !f.not_closed.is_empty() {
        let v: Vec<String> = f
            .not_closed
            .iter()
            .take(MAX_LISTED)
            .map(|(t, s)| format!("{t} (state {s})"))
            .collect();
        let _ = writeln!(
            out,
            "  tasks not CLOSED: {}{}",
            v.join(", "),
            if f.not_closed.len() > MAX_LISTED {
                format!(" ... ({} in all)", f.not_closed.len())
            } else {
                String::new()
            }
        );
    }
    out.push('\n');
    out.push_str(&targets_text(&r.targets));
    out.push('\n');
    out.push_str(&koji_text(&r.phases));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &str, p99: f64, submitted: usize) -> PhaseResult {
        let s = Summary {
            n: submitted,
            p50_ms: p99 / 4.0,
            p90_ms: p99 / 2.0,
            p99_ms: p99,
            max_ms: p99 * 2.0,
            mean_ms: p99 / 3.0,
        };
        PhaseResult {
            phase: name.into(),
            tag: 1,
            submitted,
            submit_errors: 0,
            submit_error_example: None,
            submit_secs: 10.0,
            submit_rate: submitted as f64 / 10.0,
            max_submit_lag_ms: 0.0,
            submit_call: None,
            first_open_ms: None,
            opened: submitted,
            builders: 200,
            builders_used: 150,
            client: Some(s),
            hub: Some(s),
            early_opens: 0,
            hub_negative: 0,
            throughput: Some(1000.0),
            drain_secs: None,
            duplicates: 0,
            resources: Resources::default(),
            submit_resources: None,
            completed: true,
        }
    }

    #[test]
    fn targets() {
        let u = Uniqueness {
            opened: 3,
            ..Uniqueness::default()
        };
        let f = FinalCheck {
            submitted: 3,
            listed: 3,
            closed: 3,
            ..FinalCheck::default()
        };
        let phases = vec![phase("trickle", 40.0, 2000), phase("burst", 9000.0, 10000)];
        let t = target_checks(&phases, &u, &f);
        let v: Vec<Option<bool>> = t.iter().map(|c| c.pass).collect();
        assert_eq!(v, vec![Some(true), Some(false), Some(true), Some(true)]);
        assert!(t[1].measured.contains("10.0 s"), "{}", t[1].measured);

        let bad = Uniqueness {
            opened: 3,
            opened_twice: vec![2],
            ..Uniqueness::default()
        };
        let t = target_checks(&[phase("trickle", 150.0, 10)], &bad, &f);
        let v: Vec<Option<bool>> = t.iter().map(|c| c.pass).collect();
        assert_eq!(v, vec![Some(false), Some(false), Some(true)]);
        let t = target_checks(&[], &u, &f);
        assert_eq!(t[0].pass, None);
    }

    #[test]
    fn koji_figures_are_derived_from_defaults() {
        assert_eq!(koji_expected(), (37.5, 75.0));
        let t = koji_text(&[phase("trickle", 40.0, 100)]);
        assert!(t.contains("NOT MEASURED"), "{t}");
        // p50 10 ms vs 37.5 s average
        assert!(t.contains("~3,750x"), "{t}");
    }

    #[test]
    fn table_has_two_lines_per_phase() {
        let t = table(&[phase("trickle", 40.0, 2000), phase("burst", 900.0, 10000)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + 4);
        assert!(lines[0].starts_with("phase"));
        assert!(lines[2].starts_with("trickle") && lines[2].contains("client"));
        assert!(lines[3].contains("hub") && lines[3].contains("40.0"));
        assert!(lines[4].contains("10,000") && lines[4].contains("200 (150)"));
    }
}
