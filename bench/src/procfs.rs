//! Just enough of `/proc` to watch the hub and its embedded PostgreSQL: resident set size
//! (`VmRSS` in `/proc/PID/status`), CPU time (`utime`/`stime` in `/proc/PID/stat`) and the
//! parent links that tell which processes belong to a postmaster.

use std::collections::HashMap;
use std::io;
use std::path::Path;

/// The fields of `/proc/PID/stat` this crate uses. Times are in clock ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub utime: u64,
    pub stime: u64,
    /// CPU time of waited-for children (for a postmaster: its exited backends).
    pub cutime: u64,
    pub cstime: u64,
}

impl ProcStat {
    /// Own user + system time, in ticks.
    pub fn own_ticks(&self) -> u64 {
        self.utime + self.stime
    }

    /// Own time plus that of reaped children, in ticks.
    pub fn total_ticks(&self) -> u64 {
        self.own_ticks() + self.cutime + self.cstime
    }
}

/// Parses one `/proc/PID/stat` line. The command name sits in parentheses and may itself
/// contain spaces and parentheses, so the fixed fields are counted from the *last* `)`.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    if close < open {
        return None;
    }
    let pid = line[..open].trim().parse().ok()?;
    let comm = line[open + 1..close].to_string();
    let rest: Vec<&str> = line[close + 1..].split_ascii_whitespace().collect();
    // rest[0] = state (field 3), rest[1] = ppid (4), rest[2] = pgrp (5), ...,
    // rest[11] = utime (14), rest[12] = stime (15), rest[13] = cutime (16), rest[14] = cstime (17).
    if rest.len() < 15 {
        return None;
    }
    let num = |i: usize| -> Option<u64> {
        // cutime/cstime are signed in the kernel's format; they are never negative in
        // practice, but do not fail on it.
        let v: i64 = rest[i].parse().ok()?;
        Some(u64::try_from(v).unwrap_or(0))
    };
    Some(ProcStat {
        pid,
        comm,
        state: rest[0].chars().next()?,
        ppid: rest[1].parse().ok()?,
        pgrp: rest[2].parse().ok()?,
        utime: num(11)?,
        stime: num(12)?,
        cutime: num(13)?,
        cstime: num(14)?,
    })
}

/// `VmRSS` from the text of `/proc/PID/status`, in bytes. `None` if the line is missing
/// (kernel threads, zombies).
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_ascii_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next().unwrap_or("kB");
    let mult = match unit {
        "kB" | "KB" | "kb" => 1024,
        "mB" | "MB" => 1024 * 1024,
        "B" => 1,
        _ => return None,
    };
    Some(value * mult)
}

/// `Pss` (proportional set size: shared pages divided among the processes mapping them)
/// from the text of `/proc/PID/smaps_rollup`, in bytes.
pub fn parse_pss(smaps_rollup: &str) -> Option<u64> {
    let line = smaps_rollup.lines().find(|l| l.starts_with("Pss:"))?;
    let mut parts = line["Pss:".len()..].split_ascii_whitespace();
    let kb: u64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kb * 1024)
}

/// Busy clock ticks of the whole machine (all CPUs) from the text of `/proc/stat`: the
/// aggregate `cpu` line minus `idle` and `iowait`.
pub fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if v.len() < 5 {
        return None;
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    let total: u64 = v.iter().take(8).sum();
    Some(total - v[3] - v[4])
}

pub fn read_machine_busy() -> io::Result<Option<u64>> {
    Ok(parse_machine_busy(&std::fs::read_to_string("/proc/stat")?))
}

/// The first line of a `postmaster.pid` file: the postmaster's pid.
pub fn parse_postmaster_pid(text: &str) -> Option<i32> {
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    (pid > 0).then_some(pid)
}

pub fn read_stat(pid: i32) -> io::Result<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot parse /proc/{pid}/stat"),
        )
    })
}

/// RSS of `pid` in bytes; `Ok(None)` for a process without one.
pub fn read_rss(pid: i32) -> io::Result<Option<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(parse_vm_rss(&text))
}

/// PSS of `pid` in bytes; `Ok(None)` for a process without one.
pub fn read_pss(pid: i32) -> io::Result<Option<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok(parse_pss(&text))
}

