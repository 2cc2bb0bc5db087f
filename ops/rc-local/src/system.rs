//! What the machine looks like (mount table, active swap, hostname) and the two ways of
//! doing something that may hang: a child process that is killed at its deadline, or a
//! thread that is abandoned at its deadline. A dead NFS server or a FUSE daemon that never
//! answers blocks `mount(2)`, `stat` and `statvfs` in the kernel; the boot must go on.

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use kkoji_mountinfo::{MountEntry, find_mount, parse_mountinfo, read_mountinfo, unescape};

/// Active swap areas from `/proc/swaps` (first column, unescaped).
pub fn parse_swaps(text: &str) -> Vec<PathBuf> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(|f| PathBuf::from(unescape(f)))
        .collect()
}

pub fn read_swaps() -> std::io::Result<Vec<PathBuf>> {
    Ok(parse_swaps(&std::fs::read_to_string("/proc/swaps")?))
}

/// `major:minor` of a block device node, or `None` when `path` is not one.
pub fn block_dev(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.file_type().is_block_device() {
        return None;
    }
    let rdev = meta.rdev();
    Some((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}

/// What a bounded operation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bounded<T> {
    Done(T),
    /// Still running at the deadline; abandoned (thread) or killed (process).
    TimedOut(Duration),
}

/// Runs `f` on its own thread and waits at most `timeout`. A thread stuck in the kernel
/// (stat on a dead mount) is abandoned; it dies with the process.
pub fn on_thread<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<Bounded<T>, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("rc-{what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot start a thread for {what}: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(v) => Ok(Bounded::Done(v)),
        Err(mpsc::RecvTimeoutError::Timeout) => Ok(Bounded::TimedOut(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!("{what}: the thread died")),
    }
}

/// Exit status and output of a finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub success: bool,
    pub status: String,
    /// stdout then stderr, trimmed (for the report).
    pub text: String,
    pub stdout: String,
}

/// Runs `argv` with a deadline. At the deadline the child gets SIGKILL (a process blocked
/// on a dead NFS or FUSE mount waits killably) and is reaped by a background thread, so
/// even a child that never dies cannot hold up the boot.
pub fn run_bounded(argv: &[String], timeout: Duration) -> Result<Bounded<Output>, String> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| "empty command".to_string())?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    // Readers on threads: a chatty child must not block on a full pipe while we wait.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let stdout = out_t.join().unwrap_or_default();
                let stderr = err_t.join().unwrap_or_default();
                let text = format!("{}\n{}", stdout.trim(), stderr.trim())
                    .trim()
                    .to_string();
                return Ok(Bounded::Done(Output {
                    success: status.success(),
                    status: status.to_string(),
                    text,
                    stdout,
                }));
            }
            Ok(None) if Instant::now() >= deadline => {
                tracing::warn!(command = ?argv, ?timeout, "command did not finish; killing it");
                let _ = child.kill();
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                return Ok(Bounded::TimedOut(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {prog}: {e}")),
        }
    }
}

/// A device spec (`/dev/x`, `UUID=…`, `LABEL=…`) resolved to a device node. Devices may
/// show up late at boot (NVMe enumeration, a volume attached after the VM started), so a
/// tag that is not found is looked up again until `wait` has passed.
pub fn resolve_device(spec: &str, wait: Duration, timeout: Duration) -> Result<PathBuf, String> {
    let (flag, value) = if let Some(u) = spec.strip_prefix("UUID=") {
        ("-U", u)
    } else if let Some(l) = spec.strip_prefix("LABEL=") {
        ("-L", l)
    } else {
        return Ok(PathBuf::from(spec));
    };
    // No cache: a stale blkid cache would name the device of a previous VM.
    let argv: Vec<String> = ["blkid", "-c", "/dev/null", flag, value]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let deadline = Instant::now() + wait;
    loop {
        let why = match run_bounded(&argv, timeout)? {
            Bounded::Done(o) if o.success && !o.stdout.trim().is_empty() => {
                return Ok(PathBuf::from(o.stdout.trim()));
            }
            Bounded::Done(o) if o.text.is_empty() => format!("no device with {spec}"),
            Bounded::Done(o) => format!("no device with {spec} (blkid: {})", o.text),
            Bounded::TimedOut(t) => {
                return Err(format!(
                    "looking up {spec}: blkid did not answer within {t:?}"
                ));
            }
        };
        if Instant::now() >= deadline {
            return Err(if wait.is_zero() {
                why
            } else {
                format!("{why} after waiting {wait:?}")
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let t = "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw\n\
                 37 35 0:51 / /mnt/with\\040space rw shared:2 - tmpfs tmpfs rw\n\
                 garbage\n";
        let e = parse_mountinfo(t);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].dev, (98, 0));
        assert_eq!(e[0].fstype, "ext3");
        assert_eq!(e[1].mount_point, PathBuf::from("/mnt/with space"));
        assert!(find_mount(&e, Path::new("/mnt/with space/")).is_some());
        assert!(find_mount(&e, Path::new("/mnt")).is_none());
    }

    #[test]
    fn swaps_lines() {
        let t = "Filename\tType\tSize\tUsed\tPriority\n/dev/loop0      partition\t16380\t0\t-2\n";
        assert_eq!(parse_swaps(t), vec![PathBuf::from("/dev/loop0")]);
    }

    #[test]
    fn bounded_command_is_killed_at_its_deadline() {
        let argv = vec!["sleep".to_string(), "600".to_string()];
        assert_eq!(
            run_bounded(&argv, Duration::from_millis(200)).unwrap(),
            Bounded::TimedOut(Duration::from_millis(200))
        );
        let argv = vec![
            "sh".into(),
            "-c".into(),
            "echo out; echo err >&2; exit 3".into(),
        ];
        let Bounded::Done(o) = run_bounded(&argv, Duration::from_secs(60)).unwrap() else {
            panic!("sh timed out")
        };
        assert!(!o.success);
        assert_eq!(o.text, "out\nerr");
        assert!(run_bounded(&["/nonexistent/x".to_string()], Duration::from_secs(5)).is_err());
    }

    #[test]
    fn abandoned_thread_does_not_block() {
        let (_tx, rx) = mpsc::channel::<()>();
        let r = on_thread("wait", Duration::from_millis(100), move || {
            rx.recv().is_ok()
        });
        assert_eq!(r.unwrap(), Bounded::TimedOut(Duration::from_millis(100)));
        assert_eq!(
            on_thread("quick", Duration::from_secs(60), || 7).unwrap(),
            Bounded::Done(7)
        );
    }
}
