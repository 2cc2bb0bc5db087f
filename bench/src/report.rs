//! The printed table, the (informational) target checks, the comparison with Koji's
//! published reference figures, and the JSON form of all of it.

use crate::cli::BenchMethod;
use crate::load::{ErrorCounts, ScenarioResult};
use crate::monitor::Resources;
use std::fmt::Write as _;

const MIB: f64 = 1024.0 * 1024.0;

/// Koji's own hub (Apache + mod_wsgi, PostgreSQL) on 2 cores at 32 clients, as quoted in
/// the issue: about 1,000-2,600 calls/s, p99 40-65 ms. Not measured here.
pub const KOJI_REF_RPS_LOW: f64 = 1_000.0;
pub const KOJI_REF_RPS_HIGH: f64 = 2_600.0;
pub const KOJI_REF_P99_MS: (f64, f64) = (40.0, 65.0);
pub const KOJI_REF_CLIENTS: usize = 32;

/// The targets (2 cores, load generator included).
pub const TARGET_CLIENTS: usize = 64;
pub const TARGET_RPS: [(BenchMethod, f64); 2] = [
    (BenchMethod::GetApiVersion, 20_000.0),
    (BenchMethod::GetTag, 10_000.0),
];
pub const TARGET_P99_MS: f64 = 20.0;
pub const TARGET_HUB_RSS_MIB: f64 = 100.0;
/// host-poll (issue: builders polling the hub): at 64 builders, and no drop at 200.
pub const TARGET_POLL_RPS: f64 = 5_000.0;
pub const TARGET_POLL_P99_MS: f64 = 50.0;
/// "No drop": 200 builders keep at least this share of the 64-builder throughput.
pub const TARGET_POLL_KEEP: f64 = 0.9;
/// Koji 1.36 measured on this machine with the same load (64 hosts): req/s, p99 ms.
pub const KOJI_REF_POLL: (f64, f64) = (434.0, 356.0);

/// One row of the report (what the table prints and the JSON holds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub method: BenchMethod,
    pub clients: usize,
    pub ok: u64,
    pub req_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: ErrorCounts,
    pub warmup_errors: ErrorCounts,
    pub window_secs: f64,
    pub resources: Resources,
    pub error_examples: Vec<String>,
    pub aborted_workers: usize,
    /// Set when the scenario could not run at all.
    pub failed: Option<String>,
}

impl Row {
    pub fn from_result(r: &ScenarioResult) -> Row {
        Row {
            method: r.method,
            clients: r.clients,
            ok: r.ok,
            req_per_sec: r.req_per_sec(),
            p50_ms: r.quantile_ms(0.50),
            p90_ms: r.quantile_ms(0.90),
            p99_ms: r.quantile_ms(0.99),
            p999_ms: r.quantile_ms(0.999),
            max_ms: if r.hist.is_empty() {
                0.0
            } else {
                r.hist.max() as f64 / 1000.0
            },
            errors: r.errors,
            warmup_errors: r.warmup_errors,
            window_secs: r.window.as_secs_f64(),
            resources: r.resources,
            error_examples: r.error_examples.clone(),
            aborted_workers: r.aborted_workers,
            failed: None,
        }
    }

    pub fn failed(method: BenchMethod, clients: usize, why: String) -> Row {
        Row {
            method,
            clients,
            ok: 0,
            req_per_sec: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
            errors: ErrorCounts::default(),
            warmup_errors: ErrorCounts::default(),
            window_secs: 0.0,
            resources: Resources::default(),
            error_examples: Vec::new(),
            aborted_workers: 0,
            failed: Some(why),
        }
    }

