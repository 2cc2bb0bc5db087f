//! `kkoji-ops check-disk` on a small tmpfs (in a private mount namespace: the test re-runs
//! itself under `unshare -m`) filled past the threshold, with the report mailed to an SMTP
//! sink this test runs on 127.0.0.1. Needs root (CI runs as root).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
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

/// One mail as the sink received it.
#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server: enough of RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA, QUIT).
fn smtp_sink() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            let g = g.clone();
            std::thread::spawn(move || {
                let _ = session(conn, &g);
            });
        }
    });
    (port, got)
}

fn session(conn: TcpStream, got: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    w.write_all(b"220 sink ESMTP\r\n")?;
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("HELO") {
            w.write_all(b"250 sink\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            mail = Mail {
                from: cmd[10..].trim().to_string(),
                ..Mail::default()
            };
            w.write_all(b"250 ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(cmd[8..].trim().to_string());
            w.write_all(b"250 ok\r\n")?;
        } else if upper == "DATA" {
            w.write_all(b"354 go on\r\n")?;
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                mail.data.push_str(&line);
            }
            got.lock().unwrap().push(mail.clone());
            w.write_all(b"250 queued\r\n")?;
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 ok\r\n")?;
        }
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
    let (port, got) = smtp_sink();
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
    assert!(got.lock().unwrap().is_empty());

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
    let mails = got.lock().unwrap().clone();
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
    assert_eq!(got.lock().unwrap().len(), 1);
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
