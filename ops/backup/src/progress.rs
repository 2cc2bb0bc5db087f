//! Progress of long work (bytes, files, rate) on stderr; hidden when stderr is not a
//! terminal, so timers and logs get no control characters.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    files: u64,
}

impl Progress {
    pub fn new(what: &str, total_bytes: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(total_bytes),
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_owned());
        Progress { bar, files: 0 }
    }

    pub fn file_done(&mut self, bytes: u64) {
        self.files += 1;
        self.bar.inc(bytes);
        if self.files.is_multiple_of(64) {
            self.bar.set_message(format!("{} files", self.files));
        }
    }

    pub fn bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
