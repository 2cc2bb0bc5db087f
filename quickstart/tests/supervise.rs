//! `kkoji-quickstart` as a user runs it, for what goes wrong before a farm is up and for the
//! order of stopping. The real hub, builder and PostgreSQL are exercised by the e2e suite
//! (every e2e farm is a quickstart); here small shell programs stand in for the daemons, so
//! that a hub that fails to start, or the stop order, can be observed directly.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kkoji-quickstart");
const DEADLINE: Duration = Duration::from_secs(60);

/// A loopback address whose port and the next one are free.
fn free_listen() -> SocketAddr {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        if addr.port() < u16::MAX && TcpListener::bind(("127.0.0.1", addr.port() + 1)).is_ok() {
            return addr;
        }
    }
    panic!("no two consecutive free ports");
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Runs quickstart to completion (it is expected to fail) within the deadline.
fn run_to_end(args: &[&std::ffi::OsStr]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kkoji-quickstart {args:?} still runs after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn a_taken_port_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let state = dir.path().join("state");
    let out = run_to_end(&[
        os("--state-dir"),
        state.as_os_str(),
        os("--listen"),
        os(&addr),
        os("--no-builder"),
        os("--hub-bin"),
        os(BIN),
    ]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{all}"
    );
    assert!(stderr.contains("--listen"), "{all}");
    for made in ["certs", "pgdata", "hub.toml", "koji.conf"] {
        assert!(!state.join(made).exists(), "{made} was made\n{all}");
    }
}

#[test]
fn a_state_dir_that_cannot_be_made_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let state = file.join("state");
    let out = run_to_end(&[
        os("--state-dir"),
        state.as_os_str(),
        os("--listen"),
        os(&free_listen().to_string()),
        os("--no-builder"),
        os("--hub-bin"),
        os(BIN),
    ]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot create the state directory {}",
            state.display()
        )),
        "{all}"
    );
}

#[test]
fn a_missing_program_is_named_and_nothing_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let listen = free_listen().to_string();
    let missing = dir.path().join("no-such-hub");
    let out = run_to_end(&[
        os("--state-dir"),
        state.as_os_str(),
        os("--listen"),
        os(&listen),
        os("--hub-bin"),
        missing.as_os_str(),
    ]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "the hub program {} does not exist",
            missing.display()
        )),
        "{all}"
    );
    assert!(!state.exists(), "{all}");
    let missing = dir.path().join("no-such-builder");
    let out = run_to_end(&[
        os("--state-dir"),
        state.as_os_str(),
        os("--listen"),
        os(&listen),
        os("--hub-bin"),
        os(BIN),
        os("--builder-bin"),
        missing.as_os_str(),
    ]);
    let all = text(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--no-builder"),
        "{all}"
    );
    assert!(!state.exists(), "{all}");
}

#[test]
fn a_hub_that_fails_to_start_fails_quickstart_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let hub = script(
        dir.path(),
        "hub",
        "echo 'kkoji-hub: cannot listen on 127.0.0.1:1: no way' >&2\nexit 3",
    );
    let state = dir.path().join("state");
    let out = run_to_end(&[
        os("--state-dir"),
        state.as_os_str(),
        os("--listen"),
        os(&free_listen().to_string()),
        os("--no-builder"),
        os("--hub-bin"),
        hub.as_os_str(),
    ]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on 127.0.0.1:1: no way"),
        "{all}"
    );
    assert!(
        stderr.contains("the hub exited before it was ready (exit status: 3)"),
        "{all}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("ready at"),
        "{all}"
    );
    assert!(!state.join("hub.pid").exists(), "{all}");
}

#[test]
fn a_broken_builder_config_stops_the_start_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("hub-started");
    let hub = script(
        dir.path(),
        "hub",
        &format!("touch '{}'\nexit 0", started.display()),
    );
    let builder = script(dir.path(), "builder", "exit 0");
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("builder")).unwrap();
    let config = state.join("builder").join("builder.toml");
    std::fs::write(
        &config,
        "hub = \"https://127.0.0.1:1/kojihub\"\nhost_cert = \"/c.pem\"\nca = \"/ca\"\nmaxjob = 3\n",
    )
    .unwrap();
    let out = run_to_end(&[
        os("--state-dir"),
        state.as_os_str(),
        os("--listen"),
        os(&free_listen().to_string()),
        os("--hub-bin"),
        hub.as_os_str(),
        os("--builder-bin"),
        builder.as_os_str(),
    ]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&config.display().to_string()), "{all}");
    assert!(stderr.contains("maxjob"), "{all}");
    assert!(!started.exists(), "the hub must not be started\n{all}");
}

