//! `kkoji-builder prepare` on loop devices inside a private mount namespace (`unshare -m`,
//! the test re-runs itself there): it refuses to format a device that holds a filesystem,
//! formats a blank one only with --mkfs, makes the tree, links and swap, and a second run
//! changes nothing. NFS (the kernel here has none) is checked for its options and its
//! error path. Needs root (CI runs as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const INNER: &str = "KKOJI_PREPARE_TEST_INNER";

fn reexec_in_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        return false;
    }
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)");
    let out = wait_deadline(child, Duration::from_secs(300));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inner test failed:\n{text}");
    assert!(text.contains("1 passed"), "inner test did not run:\n{text}");
    true
}

fn wait_deadline(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

struct Loop(String);
impl Loop {
    fn new(file: &Path) -> Loop {
        let (ok, dev) = sh(&["losetup", "-f", "--show", file.to_str().unwrap()]);
        assert!(ok, "losetup");
        Loop(dev)
    }
}
impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

struct SwapOff(PathBuf);
impl Drop for SwapOff {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.0).status();
    }
}

fn image(path: &Path, mib: u64) {
    std::fs::File::create(path)
        .unwrap()
        .set_len(mib * 1024 * 1024)
        .unwrap();
}

fn prepare(config: &Path, args: &[&str]) -> (i32, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_kkoji-builder"))
        .arg("prepare")
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_deadline(child, Duration::from_secs(180));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "prepare {args:?}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn fs_signature(dev: &str) -> String {
    sh(&["blkid", "-p", "-o", "value", "-s", "TYPE", dev]).1
}

