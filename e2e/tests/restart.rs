//! Restarts: everything created through the CLI survives a SIGKILL of the hub and a clean
//! SIGTERM restart on the same state directory. Each test has its own farm.

use std::process::Command;
use std::time::Duration;

use kkoji_e2e::Farm;
use kkoji_e2e::cli::run_with_timeout;

kkoji_e2e::isolated_main!(
    state_survives_sigkill,
    state_survives_clean_restart,
    quickstart_rejects_unknown_options,
    nothing_left_running_after_crash_restart_and_stop,
    harness_leaves_no_postgres_after_sigkill,
);

const REPO_URL: &str = "file:///mnt/koji/external-repos/www/rs-$arch/";

/// Creates one of everything, as an admin would.
fn populate(farm: &Farm) {
    farm.koji(&["add-host", "rs-host", "x86_64"]).ok();
    farm.koji(&[
        "edit-host",
        "rs-host",
        "--capacity",
        "3",
        "--comment",
        "rack 9",
    ])
    .ok();
    farm.koji(&["add-host-to-channel", "--new", "rs-host", "rs-chan"])
        .ok();
    farm.koji(&["add-tag", "rs-parent"]).ok();
    farm.koji(&[
        "add-tag",
        "rs-tag",
        "--arches",
        "x86_64",
        "--parent",
        "rs-parent",
    ])
    .ok();
    farm.koji(&["add-tag", "rs-dest"]).ok();
    farm.koji(&["add-target", "rs-target", "rs-tag", "rs-dest"])
        .ok();
    farm.koji(&["add-external-repo", "-t", "rs-tag", "rs-repo", REPO_URL])
        .ok()
        .stdout_has("Added external repo rs-repo to tag rs-tag (priority 5)");
    farm.koji(&["add-user", "rs-user"]).ok();
    farm.koji(&["grant-permission", "--new", "rs-perm", "rs-user"])
        .ok();
    farm.koji(&["add-pkg", "--owner", "rs-user", "rs-tag", "rs-pkg"])
        .ok();
    // A user created by logging in with a farm certificate.
    farm.koji_as("rs-alice", &["hello"]).ok();
}

/// Everything from [`populate`] is still there, as the CLI shows it.
fn verify(farm: &Farm) {
    farm.koji(&["hello"]).ok().stdout_has(", kojiadmin!");
    let hosts = farm.koji(&["list-hosts"]).ok();
    assert_eq!(
        hosts.expect_row("rs-host"),
        ["rs-host", "Y", "N", "0.0/3.0", "x86_64", "-"],
        "{hosts}"
    );
    let info = farm.koji(&["hostinfo", "rs-host"]).ok();
    assert!(info.lines().contains(&"Comment: rack 9"), "{info}");
    assert!(
        info.lines()
            .iter()
            .any(|l| l.starts_with("Channels:") && l.contains("rs-chan") && l.contains("default")),
        "{info}"
    );
    farm.koji(&["list-tags", "rs-*"])
        .ok()
        .stdout_is("rs-dest\nrs-parent\nrs-tag");
    let inh = farm.koji(&["list-tag-inheritance", "rs-tag"]).ok();
    assert!(inh.stdout.contains("└─rs-parent ("), "{inh}");
    let targets = farm
        .koji(&["list-targets", "--quiet", "--name", "rs-target"])
        .ok();
    assert_eq!(
        targets.expect_row("rs-target"),
        ["rs-target", "rs-tag", "rs-dest"],
        "{targets}"
    );
    let repos = farm
        .koji(&["list-external-repos", "--quiet", "--tag", "rs-tag"])
        .ok();
    assert_eq!(
        repos.expect_row("5"),
        ["5", "rs-repo", "koji", REPO_URL],
        "{repos}"
    );
    let perms = farm
        .koji(&["list-permissions", "--quiet", "--user", "rs-user"])
        .ok();
    assert_eq!(perms.first_columns(), ["rs-perm"], "{perms}");
    let pkgs = farm.koji(&["list-pkgs", "--quiet", "--tag", "rs-tag"]).ok();
    assert_eq!(
        pkgs.expect_row("rs-pkg"),
        ["rs-pkg", "rs-tag", "rs-user"],
        "{pkgs}"
    );
    // The CA survived too: the old user certificate still logs in.
    farm.koji_as("rs-alice", &["hello"])
        .ok()
        .stdout_has(", rs-alice!");
}

/// After a restart new objects can be created and get fresh ids.
fn still_writable(farm: &Farm, tag: &str) {
    let old = farm.call_json(&["getTag", "rs-tag"])["id"]
        .as_i64()
        .expect("id");
    farm.koji(&["add-tag", tag, "--arches", "x86_64"]).ok();
    let new = farm.call_json(&["getTag", tag])["id"].as_i64().expect("id");
    assert!(
        new > old,
        "new tag id {new} must not reuse old ids (rs-tag is {old})"
    );
    farm.koji(&["add-host", &format!("{tag}-host"), "x86_64"])
        .ok()
        .stdout_has("added: id ");
}

