//! Volume checks against real mounts (the tests run as root and mount tmpfs) and a
//! simulated dead NFS mount (a probe that blocks), which must not hang the checker nor
//! pile up probe threads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kkoji_builder::config::{MountKind, MountSpec};
use kkoji_builder::mounts::{VolumeChecker, find_mount, read_mountinfo};
use kkoji_builder::probe::{ProbeInfo, Prober, stat_probe};
use kkoji_builder::readiness::{VolumeHealth, volume_reason};

/// Unmounts on drop so a failing test leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn mount_tmpfs(p: &Path) -> Mounted {
    std::fs::create_dir_all(p).unwrap();
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=8m",
            "kkojitest",
            &p.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mount -t tmpfs failed (these tests need root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Mounted(p.to_path_buf())
}

fn spec(path: &Path, kind: MountKind) -> MountSpec {
    MountSpec {
        path: path.to_path_buf(),
        kind,
        source: None,
        automount: false,
        options: None,
    }
}

#[tokio::test]
async fn tmpfs_mount_is_healthy_and_missing_things_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let _m = mount_tmpfs(&mnt);
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let missing = tmp.path().join("missing");
    let checker = VolumeChecker::new(
        vec![
            spec(&mnt, MountKind::Tmpfs),
            spec(&mnt, MountKind::Nfs),
            spec(&plain, MountKind::Ext4),
            spec(&missing, MountKind::Dir),
            spec(&plain, MountKind::Dir),
        ],
        tmp.path().to_path_buf(),
        Duration::from_secs(5),
    );
    let r = checker.check().await;
    let h: Vec<&VolumeHealth> = r.volumes.iter().map(|v| &v.health).collect();
    assert_eq!(h[0], &VolumeHealth::Healthy);
    assert_eq!(
        h[1],
        &VolumeHealth::WrongType {
            found: "tmpfs".into(),
            expected: "nfs".into()
        }
    );
    assert_eq!(h[2], &VolumeHealth::NotMounted { detail: None });
    assert_eq!(h[3], &VolumeHealth::Error("path does not exist".into()));
    assert_eq!(h[4], &VolumeHealth::Healthy);
    assert_eq!(
        volume_reason(&r.volumes[3]).unwrap(),
        format!("mount {}: path does not exist", missing.display())
    );
    assert_eq!(
        volume_reason(&r.volumes[2]).unwrap(),
        format!("mount {} is not mounted", plain.display())
    );
    assert!(*r.work_free_mb.as_ref().unwrap() > 0);
}

#[tokio::test]
async fn automount_mounts_tmpfs_and_explains_nfs() {
    let tmp = tempfile::tempdir().unwrap();
    let auto = tmp.path().join("auto");
    let _guard = Mounted(auto.clone());
    let nfs = tmp.path().join("koji");
    let checker = VolumeChecker::new(
        vec![
            MountSpec {
                automount: true,
                options: Some("size=4m,noatime,nodiratime".into()),
                ..spec(&auto, MountKind::Tmpfs)
            },
            MountSpec {
                automount: true,
                source: Some("hub.example.com:/mnt/koji".into()),
                ..spec(&nfs, MountKind::Nfs)
            },
        ],
        tmp.path().to_path_buf(),
        Duration::from_secs(5),
    );
    let r = checker.check().await;
    assert_eq!(r.volumes[0].health, VolumeHealth::Healthy, "{r:?}");
    let mi = read_mountinfo().unwrap();
    let m = find_mount(&mi, &auto).expect("tmpfs mounted");
    assert_eq!(m.fstype, "tmpfs");
    let opts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = opts
        .lines()
        .find(|l| l.contains(&format!(" {} ", auto.display())))
        .unwrap();
    assert!(line.contains("noatime"), "{line}");

    // no NFS here (no mount.nfs helper, no kernel NFS): a clear reason naming the mount
    let VolumeHealth::NotMounted {
        detail: Some(detail),
    } = &r.volumes[1].health
    else {
        panic!("not mounted expected: {:?}", r.volumes[1]);
    };
    assert!(
        detail.starts_with("automount failed: cannot mount hub.example.com:/mnt/koji on "),
        "{detail}"
    );
    assert!(detail.contains(&nfs.display().to_string()), "{detail}");
    let reason = volume_reason(&r.volumes[1]).unwrap();
    assert!(
        reason.starts_with(&format!(
            "mount {} is not mounted (automount failed",
            nfs.display()
        )),
        "{reason}"
    );
    // a second check keeps the reason without hammering mount (retry is spaced out)
    let r2 = checker.check().await;
    assert_eq!(r2.volumes[1].health, r.volumes[1].health);
}

