//! Koji session semantics over real TLS: login from certificates, callnum replay rules,
//! exclusive sessions, expiry, logout.

mod common;

use common::Farm;
use koji_protocol::client::ClientError;
use koji_protocol::{Struct, Value, codes};

fn fault(r: Result<Value, ClientError>) -> (i32, String) {
    match r {
        Err(ClientError::Fault(f)) => (f.code, f.string),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[tokio::test]
async fn login_with_farm_cert_and_koji_version_header() {
    let farm = Farm::start().await;
    let c = farm.admin().await;
    let me = c.call("getLoggedInUser", vec![]).await.unwrap();
    assert_eq!(me.get("name").and_then(Value::as_str), Some("kojiadmin"));
    assert_eq!(me.get("authtype").and_then(Value::as_i64), Some(2));
    assert_eq!(c.hub_version().as_deref(), Some("1.36.1"));
    let info = c.call("getSessionInfo", vec![]).await.unwrap();
    assert_eq!(info.get("exclusive"), Some(&Value::Bool(false)));
}

#[tokio::test]
async fn login_refused_without_or_with_foreign_or_expired_cert() {
    let farm = Farm::start().await;
    let (code, msg) = fault(farm.anon().ssl_login().await.map(|_| Value::Nil));
    assert_eq!(code, codes::AUTH);
    assert_eq!(msg, "could not verify client: NONE");

    let other_dir = tempfile::tempdir().unwrap();
    let other = kkoji_certs::init_ca(other_dir.path(), "evil CA", 30).unwrap();
    let evil = other.issue_user("kojiadmin", 30).unwrap();
    let pem = format!("{}{}", evil.cert_pem, evil.key_pem);
    let (code, msg) = fault(
        farm.client_with(Some(pem.into_bytes()))
            .ssl_login()
            .await
            .map(|_| Value::Nil),
    );
    assert_eq!(code, codes::AUTH);
    assert!(msg.contains("unknown issuer"), "{msg}");

    let now = time::OffsetDateTime::now_utc();
    let old = farm
        .ca
        .issue_with_validity(
            kkoji_certs::CertKind::User,
            "kojiadmin",
            now - time::Duration::days(10),
            now - time::Duration::days(1),
        )
        .unwrap();
    let pem = format!("{}{}", old.cert_pem, old.key_pem);
    let (code, msg) = fault(
        farm.client_with(Some(pem.into_bytes()))
            .ssl_login()
            .await
            .map(|_| Value::Nil),
    );
    assert_eq!(code, codes::AUTH);
    assert!(msg.contains("expired"), "{msg}");
    // no session was created by any of the refused logins
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&farm.hub.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn new_user_is_created_on_first_login_as_non_admin() {
    let farm = Farm::start().await;
    let alice = farm.user("alice");
    alice.ssl_login().await.unwrap();
    let perms = alice.call("getPerms", vec![]).await.unwrap();
    assert_eq!(perms, Value::Array(vec![]));
    let mut kw = Struct::new();
    kw.insert("arches".into(), "x86_64".into());
    let (code, msg) = fault(alice.call_kw("createTag", vec!["t1".into()], kw).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    assert_eq!(msg, "tag permission required (logged in as alice)");
    let tag = alice.call("getTag", vec!["t1".into()]).await.unwrap();
    assert_eq!(tag, Value::Nil);
}

#[tokio::test]
async fn callnum_replay_of_a_write_is_refused_but_reads_may_repeat() {
    let farm = Farm::start().await;
    let a = farm.admin().await;
    // callnum 0: a write
    a.call("createTag", vec!["replay-1".into()]).await.unwrap();
    let b = farm.user("kojiadmin");
    b.set_session(a.session());
    // b sends callnum 0 again: the write at 0 was committed
    let (code, msg) = fault(b.call("createTag", vec!["replay-2".into()]).await);
    assert_eq!(code, codes::RETRY, "{msg}");
    assert!(
        msg.starts_with("unable to retry call 0 (method createTag)"),
        "{msg}"
    );
    // b's next callnum (1) is a read: accepted, not stored
    b.call("getAPIVersion", vec![]).await.unwrap();
    // a continues at 1: accepted and stored
    a.call("createTag", vec!["replay-3".into()]).await.unwrap();
    // a stale callnum (0 < 1) is a sequence error
    b.set_session(a.session());
    let (code, msg) = fault(b.call("getTag", vec!["replay-1".into()]).await);
    assert_eq!(code, codes::SEQUENCE, "{msg}");
    assert_eq!(
        a.call("getTag", vec!["replay-2".into()]).await.unwrap(),
        Value::Nil
    );
}

#[tokio::test]
async fn exclusive_session_locks_out_other_sessions() {
    let farm = Farm::start().await;
    let a = farm.admin().await;
    assert_eq!(
        a.call("exclusiveSession", vec![]).await.unwrap(),
        Value::Nil
    );
    let c = farm.admin().await;
    let (code, msg) = fault(c.call("getLoggedInUser", vec![]).await);
    assert_eq!(code, codes::AUTH_LOCK);
    assert_eq!(msg, "User locked by another session");
    let (code, _) = fault(c.call("exclusiveSession", vec![]).await);
    assert_eq!(code, codes::AUTH_LOCK);
    let (code, _) = fault(a.call("exclusiveSession", vec![]).await);
    assert_eq!(
        code,
        codes::GENERIC,
        "repeating exclusiveSession is an error"
    );
    // force takes the lock over and closes the old session
    let mut kw = Struct::new();
    kw.insert("force".into(), true.into());
    c.call_kw("exclusiveSession", vec![], kw).await.unwrap();
    c.call("getLoggedInUser", vec![]).await.unwrap();
    let (code, msg) = fault(a.call("getLoggedInUser", vec![]).await);
    assert_eq!(code, codes::AUTH);
    assert_eq!(msg, "Invalid session or bad credentials");
}

#[tokio::test]
async fn expired_session_gets_auth_expired_and_logout_closes() {
    let farm = Farm::start().await;
    let a = farm.admin().await;
    let (sid, _) = a.session().unwrap();
    sqlx::query("UPDATE sessions SET start_time = now() - interval '2 days' WHERE id = $1")
        .bind(sid)
        .execute(&farm.hub.pool)
        .await
        .unwrap();
    let (code, msg) = fault(a.call("getLoggedInUser", vec![]).await);
    assert_eq!(code, codes::AUTH_EXPIRED);
    assert_eq!(msg, format!("session \"{sid}\" has expired"));
    // the client renews with sslLogin(renew=True) and the old session's headers: same id,
    // new key, callnums start over
    let mut kw = Struct::new();
    kw.insert("proxyuser".into(), Value::Nil);
    kw.insert("renew".into(), true.into());
    let renewed = a.call_kw("sslLogin", vec![], kw).await.unwrap();
    assert_eq!(renewed.get("session-id").and_then(Value::as_i64), Some(sid));
    let key = renewed
        .get("session-key")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    a.set_session(Some((sid, key)));
    a.call("createTag", vec!["after-renewal".into()])
        .await
        .unwrap();

    let b = farm.admin().await;
    let kept = b.session();
    b.logout().await.unwrap();
    let c = farm.user("kojiadmin");
    c.set_session(kept);
    let (code, _) = fault(c.call("getAPIVersion", vec![]).await);
    assert_eq!(code, codes::AUTH);
}

#[tokio::test]
async fn bad_credentials_and_unknown_methods() {
    let farm = Farm::start().await;
    let c = farm.user("kojiadmin");
    c.set_session(Some((12345, "1-nope".into())));
    // the method is looked up before the session is checked, as in Koji
    let (code, msg) = fault(c.call("noSuchMethod", vec![]).await);
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "Invalid method: noSuchMethod")
    );
    let (code, msg) = fault(c.call("getAPIVersion", vec![]).await);
    assert_eq!(
        (code, msg.as_str()),
        (codes::AUTH, "Invalid session or bad credentials")
    );
}

#[tokio::test]
async fn multicall_runs_each_entry_in_its_own_savepoint() {
    let farm = Farm::start().await;
    let a = farm.admin().await;
    let results = a
        .multicall(vec![
            ("createTag".into(), vec!["mc-1".into()]),
            ("createTag".into(), vec!["mc-1".into()]),
            ("nope".into(), vec![]),
            ("getTag".into(), vec!["mc-1".into()]),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok());
    let dup = results[1].as_ref().unwrap_err();
    assert_eq!(dup.code, codes::GENERIC);
    assert_eq!(dup.string, "A tag with the name 'mc-1' already exists");
    assert_eq!(
        results[2].as_ref().unwrap_err().string,
        "Invalid method: nope"
    );
    let tag = results[3].as_ref().unwrap();
    assert_eq!(tag.get("name").and_then(Value::as_str), Some("mc-1"));
    // exactly one tag and one event came out of the batch
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tag WHERE name = 'mc-1'")
        .fetch_one(&farm.hub.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_session_closed_through_another_hub_cannot_write_here() {
    let farm = Farm::start().await;
    let (_hub2, url2) = farm.second_hub().await;
    let a = farm.admin().await;
    // a read puts the session into this hub's cache
    a.call("getLoggedInUser", vec![]).await.unwrap();
    let b = farm.user_at(&url2, "kojiadmin");
    b.set_session(a.session());
    b.logout().await.unwrap();
    // within the cache's lifetime, a write through the first hub is still refused
    let (code, msg) = fault(a.call("createTag", vec!["after-logout".into()]).await);
    assert_eq!(
        (code, msg.as_str()),
        (codes::AUTH, "Invalid session or bad credentials")
    );
    let check = farm.admin().await;
    assert_eq!(
        check
            .call("getTag", vec!["after-logout".into()])
            .await
            .unwrap(),
        Value::Nil
    );
}

#[tokio::test]
async fn cached_tags_follow_changes_on_this_and_other_hubs() {
    let farm = Farm::start().await;
    let (_hub2, url2) = farm.second_hub().await;
    let a = farm.admin().await;
    a.call("createTag", vec!["cached".into()]).await.unwrap();
    let arches = |v: Value| v.get("arches").and_then(Value::as_str).map(str::to_string);
    assert_eq!(
        arches(a.call("getTag", vec!["cached".into()]).await.unwrap()).as_deref(),
        Some("")
    );
    // a change through this hub is seen at once
    let mut kw = Struct::new();
    kw.insert("arches".into(), "x86_64".into());
    a.call_kw("editTag2", vec!["cached".into()], kw)
        .await
        .unwrap();
    assert_eq!(
        arches(a.call("getTag", vec!["cached".into()]).await.unwrap()).as_deref(),
        Some("x86_64")
    );
    // a change through another hub reaches this one's cache by NOTIFY
    let b = farm.user_at(&url2, "kojiadmin");
    b.ssl_login().await.unwrap();
    let mut kw = Struct::new();
    kw.insert("arches".into(), "aarch64".into());
    b.call_kw("editTag2", vec!["cached".into()], kw)
        .await
        .unwrap();
    let mut seen = None;
    for _ in 0..50 {
        seen = arches(a.call("getTag", vec!["cached".into()]).await.unwrap());
        if seen.as_deref() == Some("aarch64") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen.as_deref(), Some("aarch64"));
}
