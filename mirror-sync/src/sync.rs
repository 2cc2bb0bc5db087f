//! `sync`: one repo (one arch) from its upstream to a newly published tree.
//!
//! 1. repomd.xml from the first mirror that answers; identical to the last good sync's →
//!    done (one request).
//! 2. Its signature, when keys are configured.
//! 3. The metadata files it names, into the pool (verified), read with kkoji-repodata.
//! 4. The plan: which packages to fetch, which are new, updated, removed or kept.
//!    `--dry-run` stops here, having written nothing.
//! 5. Missing packages into the pool, in parallel, verified (and their signatures).
//! 6. A new tree of hard links with metadata naming only those files, switched in by one
//!    rename; state and log written last.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kkoji_repodata::{PackageMeta, RepoMd, RepoReadOptions, read_repo_with};
use serde::Serialize;

use crate::config::{Config, Instance};
use crate::download::{Downloader, Want};
use crate::filter;
use crate::gpg::Keyring;
use crate::mirrors;
use crate::pool::{Pool, Sum, sha256_bytes};
use crate::publish::{self, Layout, Metadata, safe_href};
use crate::state::{self, LogEntry, PkgEntry, RepoState};
use crate::transport::{Transport, join};

/// What the command line asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    /// `--delete`: packages that left upstream leave the mirror.
    pub delete: bool,
    /// Ignore the repomd.xml short-cut and check everything again.
    pub force: bool,
}

/// The result of one repo's sync (or, with `--dry-run`, what it would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub label: String,
    /// `unchanged`, `synced`, `planned`
    pub status: String,
    pub upstream_revision: String,
    pub download_count: usize,
    pub download_bytes: u64,
    pub added: Vec<String>,
    pub updated: Vec<String>,
    /// Deleted from the mirror (`--delete`).
    pub removed: Vec<String>,
    /// Left upstream but kept in the mirror (no `--delete`).
    pub kept: Vec<String>,
    pub metadata_changes: bool,
    pub published: Option<PathBuf>,
}

/// Shared by all repos of one run.
pub struct Ctx {
    pub cfg: Config,
    pub transport: Transport,
    pub progress: MultiProgress,
}

const MAX_REPOMD: usize = 16 << 20;

impl Ctx {
    pub fn new(cfg: Config) -> anyhow::Result<Ctx> {
        let transport = Transport::new(
            std::time::Duration::from_secs(cfg.timeout_secs),
            cfg.ca_file.as_deref(),
            None,
        )?;
        Ok(Ctx {
            cfg,
            transport,
            progress: MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()),
        })
    }
}

fn nevra(p: &PackageMeta) -> String {
    if p.epoch.is_empty() || p.epoch == "0" {
        format!("{}-{}-{}.{}", p.name, p.version, p.release, p.arch)
    } else {
        format!(
            "{}-{}:{}-{}.{}",
            p.name, p.epoch, p.version, p.release, p.arch
        )
    }
}

