//! The buildArch executor with the real rpmbuild: builds, failures, cancel.

mod common;

use std::time::Duration;

use common::{Spec, host_arch, live_processes_with, make_srpm};
use kkoji_builder::cancel::CancelToken;
use kkoji_builder::executor::{Backend, BuildJob, ExecError, run_build};
use kkoji_builder::srpm::{read_srpm, select_arches};
use kkoji_builder::taskdir::TaskDir;

fn rpmbuild() -> Backend {
    Backend::Rpmbuild {
        program: "rpmbuild".into(),
    }
}

#[tokio::test]
async fn noarch_build_produces_rpm_and_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let srpm = make_srpm(
        tmp.path(),
        &Spec {
            name: "kkojitest",
            arch_line: "BuildArch: noarch",
            build: "echo building-kkojitest-now",
        },
    );
    // the header says noarch, so the build task plans one noarch buildArch
    let info = read_srpm(&srpm).unwrap();
    assert_eq!(
        (
            info.name.as_str(),
            info.version.as_str(),
            info.release.as_str()
        ),
        ("kkojitest", "1.0", "1")
    );
    assert!(info.is_source);
    assert_eq!(info.epoch, None);
    assert_eq!(info.build_archs, vec!["noarch"]);
    assert_eq!(
        select_arches(&info, "x86_64 aarch64", None).unwrap(),
        vec!["noarch"]
    );

    let work = tmp.path().join("work");
    let dir = TaskDir::new(&work, 101);
    dir.prepare().unwrap();
    let job = BuildJob {
        task_id: 101,
        srpm,
        arch: "noarch".into(),
        backend: rpmbuild(),
        root_notes: Vec::new(),
    };
    let out = run_build(&job, &dir, &CancelToken::new()).await.unwrap();
    let names: Vec<String> = out
        .rpms
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["kkojitest-1.0-1.noarch.rpm"]);
    assert!(
        out.rpms[0].starts_with(dir.topdir()),
        "built inside the task's _topdir"
    );
    let built = read_srpm(&out.rpms[0]).unwrap();
    assert!(!built.is_source);

    let build_log = std::fs::read_to_string(dir.log("build.log")).unwrap();
    assert!(build_log.contains("building-kkojitest-now"), "{build_log}");
    assert!(build_log.contains("Wrote:"), "{build_log}");
    let root_log = std::fs::read_to_string(dir.log("root.log")).unwrap();
    assert!(root_log.contains("rpmbuild"), "{root_log}");
    assert!(
        root_log.contains(&format!("HOME={}", dir.home().display())),
        "{root_log}"
    );
    assert!(root_log.contains("%_topdir"), "{root_log}");
    let state_log = std::fs::read_to_string(dir.log("state.log")).unwrap();
    assert!(state_log.contains("building (pid"), "{state_log}");
    assert!(state_log.contains("done after"), "{state_log}");
    assert_eq!(out.logs.len(), 3);
}

#[tokio::test]
async fn arch_build_targets_the_arch() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = host_arch();
    let srpm = make_srpm(
        tmp.path(),
        &Spec {
            name: "kkojitest-arch",
            arch_line: &format!("ExclusiveArch: {arch}"),
            build: "echo arch build",
        },
    );
    let info = read_srpm(&srpm).unwrap();
    assert_eq!(info.exclusive_arch, vec![arch.clone()]);
    assert_eq!(
        select_arches(&info, &format!("{arch} noarch"), None).unwrap(),
        vec![arch.clone()]
    );
    let dir = TaskDir::new(&tmp.path().join("work"), 102);
    let job = BuildJob {
        task_id: 102,
        srpm,
        arch: arch.clone(),
        backend: rpmbuild(),
        root_notes: Vec::new(),
    };
    let out = run_build(&job, &dir, &CancelToken::new()).await.unwrap();
    assert_eq!(out.rpms.len(), 1);
    assert!(
        out.rpms[0]
            .to_string_lossy()
            .ends_with(&format!("kkojitest-arch-1.0-1.{arch}.rpm")),
        "{:?}",
        out.rpms
    );
}

