//! The stat cache file of one dataset (`.dvx/state/cache/<hash of the dataset path>`,
//! FORMAT section 8.2): its files' entries in the order of a depth-first walk with names in
//! byte order (the order a scan finds them), in blocks of about 64 KiB, each with its BLAKE3.
//! It is read and written as a stream beside the scan, so memory holds one block.
//!
//! ```text
//! "DVXSTAT2"  u32 path length  dataset path
//! block*:     u32 payload length (> 0)  payload  BLAKE3(u64 block index LE || payload)
//! end:        u32 0  BLAKE3(u64 block index LE || u64 entry count LE)
//! entry:      u32 path length  path (below the dataset base)  u64 size  i64 mtime_ns
//!             i64 ctime_ns  u64 inode  u32 mode  digest[32]  u32 chunk count
//!             (chunk id[32]  u32 length)*
//! ```
//!
//! A block that fails its hash ends the reading: the entries after it are simply not cached
//! (their files are hashed again), never trusted.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use dvx_manifest::ChunkRef;
use dvx_store::{ChunkId, Digest};

use super::StatKey;
use crate::error::Result;
use crate::treeio::walk_cmp;

const MAGIC: &[u8; 8] = b"DVXSTAT2";
/// A block is written once its payload reaches this size.
const BLOCK: usize = 64 * 1024;
/// The largest payload a reader accepts (a block holds whole entries: one file's entry with
/// its chunk list may be large).
const MAX_BLOCK: usize = 1 << 30;

/// One cached file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Path below the dataset base.
    pub(crate) rel: Vec<u8>,
    pub(crate) key: StatKey,
    pub(crate) digest: Digest,
    pub(crate) chunks: Vec<ChunkRef>,
}

/// The cache file of `dataset` in the cache directory `dir`.
pub(crate) fn path_for(dir: &Path, dataset: &str) -> PathBuf {
    dir.join(blake3::hash(dataset.as_bytes()).to_hex().as_str())
}

/// Reads a cache file's entries in order. Anything wrong (absent, another dataset's, a
/// damaged block) ends the entries there.
pub(crate) struct Reader {
    r: Option<BufReader<std::fs::File>>,
    block: Vec<u8>,
    pos: usize,
    index: u64,
    /// Entries read so far, and whether the end marker was reached intact.
    pub(crate) count: u64,
    pub(crate) complete: bool,
    peeked: Option<Entry>,
}

impl Reader {
    /// Opens the cache file at `path` of `dataset`; returns also its mtime (0 if absent or
    /// unknown: then nothing in it is vouched for).
    pub(crate) fn open(path: &Path, dataset: &str) -> (Reader, i64) {
        let mut reader = Reader {
            r: None,
            block: Vec::new(),
            pos: 0,
            index: 0,
            count: 0,
            complete: false,
            peeked: None,
        };
        let Ok(file) = std::fs::File::open(path) else {
            return (reader, 0);
        };
        let written = match file.metadata() {
            Ok(m) => crate::fsx::Stamp::of(&m).mtime_ns,
            Err(_) => return (reader, 0),
        };
        if written == i64::MAX {
            return (reader, 0);
        }
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut head = [0u8; 12];
        if r.read_exact(&mut head).is_err() || &head[..8] != MAGIC {
            return (reader, 0);
        }
        let n = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        let mut name = vec![0u8; n.min(1 << 20)];
        if n > 1 << 20 || r.read_exact(&mut name).is_err() || name != dataset.as_bytes() {
            return (reader, 0);
        }
        reader.r = Some(r);
        (reader, written)
    }

    /// The next entry, if any.
    pub(crate) fn next(&mut self) -> Option<Entry> {
        if let Some(e) = self.peeked.take() {
            return Some(e);
        }
        if self.pos >= self.block.len() && !self.next_block() {
            return None;
        }
        match decode(&self.block, &mut self.pos) {
            Some(e) => {
                self.count += 1;
                Some(e)
            }
            None => {
                // A block whose hash matched but does not parse: written by something else.
                self.r = None;
                None
            }
        }
    }

