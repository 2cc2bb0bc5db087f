//! Repos at the protocol level: a request becomes a newRepo task, a simulated builder (real
//! TLS, real host cert) initializes and finishes the repo, requests are fulfilled, staleness,
//! references and failures behave as Koji 1.35+ clients expect.

mod common;

use common::{Farm, fault, host, int, kw, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Fault, Value, codes, encode_fault, encode_response, kstruct};

async fn setup(admin: &KojiClient) {
    admin
        .call_kw(
            "createTag",
            vec!["r-build".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec!["r-dest".into()])
        .await
        .unwrap();
    admin
        .call(
            "createBuildTarget",
            vec!["r-target".into(), "r-build".into(), "r-dest".into()],
        )
        .await
        .unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["r-build".into(), "foo".into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
    admin
        .call_kw(
            "packageListAdd",
            vec!["r-build".into(), "bar".into(), "kojiadmin".into()],
            kw(&[("block", true.into())]),
        )
        .await
        .unwrap();
}

async fn builder(farm: &Farm, admin: &KojiClient, name: &str) -> KojiClient {
    let h = host(farm, admin, name, &["x86_64"], 4.0).await;
    admin
        .call("addHostToChannel", vec![name.into(), "createrepo".into()])
        .await
        .unwrap();
    h.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    h
}

/// The next task offered to the host (the hub turns requests into tasks by itself).
async fn next_task(h: &KojiClient) -> Value {
    for _ in 0..10 {
        let got = h
            .call("host.waitTasks", vec![Value::Double(5.0)])
            .await
            .unwrap();
        if let Some(t) = got.as_array().and_then(|a| a.first()) {
            return t.clone();
        }
    }
    panic!("no task was offered");
}

/// Open a newRepo task and initialize its repo; returns (task, repo id, event).
async fn init_repo(h: &KojiClient) -> (i64, i64, i64) {
    let t = next_task(h).await;
    assert_eq!(t.get("method").and_then(Value::as_str), Some("newRepo"));
    let tid = int(&t, "id");
    h.call("host.openTask", vec![tid.into()]).await.unwrap();
    let r = h
        .call_kw(
            "host.repoInit",
            vec!["r-build".into()],
            kw(&[("task_id", tid.into())]),
        )
        .await
        .unwrap();
    let a = r.as_array().unwrap();
    (tid, a[0].as_i64().unwrap(), a[1].as_i64().unwrap())
}

#[tokio::test]
async fn request_task_init_done_and_fulfilment() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    setup(&admin).await;
    let h = builder(&farm, &admin, "repohost").await;

    let last = admin
        .call("tagLastChangeEvent", vec!["r-build".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(last > 0);

    // no repo yet: a request; asking again is a duplicate of it
    let r1 = admin
        .call_kw(
            "repo.request",
            vec!["r-build".into()],
            kw(&[("min_event", "last".into())]),
        )
        .await
        .unwrap();
    assert!(r1.get("repo").unwrap().is_nil());
    let req = r1.get("request").unwrap().clone();
    assert_eq!(int(&req, "min_event"), last);
    assert_eq!(r1.get("duplicate"), Some(&Value::Bool(false)));
    let r2 = admin
        .call("repo.request", vec!["r-build".into()])
        .await
        .unwrap();
    assert_eq!(r2.get("duplicate"), Some(&Value::Bool(true)));
    assert_eq!(int(r2.get("request").unwrap(), "id"), int(&req, "id"));

    // the hub made a newRepo task of it; the builder initializes the repo
    let (tid, repo_id, ev) = init_repo(&h).await;
    assert!(ev >= last);
    let rdir = farm.path(&format!("koji/repos/r-build/{repo_id}"));
    let adir = rdir.join("x86_64");
    assert_eq!(
        std::fs::read_link(adir.join("toplink")).unwrap(),
        std::path::PathBuf::from("../../../..")
    );
    assert_eq!(std::fs::read_to_string(adir.join("pkglist")).unwrap(), "");
    assert_eq!(
        std::fs::read_to_string(adir.join("blocklist")).unwrap(),
        "bar\n"
    );
    let json = std::fs::read_to_string(rdir.join("repo.json")).unwrap();
    assert!(json.contains("\"tag\":\"r-build\""), "{json}");
    let info = admin.call("repoInfo", vec![repo_id.into()]).await.unwrap();
    assert_eq!(int(&info, "state"), 0);
    assert_eq!(int(&info, "task_id"), tid);

    // a pending request reports its task
    let chk = admin
        .call("repo.checkRequest", vec![int(&req, "id").into()])
        .await
        .unwrap();
    assert!(chk.get("repo").unwrap().is_nil());
    assert_eq!(int(chk.get("task").unwrap(), "id"), tid);

    // repodata is uploaded and moved into place
    let dir = format!("tasks/{}/{}", tid % 10000, tid);
    let f = farm.path("repomd.xml");
    std::fs::write(&f, "<repomd/>\n").unwrap();
    upload(&h, &dir, &f).await;
    // a missing file fails the call and keeps what was uploaded for the next try
    let partial = kstruct! { "x86_64" => Value::Array(vec![dir.clone().into(), Value::Array(vec!["repomd.xml".into(), "missing.xml".into()])]) };
    let (code, msg) = fault(h.call("host.repoDone", vec![repo_id.into(), partial]).await);
    assert_eq!(code, codes::GENERIC);
    assert!(msg.contains("missing.xml"), "{msg}");
    let data = kstruct! { "x86_64" => Value::Array(vec![dir.clone().into(), Value::Array(vec!["repomd.xml".into()])]) };
    h.call("host.repoDone", vec![repo_id.into(), data.clone()])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(adir.join("repodata/repomd.xml")).unwrap(),
        "<repomd/>\n"
    );
    assert_eq!(
        std::fs::read_link(farm.path("koji/repos/r-build/latest")).unwrap(),
        std::path::PathBuf::from(repo_id.to_string())
    );
    h.call(
        "host.closeTask",
        vec![
            tid.into(),
            encode_response(&Value::Array(vec![repo_id.into(), ev.into()])).into(),
        ],
    )
    .await
    .unwrap();
    // done twice is refused
    let (code, msg) = fault(h.call("host.repoDone", vec![repo_id.into(), data]).await);
    assert_eq!(code, codes::GENERIC);
    assert!(msg.contains("not in INIT state"), "{msg}");

    let chk = admin
        .call("repo.checkRequest", vec![int(&req, "id").into()])
        .await
        .unwrap();
    assert_eq!(int(chk.get("repo").unwrap(), "id"), repo_id);
    assert_eq!(
        chk.get("request").unwrap().get("active"),
        Some(&Value::Bool(false))
    );
    // a fresh repo answers the next request directly, and wait-repo's anonymous path
    let r3 = admin
        .call("repo.request", vec!["r-build".into()])
        .await
        .unwrap();
    assert_eq!(int(r3.get("repo").unwrap(), "id"), repo_id);
    let got = farm
        .anon()
        .call("getRepo", vec!["r-build".into()])
        .await
        .unwrap();
    assert_eq!(int(&got, "id"), repo_id);
    assert_eq!(int(&got, "state"), 1);

    // a change of the tag makes it stale
    admin
        .call(
            "packageListAdd",
            vec!["r-build".into(), "baz".into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
    let last2 = admin
        .call("tagLastChangeEvent", vec!["r-build".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(last2 > ev);
    admin.call("repo.updateEndEvents", vec![]).await.unwrap();
    let info = admin.call("repoInfo", vec![repo_id.into()]).await.unwrap();
    assert_eq!(int(&info, "end_event"), last2);
    let stale = admin
        .call("repo.request", vec!["r-build".into()])
        .await
        .unwrap();
    assert!(stale.get("repo").unwrap().is_nil());

    // queries with Koji's clauses
    let q = admin
        .call(
            "repo.query",
            vec![
                Value::Array(vec![
                    Value::Array(vec!["tag_name".into(), "=".into(), "r-build".into()]),
                    Value::Array(vec![
                        "state".into(),
                        "IN".into(),
                        Value::Array(vec![1.into(), 2.into()]),
                    ]),
                ]),
                Value::Array(vec!["id".into(), "state".into()]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        q,
        Value::Array(vec![kstruct! { "id" => repo_id, "state" => 1 }])
    );
    let (code, msg) = fault(
        admin
            .call(
                "repo.query",
                vec![Value::Array(vec![Value::Array(vec![
                    "nosuch".into(),
                    "=".into(),
                    1.into(),
                ])])],
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER);
    assert!(msg.contains("nosuch"), "{msg}");
}

#[tokio::test]
async fn references_block_deletion_and_failures_mark_problem() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    setup(&admin).await;
    let h = builder(&farm, &admin, "repohost2").await;

    let task = admin
        .call("newRepo", vec!["r-build".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let (tid, repo_id, ev) = init_repo(&h).await;
    assert_eq!(tid, task);
    h.call("host.repoDone", vec![repo_id.into(), kstruct! {}])
        .await
        .unwrap();
    h.call(
        "host.closeTask",
        vec![
            tid.into(),
            encode_response(&Value::Array(vec![repo_id.into(), ev.into()])).into(),
        ],
    )
    .await
    .unwrap();

    // a buildroot using the repo keeps it from deletion until it is retired
    let br = h
        .call("host.newBuildRoot", vec![repo_id.into(), "x86_64".into()])
        .await
        .unwrap();
    h.call("host.setBuildRootState", vec![br.clone(), 2.into()])
        .await
        .unwrap();
    let refs = admin
        .call("repo.references", vec![repo_id.into()])
        .await
        .unwrap();
    assert_eq!(refs.as_array().unwrap().len(), 1);
    let n = admin
        .call("repoDelete", vec![repo_id.into()])
        .await
        .unwrap();
    assert_eq!(n, Value::Int(1));
    let info = admin.call("repoInfo", vec![repo_id.into()]).await.unwrap();
    assert_eq!(int(&info, "state"), 1);
    h.call("host.setBuildRootState", vec![br, 3.into()])
        .await
        .unwrap();
    let n = admin
        .call("repoDelete", vec![repo_id.into()])
        .await
        .unwrap();
    assert_eq!(n, Value::Int(0));
    let info = admin.call("repoInfo", vec![repo_id.into()]).await.unwrap();
    assert_eq!(int(&info, "state"), 3);

    // an ordinary user may not change repo states
    let (code, _) = fault(
        farm.user("nobody")
            .call("repoExpire", vec![repo_id.into()])
            .await,
    );
    assert!(
        code == codes::ACTION_NOT_ALLOWED || code == codes::AUTH,
        "{code}"
    );
    // bad options are refused with ParameterError
    let (code, msg) = fault(
        admin
            .call_kw(
                "repo.request",
                vec!["r-build".into()],
                kw(&[("opts", kstruct! { "bogus" => true })]),
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER);
    assert!(msg.contains("bogus"), "{msg}");

    // a failed newRepo task leaves its repo in PROBLEM with the reason
    admin.call("newRepo", vec!["r-build".into()]).await.unwrap();
    let (tid, repo2, _) = init_repo(&h).await;
    let why = Fault::generic("bad RPM: toplink/packages/foo/1/1/x86_64/foo-1-1.x86_64.rpm");
    h.call("host.failTask", vec![tid.into(), encode_fault(&why).into()])
        .await
        .unwrap();
    let info = admin.call("repoInfo", vec![repo2.into()]).await.unwrap();
    assert_eq!(int(&info, "state"), 4);
    let problem = info.get("problem").and_then(Value::as_str).unwrap_or("");
    assert!(problem.contains("foo-1-1.x86_64.rpm"), "{problem}");
    // the newest READY repo is unaffected (there is none left here: it was deleted)
    assert!(
        admin
            .call("getRepo", vec!["r-build".into()])
            .await
            .unwrap()
            .is_nil()
    );
}
