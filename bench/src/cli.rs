//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use koji_protocol::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Name of the tag the benchmark creates and reads.
pub const BENCH_TAG: &str = "bench-tag";
/// Prefix of the hosts the benchmark creates (`bench-builder-1`, ...).
pub const BENCH_HOST_PREFIX: &str = "bench-builder";

#[derive(Parser, Debug)]
#[command(
    name = "kkoji-bench",
    version,
    about = "Load generator for the kkoji hub (XML-RPC over TLS with a session, on loopback)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Measure requests/s and latency of read-only hub calls at several client counts.
    Hub(HubArgs),
    /// Scheduling: many simulated builders (protocol-level, in this process) pick up light
    /// tasks; pickup latency (FREE -> OPEN), assignment throughput, duplicates, hub CPU.
    Sched(SchedArgs),
    /// Repodata: kkoji-repodata vs createrepo_c on N synthetic RPMs, full generation
    /// (cold cache) and regeneration after one package changed (warm cache vs --update).
    Repodata(RepodataArgs),
    /// Mirror: kkoji-mirror-sync vs dnf reposync on a loopback upstream (full, no-op).
    Mirror(crate::mirror::MirrorArgs),
    /// Backup: kkoji-backup vs duplicity --no-encryption on a synthetic scratch tree (full,
    /// incremental after 1% changed, full restore).
    Backup(crate::backup::BackupArgs),
    /// History: 1M history rows over 1,000 tags; p50/p99 of `koji list-history --tag` and
    /// `koji search build 'foo*'` through the calls the stock CLI makes.
    History(crate::history::HistoryArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RepodataArgs {
    /// Synthetic RPMs to generate.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub packages: u64,

    /// Worker threads for both tools (createrepo_c --workers); 0 = one per core.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,

    /// Runs per variant; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub runs: u64,

    /// Working directory (kept; default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SchedArgs {
    /// Simulated builders: each its own host, certificate, exclusive session and connection.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub builders: u32,

    /// Tasks queued at once in the burst phase (0: no burst phase).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(0..=200_000))]
    pub tasks: u32,

    /// Trickle phase: tasks submitted per second, one call per task.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub trickle_rate: u32,

    /// Trickle phase length in seconds (0: no trickle phase).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=600))]
    pub trickle_secs: u32,

    /// maxjobs each builder reports in host.updateHost.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub maxjobs: u32,

    /// Timeout each builder passes to host.waitTasks (the long-poll), in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub wait_secs: u32,

    /// Concurrent submitting clients (the admin user, one session each).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub submitters: u32,

    /// build() calls per multiCall in the burst phase.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub batch: u32,

    /// The whole run (after the hub is up) stops after this many seconds, finished or not.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=3600))]
    pub deadline_secs: u64,

    /// The `kkoji-hub` binary to start (default: `kkoji-hub` next to this executable).
    #[arg(long, value_name = "PATH")]
    pub hub_bin: Option<PathBuf>,

    /// State directory for the hub (default: a fresh temporary directory, removed
    /// afterwards). An existing quickstart directory is reused.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Loopback port for the hub (default: a free one).
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

impl SchedArgs {
    /// Tasks of the trickle phase.
    pub fn trickle_tasks(&self) -> u64 {
        u64::from(self.trickle_rate) * u64::from(self.trickle_secs)
    }
}

#[derive(Args, Debug, Clone)]
pub struct HubArgs {
    /// The `kkoji-hub` binary to start (default: `kkoji-hub` next to this executable).
    #[arg(long, value_name = "PATH")]
    pub hub_bin: Option<PathBuf>,

    /// Measured seconds per scenario (after the warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration_secs: u64,

    /// Warm-up seconds per scenario (calls made but not counted).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup_secs: u64,

    /// Concurrent clients, comma-separated; each has its own session and connection.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "8,64",
        value_parser = clap::value_parser!(u32).range(1..=4096)
    )]
    pub clients: Vec<u32>,

    /// Methods to measure, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "getAPIVersion,getTag,listHosts,getLoggedInUser,host-poll"
    )]
    pub methods: Vec<BenchMethod>,

    /// Client counts of the host-poll scenario (each client a builder host), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "8,64,200",
        value_parser = clap::value_parser!(u32).range(1..=4096)
    )]
    pub poll_clients: Vec<u32>,

    /// State directory for the hub we start (default: a fresh temporary directory, removed
    /// afterwards). An existing quickstart directory is reused as it is.
    #[arg(long, value_name = "DIR", conflicts_with = "hub_url")]
    pub state_dir: Option<PathBuf>,

    /// Loopback port for the hub we start (default: a free one).
    #[arg(long, value_name = "P", conflicts_with = "hub_url")]
    pub port: Option<u16>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Use an already running hub at this XML-RPC URL instead of starting one.
    #[arg(
        long,
        value_name = "URL",
        requires_all = ["cert", "ca"],
        conflicts_with = "hub_bin"
    )]
    pub hub_url: Option<String>,

    /// Client certificate and key (one PEM) of an admin user, with --hub-url.
    #[arg(long, value_name = "PEM", requires = "hub_url")]
    pub cert: Option<PathBuf>,

    /// CA certificate (PEM) that signed the hub's certificate, with --hub-url.
    #[arg(long, value_name = "PEM", requires = "hub_url")]
    pub ca: Option<PathBuf>,

    /// Pid of the hub behind --hub-url, to report its RSS and CPU time.
    #[arg(long, value_name = "PID", requires = "hub_url")]
    pub hub_pid: Option<i32>,

    /// How many hosts to create for listHosts to return.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub seed_hosts: u32,
}

