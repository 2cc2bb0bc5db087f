//! Real builders against a real hub: capacity limits, readiness (with the reason the builder
//! gives in the host's comment), and a builder lost in the middle of a build. Each test has its
//! own farm; the readiness and loss tests start it without the local builder and run builders
//! of their own (`kkoji_e2e::builder::TestBuilder`).

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kkoji_e2e::builder::{BuilderSettings, TestBuilder};
use kkoji_e2e::builds::{
    self, CLOSED, FREE, OPEN, Spec, add_target, build_arch_child, field, file_names, make_srpm,
    processes_running, submit_scratch, task_state, taskinfo, wait_for,
};
use kkoji_e2e::farm::processes_under;
use kkoji_e2e::{Farm, Output};

kkoji_e2e::isolated_main!(
    capacity_one_runs_one_build_arch_at_a_time,
    load_above_capacity_makes_the_builder_not_ready,
    missing_mount_makes_the_builder_not_ready,
    lost_builder_task_is_finished_by_another_builder,
    one_slot_builder_runs_a_build_with_its_repo_tasks,
);

/// Bound for anything that involves a build or a builder's check-in on a busy machine.
const LONG: Duration = Duration::from_secs(180);

/// Rows of `koji list-tasks --quiet --host HOST --method buildArch` as (id, state).
fn build_arch_rows(farm: &Farm, host: &str) -> (Output, Vec<(i64, String)>) {
    let out = farm
        .koji(&[
            "list-tasks",
            "--quiet",
            "--host",
            host,
            "--method",
            "buildArch",
        ])
        .ok();
    let rows = out
        .lines()
        .iter()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // ID Pri Owner State Arch Name…
            let id = cols.first()?.parse().ok()?;
            Some((id, cols.get(3)?.to_string()))
        })
        .collect();
    (out, rows)
}

/// The `Comment:` and `Ready:` lines of `koji hostinfo HOST`.
fn comment_and_ready(farm: &Farm, host: &str) -> (Output, String, String) {
    let out = farm.koji(&["hostinfo", host]).ok();
    let comment = field(&out, "Comment").unwrap_or_default();
    let ready = field(&out, "Ready").unwrap_or_default();
    (out, comment, ready)
}

