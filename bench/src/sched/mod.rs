//! `kkoji-bench sched`: many simulated builders (protocol-level, all in this process, each
//! with its own host certificate, exclusive session and TLS connection) long-poll a hub
//! while light tasks are queued; measured are the pickup latency (task FREE -> OPEN on a
//! builder), the assignment throughput, whether any task was handed out twice, and the CPU
//! of the hub, its PostgreSQL and this process.
//!
//! Two phases:
//! 1. **trickle**: tasks submitted one call each at a steady rate while every builder
//!    long-polls: the pickup latency a user sees.
//! 2. **burst**: the builders check in as not ready, N tasks are queued (multiCall batches),
//!    then every builder checks in as ready at once and they drain the queue: assignment
//!    throughput; pickup latency here is mostly queueing.

pub mod builder;
pub mod report;
pub mod setup;
pub mod stats;

use crate::cli::SchedArgs;
use crate::hubproc::{self, HubProcess};
use crate::monitor::{self, Resources, Watch};
use crate::run::Interrupt;
use anyhow::{Context, bail};
use builder::{BuilderConfig, BuilderLog, Event, Mode};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use koji_protocol::{ClientConfig, KojiClient, Struct, Value};
use report::{PhaseResult, SchedReport};
use stats::HubTask;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Per-call deadline of every client (the long-poll's own timeout is much shorter).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Concurrent builder logins (a TLS handshake, sslLogin, exclusiveSession, updateHost each).
const LOGIN_CONCURRENCY: usize = 16;
/// How long all builders get to apply a mode (finish their poll, check in).
const APPLY_GRACE: Duration = Duration::from_secs(30);
/// The trickle may take this much longer than its nominal length before it is cut off.
const TRICKLE_GRACE: Duration = Duration::from_secs(30);
/// Task ids per listTasks call when reading the hub's view at the end.
const LIST_CHUNK: usize = 1000;
/// Pause after the builders start polling and before tasks are submitted.
const SETTLE: Duration = Duration::from_millis(300);

/// Where the hub is, and how to reach it.
struct Farm {
    url: String,
    ca_pem: Vec<u8>,
    admin_pem: Vec<u8>,
    certs_dir: PathBuf,
    watch: Watch,
    description: String,
}

impl Farm {
    fn client(&self, identity: Vec<u8>) -> anyhow::Result<KojiClient> {
        KojiClient::new(ClientConfig {
            server: self.url.clone(),
            ca_pem: Some(self.ca_pem.clone()),
            identity_pem: Some(identity),
            timeout: CALL_TIMEOUT,
            max_retries: 0,
        })
        .context("client configuration")
    }

    async fn admin(&self) -> anyhow::Result<KojiClient> {
        let c = self.client(self.admin_pem.clone())?;
        c.ssl_login().await.context("sslLogin as the admin")?;
        Ok(c)
    }
}

/// `kkoji-bench sched`: starts the hub, runs both phases, prints the report, stops the hub.
/// Ok(false): the run was cut short (deadline, interrupt) but a report was printed.
pub fn main(args: &SchedArgs, multi: &MultiProgress) -> anyhow::Result<bool> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench")
        .build()
        .context("cannot start the tokio runtime")?;
    let interrupt = Interrupt::install(&rt)?;
    let bin = match &args.hub_bin {
        Some(b) => b.clone(),
        None => {
            let exe = std::env::current_exe().context("cannot find this executable")?;
            hubproc::default_hub_bin(&exe)
        }
    };
    // From here on the hub's Drop stops it on any exit.
    let mut hub = HubProcess::start(&bin, args.state_dir.clone(), args.port, &interrupt.flag)?;
    let farm = Farm {
        url: hub.url.clone(),
        ca_pem: std::fs::read(&hub.ca_pem).with_context(|| format!("{}", hub.ca_pem.display()))?,
        admin_pem: std::fs::read(&hub.cert_pem)
            .with_context(|| format!("{}", hub.cert_pem.display()))?,
        certs_dir: hub.state_dir.join("certs"),
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
    };
    let result = rt.block_on(run(args, &farm, multi, interrupt.clone()));
    rt.shutdown_timeout(Duration::from_secs(2));
    let stopped = hub.stop();
    let mut report = match (result, &stopped) {
        (Ok(r), _) => r,
        (Err(e), Ok(())) => return Err(e),
        (Err(e), Err(s)) => bail!("{e:#}; and: {s:#}"),
    };
    if let Err(e) = &stopped {
        let msg = format!("{e:#}");
        report.hub_problem = Some(match report.hub_problem.take() {
            Some(p) => format!("{p}; {msg}"),
            None => msg,
        });
    }
    println!("{}", report::render(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).context("encoding the JSON report")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("JSON written to {}", path.display());
    }
    if report.hub_problem.is_some() {
        bail!("the hub misbehaved (see HUB PROBLEM above)");
    }
    Ok(report.complete && !report.interrupted)
}

