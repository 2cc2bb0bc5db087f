//! The command line. Exit codes: 0 ok, 1 failure (including a run that finished but could
//! not read some files, and a verify that found problems), 2 config error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::backup::{self, RunOptions};
use crate::config::{ConfigError, Overrides, Settings};
use crate::db;
use crate::manifest;
use crate::prune;
use crate::restore;
use crate::status;
use crate::verify::{self, VerifyOptions};

#[derive(Debug, Parser)]
#[command(
    name = "kkoji-backup",
    version,
    about = "Backs up the hub database (pg_dump) and the scratch tree (tar+zstd chains); verifies, restores, prunes",
    after_help = "Exit codes: 0 ok, 1 failure, 2 config error."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Overrides,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Check the config and print the effective settings
    CheckConfig,
    /// Dump the database and archive the scratch tree (full or incremental)
    Run {
        /// Full backup whatever the age of the last one
        #[arg(long)]
        full: bool,
    },
    /// Re-read archives, dumps and manifests of RUN's chain (default: every run)
    Verify {
        /// A run id or date (UTC); its whole chain is checked
        run: Option<String>,
        /// Also restore into a throwaway PostgreSQL cluster and a temp dir, and check them
        #[arg(long)]
        drill: bool,
        /// Directory for the drill's restored tree [default: $TMPDIR]
        #[arg(long)]
        drill_dir: Option<PathBuf>,
        /// pg_restore jobs for the drill
        #[arg(short, long, default_value_t = 2)]
        jobs: u32,
        #[arg(long)]
        json: bool,
    },
    /// Restore the scratch tree and/or the database of one run
    Restore {
        /// Run id, or a date/time (UTC): the last run at or before it [default: newest]
        #[arg(long)]
        at: Option<String>,
        /// Restore the scratch tree into this directory (must be empty unless --force)
        #[arg(long)]
        tree_into: Option<PathBuf>,
        /// Only this subtree (relative to the scratch tree)
        #[arg(long, requires = "tree_into")]
        path: Option<String>,
        /// Restore into a non-empty directory, replacing what is in the way
        #[arg(long)]
        force: bool,
        /// Restore the dump into this existing database (pg_restore --clean --if-exists)
        #[arg(long, conflicts_with = "db_into_state_dir")]
        db_into_url: Option<String>,
        /// Restore the dump into the embedded cluster of this hub state dir (created if missing)
        #[arg(long)]
        db_into_state_dir: Option<PathBuf>,
        /// Database name inside --db-into-state-dir
        #[arg(long, default_value = "kkoji")]
        db_name: String,
        /// pg_restore jobs
        #[arg(short, long, default_value_t = 2)]
        jobs: u32,
    },
    /// Remove runs the retention policy does not keep (never a chain a kept run needs)
    Prune {
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The finished runs
    List {
        #[arg(long)]
        json: bool,
    },
    /// Last run, size, age, last verify and what the next run will do
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// The binary's main: logging, then the command; maps errors to exit codes.
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KKOJI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let settings = match Settings::load(&cli.settings) {
        Ok(s) => s,
        Err(e) => return config_error(&e),
    };
    match execute(&settings, cli.cmd) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kkoji-backup: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, each said once: this crate's errors already end with their
/// source's message (`PATH: No space left on device`), which `{:#}` would repeat.
fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("kkoji-backup: config error: {e}");
    ExitCode::from(2)
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Ok(false): done, but with failures to report (exit 1).
fn execute(s: &Settings, cmd: Cmd) -> anyhow::Result<bool> {
    match cmd {
        Cmd::CheckConfig => {
            println!(
                "config:        {}",
                s.source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(none; defaults and flags)".to_owned())
            );
            println!("backup_root:   {}", s.backup_root.display());
            println!("scratch_tree:  {}", s.scratch_tree.display());
            println!("exclude:       {:?}", s.exclude);
            println!("full_after:    {} days", s.full_after_days);
            println!(
                "database:      {}",
                match &s.database {
                    Some(crate::config::DbSource::Url { url, .. }) => db::redact(url),
                    Some(crate::config::DbSource::Embedded { state_dir, name }) => format!(
                        "embedded cluster of {} (database {name})",
                        state_dir.display()
                    ),
                    None => "none (scratch tree only)".to_owned(),
                }
            );
            println!(
                "retention:     keep_last {}, keep_weekly {}, keep_monthly {}",
                s.retention.keep_last, s.retention.keep_weekly, s.retention.keep_monthly
            );
            let mut ok = true;
            if s.database.is_some() {
                for t in ["pg_dump", "pg_restore"] {
                    match db::tool(s.pg_bin_dir.as_deref(), t) {
                        Ok(p) => println!(
                            "{t}:{:>width$}{}",
                            "",
                            p.display(),
                            width = 15 - t.len() - 1
                        ),
                        Err(e) => {
                            eprintln!("kkoji-backup: {e}");
                            ok = false;
                        }
                    }
                }
            }
            if !s.scratch_tree.is_dir() {
                eprintln!(
                    "kkoji-backup: warning: scratch tree {} is not a directory (yet)",
                    s.scratch_tree.display()
                );
            }
            Ok(ok)
        }
        Cmd::Run { full } => {
            let out = backup::run(s, RunOptions { full })?;
            let m = &out.manifest;
            for n in &m.notes {
                eprintln!("note: {n}");
            }
            for e in &m.errors {
                eprintln!("error: {e}");
            }
            println!(
                "run {} ({}{}): {} entries, {} files stored{} ({}), archive {} ({}){}",
                m.run,
                m.kind,
                m.parent
                    .as_deref()
                    .map(|p| format!(" on {p}"))
                    .unwrap_or_default(),
                m.entries.len(),
                m.files_stored,
                if m.tails_stored > 0 {
                    format!(", {} of them as appended bytes only", m.tails_stored)
                } else {
                    String::new()
                },
                status::human_bytes(m.bytes_stored),
                m.archive.path,
                status::human_bytes(m.archive.size),
                m.database
                    .as_ref()
                    .map(|d| format!(", dump {} ({})", d.path, status::human_bytes(d.size)))
                    .unwrap_or_default()
            );
            if !m.errors.is_empty() {
                eprintln!(
                    "kkoji-backup: {} path(s) could not be backed up (see above); the rest of run {} is complete",
                    m.errors.len(),
                    m.run
                );
            }
            Ok(m.errors.is_empty())
        }
        Cmd::Verify {
            run,
            drill,
            drill_dir,
            jobs,
            json,
        } => {
            let rec = verify::verify(
                s,
                &VerifyOptions {
                    run,
                    drill,
                    drill_dir,
                    jobs,
                },
            )?;
            if json {
                print_json(&rec)?;
            } else {
                for n in &rec.notes {
                    println!("{n}");
                }
                for (t, n) in &rec.drill_counts {
                    println!("drill: {t}: {n} rows");
                }
                if rec.drill && rec.drill_files_checked > 0 {
                    println!(
                        "drill: {} paths named by the database checked",
                        rec.drill_files_checked
                    );
                }
                for p in &rec.problems {
                    eprintln!("problem: {p}");
                }
                println!(
                    "{} {} run(s): {}",
                    if rec.drill { "drill of" } else { "verified" },
                    rec.runs.len(),
                    if rec.ok { "OK" } else { "FAILED" }
                );
            }
            Ok(rec.ok)
        }
        Cmd::Restore {
            at,
            tree_into,
            path,
            force,
            db_into_url,
            db_into_state_dir,
            db_name,
            jobs,
        } => {
            if tree_into.is_none() && db_into_url.is_none() && db_into_state_dir.is_none() {
                anyhow::bail!(
                    "nothing to restore: give --tree-into DIR and/or --db-into-url URL / --db-into-state-dir DIR"
                );
            }
            let root = &s.backup_root;
            let run = restore::resolve_run(root, at.as_deref())?;
            let m = manifest::read(root, &run)?;
            eprintln!("restoring run {run} ({}, {})", m.kind, m.time);
            if db_into_url.is_some() || db_into_state_dir.is_some() {
                let Some(dump) = &m.database else {
                    anyhow::bail!("run {run} has no database dump");
                };
                let dump_path = root.join(&dump.path);
                if let Some(url) = db_into_url {
                    db::restore(s.pg_bin_dir.as_deref(), &dump_path, &url, jobs)?;
                    println!(
                        "database restored from {} into {}",
                        dump.path,
                        db::redact(&url)
                    );
                } else if let Some(dir) = db_into_state_dir {
                    restore_into_state_dir(s, &dump_path, &dir, &db_name, jobs)?;
                    println!(
                        "database restored from {} into the embedded cluster of {} (database {db_name})",
                        dump.path,
                        dir.display()
                    );
                }
            }
            if let Some(target) = tree_into {
                let st = restore::restore_tree(root, &m, &target, path.as_deref(), force)?;
                println!(
                    "tree restored into {}: {} dirs, {} files ({}), {} symlinks, {} hard links",
                    target.display(),
                    st.dirs,
                    st.files,
                    status::human_bytes(st.bytes),
                    st.symlinks,
                    st.hardlinks
                );
            }
            Ok(true)
        }
        Cmd::Prune { dry_run, json } => {
            let d = prune::prune(s, dry_run)?;
            if json {
                print_json(&d)?;
            } else {
                for (k, why) in &d.keep {
                    println!("keep    {k}  ({why})");
                }
                for r in &d.remove {
                    println!("{}  {r}", if dry_run { "would remove" } else { "removed" });
                }
            }
            Ok(true)
        }
        Cmd::List { json } => {
            let (runs, bad) = status::list(s)?;
            if json {
                print_json(&runs)?;
            } else {
                print!("{}", status::render_list(&runs));
            }
            for b in &bad {
                eprintln!("unreadable: {b}");
            }
            Ok(bad.is_empty())
        }
        Cmd::Status { json } => {
            let st = status::status(s)?;
            if json {
                print_json(&st)?;
            } else {
                print!("{}", status::render_status(&st));
            }
            Ok(true)
        }
    }
}

/// A new (or existing, stopped) embedded cluster the hub will find at start-up.
fn restore_into_state_dir(
    s: &Settings,
    dump: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    jobs: u32,
) -> anyhow::Result<()> {
    use kkoji_pgcluster::{Cluster, ClusterConfig};
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    // The server runs as `postgres` when we are root: it must reach the data dir.
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o011 != 0o011 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o711))?;
    }
    let rt = db::runtime()?;
    let cluster = Cluster::new(ClusterConfig::under_state_dir(dir))?;
    let was_running = rt.block_on(cluster.is_running())?;
    rt.block_on(cluster.start())?;
    let res = (|| -> anyhow::Result<()> {
        rt.block_on(cluster.create_database(name))?;
        db::restore(s.pg_bin_dir.as_deref(), dump, &cluster.url(name), jobs)?;
        Ok(())
    })();
    if !was_running {
        rt.block_on(cluster.stop())?;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let e = anyhow::Error::new(crate::fsutil::PathError {
            path: "/b/ephemeral/x.tmp".into(),
            source: io,
        });
        let text = describe(&e);
        assert_eq!(text.matches("No space left on device").count(), 1, "{text}");
        assert!(text.starts_with("/b/ephemeral/x.tmp: "), "{text}");
        let e = anyhow::Error::new(std::io::Error::other("inner")).context("outer");
        assert_eq!(describe(&e), "outer: inner");
    }
}
