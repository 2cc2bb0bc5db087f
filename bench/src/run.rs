//! `kkoji-bench hub`: start (or find) a hub, seed it, run every scenario, report.

use crate::cli::{BENCH_HOST_PREFIX, BENCH_TAG, HubArgs};
use crate::hubproc::{self, HubProcess};
use crate::load::{self, ScenarioConfig, Target};
use crate::monitor::Watch;
use crate::report::{self, Idle, Report, Row};
use anyhow::{Context, bail};
use indicatif::MultiProgress;
use koji_protocol::{KojiClient, Struct, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Pause between scenarios so one's connections and sessions are gone before the next.
const SETTLE: Duration = Duration::from_millis(500);

/// Set from SIGINT/SIGTERM/SIGHUP. The flag serves blocking code (waiting for the hub to start),
/// the channel async code.
#[derive(Clone)]
pub struct Interrupt {
    pub flag: Arc<AtomicBool>,
    pub rx: watch::Receiver<bool>,
}

impl Interrupt {
    /// Listens for SIGINT, SIGTERM and SIGHUP on `rt` from now on (so they no longer kill the
    /// process outright and the hub always gets stopped).
    pub fn install(rt: &tokio::runtime::Runtime) -> anyhow::Result<Interrupt> {
        use tokio::signal::unix::{SignalKind, signal};
        let _guard = rt.enter();
        let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
        let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
        let mut hup = signal(SignalKind::hangup()).context("installing a SIGHUP handler")?;
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = watch::channel(false);
        let f = flag.clone();
        rt.spawn(async move {
            tokio::select! {
                _ = int.recv() => tracing::warn!("SIGINT: stopping"),
                _ = term.recv() => tracing::warn!("SIGTERM: stopping"),
                _ = hup.recv() => tracing::warn!("SIGHUP: stopping"),
            }
            f.store(true, Ordering::Relaxed);
            let _ = tx.send(true);
        });
        Ok(Interrupt { flag, rx })
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    pub async fn wait(&mut self) {
        // An error means the sender is gone, which only happens once it has fired.
        let _ = self.rx.wait_for(|v| *v).await;
    }
}

/// What to benchmark: the hub we started, or one named on the command line.
pub struct Setup {
    pub target: Target,
    pub watch: Watch,
    pub description: String,
    /// Our own hub, if we started one; the caller stops it (and `Drop` would).
    pub hub: Option<HubProcess>,
}

/// Starts the hub (blocking, bounded by the ready timeout and by `interrupt`), or reads
/// the credentials of an external one.
pub fn setup(args: &HubArgs, interrupt: &Interrupt) -> anyhow::Result<Setup> {
    if let Some(url) = &args.hub_url {
        let (Some(cert), Some(ca)) = (&args.cert, &args.ca) else {
            bail!("--hub-url needs --cert and --ca");
        };
        let target = Target {
            url: url.clone(),
            ca_pem: std::fs::read(ca).with_context(|| format!("{}", ca.display()))?,
            cert_pem: std::fs::read(cert).with_context(|| format!("{}", cert.display()))?,
            host_pems: Arc::new(Vec::new()),
        };
        return Ok(Setup {
            target,
            watch: Watch {
                hub_pid: args.hub_pid,
                pgdata: None,
            },
            description: match args.hub_pid {
                Some(p) => format!("external hub at {url} (pid {p})"),
                None => format!("external hub at {url} (no --hub-pid: no RSS/CPU figures)"),
            },
            hub: None,
        });
    }
    let bin = match &args.hub_bin {
        Some(b) => b.clone(),
        None => {
            let exe = std::env::current_exe().context("cannot find this executable")?;
            hubproc::default_hub_bin(&exe)
        }
    };
    let hub = HubProcess::start(&bin, args.state_dir.clone(), args.port, &interrupt.flag)?;
    let target = Target {
        url: hub.url.clone(),
        ca_pem: std::fs::read(&hub.ca_pem).with_context(|| format!("{}", hub.ca_pem.display()))?,
        cert_pem: std::fs::read(&hub.cert_pem)
            .with_context(|| format!("{}", hub.cert_pem.display()))?,
        host_pems: Arc::new(Vec::new()),
    };
    Ok(Setup {
        target,
        watch: Watch {
            hub_pid: Some(hub.pid()),
            pgdata: Some(hub.pgdata()),
        },
        description: format!(
            "{} at {} (pid {}, state {})",
            hub.launcher,
            hub.url,
            hub.pid(),
            hub.state_dir.display()
        ),
        hub: Some(hub),
    })
}

/// Creates the rows the read calls return (idempotent: an existing host or tag is kept).
async fn seed(admin: &KojiClient, hosts: u32) -> anyhow::Result<()> {
    for i in 1..=hosts {
        let name = format!("{BENCH_HOST_PREFIX}-{i}");
        let found = admin
            .call("getHost", vec![Value::String(name.clone())])
            .await
            .with_context(|| format!("getHost({name})"))?;
        if found.is_nil() {
            admin
                .call(
                    "addHost",
                    vec![
                        Value::String(name.clone()),
                        Value::Array(vec![Value::String("x86_64".into())]),
                    ],
                )
                .await
                .with_context(|| format!("addHost({name})"))?;
        }
    }
    let tag = admin
        .call("getTag", vec![Value::String(BENCH_TAG.into())])
        .await
        .context("getTag")?;
    if tag.is_nil() {
        let mut kw = Struct::new();
        kw.insert("arches".into(), Value::String("x86_64".into()));
        admin
            .call_kw("createTag", vec![Value::String(BENCH_TAG.into())], kw)
            .await
            .with_context(|| format!("createTag({BENCH_TAG})"))?;
    }
    tracing::info!(hosts, tag = BENCH_TAG, "seeded");
    Ok(())
}

/// Seeds, checks each method once, then runs every method x client count. An interrupt
/// ends the run early with the rows measured so far.
pub async fn run(
    args: &HubArgs,
    setup: &Setup,
    multi: &MultiProgress,
    mut interrupt: Interrupt,
) -> anyhow::Result<Report> {
    let admin = setup
        .target
        .logged_in_client()
        .await
        .context("logging in as the admin")?;
    seed(&admin, args.seed_hosts).await.context("seeding")?;
    let mut target = setup.target.clone();
    let mut no_hosts_why = None;
    if args.methods.iter().any(|m| m.needs_hosts()) {
        match &setup.hub {
            Some(hub) => {
                let n = args.poll_clients.iter().copied().max().unwrap_or(0) as usize;
                target.host_pems = Arc::new(
                    poll_hosts(&admin, &hub.state_dir.join("certs"), n)
                        .await
                        .context("preparing the host-poll builders")?,
                );
            }
            None => {
                no_hosts_why = Some(
                    "host-poll needs a hub started by kkoji-bench (its farm CA issues the host certificates)"
                        .to_string(),
                );
            }
        }
    }
    for &m in args.methods.iter().filter(|m| !m.needs_hosts()) {
        let v = admin
            .call(m.name(), m.params())
            .await
            .with_context(|| format!("trial call of {m}"))?;
        m.check(&v)
            .map_err(|e| anyhow::anyhow!("trial call of {m}: {e}"))?;
    }
    let hub_version = admin.hub_version();
    admin.logout().await.context("admin logout")?;

    tokio::time::sleep(SETTLE).await;
    let idle_before = idle(&setup.watch);
    let mut rows = Vec::new();
    let mut hub_problem = None;
    'outer: for &method in &args.methods {
        let counts = if method.needs_hosts() {
            &args.poll_clients
        } else {
            &args.clients
        };
        for &clients in counts {
            if interrupt.is_set() {
                break 'outer;
            }
            if method.needs_hosts()
                && let Some(why) = &no_hosts_why
            {
                rows.push(Row::failed(method, clients as usize, why.clone()));
                continue;
            }
            if let Some(pid) = setup.watch.hub_pid
                && !crate::procfs::alive(pid)
            {
                tracing::error!(pid, "the hub is gone; ending the run");
                hub_problem = Some(format!("the hub (pid {pid}) died during the run"));
                break 'outer;
            }
            let cfg = ScenarioConfig {
                method,
                clients: clients as usize,
                warmup: args.warmup(),
                duration: args.duration(),
            };
            tracing::info!(%method, clients, "scenario");
            let res = tokio::select! {
                r = load::run_scenario(&target, &cfg, &setup.watch, multi) => r,
                () = interrupt.wait() => break 'outer,
            };
            let row = match res {
                Ok(r) => Row::from_result(&r),
                Err(e) => {
                    tracing::error!(%method, clients, error = %format!("{e:#}"), "scenario failed");
                    Row::failed(method, cfg.clients, format!("{e:#}"))
                }
            };
            log_row(&row);
            rows.push(row);
            tokio::time::sleep(SETTLE).await;
        }
    }
    tokio::time::sleep(SETTLE).await;
    let idle_after = idle(&setup.watch);
    let targets = report::target_checks(&rows);
    Ok(Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        hub: setup.description.clone(),
        hub_version,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        warmup_secs: args.warmup_secs,
        duration_secs: args.duration_secs,
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        idle_before,
        idle_after,
        rows,
        targets,
        interrupted: interrupt.is_set(),
        hub_problem,
    })
}

