//! When a restore's writer threads create the tree's directories: on demand. A thread about
//! to create a file first makes its directory, and any of the directory's parents not made
//! yet; a directory is made once, by whichever thread needs it first. Directories no file
//! needed (empty ones) are made at the end.
//!
//! Koji's scratch tree keeps thousands of task directories in one parent
//! (`work/tasks/<id % 10000>/<id>`). Made level by level behind barriers, that level was one
//! thread's work while the others waited (a fifth of a 50,000-file restore with one core
//! idle). Made by dedicated threads ahead of the files, each directory as soon as its
//! parent existed, the thread making the next level still caught up with the one making the
//! level above it and waited, and the reader waited for both: 0.3 s of writers' waits and
//! a fifth of both cores idle for the first half second. On demand, a thread only waits for
//! a directory another thread is making at that moment (one `mkdir`).
//!
//! No two threads wait for each other: a thread marks a directory as being made only once
//! its parents are made, and makes it without waiting for anything else.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
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
    /// The file kept in parts number `k`, created empty (with its directory) before its
    /// first part is written: its parts come in any order.
    Part(usize),
    /// Every directory: for copies whose names lie in several directories.
    All,
}

/// For each entry (in manifest order) the index among the entries' directories (`dirs`,
/// the `Kind::Dir` entries in the same order) of the innermost listed directory enclosing
/// it: its parent, or, in a manifest that leaves out a directory in between, the closest
/// one listed (creating the entry then fails on the missing directory, naming it).
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
            Some((_, i)) => Wait::Dir(*i),
            // An entry whose directory is not listed: nothing this restore makes.
            None => Wait::Nothing,
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

/// The directories each of `workers` threads makes once its files are written (those no
/// file needed, and so not made yet), each list in manifest order. Siblings
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

/// Not made yet / being made by a thread / made (or tried: a failure is reported by its
/// maker, and what needed it then fails on its own).
const NOT_MADE: u8 = 0;
const MAKING: u8 = 1;
const MADE: u8 = 2;

/// Makes a directory (`dirs[i]`) or a file kept in parts (number `k`) and reports its own
/// failures: the restore's, lent to [`Made`].
pub type MakeFn<'f> = &'f (dyn Fn(usize) + Sync);

/// Which directories and files kept in parts exist, and the threads that wait for one being
/// made.
pub struct Made<'f> {
    dirs: Vec<AtomicU8>,
    /// Each directory's own directory, as [`parents`] gives it (`Nothing` or `Dir`).
    dir_parent: Vec<Wait>,
    parts: Vec<AtomicU8>,
    /// The directory of each file kept in parts.
    part_dir: Vec<Wait>,
    make_dir: MakeFn<'f>,
    make_part: MakeFn<'f>,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

/// Marks what a thread was making as made when it is through (or unwinding).
struct Done<'m, 'f> {
    made: &'m Made<'f>,
    state: &'m AtomicU8,
}

impl Drop for Done<'_, '_> {
    fn drop(&mut self) {
        self.state.store(MADE, Ordering::SeqCst);
        self.made.wake();
    }
}

/// A waiting thread yields this many times before it sleeps.
const SPINS: usize = 64;