/// A running quickstart with stand-in daemons; killed if a test fails half-way.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Its log (stderr) goes to `log`.
    fn start(args: &[&std::ffi::OsStr], order: &Path, log: &Path) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .env("ORDER", order)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Running { child, lines }
    }

    fn wait_for_line(&self, want: &str) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(want);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
        }
        panic!("no line with {want:?} within {DEADLINE:?}; saw {seen:?}");
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "quickstart did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_stop_signal_stops_the_builder_while_the_hub_still_runs_then_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let order = dir.path().join("order");
    // the stand-ins note when they get SIGTERM; the builder takes a moment to stop, as a
    // real one finishing its calls would, so stopping both at once would show
    let hub = script(
        dir.path(),
        "hub",
        "trap 'echo hub >> \"$ORDER\"; exit 0' TERM\n\
         echo 'kkoji hub ready on https://127.0.0.1/kojihub'\n\
         while :; do sleep 0.1; done",
    );
    let builder = script(
        dir.path(),
        "builder",
        "trap 'sleep 1; echo builder >> \"$ORDER\"; exit 0' TERM\n\
         touch \"$ORDER.builder-up\"\n\
         while :; do sleep 0.1; done",
    );
    let regen = script(
        dir.path(),
        "regen",
        "trap 'echo regen >> \"$ORDER\"; exit 0' TERM\n\
         touch \"$ORDER.regen-up\"\n\
         while :; do sleep 0.1; done",
    );
    let state = dir.path().join("state");
    let listen = free_listen();
    let qs = Running::start(
        &[
            os("--state-dir"),
            state.as_os_str(),
            os("--listen"),
            os(&listen.to_string()),
            os("--hub-bin"),
            hub.as_os_str(),
            os("--builder-bin"),
            builder.as_os_str(),
            os("--repo-regen-bin"),
            regen.as_os_str(),
        ],
        &order,
        &dir.path().join("quickstart.log"),
    );
    let seen = qs.wait_for_line("point koji at it");
    let conf = state.join("koji.conf");
    assert!(
        seen.iter()
            .any(|l| l.contains("local builder local-builder started")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l == &format!("kkoji hub ready at https://{listen}/kojihub")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("koji -c {} -p kkoji hello", conf.display()))),
        "{seen:?}"
    );
    for pid in [
        "hub.pid",
        "builder/builder.pid",
        "repo-regen/repo-regen.pid",
    ] {
        assert!(state.join(pid).is_file(), "{pid}");
    }
    // the configs it wrote are the daemons' own, loadable by them
    kkoji_hub::config::HubConfig::load(&state.join("hub.toml")).unwrap();
    kkoji_builder::config::Config::load(&state.join("builder/builder.toml")).unwrap();
    kkoji_repo_regen::config::Config::load(&state.join("repo-regen/repo-regen.toml")).unwrap();

    // a stand-in signalled before its trap is set would just die: wait until both are up
    for up in ["builder-up", "regen-up"] {
        let marker = dir.path().join(format!("order.{up}"));
        let deadline = Instant::now() + DEADLINE;
        while !marker.exists() {
            assert!(
                Instant::now() < deadline,
                "{up}: the stand-in did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let st = qs.terminate();
    assert!(st.success(), "{st}");
    let order = std::fs::read_to_string(&order).unwrap();
    let order: Vec<&str> = order.lines().collect();
    assert_eq!(order.len(), 3, "{order:?}");
    assert_eq!(order.last(), Some(&"hub"), "the hub stops last: {order:?}");
    for pid in [
        "hub.pid",
        "builder/builder.pid",
        "repo-regen/repo-regen.pid",
    ] {
        assert!(!state.join(pid).exists(), "{pid} left behind");
    }
}
