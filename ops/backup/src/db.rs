//! The hub database through PostgreSQL's own tools: `pg_dump -Fc` to back up,
//! `pg_restore --list` to check a dump, `pg_restore --clean --if-exists -j N` to restore.
//! (There is no Rust equivalent of the custom dump format worth trusting the farm to.)

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kkoji_pgcluster::{Cluster, ClusterConfig};

use crate::config::DbSource;
use crate::fsutil::{AtomicFile, PathError, perr};
use crate::manifest::FileRecord;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "{tool} not found ({looked}); install the PostgreSQL client (postgresql-client) or set `database.pg_bin_dir`"
    )]
    ToolMissing { tool: String, looked: String },
    #[error("{what} failed ({status}): {stderr}")]
    Tool {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Cluster(String),
    #[error("writing the dump {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Io(#[from] PathError),
}

/// Finds `pg_dump`/`pg_restore`/`psql`: in `pg_bin_dir` if set (only there), else the newest
/// `/usr/lib/postgresql/*/bin` (a dump must come from a pg_dump at least as new as the
/// server), else `$PATH`.
pub fn tool(pg_bin_dir: Option<&Path>, name: &str) -> Result<PathBuf, DbError> {
    if let Some(dir) = pg_bin_dir {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
        return Err(DbError::ToolMissing {
            tool: name.to_owned(),
            looked: format!("looked in {} (database.pg_bin_dir)", dir.display()),
        });
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versioned.sort();
    for (_, dir) in versioned.iter().rev() {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(DbError::ToolMissing {
        tool: name.to_owned(),
        looked: "looked in /usr/lib/postgresql/*/bin and $PATH".to_owned(),
    })
}

/// A connection to the hub database for one command; an embedded cluster that was not
/// running is started for it and stopped again afterwards.
pub struct Connection {
    pub url: String,
    started: Option<Cluster>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Connection {
    pub fn open(src: &DbSource) -> Result<Connection, DbError> {
        match src {
            DbSource::Url { url, .. } => Ok(Connection {
                url: url.clone(),
                started: None,
                rt: None,
            }),
            DbSource::Embedded { state_dir, name } => {
                if !state_dir.join("pgdata").join("PG_VERSION").is_file() {
                    return Err(DbError::Cluster(format!(
                        "{}: no embedded PostgreSQL cluster here (pgdata/PG_VERSION missing); \
                         is `database.state_dir` the hub's state dir?",
                        state_dir.display()
                    )));
                }
                let rt = runtime()?;
                let cluster = Cluster::new(ClusterConfig::under_state_dir(state_dir))
                    .map_err(|e| DbError::Cluster(format!("embedded PostgreSQL: {e}")))?;
                let running = rt
                    .block_on(cluster.is_running())
                    .map_err(|e| DbError::Cluster(format!("embedded PostgreSQL: {e}")))?;
                let url = cluster.url(name);
                if running {
                    return Ok(Connection {
                        url,
                        started: None,
                        rt: None,
                    });
                }
                tracing::warn!(
                    state_dir = %state_dir.display(),
                    "the hub's embedded PostgreSQL is not running; starting it for the backup"
                );
                rt.block_on(cluster.start())
                    .map_err(|e| DbError::Cluster(format!("starting embedded PostgreSQL: {e}")))?;
                Ok(Connection {
                    url,
                    started: Some(cluster),
                    rt: Some(rt),
                })
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let (Some(c), Some(rt)) = (self.started.take(), self.rt.as_ref())
            && let Err(e) = rt.block_on(c.stop())
        {
            tracing::error!("stopping the embedded PostgreSQL started for the backup: {e}");
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, DbError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DbError::Cluster(format!("cannot start a tokio runtime: {e}")))
}

/// URL without a password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `pg_dump -Fc` into `target` (atomically), hashing on the way.
pub fn dump(
    pg_bin_dir: Option<&Path>,
    url: &str,
    root: &Path,
    rel: &str,
) -> Result<FileRecord, DbError> {
    let pg_dump = tool(pg_bin_dir, "pg_dump")?;
    let target = root.join(rel);
    let mut out = AtomicFile::create(&target)?;
    let temp = out.temp_path().to_path_buf();
    let mut child = Command::new(&pg_dump)
        .arg("-Fc")
        .arg("--no-password")
        .arg("-d")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(perr(&pg_dump))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| perr(&pg_dump)(io::Error::other("no stdout pipe")))?;
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let copy: Result<(), DbError> = loop {
        match stdout.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                let chunk = &buf[..n];
                hasher.update(chunk);
                size += u64::try_from(n).unwrap_or(0);
                if let Err(source) = out.write_all(chunk) {
                    break Err(DbError::Write {
                        path: temp.clone(),
                        source,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(perr(&pg_dump)(e).into()),
        }
    };
    drop(stdout);
    let status = child.wait().map_err(perr(&pg_dump))?;
    let stderr = err_thread.join().unwrap_or_default();
    copy?;
    if !status.success() {
        return Err(DbError::Tool {
            what: format!("pg_dump of {}", redact(url)),
            status: status.to_string(),
            stderr: stderr.trim().to_owned(),
        });
    }
    out.commit()?;
    Ok(FileRecord {
        path: rel.to_owned(),
        size,
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

/// `pg_restore --list`: the dump's table of contents is readable to its end.
pub fn list(pg_bin_dir: Option<&Path>, dump: &Path) -> Result<usize, DbError> {
    let pg_restore = tool(pg_bin_dir, "pg_restore")?;
    let out = Command::new(&pg_restore)
        .arg("--list")
        .arg(dump)
        .stdin(Stdio::null())
        .output()
        .map_err(perr(&pg_restore))?;
    if !out.status.success() {
        return Err(DbError::Tool {
            what: format!("pg_restore --list {}", dump.display()),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .count())
}

/// `pg_restore --clean --if-exists -j N` into the database at `url` (which must exist).
pub fn restore(
    pg_bin_dir: Option<&Path>,
    dump: &Path,
    url: &str,
    jobs: u32,
) -> Result<(), DbError> {
    let pg_restore = tool(pg_bin_dir, "pg_restore")?;
    let out = Command::new(&pg_restore)
        .arg("--clean")
        .arg("--if-exists")
        .arg("--no-owner")
        .arg("--exit-on-error")
        .arg("--no-password")
        .arg("-j")
        .arg(jobs.max(1).to_string())
        .arg("-d")
        .arg(url)
        .arg(dump)
        .stdin(Stdio::null())
        .output()
        .map_err(perr(&pg_restore))?;
    if !out.status.success() {
        return Err(DbError::Tool {
            what: format!("pg_restore into {}", redact(url)),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// One number from `psql -tA -c SQL`.
pub fn query_count(pg_bin_dir: Option<&Path>, url: &str, sql: &str) -> Result<i64, DbError> {
    let rows = query_rows(pg_bin_dir, url, sql)?;
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| DbError::Tool {
            what: format!("psql -c {sql:?}"),
            status: "ok".to_owned(),
            stderr: format!("expected a number, got {rows:?}"),
        })
}

/// Rows of `psql -tA -F '\t' -c SQL`, split into columns.
pub fn query_rows(
    pg_bin_dir: Option<&Path>,
    url: &str,
    sql: &str,
) -> Result<Vec<Vec<String>>, DbError> {
    let psql = tool(pg_bin_dir, "psql")?;
    let out = Command::new(&psql)
        .arg("-X")
        .arg("-tA")
        .arg("-F")
        .arg("\t")
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-d")
        .arg(url)
        .arg("-c")
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .map_err(perr(&psql))?;
    if !out.status.success() {
        return Err(DbError::Tool {
            what: format!("psql -c {sql:?}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_printed() {
        assert_eq!(
            redact("postgres://koji:s3cret@db/koji"),
            "postgres://koji:***@db/koji"
        );
        assert_eq!(redact("postgres://koji@db/koji"), "postgres://koji@db/koji");
    }

    #[test]
    fn missing_tool_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = tool(Some(dir.path()), "pg_dump").unwrap_err().to_string();
        assert!(e.starts_with("pg_dump not found"), "{e}");
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
    }
}
