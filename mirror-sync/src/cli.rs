//! The `kkoji-mirror-sync` command line (in the library so that test harnesses can wrap it
//! in their own binaries, as the e2e farm does).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::sync::{self, Ctx, Options};
use crate::{mrepo, register, state};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// Exit status when the run itself worked but one or more repos failed to sync.
const EXIT_REPOS_FAILED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "kkoji-mirror-sync",
    version,
    about = "Mirror external yum repos for a kkoji farm (mrepo's job): verified, atomic, incremental"
)]
struct Cli {
    /// TOML config.
    #[arg(
        short,
        long,
        env = "KKOJI_MIRROR_CONFIG",
        default_value = "/etc/kkoji/mirror-sync.toml",
        conflicts_with = "mrepo_conf"
    )]
    config: PathBuf,
    /// Read an existing mrepo.conf instead (its `[main]`, dist sections and repo lines).
    #[arg(long)]
    mrepo_conf: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sync repos (all, or the labels / dists / dist-arch named).
    Sync {
        labels: Vec<String>,
        /// Print what would be downloaded, deleted and changed; write nothing at all.
        #[arg(long)]
        dry_run: bool,
        /// Packages that left upstream leave the mirror too.
        #[arg(long)]
        delete: bool,
        /// Check everything even if repomd.xml is unchanged.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Last good sync, upstream revision and errors of every repo.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The sync history of one repo: what came in, what left.
    Log {
        label: String,
        /// Only the newest N entries.
        #[arg(short = 'n', long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a repo that is no longer configured (its tree, state and unshared pool files).
    Prune { label: String },
    /// Freeze the published tree as `<dest>.snapshots/<date>-NAME/` (hard links).
    Snapshot { label: String, name: String },
    /// Load the config and list the repos it defines.
    CheckConfig,
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    Ok(match &cli.mrepo_conf {
        Some(p) => mrepo::load(p)?,
        None => Config::load_toml(&cli.config)?,
    })
}

/// `main` of kkoji-mirror-sync: parses the arguments, runs, and maps the result to the
/// exit status (0 ok, 1 error, 3 some repos failed).
pub fn cli_main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KKOJI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kkoji-mirror-sync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = load(&cli)?;
    match &cli.cmd {
        Cmd::CheckConfig => {
            for i in cfg.instances() {
                println!("{}\t{}\t{}", i.label, i.dest.display(), i.urls.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status { json } => {
            let rows = sync::status(&cfg);
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    let err = r
                        .last_error
                        .as_deref()
                        .map(|e| format!("  LAST ATTEMPT FAILED: {e}"))
                        .unwrap_or_default();
                    println!(
                        "{}{}\tlast good: {}\tupstream revision: {}\tpackages: {} (kept: {}){err}",
                        r.label,
                        if r.configured {
                            ""
                        } else {
                            " (not configured)"
                        },
                        r.last_good.as_deref().unwrap_or("never"),
                        r.upstream_revision,
                        r.packages,
                        r.kept,
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Log { label, limit, json } => {
            let mut entries = state::read_log(&cfg.state_dir, label)?;
            if entries.is_empty() && state::load(&cfg.state_dir, label)?.is_none() {
                anyhow::bail!("{label}: no sync log (never synced, or not a repo label)");
            }
            if let Some(n) = limit {
                let skip = entries.len().saturating_sub(*n);
                entries.drain(..skip);
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in entries {
                    print_log_entry(&e);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Prune { label } => {
            let _lock = state::lock(&cfg.state_dir)?;
            let removed = sync::prune(&cfg, label).map_err(anyhow::Error::msg)?;
            for p in removed {
                println!("removed {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Snapshot { label, name } => {
            let _lock = state::lock(&cfg.state_dir)?;
            let p = sync::snapshot(&cfg, label, name).map_err(anyhow::Error::msg)?;
            println!("{}", sync::file_url(&p));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Sync {
            labels,
            dry_run,
            delete,
            force,
            json,
        } => {
            let insts = cfg.select(labels).map_err(anyhow::Error::msg)?;
            let opts = Options {
                dry_run: *dry_run,
                delete: *delete,
                force: *force,
            };
            // a dry run takes no lock: it writes nothing, not even a lock file
            let _lock = if *dry_run {
                None
            } else {
                Some(state::lock(&cfg.state_dir)?)
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            let ctx = Ctx::new(cfg)?;
            let (reports, mut failed) = rt.block_on(sync::sync_all(&ctx, &insts, &opts));
            if !*dry_run {
                rt.block_on(register_all(&ctx, &insts, &mut failed));
            }
            if *json {
                let out = serde_json::json!({
                    "repos": reports,
                    "failed": failed.iter().map(|(l, e)| serde_json::json!({"label": l, "error": e})).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for r in &reports {
                    print_report(r, *dry_run);
                }
                for (l, e) in &failed {
                    println!("{l}: FAILED: {e}");
                }
            }
            if failed.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "kkoji-mirror-sync: {} repo(s) failed: {}",
                    failed.len(),
                    failed
                        .iter()
                        .map(|(l, _)| l.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                Ok(ExitCode::from(EXIT_REPOS_FAILED))
            }
        }
    }
}

/// Registers every configured repo whose selected arches all synced in this run.
async fn register_all(
    ctx: &Ctx,
    insts: &[crate::config::Instance],
    failed: &mut Vec<(String, String)>,
) {
    let Some(hub) = &ctx.cfg.hub else { return };
    for (i, spec) in ctx.cfg.repos.iter().enumerate() {
        let Some(reg) = &spec.register else { continue };
        let mine: Vec<_> = insts.iter().filter(|x| x.spec_index == i).collect();
        if mine.is_empty()
            || mine
                .iter()
                .any(|x| failed.iter().any(|(l, _)| l == &x.label))
        {
            continue;
        }
        let url = ctx.cfg.register_url(spec);
        match register::register(hub, reg, &url).await {
            Ok(ch) => tracing::info!("external repo {} ({url}): {ch:?}", reg.name),
            Err(e) => {
                for x in mine {
                    failed.push((x.label.clone(), format!("registering {}: {e}", reg.name)));
                }
            }
        }
    }
}

fn print_report(r: &sync::Report, dry_run: bool) {
    if r.status == "unchanged" {
        println!(
            "{}: unchanged (upstream revision {})",
            r.label, r.upstream_revision
        );
        return;
    }
    let verb = if dry_run {
        "would download"
    } else {
        "downloaded"
    };
    println!(
        "{}: {verb} {} packages ({} bytes); {} added, {} updated, {} deleted, {} kept; metadata {}",
        r.label,
        r.download_count,
        r.download_bytes,
        r.added.len(),
        r.updated.len(),
        r.removed.len(),
        r.kept.len(),
        if r.metadata_changes {
            "changes"
        } else {
            "unchanged"
        }
    );
    for a in &r.added {
        println!("  + {a}");
    }
    for u in &r.updated {
        println!("  ~ {u}");
    }
    for d in &r.removed {
        println!("  - {d}");
    }
    for k in &r.kept {
        println!("  = {k} (left upstream, kept; --delete removes it)");
    }
}

fn print_log_entry(e: &state::LogEntry) {
    if let Some(s) = &e.snapshot {
        println!("{}  snapshot {s}", e.time);
        return;
    }
    if !e.ok {
        println!("{}  FAILED: {}", e.time, e.error.as_deref().unwrap_or(""));
        return;
    }
    if e.unchanged {
        println!("{}  unchanged (revision {})", e.time, e.upstream_revision);
        return;
    }
    println!(
        "{}  synced revision {} (timestamp {}): {} downloaded, {} bytes",
        e.time, e.upstream_revision, e.upstream_timestamp, e.downloaded, e.bytes
    );
    for a in &e.added {
        println!("    + {a}");
    }
    for u in &e.updated {
        println!("    ~ {u}");
    }
    for d in &e.removed {
        println!("    - {d}");
    }
}
