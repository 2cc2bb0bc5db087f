//! The graceful restart's last step: the daemon, idle and logged out, replaces itself
//! with a fresh copy of its program (execve: same PID, same arguments and environment),
//! as kojid does on `ServerRestart`. Supervisors (quickstart, systemd) see no exit; the
//! new process starts with a new start time and logs in again.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// The program to execute: `argv[0]` when it names a path (as the supervisor started
/// it, so an upgraded binary installed there is what runs next), else the running
/// executable as the kernel knows it.
pub fn program(argv0: Option<&OsString>) -> std::io::Result<PathBuf> {
    match argv0 {
        Some(a) if a.as_encoded_bytes().contains(&b'/') => Ok(PathBuf::from(a)),
        _ => std::env::current_exe(),
    }
}

/// Replaces this process with a new run of the same command line. Returns only when
/// execve failed.
pub fn reexec() -> std::io::Error {
    let mut args = std::env::args_os();
    let argv0 = args.next();
    let prog = match program(argv0.as_ref()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    tracing::warn!(program = %prog.display(), "re-executing");
    let mut cmd = Command::new(&prog);
    if let Some(a0) = &argv0 {
        cmd.arg0(a0);
    }
    cmd.args(args).exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_in_argv0_is_used_as_given() {
        assert_eq!(
            program(Some(&OsString::from("/usr/sbin/kkoji-builder"))).expect("path"),
            PathBuf::from("/usr/sbin/kkoji-builder")
        );
        assert_eq!(
            program(Some(&OsString::from("./target/kkoji-builder"))).expect("path"),
            PathBuf::from("./target/kkoji-builder")
        );
    }

    #[test]
    fn a_bare_name_means_the_running_executable() {
        let me = std::env::current_exe().expect("current_exe");
        assert_eq!(
            program(Some(&OsString::from("kkoji-builder"))).expect("exe"),
            me
        );
        assert_eq!(program(None).expect("exe"), me);
    }
}
