//! Retention: keep the newest N runs, the newest run of each of the last N weeks and of the
//! last N months — and every run those need to be restored (their chain back to the full
//! one). Everything else goes, manifest first.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};

use crate::config::{Retention, Settings};
use crate::fsutil::PathError;
use crate::lock::{Lock, LockError};
use crate::manifest;
use crate::verify;

/// A run as the policy sees it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub id: String,
    pub time: DateTime<Utc>,
    /// Runs needed to restore this one (itself excluded).
    pub needs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub keep: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// Which runs stay (with the reason) and which go. `runs` oldest first.
pub fn decide(runs: &[RunInfo], policy: Retention) -> Decision {
    let mut reasons: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let newest_first: Vec<&RunInfo> = runs.iter().rev().collect();
    for r in newest_first
        .iter()
        .take(usize::try_from(policy.keep_last).unwrap_or(usize::MAX))
    {
        reasons
            .entry(r.id.clone())
            .or_default()
            .push("last".to_owned());
    }
    let mut pick = |n: u32, label: &str, key: &dyn Fn(&DateTime<Utc>) -> (i32, u32)| {
        let mut seen = BTreeSet::new();
        for r in &newest_first {
            let k = key(&r.time);
            if seen.contains(&k) {
                continue;
            }
            if seen.len() >= usize::try_from(n).unwrap_or(usize::MAX) {
                break;
            }
            seen.insert(k);
            reasons
                .entry(r.id.clone())
                .or_default()
                .push(label.to_owned());
        }
    };
    pick(policy.keep_weekly, "weekly", &|t| {
        let w = t.iso_week();
        (w.year(), w.week())
    });
    pick(policy.keep_monthly, "monthly", &|t| (t.year(), t.month()));
    // Chains of kept runs.
    let by_id: std::collections::HashMap<&str, &RunInfo> =
        runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut todo: Vec<(String, String)> = reasons.keys().map(|k| (k.clone(), k.clone())).collect();
    while let Some((id, for_run)) = todo.pop() {
        if let Some(r) = by_id.get(id.as_str()) {
            for n in &r.needs {
                let e = reasons.entry(n.clone()).or_default();
                let why = format!("needed by {for_run}");
                if e.is_empty() {
                    todo.push((n.clone(), for_run.clone()));
                }
                if !e.contains(&why) && e.len() < 3 {
                    e.push(why);
                }
            }
        }
    }
    let mut keep = Vec::new();
    let mut remove = Vec::new();
    for r in runs {
        match reasons.get(&r.id) {
            Some(why) => keep.push((r.id.clone(), why.join(", "))),
            None => remove.push(r.id.clone()),
        }
    }
    Decision { keep, remove }
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{0}")]
    Refused(String),
}