fn state_survives_sigkill() {
    let mut farm = Farm::start();
    populate(&farm);
    let ca_before = std::fs::read(farm.ca_cert()).expect("read ca.crt");
    farm.kill9();
    // The hub is gone; whatever PostgreSQL was doing, the next start must cope with it.
    farm.start_again();
    assert_eq!(
        std::fs::read(farm.ca_cert()).expect("read ca.crt"),
        ca_before,
        "the farm CA must not be regenerated"
    );
    verify(&farm);
    still_writable(&farm, "after-kill");
}

fn state_survives_clean_restart() {
    let mut farm = Farm::start();
    populate(&farm);
    let status = farm.stop().expect("the hub was running");
    assert!(
        status.success(),
        "SIGTERM must stop the hub cleanly, got {status}\n{}",
        farm.hub_logs()
    );
    let left = farm.running_postmasters();
    assert!(
        left.is_empty(),
        "the hub must stop its embedded PostgreSQL on SIGTERM; still running: {left:?}\n{}",
        farm.hub_logs()
    );
    farm.start_again();
    verify(&farm);
    still_writable(&farm, "after-term");
    // And once more through restart().
    let status = farm.restart().expect("the hub was running");
    assert!(
        status.success(),
        "second SIGTERM: {status}\n{}",
        farm.hub_logs()
    );
    verify(&farm);
    farm.koji(&["list-tags", "after-*"])
        .ok()
        .stdout_is("after-term");
}

fn quickstart_rejects_unknown_options() {
    let dir = tempfile::Builder::new()
        .prefix("kke2e-opts-")
        .tempdir()
        .expect("tempdir");
    let state = dir.path().join("state");
    let bin = kkoji_e2e::farm::quickstart_bin();
    let cases: [Vec<String>; 2] = [
        vec![
            "--state-dir".into(),
            state.display().to_string(),
            "--listen".into(),
            "127.0.0.1:1".into(),
            "--e2e-bogus-option".into(),
        ],
        vec![
            "--state-dir".into(),
            state.display().to_string(),
            "--listen".into(),
            "127.0.0.1:1".into(),
            "e2e-extra-argument".into(),
        ],
    ];
    for args in cases {
        let mut cmd = Command::new(&bin);
        cmd.args(&args);
        let out = run_with_timeout(cmd, Duration::from_secs(30));
        assert!(
            !out.timed_out && out.status.is_some_and(|c| c != 0),
            "unknown options must be refused:\n{out}"
        );
        assert!(
            !out.stdout.contains("ready"),
            "the hub must not start:\n{out}"
        );
        let bad = args.last().expect("args");
        assert!(
            out.stderr.contains(bad.as_str()),
            "the error must name {bad:?}:\n{out}"
        );
    }
    assert!(
        !state.exists(),
        "a refused command line must not initialise anything"
    );
    // the hub's former subcommand says where quickstart went
    let mut cmd = Command::new(kkoji_e2e::farm::hub_bin());
    cmd.args(["quickstart", "--state-dir"])
        .arg(&state)
        .args(["--listen", "127.0.0.1:1"]);
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    assert!(
        !out.timed_out && out.status.is_some_and(|c| c != 0),
        "kkoji-hub quickstart must fail:\n{out}"
    );
    assert!(out.stderr.contains("kkoji-quickstart"), "{out}");
    assert!(
        !state.exists(),
        "kkoji-hub quickstart made {}",
        state.display()
    );
}

/// A hub that crashed (SIGKILL) and was started again must, on its next clean stop
/// (SIGTERM), leave nothing of the farm running: no PostgreSQL, no builder of the crashed hub.
fn nothing_left_running_after_crash_restart_and_stop() {
    let mut farm = Farm::start();
    farm.koji(&["hello"]).ok();
    farm.kill9();
    farm.start_again();
    farm.koji(&["hello"]).ok().stdout_has(", kojiadmin!");
    let status = farm.stop().expect("the hub was running");
    assert!(status.success(), "SIGTERM: {status}\n{}", farm.hub_logs());
    let left = farm.processes_using_state_dir();
    assert!(
        left.is_empty(),
        "processes of the farm still running after the restarted hub stopped cleanly:\n{}",
        left.iter()
            .map(|(pid, cmd)| format!("  {pid}: {cmd}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The harness itself: a farm whose hub was SIGKILLed and never restarted still leaves no
/// PostgreSQL behind once dropped.
fn harness_leaves_no_postgres_after_sigkill() {
    let mut farm = Farm::start();
    let running = farm.running_postmasters();
    assert!(
        !running.is_empty(),
        "the embedded PostgreSQL should be running under {}",
        farm.state_dir().display()
    );
    farm.kill9();
    drop(farm);
    for (dir, pid) in running {
        assert!(
            !kkoji_e2e::farm::pid_alive(pid),
            "postmaster {pid} of {} survived",
            dir.display()
        );
    }
}
