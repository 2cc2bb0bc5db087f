//! `kkoji-bench backup`: kkoji-backup against `duplicity --no-encryption` (what the farm ran
//! before) on the same synthetic scratch tree, in the same run:
//!
//! 1. **Full backup** of a tree of `--files` files (build logs and other small task files
//!    under `work/tasks/N/ID/`) plus `--rpms` large RPMs that both tools exclude
//!    (`**/*.rpm`).
//! 2. **Incremental** after 1% of the files changed (appended to, as growing logs are).
//! 3. **Full restore** of the latest point (full + incremental) into an empty directory.
//!
//! Times and archive sizes (everything each tool wrote to its target, manifests and
//! signatures included) are printed with the ratios. Both restores are checked against the
//! tree (file count and bytes), so neither side wins by skipping work. Both tools run as
//! their own processes, as an operator runs them (`kkoji-backup` from next to this
//! executable): neither starts on memory the bench already touched.
//!
//! Each time runs until the tool's output is durable: kkoji-backup fsyncs its archives and
//! ends a restore with one `syncfs`; after duplicity the bench fsyncs the files it wrote
//! (backups) or calls `syncfs` on the restored tree's filesystem (restore), inside the timing.
//! CPU seconds (user + system, of the process or of the duplicity child) are printed too:
//! on a shared machine they move less than wall times.
//!
//! Last, the floor (floor.rs): the same tree made from memory, with no archive to read,
//! timed the same way. Duplicity's restore time over it is the ratio a restore that did
//! nothing but make the tree would reach on this filesystem and machine, in this run.
//!
//! Before each timed step the bench flushes the work directory's filesystem (`syncfs`,
//! untimed): otherwise the first durable write of a step waits for the writeback of the
//! trees the bench generated (both copies, RPMs included) or of the other tool's output,
//! and the tool that happens to run first pays for it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::MultiProgress;
use serde::Serialize;

mod floor;

#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    /// Files in the scratch tree (without the RPMs).
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(10..=2_000_000))]
    pub files: u64,
    /// Large RPMs in the tree (excluded by both tools).
    #[arg(long, default_value_t = 20)]
    pub rpms: u64,
    /// Size of each RPM in MiB.
    #[arg(long, default_value_t = 8)]
    pub rpm_mib: u64,
    /// Working directory, kept afterwards (default: a temporary directory in $TMPDIR,
    /// removed afterwards). A tmpfs such as /dev/shm measures the tools rather than the disk.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Skip duplicity (kkoji-backup alone).
    #[arg(long)]
    pub no_duplicity: bool,
    /// kkoji-backup's zstd level for the full archive (default: its own default).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub zstd_level: Option<i32>,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The kkoji-backup binary (default: next to this one; build it with
    /// `cargo build --release -p kkoji-backup`).
    #[arg(long, value_name = "FILE")]
    pub backup_bin: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ToolResult {
    pub full_s: f64,
    pub incremental_s: f64,
    pub restore_s: f64,
    /// CPU seconds (user + system) of the same steps.
    pub full_cpu_s: f64,
    pub incremental_cpu_s: f64,
    pub restore_cpu_s: f64,
    pub full_bytes: u64,
    pub incremental_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub files: u64,
    pub tree_bytes: u64,
    pub excluded_rpm_bytes: u64,
    pub changed_files: u64,
    /// kkoji-backup's zstd level for the full archive.
    pub zstd_level: i32,
    pub kkoji: ToolResult,
    pub duplicity: Option<ToolResult>,
    pub duplicity_version: Option<String>,
    /// Seconds to make the restored tree from memory (floor.rs), until durable; none for a
    /// tree over [`floor::MAX_BYTES`].
    pub floor_s: Option<f64>,
}

/// A tiny PRNG (xorshift) so the tree is the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: [&str; 24] = [
    "checking",
    "for",
    "gcc",
    "yes",
    "no",
    "Building",
    "RPM",
    "install",
    "/usr/lib64",
    "make[1]:",
    "Entering",
    "directory",
    "warning:",
    "-O2",
    "-g",
    "BUILDROOT",
    "Processing",
    "files:",
    "Requires:",
    "Provides:",
    "Wrote:",
    "Executing(%build):",
    "+",
    "exit",
];

