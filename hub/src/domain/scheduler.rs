//! Who gets which FREE task: a pure function of the hosts, the tasks and the settings, so
//! every rule can be tested without a database. The pass that loads the state, enforces
//! the timeouts and applies the result is `background::scheduler`.
//!
//! The rules:
//! - only enabled, ready hosts take work;
//! - a task goes to a host of its channel whose arches (plus `noarch`) include its arch;
//! - a host takes at most `maxjobs` tasks, and only while its free capacity covers the
//!   task's weight; an idle host may take a task heavier than its whole capacity
//!   (otherwise such a task could never run anywhere);
//! - tasks waiting for subtasks hold neither capacity nor a maxjobs slot;
//! - tasks are handed out in priority order (lower first), then oldest first;
//! - among the hosts that can take a task, the least loaded (relative to capacity) wins,
//!   then the one with fewest tasks, then the one given fewest in this pass;
//! - a host that refused a task never gets it again; a soft refusal bars the host only
//!   for the retry interval, and until the refusal times out the host gets the task only
//!   when no other host can take it.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};

/// A host as a pass sees it.
#[derive(Debug, Clone)]
pub struct Host {
    pub id: i32,
    pub enabled: bool,
    pub ready: bool,
    /// The arches it builds (`noarch` is implied).
    pub arches: Vec<String>,
    /// Its enabled channels.
    pub channels: Vec<i32>,
    pub capacity: f64,
    pub maxjobs: i64,
    /// The tasks it holds (OPEN or ASSIGNED).
    pub active: Vec<Active>,
}

/// A task a host holds.
#[derive(Debug, Clone, Copy)]
pub struct Active {
    pub weight: f64,
    /// Waiting for its subtasks.
    pub waiting: bool,
}

/// A FREE task.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: i32,
    pub channel_id: i32,
    pub arch: String,
    pub weight: f64,
    pub priority: i32,
    pub create_time: DateTime<Utc>,
    pub refusals: Vec<Refusal>,
}

/// A host's refusal of a task.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    pub host: i32,
    pub soft: bool,
    /// Seconds since the refusal.
    pub age: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a soft refusal keeps the task from its host while another host can take it.
    pub soft_refusal_timeout: f64,
    /// How long a soft refusal bars its host outright (at most the timeout).
    pub soft_refusal_retry: f64,
}

/// A host's standing during one pass.
struct Slot {
    id: i32,
    arches: HashSet<String>,
    channels: HashSet<i32>,
    capacity: f64,
    load: f64,
    ntasks: i64,
    maxjobs: i64,
    assigned_now: i64,
}

impl Slot {
    fn new(h: &Host) -> Slot {
        let mut arches: HashSet<String> = h.arches.iter().cloned().collect();
        arches.insert("noarch".into());
        let counted = h.active.iter().filter(|a| !a.waiting);
        Slot {
            id: h.id,
            arches,
            channels: h.channels.iter().copied().collect(),
            capacity: h.capacity,
            load: counted.clone().map(|a| a.weight).sum(),
            ntasks: i64::try_from(counted.count()).unwrap_or(i64::MAX),
            maxjobs: h.maxjobs,
            assigned_now: 0,
        }
    }

    /// Free capacity must cover the weight; an idle host may take a task heavier than its
    /// whole capacity.
    fn fits(&self, weight: f64) -> bool {
        self.ntasks < self.maxjobs
            && (self.load <= 0.0 || self.capacity - self.load >= weight - 1e-9)
    }

    fn rank(&self) -> (i64, i64, i64) {
        // lowest relative load first, then fewest tasks, then fewest assignments this pass
        (
            ((self.load / self.capacity.max(0.01)) * 1000.0) as i64,
            self.ntasks,
            self.assigned_now,
        )
    }
}

/// Why a FREE task was not given to anyone in a pass: what `koji scheduler-logs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// No enabled host is in the task's channel.
    NoHostInChannel,
    /// Hosts are in the channel, but none builds the task's arch.
    NoHostForArch,
    /// Every host that could take it refused it (or is barred by a recent soft refusal).
    Refused,
    /// Hosts that could take it are not ready (not checking in, or over their load).
    NotReady,
    /// Hosts that could take it are full (capacity or maxjobs) or got other tasks first.
    Busy,
}

