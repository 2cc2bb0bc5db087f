//! Uploading task output to the hub: whole files (RPMs) and logs that are re-sent as they
//! grow, so `koji watch-logs` and the web UI show a build while it runs. Chunks are at
//! most 1 MiB, as Koji's client sends them (well under the hub's 4 MiB request limit);
//! every chunk is sent with `overwrite`, which makes the hub truncate at the chunk's
//! offset, so a restarted task replaces its old logs instead of appending to them.

use std::future::Future;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

pub const CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("uploading {name} at offset {offset}: {message}")]
    Hub {
        name: String,
        offset: u64,
        message: String,
    },
}

/// Sends one chunk of `filename` at `offset` into `filepath` (relative to `work/`).
pub trait Uploader: Sync {
    fn upload_chunk(
        &self,
        filepath: &str,
        filename: &str,
        offset: u64,
        data: Bytes,
    ) -> impl Future<Output = Result<(), UploadError>> + Send;
}

/// A local file uploaded incrementally: `sent` bytes are already on the hub.
#[derive(Debug, Clone)]
pub struct LogTail {
    local: PathBuf,
    name: String,
    sent: u64,
    created: bool,
}

impl LogTail {
    pub fn new(local: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        LogTail {
            local: local.into(),
            name: name.into(),
            sent: 0,
            created: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the file exists on the hub (at least one chunk, maybe empty, was sent).
    pub fn uploaded(&self) -> bool {
        self.created
    }

    /// Bytes already uploaded (the offset of the next chunk).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Uploads whatever was appended since the last call; returns the bytes sent now. A
    /// file not yet created sends nothing; a file that shrank starts over at offset 0.
    pub async fn sync<U: Uploader>(&mut self, up: &U, filepath: &str) -> Result<u64, UploadError> {
        let read_err = |source| UploadError::Read {
            path: self.local.clone(),
            source,
        };
        let mut f = match tokio::fs::File::open(&self.local).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(read_err(e)),
        };
        let len = f.metadata().await.map_err(read_err)?.len();
        if len < self.sent {
            tracing::debug!(file = %self.local.display(), "log shrank; uploading it again");
            self.sent = 0;
            self.created = false;
        }
        if len == 0 && !self.created {
            up.upload_chunk(filepath, &self.name, 0, Bytes::new())
                .await?;
            self.created = true;
            return Ok(0);
        }
        let mut total = 0;
        f.seek(SeekFrom::Start(self.sent)).await.map_err(read_err)?;
        while self.sent < len {
            let want = usize::try_from(len - self.sent).unwrap_or(CHUNK).min(CHUNK);
            let mut buf = vec![0u8; want];
            let mut got = 0;
            while got < want {
                let n = f.read(&mut buf[got..]).await.map_err(read_err)?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            if got == 0 {
                break;
            }
            buf.truncate(got);
            up.upload_chunk(filepath, &self.name, self.sent, Bytes::from(buf))
                .await?;
            self.sent += got as u64;
            self.created = true;
            total += got as u64;
        }
        Ok(total)
    }
}

/// Uploads a whole file under `name`.
pub async fn upload_file<U: Uploader>(
    up: &U,
    filepath: &str,
    local: &Path,
    name: &str,
) -> Result<u64, UploadError> {
    let mut t = LogTail::new(local, name);
    if !tokio::fs::try_exists(local).await.unwrap_or(false) {
        return Err(UploadError::Read {
            path: local.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
        });
    }
    t.sync(up, filepath).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<(String, String, u64, usize)>>,
        content: Mutex<Vec<u8>>,
    }

    impl Uploader for Recorder {
        async fn upload_chunk(
            &self,
            filepath: &str,
            filename: &str,
            offset: u64,
            data: Bytes,
        ) -> Result<(), UploadError> {
            self.calls
                .lock()
                .unwrap()
                .push((filepath.into(), filename.into(), offset, data.len()));
            // emulate the hub: truncate at offset, then write
            let mut c = self.content.lock().unwrap();
            c.truncate(offset as usize);
            assert_eq!(c.len() as u64, offset, "gap in the upload");
            c.extend_from_slice(&data);
            Ok(())
        }
    }

    fn append(p: &Path, data: &[u8]) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(data).unwrap();
    }

    #[tokio::test]
    async fn log_offsets_follow_growth() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("build.log");
        let up = Recorder::default();
        let mut t = LogTail::new(&p, "build.log");

        // not there yet: nothing to send
        assert_eq!(t.sync(&up, "tasks/5/5").await.unwrap(), 0);
        assert!(up.calls.lock().unwrap().is_empty());

        append(&p, b"hello\n");
        assert_eq!(t.sync(&up, "tasks/5/5").await.unwrap(), 6);
        append(&p, b"world\n");
        assert_eq!(t.sync(&up, "tasks/5/5").await.unwrap(), 6);
        // unchanged: no call
        assert_eq!(t.sync(&up, "tasks/5/5").await.unwrap(), 0);
        assert_eq!(t.sent(), 12);
        {
            let calls = up.calls.lock().unwrap();
            assert_eq!(
                *calls,
                vec![
                    ("tasks/5/5".into(), "build.log".into(), 0, 6),
                    ("tasks/5/5".into(), "build.log".into(), 6, 6)
                ]
            );
        }

        // a big append goes in 1 MiB chunks at increasing offsets
        let big = vec![b'x'; CHUNK * 2 + 100];
        append(&p, &big);
        assert_eq!(t.sync(&up, "tasks/5/5").await.unwrap(), big.len() as u64);
        let offsets: Vec<(u64, usize)> = up.calls.lock().unwrap()[2..]
            .iter()
            .map(|c| (c.2, c.3))
            .collect();
        assert_eq!(
            offsets,
            vec![
                (12, CHUNK),
                (12 + CHUNK as u64, CHUNK),
                (12 + 2 * CHUNK as u64, 100)
            ]
        );
        assert_eq!(
            *up.content.lock().unwrap(),
            std::fs::read(&p).unwrap(),
            "hub copy equals the local file"
        );

        // truncated and rewritten: start over at 0
        std::fs::write(&p, b"new").unwrap();
        assert_eq!(t.sync(&up, "tasks/5/5").await.unwrap(), 3);
        assert_eq!(up.calls.lock().unwrap().last().unwrap().2, 0);
        assert_eq!(*up.content.lock().unwrap(), b"new");
    }

    #[tokio::test]
    async fn empty_file_is_created_once() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("root.log");
        std::fs::write(&p, b"").unwrap();
        let up = Recorder::default();
        let mut t = LogTail::new(&p, "root.log");
        t.sync(&up, "tasks/1/1").await.unwrap();
        t.sync(&up, "tasks/1/1").await.unwrap();
        assert_eq!(up.calls.lock().unwrap().len(), 1);

        let e = upload_file(&up, "tasks/1/1", &tmp.path().join("missing.rpm"), "m.rpm")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("missing.rpm"), "{e}");
    }
}
