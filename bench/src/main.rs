use anyhow::Context;
use clap::Parser;
use indicatif::MultiProgress;
use kkoji_bench::cli::{Cli, Cmd, HubArgs};
use kkoji_bench::run::{self, Interrupt};
use kkoji_bench::{LogWriter, report};
use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc, as the hub: the history client decodes megabyte-sized answers, and under glibc's
/// allocator (which hands big blocks back to the kernel and faults them in again) building and
/// dropping one 1,000-row answer's values took 4 ms more than the decoding itself.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let multi = MultiProgress::new();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KKOJI_BENCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter(multi.clone()))
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let result = match cli.cmd {
        Cmd::Hub(args) => hub(&args, &multi),
        Cmd::Sched(args) => kkoji_bench::sched::main(&args, &multi),
        Cmd::Repodata(args) => kkoji_bench::repodata::main(&args, &multi),
        Cmd::Mirror(args) => kkoji_bench::mirror::main(&args, &multi),
        Cmd::Backup(args) => kkoji_bench::backup::main(&args, &multi),
        Cmd::History(args) => kkoji_bench::history::main(&args, &multi),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("kkoji-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ok(false): the run was cut short (interrupt, failed scenarios) but a report was printed.
fn hub(args: &HubArgs, multi: &MultiProgress) -> anyhow::Result<bool> {
    // The hub and the generator share the machine; the generator takes one worker thread
    // per core like any tokio server would, and nothing else.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench")
        .build()
        .context("cannot start the tokio runtime")?;
    let interrupt = Interrupt::install(&rt)?;
    // Blocking (bounded) start; from here on `setup.hub`'s Drop stops the hub on any exit.
    let mut setup = run::setup(args, &interrupt)?;
    let result = rt.block_on(run::run(args, &setup, multi, interrupt.clone()));
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    let stopped = match setup.hub.as_mut() {
        Some(h) => h.stop(),
        None => Ok(()),
    };
    let mut report = match (result, &stopped) {
        (Ok(r), _) => r,
        (Err(e), Ok(())) => return Err(e),
        (Err(e), Err(s)) => anyhow::bail!("{e:#}; and: {s:#}"),
    };
    if let Err(e) = &stopped {
        let msg = format!("{e:#}");
        report.hub_problem = Some(match report.hub_problem.take() {
            Some(p) => format!("{p}; {msg}"),
            None => msg,
        });
    }
    println!("{}", report::render(&report));
    if let Some(path) = &args.json {
        run::write_json(path, &report)?;
        eprintln!("JSON written to {}", path.display());
    }
    if report.hub_problem.is_some() {
        anyhow::bail!("the hub misbehaved (see HUB PROBLEM above)");
    }
    Ok(!interrupt.is_set() && run::complete(&report, args))
}
