//! The readiness decision: measured facts in, a verdict with plain sentences out. Kept
//! pure so every sentence an operator may read in `koji list-hosts` is pinned by a test,
//! and so the daemon's log and the hub's status field always say the same thing.

use std::fmt;
use std::path::PathBuf;

/// Health of one required volume, as measured by the mount checker.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeHealth {
    Healthy,
    /// Not a mount point (and, for automount volumes, mounting it failed or was not tried).
    NotMounted {
        detail: Option<String>,
    },
    /// A mount point of the wrong filesystem type (e.g. an empty local directory mounted
    /// where the NFS share should be).
    WrongType {
        found: String,
        expected: String,
    },
    /// The stat did not come back within the timeout (a dead NFS hard mount).
    NotAnswering {
        timeout_secs: u64,
    },
    /// The stat failed (missing path, I/O error, stale handle).
    Error(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeFact {
    pub path: PathBuf,
    pub health: VolumeHealth,
}

/// Everything the decision needs, gathered by the daemon before each take and check-in.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// `host.getHost()['enabled']`.
    pub enabled: bool,
    /// `host.getHost()['capacity']`.
    pub capacity: f64,
    /// 1-minute load average; `None` when `load_check` is off.
    pub load_avg: Option<f64>,
    /// Sum of the weights of local tasks that are not waiting on subtasks.
    pub task_load: f64,
    /// Local tasks not waiting on subtasks, against `maxjobs`.
    pub jobs: usize,
    pub maxjobs: u32,
    pub work_dir: PathBuf,
    /// Free MiB at `work_dir`, or why it could not be measured.
    pub free_mb: Result<u64, String>,
    pub minspace_mb: u64,
    pub volumes: Vec<VolumeFact>,
    /// A `restart` task asked this daemon to re-execute itself: it takes nothing more.
    pub restart_pending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Ready,
    NotReady(Vec<String>),
}

impl Verdict {
    pub fn is_ready(&self) -> bool {
        matches!(self, Verdict::Ready)
    }

    /// The sentence for the log and the hub's `status`: `ready` or
    /// `not ready: reason; reason`.
    pub fn status(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ready => f.write_str("ready"),
            Verdict::NotReady(reasons) => write!(f, "not ready: {}", reasons.join("; ")),
        }
    }
}

