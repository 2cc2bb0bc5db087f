//! `kkoji-bench history`: a farm with a big history — N tag_listing versions (tagged and
//! untagged builds) over T tags, B builds of P packages, a few of them named `foo…` — and
//! the latency of what the stock CLI sends for `koji list-history --tag <t>`
//! (`getAPIVersion`, then `queryHistory(tag=<t>)`) and for `koji search build 'foo*'`
//! (`getAPIVersion`, then `search('foo*', 'build', 'glob')`), as an anonymous client over
//! TLS, one command after the other. The history is written by one bulk SQL statement set
//! through the hub's own PostgreSQL (psql on its socket): the rows are what the hub writes,
//! only made in bulk.

use crate::hubproc::{self, HubProcess};
use crate::run::Interrupt;
use crate::sched::stats::{Summary, summarize};
use anyhow::{Context, bail};
use clap::Args;
use indicatif::MultiProgress;
use koji_protocol::{ClientConfig, KojiClient, Struct, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Target of the issue: p99 of each command's calls.
pub const TARGET_P99_MS: f64 = 50.0;

#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// History rows (tag_listing versions) to seed.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1000..=20_000_000))]
    pub rows: u32,

    /// Tags the rows are spread over.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tags: u32,

    /// Builds (each tagged into several tags).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1000..=10_000_000))]
    pub builds: u32,

    /// Packages the builds belong to; one in a hundred is named `foo…`.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(100..=1_000_000))]
    pub packages: u32,

    /// Measured runs of each command (after 20 warm-up runs).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    pub iterations: u32,

    /// The `kkoji-hub` binary to start (default: `kkoji-hub` next to this executable).
    #[arg(long, value_name = "PATH")]
    pub hub_bin: Option<PathBuf>,

    /// State directory for the hub (default: a fresh temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Directory of PostgreSQL's client programs (psql).
    #[arg(long, value_name = "DIR", default_value = "/usr/lib/postgresql/15/bin")]
    pub pg_bin: PathBuf,
}

/// The hub's embedded PostgreSQL socket: (directory, port).
fn pg_socket(state_dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let dir = state_dir.join("pgsocket");
    for e in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(port) = name.strip_prefix(".s.PGSQL.")
            && !port.ends_with(".lock")
        {
            return Ok((dir, port.to_string()));
        }
    }
    bail!("no PostgreSQL socket in {}", dir.display())
}

/// The seeding SQL: plain generate_series statements, in one transaction.
fn seed_sql(a: &HistoryArgs) -> String {
    let per_tag = (a.rows / a.tags).max(1);
    format!(
        "\\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE ev AS SELECT nextval('events_id_seq') AS id,
    clock_timestamp() - interval '1 second' * (10000 - g) AS t FROM generate_series(1, 10000) g;
INSERT INTO events (id, time) SELECT id, t FROM ev;
CREATE TEMP TABLE e0 AS SELECT min(id) AS id FROM ev;
CREATE TEMP TABLE u0 AS SELECT min(id) AS id FROM users;
INSERT INTO tag (name) SELECT 'hist-tag-' || g FROM generate_series(1, {tags}) g;
INSERT INTO tag_config (tag_id, arches, create_event, creator_id)
    SELECT t.id, 'x86_64', (SELECT id FROM e0), (SELECT id FROM u0) FROM tag t WHERE t.name LIKE 'hist-tag-%';
INSERT INTO package (name) SELECT CASE WHEN g % 100 = 0 THEN 'foo' || g ELSE 'pkg' || g END
    FROM generate_series(1, {packages}) g;
CREATE TEMP TABLE p0 AS SELECT min(id) AS id FROM package WHERE name ~ '^(foo|pkg)[0-9]+$';
INSERT INTO build (pkg_id, version, release, state, owner, create_event)
    SELECT (SELECT id FROM p0) + (g % {packages}), '1.' || g, '1', 1, (SELECT id FROM u0), (SELECT id FROM e0)
    FROM generate_series(0, {builds} - 1) g;
CREATE TEMP TABLE b0 AS SELECT min(b.id) AS id FROM build b WHERE b.create_event = (SELECT id FROM e0);
CREATE TEMP TABLE t0 AS SELECT min(id) AS id FROM tag WHERE name LIKE 'hist-tag-%';
-- per tag: the first half tagged and untagged again (revoked), the second half tagged now
INSERT INTO tag_listing (build_id, tag_id, create_event, revoke_event, creator_id, revoker_id, active)
    SELECT (SELECT id FROM b0) + ((t * 100 + k) % {builds}),
           (SELECT id FROM t0) + t,
           (SELECT id FROM e0) + 1 + ((t * {per_tag} + k) % 9000),
           CASE WHEN k < {half} THEN (SELECT id FROM e0) + 9001 + (k % 999) END,
           (SELECT id FROM u0),
           CASE WHEN k < {half} THEN (SELECT id FROM u0) END,
           CASE WHEN k < {half} THEN NULL ELSE TRUE END
    FROM generate_series(0, {tags} - 1) t, generate_series(0, {per_tag} - 1) k;
COMMIT;
ANALYZE;
",
        tags = a.tags,
        packages = a.packages,
        builds = a.builds,
        per_tag = per_tag,
        half = per_tag / 2,
    )
}

