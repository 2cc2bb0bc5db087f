//! A local SMTP sink for tests: listens on a free loopback port, speaks enough SMTP for a
//! real client (lettre) to deliver, and keeps every message. While `refusing`, it answers
//! RCPT with a temporary failure, as a relay that is down for maintenance would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Delivered {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent (dot-unstuffed, CRLF kept).
    pub data: String,
}

impl Delivered {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n").find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// Every value of the headers called `name`.
    pub fn headers(&self, name: &str) -> Vec<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n")
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .collect()
    }

    pub fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }
}

pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Delivered>>>,
    refusing: Arc<AtomicBool>,
    /// RCPT commands answered (accepted or refused), to see a relay was tried.
    attempts: Arc<Mutex<usize>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp sink");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let refusing = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(0));
        let (m, r, a) = (mails.clone(), refusing.clone(), attempts.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (m, r, a) = (m.clone(), r.clone(), a.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &m, &r, &a);
                });
            }
        });
        SmtpSink {
            port,
            mails,
            refusing,
            attempts,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_refusing(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }

    pub fn mails(&self) -> Vec<Delivered> {
        self.mails.lock().expect("mails").clone()
    }

    pub fn attempts(&self) -> usize {
        *self.attempts.lock().expect("attempts")
    }

    /// Wait (up to `deadline`) until `pred` holds for the mails received so far.
    pub fn wait_for(
        &self,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&[Delivered]) -> bool,
    ) -> Vec<Delivered> {
        let end = Instant::now() + deadline;
        loop {
            let now = self.mails();
            if pred(&now) {
                return now;
            }
            assert!(
                Instant::now() < end,
                "no {what} within {deadline:?}; mails so far: {now:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn serve(
    conn: TcpStream,
    mails: &Mutex<Vec<Delivered>>,
    refusing: &AtomicBool,
    attempts: &Mutex<usize>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = conn.try_clone()?;
    let mut rd = BufReader::new(conn);
    out.write_all(b"220 sink.test ESMTP kkoji test sink\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if rd.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            out.write_all(b"250-sink.test\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("HELO") {
            out.write_all(b"250 sink.test\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = addr(&cmd[10..]);
            to.clear();
            out.write_all(b"250 ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            *attempts.lock().expect("attempts") += 1;
            if refusing.load(Ordering::SeqCst) {
                out.write_all(b"451 4.3.0 try again later\r\n")?;
            } else {
                to.push(addr(&cmd[8..]));
                out.write_all(b"250 ok\r\n")?;
            }
        } else if upper == "DATA" {
            out.write_all(b"354 end with .\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if rd.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(l);
            }
            mails.lock().expect("mails").push(Delivered {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            out.write_all(b"250 queued\r\n")?;
        } else if upper == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"250 ok\r\n")?;
        }
    }
}

fn addr(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or("");
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}
