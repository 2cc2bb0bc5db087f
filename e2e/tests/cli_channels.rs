//! Users, channels and storage volumes as an admin changes them, through the stock koji CLI:
//! what each command prints, a second command showing the change, and the refusals (not an
//! admin, unknown names, a volume without its directory) leaving things as they were.

use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    add_edit_disable_and_enable_a_channel,
    channel_refusals_change_nothing,
    edit_user_renames_and_changes_principals,
    volumes_need_their_directory,
);

/// `list-channels --quiet` rows: name (with ` [disabled]`), then the columns.
fn channel_rows(farm: &Farm, extra: &[&str]) -> Output {
    let mut args = vec!["list-channels", "--quiet"];
    args.extend_from_slice(extra);
    farm.koji(&args).ok()
}

fn add_edit_disable_and_enable_a_channel(farm: &Farm) {
    let out = farm
        .koji(&["add-channel", "--description", "e2e builders", "e2e-chan"])
        .ok();
    let id = farm.call_json(&["getChannel", "e2e-chan"])["id"]
        .as_i64()
        .expect("channel id");
    out.stdout_is(&format!("e2e-chan added: id {id}"));
    let rows = channel_rows(farm, &["--description"]);
    let row = rows.expect_row("e2e-chan");
    // name, enabled, ready, disabled, load, capacity, percent, then the description
    assert_eq!(&row[1..7], ["0", "0", "0", "0", "0", "0%"], "{rows}");
    assert_eq!(row[7..].join(" "), "e2e builders", "{rows}");

    farm.koji(&[
        "edit-channel",
        "e2e-chan",
        "--name",
        "e2e-chan2",
        "--comment",
        "rack 4",
    ])
    .ok()
    .stdout_empty();
    let simple = farm.koji(&["list-channels", "--simple", "--quiet"]).ok();
    let names = simple.first_columns();
    assert!(names.contains(&"e2e-chan2".to_string()), "{simple}");
    assert!(!names.contains(&"e2e-chan".to_string()), "{simple}");
    let chan = farm.call_json(&["getChannel", "e2e-chan2"]);
    assert_eq!(chan["id"].as_i64(), Some(id), "{chan}");
    assert_eq!(chan["comment"], "rack 4", "{chan}");
    // the same values again: Koji's CLI reports that nothing changed
    farm.koji(&["edit-channel", "e2e-chan2", "--comment", "rack 4"])
        .fails_with(1)
        .stderr_has("No changes made, please correct the command line");

    farm.koji(&["disable-channel", "--comment", "maintenance", "e2e-chan2"])
        .ok()
        .stdout_empty();
    let rows = channel_rows(farm, &["--comment"]);
    let line = rows
        .lines()
        .into_iter()
        .find(|l| l.starts_with("e2e-chan2 [disabled]"))
        .unwrap_or_else(|| panic!("e2e-chan2 not shown as disabled:\n{rows}"))
        .to_string();
    assert!(line.trim_end().ends_with("maintenance"), "{rows}");
    let enabled = farm
        .koji(&["list-channels", "--simple", "--quiet", "--enabled"])
        .ok();
    assert!(!enabled.stdout.contains("e2e-chan2"), "{enabled}");

    farm.koji(&["enable-channel", "e2e-chan2"])
        .ok()
        .stdout_empty();
    let rows = channel_rows(farm, &[]);
    assert!(rows.row("e2e-chan2").is_some(), "{rows}");
    assert!(!rows.stdout.contains("e2e-chan2 [disabled]"), "{rows}");
    let chan = farm.call_json(&["getChannel", "e2e-chan2"]);
    assert_eq!(chan["enabled"], true, "{chan}");
    assert_eq!(chan["comment"], "maintenance", "{chan}");
}

fn channel_refusals_change_nothing(farm: &Farm) {
    farm.koji(&["add-channel", "e2e-refuse"]).ok();
    let before = farm
        .koji(&["list-channels", "--quiet", "--comment", "--description"])
        .ok();

    farm.koji(&["add-channel", "e2e-refuse"])
        .fails_with(1)
        .stderr_has("channel e2e-refuse already exists");
    farm.koji(&["edit-channel", "e2e-nosuch", "--comment", "x"])
        .fails_with(1)
        .stderr_has("No such channel: e2e-nosuch");
    farm.koji(&["disable-channel", "e2e-refuse", "e2e-nosuch"])
        .fails_with(1)
        .stdout_has("No such channel: e2e-nosuch")
        .stderr_has("No changes made. Please correct the command line.");
    farm.koji(&["edit-channel", "e2e-refuse", "--name", "default"])
        .fails_with(1)
        .stderr_has("channel default already exists");
    let user = "e2e-chan-user";
    farm.koji_as(user, &["add-channel", "e2e-mine"])
        .fails_with(1)
        .stderr_has("admin permission required");
    // Koji's CLI sends disable-channel as a non-strict multicall: the hub's refusal is not
    // shown, and the listing below proves nothing changed.
    farm.koji_as(user, &["disable-channel", "e2e-refuse"]).ok();
    assert_eq!(
        farm.call_json(&["getChannel", "e2e-refuse"])["enabled"],
        true
    );
    farm.koji_as(user, &["edit-channel", "e2e-refuse", "--comment", "mine"])
        .fails_with(1)
        .stderr_has("admin permission required");

    let after = farm
        .koji(&["list-channels", "--quiet", "--comment", "--description"])
        .ok();
    // the other tests share the farm: compare the rows this one touched
    for name in ["e2e-refuse", "default"] {
        let cols = |o: &Output| o.row(name).map(|r| r[1..].to_vec());
        assert_eq!(cols(&before), cols(&after), "{name}:\n{before}\n{after}");
    }
    assert!(after.row("e2e-mine").is_none(), "{after}");
}

