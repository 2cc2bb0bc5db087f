//! Per-task work directories. Each task gets its own tree with its own HOME and rpmbuild
//! `_topdir`, so concurrent builds cannot see each other's files or `~/.rpmmacros`, and a
//! canceled or crashed task's leftovers are removed before the task runs again.

use std::path::{Path, PathBuf};

/// `<work_dir>/tasks/<id>/`:
///
/// ```text
/// home/        HOME of the build
/// rpmbuild/    rpmbuild's _topdir (BUILD, RPMS, SOURCES, SPECS, SRPMS, BUILDROOT)
/// tmp/         TMPDIR and _tmppath
/// result/      mock's --resultdir
/// logs/        build.log, root.log, state.log (uploaded as they grow)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDir {
    task_id: i64,
    root: PathBuf,
}

impl TaskDir {
    pub fn new(work_dir: &Path, task_id: i64) -> Self {
        TaskDir {
            task_id,
            root: work_dir.join("tasks").join(task_id.to_string()),
        }
    }

    pub fn task_id(&self) -> i64 {
        self.task_id
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }
    pub fn topdir(&self) -> PathBuf {
        self.root.join("rpmbuild")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn result_dir(&self) -> PathBuf {
        self.root.join("result")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs_dir().join(name)
    }

    /// Where the hub keeps this task's output, relative to `<topdir>/work/`.
    pub fn upload_path(&self) -> String {
        upload_path(self.task_id)
    }

    /// Removes leftovers of an earlier run of the same task and creates the tree.
    pub fn prepare(&self) -> std::io::Result<()> {
        self.remove()?;
        for d in [
            self.home(),
            self.topdir(),
            self.tmp(),
            self.result_dir(),
            self.logs_dir(),
        ] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }

    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Koji's task upload path: `tasks/<id % 10000>/<id>`.
pub fn upload_path(task_id: i64) -> String {
    format!("tasks/{}/{}", task_id.rem_euclid(10000), task_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let d = TaskDir::new(Path::new("/var/tmp/kkoji"), 123456);
        assert_eq!(d.root(), Path::new("/var/tmp/kkoji/tasks/123456"));
        assert_eq!(d.home(), Path::new("/var/tmp/kkoji/tasks/123456/home"));
        assert_eq!(
            d.topdir(),
            Path::new("/var/tmp/kkoji/tasks/123456/rpmbuild")
        );
        assert_eq!(d.tmp(), Path::new("/var/tmp/kkoji/tasks/123456/tmp"));
        assert_eq!(
            d.log("build.log"),
            Path::new("/var/tmp/kkoji/tasks/123456/logs/build.log")
        );
        assert_eq!(d.upload_path(), "tasks/3456/123456");
        assert_eq!(upload_path(7), "tasks/7/7");
        assert_eq!(upload_path(10000), "tasks/0/10000");
    }

    #[test]
    fn prepare_clears_leftovers() {
        let tmp = tempfile::tempdir().unwrap();
        let d = TaskDir::new(tmp.path(), 5);
        d.prepare().unwrap();
        std::fs::write(d.log("build.log"), "old run").unwrap();
        d.prepare().unwrap();
        assert!(!d.log("build.log").exists());
        assert!(d.home().is_dir() && d.topdir().is_dir() && d.logs_dir().is_dir());
        d.remove().unwrap();
        assert!(!d.root().exists());
        d.remove().unwrap();
    }
}