/// One submitted task (or a failed attempt).
#[derive(Debug, Clone)]
struct Submit {
    task: Option<i64>,
    /// The answer (for a batch: the batch's answer) arrived: the task is FREE by then.
    returned: Instant,
    sent: Instant,
    /// How late the call was sent against the trickle's schedule.
    lag: Duration,
    error: Option<String>,
}

/// The coordinator's view of the builders, fed by their events.
struct Tracker {
    rx: mpsc::UnboundedReceiver<Event>,
    closed: HashSet<i64>,
    applied: HashMap<usize, Mode>,
    gone: HashSet<usize>,
    /// Builders started (when all are gone, waiting is pointless).
    builders: usize,
    /// Ids of the current phase (added as their submits return); `remaining` of them are
    /// not closed yet.
    phase_ids: HashSet<i64>,
    remaining: usize,
    bar: Option<ProgressBar>,
}

impl Tracker {
    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Applied { builder, mode } => {
                self.applied.insert(builder, mode);
            }
            Event::Closed { task } => {
                if self.closed.insert(task) && self.phase_ids.contains(&task) {
                    self.remaining = self.remaining.saturating_sub(1);
                    if let Some(b) = &self.bar {
                        b.inc(1);
                    }
                }
            }
            Event::Gone { builder } => {
                self.gone.insert(builder);
            }
            Event::Submitted { task } => self.add_ids([task]),
        }
    }

    fn start_phase(&mut self, bar: Option<ProgressBar>) {
        self.phase_ids.clear();
        self.remaining = 0;
        self.bar = bar;
    }

    fn add_ids(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            if self.phase_ids.insert(id) {
                if self.closed.contains(&id) {
                    if let Some(b) = &self.bar {
                        b.inc(1);
                    }
                } else {
                    self.remaining += 1;
                }
            }
        }
    }

    fn all_applied(&self, mode: Mode, builders: usize) -> bool {
        (0..builders).all(|b| self.gone.contains(&b) || self.applied.get(&b) == Some(&mode))
    }

    fn finish_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

enum WaitEnd {
    Done,
    TimedOut,
    Interrupted,
}