impl HubArgs {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs)
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup_secs)
    }
}

/// The calls the benchmark knows how to make and check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, serde::Serialize)]
pub enum BenchMethod {
    #[value(name = "getAPIVersion")]
    #[serde(rename = "getAPIVersion")]
    GetApiVersion,
    #[value(name = "getTag")]
    #[serde(rename = "getTag")]
    GetTag,
    #[value(name = "listHosts")]
    #[serde(rename = "listHosts")]
    ListHosts,
    #[value(name = "getLoggedInUser")]
    #[serde(rename = "getLoggedInUser")]
    GetLoggedInUser,
    /// What the stock kojid does every cycle: `host.updateHost` then `host.getTasks`, each
    /// client its own builder host (host certificate, exclusive session).
    #[value(name = "host-poll")]
    #[serde(rename = "host-poll")]
    HostPoll,
}

impl BenchMethod {
    pub fn name(self) -> &'static str {
        match self {
            BenchMethod::GetApiVersion => "getAPIVersion",
            BenchMethod::GetTag => "getTag",
            BenchMethod::ListHosts => "listHosts",
            BenchMethod::GetLoggedInUser => "getLoggedInUser",
            BenchMethod::HostPoll => "host-poll",
        }
    }

    /// Clients of this scenario are builder hosts, not the admin.
    pub fn needs_hosts(self) -> bool {
        matches!(self, BenchMethod::HostPoll)
    }

    /// The XML-RPC call a client makes at its `i`-th iteration.
    pub fn call(self, i: u64) -> (&'static str, Vec<Value>) {
        match self {
            BenchMethod::HostPoll if i.is_multiple_of(2) => (
                "host.updateHost",
                vec![Value::Double(0.0), Value::Bool(true)],
            ),
            BenchMethod::HostPoll => ("host.getTasks", Vec::new()),
            m => (m.name(), m.params()),
        }
    }

    pub fn params(self) -> Vec<Value> {
        match self {
            BenchMethod::GetTag => vec![Value::String(BENCH_TAG.into())],
            _ => Vec::new(),
        }
    }

    /// Checks that an answer has the expected shape, so that a hub answering `None` (or
    /// garbage) quickly does not pass for a fast one.
    pub fn check(self, v: &Value) -> Result<(), String> {
        match self {
            BenchMethod::GetApiVersion => match v {
                Value::Int(_) => Ok(()),
                other => Err(format!("expected an int, got {}", other.type_name())),
            },
            BenchMethod::GetTag => match v.get("name").and_then(Value::as_str) {
                Some(BENCH_TAG) => Ok(()),
                _ => Err(format!(
                    "expected the tag {BENCH_TAG:?}, got a {}",
                    v.type_name()
                )),
            },
            BenchMethod::ListHosts => match v {
                Value::Array(a) if !a.is_empty() => Ok(()),
                Value::Array(_) => Err("expected hosts, got an empty list".into()),
                other => Err(format!("expected a list, got {}", other.type_name())),
            },
            BenchMethod::GetLoggedInUser => match v.get("name").and_then(Value::as_str) {
                Some(_) => Ok(()),
                None => Err(format!("expected a user, got a {}", v.type_name())),
            },
            // updateHost answers None, getTasks a list
            BenchMethod::HostPoll => match v {
                Value::Nil | Value::Array(_) => Ok(()),
                other => Err(format!(
                    "expected None or a list, got {}",
                    other.type_name()
                )),
            },
        }
    }
}

