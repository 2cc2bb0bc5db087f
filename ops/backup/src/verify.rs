//! `verify`: every byte of a run and its chain is read back and checked against the
//! manifests; `--drill` goes further and restores the pair into a throwaway PostgreSQL
//! cluster and a temporary directory, then asks the database and checks the files it names.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::db;
use crate::fsutil::{self, PathError};
use crate::manifest::{self, FileRecord, Manifest};
use crate::progress::Progress;
use crate::restore;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyRecord {
    pub time: DateTime<Utc>,
    pub runs: Vec<String>,
    pub drill: bool,
    pub ok: bool,
    pub problems: Vec<String>,
    #[serde(default)]
    pub drill_counts: Vec<(String, i64)>,
    #[serde(default)]
    pub drill_files_checked: u64,
    #[serde(default)]
    pub notes: Vec<String>,
}

pub fn record_path(root: &Path) -> PathBuf {
    root.join("state").join("last-verify.json")
}

pub fn last_record(root: &Path) -> Option<VerifyRecord> {
    let text = std::fs::read(record_path(root)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn save_record(root: &Path, r: &VerifyRecord) -> Result<(), PathError> {
    let p = record_path(root);
    if let Some(d) = p.parent() {
        fsutil::ensure_dir(d)?;
    }
    let json = serde_json::to_vec_pretty(r).unwrap_or_default();
    fsutil::write_atomic(&p, &json)
}

/// The runs a restore of `run` depends on (its parents up to the full and every run its
/// files are stored in), `run` included.
pub fn chain(root: &Path, run: &str, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![run.to_owned()];
    while let Some(r) = todo.pop() {
        if !out.insert(r.clone()) {
            continue;
        }
        match manifest::read(root, &r) {
            Ok(m) => {
                todo.extend(m.parent.clone());
                todo.extend(m.archives_needed());
            }
            Err(e) => problems.push(format!("chain of {run}: run {r}: {e}")),
        }
    }
    out
}

pub struct VerifyOptions {
    pub run: Option<String>,
    pub drill: bool,
    /// Where the drill restores the tree (default: the system temp dir).
    pub drill_dir: Option<PathBuf>,
    pub jobs: u32,
}

pub fn verify(s: &Settings, opts: &VerifyOptions) -> Result<VerifyRecord, PathError> {
    let root = &s.backup_root;
    let ids = manifest::run_ids(root)?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let target = match &opts.run {
        Some(r) => match restore::resolve_run(root, Some(r)) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        },
        None => ids.last().cloned(),
    };
    let runs: Vec<String> = match (&opts.run, &target) {
        (Some(_), Some(t)) => chain(root, t, &mut problems).into_iter().collect(),
        (None, _) => ids.clone(),
        (Some(_), None) => Vec::new(),
    };
    if ids.is_empty() {
        problems.push(format!("no finished backup in {}", root.display()));
    }
    let known: BTreeSet<&String> = ids.iter().collect();
    let mut manifests = Vec::new();
    for r in &runs {
        match manifest::read(root, r) {
            Ok(m) => manifests.push(m),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let total: u64 = manifests
        .iter()
        .map(|m| m.archive.size + m.database.as_ref().map_or(0, |d| d.size))
        .sum();
    let progress = Progress::new("verify", total);
    for m in &manifests {
        if let Some(p) = &m.parent
            && !known.contains(p)
        {
            problems.push(format!(
                "run {}: its parent run {p} is missing (broken chain)",
                m.run
            ));
        }
        for r in m.archives_needed() {
            if !known.contains(&r) {
                problems.push(format!(
                    "run {}: files stored in run {r}, which is missing (broken chain)",
                    m.run
                ));
            }
        }
        check_file(root, &m.archive, &progress, &mut problems);
        check_archive(root, m, &mut problems);
        if let Some(d) = &m.database
            && check_file(root, d, &progress, &mut problems)
            && let Err(e) = db::list(s.pg_bin_dir.as_deref(), &root.join(&d.path))
        {
            problems.push(format!("{}: {e}", d.path));
        }
    }
    progress.finish();
    let mut rec = VerifyRecord {
        time: Utc::now(),
        runs,
        drill: opts.drill,
        ok: false,
        problems,
        drill_counts: Vec::new(),
        drill_files_checked: 0,
        notes: Vec::new(),
    };
    if opts.drill {
        match &target {
            Some(t) if rec.problems.is_empty() => drill(s, t, opts, &mut rec, &mut notes),
            Some(_) => rec
                .problems
                .push("drill skipped: the backup did not verify".to_owned()),
            None => {}
        }
    }
    rec.notes = notes;
    rec.ok = rec.problems.is_empty();
    save_record(root, &rec)?;
    Ok(rec)
}

/// Size and BLAKE3 of a whole file as recorded; false if it is missing or different.
fn check_file(
    root: &Path,
    rec: &FileRecord,
    progress: &Progress,
    problems: &mut Vec<String>,
) -> bool {
    let p = root.join(&rec.path);
    let mut f = match File::open(&p) {
        Ok(f) => f,
        Err(e) => {
            problems.push(format!("{}: {e}", rec.path));
            return false;
        }
    };
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                let n = u64::try_from(n).unwrap_or(0);
                size += n;
                progress.bytes(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                problems.push(format!("{}: {e}", rec.path));
                return false;
            }
        }
    }
    let got = hasher.finalize().to_hex().to_string();
    if size != rec.size {
        problems.push(format!(
            "{}: {size} bytes, the manifest says {} (truncated or changed)",
            rec.path, rec.size
        ));
        false
    } else if got != rec.blake3 {
        problems.push(format!(
            "{}: checksum mismatch (BLAKE3 {got}, the manifest says {})",
            rec.path, rec.blake3
        ));
        false
    } else {
        true
    }
}

/// Decompresses the archive and checks every file and tail record it must hold against the
/// manifest.
fn check_archive(root: &Path, m: &Manifest, problems: &mut Vec<String>) {
    // path -> (BLAKE3, size, offset of a tail record)
    let mut expect: HashMap<&str, (&str, u64, Option<u64>)> = m
        .entries
        .iter()
        .flat_map(|e| {
            e.pieces()
                .into_iter()
                .filter(|p| p.run == m.run)
                .map(move |p| {
                    (
                        e.path.as_str(),
                        (p.blake3, p.size, p.tail.then_some(p.offset)),
                    )
                })
        })
        .collect();
    let name = &m.archive.path;
    let f = match File::open(root.join(name)) {
        Ok(f) => f,
        Err(_) => return, // reported by check_file
    };
    let res: io::Result<()> = (|| {
        let mut ar = tar::Archive::new(zstd::Decoder::new(f)?);
        let mut buf = vec![0u8; 1 << 16];
        for ent in ar.entries()? {
            let mut ent = ent?;
            if ent.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = ent.path()?.to_string_lossy().into_owned();
            let offset = restore::tail_offset(&mut ent)?;
            let mut hasher = blake3::Hasher::new();
            let mut size = 0u64;
            loop {
                let n = ent.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += u64::try_from(n).unwrap_or(0);
            }
            let what = if offset.is_some() {
                "the tail record of"
            } else {
                "the content of"
            };
            match expect.remove(path.as_str()) {
                Some((b, s, o))
                    if b == hasher.finalize().to_hex().as_str() && s == size && o == offset => {}
                Some(_) => problems.push(format!(
                    "{name}: {what} {path} does not match its checksum in the manifest"
                )),
                None => {}
            }
        }
        Ok(())
    })();
    if let Err(e) = res {
        problems.push(format!("{name}: unreadable: {e}"));
    } else if !expect.is_empty() {
        let mut missing: Vec<&&str> = expect.keys().collect();
        missing.sort();
        problems.push(format!(
            "{name}: {} file(s) of the manifest are missing, e.g. {}",
            missing.len(),
            missing[0]
        ));
    }
}

/// The tables whose row counts show the database answers.
const DRILL_TABLES: [&str; 5] = ["users", "host", "tag", "build", "task"];

fn drill(
    s: &Settings,
    run: &str,
    opts: &VerifyOptions,
    rec: &mut VerifyRecord,
    notes: &mut Vec<String>,
) {
    let root = &s.backup_root;
    let m = match manifest::read(root, run) {
        Ok(m) => m,
        Err(e) => {
            rec.problems.push(e.to_string());
            return;
        }
    };
    let base = opts.drill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = match tempfile::Builder::new()
        .prefix("kkoji-drill-")
        .tempdir_in(&base)
    {
        Ok(d) => d,
        Err(e) => {
            rec.problems.push(format!("drill: {}: {e}", base.display()));
            return;
        }
    };
    let tree = dir.path().join("tree");
    match restore::restore_tree(root, &m, &tree, None, false) {
        Ok(st) => notes.push(format!(
            "drill: tree of run {run} restored ({} files, {} bytes)",
            st.files, st.bytes
        )),
        Err(e) => {
            rec.problems.push(format!("drill: restoring the tree: {e}"));
            return;
        }
    }
    let Some(dump) = &m.database else {
        notes.push("drill: the run has no database dump (no database configured)".to_owned());
        return;
    };
    let rt = match db::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            rec.problems.push(format!("drill: {e}"));
            return;
        }
    };
    let cluster = match rt.block_on(kkoji_pgcluster::TestCluster::start()) {
        Ok(c) => c,
        Err(e) => {
            rec.problems.push(format!(
                "drill: cannot start a throwaway PostgreSQL cluster: {e}"
            ));
            return;
        }
    };
    let url = match rt.block_on(cluster.fresh_database()) {
        Ok(u) => u,
        Err(e) => {
            rec.problems.push(format!("drill: {e}"));
            return;
        }
    };
    let pg = s.pg_bin_dir.as_deref();
    if let Err(e) = db::restore(pg, &root.join(&dump.path), &url, opts.jobs) {
        rec.problems.push(format!("drill: {}: {e}", dump.path));
        return;
    }
    for t in DRILL_TABLES {
        match db::query_count(pg, &url, &format!("SELECT count(*) FROM {t}")) {
            Ok(n) => rec.drill_counts.push((t.to_owned(), n)),
            Err(e) => rec
                .problems
                .push(format!("drill: the restored database: {e}")),
        }
    }
    match &s.koji_topdir {
        None => notes.push(
            "drill: file checks skipped (drill.koji_topdir is not set in the config)".to_owned(),
        ),
        Some(rel) => {
            let topdir = tree.join(rel);
            match named_paths(pg, &url) {
                Ok(paths) => {
                    for (what, p) in paths {
                        rec.drill_files_checked += 1;
                        if !topdir.join(&p).exists() {
                            rec.problems.push(format!(
                                "drill: {what} names {}, which is not in the restored tree",
                                Path::new(rel).join(&p).display()
                            ));
                        }
                    }
                }
                Err(e) => rec.problems.push(format!("drill: {e}")),
            }
        }
    }
    drop(cluster);
}

