//! `kkoji-bench repodata`: kkoji-repodata against createrepo_c on the same synthetic RPMs
//! with the same number of workers.
//!
//! 1. **Full generation:** kkoji with an empty (cold) metadata cache, gzip and zstd, vs
//!    `createrepo_c --no-database` (kkoji writes no sqlite databases, so both write the
//!    same files).
//! 2. **Regeneration after one package changed:** one RPM is replaced by a new build
//!    (higher release, different content) in both repos, then kkoji regenerates with its
//!    warm cache and createrepo_c runs with `--update` (what kojid does when it can reuse
//!    the previous repo).
//!
//! Each figure is the median of `--runs` runs. After every run the uncompressed primary,
//! filelists and other of both tools are compared by their open-checksums in repomd.xml:
//! the speed is only worth something if the output is the one createrepo_c writes.

pub mod synth;

use crate::cli::RepodataArgs;
use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kkoji_repodata::{
    Compression, MetaCache, ReadPackagesOptions, WriteOptions, create_repo, find_rpms,
    read_packages, read_repomd, write_repo,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Timings of one measured variant.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub phase: &'static str,
    pub tool: String,
    pub runs_s: Vec<f64>,
    pub median_s: f64,
    /// createrepo_c's median over this one's, for the kkoji rows of a phase.
    pub speedup: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub packages: usize,
    pub workers: usize,
    pub runs: usize,
    pub rpm_bytes: u64,
    pub createrepo_c_version: String,
    pub rows: Vec<Row>,
    pub outputs_identical: bool,
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

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Runs the benchmark; Ok(false) when a target was missed or the outputs differ.
pub fn main(args: &RepodataArgs, multi: &MultiProgress) -> Result<bool> {
    let crc_version = createrepo_c_version()?;
    let (packages, runs) = (args.packages as usize, args.runs as usize);
    let workers = if args.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.workers
    };
    let _tmp;
    let work = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let t = tempfile::Builder::new()
                .prefix("kkoji-bench-repodata-")
                .tempdir()
                .context("creating a temporary directory")?;
            let p = t.path().to_path_buf();
            _tmp = t;
            p
        }
    };
    tracing::info!(dir = %work.display(), packages, workers, runs, "repodata benchmark");

    // 1. the packages, once, into a pool; both repos hard-link them (same inode, same mtime)
    let pool = work.join("pool");
    let paths = generate(&pool, packages, workers, multi)?;
    let rpm_bytes: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let repo_k = work.join("repo-kkoji");
    let repo_c = work.join("repo-createrepo_c");
    for repo in [&repo_k, &repo_c] {
        let _ = std::fs::remove_dir_all(repo);
        for p in &paths {
            link_into(&pool, p, repo)?;
        }
    }
    // A fresh, empty cache directory for every cold run. Deleting the previous one
    // instead would charge its deletion (thousands of files; on a filesystem mounted with
    // `discard` that is slow and lingers) to the next measured run.
    let caches = work.join("caches");
    let _ = std::fs::remove_dir_all(&caches);
    let mut warm: Option<PathBuf> = None;

    let bar = multi.add(ProgressBar::new((runs * 6) as u64));
    bar.set_style(style("{prefix:>10} [{bar:30}] {pos}/{len} {msg}"));
    bar.set_prefix("measuring");

    let mut full_k_gz = Vec::new();
    let mut full_k_zst = Vec::new();
    let mut full_c = Vec::new();
    let mut identical = true;
    for run in 0..runs {
        for (compression, out) in [
            (Compression::Zstd, &mut full_k_zst),
            (Compression::Gzip, &mut full_k_gz),
        ] {
            bar.set_message(format!("full: kkoji {compression:?}, cold cache"));
            let cache_dir = caches.join(format!("{run}-{compression:?}"));
            let _ = std::fs::remove_dir_all(repo_k.join("repodata"));
            settle();
            let t = Instant::now();
            kkoji(&repo_k, &cache_dir, workers, compression)?;
            if compression == Compression::Gzip {
                warm = Some(cache_dir);
            }
            out.push(t.elapsed().as_secs_f64());
            bar.inc(1);
        }
        bar.set_message("full: createrepo_c");
        let _ = std::fs::remove_dir_all(repo_c.join("repodata"));
        settle();
        full_c.push(createrepo_c(&repo_c, workers, false)?);
        bar.inc(1);
        identical &= same_content(&repo_k, &repo_c)?;
    }

    // 2. one package replaced by a new build, then regenerate. The kkoji cache is warm
    //    from the last full run; createrepo_c --update starts from its last repodata.
    let mut regen_k = Vec::new();
    let mut regen_loaded = Vec::new();
    let mut regen_c = Vec::new();
    let cache_dir = warm.context("no full gzip run left a cache")?;
    // fills the content-keyed chunk store the loaded path uses (not measured)
    kkoji_loaded(&repo_k, &cache_dir, workers)?;
    let mut rng = synth::Rng::new(42);
    for run in 0..runs {
        let i = rng.next_u64() as usize % packages;
        let old = paths_of(&repo_k, &synth::name(i))?;
        let new = synth::write_package(&pool, i, run as u32 + 1, packages)?;
        for repo in [&repo_k, &repo_c] {
            for o in &old {
                if let Ok(rel) = o.strip_prefix(&repo_k) {
                    let _ = std::fs::remove_file(repo.join(rel));
                }
            }
            link_into(&pool, &new, repo)?;
        }
        settle();
        bar.set_message("regen: kkoji (warm cache)");
        let t = Instant::now();
        let reads = kkoji(&repo_k, &cache_dir, workers, Compression::Gzip)?;
        regen_k.push(t.elapsed().as_secs_f64());
        if reads != 1 {
            tracing::warn!(reads, "the regeneration read more than the one changed RPM");
        }
        let fast = open_sums(&repo_k)?;
        bar.inc(1);
        settle();
        bar.set_message("regen: kkoji, all metadata loaded");
        let t = Instant::now();
        kkoji_loaded(&repo_k, &cache_dir, workers)?;
        regen_loaded.push(t.elapsed().as_secs_f64());
        settle();
        bar.set_message("regen: createrepo_c --update");
        regen_c.push(createrepo_c(&repo_c, workers, true)?);
        bar.inc(1);
        let same = same_content(&repo_k, &repo_c)? && fast == open_sums(&repo_c)?;
        if !same {
            tracing::error!(
                run,
                "kkoji's and createrepo_c's metadata differ after the update"
            );
        }
        identical &= same;
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&caches);

    let row = |phase, tool: &str, runs: Vec<f64>, base: Option<f64>| {
        let m = median(&runs);
        Row {
            phase,
            tool: tool.to_string(),
            median_s: m,
            speedup: base.map(|b| b / m),
            runs_s: runs,
        }
    };
    let c_full = median(&full_c);
    let c_regen = median(&regen_c);
    let report = Report {
        packages,
        workers,
        runs,
        rpm_bytes,
        createrepo_c_version: crc_version,
        rows: vec![
            row("full", "createrepo_c (gzip)", full_c, None),
            row("full", "kkoji gzip, cold cache", full_k_gz, Some(c_full)),
            row("full", "kkoji zstd, cold cache", full_k_zst, Some(c_full)),
            row("regen", "createrepo_c --update (gzip)", regen_c, None),
            row("regen", "kkoji gzip, warm cache", regen_k, Some(c_regen)),
            row(
                "regen",
                "kkoji read_packages+write_repo",
                regen_loaded,
                Some(c_regen),
            ),
        ],
        outputs_identical: identical,
    };
    println!("{}", render(&report));
    if let Some(path) = &args.json {
        let s = serde_json::to_string_pretty(&report).context("encoding the JSON report")?;
        std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("JSON written to {}", path.display());
    }
    Ok(report.outputs_identical && targets(&report).iter().all(|(ok, _)| *ok))
}

