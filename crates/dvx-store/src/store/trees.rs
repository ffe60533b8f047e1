//! Tree objects: one file per tree under `trees/`, a small header and the (maybe compressed)
//! encoded tree, verified against its id on every read.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use super::Store;
use crate::error::{Error, Result};
use crate::fs as sfs;
use crate::id::TreeId;
use crate::pack::{self, Compression};

const TREE_MAGIC: &[u8; 8] = b"DVXTOBJ\0";
const TREE_HEADER_LEN: usize = 24;
/// Upper bound of a decoded tree object (guards decompression of untrusted data); the same
/// bound the manifest's tree decoder applies.
pub use dvx_id::MAX_TREE_LEN;
/// Upper bound of a stored tree object file (header + payload): the payload is compressed only
/// when that makes it smaller, so it is never longer than [`MAX_TREE_LEN`]. Every read of a
/// tree object, local or remote, is capped at this size before anything is allocated.
pub const MAX_TREE_OBJECT_LEN: u64 = TREE_HEADER_LEN as u64 + MAX_TREE_LEN;
/// Threads writing tree objects at once (they mostly wait for fsync).
const TREE_WRITE_THREADS: usize = 8;

impl Store {
    /// Path of a tree object.
    pub fn tree_path(&self, id: &TreeId) -> PathBuf {
        let hex = id.to_hex();
        self.trees_dir().join(&hex[..2]).join(hex)
    }

    /// The bytes of a tree object file as stored (header + payload), for uploading.
    pub fn tree_object_bytes(&self, id: &TreeId) -> Result<Vec<u8>> {
        self.tree_file(id)
    }

    /// The bytes of a tree object file, read with the format's size cap.
    fn tree_file(&self, id: &TreeId) -> Result<Vec<u8>> {
        let path = self.tree_path(id);
        match sfs::read_bounded(&path, MAX_TREE_OBJECT_LEN) {
            Ok(d) => Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingTree(*id)),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(Error::CorruptTree {
                id: *id,
                detail: format!(
                    "{} {e}; run `dvx fsck`, then `dvx pull` or `dvx add` the data again",
                    path.display()
                ),
            }),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    /// Verifies a tree object file received from elsewhere and stores it. Returns the decoded
    /// tree bytes.
    pub fn put_tree_object(&self, id: &TreeId, object: &[u8]) -> Result<Vec<u8>> {
        let raw = decode_tree_object(id, object)?;
        let path = self.tree_path(id);
        sfs::create_dir_all(path.parent().expect("tree path has a parent"))?;
        sfs::write_atomic(&path, object)?;
        Ok(raw)
    }

    /// True when the tree object is present.
    pub fn has_tree(&self, id: &TreeId) -> bool {
        sfs::is_file(&self.tree_path(id))
    }

    /// Stores an encoded tree (the bytes are opaque here) and returns its id. Idempotent.
    pub fn write_tree(&self, bytes: &[u8]) -> Result<TreeId> {
        Ok(self.write_trees(&[bytes])?[0])
    }

    /// Stores many encoded trees at once and returns their ids (in order): objects are
    /// written and fsynced by several threads (the waits for the disk overlap), then each
    /// directory they were renamed into is fsynced once. All are durable when this returns.
    pub fn write_trees(&self, trees: &[&[u8]]) -> Result<Vec<TreeId>> {
        let ids: Vec<TreeId> = trees.iter().map(|b| TreeId::of(b)).collect();
        let mut todo: Vec<usize> = Vec::new();
        let mut queued = HashSet::new();
        for (i, id) in ids.iter().enumerate() {
            if !queued.insert(*id) {
                continue;
            }
            let path = self.tree_path(id);
            // Present and intact: nothing to do but freshen it (a concurrent gc's grace period
            // then protects it). Present but damaged: rewrite it (self-healing).
            if let Ok(existing) = sfs::read_bounded(&path, MAX_TREE_OBJECT_LEN) {
                if decode_tree_object(id, &existing).is_ok() {
                    self.freshen(&path);
                    continue;
                }
            }
            todo.push(i);
        }
        if todo.is_empty() {
            return Ok(ids);
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let dirs: Mutex<HashSet<PathBuf>> = Mutex::new(HashSet::new());
        let threads = todo.len().min(TREE_WRITE_THREADS);
        std::thread::scope(|sc| -> Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    sc.spawn(|| -> Result<()> {
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&i) = todo.get(k) else {
                                return Ok(());
                            };
                            let path = self.tree_path(&ids[i]);
                            let dir = path.parent().expect("tree path has a parent");
                            sfs::create_dir_all(dir)?;
                            let mut f = sfs::AtomicFile::create(&path)?;
                            f.write_all(&encode_tree_object(trees[i]))?;
                            f.commit_without_dir_sync()?;
                            dirs.lock()
                                .expect("dirs poisoned")
                                .insert(dir.to_path_buf());
                        }
                    })
                })
                .collect();
            let mut first = Ok(());
            for w in workers {
                let r = w.join().expect("tree writer panicked");
                if first.is_ok() {
                    first = r;
                }
            }
            first
        })?;
        for dir in dirs.into_inner().expect("dirs poisoned") {
            sfs::sync_dir(&dir)?;
        }
        Ok(ids)
    }

    /// Reads a tree object and verifies it against its id.
    pub fn read_tree(&self, id: &TreeId) -> Result<Vec<u8>> {
        let data = self.tree_file(id)?;
        decode_tree_object(id, &data)
    }
}

