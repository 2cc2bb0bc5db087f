//! `koji restart-hosts` with kkoji's own builder: the quickstart farm's local builder runs
//! `restartHosts`, its `restart` and `restartVerify` subtasks, re-executes itself in place
//! (same PID, so quickstart sees no exit) and, as the new process, verifies the restart
//! and takes tasks again. Also the bad paths: an unknown channel, no matching host.

use std::fs;
use std::path::Path;
use std::time::Duration;

use kkoji_e2e::Farm;
use kkoji_e2e::builds::{CLOSED, children, field, taskinfo, wait_for};

kkoji_e2e::isolated_main!(restart_hosts_reexecutes_the_builder_which_then_works);

/// Bound for a restart round trip or a repo on a busy 2-core machine.
const LONG: Duration = Duration::from_secs(300);

/// The local builder's PID, from the pid file quickstart writes when it starts it.
#[track_caller]
fn builder_pid(farm: &Farm) -> u32 {
    let path = farm.state_dir().join("builder").join("builder.pid");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

/// How often the builder's log says it logged in (once per start of the daemon).
fn logins(farm: &Farm) -> usize {
    let text = fs::read_to_string(farm.builder_log()).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("logged in as host"))
        .count()
}

/// The newest restartHosts task (`koji restart-hosts` prints only its watch lines).
#[track_caller]
fn newest_restart_hosts(farm: &Farm) -> i64 {
    let v = farm
        .koji(&[
            "call",
            "--json-input",
            "--json-output",
            "listTasks",
            r#"{"method": "restartHosts"}"#,
        ])
        .ok()
        .json();
    v.as_array()
        .and_then(|a| a.iter().filter_map(|t| t["id"].as_i64()).max())
        .unwrap_or_else(|| panic!("no restartHosts task: {v}"))
}

/// Runs `koji restart-hosts ARGS --wait` and expects it to fail with `message` in its
/// output and the restartHosts task failed with it.
#[track_caller]
fn restart_hosts_fails(farm: &Farm, cwd: &Path, args: &[&str], message: &str) {
    let mut all = vec!["restart-hosts", "--wait"];
    all.extend_from_slice(args);
    let out = farm.koji_in_for(cwd, LONG, &all);
    assert!(
        !out.timed_out && out.status.is_some_and(|s| s != 0),
        "restart-hosts {args:?} should fail:\n{out}\n{}",
        farm.builder_log_tail(40)
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains(message), "{message:?} expected:\n{out}");
    let id = newest_restart_hosts(farm);
    let info = taskinfo(farm, id);
    assert_eq!(field(&info, "State").as_deref(), Some("failed"), "{info}");
    assert!(
        children(farm, id).is_empty(),
        "a failed restartHosts made subtasks"
    );
}

fn restart_hosts_reexecutes_the_builder_which_then_works() {
    let farm = Farm::start();
    let pid = builder_pid(&farm);
    wait_for("the builder's first login", LONG, || match logins(&farm) {
        0 => Err(farm.builder_log_tail(10)),
        n => Ok(n),
    });
    assert_eq!(logins(&farm), 1, "{}", farm.builder_log_tail(40));

    // bad paths first: nothing is restarted, the builder keeps its one login
    let cwd = farm.work_dir("restart-hosts");
    restart_hosts_fails(
        &farm,
        &cwd,
        &["--channel", "no-such-channel"],
        "No such channel",
    );
    restart_hosts_fails(&farm, &cwd, &["--arch", "s390x"], "No matching hosts");
    assert_eq!(logins(&farm), 1, "{}", farm.builder_log_tail(40));

    let out = farm.koji_in_for(&cwd, LONG, &["restart-hosts", "--wait"]);
    assert!(
        out.status == Some(0) && !out.timed_out,
        "restart-hosts failed:\n{out}\nbuilder log:\n{}",
        farm.builder_log_tail(60)
    );
    let parent = newest_restart_hosts(&farm);
    let info = taskinfo(&farm, parent);
    assert_eq!(field(&info, "State").as_deref(), Some("closed"), "{info}");
    let mut kids = children(&farm, parent);
    kids.sort_by(|a, b| a.1.cmp(&b.1));
    let methods: Vec<(&str, i64)> = kids.iter().map(|k| (k.1.as_str(), k.2)).collect();
    assert_eq!(
        methods,
        [("restart", CLOSED), ("restartVerify", CLOSED)],
        "one closed restart and restartVerify for the one host:\n{}",
        farm.builder_log_tail(60)
    );

    // re-executed in place: the same process (quickstart saw no exit, started no new
    // builder), a new start of the daemon in it (a second login; restartVerify closing
    // proves its start time is after the restart task's completion)
    assert_eq!(builder_pid(&farm), pid, "quickstart started a new builder");
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap_or_else(|e| panic!("builder {pid} is gone: {e}"));
    assert!(
        exe.to_string_lossy().contains("kkoji-builder"),
        "pid {pid} runs {}",
        exe.display()
    );
    assert_eq!(logins(&farm), 2, "{}", farm.builder_log_tail(60));
    let log = fs::read_to_string(farm.builder_log()).unwrap_or_default();
    assert!(
        log.contains("re-executing"),
        "{}",
        farm.builder_log_tail(60)
    );

    // and the new daemon takes tasks: a newRepo with its createrepo subtask
    farm.koji(&["add-tag", "rh-build", "--arches", "x86_64"])
        .ok();
    let out = farm.koji_in_for(&cwd, LONG, &["regen-repo", "--wait", "rh-build"]);
    assert!(
        out.status == Some(0) && !out.timed_out,
        "regen-repo after the restart:\n{out}\nbuilder log:\n{}",
        farm.builder_log_tail(60)
    );
    let info = farm.call_json(&["getRepo", "rh-build"]);
    assert_eq!(
        info["state"].as_i64(),
        Some(1),
        "repo READY expected: {info}"
    );
}
