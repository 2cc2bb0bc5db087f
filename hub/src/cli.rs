//! The `kkoji-hub` command line.

use crate::config::HubConfig;
use crate::run;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "kkoji-hub", version, about = "Koji-compatible build farm hub")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve with a configuration file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Moved: the farm in a box is its own program now, `kkoji-quickstart` (same options).
    #[command(hide = true)]
    Quickstart {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// The whole CLI; `main` of `kkoji-hub` (and of test binaries that embed the hub).
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kkoji-hub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kkoji-hub: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KKOJI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour codes only for a terminal, not in a log file
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn dispatch(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Serve { config } => {
            let cfg = HubConfig::load(&config)?;
            let db = run::database(&cfg).await?;
            run::run(
                cfg,
                db,
                |cfg, _| {
                    println!("kkoji hub ready on https://{}/kojihub", cfg.listen);
                    Ok(())
                },
                || {},
            )
            .await
        }
        Cmd::CheckConfig { config } => {
            HubConfig::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Cmd::Quickstart { .. } => anyhow::bail!(
            "`kkoji-hub quickstart` is now its own program: run `kkoji-quickstart` with the \
             same options (it starts this hub with `kkoji-hub serve`)"
        ),
    }
}
