//! queryHistory over every versioned table, against a hub on a throwaway PostgreSQL over real
//! TLS: the rows Koji's history has for tags, inheritance, extra options, package lists and
//! owners, targets, comps groups, hosts and channels, permissions and external repos; each
//! filter limiting the answer to the tables it applies to (Koji's quirks included); the
//! versioning filters; queryOpts; and the faults for unknown tables, names and bad values.

mod common;

use common::{Farm, fault, kw};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes};

async fn history(c: &KojiClient, tables: Option<&[&str]>, opts: &[(&str, Value)]) -> Value {
    let args = match tables {
        Some(t) => vec![Value::Array(t.iter().map(|s| (*s).into()).collect())],
        None => vec![],
    };
    c.call_kw("queryHistory", args, kw(opts)).await.unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_struct().unwrap().keys().cloned().collect()
}

#[track_caller]
fn rows<'a>(v: &'a Value, table: &str) -> &'a [Value] {
    v.get(table)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no {table} in {v:?}"))
}

fn s<'a>(row: &'a Value, k: &str) -> Option<&'a str> {
    row.get(k).and_then(Value::as_str)
}

async fn call(c: &KojiClient, m: &str, args: Vec<Value>, opts: &[(&str, Value)]) {
    c.call_kw(m, args, kw(opts))
        .await
        .unwrap_or_else(|e| panic!("{m}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_every_table_with_its_filters() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let a = &admin;
    call(
        a,
        "createTag",
        vec!["h-parent".into()],
        &[("arches", "x86_64".into())],
    )
    .await;
    call(
        a,
        "createTag",
        vec!["h-child".into()],
        &[("parent", "h-parent".into())],
    )
    .await;
    let first = a.call("getLastEvent", vec![]).await.unwrap();
    let first_event = first.get("id").and_then(Value::as_i64).unwrap();
    call(
        a,
        "editTag2",
        vec!["h-child".into()],
        &[
            ("locked", true.into()),
            ("extra", koji_protocol::kstruct! { "mock.new_chroot" => 0 }),
        ],
    )
    .await;
    call(
        a,
        "packageListAdd",
        vec!["h-child".into(), "pkga".into(), "kojiadmin".into()],
        &[],
    )
    .await;
    call(
        a,
        "createBuildTarget",
        vec!["h-target".into(), "h-parent".into(), "h-child".into()],
        &[],
    )
    .await;
    call(a, "createUser", vec!["alice".into()], &[]).await;
    call(
        a,
        "grantPermission",
        vec!["alice".into(), "tag".into()],
        &[],
    )
    .await;
    call(
        a,
        "addHost",
        vec!["hh1".into(), Value::Array(vec!["x86_64".into()])],
        &[],
    )
    .await;
    call(
        a,
        "addHostToChannel",
        vec!["hh1".into(), "createrepo".into()],
        &[],
    )
    .await;
    call(
        a,
        "groupListAdd",
        vec!["h-child".into(), "build".into()],
        &[],
    )
    .await;
    call(
        a,
        "groupListAdd",
        vec!["h-child".into(), "srpm-build".into()],
        &[],
    )
    .await;
    call(
        a,
        "groupPackageListAdd",
        vec!["h-child".into(), "build".into(), "bash".into()],
        &[],
    )
    .await;
    call(
        a,
        "groupReqListAdd",
        vec!["h-child".into(), "srpm-build".into(), "build".into()],
        &[],
    )
    .await;
    call(
        a,
        "createExternalRepo",
        vec!["h-erepo".into(), "http://example.com/r/".into()],
        &[],
    )
    .await;
    call(
        a,
        "addExternalRepoToTag",
        vec!["h-child".into(), "h-erepo".into(), 5.into()],
        &[],
    )
    .await;

    // --tag: every table with a tag, and only those (Koji's sorted order)
    let h = history(a, None, &[("tag", "h-child".into())]).await;
    assert_eq!(
        keys(&h),
        [
            "build_target_config",
            "group_config",
            "group_package_listing",
            "group_req_listing",
            "tag_config",
            "tag_external_repos",
            "tag_extra",
            "tag_inheritance",
            "tag_listing",
            "tag_package_owners",
            "tag_packages",
        ]
    );
    // created, then edited (locked): the first version revoked by the edit
    let tc = rows(&h, "tag_config");
    assert_eq!(tc.len(), 2, "{tc:?}");
    assert_eq!(tc[0].get("active"), Some(&Value::Nil));
    assert_eq!(tc[0].get("locked"), Some(&Value::Bool(false)));
    assert_eq!(tc[1].get("locked"), Some(&Value::Bool(true)));
    assert_eq!(tc[1].get("active"), Some(&Value::Bool(true)));
    assert_eq!(tc[0].get("revoke_event"), tc[1].get("create_event"));
    assert_eq!(s(&tc[1], "tag.name"), Some("h-child"));
    assert_eq!(s(&tc[1], "creator_name"), Some("kojiadmin"));
    assert!(matches!(tc[1].get("create_ts"), Some(Value::Double(_))));
    assert_eq!(tc[1].get("revoke_ts"), Some(&Value::Nil));
    let extra = rows(&h, "tag_extra");
    assert_eq!(s(&extra[0], "key"), Some("mock.new_chroot"));
    assert_eq!(
        s(&extra[0], "value"),
        Some("0"),
        "JSON text, as Koji stores it"
    );
    let inh = rows(&h, "tag_inheritance");
    assert_eq!(s(&inh[0], "parent.name"), Some("h-parent"));
    assert_eq!(
        s(&rows(&h, "tag_packages")[0], "package.name"),
        Some("pkga")
    );
    assert_eq!(
        s(&rows(&h, "tag_package_owners")[0], "owner.name"),
        Some("kojiadmin")
    );
    let target = &rows(&h, "build_target_config")[0];
    assert_eq!(s(target, "build_target.name"), Some("h-target"));
    assert_eq!(s(target, "build_tag.name"), Some("h-parent"));
    assert_eq!(s(target, "dest_tag.name"), Some("h-child"));
    assert_eq!(s(&rows(&h, "group_config")[0], "group.name"), Some("build"));
    let gp = &rows(&h, "group_package_listing")[0];
    assert_eq!(
        (s(gp, "package"), s(gp, "group.name")),
        (Some("bash"), Some("build"))
    );
    let gr = &rows(&h, "group_req_listing")[0];
    assert_eq!(
        (s(gr, "group.name"), s(gr, "req.name")),
        (Some("srpm-build"), Some("build"))
    );
    let er = &rows(&h, "tag_external_repos")[0];
    assert_eq!(s(er, "external_repo.name"), Some("h-erepo"));
    assert_eq!(er.get("priority"), Some(&Value::Int(5)));
    assert!(rows(&h, "tag_listing").is_empty());

    // the parent: its inheritance line (either end) but not the target, whose --tag is
    // its destination tag in Koji
    let p = history(a, None, &[("tag", "h-parent".into())]).await;
    assert_eq!(rows(&p, "tag_inheritance").len(), 1);
    assert!(rows(&p, "build_target_config").is_empty());

    // --user: user tables (none here for groups and content generators) and owners
    let u = history(a, None, &[("user", "alice".into())]).await;
    assert_eq!(
        keys(&u),
        [
            "cg_users",
            "tag_package_owners",
            "user_groups",
            "user_perms"
        ]
    );
    let up = rows(&u, "user_perms");
    assert_eq!(up.len(), 1);
    assert_eq!(
        (s(&up[0], "user.name"), s(&up[0], "permission.name")),
        (Some("alice"), Some("tag"))
    );
    assert!(rows(&u, "tag_package_owners").is_empty());
    let owned = history(
        a,
        Some(&["tag_package_owners"]),
        &[("user", "kojiadmin".into())],
    )
    .await;
    assert_eq!(rows(&owned, "tag_package_owners").len(), 1);

    // --permission: grants and tags' required permission
    let perm = history(a, None, &[("permission", "tag".into())]).await;
    assert_eq!(keys(&perm), ["tag_config", "user_perms"]);
    assert_eq!(rows(&perm, "user_perms").len(), 1);

    // --host / --channel; an unknown host matches nothing (Koji looks it up leniently)
    let hh = history(a, None, &[("host", "hh1".into())]).await;
    assert_eq!(keys(&hh), ["host_channels", "host_config"]);
    let chans: Vec<_> = rows(&hh, "host_channels")
        .iter()
        .filter_map(|r| s(r, "channels.name"))
        .collect();
    assert!(chans.contains(&"createrepo"), "{chans:?}");
    assert_eq!(s(&rows(&hh, "host_config")[0], "host.name"), Some("hh1"));
    assert!(matches!(
        rows(&hh, "host_config")[0].get("capacity"),
        Some(Value::Double(_))
    ));
    let ch = history(a, None, &[("channel", "createrepo".into())]).await;
    assert_eq!(keys(&ch), ["host_channels"]);
    assert_eq!(rows(&ch, "host_channels").len(), 1);
    let nohost = history(a, None, &[("host", "nosuch".into())]).await;
    assert!(rows(&nohost, "host_config").is_empty());

    // --group: its config and packages; in the requirements, Koji matches the required group
    let g = history(a, None, &[("group", "build".into())]).await;
    assert_eq!(
        keys(&g),
        ["group_config", "group_package_listing", "group_req_listing"]
    );
    assert_eq!(rows(&g, "group_config").len(), 1);
    assert_eq!(rows(&g, "group_req_listing").len(), 1);
    // --package on group entries compares the RPM name
    // (an RPM name that is no package is refused by the tables that look packages up)
    let bash = history(
        a,
        Some(&["group_package_listing"]),
        &[("package", "bash".into()), ("tag", "h-child".into())],
    )
    .await;
    assert_eq!(rows(&bash, "group_package_listing").len(), 1);
    let (code, msg) = fault(
        a.call_kw("queryHistory", vec![], kw(&[("package", "bash".into())]))
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such entry in table package: bash")
    );
    let pkga = history(a, None, &[("package", "pkga".into())]).await;
    assert_eq!(
        keys(&pkga),
        [
            "group_package_listing",
            "tag_listing",
            "tag_package_owners",
            "tag_packages"
        ]
    );
    assert_eq!(rows(&pkga, "tag_packages").len(), 1);

    // --external-repo, --build-target, --xkey
    let e = history(a, None, &[("external_repo", "h-erepo".into())]).await;
    assert_eq!(
        keys(&e),
        [
            "external_repo_config",
            "external_repo_data",
            "tag_external_repos"
        ]
    );
    assert_eq!(
        s(&rows(&e, "external_repo_config")[0], "url"),
        Some("http://example.com/r/")
    );
    let t = history(a, None, &[("build_target", "h-target".into())]).await;
    assert_eq!(keys(&t), ["build_target_config"]);
    let x = history(a, None, &[("xkey", "mock.new_chroot".into())]).await;
    assert_eq!(keys(&x), ["tag_extra"]);
    assert_eq!(rows(&x, "tag_extra").len(), 1);

    // --revoked (active=False) and --active
    let revoked = history(
        a,
        Some(&["tag_config"]),
        &[("tag", "h-child".into()), ("active", false.into())],
    )
    .await;
    assert_eq!(rows(&revoked, "tag_config").len(), 1);
    assert_eq!(
        rows(&revoked, "tag_config")[0].get("locked"),
        Some(&Value::Bool(false))
    );
    let active = history(
        a,
        Some(&["tag_config"]),
        &[("tag", "h-child".into()), ("active", true.into())],
    )
    .await;
    assert_eq!(
        rows(&active, "tag_config")[0].get("locked"),
        Some(&Value::Bool(true))
    );

    // editor and event filters add Koji's match flags
    let ed = history(a, Some(&["user_perms"]), &[("editor", "kojiadmin".into())]).await;
    let r = rows(&ed, "user_perms")
        .iter()
        .find(|r| s(r, "user.name") == Some("alice"))
        .unwrap();
    assert_eq!(r.get("_created_by"), Some(&Value::Bool(true)));
    assert_eq!(r.get("_revoked_by"), Some(&Value::Nil));
    let after = history(
        a,
        Some(&["tag_config"]),
        &[("afterEvent", first_event.into())],
    )
    .await;
    let tc = rows(&after, "tag_config");
    // the first version was created before the event and revoked after it
    let old = tc
        .iter()
        .find(|r| {
            r.get("locked") == Some(&Value::Bool(false)) && s(r, "tag.name") == Some("h-child")
        })
        .unwrap();
    assert_eq!(old.get("_created_after_event"), Some(&Value::Bool(false)));
    assert_eq!(old.get("_revoked_after_event"), Some(&Value::Bool(true)));
    assert!(
        tc.iter().all(|r| s(r, "tag.name") != Some("h-parent")),
        "{tc:?}"
    );
    let before = history(
        a,
        Some(&["tag_config"]),
        &[("beforeEvent", (first_event + 1).into())],
    )
    .await;
    assert_eq!(
        rows(&before, "tag_config").len(),
        2,
        "both tags' first versions"
    );
    // times: seconds since the epoch and date strings
    let future = history(
        a,
        Some(&["tag_config"]),
        &[("after", Value::Double(4_000_000_000.0))],
    )
    .await;
    assert!(rows(&future, "tag_config").is_empty());
    let past = history(a, Some(&["tag_config"]), &[("after", "2001-01-01".into())]).await;
    assert_eq!(rows(&past, "tag_config").len(), 3);
    assert_eq!(
        rows(&past, "tag_config")[0].get("_created_after"),
        Some(&Value::Bool(true))
    );

    // queryOpts: count, order, limit
    let count = history(
        a,
        Some(&["tag_config", "cg_users"]),
        &[("queryOpts", koji_protocol::kstruct! { "countOnly" => true })],
    )
    .await;
    assert_eq!(count.get("tag_config"), Some(&Value::Int(3)));
    assert_eq!(count.get("cg_users"), Some(&Value::Int(0)));
    let last = history(
        a,
        Some(&["tag_config"]),
        &[(
            "queryOpts",
            koji_protocol::kstruct! { "order" => "-create_event", "limit" => 1 },
        )],
    )
    .await;
    let last = rows(&last, "tag_config");
    assert_eq!(
        (last.len(), last[0].get("locked")),
        (1, Some(&Value::Bool(true)))
    );

    // anonymous callers read history too
    let anon = farm.anon();
    let h2 = history(&anon, Some(&["tag_packages"]), &[("tag", "h-child".into())]).await;
    assert_eq!(rows(&h2, "tag_packages").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_history_questions_are_koji_faults() {
    let farm = Farm::start().await;
    let a = farm.admin().await;
    let q = |tables: Option<Vec<Value>>, opts: Vec<(&'static str, Value)>| {
        let a = &a;
        async move {
            let args = tables.map(|t| vec![Value::Array(t)]).unwrap_or_default();
            fault(a.call_kw("queryHistory", args, kw(&opts)).await)
        }
    };
    let (code, msg) = q(Some(vec!["tag_listing".into(), "nosuch".into()]), vec![]).await;
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such history table: nosuch")
    );
    let (code, msg) = q(None, vec![("tag", "nosuch".into())]).await;
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such entry in table tag: nosuch")
    );
    let (code, msg) = q(None, vec![("permission", "nosuch".into())]).await;
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such entry in table permissions: nosuch")
    );
    let (code, msg) = q(None, vec![("group", "nosuch".into())]).await;
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such entry in table groups: nosuch")
    );
    let (code, msg) = q(None, vec![("cg", "mycg".into())]).await;
    assert_eq!(
        (code, msg.as_str()),
        (
            codes::GENERIC,
            "No such entry in table content_generator: mycg"
        )
    );
    let (code, msg) = q(None, vec![("user", "nosuch".into())]).await;
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.contains("No such user"), "{msg}");
    let (code, msg) = q(None, vec![("build", "nosuch-1-1".into())]).await;
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.contains("No such build"), "{msg}");
    // bad types and values
    let (code, msg) = q(None, vec![("tag", Value::Array(vec![]))]).await;
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (code, msg) = q(None, vec![("after", "yesterday-ish".into())]).await;
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (code, msg) = q(None, vec![("afterEvent", "x".into())]).await;
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (code, msg) = q(None, vec![("queryOpts", "limit=1".into())]).await;
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (code, msg) = q(
        None,
        vec![("queryOpts", koji_protocol::kstruct! { "limit" => "ten" })],
    )
    .await;
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (code, msg) = q(
        Some(vec!["tag_config".into()]),
        vec![("queryOpts", koji_protocol::kstruct! { "order" => "nosuch" })],
    )
    .await;
    assert_eq!(
        (code, msg.as_str()),
        (codes::PARAMETER, "Invalid order field: nosuch")
    );
    // a table Koji has and kkoji does not answers nothing; unknown keywords are ignored
    let h = a
        .call_kw(
            "queryHistory",
            vec![Value::Array(vec!["user_groups".into()])],
            kw(&[("utc", true.into())]),
        )
        .await
        .unwrap();
    assert_eq!(
        h,
        koji_protocol::kstruct! { "user_groups" => Value::Array(vec![]) }
    );
}

