//! The backup's settings: one TOML file, every key also a flag. A typo must not fall back to
//! a default (an operator would find out at restore time), so unknown keys are errors naming
//! the file and the key.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// Where the config is read from when `--config` is not given (absent: defaults and flags).
pub const DEFAULT_CONFIG: &str = "/etc/kkoji/backup.toml";

/// zstd level of large archives (a full run); small ones get at least
/// [`crate::backup::SMALL_ARCHIVE_LEVEL`].
pub const DEFAULT_ZSTD_LEVEL: i32 = 5;

/// The file as written by the operator; `None` means "not set here".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub backup_root: Option<PathBuf>,
    pub scratch_tree: Option<PathBuf>,
    pub exclude: Option<Vec<String>>,
    pub full_after_days: Option<u32>,
    pub zstd_level: Option<i32>,
    pub database: Option<DatabaseConfig>,
    pub retention: Option<RetentionConfig>,
    pub drill: Option<DrillConfig>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// A hub's state dir: its embedded cluster (`STATE/pgdata`, socket `STATE/pgsocket`).
    pub state_dir: Option<PathBuf>,
    /// An external PostgreSQL (libpq URL).
    pub url: Option<String>,
    /// Database name inside the embedded cluster (the hub uses `kkoji`).
    pub name: Option<String>,
    /// Directory holding `pg_dump` and `pg_restore`.
    pub pg_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub keep_last: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// Where Koji's topdir lies inside the scratch tree (`.`: the tree is the topdir). Unset:
    /// the drill checks the database only.
    pub koji_topdir: Option<PathBuf>,
}

/// The same settings from the command line (they win over the file).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Config file [default: /etc/kkoji/backup.toml when it exists]
    #[arg(short, long, global = true, env = "KKOJI_BACKUP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Backup root [default: /mnt/koji/backups]
    #[arg(long, global = true)]
    pub backup_root: Option<PathBuf>,
    /// The scratch tree to back up [default: /mnt/tmp]
    #[arg(long, global = true)]
    pub scratch_tree: Option<PathBuf>,
    /// Exclude glob, relative to the scratch tree (repeatable; replaces the configured list)
    #[arg(long = "exclude", global = true)]
    pub exclude: Vec<String>,
    /// Take a full backup when the last full one is older than this [default: 30]
    #[arg(long, global = true)]
    pub full_after_days: Option<u32>,
    /// zstd level of a full run's archive, 1..19 [default: 5]
    #[arg(long, global = true)]
    pub zstd_level: Option<i32>,
    /// The hub's state dir (its embedded PostgreSQL cluster)
    #[arg(long, global = true)]
    pub db_state_dir: Option<PathBuf>,
    /// URL of an external hub database
    #[arg(long, global = true)]
    pub db_url: Option<String>,
    /// Directory with pg_dump and pg_restore
    #[arg(long, global = true)]
    pub pg_bin_dir: Option<PathBuf>,
    /// Retention: newest runs kept [default: 4]
    #[arg(long, global = true)]
    pub keep_last: Option<u32>,
    /// Retention: weeks whose newest run is kept [default: 8]
    #[arg(long, global = true)]
    pub keep_weekly: Option<u32>,
    /// Retention: months whose newest run is kept [default: 12]
    #[arg(long, global = true)]
    pub keep_monthly: Option<u32>,
}

/// Where the hub's database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbSource {
    Url { url: String, name: String },
    Embedded { state_dir: PathBuf, name: String },
}

