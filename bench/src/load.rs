//! The load generator: N clients, each with its own session and keep-alive connection,
//! calling one method back to back (closed loop) for a warm-up and then a measured window.

use crate::cli::BenchMethod;
use crate::monitor::{self, Resources, Watch};
use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use koji_protocol::{ClientConfig, ClientError, KojiClient};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Per-request deadline. A request slower than this counts as a transport error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra time the workers get after the window closes before they are aborted.
const FINISH_GRACE: Duration = Duration::from_secs(REQUEST_TIMEOUT.as_secs() + 5);
/// Histogram range: 1 µs .. 60 s, 3 significant digits.
const HIST_MAX_US: u64 = 60_000_000;
/// Error messages kept per scenario, for the report.
const MAX_ERROR_EXAMPLES: usize = 5;

/// Where the hub is and how to log in to it.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    /// Host identities (certificate + key PEM) for scenarios whose clients are builders.
    pub host_pems: Arc<Vec<Vec<u8>>>,
}

impl Target {
    /// A fresh client: its own connection pool (so its own connection) and, after
    /// `ssl_login`, its own session. No transport retries: a failure is an error.
    pub fn client(&self) -> anyhow::Result<KojiClient> {
        KojiClient::new(ClientConfig {
            server: self.url.clone(),
            ca_pem: Some(self.ca_pem.clone()),
            identity_pem: Some(self.cert_pem.clone()),
            timeout: REQUEST_TIMEOUT,
            max_retries: 0,
        })
        .context("client configuration")
    }

    pub async fn logged_in_client(&self) -> anyhow::Result<KojiClient> {
        let c = self.client()?;
        c.ssl_login().await.context("sslLogin")?;
        Ok(c)
    }

