//! Tags, inheritance, targets, package lists, `list-api` and `call` through the stock koji
//! CLI. All tests share one farm; each uses its own tag names.

use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    add_tag_with_parent_and_arches,
    edit_tag_settings,
    list_tags_glob,
    add_and_list_targets,
    add_and_list_pkgs,
    set_pkg_owner_and_arches,
    list_api_and_method_help,
    call_prints_results,
);

#[track_caller]
fn tag_id(farm: &Farm, name: &str) -> i64 {
    let tag = farm.call_json(&["getTag", name]);
    tag["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("getTag {name}: no integer id in {tag}"))
}

/// Stdout lines with trailing blanks removed (Python pads columns with `%-Ns`).
fn trimmed(out: &Output) -> Vec<String> {
    out.lines()
        .iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}

fn add_tag_with_parent_and_arches(farm: &Farm) {
    farm.koji(&["add-tag", "inh-grand", "--arches", "x86_64,aarch64"])
        .ok()
        .stdout_empty();
    farm.koji(&[
        "add-tag",
        "inh-base",
        "--parent",
        "inh-grand",
        "--arches",
        "x86_64",
    ])
    .ok()
    .stdout_empty();
    farm.koji(&["add-tag", "inh-child", "--parent", "inh-base"])
        .ok()
        .stdout_empty();
    let (g, b, c) = (
        tag_id(farm, "inh-grand"),
        tag_id(farm, "inh-base"),
        tag_id(farm, "inh-child"),
    );

    let grand = farm.call_json(&["getTag", "inh-grand"]);
    assert_eq!(grand["name"], "inh-grand", "{grand}");
    assert_eq!(grand["arches"], "x86_64 aarch64", "{grand}");
    assert_eq!(grand["locked"], false, "{grand}");
    assert!(
        grand["perm"].is_null() && grand["perm_id"].is_null(),
        "{grand}"
    );
    assert_eq!(grand["maven_support"], false, "{grand}");
    assert_eq!(grand["maven_include_all"], false, "{grand}");
    assert_eq!(grand["extra"], serde_json::json!({}), "{grand}");
    // Created without --arches: Koji stores and returns the empty string.
    let child = farm.call_json(&["getTag", "inh-child"]);
    assert_eq!(child["arches"], "", "{child}");

    farm.koji(&["list-tags", "inh-*"])
        .ok()
        .stdout_is("inh-base\ninh-child\ninh-grand");

    farm.koji(&["list-tag-inheritance", "inh-child"])
        .ok()
        .stdout_is(&format!(
            "     inh-child ({c})\n....  └─inh-base ({b})\n....     └─inh-grand ({g})"
        ));
    farm.koji(&["list-tag-inheritance", "inh-grand"])
        .ok()
        .stdout_is(&format!("     inh-grand ({g})"));
    farm.koji(&["list-tag-inheritance", "--reverse", "inh-grand"])
        .ok()
        .stdout_is(&format!(
            "     inh-grand ({g})\n....  └─inh-base ({b})\n....     └─inh-child ({c})"
        ));

    let data = farm.call_json(&["getInheritanceData", "inh-child"]);
    let links = data.as_array().expect("getInheritanceData returns a list");
    assert_eq!(links.len(), 1, "{data}");
    assert_eq!(links[0]["parent_id"], b, "{data}");
    assert_eq!(links[0]["priority"], 0, "{data}");
    assert!(links[0]["maxdepth"].is_null(), "{data}");
    assert_eq!(links[0]["intransitive"], false, "{data}");
    assert_eq!(links[0]["noconfig"], false, "{data}");

    // the CLI marks the link to drop with the key `delete link`, as Koji's hub reads it
    farm.koji(&["remove-tag-inheritance", "inh-child", "inh-base"])
        .ok();
    farm.koji(&["list-tag-inheritance", "inh-child"])
        .ok()
        .stdout_is(&format!("     inh-child ({c})"));
    let data = farm.call_json(&["getInheritanceData", "inh-child"]);
    assert_eq!(data, serde_json::json!([]), "{data}");
}

fn edit_tag_settings(farm: &Farm) {
    farm.koji(&["add-tag", "ed-tag", "--arches", "x86_64"]).ok();
    let id = tag_id(farm, "ed-tag");
    farm.koji(&[
        "edit-tag",
        "ed-tag",
        "--arches",
        "x86_64 i686",
        "--perm",
        "admin",
        "--lock",
        "-x",
        "mock.package_manager=dnf",
        "-x",
        "repo.lag=3600",
    ])
    .ok()
    .stdout_empty();
    let tag = farm.call_json(&["getTag", "ed-tag"]);
    assert_eq!(tag["arches"], "x86_64 i686", "{tag}");
    assert_eq!(tag["perm"], "admin", "{tag}");
    assert!(tag["perm_id"].is_i64(), "{tag}");
    assert_eq!(tag["locked"], true, "{tag}");
    assert_eq!(
        tag["extra"],
        serde_json::json!({"mock.package_manager": "dnf", "repo.lag": 3600}),
        "{tag}"
    );
    farm.koji(&["list-tags", "--verbose", "ed-tag"])
        .ok()
        .stdout_is("ed-tag [LOCKED] [admin perm required]");

    farm.koji(&[
        "edit-tag",
        "ed-tag",
        "--unlock",
        "--no-perm",
        "-r",
        "repo.lag",
    ])
    .ok()
    .stdout_empty();
    let tag = farm.call_json(&["getTag", "ed-tag"]);
    assert_eq!(tag["locked"], false, "{tag}");
    assert!(tag["perm"].is_null() && tag["perm_id"].is_null(), "{tag}");
    assert_eq!(
        tag["extra"],
        serde_json::json!({"mock.package_manager": "dnf"}),
        "{tag}"
    );
    farm.koji(&["list-tags", "--verbose", "ed-tag"])
        .ok()
        .stdout_is("ed-tag");

    farm.koji(&["edit-tag", "ed-tag", "--rename", "ed-tag-renamed"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-tags", "ed-tag*"])
        .ok()
        .stdout_is("ed-tag-renamed");
    farm.koji(&["call", "getTag", "ed-tag"])
        .ok()
        .stdout_is("None");
    let renamed = farm.call_json(&["getTag", "ed-tag-renamed"]);
    assert_eq!(renamed["id"], id, "renaming keeps the id: {renamed}");
    assert_eq!(renamed["arches"], "x86_64 i686", "{renamed}");
    // Lookup by id (an int argument) finds the renamed tag.
    let by_id = farm.call_json(&["getTag", &id.to_string()]);
    assert_eq!(by_id["name"], "ed-tag-renamed", "{by_id}");
}

fn list_tags_glob(farm: &Farm) {
    for t in ["glob-a", "glob-b", "globx-c"] {
        farm.koji(&["add-tag", t]).ok();
    }
    farm.koji(&["list-tags", "glob-*"])
        .ok()
        .stdout_is("glob-a\nglob-b");
    farm.koji(&["list-tags", "glob-?", "globx-*"])
        .ok()
        .stdout_is("glob-a\nglob-b\nglobx-c");
    farm.koji(&["list-tags", "e2e-nomatch-*"])
        .ok()
        .stdout_empty();
    let all = farm.koji(&["list-tags"]).ok();
    for t in ["glob-a", "glob-b", "globx-c"] {
        assert!(all.lines().contains(&t), "{t} missing:\n{all}");
    }
    let id = tag_id(farm, "globx-c");
    farm.koji(&["list-tags", "--show-id", "globx-*"])
        .ok()
        .stdout_is(&format!("globx-c [{id}]"));
}

fn add_and_list_targets(farm: &Farm) {
    farm.koji(&["add-tag", "tgt-build", "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-tag", "tgt-dest"]).ok();
    farm.koji(&["add-tag", "tgt-2"]).ok();
    farm.koji(&["add-target", "tgt-1", "tgt-build", "tgt-dest"])
        .ok()
        .stdout_empty();
    // Without a destination the target's own name is the destination tag.
    farm.koji(&["add-target", "tgt-2", "tgt-build"])
        .ok()
        .stdout_empty();

    let header = format!("{:<30} {:<30} {:<30}", "Name", "Buildroot", "Destination");
    let row = format!("{:<30} {:<30} {:<30}", "tgt-1", "tgt-build", "tgt-dest");
    farm.koji(&["list-targets", "--name", "tgt-1"])
        .ok()
        .stdout_is(&format!("{header}\n{}\n{row}", "-".repeat(93)));
    let all = farm.koji(&["list-targets", "--quiet"]).ok();
    assert_eq!(
        all.expect_row("tgt-1"),
        ["tgt-1", "tgt-build", "tgt-dest"],
        "{all}"
    );
    assert_eq!(
        all.expect_row("tgt-2"),
        ["tgt-2", "tgt-build", "tgt-2"],
        "{all}"
    );

    let t = farm.call_json(&["getBuildTarget", "tgt-1"]);
    assert_eq!(t["name"], "tgt-1", "{t}");
    assert_eq!(t["build_tag"], tag_id(farm, "tgt-build"), "{t}");
    assert_eq!(t["build_tag_name"], "tgt-build", "{t}");
    assert_eq!(t["dest_tag"], tag_id(farm, "tgt-dest"), "{t}");
    assert_eq!(t["dest_tag_name"], "tgt-dest", "{t}");
    assert!(t["id"].is_i64(), "{t}");

    // A build tag without arches cannot be a target's build tag (checked by the CLI).
    farm.koji(&["add-tag", "tgt-noarch"]).ok();
    farm.koji(&["add-target", "tgt-x", "tgt-noarch", "tgt-dest"])
        .fails_with(1)
        .stderr_has("Build tag has no arches: tgt-noarch");
    farm.koji(&["list-targets", "--name", "tgt-x"])
        .fails_with(2)
        .stderr_has("No such build target: tgt-x");
}

fn add_and_list_pkgs(farm: &Farm) {
    farm.koji(&["add-tag", "pkg-tag"]).ok();
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "pkg-tag", "foo", "bar"])
        .ok()
        .stdout_is("Adding 2 packages to tag pkg-tag");

    let list = farm.koji(&["list-pkgs", "--tag", "pkg-tag"]).ok();
    let lines = trimmed(&list);
    assert_eq!(
        lines[0],
        format!(
            "{:<23} {:<23} {:<16} {:<15}",
            "Package", "Tag", "Extra Arches", "Owner"
        )
        .trim_end(),
        "{list}"
    );
    assert_eq!(
        lines[1],
        format!(
            "{} {} {} {}",
            "-".repeat(23),
            "-".repeat(23),
            "-".repeat(16),
            "-".repeat(15)
        ),
        "{list}"
    );
    let mut rows: Vec<String> = lines[2..].to_vec();
    rows.sort();
    let row = |p: &str, arches: &str| {
        format!("{p:<23} {:<23} {arches:<16} {:<15}", "pkg-tag", "kojiadmin")
            .trim_end()
            .to_string()
    };
    assert_eq!(rows, vec![row("bar", ""), row("foo", "")], "{list}");

    // Already listed packages are skipped; new ones added (with extra arches).
    farm.koji(&[
        "add-pkg",
        "--owner",
        "kojiadmin",
        "--extra-arches",
        "i686",
        "pkg-tag",
        "foo",
        "baz",
    ])
    .ok()
    .stdout_is("Package foo already exists in tag pkg-tag\nAdding 1 packages to tag pkg-tag");
    let list = farm
        .koji(&["list-pkgs", "--quiet", "--tag", "pkg-tag"])
        .ok();
    assert_eq!(
        list.expect_row("baz"),
        ["baz", "pkg-tag", "i686", "kojiadmin"],
        "{list}"
    );
    assert_eq!(
        list.expect_row("foo"),
        ["foo", "pkg-tag", "kojiadmin"],
        "{list}"
    );

    // Inherited by a child tag (listed under the parent's name), not without inheritance.
    farm.koji(&["add-tag", "pkg-child", "--parent", "pkg-tag"])
        .ok();
    let child = farm
        .koji(&["list-pkgs", "--quiet", "--tag", "pkg-child"])
        .ok();
    let mut names = child.first_columns();
    names.sort();
    assert_eq!(names, ["bar", "baz", "foo"], "{child}");
    assert_eq!(child.expect_row("bar")[1], "pkg-tag", "{child}");
    farm.koji(&["list-pkgs", "--tag", "pkg-child", "--noinherit"])
        .fails_with(1)
        .stderr_has("(no matching packages)");

    let by_pkg = farm
        .koji(&["list-pkgs", "--quiet", "--package", "foo"])
        .ok();
    assert_eq!(
        by_pkg.expect_row("foo"),
        ["foo", "pkg-tag", "kojiadmin"],
        "{by_pkg}"
    );
    let by_owner = farm
        .koji(&["list-pkgs", "--quiet", "--owner", "kojiadmin"])
        .ok();
    assert!(by_owner.row("baz").is_some(), "{by_owner}");
    let all = farm.koji(&["list-pkgs"]).ok();
    assert_eq!(&trimmed(&all)[..2], ["Package", &"-".repeat(23)], "{all}");
    for p in ["foo", "bar", "baz"] {
        assert!(all.lines().contains(&p), "{p} missing:\n{all}");
    }
    let pkg = farm.call_json(&["getPackage", "foo"]);
    assert_eq!(pkg["name"], "foo", "{pkg}");
    assert!(pkg["id"].is_i64(), "{pkg}");

    farm.koji(&["add-tag", "pkg-empty"]).ok();
    farm.koji(&["list-pkgs", "--tag", "pkg-empty"])
        .fails_with(1)
        .stderr_has("(no matching packages)");
    farm.koji(&["add-pkg", "--owner", "e2e-nosuchowner", "pkg-tag", "qux"])
        .fails_with(1)
        .stderr_has("No such user: e2e-nosuchowner");
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "e2e-nosuchtag", "qux"])
        .fails_with(1)
        .stderr_has("No such tag: e2e-nosuchtag");
    farm.koji(&["list-pkgs", "--tag", "e2e-nosuchtag"])
        .fails_with(2)
        .stderr_has("No such tag: e2e-nosuchtag");
    let after = farm
        .koji(&["list-pkgs", "--quiet", "--tag", "pkg-tag"])
        .ok();
    assert!(after.row("qux").is_none(), "{after}");
}

