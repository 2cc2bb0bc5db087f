//! An admin's hand on the queue (assignTask, freeTask, setTaskPriority), the scheduler's
//! account of itself (scheduler.getTaskRuns / getLogMessages / getHostData), and the
//! methods kkoji refuses on purpose, at the protocol level with real TLS and host
//! certificates.

mod common;

use common::{Farm, fault, host, int, kw};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes};
use std::time::Duration;

async fn make_task(admin: &KojiClient, arch: &str) -> i64 {
    admin
        .call_kw(
            "makeTask",
            vec!["sleep".into(), Value::Array(vec![1.into()])],
            kw(&[("arch", arch.into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap()
}

async fn task_info(c: &KojiClient, id: i64) -> Value {
    c.call("getTaskInfo", vec![id.into()]).await.unwrap()
}

/// Generous: 600 looks 100 ms apart.
const LOOKS: usize = 600;

/// Wait until `check` holds for the task's info.
async fn wait_task(c: &KojiClient, id: i64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut t = Value::Nil;
    for _ in 0..LOOKS {
        t = task_info(c, id).await;
        if check(&t) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {id}: {what} never happened: {t:?}");
}

/// Wait until the scheduler logs a line containing `needle` for `task`, asking the admin's
/// scheduler to run between looks.
async fn wait_logged(admin: &KojiClient, task: i64, needle: &str) {
    for _ in 0..LOOKS {
        if log_of(admin, task).await.iter().any(|m| m.contains(needle)) {
            return;
        }
        admin.call("scheduler.doRun", vec![]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "task {task}: no log line with {needle:?}: {:?}",
        log_of(admin, task).await
    );
}

fn state(t: &Value) -> i64 {
    int(t, "state")
}

/// The scheduler's log lines of a task.
async fn log_of(c: &KojiClient, task: i64) -> Vec<String> {
    let rows = c
        .call(
            "scheduler.getLogMessages",
            vec![Value::Array(vec![Value::Array(vec![
                "task_id".into(),
                task.into(),
            ])])],
        )
        .await
        .unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("msg").and_then(Value::as_str).unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_admin_assigns_frees_and_reprioritises_tasks() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let a = host(&farm, &admin, "adm-a", &["x86_64"], 4.0).await;
    let b = host(&farm, &admin, "adm-b", &["x86_64"], 4.0).await;
    let b_id = b
        .call("host.getID", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    // neither host is ready: the task stays FREE, and the log says why
    let t = make_task(&admin, "noarch").await;
    wait_logged(&admin, t, "not ready").await;
    assert_eq!(state(&task_info(&admin, t).await), 0);
    // both hosts check in, not ready: the scheduler gives them nothing, and keeps what an
    // admin gives them (a host that never checked in loses its tasks at the next pass)
    for h in [&a, &b] {
        h.call("host.updateHost", vec![0.0.into(), false.into()])
            .await
            .unwrap();
    }

    // a packager may do none of it, and nothing changes
    let user = farm.user("packager");
    user.ssl_login().await.unwrap();
    for (m, args) in [
        ("assignTask", vec![t.into(), "adm-b".into()]),
        ("freeTask", vec![t.into()]),
        ("setTaskPriority", vec![t.into(), 1.into()]),
        ("scheduler.doRun", vec![]),
    ] {
        let (code, msg) = fault(user.call(m, args).await);
        assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{m}: {msg}");
    }
    assert_eq!(int(&task_info(&admin, t).await, "priority"), 20);

    // bad input: an unknown host or task, a priority out of Koji's range
    let (code, msg) = fault(
        admin
            .call("assignTask", vec![t.into(), "nobody".into()])
            .await,
    );
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.contains("No such host"), "{msg}");
    let (code, msg) = fault(admin.call("freeTask", vec![999_999.into()]).await);
    assert!(msg.contains("No such task"), "{code} {msg}");
    let (code, msg) = fault(
        admin
            .call("setTaskPriority", vec![t.into(), 4_294_967_196i64.into()])
            .await,
    );
    assert_eq!(code, codes::PARAMETER, "{msg}");

    // assign a FREE task by hand: the host is told at once, and the run is recorded
    let ok = admin
        .call("assignTask", vec![t.into(), "adm-b".into()])
        .await
        .unwrap();
    assert_eq!(ok, Value::Bool(true));
    let info = task_info(&admin, t).await;
    assert_eq!((state(&info), int(&info, "host_id")), (4, b_id));
    let offered = b.call("host.getTasks", vec![]).await.unwrap();
    assert!(
        offered
            .as_array()
            .unwrap()
            .iter()
            .any(|o| int(o, "id") == t),
        "{offered:?}"
    );
    b.call("host.openTask", vec![t.into()]).await.unwrap();
    // an OPEN task is not taken from its host without force …
    let ok = admin
        .call("assignTask", vec![t.into(), "adm-a".into()])
        .await
        .unwrap();
    assert_eq!(ok, Value::Bool(false));
    assert_eq!(state(&task_info(&admin, t).await), 1);
    // … and with force it is
    let ok = admin
        .call("assignTask", vec![t.into(), "adm-a".into(), true.into()])
        .await
        .unwrap();
    assert_eq!(ok, Value::Bool(true));
    let runs = admin
        .call_kw(
            "scheduler.getTaskRuns",
            vec![],
            kw(&[
                (
                    "clauses",
                    Value::Array(vec![Value::Array(vec!["task_id".into(), t.into()])]),
                ),
                (
                    "fields",
                    Value::Array(vec!["host_name".into(), "active".into()]),
                ),
                ("opts", Value::Struct(kw(&[("order", "id".into())]))),
            ]),
        )
        .await
        .unwrap();
    let runs: Vec<(String, bool)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("host_name")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
                r.get("active") == Some(&Value::Bool(true)),
            )
        })
        .collect();
    assert_eq!(
        runs,
        vec![("adm-b".to_string(), false), ("adm-a".to_string(), true)]
    );
    // the host that lost it may not act on it any more
    let (code, msg) = fault(
        b.call("host.closeTask", vec![t.into(), "done".into()])
            .await,
    );
    assert_ne!(code, 0, "{msg}");

    // free it: back in the queue, off the host
    admin.call("freeTask", vec![t.into()]).await.unwrap();
    let info = task_info(&admin, t).await;
    assert_eq!(
        (state(&info), info.get("host_id").cloned()),
        (0, Some(Value::Nil))
    );

    // priorities: the parent and, with recurse, every subtask
    let parent = make_task(&admin, "noarch").await;
    admin
        .call("assignTask", vec![parent.into(), "adm-a".into()])
        .await
        .unwrap();
    a.call("host.openTask", vec![parent.into()]).await.unwrap();
    let child = a
        .call(
            "host.subtask",
            vec!["sleep".into(), Value::Array(vec![1.into()]), parent.into()],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    admin
        .call(
            "setTaskPriority",
            vec![parent.into(), 7.into(), false.into()],
        )
        .await
        .unwrap();
    assert_eq!(int(&task_info(&admin, parent).await, "priority"), 7);
    assert_ne!(int(&task_info(&admin, child).await, "priority"), 7);
    admin
        .call("setTaskPriority", vec![parent.into(), 3.into()])
        .await
        .unwrap();
    assert_eq!(int(&task_info(&admin, child).await, "priority"), 3);

    // a finished task can be neither freed nor reprioritised
    admin.call("cancelTask", vec![parent.into()]).await.unwrap();
    wait_task(&admin, parent, "cancel", |t| state(t) == 3).await;
    let (code, msg) = fault(admin.call("freeTask", vec![parent.into()]).await);
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.contains("state is CANCELED"), "{msg}");
    let (code, msg) = fault(
        admin
            .call("setTaskPriority", vec![parent.into(), 1.into()])
            .await,
    );
    assert!(msg.contains("Finished task"), "{code} {msg}");
    let ok = admin
        .call(
            "assignTask",
            vec![parent.into(), "adm-b".into(), true.into()],
        )
        .await
        .unwrap();
    assert_eq!(
        ok,
        Value::Bool(false),
        "a finished task is never reassigned"
    );
}

#[tokio::test]
async fn the_scheduler_tells_what_it_did() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let h = host(&farm, &admin, "sched-h", &["x86_64"], 4.0).await;
    let h_id = h
        .call("host.getID", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    h.call_kw(
        "host.updateHost",
        vec![0.0.into(), true.into()],
        kw(&[("data", Value::Struct(kw(&[("maxjobs", 3.into())])))]),
    )
    .await
    .unwrap();
    // an arch nobody builds waits, and says so; a noarch task is assigned
    let arm = make_task(&admin, "aarch64").await;
    let t = make_task(&admin, "noarch").await;
    wait_task(&admin, t, "assignment", |i| state(i) == 4).await;
    wait_logged(&admin, arm, "builds its arch").await;
    assert_eq!(log_of(&admin, t).await, vec!["Assigning task".to_string()]);
    // what scheduler-info asks (the CLI passes a host by name), anonymously
    let anon = farm.anon();
    let runs = anon
        .call_kw(
            "scheduler.getTaskRuns",
            vec![],
            kw(&[
                (
                    "clauses",
                    Value::Array(vec![Value::Array(vec!["host_id".into(), "sched-h".into()])]),
                ),
                (
                    "fields",
                    Value::Array(
                        [
                            "id",
                            "task_id",
                            "host_name",
                            "state",
                            "create_ts",
                            "start_ts",
                            "completion_ts",
                        ]
                        .iter()
                        .map(|f| (*f).into())
                        .collect(),
                    ),
                ),
                (
                    "opts",
                    Value::Struct(kw(&[("order", "-id".into()), ("limit", 5.into())])),
                ),
            ]),
        )
        .await
        .unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(int(&runs[0], "task_id"), t);
    assert_eq!(int(&runs[0], "state"), 4);
    assert!(matches!(runs[0].get("create_ts"), Some(Value::Double(_))));
    assert_eq!(runs[0].get("start_ts"), Some(&Value::Nil));
    // counting, comparing and IN
    let n = anon
        .call_kw(
            "scheduler.getLogMessages",
            vec![],
            kw(&[
                (
                    "clauses",
                    Value::Array(vec![
                        Value::Array(vec![
                            "task_id".into(),
                            "IN".into(),
                            Value::Array(vec![t.into(), arm.into()]),
                        ]),
                        Value::Array(vec!["msg_ts".into(), ">=".into(), 0.into()]),
                    ]),
                ),
                ("opts", Value::Struct(kw(&[("countOnly", true.into())]))),
            ]),
        )
        .await
        .unwrap();
    assert!(n.as_i64().unwrap() >= 2, "{n:?}");
    // what the builder reported
    let data = anon
        .call("scheduler.getHostData", vec![h_id.into()])
        .await
        .unwrap();
    let data = data.as_array().unwrap();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(
        data[0].get("data").and_then(|d| d.get("maxjobs")),
        Some(&Value::Int(3)),
        "{data:?}"
    );
    // bad queries are ParameterErrors that name no SQL
    for (clauses, fields) in [
        (
            Value::Array(vec![Value::Array(vec![
                "id; DROP TABLE task".into(),
                1.into(),
            ])]),
            Value::Nil,
        ),
        (
            Value::Array(vec![Value::Array(vec![
                "id".into(),
                "LIKE".into(),
                1.into(),
            ])]),
            Value::Nil,
        ),
        (
            Value::Array(vec![Value::Array(vec!["msg".into(), 1.into()])]),
            Value::Nil,
        ),
        (Value::Nil, Value::Array(vec!["password".into()])),
        ("task_id".into(), Value::Nil),
    ] {
        let (code, msg) = fault(
            anon.call("scheduler.getLogMessages", vec![clauses, fields])
                .await,
        );
        assert_eq!(code, codes::PARAMETER, "{msg}");
        assert!(!msg.contains("syntax") && !msg.contains("SELECT"), "{msg}");
    }
}

#[tokio::test]
async fn what_kkoji_does_not_do_is_refused_by_name() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        (
            "mavenBuild",
            vec!["git+https://x/y#1".into(), "t".into()],
            "maven",
        ),
        (
            "winBuild",
            vec!["vm".into(), "git+https://x/y#1".into(), "t".into()],
            "Windows",
        ),
        (
            "buildImage",
            vec![
                "n".into(),
                "1".into(),
                "x86_64".into(),
                "t".into(),
                "ks".into(),
                "livecd".into(),
            ],
            "live CD",
        ),
        ("buildImageIndirection", vec![], "images"),
        (
            "kiwiBuild",
            vec!["t".into(), Value::Array(vec![]), "u".into(), "p".into()],
            "kiwi",
        ),
        (
            "CGInitBuild",
            vec!["cg".into(), Value::Nil],
            "content generator",
        ),
        ("chainBuild", vec![Value::Array(vec![]), "t".into()], "SCM"),
    ];
    for (m, args, what) in cases {
        let (code, msg) = fault(admin.call(m, args).await);
        assert_eq!(code, codes::GENERIC, "{m}: {msg}");
        assert!(msg.contains(what), "{m}: {msg}");
    }
    // still listed, with Koji's signatures, for the CLI and scripts
    let api = admin.call("_listapi", vec![]).await.unwrap();
    let names: Vec<&str> = api
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.get("name").and_then(Value::as_str))
        .collect();
    for m in ["mavenBuild", "CGImport", "wrapperRPM", "chainBuild"] {
        assert!(names.contains(&m), "{m} not listed");
    }
}
