//! Many builders at once against a hub whose pool is smaller than the crowd: every call must
//! answer. A call that held one pool connection while asking for another would deadlock here
//! (with as many such calls in flight as the pool has connections); the deadline below turns
//! such a hang into a failure instead of a stuck test run.

mod common;

use common::{Farm, host, kw, rpmbuild, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Struct, Value};
use std::time::Duration;

/// Far beyond what the calls take; only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(600);
const ROUNDS: usize = 10;

async fn farm_with_pool_of_16() -> Farm {
    Farm::start_with(|c| {
        c.db.max_connections = 16;
        // a slow machine must not turn queueing into ServerOffline faults here
        c.db.acquire_timeout_secs = 300.0;
    })
    .await
}

/// What the stock kojid does every cycle: check in, then ask for its tasks.
async fn poll_rounds(h: KojiClient) -> Result<usize, String> {
    let mut calls = 0;
    for _ in 0..ROUNDS {
        h.call("host.updateHost", vec![0.0.into(), true.into()])
            .await
            .map_err(|e| format!("host.updateHost: {e}"))?;
        let t = h
            .call("host.getTasks", vec![])
            .await
            .map_err(|e| format!("host.getTasks: {e}"))?;
        if t.as_array().is_none() {
            return Err(format!("host.getTasks answered {t:?}"));
        }
        calls += 2;
    }
    Ok(calls)
}

async fn crowd_of_hosts_polls(n: usize) {
    let farm = farm_with_pool_of_16().await;
    let admin = farm.admin().await;
    let mut hosts = Vec::with_capacity(n);
    for i in 0..n {
        hosts.push(host(&farm, &admin, &format!("poller-{i}"), &["x86_64"], 4.0).await);
    }
    let handles: Vec<_> = hosts
        .into_iter()
        .map(|h| tokio::spawn(poll_rounds(h)))
        .collect();
    let all = tokio::time::timeout(DEADLINE, futures_join(handles))
        .await
        .unwrap_or_else(|_| panic!("{n} polling hosts did not all finish: the hub hangs"));
    let mut answered = 0;
    for r in all {
        answered += r.unwrap_or_else(|e| panic!("a polling host failed: {e}"));
    }
    assert_eq!(answered, n * ROUNDS * 2);
    // and the hub still serves everyone else
    let v = farm
        .anon()
        .call("getAPIVersion", vec![])
        .await
        .expect("hub answers after the crowd");
    assert_eq!(v.as_i64(), Some(1));
}