/// `n` builder hosts (`bench-poller-NNN`, x86_64 and noarch) and their certificates from the
/// farm CA in `certs_dir`.
async fn poll_hosts(
    admin: &KojiClient,
    certs_dir: &std::path::Path,
    n: usize,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let names: Vec<String> = (1..=n).map(|i| format!("bench-poller-{i:03}")).collect();
    crate::sched::setup::ensure_hosts(admin, &names).await?;
    let dir = certs_dir.to_path_buf();
    tokio::task::spawn_blocking(move || crate::sched::setup::issue_identities(&dir, &names))
        .await
        .context("issuing host certificates")?
}

fn idle(watch: &Watch) -> Idle {
    let (hub_rss_bytes, pg_rss_bytes, pg_pss_bytes) = watch.rss_now();
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    Idle {
        hub_rss_bytes,
        pg_rss_bytes,
        pg_pss_bytes,
        loadavg,
    }
}

fn log_row(r: &Row) {
    if r.failed.is_some() {
        return;
    }
    tracing::info!(
        method = %r.method,
        clients = r.clients,
        req_per_sec = r.req_per_sec.round(),
        p50_ms = r.p50_ms,
        p99_ms = r.p99_ms,
        errors = r.errors.total(),
        "done"
    );
}

/// Whether every requested method was measured (used for the exit status).
pub fn complete(report: &Report, args: &HubArgs) -> bool {
    let want = args.methods.len() * args.clients.len();
    report.rows.len() == want && report.rows.iter().all(|r| r.failed.is_none())
}

pub fn write_json(path: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report).context("encoding the JSON report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
