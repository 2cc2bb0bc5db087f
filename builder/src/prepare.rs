//! `kkoji-builder prepare`: makes a fresh builder host ready the way the runbook did by
//! hand — format the ephemeral disk (only with `--mkfs`, and never one that already holds
//! a filesystem), mount it, create the directory tree with its permissions and the
//! symlinks onto it, a swap file, and the volumes of `[[mounts]]` (NFS with timeouts that
//! cannot hang the builder forever). Idempotent: what is already right is left alone, and
//! the report says per step what changed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, DirSpec, LinkSpec, MountKind, MountSpec, PrepareSpec, parse_mode};
use crate::mounts::{find_mount, mount_volume, read_mountinfo};

/// NFS options `prepare` adds when the config names none of them: a soft mount whose
/// requests give up after `timeo` (tenths of a second) × `retrans` retries, so a dead hub
/// fails calls with EIO instead of hanging the builder forever.
pub const NFS_TIMEOUT_DEFAULTS: [(&str, &str); 3] =
    [("soft", ""), ("timeo", "100"), ("retrans", "3")];

/// How long mkfs, mount helpers, swapon may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// NFS options with the timeout defaults filled in where the config says nothing of them.
/// `hard` is kept if asked for (with `timeo`/`retrans` still bounded), but reported.
pub fn nfs_options_with_timeouts(opts: &str) -> String {
    let mut parts: Vec<String> = opts
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let has = |parts: &[String], key: &str| {
        parts
            .iter()
            .any(|p| p == key || p.split_once('=').is_some_and(|(k, _)| k == key))
    };
    for (key, value) in NFS_TIMEOUT_DEFAULTS {
        let present = if key == "soft" {
            ["soft", "hard", "softerr"].iter().any(|k| has(&parts, k))
        } else {
            has(&parts, key)
        };
        if !present {
            parts.push(if value.is_empty() {
                key.to_string()
            } else {
                format!("{key}={value}")
            });
        }
    }
    parts.join(",")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Ok,
    Changed,
    WouldChange,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub step: Step,
    pub what: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrepareReport {
    pub lines: Vec<Line>,
}

impl PrepareReport {
    fn push(&mut self, step: Step, what: impl Into<String>, detail: impl Into<String>) {
        let l = Line {
            step,
            what: what.into(),
            detail: detail.into(),
        };
        match step {
            Step::Failed => tracing::error!(what = %l.what, detail = %l.detail, "prepare"),
            _ => tracing::info!(what = %l.what, ?step, detail = %l.detail, "prepare"),
        }
        self.lines.push(l);
    }

    pub fn failed(&self) -> bool {
        self.lines.iter().any(|l| l.step == Step::Failed)
    }

    pub fn changed(&self) -> bool {
        self.lines.iter().any(|l| l.step == Step::Changed)
    }
}

impl std::fmt::Display for PrepareReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.lines {
            let w = match l.step {
                Step::Ok => "ok",
                Step::Changed => "changed",
                Step::WouldChange => "would change",
                Step::Failed => "FAILED",
            };
            writeln!(f, "{w:<12} {:<40} {}", l.what, l.detail)?;
        }
        if !self.changed()
            && !self.failed()
            && !self.lines.iter().any(|l| l.step == Step::WouldChange)
        {
            writeln!(f, "nothing to change")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PrepareOptions {
    pub mkfs: bool,
    pub dry_run: bool,
}

async fn run_cmd(argv: &[&str]) -> Result<String, String> {
    let (prog, args) = argv.split_first().ok_or("empty command")?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args).kill_on_drop(true);
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("{prog} did not finish within {COMMAND_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_string();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "`{}` failed ({}): {text}",
            argv.join(" "),
            out.status
        ))
    }
}