/// Python-like float display (`4.0`, `2.5`), as Koji shows capacities.
pub fn fmt_capacity(x: f64) -> String {
    let s = format!("{x}");
    if s.contains(['.', 'e', 'E', 'N', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// The sentence for one volume problem; `None` when healthy.
pub fn volume_reason(v: &VolumeFact) -> Option<String> {
    let p = v.path.display();
    Some(match &v.health {
        VolumeHealth::Healthy => return None,
        VolumeHealth::NotMounted { detail: None } => format!("mount {p} is not mounted"),
        VolumeHealth::NotMounted { detail: Some(d) } => format!("mount {p} is not mounted ({d})"),
        VolumeHealth::WrongType { found, expected } => {
            format!("mount {p} is {found}, expected {expected}")
        }
        VolumeHealth::NotAnswering { timeout_secs } => {
            format!("mount {p} not answering within {timeout_secs}s")
        }
        VolumeHealth::Error(e) => format!("mount {p}: {e}"),
    })
}

/// May this host take work at all? Checked at every check-in and before every take.
pub fn host_verdict(f: &Facts) -> Verdict {
    let mut reasons = Vec::new();
    if f.restart_pending {
        reasons.push("restart pending".to_owned());
    }
    if !f.enabled {
        reasons.push("host is disabled".to_owned());
    }
    if let Some(load) = f.load_avg
        && load > f.capacity
    {
        reasons.push(format!(
            "load average {load:.2} > capacity {}",
            fmt_capacity(f.capacity)
        ));
    }
    if f.task_load > f.capacity {
        reasons.push(format!(
            "task load {:.2} > capacity {}",
            f.task_load,
            fmt_capacity(f.capacity)
        ));
    }
    if f.jobs >= f.maxjobs as usize {
        reasons.push(format!("{} jobs running, maxjobs is {}", f.jobs, f.maxjobs));
    }
    match &f.free_mb {
        Ok(free) if *free < f.minspace_mb => reasons.push(format!(
            "free space at {} is {free} MiB < minspace {} MiB",
            f.work_dir.display(),
            f.minspace_mb
        )),
        Ok(_) => {}
        Err(e) => reasons.push(format!(
            "cannot measure free space at {}: {e}",
            f.work_dir.display()
        )),
    }
    reasons.extend(f.volumes.iter().filter_map(volume_reason));
    if reasons.is_empty() {
        Verdict::Ready
    } else {
        Verdict::NotReady(reasons)
    }
}

/// May this host take one more task of `weight`? The host verdict plus the capacity
/// check for the new task. An idle host takes any one task whatever its weight, as the
/// hub's scheduler overcommits: otherwise a 1-core builder (capacity 1.0) could never run
/// a buildArch (weight 1.5) and the task would bounce between refusals forever.
pub fn take_verdict(f: &Facts, method: &str, weight: f64) -> Verdict {
    let mut reasons = match host_verdict(f) {
        Verdict::Ready => Vec::new(),
        Verdict::NotReady(r) => r,
    };
    if f.task_load > 0.0 && f.task_load <= f.capacity && f.task_load + weight > f.capacity {
        reasons.push(format!(
            "task load {:.2} + {method} weight {:.2} > capacity {}",
            f.task_load,
            weight,
            fmt_capacity(f.capacity)
        ));
    }
    if reasons.is_empty() {
        Verdict::Ready
    } else {
        Verdict::NotReady(reasons)
    }
}

/// First field of `/proc/loadavg` (`0.52 0.58 0.59 1/467 12345`).
pub fn parse_loadavg(text: &str) -> Result<f64, String> {
    let first = text
        .split_whitespace()
        .next()
        .ok_or_else(|| "empty /proc/loadavg".to_owned())?;
    let v: f64 = first
        .parse()
        .map_err(|_| format!("bad /proc/loadavg value {first:?}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("bad /proc/loadavg value {first:?}"));
    }
    Ok(v)
}

/// Reads the 1-minute load average of this machine.
pub fn read_loadavg() -> Result<f64, String> {
    let text = std::fs::read_to_string("/proc/loadavg")
        .map_err(|e| format!("cannot read /proc/loadavg: {e}"))?;
    parse_loadavg(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_facts() -> Facts {
        Facts {
            enabled: true,
            capacity: 4.0,
            load_avg: Some(0.5),
            task_load: 0.0,
            jobs: 0,
            maxjobs: 10,
            work_dir: PathBuf::from("/var/tmp/kkoji"),
            free_mb: Ok(100_000),
            minspace_mb: 8192,
            volumes: vec![VolumeFact {
                path: PathBuf::from("/mnt/koji"),
                health: VolumeHealth::Healthy,
            }],
            restart_pending: false,
        }
    }

    #[test]
    fn a_pending_restart_makes_the_host_not_ready() {
        let f = Facts {
            restart_pending: true,
            ..ok_facts()
        };
        assert_eq!(host_verdict(&f).status(), "not ready: restart pending");
        assert!(!take_verdict(&f, "restartVerify", 0.1).is_ready());
    }

    #[test]
    fn loadavg_parsing() {
        assert_eq!(parse_loadavg("0.52 0.58 0.59 1/467 12345\n"), Ok(0.52));
        assert_eq!(parse_loadavg("12.00 1 1 1/1 1"), Ok(12.0));
        assert!(parse_loadavg("").is_err());
        assert!(parse_loadavg("abc 1 2").unwrap_err().contains("abc"));
        assert!(parse_loadavg("-1 0 0").is_err());
        assert!(read_loadavg().is_ok());
    }

    #[test]
    fn healthy_host_is_ready() {
        let v = host_verdict(&ok_facts());
        assert_eq!(v, Verdict::Ready);
        assert_eq!(v.status(), "ready");
        assert!(take_verdict(&ok_facts(), "buildArch", 1.5).is_ready());
    }

    #[test]
    fn each_problem_has_its_sentence() {
        let mut f = ok_facts();
        f.load_avg = Some(5.2);
        assert_eq!(
            host_verdict(&f).status(),
            "not ready: load average 5.20 > capacity 4.0"
        );

        let mut f = ok_facts();
        f.enabled = false;
        assert_eq!(host_verdict(&f).status(), "not ready: host is disabled");

        let mut f = ok_facts();
        f.jobs = 10;
        assert_eq!(
            host_verdict(&f).status(),
            "not ready: 10 jobs running, maxjobs is 10"
        );

        let mut f = ok_facts();
        f.free_mb = Ok(512);
        assert_eq!(
            host_verdict(&f).status(),
            "not ready: free space at /var/tmp/kkoji is 512 MiB < minspace 8192 MiB"
        );

        let mut f = ok_facts();
        f.free_mb = Err("not answering within 5s".into());
        assert_eq!(
            host_verdict(&f).status(),
            "not ready: cannot measure free space at /var/tmp/kkoji: not answering within 5s"
        );

        let mut f = ok_facts();
        f.task_load = 4.5;
        assert_eq!(
            host_verdict(&f).status(),
            "not ready: task load 4.50 > capacity 4.0"
        );

        let vol = |h| {
            let mut f = ok_facts();
            f.volumes[0].health = h;
            host_verdict(&f).status()
        };
        assert_eq!(
            vol(VolumeHealth::NotAnswering { timeout_secs: 5 }),
            "not ready: mount /mnt/koji not answering within 5s"
        );
        assert_eq!(
            vol(VolumeHealth::NotMounted { detail: None }),
            "not ready: mount /mnt/koji is not mounted"
        );
        assert_eq!(
            vol(VolumeHealth::NotMounted {
                detail: Some("automount failed: boom".into())
            }),
            "not ready: mount /mnt/koji is not mounted (automount failed: boom)"
        );
        assert_eq!(
            vol(VolumeHealth::WrongType {
                found: "tmpfs".into(),
                expected: "nfs".into()
            }),
            "not ready: mount /mnt/koji is tmpfs, expected nfs"
        );
        assert_eq!(
            vol(VolumeHealth::Error("No such file or directory".into())),
            "not ready: mount /mnt/koji: No such file or directory"
        );
    }

    #[test]
    fn reasons_accumulate() {
        let mut f = ok_facts();
        f.enabled = false;
        f.load_avg = Some(9.0);
        f.capacity = 2.5;
        assert_eq!(
            host_verdict(&f).status(),
            "not ready: host is disabled; load average 9.00 > capacity 2.5"
        );
    }

    #[test]
    fn load_check_off_ignores_load() {
        let mut f = ok_facts();
        f.load_avg = None;
        f.capacity = 0.5;
        assert!(host_verdict(&f).is_ready());
    }

    #[test]
    fn weight_against_capacity() {
        let mut f = ok_facts();
        f.capacity = 2.0;
        f.task_load = 1.5;
        f.jobs = 1;
        assert_eq!(
            take_verdict(&f, "buildArch", 1.5).status(),
            "not ready: task load 1.50 + buildArch weight 1.50 > capacity 2.0"
        );
        // the host as a whole is still ready (it checks in as ready)
        assert!(host_verdict(&f).is_ready());
        assert!(take_verdict(&f, "build", 0.2).is_ready());
        // an idle host takes a task heavier than its capacity
        let mut f = ok_facts();
        f.capacity = 1.0;
        assert!(take_verdict(&f, "buildArch", 1.5).is_ready());
    }

    #[test]
    fn capacity_display() {
        assert_eq!(fmt_capacity(4.0), "4.0");
        assert_eq!(fmt_capacity(2.5), "2.5");
        assert_eq!(fmt_capacity(10.0), "10.0");
    }
}