fn fstype_at(path: &Path) -> Option<String> {
    let want = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            (f[4] == want).then(|| f[sep + 1].to_string())
        })
        .next_back()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn config(dir: &Path, device: &str) -> PathBuf {
    let r = dir.display();
    let text = format!(
        r#"
hub = "http://127.0.0.1:9/kojihub"
host_cert = "{r}/host.pem"
work_dir = "{r}/mnt/tmp/kkoji"
[prepare]
device = "{device}"
fstype = "xfs"
mount = "{r}/mnt/tmp"
label = "kkscratch"
swap_file = "{r}/mnt/tmp/swapfile"
swap_mb = 16
dirs = [
  {{ path = "{r}/mnt/tmp/var/lib", mode = "0755" }},
  {{ path = "{r}/mnt/tmp/var/tmp", mode = "1777" }},
  {{ path = "{r}/mnt/tmp/var/cache", mode = "0755" }},
  {{ path = "{r}/mnt/tmp/var/lib/mock", mode = "2775", group = "root" }},
  {{ path = "{r}/mnt/tmp/external-repos", mode = "0755" }},
]
links = [
  {{ path = "{r}/var/lib/mock", target = "{r}/mnt/tmp/var/lib/mock" }},
  {{ path = "{r}/var/tmp", target = "{r}/mnt/tmp/var/tmp" }},
]
"#
    );
    let p = dir.join(format!("builder-{}.toml", device.replace('/', "_")));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn prepare_formats_only_a_blank_disk_and_a_second_run_changes_nothing() {
    if reexec_in_namespace("prepare_formats_only_a_blank_disk_and_a_second_run_changes_nothing") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mnt = dir.join("mnt/tmp");

    // a device that holds a filesystem is never formatted
    let used_img = dir.join("used.img");
    image(&used_img, 32);
    assert!(sh(&["mkfs.ext4", "-q", "-F", used_img.to_str().unwrap()]).0);
    let used = Loop::new(&used_img);
    let uuid_before = sh(&["blkid", "-p", "-o", "value", "-s", "UUID", &used.0]).1;
    let (code, out) = prepare(&config(dir, &used.0), &["--mkfs"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refusing to format"), "{out}");
    assert_eq!(fs_signature(&used.0), "ext4");
    assert_eq!(
        sh(&["blkid", "-p", "-o", "value", "-s", "UUID", &used.0]).1,
        uuid_before
    );
    assert_eq!(fstype_at(&mnt), None);

    // a blank device: not without --mkfs; --dry-run changes nothing
    let blank_img = dir.join("blank.img");
    image(&blank_img, 300);
    let blank = Loop::new(&blank_img);
    let cfg = config(dir, &blank.0);
    let (code, out) = prepare(&cfg, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("pass --mkfs"), "{out}");
    let (code, out) = prepare(&cfg, &["--mkfs", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would format as xfs"), "{out}");
    assert_eq!(fs_signature(&blank.0), "");
    assert_eq!(fstype_at(&mnt), None);
    assert!(!dir.join("var/lib/mock").exists());

    // --mkfs: formatted, mounted, tree, links, swap
    let _swapoff = SwapOff(mnt.join("swapfile"));
    let (code, out) = prepare(&cfg, &["--mkfs"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(fs_signature(&blank.0), "xfs");
    assert_eq!(
        sh(&["blkid", "-p", "-o", "value", "-s", "LABEL", &blank.0]).1,
        "kkscratch"
    );
    assert_eq!(fstype_at(&mnt).as_deref(), Some("xfs"));
    assert_eq!(mode(&mnt.join("var/tmp")), 0o1777);
    assert_eq!(mode(&mnt.join("var/lib/mock")), 0o2775);
    assert!(mnt.join("external-repos").is_dir());
    assert_eq!(
        std::fs::read_link(dir.join("var/lib/mock")).unwrap(),
        mnt.join("var/lib/mock")
    );
    assert!(
        std::fs::read_to_string("/proc/swaps")
            .unwrap()
            .contains(mnt.join("swapfile").to_str().unwrap())
    );
    assert_eq!(mode(&mnt.join("swapfile")), 0o600);

    // again: nothing to change (also with --mkfs, which must not format it again)
    std::fs::write(mnt.join("var/lib/keep"), "data").unwrap();
    let (code, out) = prepare(&cfg, &["--mkfs"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("changed"), "{out}");
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(
        std::fs::read_to_string(mnt.join("var/lib/keep")).unwrap(),
        "data"
    );

    // a drifted mode is put back, and said so
    std::fs::set_permissions(
        mnt.join("var/tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (code, out) = prepare(&cfg, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("changed") && l.contains("var/tmp")),
        "{out}"
    );
    assert_eq!(mode(&mnt.join("var/tmp")), 0o1777);
}

#[test]
fn nfs_mounts_get_timeouts_and_errors_are_reported() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().display();
    let cfg = t.path().join("builder.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
hub = "http://127.0.0.1:9/kojihub"
host_cert = "{r}/host.pem"
[[mounts]]
path = "{r}/koji"
kind = "nfs"
source = "192.0.2.1:/mnt/koji"
automount = true
[[mounts]]
path = "{r}/koji-hard"
kind = "nfs"
source = "192.0.2.1:/mnt/koji"
options = "rw,hard,vers=3"
automount = true
"#
        ),
    )
    .unwrap();
    let (code, out) = prepare(&cfg, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    let soft = out.lines().find(|l| l.contains("koji ")).unwrap();
    assert!(
        soft.contains("soft") && soft.contains("timeo=100") && soft.contains("retrans=3"),
        "{soft}"
    );
    assert!(!soft.contains("hard"), "{soft}");
    let hard = out.lines().find(|l| l.contains("koji-hard")).unwrap();
    assert!(
        hard.contains("hard") && hard.contains("timeo=100") && hard.contains("retrans=3"),
        "{hard}"
    );
    // no NFS here (no mount.nfs, no kernel support): a clear failure, exit 1
    let (code, out) = prepare(&cfg, &[]);
    assert_eq!(code, 1, "{out}");
    let l = out.lines().find(|l| l.contains("koji ")).unwrap();
    assert!(l.starts_with("FAILED"), "{l}");
    assert!(l.contains("nfs"), "{l}");

    // a config error names the file and the key
    std::fs::write(
        &cfg,
        "hub = \"http://h/kojihub\"\nhost_cert = \"/c\"\n[prepare]\ndevice = \"/dev/x\"\nfstype = \"tmpfs\"\n",
    )
    .unwrap();
    let (code, _) = prepare(&cfg, &[]);
    assert_eq!(code, 2);
    let out = Command::new(env!("CARGO_BIN_EXE_kkoji-builder"))
        .args(["prepare", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("prepare.fstype") && err.contains("builder.toml"),
        "{err}"
    );
}
