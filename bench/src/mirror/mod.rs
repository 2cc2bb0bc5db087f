//! `kkoji-bench mirror`: kkoji-mirror-sync against `dnf reposync` (Debian's dnf +
//! dnf-plugins-core) on the same upstream, served on loopback by the same HTTP server.
//!
//! 1. **Full sync** into an empty mirror: `kkoji-mirror-sync sync` vs
//!    `dnf reposync --download-metadata` (both end with the packages and a usable
//!    repodata/), each run into fresh directories (and a fresh dnf cache).
//! 2. **No-op resync**: the same command again with nothing changed upstream.
//!
//! Each figure is the median of `--runs` runs. Targets: full sync ≥ 2× faster than
//! reposync; no-op resync under 0.5 s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::Full;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

#[derive(Args, Debug, Clone)]
pub struct MirrorArgs {
    /// Packages in the upstream repo (small synthetic RPMs).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub packages: u64,

    /// Runs per variant; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub runs: u64,

    /// Parallel downloads of kkoji-mirror-sync (reposync has no such setting).
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,

    /// The kkoji-mirror-sync binary (default: next to this one; build it with
    /// `cargo build --release -p kkoji-mirror-sync`).
    #[arg(long, value_name = "FILE")]
    pub mirror_bin: Option<PathBuf>,

    /// Working directory (kept; default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub phase: &'static str,
    pub tool: &'static str,
    pub runs_s: Vec<f64>,
    pub median_s: f64,
    pub requests: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub packages: usize,
    pub upstream_bytes: u64,
    pub rows: Vec<Row>,
    pub full_speedup: f64,
    pub noop_s: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// A static file server (HTTP/1.1 keep-alive) over `root`, counting requests.
fn serve(root: PathBuf, counter: Arc<AtomicU64>) -> Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    std::thread::Builder::new()
        .name("bench-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("bench http server: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                let root = Arc::new(root);
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (root, counter) = (root.clone(), counter.clone());
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                let (root, counter) = (root.clone(), counter.clone());
                                async move {
                                    counter.fetch_add(1, Ordering::Relaxed);
                                    let rel = req.uri().path().trim_start_matches('/').to_owned();
                                    let ok = !rel.split('/').any(|c| c == "..");
                                    let data = if ok {
                                        tokio::fs::read(root.join(&rel)).await.ok()
                                    } else {
                                        None
                                    };
                                    let resp = match data {
                                        Some(d) => hyper::Response::new(Full::new(Bytes::from(d))),
                                        None => {
                                            let mut r =
                                                hyper::Response::new(Full::new(Bytes::new()));
                                            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                                            r
                                        }
                                    };
                                    Ok::<_, Infallible>(resp)
                                }
                            },
                        );
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    });
                }
            });
        })?;
    Ok(addr)
}

fn mirror_bin(args: &MirrorArgs) -> Result<PathBuf> {
    crate::tool_bin(
        args.mirror_bin.as_ref(),
        "kkoji-mirror-sync",
        "--mirror-bin",
    )
}

fn run(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(secs)
}

fn count_rpms(dir: &Path) -> usize {
    fn walk(d: &Path, n: &mut usize) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, n);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

