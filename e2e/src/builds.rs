//! Builds through the stock CLI: test packages (SRPMs made with `rpmbuild -bs`), reading task
//! ids and states from what the CLI prints, and bounded waits.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::{Output, run_with_timeout};
use crate::farm::{ProcInfo, processes};
use crate::{ADMIN, Farm};

/// What the `%build` section of a test package does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// `BuildArch: noarch`; prints `kkoji-e2e building NAME` and packages one file.
    Noarch,
    /// Arch-specific (no `BuildArch`): builds for the machine's arch, one file, no debuginfo.
    Arch,
    /// Noarch; `%build` prints `kkoji-e2e about to fail` and exits 1.
    Failing,
    /// Noarch; `%build` runs `sleep SECS` (for cancel, capacity and builder-loss tests).
    Slow(u32),
}

/// Version and release of every test package: NAME-1.0-1.
pub const VERSION: &str = "1.0";
pub const RELEASE: &str = "1";

/// The spec file text of package `name`.
pub fn spec_text(name: &str, kind: Spec) -> String {
    let build_arch = match kind {
        Spec::Arch => "%global debug_package %{nil}\n",
        _ => "BuildArch: noarch\n",
    };
    let build = match kind {
        Spec::Noarch | Spec::Arch => format!("echo \"kkoji-e2e building {name}\"\n"),
        Spec::Failing => "echo \"kkoji-e2e about to fail\"\nexit 1\n".to_string(),
        Spec::Slow(secs) => format!("echo \"kkoji-e2e sleeping\"\nsleep {secs}\n"),
    };
    format!(
        "Name: {name}\n\
         Version: {VERSION}\n\
         Release: {RELEASE}\n\
         Summary: kkoji e2e test package {name}\n\
         License: MIT\n\
         {build_arch}\n\
         %description\n\
         A package built by the kkoji end-to-end tests.\n\n\
         %build\n\
         {build}\n\
         %install\n\
         mkdir -p %{{buildroot}}/usr/share/{name}\n\
         echo hello > %{{buildroot}}/usr/share/{name}/hello.txt\n\n\
         %files\n\
         /usr/share/{name}/hello.txt\n"
    )
}

/// Runs rpmbuild with `mode` (`-bs`, `-bb`) on the spec of `name` inside `dir/rpmbuild`.
fn rpmbuild(dir: &Path, name: &str, kind: Spec, mode: &str) -> PathBuf {
    let top = dir.join("rpmbuild");
    let specs = top.join("SPECS");
    fs::create_dir_all(&specs).expect("create SPECS");
    fs::create_dir_all(top.join("tmp")).expect("create rpmbuild tmp");
    let spec = specs.join(format!("{name}.spec"));
    fs::write(&spec, spec_text(name, kind)).expect("write spec");
    let mut cmd = Command::new("rpmbuild");
    cmd.arg(mode)
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_tmppath {}", top.join("tmp").display()))
        .arg(&spec)
        .env("HOME", dir)
        .current_dir(dir);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(out.status == Some(0), "rpmbuild {mode} failed:\n{out}");
    top
}

/// Makes `dir/NAME-1.0-1.src.rpm` with `rpmbuild -bs` and returns its path.
pub fn make_srpm(dir: &Path, name: &str, kind: Spec) -> PathBuf {
    let top = rpmbuild(dir, name, kind, "-bs");
    let file = format!("{name}-{VERSION}-{RELEASE}.src.rpm");
    let dest = dir.join(&file);
    fs::copy(top.join("SRPMS").join(&file), &dest)
        .unwrap_or_else(|e| panic!("rpmbuild -bs did not write SRPMS/{file}: {e}"));
    dest
}

/// Makes the binary `dir/NAME-1.0-1.noarch.rpm` of a noarch package with `rpmbuild -bb`.
pub fn make_noarch_rpm(dir: &Path, name: &str) -> PathBuf {
    let top = rpmbuild(dir, name, Spec::Noarch, "-bb");
    let file = format!("{name}-{VERSION}-{RELEASE}.noarch.rpm");
    let dest = dir.join(&file);
    fs::copy(top.join("RPMS").join("noarch").join(&file), &dest)
        .unwrap_or_else(|e| panic!("rpmbuild -bb did not write RPMS/noarch/{file}: {e}"));
    dest
}

/// `rpm -qp --qf FORMAT FILE` (asserting success).
pub fn rpm_query(file: &Path, format: &str) -> String {
    let mut cmd = Command::new("rpm");
    cmd.arg("-qp").arg("--qf").arg(format).arg(file);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        out.status == Some(0),
        "rpm -qp {} failed:\n{out}",
        file.display()
    );
    out.stdout
}