async fn futures_join(
    handles: Vec<tokio::task::JoinHandle<Result<usize, String>>>,
) -> Vec<Result<usize, String>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(
            h.await
                .unwrap_or_else(|e| Err(format!("task panicked: {e}"))),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_hosts_polling_against_a_pool_of_16_all_get_answers() {
    crowd_of_hosts_polls(64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_hosts_polling_against_a_pool_of_16_all_get_answers() {
    crowd_of_hosts_polls(200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_build_submissions_with_reads_all_get_answers() {
    let farm = farm_with_pool_of_16().await;
    let admin = farm.admin().await;
    admin
        .call_kw(
            "createTag",
            vec!["p-build".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec!["p-dest".into()])
        .await
        .unwrap();
    admin
        .call(
            "createBuildTarget",
            vec!["p-target".into(), "p-build".into(), "p-dest".into()],
        )
        .await
        .unwrap();
    let (srpm, _) = rpmbuild(farm.dir.path(), "polled", true, "true");
    // a few builders poll meanwhile, as a farm's would
    let mut pollers = Vec::new();
    for i in 0..8 {
        let h = host(
            &farm,
            &admin,
            &format!("busy-{i}"),
            &["x86_64", "noarch"],
            4.0,
        )
        .await;
        pollers.push(tokio::spawn(poll_rounds(h)));
    }
    let mut submitters = Vec::new();
    for i in 0..64 {
        let user = farm.user(&format!("packager{i}"));
        user.ssl_login().await.unwrap();
        let src = upload(&user, &format!("cli-build/p{i}"), &srpm).await;
        submitters.push(tokio::spawn(async move {
            let mut calls = 0usize;
            let task = user
                .call_kw(
                    "build",
                    vec![
                        src.as_str().into(),
                        "p-target".into(),
                        Value::Struct(kw(&[("scratch", true.into())])),
                    ],
                    Struct::new(),
                )
                .await
                .map_err(|e| format!("build: {e}"))?;
            calls += 1;
            let id = task.as_i64().ok_or("build answered no task id")?;
            for _ in 0..ROUNDS {
                let info = user
                    .call("getTaskInfo", vec![id.into()])
                    .await
                    .map_err(|e| format!("getTaskInfo: {e}"))?;
                if info.get("method").and_then(Value::as_str) != Some("build") {
                    return Err(format!("getTaskInfo({id}) answered {info:?}"));
                }
                calls += 1;
            }
            Ok(calls)
        }));
    }
    let subs = tokio::time::timeout(DEADLINE, futures_join(submitters))
        .await
        .expect("64 submitters did not all finish: the hub hangs");
    for r in subs {
        assert_eq!(
            r.unwrap_or_else(|e| panic!("a submitter failed: {e}")),
            1 + ROUNDS
        );
    }
    let polls = tokio::time::timeout(DEADLINE, futures_join(pollers))
        .await
        .expect("pollers did not finish: the hub hangs");
    for r in polls {
        r.unwrap_or_else(|e| panic!("a polling host failed: {e}"));
    }
    let n = admin
        .call_kw(
            "listTasks",
            vec![],
            kw(&[("opts", Value::Struct(kw(&[("method", "build".into())])))]),
        )
        .await
        .unwrap();
    assert_eq!(n.as_array().map(<[Value]>::len), Some(64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_finds_no_free_connection_answers_server_offline_and_the_hub_recovers() {
    let farm = Farm::start_with(|c| {
        c.db.max_connections = 2;
        c.db.acquire_timeout_secs = 0.5;
    })
    .await;
    let admin = farm.admin().await;
    // take every connection of the hub's pool, as a crowd of slow calls would
    // (background loops use it too: keep asking until both are ours)
    let mut held = Vec::new();
    let until = std::time::Instant::now() + DEADLINE;
    while held.len() < 2 {
        assert!(
            std::time::Instant::now() < until,
            "never got the pool's connections"
        );
        if let Ok(c) = farm.hub.pool.acquire().await {
            held.push(c);
        }
    }
    let err = admin
        .call("getTag", vec!["nothing".into()])
        .await
        .expect_err("no connection is free");
    match err {
        koji_protocol::client::ClientError::Fault(f) => {
            assert_eq!(f.code, koji_protocol::codes::SERVER_OFFLINE, "{}", f.string);
            assert!(f.string.contains("getTag"), "{}", f.string);
        }
        other => panic!("expected a ServerOffline fault, got {other:?}"),
    }
    drop(held);
    // the stock client retries ServerOffline; the retry is served
    let tag = admin
        .call("getTag", vec!["nothing".into()])
        .await
        .expect("served once connections are free");
    assert!(matches!(tag, Value::Nil));
}

/// A check-in is one statement that also records the callnum; it must still refuse a session
/// closed elsewhere (this hub's cache still holds it) and then change nothing.
#[tokio::test]
async fn a_check_in_on_a_session_closed_through_another_hub_changes_nothing() {
    let farm = Farm::start().await;
    let (_hub2, url2) = farm.second_hub().await;
    let admin = farm.admin().await;
    let h = host(&farm, &admin, "closed-elsewhere", &["x86_64"], 4.0).await;
    h.call("host.updateHost", vec![1.5.into(), true.into()])
        .await
        .unwrap();
    let load = |v: Value| v.get("task_load").and_then(Value::as_f64);
    let info = admin
        .call("getHost", vec!["closed-elsewhere".into()])
        .await
        .unwrap();
    assert_eq!(load(info), Some(1.5));

    let other = farm.user_at(&url2, "closed-elsewhere");
    other.set_session(h.session());
    // the borrowed session starts at callnum 0, behind h's: step past h's last write
    let mut caught_up = false;
    for _ in 0..10 {
        if other.call("getAPIVersion", vec![]).await.is_ok() {
            caught_up = true;
            break;
        }
    }
    assert!(
        caught_up,
        "the borrowed session never reached a fresh callnum"
    );
    other.logout().await.unwrap();
    let (code, msg) = common::fault(
        h.call("host.updateHost", vec![3.0.into(), false.into()])
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (
            koji_protocol::codes::AUTH,
            "Invalid session or bad credentials"
        )
    );
    let info = admin
        .call("getHost", vec!["closed-elsewhere".into()])
        .await
        .unwrap();
    assert_eq!(load(info.clone()), Some(1.5), "{info:?}");
    assert_eq!(info.get("ready"), Some(&Value::Bool(true)), "{info:?}");
}
