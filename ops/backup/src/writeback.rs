//! A restore's writes going to disk while it runs, and the page cache it fills let go of once
//! they are there.
//!
//! A restore writes a whole tree through the page cache, and reads its archives through it
//! once. Neither is read again soon: keeping them cached only pushes out what the machine was
//! using (the hub's database among it), and every new file takes fresh pages. So a syncfs
//! every [`FLUSH_EVERY`] writes out what was restored so far (the disk works alongside the
//! CPU and the last syncfs has little left), the files written before it are then dropped
//! from the cache (`POSIX_FADV_DONTNEED`, which frees clean pages only), and the archive's
//! pages are dropped behind the reader. The pages freed are the next files' pages.
//!
//! That matters most where a page's first use is dear: on the 2-core VM of the bench (its
//! free memory handed back to the host), the kernel spent a third of a 50,000-file restore
//! zeroing new page-cache pages. Restores of the bench's tree, alternating, three pairs:
//! 2.43-2.57 s with the pages let go, 3.26-3.65 s without (2026-12-04).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::sync::{Condvar, Mutex};

/// How often what the restore has written so far goes to disk.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// At most this many written files are held open for their pages to be dropped; the open
/// file limit bounds it further ([`Writeback::new`]).
const HOLD_MAX: usize = 8192;

/// The archive's pages are dropped behind the reader after each this many bytes.
const DROP_BEHIND_EVERY: u64 = 8 << 20;

#[derive(Default)]
struct State {
    done: bool,
    /// Files written since the last syncfs began, open until one has written them out.
    written: Vec<File>,
}

pub struct Writeback {
    state: Mutex<State>,
    cv: Condvar,
    error: Mutex<Option<io::Error>>,
    hold_max: usize,
}

impl Writeback {
    /// Holds at most half of what the limit of `open_files` leaves free, and no more than
    /// [`HOLD_MAX`].
    pub fn new(open_files: u64) -> Writeback {
        let hold_max = usize::try_from(open_files.saturating_sub(512) / 2)
            .unwrap_or(0)
            .min(HOLD_MAX);
        Writeback {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            error: Mutex::new(None),
            hold_max,
        }
    }

    /// Takes a restored file whose content and metadata are written: closed once the next
    /// syncfs has written it out, its pages dropped then. Beyond the limit it is closed now
    /// and its pages stay.
    pub fn hold(&self, f: File) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.done || st.written.len() >= self.hold_max {
            return;
        }
        st.written.push(f);
        let wake = st.written.len() >= self.hold_max / 2;
        drop(st);
        if wake {
            self.cv.notify_all();
        }
    }

    /// The flusher thread: a syncfs every [`FLUSH_EVERY`] (sooner when half the limit of held
    /// files is reached), then the pages of the files written before it are dropped.
    pub fn run(&self, fs_handle: &File) {
        loop {
            // The lock is not held during a syncfs: writers and `stop` do not wait for one.
            let (stopped, batch) = match self.state.lock() {
                Ok(st) => match self.cv.wait_timeout_while(st, FLUSH_EVERY, |st| {
                    !st.done && st.written.len() < self.hold_max / 2
                }) {
                    Ok((mut st, _)) => (st.done, std::mem::take(&mut st.written)),
                    Err(_) => (true, Vec::new()),
                },
                Err(_) => (true, Vec::new()),
            };
            if stopped {
                return;
            }
            if let Err(e) = nix::unistd::syncfs(fs_handle) {
                if let Ok(mut slot) = self.error.lock() {
                    slot.get_or_insert(io::Error::from(e));
                }
                return;
            }
            let_go(batch);
        }
    }

    /// No more files come: the flusher ends. The files written since its last syncfs are
    /// returned, for [`let_go`] after the restore's own last syncfs.
    pub fn finish(&self) -> Vec<File> {
        let held = match self.state.lock() {
            Ok(mut st) => {
                st.done = true;
                std::mem::take(&mut st.written)
            }
            Err(_) => Vec::new(),
        };
        self.cv.notify_all();
        held
    }

    /// The first syncfs error, if any (the restore fails with it).
    pub fn error(&self) -> Option<io::Error> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

/// Raises this process's soft limit of open files towards the hard one (a service often
/// starts with 1,024) and returns the limit then in force.
pub fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            let want = hard.min(65_536);
            if want > soft && setrlimit(Resource::RLIMIT_NOFILE, want, hard).is_ok() {
                want
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// Drops written-out files' pages from the cache and closes them.
pub fn let_go(files: Vec<File>) {
    for f in files {
        // Only advice: pages still dirty are simply kept.
        let _ = drop_cached(&f, 0);
    }
}

/// `POSIX_FADV_DONTNEED` of the first `len` bytes (0: the whole file).
fn drop_cached(f: &impl AsFd, len: i64) -> nix::Result<()> {
    nix::fcntl::posix_fadvise(
        f,
        0,
        len,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
}

/// An archive read once, front to back: the pages behind the reader are dropped from the
/// cache as it goes.
pub struct DropBehind {
    file: File,
    read: u64,
    dropped: u64,
}

impl DropBehind {
    pub fn new(file: File) -> DropBehind {
        DropBehind {
            file,
            read: 0,
            dropped: 0,
        }
    }
}

impl DropBehind {
    fn drop_read(&mut self) {
        if self.read > self.dropped
            && let Ok(len) = i64::try_from(self.read)
        {
            // Only advice; an archive on a filesystem without it is read all the same.
            let _ = drop_cached(&self.file, len);
        }
        self.dropped = self.read;
    }
}

impl Read for DropBehind {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read += u64::try_from(n).unwrap_or(0);
        if self.read - self.dropped >= DROP_BEHIND_EVERY {
            self.drop_read();
        }
        Ok(n)
    }
}

impl Drop for DropBehind {
    fn drop(&mut self) {
        self.drop_read();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_beyond_the_budget_are_closed_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 520 open files allowed: 512 kept free, half of the other 8 held.
        let wb = Writeback::new(520);
        for i in 0..10 {
            let f = File::create(dir.path().join(i.to_string())).expect("create");
            wb.hold(f);
        }
        assert_eq!(wb.finish().len(), 4);
        // After finish nothing more is held.
        wb.hold(File::create(dir.path().join("late")).expect("create"));
        assert!(wb.finish().is_empty());
        // A limit below what is kept free holds nothing.
        let none = Writeback::new(100);
        none.hold(File::create(dir.path().join("x")).expect("create"));
        assert!(none.finish().is_empty());
    }

    #[test]
    fn drop_behind_reads_the_file_as_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("archive");
        let data: Vec<u8> = (0..(DROP_BEHIND_EVERY * 2 + 12_345))
            .map(|i| u8::try_from(i % 251).unwrap_or(0))
            .collect();
        std::fs::write(&p, &data).expect("write");
        let mut got = Vec::new();
        DropBehind::new(File::open(&p).expect("open"))
            .read_to_end(&mut got)
            .expect("read");
        assert!(got == data);
    }
}
