//! Finding the RPMs of a directory and reading many of them (in parallel, through the
//! cache): the reading half of `createrepo_c DIR` ([`crate::create_repo`] chains it with
//! the writer).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use indicatif::ProgressBar;

use crate::cache::MetaCache;
use crate::error::{Error, Result};
use crate::meta::PackageMeta;
use crate::rpmread::{ReadOptions, read_rpm_with};

/// One RPM to publish: where it is on disk and where the repo says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmFile {
    pub path: PathBuf,
    /// Path relative to the repository root, with `/` separators.
    pub location_href: String,
}

/// What to do with a file that is not a usable RPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBadRpm {
    /// Fail the whole run with the error naming the file (the default: a build repo that
    /// silently lacks a package produces confusing failures much later).
    #[default]
    Fail,
    /// Log a warning naming the file and leave the package out (createrepo_c's behaviour).
    Skip,
}

/// Options of [`read_packages`].
#[derive(Debug, Clone, Default)]
pub struct ReadPackagesOptions<'a> {
    /// Reuse metadata of unchanged packages and record new ones.
    pub cache: Option<&'a MetaCache>,
    pub read: ReadOptions,
    /// Advanced by one per package.
    pub progress: Option<&'a ProgressBar>,
    pub on_bad_rpm: OnBadRpm,
    /// Reader threads; 0 (the default) means one per core. Like createrepo_c's
    /// `--workers`, so a benchmark can compare the two at the same parallelism.
    pub workers: usize,
}

/// Lists `*.rpm` under `dir` (recursively, following symlinks), with hrefs relative to
/// `dir`. Hidden entries (names starting with `.`, e.g. our own temporary repodata) and
/// the top-level `repodata/` are not searched.
pub fn find_rpms(dir: impl AsRef<Path>) -> Result<Vec<RpmFile>> {
    let dir = dir.as_ref();
    let mut out = Vec::new();
    walk(dir, "", 0, &mut out)?;
    out.sort_by(|a, b| a.location_href.cmp(&b.location_href));
    Ok(out)
}

/// Symlinked directories are followed; this bounds a symlink loop.
const MAX_DEPTH: usize = 32;

fn walk(dir: &Path, rel: &str, depth: usize, out: &mut Vec<RpmFile>) -> Result<()> {
    if depth > MAX_DEPTH {
        tracing::warn!(dir = %dir.display(), "directory nesting too deep (symlink loop?); not searched");
        return Ok(());
    }
    let rd = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(dir = %dir.display(), name = ?entry.file_name(), "skipping a file name that is not UTF-8");
            continue;
        };
        if name.starts_with('.') || (depth == 0 && name == "repodata") {
            continue;
        }
        let path = entry.path();
        let href = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let st = match fs::metadata(&path) {
            Ok(st) => st,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %path.display(), "skipping a dangling symlink");
                continue;
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        if st.is_dir() {
            walk(&path, &href, depth + 1, out)?;
        } else if st.is_file() && name.ends_with(".rpm") {
            out.push(RpmFile {
                path,
                location_href: href,
            });
        }
    }
    Ok(())
}

/// Reads the metadata of `files` using all cores, through the cache if one is given, and
/// saves the cache index afterwards. Results are in the order of `files`.
pub fn read_packages(
    files: &[RpmFile],
    opts: &ReadPackagesOptions<'_>,
) -> Result<Vec<PackageMeta>> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let workers = if opts.workers == 0 {
        cores
    } else {
        opts.workers
    };
    let workers = workers.min(files.len()).max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<PackageMeta>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let r = match opts.cache {
                        Some(c) => c.read_rpm(&f.path, &f.location_href, &opts.read),
                        None => read_rpm_with(&f.path, &f.location_href, &opts.read),
                    };
                    let failed = match &r {
                        Err(Error::BadRpm { .. }) => opts.on_bad_rpm == OnBadRpm::Fail,
                        Err(_) => true,
                        Ok(_) => false,
                    };
                    if failed {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if let Some(p) = opts.progress {
                        p.inc(1);
                    }
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                }
            });
        }
    });
    if let Some(c) = opts.cache
        && let Err(e) = c.save()
    {
        tracing::warn!(error = %e, "could not save the metadata cache index");
    }
    let results = results.into_inner().map_err(|_| {
        Error::io(
            Path::new("."),
            std::io::Error::other("reader thread panicked"),
        )
    })?;
    let mut out = Vec::with_capacity(files.len());
    for r in results.into_iter().flatten() {
        match r {
            Ok(m) => out.push(m),
            Err(e @ Error::BadRpm { .. }) if opts.on_bad_rpm == OnBadRpm::Skip => {
                tracing::warn!(error = %e, "leaving a bad RPM out of the repo");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