impl std::fmt::Display for BenchMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_args(args: &[&str]) -> Result<HubArgs, clap::Error> {
        let mut v = vec!["kkoji-bench", "hub"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| match c.cmd {
            Cmd::Hub(a) => a,
            _ => panic!("not hub"),
        })
    }

    #[test]
    fn repodata_defaults_and_options() {
        let parse = |args: &[&str]| {
            let mut v = vec!["kkoji-bench", "repodata"];
            v.extend_from_slice(args);
            Cli::try_parse_from(v).map(|c| match c.cmd {
                Cmd::Repodata(a) => a,
                _ => panic!("not repodata"),
            })
        };
        let a = parse(&[]).unwrap();
        assert_eq!((a.packages, a.workers, a.runs), (2000, 0, 5));
        let a = parse(&["--packages", "50", "--workers", "1", "--runs", "2"]).unwrap();
        assert_eq!((a.packages, a.workers, a.runs), (50, 1, 2));
        assert!(parse(&["--packages", "0"]).is_err());
        assert!(parse(&["--runs", "0"]).is_err());
    }

    fn sched_args(args: &[&str]) -> Result<SchedArgs, clap::Error> {
        let mut v = vec!["kkoji-bench", "sched"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| match c.cmd {
            Cmd::Sched(a) => a,
            _ => panic!("not sched"),
        })
    }

    #[test]
    fn sched_defaults_and_options() {
        let a = sched_args(&[]).unwrap();
        assert_eq!((a.builders, a.tasks), (200, 10_000));
        assert_eq!((a.trickle_rate, a.trickle_secs), (200, 10));
        assert_eq!(a.trickle_tasks(), 2_000);
        assert_eq!(a.deadline_secs, 300);
        let a = sched_args(&[
            "--builders",
            "20",
            "--tasks",
            "0",
            "--trickle-rate",
            "50",
            "--trickle-secs",
            "3",
            "--json",
            "/tmp/x.json",
        ])
        .unwrap();
        assert_eq!((a.builders, a.tasks, a.trickle_tasks()), (20, 0, 150));
        assert!(a.json.is_some());
        assert!(sched_args(&["--builders", "0"]).is_err());
        assert!(sched_args(&["--trickle-rate", "0"]).is_err());
        assert!(sched_args(&["--deadline-secs", "5"]).is_err());
    }

    #[test]
    fn host_poll_alternates_check_in_and_poll() {
        let m = BenchMethod::HostPoll;
        assert!(m.needs_hosts());
        assert_eq!(m.call(0).0, "host.updateHost");
        assert_eq!(m.call(1).0, "host.getTasks");
        assert_eq!(m.call(2).0, "host.updateHost");
        assert!(m.check(&Value::Nil).is_ok());
        assert!(m.check(&Value::Array(vec![])).is_ok());
        assert!(m.check(&Value::Int(1)).is_err());
        assert!(!BenchMethod::GetTag.needs_hosts());
    }

    #[test]
    fn defaults() {
        let a = hub_args(&[]).unwrap();
        assert_eq!(a.duration_secs, 10);
        assert_eq!(a.warmup_secs, 2);
        assert_eq!(a.clients, vec![8, 64]);
        assert_eq!(
            a.methods,
            vec![
                BenchMethod::GetApiVersion,
                BenchMethod::GetTag,
                BenchMethod::ListHosts,
                BenchMethod::GetLoggedInUser,
                BenchMethod::HostPoll
            ]
        );
        assert_eq!(a.poll_clients, vec![8, 64, 200]);
        assert!(a.hub_url.is_none() && a.state_dir.is_none() && a.port.is_none());
    }

    #[test]
    fn lists_and_names() {
        let a = hub_args(&[
            "--clients",
            "1,16,128",
            "--methods",
            "getTag,getAPIVersion",
            "--duration-secs",
            "3",
        ])
        .unwrap();
        assert_eq!(a.clients, vec![1, 16, 128]);
        assert_eq!(
            a.methods,
            vec![BenchMethod::GetTag, BenchMethod::GetApiVersion]
        );
        assert_eq!(a.duration(), Duration::from_secs(3));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(hub_args(&["--methods", "getapiversion"]).is_err());
        assert!(hub_args(&["--methods", "deleteTag"]).is_err());
        assert!(hub_args(&["--clients", "0"]).is_err());
        assert!(hub_args(&["--clients", "8,x"]).is_err());
        assert!(hub_args(&["--duration-secs", "0"]).is_err());
    }

    #[test]
    fn external_hub_needs_credentials_and_excludes_local_options() {
        assert!(hub_args(&["--hub-url", "https://127.0.0.1:1/kojihub"]).is_err());
        assert!(hub_args(&["--cert", "a.pem"]).is_err());
        assert!(hub_args(&["--hub-pid", "12"]).is_err());
        let ok = hub_args(&[
            "--hub-url",
            "https://127.0.0.1:1/kojihub",
            "--cert",
            "a.pem",
            "--ca",
            "ca.crt",
            "--hub-pid",
            "12",
        ])
        .unwrap();
        assert_eq!(ok.hub_pid, Some(12));
        assert!(
            hub_args(&[
                "--hub-url",
                "https://127.0.0.1:1/kojihub",
                "--cert",
                "a.pem",
                "--ca",
                "ca.crt",
                "--port",
                "9000",
            ])
            .is_err()
        );
    }

    #[test]
    fn answer_checks() {
        let m = BenchMethod::GetApiVersion;
        assert!(m.check(&Value::Int(1)).is_ok());
        assert!(m.check(&Value::Nil).is_err());
        assert!(BenchMethod::GetTag.check(&Value::Nil).is_err());
        assert!(
            BenchMethod::ListHosts
                .check(&Value::Array(Vec::new()))
                .is_err()
        );
    }
}
