//! Sequential writes that bypass the page cache (`O_DIRECT`) for big files the store fsyncs
//! anyway (packs).
//!
//! Why: a buffered write copies every byte into a new page-cache page, and the fsync that
//! follows writes it to disk regardless. The copy is pure overhead for a pack, and on virtual
//! machines whose free memory goes back to the host (free page reporting, balloons) it is the
//! dominant cost: every new page-cache page faults on the host first (measurements in
//! docs/PERFORMANCE.md).
//!
//! How: bytes are gathered in a few block-aligned buffers that are reused (so their memory
//! stays resident); a full buffer goes to a writer thread that writes it with `pwrite`, so
//! the disk works while the caller keeps chunking and hashing. The tail is padded to a whole
//! block, written, and the file is truncated to its real length. When the file system refuses
//! `O_DIRECT` (tmpfs, some network file systems), and on every platform but Linux, the writer
//! makes buffered writes of the same buffers: the bytes on disk are the same either way.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// Alignment of buffers, offsets and lengths for `O_DIRECT` (the largest logical block size
/// in common use).
const ALIGN: usize = 4096;
/// Bytes per write.
const BUF: usize = 1 << 20;
/// Buffers kept for reuse across writers (a fresh allocation is fresh, faulting memory).
const POOL_MAX: usize = 8;

static POOL: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// A `BUF`-byte region aligned to `ALIGN`, inside an over-allocated vector (no unsafe code).
struct Block {
    mem: Vec<u8>,
    start: usize,
}

impl Block {
    fn get() -> Block {
        if let Some(b) = POOL.lock().map(|mut p| p.pop()).ok().flatten() {
            return b;
        }
        let mem = vec![0u8; BUF + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Block { mem, start }
    }

    fn put(self) {
        if let Ok(mut p) = POOL.lock() {
            if p.len() < POOL_MAX {
                p.push(self);
            }
        }
    }

    fn region(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + BUF]
    }
}

/// One buffer to write at `offset`: the first `len` bytes of its region (`len` is a multiple
/// of `ALIGN`).
struct Job {
    block: Block,
    len: usize,
    offset: u64,
}

/// Opens `path` for writing a new file, with `O_DIRECT` on Linux; elsewhere (and where the
/// file system refuses it) a plain file, written buffered. Returns whether direct I/O is on.
pub(crate) fn create_new(path: &Path) -> Result<(File, bool)> {
    use std::fs::OpenOptions;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(f) => return Ok((f, true)),
            // tmpfs and some other file systems refuse O_DIRECT at open.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(Error::io("create", path, e)),
        }
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(|f| (f, false))
        .map_err(|e| Error::io("create", path, e))
}

/// A sequential writer of one new file (see the module documentation).
pub(crate) struct DirectWriter {
    file: Arc<File>,
    /// Names the file in errors (its final name when known).
    path: PathBuf,
    cur: Block,
    fill: usize,
    /// Bytes handed to the writer thread.
    queued: u64,
    tx: Option<SyncSender<Job>>,
    done: Receiver<Block>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl DirectWriter {
    /// Writes `file` (just created, empty) from offset 0.
    pub(crate) fn new(file: File, direct: bool, path: &Path) -> DirectWriter {
        let file = Arc::new(file);
        // Two jobs queued while one is written; the caller fills a fourth buffer meanwhile.
        let (tx, rx) = sync_channel::<Job>(2);
        let (back, done) = sync_channel::<Block>(3);
        let f = Arc::clone(&file);
        let thread = std::thread::spawn(move || -> std::io::Result<()> {
            let mut direct = direct;
            for mut job in rx {
                write_block(&f, &mut direct, &job.block.region()[..job.len], job.offset)?;
                // The caller may have gone; then the block simply returns to the pool.
                if let Err(e) = back.try_send(job.block) {
                    let (std::sync::mpsc::TrySendError::Full(b)
                    | std::sync::mpsc::TrySendError::Disconnected(b)) = e;
                    b.put();
                }
            }
            Ok(())
        });
        DirectWriter {
            file,
            path: path.to_path_buf(),
            cur: Block::get(),
            fill: 0,
            queued: 0,
            tx: Some(tx),
            done,
            thread: Some(thread),
        }
    }

    /// Names the file in later errors.
    pub(crate) fn set_path(&mut self, path: &Path) {
        self.path = path.to_path_buf();
    }

    /// Appends bytes.
    pub(crate) fn write_all(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let n = (BUF - self.fill).min(bytes.len());
            self.cur.region()[self.fill..self.fill + n].copy_from_slice(&bytes[..n]);
            self.fill += n;
            bytes = &bytes[n..];
            if self.fill == BUF {
                self.send(BUF)?;
            }
        }
        Ok(())
    }

