//! Required volumes: is each one mounted (per `/proc/self/mountinfo`, which never blocks),
//! of the right type, and answering (per [`crate::probe`], which never hangs the daemon)?
//! Missing `automount` volumes are mounted on the way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::mount::MsFlags;

use crate::config::{MountKind, MountSpec};
use crate::mountopts::{OptionError, parse_options};
use crate::probe::{ProbeOutcome, Prober, on_thread};
use crate::readiness::{VolumeFact, VolumeHealth};

/// A failed automount is retried at most this often: a mount that failed a second ago
/// will fail again, and mount.nfs may take long to say so.
const AUTOMOUNT_RETRY: Duration = Duration::from_secs(30);
/// How long `mount.nfs` may take before it is killed.
const NFS_MOUNT_TIMEOUT: Duration = Duration::from_secs(60);

pub use kkoji_mountinfo::{MountEntry, find_mount, parse_mountinfo, read_mountinfo};

fn type_matches(kind: MountKind, fstype: &str) -> bool {
    match kind {
        MountKind::Nfs => fstype == "nfs" || fstype == "nfs4",
        MountKind::Bind | MountKind::Dir => true,
        k => fstype == k.as_str(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(
        "cannot mount {source_name} on {path} (nfs): the mount.nfs helper is not installed (package nfs-common) and the kernel needs it for NFS"
    )]
    NfsHelperMissing { path: PathBuf, source_name: String },
    #[error("cannot mount {path}: bad options: {err}")]
    Options { path: PathBuf, err: OptionError },
    #[error("cannot mount {source_name} on {path} ({kind}): {message}")]
    Failed {
        path: PathBuf,
        source_name: String,
        kind: &'static str,
        message: String,
    },
}

/// How a volume gets mounted: through a helper program (NFS: the kernel's NFS mount needs
/// `mount.nfs` to resolve the server and negotiate versions) or directly with `mount(2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountPlan {
    Helper {
        program: PathBuf,
        args: Vec<String>,
    },
    Syscall {
        source: String,
        fstype: Option<String>,
        flags: MsFlags,
        data: String,
        /// Flags for a second `MS_REMOUNT` call: a bind mount ignores `ro` and friends on
        /// the first call.
        remount_flags: Option<MsFlags>,
    },
}