/// Feeds builder events to `t` until `done(t)`, `until`, or an interrupt.
async fn pump(
    t: &mut Tracker,
    until: Instant,
    interrupt: &mut Interrupt,
    done: impl Fn(&Tracker) -> bool,
) -> WaitEnd {
    let sleep = tokio::time::sleep_until(until.into());
    tokio::pin!(sleep);
    loop {
        if done(t) {
            return WaitEnd::Done;
        }
        if t.gone.len() >= t.builders {
            tracing::error!("every builder has ended; not waiting any longer");
            return WaitEnd::TimedOut;
        }
        tokio::select! {
            ev = t.rx.recv() => match ev {
                Some(ev) => t.handle(ev),
                None => return WaitEnd::TimedOut,
            },
            () = &mut sleep => return WaitEnd::TimedOut,
            () = interrupt.wait() => return WaitEnd::Interrupted,
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn phase_bar(multi: &MultiProgress, name: &str, len: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(len));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} closed {elapsed:>3}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// Runs the monitor thread from now until the returned flag is set.
struct Sampling {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Resources>>,
}

impl Sampling {
    fn start(watch: &Watch) -> Sampling {
        let stop = Arc::new(AtomicBool::new(false));
        let now = Instant::now();
        // The window ends when `stop` is set; the far end is only a bound.
        let far = now + Duration::from_secs(24 * 3600);
        let handle = match monitor::spawn_sampler(watch.clone(), now, far, stop.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the sampler thread; no CPU figures");
                None
            }
        };
        Sampling { stop, handle }
    }

    fn finish(mut self) -> Resources {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => {
                tracing::warn!("the sampler thread panicked");
                Resources::default()
            }
            None => Resources::default(),
        }
    }
}