impl Wait {
    pub fn message(self) -> &'static str {
        match self {
            Wait::NoHostInChannel => "Task waits: no enabled host is in its channel",
            Wait::NoHostForArch => "Task waits: no enabled host in its channel builds its arch",
            Wait::Refused => "Task waits: every host that could take it refused it",
            Wait::NotReady => "Task waits: the hosts that could take it are not ready",
            Wait::Busy => "Task waits: the hosts that could take it are busy",
        }
    }
}

/// Why `t` waits, given the hosts (the pass left it unassigned). Tasks of one channel and
/// arch with no refusals share one answer, so a queue of thousands costs one look at the
/// hosts per kind, not per task.
pub fn why_waiting(hosts: &[Host], t: &Task, s: &Settings) -> Wait {
    let retry = s.soft_refusal_retry.min(s.soft_refusal_timeout);
    let enabled = || hosts.iter().filter(|h| h.enabled);
    if !enabled().any(|h| h.channels.contains(&t.channel_id)) {
        return Wait::NoHostInChannel;
    }
    let can = |h: &&Host| {
        h.channels.contains(&t.channel_id) && (t.arch == "noarch" || h.arches.contains(&t.arch))
    };
    if !enabled().any(|h| can(&h)) {
        return Wait::NoHostForArch;
    }
    let barred = |h: &&Host| {
        t.refusals
            .iter()
            .any(|r| r.host == h.id && (!r.soft || r.age < retry))
    };
    if enabled().filter(can).all(|h| barred(&h)) {
        return Wait::Refused;
    }
    if !enabled().filter(can).any(|h| h.ready && !barred(&h)) {
        return Wait::NotReady;
    }
    Wait::Busy
}