/// Log-like text: lines of words and numbers (compresses like real build logs).
fn log_text(rng: &mut Rng, bytes: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0) + 128);
    let target = usize::try_from(bytes).unwrap_or(0);
    while out.len() < target {
        let words = 3 + rng.below(10);
        for _ in 0..words {
            let w = WORDS[usize::try_from(rng.below(24)).unwrap_or(0)];
            out.extend_from_slice(w.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(format!("{}\n", rng.below(100_000)).as_bytes());
    }
    out
}

fn noise(rng: &mut Rng, bytes: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0) + 8);
    let target = usize::try_from(bytes).unwrap_or(0);
    while v.len() < target {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(target);
    v
}

const PER_TASK: [(&str, u64); 5] = [
    ("build.log", 12_000),
    ("root.log", 4_000),
    ("state.log", 600),
    ("mock_output.log", 300),
    ("hw_info.log", 900),
];

/// The scratch tree; returns (bytes without RPMs, RPM bytes).
fn make_tree(tree: &Path, args: &BackupArgs) -> Result<(u64, u64)> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let tasks = args.files.div_ceil(PER_TASK.len() as u64);
    let mut written = 0u64;
    let mut bytes = 0u64;
    for t in 0..tasks {
        let id = 100_000 + t;
        let dir = tree.join(format!("work/tasks/{}/{id}", id % 10000));
        fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
        for (name, avg) in PER_TASK {
            if written >= args.files {
                break;
            }
            let size = avg / 2 + rng.below(avg);
            let data = log_text(&mut rng, size);
            fs::write(dir.join(name), &data)?;
            bytes += data.len() as u64;
            written += 1;
        }
    }
    let mut rpm_bytes = 0u64;
    for i in 0..args.rpms {
        let id = 100_000 + rng.below(tasks);
        let p = tree.join(format!(
            "work/tasks/{}/{id}/pkg{i}-1.0-1.x86_64.rpm",
            id % 10000
        ));
        let data = noise(&mut rng, args.rpm_mib << 20);
        fs::write(&p, &data)?;
        rpm_bytes += data.len() as u64;
    }
    Ok((bytes, rpm_bytes))
}

/// 1% of the files get lines appended, in a later second than the backup before: duplicity
/// compares whole-second mtimes, and on a small tree a change in the same second as its
/// full backup went unseen (its restore then lacked the appended lines).
fn change_one_percent(tree: &Path, args: &BackupArgs) -> Result<u64> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    std::thread::sleep(std::time::Duration::from_nanos(u64::from(
        1_000_000_000 - since_epoch.subsec_nanos(),
    )));
    let mut rng = Rng(0x0dd_ba11);
    let tasks = args.files.div_ceil(PER_TASK.len() as u64);
    let n = (args.files / 100).max(1);
    let mut changed = std::collections::BTreeSet::new();
    while (changed.len() as u64) < n {
        let id = 100_000 + rng.below(tasks);
        let name = PER_TASK[usize::try_from(rng.below(PER_TASK.len() as u64)).unwrap_or(0)].0;
        let p = tree.join(format!("work/tasks/{}/{id}/{name}", id % 10000));
        if p.exists() && changed.insert(p.clone()) {
            let mut data = fs::read(&p)?;
            data.extend_from_slice(&log_text(&mut rng, 2_000));
            fs::write(&p, &data)?;
        }
    }
    Ok(changed.len() as u64)
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// (files, bytes) of regular files, RPMs left out.
fn tree_stats(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(m) = fs::symlink_metadata(e.path()) else {
                continue;
            };
            if m.is_dir() {
                let (f, b) = tree_stats(&e.path());
                files += f;
                bytes += b;
            } else if m.is_file() && !e.file_name().to_string_lossy().ends_with(".rpm") {
                files += 1;
                bytes += m.len();
            }
        }
    }
    (files, bytes)
}

/// CPU time of this process and its reaped children, in seconds.
fn cpu_now() -> f64 {
    let ticks = crate::procfs::read_stat(i32::try_from(std::process::id()).unwrap_or(0))
        .map(|s| s.total_ticks())
        .unwrap_or(0);
    ticks as f64 / crate::procfs::clock_ticks_per_sec().max(1) as f64
}

/// (value, wall seconds, CPU seconds)
fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64, f64)> {
    let c = cpu_now();
    let t = Instant::now();
    let v = f()?;
    Ok((v, t.elapsed().as_secs_f64(), cpu_now() - c))
}

