//! The stat cache: repo-relative path -> (size, mtime, ctime, inode, mode) -> digest and chunk
//! list, so an unchanged file costs one `lstat`, never a read.
//!
//! Racy-clean rule (as git's index): an entry whose mtime is not strictly older than the cache
//! file's own mtime may have been modified within the same timestamp tick after we looked at it,
//! so it is re-hashed. The cache is only a cache: a damaged file is ignored and rebuilt.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use dvx_manifest::ChunkRef;
use dvx_store::{ChunkId, Digest};

use crate::error::Result;
use crate::fsx;

const MAGIC: &[u8; 8] = b"DVXSTAT1";

/// The part of `lstat` that changes whenever a file's content may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatKey {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub mode: u32,
}

impl StatKey {
    pub fn of(m: &std::fs::Metadata) -> StatKey {
        StatKey {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
            mode: m.mode(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Cached {
    pub key: StatKey,
    pub digest: Digest,
    pub chunks: Vec<ChunkRef>,
}

pub struct StatCache {
    path: PathBuf,
    written_ns: i64,
    map: HashMap<Vec<u8>, Cached>,
    dirty: bool,
}

impl StatCache {
    /// Loads the cache from `state_dir` (empty if absent or damaged).
    pub fn load(state_dir: &Path) -> StatCache {
        let path = state_dir.join("statcache");
        let mut c = StatCache {
            path: path.clone(),
            written_ns: 0,
            map: HashMap::new(),
            dirty: false,
        };
        let Ok(meta) = std::fs::metadata(&path) else {
            return c;
        };
        c.written_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        if let Ok(bytes) = std::fs::read(&path) {
            if let Some(mut map) = decode(&bytes) {
                // Racily clean entries are re-hashed; drop them now so that saving the cache
                // (with a newer timestamp) can never turn them into trusted ones.
                let written = c.written_ns;
                map.retain(|_, e| e.key.mtime_ns < written);
                c.map = map;
            }
        }
        c
    }

    /// A cached digest for `rel` if its stat matches and it is not racily clean.
    pub fn get(&self, rel: &[u8], key: &StatKey) -> Option<&Cached> {
        let c = self.map.get(rel)?;
        (c.key == *key && key.mtime_ns < self.written_ns).then_some(c)
    }

    pub fn insert(&mut self, rel: Vec<u8>, key: StatKey, digest: Digest, chunks: Vec<ChunkRef>) {
        self.map.insert(
            rel,
            Cached {
                key,
                digest,
                chunks,
            },
        );
        self.dirty = true;
    }

    /// Drops the entries below the repo-relative directory `dir` that `present` (given the
    /// path below `dir`) rejects: files deleted since they were cached. `files` is how many
    /// files are present; when no more entries than that lie below `dir`, none can be stale
    /// and the (costlier) lookups are skipped.
    pub fn prune_below(&mut self, dir: &str, files: usize, present: impl Fn(&[u8]) -> bool) {
        let mut prefix = dir.as_bytes().to_vec();
        prefix.push(b'/');
        let below = self.map.keys().filter(|k| k.starts_with(&prefix)).count();
        if below <= files {
            return;
        }
        self.map
            .retain(|k, _| !k.starts_with(&prefix) || present(&k[prefix.len()..]));
        self.dirty = true;
    }

    /// Writes the cache if it changed (atomically; a concurrent writer may win, which only
    /// costs the loser's entries a re-hash later).
    pub fn save(&self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            fsx::create_dir_all(dir)?;
        }
        fsx::write_atomic(&self.path, &encode(&self.map))
    }
}

fn encode(map: &HashMap<Vec<u8>, Cached>) -> Vec<u8> {
    let mut out = Vec::with_capacity(map.len() * 120);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(map.len() as u64).to_le_bytes());
    for (k, c) in map {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&c.key.size.to_le_bytes());
        out.extend_from_slice(&c.key.mtime_ns.to_le_bytes());
        out.extend_from_slice(&c.key.ctime_ns.to_le_bytes());
        out.extend_from_slice(&c.key.ino.to_le_bytes());
        out.extend_from_slice(&c.key.mode.to_le_bytes());
        out.extend_from_slice(c.digest.as_bytes());
        out.extend_from_slice(&(c.chunks.len() as u32).to_le_bytes());
        for ch in &c.chunks {
            out.extend_from_slice(ch.id.as_bytes());
            out.extend_from_slice(&ch.len.to_le_bytes());
        }
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<HashMap<Vec<u8>, Cached>> {
    if bytes.len() < 48 || &bytes[..8] != MAGIC {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let mut r = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        if r.len() < n {
            return None;
        }
        let (a, b) = r.split_at(n);
        r = b;
        Some(a)
    };
    take(8)?;
    let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let mut map = HashMap::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let klen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let k = take(klen)?.to_vec();
        let size = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let mtime_ns = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let ctime_ns = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let ino = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let mode = u32::from_le_bytes(take(4)?.try_into().ok()?);
        let digest = Digest::from_slice(take(32)?)?;
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let mut chunks = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let id = ChunkId::from_slice(take(32)?)?;
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?);
            chunks.push(ChunkRef { id, len });
        }
        map.insert(
            k,
            Cached {
                key: StatKey {
                    size,
                    mtime_ns,
                    ctime_ns,
                    ino,
                    mode,
                },
                digest,
                chunks,
            },
        );
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_drops_only_deleted_files_below_the_dataset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = StatCache::load(dir.path());
        let key = StatKey {
            size: 1,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 1,
            mode: 0o644,
        };
        for k in ["data/a", "data/gone", "data2/x", "other"] {
            c.insert(k.as_bytes().to_vec(), key, Digest([0; 32]), Vec::new());
        }
        c.prune_below("data", 1, |rel| rel == b"a");
        let mut keys: Vec<_> = c.map.keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![b"data/a".to_vec(), b"data2/x".to_vec(), b"other".to_vec()]
        );
    }

    #[test]
    fn save_load_and_racy_rule() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = StatCache::load(dir.path());
        let key = StatKey {
            size: 3,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 7,
            mode: 0o100644,
        };
        let racy = StatKey {
            mtime_ns: i64::MAX,
            ..key
        };
        c.insert(b"a".to_vec(), key, Digest::of(b"abc"), vec![]);
        c.insert(b"b".to_vec(), racy, Digest::of(b"abc"), vec![]);
        c.save().expect("save");
        let c = StatCache::load(dir.path());
        assert!(c.get(b"a", &key).is_some());
        assert!(c.get(b"a", &StatKey { size: 4, ..key }).is_none());
        assert!(
            c.get(b"b", &racy).is_none(),
            "racily clean entries are re-hashed"
        );
        std::fs::write(dir.path().join("statcache"), b"garbage").expect("write");
        assert!(StatCache::load(dir.path()).get(b"a", &key).is_none());
    }
}
