//! Resource sampling of the hub (and its embedded PostgreSQL) during a scenario: the
//! largest RSS seen (sampled every [`SAMPLE_EVERY`]) and CPU time over the measured window.

use crate::procfs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// PostgreSQL's process list is rescanned this often (a full `/proc` walk); the RSS of
/// the known processes is read at every sample.
const PG_RESCAN_EVERY: Duration = Duration::from_secs(1);

/// What to watch. Either part may be missing (an external hub without `--hub-pid`).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub hub_pid: Option<i32>,
    /// The embedded cluster's data directory (`postmaster.pid` names the postmaster).
    pub pgdata: Option<PathBuf>,
}

/// Figures for one scenario; `None` where nothing could be measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Resources {
    pub max_hub_rss_bytes: Option<u64>,
    pub max_pg_rss_bytes: Option<u64>,
    /// Summed PSS of the PostgreSQL processes (shared buffers counted once), sampled at
    /// every rescan rather than every 100 ms (reading it walks the page tables).
    pub max_pg_pss_bytes: Option<u64>,
    /// CPU use over the measured window, in % of one core (200 = two cores busy).
    pub hub_cpu_pct: Option<f64>,
    pub pg_cpu_pct: Option<f64>,
    pub bench_cpu_pct: Option<f64>,
    /// Everything else the machine ran meanwhile (other users of the same cores).
    pub other_cpu_pct: Option<f64>,
    pub samples: u32,
}

#[derive(Debug, Clone, Copy)]
struct CpuSnapshot {
    at: Instant,
    hub: Option<u64>,
    pg: Option<u64>,
    bench: Option<u64>,
    machine: Option<u64>,
}

impl Watch {
    fn postmaster(&self) -> Option<i32> {
        let pm = procfs::postmaster_pid(self.pgdata.as_deref()?)?;
        procfs::alive(pm).then_some(pm)
    }

