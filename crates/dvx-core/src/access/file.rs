//! A positioned reader over one file of a version: `read_at` reads the chunks that cover the
//! range from the store (each verified against its id), fetching the missing ones from the
//! remote first, a window ahead, so a sequential read from an empty store asks the remote once
//! per few megabytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dvx_manifest::ChunkRef;
use dvx_store::Digest;

use super::Access;
use crate::error::{Error, Result};

/// Chunks missing from the store are fetched this far past the end of a read.
const READ_AHEAD: u64 = 8 << 20;
/// A read spanning at least this many unverified chunks reads them on several threads.
const PARALLEL_CHUNKS: usize = 4;
/// A read of at least this many bytes copies on several threads even when nothing needs
/// hashing: first touches of fresh pages and the copies then run on every core.
const PARALLEL_BYTES: u64 = 16 << 20;

/// One file of one version, read at any offset. Safe to share between threads.
pub struct FileReader {
    access: Access,
    path: String,
    size: u64,
    digest: Digest,
    chunks: Vec<ChunkRef>,
    /// Offset of each chunk in the file.
    starts: Vec<u64>,
    /// The last chunk read, for reads smaller than a chunk.
    last: Mutex<Option<(usize, Arc<Vec<u8>>)>>,
}

impl FileReader {
    pub(super) fn new(
        access: Access,
        path: String,
        size: u64,
        digest: Digest,
        chunks: Vec<ChunkRef>,
    ) -> FileReader {
        let mut starts = Vec::with_capacity(chunks.len());
        let mut at = 0u64;
        for c in &chunks {
            starts.push(at);
            at += u64::from(c.len);
        }
        FileReader {
            access,
            path,
            size,
            digest,
            chunks,
            starts,
            last: Mutex::new(None),
        }
    }

    /// The file's path in the repository.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes in the file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// BLAKE3 of the whole file.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at or past the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let end = self.size.min(offset + buf.len() as u64);
        let first = self.chunk_at(offset);
        let last = self.chunk_at(end - 1);
        self.fetch_missing(first, last)?;
        // Where each chunk's part of the range goes in `buf`.
        let mut parts: Vec<Mutex<(usize, usize, &mut [u8])>> = Vec::new();
        let mut rest = &mut buf[..(end - offset) as usize];
        for i in first..=last {
            let start = self.starts[i];
            let chunk_end = start + u64::from(self.chunks[i].len);
            let from = offset.max(start) - start;
            let to = end.min(chunk_end) - start;
            let (dst, tail) = std::mem::take(&mut rest).split_at_mut((to - from) as usize);
            parts.push(Mutex::new((i, from as usize, dst)));
            rest = tail;
        }
        let copy = |part: &Mutex<(usize, usize, &mut [u8])>| -> Result<()> {
            let mut part = part.lock().expect("part lock poisoned");
            let (i, from, ref mut dst) = *part;
            if from == 0 && dst.len() == self.chunks[i].len as usize {
                // A whole chunk: read straight into place.
                return self.read_whole(i, dst);
            }
            let data = self.chunk(i)?;
            let src = data
                .get(from..from + dst.len())
                .ok_or_else(|| self.short_chunk(i, data.len()))?;
            dst.copy_from_slice(src);
            Ok(())
        };
        // Hashing, and the copies of a large read, are worth sharing between threads.
        let to_check = self.chunks[first..=last]
            .iter()
            .filter(|c| !self.access.was_verified(&c.id))
            .count();
        if parts.len() > 1 && (to_check >= PARALLEL_CHUNKS || end - offset >= PARALLEL_BYTES) {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
            crate::work::try_each(&parts, threads, "read", copy)?;
        } else {
            for p in &parts {
                copy(p)?;
            }
        }
        Ok((end - offset) as usize)
    }

    /// The index of the chunk holding byte `offset` (which is inside the file).
    fn chunk_at(&self, offset: u64) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }

    /// The bytes of chunk `i`, verified.
    fn chunk(&self, i: usize) -> Result<Arc<Vec<u8>>> {
        if let Some((j, data)) = self.last.lock().expect("cache lock poisoned").as_ref() {
            if *j == i {
                return Ok(data.clone());
            }
        }
        let mut data = vec![0u8; self.chunks[i].len as usize];
        self.read_whole(i, &mut data)?;
        let data = Arc::new(data);
        *self.last.lock().expect("cache lock poisoned") = Some((i, data.clone()));
        Ok(data)
    }

    /// Reads chunk `i` whole into `dst` (its length), verified unless this process verified
    /// it before.
    fn read_whole(&self, i: usize, dst: &mut [u8]) -> Result<()> {
        let id = self.chunks[i].id;
        let check = !self.access.was_verified(&id);
        self.access
            .store()?
            .read_chunk_into_checked(&id, dst, check)
            .map_err(|source| Error::DamagedFile {
                file: self.path.clone(),
                source,
            })?;
        if check {
            self.access.mark_verified(id);
        }
        Ok(())
    }

    /// A chunk shorter than the tree says: the file cannot be read as recorded.
    fn short_chunk(&self, _i: usize, _len: usize) -> Error {
        Error::DigestMismatch {
            file: self.path.clone(),
            expected: self.digest,
        }
    }

    /// When any chunk of `first..=last` is not in the store, fetches the missing chunks from
    /// `first` on, up to [`READ_AHEAD`] bytes past `last`.
    fn fetch_missing(&self, first: usize, last: usize) -> Result<()> {
        let store = self.access.store()?;
        let mut any = false;
        for c in &self.chunks[first..=last] {
            if !store.readable(&c.id)? {
                any = true;
                break;
            }
        }
        if !any {
            return Ok(());
        }
        let until = self.starts[last] + u64::from(self.chunks[last].len) + READ_AHEAD;
        let mut needed = BTreeMap::new();
        for (c, &start) in self.chunks[first..].iter().zip(&self.starts[first..]) {
            if start >= until {
                break;
            }
            if !store.readable(&c.id)? {
                needed.insert(c.id, vec![self.path.clone()]);
            }
        }
        self.access.fetch_chunks(&needed)
    }
}
