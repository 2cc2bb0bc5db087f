//! The order in which a restore's writer threads create the tree: each directory as soon as
//! its parent exists, each file as soon as its directory does.
//!
//! Koji's scratch tree keeps thousands of task directories in one parent
//! (`work/tasks/<id % 10000>/<id>`). Entries of one parent are created one at a time (the
//! parent's lock), so that level is one thread's work; with a barrier after each level the
//! other threads waited for it (a fifth of a 50,000-file restore with one core idle). Here
//! the next level's directories, and the files in them, follow right behind it.
//!
//! A thread only ever waits for an entry that comes before the one it is creating in manifest
//! order (pre-order): each thread takes its directories in that order and finishes them
//! before it writes files, so no two threads wait for each other.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use crate::manifest::{Entry, Kind};

/// What must exist before an entry can be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Its directory is not created by this restore (the target, or the parent of a
    /// `--path` subtree, made beforehand).
    Nothing,
    /// The directory `dirs[i]`.
    Dir(usize),
    /// Every directory, and every file kept in parts (created empty before their parts come):
    /// for parts, and for copies whose names lie in several directories.
    All,
}

/// For each entry (in manifest order) the index among the entries' directories (`dirs`,
/// the `Kind::Dir` entries in the same order) of the directory it lies in.
pub fn parents(entries: &[&Entry]) -> Vec<Wait> {
    let mut out = Vec::with_capacity(entries.len());
    // The directories enclosing the current entry, innermost last.
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut next_dir = 0usize;
    for e in entries {
        while let Some((top, _)) = open.last() {
            if encloses(top, &e.path) {
                break;
            }
            open.pop();
        }
        out.push(match open.last() {
            Some((top, i)) if parent_of(&e.path) == Some(top) => Wait::Dir(*i),
            // An entry whose directory is not listed: nothing this restore makes.
            None => Wait::Nothing,
            // Listed further up but not as its parent (a damaged manifest): the safe wait.
            Some(_) => Wait::All,
        });
        if e.kind == Kind::Dir {
            open.push((e.path.as_str(), next_dir));
            next_dir += 1;
        }
    }
    out
}

fn encloses(dir: &str, path: &str) -> bool {
    if dir == "." {
        return path != ".";
    }
    path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

fn parent_of(path: &str) -> Option<&str> {
    if path == "." {
        return None;
    }
    Some(path.rsplit_once('/').map_or(".", |(p, _)| p))
}

/// The directories each of `workers` threads creates, each list in manifest order. Siblings
/// go to one thread (they would only queue on their parent's lock), each group to the thread
/// with the fewest so far, shallow levels first: a level of many siblings goes to one thread
/// and the level below it to the others.
pub fn shares(dirs: &[&Entry], levels: &[Vec<usize>], workers: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); workers.max(1)];
    let parent = |i: usize| parent_of(&dirs[i].path).unwrap_or("");
    for level in levels {
        let mut start = 0;
        while start < level.len() {
            let p = parent(level[start]);
            let end = level[start..]
                .iter()
                .position(|&i| parent(i) != p)
                .map_or(level.len(), |n| start + n);
            if let Some(least) = out.iter_mut().min_by_key(|v| v.len()) {
                least.extend_from_slice(&level[start..end]);
            }
            start = end;
        }
    }
    for v in &mut out {
        v.sort_unstable();
    }
    out
}

