//! One file from a list of mirrors into the pool: resume from the partial file, size and
//! checksum checked against the metadata, retries with backoff, the next mirror when one
//! fails. A mirror that serves bad bytes or answers 404 is not asked again for that file.

use std::path::PathBuf;
use std::time::Duration;

use crate::pool::{Pool, Sum, hash_file};
use crate::transport::{FetchError, Transport, join};

/// What the metadata says the file must be.
#[derive(Debug, Clone)]
pub struct Want {
    /// Path relative to the repo root, e.g. `Packages/f/foo-1.0-1.noarch.rpm`.
    pub href: String,
    pub sum: Sum,
    pub size: Option<u64>,
}

/// The file could not be had from any mirror; `errors` has the last error of each.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{href}: {}", summary(.errors))]
pub struct DownloadError {
    pub href: String,
    pub errors: Vec<FetchError>,
}

fn summary(errors: &[FetchError]) -> String {
    if errors.is_empty() {
        return "no mirror to download from".into();
    }
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Settings shared by all downloads of a repo.
#[derive(Clone)]
pub struct Downloader {
    pub transport: Transport,
    pub pool: Pool,
    pub mirrors: Vec<String>,
    pub retries: u32,
}

fn backoff(round: u32) -> Duration {
    let ms = 250u64.saturating_mul(1u64 << round.min(5));
    Duration::from_millis(ms.min(5000))
}

impl Downloader {
    /// Fetches `want` into the pool unless it is there; returns its pool path.
    pub async fn fetch(
        &self,
        want: &Want,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<PathBuf, DownloadError> {
        if self.pool.has(&want.sum) {
            return Ok(self.pool.path(&want.sum));
        }
        let part = self.pool.partial(&want.sum);
        let fail = |reason: String| DownloadError {
            href: want.href.clone(),
            errors: vec![FetchError {
                url: part.display().to_string(),
                reason,
                permanent: true,
            }],
        };
        if let Some(parent) = part.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        // a previous run may have finished the bytes but not the rename
        if let Some(size) = want.size
            && tokio::fs::metadata(&part)
                .await
                .is_ok_and(|m| m.len() == size)
            && self.verify(&part, want).await.is_ok()
        {
            return self
                .pool
                .adopt(&part, &want.sum)
                .map_err(|e| fail(e.to_string()));
        }

        let mut last: Vec<Option<FetchError>> = vec![None; self.mirrors.len()];
        let mut dead = vec![false; self.mirrors.len()];
        for round in 0..=self.retries {
            if round > 0 {
                if dead.iter().all(|d| *d) {
                    break;
                }
                tokio::time::sleep(backoff(round - 1)).await;
            }
            for (i, base) in self.mirrors.iter().enumerate() {
                if dead.get(i).copied().unwrap_or(true) {
                    continue;
                }
                let url = join(base, &want.href);
                let err = match self.transport.fetch_to_file(&url, &part, progress).await {
                    Err(e) => e,
                    Ok(got) => match want.size {
                        Some(size) if got.len < size => FetchError {
                            url: url.clone(),
                            reason: format!("truncated: got {} of {size} bytes", got.len),
                            permanent: false,
                        },
                        Some(size) if got.len > size => {
                            let _ = tokio::fs::remove_file(&part).await;
                            FetchError {
                                url: url.clone(),
                                reason: format!("{} bytes, but the metadata says {size}", got.len),
                                permanent: true,
                            }
                        }
                        _ => match self.verify(&part, want).await {
                            Ok(()) => {
                                return self
                                    .pool
                                    .adopt(&part, &want.sum)
                                    .map_err(|e| fail(e.to_string()));
                            }
                            Err(reason) => {
                                let _ = tokio::fs::remove_file(&part).await;
                                FetchError {
                                    url: url.clone(),
                                    reason,
                                    permanent: true,
                                }
                            }
                        },
                    },
                };
                tracing::debug!("{err}");
                if err.permanent
                    && let Some(d) = dead.get_mut(i)
                {
                    *d = true;
                }
                if let Some(l) = last.get_mut(i) {
                    *l = Some(err);
                }
            }
        }
        Err(DownloadError {
            href: want.href.clone(),
            errors: last.into_iter().flatten().collect(),
        })
    }

    async fn verify(&self, part: &std::path::Path, want: &Want) -> Result<(), String> {
        let path = part.to_path_buf();
        let kind = want.sum.kind.clone();
        let got = tokio::task::spawn_blocking(move || hash_file(&path, &kind))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if got == want.sum.hex {
            Ok(())
        } else {
            Err(format!(
                "checksum mismatch: {} of the download is {got}, the metadata says {}",
                want.sum.kind, want.sum.hex
            ))
        }
    }
}