/// The object file of an encoded tree: header, then the bytes zstd-compressed (level 1:
/// trees are written by every `add`, on its critical path) unless that does not pay.
fn encode_tree_object(bytes: &[u8]) -> Vec<u8> {
    let (compression, payload) = pack::encode_chunk(bytes, 1);
    let mut out = Vec::with_capacity(TREE_HEADER_LEN + payload.len());
    out.extend_from_slice(TREE_MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&u32::from(compression == Compression::Zstd).to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Decodes a stored tree object (header, optional zstd) and verifies it against `id`.
pub fn decode_tree_object(id: &TreeId, data: &[u8]) -> Result<Vec<u8>> {
    let bad = |detail: &str| Error::CorruptTree {
        id: *id,
        detail: detail.to_string(),
    };
    if data.len() < TREE_HEADER_LEN || &data[..8] != TREE_MAGIC {
        return Err(bad("not a tree object (bad magic or too short)"));
    }
    if data.len() as u64 > MAX_TREE_OBJECT_LEN {
        return Err(bad("larger than any tree object can be"));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if version != 1 {
        return Err(bad("unsupported tree object version; upgrade dvx"));
    }
    let compression = u32::from_le_bytes(data[12..16].try_into().expect("4 bytes"));
    let raw_len = u64::from_le_bytes(data[16..24].try_into().expect("8 bytes"));
    if raw_len > MAX_TREE_LEN {
        return Err(bad("declared size is absurd"));
    }
    let payload = &data[TREE_HEADER_LEN..];
    let raw = match compression {
        0 => payload.to_vec(),
        // Streamed, so a header that declares a huge size costs nothing until real bytes
        // arrive, and at most one byte past the declared size is ever produced.
        1 => {
            use std::io::Read;
            let mut out = Vec::with_capacity((raw_len as usize).min(1 << 20));
            zstd::stream::read::Decoder::new(payload)
                .and_then(|d| d.take(raw_len + 1).read_to_end(&mut out))
                .map_err(|e| bad(&format!("zstd: {e}")))?;
            out
        }
        _ => return Err(bad("unknown compression")),
    };
    if raw.len() as u64 != raw_len {
        return Err(bad("length does not match the header"));
    }
    if TreeId::of(&raw) != *id {
        return Err(bad("content does not match its hash"));
    }
    Ok(raw)
}
