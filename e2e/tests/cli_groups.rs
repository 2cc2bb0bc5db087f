//! Comps groups through the stock koji CLI: add/block/unblock/remove of groups, their
//! packages and requirements, `list-groups`, `show-groups` (also `--comps`), `taginfo`,
//! `import-comps` (the CLI reads the file with libcomps), the bad paths, and a repo made
//! after adding groups carrying them (repodata `group` record, read back by dnf). All tests
//! share one farm; each uses its own tag names.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::cli::run_with_timeout;
use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    groups_show_in_taginfo_and_list_groups,
    group_commands_refuse_bad_requests,
    import_comps_then_show_groups,
    a_new_repo_carries_the_groups,
    clone_tag_copies_groups,
);

const REPO_TIMEOUT: Duration = Duration::from_secs(180);

#[track_caller]
fn tag_id(farm: &Farm, name: &str) -> i64 {
    let tag = farm.call_json(&["getTag", name]);
    tag["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("getTag {name}: no integer id in {tag}"))
}

/// Stdout lines with trailing blanks removed.
fn trimmed(out: &Output) -> String {
    out.lines()
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `Groups:` line of `taginfo`.
#[track_caller]
fn taginfo_groups(farm: &Farm, tag: &str) -> String {
    let out = farm.koji(&["taginfo", tag]).ok();
    out.lines()
        .into_iter()
        .find_map(|l| l.strip_prefix("Groups:"))
        .unwrap_or_else(|| panic!("no Groups: line:\n{out}"))
        .trim()
        .to_string()
}

fn groups_show_in_taginfo_and_list_groups(farm: &Farm) {
    farm.koji(&["add-tag", "cg-base", "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-tag", "cg-build", "--parent", "cg-base"])
        .ok();
    let (base, build) = (tag_id(farm, "cg-base"), tag_id(farm, "cg-build"));
    // today's first failure of a new user: taginfo of a tag without groups
    let out = farm.koji(&["taginfo", "cg-build"]).ok();
    assert_eq!(
        trimmed(&out),
        format!(
            "Tag: cg-build [{build}]\nArches: x86_64\nGroups:\nTag options:\n\
             Current repo: no active repo\nInheritance:\n  0    .... cg-base [{base}]"
        ),
        "{out}"
    );

    farm.koji(&["add-group", "cg-base", "build"])
        .ok()
        .stdout_empty();
    farm.koji(&["add-group", "cg-base", "srpm-build"])
        .ok()
        .stdout_empty();
    farm.koji(&["add-group-pkg", "cg-base", "build", "bash", "gcc", "make"])
        .ok()
        .stdout_empty();
    farm.koji(&["add-group-pkg", "cg-base", "srpm-build", "rpm-build"])
        .ok()
        .stdout_empty();
    farm.koji(&["add-group-req", "cg-base", "build", "srpm-build"])
        .ok()
        .stdout_empty();
    let before = farm.call_json(&["getLastEvent"])["id"]
        .as_i64()
        .expect("getLastEvent id");

    let out = farm.koji(&["taginfo", "cg-build"]).ok();
    assert_eq!(
        trimmed(&out),
        format!(
            "Tag: cg-build [{build}]\nArches: x86_64\nGroups: build, srpm-build\nTag options:\n\
             Current repo: no active repo\nInheritance:\n  0    .... cg-base [{base}]"
        ),
        "{out}"
    );
    let listing = "build  [cg-base]\n  @srpm-build  [cg-base]\n  bash: None, mandatory  [cg-base]\n  \
                   gcc: None, mandatory  [cg-base]\n  make: None, mandatory  [cg-base]\n\
                   srpm-build  [cg-base]\n  rpm-build: None, mandatory  [cg-base]";
    farm.koji(&["list-groups", "cg-build"])
        .ok()
        .stdout_is(listing);
    farm.koji(&["list-groups", "cg-build", "srpm-build"])
        .ok()
        .stdout_is("srpm-build  [cg-base]\n  rpm-build: None, mandatory  [cg-base]");

    // the build tag blocks a package of the inherited group: gone there, kept in the base
    farm.koji(&["block-group-pkg", "cg-build", "build", "gcc"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-groups", "cg-build", "build"])
        .ok()
        .stdout_is(
            "build  [cg-base]\n  @srpm-build  [cg-base]\n  bash: None, mandatory  [cg-base]\n  \
             make: None, mandatory  [cg-base]",
        );
    farm.koji(&["list-groups", "--show-blocked", "cg-build", "build"])
        .ok()
        .stdout_has("  gcc: None, mandatory  [cg-build] [BLOCKED]");
    farm.koji(&["list-groups", "cg-base", "build"])
        .ok()
        .stdout_has("  gcc: None, mandatory  [cg-base]");
    // an inherited entry cannot be removed from the child: the CLI says so
    farm.koji(&["remove-group-pkg", "cg-build", "build", "make"])
        .fails_with(1)
        .stdout_has(
            "The entry for package make is inherited from cg-base. You could use \
             block-group-pkg to prevent this",
        )
        .stderr_has("Invalid parameters");
    farm.koji(&["unblock-group-pkg", "cg-build", "build", "gcc"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-groups", "cg-build"])
        .ok()
        .stdout_is(listing);

    // blocking a requirement and a whole group in the child
    farm.koji(&["block-group-req", "cg-build", "build", "srpm-build"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-groups", "cg-build", "build"])
        .ok()
        .stdout_lacks("@srpm-build");
    farm.koji(&["unblock-group-req", "cg-build", "build", "srpm-build"])
        .ok();
    farm.koji(&["list-groups", "cg-build", "build"])
        .ok()
        .stdout_has("  @srpm-build  [cg-base]");
    farm.koji(&["block-group", "cg-build", "srpm-build"])
        .ok()
        .stdout_empty();
    assert_eq!(taginfo_groups(farm, "cg-build"), "build");
    assert_eq!(taginfo_groups(farm, "cg-base"), "build, srpm-build");
    farm.koji(&["block-group", "cg-build", "srpm-build"])
        .fails_with(1)
        .stderr_has("Group srpm-build is already blocked in this tag");
    farm.koji(&["remove-group", "cg-build", "srpm-build"])
        .fails_with(1)
        .stderr_has(
            "Group srpm-build is blocked in this tag. You could use unblock-group to unblock it",
        );
    farm.koji(&["unblock-group", "cg-build", "srpm-build"])
        .ok()
        .stdout_empty();
    assert_eq!(taginfo_groups(farm, "cg-build"), "build, srpm-build");
    farm.koji(&["remove-group", "cg-build", "build"])
        .fails_with(1)
        .stderr_has(
            "The entry for group build is inherited from cg-base. You could use block-group to \
             prevent this",
        );

    // removal from the tag that has the entries
    farm.koji(&["remove-group-req", "cg-base", "build", "srpm-build"])
        .ok()
        .stdout_empty();
    farm.koji(&["remove-group-pkg", "cg-base", "build", "make"])
        .ok()
        .stdout_empty();
    farm.koji(&["remove-group", "cg-base", "srpm-build"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-groups", "cg-build"]).ok().stdout_is(
        "build  [cg-base]\n  bash: None, mandatory  [cg-base]\n  gcc: None, mandatory  [cg-base]",
    );
    assert_eq!(taginfo_groups(farm, "cg-build"), "build");

    // as of the event before all that, the tag looks as it did then
    let out = farm
        .koji(&["list-groups", "--event", &before.to_string(), "cg-build"])
        .ok();
    let lines = out.lines();
    assert!(
        lines[0].starts_with(&format!("Querying at event {before} (")),
        "{out}"
    );
    assert_eq!(lines[1..].join("\n"), listing, "{out}");
    farm.koji(&["taginfo", "--event", &before.to_string(), "cg-build"])
        .ok()
        .stdout_has("Groups: build, srpm-build");

    // show-groups: Python's pprint of getTagGroups, and the comps the CLI makes of it
    let out = farm.koji(&["show-groups", "cg-build"]).ok();
    for needle in [
        "'name': 'build'",
        "'display_name': 'build'",
        "'package': 'bash'",
        "'type': 'mandatory'",
        &format!("'tag_id': {base}"),
        "'grouplist': []",
    ] {
        assert!(out.stdout.contains(needle), "no {needle:?} in:\n{out}");
    }
    let out = farm.koji(&["show-groups", "--comps", "cg-build"]).ok();
    assert!(out.stdout.contains("<comps>"), "{out}");
    assert!(out.stdout.contains("<id>build</id>"), "{out}");
    assert!(
        out.stdout
            .contains("<packagereq type=\"mandatory\">gcc</packagereq>"),
        "{out}"
    );
    farm.koji(&["show-groups", "--spec", "cg-build"])
        .ok()
        .stdout_has("Requires: bash");
}

fn group_commands_refuse_bad_requests(farm: &Farm) {
    farm.koji(&["add-tag", "cgb-tag"]).ok();
    farm.koji(&["add-group", "cgb-tag", "build"]).ok();
    farm.koji(&["add-group-pkg", "cgb-tag", "build", "bash"])
        .ok();

    // the same group twice
    farm.koji(&["add-group", "cgb-tag", "build"])
        .fails_with(1)
        .stderr_has("Group build already exists for tag cgb-tag");
    // a user without the tag permission: refused by the CLI, or by the hub with
    // ActionNotAllowed, and nothing changes
    farm.koji_as("cgb-user", &["add-group", "cgb-tag", "other"])
        .fails_with(2)
        .stderr_has("This action requires tag or admin privileges");
    farm.koji_as("cgb-user", &["add-group-pkg", "cgb-tag", "build", "gcc"])
        .fails_with(1)
        .stderr_has("ActionNotAllowed: tag permission required (logged in as cgb-user)");
    farm.koji_as("cgb-user", &["block-group-pkg", "cgb-tag", "build", "bash"])
        .fails_with(1)
        .stderr_has("ActionNotAllowed");
    farm.koji_as("cgb-user", &["unblock-group", "cgb-tag", "build"])
        .fails_with(1)
        .stderr_has("ActionNotAllowed");
    farm.koji_as("cgb-user", &["add-group-req", "cgb-tag", "build", "build"])
        .fails_with(1)
        .stderr_has("ActionNotAllowed");
    // ... but may read
    farm.koji_as("cgb-user", &["list-groups", "cgb-tag"])
        .ok()
        .stdout_is("build  [cgb-tag]\n  bash: None, mandatory  [cgb-tag]");
    // with the tag permission, the same user may
    farm.koji(&["grant-permission", "tag", "cgb-user"]).ok();
    farm.koji_as("cgb-user", &["add-group-pkg", "cgb-tag", "build", "gcc"])
        .ok();
    farm.koji(&["list-groups", "cgb-tag"]).ok().stdout_is(
        "build  [cgb-tag]\n  bash: None, mandatory  [cgb-tag]\n  gcc: None, mandatory  [cgb-tag]",
    );

    // unknown tag, group, requirement
    farm.koji(&["list-groups", "cgb-nosuch"])
        .fails_with(1)
        .stderr_has("GenericError: No such tag: cgb-nosuch");
    farm.koji(&["add-group", "cgb-nosuch", "build"])
        .fails_with(1)
        .stderr_has("No such tag: cgb-nosuch");
    farm.koji(&["add-group-pkg", "cgb-tag", "nosuchgroup", "x"])
        .fails_with(1)
        .stderr_has("GenericError: No such group: nosuchgroup");
    farm.koji(&["add-group-req", "cgb-tag", "build", "nosuchgroup"])
        .fails_with(1)
        .stderr_has("GenericError: No such group: nosuchgroup");
    farm.koji(&["remove-group", "cgb-tag", "nosuchgroup"])
        .fails_with(1)
        .stderr_has("Group nosuchgroup doesn't exist within tag cgb-tag");
    farm.koji(&["unblock-group", "cgb-tag", "build"])
        .fails_with(1)
        .stderr_has("GenericError: group build is NOT blocked in tag cgb-tag");
    farm.koji(&["unblock-group-pkg", "cgb-tag", "build", "bash"])
        .fails_with(1)
        .stderr_has("GenericError: package bash is NOT blocked in group build, tag cgb-tag");
    farm.koji(&["remove-group-pkg", "cgb-tag", "build", "nosuchpkg"])
        .fails_with(1)
        .stdout_has("Package nosuchpkg is not included in this group");
    // a blocked group takes no packages
    farm.koji(&["block-group", "cgb-tag", "build"]).ok();
    farm.koji(&["add-group-pkg", "cgb-tag", "build", "make"])
        .fails_with(1)
        .stderr_has("GenericError: group build is blocked in tag cgb-tag");
    farm.koji(&["list-groups", "cgb-tag"]).ok().stdout_empty();
    // unblocking drops the tag's own (blocking) entry, as on Koji: the group is gone until
    // it is added again, and then its package entries are back
    farm.koji(&["unblock-group", "cgb-tag", "build"]).ok();
    farm.koji(&["list-groups", "cgb-tag"]).ok().stdout_empty();
    farm.koji(&["add-group", "cgb-tag", "build"]).ok();
    farm.koji(&["list-groups", "cgb-tag"]).ok().stdout_is(
        "build  [cgb-tag]\n  bash: None, mandatory  [cgb-tag]\n  gcc: None, mandatory  [cgb-tag]",
    );
}

const COMPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>build</id>
    <name>Buildsystem building group</name>
    <description>Packages in every buildroot</description>
    <default>false</default>
    <uservisible>false</uservisible>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
      <packagereq type="default">coreutils</packagereq>
      <packagereq type="optional">vim-minimal</packagereq>
      <packagereq type="conditional" requires="gcc">gcc-plugin-devel</packagereq>
    </packagelist>
  </group>
  <group>
    <id>srpm-build</id>
    <name>Source RPM building</name>
    <description>For making SRPMs</description>
    <default>true</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory" basearchonly="true">rpm-build</packagereq>
    </packagelist>
  </group>
</comps>
"#;

fn import_comps_then_show_groups(farm: &Farm) {
    farm.koji(&["add-tag", "cgi-tag"]).ok();
    let dir = farm.work_dir("cgi");
    let file = dir.join("comps.xml");
    fs::write(&file, COMPS).unwrap();
    let path = file.to_str().unwrap();
    farm.koji(&["import-comps", path, "cgi-tag"]).ok().stdout_is(
        "Group: build (Buildsystem building group)\n\
         \x20 Package: bash: {'basearchonly': False, 'type': 'mandatory'}\n\
         \x20 Package: coreutils: {'basearchonly': False, 'type': 'default'}\n\
         \x20 Package: vim-minimal: {'basearchonly': False, 'type': 'optional'}\n\
         \x20 Package: gcc-plugin-devel: {'basearchonly': False, 'requires': 'gcc', 'type': 'conditional'}\n\
         Group: srpm-build (Source RPM building)\n\
         \x20 Package: rpm-build: {'basearchonly': True, 'type': 'mandatory'}",
    );
    farm.koji(&["list-groups", "cgi-tag"]).ok().stdout_is(
        "build  [cgi-tag]\n  bash: False, mandatory  [cgi-tag]\n  coreutils: False, default  [cgi-tag]\n  \
         gcc-plugin-devel: False, conditional  [cgi-tag]\n  vim-minimal: False, optional  [cgi-tag]\n\
         srpm-build  [cgi-tag]\n  rpm-build: True, mandatory  [cgi-tag]",
    );
    let groups = farm.call_json(&["getTagGroups", "cgi-tag"]);
    let build = groups
        .as_array()
        .and_then(|a| a.iter().find(|g| g["name"] == "build"))
        .unwrap_or_else(|| panic!("no build group in {groups}"));
    assert_eq!(
        build["display_name"], "Buildsystem building group",
        "{build}"
    );
    assert_eq!(
        build["description"], "Packages in every buildroot",
        "{build}"
    );
    assert_eq!(build["uservisible"], false, "{build}");
    assert_eq!(build["is_default"], false, "{build}");
    // importing the same file again changes nothing and succeeds
    farm.koji(&["import-comps", path, "cgi-tag"]).ok();
    assert_eq!(farm.call_json(&["getTagGroups", "cgi-tag"]), groups);

    // the comps the CLI makes of what the hub answers has what the file had
    let out = farm.koji(&["show-groups", "--comps", "cgi-tag"]).ok();
    for needle in [
        "<id>srpm-build</id>",
        "<name>Source RPM building</name>",
        "<default>true</default>",
        "<packagereq type=\"mandatory\" basearchonly=\"true\">rpm-build</packagereq>",
        "<packagereq type=\"conditional\" requires=\"gcc\">gcc-plugin-devel</packagereq>",
    ] {
        assert!(out.stdout.contains(needle), "no {needle:?} in:\n{out}");
    }
    // an unknown tag is refused before anything is read
    farm.koji(&["import-comps", path, "cgi-nosuch"])
        .fails_with(1)
        .stderr_has("No such tag: cgi-nosuch");
}

/// `dnf -q ARGS` against one repository directory, its stdout.
fn dnf(repo: &Path, args: &[&str]) -> String {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("dnf.conf");
    fs::write(&conf, "[main]\n").unwrap();
    let mut cmd = Command::new("dnf");
    cmd.arg("-q")
        .arg(format!("--config={}", conf.display()))
        .arg("--setopt=reposdir=/dev/null")
        .arg(format!("--installroot={}", root.path().display()))
        .arg("--releasever=40")
        .arg("--disableplugin=*")
        .arg(format!("--repofrompath=kk,file://{}", repo.display()))
        .arg("--repo=kk")
        .arg("--setopt=kk.gpgcheck=0")
        .args(args)
        .env("LC_ALL", "C.UTF-8");
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        out.status == Some(0),
        "dnf {args:?} on {}:\n{out}",
        repo.display()
    );
    out.stdout
}

fn a_new_repo_carries_the_groups(farm: &Farm) {
    farm.koji(&["add-tag", "cgr-dest"]).ok();
    farm.koji(&["add-tag", "cgr-build", "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-target", "cgr", "cgr-build", "cgr-dest"])
        .ok();
    farm.koji(&["add-group", "cgr-build", "build"]).ok();
    farm.koji(&["add-group-pkg", "cgr-build", "build", "bash", "rpm-build"])
        .ok();
    farm.koji(&["add-group", "cgr-build", "srpm-build"]).ok();
    farm.koji(&["add-group-pkg", "cgr-build", "srpm-build", "rpm-build"])
        .ok();
    farm.koji(&["add-group", "cgr-build", "core"]).ok();
    farm.koji(&["add-group-pkg", "cgr-build", "core", "coreutils"])
        .ok();
    farm.koji(&["add-group-req", "cgr-build", "build", "core"])
        .ok();

    let out = farm.koji_in_for(
        &farm.root().join("home"),
        REPO_TIMEOUT,
        &["regen-repo", "--wait", "cgr-build"],
    );
    assert!(
        out.status == Some(0),
        "regen-repo:\n{out}\n{}",
        farm.builder_log_tail(60)
    );
    let id: i64 = out
        .lines()
        .iter()
        .find_map(|l| l.trim().strip_prefix("Got repo "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Got repo N` line:\n{out}"));
    let repo = farm.topdir().join("repos/cgr-build").join(id.to_string());
    let comps = fs::read_to_string(repo.join("groups/comps.xml")).unwrap();
    assert!(comps.contains("<id>build</id>"), "{comps}");
    // the repodata of the arch names the comps as its `group` record
    let adir = repo.join("x86_64");
    let repomd = fs::read_to_string(adir.join("repodata/repomd.xml")).unwrap();
    assert!(repomd.contains("<data type=\"group\">"), "{repomd}");
    // taginfo now names the repo
    farm.koji(&["taginfo", "cgr-build"])
        .ok()
        .stdout_has("Groups: build, core, srpm-build")
        .stdout_has(&format!("Current repo: repo#{id}: "));

    // dnf reads the groups from it; `build` includes what it requires (as mock needs)
    let list = dnf(&adir, &["group", "list", "--hidden"]);
    for g in ["build", "srpm-build", "core"] {
        assert!(
            list.lines().any(|l| l.trim() == g),
            "no group {g} in dnf's list:\n{list}"
        );
    }
    let info = dnf(&adir, &["group", "info", "build"]);
    assert!(info.contains("Group: build"), "{info}");
    for p in ["bash", "rpm-build", "coreutils"] {
        assert!(
            info.lines().any(|l| l.trim() == p),
            "no package {p} in dnf's group info:\n{info}"
        );
    }
}

/// `show-groups --comps TAG`: the tag's groups as comps XML (no tag names in it, so a copy
/// reads the same as its source).
fn comps(farm: &Farm, tag: &str) -> String {
    trimmed(&farm.koji(&["show-groups", "--comps", tag]).ok())
}

fn clone_tag_copies_groups(farm: &Farm) {
    farm.koji(&["add-tag", "clg-src"]).ok();
    for g in ["build", "srpm-build"] {
        farm.koji(&["add-group", "clg-src", g]).ok();
    }
    farm.koji(&["add-group-pkg", "clg-src", "build", "bash", "make"])
        .ok();
    farm.koji(&["add-group-pkg", "clg-src", "srpm-build", "rpm-build"])
        .ok();
    farm.koji(&["add-group-req", "clg-src", "build", "srpm-build"])
        .ok();
    let src = comps(farm, "clg-src");
    assert!(
        src.contains("<packagereq type=\"mandatory\">make</packagereq>"),
        "{src}"
    );

    // a new tag: snapshotTag copies the groups, their packages and requirements
    farm.koji(&["clone-tag", "--groups", "clg-src", "clg-copy"])
        .ok();
    assert_eq!(comps(farm, "clg-copy"), src);
    assert_eq!(
        taginfo_groups(farm, "clg-copy"),
        taginfo_groups(farm, "clg-src")
    );

    // an existing tag: snapshotTagModify adds what is new in the source
    farm.koji(&["add-group-pkg", "clg-src", "build", "gcc"])
        .ok();
    farm.koji(&["add-group", "clg-src", "extras"]).ok();
    farm.koji(&["clone-tag", "--groups", "clg-src", "clg-copy"])
        .ok();
    assert_eq!(comps(farm, "clg-copy"), comps(farm, "clg-src"));

    // what the source dropped stays with --no-delete, and goes by default
    farm.koji(&["remove-group-pkg", "clg-src", "build", "bash"])
        .ok();
    farm.koji(&["remove-group", "clg-src", "extras"]).ok();
    farm.koji(&[
        "clone-tag",
        "--groups",
        "--no-delete",
        "clg-src",
        "clg-copy",
    ])
    .ok();
    let kept = comps(farm, "clg-copy");
    assert!(kept.contains(">bash<") && kept.contains("extras"), "{kept}");
    farm.koji(&["clone-tag", "--groups", "clg-src", "clg-copy"])
        .ok();
    let after = comps(farm, "clg-copy");
    assert_eq!(after, comps(farm, "clg-src"));
    assert!(
        !after.contains(">bash<") && !after.contains("extras"),
        "{after}"
    );
}
