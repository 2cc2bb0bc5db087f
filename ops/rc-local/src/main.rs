//! `kkoji-rc-local apply|status [--dry-run] --plan FILE`.
//!
//! Exit status: 0 all required items done (apply, dry run) or everything as planned
//! (status); 1 something required failed or was skipped (status: something differs);
//! 2 the plan cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kkoji_rc_local::{Mode, Plan, run};

#[derive(Debug, Parser)]
#[command(
    name = "kkoji-rc-local",
    version,
    about = "Boot guard: swap, mounts, hostname, symlinks; services only when their volumes are there"
)]
struct Cli {
    /// The boot plan (TOML).
    #[arg(
        short,
        long,
        global = true,
        env = "KKOJI_BOOT_PLAN",
        default_value = "/etc/kkoji/boot.toml"
    )]
    plan: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make the machine match the plan (what the boot unit runs).
    Apply {
        /// Report what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the plan against the machine; exit 1 when anything differs.
    Status,
    /// Only read and validate the plan (touches nothing, not even to look).
    Check,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KKOJI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let plan = match Plan::load(&cli.plan) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kkoji-rc-local: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Check = cli.command {
        println!(
            "{}: ok ({} swap, {} mounts, {} symlinks, {} services)",
            cli.plan.display(),
            plan.swap.len(),
            plan.mount.len(),
            plan.symlink.len(),
            plan.service.len()
        );
        return ExitCode::SUCCESS;
    }
    let mode = match cli.command {
        Command::Apply { dry_run: false } => Mode::Apply,
        Command::Apply { dry_run: true } => Mode::DryRun,
        Command::Status | Command::Check => Mode::Status,
    };
    let report = run(&plan, mode);
    print!("{report}");
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
