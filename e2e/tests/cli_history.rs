//! `koji list-history` through the stock koji CLI: changes made with the CLI (tags,
//! inheritance, package lists, comps groups, targets, tag options, hosts and channels,
//! permissions) read back with each filter (`--tag`, `--package`, `--user`, `--permission`,
//! `--group`, `--host`, `--channel`, `--build-target`, `--active`/`--revoked`, `-v`,
//! `--before`/`--after`), printed as Koji's CLI prints Koji's history; and the bad paths.
//! All tests share one farm; each uses its own names.

use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    list_history_shows_each_change_by_filter,
    list_history_refuses_bad_requests,
);

/// The lines of `list-history` without their local time stamp (`time.asctime`: 24
/// characters and a blank).
fn texts(out: &Output) -> Vec<String> {
    out.lines()
        .iter()
        .map(|l| {
            assert!(l.len() > 25 || l.starts_with("    "), "{out}");
            if l.starts_with("    ") {
                l.to_string()
            } else {
                l[25..].to_string()
            }
        })
        .collect()
}

#[track_caller]
fn history(farm: &Farm, args: &[&str]) -> Vec<String> {
    let mut a = vec!["list-history"];
    a.extend_from_slice(args);
    texts(&farm.koji(&a).ok())
}

fn last_event_ts(farm: &Farm) -> f64 {
    let e = farm.call_json(&["getLastEvent"]);
    e["ts"]
        .as_f64()
        .unwrap_or_else(|| panic!("getLastEvent: no ts in {e}"))
}

fn list_history_shows_each_change_by_filter(farm: &Farm) {
    farm.koji(&["add-tag", "hy-parent", "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-tag", "hy-child", "--parent", "hy-parent"])
        .ok();
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "hy-child", "hypkg"])
        .ok();
    farm.koji(&["add-group", "hy-child", "hygroup"]).ok();
    farm.koji(&["add-group-pkg", "hy-child", "hygroup", "bash"])
        .ok();
    farm.koji(&["add-target", "hy-target", "hy-parent", "hy-child"])
        .ok();
    farm.koji(&["edit-tag", "hy-child", "-x", "mock.new_chroot=0"])
        .ok();

    // --tag: everything about the tag, oldest first, as Koji words it
    assert_eq!(
        history(farm, &["--tag", "hy-child"]),
        [
            "new tag: hy-child by kojiadmin [still active]",
            "inheritance line hy-child->hy-parent added by kojiadmin [still active]",
            "package owner kojiadmin set for hypkg in hy-child by kojiadmin [still active]",
            "package list entry created: hypkg in hy-child by kojiadmin [still active]",
            "group hygroup added to tag hy-child by kojiadmin [still active]",
            "package bash added to group hygroup in tag hy-child by kojiadmin [still active]",
            "new build target: hy-target by kojiadmin [still active]",
            "added tag option mock.new_chroot for tag hy-child by kojiadmin [still active]",
        ]
    );
    // the parent: its own config and the inheritance line from the child
    assert_eq!(
        history(farm, &["--tag", "hy-parent"]),
        [
            "new tag: hy-parent by kojiadmin [still active]",
            "inheritance line hy-child->hy-parent added by kojiadmin [still active]",
        ]
    );
    // --package: the package list entry and its owner
    assert_eq!(
        history(farm, &["--package", "hypkg"]),
        [
            "package owner kojiadmin set for hypkg in hy-child by kojiadmin [still active]",
            "package list entry created: hypkg in hy-child by kojiadmin [still active]",
        ]
    );
    // --group (with --tag: only this tag's entries)
    assert_eq!(
        history(farm, &["--group", "hygroup", "--tag", "hy-child"]),
        [
            "group hygroup added to tag hy-child by kojiadmin [still active]",
            "package bash added to group hygroup in tag hy-child by kojiadmin [still active]",
        ]
    );
    assert_eq!(
        history(farm, &["--build-target", "hy-target"]),
        ["new build target: hy-target by kojiadmin [still active]"]
    );

    // -v: event ids, and each new entry's other fields
    let v = history(farm, &["--build-target", "hy-target", "-v"]);
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(
        v[0].starts_with("(eid ")
            && v[0].ends_with(") new build target: hy-target by kojiadmin [still active]"),
        "{v:?}"
    );
    assert_eq!(
        v[1..],
        ["    build_tag: hy-parent", "    dest_tag: hy-child"]
    );

    // permissions: granted, then revoked; --user, --permission, --active, --revoked,
    // --before and --after
    farm.koji(&["add-user", "hyuser"]).ok();
    let before_grant = last_event_ts(farm);
    farm.koji(&["grant-permission", "repo", "hyuser"]).ok();
    assert_eq!(
        history(farm, &["--user", "hyuser"]),
        ["permission repo granted to hyuser by kojiadmin [still active]"]
    );
    assert_eq!(
        history(farm, &["--user", "hyuser", "--active"]),
        ["permission repo granted to hyuser by kojiadmin [still active]"]
    );
    farm.koji(&["revoke-permission", "repo", "hyuser"]).ok();
    assert_eq!(
        history(farm, &["--user", "hyuser"]),
        [
            "permission repo granted to hyuser by kojiadmin",
            "permission repo revoked for hyuser by kojiadmin",
        ]
    );
    assert!(history(farm, &["--user", "hyuser", "--active"]).is_empty());
    assert_eq!(history(farm, &["--user", "hyuser", "--revoked"]).len(), 2);
    let perm = history(farm, &["--permission", "repo"]);
    assert!(
        perm.contains(&"permission repo revoked for hyuser by kojiadmin".to_string()),
        "{perm:?}"
    );
    let after = format!("{}", before_grant + 0.000_5);
    assert_eq!(
        history(farm, &["--user", "hyuser", "--after", &after]).len(),
        2
    );
    assert!(history(farm, &["--user", "hyuser", "--before", &after]).is_empty());

    // hosts: a new host joins the default channel; an edit is one "altered" line with
    // what changed
    farm.koji(&["add-host", "hyhost", "x86_64"]).ok();
    farm.koji(&["edit-host", "hyhost", "--capacity", "3"]).ok();
    assert_eq!(
        history(farm, &["--host", "hyhost"]),
        [
            "host hyhost added to channel default by kojiadmin [still active]",
            "new host: hyhost by kojiadmin",
            "host configuration for hyhost altered by kojiadmin [still active]",
            "    capacity: 2.0 -> 3.0",
        ]
    );
    farm.koji(&["add-host-to-channel", "hyhost", "createrepo"])
        .ok();
    let chan = history(farm, &["--channel", "createrepo"]);
    assert!(
        chan.contains(
            &"host hyhost added to channel createrepo by kojiadmin [still active]".to_string()
        ),
        "{chan:?}"
    );
}

fn list_history_refuses_bad_requests(farm: &Farm) {
    // no limit: the CLI refuses before asking
    farm.koji(&["list-history"])
        .fails_with(2)
        .stderr_has("Please specify an option to limit the query");
    // unknown names: Koji's faults
    farm.koji(&["list-history", "--tag", "hy-nosuch"])
        .fails_with(1)
        .stderr_has("No such entry in table tag: hy-nosuch");
    farm.koji(&["list-history", "--permission", "hy-nosuch"])
        .fails_with(1)
        .stderr_has("No such entry in table permissions: hy-nosuch");
    farm.koji(&["list-history", "--host", "hy-nosuch"])
        .fails_with(1)
        .stderr_has("No such host: hy-nosuch");
    farm.koji(&["list-history", "--show", "hy_nosuch", "--all"])
        .fails_with(1)
        .stderr_has("No such history table: hy_nosuch");
}
