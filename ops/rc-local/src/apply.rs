//! Running a boot plan against the machine: hostname, swap, mounts, symlinks, services, in
//! that order. Every item ends in a line of the report saying what was done or why not;
//! nothing that may hang runs without a deadline.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::plan::{MountSpec, Plan, ServiceSpec, SwapSpec, SymlinkSpec, expand, normalize};
use crate::system::{
    Bounded, block_dev, find_mount, on_thread, read_mountinfo, read_swaps, resolve_device,
    run_bounded,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Change the machine.
    Apply,
    /// Say what `Apply` would do; change nothing.
    DryRun,
    /// Show the plan against the machine; change nothing.
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already as planned.
    Ok,
    /// Changed now.
    Changed,
    /// Not as planned; a run would change it (dry run / status).
    WouldChange,
    /// Not attempted because something it depends on is missing.
    Skipped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: &'static str,
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
    pub required: bool,
}

impl Item {
    /// Counts against the exit status of `apply` and `--dry-run`.
    pub fn is_problem(&self) -> bool {
        self.required && matches!(self.outcome, Outcome::Failed | Outcome::Skipped)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub mode: Mode,
    pub items: Vec<Item>,
}

impl Report {
    /// Apply/dry-run: something required failed or was skipped. Status: anything is not
    /// as planned.
    pub fn failed(&self) -> bool {
        match self.mode {
            Mode::Status => self.items.iter().any(|i| i.outcome != Outcome::Ok),
            Mode::Apply | Mode::DryRun => self.items.iter().any(Item::is_problem),
        }
    }

    pub fn item(&self, kind: &str, name: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.kind == kind && i.name == name)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.items {
            let word = match (i.outcome, self.mode) {
                (Outcome::Ok, _) => "ok",
                (Outcome::Changed, _) => "changed",
                (Outcome::WouldChange, Mode::Status) => "missing",
                (Outcome::WouldChange, _) => "would change",
                (Outcome::Skipped, _) => "SKIPPED",
                (Outcome::Failed, _) => "FAILED",
            };
            let opt = if i.required { "" } else { " (optional)" };
            writeln!(
                f,
                "{:<8} {:<30} {:<12} {}{opt}",
                i.kind, i.name, word, i.detail
            )?;
        }
        Ok(())
    }
}

struct Runner<'a> {
    plan: &'a Plan,
    mode: Mode,
    items: Vec<Item>,
    /// Per mount point: usable (mounted and answering, or would be after a real run), or
    /// why not.
    mounts: HashMap<PathBuf, Result<(), String>>,
}

/// Runs `plan` in `mode` and returns the report (also logged item by item).
pub fn run(plan: &Plan, mode: Mode) -> Report {
    let mut r = Runner {
        plan,
        mode,
        items: Vec::new(),
        mounts: HashMap::new(),
    };
    if let Some(h) = &plan.hostname {
        r.hostname(h);
    }
    for s in &plan.swap {
        r.swap(s);
    }
    for m in &plan.mount {
        r.mount(m);
    }
    for l in &plan.symlink {
        r.symlink(l);
    }
    for s in plan.services_in_order() {
        r.service(s);
    }
    Report {
        mode,
        items: r.items,
    }
}

