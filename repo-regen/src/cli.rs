//! Command line: `kkoji-repo-regen --config FILE` runs the daemon, `--once` runs one pass
//! and exits, `check` validates the config. Exit status: 0 when the daemon stopped
//! cleanly, the pass ran (warnings included) or the config is valid; 1 on config or
//! login errors.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::daemon::Daemon;

#[derive(Debug, Parser)]
#[command(
    name = "kkoji-repo-regen",
    version,
    about = "kkoji repo manager (replaces kojira): requests, expires, deletes and prunes repos"
)]
struct Cli {
    /// Config file (TOML).
    #[arg(short, long, global = true, env = "KKOJI_REPO_REGEN_CONFIG")]
    config: Option<PathBuf>,
    /// Run one pass and exit.
    #[arg(long)]
    once: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the config (and that its certificate files are readable), then exit.
    Check,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KKOJI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (a wrapping binary already set one up) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour codes only for a terminal, not in the log files quickstart writes
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Entry point of the `kkoji-repo-regen` binary.
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kkoji-repo-regen: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let path = cli
        .config
        .context("no config file: pass --config FILE (or set KKOJI_REPO_REGEN_CONFIG)")?;
    let cfg = Config::load(&path)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some(Command::Check) = cli.command {
        // building the daemon reads the certificate, CA and external CA files
        let _guard = rt.enter();
        Daemon::new(cfg.clone())?;
        println!("{}: OK", path.display());
        println!("  hub {}", cfg.hub);
        println!("  repos {}", cfg.repos_dir().display());
        println!(
            "  interval {}s, repo lifetime {}s, deleted repo lifetime {}s, prune grace {}s",
            cfg.interval_secs,
            cfg.repo_lifetime_secs,
            cfg.deleted_repo_lifetime_secs,
            cfg.prune_grace_secs
        );
        println!(
            "  external check every {}s, max repo tasks {}",
            cfg.external_check_secs, cfg.max_repo_tasks
        );
        if !cfg.repos_dir().is_dir() {
            println!("  note: {} does not exist (yet)", cfg.repos_dir().display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    rt.block_on(async move {
        let daemon = Daemon::new(cfg)?;
        if cli.once {
            let rep = daemon.run_once().await?;
            if !rep.warnings.is_empty() {
                eprintln!(
                    "kkoji-repo-regen: pass finished with {} warning(s)",
                    rep.warnings.len()
                );
            }
        } else {
            let stop = shutdown_signal()?;
            daemon.run(stop).await?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Installs the SIGTERM/SIGINT handlers now (so a signal during a pass is not lost) and
/// returns a future that completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; stopping after this pass"),
            _ = int.recv() => tracing::info!("SIGINT received; stopping after this pass"),
        }
    })
}
