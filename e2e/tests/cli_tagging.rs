//! Builds between tags through the stock koji CLI, with the farm's local builder running
//! the tagBuild and dependantTask tasks: `tag-build`, `move-build` (one build and
//! `--all`), `untag-build` (`--non-latest`, `--all`, `-n`, `-v`), `list-untagged`
//! (`--paths`, `--show-references`), `clone-tag` (new and existing destination,
//! `--latest-only`, `--event`, `--config`, `--test`), and the refusals: unknown tag or
//! build, locked tag, package not listed, no permission — each with what a Koji user
//! reads, and a second command showing what changed (or that nothing did).
//!
//! The tests share one farm and run in order: the first makes the two builds the others
//! move around.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::builds::{Spec, add_target, spec_text};
use kkoji_e2e::cli::run_with_timeout;
use kkoji_e2e::{Farm, Output};

kkoji_e2e::serial_farm_main!(
    builds_to_move_around,
    tag_build_then_move_build,
    move_build_all_keeps_the_order,
    untag_build_options,
    list_untagged_lists_what_is_in_no_tag,
    clone_tag_copies_a_tag,
    refusals_say_why_and_change_nothing,
);

const TARGET: &str = "tgg";
const TESTING: &str = "tgg-testing";
const RELEASE: &str = "tgg-release";
const PKG: &str = "tgfoo";
const BUILD_TIMEOUT: Duration = Duration::from_secs(180);
const TASK_TIMEOUT: Duration = Duration::from_secs(120);

/// `dir/NAME-1.0-REL.src.rpm` made with `rpmbuild -bs` from the suite's noarch spec.
fn srpm(dir: &Path, name: &str, release: &str) -> String {
    let top = dir.join(format!("rpmbuild-{release}"));
    let specs = top.join("SPECS");
    std::fs::create_dir_all(&specs).expect("SPECS");
    let spec = specs.join(format!("{name}.spec"));
    let text =
        spec_text(name, Spec::Noarch).replace("Release: 1\n", &format!("Release: {release}\n"));
    std::fs::write(&spec, text).expect("spec");
    let mut cmd = Command::new("rpmbuild");
    cmd.arg("-bs")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec)
        .env("HOME", dir);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(out.status == Some(0), "rpmbuild -bs:\n{out}");
    let file = format!("{name}-1.0-{release}.src.rpm");
    std::fs::copy(top.join("SRPMS").join(&file), dir.join(&file)).expect("copy SRPM");
    file
}

/// Where the CLI runs commands that wait on tasks (the farm's own HOME).
fn home(farm: &Farm) -> std::path::PathBuf {
    farm.root().join("home")
}

