//! The repos tree under topdir (`repos/<tag>/<repo id>/<arch>/`) and Koji's repo states,
//! as the repo tasks and buildroots see them.
//!
//! The division of work follows Koji (see docs/repos-contract.md): the hub decides what
//! goes into a repo (`host.repoInit` writes per-arch `pkglist`/`blocklist`), builders turn
//! that into repodata (one `createrepo` task per arch, so arches are built in parallel,
//! possibly on different builders) and upload it, and `host.repoDone` publishes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::tasks::context::{TaskError, param_error};

/// koji.REPO_STATES.
pub const REPO_INIT: i64 = 0;
pub const REPO_READY: i64 = 1;
pub const REPO_EXPIRED: i64 = 2;

/// Small file reads and directory listings in topdir (NFS) must not hang a task forever.
pub(crate) const FS_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn repo_state_name(state: i64) -> &'static str {
    match state {
        0 => "INIT",
        1 => "READY",
        2 => "EXPIRED",
        3 => "DELETED",
        4 => "PROBLEM",
        _ => "UNKNOWN",
    }
}

/// A name that becomes one path component under topdir (tag names, arches): it must not
/// climb out of the repos tree whatever the hub or the task parameters say.
pub(crate) fn safe_component(what: &str, s: &str) -> Result<(), TaskError> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(param_error(format!("invalid {what}: {s:?}")));
    }
    Ok(())
}

/// `TOPDIR/repos/<tag_name>/<repo_id>`.
pub fn repo_dir(topdir: &Path, tag_name: &str, repo_id: i64) -> PathBuf {
    topdir
        .join("repos")
        .join(tag_name)
        .join(repo_id.to_string())
}

/// The arch directories of a repo: those with a `pkglist` (as kojid finds them), sorted.
pub fn list_repo_arches(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir)? {
        let ent = ent?;
        let Some(name) = ent.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name != "groups" && ent.path().join("pkglist").is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_arch_dirs_with_pkglist() {
        let tmp = tempfile::tempdir().unwrap();
        for a in ["x86_64", "aarch64", "groups"] {
            std::fs::create_dir_all(tmp.path().join(a)).unwrap();
            std::fs::write(tmp.path().join(a).join("pkglist"), "").unwrap();
        }
        std::fs::create_dir_all(tmp.path().join("noarch-without-pkglist")).unwrap();
        std::fs::write(tmp.path().join("repo.json"), "{}").unwrap();
        assert_eq!(
            list_repo_arches(tmp.path()).unwrap(),
            vec!["aarch64", "x86_64"]
        );
    }
}