    fn measured(&self) -> bool {
        self.failed.is_none()
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetCheck {
    pub what: String,
    pub measured: String,
    /// `None`: not measured in this run.
    pub pass: Option<bool>,
}

/// Memory at rest, and the machine's load average (other work on the machine skews the
/// figures; the load average shows whether there was any).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Idle {
    pub hub_rss_bytes: Option<u64>,
    pub pg_rss_bytes: Option<u64>,
    pub pg_pss_bytes: Option<u64>,
    /// The first three fields of `/proc/loadavg`.
    pub loadavg: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub command: String,
    pub hub: String,
    pub hub_version: Option<String>,
    pub cores: usize,
    pub warmup_secs: u64,
    pub duration_secs: u64,
    pub unix_time: u64,
    /// Before the first scenario and after the last, with no load from us.
    pub idle_before: Idle,
    pub idle_after: Idle,
    pub rows: Vec<Row>,
    pub targets: Vec<TargetCheck>,
    /// SIGINT/SIGTERM cut the run short: `rows` holds only the scenarios completed.
    pub interrupted: bool,
    /// The hub died, or did not stop cleanly: the figures may be meaningless.
    pub hub_problem: Option<String>,
}

fn mib(b: Option<u64>) -> String {
    b.map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / MIB))
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "-".into(), |p| format!("{p:.0}"))
}