/// Creates the tags `NAME-build` (arches x86_64) and `NAME` and the target `NAME` between
/// them, and adds `packages` (owner kojiadmin) to `NAME`.
pub fn add_target(farm: &Farm, name: &str, packages: &[&str]) {
    let build_tag = format!("{name}-build");
    farm.koji(&["add-tag", &build_tag, "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-tag", name]).ok();
    farm.koji(&["add-target", name, &build_tag, name]).ok();
    for pkg in packages {
        farm.koji(&["add-pkg", "--owner", ADMIN, name, pkg]).ok();
    }
}

/// `Created task: N` in the output of `koji build` → N.
#[track_caller]
pub fn created_task(out: &Output) -> i64 {
    out.lines()
        .iter()
        .find_map(|l| l.strip_prefix("Created task: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Created task: N` line:\n{out}"))
}

/// Submits `koji build --scratch --nowait TARGET SRPM` (from the SRPM's directory) and
/// returns the task id.
#[track_caller]
pub fn submit_scratch(farm: &Farm, target: &str, srpm: &Path) -> i64 {
    let dir = srpm.parent().expect("SRPM directory");
    let file = srpm
        .file_name()
        .and_then(|f| f.to_str())
        .expect("file name");
    let out = farm
        .koji_in(dir, &["build", "--scratch", "--nowait", target, file])
        .ok();
    created_task(&out)
}

/// The id of the task whose watch line (`  ID LABEL: …`) starts with `label`, e.g.
/// `buildArch (foo-1.0-1.src.rpm, noarch)`, in `koji build --wait` / `watch-task` output.
#[track_caller]
pub fn watched_task(out: &Output, label: &str) -> i64 {
    out.lines()
        .iter()
        .find_map(|l| {
            let (id, rest) = l.trim_start().split_once(' ')?;
            rest.starts_with(&format!("{label}:"))
                .then(|| id.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no watch line `ID {label}: …`:\n{out}"))
}

/// The value of the first `KEY: value` line of `taskinfo`-like output (leading blanks
/// ignored), e.g. `State`, `Host`.
pub fn field(out: &Output, key: &str) -> Option<String> {
    let prefix = format!("{key}: ");
    out.lines()
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(&prefix).map(str::to_string))
}

/// `koji taskinfo ID` (asserting success).
#[track_caller]
pub fn taskinfo(farm: &Farm, id: i64) -> Output {
    farm.koji(&["taskinfo", &id.to_string()]).ok()
}

/// The `State:` of `koji taskinfo ID` (`free`, `open`, `closed`, `canceled`, …).
#[track_caller]
pub fn task_state(farm: &Farm, id: i64) -> String {
    let out = taskinfo(farm, id);
    field(&out, "State").unwrap_or_else(|| panic!("no State: line:\n{out}"))
}

/// The subtasks of `parent` as `(id, method, state)` (`getTaskChildren`; states numeric:
/// 0 free, 1 open, 2 closed, 3 canceled, 4 assigned, 5 failed).
pub fn children(farm: &Farm, parent: i64) -> Vec<(i64, String, i64)> {
    let v = farm.call_json(&["getTaskChildren", &parent.to_string()]);
    v.as_array()
        .unwrap_or_else(|| panic!("getTaskChildren({parent}) is not a list: {v}"))
        .iter()
        .map(|t| {
            (
                t["id"].as_i64().unwrap_or(-1),
                t["method"].as_str().unwrap_or_default().to_string(),
                t["state"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// Task state numbers.
pub const FREE: i64 = 0;
pub const OPEN: i64 = 1;
pub const CLOSED: i64 = 2;
pub const CANCELED: i64 = 3;

/// The `buildArch` child of `parent`, waiting up to `timeout` until there is one.
#[track_caller]
pub fn build_arch_child(farm: &Farm, parent: i64, timeout: Duration) -> i64 {
    wait_for(
        &format!("a buildArch subtask of task {parent}"),
        timeout,
        || {
            let kids = children(farm, parent);
            kids.iter()
                .find(|(_, m, _)| m == "buildArch")
                .map(|(id, _, _)| *id)
                .ok_or_else(|| format!("children: {kids:?}"))
        },
    )
}

/// Polls `probe` every half second until it returns `Ok`, for at most `timeout`; panics with
/// `what` and the last `Err` observation otherwise.
#[track_caller]
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The live processes running `cmdline` exactly whose working directory is below `dir`
/// (e.g. `sleep 120` of a build under `WORK/tasks/ID`).
pub fn processes_running(cmdline: &str, dir: &Path) -> Vec<ProcInfo> {
    processes()
        .into_iter()
        .filter(|p| p.cmdline == cmdline && p.cwd.starts_with(dir))
        .collect()
}

/// The files of a directory (names only, sorted).
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