impl<'f> Made<'f> {
    pub fn new(
        dir_parent: Vec<Wait>,
        part_dir: Vec<Wait>,
        make_dir: MakeFn<'f>,
        make_part: MakeFn<'f>,
    ) -> Made<'f> {
        Made {
            dirs: dir_parent.iter().map(|_| AtomicU8::new(NOT_MADE)).collect(),
            dir_parent,
            parts: part_dir.iter().map(|_| AtomicU8::new(NOT_MADE)).collect(),
            part_dir,
            make_dir,
            make_part,
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Returns once what `w` names exists, making what is missing of it.
    pub fn ensure(&self, w: Wait) {
        match w {
            Wait::Nothing => {}
            Wait::Dir(i) => self.ensure_dir(i),
            Wait::Part(k) => {
                if let (Some(state), Some(&dir)) = (self.parts.get(k), self.part_dir.get(k))
                    && state.load(Ordering::SeqCst) != MADE
                {
                    match dir {
                        // (never given: no way back to a part)
                        Wait::Part(_) => {}
                        dir => self.ensure(dir),
                    }
                    self.make_or_wait(state, || (self.make_part)(k));
                }
            }
            Wait::All => {
                for i in 0..self.dirs.len() {
                    self.ensure_dir(i);
                }
            }
        }
    }

    /// The directory `i` and the parents of it not made yet, outermost first.
    fn ensure_dir(&self, i: usize) {
        let mut missing: Vec<usize> = Vec::new();
        let mut at = Some(i);
        while let Some(d) = at {
            match self.dirs.get(d) {
                Some(state) if state.load(Ordering::SeqCst) != MADE => missing.push(d),
                _ => break,
            }
            // A parent comes before its child in manifest order: the walk ends.
            at = match self.dir_parent.get(d) {
                Some(Wait::Dir(p)) if *p < d => Some(*p),
                _ => None,
            };
        }
        for d in missing.into_iter().rev() {
            if let Some(state) = self.dirs.get(d) {
                self.make_or_wait(state, || (self.make_dir)(d));
            }
        }
    }

    /// Made here when no other thread has begun it, else waited for.
    fn make_or_wait(&self, state: &AtomicU8, make: impl FnOnce()) {
        match state.compare_exchange(NOT_MADE, MAKING, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {
                // Made even if `make` panics: the waiters go on (and fail on their own).
                let _done = Done { made: self, state };
                make();
            }
            Err(MADE) => {}
            Err(_) => self.wait_until(|| state.load(Ordering::SeqCst) == MADE),
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
        // A manifest without "a/b": "a/b/f" is made in "a" (and fails there, on its own).
        let gap: Vec<&Entry> = [0, 1, 3].iter().map(|&i| &all[i]).collect();
        assert_eq!(parents(&gap), [Nothing, Dir(0), Dir(1)]);
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
    fn a_directory_is_made_once_after_its_parents() {
        use Wait::*;
        let log = Mutex::new(Vec::new());
        let dir = |i: usize| log.lock().expect("log").push(format!("d{i}"));
        let part = |k: usize| log.lock().expect("log").push(format!("p{k}"));
        // ".", "a", "a/b", "c"; a file kept in parts in "a/b"
        let made = Made::new(
            vec![Nothing, Dir(0), Dir(1), Dir(0)],
            vec![Dir(2)],
            &dir,
            &part,
        );
        made.ensure(Dir(2));
        made.ensure(Dir(1));
        made.ensure(Part(0));
        made.ensure(Part(0));
        assert_eq!(*log.lock().expect("log"), ["d0", "d1", "d2", "p0"]);
        made.ensure(All);
        assert_eq!(*log.lock().expect("log"), ["d0", "d1", "d2", "p0", "d3"]);
    }

    #[test]
    fn threads_needing_the_same_directories_make_each_once_and_wait_for_it() {
        use Wait::*;
        // "." and 200 directories in it, each with one below it
        let mut dir_parent = vec![Nothing];
        for n in 0..200 {
            dir_parent.push(Dir(0));
            dir_parent.push(Dir(1 + 2 * n));
        }
        let count: Vec<AtomicUsize> = dir_parent.iter().map(|_| AtomicUsize::new(0)).collect();
        let dir = |i: usize| {
            count[i].fetch_add(1, Ordering::SeqCst);
        };
        let part = |_: usize| {};
        let made = Made::new(dir_parent.clone(), Vec::new(), &dir, &part);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (made, count) = (&made, &count);
                s.spawn(move || {
                    for n in 0..200 {
                        // each thread in its own order
                        let leaf = 2 + 2 * ((n * (t + 1) * 7) % 200);
                        made.ensure(Dir(leaf));
                        // made (by this thread or another) before ensure returns
                        assert_eq!(count[leaf].load(Ordering::SeqCst), 1);
                        assert_eq!(count[leaf - 1].load(Ordering::SeqCst), 1);
                    }
                });
            }
        });
        assert!(count.iter().all(|c| c.load(Ordering::SeqCst) == 1));
    }

    #[test]
    fn a_maker_that_panics_does_not_leave_the_others_waiting() {
        use Wait::*;
        let calls = AtomicUsize::new(0);
        let dir = |_: usize| {
            calls.fetch_add(1, Ordering::SeqCst);
            panic!("mkdir blew up");
        };
        let part = |_: usize| {};
        let made = Made::new(vec![Nothing], Vec::new(), &dir, &part);
        std::thread::scope(|s| {
            let maker = s.spawn(|| made.ensure(Dir(0)));
            assert!(maker.join().is_err());
        });
        // taken as tried: not made again, nothing waits
        made.ensure(Dir(0));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