fn edit_user_renames_and_changes_principals(farm: &Farm) {
    farm.koji(&["add-user", "--principal", "e2e-ren@EXAMPLE.COM", "e2e-ren"])
        .ok();
    farm.koji(&[
        "edit-user",
        "e2e-ren",
        "--rename",
        "e2e-renamed",
        "--edit-krb",
        "e2e-ren@EXAMPLE.COM=e2e-renamed@EXAMPLE.COM",
        "--add-krb",
        "e2e-extra@EXAMPLE.COM",
    ])
    .ok()
    .stdout_empty();
    let info = farm.koji(&["userinfo", "e2e-renamed"]).ok();
    let lines = info.lines();
    assert_eq!(
        lines.first().copied(),
        Some("User name: e2e-renamed"),
        "{info}"
    );
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("User ID: ")),
        "{info}"
    );
    assert_eq!(lines.get(2).copied(), Some("krb principals:"), "{info}");
    let mut princs: Vec<&str> = lines[3..5].iter().map(|l| l.trim()).collect();
    princs.sort();
    assert_eq!(
        princs,
        ["e2e-extra@EXAMPLE.COM", "e2e-renamed@EXAMPLE.COM"],
        "{info}"
    );
    assert!(lines.contains(&"Status: NORMAL"), "{info}");
    assert!(lines.contains(&"Number of builds: 0"), "{info}");
    farm.koji(&["userinfo", "e2e-ren"])
        .stderr_has("No such user: e2e-ren");

    // refusals: unknown user, a principal it does not have, a taken name, not an admin
    farm.koji(&["edit-user", "e2e-nosuch", "--rename", "x"])
        .fails_with(1)
        .stderr_has("No such user: 'e2e-nosuch'");
    farm.koji(&[
        "edit-user",
        "e2e-renamed",
        "--remove-krb",
        "gone@EXAMPLE.COM",
    ])
    .fails_with(1)
    .stderr_has("Cannot remove non-existent Kerberos principals: gone@EXAMPLE.COM");
    farm.koji(&["edit-user", "e2e-renamed", "--rename", "kojiadmin"])
        .fails_with(1)
        .stderr_has("Name kojiadmin already taken by user");
    farm.koji_as(
        "e2e-ren-user",
        &["edit-user", "e2e-renamed", "--rename", "mallory"],
    )
    .fails_with(1)
    .stderr_has("admin permission required");
    let after = farm.koji(&["userinfo", "e2e-renamed"]).ok();
    assert_eq!(info.stdout, after.stdout);
}

fn volumes_need_their_directory(farm: &Farm) {
    let before = farm.koji(&["list-volumes"]).ok();
    assert!(before.lines().contains(&"DEFAULT"), "{before}");
    farm.koji(&["add-volume", "e2e-vol"])
        .fails_with(1)
        .stderr_has("please create the volume directory first");
    farm.koji_as("e2e-vol-user", &["add-volume", "e2e-vol"])
        .fails_with(1)
        .stderr_has("admin permission required");
    farm.koji(&["list-volumes"])
        .ok()
        .stdout_is(before.stdout.trim());

    std::fs::create_dir_all(farm.topdir().join("vol/e2e-vol")).expect("volume dir");
    let out = farm.koji(&["add-volume", "e2e-vol"]).ok();
    let id = farm.call_json(&["getVolume", "e2e-vol"])["id"]
        .as_i64()
        .expect("volume id");
    out.stdout_is(&format!("Added volume e2e-vol with id {id}"));
    let after = farm.koji(&["list-volumes"]).ok();
    assert!(after.lines().contains(&"DEFAULT"), "{after}");
    assert!(after.lines().contains(&"e2e-vol"), "{after}");
    farm.koji(&["add-volume", "e2e-vol"])
        .fails_with(1)
        .stderr_has("Volume e2e-vol already exists");

    farm.koji(&["set-build-volume", "e2e-nosuch-vol", "x-1-1"])
        .fails_with(1)
        .stderr_has("No such volume: e2e-nosuch-vol");
    farm.koji(&["set-build-volume", "e2e-vol", "e2e-nosuch-1-1"])
        .fails_with(1)
        .stdout_has("No such build: e2e-nosuch-1-1")
        .stderr_has("No builds to move");
}
