//! The task system at the protocol level: a simulated builder (real TLS, real host cert)
//! drives the host API through a whole scratch and non-scratch build, plus the scheduler's
//! capacity rules and the upload/submission bad paths.

mod common;

use common::{Farm, fault, host, host_at, kw, rpmbuild, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Struct, Value, codes, encode_response, kstruct};

async fn setup_target(admin: &KojiClient) {
    admin
        .call_kw(
            "createTag",
            vec!["t-build".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec!["t-dest".into()])
        .await
        .unwrap();
    admin
        .call(
            "createBuildTarget",
            vec!["t-target".into(), "t-build".into(), "t-dest".into()],
        )
        .await
        .unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["t-dest".into(), "foo".into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
}

async fn wait_one(h: &KojiClient) -> Value {
    let got = h
        .call("host.waitTasks", vec![Value::Double(10.0)])
        .await
        .unwrap();
    let list = got.as_array().unwrap().to_vec();
    assert_eq!(list.len(), 1, "expected one assigned task: {got:?}");
    list[0].clone()
}

fn id(v: &Value) -> i64 {
    v.get("id").and_then(Value::as_i64).unwrap()
}

/// Run a buildArch-like child by hand: upload its outputs, close it.
async fn run_child(farm: &Farm, h: &KojiClient, files: &[std::path::PathBuf]) -> i64 {
    let t = wait_one(h).await;
    let tid = id(&t);
    let opened = h.call("host.openTask", vec![tid.into()]).await.unwrap();
    assert_eq!(opened.get("state").and_then(Value::as_i64), Some(1));
    let dir = format!("tasks/{}/{}", tid % 10000, tid);
    let mut rpms = Vec::new();
    for f in files {
        rpms.push(Value::String(upload(h, &dir, f).await));
    }
    std::fs::write(farm.path("build.log"), "rpmbuild output\n").unwrap();
    let log = upload(h, &dir, &farm.path("build.log")).await;
    let result = kstruct! { "rpms" => Value::Array(rpms), "logs" => Value::Array(vec![log.into()]), "brootid" => Value::Nil };
    h.call(
        "host.closeTask",
        vec![tid.into(), encode_response(&result).into()],
    )
    .await
    .unwrap();
    tid
}

#[tokio::test]
async fn scratch_build_through_the_host_api() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    setup_target(&admin).await;
    let b1 = host(&farm, &admin, "b1", &["x86_64"], 4.0).await;
    b1.call(
        "host.updateHost",
        vec![
            0.0.into(),
            true.into(),
            Value::Struct(kw(&[("status", "ready".into())])),
        ],
    )
    .await
    .unwrap();
    let (srpm, rpms) = rpmbuild(farm.dir.path(), "foo", false, "true");
    let src = upload(&admin, "cli-build/1.abc", &srpm).await;
    let task = admin
        .call_kw(
            "build",
            vec![
                src.as_str().into(),
                "t-target".into(),
                Value::Struct(kw(&[("scratch", true.into())])),
            ],
            kw(&[("priority", Value::Nil)]),
        )
        .await
        .unwrap();
    let task = task.as_i64().unwrap();
    // the long-poll hands the new task to the ready builder
    let t = wait_one(&b1).await;
    assert_eq!(id(&t), task);
    assert_eq!(t.get("method").and_then(Value::as_str), Some("build"));
    let opened = b1.call("host.openTask", vec![task.into()]).await.unwrap();
    let req = opened.get("request").and_then(Value::as_str).unwrap();
    assert!(
        req.contains("<methodCall>") && req.contains("t-target"),
        "{req}"
    );
    // a second open of the same task is refused (None)
    assert_eq!(
        b1.call("host.openTask", vec![task.into()]).await.unwrap(),
        Value::Nil
    );
    let child = b1
        .call_kw(
            "host.subtask",
            vec![
                "buildArch".into(),
                Value::Array(vec![
                    src.as_str().into(),
                    1.into(),
                    "x86_64".into(),
                    true.into(),
                    Value::Struct(Struct::new()),
                ]),
                task.into(),
            ],
            kw(&[("label", "x86_64".into()), ("arch", "x86_64".into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    // subtask is idempotent per label
    let again = b1
        .call_kw(
            "host.subtask",
            vec!["buildArch".into(), Value::Array(vec![]), task.into()],
            kw(&[("label", "x86_64".into())]),
        )
        .await
        .unwrap();
    assert_eq!(again.as_i64(), Some(child));
    b1.call(
        "host.taskSetWait",
        vec![task.into(), Value::Array(vec![child.into()])],
    )
    .await
    .unwrap();
    let ran = run_child(&farm, &b1, &rpms).await;
    assert_eq!(ran, child);
    let w = b1.call("host.taskWait", vec![task.into()]).await.unwrap();
    assert_eq!(
        w,
        Value::Array(vec![Value::Array(vec![child.into()]), Value::Array(vec![])])
    );
    let results = b1
        .call(
            "host.taskWaitResults",
            vec![task.into(), Value::Array(vec![child.into()])],
        )
        .await
        .unwrap();
    let r0 = &results.as_array().unwrap()[0].as_array().unwrap()[1];
    let child_rpms: Vec<Value> = r0.get("rpms").and_then(Value::as_array).unwrap().to_vec();
    // the builder names only files in its task's own work dirs (the SRPM it rebuilt)
    let own_src = upload(&b1, &format!("tasks/{}/{}", task % 10000, task), &srpm).await;
    b1.call(
        "host.moveBuildToScratch",
        vec![
            task.into(),
            own_src.as_str().into(),
            Value::Array(child_rpms),
        ],
    )
    .await
    .unwrap();
    b1.call(
        "host.closeTask",
        vec![task.into(), encode_response(&Value::Nil).into()],
    )
    .await
    .unwrap();
    let info = admin.call("getTaskInfo", vec![task.into()]).await.unwrap();
    assert_eq!(info.get("state").and_then(Value::as_i64), Some(2));
    assert_eq!(
        admin
            .call("getTaskResult", vec![task.into()])
            .await
            .unwrap(),
        Value::Nil
    );
    let kids = admin
        .call("getTaskChildren", vec![task.into()])
        .await
        .unwrap();
    assert_eq!(kids.as_array().unwrap().len(), 1);
    let out = admin
        .call_kw(
            "listTaskOutput",
            vec![child.into()],
            kw(&[("all_volumes", true.into())]),
        )
        .await
        .unwrap();
    assert!(out.get("build.log").is_some(), "{out:?}");
    let scratch = farm
        .path("koji/scratch/kojiadmin")
        .join(format!("task_{task}"));
    let stored: Vec<String> = std::fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(stored.iter().any(|f| f.ends_with(".src.rpm")), "{stored:?}");
    assert!(
        stored.iter().any(|f| f.ends_with(".x86_64.rpm")),
        "{stored:?}"
    );
    // the log can be read back through the API
    let b64 = admin
        .call("downloadTaskOutput", vec![child.into(), "build.log".into()])
        .await
        .unwrap();
    assert_eq!(b64.as_str(), Some("cnBtYnVpbGQgb3V0cHV0Cg=="));
}

#[tokio::test]
async fn real_build_is_imported_and_tagged() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    setup_target(&admin).await;
    let b1 = host(&farm, &admin, "b1", &["x86_64"], 4.0).await;
    b1.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let (srpm, rpms) = rpmbuild(farm.dir.path(), "foo", false, "true");
    let src = upload(&admin, "cli-build/2.abc", &srpm).await;
    let task = admin
        .call("build", vec![src.as_str().into(), "t-target".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(id(&wait_one(&b1).await), task);
    b1.call("host.openTask", vec![task.into()]).await.unwrap();
    let build_id = b1
        .call("host.initBuild", vec![kstruct! { "name" => "foo", "version" => "1.0", "release" => "1", "epoch" => Value::Nil, "task_id" => task }])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    // the same NVR cannot start twice
    let (code, msg) = fault(b1.call("host.initBuild", vec![kstruct! { "name" => "foo", "version" => "1.0", "release" => "1", "task_id" => task }]).await);
    assert_eq!(code, codes::GENERIC);
    assert!(msg.starts_with("Build already exists"), "{msg}");
    let child = b1
        .call_kw(
            "host.subtask",
            vec!["buildArch".into(), Value::Array(vec![]), task.into()],
            kw(&[("label", "x86_64".into()), ("arch", "x86_64".into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    b1.call("host.taskSetWait", vec![task.into(), Value::Nil])
        .await
        .unwrap();
    run_child(&farm, &b1, &rpms).await;
    let dir = format!("tasks/{}/{}", child % 10000, child);
    let rpm_names: Vec<Value> = rpms
        .iter()
        .map(|p| {
            Value::String(format!(
                "{dir}/{}",
                p.file_name().unwrap().to_string_lossy()
            ))
        })
        .collect();
    let own_src = upload(&b1, &format!("tasks/{}/{}", task % 10000, task), &srpm).await;
    b1.call(
        "host.completeBuild",
        vec![
            task.into(),
            build_id.into(),
            own_src.as_str().into(),
            Value::Array(rpm_names),
            Value::Nil,
            Value::Struct(kw(&[(
                "x86_64",
                Value::Array(vec![format!("{dir}/build.log").into()]),
            )])),
        ],
    )
    .await
    .unwrap();
    b1.call(
        "host.tagBuild",
        vec![task.into(), "t-dest".into(), build_id.into()],
    )
    .await
    .unwrap();
    b1.call(
        "host.closeTask",
        vec![task.into(), encode_response(&Value::Nil).into()],
    )
    .await
    .unwrap();

    let b = admin
        .call("getBuild", vec!["foo-1.0-1".into()])
        .await
        .unwrap();
    assert_eq!(b.get("state").and_then(Value::as_i64), Some(1));
    let listed = admin
        .call_kw("listRPMs", vec![], kw(&[("buildID", build_id.into())]))
        .await
        .unwrap();
    let arches: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.get("arch").and_then(Value::as_str))
        .collect();
    assert!(
        arches.contains(&"src") && arches.contains(&"x86_64"),
        "{arches:?}"
    );
    let hash = listed.as_array().unwrap()[0]
        .get("payloadhash")
        .and_then(Value::as_str)
        .unwrap();
    assert_eq!(hash.len(), 32, "hex sigmd5");
    let latest = admin
        .call("getLatestBuilds", vec!["t-dest".into()])
        .await
        .unwrap();
    assert_eq!(
        latest.as_array().unwrap()[0]
            .get("nvr")
            .and_then(Value::as_str),
        Some("foo-1.0-1")
    );
    assert!(
        farm.path("koji/packages/foo/1.0/1/x86_64/foo-1.0-1.x86_64.rpm")
            .is_file()
    );
    assert!(
        farm.path("koji/packages/foo/1.0/1/src/foo-1.0-1.src.rpm")
            .is_file()
    );
    let logs = admin
        .call("getBuildLogs", vec!["foo-1.0-1".into()])
        .await
        .unwrap();
    assert_eq!(
        logs.as_array().unwrap()[0]
            .get("name")
            .and_then(Value::as_str),
        Some("build.log")
    );
    // what `koji buildinfo` / `koji rpminfo` read
    let tags = admin
        .call("listTags", vec!["foo-1.0-1".into()])
        .await
        .unwrap();
    assert_eq!(
        tags.as_array().unwrap()[0]
            .get("name")
            .and_then(Value::as_str),
        Some("t-dest")
    );
    let rpm = admin
        .call("getRPM", vec!["foo-1.0-1.x86_64".into()])
        .await
        .unwrap();
    assert_eq!(rpm.get("build_id").and_then(Value::as_i64), Some(build_id));
    let hdrs = admin
        .call_kw(
            "getRPMHeaders",
            vec![],
            kw(&[
                ("rpmID", rpm.get("id").cloned().unwrap()),
                (
                    "headers",
                    Value::Array(vec!["license".into(), "summary".into()]),
                ),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(hdrs.get("license").and_then(Value::as_str), Some("MIT"));
    let cfg = admin
        .call("getPackageConfig", vec!["t-dest".into(), "foo".into()])
        .await
        .unwrap();
    assert_eq!(
        cfg.get("owner_name").and_then(Value::as_str),
        Some("kojiadmin")
    );
    assert_eq!(
        admin
            .call("getPackageConfig", vec!["t-dest".into(), "nope".into()])
            .await
            .unwrap(),
        Value::Nil
    );
    // tagging twice is refused
    let (code, _) = fault(
        b1.call(
            "host.tagBuild",
            vec![task.into(), "t-dest".into(), build_id.into()],
        )
        .await,
    );
    assert_eq!(
        code,
        codes::ACTION_NOT_ALLOWED,
        "task is closed: the host no longer holds it"
    );
}

#[tokio::test]
async fn capacity_and_refusals_shape_assignment() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    setup_target(&admin).await;
    let small = host(&farm, &admin, "small", &["x86_64"], 1.0).await;
    small
        .call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let (srpm, _) = rpmbuild(farm.dir.path(), "foo", false, "true");
    let src = upload(&admin, "cli-build/3.abc", &srpm).await;
    let scratch = Value::Struct(kw(&[("scratch", true.into())]));
    let t1 = admin
        .call(
            "build",
            vec![src.as_str().into(), "t-target".into(), scratch.clone()],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    // open the first and make it a 1.5-weight task: the 1.0-capacity host is then full
    assert_eq!(id(&wait_one(&small).await), t1);
    small.call("host.openTask", vec![t1.into()]).await.unwrap();
    small
        .call("host.setTaskWeight", vec![t1.into(), 1.5.into()])
        .await
        .unwrap();
    let t2 = admin
        .call(
            "build",
            vec![src.as_str().into(), "t-target".into(), scratch.clone()],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let none = small
        .call("host.waitTasks", vec![Value::Double(1.0)])
        .await
        .unwrap();
    assert_eq!(none, Value::Array(vec![]), "a full host gets nothing more");
    let info = admin.call("getTaskInfo", vec![t2.into()]).await.unwrap();
    assert_eq!(
        info.get("state").and_then(Value::as_i64),
        Some(0),
        "second task stays FREE"
    );
    // a refused task goes to another host, never back to the refuser
    let other = host(&farm, &admin, "other", &["x86_64"], 4.0).await;
    small
        .call("host.freeTasks", vec![Value::Array(vec![t1.into()])])
        .await
        .unwrap();
    let got = wait_one(&small).await;
    // a host that says it is not ready gets nothing (said before refusing, so the freed
    // task cannot come straight back to it)
    small
        .call(
            "host.updateHost",
            vec![
                0.0.into(),
                false.into(),
                Value::Struct(kw(&[(
                    "status",
                    "not ready: load average 5.20 > capacity 1.0".into(),
                )])),
            ],
        )
        .await
        .unwrap();
    small
        .call(
            "host.refuseTask",
            vec![id(&got).into(), false.into(), "no thanks".into()],
        )
        .await
        .unwrap();
    let shown = admin.call("getHost", vec!["small".into()]).await.unwrap();
    assert_eq!(shown.get("ready"), Some(&Value::Bool(false)));
    assert_eq!(
        shown.get("comment").and_then(Value::as_str),
        Some("[builder: not ready: load average 5.20 > capacity 1.0]")
    );
    other
        .call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let list = other
            .call("host.waitTasks", vec![Value::Double(5.0)])
            .await
            .unwrap();
        for t in list.as_array().unwrap() {
            seen.push(id(t));
            other
                .call("host.openTask", vec![id(t).into()])
                .await
                .unwrap();
        }
        if seen.len() == 2 {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, vec![t1, t2]);
}

#[tokio::test]
async fn submission_and_upload_bad_paths() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    setup_target(&admin).await;
    let (srpm, rpms) = rpmbuild(farm.dir.path(), "foo", true, "true");
    let src = upload(&admin, "cli-build/4.abc", &srpm).await;
    let scratch = Value::Struct(kw(&[("scratch", true.into())]));
    let (code, msg) = fault(
        admin
            .call(
                "build",
                vec![
                    src.as_str().into(),
                    "no-such-target".into(),
                    scratch.clone(),
                ],
            )
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such build target: no-such-target")
    );
    let bin = upload(&admin, "cli-build/4.abc", &rpms[0]).await;
    let (code, msg) = fault(
        admin
            .call(
                "build",
                vec![bin.as_str().into(), "t-target".into(), scratch.clone()],
            )
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    assert!(msg.ends_with("is not a source rpm"), "{msg}");
    let text = farm.path("notes.txt");
    std::fs::write(&text, "not an rpm").unwrap();
    let notrpm = upload(&admin, "cli-build/4.abc", &text).await;
    let (_, msg) = fault(
        admin
            .call(
                "build",
                vec![notrpm.as_str().into(), "t-target".into(), scratch.clone()],
            )
            .await,
    );
    assert!(msg.contains("not an RPM"), "{msg}");
    let (_, msg) = fault(
        admin
            .call(
                "build",
                vec![
                    "../../etc/passwd".into(),
                    "t-target".into(),
                    scratch.clone(),
                ],
            )
            .await,
    );
    assert!(msg.starts_with("Invalid path"), "{msg}");
    // a half-finished upload (no checkUpload) is not a valid source
    admin
        .raw_upload(
            "cli-build/5.abc",
            "half.src.rpm",
            0,
            bytes::Bytes::from_static(b"xx"),
            true,
        )
        .await
        .unwrap();
    let (_, msg) = fault(
        admin
            .call(
                "build",
                vec![
                    "cli-build/5.abc/half.src.rpm".into(),
                    "t-target".into(),
                    scratch.clone(),
                ],
            )
            .await,
    );
    assert!(msg.contains("not complete"), "{msg}");
    // uploads: `..`, someone else's directory, the returned adler32 reveals corruption
    let (_, msg) = fault(
        admin
            .raw_upload("../x", "a.rpm", 0, bytes::Bytes::from_static(b"x"), true)
            .await,
    );
    assert!(msg.starts_with("Invalid upload directory"), "{msg}");
    let alice = farm.user("alice");
    alice.ssl_login().await.unwrap();
    let (_, msg) = fault(
        alice
            .raw_upload(
                "cli-build/4.abc",
                "b.rpm",
                0,
                bytes::Bytes::from_static(b"x"),
                true,
            )
            .await,
    );
    assert!(msg.contains("not owner"), "{msg}");
    let (code, _) = fault(
        alice
            .raw_upload(
                "tasks/1/1",
                "c.log",
                0,
                bytes::Bytes::from_static(b"x"),
                true,
            )
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    let r = alice
        .raw_upload(
            "cli-build/alice",
            "d.src.rpm",
            0,
            bytes::Bytes::from_static(b"payload"),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        r.get("hexdigest").and_then(Value::as_str),
        Some(&*kkoji_hub::uploads::adler32_hex(b"payload"))
    );
    assert_ne!(
        r.get("hexdigest").and_then(Value::as_str),
        Some(&*kkoji_hub::uploads::adler32_hex(b"paylaod"))
    );
    let (code, msg) = fault(
        farm.anon()
            .raw_upload(
                "cli-build/anon",
                "e.rpm",
                0,
                bytes::Bytes::from_static(b"x"),
                true,
            )
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (
            codes::ACTION_NOT_ALLOWED,
            "you must be logged-in to upload a file"
        )
    );
    // a non-admin without the build permission may only build scratch
    let asrc = upload(&alice, "cli-build/alice2", &srpm).await;
    let (code, msg) = fault(
        alice
            .call("build", vec![asrc.as_str().into(), "t-target".into()])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    alice
        .call(
            "build",
            vec![asrc.as_str().into(), "t-target".into(), scratch.clone()],
        )
        .await
        .unwrap();
    // roles: a user is not a host, a host is not an admin
    let (code, msg) = fault(alice.call("host.getID", vec![]).await);
    assert_eq!(code, codes::AUTH);
    assert!(msg.ends_with("is not a host"), "{msg}");
    let b1 = host(&farm, &admin, "b1", &["x86_64"], 2.0).await;
    let (code, _) = fault(
        b1.call(
            "addHost",
            vec!["evil".into(), Value::Array(vec!["x86_64".into()])],
        )
        .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    // cancel: the owner can, others cannot
    let t = admin
        .call(
            "build",
            vec![src.as_str().into(), "t-target".into(), scratch.clone()],
        )
        .await
        .unwrap();
    let (code, _) = fault(alice.call("cancelTask", vec![t.clone()]).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    admin.call("cancelTask", vec![t.clone()]).await.unwrap();
    let (code, msg) = fault(admin.call("getTaskResult", vec![t.clone()]).await);
    assert_eq!(
        (code, msg),
        (
            codes::GENERIC,
            format!("Task {} is canceled", t.as_i64().unwrap())
        )
    );
    let again = admin.call("resubmitTask", vec![t.clone()]).await.unwrap();
    assert!(again.as_i64().unwrap() > t.as_i64().unwrap());
}

/// Two hubs on one database, one builder polling each: every task is opened exactly once.
#[tokio::test]
async fn two_hubs_never_hand_out_a_task_twice() {
    let farm = Farm::start().await;
    let (_hub2, url2) = farm.second_hub().await;
    let admin = farm.admin().await;
    setup_target(&admin).await;
    let a = host_at(&farm, &admin, &farm.url, "ha", &["x86_64"], 100.0).await;
    let b = host_at(&farm, &admin, &url2, "hb", &["x86_64"], 100.0).await;
    for h in [&a, &b] {
        h.call(
            "host.updateHost",
            vec![
                0.0.into(),
                true.into(),
                Value::Struct(kw(&[("maxjobs", 100.into())])),
            ],
        )
        .await
        .unwrap();
    }
    let (srpm, _) = rpmbuild(farm.dir.path(), "foo", true, "true");
    let src = upload(&admin, "cli-build/6.abc", &srpm).await;
    let scratch = Value::Struct(kw(&[("scratch", true.into())]));
    let mut all = Vec::new();
    for _ in 0..30 {
        all.push(
            admin
                .call(
                    "build",
                    vec![src.as_str().into(), "t-target".into(), scratch.clone()],
                )
                .await
                .unwrap()
                .as_i64()
                .unwrap(),
        );
    }
    async fn drain(h: KojiClient) -> Vec<i64> {
        let mut opened = Vec::new();
        let mut idle = 0;
        while idle < 2 {
            let got = h
                .call("host.waitTasks", vec![Value::Double(1.0)])
                .await
                .unwrap();
            let list = got.as_array().unwrap().to_vec();
            if list.is_empty() {
                idle += 1;
            }
            for t in list {
                let tid = id(&t);
                if h.call("host.openTask", vec![tid.into()]).await.unwrap() != Value::Nil {
                    opened.push(tid);
                }
            }
        }
        opened
    }
    let (ra, rb) = tokio::join!(drain(a), drain(b));
    let mut both: Vec<i64> = ra.iter().chain(rb.iter()).copied().collect();
    both.sort();
    all.sort();
    assert_eq!(
        both, all,
        "every task opened exactly once (a: {ra:?}, b: {rb:?})"
    );
}

/// A soft refusal says "not now": the task goes to another host if there is one, and comes
/// back to the refuser after `soft_refusal_retry` when nobody else can take it (a one-builder
/// farm must not stall for the whole refusal timeout). A hard refusal never comes back.
#[tokio::test]
async fn soft_refusal_comes_back_when_no_other_host_can_take_it() {
    let farm = Farm::start_with(|c| {
        c.scheduler.soft_refusal_retry = 1;
        c.scheduler.interval = 1;
    })
    .await;
    let admin = farm.admin().await;
    setup_target(&admin).await;
    let lonely = host(&farm, &admin, "lonely", &["x86_64"], 4.0).await;
    lonely
        .call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let (srpm, _) = rpmbuild(farm.dir.path(), "foo", false, "true");
    let src = upload(&admin, "cli-build/9.soft", &srpm).await;
    let scratch = Value::Struct(kw(&[("scratch", true.into())]));
    let t = admin
        .call(
            "build",
            vec![src.as_str().into(), "t-target".into(), scratch],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(id(&wait_one(&lonely).await), t);
    lonely
        .call(
            "host.refuseTask",
            vec![t.into(), true.into(), "not now: task load 4.0".into()],
        )
        .await
        .unwrap();
    // back to the only host once the retry delay has passed
    assert_eq!(id(&wait_one(&lonely).await), t);
    lonely
        .call(
            "host.refuseTask",
            vec![t.into(), false.into(), "never".into()],
        )
        .await
        .unwrap();
    let again = lonely
        .call("host.waitTasks", vec![Value::Double(3.0)])
        .await
        .unwrap();
    assert_eq!(again, Value::Array(vec![]), "a hard refusal came back");
}
