//! The daily free-space check: every configured volume's used space and inodes against a
//! threshold, counted as `df` counts them (blocks reserved for root are not free).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// What one volume looks like.
#[derive(Debug, Clone, PartialEq)]
pub enum Usage {
    Measured {
        used_percent: f64,
        inode_percent: f64,
        free_bytes: u64,
        total_bytes: u64,
    },
    /// statvfs failed (not mounted, no such path, permission).
    Error(String),
    /// No answer within the timeout (a dead NFS server).
    NotAnswering(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeCheck {
    pub path: PathBuf,
    pub usage: Usage,
    /// Over a threshold or not measurable: something an operator must look at.
    pub problem: bool,
}

/// `used / (used + available)` in percent, as df computes "Use%".
fn percent(used: u64, avail: u64) -> f64 {
    let total = u128::from(used) + u128::from(avail);
    if total == 0 {
        return 0.0;
    }
    // in tenths of a percent: integer math, then a lossless conversion
    let permille = u128::from(used) * 1000 / total;
    f64::from(u32::try_from(permille).unwrap_or(1000)) / 10.0
}

fn measure(path: &Path) -> Result<Usage, String> {
    let s = nix::sys::statvfs::statvfs(path).map_err(|e| e.to_string())?;
    let frsize = s.fragment_size();
    let blocks = s.blocks();
    let used = blocks.saturating_sub(s.blocks_free());
    let avail = s.blocks_available();
    let files = s.files();
    let inode_used = files.saturating_sub(s.files_free());
    Ok(Usage::Measured {
        used_percent: percent(used, avail),
        inode_percent: percent(inode_used, s.files_available()),
        free_bytes: avail.saturating_mul(frsize),
        total_bytes: blocks.saturating_mul(frsize),
    })
}

/// statvfs on its own thread; a thread stuck on a dead mount is abandoned.
fn measure_bounded(path: &Path, timeout: Duration) -> Usage {
    let (tx, rx) = mpsc::channel();
    let p = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("statvfs".into())
        .spawn(move || {
            let _ = tx.send(measure(&p));
        });
    if let Err(e) = spawned {
        return Usage::Error(format!("cannot start a thread: {e}"));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => Usage::Error(e),
        Err(_) => Usage::NotAnswering(timeout),
    }
}

/// Checks every volume.
pub fn check(
    volumes: &[PathBuf],
    threshold: u8,
    inode_threshold: u8,
    timeout: Duration,
) -> Vec<VolumeCheck> {
    volumes
        .iter()
        .map(|v| {
            let usage = measure_bounded(v, timeout);
            let problem = match &usage {
                Usage::Measured {
                    used_percent,
                    inode_percent,
                    ..
                } => {
                    *used_percent >= f64::from(threshold)
                        || *inode_percent >= f64::from(inode_threshold)
                }
                _ => true,
            };
            VolumeCheck {
                path: v.clone(),
                usage,
                problem,
            }
        })
        .collect()
}

fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut div: u128 = 1;
    let mut i = 0;
    while u128::from(bytes) >= div * 1024 && i + 1 < units.len() {
        div *= 1024;
        i += 1;
    }
    let tenths = u128::from(bytes) * 10 / div;
    format!("{}.{} {}", tenths / 10, tenths % 10, units[i])
}

impl fmt::Display for VolumeCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.problem { "OVER" } else { "ok" };
        match &self.usage {
            Usage::Measured {
                used_percent,
                inode_percent,
                free_bytes,
                total_bytes,
            } => write!(
                f,
                "{state:<5} {}: {used_percent:.0}% used, {} free of {}, inodes {inode_percent:.0}% used",
                self.path.display(),
                human(*free_bytes),
                human(*total_bytes)
            ),
            Usage::Error(e) => write!(f, "ERROR {}: {e}", self.path.display()),
            Usage::NotAnswering(t) => {
                write!(
                    f,
                    "ERROR {}: not answering within {t:?}",
                    self.path.display()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_like_df() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(90, 10), 90.0);
        assert_eq!(percent(1, 3), 25.0);
        assert_eq!(human(1536), "1.5 KiB");
    }

    #[test]
    fn missing_path_is_a_problem() {
        let r = check(
            &[PathBuf::from("/nonexistent/kkoji-ops")],
            90,
            90,
            Duration::from_secs(10),
        );
        assert!(r[0].problem);
        assert!(r[0].to_string().starts_with("ERROR /nonexistent/kkoji-ops"));
        let t = tempfile::tempdir().unwrap();
        let r = check(&[t.path().to_path_buf()], 100, 100, Duration::from_secs(10));
        assert!(matches!(r[0].usage, Usage::Measured { .. }));
    }
}
