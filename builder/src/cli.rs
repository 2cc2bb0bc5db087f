//! Command line: `kkoji-builder --config FILE` runs the daemon, `kkoji-builder check
//! --config FILE` prints the readiness verdict (exit 0 ready, 1 not ready). Other
//! binaries (the hub's quickstart, the e2e suite) wrap [`cli_main`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "kkoji-builder",
    version,
    about = "kkoji builder agent (replaces kojid)"
)]
struct Cli {
    /// Builder config (TOML).
    #[arg(short, long, global = true, env = "KKOJI_BUILDER_CONFIG")]
    config: Option<PathBuf>,
    /// Take the hub's exclusive session from a builder that died without logging out.
    #[arg(long, global = true)]
    force_lock: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Print the readiness verdict and exit 0 when ready, 1 when not.
    Check {
        /// Do not ask the hub (enabled flag and capacity stay unknown).
        #[arg(long)]
        no_hub: bool,
    },
    /// Make this host ready as a builder: scratch disk, directory tree, symlinks, swap,
    /// volumes (the config's [prepare] and [[mounts]]). Idempotent; exit 1 if a step failed.
    Prepare {
        /// Format the scratch disk if (and only if) it holds no filesystem signature.
        #[arg(long)]
        mkfs: bool,
        /// Say what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
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

/// Entry point of the `kkoji-builder` binary.
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kkoji-builder: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let path = cli
        .config
        .context("no config file: pass --config FILE (or set KKOJI_BUILDER_CONFIG)")?;
    let mut cfg = Config::load(&path)?;
    cfg.force_lock |= cli.force_lock;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Check { no_hub } => {
            let report = rt.block_on(crate::check::check(&cfg, !no_hub));
            for d in &report.details {
                println!("  {d}");
            }
            println!("{}", report.verdict);
            Ok(if report.verdict.is_ready() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Prepare { mkfs, dry_run } => {
            let report = rt.block_on(crate::prepare::prepare(
                &cfg,
                crate::prepare::PrepareOptions { mkfs, dry_run },
            ));
            print!("{report}");
            Ok(if report.failed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Run => match rt.block_on(crate::daemon::run_daemon(cfg, shutdown_signal()))? {
            crate::daemon::Exit::Stopped => Ok(ExitCode::SUCCESS),
            crate::daemon::Exit::Restart => {
                // the runtime's threads and sockets go first: nothing of this process
                // is left in the next one but its PID
                rt.shutdown_timeout(std::time::Duration::from_secs(5));
                let e = crate::reexec::reexec();
                Err(anyhow::anyhow!(
                    "cannot re-execute the builder for its restart: {e}"
                ))
            }
        },
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => tracing::info!("SIGTERM received"),
                _ = i.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await
        }
    }
}
