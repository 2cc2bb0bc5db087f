//! Running the stock `koji` CLI (from a virtualenv) and reading what it printed.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The exact client release the suite is written against.
pub const KOJI_CLIENT_REQUIREMENT: &str = "koji==1.36.1";

/// What one command printed, and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for failure messages.
    pub cmd: String,
    /// Exit code; `None` if killed by a signal (or by the harness timeout).
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The harness killed the command after the timeout.
    pub timed_out: bool,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmd)?;
        match (self.timed_out, self.status) {
            (true, _) => writeln!(f, "[killed by the harness after the command timeout]")?,
            (false, Some(c)) => writeln!(f, "[exit status {c}]")?,
            (false, None) => writeln!(f, "[killed by a signal]")?,
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl Output {
    /// Asserts exit status 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.status == Some(0) && !self.timed_out,
            "command was expected to succeed:\n{self}"
        );
        self
    }

    /// Asserts the given non-zero exit status (1 for `error()`/uncaught faults, 2 for
    /// `parser.error()` in the koji CLI).
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert!(
            self.status == Some(code) && !self.timed_out,
            "command was expected to fail with exit status {code}:\n{self}"
        );
        self
    }

    /// Asserts stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout was expected to contain {needle:?}:\n{self}"
        );
        self
    }

    /// Asserts stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr was expected to contain {needle:?}:\n{self}"
        );
        self
    }

    /// Asserts stdout does not contain `needle`.
    #[track_caller]
    pub fn stdout_lacks(self, needle: &str) -> Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout was expected NOT to contain {needle:?}:\n{self}"
        );
        self
    }

    /// Asserts stdout is exactly `expected` (compared line by line, trailing blanks of the
    /// whole output ignored).
    #[track_caller]
    pub fn stdout_is(self, expected: &str) -> Self {
        assert_eq!(
            self.stdout.trim_end(),
            expected.trim_end(),
            "unexpected stdout:\n{self}"
        );
        self
    }

    /// Asserts stdout is empty (commands like `add-tag` print nothing on success).
    #[track_caller]
    pub fn stdout_empty(self) -> Self {
        assert!(
            self.stdout.trim().is_empty(),
            "stdout was expected to be empty:\n{self}"
        );
        self
    }

    /// Stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The whitespace-separated columns of the first stdout line whose first column is
    /// `first`, e.g. a host's row of `list-hosts`.
    pub fn row(&self, first: &str) -> Option<Vec<String>> {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|cols| cols.first().map(String::as_str) == Some(first))
    }

    /// Like [`Output::row`], panicking (with the output) when there is no such row.
    #[track_caller]
    pub fn expect_row(&self, first: &str) -> Vec<String> {
        match self.row(first) {
            Some(r) => r,
            None => panic!("no row starting with {first:?}:\n{self}"),
        }
    }

    /// The first column of every stdout line (e.g. the names in a listing).
    pub fn first_columns(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    /// Stdout parsed as JSON (`koji call --json-output`).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not JSON ({e}):\n{self}"),
        }
    }
}

/// Seconds to allow one CLI command. The CLI retries connection errors and non-200 answers for
/// up to 10 minutes, so a broken hub shows up as a timeout here.
pub fn command_timeout() -> Duration {
    let secs = std::env::var("KKOJI_E2E_CMD_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(90);
    Duration::from_secs(secs)
}

/// Runs `cmd` to completion (stdin closed), killing it after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("cannot run {shown}: {e}"),
    };
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait after kill");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Output {
        cmd: shown,
        status: status.code(),
        stdout,
        stderr,
        timed_out,
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The virtualenv holding the stock client: `KKOJI_KOJI_VENV`, else `<workspace>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("KKOJI_KOJI_VENV") {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".venv"),
    }
}

/// Path of the stock `koji` script, creating the virtualenv first if it is missing
/// (`python3 -m venv`, `pip install --no-deps koji==1.36.1` and its runtime dependencies).
pub fn koji_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let venv = venv_dir();
        let bin = venv.join("bin").join("koji");
        if !bin.exists() {
            create_venv(&venv);
        }
        assert!(
            bin.exists(),
            "{} is missing even after creating the virtualenv",
            bin.display()
        );
        bin
    })
}

fn create_venv(venv: &Path) {
    eprintln!(
        "kkoji-e2e: creating the koji CLI virtualenv in {}",
        venv.display()
    );
    let pip = venv.join("bin").join("pip");
    let steps: Vec<(PathBuf, Vec<String>)> = vec![
        (
            PathBuf::from("python3"),
            vec!["-m".into(), "venv".into(), venv.display().to_string()],
        ),
        (
            pip.clone(),
            vec![
                "install".into(),
                "--no-deps".into(),
                KOJI_CLIENT_REQUIREMENT.into(),
            ],
        ),
        (
            pip,
            [
                "install",
                "requests",
                "python-dateutil",
                "defusedxml",
                "six",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ),
    ];
    for (prog, args) in steps {
        let mut cmd = Command::new(&prog);
        cmd.args(&args);
        let out = run_with_timeout(cmd, Duration::from_secs(600));
        assert!(
            out.status == Some(0),
            "creating the koji virtualenv failed:\n{out}"
        );
    }
}
