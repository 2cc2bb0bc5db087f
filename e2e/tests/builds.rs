//! Builds through the stock koji CLI against the farm's local builder (`local-builder`, real
//! rpmbuild): scratch and regular builds, what `taskinfo`, `buildinfo` and the `download-*`
//! commands show, a failing build and its resubmission, cancel of a running build, and bad
//! sources. All tests share one farm; each uses its own target (and package names where a
//! regular build is made).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::builds::{
    self, CANCELED, OPEN, Spec, add_target, build_arch_child, created_task, field, file_names,
    make_noarch_rpm, make_srpm, processes_running, rpm_query, submit_scratch, task_state, taskinfo,
    wait_for, watched_task,
};
use kkoji_e2e::cli::run_with_timeout;
use kkoji_e2e::farm::processes_under;
use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    scratch_build_end_to_end,
    arch_specific_scratch_build_builds_x86_64,
    regular_build_is_imported_tagged_and_downloadable,
    buildinfo_shows_a_regular_build,
    failing_build_reports_the_reason_and_resubmits,
    cancel_stops_a_running_build,
    build_with_unknown_target_is_refused,
    binary_rpm_as_source_is_refused,
    text_file_as_source_is_refused_plainly,
);

/// Generous bound for one small build on a busy 2-core machine.
const BUILD_TIMEOUT: Duration = Duration::from_secs(180);

/// `koji build [--scratch] --wait TARGET FILE` from `dir`, with a timeout long enough for the
/// build.
fn build_wait(farm: &Farm, dir: &Path, scratch: bool, target: &str, file: &str) -> Output {
    let mut args = vec!["build"];
    if scratch {
        args.push("--scratch");
    }
    args.extend(["--wait", target, file]);
    farm.koji_in_for(dir, BUILD_TIMEOUT, &args)
}

/// Asserts that `out` has the exact line `line` (surrounding blanks ignored).
#[track_caller]
/// koji's task watcher prints a task it first sees closed as `LABEL: closed`, and one it saw
/// change as `LABEL: open (host) -> closed`; which one depends on its polling, not on us.
fn closed_line(out: &Output, label: &str) {
    let first_seen = format!("{label}: closed");
    let changed = format!("{label}: ");
    assert!(
        out.lines().iter().any(|l| {
            let l = l.trim();
            l == first_seen || (l.starts_with(&changed) && l.ends_with("-> closed"))
        }),
        "no line saying {label} closed:\n{out}"
    );
}

fn has_line(out: &Output, line: &str, context: &str) {
    assert!(
        out.lines().iter().any(|l| l.trim() == line),
        "missing line {line:?}:\n{out}\n{context}"
    );
}

