//! The `kkoji-quickstart` command line (the options the hub's former `quickstart`
//! subcommand had, plus `--hub-bin`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::supervise::Options;

#[derive(Parser, Debug)]
#[command(
    name = "kkoji-quickstart",
    version,
    about = "A kkoji farm in one directory: farm CA, certificates, admin user, hub with its \
             embedded PostgreSQL, a local builder, and a koji client config. Re-running with \
             the same directory keeps all state."
)]
struct Cli {
    /// Where everything lives (created if missing).
    #[arg(long)]
    state_dir: PathBuf,
    /// The hub's address; the next port serves the top directory (`topurl`).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Do not run a local builder.
    #[arg(long)]
    no_builder: bool,
    /// The hub program (default: kkoji-hub next to this program).
    #[arg(long)]
    hub_bin: Option<PathBuf>,
    /// The builder program (default: kkoji-builder next to this program).
    #[arg(long)]
    builder_bin: Option<PathBuf>,
    /// Also run kkoji-repo-regen (kojira's job: keep build-tag repos current, expire and
    /// delete old ones) from this program, as the admin.
    #[arg(long)]
    repo_regen_bin: Option<PathBuf>,
    /// Seconds after which a silent builder's tasks go back to FREE (default 900).
    #[arg(long)]
    host_timeout: Option<u64>,
    /// Seconds after which a builder that stopped checking in loses its ready flag
    /// (default 180).
    #[arg(long)]
    ready_timeout: Option<u64>,
    /// Send notification mail through this SMTP relay (`smtp://host:25`,
    /// `smtp://host:587?tls=required`, `smtps://host:465`); kept in hub.toml once given.
    #[arg(long)]
    mail_relay: Option<String>,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KKOJI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour codes only for a terminal, not in a log file
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `main` of `kkoji-quickstart` (and of test binaries that wrap it).
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let opts = Options {
        state_dir: cli.state_dir,
        listen: cli.listen,
        no_builder: cli.no_builder,
        hub_bin: cli.hub_bin,
        builder_bin: cli.builder_bin,
        repo_regen_bin: cli.repo_regen_bin,
        host_timeout: cli.host_timeout,
        ready_timeout: cli.ready_timeout,
        mail_relay: cli.mail_relay,
    };
    // one thread: the daemons' parent-death signal follows the thread that spawned them,
    // which must live as long as quickstart
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kkoji-quickstart: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(crate::supervise::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kkoji-quickstart: {e:#}");
            ExitCode::FAILURE
        }
    }
}