impl Runner<'_> {
    fn push(&mut self, kind: &'static str, name: String, required: bool, res: (Outcome, String)) {
        let (outcome, detail) = res;
        match outcome {
            Outcome::Failed | Outcome::Skipped if required => {
                tracing::error!(kind, %name, ?outcome, %detail)
            }
            Outcome::Failed | Outcome::Skipped => tracing::warn!(kind, %name, ?outcome, %detail),
            _ => tracing::info!(kind, %name, ?outcome, %detail),
        }
        self.items.push(Item {
            kind,
            name,
            outcome,
            detail,
            required,
        });
    }

    fn changing(&self) -> bool {
        self.mode == Mode::Apply
    }

    fn hostname(&mut self, want: &str) {
        let res = match nix::unistd::gethostname() {
            Err(e) => (Outcome::Failed, format!("cannot read the hostname: {e}")),
            Ok(cur) if cur.to_string_lossy() == want => (Outcome::Ok, "already set".into()),
            Ok(cur) if !self.changing() => (
                Outcome::WouldChange,
                format!("is {}", cur.to_string_lossy()),
            ),
            Ok(cur) => match nix::unistd::sethostname(want) {
                Ok(()) => (
                    Outcome::Changed,
                    format!("set (was {})", cur.to_string_lossy()),
                ),
                Err(e) => (Outcome::Failed, format!("sethostname: {e}")),
            },
        };
        self.push("hostname", want.to_string(), true, res);
    }

    fn swap(&mut self, s: &SwapSpec) {
        let res = self.swap_inner(s);
        self.push("swap", s.device.clone(), s.required, res);
    }

    fn swap_inner(&self, s: &SwapSpec) -> (Outcome, String) {
        let t = self.plan.timeout();
        let dev = match resolve_device(&s.device, self.plan.device_wait(), t) {
            Ok(d) => d,
            Err(e) => return (Outcome::Failed, e),
        };
        let active = match read_swaps() {
            Ok(a) => a,
            Err(e) => return (Outcome::Failed, format!("/proc/swaps: {e}")),
        };
        let want_dev = block_dev(&dev);
        let want_path = std::fs::canonicalize(&dev).unwrap_or_else(|_| dev.clone());
        let is_active = active.iter().any(|a| {
            (want_dev.is_some() && block_dev(a) == want_dev)
                || std::fs::canonicalize(a).unwrap_or_else(|_| a.clone()) == want_path
        });
        if is_active {
            return (Outcome::Ok, format!("{} already active", dev.display()));
        }
        if !dev.exists() {
            return (Outcome::Failed, format!("{} does not exist", dev.display()));
        }
        if !self.changing() {
            return (
                Outcome::WouldChange,
                format!("{} not active", dev.display()),
            );
        }
        let argv = vec!["swapon".to_string(), dev.display().to_string()];
        command_result(&argv, t, format!("{} activated", dev.display()))
    }

    fn mount(&mut self, m: &MountSpec) {
        let res = self.mount_inner(m);
        let usable = match res.0 {
            Outcome::Ok | Outcome::Changed | Outcome::WouldChange => Ok(()),
            _ => Err(res.1.clone()),
        };
        self.mounts.insert(normalize(&m.path), usable);
        self.push("mount", m.path.display().to_string(), m.required, res);
    }

    fn mount_inner(&self, m: &MountSpec) -> (Outcome, String) {
        if let Some(why) = self.missing(&m.requires) {
            return (Outcome::Skipped, why);
        }
        let t = m.timeout(self.plan);
        let table = match read_mountinfo() {
            Ok(t) => t,
            Err(e) => return (Outcome::Failed, format!("/proc/self/mountinfo: {e}")),
        };
        let is_block = m.device.as_deref().is_some_and(|d| {
            d.starts_with("UUID=") || d.starts_with("LABEL=") || d.starts_with("/dev/")
        }) && m.fstype != "bind";
        // The device, resolved only where it names one (not for tmpfs, nfs, bind).
        let resolved = match (&m.device, is_block) {
            (Some(d), true) => Some(resolve_device(d, self.plan.device_wait(), t)),
            _ => None,
        };
        if let Some(e) = find_mount(&table, &m.path) {
            if m.fstype != "bind" && !fstype_matches(&m.fstype, &e.fstype) {
                return (
                    Outcome::Failed,
                    format!(
                        "{} ({}) is mounted there, the plan says {}",
                        e.source, e.fstype, m.fstype
                    ),
                );
            }
            if let Some(Ok(dev)) = &resolved
                && let Some(want) = block_dev(dev)
                && want != e.dev
            {
                return (
                    Outcome::Failed,
                    format!(
                        "{} is mounted there, not {} ({})",
                        e.source,
                        m.device.as_deref().unwrap_or_default(),
                        dev.display()
                    ),
                );
            }
            return match probe(&m.path, t) {
                Ok(()) => (
                    Outcome::Ok,
                    format!("already mounted ({} from {})", e.fstype, e.source),
                ),
                Err(why) => (Outcome::Failed, format!("mounted but {why}")),
            };
        }
        let source = match resolved {
            Some(Ok(dev)) => {
                if !dev.exists() {
                    return (Outcome::Failed, format!("{} does not exist", dev.display()));
                }
                dev.display().to_string()
            }
            Some(Err(e)) => return (Outcome::Failed, e),
            None => m.device.clone().unwrap_or_else(|| m.fstype.clone()),
        };
        let what = match &m.device {
            Some(d) if *d != source => format!("{d} ({source}) as {}", m.fstype),
            _ => format!("{source} as {}", m.fstype),
        };
        if !self.changing() {
            return (
                Outcome::WouldChange,
                format!("not mounted; would mount {what}"),
            );
        }
        let path = m.path.clone();
        match on_thread("mkdir", t, move || std::fs::create_dir_all(&path)) {
            Ok(Bounded::Done(Ok(()))) => {}
            Ok(Bounded::Done(Err(e))) => {
                return (Outcome::Failed, format!("creating the mount point: {e}"));
            }
            Ok(Bounded::TimedOut(t)) => {
                return (
                    Outcome::Failed,
                    format!("creating the mount point did not finish within {t:?}"),
                );
            }
            Err(e) => return (Outcome::Failed, e),
        }
        let mut argv = vec!["mount".to_string()];
        if m.fstype == "bind" {
            argv.push("--bind".into());
        } else {
            argv.extend(["-t".to_string(), m.fstype.clone()]);
        }
        if let Some(o) = &m.options {
            argv.extend(["-o".to_string(), o.clone()]);
        }
        argv.extend([source, m.path.display().to_string()]);
        match command_result(&argv, t, format!("mounted {what}")) {
            (Outcome::Changed, d) => match probe(&m.path, t) {
                Ok(()) => (Outcome::Changed, d),
                Err(why) => (Outcome::Failed, format!("{d}, but {why}")),
            },
            other => other,
        }
    }

    /// Why a mount this item needs is not usable, if one is not.
    fn missing(&self, requires: &[PathBuf]) -> Option<String> {
        requires.iter().find_map(|r| {
            match self.mounts.get(&normalize(r)) {
                Some(Ok(())) => None,
                Some(Err(why)) => Some(format!("needs {}: {why}", r.display())),
                // validated against the plan, so only reachable through a bug
                None => Some(format!(
                    "needs {}, which the plan does not mount",
                    r.display()
                )),
            }
        })
    }

    fn symlink(&mut self, l: &SymlinkSpec) {
        let name = format!("{} -> {}", l.path.display(), l.target.display());
        let res = match self.missing(&l.requires) {
            Some(why) => (Outcome::Skipped, why),
            None => {
                let (spec, change) = (l.clone(), self.changing());
                match on_thread("symlink", self.plan.timeout(), move || {
                    ensure_symlink(&spec, change)
                }) {
                    Ok(Bounded::Done(r)) => r,
                    Ok(Bounded::TimedOut(t)) => {
                        (Outcome::Failed, format!("did not finish within {t:?}"))
                    }
                    Err(e) => (Outcome::Failed, e),
                }
            }
        };
        self.push("symlink", name, l.required, res);
    }

    fn service(&mut self, s: &ServiceSpec) {
        let res = self.service_inner(s);
        self.push("service", s.name.clone(), s.required, res);
    }

    fn service_inner(&self, s: &ServiceSpec) -> (Outcome, String) {
        if let Some(why) = self.missing(&s.requires) {
            return (Outcome::Skipped, format!("not started: {why}"));
        }
        let t = self.plan.timeout();
        if !self.plan.is_active_command.is_empty() {
            let argv = expand(&self.plan.is_active_command, &s.name);
            if let Ok(Bounded::Done(o)) = run_bounded(&argv, t)
                && o.success
            {
                return (Outcome::Ok, "already running".into());
            }
        }
        if !self.changing() {
            return (Outcome::WouldChange, "not running; would start".into());
        }
        let cmd = s.command.as_ref().unwrap_or(&self.plan.start_command);
        command_result(&expand(cmd, &s.name), t, "started".into())
    }
}