/// The targets: (met, description).
fn targets(r: &Report) -> Vec<(bool, String)> {
    let speed = |tool: &str| {
        r.rows
            .iter()
            .find(|x| x.tool == tool)
            .and_then(|x| x.speedup)
            .unwrap_or(0.0)
    };
    let full = speed("kkoji gzip, cold cache");
    let regen = speed("kkoji gzip, warm cache");
    vec![
        (
            full >= 1.0,
            format!("full generation no slower than createrepo_c        {full:.2}x"),
        ),
        (
            regen >= 10.0,
            format!("regeneration after one change >= 10x createrepo_c --update   {regen:.1}x"),
        ),
        (
            r.outputs_identical,
            "uncompressed primary/filelists/other identical to createrepo_c's after every run"
                .to_string(),
        ),
    ]
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "{} packages ({:.0} MiB of RPMs), {} workers, median of {} runs; {}\n",
        r.packages,
        r.rpm_bytes as f64 / (1 << 20) as f64,
        r.workers,
        r.runs,
        r.createrepo_c_version
    );
    out.push_str(&format!(
        "{:<6} {:<30} {:>9} {:>9} {:>9} {:>12}\n",
        "phase", "tool", "median s", "min s", "max s", "vs createrepo_c"
    ));
    for row in &r.rows {
        let min = row.runs_s.iter().copied().fold(f64::INFINITY, f64::min);
        let max = row.runs_s.iter().copied().fold(0.0, f64::max);
        let ratio = row
            .speedup
            .map_or_else(|| "1.00x".to_string(), |s| format!("{s:.2}x faster"));
        out.push_str(&format!(
            "{:<6} {:<30} {:>9.3} {:>9.3} {:>9.3} {:>12}\n",
            row.phase, row.tool, row.median_s, min, max, ratio
        ));
    }
    for (ok, what) in targets(r) {
        out.push_str(&format!("  {}  {what}\n", if ok { "PASS" } else { "MISS" }));
    }
    out
}

/// Flushes dirty pages (deleted caches, new RPMs, the previous run's output) so their
/// writeback is not charged to the next measured run.
fn settle() {
    nix::unistd::sync();
}

