//! Users, permissions, hosts and channels through the stock koji CLI. All tests share one farm;
//! each uses its own host/user/channel names.

use std::collections::BTreeSet;

use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    hello_greets_the_admin,
    moshimoshi_is_hello,
    first_login_creates_a_normal_user,
    add_user_and_disabled_user,
    grant_and_list_permissions,
    add_host_shows_in_list_hosts_and_hostinfo,
    edit_host_changes_fields,
    enable_and_disable_host,
    list_hosts_filters,
    add_host_to_channel_and_list_channels,
);

/// `NAME added: id N` → N
#[track_caller]
fn added_host_id(out: &Output, name: &str) -> i64 {
    let prefix = format!("{name} added: id ");
    let line = out
        .lines()
        .into_iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}N` line:\n{out}"));
    line[prefix.len()..]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("bad id in {line:?}:\n{out}"))
}

/// Data rows of a `--quiet` listing: the first column of each line.
fn names(out: &Output) -> BTreeSet<String> {
    out.first_columns().into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The `Channels:` line of `hostinfo`, as a set.
#[track_caller]
fn hostinfo_channels(farm: &Farm, host: &str) -> BTreeSet<String> {
    let out = farm.koji(&["hostinfo", host]).ok();
    let line = out
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Channels:"))
        .unwrap_or_else(|| panic!("no Channels: line:\n{out}"))
        .to_string();
    line["Channels:".len()..]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn check_hello(farm: &Farm, command: &str) {
    let out = farm.koji(&[command]).ok();
    let lines = out.lines();
    assert!(
        lines.first().is_some_and(|l| l.ends_with(", kojiadmin!")),
        "first line must be `<greeting>, kojiadmin!`:\n{out}"
    );
    let hub_line = format!(
        "You are using the hub at {} (Koji {})",
        farm.server_url(),
        kkoji_e2e::KOJI_VERSION
    );
    assert!(
        lines.contains(&hub_line.as_str()),
        "missing {hub_line:?}:\n{out}"
    );
    let cert = farm
        .conf_value("cert")
        .expect("koji.conf has a cert = line");
    let auth_line = format!("Authenticated via client certificate {cert}");
    assert!(
        lines.contains(&auth_line.as_str()),
        "missing {auth_line:?}:\n{out}"
    );
    assert!(
        out.stdout.contains("kojiadmin.pem"),
        "the admin certificate is STATE/certs/users/kojiadmin.pem:\n{out}"
    );
}

fn hello_greets_the_admin(farm: &Farm) {
    check_hello(farm, "hello");
}

fn moshimoshi_is_hello(farm: &Farm) {
    check_hello(farm, "moshimoshi");
}

fn first_login_creates_a_normal_user(farm: &Farm) {
    // Unknown before the first login…
    farm.koji(&["call", "getUser", "e2e-newcomer"])
        .ok()
        .stdout_is("None");
    // …created (LoginCreatesUser) as a NORMAL, non-admin user by it.
    farm.koji_as("e2e-newcomer", &["hello"])
        .ok()
        .stdout_has(", e2e-newcomer!")
        .stdout_has("Authenticated via client certificate ");
    let user = farm.call_json(&["getUser", "e2e-newcomer"]);
    assert_eq!(user["name"], "e2e-newcomer", "{user}");
    assert_eq!(user["status"], 0, "status NORMAL: {user}");
    assert_eq!(user["usertype"], 0, "usertype NORMAL: {user}");
    assert!(user["id"].is_i64(), "{user}");
    // No permissions at all, in particular not admin.
    let perms = farm
        .koji(&["list-permissions", "--quiet", "--user", "e2e-newcomer"])
        .ok();
    assert!(
        perms.stdout.trim().is_empty(),
        "no permissions expected:\n{perms}"
    );
    let has_admin = farm
        .koji_as("e2e-newcomer", &["call", "hasPerm", "admin"])
        .ok();
    has_admin.stdout_is("False");
}

fn add_user_and_disabled_user(farm: &Farm) {
    let out = farm.koji(&["add-user", "e2e-user1"]).ok();
    let user = farm.call_json(&["getUser", "e2e-user1"]);
    let id = user["id"].as_i64().expect("user id");
    out.stdout_is(&format!("Added user e2e-user1 ({id})"));
    assert_eq!(user["status"], 0, "{user}");
    assert_eq!(user["usertype"], 0, "{user}");

    let out = farm.koji(&["add-user", "--disable", "e2e-blocked"]).ok();
    let blocked = farm.call_json(&["getUser", "e2e-blocked"]);
    let bid = blocked["id"].as_i64().expect("user id");
    out.stdout_is(&format!("Added user e2e-blocked ({bid})"));
    assert_eq!(blocked["status"], 1, "status BLOCKED: {blocked}");
    // A blocked user cannot log in, even with a valid certificate.
    farm.koji_as("e2e-blocked", &["hello"])
        .fails_with(1)
        .stderr_has("AuthError")
        .stderr_has("logins by e2e-blocked are not allowed")
        .stdout_lacks("e2e-blocked!");
}

fn grant_and_list_permissions(farm: &Farm) {
    let user = "e2e-perm-user";
    farm.koji_as(user, &["hello"]).ok();
    // Without the permission the CLI refuses before calling the hub.
    farm.koji_as(user, &["add-tag", "e2e-perm-tag"])
        .fails_with(2)
        .stderr_has("This action requires tag or admin privileges");

    farm.koji(&["grant-permission", "tag", user])
        .ok()
        .stdout_empty();
    let out = farm.koji(&["list-permissions", "--user", user]).ok();
    let lines: Vec<&str> = out.lines().iter().map(|l| l.trim_end()).collect();
    assert_eq!(
        lines,
        vec!["Permission name", "------------------", "tag"],
        "{out}"
    );

    // --new creates the permission (with its description) and grants it.
    farm.koji(&[
        "grant-permission",
        "--new",
        "--description",
        "E2E test permission",
        "e2e-special",
        user,
    ])
    .ok()
    .stdout_empty();
    let all = farm.koji(&["list-permissions"]).ok();
    let special = all
        .lines()
        .into_iter()
        .find(|l| l.split_whitespace().next() == Some("e2e-special"))
        .unwrap_or_else(|| panic!("e2e-special not listed:\n{all}"))
        .to_string();
    assert!(special.contains("E2E test permission"), "{all}");
    for stock in ["admin", "host", "tag", "target", "repo"] {
        assert!(
            all.row(stock).is_some(),
            "stock permission {stock} missing:\n{all}"
        );
    }

    let mine = farm
        .koji_as(user, &["list-permissions", "--mine", "--quiet"])
        .ok();
    assert_eq!(names(&mine), set(&["e2e-special", "tag"]), "{mine}");
    let by_admin = farm
        .koji(&["list-permissions", "--user", user, "--quiet"])
        .ok();
    assert_eq!(names(&by_admin), set(&["e2e-special", "tag"]), "{by_admin}");

    // The permission works: the user may now create tags.
    farm.koji_as(user, &["add-tag", "e2e-perm-tag"]).ok();
    let tag = farm.call_json(&["getTag", "e2e-perm-tag"]);
    assert_eq!(tag["name"], "e2e-perm-tag", "{tag}");

    // Granting twice is an error; nothing changes.
    farm.koji(&["grant-permission", "tag", user])
        .fails_with(1)
        .stderr_has("GenericError")
        .stderr_has("already has permission");
    // Unknown permission without --new.
    farm.koji(&["grant-permission", "e2e-nosuchperm", user])
        .fails_with(1)
        .stderr_has("GenericError")
        .stderr_has("e2e-nosuchperm");
    // Unknown user.
    farm.koji(&["grant-permission", "tag", "e2e-nosuchuser"])
        .fails_with(2)
        .stderr_has("No such user: e2e-nosuchuser");
    let after = farm
        .koji(&["list-permissions", "--user", user, "--quiet"])
        .ok();
    assert_eq!(names(&after), set(&["e2e-special", "tag"]), "{after}");
    let all_after = farm.koji(&["list-permissions", "--quiet"]).ok();
    assert!(all_after.row("e2e-nosuchperm").is_none(), "{all_after}");
}

fn add_host_shows_in_list_hosts_and_hostinfo(farm: &Farm) {
    let host = "e2e-h1.example.com";
    let out = farm.koji(&["add-host", host, "x86_64", "aarch64"]).ok();
    let id = added_host_id(&out, host);
    out.stdout_is(&format!("{host} added: id {id}"));

    let list = farm.koji(&["list-hosts"]).ok();
    assert!(
        list.lines()[0].starts_with("Hostname") && list.lines()[0].contains("Load/Cap"),
        "header expected:\n{list}"
    );
    assert_eq!(
        list.expect_row(host),
        [
            "e2e-h1.example.com",
            "Y",
            "N",
            "0.0/2.0",
            "x86_64,aarch64",
            "-"
        ],
        "{list}"
    );

    let expected = format!(
        "Name: {host}\nID: {id}\nArches: x86_64 aarch64\nCapacity: 2.0\nTask Load: 0.00\n\
         Description:\nComment:\nEnabled: yes\nReady: no\nLast Update: never\n\
         Channels: default\nActive Buildroots:\nNone"
    );
    farm.koji(&["hostinfo", host]).ok().stdout_is(&expected);
    // An all-digit argument is looked up as the host id.
    farm.koji(&["hostinfo", &id.to_string()])
        .ok()
        .stdout_is(&expected);

    let info = farm.call_json(&["getHost", host]);
    assert_eq!(info["id"], id, "{info}");
    assert_eq!(info["name"], host, "{info}");
    assert_eq!(info["arches"], "x86_64 aarch64", "{info}");
    assert_eq!(info["capacity"], 2.0, "{info}");
    assert_eq!(info["task_load"], 0.0, "{info}");
    assert_eq!(info["enabled"], true, "{info}");
    assert_eq!(info["ready"], false, "{info}");
    assert!(info["update_ts"].is_null(), "{info}");
    assert!(info["description"].is_null(), "{info}");
    assert!(info["comment"].is_null(), "{info}");
    // The host got a user of type HOST.
    let user = farm.call_json(&["getUser", host]);
    assert_eq!(user["usertype"], 1, "usertype HOST: {user}");
    assert_eq!(info["user_id"], user["id"], "{info} vs {user}");
}

fn edit_host_changes_fields(farm: &Farm) {
    let host = "e2e-edit";
    farm.koji(&["add-host", host, "x86_64"]).ok();
    farm.koji(&[
        "edit-host",
        host,
        "--arches",
        "x86_64,i686",
        "--capacity",
        "3.5",
        "--description",
        "Rack 4, shelf 2",
        "--comment",
        "new disk",
    ])
    .ok()
    .stdout_is(&format!("Edited {host}"));
    let info = farm.koji(&["hostinfo", host]).ok();
    for line in [
        "Arches: x86_64 i686",
        "Capacity: 3.5",
        "Description: Rack 4, shelf 2",
        "Comment: new disk",
        "Enabled: yes",
    ] {
        assert!(info.lines().contains(&line), "missing {line:?}:\n{info}");
    }
    let list = farm.koji(&["list-hosts"]).ok();
    assert_eq!(
        list.expect_row(host),
        ["e2e-edit", "Y", "N", "0.0/3.5", "x86_64,i686", "-"],
        "{list}"
    );
    // Same values again: nothing to change.
    farm.koji(&[
        "edit-host",
        host,
        "--capacity",
        "3.5",
        "--comment",
        "new disk",
    ])
    .ok()
    .stdout_is(&format!("No changes made to {host}"));
    // One more field at a time.
    farm.koji(&["edit-host", host, "--comment", "disk replaced"])
        .ok()
        .stdout_is(&format!("Edited {host}"));
    let info = farm.call_json(&["getHost", host]);
    assert_eq!(info["comment"], "disk replaced", "{info}");
    assert_eq!(info["description"], "Rack 4, shelf 2", "{info}");
    assert_eq!(info["capacity"], 3.5, "{info}");
    assert_eq!(info["arches"], "x86_64 i686", "{info}");
}

fn enable_and_disable_host(farm: &Farm) {
    let host = "e2e-toggle";
    farm.koji(&["add-host", host, "x86_64"]).ok();
    farm.koji(&["disable-host", "--comment", "disk swap", host])
        .ok()
        .stdout_empty();
    let info = farm.koji(&["hostinfo", host]).ok();
    assert!(info.lines().contains(&"Enabled: no"), "{info}");
    assert!(info.lines().contains(&"Comment: disk swap"), "{info}");
    let disabled = farm.koji(&["list-hosts", "--disabled"]).ok();
    assert_eq!(
        disabled.expect_row(host),
        ["e2e-toggle", "N", "N", "0.0/2.0", "x86_64", "-"],
        "{disabled}"
    );
    let enabled = farm.koji(&["list-hosts", "--enabled", "--quiet"]);
    assert!(enabled.row(host).is_none(), "{enabled}");

    farm.koji(&["enable-host", host]).ok().stdout_empty();
    let info = farm.koji(&["hostinfo", host]).ok();
    assert!(info.lines().contains(&"Enabled: yes"), "{info}");
    assert!(info.lines().contains(&"Comment: disk swap"), "{info}");
    let enabled = farm.koji(&["list-hosts", "--enabled"]).ok();
    assert_eq!(enabled.expect_row(host)[1], "Y", "{enabled}");

    // Unknown host: nothing is changed, for any host named.
    farm.koji(&["disable-host", host, "e2e-nosuchhost"])
        .fails_with(1)
        .stdout_has("No such host: e2e-nosuchhost")
        .stderr_has("No changes made. Please correct the command line.");
    let info = farm.call_json(&["getHost", host]);
    assert_eq!(info["enabled"], true, "{info}");
}

fn list_hosts_filters(farm: &Farm) {
    farm.koji(&["add-host", "e2e-ppc", "ppc64le"]).ok();
    farm.koji(&["add-host", "e2e-s390", "s390x"]).ok();
    farm.koji(&["add-host-to-channel", "e2e-ppc", "createrepo"])
        .ok();

    let ppc = farm
        .koji(&["list-hosts", "--quiet", "--arch", "ppc64le"])
        .ok();
    assert_eq!(names(&ppc), set(&["e2e-ppc"]), "{ppc}");
    let both = farm
        .koji(&[
            "list-hosts",
            "--quiet",
            "--arch",
            "ppc64le",
            "--arch",
            "s390x",
        ])
        .ok();
    assert_eq!(names(&both), set(&["e2e-ppc", "e2e-s390"]), "{both}");
    farm.koji(&["list-hosts", "--arch", "e2enosucharch"])
        .ok()
        .stdout_empty()
        .stderr_has("No hosts found.");

    let chan = farm
        .koji(&["list-hosts", "--quiet", "--channel", "createrepo"])
        .ok();
    let in_chan = names(&chan);
    assert!(in_chan.contains("e2e-ppc"), "{chan}");
    assert!(!in_chan.contains("e2e-s390"), "{chan}");
    farm.koji(&["list-hosts", "--channel", "e2e-nosuchchannel"])
        .fails_with(2)
        .stderr_has("No such channel: e2e-nosuchchannel");

    // These hosts never checked in, so they are not ready; --ready lists only ready hosts
    // (quickstart's local builder may or may not be, depending on the machine's load).
    farm.koji(&["list-hosts", "--ready", "--arch", "ppc64le"])
        .ok()
        .stdout_empty()
        .stderr_has("No hosts found.");
    let ready = farm.koji(&["list-hosts", "--ready", "--quiet"]).ok();
    for line in ready.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols.get(2),
            Some(&"Y"),
            "only ready hosts expected:\n{ready}"
        );
    }
    let not_ready = farm
        .koji(&["list-hosts", "--quiet", "--not-ready", "--arch", "ppc64le"])
        .ok();
    assert_eq!(names(&not_ready), set(&["e2e-ppc"]), "{not_ready}");
    farm.koji(&["list-hosts", "--quiet", "--enabled", "--arch", "s390x"])
        .ok()
        .expect_row("e2e-s390");

    let with_channels = farm
        .koji(&["list-hosts", "--show-channels", "--arch", "ppc64le"])
        .ok();
    assert!(
        with_channels.lines()[0].trim_end().ends_with("Channels"),
        "{with_channels}"
    );
    assert_eq!(
        with_channels.expect_row("e2e-ppc"),
        [
            "e2e-ppc",
            "Y",
            "N",
            "0.0/2.0",
            "ppc64le",
            "-",
            "createrepo,default"
        ],
        "{with_channels}"
    );
}

fn add_host_to_channel_and_list_channels(farm: &Farm) {
    let host = "e2e-chan";
    farm.koji(&["add-host", host, "x86_64"]).ok();
    assert_eq!(hostinfo_channels(farm, host), set(&["default"]));

    farm.koji(&["add-host-to-channel", host, "createrepo"])
        .ok()
        .stdout_empty();
    assert_eq!(
        hostinfo_channels(farm, host),
        set(&["default", "createrepo"])
    );

    // --new creates the channel.
    farm.koji(&["add-host-to-channel", "--new", host, "e2e-newchan"])
        .ok()
        .stdout_empty();
    assert_eq!(
        hostinfo_channels(farm, host),
        set(&["default", "createrepo", "e2e-newchan"])
    );
    let chan = farm.call_json(&["getChannel", "e2e-newchan"]);
    assert_eq!(chan["name"], "e2e-newchan", "{chan}");
    assert!(chan["id"].is_i64(), "{chan}");

    let list = farm.koji(&["list-channels"]).ok();
    assert!(list.lines()[0].starts_with("Channel"), "{list}");
    // name, enabled hosts, ready, disabled, load, capacity, load %
    assert_eq!(
        list.expect_row("e2e-newchan"),
        ["e2e-newchan", "1", "0", "0", "0", "2", "0%"],
        "{list}"
    );
    let simple = farm.koji(&["list-channels", "--simple", "--quiet"]).ok();
    let all = names(&simple);
    for c in ["default", "createrepo", "e2e-newchan"] {
        assert!(all.contains(c), "channel {c} missing:\n{simple}");
    }

    // Already a member: refused, membership unchanged.
    farm.koji(&["add-host-to-channel", host, "createrepo"])
        .fails_with(1)
        .stderr_has("GenericError")
        .stderr_has("already subscribed");
    // Unknown channel without --new: the CLI stops before calling addHostToChannel.
    farm.koji(&["add-host-to-channel", host, "e2e-nosuchchan"])
        .fails_with(1)
        .stderr_has("No such channel: e2e-nosuchchan");
    assert_eq!(
        hostinfo_channels(farm, host),
        set(&["default", "createrepo", "e2e-newchan"])
    );
    farm.koji(&["call", "getChannel", "e2e-nosuchchan"])
        .ok()
        .stdout_is("None");
}