fn fstype_matches(plan: &str, actual: &str) -> bool {
    plan == actual || (plan.starts_with("nfs") && actual.starts_with("nfs"))
}

/// Runs `argv` bounded; `Changed(done)` on success, `Failed` with the reason otherwise.
fn command_result(argv: &[String], t: Duration, done: String) -> (Outcome, String) {
    match run_bounded(argv, t) {
        Ok(Bounded::Done(o)) if o.success => (Outcome::Changed, done),
        Ok(Bounded::Done(o)) => (
            Outcome::Failed,
            format!("`{}` failed ({}): {}", argv.join(" "), o.status, o.text),
        ),
        Ok(Bounded::TimedOut(t)) => (
            Outcome::Failed,
            format!(
                "`{}` did not finish within {t:?} (dead server or device?); killed",
                argv.join(" ")
            ),
        ),
        Err(e) => (Outcome::Failed, e),
    }
}

/// statvfs on a thread: a mounted volume must also answer.
fn probe(path: &Path, t: Duration) -> Result<(), String> {
    let p = path.to_path_buf();
    match on_thread("probe", t, move || nix::sys::statvfs::statvfs(&p)) {
        Ok(Bounded::Done(Ok(_))) => Ok(()),
        Ok(Bounded::Done(Err(e))) => Err(format!("statvfs fails: {e}")),
        Ok(Bounded::TimedOut(t)) => Err(format!("not answering within {t:?}")),
        Err(e) => Err(e),
    }
}