fn seed(a: &HistoryArgs, state_dir: &Path) -> anyhow::Result<()> {
    let (dir, port) = pg_socket(state_dir)?;
    let psql = a.pg_bin.join("psql");
    let mut child = Command::new(&psql)
        .args(["-q", "-X", "-U", "kkoji", "-d", "kkoji", "-h"])
        .arg(&dir)
        .args(["-p", &port, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", psql.display()))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().context("psql stdin")?;
        stdin.write_all(seed_sql(a).as_bytes())?;
    }
    let st = child.wait()?;
    if !st.success() {
        bail!("seeding through psql failed ({st})");
    }
    Ok(())
}

/// One command's calls, timed together (ms).
async fn command(
    c: &KojiClient,
    second: (&str, Vec<Value>, Struct),
) -> anyhow::Result<(f64, usize)> {
    let t = Instant::now();
    c.call("getAPIVersion", vec![]).await?;
    let (m, args, kw) = second;
    let v = c.call_kw(m, args, kw).await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let n = match &v {
        Value::Array(a) => a.len(),
        Value::Struct(s) => s
            .values()
            .filter_map(Value::as_array)
            .map(<[Value]>::len)
            .sum(),
        _ => 0,
    };
    Ok((ms, n))
}

fn history_call(a: &HistoryArgs, i: u32) -> (&'static str, Vec<Value>, Struct) {
    let tag = format!("hist-tag-{}", (u64::from(i) * 7919) % u64::from(a.tags) + 1);
    let mut kw = Struct::new();
    kw.insert("tag".into(), Value::String(tag));
    ("queryHistory", vec![], kw)
}

fn search_call() -> (&'static str, Vec<Value>, Struct) {
    (
        "search",
        vec!["foo*".into(), "build".into(), "glob".into()],
        Struct::new(),
    )
}

fn line(name: &str, s: &Option<Summary>, rows: usize) -> String {
    match s {
        Some(s) => format!(
            "{name:<36} n={:<5} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  rows/answer {rows}  target p99 < {TARGET_P99_MS} ms: {}",
            s.n,
            s.p50_ms,
            s.p90_ms,
            s.p99_ms,
            s.max_ms,
            if s.p99_ms < TARGET_P99_MS {
                "met"
            } else {
                "MISSED"
            }
        ),
        None => format!("{name:<36} no samples"),
    }
}

/// `kkoji-bench history`. Ok(false): a target was missed.
pub fn main(a: &HistoryArgs, multi: &MultiProgress) -> anyhow::Result<bool> {
    // one thread, as the stock CLI is: one command after the other, nothing to spread
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let interrupt = Interrupt::install(&rt)?;
    let bin = match &a.hub_bin {
        Some(b) => b.clone(),
        None => hubproc::default_hub_bin(&std::env::current_exe()?),
    };
    let mut hub = HubProcess::start(&bin, a.state_dir.clone(), None, &interrupt.flag)?;
    let pb = multi.add(indicatif::ProgressBar::new_spinner());
    pb.set_message(format!(
        "seeding {} history rows over {} tags, {} builds",
        a.rows, a.tags, a.builds
    ));
    pb.enable_steady_tick(Duration::from_millis(200));
    let t = Instant::now();
    let seeded = seed(a, &hub.state_dir);
    pb.finish_and_clear();
    seeded?;
    let seed_secs = t.elapsed().as_secs_f64();
    tracing::info!(secs = seed_secs, "seeded");
    let client = KojiClient::new(ClientConfig {
        server: hub.url.clone(),
        ca_pem: Some(std::fs::read(&hub.ca_pem)?),
        identity_pem: None,
        timeout: Duration::from_secs(60),
        max_retries: 0,
    })?;
    let result = rt.block_on(async {
        let mut hist = Vec::new();
        let mut srch = Vec::new();
        let (mut hrows, mut srows) = (0, 0);
        let pb = multi.add(indicatif::ProgressBar::new(u64::from(a.iterations) + 20));
        for i in 0..a.iterations + 20 {
            if interrupt.is_set() {
                break;
            }
            let (h, hn) = command(&client, history_call(a, i)).await?;
            let (s, sn) = command(&client, search_call()).await?;
            if i >= 20 {
                hist.push(h);
                srch.push(s);
                (hrows, srows) = (hn, sn);
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        anyhow::Ok((summarize(&hist), hrows, summarize(&srch), srows))
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    let stopped = hub.stop();
    let (h, hrows, s, srows) = result?;
    stopped?;
    println!(
        "kkoji-bench history: {} tag_listing versions over {} tags, {} builds of {} packages (seeded in {:.1} s)",
        a.rows, a.tags, a.builds, a.packages, seed_secs
    );
    println!(
        "each command = its calls as the stock koji CLI sends them (getAPIVersion + the query), anonymous, TLS, one connection, a single-threaded client"
    );
    println!("{}", line("koji list-history --tag hist-tag-N", &h, hrows));
    println!("{}", line("koji search build 'foo*'", &s, srows));
    let met = |s: &Option<Summary>| s.is_some_and(|s| s.p99_ms < TARGET_P99_MS);
    Ok(met(&h) && met(&s) && !interrupt.is_set())
}
