//! One run at a time per backup root. The lock file holds the pid of its owner; a lock of a
//! process that no longer exists (a run killed with SIGKILL, a crashed machine) is taken over
//! with a note, so a weekly timer never stays blocked by a dead run.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::fsutil::{PathError, perr};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another kkoji-backup (pid {pid}) holds {}; wait for it to finish", path.display())]
    Held { path: PathBuf, pid: i32 },
    #[error(transparent)]
    Io(#[from] PathError),
}

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn acquire(path: &Path) -> Result<Lock, LockError> {
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())
                        .and_then(|_| f.sync_all())
                        .map_err(perr(path))?;
                    return Ok(Lock {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let mut text = String::new();
                    match fs::File::open(path) {
                        Ok(mut f) => {
                            f.read_to_string(&mut text).map_err(perr(path))?;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(perr(path)(e).into()),
                    }
                    match text.trim().parse::<i32>() {
                        Ok(pid) if pid > 0 && alive(pid) => {
                            return Err(LockError::Held {
                                path: path.to_path_buf(),
                                pid,
                            });
                        }
                        Ok(pid) => tracing::warn!(
                            lock = %path.display(),
                            pid,
                            "taking over the lock of a run that is gone (pid {pid} does not exist)"
                        ),
                        Err(_) => tracing::warn!(
                            lock = %path.display(),
                            "taking over a lock file without a pid (left by an interrupted run)"
                        ),
                    }
                    match fs::remove_file(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(perr(path)(e).into()),
                    }
                }
                Err(e) => return Err(perr(path)(e).into()),
            }
        }
        Err(perr(path)(io::Error::other(
            "lock file keeps changing; is another run starting?",
        ))
        .into())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn alive(pid: i32) -> bool {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_refused_dead_holder_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let l = Lock::acquire(&p).unwrap();
        match Lock::acquire(&p) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid as u32, std::process::id()),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(l);
        assert!(!p.exists());
        // A pid that cannot exist (above pid_max).
        fs::write(&p, "999999999\n").unwrap();
        let _l = Lock::acquire(&p).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap().trim(),
            std::process::id().to_string()
        );
    }
}