/// The Comment column of HOST's row in `koji list-hosts --comment --quiet`: everything after
/// the `Last Update` column (`Mon, 23 Nov 2026 05:43:01 UTC`).
#[track_caller]
fn hosts_comment(out: &Output, host: &str) -> String {
    let line = out
        .lines()
        .into_iter()
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no row for {host}:\n{out}"));
    line.split_once(" UTC")
        .map(|(_, rest)| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no Last Update column in {line:?}:\n{out}"))
}

/// What the koji CLI shows of a long comment in listings (`truncate_string`: 47 characters
/// and `...`).
fn truncated(s: &str) -> String {
    if s.chars().count() > 47 {
        format!("{}...", s.chars().take(47).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The task `id` as `(state, host_id)` from `getTaskInfo`.
fn state_and_host(farm: &Farm, id: i64) -> (i64, Option<i64>) {
    let t = farm.call_json(&["getTaskInfo", &id.to_string()]);
    (t["state"].as_i64().unwrap_or(-1), t["host_id"].as_i64())
}

fn host_id(farm: &Farm, name: &str) -> i64 {
    farm.call_json(&["getHost", name])["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no host {name}"))
}

fn capacity_one_runs_one_build_arch_at_a_time() {
    let farm = Farm::start();
    add_target(&farm, "cap", &[]);
    farm.koji(&["edit-host", "local-builder", "--capacity", "1.0"])
        .ok()
        .stdout_has("Edited local-builder");
    let info = farm.koji(&["hostinfo", "local-builder"]).ok();
    assert_eq!(field(&info, "Capacity").as_deref(), Some("1.0"), "{info}");
    let dir = farm.work_dir("capacity");
    let a = make_srpm(&dir, "cap-a", Spec::Slow(120));
    let b = make_srpm(&dir, "cap-b", Spec::Slow(120));
    let pa = submit_scratch(&farm, "cap", &a);
    let pb = submit_scratch(&farm, "cap", &b);
    let work = farm.state_dir().join("builder/work/tasks");

    // One buildArch (weight 1.5 > capacity 1.0: taken only because the builder is otherwise
    // idle, its build tasks waiting) runs…
    let first = wait_for(
        "a buildArch OPEN on local-builder (capacity 1.0)",
        Duration::from_secs(60),
        || {
            let (out, rows) = build_arch_rows(&farm, "local-builder");
            rows.iter()
                .find(|(_, s)| s == "OPEN")
                .map(|(id, _)| *id)
                .ok_or_else(|| {
                    let all = farm.koji(&["list-tasks"]).ok();
                    format!("{out}\n{all}\n{}", farm.builder_log_tail(12))
                })
        },
    );
    // …and while it does, the other one does not: for 15 s, never two open, never two
    // `sleep 120` processes of builds.
    let observe_until = Instant::now() + Duration::from_secs(15);
    let mut seen = 0;
    while Instant::now() < observe_until {
        let (out, rows) = build_arch_rows(&farm, "local-builder");
        let open: Vec<i64> = rows
            .iter()
            .filter(|(_, s)| s == "OPEN")
            .map(|(id, _)| *id)
            .collect();
        assert!(
            open.len() <= 1,
            "two buildArch tasks open at once on a host of capacity 1.0: {open:?}\n{out}"
        );
        let sleeps = processes_running("sleep 120", &work);
        assert!(
            sleeps.len() <= 1,
            "two builds running at once on a host of capacity 1.0: {sleeps:?}\n{out}"
        );
        seen += 1;
        std::thread::sleep(Duration::from_millis(1000));
    }
    assert!(seen > 3, "observed only {seen} times");
    // The second build waits while the first runs: a capacity-1.0 host full with a
    // 1.5-weight buildArch does not take the other build's buildArch. (Both parents may be
    // open: they started while the host was idle, to get their buildroot repo.)
    let info = farm.call_json(&["getTaskInfo", &first.to_string()]);
    let first_parent = info["parent"].as_i64().expect("buildArch has a parent");
    assert!(
        first_parent == pa || first_parent == pb,
        "{first} belongs to neither build"
    );
    let other_parent = if first_parent == pa { pb } else { pa };
    let parent_state = task_state(&farm, other_parent);
    assert!(
        ["free", "assigned", "open"].contains(&parent_state.as_str()),
        "the second build is {parent_state}"
    );
    let waiting: Vec<(i64, String, String)> = kkoji_e2e::builds::children(&farm, other_parent)
        .into_iter()
        .map(|(id, method, _)| (id, method, task_state(&farm, id)))
        .collect();
    assert!(
        waiting
            .iter()
            .filter(|(_, m, _)| m == "buildArch")
            .all(|(_, _, st)| st == "free" || st == "assigned"),
        "the second build's buildArch must wait while the first runs: {waiting:?}"
    );
    assert_eq!(task_state(&farm, first), "open");

    farm.koji(&["cancel", &pa.to_string(), &pb.to_string()])
        .ok();
    wait_for(
        "the canceled builds to stop",
        Duration::from_secs(30),
        || {
            let left = processes_under(&work);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    );
    assert_eq!(task_state(&farm, pa), "canceled");
    assert_eq!(task_state(&farm, pb), "canceled");
}

/// A busy loop that keeps the 1-minute load average above 0.01 on an otherwise idle
/// machine; killed when dropped.
struct Spinner(Child);

impl Spinner {
    fn start() -> Spinner {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Spinner(cmd.spawn().expect("start a busy loop"))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn loadavg() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A build submitted while the only builder is not ready stays FREE: observed for `secs`.
fn stays_free(farm: &Farm, builder: &TestBuilder, target: &str, srpm_name: &str, secs: u64) {
    let dir = farm.work_dir(&format!("free-{target}"));
    let srpm = make_srpm(&dir, srpm_name, Spec::Noarch);
    let task = submit_scratch(farm, target, &srpm);
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let info = taskinfo(farm, task);
        assert_eq!(
            field(&info, "State").as_deref(),
            Some("free"),
            "a not-ready builder must take nothing:\n{info}\n{}",
            builder.log_tail(20)
        );
        assert_eq!(field(&info, "Host"), None, "{info}");
        std::thread::sleep(Duration::from_secs(1));
    }
    let log = fs::read_to_string(builder.log()).unwrap_or_default();
    assert!(
        !log.contains("took task"),
        "the not-ready builder took a task:\n{}",
        builder.log_tail(30)
    );
    let listed = farm.koji(&["list-tasks", "--quiet"]).ok();
    let row = listed.expect_row(&task.to_string());
    assert_eq!(row[3], "FREE", "{listed}");
}

fn load_above_capacity_makes_the_builder_not_ready() {
    let farm = Farm::start_with(&["--no-builder"]);
    // Any machine doing anything has a load average above 0.01; make sure of it.
    let _spin = (loadavg() < 0.1).then(Spinner::start);
    add_target(&farm, "nrl", &[]);
    let mut b = TestBuilder::new(
        &farm,
        "nr-load",
        &BuilderSettings {
            load_check: true,
            ..BuilderSettings::default()
        },
    );
    farm.koji(&["edit-host", "nr-load", "--capacity", "0.01"])
        .ok();
    b.start();
    let prefix = "[builder: not ready: load average ";
    let suffix = " > capacity 0.01]";
    let (info, comment) = wait_for(
        "hostinfo nr-load to say why it is not ready",
        Duration::from_secs(90),
        || {
            let (out, comment, ready) = comment_and_ready(&farm, "nr-load");
            if comment.starts_with(prefix) && ready == "no" {
                Ok((out, comment))
            } else {
                Err(format!("{out}\n{}", b.log_tail(10)))
            }
        },
    );
    // `load average X.XX > capacity 0.01`, nothing else.
    let load = comment
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .unwrap_or_else(|| panic!("comment is not `{prefix}X{suffix}`:\n{info}"));
    let value: f64 = load
        .parse()
        .unwrap_or_else(|_| panic!("load average {load:?} is not a number:\n{info}"));
    assert!(
        value > 0.01 && load.split_once('.').is_some_and(|(_, d)| d.len() == 2),
        "load average {load:?} must be above 0.01, with two decimals:\n{info}"
    );
    let hosts = farm.koji(&["list-hosts", "--comment", "--quiet"]).ok();
    let row = hosts.expect_row("nr-load");
    assert_eq!(row[2], "N", "Rdy column:\n{hosts}");
    assert!(
        hosts_comment(&hosts, "nr-load").starts_with(prefix),
        "list-hosts --comment shows the reason:\n{hosts}"
    );
    assert!(b.running(), "the builder keeps running while not ready");
    stays_free(&farm, &b, "nrl", "idle-load", 10);
}

fn missing_mount_makes_the_builder_not_ready() {
    let farm = Farm::start_with(&["--no-builder"]);
    add_target(&farm, "nrm", &[]);
    let mount = "/nonexistent/kkoji-mnt";
    let mut b = TestBuilder::new(
        &farm,
        "nr-mount",
        &BuilderSettings {
            mounts: vec![(mount.into(), "dir".into())],
            ..BuilderSettings::default()
        },
    );
    // The operator's check says so before the daemon runs.
    let check = b.check();
    assert!(
        check.status == Some(1) && !check.timed_out,
        "check must exit 1 (not ready):\n{check}"
    );
    let text = format!("{}{}", check.stdout, check.stderr);
    assert!(
        text.contains(&format!("not ready: mount {mount}")),
        "check must name the mount:\n{check}"
    );
    b.start();
    let (info, comment) = wait_for(
        "hostinfo nr-mount to say why it is not ready",
        Duration::from_secs(90),
        || {
            let (out, comment, ready) = comment_and_ready(&farm, "nr-mount");
            if comment.starts_with("[builder: not ready: ") && ready == "no" {
                Ok((out, comment))
            } else {
                Err(format!("{out}\n{}", b.log_tail(10)))
            }
        },
    );
    assert!(
        comment.starts_with(&format!("[builder: not ready: mount {mount}"))
            && comment.ends_with(']'),
        "the comment must name the mount:\n{info}"
    );
    let hosts = farm.koji(&["list-hosts", "--comment", "--quiet"]).ok();
    assert_eq!(hosts.expect_row("nr-mount")[2], "N", "{hosts}");
    assert_eq!(
        hosts_comment(&hosts, "nr-mount"),
        truncated(&comment),
        "list-hosts --comment shows the reason (truncated as koji does):\n{hosts}"
    );
    assert!(b.running(), "the builder keeps running while not ready");
    stays_free(&farm, &b, "nrm", "idle-mount", 10);
}

fn lost_builder_task_is_finished_by_another_builder() {
    let farm = Farm::start_with(&[
        "--no-builder",
        "--host-timeout",
        "5",
        "--ready-timeout",
        "5",
    ]);
    add_target(&farm, "loss", &[]);
    let mut a = TestBuilder::new(&farm, "lost-a", &BuilderSettings::default());
    let mut b = TestBuilder::new(&farm, "lost-b", &BuilderSettings::default());
    let (a_id, b_id) = (host_id(&farm, "lost-a"), host_id(&farm, "lost-b"));
    a.start();
    wait_for("lost-a to be ready", Duration::from_secs(90), || {
        let (out, _, ready) = comment_and_ready(&farm, "lost-a");
        if ready == "yes" {
            Ok(())
        } else {
            Err(format!("{out}\n{}", a.log_tail(10)))
        }
    });
    let dir = farm.work_dir("loss");
    let srpm = make_srpm(&dir, "phoenix", Spec::Slow(20));
    let parent = submit_scratch(&farm, "loss", &srpm);
    let child = build_arch_child(&farm, parent, LONG);
    let a_task_dir = a.work().join("tasks").join(child.to_string());
    wait_for(
        "lost-a to run the buildArch (open, `sleep 20` running)",
        LONG,
        || {
            let (state, host) = state_and_host(&farm, child);
            let sleeping = processes_running("sleep 20", &a_task_dir);
            if state == OPEN && host == Some(a_id) && !sleeping.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "state {state} host {host:?}, {} sleep processes\n{}",
                    sleeping.len(),
                    a.log_tail(10)
                ))
            }
        },
    );
    let info = taskinfo(&farm, child);
    assert_eq!(field(&info, "Host").as_deref(), Some("lost-a"), "{info}");

    // The machine is gone: the daemon and its build, at once.
    a.kill9();
    // killed processes take a moment to be reaped
    wait_for("lost-a's build to be gone", Duration::from_secs(10), || {
        let left = processes_under(&a.work());
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("lost-a's build still runs: {left:?}"))
        }
    });
    b.start();

    // After the host timeout the hub frees lost-a's tasks and lost-b finishes the build,
    // keeping it: lost-b is alive, so its tasks must never be freed in between.
    let outcome = wait_for(
        &format!("build task {parent} to finish on lost-b"),
        Duration::from_secs(120),
        || {
            let freed_b: Vec<String> = farm
                .hub_log_text()
                .lines()
                .filter(|l| l.contains("task freed") && l.contains("host=lost-b"))
                .map(str::to_string)
                .collect();
            if !freed_b.is_empty() {
                return Ok(Err(format!(
                    "the hub freed the tasks of lost-b, which is alive and running them \
                     (its build is stopped and started again):\n{}\n{}",
                    freed_b.join("\n"),
                    b.log_tail(15)
                )));
            }
            let (state, host) = state_and_host(&farm, parent);
            match state {
                CLOSED => Ok(Ok(state)),
                s if s > CLOSED && s != 4 => Ok(Ok(s)),
                _ => Err(format!(
                    "parent state {state} host {host:?}; children {:?}\n{}\n{}",
                    builds::children(&farm, parent),
                    b.log_tail(15),
                    farm.hub_logs()
                )),
            }
        },
    );
    let final_state = outcome.unwrap_or_else(|e| panic!("{e}"));
    let watched = farm.koji(&["watch-task", &parent.to_string()]);
    assert_eq!(
        final_state,
        CLOSED,
        "the build must complete on lost-b:\n{watched}\n{}",
        b.log_tail(30)
    );
    let watched = watched.ok();
    assert!(
        watched.lines().iter().any(|l| l.trim()
            == format!("{parent} build (loss, phoenix-1.0-1.src.rpm) completed successfully")),
        "{watched}"
    );
    // The buildArch that produced the result ran on lost-b.
    let kids = builds::children(&farm, parent);
    let closed: Vec<i64> = kids
        .iter()
        .filter(|(_, m, s)| m == "buildArch" && *s == CLOSED)
        .map(|(id, _, _)| *id)
        .collect();
    assert_eq!(closed.len(), 1, "one buildArch closed: {kids:?}");
    let done = closed[0];
    let info = taskinfo(&farm, done);
    assert_eq!(field(&info, "State").as_deref(), Some("closed"), "{info}");
    assert_eq!(field(&info, "Host").as_deref(), Some("lost-b"), "{info}");
    let parent_info = taskinfo(&farm, parent);
    assert_eq!(
        field(&parent_info, "Host").as_deref(),
        Some("lost-b"),
        "{parent_info}"
    );
    assert_eq!(state_and_host(&farm, done).1, Some(b_id));
    // Nothing is left FREE or OPEN.
    assert!(
        kids.iter().all(|(_, _, s)| *s != FREE && *s != OPEN),
        "{kids:?}"
    );
    let dl = farm.work_dir("loss-download");
    farm.koji_in(&dl, &["download-task", &parent.to_string()])
        .ok();
    assert_eq!(
        file_names(&dl),
        ["phoenix-1.0-1.noarch.rpm", "phoenix-1.0-1.src.rpm"]
    );
}

