//! The daemon against a fake hub: login, check-in with a status sentence, instant pickup,
//! the build → buildArch → tagBuild tree with real rpmbuild and uploads, refusals when
//! not ready, cancel, crash recovery (OPEN tasks freed) and shutdown.

mod common;

use std::time::Duration;

use common::fakehub::{ASSIGNED, CANCELED, CLOSED, FAILED, FREE, OPEN, is_final};
use common::farm::{Farm, LONG, assert_callnums_increase, noarch_spec, strs};
use common::{Spec, live_processes_with};
use kkoji_builder::daemon::DaemonError;
use koji_protocol::{Value, kstruct};

#[tokio::test]
async fn scratch_build_end_to_end() {
    let mut farm = Farm::new("").await;
    let src = farm.upload_srpm(&noarch_spec("kkojitest"));
    let parent = farm.hub.add_task(
        "build",
        vec![
            Value::from(src.as_str()),
            Value::from("tgt"),
            kstruct! {"scratch" => true},
        ],
        ASSIGNED,
    );
    farm.start();
    farm.hub
        .wait_for("the build task to finish", LONG, |st| {
            st.tasks.get(&parent).is_some_and(|t| is_final(t.state))
        })
        .await;

    let p = farm.hub.task(parent).unwrap();
    assert_eq!(p.state, CLOSED, "{:?}", p.result);
    assert_eq!(p.result, Some(Ok(Value::Nil)));

    let child = farm
        .hub
        .state
        .lock()
        .unwrap()
        .tasks
        .values()
        .find(|t| t.parent == Some(parent))
        .cloned()
        .expect("a buildArch subtask");
    assert_eq!(child.method, "buildArch");
    assert_eq!(child.label.as_deref(), Some("noarch"));
    assert_eq!(child.arch, "noarch");
    assert_eq!(
        child.params,
        vec![
            Value::from(src.as_str()),
            Value::Int(10),
            Value::from("noarch"),
            Value::Bool(true),
            kstruct! {"repo_id" => 1},
        ]
    );
    assert_eq!(child.state, CLOSED);
    let Some(Ok(result)) = &child.result else {
        panic!("child result: {:?}", child.result);
    };
    let up = format!("tasks/{0}/{0}", child.id);
    let rpm = format!("{up}/kkojitest-1.0-1.noarch.rpm");
    let srpm = format!("{up}/kkojitest-1.0-1.src.rpm");
    assert_eq!(strs(result.get("rpms")), vec![rpm.clone()]);
    assert_eq!(strs(result.get("srpms")), vec![srpm.clone()]);
    assert_eq!(
        strs(result.get("logs")),
        vec![
            format!("{up}/build.log"),
            format!("{up}/root.log"),
            format!("{up}/state.log")
        ]
    );
    assert_eq!(result.get("brootid"), Some(&Value::Int(1)));
    // the build used the tag's current repo; its buildroot was BUILDING during the
    // build and EXPIRED after
    let br = farm.hub.state.lock().unwrap().buildroots[&1].clone();
    assert_eq!(
        (
            br.repo_id,
            br.arch.as_str(),
            br.task_id,
            br.states.as_slice()
        ),
        (1, "x86_64", Some(child.id), &[0, 2, 3][..])
    );
    let req = &farm.hub.calls("repo.request")[0];
    assert_eq!(req.params, vec![Value::Int(10)]);
    assert_eq!(req.kwargs.get("min_event"), Some(&Value::from("last")));

    // the uploads landed intact
    let info = kkoji_builder::srpm::read_srpm(&farm.work_file(&rpm)).unwrap();
    assert_eq!(info.name, "kkojitest");
    assert!(!info.is_source);
    assert_eq!(
        std::fs::read(farm.work_file(&srpm)).unwrap(),
        std::fs::read(farm.work_file(&src)).unwrap()
    );
    let build_log = std::fs::read_to_string(farm.work_file(&format!("{up}/build.log"))).unwrap();
    assert!(build_log.contains("Wrote:"), "{build_log}");
    let state_log = std::fs::read_to_string(farm.work_file(&format!("{up}/state.log"))).unwrap();
    assert!(state_log.contains("done after"), "{state_log}");

    let moves = farm.hub.calls("host.moveBuildToScratch");
    assert_eq!(moves.len(), 1);
    assert_eq!(
        moves[0].params,
        vec![
            Value::Int(parent),
            Value::from(srpm.as_str()),
            Value::Array(vec![Value::from(rpm.as_str())]),
        ]
    );
    let logs = moves[0].kwargs.get("logs").expect("logs kwarg");
    assert_eq!(strs(logs.get("noarch")).len(), 3);
    assert!(
        farm.hub.calls("host.initBuild").is_empty(),
        "scratch builds are not imported"
    );

    let weights: Vec<Vec<Value>> = farm
        .hub
        .calls("host.setTaskWeight")
        .into_iter()
        .map(|c| c.params)
        .collect();
    assert!(weights.contains(&vec![Value::Int(parent), Value::Double(0.2)]));
    assert!(weights.contains(&vec![Value::Int(child.id), Value::Double(1.5)]));

    let first = &farm.hub.calls("host.updateHost")[0];
    assert_eq!(first.params[1], Value::Bool(true));
    let data = &first.params[2];
    assert_eq!(data.get("status"), Some(&Value::from("ready")));
    assert_eq!(data.get("maxjobs"), Some(&Value::Int(10)));
    assert_eq!(
        strs(data.get("methods")),
        vec![
            "build",
            "buildArch",
            "tagBuild",
            "dependantTask",
            "newRepo",
            "createrepo",
            "distRepo",
            "createdistrepo",
            "restartHosts",
            "restart",
            "restartVerify"
        ]
    );
    assert!(
        !farm.hub.calls("host.waitTasks").is_empty(),
        "long-poll used"
    );

    // the task dir is cleaned up
    let taskdir = farm.cfg.work_dir.join("tasks").join(child.id.to_string());
    farm.stop().await.unwrap();
    assert!(!taskdir.exists(), "{} left behind", taskdir.display());
    let ups = farm.hub.calls("host.updateHost");
    let last = ups.last().unwrap();
    assert_eq!(last.params[0], Value::Double(0.0));
    assert_eq!(last.params[1], Value::Bool(false));
    assert_eq!(farm.hub.calls("logout").len(), 1);
    assert_callnums_increase(&farm.hub.state.lock().unwrap().calls);
}

