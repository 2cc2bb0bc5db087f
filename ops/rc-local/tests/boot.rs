//! kkoji-rc-local against real mounts: loop devices with ext4 and xfs, tmpfs, bind mounts,
//! a loop-backed swap area and a FUSE mount whose daemon never answers. Each test re-runs
//! itself inside `unshare -m -u` (private mount and UTS namespaces), so its mounts and
//! hostname vanish with it; services go to a recording stand-in for `systemctl` on PATH.
//! Needs root (CI runs as root).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const INNER: &str = "KKOJI_RC_LOCAL_TEST_INNER";

/// Outside: runs this test again inside fresh mount+UTS namespaces and returns true.
/// Inside: returns false and the test body runs.
fn reexec_in_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let child = Command::new("unshare")
        .args(["-m", "-u", "--propagation", "private"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) must be installed");
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

/// Waits for a child, killing it (and failing) if it is still running at the deadline.
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
                "still running after {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A loop device, detached on drop (lazily, if still mounted: the namespace's end frees it).
struct Loop(String);
impl Loop {
    fn new(file: &Path) -> Loop {
        Loop(sh(&["losetup", "-f", "--show", file.to_str().unwrap()]))
    }
}
impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// Swap is not namespaced: turn it off again whatever happens.
struct SwapOff(String);
impl Drop for SwapOff {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.0).status();
    }
}

fn image(path: &Path, mib: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(mib * 1024 * 1024).unwrap();
}

/// Labels are global (blkid scans every device), so they carry the pid.
fn label(prefix: &str) -> String {
    format!("{prefix}{:x}", std::process::id() & 0xfffff)
}

struct Farm {
    dir: tempfile::TempDir,
    log: PathBuf,
    state: PathBuf,
    bin: PathBuf,
}

impl Farm {
    fn new() -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let state = dir.path().join("svc-state");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let log = dir.path().join("systemctl.log");
        std::fs::write(&log, "").unwrap();
        std::fs::write(dir.path().join("boot.toml"), "").unwrap();
        // records every call; `start X` makes `is-active --quiet X` true afterwards
        let stub = format!(
            "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$1\" in\n  start) touch {state}/\"$2\"; exit 0;;\n  is-active) [ -e {state}/\"$3\" ]; exit $?;;\nesac\nexit 1\n",
            log = log.display(),
            state = state.display()
        );
        let p = bin.join("systemctl");
        std::fs::write(&p, stub).unwrap();
        sh(&["chmod", "755", p.to_str().unwrap()]);
        Farm {
            dir,
            log,
            state,
            bin,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self, plan: &str, args: &[&str]) -> (i32, String) {
        let plan_file = self.p("boot.toml");
        std::fs::write(&plan_file, plan).unwrap();
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = Command::new(env!("CARGO_BIN_EXE_kkoji-rc-local"))
            .arg("--plan")
            .arg(&plan_file)
            .args(args)
            .env("PATH", path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_deadline(child, Duration::from_secs(120));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!(
            "kkoji-rc-local {args:?}:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Services started, in order.
    fn started(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("start "))
            .map(str::to_string)
            .collect()
    }
}

fn line<'a>(report: &'a str, kind: &str, name: &str) -> &'a str {
    report
        .lines()
        .find(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some(kind) && w.next() == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in:\n{report}"))
}

/// What a dry run must not change: mount table, swap, hostname, files, service starts.
fn snapshot(
    f: &Farm,
) -> (
    BTreeSet<String>,
    String,
    String,
    BTreeSet<String>,
    Vec<String>,
) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').skip(4).collect::<Vec<_>>().join(" "))
        .collect();
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    let host = sh(&["hostname"]);
    let mut files = BTreeSet::new();
    let mut stack = vec![f.dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let link = std::fs::read_link(&p).ok();
            files.insert(format!("{} {:?}", p.display(), link));
            if meta.is_dir() {
                stack.push(p);
            }
        }
    }
    (mounts, swaps, host, files, f.started())
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