fn set_pkg_owner_and_arches(farm: &Farm) {
    farm.koji(&["add-tag", "own-tag"]).ok();
    farm.koji(&["add-tag", "own-child", "--parent", "own-tag"])
        .ok();
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "own-tag", "ofoo", "obar"])
        .ok();
    farm.koji_as("owen", &["hello"]).ok();

    // set-pkg-owner: a multicall over the packages; list-pkgs shows the new owner
    farm.koji(&["set-pkg-owner", "owen", "own-tag", "ofoo", "obar"])
        .ok()
        .stdout_empty();
    let list = farm
        .koji(&["list-pkgs", "--quiet", "--tag", "own-tag"])
        .ok();
    assert_eq!(
        list.expect_row("ofoo"),
        ["ofoo", "own-tag", "owen"],
        "{list}"
    );
    assert_eq!(
        list.expect_row("obar"),
        ["obar", "own-tag", "owen"],
        "{list}"
    );

    // set-pkg-arches on an inherited entry: the child gets its own, with the owner it had
    farm.koji(&["set-pkg-arches", "i686 aarch64", "own-child", "ofoo"])
        .ok()
        .stdout_empty();
    let child = farm
        .koji(&["list-pkgs", "--quiet", "--tag", "own-child", "--noinherit"])
        .ok();
    assert_eq!(
        child.expect_row("ofoo"),
        ["ofoo", "own-child", "i686", "aarch64", "owen"],
        "{child}"
    );

    // set-pkg-owner-global: every tag's entry of the package, --test first
    let out = farm
        .koji(&["set-pkg-owner-global", "--test", "kojiadmin", "ofoo"])
        .ok();
    let mut lines = trimmed(&out);
    lines.sort();
    assert_eq!(
        lines,
        [
            "Would have changed owner for ofoo in tag own-child: owen -> kojiadmin",
            "Would have changed owner for ofoo in tag own-tag: owen -> kojiadmin",
        ],
        "{out}"
    );
    farm.koji(&["set-pkg-owner-global", "--verbose", "kojiadmin", "ofoo"])
        .ok();
    let by_pkg = farm
        .koji(&["list-pkgs", "--quiet", "--package", "ofoo"])
        .ok();
    for row in by_pkg.lines() {
        assert!(row.trim_end().ends_with("kojiadmin"), "{by_pkg}");
    }

    // refusals change nothing: a package the tag has no entry for, an unknown owner, a
    // user without the tag permission
    let before = farm
        .koji(&["list-pkgs", "--quiet", "--tag", "own-tag"])
        .ok();
    farm.koji(&["set-pkg-owner", "owen", "own-tag", "onone"])
        .fails_with(1)
        .stderr_has("No such package: onone");
    farm.koji(&["add-tag", "own-other"]).ok();
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "own-other", "oqux"])
        .ok();
    farm.koji(&["set-pkg-owner", "owen", "own-tag", "oqux"])
        .fails_with(1)
        .stderr_has("cannot update: tag own-tag has no data for package oqux");
    farm.koji(&["set-pkg-owner", "e2e-nobody", "own-tag", "ofoo"])
        .fails_with(1)
        .stderr_has("No such user: e2e-nobody");
    farm.koji_as("owen", &["set-pkg-owner", "owen", "own-tag", "ofoo"])
        .fails_with(1)
        .stderr_has("ActionNotAllowed");
    assert_eq!(
        farm.koji(&["list-pkgs", "--quiet", "--tag", "own-tag"])
            .ok()
            .stdout,
        before.stdout
    );
}

