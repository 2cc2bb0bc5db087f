//! Load generator for the kkoji hub: `kkoji-bench hub` starts a hub (or uses a running
//! one), seeds it, and measures requests/s and latency percentiles of read-only calls over
//! TLS with a logged-in session per client, along with the hub's RSS and CPU use.
//! `kkoji-bench sched` simulates many builders and measures task pickup latency, assignment
//! throughput and duplicate assignments. `kkoji-bench repodata` compares kkoji-repodata with
//! createrepo_c on synthetic RPMs (full generation and regeneration after one change).

pub mod backup;
pub mod cli;
pub mod history;
pub mod hubproc;
pub mod load;
pub mod mirror;
pub mod monitor;
pub mod procfs;
pub mod repodata;
pub mod report;
pub mod run;
pub mod sched;

use anyhow::{Context, bail};
use indicatif::MultiProgress;
use std::io::Write;
use std::path::PathBuf;

/// The binary a bench runs: `given` (its `--*-bin` flag), or the workspace binary `name`
/// next to this executable (both live in `target/release`), which must exist. The package
/// is named as the binary, so the error says what to build.
pub fn tool_bin(given: Option<&PathBuf>, name: &str, flag: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let p = exe.with_file_name(name);
    if !p.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p {name}` or pass {flag}",
            p.display()
        );
    }
    Ok(p)
}

/// A `tracing` writer that prints to stderr without tearing the progress bars.
#[derive(Clone)]
pub struct LogWriter(pub MultiProgress);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer writes each event whole, so one suspend per event.
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
