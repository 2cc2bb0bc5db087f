//! The hub calls the stock kojid makes beyond the task basics, at the protocol level with real
//! TLS and host certificates: buildroot package lists (`koji list-buildroot`), policies,
//! `makeTask`, `taskFinished`, release and duration helpers, tagged RPM lists.

mod common;

use common::{Farm, fault, host, int, kw};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes, encode_response, kstruct};

/// A READY repo of tag `k-build` made through the host API; returns its id.
async fn ready_repo(admin: &KojiClient, h: &KojiClient) -> i64 {
    admin
        .call_kw(
            "createTag",
            vec!["k-build".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    let task = admin
        .call("newRepo", vec!["k-build".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let mut offered = None;
    for _ in 0..20 {
        let got = h
            .call("host.waitTasks", vec![Value::Double(5.0)])
            .await
            .unwrap();
        if let Some(t) = got.as_array().and_then(|a| a.first()) {
            offered = Some(int(t, "id"));
            break;
        }
    }
    assert_eq!(offered, Some(task));
    h.call("host.openTask", vec![task.into()]).await.unwrap();
    let r = h
        .call_kw(
            "host.repoInit",
            vec!["k-build".into()],
            kw(&[("task_id", task.into())]),
        )
        .await
        .unwrap();
    let a = r.as_array().unwrap().to_vec();
    let (repo, ev) = (a[0].as_i64().unwrap(), a[1].as_i64().unwrap());
    h.call("host.repoDone", vec![repo.into(), kstruct! {}])
        .await
        .unwrap();
    h.call(
        "host.closeTask",
        vec![
            task.into(),
            encode_response(&Value::Array(vec![repo.into(), ev.into()])).into(),
        ],
    )
    .await
    .unwrap();
    repo
}

fn ext_rpm(name: &str) -> Value {
    kstruct! {
        "name" => name,
        "version" => "1.0",
        "release" => "1.fc40",
        "epoch" => Value::Nil,
        "arch" => "x86_64",
        "payloadhash" => "0123456789abcdef0123456789abcdef",
        "size" => 1234,
        "buildtime" => 1_700_000_000,
        "location" => "fedora-40",
    }
}

#[tokio::test]
async fn buildroot_package_lists_are_recorded_and_listed() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    admin
        .call(
            "createExternalRepo",
            vec![
                "fedora-40".into(),
                "file:///mnt/koji/external-repos/fedora40/$arch/".into(),
            ],
        )
        .await
        .unwrap();
    let h = host(&farm, &admin, "kojid-a", &["x86_64"], 4.0).await;
    admin
        .call(
            "addHostToChannel",
            vec!["kojid-a".into(), "createrepo".into()],
        )
        .await
        .unwrap();
    h.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let other = host(&farm, &admin, "kojid-b", &["x86_64"], 4.0).await;
    let repo = ready_repo(&admin, &h).await;
    let br = h
        .call("host.newBuildRoot", vec![repo.into(), "x86_64".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();

    // another host may not write this host's buildroot
    let (code, msg) = fault(
        other
            .call(
                "host.setBuildRootList",
                vec![br.into(), Value::Array(vec![ext_rpm("bash")])],
            )
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    // an internal RPM the hub does not know is refused, and nothing is recorded
    let unknown = kstruct! {
        "name" => "ghost", "version" => "1", "release" => "1", "arch" => "x86_64",
        "payloadhash" => "00", "size" => 1, "buildtime" => 1,
    };
    let (code, msg) = fault(
        h.call(
            "host.setBuildRootList",
            vec![br.into(), Value::Array(vec![ext_rpm("bash"), unknown])],
        )
        .await,
    );
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.contains("No such rpm: ghost-1-1.x86_64"), "{msg}");
    let listed = admin
        .call_kw(
            "listRPMs",
            vec![],
            kw(&[("componentBuildrootID", br.into())]),
        )
        .await
        .unwrap();
    assert_eq!(listed.as_array().map(<[Value]>::len), Some(0), "{listed:?}");

    // the populated buildroot (INIT), then one package added while BUILDING
    h.call(
        "host.setBuildRootList",
        vec![
            br.into(),
            Value::Array(vec![ext_rpm("bash"), ext_rpm("gcc")]),
        ],
    )
    .await
    .unwrap();
    let (code, _) = fault(
        h.call(
            "host.updateBuildRootList",
            vec![br.into(), Value::Array(vec![ext_rpm("make")])],
        )
        .await,
    );
    assert_eq!(
        code,
        codes::GENERIC,
        "update before BUILDING must be refused"
    );
    h.call("host.setBuildRootState", vec![br.into(), 2.into()])
        .await
        .unwrap();
    h.call(
        "host.updateBuildRootList",
        vec![br.into(), Value::Array(vec![ext_rpm("make")])],
    )
    .await
    .unwrap();
    let listed = admin
        .call_kw(
            "listRPMs",
            vec![],
            kw(&[("componentBuildrootID", br.into())]),
        )
        .await
        .unwrap();
    let rows = listed.as_array().unwrap();
    let mut seen: Vec<(String, bool, String)> = rows
        .iter()
        .map(|r| {
            (
                r.get("name").and_then(Value::as_str).unwrap().to_string(),
                r.get("is_update").is_some_and(Value::is_truthy),
                r.get("external_repo_name")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("bash".into(), false, "fedora-40".into()),
            ("gcc".into(), false, "fedora-40".into()),
            ("make".into(), true, "fedora-40".into()),
        ]
    );
    // getBuildroot gives the listBuildroots record
    let rec = admin.call("getBuildroot", vec![br.into()]).await.unwrap();
    assert_eq!(int(&rec, "id"), br);
    assert_eq!(
        rec.get("host_name").and_then(Value::as_str),
        Some("kojid-a")
    );
    assert!(matches!(
        admin
            .call("getBuildroot", vec![99_999.into()])
            .await
            .unwrap(),
        Value::Nil
    ));
    let (code, _) = fault(
        admin
            .call("getBuildroot", vec![99_999.into(), true.into()])
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    let (code, _) = fault(
        admin
            .call("getBuildroot", vec![Value::Int((1_i64 << 32) + 1)])
            .await,
    );
    assert_eq!(code, codes::PARAMETER);
}

#[tokio::test]
async fn make_task_is_for_admins_and_checks_its_options() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let user = farm.user("packager");
    user.ssl_login().await.unwrap();
    let mk = |opts: &[(&str, Value)]| {
        let mut k = kw(&[
            ("method", "sleep".into()),
            ("arglist", Value::Array(vec![1.into()])),
        ]);
        for (n, v) in opts {
            k.insert(n.to_string(), v.clone());
        }
        k
    };
    let (code, _) = fault(user.call_kw("makeTask", vec![], mk(&[])).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    let (code, msg) = fault(
        admin
            .call_kw("makeTask", vec![], mk(&[("owner", "packager".into())]))
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    let (code, _) = fault(
        admin
            .call_kw(
                "makeTask",
                vec![],
                mk(&[("priority", Value::Int(4_294_967_196))]),
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER);
    let (code, _) = fault(
        admin
            .call_kw("makeTask", vec![], mk(&[("arch", "x86_64;rm -rf".into())]))
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    let (code, _) = fault(
        admin
            .call_kw("makeTask", vec![], mk(&[("channel", "nosuch".into())]))
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    let (code, _) = fault(
        admin
            .call_kw(
                "makeTask",
                vec![],
                kw(&[
                    ("method", "../../etc".into()),
                    ("arglist", Value::Array(vec![])),
                ]),
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER);
    // none of the refusals made a task
    let all = admin.call("listTasks", vec![]).await.unwrap();
    assert_eq!(all.as_array().map(<[Value]>::len), Some(0), "{all:?}");

    // as the CLI sends it: priority as text
    let id = admin
        .call_kw(
            "makeTask",
            vec![],
            mk(&[
                ("priority", "10".into()),
                ("channel", "createrepo".into()),
                ("arch", "x86_64".into()),
            ]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let t = admin
        .call("getTaskInfo", vec![id.into(), true.into()])
        .await
        .unwrap();
    assert_eq!(t.get("method").and_then(Value::as_str), Some("sleep"));
    assert_eq!(int(&t, "priority"), 10);
    assert_eq!(t.get("arch").and_then(Value::as_str), Some("x86_64"));
    assert_eq!(
        t.get("request"),
        Some(&Value::Array(vec![1.into()])),
        "{t:?}"
    );
    let finished = |v: Value| v.is_truthy();
    assert!(!finished(
        admin.call("taskFinished", vec![id.into()]).await.unwrap()
    ));
    admin.call("cancelTask", vec![id.into()]).await.unwrap();
    assert!(finished(
        admin.call("taskFinished", vec![id.into()]).await.unwrap()
    ));
    let (code, _) = fault(admin.call("taskFinished", vec![99_999.into()]).await);
    assert_eq!(code, codes::GENERIC);
}

#[tokio::test]
async fn policies_answer_builders_as_the_hub_decides() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let user = farm.user("packager");
    user.ssl_login().await.unwrap();
    let me = user.call("getLoggedInUser", vec![]).await.unwrap();
    let uid = int(&me, "id");
    let h = host(&farm, &admin, "kojid-p", &["x86_64"], 4.0).await;

    let (code, msg) = fault(
        h.call(
            "host.assertPolicy",
            vec!["build_from_srpm".into(), kstruct! { "user_id" => uid }],
        )
        .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    assert!(
        msg.starts_with("policy violation (build_from_srpm)"),
        "{msg}"
    );
    admin
        .call("grantPermission", vec!["packager".into(), "build".into()])
        .await
        .unwrap();
    h.call(
        "host.assertPolicy",
        vec!["build_from_srpm".into(), kstruct! { "user_id" => uid }],
    )
    .await
    .unwrap();
    h.call(
        "host.assertPolicy",
        vec!["build_rpm".into(), kstruct! { "user_id" => uid }],
    )
    .await
    .unwrap();
    let scm = h
        .call(
            "host.evalPolicy",
            vec!["build_from_scm".into(), kstruct! {}],
        )
        .await
        .unwrap();
    assert!(scm.as_str().unwrap().starts_with("deny"), "{scm:?}");
    let (code, _) = fault(
        h.call("host.evalPolicy", vec!["nosuch".into(), kstruct! {}])
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    let missing = h
        .call("host.checkPolicy", vec!["nosuch".into(), kstruct! {}])
        .await
        .unwrap();
    assert_eq!(
        missing,
        Value::Array(vec![true.into(), "missing policy".into()])
    );
    // only hosts ask
    let (code, _) = fault(
        user.call("host.evalPolicy", vec!["build_rpm".into(), kstruct! {}])
            .await,
    );
    assert_eq!(code, codes::AUTH);
}

#[tokio::test]
async fn release_duration_and_tagged_rpm_helpers() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let next = admin
        .call(
            "getNextRelease",
            vec![kstruct! { "name" => "never-built", "version" => "1.0" }],
        )
        .await
        .unwrap();
    assert_eq!(next.as_str(), Some("1"));
    let (code, _) = fault(
        admin
            .call("getNextRelease", vec![kstruct! { "name" => "x" }])
            .await,
    );
    assert_eq!(code, codes::PARAMETER);
    assert!(matches!(
        admin
            .call("getAverageBuildDuration", vec!["never-built".into()])
            .await
            .unwrap(),
        Value::Nil
    ));
    admin.call("createTag", vec!["k-tag".into()]).await.unwrap();
    let tagged = admin
        .call("listTaggedRPMS", vec!["k-tag".into()])
        .await
        .unwrap();
    assert_eq!(
        tagged,
        Value::Array(vec![Value::Array(vec![]), Value::Array(vec![])])
    );
    let (code, _) = fault(admin.call("listTaggedRPMS", vec!["nosuch".into()]).await);
    assert_eq!(code, codes::GENERIC);
    let none = admin
        .call_kw(
            "listTaggedRPMS",
            vec!["nosuch".into()],
            kw(&[("strict", false.into())]),
        )
        .await
        .unwrap();
    assert_eq!(none, Value::Array(vec![]));
}

/// `restartHosts` is for holders of the host permission and takes only its own options; the
/// builder running it hands each host its subtasks with `assign`, which must name a host.
#[tokio::test]
async fn restart_hosts_and_assigned_subtasks() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let user = farm.user("packager");
    user.ssl_login().await.unwrap();
    let (code, _) = fault(user.call("restartHosts", vec![]).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    let (code, msg) = fault(
        admin
            .call("restartHosts", vec![5.into(), "everything".into()])
            .await,
    );
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (code, msg) = fault(
        admin
            .call_kw(
                "restartHosts",
                vec![],
                kw(&[("options", Value::Struct(kw(&[("reboot", true.into())])))]),
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let listed = |method: &str| {
        let admin = &admin;
        let method = method.to_string();
        async move {
            admin
                .call(
                    "listTasks",
                    vec![Value::Struct(kw(&[("method", method.into())]))],
                )
                .await
                .unwrap()
                .as_array()
                .map(|a| a.len())
        }
    };
    assert_eq!(
        listed("restartHosts").await,
        Some(0),
        "refused calls made tasks"
    );

    let parent = admin
        .call_kw(
            "restartHosts",
            vec![],
            kw(&[(
                "options",
                Value::Struct(kw(&[("channel", "default".into())])),
            )]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let runner = host(&farm, &admin, "runner", &["x86_64"], 4.0).await;
    let other = host(&farm, &admin, "other", &["aarch64"], 4.0).await;
    let other_id = other.call("host.getID", vec![]).await.unwrap();
    // a host that never checked in loses what it is assigned to the next scheduler pass
    other
        .call("host.updateHost", vec![0.0.into(), false.into()])
        .await
        .unwrap();
    runner
        .call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    // the runner takes the parent …
    let mut offered = None;
    for _ in 0..20 {
        let got = runner
            .call("host.waitTasks", vec![Value::Double(5.0)])
            .await
            .unwrap();
        if let Some(t) = got.as_array().and_then(|a| a.first()) {
            offered = Some(int(t, "id"));
            break;
        }
    }
    assert_eq!(offered, Some(parent));
    runner
        .call("host.openTask", vec![parent.into()])
        .await
        .unwrap();
    // … and may not assign to a host that does not exist
    let sub = |assign: Value, label: &str| kw(&[("assign", assign), ("label", label.into())]);
    let (code, msg) = fault(
        runner
            .call_kw(
                "host.subtask",
                vec!["restart".into(), Value::Array(vec![]), parent.into()],
                sub(Value::Int(9999), "restart 9999"),
            )
            .await,
    );
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert_eq!(listed("restart").await, Some(0));
    // an assigned subtask is the other host's at once, whatever its arch or channel
    let task = runner
        .call_kw(
            "host.subtask",
            vec!["restart".into(), Value::Array(vec![]), parent.into()],
            sub(other_id.clone(), "restart other"),
        )
        .await
        .unwrap();
    let got = other.call("host.getTasks", vec![]).await.unwrap();
    let ids: Vec<Value> = got
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.get("id").cloned())
        .collect();
    assert_eq!(ids, vec![task.clone()]);
    let info = admin.call("getTaskInfo", vec![task]).await.unwrap();
    assert_eq!(info.get("host_id"), Some(&other_id), "{info:?}");
    assert_eq!(info.get("state"), Some(&Value::Int(4)), "{info:?}");
}