pub fn main(args: &MirrorArgs, multi: &MultiProgress) -> Result<bool> {
    let bin = mirror_bin(args)?;
    let packages = usize::try_from(args.packages).context("--packages")?;
    let runs = usize::try_from(args.runs).context("--runs")?;
    let _tmp;
    let work = match &args.dir {
        Some(d) => d.clone(),
        None => {
            _tmp = tempfile::Builder::new()
                .prefix("kkoji-bench-mirror-")
                .tempdir()?;
            _tmp.path().to_path_buf()
        }
    };
    let up = work.join("upstream");
    std::fs::create_dir_all(&up)?;
    let bar = multi.add(ProgressBar::new(args.packages));
    bar.set_style(
        ProgressStyle::with_template("{msg:>20} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("upstream RPMs");
    let mut upstream_bytes = 0u64;
    for i in 0..packages {
        let p = crate::repodata::synth::write_package(&up, i, 0, packages)?;
        upstream_bytes += std::fs::metadata(&p)?.len();
        bar.inc(1);
    }
    bar.finish_and_clear();
    let st = Command::new("createrepo_c")
        .args(["-q", "--no-database"])
        .arg(&up)
        .status()
        .context("createrepo_c (Debian: createrepo-c)")?;
    if !st.success() {
        bail!("createrepo_c failed");
    }
    let counter = Arc::new(AtomicU64::new(0));
    let addr = serve(up.clone(), counter.clone())?;
    let url = format!("http://{addr}/");
    tracing::info!("upstream: {packages} packages, {upstream_bytes} bytes at {url}");

    let mut rows = Vec::new();
    let (mut k_full, mut k_noop, mut r_full, mut r_noop) = (vec![], vec![], vec![], vec![]);
    let (mut k_full_req, mut k_noop_req, mut r_full_req, mut r_noop_req) = (0, 0, 0, 0);
    for run_i in 0..runs {
        // kkoji-mirror-sync
        let dir = work.join(format!("kkoji-{run_i}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let cfg = dir.join("mirror.toml");
        std::fs::write(
            &cfg,
            format!(
                "www_dir = \"{}\"\nparallel = {}\n[[repo]]\ndist = \"bench\"\narches = [\"x86_64\"]\nurls = [\"{url}\"]\n",
                dir.join("www").display(),
                args.parallel
            ),
        )?;
        let k = |c: &mut Command| {
            c.arg("-c")
                .arg(&cfg)
                .arg("sync")
                .env("KKOJI_LOG", "warn")
                .stdout(std::process::Stdio::null());
        };
        counter.store(0, Ordering::SeqCst);
        let mut c = Command::new(&bin);
        k(&mut c);
        k_full.push(run(&mut c)?);
        k_full_req = counter.swap(0, Ordering::SeqCst);
        let got = count_rpms(&dir.join("www/bench-x86_64/RPMS.os/"));
        if got != packages {
            bail!("kkoji-mirror-sync mirrored {got} of {packages} packages");
        }
        let mut c = Command::new(&bin);
        k(&mut c);
        k_noop.push(run(&mut c)?);
        k_noop_req = counter.swap(0, Ordering::SeqCst);

        // dnf reposync
        let rdir = work.join(format!("reposync-{run_i}"));
        let _ = std::fs::remove_dir_all(&rdir);
        std::fs::create_dir_all(&rdir)?;
        let r = |c: &mut Command| {
            c.arg("-q")
                .arg("--disablerepo=*")
                .arg("--setopt=reposdir=/nonexistent")
                .arg(format!(
                    "--setopt=cachedir={}",
                    rdir.join("cache").display()
                ))
                .arg(format!("--repofrompath=up,{url}"))
                .arg("--enablerepo=up")
                .arg("--releasever=1")
                .arg("reposync")
                .arg("--download-metadata")
                .arg(format!("--download-path={}", rdir.join("out").display()))
                .stdout(std::process::Stdio::null());
        };
        let mut c = Command::new("dnf");
        r(&mut c);
        r_full.push(run(&mut c).context("dnf reposync (Debian: dnf-plugins-core)")?);
        r_full_req = counter.swap(0, Ordering::SeqCst);
        let got = count_rpms(&rdir.join("out"));
        if got != packages {
            bail!("dnf reposync mirrored {got} of {packages} packages");
        }
        let mut c = Command::new("dnf");
        r(&mut c);
        r_noop.push(run(&mut c)?);
        r_noop_req = counter.swap(0, Ordering::SeqCst);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&rdir);
    }
    for (phase, tool, v, req) in [
        ("full sync", "kkoji-mirror-sync", &k_full, k_full_req),
        ("full sync", "dnf reposync", &r_full, r_full_req),
        ("no-op resync", "kkoji-mirror-sync", &k_noop, k_noop_req),
        ("no-op resync", "dnf reposync", &r_noop, r_noop_req),
    ] {
        rows.push(Row {
            phase,
            tool,
            runs_s: v.clone(),
            median_s: median(v),
            requests: req,
        });
    }
    let full_speedup = median(&r_full) / median(&k_full).max(1e-9);
    let noop_s = median(&k_noop);
    let report = Report {
        packages,
        upstream_bytes,
        rows,
        full_speedup,
        noop_s,
    };
    println!(
        "kkoji-bench mirror: {} packages ({:.1} MB) on loopback, median of {runs} runs",
        packages,
        upstream_bytes as f64 / 1e6
    );
    println!(
        "{:<14} {:<18} {:>9} {:>9}",
        "phase", "tool", "median s", "requests"
    );
    for r in &report.rows {
        println!(
            "{:<14} {:<18} {:>9.3} {:>9}",
            r.phase, r.tool, r.median_s, r.requests
        );
    }
    let full_ok = full_speedup >= 2.0;
    let noop_ok = noop_s < 0.5;
    println!(
        "full sync: kkoji-mirror-sync is {full_speedup:.2}x faster than dnf reposync (target >= 2x: {})",
        if full_ok { "met" } else { "MISSED" }
    );
    println!(
        "no-op resync: {noop_s:.3} s (target < 0.5 s: {})",
        if noop_ok { "met" } else { "MISSED" }
    );
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(full_ok && noop_ok)
}
