//! A restore's first archive, decompressed ahead of its reader.
//!
//! Before a restore reads an archive it reads the chain's manifests and plans the tree (a
//! full run's manifest lists every path: 0.1-0.2 s for 70,000 entries), on one thread, while
//! the other cores have nothing to do. Then it is bound by CPU: the writer threads' file
//! creations in the kernel, the reader's decompression. So the full run's archive starts
//! decompressing on its own thread at once, [`AHEAD`] bytes ahead at most: that part of the
//! decompression is done before the restore needs a core for anything else.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use crate::writeback::DropBehind;

/// Decompressed bytes held ahead of the reader, at most (in chunks of [`CHUNK`]).
pub const AHEAD: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

/// One chunk: its buffer (initialised to its whole length, so reused without clearing) and
/// how much of it holds data.
type Chunk = (Vec<u8>, usize);

/// An archive's decompressed bytes, read in order. Dropped early, it stops its thread.
pub struct Prefetch {
    path: PathBuf,
    chunks: Option<Receiver<io::Result<Chunk>>>,
    /// Read chunks go back to the thread, to be filled again.
    spent: Option<SyncSender<Vec<u8>>>,
    current: Chunk,
    pos: usize,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prefetch {
    /// Starts decompressing the zstd file at `path`; `None` when it cannot be opened (the
    /// restore then opens it itself, and reports why it cannot).
    pub fn start(path: PathBuf) -> Option<Prefetch> {
        let file = File::open(&path).ok()?;
        let slots = AHEAD / CHUNK;
        let (tx, chunks) = std::sync::mpsc::sync_channel::<io::Result<Chunk>>(slots);
        let (spent, back) = std::sync::mpsc::sync_channel::<Vec<u8>>(slots + 2);
        let thread = std::thread::Builder::new()
            .name("prefetch".to_owned())
            .spawn(move || decompress(file, &tx, &back))
            .ok()?;
        Some(Prefetch {
            path,
            chunks: Some(chunks),
            spent: Some(spent),
            current: (Vec::new(), 0),
            pos: 0,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The thread: fills chunks until the end of the archive, an error, or the reader is gone.
fn decompress(file: File, tx: &SyncSender<io::Result<Chunk>>, back: &Receiver<Vec<u8>>) {
    let mut dec = match zstd::Decoder::new(DropBehind::new(file)) {
        Ok(d) => d,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    loop {
        let mut buf = match back.try_recv() {
            Ok(b) if b.len() == CHUNK => b,
            Ok(_) => vec![0u8; CHUNK],
            Err(TryRecvError::Empty) => vec![0u8; CHUNK],
            Err(TryRecvError::Disconnected) => return,
        };
        let mut n = 0;
        while n < buf.len() {
            match dec.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if n == 0 || tx.send(Ok((buf, n))).is_err() {
            return;
        }
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.current.1 {
            let Some(chunks) = &self.chunks else {
                return Ok(0);
            };
            let next = match chunks.recv() {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(e),
                // the end of the archive
                Err(_) => return Ok(0),
            };
            let done = std::mem::replace(&mut self.current, next);
            self.pos = 0;
            // (the first `current` is no chunk)
            if let Some(spent) = &self.spent
                && done.0.len() == CHUNK
            {
                // a full return channel only means a chunk less to reuse
                let _ = spent.try_send(done.0);
            }
        }
        let have = &self.current.0[self.pos..self.current.1];
        let k = have.len().min(out.len());
        out[..k].copy_from_slice(&have[..k]);
        self.pos += k;
        Ok(k)
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // The thread ends at its next send or reuse of a chunk.
        self.chunks = None;
        self.spent = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(dir: &Path, len: usize) -> (PathBuf, Vec<u8>) {
        let data: Vec<u8> = (0..len)
            .map(|i| u8::try_from((i * 7 + i / 1000) % 251).unwrap_or(0))
            .collect();
        let p = dir.join("a.zst");
        std::fs::write(&p, zstd::encode_all(&data[..], 3).expect("compress")).expect("write");
        (p, data)
    }

    #[test]
    fn gives_the_decompressed_bytes_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        // several chunks and a part of one, read in odd sizes
        let (p, data) = compressed(dir.path(), 3 * CHUNK + 12_345);
        let mut pf = Prefetch::start(p.clone()).expect("started");
        assert_eq!(pf.path(), p);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 7_777];
        loop {
            let k = pf.read(&mut buf).expect("read");
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        assert_eq!(got.len(), data.len());
        let first = got.iter().zip(&data).position(|(a, b)| a != b);
        assert_eq!(first, None);
    }

    #[test]
    fn a_damaged_archive_is_an_error_and_a_missing_one_not_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (p, _) = compressed(dir.path(), 2 * CHUNK);
        let mut bytes = std::fs::read(&p).expect("read");
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&p, &bytes).expect("write");
        let mut got = Vec::new();
        assert!(
            Prefetch::start(p)
                .expect("started")
                .read_to_end(&mut got)
                .is_err()
        );
        assert!(Prefetch::start(dir.path().join("missing.zst")).is_none());
    }

    #[test]
    fn dropped_before_the_end_it_stops() {
        let dir = tempfile::tempdir().expect("tempdir");
        // more than it reads ahead: its thread waits for the reader, then sees it gone
        let (p, _) = compressed(dir.path(), AHEAD + 3 * CHUNK);
        let mut pf = Prefetch::start(p).expect("started");
        let mut buf = vec![0u8; 100];
        pf.read_exact(&mut buf).expect("read");
        drop(pf); // joins the thread: the test ends only if it stopped
    }
}