    /// The entry for `rel` if the file has one, skipping those before it (walk order).
    pub(crate) fn find(&mut self, rel: &[u8]) -> Option<Entry> {
        while let Some(e) = self.next() {
            match walk_cmp(&e.rel, rel) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => return Some(e),
                std::cmp::Ordering::Greater => {
                    self.peeked = Some(e);
                    return None;
                }
            }
        }
        None
    }

    /// Reads the next block; false at the end or at anything wrong.
    fn next_block(&mut self) -> bool {
        let Some(r) = self.r.as_mut() else {
            return false;
        };
        let ok = (|| -> Option<bool> {
            let mut len = [0u8; 4];
            r.read_exact(&mut len).ok()?;
            let len = u32::from_le_bytes(len) as usize;
            let mut sum = [0u8; 32];
            if len == 0 {
                r.read_exact(&mut sum).ok()?;
                let want = end_sum(self.index, self.count);
                self.complete = want == sum;
                return Some(false);
            }
            if len > MAX_BLOCK {
                return None;
            }
            self.block.resize(len, 0);
            r.read_exact(&mut self.block).ok()?;
            r.read_exact(&mut sum).ok()?;
            if block_sum(self.index, &self.block) != sum {
                return None;
            }
            self.index += 1;
            self.pos = 0;
            Some(true)
        })();
        match ok {
            Some(true) => true,
            _ => {
                self.r = None;
                self.block.clear();
                self.pos = 0;
                false
            }
        }
    }
}

/// Writes a cache file: entries in walk order, into a temporary file of the cache
/// directory that [`Writer::commit`] renames over the dataset's file (dropped, the temporary
/// file is removed; one left by a process that died is removed by the next writer).
pub(crate) struct Writer {
    out: dvx_store::fs::AtomicFile,
    block: Vec<u8>,
    index: u64,
    pub(crate) count: u64,
}

impl Writer {
    pub(crate) fn new(dir: &Path, dataset: &str) -> Result<Writer> {
        crate::fsx::create_dir_all(dir)?;
        crate::scan::remove_stale_temps(dir);
        let mut w = Writer {
            out: dvx_store::fs::AtomicFile::create(&path_for(dir, dataset))?,
            block: Vec::with_capacity(BLOCK + 4096),
            index: 0,
            count: 0,
        };
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&(dataset.len() as u32).to_le_bytes());
        head.extend_from_slice(dataset.as_bytes());
        w.write(&head)?;
        Ok(w)
    }

    /// Adds the next entry (after every entry before it in walk order).
    pub(crate) fn push(&mut self, e: &Entry) -> Result<()> {
        // Written a block at a time: the temporary file is not buffered.
        encode(&mut self.block, e);
        self.count += 1;
        if self.block.len() >= BLOCK {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let block = std::mem::take(&mut self.block);
        let sum = block_sum(self.index, &block);
        let mut head = (block.len() as u32).to_le_bytes().to_vec();
        head.extend_from_slice(&block);
        head.extend_from_slice(&sum);
        self.write(&head)?;
        self.index += 1;
        self.block = block;
        self.block.clear();
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        Ok(self.out.write_all(bytes)?)
    }

    /// Completes the file and puts it in place of the dataset's cache file.
    pub(crate) fn commit(mut self) -> Result<()> {
        self.flush_block()?;
        let mut end = 0u32.to_le_bytes().to_vec();
        end.extend_from_slice(&end_sum(self.index, self.count));
        self.write(&end)?;
        Ok(self.out.commit()?)
    }
}

fn block_sum(index: u64, payload: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&index.to_le_bytes());
    h.update(payload);
    *h.finalize().as_bytes()
}

fn end_sum(index: u64, count: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&index.to_le_bytes());
    h.update(&count.to_le_bytes());
    *h.finalize().as_bytes()
}