/// A builder with `maxjobs = 1` alone in the farm runs a whole build: the build waits for
/// its buildroot repo (newRepo, which waits for createrepo), then for its buildArch. Tasks
/// waiting for subtasks hold no slot, or the first waiting parent would block the farm.
fn one_slot_builder_runs_a_build_with_its_repo_tasks() {
    let farm = Farm::start_with(&["--no-builder"]);
    add_target(&farm, "slot", &[]);
    let mut b = TestBuilder::new(
        &farm,
        "one-slot",
        &BuilderSettings {
            maxjobs: 1,
            ..BuilderSettings::default()
        },
    );
    b.start();
    let dir = farm.work_dir("slot");
    let srpm = make_srpm(&dir, "slotted", Spec::Noarch);
    let out = farm.koji_in_for(
        &dir,
        LONG,
        &[
            "build",
            "--scratch",
            "--wait",
            "slot",
            "slotted-1.0-1.src.rpm",
        ],
    );
    assert!(
        out.status == Some(0),
        "the build did not finish on a one-slot builder:\n{out}\n{}",
        b.log_tail(30)
    );
    let _ = srpm;
    let tasks = farm.call_json(&["listTasks"]);
    let closed: Vec<&str> = tasks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"].as_i64() == Some(CLOSED))
        .filter_map(|t| t["method"].as_str())
        .collect();
    for method in ["newRepo", "createrepo", "buildArch"] {
        assert!(
            closed.contains(&method),
            "no {method} task closed: {closed:?}"
        );
    }
}