/// The filesystem signature on `device` (low-level probe, no cache), `None` if blank.
async fn signature(device: &str) -> Result<Option<String>, String> {
    let mut cmd = tokio::process::Command::new("blkid");
    cmd.args(["-p", "-o", "value", "-s", "TYPE", device])
        .kill_on_drop(true);
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .map_err(|_| "blkid did not finish".to_string())?
        .map_err(|e| format!("cannot run blkid: {e}"))?;
    match out.status.code() {
        Some(0) => {
            let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
            // blkid -p names partition tables as PTTYPE and prints no TYPE for them
            Ok(Some(if t.is_empty() {
                "a partition table or another signature".into()
            } else {
                t
            }))
        }
        Some(2) => Ok(None),
        _ => Err(format!(
            "blkid -p {device}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Runs every step; a failed step does not stop the independent ones after it.
pub async fn prepare(cfg: &Config, opts: PrepareOptions) -> PrepareReport {
    let mut r = PrepareReport::default();
    let change = !opts.dry_run;
    let disk_ok = match &cfg.prepare {
        Some(p) => scratch_disk(p, opts, &mut r).await,
        None => true,
    };
    if let Some(p) = &cfg.prepare {
        if disk_ok {
            for d in p.dirs() {
                ensure_dir(&d, change, &mut r);
            }
            for l in p.links() {
                ensure_link(&l, change, &mut r);
            }
            if let (Some(file), true) = (&p.swap_file, p.swap_mb > 0) {
                swap(file, p.swap_mb, change, &mut r).await;
            }
        } else {
            r.push(
                Step::Failed,
                "directory tree",
                format!("not made: {} is not mounted", p.mount.display()),
            );
        }
    }
    for m in &cfg.mounts {
        volume(m, change, &mut r).await;
    }
    r
}

/// Format (if asked and blank) and mount the scratch disk. True when it is (or, in a dry
/// run, would be) mounted.
async fn scratch_disk(p: &PrepareSpec, opts: PrepareOptions, r: &mut PrepareReport) -> bool {
    let what = format!("disk {}", p.device);
    let table = read_mountinfo().unwrap_or_default();
    if let Some(e) = find_mount(&table, &p.mount) {
        if e.fstype != p.fstype.as_str() {
            r.push(
                Step::Failed,
                what,
                format!(
                    "{} is mounted at {} as {}, the config says {}",
                    e.source,
                    p.mount.display(),
                    e.fstype,
                    p.fstype.as_str()
                ),
            );
            return false;
        }
        r.push(
            Step::Ok,
            what,
            format!("mounted at {} ({})", p.mount.display(), e.fstype),
        );
        return true;
    }
    if !Path::new(&p.device).exists() {
        r.push(Step::Failed, what, "no such device");
        return false;
    }
    match signature(&p.device).await {
        Err(e) => {
            r.push(Step::Failed, what, e);
            return false;
        }
        Ok(Some(fs)) if fs == p.fstype.as_str() => {
            if opts.mkfs {
                r.push(
                    Step::Ok,
                    what.clone(),
                    format!("already has {fs}; --mkfs does not format it again"),
                );
            }
        }
        Ok(Some(fs)) => {
            r.push(
                Step::Failed,
                what,
                format!(
                    "has {fs}, not {}: refusing to format a device that holds a filesystem \
                     (wipe it by hand with `wipefs -a {}` if it really is scratch)",
                    p.fstype.as_str(),
                    p.device
                ),
            );
            return false;
        }
        Ok(None) if !opts.mkfs => {
            r.push(
                Step::Failed,
                what,
                "holds no filesystem; pass --mkfs to format it",
            );
            return false;
        }
        Ok(None) if opts.dry_run => {
            r.push(
                Step::WouldChange,
                what.clone(),
                format!("would format as {} (label {})", p.fstype.as_str(), p.label),
            );
            r.push(
                Step::WouldChange,
                format!("mount {}", p.mount.display()),
                "would mount it",
            );
            return true;
        }
        Ok(None) => {
            let mkfs = format!("mkfs.{}", p.fstype.as_str());
            let force = if p.fstype == MountKind::Xfs {
                "-f"
            } else {
                "-F"
            };
            // -f/-F only lets mkfs write to a whole disk / loop device: blkid has just
            // found no signature on it
            match run_cmd(&[&mkfs, "-q", force, "-L", &p.label, &p.device]).await {
                Ok(_) => r.push(
                    Step::Changed,
                    what.clone(),
                    format!("formatted as {} (label {})", p.fstype.as_str(), p.label),
                ),
                Err(e) => {
                    r.push(Step::Failed, what, e);
                    return false;
                }
            }
        }
    }
    if opts.dry_run {
        r.push(
            Step::WouldChange,
            format!("mount {}", p.mount.display()),
            "would mount it",
        );
        return true;
    }
    let spec = MountSpec {
        path: p.mount.clone(),
        kind: p.fstype,
        source: Some(p.device.clone()),
        automount: true,
        options: p.options.clone(),
    };
    match mount_volume(&spec).await {
        Ok(()) => {
            r.push(
                Step::Changed,
                format!("mount {}", p.mount.display()),
                format!("mounted {} ({})", p.device, spec.options()),
            );
            true
        }
        Err(e) => {
            r.push(
                Step::Failed,
                format!("mount {}", p.mount.display()),
                e.to_string(),
            );
            false
        }
    }
}

fn ensure_dir(d: &DirSpec, change: bool, r: &mut PrepareReport) {
    let what = format!("dir {}", d.path.display());
    let Some(mode) = parse_mode(&d.mode) else {
        r.push(Step::Failed, what, format!("bad mode {:?}", d.mode));
        return;
    };
    let ids = match owner_ids(d) {
        Ok(ids) => ids,
        Err(e) => {
            r.push(Step::Failed, what, e);
            return;
        }
    };
    let mut did = Vec::new();
    let meta = match std::fs::symlink_metadata(&d.path) {
        Ok(m) if m.is_dir() => Some(m),
        Ok(_) => {
            r.push(Step::Failed, what, "exists and is not a directory");
            return;
        }
        Err(_) => None,
    };
    if meta.is_none() {
        if !change {
            r.push(
                Step::WouldChange,
                what,
                format!("would create (mode {})", d.mode),
            );
            return;
        }
        if let Err(e) = std::fs::create_dir_all(&d.path) {
            r.push(Step::Failed, what, format!("creating: {e}"));
            return;
        }
        did.push("created".to_string());
    }
    let Ok(meta) = std::fs::metadata(&d.path) else {
        r.push(Step::Failed, what, "cannot stat it");
        return;
    };
    let cur = meta.permissions().mode() & 0o7777;
    if cur != mode {
        if !change {
            r.push(
                Step::WouldChange,
                what,
                format!("would chmod {:o} → {}", cur, d.mode),
            );
            return;
        }
        if let Err(e) = std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(mode)) {
            r.push(Step::Failed, what, format!("chmod: {e}"));
            return;
        }
        if did.is_empty() {
            did.push(format!("mode {cur:o} → {}", d.mode));
        }
    }
    {
        use std::os::unix::fs::MetadataExt;
        let (uid, gid) = ids;
        let want_uid = uid.unwrap_or(meta.uid());
        let want_gid = gid.unwrap_or(meta.gid());
        if (want_uid, want_gid) != (meta.uid(), meta.gid()) {
            if !change {
                r.push(Step::WouldChange, what, "would change the owner");
                return;
            }
            if let Err(e) = std::os::unix::fs::chown(&d.path, Some(want_uid), Some(want_gid)) {
                r.push(Step::Failed, what, format!("chown: {e}"));
                return;
            }
            // chown clears setgid on some filesystems: put the mode back
            let _ = std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(mode));
            did.push(format!("owner {want_uid}:{want_gid}"));
        }
    }
    if did.is_empty() {
        r.push(Step::Ok, what, format!("mode {}", d.mode));
    } else {
        r.push(
            Step::Changed,
            what,
            format!("{} (mode {})", did.join(", "), d.mode),
        );
    }
}

fn owner_ids(d: &DirSpec) -> Result<(Option<u32>, Option<u32>), String> {
    let uid = match &d.owner {
        None => None,
        Some(n) => Some(
            nix::unistd::User::from_name(n)
                .map_err(|e| format!("looking up user {n}: {e}"))?
                .ok_or_else(|| format!("no user {n} on this host"))?
                .uid
                .as_raw(),
        ),
    };
    let gid = match &d.group {
        None => None,
        Some(n) => Some(
            nix::unistd::Group::from_name(n)
                .map_err(|e| format!("looking up group {n}: {e}"))?
                .ok_or_else(|| format!("no group {n} on this host"))?
                .gid
                .as_raw(),
        ),
    };
    Ok((uid, gid))
}

fn ensure_link(l: &LinkSpec, change: bool, r: &mut PrepareReport) {
    let what = format!("link {}", l.path.display());
    match std::fs::symlink_metadata(&l.path) {
        Ok(m) if m.file_type().is_symlink() => {
            let cur = std::fs::read_link(&l.path).unwrap_or_default();
            if cur == l.target {
                r.push(Step::Ok, what, format!("-> {}", l.target.display()));
                return;
            }
            if !change {
                r.push(
                    Step::WouldChange,
                    what,
                    format!(
                        "would point it to {} (now {})",
                        l.target.display(),
                        cur.display()
                    ),
                );
                return;
            }
            let tmp = l.path.with_extension("kkoji-prepare-tmp");
            let _ = std::fs::remove_file(&tmp);
            match std::os::unix::fs::symlink(&l.target, &tmp)
                .and_then(|()| std::fs::rename(&tmp, &l.path))
            {
                Ok(()) => r.push(
                    Step::Changed,
                    what,
                    format!("-> {} (was {})", l.target.display(), cur.display()),
                ),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    r.push(Step::Failed, what, format!("replacing: {e}"));
                }
            }
        }
        Ok(m) if m.is_dir() && std::fs::read_dir(&l.path).is_ok_and(|mut d| d.next().is_none()) => {
            // an empty directory left by a package install: replace it
            if !change {
                r.push(
                    Step::WouldChange,
                    what,
                    format!(
                        "would replace the empty directory with a link to {}",
                        l.target.display()
                    ),
                );
                return;
            }
            match std::fs::remove_dir(&l.path)
                .and_then(|()| std::os::unix::fs::symlink(&l.target, &l.path))
            {
                Ok(()) => r.push(
                    Step::Changed,
                    what,
                    format!("empty directory replaced by -> {}", l.target.display()),
                ),
                Err(e) => r.push(Step::Failed, what, e.to_string()),
            }
        }
        Ok(_) => r.push(
            Step::Failed,
            what,
            "exists and is not a symlink (nor an empty directory); move it away by hand",
        ),
        Err(_) => {
            if !change {
                r.push(
                    Step::WouldChange,
                    what,
                    format!("would create -> {}", l.target.display()),
                );
                return;
            }
            let made = l
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::os::unix::fs::symlink(&l.target, &l.path));
            match made {
                Ok(()) => r.push(Step::Changed, what, format!("-> {}", l.target.display())),
                Err(e) => r.push(Step::Failed, what, e.to_string()),
            }
        }
    }
}