    /// Builder host `i`: logged in with its own certificate, exclusive session (forced: a
    /// previous run's may linger), as kojid does.
    pub async fn logged_in_host(&self, i: usize) -> anyhow::Result<KojiClient> {
        let pem = self
            .host_pems
            .get(i)
            .with_context(|| format!("no host identity {i} (only {})", self.host_pems.len()))?;
        let c = KojiClient::new(ClientConfig {
            server: self.url.clone(),
            ca_pem: Some(self.ca_pem.clone()),
            identity_pem: Some(pem.clone()),
            timeout: REQUEST_TIMEOUT,
            max_retries: 0,
        })
        .context("client configuration")?;
        c.ssl_login().await.context("host sslLogin")?;
        let mut kw = koji_protocol::Struct::new();
        kw.insert("force".into(), koji_protocol::Value::Bool(true));
        c.call_kw("exclusiveSession", Vec::new(), kw)
            .await
            .context("exclusiveSession")?;
        Ok(c)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorCounts {
    /// XML-RPC faults.
    pub fault: u64,
    /// Connection, TLS, timeout and HTTP-status failures.
    pub transport: u64,
    /// Undecodable answers, or answers of the wrong shape.
    pub bad_answer: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.fault + self.transport + self.bad_answer
    }

    fn add(&mut self, o: &ErrorCounts) {
        self.fault += o.fault;
        self.transport += o.transport;
        self.bad_answer += o.bad_answer;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrKind {
    Fault,
    Transport,
    BadAnswer,
}

fn classify(e: &ClientError) -> ErrKind {
    match e {
        ClientError::Fault(_) => ErrKind::Fault,
        ClientError::Transport(_) | ClientError::Http { .. } | ClientError::Config(_) => {
            ErrKind::Transport
        }
        ClientError::Decode(_) => ErrKind::BadAnswer,
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub method: BenchMethod,
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

#[derive(Debug)]
pub struct ScenarioResult {
    pub method: BenchMethod,
    pub clients: usize,
    /// Successful calls started inside the measured window.
    pub ok: u64,
    /// Failed calls started inside the measured window.
    pub errors: ErrorCounts,
    /// Failed calls during the warm-up (not in `errors`, never hidden either).
    pub warmup_errors: ErrorCounts,
    /// From the end of the warm-up to the last completion of a counted call.
    pub window: Duration,
    /// Latency of the successful calls, in microseconds.
    pub hist: Histogram<u64>,
    pub resources: Resources,
    pub error_examples: Vec<String>,
    /// Workers that had to be aborted (stuck past the window plus the request timeout).
    pub aborted_workers: usize,
}

impl ScenarioResult {
    pub fn req_per_sec(&self) -> f64 {
        let s = self.window.as_secs_f64();
        if s > 0.0 { self.ok as f64 / s } else { 0.0 }
    }

    /// Latency quantile in milliseconds (0 when nothing succeeded).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

struct Cleanup {
    stop: Arc<AtomicBool>,
    ticker: tokio::task::AbortHandle,
    bar: ProgressBar,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.ticker.abort();
        if !self.bar.is_finished() {
            self.bar.abandon_with_message("interrupted");
        }
    }
}

struct WorkerResult {
    hist: Histogram<u64>,
    ok: u64,
    errors: ErrorCounts,
    warmup_errors: ErrorCounts,
    examples: Vec<String>,
    last_completion: Instant,
    client: KojiClient,
}

fn new_hist() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).context("histogram bounds")
}

/// Logs in `n` clients concurrently.
async fn login_all(target: &Target, n: usize, hosts: bool) -> anyhow::Result<Vec<KojiClient>> {
    let mut set = JoinSet::new();
    for i in 0..n {
        let t = target.clone();
        set.spawn(async move {
            let c = if hosts {
                t.logged_in_host(i).await
            } else {
                t.logged_in_client().await
            };
            (i, c)
        });
    }
    let mut clients = Vec::with_capacity(n);
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok((_, Ok(c))) => clients.push(c),
            Ok((i, Err(e))) => {
                first_err.get_or_insert_with(|| e.context(format!("client {i}")));
            }
            Err(e) => {
                first_err.get_or_insert_with(|| anyhow::anyhow!("login task failed: {e}"));
            }
        }
    }
    if let Some(e) = first_err {
        logout_all(clients).await;
        return Err(e);
    }
    Ok(clients)
}

/// Closes the sessions (bounded; failures are only logged: the numbers are already in).
async fn logout_all(clients: Vec<KojiClient>) {
    let mut set = JoinSet::new();
    for c in clients {
        set.spawn(async move { c.logout().await });
    }
    let drain = async {
        let mut failed = 0usize;
        let mut example = None;
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    failed += 1;
                    example.get_or_insert_with(|| e.to_string());
                }
                Err(e) => {
                    failed += 1;
                    example.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if failed > 0 {
            tracing::warn!(
                failed,
                example = example.unwrap_or_default(),
                "logout failed"
            );
        }
    };
    if tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        tracing::warn!("logouts did not finish in time");
    }
}