/// `12345.6` -> `12,346`.
pub fn thousands(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn errors_cell(r: &Row) -> String {
    let mut s = r.errors.total().to_string();
    if r.warmup_errors.total() > 0 {
        let _ = write!(s, " (+{} warm-up)", r.warmup_errors.total());
    }
    if r.aborted_workers > 0 {
        let _ = write!(s, " [{} stuck]", r.aborted_workers);
    }
    s
}

/// The results table.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "method",
        "clients",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
        "hub RSS MiB",
        "pg RSS MiB",
        "pg PSS MiB",
        "hub CPU%",
        "pg CPU%",
        "bench CPU%",
        "other CPU%",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        if let Some(why) = &r.failed {
            let mut v = vec![r.method.to_string(), r.clients.to_string()];
            v.push(format!("FAILED: {why}"));
            cells.push(v);
            continue;
        }
        let res = &r.resources;
        cells.push(vec![
            r.method.to_string(),
            r.clients.to_string(),
            thousands(r.req_per_sec),
            format!("{:.2}", r.p50_ms),
            format!("{:.2}", r.p99_ms),
            format!("{:.2}", r.p999_ms),
            errors_cell(r),
            mib(res.max_hub_rss_bytes),
            mib(res.max_pg_rss_bytes),
            mib(res.max_pg_pss_bytes),
            pct(res.hub_cpu_pct),
            pct(res.pg_cpu_pct),
            pct(res.bench_cpu_pct),
            pct(res.other_cpu_pct),
        ]);
    }
    let ncol = header.len();
    let mut width = vec![0usize; ncol];
    for row in &cells {
        // A FAILED row's message spans the rest of the line; it does not size columns.
        if row.len() == ncol {
            for (i, c) in row.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for (ri, row) in cells.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if row.len() != ncol && i == row.len() - 1 {
                line.push_str(c);
            } else if i == 0 {
                let _ = write!(line, "{c:<w$}", w = width[i]);
            } else {
                let _ = write!(line, "{c:>w$}", w = width[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if ri == 0 {
            let total: usize = width.iter().sum::<usize>() + 2 * (ncol - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

fn find(rows: &[Row], m: BenchMethod, clients: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.method == m && r.clients == clients && r.measured())
}

/// The targets, checked against the rows (informational only).
pub fn target_checks(rows: &[Row]) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    for (m, want) in TARGET_RPS {
        let what = format!(
            "{m} @ {TARGET_CLIENTS} clients >= {} req/s",
            thousands(want)
        );
        out.push(match find(rows, m, TARGET_CLIENTS) {
            Some(r) => TargetCheck {
                what,
                measured: format!("{} req/s", thousands(r.req_per_sec)),
                pass: Some(r.req_per_sec >= want),
            },
            None => not_measured(what),
        });
    }
    for (m, _) in TARGET_RPS {
        let what = format!("{m} @ {TARGET_CLIENTS} clients p99 < {TARGET_P99_MS} ms");
        out.push(match find(rows, m, TARGET_CLIENTS) {
            Some(r) => TargetCheck {
                what,
                measured: format!("{:.2} ms", r.p99_ms),
                pass: Some(r.p99_ms < TARGET_P99_MS && r.ok > 0),
            },
            None => not_measured(what),
        });
    }
    let what = format!("hub RSS < {TARGET_HUB_RSS_MIB} MiB under load (max over all scenarios)");
    let max = rows
        .iter()
        .filter_map(|r| r.resources.max_hub_rss_bytes)
        .max();
    out.push(match max {
        Some(b) => TargetCheck {
            what,
            measured: format!("{:.1} MiB", b as f64 / MIB),
            pass: Some((b as f64 / MIB) < TARGET_HUB_RSS_MIB),
        },
        None => not_measured(what),
    });
    let poll = BenchMethod::HostPoll;
    let what = format!(
        "host-poll @ 64 builders >= {} req/s, p99 < {TARGET_POLL_P99_MS} ms (Koji: {} req/s, p99 {} ms)",
        thousands(TARGET_POLL_RPS),
        thousands(KOJI_REF_POLL.0),
        KOJI_REF_POLL.1
    );
    out.push(match find(rows, poll, 64) {
        Some(r) => TargetCheck {
            what,
            measured: format!(
                "{} req/s, p99 {:.2} ms (x{:.1} Koji)",
                thousands(r.req_per_sec),
                r.p99_ms,
                r.req_per_sec / KOJI_REF_POLL.0
            ),
            pass: Some(
                r.req_per_sec >= TARGET_POLL_RPS && r.p99_ms < TARGET_POLL_P99_MS && r.ok > 0,
            ),
        },
        None => not_measured(what),
    });
    let what = format!(
        "host-poll @ 200 builders keeps >= {:.0}% of the 64-builder req/s",
        TARGET_POLL_KEEP * 100.0
    );
    out.push(match (find(rows, poll, 64), find(rows, poll, 200)) {
        (Some(a), Some(b)) if a.req_per_sec > 0.0 => TargetCheck {
            what,
            measured: format!(
                "{} req/s ({:.0}%)",
                thousands(b.req_per_sec),
                100.0 * b.req_per_sec / a.req_per_sec
            ),
            pass: Some(b.req_per_sec >= TARGET_POLL_KEEP * a.req_per_sec),
        },
        _ => not_measured(what),
    });
    let errs: u64 = rows
        .iter()
        .map(|r| r.errors.total() + r.warmup_errors.total())
        .sum();
    let failed = rows.iter().filter(|r| !r.measured()).count();
    out.push(TargetCheck {
        what: "no errors (faults, transport, bad answers; warm-up included)".into(),
        measured: if failed > 0 {
            format!("{errs} errors, {failed} scenario(s) failed")
        } else {
            format!("{errs} errors")
        },
        pass: Some(errs == 0 && failed == 0),
    });
    out
}

fn not_measured(what: String) -> TargetCheck {
    TargetCheck {
        what,
        measured: "not measured in this run".into(),
        pass: None,
    }
}

pub fn targets_text(checks: &[TargetCheck]) -> String {
    let mut out = String::from(
        "Targets (informational; hub, its PostgreSQL and this load generator share the same cores):\n",
    );
    let w = checks.iter().map(|c| c.what.len()).max().unwrap_or(0);
    for c in checks {
        let verdict = match c.pass {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a ",
        };
        let _ = writeln!(out, "  {verdict}  {:<w$}  {}", c.what, c.measured);
    }
    out
}

/// CPU time per successful call, in µs, from a CPU% (of one core) and a rate.
pub fn us_per_call(cpu_pct: f64, req_per_sec: f64) -> f64 {
    if req_per_sec <= 0.0 {
        return 0.0;
    }
    cpu_pct / 100.0 / req_per_sec * 1e6
}

/// CPU cost per call of each party and the rate those costs would allow if hub, PostgreSQL
/// and generator had all `cores` to themselves: a way to read the figures when other work
/// on the machine took part of the CPU. An estimate, not a measurement.
pub fn cost_text(rows: &[Row], cores: usize) -> String {
    let mut out = format!(
        "CPU per call (µs; from the CPU% columns) and the rate it implies with all {cores} cores \
         free for hub + PostgreSQL + generator (estimate, ignores contention and idle waits):\n"
    );
    let mut any = false;
    for r in rows.iter().filter(|r| r.measured() && r.ok > 0) {
        let res = &r.resources;
        let (Some(h), Some(p), Some(b)) = (res.hub_cpu_pct, res.pg_cpu_pct, res.bench_cpu_pct)
        else {
            continue;
        };
        any = true;
        let (h, p, b) = (
            us_per_call(h, r.req_per_sec),
            us_per_call(p, r.req_per_sec),
            us_per_call(b, r.req_per_sec),
        );
        let total = h + p + b;
        let ceiling = if total > 0.0 {
            cores as f64 * 1e6 / total
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "  {:<16} x{:<3}  hub {:>4.0}  pg {:>4.0}  bench {:>4.0}  total {:>4.0}  => ~{} req/s",
            r.method.name(),
            r.clients,
            h,
            p,
            b,
            total,
            thousands(ceiling)
        );
    }
    if any { out } else { String::new() }
}

/// Ratios against Koji's published figures, per method at the largest client count run.
pub fn reference_text(rows: &[Row]) -> String {
    let mut out = format!(
        "Comparison with PUBLISHED REFERENCE FIGURES, not a side-by-side run (stock Koji cannot \
         run on this machine):\n  Koji's hub (Apache + mod_wsgi, PostgreSQL), 2 cores, {KOJI_REF_CLIENTS} \
         clients: ~{}-{} such calls/s, p99 {}-{} ms.\n",
        thousands(KOJI_REF_RPS_LOW),
        thousands(KOJI_REF_RPS_HIGH),
        KOJI_REF_P99_MS.0,
        KOJI_REF_P99_MS.1
    );
    let mut methods: Vec<BenchMethod> = Vec::new();
    for r in rows {
        if !methods.contains(&r.method) {
            methods.push(r.method);
        }
    }
    for m in methods {
        let Some(r) = rows
            .iter()
            .filter(|r| r.method == m && r.measured() && r.ok > 0)
            .max_by_key(|r| r.clients)
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "  {:<16} @{:>3} clients: {:>7} req/s = x{:.1} vs Koji's ~{} req/s best case \
             (x{:.1} vs ~{}); p99 {:.1} ms vs {}-{} ms",
            m.name(),
            r.clients,
            thousands(r.req_per_sec),
            r.req_per_sec / KOJI_REF_RPS_HIGH,
            thousands(KOJI_REF_RPS_HIGH),
            r.req_per_sec / KOJI_REF_RPS_LOW,
            thousands(KOJI_REF_RPS_LOW),
            r.p99_ms,
            KOJI_REF_P99_MS.0,
            KOJI_REF_P99_MS.1
        );
    }
    out
}

/// Everything printed after the runs.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kkoji hub benchmark: {} ({}), XML-RPC over TLS with a session per client, closed loop, \
         {} s warm-up + {} s measured per scenario",
        report.hub,
        report.hub_version.as_deref().unwrap_or("version unknown"),
        report.warmup_secs,
        report.duration_secs
    );
    let _ = writeln!(
        out,
        "NOTE: the hub, its embedded PostgreSQL and this load generator all run on this machine's \
         {} core(s); 'bench CPU%' is what the generator itself took, 'other CPU%' what \
         everything else on the machine took meanwhile. CPU% is of one core (100 = one core busy).",
        report.cores
    );
    let _ = writeln!(out, "command: {}\n", report.command);
    if let Some(p) = &report.hub_problem {
        let _ = writeln!(out, "*** HUB PROBLEM: {p} ***\n");
    }
    if report.interrupted {
        out.push_str(
            "*** RUN INTERRUPTED: only the scenarios completed before the signal are shown ***\n\n",
        );
    }
    out.push_str(&table(&report.rows));
    out.push('\n');
    let (b, a) = (&report.idle_before, &report.idle_after);
    let _ = writeln!(
        out,
        "idle hub RSS: {} MiB before, {} MiB after the scenarios.",
        mib(b.hub_rss_bytes),
        mib(a.hub_rss_bytes),
    );
    if b.pg_rss_bytes.is_some() || a.pg_rss_bytes.is_some() {
        let _ = writeln!(
            out,
            "idle PostgreSQL: RSS {} -> {} MiB, PSS {} -> {} MiB. 'pg RSS' sums VmRSS over the \
             postmaster and its backends, so shared buffers count once per process; 'pg PSS' \
             divides shared pages among them (sampled every 1 s).",
            mib(b.pg_rss_bytes),
            mib(a.pg_rss_bytes),
            mib(b.pg_pss_bytes),
            mib(a.pg_pss_bytes),
        );
    }
    let _ = writeln!(
        out,
        "load average (1/5/15 min) before: {}, after: {} (load before the run is other work on \
         this machine competing for the same cores).",
        b.loadavg.as_deref().unwrap_or("?"),
        a.loadavg.as_deref().unwrap_or("?"),
    );
    for r in &report.rows {
        if !r.error_examples.is_empty() {
            let _ = writeln!(
                out,
                "errors in {} x{}: {} fault, {} transport, {} bad answer (+{} during warm-up); e.g.:",
                r.method,
                r.clients,
                r.errors.fault,
                r.errors.transport,
                r.errors.bad_answer,
                r.warmup_errors.total()
            );
            for e in &r.error_examples {
                let _ = writeln!(out, "    {e}");
            }
        }
    }
    out.push('\n');
    let cost = cost_text(&report.rows, report.cores);
    if !cost.is_empty() {
        out.push_str(&cost);
        out.push('\n');
    }
    out.push_str(&targets_text(&report.targets));
    out.push('\n');
    out.push_str(&reference_text(&report.rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(m: BenchMethod, clients: usize, rps: f64, p99: f64, rss_mib: u64) -> Row {
        let mut r = Row::failed(m, clients, String::new());
        r.failed = None;
        r.ok = 1000;
        r.req_per_sec = rps;
        r.p99_ms = p99;
        r.resources.max_hub_rss_bytes = Some(rss_mib << 20);
        r
    }

    #[test]
    fn cost_per_call() {
        // 75 % of a core at 7,500 req/s is 100 µs per call.
        assert!((us_per_call(75.0, 7_500.0) - 100.0).abs() < 1e-9);
        assert_eq!(us_per_call(50.0, 0.0), 0.0);
        let mut r = row(BenchMethod::GetApiVersion, 64, 5_000.0, 5.0, 20);
        r.resources.hub_cpu_pct = Some(50.0);
        r.resources.pg_cpu_pct = Some(50.0);
        r.resources.bench_cpu_pct = Some(25.0);
        // 100 + 100 + 50 µs per call: two free cores would allow 8,000 req/s.
        let t = cost_text(&[r], 2);
        assert!(
            t.contains("hub  100  pg  100  bench   50  total  250  => ~8,000 req/s"),
            "{t}"
        );
        assert!(cost_text(&[row(BenchMethod::GetTag, 8, 1.0, 1.0, 1)], 2).is_empty());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }

    #[test]
    fn targets_pass_and_miss() {
        let rows = vec![
            row(BenchMethod::GetApiVersion, 64, 25_000.0, 5.0, 40),
            row(BenchMethod::GetTag, 64, 9_000.0, 25.0, 120),
        ];
        let c = target_checks(&rows);
        let verdicts: Vec<Option<bool>> = c.iter().map(|c| c.pass).collect();
        assert_eq!(
            verdicts,
            vec![
                Some(true),
                Some(false),
                Some(true),
                Some(false),
                Some(false),
                None,
                None,
                Some(true)
            ]
        );
        let only8 = vec![row(BenchMethod::GetApiVersion, 8, 25_000.0, 5.0, 40)];
        assert_eq!(target_checks(&only8)[0].pass, None);
    }

    #[test]
    fn reference_ratio() {
        let rows = vec![
            row(BenchMethod::GetTag, 8, 5_200.0, 2.0, 40),
            row(BenchMethod::GetTag, 64, 7_800.0, 12.0, 40),
        ];
        let t = reference_text(&rows);
        assert!(t.contains("@ 64 clients"), "{t}");
        assert!(t.contains("x3.0 vs Koji's ~2,600 req/s best case"), "{t}");
        assert!(t.contains("x7.8 vs ~1,000"), "{t}");
        assert!(t.contains("PUBLISHED REFERENCE FIGURES"));
    }

    #[test]
    fn table_aligns_and_shows_failures() {
        let mut rows = vec![row(BenchMethod::GetApiVersion, 8, 1234.0, 1.0, 10)];
        rows.push(Row::failed(
            BenchMethod::GetTag,
            64,
            "logging in 64 clients: refused".into(),
        ));
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("method"));
        assert!(lines[1].chars().all(|c| c == '-'));
        assert!(lines[2].contains("1,234"));
        assert!(lines[3].contains("FAILED: logging in 64 clients"));
    }
}
