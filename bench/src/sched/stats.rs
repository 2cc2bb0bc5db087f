//! The pure arithmetic of the scheduling benchmark: latency summaries, the trickle
//! schedule, and the checks that no task was handed out or opened twice.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Nearest-rank percentile (`q` in 0..=1) of values sorted ascending: the smallest value
/// with at least `q` of all values at or below it. `None` for no values.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50/p90/p99/max/mean of `values` (ms); NaNs are ignored. `None` when nothing is left.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(Summary {
        n,
        p50_ms: percentile(&v, 0.50)?,
        p90_ms: percentile(&v, 0.90)?,
        p99_ms: percentile(&v, 0.99)?,
        max_ms: v[n - 1],
        mean_ms: v.iter().sum::<f64>() / n as f64,
    })
}

/// Client-side pickup latency in ms: from the moment the task was FREE (as this process
/// knows it) to the moment a builder's `openTask` answer arrived. A task opened before its
/// submitting call's answer arrived counts as 0 ms and is flagged (`true`).
pub fn pickup_ms(free: Instant, opened: Instant) -> (f64, bool) {
    match opened.checked_duration_since(free) {
        Some(d) => (d.as_secs_f64() * 1000.0, false),
        None => (0.0, true),
    }
}

/// Hub-side pickup latency in ms from the task's own timestamps: `start_ts` (openTask) minus
/// `create_ts`, or minus `floor_ts` when that is later (a task queued while every builder
/// was paused became available only when they were released). Negative differences (clock
/// steps) count as 0 and are flagged.
pub fn hub_pickup_ms(create_ts: f64, start_ts: f64, floor_ts: Option<f64>) -> (f64, bool) {
    let from = match floor_ts {
        Some(f) if f > create_ts => f,
        _ => create_ts,
    };
    let d = (start_ts - from) * 1000.0;
    if d < 0.0 { (0.0, true) } else { (d, false) }
}

/// Tasks per second over `span` (0 when the span is empty).
pub fn rate(n: usize, span: Duration) -> f64 {
    let s = span.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

/// When task `i` of a trickle at `per_sec` tasks/s is due, from the start of the phase.
pub fn trickle_due(i: u64, per_sec: u32) -> Duration {
    Duration::from_secs_f64(i as f64 / f64::from(per_sec.max(1)))
}

/// The task numbers (0-based, out of `total`) that submitter `k` of `of` sends: every
/// `of`-th, so the submitters interleave and the rate stays even.
pub fn share(total: u64, k: u32, of: u32) -> impl Iterator<Item = u64> {
    (u64::from(k)..total).step_by(of.max(1) as usize)
}

/// Whether any task was handed out or started twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Uniqueness {
    /// Distinct tasks opened (successful `openTask`).
    pub opened: usize,
    /// Tasks whose `openTask` succeeded more than once (by any builders, the same one
    /// included): assigned twice.
    pub opened_twice: Vec<i64>,
    /// Tasks that `waitTasks` handed to more than one builder.
    pub offered_to_many: Vec<i64>,
    /// Submitted tasks no builder opened.
    pub never_opened: Vec<i64>,
    /// Tasks opened that this run did not submit.
    pub unexpected: Vec<i64>,
}

impl Uniqueness {
    /// No task assigned twice (the requirement), every submitted task opened.
    pub fn ok(&self) -> bool {
        self.opened_twice.is_empty()
            && self.offered_to_many.is_empty()
            && self.never_opened.is_empty()
            && self.unexpected.is_empty()
    }
}