#[tokio::test]
async fn failing_build_reports_the_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let srpm = make_srpm(
        tmp.path(),
        &Spec {
            name: "kkojitest-fail",
            arch_line: "BuildArch: noarch",
            build: "echo about to fail\nexit 1",
        },
    );
    let dir = TaskDir::new(&tmp.path().join("work"), 103);
    let job = BuildJob {
        task_id: 103,
        srpm,
        arch: "noarch".into(),
        backend: rpmbuild(),
        root_notes: Vec::new(),
    };
    let err = run_build(&job, &dir, &CancelToken::new())
        .await
        .unwrap_err();
    let ExecError::BuildFailed(reason) = err else {
        panic!("BuildFailed expected, got {err:?}");
    };
    assert!(
        reason.starts_with("error: Bad exit status from "),
        "{reason}"
    );
    assert!(reason.ends_with("(%build)"), "{reason}");
    // the temp script lives in the task's own tmp dir
    assert!(
        reason.contains(&dir.tmp().display().to_string()),
        "{reason}"
    );
    let build_log = std::fs::read_to_string(dir.log("build.log")).unwrap();
    assert!(build_log.contains("about to fail"));
    let state_log = std::fs::read_to_string(dir.log("state.log")).unwrap();
    assert!(
        state_log.contains("failed: rpmbuild ended with exit status 1"),
        "{state_log}"
    );
}

#[tokio::test]
async fn missing_srpm_and_missing_program() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = TaskDir::new(&tmp.path().join("work"), 104);
    let job = BuildJob {
        task_id: 104,
        srpm: tmp.path().join("nope.src.rpm"),
        arch: "noarch".into(),
        backend: rpmbuild(),
        root_notes: Vec::new(),
    };
    let err = run_build(&job, &dir, &CancelToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("SRPM file missing: "), "{err}");

    let srpm = make_srpm(
        tmp.path(),
        &Spec {
            name: "kkojitest",
            arch_line: "BuildArch: noarch",
            build: "true",
        },
    );
    let job = BuildJob {
        srpm,
        backend: Backend::Rpmbuild {
            program: "rpmbuild-that-does-not-exist".into(),
        },
        ..job
    };
    let err = run_build(&job, &dir, &CancelToken::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rpmbuild-that-does-not-exist is not installed (not found in PATH)"
    );
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    const MARK: &str = "sleep 30.4711";
    let tmp = tempfile::tempdir().unwrap();
    let srpm = make_srpm(
        tmp.path(),
        &Spec {
            name: "kkojitest-sleep",
            arch_line: "BuildArch: noarch",
            // a child of a child of rpmbuild, in the background and in the foreground
            build: &format!("({MARK}) &\n{MARK}"),
        },
    );
    let dir = TaskDir::new(&tmp.path().join("work"), 105);
    let job = BuildJob {
        task_id: 105,
        srpm,
        arch: "noarch".into(),
        backend: rpmbuild(),
        root_notes: Vec::new(),
    };
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let build = tokio::spawn({
        let dir = dir.clone();
        async move { run_build(&job, &dir, &c2).await }
    });
    // wait until both sleeps run
    for _ in 0..300 {
        if live_processes_with(MARK).len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        live_processes_with(MARK).len() >= 2,
        "the build never reached %build"
    );
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(60), build)
        .await
        .expect("cancel did not finish within 60 s")
        .unwrap();
    assert!(matches!(r, Err(ExecError::Canceled)), "{r:?}");
    // nothing of the build survives, not even the backgrounded grandchild
    let mut left = live_processes_with(MARK);
    for _ in 0..300 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = live_processes_with(MARK);
    }
    assert!(left.is_empty(), "processes left after cancel: {left:?}");
    let state_log = std::fs::read_to_string(dir.log("state.log")).unwrap();
    assert!(state_log.contains("canceled"), "{state_log}");
}

#[tokio::test]
async fn startup_kills_orphaned_builds_and_removes_stale_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let tasks = tmp.path().join("work/tasks");
    let stale = tasks.join("42/rpmbuild/BUILD");
    std::fs::create_dir_all(&stale).unwrap();
    // an orphaned build of a killed daemon: its cwd is inside a task dir
    let mut orphan = tokio::process::Command::new("sleep")
        .arg("30.8034")
        .current_dir(&stale)
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = orphan.id().unwrap() as i32;
    // and an unrelated process elsewhere that must survive
    let mut bystander = tokio::process::Command::new("sleep")
        .arg("30.8035")
        .current_dir(tmp.path())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let killed = kkoji_builder::executor::clean_stale_tasks(&tasks);
    assert_eq!(killed, vec![pid]);
    let st = tokio::time::timeout(Duration::from_secs(5), orphan.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!st.success());
    assert!(!tasks.join("42").exists());
    assert!(tasks.exists());
    assert!(bystander.try_wait().unwrap().is_none(), "bystander killed");
    bystander.kill().await.unwrap();
}