/// fsync of every file under `dir` and of the directories: what duplicity wrote becomes as
/// durable as kkoji-backup's archives (which it fsyncs itself).
fn fsync_tree(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir)?.flatten() {
        let p = e.path();
        if e.file_type()?.is_dir() {
            fsync_tree(&p)?;
        } else {
            fs::File::open(&p)?.sync_all()?;
        }
    }
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// `syncfs` of the filesystem holding `p`.
fn syncfs(p: &Path) -> Result<()> {
    let f = fs::File::open(p)?;
    nix::unistd::syncfs(&f).with_context(|| format!("syncfs {}", p.display()))
}

/// (value, wall seconds, CPU seconds) of `f`, started with nothing of the bench's own left
/// to write back on `work`'s filesystem.
fn settled_timed<T>(work: &Path, f: impl FnOnce() -> Result<T>) -> Result<(T, f64, f64)> {
    syncfs(work)?;
    timed(f)
}

/// One `kkoji-backup` command with the bench's empty config, its backup root and tree.
fn kkoji(
    bin: &Path,
    sub: &str,
    conf: &Path,
    root: &Path,
    tree: &Path,
    more: &[&str],
) -> Result<()> {
    let out = Command::new(bin)
        .arg(sub)
        .arg("--config")
        .arg(conf)
        .arg("--backup-root")
        .arg(root)
        .arg("--scratch-tree")
        .arg(tree)
        .args(more)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "kkoji-backup {sub} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn run_kkoji(
    work: &Path,
    tree: &Path,
    args: &BackupArgs,
    incr: &mut dyn FnMut() -> Result<()>,
) -> Result<ToolResult> {
    use kkoji_backup::manifest;
    // run as an operator does, a fresh process per step, as duplicity is run
    let bin = crate::tool_bin(args.backup_bin.as_ref(), "kkoji-backup", "--backup-bin")?;
    let root = work.join("kkoji-backups");
    let conf = work.join("empty.toml");
    fs::write(&conf, "")?;
    let level = args.zstd_level.map(|l| l.to_string());
    let run_args: Vec<&str> = match &level {
        Some(l) => vec!["--zstd-level", l.as_str()],
        None => Vec::new(),
    };
    let mut r = ToolResult::default();
    let (_, t, c) = settled_timed(work, || kkoji(&bin, "run", &conf, &root, tree, &run_args))?;
    (r.full_s, r.full_cpu_s) = (t, c);
    r.full_bytes = dir_bytes(&manifest::ephemeral_dir(&root));
    incr()?;
    let (_, t, c) = settled_timed(work, || kkoji(&bin, "run", &conf, &root, tree, &run_args))?;
    let runs = manifest::run_ids(&root)?;
    let newest = runs.last().context("kkoji-backup recorded no run")?;
    if runs.len() != 2 || manifest::read(&root, newest)?.kind != manifest::RunKind::Incremental {
        bail!("kkoji-backup's second run was not incremental (runs: {runs:?})");
    }
    (r.incremental_s, r.incremental_cpu_s) = (t, c);
    r.incremental_bytes = dir_bytes(&manifest::ephemeral_dir(&root)) - r.full_bytes;
    let target = work.join("kkoji-restored");
    let into = target.display().to_string();
    // a restore ends with a syncfs of the target's filesystem
    let (_, t, c) = settled_timed(work, || {
        kkoji(
            &bin,
            "restore",
            &conf,
            &root,
            tree,
            &["--tree-into", into.as_str()],
        )
    })?;
    (r.restore_s, r.restore_cpu_s) = (t, c);
    check_restore("kkoji-backup", tree, &target)?;
    Ok(r)
}

fn check_restore(tool: &str, tree: &Path, restored: &Path) -> Result<()> {
    let want = tree_stats(tree);
    let got = tree_stats(restored);
    if want != got {
        bail!("{tool} restored {got:?} (files, bytes), the tree has {want:?}");
    }
    Ok(())
}

