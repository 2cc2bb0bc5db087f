//! Comps groups at the protocol level, against a hub on a throwaway PostgreSQL over real TLS:
//! who may change them, what a tag sees through its inheritance (blocks included), what it
//! saw at an earlier event, the faults for unknown tags, groups and blocked entries, and the
//! comps.xml a new repo of the tag gets.

mod common;

use common::{Farm, fault, host, int, kw};
use koji_protocol::client::KojiClient;
use koji_protocol::{Struct, Value, codes};

async fn tag(admin: &KojiClient, name: &str, parent: Option<&str>) {
    let mut k = Struct::new();
    if let Some(p) = parent {
        k.insert("parent".into(), p.into());
    }
    k.insert("arches".into(), "x86_64".into());
    admin
        .call_kw("createTag", vec![name.into()], k)
        .await
        .unwrap();
}

async fn tag_groups(c: &KojiClient, tag: &str, opts: &[(&str, Value)]) -> Vec<Value> {
    c.call_kw("getTagGroups", vec![tag.into()], kw(opts))
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec()
}

fn names(groups: &[Value]) -> Vec<String> {
    groups
        .iter()
        .map(|g| g.get("name").and_then(Value::as_str).unwrap().to_string())
        .collect()
}

#[track_caller]
fn group<'a>(groups: &'a [Value], name: &str) -> &'a Value {
    groups
        .iter()
        .find(|g| g.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no group {name} in {groups:?}"))
}

/// (package, blocked, tag id) of a group's packagelist.
fn packages(g: &Value) -> Vec<(String, bool, i64)> {
    g.get("packagelist")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|p| {
            (
                p.get("package")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
                p.get("blocked").and_then(Value::as_bool).unwrap(),
                int(p, "tag_id"),
            )
        })
        .collect()
}

fn reqs(g: &Value) -> Vec<String> {
    g.get("grouplist")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|r| r.get("name").and_then(Value::as_str).unwrap().to_string())
        .collect()
}

async fn tag_id(c: &KojiClient, name: &str) -> i64 {
    int(&c.call("getTag", vec![name.into()]).await.unwrap(), "id")
}