/// The seed hub's plan (see examples/hub.toml) rooted in the test directory.
fn hub_plan(f: &Farm, data: &str, scratch: &str, swap: &str, device_wait: u64) -> String {
    let r = f.dir.path().display();
    format!(
        r#"
hostname = "kkoji-hub-test"
timeout_secs = 30
device_wait_secs = {device_wait}
[[swap]]
device = "{swap}"
required = true
[[mount]]
path = "{r}/mnt/koji"
device = "{data}"
fstype = "xfs"
options = "noatime"
[[mount]]
path = "{r}/mnt/tmp"
device = "{scratch}"
fstype = "ext4"
options = "noatime,nodiratime"
[[mount]]
path = "{r}/mnt/ram"
fstype = "tmpfs"
options = "size=16m,mode=1777"
[[mount]]
path = "{r}/srv/rsync/koji"
device = "{r}/mnt/koji"
fstype = "bind"
requires = ["{r}/mnt/koji"]
[[symlink]]
path = "{r}/var/cache/mrepo"
target = "{r}/mnt/tmp/cache/mrepo"
create_target = true
requires = ["{r}/mnt/tmp"]
[[service]]
name = "httpd"
order = 20
[[service]]
name = "postgresql"
order = 10
requires = ["{r}/mnt/koji"]
[[service]]
name = "kojid"
order = 30
requires = ["{r}/mnt/koji", "{r}/mnt/tmp"]
[[service]]
name = "kojira"
order = 40
requires = ["{r}/mnt/koji"]
[[service]]
name = "rsyncd"
order = 50
requires = ["{r}/mnt/ram"]
"#
    )
}

struct Disks {
    // drop order: swap off first, then loops
    _swapoff: SwapOff,
    _loops: Vec<Loop>,
    data_label: String,
    scratch_uuid: String,
    scratch_dev: String,
    swap_dev: String,
}

/// xfs data volume (by LABEL), ext4 scratch (by UUID), a swap area; `with_data` false
/// leaves the data volume out, as on a respun VM whose volume was not attached.
fn disks(f: &Farm, with_data: bool) -> Disks {
    let mut loops = Vec::new();
    let data_label = label("kd");
    if with_data {
        let img = f.p("data.img");
        image(&img, 300);
        sh(&[
            "mkfs.xfs",
            "-q",
            "-f",
            "-L",
            &data_label,
            img.to_str().unwrap(),
        ]);
        loops.push(Loop::new(&img));
    }
    let img = f.p("scratch.img");
    image(&img, 32);
    sh(&[
        "mkfs.ext4",
        "-q",
        "-F",
        "-L",
        &label("ks"),
        img.to_str().unwrap(),
    ]);
    let scratch_uuid = sh(&[
        "blkid",
        "-c",
        "/dev/null",
        "-s",
        "UUID",
        "-o",
        "value",
        img.to_str().unwrap(),
    ]);
    let scratch = Loop::new(&img);
    let scratch_dev = scratch.0.clone();
    loops.push(scratch);
    let img = f.p("swap.img");
    image(&img, 16);
    let swap = Loop::new(&img);
    sh(&["mkswap", &swap.0]);
    let swap_dev = swap.0.clone();
    loops.push(swap);
    Disks {
        _swapoff: SwapOff(swap_dev.clone()),
        _loops: loops,
        data_label,
        scratch_uuid,
        scratch_dev,
        swap_dev,
    }
}