fn duplicity(args: &[&str], work: &Path) -> Result<()> {
    let out = Command::new("duplicity")
        .args(args)
        .env("PASSPHRASE", "")
        .current_dir(work)
        .output()
        .context("cannot run duplicity (Debian package `duplicity`)")?;
    if !out.status.success() {
        bail!(
            "duplicity {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn run_duplicity(work: &Path, tree: &Path) -> Result<ToolResult> {
    let dest = work.join("duplicity-backups");
    let cache = work.join("duplicity-cache");
    fs::create_dir_all(&dest)?;
    let url = format!("file://{}", dest.display());
    let exclude = format!("{}/**/*.rpm", tree.display());
    let tree_s = tree.display().to_string();
    let cache_s = cache.display().to_string();
    let common = |mode: &'static str| -> Vec<String> {
        vec![
            mode.to_owned(),
            "--no-encryption".to_owned(),
            "--archive-dir".to_owned(),
            cache_s.clone(),
            "--name".to_owned(),
            "bench".to_owned(),
            "--exclude".to_owned(),
            exclude.clone(),
            tree_s.clone(),
            url.clone(),
        ]
    };
    let mut r = ToolResult::default();
    let a = common("full");
    let (_, t, c) = settled_timed(work, || {
        duplicity(&a.iter().map(String::as_str).collect::<Vec<_>>(), work)?;
        fsync_tree(&dest)
    })?;
    (r.full_s, r.full_cpu_s) = (t, c);
    r.full_bytes = dir_bytes(&dest);
    Ok(r)
}

fn duplicity_incremental(work: &Path, tree: &Path, r: &mut ToolResult) -> Result<()> {
    let dest = work.join("duplicity-backups");
    let url = format!("file://{}", dest.display());
    let a = [
        "incremental",
        "--no-encryption",
        "--archive-dir",
        &work.join("duplicity-cache").display().to_string(),
        "--name",
        "bench",
        "--exclude",
        &format!("{}/**/*.rpm", tree.display()),
        &tree.display().to_string(),
        &url,
    ]
    .map(str::to_owned);
    let (_, t, c) = settled_timed(work, || {
        duplicity(&a.iter().map(String::as_str).collect::<Vec<_>>(), work)?;
        fsync_tree(&dest)
    })?;
    (r.incremental_s, r.incremental_cpu_s) = (t, c);
    r.incremental_bytes = dir_bytes(&dest) - r.full_bytes;
    let target = work.join("duplicity-restored");
    let a = [
        "restore",
        "--no-encryption",
        "--archive-dir",
        &work.join("duplicity-cache").display().to_string(),
        "--name",
        "bench",
        &url,
        &target.display().to_string(),
    ]
    .map(str::to_owned);
    let (_, t, c) = settled_timed(work, || {
        duplicity(&a.iter().map(String::as_str).collect::<Vec<_>>(), work)?;
        syncfs(&target)
    })?;
    (r.restore_s, r.restore_cpu_s) = (t, c);
    check_restore("duplicity", tree, &target)?;
    Ok(())
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.1}x", a / b)
    } else {
        "-".to_owned()
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "kkoji-bench backup: {} files ({}), {} of RPMs excluded, {} files changed for the incremental\n\n",
        r.files,
        mib(r.tree_bytes),
        mib(r.excluded_rpm_bytes),
        r.changed_files
    );
    out.push_str(&format!(
        "{:<22} {:>14} {:>14} {:>22}\n",
        "", "kkoji-backup", "duplicity", "duplicity / kkoji"
    ));
    let d = r.duplicity.clone().unwrap_or_default();
    let has = r.duplicity.is_some();
    let row = |name: &str, k: f64, dv: f64| {
        format!(
            "{:<22} {:>13.2}s {:>14} {:>22}\n",
            name,
            k,
            if has {
                format!("{dv:.2}s")
            } else {
                "-".to_owned()
            },
            if has { ratio(dv, k) } else { "-".to_owned() }
        )
    };
    out.push_str(&row("full backup", r.kkoji.full_s, d.full_s));
    out.push_str(&row(
        "incremental (1%)",
        r.kkoji.incremental_s,
        d.incremental_s,
    ));
    out.push_str(&row("full restore", r.kkoji.restore_s, d.restore_s));
    out.push_str(&row("full backup, CPU", r.kkoji.full_cpu_s, d.full_cpu_s));
    out.push_str(&row(
        "incremental, CPU",
        r.kkoji.incremental_cpu_s,
        d.incremental_cpu_s,
    ));
    out.push_str(&row(
        "full restore, CPU",
        r.kkoji.restore_cpu_s,
        d.restore_cpu_s,
    ));
    let srow = |name: &str, k: u64, dv: u64| {
        format!(
            "{:<22} {:>14} {:>14} {:>22}\n",
            name,
            mib(k),
            if has { mib(dv) } else { "-".to_owned() },
            if has && k > 0 {
                format!("{:.2}x", dv as f64 / k as f64)
            } else {
                "-".to_owned()
            }
        )
    };
    out.push_str(&srow("full archive size", r.kkoji.full_bytes, d.full_bytes));
    out.push_str(&srow(
        "incremental size",
        r.kkoji.incremental_bytes,
        d.incremental_bytes,
    ));
    if let Some(f) = r.floor_s.filter(|f| *f > 0.0) {
        out.push_str(&format!(
            "\nfloor of a restore: {f:.2}s to make the same tree from memory, no archive read (floor.rs);\nkkoji-backup's restore took {:.2}x that",
            r.kkoji.restore_s / f
        ));
        if has {
            out.push_str(&format!(
                ", duplicity's {}: the ratio to duplicity of a restore that only made the tree",
                ratio(d.restore_s, f)
            ));
        }
        if r.kkoji.restore_s < f {
            out.push_str("\n(the restore beat its floor in this run: one run of either moves with the filesystem's state, and the floor runs last, on a filesystem that holds both restores by then; measure again, in alternating rounds)");
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\n(kkoji-backup at zstd level {}; {}; sizes include manifests and signatures; times until the output is durable)\n",
        r.zstd_level,
        r.duplicity_version.as_deref().unwrap_or("no duplicity")
    ));
    out
}