#[tokio::test]
async fn regular_build_imports_and_tags() {
    let mut farm = Farm::new("").await;
    let src = farm.upload_srpm(&noarch_spec("kkojitest-reg"));
    let parent = farm.hub.add_task(
        "build",
        vec![Value::from(src.as_str()), Value::from("tgt"), kstruct! {}],
        ASSIGNED,
    );
    farm.start();
    farm.hub
        .wait_for("the build task to finish", LONG, |st| {
            st.tasks.get(&parent).is_some_and(|t| is_final(t.state))
        })
        .await;
    let p = farm.hub.task(parent).unwrap();
    assert_eq!(p.state, CLOSED, "{:?}", p.result);

    let init = farm.hub.calls("host.initBuild");
    assert_eq!(init.len(), 1);
    let d = &init[0].params[0];
    assert_eq!(d.get("name"), Some(&Value::from("kkojitest-reg")));
    assert_eq!(d.get("version"), Some(&Value::from("1.0")));
    assert_eq!(d.get("release"), Some(&Value::from("1")));
    assert_eq!(d.get("epoch"), Some(&Value::Nil));
    assert_eq!(d.get("task_id"), Some(&Value::Int(parent)));

    let complete = farm.hub.calls("host.completeBuild");
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0].params[0], Value::Int(parent));
    assert_eq!(complete[0].params[1], Value::Int(77));
    assert!(complete[0].kwargs.contains_key("logs"));
    // brmap: every imported file → the buildroot that built it
    let brmap = complete[0].params[4].as_struct().expect("brmap");
    assert_eq!(brmap.len(), 2, "{brmap:?}");
    assert!(brmap.values().all(|v| *v == Value::Int(1)));

    let tasks = farm.hub.state.lock().unwrap().tasks.clone();
    let tag = tasks
        .values()
        .find(|t| t.method == "tagBuild")
        .expect("tagBuild subtask");
    assert_eq!(tag.parent, Some(parent));
    assert_eq!(tag.label.as_deref(), Some("tag"));
    assert_eq!(
        tag.params,
        vec![
            Value::Int(11),
            Value::Int(77),
            Value::Bool(false),
            Value::Nil,
            Value::Bool(true)
        ]
    );
    assert_eq!(tag.state, CLOSED);
    let tb = farm.hub.calls("host.tagBuild");
    assert_eq!(tb.len(), 1);
    assert_eq!(
        tb[0].params,
        vec![Value::Int(tag.id), Value::Int(11), Value::Int(77)]
    );
    assert!(farm.hub.calls("host.failBuild").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn unlisted_package_fails_before_building() {
    let mut farm = Farm::new("").await;
    let src = farm.upload_srpm(&noarch_spec("kkojitest-unlisted"));
    let parent = farm.hub.add_task(
        "build",
        vec![Value::from(src.as_str()), Value::from("tgt"), kstruct! {}],
        ASSIGNED,
    );
    farm.start();
    farm.hub
        .wait_for("the build task to finish", LONG, |st| {
            st.tasks.get(&parent).is_some_and(|t| is_final(t.state))
        })
        .await;
    let p = farm.hub.task(parent).unwrap();
    assert_eq!(p.state, FAILED);
    let Some(Err(f)) = &p.result else {
        panic!("fault expected: {:?}", p.result)
    };
    assert_eq!(
        (f.code, f.string.as_str()),
        (1005, "package kkojitest-unlisted not in list for tag td")
    );
    assert!(farm.hub.calls("host.initBuild").is_empty());
    assert!(farm.hub.calls("host.subtask").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn failing_build_fails_child_and_parent_with_the_reason() {
    let mut farm = Farm::new("").await;
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-broken",
        arch_line: "BuildArch: noarch",
        build: "exit 1",
    });
    let parent = farm.hub.add_task(
        "build",
        vec![
            Value::from(src.as_str()),
            Value::from("tgt"),
            kstruct! {"scratch" => true},
        ],
        ASSIGNED,
    );
    farm.start();
    farm.hub
        .wait_for("the build task to finish", LONG, |st| {
            st.tasks.get(&parent).is_some_and(|t| is_final(t.state))
        })
        .await;
    let p = farm.hub.task(parent).unwrap();
    assert_eq!(p.state, FAILED);
    let Some(Err(f)) = &p.result else {
        panic!("fault expected: {:?}", p.result)
    };
    assert_eq!(f.code, 1005, "BuildError");
    assert!(
        f.string.starts_with("error: Bad exit status from "),
        "{}",
        f.string
    );
    assert!(f.string.ends_with("(%build)"), "{}", f.string);
    let child = farm.hub.task(parent + 1).unwrap();
    assert_eq!(child.state, FAILED);
    assert_eq!(
        child.result, p.result,
        "the parent passes the child's fault on"
    );
    // the failed build's log was uploaded for the packager to read
    let log = farm.work_file(&format!("tasks/{0}/{0}/build.log", child.id));
    assert!(std::fs::read_to_string(log).unwrap().contains("exit 1"));
    assert!(farm.hub.calls("host.moveBuildToScratch").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn not_ready_says_why_and_refuses_work() {
    let mut farm = Farm::new("").await;
    farm.cfg.minspace_mb = 1 << 40;
    let id = farm.hub.add_task(
        "tagBuild",
        vec![
            Value::Int(11),
            Value::Int(77),
            Value::Bool(false),
            Value::Nil,
            Value::Bool(true),
        ],
        ASSIGNED,
    );
    farm.start();
    farm.hub
        .wait_for("a refusal", LONG, |st| {
            st.calls.iter().any(|c| c.method == "host.refuseTask")
        })
        .await;
    let refusal = &farm.hub.calls("host.refuseTask")[0];
    assert_eq!(refusal.params, vec![Value::Int(id)]);
    assert_eq!(refusal.kwargs.get("soft"), Some(&Value::Bool(true)));
    let msg = refusal
        .kwargs
        .get("msg")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    let want_prefix = format!(
        "not ready: free space at {} is ",
        farm.cfg.work_dir.display()
    );
    assert!(msg.starts_with(&want_prefix), "{msg}");
    assert!(
        msg.ends_with(&format!("MiB < minspace {} MiB", 1u64 << 40)),
        "{msg}"
    );
    let up = &farm.hub.calls("host.updateHost")[0];
    assert_eq!(up.params[1], Value::Bool(false));
    assert_eq!(
        up.params[2].get("status").and_then(Value::as_str),
        Some(msg.as_str())
    );
    assert_eq!(farm.hub.task(id).unwrap().state, FREE);
    assert!(farm.hub.calls("host.openTask").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn disabled_host_and_unhandled_method() {
    let mut farm = Farm::new("").await;
    let id = farm
        .hub
        .add_task("wrapperRPM", vec![Value::Int(1)], ASSIGNED);
    farm.start();
    farm.hub
        .wait_for("a refusal", LONG, |st| {
            st.calls.iter().any(|c| c.method == "host.refuseTask")
        })
        .await;
    let r = &farm.hub.calls("host.refuseTask")[0];
    assert_eq!(r.params, vec![Value::Int(id)]);
    assert_eq!(r.kwargs.get("soft"), Some(&Value::Bool(false)));
    assert_eq!(
        r.kwargs.get("msg"),
        Some(&Value::from("no handler for method wrapperRPM"))
    );
    farm.hub.state.lock().unwrap().enabled = false;
    farm.hub
        .wait_for("a not-ready check-in", LONG, |st| {
            st.calls.iter().any(|c| {
                c.method == "host.updateHost"
                    && c.params.get(2).and_then(|d| d.get("status"))
                        == Some(&Value::from("not ready: host is disabled"))
            })
        })
        .await;
    farm.stop().await.unwrap();
}

fn sleep_spec(mark: &str) -> String {
    format!("({mark}) &\n{mark}")
}

/// A noarch buildArch of the uploaded SRPM `src`, assigned to the test's builder; its id.
fn assigned_noarch_build(farm: &Farm, src: &str) -> i64 {
    farm.hub.add_task(
        "buildArch",
        vec![
            Value::from(src),
            Value::Int(10),
            Value::from("noarch"),
            Value::Bool(false),
            kstruct! {},
        ],
        ASSIGNED,
    )
}

/// The ids of the tasks the builder closed, in order.
fn closed_tasks(farm: &Farm) -> Vec<Value> {
    farm.hub
        .calls("host.closeTask")
        .into_iter()
        .map(|c| c.params[0].clone())
        .collect()
}

/// Gives the builder one more noarch build and waits until it is closed; its id.
async fn one_more_task(farm: &Farm, name: &str) -> i64 {
    let src = farm.upload_srpm(&noarch_spec(name));
    let next = assigned_noarch_build(farm, &src);
    farm.hub
        .wait_for("the next task", LONG, |st| {
            st.tasks.get(&next).is_some_and(|t| t.state == CLOSED)
        })
        .await;
    next
}

#[tokio::test]
async fn cancel_kills_the_build_and_reports_nothing() {
    const MARK: &str = "sleep 30.5812";
    let mut farm = Farm::new("").await;
    let body = sleep_spec(MARK);
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-cancel",
        arch_line: "BuildArch: noarch",
        build: &body,
    });
    let id = assigned_noarch_build(&farm, &src);
    farm.start();
    let t0 = std::time::Instant::now();
    while live_processes_with(MARK).len() < 2 {
        assert!(t0.elapsed() < LONG, "the build never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(farm.hub.task(id).unwrap().state, OPEN);
    farm.hub.cancel(id);
    let t1 = std::time::Instant::now();
    while !live_processes_with(MARK).is_empty() {
        assert!(
            t1.elapsed() < Duration::from_secs(15),
            "build processes survive the cancel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the builder takes the next task as usual, and by the time that one is closed it has
    // said all it was going to say about the canceled one: nothing
    let next = one_more_task(&farm, "kkojitest-after").await;
    assert_eq!(farm.hub.task(id).unwrap().state, CANCELED);
    let closed = closed_tasks(&farm);
    assert_eq!(closed, vec![Value::Int(next)]);
    assert!(farm.hub.calls("host.failTask").is_empty());
    // a buildArch without a repo_id (an older parent) builds without a buildroot
    assert!(farm.hub.calls("host.newBuildRoot").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn cancel_of_a_build_parent_reports_nothing() {
    const MARK: &str = "sleep 30.7145";
    let mut farm = Farm::new("").await;
    let body = sleep_spec(MARK);
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-pcancel",
        arch_line: "BuildArch: noarch",
        build: &body,
    });
    let parent = farm.hub.add_task(
        "build",
        vec![
            Value::from(src.as_str()),
            Value::from("tgt"),
            kstruct! {"scratch" => true},
        ],
        ASSIGNED,
    );
    farm.start();
    let t0 = std::time::Instant::now();
    while live_processes_with(MARK).len() < 2 {
        assert!(t0.elapsed() < LONG, "the build never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // koji cancel PARENT: the hub cancels the whole tree
    farm.hub.cancel(parent);
    let t1 = std::time::Instant::now();
    while !live_processes_with(MARK).is_empty() {
        assert!(
            t1.elapsed() < Duration::from_secs(15),
            "build processes survive the cancel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // by the time one more task is closed, the parent's wait loop has had its turn
    let next = one_more_task(&farm, "kkojitest-pafter").await;
    let closed = closed_tasks(&farm);
    assert_eq!(
        closed,
        vec![Value::Int(next)],
        "only the next task is closed"
    );
    assert!(
        farm.hub.calls("host.failTask").is_empty(),
        "a canceled task is not failed"
    );
    assert_eq!(farm.hub.task(parent).unwrap().state, CANCELED);
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn restart_frees_stale_tasks_and_shutdown_gives_work_back() {
    const MARK: &str = "sleep 30.6923";
    let mut farm = Farm::new("").await;
    // left OPEN on this host by a builder that was killed
    let stale = farm.hub.add_task("buildArch", vec![], OPEN);
    let body = sleep_spec(MARK);
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-shutdown",
        arch_line: "BuildArch: noarch",
        build: &body,
    });
    farm.start();
    farm.hub
        .wait_for("the stale task to be freed", LONG, |st| {
            st.tasks.get(&stale).is_some_and(|t| t.state == FREE)
        })
        .await;
    let freed = farm.hub.calls("host.freeTasks");
    assert_eq!(freed[0].params, vec![Value::Array(vec![Value::Int(stale)])]);

    let id = assigned_noarch_build(&farm, &src);
    let t0 = std::time::Instant::now();
    while live_processes_with(MARK).len() < 2 {
        assert!(t0.elapsed() < LONG, "the build never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    farm.stop().await.unwrap();
    assert!(
        live_processes_with(MARK).is_empty(),
        "build survived shutdown"
    );
    let task = farm.hub.task(id).unwrap();
    assert_eq!(task.state, FREE, "given back for another builder");
    let freed = farm.hub.calls("host.freeTasks");
    assert_eq!(
        freed.last().unwrap().params,
        vec![Value::Array(vec![Value::Int(id)])]
    );
    let last_up = farm.hub.calls("host.updateHost").pop().unwrap();
    assert_eq!(
        last_up.params[..2],
        [Value::Double(0.0), Value::Bool(false)]
    );
    assert_eq!(farm.hub.calls("logout").len(), 1);
    assert!(farm.hub.calls("host.failTask").is_empty());
}

#[tokio::test]
async fn second_builder_with_the_same_cert_exits_clearly() {
    let mut farm = Farm::new("").await;
    farm.hub.state.lock().unwrap().lock_taken = true;
    farm.start();
    let err = tokio::time::timeout(Duration::from_secs(20), farm.daemon.take().unwrap())
        .await
        .expect("daemon should exit")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, DaemonError::AlreadyRunning(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("another builder is already logged in with this host certificate"),
        "{msg}"
    );
    assert!(msg.contains("AuthLockError"), "{msg}");
}

#[tokio::test]
async fn expired_session_is_renewed_and_work_goes_on() {
    let mut farm = Farm::new("").await;
    farm.start();
    farm.hub
        .wait_for("the first check-in", LONG, |st| {
            st.calls.iter().any(|c| c.method == "host.updateHost")
        })
        .await;
    farm.hub.state.lock().unwrap().expire_next = true;
    farm.hub.notify();
    farm.hub
        .wait_for("a renewal", LONG, |st| {
            st.calls.iter().any(|c| {
                c.method == "sslLogin" && c.kwargs.get("renew") == Some(&Value::Bool(true))
            })
        })
        .await;
    let renew = farm
        .hub
        .calls("sslLogin")
        .into_iter()
        .find(|c| c.kwargs.contains_key("renew"))
        .unwrap();
    assert_eq!(renew.kwargs.get("exclusive"), Some(&Value::Bool(true)));
    let tag_args = || {
        vec![
            Value::Int(11),
            Value::Int(77),
            Value::Bool(false),
            Value::Nil,
            Value::Bool(true),
        ]
    };
    let t1 = farm.hub.add_task("tagBuild", tag_args(), ASSIGNED);
    farm.hub
        .wait_for("a task after renewal", LONG, |st| {
            st.tasks.get(&t1).is_some_and(|t| t.state == CLOSED)
        })
        .await;

    // a hub that refuses renewal: fresh login, taking the lock from our own old session
    {
        let mut st = farm.hub.state.lock().unwrap();
        st.refuse_renew = true;
        st.expire_next = true;
    }
    farm.hub.notify();
    farm.hub
        .wait_for("a forced exclusive session", LONG, |st| {
            st.calls.iter().any(|c| {
                c.method == "exclusiveSession" && c.kwargs.get("force") == Some(&Value::Bool(true))
            })
        })
        .await;
    let t2 = farm.hub.add_task("tagBuild", tag_args(), ASSIGNED);
    farm.hub
        .wait_for("a task after a fresh login", LONG, |st| {
            st.tasks.get(&t2).is_some_and(|t| t.state == CLOSED)
        })
        .await;
    farm.stop().await.unwrap();
}