impl Drop for Sampling {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Submitter `k` of `of` in a trickle of `total` tasks at `per_sec`, starting at `t0`;
/// nothing is sent after `until`.
#[derive(Debug, Clone, Copy)]
struct TrickleSlot {
    k: u32,
    of: u32,
    total: u64,
    per_sec: u32,
    t0: Instant,
    until: Instant,
}

async fn trickle_submitter(
    client: KojiClient,
    params: Vec<Value>,
    slot: TrickleSlot,
    events: mpsc::UnboundedSender<Event>,
) -> (KojiClient, Vec<Submit>) {
    let mut out = Vec::new();
    for i in stats::share(slot.total, slot.k, slot.of) {
        let due = slot.t0 + stats::trickle_due(i, slot.per_sec);
        if due >= slot.until {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let sent = Instant::now();
        let r = client.call("build", params.clone()).await;
        let returned = Instant::now();
        let (task, error) = match r {
            Ok(Value::Int(id)) => {
                let _ = events.send(Event::Submitted { task: id });
                (Some(id), None)
            }
            Ok(v) => (None, Some(format!("build answered a {}", v.type_name()))),
            Err(e) => (None, Some(format!("build: {e}"))),
        };
        out.push(Submit {
            task,
            returned,
            sent,
            lag: sent.saturating_duration_since(due),
            error,
        });
    }
    (client, out)
}

async fn burst_submitter(
    client: KojiClient,
    params: Vec<Value>,
    next: Arc<AtomicU64>,
    total: u64,
    batch: u64,
    deadline: Instant,
) -> (KojiClient, Vec<Submit>) {
    let mut out = Vec::new();
    loop {
        let start = next.fetch_add(batch, Ordering::Relaxed);
        if start >= total || Instant::now() >= deadline {
            break;
        }
        let n = batch.min(total - start) as usize;
        let calls = (0..n)
            .map(|_| ("build".to_string(), params.clone()))
            .collect();
        let sent = Instant::now();
        let r = client.multicall(calls).await;
        let returned = Instant::now();
        match r {
            Ok(results) => {
                for res in results {
                    let (task, error) = match res {
                        Ok(Value::Int(id)) => (Some(id), None),
                        Ok(v) => (None, Some(format!("build answered a {}", v.type_name()))),
                        Err(f) => (None, Some(format!("build: {f}"))),
                    };
                    out.push(Submit {
                        task,
                        returned,
                        sent,
                        lag: Duration::ZERO,
                        error,
                    });
                }
            }
            Err(e) => {
                let msg = format!("multiCall of {n} builds: {e}");
                out.extend((0..n).map(|_| Submit {
                    task: None,
                    returned,
                    sent,
                    lag: Duration::ZERO,
                    error: Some(msg.clone()),
                }));
            }
        }
    }
    (client, out)
}

/// Collects the submitters' results while feeding builder events to the tracker.
async fn collect_submits(
    subs: &mut JoinSet<(KojiClient, Vec<Submit>)>,
    t: &mut Tracker,
    interrupt: &mut Interrupt,
    until: Instant,
    clients: &mut Vec<KojiClient>,
) -> (Vec<Submit>, bool) {
    let mut out = Vec::new();
    let sleep = tokio::time::sleep_until(until.into());
    tokio::pin!(sleep);
    let mut cut = false;
    while !subs.is_empty() {
        tokio::select! {
            r = subs.join_next() => match r {
                Some(Ok((c, s))) => {
                    t.add_ids(s.iter().filter_map(|x| x.task));
                    out.extend(s);
                    clients.push(c);
                }
                Some(Err(e)) => tracing::error!(error = %e, "a submitter failed"),
                None => break,
            },
            ev = t.rx.recv() => if let Some(ev) = ev { t.handle(ev) },
            () = &mut sleep => { cut = true; break; }
            () = interrupt.wait() => { cut = true; break; }
        }
    }
    if cut {
        subs.abort_all();
        while let Some(r) = subs.join_next().await {
            if let Ok((c, s)) = r {
                t.add_ids(s.iter().filter_map(|x| x.task));
                out.extend(s);
                clients.push(c);
            }
        }
    }
    (out, cut)
}

/// The hub's records of `ids` (listTasks in chunks).
async fn hub_rows(admin: &KojiClient, ids: &[i64]) -> anyhow::Result<Vec<HubTask>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(LIST_CHUNK) {
        let mut opts = Struct::new();
        opts.insert(
            "id".into(),
            Value::Array(chunk.iter().map(|&i| Value::Int(i)).collect()),
        );
        let v = admin
            .call("listTasks", vec![Value::Struct(opts)])
            .await
            .context("listTasks")?;
        let rows = v
            .as_array()
            .with_context(|| format!("listTasks answered a {}", v.type_name()))?;
        for r in rows {
            let id = r.get("id").and_then(Value::as_i64);
            let state = r.get("state").and_then(Value::as_i64);
            let create_ts = r.get("create_ts").and_then(Value::as_f64);
            let (Some(id), Some(state), Some(create_ts)) = (id, state, create_ts) else {
                bail!("listTasks row without id/state/create_ts: {r:?}");
            };
            out.push(HubTask {
                id,
                state,
                host_id: r.get("host_id").and_then(Value::as_i64),
                create_ts,
                start_ts: r.get("start_ts").and_then(Value::as_f64),
            });
        }
    }
    Ok(out)
}

/// Everything measured in one phase, before it is turned into figures.
struct PhaseRaw {
    name: &'static str,
    tag: u8,
    submits: Vec<Submit>,
    /// Builders released (burst): a task is not available to them before this.
    floor: Option<(Instant, f64)>,
    resources: Resources,
    submit_resources: Option<Resources>,
    submit_secs: f64,
    completed: bool,
}

async fn run(
    args: &SchedArgs,
    farm: &Farm,
    multi: &MultiProgress,
    mut interrupt: Interrupt,
) -> anyhow::Result<SchedReport> {
    let begun = Instant::now();
    let deadline = begun + Duration::from_secs(args.deadline_secs);
    let nb = args.builders as usize;
    let mut notes: Vec<String> = Vec::new();

    // --- the farm: target, SRPM, hosts, certificates
    let admin = farm.admin().await?;
    let hub_version = admin.hub_version();
    setup::ensure_target(&admin)
        .await
        .context("creating the build target")?;
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let srpm = setup::make_srpm(tmp.path()).await?;
    let upload_dir = format!(
        "kkoji-bench/sched-{}-{}",
        std::process::id(),
        unix_now() as u64
    );
    let src = setup::upload(&admin, &upload_dir, &srpm).await?;
    let params = setup::build_params(&src);
    // A trial submission, so a refused build() fails here and not 10,000 times.
    let trial = admin
        .call("build", params.clone())
        .await
        .context("trial build() call")?;
    let Some(trial_id) = trial.as_i64() else {
        bail!("build() answered a {}, not a task id", trial.type_name());
    };
    admin
        .call("cancelTask", vec![Value::Int(trial_id)])
        .await
        .context("cancelTask(trial task)")?;
    let names: Vec<String> = (0..nb).map(setup::host_name).collect();
    let created = setup::ensure_hosts(&admin, &names).await?;
    tracing::info!(created, existing = nb - created, "builder hosts");
    let certs_dir = farm.certs_dir.clone();
    let names2 = names.clone();
    let identities =
        tokio::task::spawn_blocking(move || setup::issue_identities(&certs_dir, &names2))
            .await
            .context("certificate thread")??;

    // --- the builders
    let mut logins = JoinSet::new();
    let gate = Arc::new(Semaphore::new(LOGIN_CONCURRENCY));
    for (i, pem) in identities.into_iter().enumerate() {
        let client = farm.client(pem)?;
        let gate = gate.clone();
        let maxjobs = args.maxjobs;
        logins.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let r = builder::login(&client, maxjobs).await;
            (i, client, r)
        });
    }
    let mut clients: Vec<Option<KojiClient>> = vec![None; nb];
    let login_until = tokio::time::Instant::from(deadline);
    loop {
        match tokio::time::timeout_at(login_until, logins.join_next()).await {
            Ok(Some(Ok((i, c, Ok(()))))) => clients[i] = Some(c),
            Ok(Some(Ok((i, _, Err(e))))) => {
                logins.abort_all();
                bail!("builder {} could not log in: {e}", names[i]);
            }
            Ok(Some(Err(e))) => bail!("login task failed: {e}"),
            Ok(None) => break,
            Err(_) => bail!("builder logins did not finish before the deadline"),
        }
    }
    let setup_secs = begun.elapsed().as_secs_f64();
    tracing::info!(builders = nb, setup_secs, "builders logged in");

    let (mode_tx, mode_rx) = watch::channel(Mode::Paused);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let mut builders = JoinSet::new();
    for (i, c) in clients.into_iter().enumerate() {
        let Some(c) = c else {
            bail!("builder {} has no client", names[i]);
        };
        builders.spawn(builder::run(
            i,
            c,
            BuilderConfig {
                maxjobs: args.maxjobs,
                wait: Duration::from_secs(u64::from(args.wait_secs)),
            },
            mode_rx.clone(),
            ev_tx.clone(),
        ));
    }
    let mut t = Tracker {
        rx: ev_rx,
        closed: HashSet::new(),
        applied: HashMap::new(),
        gone: HashSet::new(),
        builders: nb,
        phase_ids: HashSet::new(),
        remaining: 0,
        bar: None,
    };
    let mut cut_short = false;
    let mut submitters: Vec<KojiClient> = Vec::new();
    for _ in 0..args.submitters {
        submitters.push(farm.admin().await.context("logging in a submitter")?);
    }
    let mut phases: Vec<PhaseRaw> = Vec::new();

    match pump(
        &mut t,
        (Instant::now() + APPLY_GRACE).min(deadline),
        &mut interrupt,
        |t| t.all_applied(Mode::Paused, nb),
    )
    .await
    {
        WaitEnd::Done => {}
        WaitEnd::TimedOut => bail!("the builders did not all start"),
        WaitEnd::Interrupted => cut_short = true,
    }

    // --- phase 1: trickle
    let trickle_total = args.trickle_tasks();
    if trickle_total > 0 && !cut_short {
        tracing::info!(
            tasks = trickle_total,
            rate = args.trickle_rate,
            "trickle phase"
        );
        let mode = Mode::Running(1);
        let _ = mode_tx.send(mode);
        if !matches!(
            pump(
                &mut t,
                (Instant::now() + APPLY_GRACE).min(deadline),
                &mut interrupt,
                |t| t.all_applied(mode, nb),
            )
            .await,
            WaitEnd::Done
        ) {
            notes.push("not every builder checked in as ready for the trickle".into());
        }
        tokio::time::sleep(SETTLE).await;
        t.start_phase(Some(phase_bar(multi, "trickle", trickle_total)));
        let sampling = Sampling::start(&farm.watch);
        let t0 = Instant::now() + Duration::from_millis(20);
        let nominal = stats::trickle_due(trickle_total, args.trickle_rate);
        let until = (t0 + nominal + TRICKLE_GRACE).min(deadline);
        let mut subs = JoinSet::new();
        let k_of = u32::try_from(submitters.len()).unwrap_or(1);
        for (k, c) in submitters.drain(..).enumerate() {
            subs.spawn(trickle_submitter(
                c,
                params.clone(),
                TrickleSlot {
                    k: u32::try_from(k).unwrap_or(0),
                    of: k_of,
                    total: trickle_total,
                    per_sec: args.trickle_rate,
                    t0,
                    until,
                },
                ev_tx.clone(),
            ));
        }
        let (submits, cut) =
            collect_submits(&mut subs, &mut t, &mut interrupt, until, &mut submitters).await;
        let submit_secs = submit_span(&submits);
        let end = pump(&mut t, until, &mut interrupt, |t| t.remaining == 0).await;
        let resources = sampling.finish();
        t.finish_bar();
        let completed = !cut && matches!(end, WaitEnd::Done);
        if !completed {
            notes.push(format!(
                "trickle cut short: {} of its tasks were not closed in time",
                t.remaining
            ));
            cut_short = true;
        }
        phases.push(PhaseRaw {
            name: "trickle",
            tag: 1,
            submits,
            floor: None,
            resources,
            submit_resources: None,
            submit_secs,
            completed,
        });
    }

    // --- phase 2: burst
    let burst_total = u64::from(args.tasks);
    if burst_total > 0 && !cut_short && !interrupt.is_set() {
        tracing::info!(tasks = burst_total, "burst phase: pausing the builders");
        let _ = mode_tx.send(Mode::Paused);
        let grace = Duration::from_secs(u64::from(args.wait_secs)) + APPLY_GRACE;
        match pump(
            &mut t,
            (Instant::now() + grace).min(deadline),
            &mut interrupt,
            |t| t.all_applied(Mode::Paused, nb),
        )
        .await
        {
            WaitEnd::Done => {}
            WaitEnd::TimedOut => notes.push("not every builder paused before the burst".into()),
            WaitEnd::Interrupted => cut_short = true,
        }
    }
    if burst_total > 0 && !cut_short {
        tracing::info!(
            tasks = burst_total,
            batch = args.batch,
            "queueing the burst"
        );
        t.start_phase(None);
        let sampling = Sampling::start(&farm.watch);
        let next = Arc::new(AtomicU64::new(0));
        let mut subs = JoinSet::new();
        for c in submitters.drain(..) {
            subs.spawn(burst_submitter(
                c,
                params.clone(),
                next.clone(),
                burst_total,
                u64::from(args.batch),
                deadline,
            ));
        }
        let (submits, cut) =
            collect_submits(&mut subs, &mut t, &mut interrupt, deadline, &mut submitters).await;
        let submit_resources = sampling.finish();
        let submit_secs = submit_span(&submits);
        let queued = submits.iter().filter(|s| s.task.is_some()).count();
        tracing::info!(queued, submit_secs, "burst queued; releasing the builders");
        if let Some(b) = &t.bar {
            b.finish_and_clear();
        }
        let bar = phase_bar(multi, "burst", queued as u64);
        // Anything closed while paused (there should be nothing) counts at once.
        t.bar = Some(bar);
        let ids: Vec<i64> = t.phase_ids.drain().collect();
        t.remaining = 0;
        t.add_ids(ids);
        let sampling = Sampling::start(&farm.watch);
        let released = (Instant::now(), unix_now());
        let _ = mode_tx.send(Mode::Running(2));
        let end = pump(&mut t, deadline, &mut interrupt, |t| t.remaining == 0).await;
        let resources = sampling.finish();
        t.finish_bar();
        let completed = !cut && matches!(end, WaitEnd::Done);
        if !completed {
            notes.push(format!(
                "burst cut short: {} of its tasks were not closed in time",
                t.remaining
            ));
            cut_short = true;
        }
        phases.push(PhaseRaw {
            name: "burst",
            tag: 2,
            submits,
            floor: Some(released),
            resources,
            submit_resources: Some(submit_resources),
            submit_secs,
            completed,
        });
    }

    // --- stop the builders (each finishes its current poll) and collect their logs
    let _ = mode_tx.send(Mode::Stop);
    let mut logs: Vec<BuilderLog> = Vec::with_capacity(nb);
    let stop_until = tokio::time::Instant::now()
        + Duration::from_secs(u64::from(args.wait_secs))
        + Duration::from_secs(20);
    let mut stuck = 0;
    loop {
        match tokio::time::timeout_at(stop_until, builders.join_next()).await {
            Ok(Some(Ok(log))) => logs.push(log),
            Ok(Some(Err(e))) => tracing::error!(error = %e, "a builder task failed"),
            Ok(None) => break,
            Err(_) => {
                stuck = builders.len();
                builders.abort_all();
                while builders.join_next().await.is_some() {}
                break;
            }
        }
    }
    if stuck > 0 {
        notes.push(format!(
            "{stuck} builder(s) did not stop in time and were aborted"
        ));
    }
    logs.sort_by_key(|l| l.idx);

    // --- the hub's view, and the figures
    let submitted: Vec<i64> = phases
        .iter()
        .flat_map(|p| p.submits.iter().filter_map(|s| s.task))
        .collect();
    let rows = match hub_rows(&admin, &submitted).await {
        Ok(r) => r,
        Err(e) => {
            notes.push(format!("could not read the tasks back: {e:#}"));
            Vec::new()
        }
    };
    // Leave nothing runnable behind (a reused state directory would carry it over).
    let leftovers: Vec<i64> = rows
        .iter()
        .filter(|r| matches!(r.state, 0 | 1 | 4))
        .map(|r| r.id)
        .collect();
    if !leftovers.is_empty() {
        let calls = leftovers
            .iter()
            .map(|&id| ("cancelTask".to_string(), vec![Value::Int(id)]))
            .collect();
        if let Err(e) = admin.multicall(calls).await {
            tracing::warn!(error = %e, "cannot cancel the unfinished tasks");
        }
    }
    for c in submitters {
        let _ = c.logout().await;
    }
    let _ = admin.logout().await;

    let report = report::build(report::Inputs {
        args,
        hub: farm.description.clone(),
        hub_version,
        setup_secs,
        phases: phases
            .iter()
            .map(|p| phase_result(p, &logs, &rows, nb))
            .collect(),
        logs: &logs,
        submitted: &submitted,
        rows: &rows,
        notes,
        interrupted: interrupt.is_set(),
        complete: !cut_short && stuck == 0,
    });
    Ok(report)
}