/// `opens` and `offers` are (task, builder) pairs: each successful `openTask`, and each task
/// a `waitTasks` answer listed. A builder seeing its own task again is not a duplicate; a
/// second successful open is, even by the same builder.
pub fn check_uniqueness(
    submitted: &[i64],
    opens: &[(i64, usize)],
    offers: &[(i64, usize)],
) -> Uniqueness {
    let mut open_count: HashMap<i64, usize> = HashMap::new();
    for &(t, _) in opens {
        *open_count.entry(t).or_default() += 1;
    }
    let mut offered: HashMap<i64, HashSet<usize>> = HashMap::new();
    for &(t, b) in offers {
        offered.entry(t).or_default().insert(b);
    }
    let submitted_set: HashSet<i64> = submitted.iter().copied().collect();
    let mut opened_twice: Vec<i64> = open_count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(t, _)| *t)
        .collect();
    let mut offered_to_many: Vec<i64> = offered
        .iter()
        .filter(|(_, b)| b.len() > 1)
        .map(|(t, _)| *t)
        .collect();
    let mut never_opened: Vec<i64> = submitted_set
        .iter()
        .filter(|t| !open_count.contains_key(t))
        .copied()
        .collect();
    let mut unexpected: Vec<i64> = open_count
        .keys()
        .filter(|t| !submitted_set.contains(t))
        .copied()
        .collect();
    for v in [
        &mut opened_twice,
        &mut offered_to_many,
        &mut never_opened,
        &mut unexpected,
    ] {
        v.sort_unstable();
    }
    Uniqueness {
        opened: open_count.len(),
        opened_twice,
        offered_to_many,
        never_opened,
        unexpected,
    }
}

/// A task as the hub lists it at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct HubTask {
    pub id: i64,
    pub state: i64,
    pub host_id: Option<i64>,
    pub create_ts: f64,
    pub start_ts: Option<f64>,
}

/// Koji's CLOSED task state.
pub const CLOSED: i64 = 2;

/// The hub's own view at the end: every submitted task listed once, CLOSED, on the host
/// whose builder opened it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FinalCheck {
    pub submitted: usize,
    /// Rows the hub returned for the submitted ids.
    pub listed: usize,
    pub closed: usize,
    /// (task, state) of the submitted tasks that are not CLOSED.
    pub not_closed: Vec<(i64, i64)>,
    /// Submitted ids the hub did not list.
    pub missing: Vec<i64>,
    /// Ids listed more than once.
    pub listed_twice: Vec<i64>,
    /// Tasks whose final host is not the host of the builder that opened them.
    pub host_mismatch: Vec<i64>,
}

impl FinalCheck {
    pub fn ok(&self) -> bool {
        self.listed == self.submitted
            && self.closed == self.submitted
            && self.not_closed.is_empty()
            && self.missing.is_empty()
            && self.listed_twice.is_empty()
            && self.host_mismatch.is_empty()
    }
}