/// The postmaster pid recorded under `pgdata`, if the file exists and parses. The process
/// may be gone (a stale file); check with [`alive`].
pub fn postmaster_pid(pgdata: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    parse_postmaster_pid(&text)
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match read_stat(pid) {
        Ok(s) => s.state != 'Z' && s.state != 'X',
        Err(_) => false,
    }
}

/// Every numeric entry of `/proc`.
pub fn all_pids() -> io::Result<Vec<i32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            out.push(pid);
        }
    }
    Ok(out)
}

/// `root` and every process whose parent chain leads to it, given `(pid, ppid)` pairs.
pub fn descendants(root: i32, links: &[(i32, i32)]) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for &(pid, ppid) in links {
        if pid != ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            for &k in kids {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        i += 1;
    }
    out
}

/// The processes of the tree rooted at `root`, read from a fresh scan of `/proc`.
/// Processes that vanish during the scan are skipped.
pub fn process_tree(root: i32) -> io::Result<Vec<i32>> {
    let mut links = Vec::new();
    for pid in all_pids()? {
        if let Ok(s) = read_stat(pid) {
            links.push((s.pid, s.ppid));
        }
    }
    if !links.iter().any(|&(p, _)| p == root) {
        return Ok(Vec::new());
    }
    Ok(descendants(root, &links))
}

/// Clock ticks per second for the `stat` times.
pub fn clock_ticks_per_sec() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => u64::try_from(t).unwrap_or(100),
        _ => 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_comm() {
        // A command name with spaces and a ')' inside, as a process may set via prctl.
        let line = "4242 (tokio ) x (1)) S 1 4242 4242 0 -1 4194560 8934 0 3 0 \
                    1234 567 89 10 20 0 9 0 123456 987654321 4321 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "tokio ) x (1)");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 4242);
        assert_eq!((s.utime, s.stime, s.cutime, s.cstime), (1234, 567, 89, 10));
        assert_eq!(s.own_ticks(), 1801);
        assert_eq!(s.total_ticks(), 1900);
    }

    #[test]
    fn stat_rejects_truncated_lines() {
        assert_eq!(parse_stat("12 (sh) S 1 12"), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn own_stat_parses() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = read_stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(alive(me));
        assert!(read_rss(me).unwrap().unwrap() > 0);
    }

    #[test]
    fn vm_rss_in_bytes() {
        let status =
            "Name:\tkkoji-hub\nVmPeak:\t  200000 kB\nVmRSS:\t   51200 kB\nRssAnon:\t 40000 kB\n";
        assert_eq!(parse_vm_rss(status), Some(51200 * 1024));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\nState:\tS\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn pss_from_smaps_rollup() {
        let text = "55d0c0000000-7ffd5a5f2000 ---p 00000000 00:00 0   [rollup]\n\
                    Rss:              150000 kB\nPss:               21337 kB\n\
                    Pss_Anon:           4000 kB\nShared_Clean:      1000 kB\n";
        assert_eq!(parse_pss(text), Some(21337 * 1024));
        assert_eq!(parse_pss("Rss: 1 kB\n"), None);
    }

    #[test]
    fn machine_busy_ticks() {
        let stat = "cpu  100 5 50 1000 20 3 2 0 7 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n";
        assert_eq!(parse_machine_busy(stat), Some(100 + 5 + 50 + 3 + 2));
        assert_eq!(parse_machine_busy("cpu0 1 2 3 4 5\n"), None);
        assert_eq!(parse_machine_busy("cpu  1 x 3 4 5\n"), None);
    }

    #[test]
    fn postmaster_pid_file() {
        let text = "12345\n/tmp/x/pgdata\n1700000000\n5432\n/tmp/x/sock\n\n  1234567 0\nready   \n";
        assert_eq!(parse_postmaster_pid(text), Some(12345));
        assert_eq!(parse_postmaster_pid(""), None);
        assert_eq!(parse_postmaster_pid("-1\n"), None);
    }

    #[test]
    fn tree_follows_parent_chain() {
        // 100 is the postmaster, 101-103 its children, 104 a grandchild; 200 is unrelated
        // and 1 (init) adopted both.
        let links = [
            (1, 0),
            (100, 1),
            (101, 100),
            (102, 100),
            (103, 100),
            (104, 103),
            (200, 1),
            (201, 200),
        ];
        let mut t = descendants(100, &links);
        t.sort_unstable();
        assert_eq!(t, vec![100, 101, 102, 103, 104]);
        assert_eq!(descendants(104, &links), vec![104]);
    }
}