async fn last_change(c: &KojiClient, tag: &str) -> i64 {
    c.call("tagLastChangeEvent", vec![tag.into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap()
}

async fn call(
    c: &KojiClient,
    method: &str,
    args: &[&str],
) -> Result<Value, koji_protocol::client::ClientError> {
    c.call(method, args.iter().map(|a| Value::from(*a)).collect())
        .await
}

#[tokio::test]
async fn groups_are_inherited_blocked_and_versioned() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    tag(&admin, "g-base", None).await;
    tag(&admin, "g-child", Some("g-base")).await;
    tag(&admin, "g-grand", Some("g-child")).await;
    let (base, child) = (
        tag_id(&admin, "g-base").await,
        tag_id(&admin, "g-child").await,
    );

    // a new group with Koji's defaults, its packages and a requirement
    call(&admin, "groupListAdd", &["g-base", "build"])
        .await
        .unwrap();
    for p in ["bash", "gcc", "make"] {
        call(&admin, "groupPackageListAdd", &["g-base", "build", p])
            .await
            .unwrap();
    }
    call(&admin, "groupListAdd", &["g-base", "core"])
        .await
        .unwrap();
    call(
        &admin,
        "groupPackageListAdd",
        &["g-base", "core", "coreutils"],
    )
    .await
    .unwrap();
    call(&admin, "groupReqListAdd", &["g-base", "build", "core"])
        .await
        .unwrap();
    let before = admin
        .call("getLastEvent", vec![])
        .await
        .map(|e| int(&e, "id"))
        .unwrap();

    let gs = tag_groups(&admin, "g-base", &[]).await;
    assert_eq!(names(&gs), vec!["build", "core"]);
    let b = group(&gs, "build");
    assert_eq!(b.get("display_name").and_then(Value::as_str), Some("build"));
    assert_eq!(b.get("uservisible"), Some(&Value::Bool(true)));
    assert_eq!(b.get("exported"), Some(&Value::Bool(true)));
    assert_eq!(b.get("biarchonly"), Some(&Value::Bool(false)));
    assert_eq!(b.get("blocked"), Some(&Value::Bool(false)));
    assert_eq!(b.get("is_default"), Some(&Value::Nil));
    assert_eq!(int(b, "tag_id"), base);
    let types: Vec<&str> = b
        .get("packagelist")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .filter_map(|p| p.get("type").and_then(Value::as_str))
        .collect();
    assert_eq!(types, vec!["mandatory"; 3]);
    assert_eq!(reqs(b), vec!["core"]);
    // the grandchild sees the base's groups through the child
    let gs = tag_groups(&admin, "g-grand", &[]).await;
    assert_eq!(names(&gs), vec!["build", "core"]);
    assert_eq!(int(group(&gs, "build"), "tag_id"), base);
    // ... but not without inheritance
    assert!(
        tag_groups(&admin, "g-grand", &[("inherit", false.into())])
            .await
            .is_empty()
    );
    // without packages and requirements, the keys are absent (as on Koji)
    let gs = tag_groups(
        &admin,
        "g-base",
        &[("incl_pkgs", false.into()), ("incl_reqs", false.into())],
    )
    .await;
    assert!(group(&gs, "build").get("packagelist").is_none());
    assert!(group(&gs, "build").get("grouplist").is_none());

    // the child blocks one package of the inherited group: hidden there and below, kept in
    // the base
    call(
        &admin,
        "groupPackageListBlock",
        &["g-child", "build", "gcc"],
    )
    .await
    .unwrap();
    let pk = packages(group(&tag_groups(&admin, "g-grand", &[]).await, "build"));
    assert_eq!(
        pk,
        vec![("bash".into(), false, base), ("make".into(), false, base)]
    );
    let pk = packages(group(
        &tag_groups(&admin, "g-child", &[("incl_blocked", true.into())]).await,
        "build",
    ));
    assert!(pk.contains(&("gcc".into(), true, child)), "{pk:?}");
    let pk = packages(group(&tag_groups(&admin, "g-base", &[]).await, "build"));
    assert_eq!(pk.len(), 3);
    // adding it back in the grandchild needs force
    let (code, msg) =
        fault(call(&admin, "groupPackageListAdd", &["g-grand", "build", "gcc"]).await);
    assert_eq!(code, codes::GENERIC);
    assert_eq!(msg, "package gcc blocked in group build, tag g-grand");
    admin
        .call_kw(
            "groupPackageListAdd",
            vec!["g-grand".into(), "build".into(), "gcc".into()],
            kw(&[("force", true.into())]),
        )
        .await
        .unwrap();
    let pk = packages(group(&tag_groups(&admin, "g-grand", &[]).await, "build"));
    assert_eq!(pk.len(), 3, "{pk:?}");
    // the grandchild cannot unblock what the child blocked; the child can
    let (_, msg) = fault(
        call(
            &admin,
            "groupPackageListUnblock",
            &["g-grand", "build", "make"],
        )
        .await,
    );
    assert_eq!(
        msg,
        "package make is NOT blocked in group build, tag g-grand"
    );
    call(
        &admin,
        "groupPackageListUnblock",
        &["g-child", "build", "gcc"],
    )
    .await
    .unwrap();
    let pk = packages(group(&tag_groups(&admin, "g-child", &[]).await, "build"));
    assert_eq!(pk.len(), 3, "{pk:?}");

    // the child blocks the whole group: gone there and below (with its requirement on it)
    call(&admin, "groupListBlock", &["g-child", "core"])
        .await
        .unwrap();
    let gs = tag_groups(&admin, "g-grand", &[]).await;
    assert_eq!(names(&gs), vec!["build"]);
    assert!(reqs(group(&gs, "build")).is_empty());
    let gs = tag_groups(&admin, "g-grand", &[("incl_blocked", true.into())]).await;
    assert_eq!(group(&gs, "core").get("blocked"), Some(&Value::Bool(true)));
    assert_eq!(int(group(&gs, "core"), "tag_id"), child);
    // a package of a blocked group, or a group blocked above, is refused
    let (_, msg) = fault(call(&admin, "groupPackageListAdd", &["g-grand", "core", "x"]).await);
    assert_eq!(msg, "group core is blocked in tag g-grand");
    let (_, msg) = fault(call(&admin, "groupListAdd", &["g-grand", "core"]).await);
    assert_eq!(msg, "group core is blocked in tag g-grand");
    let (_, msg) = fault(call(&admin, "groupListUnblock", &["g-grand", "core"]).await);
    assert_eq!(msg, "group core is NOT blocked in tag g-grand");
    // force makes an entry of the grandchild's own
    admin
        .call_kw(
            "groupListAdd",
            vec!["g-grand".into(), "core".into()],
            kw(&[("force", true.into())]),
        )
        .await
        .unwrap();
    assert_eq!(
        names(&tag_groups(&admin, "g-grand", &[]).await),
        vec!["build", "core"]
    );
    call(&admin, "groupListUnblock", &["g-child", "core"])
        .await
        .unwrap();
    assert_eq!(
        names(&tag_groups(&admin, "g-child", &[]).await),
        vec!["build", "core"]
    );

    // removal takes only the tag's own entry
    let (_, msg) = fault(call(&admin, "groupListRemove", &["g-child", "build"]).await);
    assert_eq!(msg, "No group: build found for tag: g-child");
    admin
        .call_kw(
            "groupListRemove",
            vec!["g-child".into(), "build".into()],
            kw(&[("force", true.into())]),
        )
        .await
        .unwrap();
    call(&admin, "groupListRemove", &["g-grand", "core"])
        .await
        .unwrap();
    assert_eq!(
        int(
            group(&tag_groups(&admin, "g-grand", &[]).await, "core"),
            "tag_id"
        ),
        base
    );
    call(&admin, "groupReqListRemove", &["g-base", "build", "core"])
        .await
        .unwrap();
    call(
        &admin,
        "groupPackageListRemove",
        &["g-base", "build", "make"],
    )
    .await
    .unwrap();
    let b = group(&tag_groups(&admin, "g-base", &[]).await, "build").clone();
    assert!(reqs(&b).is_empty());
    assert_eq!(packages(&b).len(), 2);

    // as of the earlier event, the tags look as they did then
    let then = tag_groups(&admin, "g-grand", &[("event", before.into())]).await;
    let b = group(&then, "build");
    assert_eq!(packages(b).len(), 3);
    assert_eq!(reqs(b), vec!["core"]);
    assert_eq!(
        tag_groups(
            &admin,
            "g-child",
            &[("event", before.into()), ("incl_blocked", true.into())]
        )
        .await
        .len(),
        2
    );
}

#[tokio::test]
async fn options_requirements_and_repo_content_changes() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    tag(&admin, "o-tag", None).await;

    admin
        .call_kw(
            "groupListAdd",
            vec!["o-tag".into(), "desktop".into()],
            kw(&[
                ("display_name", "Desktop & Friends".into()),
                ("description", "All of it".into()),
                ("is_default", true.into()),
                ("uservisible", false.into()),
                ("biarchonly", 1.into()),
                ("langonly", "de".into()),
            ]),
        )
        .await
        .unwrap();
    let d = group(&tag_groups(&admin, "o-tag", &[]).await, "desktop").clone();
    assert_eq!(
        d.get("display_name").and_then(Value::as_str),
        Some("Desktop & Friends")
    );
    assert_eq!(
        d.get("description").and_then(Value::as_str),
        Some("All of it")
    );
    assert_eq!(d.get("is_default"), Some(&Value::Bool(true)));
    assert_eq!(d.get("uservisible"), Some(&Value::Bool(false)));
    assert_eq!(d.get("biarchonly"), Some(&Value::Bool(true)));
    assert_eq!(d.get("langonly").and_then(Value::as_str), Some("de"));

    // the same data again changes nothing (no new event); a new value does
    let last = last_change(&admin, "o-tag").await;
    admin
        .call_kw(
            "groupListAdd",
            vec!["o-tag".into(), "desktop".into()],
            kw(&[("description", "All of it".into())]),
        )
        .await
        .unwrap();
    assert_eq!(last_change(&admin, "o-tag").await, last);
    admin
        .call_kw(
            "groupListAdd",
            vec!["o-tag".into(), "desktop".into()],
            kw(&[("description", "Most of it".into())]),
        )
        .await
        .unwrap();
    assert!(last_change(&admin, "o-tag").await > last);
    let d = group(&tag_groups(&admin, "o-tag", &[]).await, "desktop").clone();
    assert_eq!(
        d.get("description").and_then(Value::as_str),
        Some("Most of it")
    );
    // the earlier options stay
    assert_eq!(
        d.get("display_name").and_then(Value::as_str),
        Some("Desktop & Friends")
    );

    // a conditional package
    admin
        .call_kw(
            "groupPackageListAdd",
            vec!["o-tag".into(), "desktop".into(), "langpack-de".into()],
            kw(&[
                ("type", "conditional".into()),
                ("requires", "de-support".into()),
                ("basearchonly", true.into()),
            ]),
        )
        .await
        .unwrap();
    let d = group(&tag_groups(&admin, "o-tag", &[]).await, "desktop").clone();
    let p = &d.get("packagelist").and_then(Value::as_array).unwrap()[0];
    assert_eq!(p.get("type").and_then(Value::as_str), Some("conditional"));
    assert_eq!(
        p.get("requires").and_then(Value::as_str),
        Some("de-support")
    );
    assert_eq!(p.get("basearchonly"), Some(&Value::Bool(true)));

    // a requirement on a group the tag does not have is kept but not shown; a metapkg one is
    call(&admin, "groupListAdd", &["o-tag", "base"])
        .await
        .unwrap();
    call(&admin, "groupListAdd", &["o-tag", "elsewhere"])
        .await
        .unwrap();
    call(&admin, "groupListRemove", &["o-tag", "elsewhere"])
        .await
        .unwrap();
    call(
        &admin,
        "groupReqListAdd",
        &["o-tag", "desktop", "elsewhere"],
    )
    .await
    .unwrap();
    admin
        .call_kw(
            "groupReqListAdd",
            vec!["o-tag".into(), "desktop".into(), "base".into()],
            kw(&[("is_metapkg", true.into()), ("type", "optional".into())]),
        )
        .await
        .unwrap();
    let d = group(&tag_groups(&admin, "o-tag", &[]).await, "desktop").clone();
    let gl = d.get("grouplist").and_then(Value::as_array).unwrap();
    assert_eq!(gl.len(), 1, "{gl:?}");
    assert_eq!(gl[0].get("name").and_then(Value::as_str), Some("base"));
    assert_eq!(gl[0].get("is_metapkg"), Some(&Value::Bool(true)));
    assert_eq!(gl[0].get("type").and_then(Value::as_str), Some("optional"));
    // block and unblock a requirement
    call(&admin, "groupReqListBlock", &["o-tag", "desktop", "base"])
        .await
        .unwrap();
    let d = group(&tag_groups(&admin, "o-tag", &[]).await, "desktop").clone();
    assert!(reqs(&d).is_empty());
    let (_, msg) = fault(call(&admin, "groupReqListAdd", &["o-tag", "desktop", "base"]).await);
    assert_eq!(
        msg,
        "requirement on group base blocked in group desktop, tag o-tag"
    );
    call(&admin, "groupReqListUnblock", &["o-tag", "desktop", "base"])
        .await
        .unwrap();
    let (_, msg) = fault(call(&admin, "groupReqListUnblock", &["o-tag", "desktop", "base"]).await);
    assert_eq!(
        msg,
        "group req base is NOT blocked in group desktop, tag o-tag"
    );

    // deleting the tag revokes its groups
    admin.call("deleteTag", vec!["o-tag".into()]).await.unwrap();
    assert!(tag_groups(&admin, "o-tag", &[]).await.is_empty());
}