/// `Created task N` (as tag-build prints it) → N.
#[track_caller]
fn created(out: &Output) -> i64 {
    out.lines()
        .iter()
        .find_map(|l| l.strip_prefix("Created task "))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Created task N` line:\n{out}"))
}

#[track_caller]
fn has_line(out: &Output, line: &str) {
    assert!(
        out.lines().iter().any(|l| l.trim_end() == line),
        "missing line {line:?}:\n{out}"
    );
}

/// `list-tagged --quiet TAG` as (nvr, tag, owner) rows.
fn tagged(farm: &Farm, tag: &str) -> Vec<Vec<String>> {
    let out = farm.koji(&["list-tagged", "--quiet", tag]).ok();
    out.lines()
        .iter()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn nvrs(farm: &Farm, tag: &str) -> Vec<String> {
    tagged(farm, tag)
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

/// The latest build of the package in the tag (`latest-build --quiet`).
fn latest(farm: &Farm, tag: &str) -> String {
    let out = farm.koji(&["latest-build", "--quiet", tag, PKG]).ok();
    out.first_columns().join(" ")
}

fn builds_to_move_around(farm: &Farm) {
    add_target(farm, TARGET, &[PKG]);
    for t in [TESTING, RELEASE] {
        farm.koji(&["add-tag", t]).ok();
        farm.koji(&["add-pkg", "--owner", "kojiadmin", t, PKG]).ok();
    }
    let dir = farm.work_dir("tagging-builds");
    for rel in ["1", "2"] {
        let file = srpm(&dir, PKG, rel);
        let out = farm.koji_in_for(&dir, BUILD_TIMEOUT, &["build", "--wait", TARGET, &file]);
        assert!(
            out.status == Some(0),
            "build {file}:\n{out}\n{}",
            farm.builder_log_tail(40)
        );
    }
    assert_eq!(nvrs(farm, TARGET), ["tgfoo-1.0-1", "tgfoo-1.0-2"]);
    list_builds_filters(farm);
}

/// `list-builds --quiet ARGS` → the NVRs it prints.
fn listed(farm: &Farm, args: &[&str]) -> Vec<String> {
    let mut all = vec!["list-builds", "--quiet"];
    all.extend_from_slice(args);
    farm.koji(&all).ok().first_columns()
}

/// list-builds' filters on the two builds just made (Koji's listBuilds keywords).
fn list_builds_filters(farm: &Farm) {
    let both = ["tgfoo-1.0-1", "tgfoo-1.0-2"];
    let out = farm.koji(&["list-builds", "--package", PKG]).ok();
    assert_eq!(
        out.lines()[0].trim_end(),
        format!("{:<55}  {:<16}  State", "Build", "Built by"),
        "{out}"
    );
    assert_eq!(
        out.lines()[2].trim_end(),
        format!("{:<55}  {:<16}  COMPLETE", "tgfoo-1.0-1", "kojiadmin"),
        "{out}"
    );
    assert_eq!(listed(farm, &["--pattern", "tgfoo-1.0-?"]), both);
    assert_eq!(listed(farm, &["--pattern", "*-2"]), ["tgfoo-1.0-2"]);
    assert_eq!(
        listed(farm, &["--prefix", "TGF"]),
        both,
        "prefix is case-blind"
    );
    assert_eq!(listed(farm, &["--type", "rpm", "--package", PKG]), both);
    assert!(listed(farm, &["--type", "maven", "--package", PKG]).is_empty());
    assert_eq!(
        listed(farm, &["--volume", "DEFAULT", "--package", PKG]),
        both
    );
    assert_eq!(listed(farm, &["--no-draft", "--package", PKG]), both);
    assert!(listed(farm, &["--draft-only", "--package", PKG]).is_empty());
    assert!(listed(farm, &["--cg", "no-such-cg", "--package", PKG]).is_empty());
    // an unknown owner matches nothing (the CLI itself stops at an unknown --owner)
    let rows = farm.call_json(&["listBuilds", "userID=e2e-nobody-owns"]);
    assert_eq!(rows.as_array().map(Vec::len), Some(0), "{rows}");
    // completion time: both finished after 2020 and before 2100
    assert_eq!(
        listed(farm, &["--after", "2020-01-01", "--package", PKG]),
        both
    );
    assert!(listed(farm, &["--before", "2020-01-01", "--package", PKG]).is_empty());
    assert_eq!(
        listed(farm, &["--before", "2100-01-01", "--package", PKG]),
        both
    );
    // createdAfter / the source glob through `call` (the CLI has no option for the first)
    let rows = farm.call_json(&[
        "listBuilds",
        "createdAfter=1577836800",
        &format!("packageID={PKG}"),
    ]);
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
    let rows = farm.call_json(&[
        "listBuilds",
        "source=no-such-*",
        &format!("packageID={PKG}"),
    ]);
    assert_eq!(rows.as_array().map(Vec::len), Some(0), "{rows}");
    let count = farm
        .koji(&[
            "call",
            "--python",
            "--json-output",
            "listBuilds",
            &format!("packageID='{PKG}'"),
            "queryOpts={'countOnly': True}",
        ])
        .ok()
        .json();
    assert_eq!(count, 2, "{count}");
    // latest-build --arch: the RPMs of the latest build (getLatestRPMS), also as paths
    let out = farm
        .koji(&["latest-build", "--arch", "noarch", TARGET, PKG])
        .ok();
    assert_eq!(out.lines(), ["tgfoo-1.0-2.noarch"], "{out}");
    let out = farm
        .koji(&["latest-build", "--arch", "noarch", "--paths", TARGET, PKG])
        .ok();
    assert!(
        out.lines().len() == 1
            && out.lines()[0].ends_with("/packages/tgfoo/1.0/2/noarch/tgfoo-1.0-2.noarch.rpm"),
        "{out}"
    );
    assert!(
        farm.koji(&["latest-build", "--arch", "x86_64", TARGET, PKG])
            .ok()
            .lines()
            .is_empty()
    );
    farm.koji(&["call", "getLatestRPMS", "e2e-no-such-tag"])
        .fails_with(1)
        .stderr_has("No such tagInfo");
    farm.koji(&["call", "listBuilds", "type=nosuchtype"])
        .fails_with(1)
        .stderr_has("unsupported build type: nosuchtype");
}

fn tag_build_then_move_build(farm: &Farm) {
    // tag-build: a tagBuild task the builder runs; the CLI watches it
    let out = farm
        .koji_in_for(
            &home(farm),
            TASK_TIMEOUT,
            &["tag-build", "--wait", TESTING, "tgfoo-1.0-1"],
        )
        .ok();
    let task = created(&out);
    assert_eq!(out.lines()[0], format!("Created task {task}"), "{out}");
    has_line(&out, "Watching tasks (this may be safely interrupted)...");
    has_line(
        &out,
        &format!("{task} tagBuild (noarch) completed successfully"),
    );
    assert_eq!(
        tagged(farm, TESTING),
        [vec!["tgfoo-1.0-1", TESTING, "kojiadmin"]]
    );
    let info = farm.koji(&["taskinfo", &task.to_string()]).ok();
    has_line(&info, "Type: tagBuild");
    has_line(&info, "State: closed");
    has_line(&info, "Host: local-builder");

    // tagging it again: the task fails as Koji's does, and says why
    let again = farm.koji_in_for(
        &home(farm),
        TASK_TIMEOUT,
        &["tag-build", "--wait", TESTING, "tgfoo-1.0-1"],
    );
    let again = again.fails_with(1);
    let t = created(&again);
    has_line(&again, &format!("{t} tagBuild (noarch) failed"));
    let text = format!("{}{}", again.stdout, again.stderr);
    assert!(
        text.contains("TagError: build tgfoo-1.0-1 already tagged (tgg-testing)"),
        "{again}"
    );
    assert_eq!(nvrs(farm, TESTING), ["tgfoo-1.0-1"]);

    // move-build: out of testing, into release, in one task
    let out = farm
        .koji_in_for(
            &home(farm),
            TASK_TIMEOUT,
            &["move-build", "--wait", TESTING, RELEASE, "tgfoo-1.0-1"],
        )
        .ok();
    let task = created(&out);
    assert_eq!(
        out.lines()[0],
        format!("Created task {task}, moving tgfoo-1.0-1"),
        "{out}"
    );
    has_line(
        &out,
        &format!("{task} tagBuild (noarch) completed successfully"),
    );
    assert!(nvrs(farm, TESTING).is_empty());
    assert_eq!(
        tagged(farm, RELEASE),
        [vec!["tgfoo-1.0-1", RELEASE, "kojiadmin"]]
    );
    // the history shows the tagging and the move
    let hist = farm.call_json(&["queryHistory", "tag=tgg-testing"]);
    let rows = hist["tag_listing"].as_array().expect("tag_listing rows");
    assert_eq!(rows.len(), 1, "{hist}");
    assert_eq!(rows[0]["name"], PKG);
    assert!(rows[0]["active"].is_null(), "moved out: {hist}");
    assert_eq!(rows[0]["revoker_name"], "kojiadmin");
    // (the tag's whole history also has its creation and package list: only the build's
    // lines here)
    let hist = farm.koji(&["list-history", "--tag", TESTING]).ok();
    assert!(
        hist.lines()[0].ends_with(" new tag: tgg-testing by kojiadmin [still active]"),
        "{hist}"
    );
    let lines: Vec<&str> = hist
        .lines()
        .into_iter()
        .filter(|l| l.contains(" tgfoo-1.0-1 "))
        .collect();
    assert_eq!(lines.len(), 2, "{hist}");
    assert!(
        lines[0].ends_with(" tgfoo-1.0-1 tagged into tgg-testing by kojiadmin"),
        "{hist}"
    );
    assert!(
        lines[1].ends_with(" tgfoo-1.0-1 untagged from tgg-testing by kojiadmin"),
        "{hist}"
    );
}

fn move_build_all_keeps_the_order(farm: &Farm) {
    // both builds go from the target's tag to testing, oldest first, each through a
    // tagBuild subtask of a dependantTask waiting for the one before
    let out = farm
        .koji_in_for(
            &home(farm),
            BUILD_TIMEOUT,
            &["move-build", "--wait", "--all", TARGET, TESTING, PKG],
        )
        .ok();
    let done: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| l.ends_with("dependantTask (tagBuild) completed successfully"))
        .collect();
    assert_eq!(done.len(), 2, "{out}");
    assert!(
        out.stdout.contains("tagBuild (noarch)"),
        "the subtasks are watched too:\n{out}"
    );
    assert!(nvrs(farm, TARGET).is_empty(), "{:?}", tagged(farm, TARGET));
    assert_eq!(nvrs(farm, TESTING), ["tgfoo-1.0-1", "tgfoo-1.0-2"]);
    assert_eq!(latest(farm, TESTING), "tgfoo-1.0-2");
    // a package name that does not exist is skipped with a word
    farm.koji(&[
        "move-build",
        "--all",
        "--nowait",
        TARGET,
        TESTING,
        "tgnosuch",
    ])
    .ok()
    .stdout_is("No such package: tgnosuch, skipping.");
}

fn untag_build_options(farm: &Farm) {
    // --non-latest keeps the newest tagging
    farm.koji(&["untag-build", "--non-latest", "-v", TESTING, PKG])
        .ok()
        .stdout_is("Leaving latest build for package tgfoo: tgfoo-1.0-2\nuntagging tgfoo-1.0-1");
    assert_eq!(nvrs(farm, TESTING), ["tgfoo-1.0-2"]);
    // -n only says what it would do
    farm.koji(&["untag-build", "-n", TESTING, "tgfoo-1.0-2"])
        .ok()
        .stdout_is("would have untagged tgfoo-1.0-2");
    assert_eq!(nvrs(farm, TESTING), ["tgfoo-1.0-2"]);
    farm.koji(&["untag-build", TESTING, "tgfoo-1.0-2"])
        .ok()
        .stdout_empty();
    assert!(nvrs(farm, TESTING).is_empty());
    // --all takes every build of the package
    farm.koji(&["untag-build", "--all", "-v", RELEASE, PKG])
        .ok()
        .stdout_is("untagging tgfoo-1.0-1");
    assert!(nvrs(farm, RELEASE).is_empty());
}

fn list_untagged_lists_what_is_in_no_tag(farm: &Farm) {
    farm.koji(&["list-untagged", PKG])
        .ok()
        .stdout_is("tgfoo-1.0-1\ntgfoo-1.0-2");
    let paths = farm.koji(&["list-untagged", "--paths", PKG]).ok();
    let lines = paths.lines();
    assert_eq!(lines.len(), 2, "{paths}");
    assert!(
        lines[0].ends_with("/packages/tgfoo/1.0/1") && lines[1].ends_with("/packages/tgfoo/1.0/2"),
        "{paths}"
    );
    let refs = farm.koji(&["list-untagged", "--show-references", PKG]).ok();
    assert_eq!(
        refs.lines()
            .iter()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>(),
        ["(Showing build references)", "tgfoo-1.0-1", "tgfoo-1.0-2"],
        "{refs}"
    );
    farm.koji(&["list-untagged", "tgnosuch"])
        .fails_with(1)
        .stderr_has("No such package: tgnosuch");
    // tagged again, a build leaves the list
    farm.koji_in_for(
        &home(farm),
        TASK_TIMEOUT,
        &["tag-build", "--wait", RELEASE, "tgfoo-1.0-1"],
    )
    .ok();
    farm.koji(&["list-untagged", PKG])
        .ok()
        .stdout_is("tgfoo-1.0-2");
}

fn clone_tag_copies_a_tag(farm: &Farm) {
    // release: tgfoo-1.0-1 (tagged above), then tgfoo-1.0-2 after event `mid`
    let mid = farm.call_json(&["getLastEvent"])["id"]
        .as_i64()
        .expect("event id");
    farm.koji_in_for(
        &home(farm),
        TASK_TIMEOUT,
        &["tag-build", "--wait", RELEASE, "tgfoo-1.0-2"],
    )
    .ok();
    assert_eq!(latest(farm, RELEASE), "tgfoo-1.0-2");

    farm.koji(&["clone-tag", "--all", RELEASE, "tgg-clone"])
        .ok()
        .stdout_empty();
    assert_eq!(
        tagged(farm, "tgg-clone"),
        [
            vec!["tgfoo-1.0-1", "tgg-clone", "kojiadmin"],
            vec!["tgfoo-1.0-2", "tgg-clone", "kojiadmin"]
        ]
    );
    assert_eq!(latest(farm, "tgg-clone"), "tgfoo-1.0-2");
    let pkgs = farm
        .koji(&["list-pkgs", "--quiet", "--tag", "tgg-clone"])
        .ok();
    assert_eq!(
        pkgs.expect_row(PKG),
        [PKG, "tgg-clone", "kojiadmin"],
        "{pkgs}"
    );

    // --latest-only
    farm.koji(&[
        "clone-tag",
        "--latest-only",
        "--pkgs",
        "--builds",
        RELEASE,
        "tgg-clone-latest",
    ])
    .ok();
    assert_eq!(nvrs(farm, "tgg-clone-latest"), ["tgfoo-1.0-2"]);

    // --event: the tag as it was
    let out = farm
        .koji(&[
            "clone-tag",
            "--event",
            &mid.to_string(),
            "--pkgs",
            "--builds",
            RELEASE,
            "tgg-clone-old",
        ])
        .ok();
    assert!(
        out.lines()[0].starts_with(&format!("Cloning at event {mid} (")),
        "{out}"
    );
    assert_eq!(nvrs(farm, "tgg-clone-old"), ["tgfoo-1.0-1"]);

    // onto an existing tag: it becomes the source (what the source lacks is untagged)
    farm.koji(&[
        "clone-tag",
        "--latest-only",
        "--pkgs",
        "--builds",
        RELEASE,
        "tgg-clone",
    ])
    .ok()
    .stdout_empty();
    assert_eq!(nvrs(farm, "tgg-clone"), ["tgfoo-1.0-2"]);
    // … unless --no-delete
    farm.koji(&[
        "clone-tag",
        "--no-delete",
        "--pkgs",
        "--builds",
        "tgg-clone-old",
        "tgg-clone",
    ])
    .ok();
    assert_eq!(nvrs(farm, "tgg-clone"), ["tgfoo-1.0-1", "tgfoo-1.0-2"]);

    // --config copies arches and settings
    farm.koji(&["clone-tag", "--config", "tgg-build", "tgg-clone-config"])
        .ok();
    let tag = farm.call_json(&["getTag", "tgg-clone-config"]);
    assert_eq!(tag["arches"], "x86_64", "{tag}");
    // --test is gone from the server side, as the CLI says
    farm.koji(&["clone-tag", "--test", RELEASE, "tgg-clone-test"])
        .fails_with(2)
        .stderr_has("server-side operation, test output is no longer available");
    assert!(farm.call_json(&["getTag", "tgg-clone-test"]).is_null());
}

fn refusals_say_why_and_change_nothing(farm: &Farm) {
    farm.koji(&["add-tag", "tgg-locked"]).ok();
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "tgg-locked", PKG])
        .ok();
    // the master lock (a plain lock-tag only makes the tag need the admin permission)
    farm.koji(&["lock-tag", "--master", "tgg-locked"]).ok();
    farm.koji(&["lock-tag", "tgg-build"]).ok();
    let watch = |args: &[&str]| farm.koji_in_for(&home(farm), TASK_TIMEOUT, args);
    let before: Vec<_> = [RELEASE, TESTING, "tgg-locked", "tgg-build"]
        .iter()
        .map(|t| tagged(farm, t))
        .collect();

    watch(&["tag-build", "--wait", "tgg-nosuch", "tgfoo-1.0-1"])
        .fails_with(1)
        .stderr_has("GenericError: No such tagInfo: 'tgg-nosuch'");
    watch(&["tag-build", "--wait", TESTING, "tgfoo-9-9"])
        .fails_with(1)
        .stderr_has("GenericError: No such build: 'tgfoo-9-9'");
    watch(&["tag-build", "--wait", "tgg-locked", "tgfoo-1.0-1"])
        .fails_with(1)
        .stderr_has("ActionNotAllowed: tag is locked");
    watch(&["tag-build", "--wait", "tgg-build", "tgfoo-1.0-1"])
        .fails_with(1)
        .stderr_has("TagError: Package tgfoo not in list for tgg-build");
    watch(&["move-build", "--wait", RELEASE, "tgg-build", "tgfoo-1.0-1"])
        .fails_with(1)
        .stderr_has("TagError: Package tgfoo not in list for tgg-build");
    // a user who owns neither the build nor the package, without the tag permission
    farm.koji_as(
        "tggpackager",
        &["tag-build", "--nowait", TESTING, "tgfoo-1.0-1"],
    )
    .fails_with(1)
    .stderr_has(
        "ActionNotAllowed: policy violation (tag): tagging a build needs the tag permission",
    );
    farm.koji_as(
        "tggpackager",
        &["tag-build", "--nowait", "tgg-build", "tgfoo-1.0-1"],
    )
    .fails_with(1)
    .stderr_has("ActionNotAllowed: tag requires admin permission");
    farm.koji_as("tggpackager", &["untag-build", RELEASE, "tgfoo-1.0-1"])
        .fails_with(1)
        .stderr_has(
            "ActionNotAllowed: policy violation (tag): untagging a build needs the tag permission",
        );
    farm.koji_as("tggpackager", &["clone-tag", RELEASE, "tgg-clone-user"])
        .fails_with(2)
        .stderr_has("This action requires tag or admin privileges");
    // untag-build's own checks
    farm.koji(&["untag-build", "tgg-nosuch", "tgfoo-1.0-1"])
        .fails_with(2)
        .stderr_has("No such tag: tgg-nosuch");
    farm.koji(&["untag-build", TESTING, "tgfoo-9-9"])
        .fails_with(1)
        .stderr_has("No such build: tgfoo-9-9");
    farm.koji(&["untag-build", TESTING, "tgfoo-1.0-1"])
        .fails_with(1)
        .stderr_has("Build tgfoo-1.0-1 not in tag tgg-testing");
    // with --force the CLI only warns, and has nothing to untag
    farm.koji(&["untag-build", "--force", "tgg-locked", "tgfoo-1.0-1"])
        .ok()
        .stderr_has("Build tgfoo-1.0-1 not in tag tgg-locked");
    // clone-tag: a locked source needs --force; a missing one is named
    farm.koji(&["clone-tag", "--all", "tgg-locked", "tgg-clone-locked"])
        .fails_with(2)
        .stderr_has("You are attempting to clone from or to a tag which is locked.");
    farm.koji(&["clone-tag", "tgg-nosuch", "tgg-clone-none"])
        .fails_with(2)
        .stderr_has("No such src-tag: tgg-nosuch");
    let after: Vec<_> = [RELEASE, TESTING, "tgg-locked", "tgg-build"]
        .iter()
        .map(|t| tagged(farm, t))
        .collect();
    assert_eq!(before, after, "a refusal changed what is tagged");
    for t in ["tgg-clone-user", "tgg-clone-locked", "tgg-clone-none"] {
        assert!(farm.call_json(&["getTag", t]).is_null(), "{t} was made");
    }

    // an admin's --force opens the locked tag
    let out = watch(&[
        "tag-build",
        "--wait",
        "--force",
        "tgg-locked",
        "tgfoo-1.0-1",
    ])
    .ok();
    has_line(
        &out,
        &format!("{} tagBuild (noarch) completed successfully", created(&out)),
    );
    assert_eq!(nvrs(farm, "tgg-locked"), ["tgfoo-1.0-1"]);
}