/// Where `mount.nfs` lives, if installed.
pub fn find_nfs_helper() -> Option<PathBuf> {
    [
        "/sbin/mount.nfs",
        "/usr/sbin/mount.nfs",
        "/usr/bin/mount.nfs",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Decides how to mount `spec`; `nfs_helper` is where mount.nfs is (if anywhere).
pub fn plan_mount(spec: &MountSpec, nfs_helper: Option<&Path>) -> Result<MountPlan, MountError> {
    let opts = parse_options(spec.options()).map_err(|err| MountError::Options {
        path: spec.path.clone(),
        err,
    })?;
    let source = spec.source.clone().unwrap_or_default();
    let path_str = spec.path.display().to_string();
    match spec.kind {
        MountKind::Nfs => {
            let Some(helper) = nfs_helper else {
                return Err(MountError::NfsHelperMissing {
                    path: spec.path.clone(),
                    source_name: source,
                });
            };
            let mut args = vec![source, path_str];
            let o = spec.options().trim();
            if !o.is_empty() {
                args.push("-o".into());
                args.push(o.to_owned());
            }
            Ok(MountPlan::Helper {
                program: helper.to_path_buf(),
                args,
            })
        }
        MountKind::Bind => {
            let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
            Ok(MountPlan::Syscall {
                source,
                fstype: None,
                flags: MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC),
                data: String::new(),
                remount_flags: (!extra.is_empty())
                    .then_some(MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra),
            })
        }
        MountKind::Tmpfs => Ok(MountPlan::Syscall {
            source: if source.is_empty() {
                "tmpfs".into()
            } else {
                source
            },
            fstype: Some("tmpfs".into()),
            flags: opts.flags,
            data: opts.data,
            remount_flags: None,
        }),
        MountKind::Ext4 | MountKind::Xfs => Ok(MountPlan::Syscall {
            source,
            fstype: Some(spec.kind.as_str().into()),
            flags: opts.flags,
            data: opts.data,
            remount_flags: None,
        }),
        MountKind::Dir => Err(MountError::Failed {
            path: spec.path.clone(),
            source_name: source,
            kind: "dir",
            message: "a dir is not a mount".into(),
        }),
    }
}

/// Mounts `spec` now (creating the mount point if needed).
pub async fn mount_volume(spec: &MountSpec) -> Result<(), MountError> {
    let plan = plan_mount(spec, find_nfs_helper().as_deref())?;
    let failed = |message: String| MountError::Failed {
        path: spec.path.clone(),
        source_name: spec.source.clone().unwrap_or_default(),
        kind: spec.kind.as_str(),
        message,
    };
    tracing::info!(path = %spec.path.display(), kind = spec.kind.as_str(), ?plan, "mounting");
    match plan {
        MountPlan::Helper { program, args } => {
            let path = spec.path.clone();
            on_thread("mkdir", Duration::from_secs(10), move || {
                std::fs::create_dir_all(&path).map_err(|e| format!("creating the mount point: {e}"))
            })
            .await
            .map_err(failed)?;
            let mut cmd = tokio::process::Command::new(&program);
            cmd.args(&args).kill_on_drop(true);
            let out = tokio::time::timeout(NFS_MOUNT_TIMEOUT, cmd.output())
                .await
                .map_err(|_| {
                    failed(format!(
                        "{} did not finish within {NFS_MOUNT_TIMEOUT:?}",
                        program.display()
                    ))
                })?
                .map_err(|e| failed(format!("cannot run {}: {e}", program.display())))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(failed(format!(
                    "{} exited with {}: {}",
                    program.display(),
                    out.status,
                    err.trim()
                )));
            }
            Ok(())
        }
        MountPlan::Syscall {
            source,
            fstype,
            flags,
            data,
            remount_flags,
        } => {
            let path = spec.path.clone();
            on_thread("mount", Duration::from_secs(60), move || {
                std::fs::create_dir_all(&path)
                    .map_err(|e| format!("creating the mount point: {e}"))?;
                let data_opt = (!data.is_empty()).then_some(data.as_str());
                nix::mount::mount(
                    Some(source.as_str()),
                    &path,
                    fstype.as_deref(),
                    flags,
                    data_opt,
                )
                .map_err(|e| format!("mount(2): {e}"))?;
                if let Some(rf) = remount_flags {
                    nix::mount::mount(None::<&str>, &path, None::<&str>, rf, None::<&str>)
                        .map_err(|e| format!("remount with options: {e}"))?;
                }
                Ok(())
            })
            .await
            .map_err(failed)
        }
    }
}

/// What one volume check found.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeReport {
    pub volumes: Vec<VolumeFact>,
    /// Free MiB at the work dir, or why not known.
    pub work_free_mb: Result<u64, String>,
}

/// Checks the required volumes and the work dir's free space.
pub struct VolumeChecker {
    specs: Vec<MountSpec>,
    work_dir: PathBuf,
    timeout: Duration,
    prober: Arc<Prober>,
    /// Last automount failure per path, so retries are spaced out and the reason kept.
    automount_failures: Mutex<HashMap<PathBuf, (Instant, String)>>,
}

impl VolumeChecker {
    pub fn new(specs: Vec<MountSpec>, work_dir: PathBuf, timeout: Duration) -> Self {
        Self::with_prober(specs, work_dir, timeout, Arc::new(Prober::new()))
    }