pub fn main(args: &BackupArgs, _multi: &MultiProgress) -> Result<bool> {
    let tmp;
    let work = match &args.dir {
        Some(d) => {
            fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("kkoji-bench-backup-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    // Each tool gets its own copy of the tree so the 1% change hits both the same way.
    let tree_k = work.join("tree-kkoji");
    let tree_d = work.join("tree-duplicity");
    eprintln!("generating {} files in {} …", args.files, work.display());
    let (tree_bytes, rpm_bytes) = make_tree(&tree_k, args)?;
    if !args.no_duplicity {
        make_tree(&tree_d, args)?;
    }
    eprintln!("kkoji-backup …");
    let mut changed = 0;
    let kk = run_kkoji(&work, &tree_k, args, &mut || {
        changed = change_one_percent(&tree_k, args)?;
        Ok(())
    })?;
    let (dup, version) = if args.no_duplicity {
        (None, None)
    } else {
        let v = Command::new("duplicity")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .ok();
        eprintln!("duplicity …");
        let mut d = run_duplicity(&work, &tree_d)?;
        change_one_percent(&tree_d, args)?;
        duplicity_incremental(&work, &tree_d, &mut d)?;
        (Some(d), v)
    };
    let floor_s = if tree_bytes > floor::MAX_BYTES {
        eprintln!(
            "floor: the tree is over {} bytes, not measured",
            floor::MAX_BYTES
        );
        None
    } else {
        eprintln!("floor of a restore …");
        let loaded = floor::load(&tree_k)?;
        let into = work.join("floor-made");
        let (_, t, _) = settled_timed(&work, || floor::make(&loaded, &into))?;
        check_restore("the floor", &tree_k, &into)?;
        Some(t)
    };
    let report = Report {
        files: args.files,
        tree_bytes,
        excluded_rpm_bytes: rpm_bytes,
        changed_files: changed,
        zstd_level: args
            .zstd_level
            .unwrap_or(kkoji_backup::config::DEFAULT_ZSTD_LEVEL),
        kkoji: kk,
        duplicity: dup,
        duplicity_version: version,
        floor_s,
    };
    println!("{}", render(&report));
    if let Some(p) = &args.json {
        fs::write(p, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(floor_s: Option<f64>, duplicity: bool) -> Report {
        Report {
            files: 10,
            tree_bytes: 1 << 20,
            excluded_rpm_bytes: 0,
            changed_files: 1,
            zstd_level: 5,
            kkoji: ToolResult {
                restore_s: 2.0,
                ..ToolResult::default()
            },
            duplicity: duplicity.then(|| ToolResult {
                restore_s: 8.0,
                ..ToolResult::default()
            }),
            duplicity_version: None,
            floor_s,
        }
    }

    #[test]
    fn the_floor_bounds_the_restore_ratio() {
        let out = render(&report(Some(1.6), true));
        assert!(
            out.contains(
                "full restore                    2.00s          8.00s                   4.0x"
            ),
            "{out}"
        );
        assert!(out.contains("1.60s to make the same tree"), "{out}");
        assert!(out.contains("took 1.25x that, duplicity's 5.0x"), "{out}");
        assert!(!out.contains("measure again"), "{out}");
        // without duplicity there is no ratio to it; without a floor, no line
        assert!(!render(&report(Some(1.6), false)).contains("duplicity's"));
        assert!(!render(&report(None, true)).contains("floor"));
        // a floor slower than the restore itself asks for alternating rounds
        assert!(render(&report(Some(3.0), true)).contains("measure again"));
    }
}
