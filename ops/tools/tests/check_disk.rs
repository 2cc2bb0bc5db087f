//! `kkoji-ops check-disk` on a small tmpfs (in a private mount namespace: the test re-runs
//! itself under `unshare -m`) filled past the threshold, with the report mailed to an SMTP
//! sink this test runs on 127.0.0.1. Needs root (CI runs as root).

#[path = "../../../hub/tests/common/smtp_sink.rs"]
mod smtp_sink;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const INNER: &str = "KKOJI_OPS_TEST_INNER";

fn reexec_in_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        return false;
    }
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)");
    let out = wait_deadline(child, Duration::from_secs(120));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inner test failed:\n{text}");
    assert!(text.contains("1 passed"), "inner test did not run:\n{text}");
    true
}

fn wait_deadline(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ops(config: &Path, args: &[&str]) -> (i32, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_kkoji-ops"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_deadline(child, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "kkoji-ops {args:?}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_full_volume_is_reported_and_mailed() {
    if reexec_in_namespace("a_full_volume_is_reported_and_mailed") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let full = t.path().join("full");
    let roomy = t.path().join("roomy");
    for (p, size) in [(&full, "size=1m"), (&roomy, "size=8m")] {
        std::fs::create_dir_all(p).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            p.as_path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(size),
        )
        .unwrap();
    }
    let sink = smtp_sink::SmtpSink::start();
    let port = sink.port;
    let cfg = t.path().join("ops.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[check_disk]
threshold_percent = 90
volumes = ["{}", "{}"]
[mail]
relay = "127.0.0.1"
port = {port}
from = "kkoji@hub.example.com"
to = ["ops@example.com", "oncall@example.com"]
"#,
            full.display(),
            roomy.display()
        ),
    )
    .unwrap();

    // under the threshold: exit 0, nothing mailed (the run is over when it exits)
    let (code, out) = ops(&cfg, &["check-disk"]);
    assert_eq!(code, 0, "{out}");
    assert!(sink.mails().is_empty());

    // fill past 90%
    std::fs::write(full.join("big"), vec![7u8; 970 * 1024]).unwrap();
    let (code, out) = ops(&cfg, &["check-disk"]);
    assert_eq!(code, 1, "{out}");
    let over = out
        .lines()
        .find(|l| l.contains(full.to_str().unwrap()))
        .unwrap();
    assert!(over.starts_with("OVER"), "{over}");
    let ok = out
        .lines()
        .find(|l| l.contains(roomy.to_str().unwrap()))
        .unwrap();
    assert!(ok.starts_with("ok"), "{ok}");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    assert!(m.from.contains("kkoji@hub.example.com"), "{m:?}");
    assert_eq!(m.to.len(), 2, "{m:?}");
    assert!(m.data.contains("Subject: [kkoji]"), "{}", m.data);
    assert!(m.data.contains(full.to_str().unwrap()), "{}", m.data);
    assert!(m.data.contains("% used"), "{}", m.data);

    // --no-mail and a lower threshold from the command line
    let (code, _) = ops(&cfg, &["check-disk", "--no-mail"]);
    assert_eq!(code, 1);
    assert_eq!(sink.mails().len(), 1);
    let (code, out) = ops(&cfg, &["check-disk", "--threshold", "99"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn an_unreachable_relay_and_a_bad_config_are_errors() {
    let t = tempfile::tempdir().unwrap();
    // a port nobody listens on
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = t.path().join("ops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[check_disk]\nvolumes = [\"/nonexistent/kkoji\"]\n[mail]\nrelay = \"127.0.0.1\"\nport = {port}\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\ntimeout_secs = 5\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kkoji-ops"))
        .arg("--config")
        .arg(&cfg)
        .arg("check-disk")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ERROR /nonexistent/kkoji"));

    std::fs::write(&cfg, "[check_disk]\nthreshold_percent = 101\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kkoji-ops"))
        .arg("--config")
        .arg(&cfg)
        .arg("check-disk")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ops.toml") && err.contains("threshold_percent"),
        "{err}"
    );
}
