//! `kkoji-ops [--config FILE] check-disk [--threshold N] [PATH ...] [--no-mail]`.
//!
//! Exit status: 0 all volumes under the threshold; 1 a volume is over it (or cannot be
//! measured); 2 config error or the mail could not be sent.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kkoji_ops::config::OpsConfig;
use kkoji_ops::{disk, mail};

#[derive(Debug, Parser)]
#[command(name = "kkoji-ops", version, about = "kkoji farm checks for cron")]
struct Cli {
    /// Config file (TOML); optional: without it the defaults apply and nothing is mailed.
    #[arg(short, long, global = true, env = "KKOJI_OPS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report volumes over the used-space threshold; mail the report if a relay is set.
    CheckDisk {
        /// Used-space threshold in percent (default: config, else 90).
        #[arg(long)]
        threshold: Option<u8>,
        /// Do not mail even if a relay is configured.
        #[arg(long)]
        no_mail: bool,
        /// Volumes to check (default: the config's check_disk.volumes).
        paths: Vec<PathBuf>,
    },
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
    match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kkoji-ops: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = match &cli.config {
        Some(p) => OpsConfig::load(p)?,
        None => OpsConfig::default(),
    };
    match cli.command {
        Command::CheckDisk {
            threshold,
            no_mail,
            paths,
        } => {
            let d = &cfg.check_disk;
            let threshold = threshold.unwrap_or(d.threshold_percent);
            if !(1..=100).contains(&threshold) {
                anyhow::bail!("--threshold must be 1..100");
            }
            let volumes = if paths.is_empty() {
                d.volumes.clone()
            } else {
                paths
            };
            let results = disk::check(
                &volumes,
                threshold,
                d.inode_threshold_percent,
                Duration::from_secs(d.timeout_secs),
            );
            for r in &results {
                println!("{r}");
            }
            let problems: Vec<&disk::VolumeCheck> = results.iter().filter(|r| r.problem).collect();
            if problems.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            if let (Some(m), false) = (&cfg.mail, no_mail) {
                let host = nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "?".into());
                let subject = format!(
                    "{host}: disk space: {}",
                    problems
                        .iter()
                        .map(|p| p.path.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut body =
                    format!("kkoji-ops check-disk on {host} (threshold {threshold}% used):\n\n");
                for r in &results {
                    body.push_str(&format!("{r}\n"));
                }
                mail::send(m, &subject, &body)?;
                eprintln!("report mailed to {}", m.to.join(", "));
            }
            Ok(ExitCode::from(1))
        }
    }
}