/// Paths (relative to Koji's topdir) that rows of the database say exist.
pub fn named_paths(pg: Option<&Path>, url: &str) -> Result<Vec<(String, String)>, db::DbError> {
    let mut out = Vec::new();
    // Finished buildArch tasks keep their logs in their work dir.
    for row in db::query_rows(
        pg,
        url,
        "SELECT id FROM task WHERE method = 'buildArch' AND state IN (2, 5) ORDER BY id",
    )? {
        if let Some(id) = row.first().and_then(|v| v.parse::<i64>().ok()) {
            out.push((
                format!("task {id}"),
                format!("work/tasks/{}/{id}", id % 10000),
            ));
        }
    }
    // READY repos.
    for row in db::query_rows(
        pg,
        url,
        "SELECT r.id, t.name FROM repo r JOIN tag t ON t.id = r.tag_id WHERE r.state = 1 ORDER BY r.id",
    )? {
        if let [id, tag] = row.as_slice() {
            out.push((format!("repo {id}"), format!("repos/{tag}/{id}/repo.json")));
        }
    }
    // Completed builds.
    for row in db::query_rows(
        pg,
        url,
        "SELECT p.name, b.version, b.release FROM build b JOIN package p ON p.id = b.pkg_id \
         WHERE b.state = 1 ORDER BY b.id",
    )? {
        if let [n, v, r] = row.as_slice() {
            out.push((
                format!("build {n}-{v}-{r}"),
                format!("packages/{n}/{v}/{r}"),
            ));
        }
    }
    Ok(out)
}