/// queryHistory reads inside the call's transaction (with a plan setting of its own, undone
/// at its end): in a multicall its answers, a faulting history entry and the writes around
/// them each come out as they would alone, and the batch commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_in_a_multicall_beside_writes() {
    let farm = Farm::start().await;
    let a = farm.admin().await;
    let by_tag = |t: &str| {
        vec![koji_protocol::Value::Struct(kw(&[
            ("tag", t.into()),
            ("__starstar", true.into()),
        ]))]
    };
    let results = a
        .multicall(vec![
            ("createTag".into(), vec!["mch-1".into()]),
            ("queryHistory".into(), by_tag("mch-1")),
            ("queryHistory".into(), by_tag("nosuch")),
            ("createTag".into(), vec!["mch-2".into()]),
            ("queryHistory".into(), by_tag("mch-2")),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    for i in [0, 1, 3, 4] {
        assert!(results[i].is_ok(), "entry {i}: {:?}", results[i]);
    }
    assert_eq!(
        results[2].as_ref().unwrap_err().string,
        "No such entry in table tag: nosuch"
    );
    for (i, name) in [(1, "mch-1"), (4, "mch-2")] {
        let h = results[i].as_ref().unwrap();
        let cfg = rows(h, "tag_config");
        assert_eq!(cfg.len(), 1, "{name}: {h:?}");
        assert_eq!(s(&cfg[0], "tag.name"), Some(name));
    }
    // both writes committed with the batch
    for name in ["mch-1", "mch-2"] {
        let h = history(&a, Some(&["tag_config"]), &[("tag", name.into())]).await;
        assert_eq!(rows(&h, "tag_config").len(), 1, "{name}");
    }
}
