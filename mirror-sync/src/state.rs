//! What the mirror remembers per repo (`<state_dir>/repos/<label>/`): `state.json`, the
//! last good sync (its repomd.xml, the packages it published), and `log.jsonl`, one line per
//! sync attempt, so "when did this change and what came in" has an answer.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pool::Sum;

/// One published package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkgEntry {
    pub name: String,
    pub arch: String,
    /// `name-[epoch:]version-release.arch`
    pub nevra: String,
    pub sum: Sum,
    pub size: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RepoState {
    pub label: String,
    /// The published path, so `prune` can find a repo that left the config.
    pub dest: PathBuf,
    /// RFC 3339 time of the last good sync.
    pub last_good: Option<String>,
    /// sha256 of the upstream repomd.xml of the last good sync.
    pub repomd_sha256: String,
    pub upstream_revision: String,
    /// Newest `<timestamp>` in that repomd.xml.
    pub upstream_timestamp: i64,
    pub generation: u64,
    /// Published packages by href.
    pub packages: BTreeMap<String, PkgEntry>,
    /// The config settings that shape the tree (filters, checks) at the last good sync: when
    /// they change, an unchanged upstream is not a reason to stop early.
    #[serde(default)]
    pub settings: String,
    /// hrefs kept although upstream dropped them (no `--delete`).
    #[serde(default)]
    pub retained: Vec<String>,
    pub last_attempt: Option<String>,
    pub last_error: Option<String>,
}

/// One sync attempt.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogEntry {
    pub time: String,
    pub label: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Upstream unchanged: nothing was fetched but repomd.xml.
    #[serde(default)]
    pub unchanged: bool,
    #[serde(default)]
    pub upstream_revision: String,
    #[serde(default)]
    pub upstream_timestamp: i64,
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    /// `old NEVRA -> new NEVRA`
    #[serde(default)]
    pub updated: Vec<String>,
    #[serde(default)]
    pub downloaded: usize,
    #[serde(default)]
    pub bytes: u64,
    /// For `snapshot`: where the frozen tree is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

pub fn repo_dir(state_dir: &Path, label: &str) -> PathBuf {
    state_dir.join("repos").join(label)
}

pub fn load(state_dir: &Path, label: &str) -> std::io::Result<Option<RepoState>> {
    let p = repo_dir(state_dir, label).join("state.json");
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(std::io::Error::other(format!("{}: {e}", p.display()))),
    }
}

/// Writes a file by temp file + fsync + rename (+ fsync of the directory).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

pub fn save(state_dir: &Path, st: &RepoState) -> std::io::Result<()> {
    let p = repo_dir(state_dir, &st.label).join("state.json");
    let data = serde_json::to_vec_pretty(st).map_err(std::io::Error::other)?;
    write_atomic(&p, &data)
}

pub fn append_log(state_dir: &Path, e: &LogEntry) -> std::io::Result<()> {
    let dir = repo_dir(state_dir, &e.label);
    std::fs::create_dir_all(&dir)?;
    let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log.jsonl"))?;
    f.write_all(&line)?;
    f.sync_data()
}

/// Every entry of a repo's log, oldest first. A damaged line is skipped, not fatal: the
/// log is for people, and losing one line must not hide the others.
pub fn read_log(state_dir: &Path, label: &str) -> std::io::Result<Vec<LogEntry>> {
    let p = repo_dir(state_dir, label).join("log.jsonl");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Labels with state on disk (configured or not).
pub fn known_labels(state_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(state_dir.join("repos"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Exclusive lock on the state directory for one writer (sync, prune, snapshot).
pub struct Lock {
    _f: nix::fcntl::Flock<std::fs::File>,
}

pub fn lock(state_dir: &Path) -> anyhow::Result<Lock> {
    std::fs::create_dir_all(state_dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", state_dir.display()))?;
    let p = state_dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Lock { _f: l }),
        Err((_, e)) => Err(anyhow::anyhow!(
            "{}: another kkoji-mirror-sync holds the lock ({e})",
            p.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_at_a_time_and_log_survives_a_bad_line() {
        let d = tempfile::tempdir().unwrap();
        let held = lock(d.path()).unwrap();
        let e = lock(d.path()).err().unwrap().to_string();
        assert!(
            e.contains("another kkoji-mirror-sync holds the lock"),
            "{e}"
        );
        drop(held);
        lock(d.path()).unwrap();

        let entry = LogEntry {
            time: now(),
            label: "r".into(),
            ok: true,
            added: vec!["a-1-1.noarch".into()],
            ..Default::default()
        };
        append_log(d.path(), &entry).unwrap();
        let log = repo_dir(d.path(), "r").join("log.jsonl");
        let mut text = std::fs::read_to_string(&log).unwrap();
        text.push_str("{not json\n");
        std::fs::write(&log, text).unwrap();
        append_log(d.path(), &entry).unwrap();
        let read = read_log(d.path(), "r").unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].added, ["a-1-1.noarch"]);
    }
}
