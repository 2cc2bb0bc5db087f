//! `list` and `status`: what is in the backup root, as text for people and `--json` for
//! monitoring.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backup;
use crate::config::Settings;
use crate::fsutil::PathError;
use crate::manifest::{self, RunKind};
use crate::verify::{self, VerifyRecord};

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run: String,
    pub time: DateTime<Utc>,
    pub kind: RunKind,
    pub parent: Option<String>,
    pub entries: u64,
    pub changed_entries: usize,
    pub files_stored: u64,
    /// Of `files_stored`, files that only grew, stored as their appended bytes.
    pub tails_stored: u64,
    pub bytes_stored: u64,
    pub archive: String,
    pub archive_size: u64,
    pub dump: Option<String>,
    pub dump_size: Option<u64>,
    pub errors: usize,
}

pub fn list(s: &Settings) -> Result<(Vec<RunSummary>, Vec<String>), PathError> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for id in manifest::run_ids(&s.backup_root)? {
        match manifest::read(&s.backup_root, &id) {
            Ok(m) => out.push(RunSummary {
                run: m.run.clone(),
                time: m.time,
                kind: m.kind,
                parent: m.parent.clone(),
                entries: m.tree_entries,
                changed_entries: m.entries.len(),
                files_stored: m.files_stored,
                tails_stored: m.tails_stored,
                bytes_stored: m.bytes_stored,
                archive: m.archive.path.clone(),
                archive_size: m.archive.size,
                dump: m.database.as_ref().map(|d| d.path.clone()),
                dump_size: m.database.as_ref().map(|d| d.size),
                errors: m.errors.len(),
            }),
            Err(e) => bad.push(e.to_string()),
        }
    }
    Ok((out, bad))
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub backup_root: String,
    pub runs: usize,
    pub total_size: u64,
    pub last_run: Option<RunSummary>,
    pub last_run_age_hours: Option<i64>,
    pub last_full: Option<String>,
    pub last_verify: Option<VerifyRecord>,
    pub next_run: String,
    pub unreadable_manifests: Vec<String>,
}

pub fn status(s: &Settings) -> Result<Status, PathError> {
    let (runs, bad) = list(s)?;
    let now = Utc::now();
    let last = runs.last().cloned();
    let (_, _, next) = backup::plan(s, now, false);
    Ok(Status {
        backup_root: s.backup_root.display().to_string(),
        runs: runs.len(),
        total_size: runs
            .iter()
            .map(|r| r.archive_size + r.dump_size.unwrap_or(0))
            .sum(),
        last_run_age_hours: last
            .as_ref()
            .map(|r| now.signed_duration_since(r.time).num_hours()),
        last_full: runs
            .iter()
            .rev()
            .find(|r| r.kind == RunKind::Full)
            .map(|r| r.run.clone()),
        last_run: last,
        last_verify: verify::last_record(&s.backup_root),
        next_run: next,
        unreadable_manifests: bad,
    })
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut frac = 0u64;
    let mut i = 0;
    while v >= 1024 && i + 1 < UNITS.len() {
        frac = (v % 1024) * 10 / 1024;
        v /= 1024;
        i += 1;
    }
    if i == 0 {
        format!("{v} B")
    } else {
        format!("{v}.{frac} {}", UNITS[i])
    }
}

pub fn render_list(runs: &[RunSummary]) -> String {
    let mut out = format!(
        "{:<20} {:<11} {:<20} {:>8} {:>8} {:>10} {:>10} {:>6}\n",
        "RUN", "KIND", "PARENT", "ENTRIES", "STORED", "ARCHIVE", "DUMP", "ERRORS"
    );
    for r in runs {
        out.push_str(&format!(
            "{:<20} {:<11} {:<20} {:>8} {:>8} {:>10} {:>10} {:>6}\n",
            r.run,
            r.kind.to_string(),
            r.parent.as_deref().unwrap_or("-"),
            r.entries,
            r.files_stored,
            human_bytes(r.archive_size),
            r.dump_size
                .map(human_bytes)
                .unwrap_or_else(|| "-".to_owned()),
            r.errors
        ));
    }
    out
}

pub fn render_status(st: &Status) -> String {
    let mut out = format!("backup root:  {}\n", st.backup_root);
    out.push_str(&format!(
        "runs:         {} ({} in all)\n",
        st.runs,
        human_bytes(st.total_size)
    ));
    match &st.last_run {
        Some(r) => out.push_str(&format!(
            "last run:     {} ({}, {} h ago, archive {}, dump {}, {} errors)\n",
            r.run,
            r.kind,
            st.last_run_age_hours.unwrap_or(0),
            human_bytes(r.archive_size),
            r.dump_size
                .map(human_bytes)
                .unwrap_or_else(|| "none".to_owned()),
            r.errors
        )),
        None => out.push_str("last run:     none\n"),
    }
    out.push_str(&format!(
        "last full:    {}\n",
        st.last_full.as_deref().unwrap_or("none")
    ));
    match &st.last_verify {
        Some(v) => out.push_str(&format!(
            "last verify:  {} {} of {} run(s): {}\n",
            v.time.format("%Y-%m-%d %H:%M:%S UTC"),
            if v.drill { "drill" } else { "verify" },
            v.runs.len(),
            if v.ok {
                "OK".to_owned()
            } else {
                format!("FAILED ({})", v.problems.join("; "))
            }
        )),
        None => out.push_str("last verify:  never\n"),
    }
    out.push_str(&format!("next run:     {}\n", st.next_run));
    for b in &st.unreadable_manifests {
        out.push_str(&format!("UNREADABLE:   {b}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
    }
}