/// `work/tasks/<id % 10000>/<id>/FILE` of a task's outputs, as Koji lays them out.
fn task_file(id: i64, file: &str) -> String {
    format!("/work/tasks/{}/{id}/{file}", id % 10000)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn scratch_build_end_to_end(farm: &Farm) {
    add_target(farm, "sc-f40", &[]);
    let dir = farm.work_dir("scratch");
    make_srpm(&dir, "foo", Spec::Noarch);
    let out = build_wait(farm, &dir, true, "sc-f40", "foo-1.0-1.src.rpm");
    let log = farm.builder_log_tail(40);
    assert!(out.status == Some(0), "scratch build failed:\n{out}\n{log}");
    out.clone()
        .stdout_has("Uploading srpm: foo-1.0-1.src.rpm")
        .stdout_has("Watching tasks (this may be safely interrupted)...");
    let parent = created_task(&out);
    has_line(
        &out,
        &format!(
            "Task info: https://127.0.0.1:{}/koji/taskinfo?taskID={parent}",
            farm.port()
        ),
        "",
    );
    // State lines of the parent, ending closed, and the final verdict.
    let label = format!("{parent} build (sc-f40, foo-1.0-1.src.rpm)");
    assert!(
        out.lines()
            .iter()
            .any(|l| l.starts_with(&format!("{label}: ")) && l.ends_with("closed")),
        "no `{label}: … closed` state line:\n{out}"
    );
    has_line(&out, &format!("{label} completed successfully"), "");
    let child = watched_task(&out, "buildArch (foo-1.0-1.src.rpm, noarch)");
    closed_line(
        &out,
        &format!("{child} buildArch (foo-1.0-1.src.rpm, noarch)"),
    );

    // taskinfo -r: the parent and its buildArch child, both on local-builder, with the
    // child's logs and RPMs.
    let info = farm.koji(&["taskinfo", "-r", &parent.to_string()]).ok();
    let text = info.stdout.clone();
    let (top, sub) = text
        .split_once(&format!("  Task: {child}\n"))
        .unwrap_or_else(|| panic!("no `  Task: {child}` subtask section:\n{info}"));
    for line in [
        format!("Task: {parent}"),
        "Type: build".into(),
        "Owner: kojiadmin".into(),
        "State: closed".into(),
        "Host: local-builder".into(),
    ] {
        assert!(
            top.lines().any(|l| l == line),
            "parent section lacks {line:?}:\n{info}"
        );
    }
    for line in [
        "  Type: buildArch",
        "  Owner: kojiadmin",
        "  State: closed",
        "  Host: local-builder",
    ] {
        assert!(
            sub.lines().any(|l| l == line),
            "subtask section lacks {line:?}:\n{info}"
        );
    }
    let (logs, outputs) = sub
        .split_once("  Output:\n")
        .unwrap_or_else(|| panic!("no Output: in the subtask section:\n{info}"));
    for f in ["build.log", "root.log", "state.log"] {
        let suffix = task_file(child, f);
        assert!(
            logs.lines()
                .any(|l| l.starts_with("    /") && l.ends_with(&suffix)),
            "Log Files of the subtask lack …{suffix}:\n{info}"
        );
    }
    for f in ["foo-1.0-1.noarch.rpm", "foo-1.0-1.src.rpm"] {
        let suffix = task_file(child, f);
        assert!(
            outputs
                .lines()
                .any(|l| l.starts_with("    /") && l.ends_with(&suffix)),
            "Output of the subtask lacks …{suffix}:\n{info}"
        );
    }

    // download-task: the RPMs, really RPMs of foo.
    let dl = farm.work_dir("scratch-download");
    let got = farm.koji_in(&dl, &["download-task", &parent.to_string()]);
    let got = got.ok();
    got.clone()
        .stdout_has("foo-1.0-1.noarch.rpm")
        .stdout_has("foo-1.0-1.src.rpm");
    assert_eq!(
        file_names(&dl),
        ["foo-1.0-1.noarch.rpm", "foo-1.0-1.src.rpm"],
        "files downloaded by download-task:\n{got}"
    );
    let rpm = dl.join("foo-1.0-1.noarch.rpm");
    assert_eq!(rpm_query(&rpm, "%{NAME}"), "foo");
    assert_eq!(rpm_query(&rpm, "%{NVR}.%{ARCH}"), "foo-1.0-1.noarch");
    assert_eq!(
        rpm_query(&rpm, "[%{FILENAMES}\n]").trim(),
        "/usr/share/foo/hello.txt"
    );
    assert_eq!(
        rpm_query(&dl.join("foo-1.0-1.src.rpm"), "%{NVR} %{SOURCERPM}"),
        "foo-1.0-1 (none)",
        "the downloaded SRPM is a source package"
    );

    // download-logs of the buildArch: build.log is rpmbuild's output.
    let dl = farm.work_dir("scratch-logs");
    farm.koji_in(&dl, &["download-logs", &child.to_string()])
        .ok()
        .stdout_has(&format!("Downloading: kojilogs/noarch-{child}/build.log"));
    let logs = dl.join("kojilogs").join(format!("noarch-{child}"));
    assert_eq!(
        file_names(&logs),
        ["build.log", "root.log", "state.log"],
        "logs downloaded into {}",
        logs.display()
    );
    let build_log = read(&logs.join("build.log"));
    for needle in [
        "Executing(%build)",
        "kkoji-e2e building foo",
        "Wrote: ",
        "foo-1.0-1.noarch.rpm",
    ] {
        assert!(
            build_log.contains(needle),
            "build.log lacks {needle:?}:\n{build_log}"
        );
    }
    let root_log = read(&logs.join("root.log"));
    assert!(
        root_log.contains("rpmbuild"),
        "root.log should say what ran:\n{root_log}"
    );
    // … and recursively from the parent: kojilogs/noarch-PARENT/noarch-CHILD/.
    let dl = farm.work_dir("scratch-logs-r");
    farm.koji_in(&dl, &["download-logs", "-r", &parent.to_string()])
        .ok();
    let nested = dl
        .join("kojilogs")
        .join(format!("noarch-{parent}"))
        .join(format!("noarch-{child}"))
        .join("build.log");
    assert!(
        read(&nested).contains("kkoji-e2e building foo"),
        "download-logs -r: {}",
        nested.display()
    );

    // A scratch build is no build: nothing in listBuilds, the RPMs under scratch/.
    let builds = farm.call_json(&["listBuilds", &format!("taskID={parent}")]);
    assert_eq!(builds, serde_json::json!([]), "scratch build made a build");
    let scratch = farm
        .topdir()
        .join("scratch")
        .join("kojiadmin")
        .join(format!("task_{parent}"));
    let names = file_names(&scratch);
    assert!(
        names.contains(&"foo-1.0-1.noarch.rpm".to_string())
            && names.contains(&"foo-1.0-1.src.rpm".to_string()),
        "scratch results in {}: {names:?}",
        scratch.display()
    );
}

fn arch_specific_scratch_build_builds_x86_64(farm: &Farm) {
    add_target(farm, "ar-f40", &[]);
    let dir = farm.work_dir("arch");
    make_srpm(&dir, "archy", Spec::Arch);
    let out = build_wait(farm, &dir, true, "ar-f40", "archy-1.0-1.src.rpm");
    let log = farm.builder_log_tail(40);
    assert!(out.status == Some(0), "arch build failed:\n{out}\n{log}");
    let parent = created_task(&out);
    has_line(
        &out,
        &format!("{parent} build (ar-f40, archy-1.0-1.src.rpm) completed successfully"),
        "",
    );
    let child = watched_task(&out, "buildArch (archy-1.0-1.src.rpm, x86_64)");
    closed_line(
        &out,
        &format!("{child} buildArch (archy-1.0-1.src.rpm, x86_64)"),
    );
    let dl = farm.work_dir("arch-download");
    farm.koji_in(&dl, &["download-task", &parent.to_string()])
        .ok();
    assert_eq!(
        file_names(&dl),
        ["archy-1.0-1.src.rpm", "archy-1.0-1.x86_64.rpm"]
    );
    assert_eq!(
        rpm_query(&dl.join("archy-1.0-1.x86_64.rpm"), "%{NAME} %{ARCH}"),
        "archy x86_64"
    );
    // Its logs are under the arch's name.
    let dl = farm.work_dir("arch-logs");
    farm.koji_in(&dl, &["download-logs", &child.to_string()])
        .ok();
    let build_log = read(
        &dl.join("kojilogs")
            .join(format!("x86_64-{child}"))
            .join("build.log"),
    );
    assert!(
        build_log.contains("kkoji-e2e building archy"),
        "build.log:\n{build_log}"
    );
}

fn regular_build_is_imported_tagged_and_downloadable(farm: &Farm) {
    add_target(farm, "rg-f40", &["foo"]);
    let dir = farm.work_dir("regular");
    make_srpm(&dir, "foo", Spec::Noarch);
    let out = build_wait(farm, &dir, false, "rg-f40", "foo-1.0-1.src.rpm");
    let log = farm.builder_log_tail(40);
    assert!(out.status == Some(0), "regular build failed:\n{out}\n{log}");
    let parent = created_task(&out);
    has_line(
        &out,
        &format!("{parent} build (rg-f40, foo-1.0-1.src.rpm) completed successfully"),
        "",
    );
    let child = watched_task(&out, "buildArch (foo-1.0-1.src.rpm, noarch)");
    closed_line(
        &out,
        &format!("{child} buildArch (foo-1.0-1.src.rpm, noarch)"),
    );
    let tag_task = watched_task(&out, "tagBuild (noarch)");
    closed_line(&out, &format!("{tag_task} tagBuild (noarch)"));

    // Imported into the topdir as Koji lays builds out.
    let build_dir = farm.topdir().join("packages/foo/1.0/1");
    for f in [
        "noarch/foo-1.0-1.noarch.rpm",
        "src/foo-1.0-1.src.rpm",
        "data/logs/noarch/build.log",
    ] {
        assert!(
            build_dir.join(f).is_file(),
            "{} is missing after the build",
            build_dir.join(f).display()
        );
    }
    assert_eq!(
        rpm_query(&build_dir.join("noarch/foo-1.0-1.noarch.rpm"), "%{NVR}"),
        "foo-1.0-1"
    );

    // The queries a user runs next.
    let latest = farm
        .koji(&["latest-build", "--quiet", "rg-f40", "foo"])
        .ok();
    assert_eq!(
        latest.expect_row("foo-1.0-1"),
        ["foo-1.0-1", "rg-f40", "kojiadmin"],
        "{latest}"
    );
    let listed = farm
        .koji(&["list-builds", "--quiet", "--package", "foo"])
        .ok();
    assert_eq!(
        listed.expect_row("foo-1.0-1"),
        ["foo-1.0-1", "kojiadmin", "COMPLETE"],
        "{listed}"
    );
    let tagged = farm.koji(&["list-tagged", "--quiet", "rg-f40"]).ok();
    assert_eq!(
        tagged.first_columns(),
        ["foo-1.0-1"],
        "only foo-1.0-1 is tagged into rg-f40:\n{tagged}"
    );
    assert_eq!(
        tagged.expect_row("foo-1.0-1"),
        ["foo-1.0-1", "rg-f40", "kojiadmin"],
        "{tagged}"
    );
    let builds = farm.call_json(&["listBuilds", &format!("taskID={parent}")]);
    assert_eq!(
        builds[0]["nvr"], "foo-1.0-1",
        "the build belongs to task {parent}: {builds}"
    );

    // download-build: exactly the two RPMs, byte for byte what the topdir holds.
    let dl = farm.work_dir("regular-download");
    let got = farm.koji_in(&dl, &["download-build", "foo-1.0-1"]).ok();
    assert_eq!(
        file_names(&dl),
        ["foo-1.0-1.noarch.rpm", "foo-1.0-1.src.rpm"],
        "files downloaded by download-build:\n{got}"
    );
    assert_eq!(
        fs::read(dl.join("foo-1.0-1.noarch.rpm")).expect("read download"),
        fs::read(build_dir.join("noarch/foo-1.0-1.noarch.rpm")).expect("read topdir RPM"),
        "download-build must fetch the imported RPM"
    );
}

fn buildinfo_shows_a_regular_build(farm: &Farm) {
    add_target(farm, "bi-f40", &["binfo"]);
    let dir = farm.work_dir("buildinfo");
    make_srpm(&dir, "binfo", Spec::Noarch);
    let out = build_wait(farm, &dir, false, "bi-f40", "binfo-1.0-1.src.rpm");
    let log = farm.builder_log_tail(40);
    assert!(out.status == Some(0), "regular build failed:\n{out}\n{log}");
    let parent = created_task(&out);
    let info = farm.koji(&["buildinfo", "binfo-1.0-1"]);
    let info = info.ok();
    let build_id = farm.call_json(&["getBuild", "binfo-1.0-1"])["id"]
        .as_i64()
        .expect("build id");
    for line in [
        format!("BUILD: binfo-1.0-1 [{build_id}]"),
        "State: COMPLETE".into(),
        "Built by: kojiadmin".into(),
        format!("Task: {parent} build (bi-f40, binfo-1.0-1.src.rpm)"),
        "Tags: bi-f40".into(),
        "RPMs:".into(),
    ] {
        has_line(&info, &line, "");
    }
    for rpm in ["noarch/binfo-1.0-1.noarch.rpm", "src/binfo-1.0-1.src.rpm"] {
        let suffix = format!("/packages/binfo/1.0/1/{rpm}");
        assert!(
            info.lines().iter().any(|l| l.ends_with(&suffix)),
            "buildinfo lacks the RPM …{suffix}:\n{info}"
        );
    }
    // `koji search`: glob (case-insensitive), regex and exact, over builds, RPMs, packages,
    // tags and targets
    for (args, want) in [
        (&["search", "build", "BINFO*"][..], "binfo-1.0-1\n"),
        (&["search", "build", "binf?-1.0-*"], "binfo-1.0-1\n"),
        (
            &["search", "--regex", "build", "^binfo-[0-9.]+-1$"],
            "binfo-1.0-1\n",
        ),
        (&["search", "--exact", "build", "binfo-1.0"], ""),
        (
            &["search", "rpm", "binfo-*"],
            "binfo-1.0-1.noarch.rpm\nbinfo-1.0-1.src.rpm\n",
        ),
        (&["search", "package", "binf*"], "binfo\n"),
        (&["search", "--exact", "target", "bi-f40"], "bi-f40\n"),
        (&["search", "tag", "bi-f4?"], "bi-f40\n"),
        (&["search", "maven", "binfo*"], ""),
    ] {
        let out = farm.koji(args).ok();
        let mut lines: Vec<&str> = out.lines();
        lines.sort_unstable();
        let got: String = lines.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(got, want, "koji {}:\n{out}", args.join(" "));
    }
    farm.koji(&["search", "--regex", "build", "binfo("])
        .fails_with(1)
        .stderr_has("Invalid regular expression");
}

fn failing_build_reports_the_reason_and_resubmits(farm: &Farm) {
    add_target(farm, "fl-f40", &[]);
    let dir = farm.work_dir("failing");
    make_srpm(&dir, "bad", Spec::Failing);
    let out = build_wait(farm, &dir, true, "fl-f40", "bad-1.0-1.src.rpm");
    let out = out.fails_with(1);
    let parent = created_task(&out);
    let child = watched_task(&out, "buildArch (bad-1.0-1.src.rpm, noarch)");
    // The reason: rpmbuild's error line, from the builder's work directory of the child.
    let reason_prefix = "FAILED: BuildError: error: Bad exit status from ";
    let work = farm.state_dir().join("builder/work/tasks");
    let script = format!("{}/{child}/tmp/rpm-tmp.", work.display());
    let child_line = out
        .lines()
        .iter()
        .find(|l| l.trim_start().starts_with(&format!("{child} buildArch ")))
        .map(|l| l.trim().to_string())
        .expect("child line");
    assert!(
        child_line.starts_with(&format!(
            "{child} buildArch (bad-1.0-1.src.rpm, noarch): {reason_prefix}{script}"
        )) && child_line.ends_with(" (%build)"),
        "the buildArch line must give rpmbuild's error:\n{out}"
    );
    let label = format!("{parent} build (fl-f40, bad-1.0-1.src.rpm)");
    assert!(
        out.lines()
            .iter()
            .any(|l| l.starts_with(&format!("{label}: "))
                && l.contains(reason_prefix)
                && l.ends_with(" (%build)")),
        "the build line must fail with the child's reason:\n{out}"
    );
    has_line(&out, &format!("{label} failed"), "");
    // The relevant logs, served on topurl.
    has_line(&out, "Relevant logs:", "");
    let url = format!(
        "http://127.0.0.1:{}/kojifiles{}",
        farm.port() + 1,
        task_file(child, "build.log")
    );
    has_line(&out, &url, "");
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--fail", &url]);
    let served = run_with_timeout(curl, Duration::from_secs(30));
    assert!(
        served.status == Some(0) && served.stdout.contains("kkoji-e2e about to fail"),
        "the build.log URL must serve rpmbuild's output:\n{served}"
    );

    // watch-task and taskinfo say the same afterwards.
    let watched = farm
        .koji(&["watch-task", &parent.to_string()])
        .fails_with(1);
    has_line(&watched, &format!("{label} failed"), "");
    assert!(
        watched
            .lines()
            .iter()
            .any(|l| l.trim().starts_with(&format!("{child} buildArch"))
                && l.contains(reason_prefix)),
        "{watched}"
    );
    assert_eq!(task_state(farm, parent), "failed");
    assert_eq!(task_state(farm, child), "failed");

    // resubmit: a new task with the same request, which fails the same way.
    let re = farm
        .koji(&["resubmit", "--nowait", &parent.to_string()])
        .ok();
    let new: i64 = re
        .lines()
        .iter()
        .find_map(|l| l.strip_prefix(&format!("Resubmitted task {parent} as new task ")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Resubmitted task {parent} as new task N`:\n{re}"));
    assert!(new > child, "the new task {new} must be a new id:\n{re}");
    let old_req = farm.call_json(&["getTaskInfo", &parent.to_string(), "request=True"]);
    let new_req = farm.call_json(&["getTaskInfo", &new.to_string(), "request=True"]);
    assert_eq!(new_req["method"], "build", "{new_req}");
    assert_eq!(
        new_req["request"][0], old_req["request"][0],
        "same source: {new_req}"
    );
    assert_eq!(new_req["request"][1], "fl-f40", "same target: {new_req}");
    let state = wait_for(
        &format!("resubmitted task {new} to finish"),
        BUILD_TIMEOUT,
        || {
            let s = task_state(farm, new);
            if ["free", "open", "assigned"].contains(&s.as_str()) {
                Err(s)
            } else {
                Ok(s)
            }
        },
    );
    assert_eq!(state, "failed", "the resubmitted build fails the same way");
}

fn cancel_stops_a_running_build(farm: &Farm) {
    add_target(farm, "cn-f40", &[]);
    let dir = farm.work_dir("cancel");
    let srpm = make_srpm(&dir, "slowpoke", Spec::Slow(120));
    let parent = submit_scratch(farm, "cn-f40", &srpm);
    let child = build_arch_child(farm, parent, BUILD_TIMEOUT);
    let task_dir = farm
        .state_dir()
        .join("builder/work/tasks")
        .join(child.to_string());
    // Running: the buildArch is open and rpmbuild's `sleep 120` works in its directory.
    let sleeper = wait_for(
        &format!("`sleep 120` of task {child} under {}", task_dir.display()),
        BUILD_TIMEOUT,
        || {
            let state = builds::children(farm, parent)
                .into_iter()
                .find(|(id, _, _)| *id == child)
                .map(|(_, _, s)| s);
            let procs = processes_running("sleep 120", &task_dir);
            match (state, procs.first()) {
                (Some(OPEN), Some(p)) => Ok(p.pid),
                (s, _) => Err(format!("state {s:?}, {} sleep processes", procs.len())),
            }
        },
    );
    let info = taskinfo(farm, child);
    assert_eq!(field(&info, "State").as_deref(), Some("open"), "{info}");
    assert_eq!(
        field(&info, "Host").as_deref(),
        Some("local-builder"),
        "{info}"
    );

    farm.koji(&["cancel", &parent.to_string()])
        .ok()
        .stdout_empty();
    // The whole build goes: the sleep, rpmbuild, its shell.
    wait_for(
        &format!("the build of task {child} to stop (sleep was pid {sleeper})"),
        Duration::from_secs(30),
        || {
            let left = processes_under(&task_dir);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{:?}\n{}",
                    left.iter()
                        .map(|p| (p.pid, p.cmdline.clone()))
                        .collect::<Vec<_>>(),
                    farm.builder_log_tail(20)
                ))
            }
        },
    );
    assert_eq!(task_state(farm, parent), "canceled");
    assert_eq!(task_state(farm, child), "canceled");
    let kids = builds::children(farm, parent);
    assert!(
        kids.iter().all(|(_, _, s)| *s == CANCELED),
        "every subtask is canceled: {kids:?}"
    );
    let watched = farm
        .koji(&["watch-task", &parent.to_string()])
        .fails_with(1);
    has_line(
        &watched,
        &format!("{parent} build (cn-f40, slowpoke-1.0-1.src.rpm) was canceled"),
        "",
    );
    has_line(
        &watched,
        &format!("{child} buildArch (slowpoke-1.0-1.src.rpm, noarch): canceled"),
        "",
    );
}

fn build_with_unknown_target_is_refused(farm: &Farm) {
    let dir = farm.work_dir("no-target");
    make_srpm(&dir, "lost", Spec::Noarch);
    farm.koji_in(
        &dir,
        &["build", "--scratch", "nosuch-target", "lost-1.0-1.src.rpm"],
    )
    .fails_with(2)
    .stderr_has("koji: error: No such build target: nosuch-target")
    .stdout_lacks("Uploading srpm")
    .stdout_lacks("Created task");
    // Nothing was created for it.
    let tasks = farm.koji(&["list-tasks", "--quiet"]).ok();
    tasks.stdout_lacks("lost-1.0-1.src.rpm");
}

fn binary_rpm_as_source_is_refused(farm: &Farm) {
    add_target(farm, "bt-f40", &[]);
    let dir = farm.work_dir("binary-source");
    make_noarch_rpm(&dir, "binrpm");
    farm.koji_in(
        &dir,
        &["build", "--scratch", "bt-f40", "binrpm-1.0-1.noarch.rpm"],
    )
    .fails_with(1)
    .stdout_lacks("Created task")
    .stderr_has("GenericError: ")
    .stderr_has("binrpm-1.0-1.noarch.rpm is not a source rpm");
}

fn text_file_as_source_is_refused_plainly(farm: &Farm) {
    add_target(farm, "tx-f40", &[]);
    let dir = farm.work_dir("text-source");
    let text: String = (1..=200)
        .map(|i| format!("kkoji-e2e notes line {i}\n"))
        .collect();
    fs::write(dir.join("notes.txt"), &text).expect("write notes.txt");
    fs::write(dir.join("tiny.src.rpm"), "hello\n").expect("write tiny.src.rpm");
    for file in ["notes.txt", "tiny.src.rpm"] {
        let out = farm
            .koji_in(&dir, &["build", "--scratch", "tx-f40", file])
            .fails_with(1)
            .stdout_lacks("Created task")
            .stderr_has("GenericError: ")
            .stderr_has(&format!("{file}: not an RPM"));
        // One readable sentence, not a dump of the file's bytes.
        let fault = out
            .stderr
            .lines()
            .find(|l| l.contains("not an RPM"))
            .unwrap_or_default();
        assert!(
            fault.len() < 400 && !fault.contains("whole input was"),
            "the fault for a text file must be a short sentence ({} characters):\n{out}",
            fault.len()
        );
    }
}