#[tokio::test]
async fn permissions_unknown_names_and_bad_values() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    tag(&admin, "p-tag", None).await;
    call(&admin, "groupListAdd", &["p-tag", "build"])
        .await
        .unwrap();

    // anyone may read; changing needs the tag permission (or admin)
    let anon = farm.anon();
    assert_eq!(names(&tag_groups(&anon, "p-tag", &[]).await), vec!["build"]);
    let (code, _) = fault(call(&anon, "groupListAdd", &["p-tag", "x"]).await);
    assert!(
        code == codes::ACTION_NOT_ALLOWED || code == codes::AUTH,
        "{code}"
    );
    let user = farm.user("packager");
    user.ssl_login().await.unwrap();
    let last = last_change(&admin, "p-tag").await;
    for (method, args) in [
        ("groupListAdd", &["p-tag", "x"][..]),
        ("groupListBlock", &["p-tag", "build"][..]),
        ("groupListRemove", &["p-tag", "build"][..]),
        ("groupListUnblock", &["p-tag", "build"][..]),
        ("groupPackageListAdd", &["p-tag", "build", "gcc"][..]),
        ("groupPackageListBlock", &["p-tag", "build", "gcc"][..]),
        ("groupPackageListRemove", &["p-tag", "build", "gcc"][..]),
        ("groupPackageListUnblock", &["p-tag", "build", "gcc"][..]),
        ("groupReqListAdd", &["p-tag", "build", "build"][..]),
        ("groupReqListBlock", &["p-tag", "build", "build"][..]),
        ("groupReqListRemove", &["p-tag", "build", "build"][..]),
        ("groupReqListUnblock", &["p-tag", "build", "build"][..]),
    ] {
        let (code, msg) = fault(call(&user, method, args).await);
        assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{method}: {msg}");
    }
    assert_eq!(last_change(&admin, "p-tag").await, last);
    admin
        .call("grantPermission", vec!["packager".into(), "tag".into()])
        .await
        .unwrap();
    call(&user, "groupPackageListAdd", &["p-tag", "build", "gcc"])
        .await
        .unwrap();

    // unknown tag, group and requirement
    let (code, msg) = fault(call(&anon, "getTagGroups", &["no-such-tag"]).await);
    assert_eq!(code, codes::GENERIC);
    assert!(msg.contains("No such tag: no-such-tag"), "{msg}");
    let (code, msg) = fault(call(&admin, "groupListAdd", &["no-such-tag", "x"]).await);
    assert_eq!(code, codes::GENERIC);
    assert!(msg.contains("No such tag"), "{msg}");
    let (_, msg) = fault(call(&admin, "groupPackageListAdd", &["p-tag", "nogroup", "gcc"]).await);
    assert_eq!(msg, "No such group: nogroup");
    let (_, msg) = fault(call(&admin, "groupListRemove", &["p-tag", "nogroup"]).await);
    assert_eq!(msg, "No such group: nogroup");
    let (_, msg) = fault(call(&admin, "groupReqListAdd", &["p-tag", "build", "nogroup"]).await);
    assert_eq!(msg, "No such group: nogroup");
    // an existing group the tag does not have
    call(&admin, "groupListAdd", &["p-tag", "other"])
        .await
        .unwrap();
    tag(&admin, "p-empty", None).await;
    let (_, msg) = fault(call(&admin, "groupPackageListAdd", &["p-empty", "other", "gcc"]).await);
    assert_eq!(msg, "group other not present in tag p-empty");
    let (_, msg) = fault(call(&admin, "groupReqListAdd", &["p-empty", "other", "build"]).await);
    assert_eq!(msg, "group other not present in tag p-empty");
    // a group id that does not exist is not created
    let (_, msg) = fault(
        admin
            .call("groupListAdd", vec!["p-tag".into(), Value::Int(99999)])
            .await,
    );
    assert_eq!(msg, "No such group: 99999");
    let (code, _) = fault(
        admin
            .call("groupListAdd", vec!["p-tag".into(), Value::Int(1 << 40)])
            .await,
    );
    assert_eq!(code, codes::PARAMETER);

    // bad values are refused and change nothing
    let last = last_change(&admin, "p-tag").await;
    let bad: Vec<(&str, Value)> = vec![
        ("display_name", Value::Nil),
        ("is_default", "yes".into()),
        ("description", 5.into()),
    ];
    for (k, v) in bad {
        let (code, msg) = fault(
            admin
                .call_kw(
                    "groupListAdd",
                    vec!["p-tag".into(), "build".into()],
                    kw(&[(k, v)]),
                )
                .await,
        );
        assert_eq!(code, codes::PARAMETER, "{k}: {msg}");
        assert!(msg.contains(k), "{msg}");
    }
    let (code, msg) = fault(
        admin
            .call_kw(
                "groupPackageListAdd",
                vec!["p-tag".into(), "build".into(), "gcc".into()],
                kw(&[("type", "x".repeat(26).into())]),
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let long = "g".repeat(51);
    let (code, msg) = fault(call(&admin, "groupListAdd", &["p-tag", &long]).await);
    assert_eq!(code, codes::GENERIC);
    assert!(msg.contains("Invalid group name"), "{msg}");
    let (_, msg) = fault(call(&admin, "groupPackageListAdd", &["p-tag", "build", "a b"]).await);
    assert!(msg.contains("Invalid package name"), "{msg}");
    assert_eq!(last_change(&admin, "p-tag").await, last);
    assert_eq!(
        names(&tag_groups(&admin, "p-tag", &[]).await),
        vec!["build", "other"]
    );

    // kkoji builds no Maven artifacts
    assert_eq!(
        anon.call("mavenEnabled", vec![]).await.unwrap(),
        Value::Bool(false)
    );
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

#[tokio::test]
async fn a_new_repo_gets_the_tags_comps() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    tag(&admin, "c-base", None).await;
    tag(&admin, "c-build", Some("c-base")).await;
    call(&admin, "groupListAdd", &["c-base", "build"])
        .await
        .unwrap();
    call(&admin, "groupListAdd", &["c-base", "core"])
        .await
        .unwrap();
    call(&admin, "groupListAdd", &["c-base", "hidden"])
        .await
        .unwrap();
    admin
        .call_kw(
            "groupListAdd",
            vec!["c-base".into(), "srpm-build".into()],
            kw(&[("description", "<SRPM> tools".into())]),
        )
        .await
        .unwrap();
    for (g, p) in [
        ("build", "gcc"),
        ("build", "rpm-build"),
        ("core", "bash"),
        ("srpm-build", "rpm-build"),
        ("hidden", "secret"),
    ] {
        call(&admin, "groupPackageListAdd", &["c-base", g, p])
            .await
            .unwrap();
    }
    call(&admin, "groupReqListAdd", &["c-base", "build", "core"])
        .await
        .unwrap();
    call(
        &admin,
        "groupPackageListBlock",
        &["c-build", "build", "gcc"],
    )
    .await
    .unwrap();
    call(&admin, "groupListBlock", &["c-build", "hidden"])
        .await
        .unwrap();

    let h = host(&farm, &admin, "combuilder", &["x86_64"], 4.0).await;
    admin
        .call(
            "addHostToChannel",
            vec!["combuilder".into(), "createrepo".into()],
        )
        .await
        .unwrap();
    h.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    admin.call("newRepo", vec!["c-build".into()]).await.unwrap();
    let t = next_task(&h).await;
    assert_eq!(t.get("method").and_then(Value::as_str), Some("newRepo"));
    let tid = int(&t, "id");
    h.call("host.openTask", vec![tid.into()]).await.unwrap();
    let r = h
        .call_kw(
            "host.repoInit",
            vec!["c-build".into()],
            kw(&[("task_id", tid.into())]),
        )
        .await
        .unwrap();
    let repo_id = r.as_array().unwrap()[0].as_i64().unwrap();

    let comps_path = farm
        .dir
        .path()
        .join("koji/repos/c-build")
        .join(repo_id.to_string())
        .join("groups/comps.xml");
    let xml = std::fs::read_to_string(&comps_path)
        .unwrap_or_else(|e| panic!("{}: {e}", comps_path.display()));
    // a well-formed document (the escaped description included)
    assert!(xml.starts_with("<?xml version=\"1.0\"?>"), "{xml}");
    assert!(
        xml.contains("<description>&lt;SRPM&gt; tools</description>"),
        "{xml}"
    );
    assert!(xml.trim_end().ends_with("</comps>"), "{xml}");
    let section = |id: &str| -> String {
        let start = xml
            .find(&format!("<id>{id}</id>"))
            .unwrap_or_else(|| panic!("no group {id} in {xml}"));
        let end = xml[start..].find("</group>").unwrap() + start;
        xml[start..end].to_string()
    };
    // `build` without the package the build tag blocks, with the packages of the group it
    // requires expanded into it (what mock installs for a buildroot)
    let build = section("build");
    assert!(!build.contains(">gcc<"), "{build}");
    assert!(
        build.contains("<packagereq type=\"mandatory\">rpm-build</packagereq>"),
        "{build}"
    );
    assert!(build.contains("<!-- Expanding Group: core -->"), "{build}");
    assert!(
        build.contains("<packagereq type=\"mandatory\">bash</packagereq>"),
        "{build}"
    );
    assert!(section("srpm-build").contains(">rpm-build<"));
    // the group the build tag blocks is not there
    assert!(!xml.contains("<id>hidden</id>"), "{xml}");
    assert!(!xml.contains("secret"), "{xml}");
}