impl DbSource {
    /// The database name, used in dump file names.
    pub fn name(&self) -> &str {
        match self {
            DbSource::Url { name, .. } | DbSource::Embedded { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    pub keep_last: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from, if any (for messages).
    pub source: Option<PathBuf>,
    pub backup_root: PathBuf,
    pub scratch_tree: PathBuf,
    pub exclude: Vec<String>,
    pub exclude_set: GlobSet,
    pub full_after_days: u32,
    pub zstd_level: i32,
    pub database: Option<DbSource>,
    pub pg_bin_dir: Option<PathBuf>,
    pub retention: Retention,
    pub koji_topdir: Option<PathBuf>,
}

/// A config error: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Reads the file (if any) and applies the flags.
    pub fn load(ov: &Overrides) -> Result<Settings, ConfigError> {
        let (file, source) = match &ov.config {
            Some(p) => (read_file(p)?, Some(p.clone())),
            None if Path::new(DEFAULT_CONFIG).exists() => {
                let p = PathBuf::from(DEFAULT_CONFIG);
                (read_file(&p)?, Some(p))
            }
            None => (FileConfig::default(), None),
        };
        Settings::build(file, source, ov)
    }

    fn build(
        file: FileConfig,
        source: Option<PathBuf>,
        ov: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let where_ = |key: &str| match &source {
            Some(p) => format!("{}: key `{key}`", p.display()),
            None => format!("flag for `{key}`"),
        };
        let from_flag = |flag: bool, key: &str| {
            if flag {
                format!("flag for `{key}`")
            } else {
                where_(key)
            }
        };
        let backup_root = ov
            .backup_root
            .clone()
            .or(file.backup_root)
            .unwrap_or_else(|| PathBuf::from("/mnt/koji/backups"));
        let scratch_tree = ov
            .scratch_tree
            .clone()
            .or(file.scratch_tree)
            .unwrap_or_else(|| PathBuf::from("/mnt/tmp"));
        for (key, p, flag) in [
            ("backup_root", &backup_root, ov.backup_root.is_some()),
            ("scratch_tree", &scratch_tree, ov.scratch_tree.is_some()),
        ] {
            if !p.is_absolute() {
                return Err(ConfigError(format!(
                    "{}: must be an absolute path, got {}",
                    from_flag(flag, key),
                    p.display()
                )));
            }
        }
        if backup_root.starts_with(&scratch_tree) {
            return Err(ConfigError(format!(
                "{}: {} lies inside the scratch tree {}; the backup would back up itself",
                where_("backup_root"),
                backup_root.display(),
                scratch_tree.display()
            )));
        }
        let exclude_flag = !ov.exclude.is_empty();
        let exclude = if exclude_flag {
            ov.exclude.clone()
        } else {
            file.exclude.unwrap_or_else(|| vec!["**/*.rpm".to_owned()])
        };
        let mut gs = GlobSetBuilder::new();
        for (i, g) in exclude.iter().enumerate() {
            let glob = Glob::new(g).map_err(|e| {
                ConfigError(format!(
                    "{}: {e}",
                    from_flag(exclude_flag, &format!("exclude[{i}]"))
                ))
            })?;
            gs.add(glob);
        }
        let exclude_set = gs
            .build()
            .map_err(|e| ConfigError(format!("{}: {e}", where_("exclude"))))?;
        let full_after_days = ov.full_after_days.or(file.full_after_days).unwrap_or(30);
        // 5: on build logs as small as gzip -6 (duplicity's), or smaller, at several times
        // the speed; a full run's time is mostly compression (see `kkoji-bench backup`).
        let zstd_level = ov
            .zstd_level
            .or(file.zstd_level)
            .unwrap_or(DEFAULT_ZSTD_LEVEL);
        if !(1..=19).contains(&zstd_level) {
            return Err(ConfigError(format!(
                "{}: must be between 1 and 19, got {zstd_level}",
                from_flag(ov.zstd_level.is_some(), "zstd_level")
            )));
        }
        let db = file.database.unwrap_or_default();
        let db_flag = ov.db_url.is_some() || ov.db_state_dir.is_some();
        let (url, state_dir) = if db_flag {
            (ov.db_url.clone(), ov.db_state_dir.clone())
        } else {
            (db.url.clone(), db.state_dir.clone())
        };
        let database = match (url, state_dir) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(format!(
                    "{}: set either `database.url` or `database.state_dir`, not both",
                    from_flag(db_flag, "database")
                )));
            }
            (Some(url), None) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(ConfigError(format!(
                        "{}: not a PostgreSQL URL (postgres://…): {url}",
                        from_flag(db_flag, "database.url")
                    )));
                }
                let name = db.name.clone().unwrap_or_else(|| url_db_name(&url));
                Some(DbSource::Url { url, name })
            }
            (None, Some(state_dir)) => {
                if !state_dir.is_absolute() {
                    return Err(ConfigError(format!(
                        "{}: must be an absolute path, got {}",
                        from_flag(db_flag, "database.state_dir"),
                        state_dir.display()
                    )));
                }
                Some(DbSource::Embedded {
                    state_dir,
                    name: db.name.clone().unwrap_or_else(|| "kkoji".to_owned()),
                })
            }
            (None, None) => None,
        };
        if let Some(name) = &db.name
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(ConfigError(format!(
                "{}: must be a plain database name ([A-Za-z0-9_-]+), got {name:?}",
                where_("database.name")
            )));
        }
        let pg_bin_dir = ov.pg_bin_dir.clone().or(db.pg_bin_dir);
        let r = file.retention.unwrap_or_default();
        let retention = Retention {
            keep_last: ov.keep_last.or(r.keep_last).unwrap_or(4),
            keep_weekly: ov.keep_weekly.or(r.keep_weekly).unwrap_or(8),
            keep_monthly: ov.keep_monthly.or(r.keep_monthly).unwrap_or(12),
        };
        if retention.keep_last == 0 {
            return Err(ConfigError(format!(
                "{}: must be at least 1 (the newest backup is always kept)",
                from_flag(ov.keep_last.is_some(), "retention.keep_last")
            )));
        }
        let koji_topdir = file.drill.and_then(|d| d.koji_topdir);
        if let Some(t) = &koji_topdir
            && t.is_absolute()
        {
            return Err(ConfigError(format!(
                "{}: must be relative to the scratch tree, got {}",
                where_("drill.koji_topdir"),
                t.display()
            )));
        }
        Ok(Settings {
            source,
            backup_root,
            scratch_tree,
            exclude,
            exclude_set,
            full_after_days,
            zstd_level,
            database,
            pg_bin_dir,
            retention,
            koji_topdir,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    kkoji_toml_config::load(path).map_err(|e| ConfigError(e.to_string()))
}

/// The database name of a libpq URL (`postgres://u@h/NAME?…`), for dump file names.
fn url_db_name(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
    let name = path.split(['?', '#']).next().unwrap_or("");
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if clean.is_empty() {
        "postgres".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        let p = Path::new("/etc/kkoji/backup.toml");
        let file: FileConfig = kkoji_toml_config::parse(p, text).map_err(|e| e.to_string())?;
        Settings::build(file, Some(p.to_path_buf()), &Overrides::default()).map_err(|e| e.0)
    }

    #[test]
    fn defaults_are_the_farms_layout() {
        let s = parse("").unwrap();
        assert_eq!(s.backup_root, Path::new("/mnt/koji/backups"));
        assert_eq!(s.scratch_tree, Path::new("/mnt/tmp"));
        assert!(s.exclude_set.is_match("a/b/foo-1.0.x86_64.rpm"));
        assert!(!s.exclude_set.is_match("a/b/build.log"));
        assert_eq!(s.full_after_days, 30);
        assert_eq!(s.zstd_level, DEFAULT_ZSTD_LEVEL);
        assert_eq!(s.database, None);
    }

    #[test]
    fn zstd_level_from_file_or_flag() {
        let p = Path::new("/etc/kkoji/backup.toml");
        let file = || kkoji_toml_config::parse::<FileConfig>(p, "zstd_level = 9\n").unwrap();
        let s = Settings::build(file(), Some(p.to_path_buf()), &Overrides::default()).unwrap();
        assert_eq!(s.zstd_level, 9);
        let flag = Overrides {
            zstd_level: Some(3),
            ..Default::default()
        };
        let s = Settings::build(file(), Some(p.to_path_buf()), &flag).unwrap();
        assert_eq!(s.zstd_level, 3);
        let e = parse("zstd_level = 22\n").unwrap_err();
        assert!(e.contains("key `zstd_level`"), "{e}");
        let bad = Overrides {
            zstd_level: Some(0),
            ..Default::default()
        };
        let e = Settings::build(file(), Some(p.to_path_buf()), &bad).unwrap_err();
        assert!(e.0.contains("flag for `zstd_level`"), "{}", e.0);
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = parse("scratch_tree = \"rel\"\n").unwrap_err();
        assert!(
            e.starts_with("/etc/kkoji/backup.toml: key `scratch_tree`"),
            "{e}"
        );
        let e = parse("exclude = [\"a[\"]\n").unwrap_err();
        assert!(e.contains("key `exclude[0]`"), "{e}");
        let e = parse("[database]\nurl = \"mysql://x\"\n").unwrap_err();
        assert!(e.contains("key `database.url`"), "{e}");
        let e = parse("[retention]\nkeep_lats = 3\n").unwrap_err();
        assert!(e.contains("keep_lats"), "{e}");
        let e = parse("[retention]\nkeep_last = 0\n").unwrap_err();
        assert!(e.contains("key `retention.keep_last`"), "{e}");
        let e = parse("backup_root = \"/mnt/tmp/b\"\n").unwrap_err();
        assert!(e.contains("key `backup_root`"), "{e}");
    }

    #[test]
    fn database_sources() {
        let s = parse("[database]\nurl = \"postgres://koji@db/koji?sslmode=require\"\n").unwrap();
        assert_eq!(s.database.unwrap().name(), "koji");
        let s = parse("[database]\nstate_dir = \"/var/lib/kkoji\"\n").unwrap();
        assert_eq!(
            s.database,
            Some(DbSource::Embedded {
                state_dir: "/var/lib/kkoji".into(),
                name: "kkoji".into()
            })
        );
        let e = parse("[database]\nstate_dir = \"/x\"\nurl = \"postgres://a/b\"\n").unwrap_err();
        assert!(e.contains("database"), "{e}");
    }
}