/// `opener_host`: task -> host id the successful `openTask` answer named.
pub fn final_check(
    submitted: &[i64],
    rows: &[HubTask],
    opener_host: &HashMap<i64, i64>,
) -> FinalCheck {
    let wanted: HashSet<i64> = submitted.iter().copied().collect();
    let mut seen: HashMap<i64, &HubTask> = HashMap::new();
    let mut listed_twice = Vec::new();
    for r in rows.iter().filter(|r| wanted.contains(&r.id)) {
        if seen.insert(r.id, r).is_some() {
            listed_twice.push(r.id);
        }
    }
    let mut not_closed: Vec<(i64, i64)> = seen
        .values()
        .filter(|r| r.state != CLOSED)
        .map(|r| (r.id, r.state))
        .collect();
    let mut missing: Vec<i64> = wanted
        .iter()
        .filter(|t| !seen.contains_key(t))
        .copied()
        .collect();
    let mut host_mismatch: Vec<i64> = seen
        .values()
        .filter(|r| match opener_host.get(&r.id) {
            Some(h) => r.host_id != Some(*h),
            None => false,
        })
        .map(|r| r.id)
        .collect();
    not_closed.sort_unstable();
    missing.sort_unstable();
    listed_twice.sort_unstable();
    host_mismatch.sort_unstable();
    FinalCheck {
        submitted: wanted.len(),
        listed: seen.len(),
        closed: seen.values().filter(|r| r.state == CLOSED).count(),
        not_closed,
        missing,
        listed_twice,
        host_mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.50), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
        // 10 values: p99 is the largest, p90 the 9th.
        let w: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&w, 0.99), Some(10.0));
        assert_eq!(percentile(&w, 0.90), Some(9.0));
    }

    #[test]
    fn summary_sorts_and_ignores_nan() {
        let s = summarize(&[5.0, 1.0, f64::NAN, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(s.n, 5);
        assert_eq!(
            (s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms),
            (3.0, 5.0, 5.0, 5.0)
        );
        assert!((s.mean_ms - 3.0).abs() < 1e-12);
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[f64::NAN]).is_none());
    }

    #[test]
    fn pickup_clamps_early_opens() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(12);
        let (ms, early) = pickup_ms(t0, t1);
        assert!((ms - 12.0).abs() < 1e-6 && !early);
        assert_eq!(pickup_ms(t1, t0), (0.0, true));
    }

    #[test]
    fn hub_side_pickup_uses_the_later_start() {
        // created at 100.000, opened at 100.025: 25 ms
        let (ms, neg) = hub_pickup_ms(100.0, 100.025, None);
        assert!((ms - 25.0).abs() < 1e-6 && !neg);
        // queued while builders were paused, released at 130.0, opened at 130.040
        let (ms, _) = hub_pickup_ms(100.0, 130.040, Some(130.0));
        assert!((ms - 40.0).abs() < 1e-6);
        // a release before creation does not matter
        let (ms, _) = hub_pickup_ms(100.0, 100.010, Some(90.0));
        assert!((ms - 10.0).abs() < 1e-6);
        assert_eq!(hub_pickup_ms(100.0, 99.0, None), (0.0, true));
    }

    #[test]
    fn trickle_schedule_and_shares() {
        assert_eq!(trickle_due(0, 200), Duration::ZERO);
        assert_eq!(trickle_due(200, 200), Duration::from_secs(1));
        assert_eq!(trickle_due(1, 4), Duration::from_millis(250));
        let a: Vec<u64> = share(10, 0, 4).collect();
        let b: Vec<u64> = share(10, 3, 4).collect();
        assert_eq!(a, vec![0, 4, 8]);
        assert_eq!(b, vec![3, 7]);
        // the shares partition 0..total
        let mut all: Vec<u64> = (0..4).flat_map(|k| share(10, k, 4)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(share(3, 5, 4).count(), 0);
    }

    #[test]
    fn rates() {
        assert_eq!(rate(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
    }

    #[test]
    fn unique_assignment_passes() {
        let submitted = [1, 2, 3];
        let opens = [(1, 0), (2, 1), (3, 0)];
        // builder 0 saw task 1 twice (it was still assigned to it): not a duplicate
        let offers = [(1, 0), (1, 0), (2, 1), (3, 0)];
        let u = check_uniqueness(&submitted, &opens, &offers);
        assert!(u.ok(), "{u:?}");
        assert_eq!(u.opened, 3);
    }

    #[test]
    fn duplicates_are_found() {
        let submitted = [1, 2, 3, 4];
        let opens = [(1, 0), (1, 1), (2, 2), (2, 2), (3, 1), (9, 1)];
        let offers = [(1, 0), (1, 1), (2, 2), (3, 1), (3, 4)];
        let u = check_uniqueness(&submitted, &opens, &offers);
        assert_eq!(u.opened_twice, vec![1, 2]);
        assert_eq!(u.offered_to_many, vec![1, 3]);
        assert_eq!(u.never_opened, vec![4]);
        assert_eq!(u.unexpected, vec![9]);
        assert!(!u.ok());
    }

    fn row(id: i64, state: i64, host: Option<i64>) -> HubTask {
        HubTask {
            id,
            state,
            host_id: host,
            create_ts: 1.0,
            start_ts: Some(2.0),
        }
    }

    #[test]
    fn final_state_check() {
        let submitted = [1, 2, 3];
        let openers: HashMap<i64, i64> = [(1, 10), (2, 11), (3, 12)].into_iter().collect();
        let good = [
            row(1, CLOSED, Some(10)),
            row(2, CLOSED, Some(11)),
            row(3, CLOSED, Some(12)),
            row(99, 0, None),
        ];
        let f = final_check(&submitted, &good, &openers);
        assert!(f.ok(), "{f:?}");
        assert_eq!((f.submitted, f.listed, f.closed), (3, 3, 3));

        let bad = [
            row(1, CLOSED, Some(10)),
            row(1, CLOSED, Some(10)),
            row(2, 1, Some(13)),
        ];
        let f = final_check(&submitted, &bad, &openers);
        assert!(!f.ok());
        assert_eq!(f.listed_twice, vec![1]);
        assert_eq!(f.not_closed, vec![(2, 1)]);
        assert_eq!(f.missing, vec![3]);
        assert_eq!(f.host_mismatch, vec![2]);
    }
}