    fn pg_processes(&self) -> Vec<i32> {
        match self.postmaster() {
            Some(pm) => procfs::process_tree(pm).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Current hub RSS, summed PostgreSQL RSS and summed PostgreSQL PSS, in bytes.
    pub fn rss_now(&self) -> (Option<u64>, Option<u64>, Option<u64>) {
        let pg = self.pg_processes();
        (self.hub_rss(), pg_rss(&pg), pg_pss(&pg))
    }

    fn hub_rss(&self) -> Option<u64> {
        procfs::read_rss(self.hub_pid?).ok().flatten()
    }

    fn cpu(&self, pg: &[i32]) -> CpuSnapshot {
        let hub = self
            .hub_pid
            .and_then(|p| procfs::read_stat(p).ok())
            .map(|s| s.own_ticks());
        let pg_ticks = self.postmaster().map(|pm| {
            pg.iter()
                .filter_map(|&p| procfs::read_stat(p).ok())
                .filter(|s| s.state != 'Z')
                // The postmaster's reaped children (exited backends) count too.
                .map(|s| {
                    if s.pid == pm {
                        s.total_ticks()
                    } else {
                        s.own_ticks()
                    }
                })
                .sum()
        });
        let bench = i32::try_from(std::process::id())
            .ok()
            .and_then(|p| procfs::read_stat(p).ok())
            .map(|s| s.own_ticks());
        CpuSnapshot {
            at: Instant::now(),
            hub,
            pg: pg_ticks,
            bench,
            machine: procfs::read_machine_busy().ok().flatten(),
        }
    }
}

fn pg_pss(pids: &[i32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    Some(
        pids.iter()
            .filter_map(|&p| procfs::read_pss(p).ok().flatten())
            .sum(),
    )
}

fn pg_rss(pids: &[i32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    Some(
        pids.iter()
            .filter_map(|&p| procfs::read_rss(p).ok().flatten())
            .sum(),
    )
}

/// CPU % of one core between two tick counts.
pub fn cpu_pct(ticks_before: u64, ticks_after: u64, wall: Duration, ticks_per_sec: u64) -> f64 {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 || ticks_per_sec == 0 {
        return 0.0;
    }
    let used = ticks_after.saturating_sub(ticks_before) as f64 / ticks_per_sec as f64;
    100.0 * used / secs
}

/// Samples in a plain thread (so the load generator's runtime is not involved) until
/// `stop` is set. CPU is measured between `window_start` and `window_end` (or `stop`, if
/// that comes first).
pub fn spawn_sampler(
    watch: Watch,
    window_start: Instant,
    window_end: Instant,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<Resources>> {
    std::thread::Builder::new()
        .name("rss-sampler".into())
        .spawn(move || sample_loop(&watch, window_start, window_end, &stop))
}

fn sample_loop(
    watch: &Watch,
    window_start: Instant,
    window_end: Instant,
    stop: &AtomicBool,
) -> Resources {
    let tck = procfs::clock_ticks_per_sec();
    let mut res = Resources::default();
    let mut pg = watch.pg_processes();
    let mut rescanned = Instant::now();
    let mut start: Option<CpuSnapshot> = None;
    let mut end: Option<CpuSnapshot> = None;
    loop {
        let now = Instant::now();
        let stopping = stop.load(Ordering::Relaxed);
        if now.duration_since(rescanned) >= PG_RESCAN_EVERY
            || (start.is_none() && now >= window_start)
            || (end.is_none() && (now >= window_end || stopping))
        {
            pg = watch.pg_processes();
            rescanned = now;
            if let Some(p) = pg_pss(&pg) {
                res.max_pg_pss_bytes = Some(res.max_pg_pss_bytes.map_or(p, |m| m.max(p)));
            }
        }
        if start.is_none() && now >= window_start {
            start = Some(watch.cpu(&pg));
        }
        if start.is_some() && end.is_none() && (now >= window_end || stopping) {
            end = Some(watch.cpu(&pg));
        }
        if let Some(r) = watch.hub_rss() {
            res.max_hub_rss_bytes = Some(res.max_hub_rss_bytes.map_or(r, |m| m.max(r)));
        }
        if let Some(r) = pg_rss(&pg) {
            res.max_pg_rss_bytes = Some(res.max_pg_rss_bytes.map_or(r, |m| m.max(r)));
        }
        res.samples += 1;
        if stopping {
            break;
        }
        // Sleep to the next sample, waking exactly at the window edges.
        let now = Instant::now();
        let mut wake = now + SAMPLE_EVERY;
        for edge in [window_start, window_end] {
            if edge > now && edge < wake {
                wake = edge;
            }
        }
        std::thread::sleep(wake.saturating_duration_since(now));
    }
    if let (Some(a), Some(b)) = (start, end) {
        let wall = b.at.duration_since(a.at);
        let pct = |x: Option<u64>, y: Option<u64>| Some(cpu_pct(x?, y?, wall, tck));
        res.hub_cpu_pct = pct(a.hub, b.hub);
        res.pg_cpu_pct = pct(a.pg, b.pg);
        res.bench_cpu_pct = pct(a.bench, b.bench);
        // Only meaningful when the hub itself is watched (else it would count as "other").
        if let (Some(machine), Some(_)) = (pct(a.machine, b.machine), res.hub_cpu_pct) {
            let ours = res.hub_cpu_pct.unwrap_or(0.0)
                + res.pg_cpu_pct.unwrap_or(0.0)
                + res.bench_cpu_pct.unwrap_or(0.0);
            res.other_cpu_pct = Some((machine - ours).max(0.0));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_of_one_core() {
        let ten = Duration::from_secs(10);
        // 1500 ticks at 100/s over 10 s = 1.5 cores.
        assert!((cpu_pct(500, 2000, ten, 100) - 150.0).abs() < 1e-9);
        assert_eq!(cpu_pct(2000, 500, ten, 100), 0.0);
        assert_eq!(cpu_pct(0, 100, Duration::ZERO, 100), 0.0);
    }

    #[test]
    fn samples_this_process() {
        let me = i32::try_from(std::process::id()).unwrap();
        let watch = Watch {
            hub_pid: Some(me),
            pgdata: None,
        };
        let now = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let h = spawn_sampler(watch, now, now + Duration::from_millis(250), stop.clone()).unwrap();
        // Burn some CPU so the figure is not zero.
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        stop.store(true, Ordering::Relaxed);
        let r = h.join().unwrap();
        assert!(r.samples >= 2, "{r:?}");
        assert!(r.max_hub_rss_bytes.unwrap() > 0);
        assert!(r.max_pg_rss_bytes.is_none());
        assert!(r.hub_cpu_pct.unwrap() > 10.0, "{r:?}");
    }
}