fn list_api_and_method_help(farm: &Farm) {
    let api = farm.koji(&["list-api"]).ok();
    let lines = api.lines();
    for sig in [
        "getTag(tagInfo, strict=False, event=None, blocked=False)",
        "addHost(hostname, arches, krb_principal=None, force=False)",
        "createExternalRepo(name, url)",
    ] {
        assert!(lines.contains(&sig), "{sig:?} not listed:\n{api}");
    }
    for method in [
        "hello(",
        "sslLogin(",
        "listHosts(",
        "editHost(",
        "createTag(",
        "editTag2(",
        "createBuildTarget(",
        "getBuildTargets(",
        "packageListAdd(",
        "listPackages(",
        "addExternalRepoToTag(",
        "getTagExternalRepos(",
        "grantPermission(",
        "createUser(",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(method)),
            "{method}…) not listed:\n{api}"
        );
    }
    let help = farm.koji(&["list-api", "getTag"]).ok();
    assert!(
        help.stdout
            .starts_with("getTag(tagInfo, strict=False, event=None, blocked=False)"),
        "{help}"
    );
    farm.koji(&["list-api", "e2eNoSuchMethod"])
        .fails_with(2)
        .stderr_has("Unknown method: e2eNoSuchMethod");
}

fn call_prints_results(farm: &Farm) {
    farm.koji(&["add-tag", "f40-build", "--arches", "x86_64"])
        .ok();
    let py = farm.koji(&["call", "getTag", "f40-build"]).ok();
    for part in [
        "'name': 'f40-build'",
        "'arches': 'x86_64'",
        "'locked': False",
        "'extra': {}",
        "'perm': None",
        "'maven_support': False",
    ] {
        assert!(py.stdout.contains(part), "{part:?} missing:\n{py}");
    }
    let tag = farm.call_json(&["getTag", "f40-build"]);
    assert_eq!(tag["name"], "f40-build", "{tag}");
    assert_eq!(tag["arches"], "x86_64", "{tag}");
    assert!(tag["id"].is_i64(), "{tag}");
    assert_eq!(tag["locked"], false, "{tag}");
    assert!(tag["perm"].is_null(), "{tag}");
    assert_eq!(tag["extra"], serde_json::json!({}), "{tag}");
    // Keyword arguments (NAME=VALUE) go as the __starstar struct.
    let strict = farm.call_json(&["getTag", "f40-build", "strict=True"]);
    assert_eq!(strict["id"], tag["id"], "{strict}");

    farm.koji(&["call", "getTag", "e2e-nosuchtag"])
        .ok()
        .stdout_is("None");
    farm.koji(&["call", "getTag", "e2e-nosuchtag", "strict=True"])
        .fails_with(1)
        .stderr_has("GenericError")
        .stderr_has("e2e-nosuchtag");
    farm.koji(&["call", "hello"])
        .ok()
        .stdout_is("'Hello World'");
    farm.koji(&["call", "getAPIVersion"]).ok().stdout_is("1");
    farm.koji(&["call", "getKojiVersion"])
        .ok()
        .stdout_is(&format!("'{}'", kkoji_e2e::KOJI_VERSION));
    let me = farm.call_json(&["getLoggedInUser"]);
    assert_eq!(me["name"], "kojiadmin", "{me}");
    assert_eq!(me["authtype"], 2, "SSL login: {me}");
    let perms = farm.call_json(&["getPerms"]);
    assert!(
        perms
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "admin")),
        "the quickstart admin holds `admin`: {perms}"
    );
}