/// The assignments of one pass: host id → task ids, in the order they were given.
pub fn assign(hosts: &[Host], tasks: &[Task], s: &Settings) -> BTreeMap<i32, Vec<i32>> {
    let mut slots: Vec<Slot> = hosts
        .iter()
        .filter(|h| h.enabled && h.ready)
        .map(Slot::new)
        .collect();
    let mut order: Vec<&Task> = tasks.iter().collect();
    order.sort_by_key(|t| (t.priority, t.create_time, t.id));
    let retry = s.soft_refusal_retry.min(s.soft_refusal_timeout);
    let mut out: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for t in order {
        let barred: HashSet<i32> = t
            .refusals
            .iter()
            .filter(|r| !r.soft || r.age < retry)
            .map(|r| r.host)
            .collect();
        let avoided: HashSet<i32> = t
            .refusals
            .iter()
            .filter(|r| r.soft && r.age < s.soft_refusal_timeout)
            .map(|r| r.host)
            .collect();
        // hosts that did not refuse first; a soft refuser only when nobody else can
        let best = slots
            .iter_mut()
            .filter(|h| h.channels.contains(&t.channel_id) && h.arches.contains(&t.arch))
            .filter(|h| !barred.contains(&h.id) && h.fits(t.weight))
            .min_by_key(|h| (avoided.contains(&h.id), h.rank()));
        let Some(h) = best else { continue };
        h.load += t.weight;
        h.ntasks += 1;
        h.assigned_now += 1;
        out.entry(h.id).or_default().push(t.id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: Settings = Settings {
        soft_refusal_timeout: 900.0,
        soft_refusal_retry: 30.0,
    };

    fn host(id: i32, capacity: f64) -> Host {
        Host {
            id,
            enabled: true,
            ready: true,
            arches: vec!["x86_64".into()],
            channels: vec![1],
            capacity,
            maxjobs: 10,
            active: Vec::new(),
        }
    }

    fn busy(mut h: Host, weights: &[f64]) -> Host {
        h.active = weights
            .iter()
            .map(|w| Active {
                weight: *w,
                waiting: false,
            })
            .collect();
        h
    }

    fn task(id: i32, weight: f64) -> Task {
        Task {
            id,
            channel_id: 1,
            arch: "x86_64".into(),
            weight,
            priority: 20,
            create_time: DateTime::<Utc>::from_timestamp(1_700_000_000 + i64::from(id), 0)
                .unwrap_or_default(),
            refusals: Vec::new(),
        }
    }

    fn run(hosts: &[Host], tasks: &[Task]) -> BTreeMap<i32, Vec<i32>> {
        assign(hosts, tasks, &SETTINGS)
    }

    fn given(out: &BTreeMap<i32, Vec<i32>>, host: i32) -> Vec<i32> {
        out.get(&host).cloned().unwrap_or_default()
    }

    #[test]
    fn waiting_tasks_say_why() {
        let s = &SETTINGS;
        let t = task(10, 1.0);
        let mut other = host(1, 4.0);
        other.channels = vec![2];
        assert_eq!(why_waiting(&[other], &t, s), Wait::NoHostInChannel);
        let mut arm = host(1, 4.0);
        arm.arches = vec!["aarch64".into()];
        assert_eq!(
            why_waiting(std::slice::from_ref(&arm), &t, s),
            Wait::NoHostForArch
        );
        let mut noarch = task(11, 1.0);
        noarch.arch = "noarch".into();
        assert_eq!(why_waiting(&[arm], &noarch, s), Wait::Busy);
        let mut refused = task(12, 1.0);
        refused.refusals = vec![Refusal {
            host: 1,
            soft: false,
            age: 0.0,
        }];
        assert_eq!(why_waiting(&[host(1, 4.0)], &refused, s), Wait::Refused);
        let mut unready = host(1, 4.0);
        unready.ready = false;
        assert_eq!(why_waiting(&[unready], &t, s), Wait::NotReady);
        assert_eq!(
            why_waiting(&[busy(host(1, 1.0), &[1.0])], &t, s),
            Wait::Busy
        );
        let mut off = host(1, 4.0);
        off.enabled = false;
        assert_eq!(why_waiting(&[off], &t, s), Wait::NoHostInChannel);
    }

    #[test]
    fn only_enabled_ready_hosts_take_work() {
        let mut off = host(1, 4.0);
        off.enabled = false;
        let mut unready = host(2, 4.0);
        unready.ready = false;
        let out = run(&[off, unready, host(3, 4.0)], &[task(10, 1.0)]);
        assert_eq!(out, BTreeMap::from([(3, vec![10])]));
        let mut only = host(1, 4.0);
        only.ready = false;
        assert!(run(&[only], &[task(10, 1.0)]).is_empty());
    }

    #[test]
    fn the_task_arch_must_be_the_hosts_or_noarch() {
        let mut t = task(10, 1.0);
        t.arch = "aarch64".into();
        let mut noarch = task(11, 1.0);
        noarch.arch = "noarch".into();
        let mut arm = host(2, 4.0);
        arm.arches = vec!["aarch64".into()];
        let out = run(&[host(1, 4.0), arm], &[t, noarch]);
        assert_eq!(given(&out, 2), vec![10]);
        // noarch runs anywhere: the x86_64 host is the less loaded one now
        assert_eq!(given(&out, 1), vec![11]);
    }

    #[test]
    fn the_task_channel_must_be_the_hosts() {
        let mut t = task(10, 1.0);
        t.channel_id = 2;
        assert!(run(&[host(1, 4.0)], std::slice::from_ref(&t)).is_empty());
        let mut h = host(1, 4.0);
        h.channels = vec![1, 2];
        assert_eq!(run(&[h], &[t]), BTreeMap::from([(1, vec![10])]));
    }

    #[test]
    fn free_capacity_must_cover_the_weight() {
        // 4.0 capacity, 3.0 held: a 1.5 task does not fit, a 1.0 task does
        let h = busy(host(1, 4.0), &[3.0]);
        assert!(run(std::slice::from_ref(&h), &[task(10, 1.5)]).is_empty());
        assert_eq!(run(&[h], &[task(11, 1.0)]), BTreeMap::from([(1, vec![11])]));
        // capacity is used up within one pass too
        let out = run(&[host(1, 2.0)], &[task(10, 1.5), task(11, 1.5)]);
        assert_eq!(out, BTreeMap::from([(1, vec![10])]));
    }

    #[test]
    fn an_idle_host_takes_a_task_heavier_than_its_capacity() {
        assert_eq!(
            run(&[host(1, 1.0)], &[task(10, 1.5)]),
            BTreeMap::from([(1, vec![10])])
        );
        // but never a second one
        assert_eq!(
            run(&[host(1, 1.0)], &[task(10, 1.5), task(11, 1.5)]),
            BTreeMap::from([(1, vec![10])])
        );
        let loaded = busy(host(1, 1.0), &[0.1]);
        assert!(run(&[loaded], &[task(10, 1.5)]).is_empty());
    }

    #[test]
    fn maxjobs_caps_the_tasks_a_host_holds() {
        let mut h = busy(host(1, 100.0), &[0.1]);
        h.maxjobs = 2;
        let out = run(&[h], &[task(10, 0.1), task(11, 0.1)]);
        assert_eq!(out, BTreeMap::from([(1, vec![10])]));
    }

    #[test]
    fn waiting_parents_hold_no_capacity_and_no_slot() {
        let mut h = host(1, 2.0);
        h.maxjobs = 1;
        h.active = vec![Active {
            weight: 2.0,
            waiting: true,
        }];
        // the parent's child runs on the host that holds the parent
        assert_eq!(run(&[h], &[task(10, 1.5)]), BTreeMap::from([(1, vec![10])]));
    }

    #[test]
    fn tasks_go_out_in_priority_order_then_oldest_first() {
        let mut urgent = task(12, 1.5);
        urgent.priority = 10;
        let old = task(10, 1.5);
        let new = task(11, 1.5);
        // room for one task: the urgent one wins although it came last
        let out = run(&[host(1, 1.5)], &[old.clone(), new.clone(), urgent]);
        assert_eq!(out, BTreeMap::from([(1, vec![12])]));
        // same priority: the older one
        let out = run(&[host(1, 1.5)], &[new, old]);
        assert_eq!(out, BTreeMap::from([(1, vec![10])]));
    }

    #[test]
    fn work_spreads_to_the_least_loaded_host() {
        let big = busy(host(1, 8.0), &[2.0]);
        let small = busy(host(2, 2.0), &[1.0]);
        // relative load 0.25 < 0.5
        assert_eq!(
            given(&run(&[small.clone(), big.clone()], &[task(10, 0.5)]), 1),
            vec![10]
        );
        // two idle hosts share a burst instead of one taking it all
        let out = run(
            &[host(1, 8.0), host(2, 8.0)],
            &[task(10, 1.0), task(11, 1.0)],
        );
        assert_eq!(given(&out, 1).len(), 1);
        assert_eq!(given(&out, 2).len(), 1);
    }

    #[test]
    fn a_host_never_gets_a_task_it_refused() {
        let mut t = task(10, 1.0);
        t.refusals = vec![Refusal {
            host: 1,
            soft: false,
            age: 1_000_000.0,
        }];
        assert!(run(&[host(1, 4.0)], std::slice::from_ref(&t)).is_empty());
        assert_eq!(
            run(&[host(1, 4.0), host(2, 4.0)], &[t]),
            BTreeMap::from([(2, vec![10])])
        );
    }

    #[test]
    fn a_soft_refusal_bars_briefly_then_yields_to_other_hosts() {
        let soft = |age| {
            let mut t = task(10, 1.0);
            t.refusals = vec![Refusal {
                host: 1,
                soft: true,
                age,
            }];
            t
        };
        // within the retry interval: not even as a last resort
        assert!(run(&[host(1, 4.0)], &[soft(5.0)]).is_empty());
        // after it: back to the refuser when nobody else can take it...
        assert_eq!(
            run(&[host(1, 4.0)], &[soft(60.0)]),
            BTreeMap::from([(1, vec![10])])
        );
        // ...but another host goes first, even a busier one
        let other = busy(host(2, 4.0), &[3.0]);
        assert_eq!(
            run(&[host(1, 4.0), other.clone()], &[soft(60.0)]),
            BTreeMap::from([(2, vec![10])])
        );
        // once the refusal timed out, it counts no more
        assert_eq!(
            run(&[host(1, 4.0), other], &[soft(1000.0)]),
            BTreeMap::from([(1, vec![10])])
        );
    }

    #[test]
    fn a_retry_interval_longer_than_the_timeout_is_cut_to_it() {
        let s = Settings {
            soft_refusal_timeout: 10.0,
            soft_refusal_retry: 60.0,
        };
        let mut t = task(10, 1.0);
        t.refusals = vec![Refusal {
            host: 1,
            soft: true,
            age: 20.0,
        }];
        assert_eq!(
            assign(&[host(1, 4.0)], &[t], &s),
            BTreeMap::from([(1, vec![10])])
        );
    }
}