#[tokio::test]
async fn hung_probe_times_out_and_does_not_pile_up_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = tmp.path().join("dead-nfs");
    std::fs::create_dir_all(&dead).unwrap();
    let release = Arc::new(Mutex::new(false));
    let calls_on_dead = Arc::new(AtomicUsize::new(0));
    let probe = {
        let dead = dead.clone();
        let release = Arc::clone(&release);
        let calls = Arc::clone(&calls_on_dead);
        Arc::new(move |p: &Path| -> Result<ProbeInfo, String> {
            if p == dead {
                calls.fetch_add(1, Ordering::SeqCst);
                // a stat on a dead hard mount: blocks until the server comes back
                while !*release.lock().unwrap() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            stat_probe(p)
        })
    };
    let prober = Arc::new(Prober::with_probe(probe));
    let checker = VolumeChecker::with_prober(
        vec![spec(&dead, MountKind::Dir)],
        tmp.path().to_path_buf(),
        Duration::from_secs(1),
        Arc::clone(&prober),
    );

    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(60), checker.check())
        .await
        .expect("a hung probe hung the check");
    let took = t0.elapsed();
    // a lower bound only: the check cannot give up before its timeout has passed
    assert!(
        took >= Duration::from_millis(900),
        "returned before the timeout: {took:?}"
    );
    assert_eq!(
        r.volumes[0].health,
        VolumeHealth::NotAnswering { timeout_secs: 1 }
    );
    assert_eq!(
        volume_reason(&r.volumes[0]).unwrap(),
        format!("mount {} not answering within 1s", dead.display())
    );
    // the work dir itself answered
    assert!(r.work_free_mb.is_ok());
    assert_eq!(calls_on_dead.load(Ordering::SeqCst), 1);
    let threads = prober.threads_started();
    assert_eq!(threads, 2, "one for the dead mount, one for the work dir");

    // the probe is still hung: reported at once, no second thread for that path. A checker
    // that would wait an hour for an answer shows "at once" without timing the check.
    let patient = VolumeChecker::with_prober(
        vec![spec(&dead, MountKind::Dir)],
        tmp.path().to_path_buf(),
        Duration::from_secs(3600),
        Arc::clone(&prober),
    );
    let r = tokio::time::timeout(Duration::from_secs(60), patient.check())
        .await
        .expect("the check waited on a probe already known to hang");
    assert_eq!(
        r.volumes[0].health,
        VolumeHealth::NotAnswering { timeout_secs: 3600 }
    );
    assert_eq!(
        calls_on_dead.load(Ordering::SeqCst),
        1,
        "no second probe of the dead mount"
    );
    assert_eq!(
        prober.threads_started(),
        threads + 1,
        "only the work dir was probed again"
    );
    assert_eq!(prober.hung_paths(), vec![dead.clone()]);

    // the server comes back: the next check probes afresh and finds it healthy
    // (until its stuck thread has returned, a check still reports it hung, at once)
    *release.lock().unwrap() = true;
    let mut r = checker.check().await;
    for _ in 0..600 {
        if r.volumes[0].health == VolumeHealth::Healthy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        r = checker.check().await;
    }
    assert_eq!(r.volumes[0].health, VolumeHealth::Healthy);
    assert_eq!(calls_on_dead.load(Ordering::SeqCst), 2);
    assert!(prober.hung_paths().is_empty());
}