/// repomd.xml from the first mirror that has it; that mirror moves to the front.
async fn fetch_repomd(
    t: &Transport,
    mirrors: &[String],
    retries: u32,
) -> Result<(Vec<u8>, Vec<String>), String> {
    let mut errors = Vec::new();
    for round in 0..=retries {
        if round > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(250 << round.min(4))).await;
        }
        errors.clear();
        for (i, m) in mirrors.iter().enumerate() {
            let url = join(m, "repodata/repomd.xml");
            match t.fetch_bytes(&url, MAX_REPOMD).await {
                Ok(b) => {
                    let mut order = vec![m.clone()];
                    order.extend(
                        mirrors
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, u)| u.clone()),
                    );
                    return Ok((b, order));
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.iter().all(|e| e.permanent) {
            break;
        }
    }
    Err(format!(
        "repodata/repomd.xml: {}",
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

/// What of a repo's config decides the published tree besides upstream.
fn settings_of(inst: &Instance) -> String {
    serde_json::json!({
        "include": inst.include,
        "exclude": inst.exclude,
        "newest_only": inst.newest_only,
        "gpgcheck": inst.gpgcheck,
        "repo_gpgcheck": inst.repo_gpgcheck,
        "gpg_keys": inst.gpg_keys,
    })
    .to_string()
}

/// A checksum from metadata, refused when we cannot verify it.
fn want_of(href: &str, kind: &str, hex: &str, size: Option<u64>) -> Result<Want, String> {
    let sum = Sum::new(kind, hex);
    if !sum.is_supported() {
        return Err(format!(
            "{href}: checksum `{kind}:{hex}` cannot be verified (sha1, sha256, sha512 only)"
        ));
    }
    if !safe_href(href) {
        return Err(format!("{href}: not a relative path inside the repo"));
    }
    Ok(Want {
        href: href.to_owned(),
        sum,
        size,
    })
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>24} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// Syncs one repo. The error names the file it is about; the caller adds the label.
pub async fn sync_repo(ctx: &Ctx, inst: &Instance, opts: &Options) -> Result<Report, String> {
    let cfg = &ctx.cfg;
    let transport = ctx.transport.with_rate(inst.bandwidth_limit);
    let mirror_list = mirrors::resolve(
        &transport,
        &inst.urls,
        inst.mirrorlist.as_deref(),
        inst.metalink.as_deref(),
    )
    .await
    .map_err(|e| format!("no upstream mirror: {e}"))?;
    let (repomd_bytes, mirror_list) = fetch_repomd(&transport, &mirror_list, cfg.retries).await?;
    let first = mirror_list.first().cloned().unwrap_or_default();
    let repomd_url = join(&first, "repodata/repomd.xml");
    let repomd_sha = sha256_bytes(&repomd_bytes);
    tracing::debug!("{}: repomd.xml from {first}", inst.label);

    let old = state::load(&cfg.state_dir, &inst.label)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let layout = Layout::new(&inst.dest)?;
    let current = layout.current();
    let published_ok = current
        .as_ref()
        .is_some_and(|t| t.join("repodata/repomd.xml").is_file());
    let delete = opts.delete || inst.delete;
    let settings = settings_of(inst);
    if !opts.force
        && published_ok
        && old.repomd_sha256 == repomd_sha
        && old.settings == settings
        && (!delete || old.retained.is_empty())
    {
        return Ok(Report {
            label: inst.label.clone(),
            status: "unchanged".into(),
            upstream_revision: old.upstream_revision.clone(),
            ..Default::default()
        });
    }

    let md = RepoMd::parse(&repomd_bytes[..], Path::new(&repomd_url)).map_err(|e| e.to_string())?;
    let asc = if inst.repo_gpgcheck {
        let keys = Keyring::load(&inst.gpg_keys)?;
        let asc_url = join(&first, "repodata/repomd.xml.asc");
        let sig = transport
            .fetch_bytes(&asc_url, 1 << 20)
            .await
            .map_err(|e| format!("repodata/repomd.xml.asc: {e}"))?;
        keys.verify_detached(&repomd_bytes, &sig)
            .map_err(|e| format!("{repomd_url}: {e}"))?;
        tracing::debug!("{}: repomd.xml.asc verified", inst.label);
        Some(sig)
    } else {
        None
    };

    // metadata files: the real pool, or (dry run) a private temporary one
    let real_pool = Pool::new(&cfg.state_dir);
    let tmp = if opts.dry_run {
        Some(
            tempfile::Builder::new()
                .prefix("kkoji-mirror-dry-run-")
                .tempdir()
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let pool = match &tmp {
        Some(t) => Pool::new(t.path()),
        None => real_pool.clone(),
    };
    let dl = Downloader {
        transport: transport.clone(),
        pool: pool.clone(),
        mirrors: mirror_list.clone(),
        retries: cfg.retries,
    };
    let staging = match &tmp {
        Some(t) => t.path().join("staging"),
        None => state::repo_dir(&cfg.state_dir, &inst.label).join("staging"),
    };
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    }
    let mut md_files: Vec<(String, PathBuf)> = Vec::new();
    for r in &md.records {
        let want = want_of(&r.location_href, &r.checksum.kind, &r.checksum.hex, r.size)?;
        let path = if real_pool.has(&want.sum) {
            real_pool.path(&want.sum)
        } else {
            dl.fetch(&want, &|_| {}).await.map_err(|e| e.to_string())?
        };
        let link = staging.join(&want.href);
        if let Some(p) = link.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        std::os::unix::fs::symlink(&path, &link).map_err(|e| format!("{}: {e}", link.display()))?;
        md_files.push((want.href.clone(), path));
    }
    let staged_repomd = staging.join("repodata/repomd.xml");
    std::fs::write(&staged_repomd, &repomd_bytes)
        .map_err(|e| format!("{}: {e}", staged_repomd.display()))?;
    let upstream_all = read_repo_with(
        &staging,
        &RepoReadOptions {
            filelists: false,
            other: false,
        },
    )
    .map_err(|e| e.to_string())?;
    let upstream_count = upstream_all.len();
    tracing::debug!("{}: {upstream_count} packages upstream", inst.label);
    let mut chosen = filter::select(upstream_all, &inst.include, &inst.exclude, inst.newest_only);

    // the plan
    let mut wants: Vec<Want> = Vec::with_capacity(chosen.len());
    let mut new_hrefs: HashSet<String> = HashSet::new();
    for p in &chosen {
        let w = want_of(
            &p.location_href,
            &p.checksum_type,
            &p.checksum,
            Some(p.size_package),
        )?;
        if !new_hrefs.insert(w.href.clone()) {
            return Err(format!("{}: listed twice in primary metadata", w.href));
        }
        wants.push(w);
    }
    let foreign_base = chosen.iter().any(|p| p.location_base.is_some());
    let old_by_na: HashMap<(String, String), Vec<&PkgEntry>> =
        old.packages.values().fold(HashMap::new(), |mut m, e| {
            m.entry((e.name.clone(), e.arch.clone()))
                .or_default()
                .push(e);
            m
        });
    let new_na: HashSet<(String, String)> = chosen
        .iter()
        .map(|p| (p.name.clone(), p.arch.clone()))
        .collect();
    let mut report = Report {
        label: inst.label.clone(),
        upstream_revision: md.revision.clone(),
        ..Default::default()
    };
    for p in &chosen {
        if old.packages.contains_key(&p.location_href) {
            continue;
        }
        match old_by_na.get(&(p.name.clone(), p.arch.clone())) {
            Some(olds) if !olds.is_empty() => {
                let was = olds
                    .iter()
                    .map(|e| e.nevra.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                report.updated.push(format!("{was} -> {}", nevra(p)));
            }
            _ => report.added.push(nevra(p)),
        }
    }
    let mut retained: Vec<String> = Vec::new();
    let mut removed_sums: Vec<Sum> = Vec::new();
    for (href, e) in &old.packages {
        if new_hrefs.contains(href) {
            continue;
        }
        if delete {
            if !new_na.contains(&(e.name.clone(), e.arch.clone())) {
                report.removed.push(e.nevra.clone());
            }
            removed_sums.push(e.sum.clone());
        } else {
            retained.push(href.clone());
            report.kept.push(e.nevra.clone());
        }
    }
    let mut seen_sum = HashSet::new();
    let to_fetch: Vec<Want> = wants
        .iter()
        .filter(|w| !real_pool.has(&w.sum) && seen_sum.insert(w.sum.clone()))
        .cloned()
        .collect();
    report.download_count = to_fetch.len();
    report.download_bytes = to_fetch.iter().filter_map(|w| w.size).sum();
    let rewrite = chosen.len() != upstream_count || !retained.is_empty() || foreign_base;
    report.metadata_changes = old.repomd_sha256 != repomd_sha || rewrite || !published_ok;

    if opts.dry_run {
        report.status = "planned".into();
        return Ok(report);
    }

    // downloads
    if let Some(cur) = &current {
        // a tree we did not write (mrepo's): take what is already there without downloading
        for w in &to_fetch {
            real_pool.adopt_existing(&cur.join(&w.href), &w.sum, w.size);
        }
    }
    let to_fetch: Vec<Want> = to_fetch
        .into_iter()
        .filter(|w| !real_pool.has(&w.sum))
        .collect();
    let bar = ctx.progress.add(ProgressBar::new(
        to_fetch.iter().filter_map(|w| w.size).sum(),
    ));
    bar.set_style(bar_style());
    bar.set_prefix(inst.label.clone());
    let total = to_fetch.len();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    bar.set_message(format!("0/{total} pkgs"));
    let sem = Arc::new(tokio::sync::Semaphore::new(cfg.parallel));
    let mut set = tokio::task::JoinSet::new();
    for w in to_fetch {
        let dl = dl.clone();
        let sem = sem.clone();
        let bar = bar.clone();
        let done = done.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let b2 = bar.clone();
            let r = dl.fetch(&w, &move |n| b2.inc(n)).await;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.set_message(format!("{n}/{total} pkgs"));
            r
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("download task failed: {e}")),
        }
    }
    bar.finish_and_clear();
    ctx.progress.remove(&bar);
    if !failures.is_empty() {
        failures.sort();
        let n = failures.len();
        let shown = failures.into_iter().take(5).collect::<Vec<_>>().join("; ");
        return Err(format!("{n} of {total} downloads failed: {shown}"));
    }

    tracing::debug!("{}: downloads done", inst.label);
    if inst.gpgcheck {
        let keys = Arc::new(Keyring::load(&inst.gpg_keys)?);
        let check: Vec<(String, PathBuf)> = wants
            .iter()
            .filter(|w| !old.packages.contains_key(&w.href))
            .map(|w| (w.href.clone(), real_pool.path(&w.sum)))
            .collect();
        tokio::task::spawn_blocking(move || {
            for (href, path) in check {
                keys.verify_rpm(&path)
                    .map_err(|e| format!("{href}: package signature: {e}"))?;
            }
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| e.to_string())??;
    }

    // what the tree holds: upstream's chosen packages plus the retained ones
    let mut files: Vec<(String, PathBuf)> = wants
        .iter()
        .map(|w| (w.href.clone(), real_pool.path(&w.sum)))
        .collect();
    let mut entries: BTreeMap<String, PkgEntry> = BTreeMap::new();
    for p in &chosen {
        entries.insert(
            p.location_href.clone(),
            PkgEntry {
                name: p.name.clone(),
                arch: p.arch.clone(),
                nevra: nevra(p),
                sum: Sum::new(&p.checksum_type, &p.checksum),
                size: p.size_package,
            },
        );
    }
    for href in &retained {
        if let Some(e) = old.packages.get(href) {
            let pooled = real_pool.path(&e.sum);
            if !pooled.is_file() {
                if let Some(cur) = &current {
                    real_pool.adopt_existing(&cur.join(href), &e.sum, Some(e.size));
                }
                if !pooled.is_file() {
                    return Err(format!(
                        "{href}: kept from an earlier sync but missing from the pool ({})",
                        pooled.display()
                    ));
                }
            }
            files.push((href.clone(), pooled));
            entries.insert(href.clone(), e.clone());
        }
    }

    let metadata = if rewrite {
        // full metadata of everything published: upstream's (filelists, changelogs) and
        // the retained packages' from the tree published last time
        let full =
            read_repo_with(&staging, &RepoReadOptions::default()).map_err(|e| e.to_string())?;
        let keep: HashSet<&String> = new_hrefs.iter().collect();
        let mut pkgs: Vec<PackageMeta> = full
            .into_iter()
            .filter(|p| keep.contains(&p.location_href))
            .collect();
        if !retained.is_empty() {
            let cur = current
                .as_ref()
                .ok_or_else(|| "retained packages but no published tree".to_string())?;
            let prev =
                read_repo_with(cur, &RepoReadOptions::default()).map_err(|e| e.to_string())?;
            let want: HashSet<&String> = retained.iter().collect();
            pkgs.extend(prev.into_iter().filter(|p| want.contains(&p.location_href)));
        }
        for p in &mut pkgs {
            p.location_base = None;
        }
        chosen.clear();
        let groups = md.record("group").map(|r| staging.join(&r.location_href));
        Metadata::Rewrite {
            packages: pkgs,
            groups,
        }
    } else {
        Metadata::Verbatim {
            repomd: repomd_bytes.clone(),
            asc,
            files: md_files,
        }
    };

    tracing::debug!("{}: publishing", inst.label);
    let generation = old.generation + 1;
    let tree = publish::publish(&layout, generation, &files, metadata)?;
    publish::remove_old_trees(&layout, &tree);
    let _ = std::fs::remove_dir_all(&staging);
    for s in &removed_sums {
        let _ = real_pool.remove_if_unlinked(s);
    }
    let upstream_timestamp = md.records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let now = state::now();
    let st = RepoState {
        label: inst.label.clone(),
        dest: inst.dest.clone(),
        last_good: Some(now.clone()),
        repomd_sha256: repomd_sha,
        upstream_revision: md.revision.clone(),
        upstream_timestamp,
        generation,
        settings,
        packages: entries,
        retained,
        last_attempt: Some(now),
        last_error: None,
    };
    state::save(&cfg.state_dir, &st).map_err(|e| format!("state: {e}"))?;
    report.status = "synced".into();
    report.published = Some(tree);
    Ok(report)
}

/// Runs `sync` for every selected repo; one repo's failure does not stop the others.
/// Returns the reports and the failed (label, error) pairs.
pub async fn sync_all(
    ctx: &Ctx,
    insts: &[Instance],
    opts: &Options,
) -> (Vec<Report>, Vec<(String, String)>) {
    let overall = ctx.progress.add(ProgressBar::new(insts.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} repos {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    overall.set_prefix("overall");
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for inst in insts {
        overall.set_message(inst.label.clone());
        let started = state::now();
        let res = sync_repo(ctx, inst, opts).await;
        if !opts.dry_run {
            record(ctx, inst, &started, &res);
        }
        match res {
            Ok(r) => {
                tracing::info!(
                    "{}: {} ({} downloaded, {} bytes)",
                    r.label,
                    r.status,
                    r.download_count,
                    r.download_bytes
                );
                reports.push(r);
            }
            Err(e) => {
                tracing::error!("{}: sync failed: {e}", inst.label);
                failed.push((inst.label.clone(), e));
            }
        }
        overall.inc(1);
    }
    overall.finish_and_clear();
    (reports, failed)
}

/// The log line (and, on failure, the state's last error) of one attempt.
fn record(ctx: &Ctx, inst: &Instance, started: &str, res: &Result<Report, String>) {
    let dir = &ctx.cfg.state_dir;
    let entry = match res {
        Ok(r) => LogEntry {
            time: started.to_owned(),
            label: inst.label.clone(),
            ok: true,
            error: None,
            unchanged: r.status == "unchanged",
            upstream_revision: r.upstream_revision.clone(),
            upstream_timestamp: state::load(dir, &inst.label)
                .ok()
                .flatten()
                .map(|s| s.upstream_timestamp)
                .unwrap_or(0),
            added: r.added.clone(),
            removed: r.removed.clone(),
            updated: r.updated.clone(),
            downloaded: r.download_count,
            bytes: r.download_bytes,
            snapshot: None,
        },
        Err(e) => {
            let mut st = state::load(dir, &inst.label)
                .ok()
                .flatten()
                .unwrap_or_else(|| RepoState {
                    label: inst.label.clone(),
                    dest: inst.dest.clone(),
                    ..Default::default()
                });
            st.last_attempt = Some(started.to_owned());
            st.last_error = Some(e.clone());
            if let Err(err) = state::save(dir, &st) {
                tracing::warn!("{}: cannot save state: {err}", inst.label);
            }
            LogEntry {
                time: started.to_owned(),
                label: inst.label.clone(),
                ok: false,
                error: Some(e.clone()),
                ..Default::default()
            }
        }
    };
    if let Err(err) = state::append_log(dir, &entry) {
        tracing::warn!("{}: cannot write the sync log: {err}", inst.label);
    }
}

/// `status`: one line per repo, configured or not.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub label: String,
    pub configured: bool,
    pub dest: PathBuf,
    pub last_good: Option<String>,
    pub last_attempt: Option<String>,
    pub last_error: Option<String>,
    pub upstream_revision: String,
    pub upstream_timestamp: i64,
    pub packages: usize,
    pub kept: usize,
}

pub fn status(cfg: &Config) -> Vec<StatusRow> {
    let insts = cfg.instances();
    let mut labels: Vec<String> = insts.iter().map(|i| i.label.clone()).collect();
    for l in state::known_labels(&cfg.state_dir) {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let inst = insts.iter().find(|i| i.label == label);
            let st = state::load(&cfg.state_dir, &label).ok().flatten();
            StatusRow {
                configured: inst.is_some(),
                dest: inst
                    .map(|i| i.dest.clone())
                    .or_else(|| st.as_ref().map(|s| s.dest.clone()))
                    .unwrap_or_default(),
                last_good: st.as_ref().and_then(|s| s.last_good.clone()),
                last_attempt: st.as_ref().and_then(|s| s.last_attempt.clone()),
                last_error: st.as_ref().and_then(|s| s.last_error.clone()),
                upstream_revision: st
                    .as_ref()
                    .map(|s| s.upstream_revision.clone())
                    .unwrap_or_default(),
                upstream_timestamp: st.as_ref().map(|s| s.upstream_timestamp).unwrap_or(0),
                packages: st.as_ref().map(|s| s.packages.len()).unwrap_or(0),
                kept: st.as_ref().map(|s| s.retained.len()).unwrap_or(0),
                label,
            }
        })
        .collect()
}

/// `prune LABEL`: removes a repo that left the config — its published tree, old
/// generations, state and log, and pool files nothing else links to. Snapshots stay.
pub fn prune(cfg: &Config, label: &str) -> Result<Vec<PathBuf>, String> {
    if cfg.instances().iter().any(|i| i.label == label) {
        return Err(format!(
            "{label} is still in {}: remove it from the config first",
            cfg.source.display()
        ));
    }
    let st = state::load(&cfg.state_dir, label)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{label}: no such mirrored repo"))?;
    let layout = Layout::new(&st.dest)?;
    let mut removed = Vec::new();
    if std::fs::symlink_metadata(&layout.dest).is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(&layout.dest)
            .map_err(|e| format!("{}: {e}", layout.dest.display()))?;
        removed.push(layout.dest.clone());
    }
    let trees = layout.trees();
    if trees.exists() {
        std::fs::remove_dir_all(&trees).map_err(|e| format!("{}: {e}", trees.display()))?;
        removed.push(trees);
    }
    let pool = Pool::new(&cfg.state_dir);
    for e in st.packages.values() {
        let _ = pool.remove_if_unlinked(&e.sum);
    }
    let dir = state::repo_dir(&cfg.state_dir, label);
    std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    removed.push(dir);
    Ok(removed)
}

/// `snapshot LABEL NAME`: freezes the published tree as `RPMS.os.snapshots/<date>-NAME/`.
pub fn snapshot(cfg: &Config, label: &str, name: &str) -> Result<PathBuf, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'))
        || name.starts_with('.')
    {
        return Err(format!(
            "snapshot name `{name}`: letters, digits, _ . + - only"
        ));
    }
    let inst = cfg
        .instances()
        .into_iter()
        .find(|i| i.label == label)
        .ok_or_else(|| format!("{label}: not a configured repo"))?;
    let layout = Layout::new(&inst.dest)?;
    let cur = layout
        .current()
        .ok_or_else(|| format!("{label}: nothing published yet (run sync first)"))?;
    let date = chrono::Utc::now().format("%Y-%m-%d");
    let dst = layout.snapshots().join(format!("{date}-{name}"));
    if dst.exists() {
        return Err(format!("{}: already exists", dst.display()));
    }
    publish::link_tree(&cur, &dst)?;
    let entry = LogEntry {
        time: state::now(),
        label: label.to_owned(),
        ok: true,
        snapshot: Some(dst.display().to_string()),
        ..Default::default()
    };
    state::append_log(&cfg.state_dir, &entry).map_err(|e| e.to_string())?;
    Ok(dst)
}

/// Absolute file URL of a path, for messages and registration.
pub fn file_url(p: &Path) -> String {
    format!("file://{}/", p.display())
}