/// Makes `spec.path` a symlink to `spec.target` (replacing a wrong symlink atomically,
/// never a real file or directory).
fn ensure_symlink(spec: &SymlinkSpec, change: bool) -> (Outcome, String) {
    let would = |what: String| (Outcome::WouldChange, format!("would {what}"));
    let mut done = Vec::new();
    if spec.create_target && !spec.target.is_dir() {
        if !change {
            return would(format!("create {} and link", spec.target.display()));
        }
        if let Err(e) = std::fs::create_dir_all(&spec.target) {
            return (
                Outcome::Failed,
                format!("creating {}: {e}", spec.target.display()),
            );
        }
        done.push(format!("created {}", spec.target.display()));
    }
    match std::fs::symlink_metadata(&spec.path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let cur = std::fs::read_link(&spec.path).unwrap_or_default();
            if cur == spec.target {
                return if done.is_empty() {
                    (Outcome::Ok, "already in place".into())
                } else {
                    (Outcome::Changed, done.join("; "))
                };
            }
            if !change {
                return would(format!("replace the link to {}", cur.display()));
            }
            let tmp = spec.path.with_file_name(format!(
                ".{}.rc-local-tmp",
                spec.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let _ = std::fs::remove_file(&tmp);
            if let Err(e) = std::os::unix::fs::symlink(&spec.target, &tmp)
                .and_then(|()| std::fs::rename(&tmp, &spec.path))
            {
                let _ = std::fs::remove_file(&tmp);
                return (Outcome::Failed, format!("replacing the link: {e}"));
            }
            done.push(format!("replaced the link to {}", cur.display()));
        }
        Ok(_) => {
            return (
                Outcome::Failed,
                "exists and is not a symlink; left alone (move it away by hand)".into(),
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !change {
                return would("create the link".into());
            }
            let made = match spec.path.parent() {
                Some(p) => std::fs::create_dir_all(p),
                None => Ok(()),
            }
            .and_then(|()| std::os::unix::fs::symlink(&spec.target, &spec.path));
            if let Err(e) = made {
                return (Outcome::Failed, format!("creating the link: {e}"));
            }
            done.push("created the link".into());
        }
        Err(e) => return (Outcome::Failed, format!("{}: {e}", spec.path.display())),
    }
    (Outcome::Changed, done.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(dir: &Path, create_target: bool) -> SymlinkSpec {
        SymlinkSpec {
            path: dir.join("var/cache/mrepo"),
            target: dir.join("mnt/tmp/cache/mrepo"),
            create_target,
            requires: Vec::new(),
            required: true,
        }
    }

    #[test]
    fn symlink_created_replaced_and_real_dirs_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let spec = link(d.path(), true);
        assert_eq!(ensure_symlink(&spec, false).0, Outcome::WouldChange);
        assert!(!spec.target.exists());
        assert_eq!(ensure_symlink(&spec, true).0, Outcome::Changed);
        assert_eq!(std::fs::read_link(&spec.path).unwrap(), spec.target);
        assert!(spec.target.is_dir());
        assert_eq!(ensure_symlink(&spec, true).0, Outcome::Ok);

        std::fs::remove_file(&spec.path).unwrap();
        std::os::unix::fs::symlink("/elsewhere", &spec.path).unwrap();
        let (o, detail) = ensure_symlink(&spec, true);
        assert_eq!(o, Outcome::Changed, "{detail}");
        assert!(detail.contains("/elsewhere"), "{detail}");
        assert_eq!(std::fs::read_link(&spec.path).unwrap(), spec.target);

        std::fs::remove_file(&spec.path).unwrap();
        std::fs::create_dir(&spec.path).unwrap();
        std::fs::write(spec.path.join("keep"), "x").unwrap();
        let (o, detail) = ensure_symlink(&spec, true);
        assert_eq!(o, Outcome::Failed);
        assert!(detail.contains("not a symlink"), "{detail}");
        assert!(spec.path.join("keep").exists());
    }
}