pub fn prune(s: &Settings, dry_run: bool) -> Result<Decision, PruneError> {
    let root = &s.backup_root;
    let _lock = if dry_run {
        None
    } else {
        Some(Lock::acquire(&crate::backup::lock_path(root))?)
    };
    let ids = manifest::run_ids(root)?;
    let mut runs = Vec::new();
    for id in &ids {
        let m = manifest::read(root, id).map_err(|e| {
            PruneError::Refused(format!(
                "{e}; nothing pruned (a run whose chain is unknown could lose what it needs)"
            ))
        })?;
        let mut problems = Vec::new();
        let mut needs: Vec<String> = verify::chain(root, id, &mut problems)
            .into_iter()
            .filter(|r| r != id)
            .collect();
        needs.sort();
        if let Some(p) = problems.first() {
            tracing::warn!("{p}");
        }
        runs.push(RunInfo {
            id: id.clone(),
            time: m.time,
            needs,
        });
    }
    let d = decide(&runs, s.retention);
    if !dry_run {
        for id in &d.remove {
            let m = manifest::read(root, id).map_err(|e| PruneError::Refused(e.to_string()))?;
            manifest::remove_run(root, &m)?;
            tracing::info!(run = %id, "pruned");
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn run(id: &str, y: i32, m: u32, d: u32, needs: &[&str]) -> RunInfo {
        RunInfo {
            id: id.to_owned(),
            time: Utc.with_ymd_and_hms(y, m, d, 3, 0, 0).single().unwrap(),
            needs: needs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn weekly_monthly_and_chains() {
        // Weekly runs over three months; a full on the first of each month-ish.
        let runs = vec![
            run("f1", 2026, 9, 6, &[]),
            run("i1", 2026, 9, 13, &["f1"]),
            run("i2", 2026, 9, 20, &["f1", "i1"]),
            run("f2", 2026, 10, 4, &[]),
            run("i3", 2026, 10, 11, &["f2"]),
            run("i4", 2026, 10, 18, &["f2", "i3"]),
            run("f3", 2026, 11, 1, &[]),
            run("i5", 2026, 11, 8, &["f3"]),
        ];
        let policy = Retention {
            keep_last: 2,
            keep_weekly: 3,
            keep_monthly: 3,
        };
        let d = decide(&runs, policy);
        let kept: Vec<&str> = d.keep.iter().map(|(k, _)| k.as_str()).collect();
        // last 2: i5, f3; weekly 3: i5, f3, i4; monthly 3: i5 (Nov), i4 (Oct), i2 (Sep);
        // chains: i4 -> f2, i3; i2 -> f1, i1.
        assert_eq!(kept, ["f1", "i1", "i2", "f2", "i3", "i4", "f3", "i5"]);
        let policy = Retention {
            keep_last: 1,
            keep_weekly: 0,
            keep_monthly: 0,
        };
        let d = decide(&runs, policy);
        assert_eq!(
            d.keep.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["f3", "i5"]
        );
        assert_eq!(d.remove, ["f1", "i1", "i2", "f2", "i3", "i4"]);
        let policy = Retention {
            keep_last: 1,
            keep_weekly: 0,
            keep_monthly: 2,
        };
        let d = decide(&runs, policy);
        assert_eq!(d.remove, ["f1", "i1", "i2"]);
    }

    #[test]
    fn daily_runs_keep_the_newest_of_each_week_and_month() {
        // Daily runs from Mon 2026-09-21 to Tue 2026-10-13: fulls on Mondays, incrementals
        // on the days between, each needing its week's chain so far.
        let mut runs = Vec::new();
        let mut chain: Vec<String> = Vec::new();
        let start = Utc.with_ymd_and_hms(2026, 9, 21, 3, 0, 0).single().unwrap();
        for day in 0..23 {
            let time = start + chrono::Duration::days(day);
            if time.weekday() == chrono::Weekday::Mon {
                chain.clear();
            }
            let id = time.format("%m%d").to_string();
            runs.push(RunInfo {
                id: id.clone(),
                time,
                needs: chain.clone(),
            });
            chain.push(id);
        }
        let kept = |d: &Decision| d.keep.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        // The newest run of the last two weeks with runs: Sun 10-11 (its chain back to Mon
        // 10-05) and Tue 10-13 (with Mon 10-12).
        let d = decide(
            &runs,
            Retention {
                keep_last: 1,
                keep_weekly: 2,
                keep_monthly: 0,
            },
        );
        assert_eq!(
            kept(&d),
            [
                "1005", "1006", "1007", "1008", "1009", "1010", "1011", "1012", "1013"
            ]
        );
        let why: std::collections::HashMap<_, _> = d.keep.iter().cloned().collect();
        assert_eq!(why["1013"], "last, weekly");
        assert_eq!(why["1011"], "weekly");
        assert_eq!(why["1005"], "needed by 1011");
        // Monthly: Wed 09-30 (September's newest, with its week from Mon 09-28) and 10-13.
        let d = decide(
            &runs,
            Retention {
                keep_last: 0,
                keep_weekly: 0,
                keep_monthly: 2,
            },
        );
        assert_eq!(kept(&d), ["0928", "0929", "0930", "1012", "1013"]);
        // Every kept run's chain is kept: nothing removed is needed by anything kept.
        for (id, _) in &d.keep {
            let r = runs.iter().find(|r| &r.id == id).unwrap();
            assert!(r.needs.iter().all(|n| !d.remove.contains(n)), "{id}");
        }
        assert_eq!(d.keep.len() + d.remove.len(), runs.len());
    }
}
