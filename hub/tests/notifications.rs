//! Build notifications through a real hub over real TLS, with mail delivered to an SMTP
//! sink the test runs: subscriptions and blocks (who may make, change and remove them, and
//! the faults that change nothing), who a failed build's mail goes to (subscribers, the
//! owner, not the success-only nor the opted out), a relay that refuses and is tried
//! again, and a hub with no relay that records and sends nothing without failing.

mod common;
#[path = "common/smtp_sink.rs"]
mod smtp_sink;

use common::{Farm, fault, host, int, kw, rpmbuild, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes, kstruct};
use smtp_sink::SmtpSink;
use std::time::Duration;

const MAIL_DEADLINE: Duration = Duration::from_secs(60);

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|n| int(n, "id")).collect()
}

async fn subscriptions(c: &KojiClient, user: Value) -> Value {
    c.call("getBuildNotifications", vec![user]).await.unwrap()
}

async fn outbox(farm: &Farm) -> Vec<(String, String, String, i32, Option<String>)> {
    let url = farm.hub.hub.config.database_url.clone().unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT recipient, kind, state, attempts, last_error FROM notification_mail ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

/// A target `n-target` (build tag `n-build` → `n-dest`) listing `pkg`, and a ready builder.
async fn setup(farm: &Farm, admin: &KojiClient, pkg: &str) -> KojiClient {
    admin
        .call_kw(
            "createTag",
            vec!["n-build".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec!["n-dest".into()])
        .await
        .unwrap();
    admin
        .call(
            "createBuildTarget",
            vec!["n-target".into(), "n-build".into(), "n-dest".into()],
        )
        .await
        .unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["n-dest".into(), pkg.into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
    let b1 = host(farm, admin, "b1", &["x86_64"], 4.0).await;
    b1.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    b1
}

/// `pkg-1.0-1` built for `n-target` and failed by the builder, as kojid fails a build.
async fn failed_build(farm: &Farm, owner: &KojiClient, b1: &KojiClient, pkg: &str) -> i64 {
    let (srpm, _) = rpmbuild(farm.dir.path(), pkg, true, "");
    let src = upload(owner, &format!("cli-build/{pkg}.up"), &srpm).await;
    let task = owner
        .call("build", vec![src.as_str().into(), "n-target".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let got = b1
        .call("host.waitTasks", vec![Value::Double(10.0)])
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![task]);
    b1.call("host.openTask", vec![task.into()]).await.unwrap();
    let build = b1
        .call(
            "host.initBuild",
            vec![
                kstruct! { "name" => pkg, "version" => "1.0", "release" => "1", "task_id" => task },
            ],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    b1.call("host.failBuild", vec![task.into(), build.into()])
        .await
        .unwrap();
    build
}

#[tokio::test]
async fn subscriptions_and_blocks_with_their_refusals() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let alice = farm.user("alice");
    alice.ssl_login().await.unwrap();
    let bob = farm.user("bob");
    bob.ssl_login().await.unwrap();
    admin.call("createTag", vec!["t1".into()]).await.unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["t1".into(), "foo".into(), "alice".into()],
        )
        .await
        .unwrap();
    let alice_id = int(&alice.call("getLoggedInUser", vec![]).await.unwrap(), "id");
    let foo = admin
        .call("getPackageID", vec!["foo".into()])
        .await
        .unwrap();
    let t1 = admin.call("getTagID", vec!["t1".into()]).await.unwrap();
    assert!(t1.as_i64().is_some(), "{t1:?}");

    // alice follows foo in t1; the list shows it with her address
    alice
        .call(
            "createNotification",
            vec![alice_id.into(), foo.clone(), t1.clone(), false.into()],
        )
        .await
        .unwrap();
    let mine = subscriptions(&alice, Value::Nil).await;
    let n = &mine.as_array().unwrap()[0];
    assert_eq!(n.get("package_id"), Some(&foo));
    assert_eq!(n.get("tag_id"), Some(&t1));
    assert_eq!(n.get("success_only"), Some(&Value::Bool(false)));
    assert_eq!(
        n.get("email").and_then(Value::as_str),
        Some("alice@localhost")
    );
    let nid = int(n, "id");
    // anyone may read them by user name; anonymous without a user is refused
    assert_eq!(subscriptions(&farm.anon(), "alice".into()).await, mine);
    let (code, _) = fault(farm.anon().call("getBuildNotifications", vec![]).await);
    assert_eq!(code, codes::GENERIC);

    // refusals that change nothing
    let (_, msg) = fault(
        alice
            .call(
                "createNotification",
                vec![alice_id.into(), foo.clone(), t1.clone(), false.into()],
            )
            .await,
    );
    assert_eq!(msg, "notification already exists");
    let (_, msg) = fault(
        bob.call(
            "createNotification",
            vec![alice_id.into(), Value::Nil, t1.clone(), false.into()],
        )
        .await,
    );
    assert_eq!(msg, "user bob cannot create notifications for user alice");
    let (_, msg) = fault(
        alice
            .call(
                "createNotification",
                vec!["nobody".into(), Value::Nil, t1.clone(), false.into()],
            )
            .await,
    );
    assert_eq!(msg, "No such user ID: 'nobody'");
    let (_, msg) = fault(
        alice
            .call(
                "createNotification",
                vec![
                    alice_id.into(),
                    "no-such-pkg".into(),
                    Value::Nil,
                    false.into(),
                ],
            )
            .await,
    );
    assert!(msg.contains("no-such-pkg"), "{msg}");
    let (_, msg) = fault(
        alice
            .call(
                "createNotification",
                vec![
                    alice_id.into(),
                    Value::Nil,
                    "no-such-tag".into(),
                    false.into(),
                ],
            )
            .await,
    );
    assert!(msg.contains("no-such-tag"), "{msg}");
    let (_, msg) = fault(
        bob.call(
            "updateNotification",
            vec![nid.into(), Value::Nil, Value::Nil, true.into()],
        )
        .await,
    );
    assert!(msg.contains("cannot update notifications"), "{msg}");
    let (_, msg) = fault(bob.call("deleteNotification", vec![nid.into()]).await);
    assert!(msg.contains("cannot delete notifications"), "{msg}");
    let (_, msg) = fault(alice.call("deleteNotification", vec![99999.into()]).await);
    assert_eq!(msg, "No notification with ID 99999 found");
    let (code, _) = fault(
        farm.anon()
            .call(
                "createNotification",
                vec![alice_id.into(), Value::Nil, t1.clone(), false.into()],
            )
            .await,
    );
    assert_eq!(code, codes::AUTH);
    assert_eq!(subscriptions(&alice, Value::Nil).await, mine);

    // the admin may subscribe alice; alice edits hers to any tag, success only
    admin
        .call(
            "createNotification",
            vec!["alice".into(), Value::Nil, t1.clone(), true.into()],
        )
        .await
        .unwrap();
    alice
        .call(
            "updateNotification",
            vec![nid.into(), foo.clone(), Value::Nil, true.into()],
        )
        .await
        .unwrap();
    let got = alice
        .call("getBuildNotification", vec![nid.into()])
        .await
        .unwrap();
    assert_eq!(got.get("tag_id"), Some(&Value::Nil));
    assert_eq!(got.get("success_only"), Some(&Value::Bool(true)));
    assert_eq!(ids(&subscriptions(&alice, Value::Nil).await).len(), 2);
    alice
        .call("deleteNotification", vec![nid.into()])
        .await
        .unwrap();
    assert_eq!(
        alice
            .call("getBuildNotification", vec![nid.into()])
            .await
            .unwrap(),
        Value::Nil
    );

    // blocks
    alice
        .call(
            "createNotificationBlock",
            vec![alice_id.into(), foo.clone(), Value::Nil],
        )
        .await
        .unwrap();
    let blocks = alice
        .call("getBuildNotificationBlocks", vec![])
        .await
        .unwrap();
    let bid = ids(&blocks)[0];
    let (_, msg) = fault(
        alice
            .call(
                "createNotificationBlock",
                vec![alice_id.into(), foo.clone(), Value::Nil],
            )
            .await,
    );
    assert_eq!(msg, "notification already exists");
    let (_, msg) = fault(bob.call("deleteNotificationBlock", vec![bid.into()]).await);
    assert!(msg.contains("cannot delete notification blocks"), "{msg}");
    alice
        .call("deleteNotificationBlock", vec![bid.into()])
        .await
        .unwrap();
    let (_, msg) = fault(
        alice
            .call("getBuildNotificationBlock", vec![bid.into(), true.into()])
            .await,
    );
    assert_eq!(msg, format!("No notification block with ID {bid} found"));

    // getTagID: strict names the tag; create is refused (tags come from createTag)
    let (_, msg) = fault(
        alice
            .call("getTagID", vec!["nope".into(), true.into()])
            .await,
    );
    assert_eq!(msg, "No such tag: nope");
    assert_eq!(
        alice.call("getTagID", vec!["nope".into()]).await.unwrap(),
        Value::Nil
    );
    let (_, msg) = fault(
        alice
            .call("getTagID", vec!["nope".into(), false.into(), true.into()])
            .await,
    );
    assert!(msg.contains("createTag"), "{msg}");
    assert_eq!(
        alice.call("getTagID", vec!["nope".into()]).await.unwrap(),
        Value::Nil
    );
}

#[tokio::test]
async fn a_failed_build_mails_its_followers_through_the_relay() {
    let sink = SmtpSink::start();
    let relay = sink.url();
    let farm = Farm::start_with(|c| {
        c.notifications.relay = Some(relay);
        c.notifications.email_domain = "farm.test".into();
        c.notifications.poll_secs = 0.2;
        c.notifications.retry_secs = 1.0;
    })
    .await;
    let admin = farm.admin().await;
    let b1 = setup(&farm, &admin, "wid").await;
    for u in ["alice", "carol", "dave"] {
        let c = farm.user(u);
        c.ssl_login().await.unwrap();
    }
    let dest = admin.call("getTagID", vec!["n-dest".into()]).await.unwrap();
    // alice follows the destination tag, carol only successes, dave opted out of wid
    for (u, success_only) in [("alice", false), ("carol", true), ("dave", false)] {
        admin
            .call(
                "createNotification",
                vec![u.into(), Value::Nil, dest.clone(), success_only.into()],
            )
            .await
            .unwrap();
    }
    admin
        .call(
            "createNotificationBlock",
            vec!["dave".into(), "wid".into(), Value::Nil],
        )
        .await
        .unwrap();

    // the relay is down at first: the mail waits and is tried again
    sink.set_refusing(true);
    let build = failed_build(&farm, &admin, &b1, "wid").await;
    let deadline = std::time::Instant::now() + MAIL_DEADLINE;
    while sink.attempts() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay was never tried"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let queued = outbox(&farm).await;
    assert!(
        queued
            .iter()
            .any(|r| r.2 == "queued" && r.4.as_deref().is_some_and(|e| e.contains("try again"))),
        "a refused mail stays queued with the relay's answer: {queued:?}"
    );
    sink.set_refusing(false);

    // the hub runs on this test's runtime: wait without blocking it
    let deadline = std::time::Instant::now() + MAIL_DEADLINE;
    while sink.mails().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no two mails: {:?} / {:?}",
            sink.mails(),
            outbox(&farm).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = sink.mails();
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    // the owner (kojiadmin: failures always reach the owner) and alice; not carol (success
    // only), not dave (blocked)
    assert_eq!(to, vec!["alice@farm.test", "kojiadmin@farm.test"]);
    let m = &mails[0];
    assert_eq!(m.header("X-Koji-NVR").as_deref(), Some("wid-1.0-1"));
    assert_eq!(m.header("X-Koji-Status").as_deref(), Some("failed"));
    assert_eq!(m.header("X-Koji-Tag").as_deref(), Some("n-dest"));
    assert_eq!(m.from, "kkoji@localhost");
    let subject = m.header("Subject").unwrap();
    assert!(
        subject.contains("wid-1.0-1") && subject.contains("failed"),
        "{subject}"
    );
    assert!(
        m.body().contains(&format!("buildinfo?buildID={build}")),
        "{}",
        m.body()
    );
    // every row ends sent; nothing is sent twice
    let deadline = std::time::Instant::now() + MAIL_DEADLINE;
    loop {
        let rows = outbox(&farm).await;
        if rows.iter().all(|r| r.2 == "sent") {
            assert_eq!(rows.len(), 2, "{rows:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sink.mails().len(), 2);
}

#[tokio::test]
async fn without_a_relay_mail_is_recorded_and_nothing_fails() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let b1 = setup(&farm, &admin, "quiet").await;
    admin
        .call(
            "createNotification",
            vec!["kojiadmin".into(), Value::Nil, Value::Nil, false.into()],
        )
        .await
        .unwrap();
    failed_build(&farm, &admin, &b1, "quiet").await;
    let rows = outbox(&farm).await;
    assert_eq!(rows.len(), 1, "one address, one mail: {rows:?}");
    assert_eq!(rows[0].0, "kojiadmin@localhost");
    assert_eq!((rows[0].2.as_str(), rows[0].3), ("unsent", 0));
}