    pub fn with_prober(
        specs: Vec<MountSpec>,
        work_dir: PathBuf,
        timeout: Duration,
        prober: Arc<Prober>,
    ) -> Self {
        VolumeChecker {
            specs,
            work_dir,
            timeout,
            prober,
            automount_failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn prober(&self) -> &Arc<Prober> {
        &self.prober
    }

    /// Returns within about the probe timeout (plus mounting time when an automount
    /// volume is absent), whatever state the volumes are in.
    pub async fn check(&self) -> VolumeReport {
        let mut mountinfo = read_mountinfo().unwrap_or_else(|e| {
            tracing::warn!("cannot read /proc/self/mountinfo: {e}");
            Vec::new()
        });
        let mut pre: Vec<Option<VolumeHealth>> = Vec::with_capacity(self.specs.len());
        for spec in &self.specs {
            if spec.kind == MountKind::Dir {
                pre.push(None);
                continue;
            }
            if find_mount(&mountinfo, &spec.path).is_none() && spec.automount {
                if let Some(detail) = self.try_automount(spec).await {
                    pre.push(Some(VolumeHealth::NotMounted {
                        detail: Some(detail),
                    }));
                    continue;
                }
                mountinfo = read_mountinfo().unwrap_or_default();
            }
            pre.push(match find_mount(&mountinfo, &spec.path) {
                None => Some(VolumeHealth::NotMounted { detail: None }),
                Some(e) if !type_matches(spec.kind, &e.fstype) => Some(VolumeHealth::WrongType {
                    found: e.fstype.clone(),
                    expected: spec.kind.as_str().to_owned(),
                }),
                Some(_) => None,
            });
        }
        // Probe everything that is mounted (or a plain dir), plus the work dir.
        let mut paths = Vec::new();
        for (spec, p) in self.specs.iter().zip(&pre) {
            if p.is_none() {
                paths.push(spec.path.clone());
            }
        }
        paths.push(self.work_dir.clone());
        let mut outcomes = self
            .prober
            .probe_all_async(paths, self.timeout)
            .await
            .into_iter();
        let secs = self.timeout.as_secs().max(1);
        let mut volumes = Vec::with_capacity(self.specs.len());
        for (spec, p) in self.specs.iter().zip(pre) {
            let health = match p {
                Some(h) => h,
                None => match outcomes.next() {
                    Some(ProbeOutcome::Answered(_)) => VolumeHealth::Healthy,
                    Some(ProbeOutcome::Failed(e)) => VolumeHealth::Error(e),
                    Some(ProbeOutcome::NotAnswering { .. }) => {
                        VolumeHealth::NotAnswering { timeout_secs: secs }
                    }
                    None => VolumeHealth::Error("no probe result".into()),
                },
            };
            volumes.push(VolumeFact {
                path: spec.path.clone(),
                health,
            });
        }
        let work_free_mb = match outcomes.next() {
            Some(ProbeOutcome::Answered(i)) => Ok(i.free_bytes / (1024 * 1024)),
            Some(ProbeOutcome::Failed(e)) => Err(e),
            Some(ProbeOutcome::NotAnswering { .. }) => Err(format!("not answering within {secs}s")),
            None => Err("no probe result".into()),
        };
        VolumeReport {
            volumes,
            work_free_mb,
        }
    }

    /// Mounts an absent automount volume; `Some(reason)` when it is still not mounted.
    async fn try_automount(&self, spec: &MountSpec) -> Option<String> {
        {
            let failures = self
                .automount_failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((at, msg)) = failures.get(&spec.path)
                && at.elapsed() < AUTOMOUNT_RETRY
            {
                return Some(msg.clone());
            }
        }
        let result = mount_volume(spec).await;
        let mut failures = self
            .automount_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(()) => {
                tracing::info!(path = %spec.path.display(), "automount succeeded");
                failures.remove(&spec.path);
                None
            }
            Err(e) => {
                let msg = format!("automount failed: {e}");
                tracing::error!(path = %spec.path.display(), "{msg}");
                failures.insert(spec.path.clone(), (Instant::now(), msg.clone()));
                Some(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &str = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
40 22 0:40 / /mnt/koji rw,relatime shared:5 - nfs hub:/mnt/koji rw,vers=3\n\
41 22 0:41 / /mnt/with\\040space rw - tmpfs tmpfs rw\n\
42 40 0:42 / /mnt/koji rw - tmpfs tmpfs rw\n\
garbage line\n";

    #[test]
    fn mountinfo_parsing() {
        let e = parse_mountinfo(MI);
        assert_eq!(e.len(), 5);
        assert_eq!(e[1].mount_point, PathBuf::from("/mnt/parent"));
        assert_eq!(e[1].fstype, "ext3");
        assert_eq!(e[1].source, "/dev/root");
        assert_eq!(e[3].mount_point, PathBuf::from("/mnt/with space"));
        // the top of the stack wins
        assert_eq!(
            find_mount(&e, Path::new("/mnt/koji/")).map(|m| m.fstype.as_str()),
            Some("tmpfs")
        );
        assert!(find_mount(&e, Path::new("/mnt")).is_none());
        assert!(find_mount(&e, Path::new("/mnt/parent/x")).is_none());
    }

    #[test]
    fn types() {
        assert!(type_matches(MountKind::Nfs, "nfs4"));
        assert!(type_matches(MountKind::Xfs, "xfs"));
        assert!(!type_matches(MountKind::Ext4, "xfs"));
        assert!(type_matches(MountKind::Bind, "ext4"));
    }

    fn spec(kind: MountKind, source: Option<&str>, options: Option<&str>) -> MountSpec {
        MountSpec {
            path: PathBuf::from("/mnt/v"),
            kind,
            source: source.map(str::to_owned),
            automount: true,
            options: options.map(str::to_owned),
        }
    }

    #[test]
    fn nfs_plan_uses_the_helper_with_runbook_options() {
        let s = spec(MountKind::Nfs, Some("hub:/mnt/koji"), None);
        let p = plan_mount(&s, Some(Path::new("/sbin/mount.nfs"))).unwrap();
        assert_eq!(
            p,
            MountPlan::Helper {
                program: PathBuf::from("/sbin/mount.nfs"),
                args: vec![
                    "hub:/mnt/koji".into(),
                    "/mnt/v".into(),
                    "-o".into(),
                    "rw,hard,intr,rsize=32768,wsize=32768,vers=3".into()
                ]
            }
        );
        let e = plan_mount(&s, None).unwrap_err().to_string();
        assert!(e.contains("/mnt/v") && e.contains("mount.nfs"), "{e}");
    }

    #[test]
    fn local_disk_plan_uses_flags() {
        let s = spec(MountKind::Xfs, Some("/dev/nvme1n1"), None);
        assert_eq!(
            plan_mount(&s, None).unwrap(),
            MountPlan::Syscall {
                source: "/dev/nvme1n1".into(),
                fstype: Some("xfs".into()),
                flags: MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME,
                data: String::new(),
                remount_flags: None,
            }
        );
        let s = spec(
            MountKind::Ext4,
            Some("/dev/sdb1"),
            Some("noatime,discard,ro"),
        );
        let MountPlan::Syscall { flags, data, .. } = plan_mount(&s, None).unwrap() else {
            panic!("syscall plan expected");
        };
        assert_eq!(flags, MsFlags::MS_NOATIME | MsFlags::MS_RDONLY);
        assert_eq!(data, "discard");
    }

    #[test]
    fn bind_ro_needs_a_remount() {
        let s = spec(MountKind::Bind, Some("/srv/a"), Some("ro"));
        let MountPlan::Syscall {
            flags,
            remount_flags,
            fstype,
            ..
        } = plan_mount(&s, None).unwrap()
        else {
            panic!("syscall plan expected");
        };
        assert_eq!(fstype, None);
        assert_eq!(flags, MsFlags::MS_BIND);
        assert_eq!(
            remount_flags,
            Some(MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY)
        );
        let s = spec(MountKind::Tmpfs, None, Some("size=64m,noatime"));
        let MountPlan::Syscall {
            source,
            flags,
            data,
            ..
        } = plan_mount(&s, None).unwrap()
        else {
            panic!("syscall plan expected");
        };
        assert_eq!(source, "tmpfs");
        assert_eq!(flags, MsFlags::MS_NOATIME);
        assert_eq!(data, "size=64m");
    }
}