/// Which directories have been made (or tried: a failure is reported by its maker, and what
/// waited for it then fails on its own), and whether everything is.
pub struct Made {
    dirs: Vec<AtomicBool>,
    /// Threads through with their directories.
    finished: AtomicUsize,
    workers: usize,
    /// Every directory and every file kept in parts exists.
    all: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

/// A waiting thread yields this many times before it sleeps.
const SPINS: usize = 64;

impl Made {
    pub fn new(dirs: usize, workers: usize) -> Made {
        Made {
            dirs: (0..dirs).map(|_| AtomicBool::new(false)).collect(),
            finished: AtomicUsize::new(0),
            workers,
            all: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    pub fn dir_done(&self, i: usize) {
        if let Some(d) = self.dirs.get(i) {
            d.store(true, Ordering::SeqCst);
        }
        self.wake();
    }

    /// A thread is through with its directories; true for the last one (which then makes
    /// the files kept in parts and calls [`Made::all_done`]).
    pub fn finished_dirs(&self) -> bool {
        self.finished.fetch_add(1, Ordering::SeqCst) + 1 == self.workers
    }

    pub fn all_done(&self) {
        self.all.store(true, Ordering::SeqCst);
        self.wake();
    }

    pub fn wait(&self, w: Wait) {
        match w {
            Wait::Nothing => {}
            Wait::Dir(i) => self.wait_until(|| {
                self.dirs.get(i).is_none_or(|d| d.load(Ordering::SeqCst))
                    || self.all.load(Ordering::SeqCst)
            }),
            Wait::All => self.wait_until(|| self.all.load(Ordering::SeqCst)),
        }
    }

    fn wake(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            drop(self.lock.lock());
            self.cv.notify_all();
        }
    }

    fn wait_until(&self, ready: impl Fn() -> bool) {
        for _ in 0..SPINS {
            if ready() {
                return;
            }
            std::thread::yield_now();
        }
        let Ok(mut g) = self.lock.lock() else { return };
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while !ready() {
            // The timeout only guards against a wake-up lost to a poisoned lock.
            match self
                .cv
                .wait_timeout(g, std::time::Duration::from_millis(20))
            {
                Ok((ng, _)) => g = ng,
                Err(_) => break,
            }
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Kind;

    fn e(path: &str, kind: Kind) -> Entry {
        Entry {
            path: path.to_owned(),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nsec: 0,
            size: 0,
            blake3: None,
            stored_in: None,
            target: None,
            parts: Vec::new(),
            ctime: 0,
            ctime_nsec: 0,
            ino: 0,
        }
    }

    #[test]
    fn each_entry_waits_for_its_own_directory() {
        let all = [
            e(".", Kind::Dir),
            e("a", Kind::Dir),
            e("a/b", Kind::Dir),
            e("a/b/f", Kind::File),
            e("a/b-c", Kind::File),
            e("a/c", Kind::Dir),
            e("a/c/g", Kind::File),
            e("top", Kind::File),
            e("z", Kind::Dir),
        ];
        let refs: Vec<&Entry> = all.iter().collect();
        use Wait::*;
        assert_eq!(
            parents(&refs),
            [
                Nothing,
                Dir(0),
                Dir(1),
                Dir(2),
                Dir(1),
                Dir(1),
                Dir(3),
                Dir(0),
                Dir(0)
            ]
        );
        // A --path subtree: its root's parent is made beforehand.
        let sub: Vec<&Entry> = all[2..5].iter().collect();
        assert_eq!(parents(&sub), [Nothing, Dir(0), Nothing]);
    }

    #[test]
    fn a_level_of_many_siblings_goes_to_one_thread_and_the_next_to_the_other() {
        let mut all = vec![e(".", Kind::Dir), e("t", Kind::Dir)];
        for n in 0..4 {
            all.push(e(&format!("t/{n}"), Kind::Dir));
            all.push(e(&format!("t/{n}/x"), Kind::Dir));
        }
        let refs: Vec<&Entry> = all.iter().collect();
        let levels = vec![vec![0], vec![1], vec![2, 4, 6, 8], vec![3, 5, 7, 9]];
        let s = shares(&refs, &levels, 2);
        assert_eq!(s, [vec![0, 2, 4, 6, 8], vec![1, 3, 5, 7, 9]]);
    }

    #[test]
    fn waits_end_when_the_directory_or_everything_is_made() {
        let made = Made::new(2, 2);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                made.wait(Wait::Dir(1));
                made.wait(Wait::All);
            });
            made.dir_done(0);
            made.dir_done(1);
            assert!(!made.finished_dirs());
            assert!(made.finished_dirs());
            made.all_done();
            waiter.join().expect("the waiter ends");
        });
    }
}
