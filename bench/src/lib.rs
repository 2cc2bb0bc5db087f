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

use indicatif::MultiProgress;
use std::io::Write;

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