    /// Hands the current buffer (first `len` bytes) to the writer thread.
    fn send(&mut self, len: usize) -> Result<()> {
        let next = self.done.try_recv().unwrap_or_else(|_| Block::get());
        let block = std::mem::replace(&mut self.cur, next);
        let job = Job {
            block,
            len,
            offset: self.queued,
        };
        self.queued += len as u64;
        self.fill = 0;
        let sent = self.tx.as_ref().map(|tx| tx.send(job).is_ok());
        if sent != Some(true) {
            // The thread stopped on an error: collect it.
            return Err(self.join().err().unwrap_or_else(|| {
                Error::io("write", &self.path, std::io::Error::other("writer stopped"))
            }));
        }
        Ok(())
    }

    /// Waits for the writer thread; its first error, if any.
    fn join(&mut self) -> Result<()> {
        self.tx = None;
        match self.thread.take() {
            Some(h) => match h.join() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::io("write", &self.path, e)),
                Err(_) => Err(Error::io(
                    "write",
                    &self.path,
                    std::io::Error::other("writer thread panicked"),
                )),
            },
            None => Ok(()),
        }
    }

    /// Writes everything out (the tail padded to a block, then the file cut to its length)
    /// and returns the file, not yet fsynced.
    pub(crate) fn finish(mut self) -> Result<Arc<File>> {
        let len = self.queued + self.fill as u64;
        if self.fill > 0 {
            let padded = self.fill.div_ceil(ALIGN) * ALIGN;
            self.cur.region()[self.fill..padded].fill(0);
            self.send(padded)?;
        }
        self.join()?;
        if self.queued != len {
            self.file
                .set_len(len)
                .map_err(|e| Error::io("truncate", &self.path, e))?;
        }
        while let Ok(b) = self.done.try_recv() {
            b.put();
        }
        Ok(Arc::clone(&self.file))
    }
}

impl Drop for DirectWriter {
    fn drop(&mut self) {
        let _ = self.join();
        while let Ok(b) = self.done.try_recv() {
            b.put();
        }
        let cur = std::mem::replace(
            &mut self.cur,
            Block {
                mem: Vec::new(),
                start: 0,
            },
        );
        if !cur.mem.is_empty() {
            cur.put();
        }
    }
}

/// Writes one aligned block; on `EINVAL` from `O_DIRECT` (a file system that accepts the flag
/// but not these alignments) turns direct I/O off for the file and writes it buffered.
fn write_block(f: &File, direct: &mut bool, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    match crate::fs::pwrite_all(f, bytes, offset) {
        #[cfg(target_os = "linux")]
        Err(e) if *direct && e.raw_os_error() == Some(libc::EINVAL) => {
            *direct = false;
            let flags = rustix::fs::fcntl_getfl(f)?;
            rustix::fs::fcntl_setfl(f, flags - rustix::fs::OFlags::DIRECT)?;
            crate::fs::pwrite_all(f, bytes, offset)
        }
        r => {
            // Only Linux opens with O_DIRECT (see `create_new`); elsewhere it is always off.
            #[cfg(not(target_os = "linux"))]
            let _ = direct;
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_with(sizes: &[usize]) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let (file, direct) = create_new(&path).expect("create");
        let mut w = DirectWriter::new(file, direct, &path);
        let mut expect = Vec::new();
        let mut x = 7u32;
        for &n in sizes {
            let part: Vec<u8> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            w.write_all(&part).expect("write");
            expect.extend_from_slice(&part);
        }
        let f = w.finish().expect("finish");
        f.sync_all().expect("sync");
        let got = std::fs::read(&path).expect("read back");
        assert_eq!(got.len(), expect.len());
        assert!(got == expect, "content differs");
        got
    }

    #[test]
    fn lengths_around_block_and_buffer_edges_round_trip() {
        write_with(&[]);
        write_with(&[1]);
        write_with(&[ALIGN]);
        write_with(&[ALIGN - 1, 2]);
        write_with(&[BUF]);
        write_with(&[BUF - 1, 1, 1]);
        write_with(&[3 * BUF + 17, 5, ALIGN * 3 + 1]);
    }
}