fn swap_active(file: &Path) -> bool {
    let want = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    std::fs::read_to_string("/proc/swaps")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .any(|p| Path::new(p) == want)
}

async fn swap(file: &Path, mb: u64, change: bool, r: &mut PrepareReport) {
    let what = format!("swap {}", file.display());
    if swap_active(file) {
        r.push(Step::Ok, what, "active");
        return;
    }
    if !change {
        r.push(
            Step::WouldChange,
            what,
            format!("would create {mb} MiB and enable it"),
        );
        return;
    }
    let mut did = Vec::new();
    if !file.exists() {
        // a swap file must have no holes: write real zeros
        let f = file.to_path_buf();
        let made = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode_0600()
                .open(&f)?;
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..mb {
                out.write_all(&chunk)?;
            }
            out.sync_all()
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = made {
            let _ = std::fs::remove_file(file);
            r.push(Step::Failed, what, format!("creating: {e}"));
            return;
        }
        let p = file.display().to_string();
        if let Err(e) = run_cmd(&["mkswap", &p]).await {
            let _ = std::fs::remove_file(file);
            r.push(Step::Failed, what, e);
            return;
        }
        did.push(format!("created {mb} MiB"));
    }
    match run_cmd(&["swapon", &file.display().to_string()]).await {
        Ok(_) => {
            did.push("enabled".into());
            r.push(Step::Changed, what, did.join(", "));
        }
        Err(e) => r.push(Step::Failed, what, e),
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}
impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// One `[[mounts]]` volume with a source: mounted if absent (NFS with timeouts).
async fn volume(m: &MountSpec, change: bool, r: &mut PrepareReport) {
    if m.kind == MountKind::Dir || m.source.is_none() {
        return;
    }
    let what = format!("mount {}", m.path.display());
    let mut spec = m.clone();
    if m.kind == MountKind::Nfs {
        // the daemon's default is the runbook's `hard`; unless the config asks for hard
        // explicitly, prepare mounts soft so a dead hub cannot hang this host forever
        let base = match &m.options {
            Some(o) => o.clone(),
            None => m.options().replace("hard", "soft"),
        };
        let opts = nfs_options_with_timeouts(&base);
        if opts.split(',').any(|o| o == "hard") {
            tracing::warn!(path = %m.path.display(), "NFS mount is `hard`: a dead server blocks this builder until it returns");
        }
        spec.options = Some(opts);
    }
    let table = read_mountinfo().unwrap_or_default();
    if let Some(e) = find_mount(&table, &m.path) {
        r.push(
            Step::Ok,
            what,
            format!("mounted ({} from {})", e.fstype, e.source),
        );
        return;
    }
    let detail = format!(
        "{} ({}, {})",
        spec.source.as_deref().unwrap_or_default(),
        m.kind.as_str(),
        spec.options()
    );
    if !change {
        r.push(Step::WouldChange, what, format!("would mount {detail}"));
        return;
    }
    match mount_volume(&spec).await {
        Ok(()) => r.push(Step::Changed, what, format!("mounted {detail}")),
        Err(e) => r.push(
            Step::Failed,
            what,
            format!("{e} [options {}]", spec.options()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfs_timeouts_are_added_only_where_unset() {
        assert_eq!(
            nfs_options_with_timeouts("rw,vers=3"),
            "rw,vers=3,soft,timeo=100,retrans=3"
        );
        assert_eq!(
            nfs_options_with_timeouts("rw,hard,timeo=600"),
            "rw,hard,timeo=600,retrans=3"
        );
        assert_eq!(
            nfs_options_with_timeouts("softerr,retrans=5,timeo=50"),
            "softerr,retrans=5,timeo=50"
        );
        assert_eq!(nfs_options_with_timeouts(""), "soft,timeo=100,retrans=3");
    }

    #[test]
    fn modes_parse() {
        assert_eq!(parse_mode("2775"), Some(0o2775));
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("rwx"), None);
        assert_eq!(parse_mode("77777"), None);
    }

    #[test]
    fn dirs_and_links_made_once_and_real_dirs_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let d = DirSpec {
            path: t.path().join("m/var/tmp"),
            mode: "1777".into(),
            owner: None,
            group: None,
        };
        let mut r = PrepareReport::default();
        ensure_dir(&d, false, &mut r);
        assert!(!d.path.exists());
        ensure_dir(&d, true, &mut r);
        let mode = std::fs::metadata(&d.path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o1777);
        std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(0o700)).unwrap();
        ensure_dir(&d, true, &mut r);
        ensure_dir(&d, true, &mut r);
        let steps: Vec<Step> = r.lines.iter().map(|l| l.step).collect();
        assert_eq!(
            steps,
            [Step::WouldChange, Step::Changed, Step::Changed, Step::Ok]
        );

        let l = LinkSpec {
            path: t.path().join("var/lib/mock"),
            target: d.path.clone(),
        };
        let mut r = PrepareReport::default();
        ensure_link(&l, true, &mut r);
        ensure_link(&l, true, &mut r);
        assert_eq!(r.lines[0].step, Step::Changed);
        assert_eq!(r.lines[1].step, Step::Ok);
        let busy = LinkSpec {
            path: t.path().join("busy"),
            target: d.path.clone(),
        };
        std::fs::create_dir(&busy.path).unwrap();
        std::fs::write(busy.path.join("keep"), "x").unwrap();
        ensure_link(&busy, true, &mut r);
        assert_eq!(r.lines[2].step, Step::Failed);
        assert!(busy.path.join("keep").exists());
    }
}