async fn worker(
    client: KojiClient,
    method: BenchMethod,
    warm_end: Instant,
    end: Instant,
    start: Instant,
    done: Arc<AtomicU64>,
) -> anyhow::Result<WorkerResult> {
    let mut r = WorkerResult {
        hist: new_hist()?,
        ok: 0,
        errors: ErrorCounts::default(),
        warmup_errors: ErrorCounts::default(),
        examples: Vec::new(),
        last_completion: warm_end,
        client,
    };
    tokio::time::sleep_until(start.into()).await;
    let mut i: u64 = 0;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let (name, params) = method.call(i);
        i = i.wrapping_add(1);
        let res = r.client.call(name, params).await;
        let t1 = Instant::now();
        let outcome = match res {
            Ok(v) => method.check(&v).map_err(|m| (ErrKind::BadAnswer, m)),
            Err(e) => Err((classify(&e), e.to_string())),
        };
        let measured = t0 >= warm_end;
        match outcome {
            Ok(()) => {
                if measured {
                    let us = u64::try_from(t1.duration_since(t0).as_micros()).unwrap_or(u64::MAX);
                    r.hist.saturating_record(us.max(1));
                    r.ok += 1;
                    r.last_completion = t1;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Err((kind, msg)) => {
                let counts = if measured {
                    r.last_completion = t1;
                    &mut r.errors
                } else {
                    &mut r.warmup_errors
                };
                match kind {
                    ErrKind::Fault => counts.fault += 1,
                    ErrKind::Transport => counts.transport += 1,
                    ErrKind::BadAnswer => counts.bad_answer += 1,
                }
                if r.examples.len() < MAX_ERROR_EXAMPLES {
                    r.examples.push(msg);
                }
                if kind == ErrKind::Transport {
                    // Do not spin on a refused connection.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    Ok(r)
}

/// Runs one method at one client count: logins, a synchronised start, warm-up, the
/// measured window, logouts. `watch` is sampled throughout.
pub async fn run_scenario(
    target: &Target,
    cfg: &ScenarioConfig,
    watch: &Watch,
    multi: &MultiProgress,
) -> anyhow::Result<ScenarioResult> {
    let clients = login_all(target, cfg.clients, cfg.method.needs_hosts())
        .await
        .with_context(|| format!("logging in {} clients", cfg.clients))?;
    // Give every worker a moment to reach the start line together.
    let start = Instant::now() + Duration::from_millis(100);
    let warm_end = start + cfg.warmup;
    let end = warm_end + cfg.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = monitor::spawn_sampler(watch.clone(), warm_end, end, stop.clone())
        .context("cannot start the sampler thread")?;

    let done = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for c in clients {
        set.spawn(worker(c, cfg.method, warm_end, end, start, done.clone()));
    }

    let bar = multi.add(ProgressBar::new(
        u64::try_from((end - start).as_millis()).unwrap_or(u64::MAX),
    ));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>26} [{bar:30}] {elapsed:>3} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{} x{}", cfg.method, cfg.clients));
    let ticker = {
        let bar = bar.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let now = Instant::now();
                let n = done.load(Ordering::Relaxed);
                let rate = (n - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                last = (now, n);
                let phase = if now < warm_end {
                    "warm-up"
                } else {
                    "measuring"
                };
                bar.set_position(
                    u64::try_from(now.saturating_duration_since(start).as_millis())
                        .unwrap_or(u64::MAX),
                );
                bar.set_message(format!("{phase} {rate:>8.0} req/s"));
            }
        })
    };
    // Also taken when this future is dropped (interrupt): no sampler or ticker outlives it.
    let _cleanup = Cleanup {
        stop: stop.clone(),
        ticker: ticker.abort_handle(),
        bar: bar.clone(),
    };

    let mut hist = new_hist()?;
    let mut ok = 0;
    let mut errors = ErrorCounts::default();
    let mut warmup_errors = ErrorCounts::default();
    let mut examples: Vec<String> = Vec::new();
    let mut last = end;
    let mut finished = Vec::with_capacity(cfg.clients);
    let mut aborted_workers = 0;
    let deadline = tokio::time::Instant::from(end + FINISH_GRACE);
    let mut worker_failure = None;
    loop {
        match tokio::time::timeout_at(deadline, set.join_next()).await {
            Ok(Some(Ok(Ok(w)))) => {
                hist.add(&w.hist).context("merging histograms")?;
                ok += w.ok;
                errors.add(&w.errors);
                warmup_errors.add(&w.warmup_errors);
                for m in w.examples {
                    if examples.len() < MAX_ERROR_EXAMPLES && !examples.contains(&m) {
                        examples.push(m);
                    }
                }
                last = last.max(w.last_completion);
                finished.push(w.client);
            }
            Ok(Some(Ok(Err(e)))) => {
                worker_failure.get_or_insert(e);
            }
            Ok(Some(Err(e))) => {
                worker_failure.get_or_insert_with(|| anyhow::anyhow!("worker task: {e}"));
            }
            Ok(None) => break,
            Err(_) => {
                aborted_workers = set.len();
                tracing::warn!(
                    aborted_workers,
                    "workers still busy after the window; aborting them"
                );
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
        }
    }
    ticker.abort();
    stop.store(true, Ordering::Relaxed);
    let resources = match sampler.join() {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("the sampler thread panicked");
            Resources::default()
        }
    };
    bar.finish_and_clear();
    multi.remove(&bar);
    logout_all(finished).await;
    if let Some(e) = worker_failure {
        return Err(e);
    }
    Ok(ScenarioResult {
        method: cfg.method,
        clients: cfg.clients,
        ok,
        errors,
        warmup_errors,
        window: last.duration_since(warm_end),
        hist,
        resources,
        error_examples: examples,
        aborted_workers,
    })
}