/// Builds the packages on `workers` threads with a progress bar.
fn generate(pool: &Path, n: usize, workers: usize, multi: &MultiProgress) -> Result<Vec<PathBuf>> {
    let _ = std::fs::remove_dir_all(pool);
    let bar = multi.add(ProgressBar::new(n as u64));
    bar.set_style(style(
        "{prefix:>10} [{bar:30}] {pos}/{len} RPMs {elapsed:>3}",
    ));
    bar.set_prefix("building");
    let t = Instant::now();
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<PathBuf>>> = Mutex::new(vec![None; n]);
    let first_err: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    match synth::write_package(pool, i, 0, n) {
                        Ok(p) => {
                            if let Ok(mut o) = out.lock() {
                                o[i] = Some(p);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = first_err.lock() {
                                f.get_or_insert(e);
                            }
                            next.store(n, Ordering::Relaxed);
                        }
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    let paths: Vec<PathBuf> = out
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a generator thread panicked"))?
        .into_iter()
        .flatten()
        .collect();
    tracing::info!(
        packages = paths.len(),
        secs = t.elapsed().as_secs_f64(),
        "built the RPMs"
    );
    Ok(paths)
}

/// Hard-links `path` (inside `pool`) to the same relative place in `repo`.
fn link_into(pool: &Path, path: &Path, repo: &Path) -> Result<()> {
    let rel = path
        .strip_prefix(pool)
        .with_context(|| format!("{} is not in {}", path.display(), pool.display()))?;
    let dst = repo.join(rel);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::hard_link(path, &dst)
        .with_context(|| format!("linking {} to {}", path.display(), dst.display()))
}

/// The RPM files of package `name` in `repo` (any version, any arch).
fn paths_of(repo: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for arch in ["x86_64", "noarch"] {
        let dir = repo.join(arch);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            // name-version-release.arch.rpm: the name is everything before the last two dashes
            let stem: Vec<&str> = f.rsplitn(3, '-').collect();
            if stem.len() == 3 && stem[2] == name {
                out.push(e.path());
            }
        }
    }
    if out.is_empty() {
        bail!("package {name} not found in {}", repo.display());
    }
    Ok(out)
}

/// One kkoji run over `repo` through the cache at `cache_dir`; returns how many RPMs were
/// actually read (not answered by the cache).
fn kkoji(repo: &Path, cache_dir: &Path, workers: usize, compression: Compression) -> Result<u64> {
    let t = Instant::now();
    let cache = MetaCache::open(cache_dir)?;
    let read = ReadPackagesOptions {
        cache: Some(&cache),
        workers,
        ..Default::default()
    };
    let write = WriteOptions {
        compression,
        ..Default::default()
    };
    create_repo(repo, &read, &write)?;
    tracing::debug!(
        secs = t.elapsed().as_secs_f64(),
        rpm_reads = cache.rpm_reads(),
        "kkoji run"
    );
    Ok(cache.rpm_reads())
}

/// The builder's path when it merges external repos: every package's metadata loaded
/// ([`read_packages`]), then [`write_repo`] with the content-keyed chunk store.
fn kkoji_loaded(repo: &Path, cache_dir: &Path, workers: usize) -> Result<()> {
    let cache = MetaCache::open(cache_dir)?;
    let read = ReadPackagesOptions {
        cache: Some(&cache),
        workers,
        ..Default::default()
    };
    let packages = read_packages(&find_rpms(repo)?, &read)?;
    write_repo(
        repo,
        &packages,
        &WriteOptions {
            chunk_cache: Some(cache_dir.join("chunks")),
            ..Default::default()
        },
    )?;
    Ok(())
}

fn createrepo_c_version() -> Result<String> {
    let out = Command::new("createrepo_c")
        .arg("--version")
        .output()
        .context("running createrepo_c --version (apt-get install createrepo-c)")?;
    if !out.status.success() {
        bail!("createrepo_c --version failed");
    }
    Ok(format!(
        "createrepo_c {}",
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_start_matches("Version: ")
    ))
}

/// Runs createrepo_c on `repo` and returns its wall time in seconds.
fn createrepo_c(repo: &Path, workers: usize, update: bool) -> Result<f64> {
    let mut cmd = Command::new("createrepo_c");
    cmd.args(["--quiet", "--no-database", "--workers"])
        .arg(workers.to_string());
    if update {
        cmd.arg("--update");
    }
    cmd.arg(repo);
    let t = Instant::now();
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(secs)
}

/// The open-checksums of primary, filelists and other in `dir`'s repomd.xml.
fn open_sums(dir: &Path) -> Result<Vec<Option<String>>> {
    let md = read_repomd(dir)?;
    Ok(["primary", "filelists", "other"]
        .iter()
        .map(|k| {
            md.record(k)
                .and_then(|r| r.open_checksum.clone())
                .map(|c| c.hex)
        })
        .collect())
}

/// Whether the two repos' primary, filelists and other have the same uncompressed
/// content (same open-checksums in repomd.xml).
fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let (x, y) = (open_sums(a)?, open_sums(b)?);
    let same = x == y && x.iter().all(Option::is_some);
    if !same {
        tracing::warn!("open-checksums differ between kkoji and createrepo_c");
    }
    Ok(same)
}