fn encode(out: &mut Vec<u8>, e: &Entry) {
    crate::spool::put_bytes(out, &e.rel);
    crate::spool::put_key(out, &e.key);
    out.extend_from_slice(e.digest.as_bytes());
    crate::spool::put_chunks(out, &e.chunks);
}

fn decode(b: &[u8], pos: &mut usize) -> Option<Entry> {
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(s)
    };
    let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let rel = take(n)?.to_vec();
    let key = StatKey {
        size: u64::from_le_bytes(take(8)?.try_into().ok()?),
        mtime_ns: i64::from_le_bytes(take(8)?.try_into().ok()?),
        ctime_ns: i64::from_le_bytes(take(8)?.try_into().ok()?),
        ino: u64::from_le_bytes(take(8)?.try_into().ok()?),
        mode: u32::from_le_bytes(take(4)?.try_into().ok()?),
    };
    let digest = Digest(take(32)?.try_into().ok()?);
    let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut chunks = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let id = ChunkId(take(32)?.try_into().ok()?);
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?);
        chunks.push(ChunkRef { id, len });
    }
    Some(Entry {
        rel,
        key,
        digest,
        chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rel: &str, n: u8) -> Entry {
        Entry {
            rel: rel.as_bytes().to_vec(),
            key: StatKey {
                size: u64::from(n),
                mtime_ns: 1,
                ctime_ns: 2,
                ino: 3,
                mode: 0o100644,
            },
            digest: Digest([n; 32]),
            chunks: (0..n % 4)
                .map(|i| ChunkRef {
                    id: ChunkId([i; 32]),
                    len: u32::from(i),
                })
                .collect(),
        }
    }

    /// Many blocks written and read back in order; lookups in walk order find exactly the
    /// entries there are, and skip the rest.
    #[test]
    fn written_entries_read_back_and_are_found_in_walk_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_for(dir.path(), "data");
        let mut rels: Vec<String> = (0..5000).map(|i| format!("d{}/f{i}", i % 7)).collect();
        rels.extend(["a/x".into(), "a-b".into(), "a.c/y".into()]);
        rels.sort_by(|a, b| walk_cmp(a.as_bytes(), b.as_bytes()));
        let mut w = Writer::new(dir.path(), "data").expect("writer");
        for (i, r) in rels.iter().enumerate() {
            if i % 3 != 0 {
                w.push(&entry(r, i as u8)).expect("push");
            }
        }
        w.commit().expect("commit");
        let (mut r, written) = Reader::open(&path, "data");
        assert!(written > 0);
        for (i, rel) in rels.iter().enumerate() {
            let found = r.find(rel.as_bytes());
            if i % 3 != 0 {
                assert_eq!(found, Some(entry(rel, i as u8)), "{rel}");
            } else {
                assert_eq!(found, None, "{rel}");
            }
        }
        assert!(r.next().is_none());
        assert!(r.complete, "the end marker was read");
        // Another dataset's file is nobody's.
        let (mut other, t) = Reader::open(&path, "data2");
        assert_eq!((other.next(), t), (None, 0));
    }

    /// A flipped byte anywhere ends the entries at its block: none after it is trusted.
    #[test]
    fn a_damaged_block_ends_the_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_for(dir.path(), "data");
        let mut w = Writer::new(dir.path(), "data").expect("writer");
        let n = 20_000u32;
        for i in 0..n {
            w.push(&entry(&format!("f{i:06}"), 1)).expect("push");
        }
        w.commit().expect("commit");
        let good = std::fs::read(&path).expect("read");
        for at in [
            20,
            good.len() / 3,
            good.len() / 2,
            good.len() - 40,
            good.len() - 1,
        ] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad).expect("write");
            let (mut r, _) = Reader::open(&path, "data");
            let mut seen = 0u32;
            while let Some(e) = r.next() {
                assert_eq!(e, entry(&format!("f{seen:06}"), 1), "only intact entries");
                seen += 1;
            }
            assert!(!r.complete, "damage at {at} is noticed");
            assert!(seen < n || at >= good.len() - 36, "damage at {at}");
        }
    }
}