fn submit_span(submits: &[Submit]) -> f64 {
    let first = submits.iter().map(|s| s.sent).min();
    let last = submits.iter().map(|s| s.returned).max();
    match (first, last) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        _ => 0.0,
    }
}

/// Turns one phase's raw records into its figures.
fn phase_result(p: &PhaseRaw, logs: &[BuilderLog], rows: &[HubTask], nb: usize) -> PhaseResult {
    let ids: HashSet<i64> = p.submits.iter().filter_map(|s| s.task).collect();
    let free_at: HashMap<i64, Instant> = p
        .submits
        .iter()
        .filter_map(|s| {
            let t = s.task?;
            let at = match p.floor {
                Some((f, _)) => s.returned.max(f),
                None => s.returned,
            };
            Some((t, at))
        })
        .collect();
    // first successful open of each task of this phase
    let mut first_open: HashMap<i64, (Instant, usize)> = HashMap::new();
    let mut open_count: HashMap<i64, usize> = HashMap::new();
    for l in logs {
        for o in l.opens.iter().filter(|o| ids.contains(&o.task)) {
            *open_count.entry(o.task).or_default() += 1;
            let e = first_open.entry(o.task).or_insert((o.at, l.idx));
            if o.at < e.0 {
                *e = (o.at, l.idx);
            }
        }
    }
    let mut client = Vec::with_capacity(first_open.len());
    let mut early = 0usize;
    for (task, (at, _)) in &first_open {
        if let Some(free) = free_at.get(task) {
            let (ms, was_early) = stats::pickup_ms(*free, *at);
            client.push(ms);
            early += usize::from(was_early);
        }
    }
    let floor_ts = p.floor.map(|(_, ts)| ts);
    let mut hub = Vec::new();
    let mut hub_negative = 0usize;
    for r in rows.iter().filter(|r| ids.contains(&r.id)) {
        if let Some(start) = r.start_ts {
            let (ms, neg) = stats::hub_pickup_ms(r.create_ts, start, floor_ts);
            hub.push(ms);
            hub_negative += usize::from(neg);
        }
    }
    let first = first_open.values().map(|(a, _)| *a).min();
    let last = first_open.values().map(|(a, _)| *a).max();
    let throughput = match (first, last) {
        (Some(a), Some(b)) if first_open.len() > 1 => Some(stats::rate(
            first_open.len() - 1,
            b.saturating_duration_since(a),
        )),
        _ => None,
    };
    let drain_secs = match (p.floor, last) {
        (Some((f, _)), Some(b)) => Some(b.saturating_duration_since(f).as_secs_f64()),
        _ => None,
    };
    let used: HashSet<usize> = first_open.values().map(|(_, b)| *b).collect();
    let submitted = ids.len();
    let submit_errors = p.submits.iter().filter(|s| s.error.is_some()).count();
    let submit_error_example = p.submits.iter().find_map(|s| s.error.clone());
    let max_lag_ms = p
        .submits
        .iter()
        .map(|s| s.lag.as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    let submit_call: Vec<f64> = p
        .submits
        .iter()
        .filter(|s| s.task.is_some())
        .map(|s| s.returned.saturating_duration_since(s.sent).as_secs_f64() * 1000.0)
        .collect();
    let phase_start = match p.floor {
        Some((f, _)) => Some(f),
        None => p.submits.iter().map(|s| s.returned).min(),
    };
    let first_open_ms = match (phase_start, first) {
        (Some(s), Some(f)) => Some(f.saturating_duration_since(s).as_secs_f64() * 1000.0),
        _ => None,
    };
    PhaseResult {
        phase: p.name.to_string(),
        tag: p.tag,
        submitted,
        submit_errors,
        submit_error_example,
        submit_secs: p.submit_secs,
        submit_rate: if p.submit_secs > 0.0 {
            submitted as f64 / p.submit_secs
        } else {
            0.0
        },
        max_submit_lag_ms: max_lag_ms,
        submit_call: stats::summarize(&submit_call),
        first_open_ms,
        opened: first_open.len(),
        builders: nb,
        builders_used: used.len(),
        client: stats::summarize(&client),
        hub: stats::summarize(&hub),
        early_opens: early,
        hub_negative,
        throughput,
        drain_secs,
        duplicates: open_count.values().filter(|n| **n > 1).count(),
        resources: p.resources,
        submit_resources: p.submit_resources,
        completed: p.completed,
    }
}