#[test]
fn seed_plan_mounts_swaps_and_starts_services_in_order_once() {
    if reexec_in_namespace("seed_plan_mounts_swaps_and_starts_services_in_order_once") {
        return;
    }
    let f = Farm::new();
    let d = disks(&f, true);
    let plan = hub_plan(
        &f,
        &format!("LABEL={}", d.data_label),
        &format!("UUID={}", d.scratch_uuid),
        &d.swap_dev,
        // generous: blkid may miss a just-attached loop device while other tests do I/O
        30,
    );

    // --dry-run: says what it would do, changes nothing
    let before = snapshot(&f);
    let (code, report) = f.run(&plan, &["apply", "--dry-run"]);
    assert_eq!(code, 0, "{report}");
    assert!(line(&report, "mount", &f.p("mnt/koji").display().to_string()).contains("would mount"));
    assert!(line(&report, "service", "kojid").contains("would start"));
    assert_eq!(snapshot(&f), before, "--dry-run changed something");
    let (code, _) = f.run(&plan, &["status"]);
    assert_eq!(code, 1, "status before apply must report differences");

    // apply
    let (code, report) = f.run(&plan, &["apply"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(fstype_at(&f.p("mnt/koji")).as_deref(), Some("xfs"));
    assert_eq!(fstype_at(&f.p("mnt/tmp")).as_deref(), Some("ext4"));
    assert_eq!(fstype_at(&f.p("mnt/ram")).as_deref(), Some("tmpfs"));
    assert_eq!(fstype_at(&f.p("srv/rsync/koji")).as_deref(), Some("xfs"));
    // the bind mount shows the data volume's files
    std::fs::write(f.p("mnt/koji/marker"), "x").unwrap();
    assert!(f.p("srv/rsync/koji/marker").exists());
    assert!(
        std::fs::read_to_string("/proc/swaps")
            .unwrap()
            .contains(&d.swap_dev)
    );
    assert_eq!(sh(&["hostname"]), "kkoji-hub-test");
    assert_eq!(
        std::fs::read_link(f.p("var/cache/mrepo")).unwrap(),
        f.p("mnt/tmp/cache/mrepo")
    );
    assert!(f.p("mnt/tmp/cache/mrepo").is_dir());
    assert_eq!(
        f.started(),
        ["postgresql", "httpd", "kojid", "kojira", "rsyncd"]
    );
    assert!(line(&report, "swap", &d.swap_dev).contains("changed"));

    // second run: nothing to do
    let before = snapshot(&f);
    let (code, report) = f.run(&plan, &["apply"]);
    assert_eq!(code, 0, "{report}");
    assert!(!report.contains("changed"), "{report}");
    assert!(
        line(&report, "mount", &f.p("mnt/koji").display().to_string()).contains("already mounted")
    );
    assert!(line(&report, "service", "postgresql").contains("already running"));
    assert_eq!(snapshot(&f), before, "second run changed something");
    let (code, report) = f.run(&plan, &["status"]);
    assert_eq!(code, 0, "{report}");
    assert!(f.state.join("kojira").exists());
}

#[test]
fn missing_data_volume_keeps_its_services_down() {
    if reexec_in_namespace("missing_data_volume_keeps_its_services_down") {
        return;
    }
    let f = Farm::new();
    let d = disks(&f, false);
    let plan = hub_plan(
        &f,
        &format!("LABEL={}", d.data_label),
        // by device path: only the absent data volume is looked up by tag
        &d.scratch_dev,
        &d.swap_dev,
        // the data volume is absent for good; do not wait long for it
        1,
    );
    let (code, report) = f.run(&plan, &["apply"]);
    assert_eq!(code, 1, "{report}");
    let data = f.p("mnt/koji").display().to_string();
    let m = line(&report, "mount", &data);
    assert!(m.contains("FAILED") && m.contains(&d.data_label), "{m}");
    assert_eq!(fstype_at(&f.p("mnt/koji")), None);
    // nothing was bound over the empty mount point
    let b = line(
        &report,
        "mount",
        &f.p("srv/rsync/koji").display().to_string(),
    );
    assert!(b.contains("SKIPPED"), "{b}");
    assert_eq!(fstype_at(&f.p("srv/rsync/koji")), None);
    for svc in ["postgresql", "kojid", "kojira"] {
        let l = line(&report, "service", svc);
        assert!(
            l.contains("SKIPPED") && l.contains(&format!("needs {data}")),
            "{l}"
        );
    }
    assert_eq!(f.started(), ["httpd", "rsyncd"]);
    // the scratch volume and the rest of the plan still happened
    assert_eq!(fstype_at(&f.p("mnt/tmp")).as_deref(), Some("ext4"));
    assert!(f.p("var/cache/mrepo").is_symlink());

    // something else mounted on the data mount point is not taken for the volume
    std::fs::create_dir_all(f.p("mnt/koji")).unwrap();
    sh(&[
        "mount",
        "-t",
        "tmpfs",
        "stand-in",
        f.p("mnt/koji").to_str().unwrap(),
    ]);
    let (code, report) = f.run(&plan, &["apply"]);
    assert_eq!(code, 1, "{report}");
    let m = line(&report, "mount", &data);
    assert!(
        m.contains("FAILED") && m.contains("the plan says xfs"),
        "{m}"
    );
    assert_eq!(f.started(), ["httpd", "rsyncd"]);
}

#[test]
fn a_mount_that_never_answers_times_out_and_the_rest_runs() {
    if reexec_in_namespace("a_mount_that_never_answers_times_out_and_the_rest_runs") {
        return;
    }
    let f = Farm::new();
    // A FUSE mount whose daemon (this process) never reads /dev/fuse: every lookup, stat
    // and statvfs below it blocks, like a hard NFS mount of a dead server.
    let fuse = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .expect("/dev/fuse");
    let hung = f.p("hung");
    std::fs::create_dir_all(&hung).unwrap();
    let data = format!(
        "fd={},rootmode=40000,user_id=0,group_id=0",
        std::os::fd::AsRawFd::as_raw_fd(&fuse)
    );
    nix::mount::mount(
        Some("kkoji-hung"),
        &hung,
        Some("fuse"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .expect("mounting the FUSE test filesystem");

    let r = f.dir.path().display();
    let plan = format!(
        r#"
timeout_secs = 30
[[mount]]
path = "{r}/stuck"
device = "{r}/hung/export"
fstype = "bind"
timeout_secs = 2
[[mount]]
path = "{r}/hung"
device = "kkoji-hung"
fstype = "fuse"
timeout_secs = 2
[[mount]]
path = "{r}/fine"
fstype = "tmpfs"
[[service]]
name = "needs-stuck"
requires = ["{r}/stuck"]
[[service]]
name = "needs-hung"
requires = ["{r}/hung"]
[[service]]
name = "needs-fine"
requires = ["{r}/fine"]
"#
    );
    let (code, report) = f.run(&plan, &["apply"]);
    assert_eq!(code, 1, "{report}");
    let stuck = line(&report, "mount", &f.p("stuck").display().to_string());
    assert!(
        stuck.contains("FAILED") && stuck.contains("did not finish within 2s"),
        "{stuck}"
    );
    let h = line(&report, "mount", &hung.display().to_string());
    assert!(
        h.contains("FAILED") && h.contains("not answering within 2s"),
        "{h}"
    );
    assert_eq!(fstype_at(&f.p("fine")).as_deref(), Some("tmpfs"));
    assert_eq!(f.started(), ["needs-fine"]);
    assert!(line(&report, "service", "needs-hung").contains("SKIPPED"));
    drop(fuse);
}

#[test]
fn a_bad_plan_names_file_and_key_and_changes_nothing() {
    let f = Farm::new();
    let (code, _) = f.run("[[mount]]\npath = \"/x\"\nfstype = \"ext4\"\n", &["apply"]);
    assert_eq!(code, 2);
    let plan_file = f.p("boot.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_kkoji-rc-local"))
        .args(["apply", "--plan"])
        .arg(&plan_file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&plan_file.display().to_string()) && err.contains("mount[0].device"),
        "{err}"
    );
    assert!(f.started().is_empty());
}

#[test]
fn shipped_example_plans_parse() {
    for f in ["examples/hub.toml", "examples/builder.toml"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        let plan = kkoji_rc_local::Plan::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(!plan.service.is_empty(), "{f}");
    }
    let hub = kkoji_rc_local::Plan::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hub.toml"),
    )
    .unwrap();
    let order: Vec<_> = hub
        .services_in_order()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        order,
        [
            "postgresql",
            "httpd",
            "kkoji-hub",
            "kojid",
            "kojira",
            "rsyncd"
        ]
    );
}
