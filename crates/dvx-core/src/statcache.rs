//! The stat cache: repo-relative path -> (size, mtime, ctime, inode, mode) -> digest and chunk
//! list, so an unchanged file costs one `lstat`, never a read.
//!
//! Racy-clean rule (git's, made exact): a file can change within the timestamp tick of its
//! mtime without its stat changing, so an entry is recorded only when its mtime is safely
//! before the moment its bytes were read (or written): older than that moment by the file
//! system's timestamp granularity, which is 2 s where timestamps carry no nanoseconds (ext4
//! with small inodes, FAT, HFS+, some NFS), one clock tick on other file systems, and nothing
//! on those with multigrain timestamps (a change after a `stat` always gets a new timestamp;
//! probed once per process). Every stat recorded comes from the open file (`fstat`), never from
//! the path. As a second guard, entries not older than the cache file itself are dropped on
//! load. The cache is only a cache: a damaged file is ignored and rebuilt.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dvx_manifest::ChunkRef;
use dvx_store::{ChunkId, Digest};

use crate::error::Result;
use crate::fsx::{self, Stamp};

pub(crate) mod snapshot;

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
        let st = Stamp::of(m);
        StatKey {
            size: m.len(),
            mtime_ns: st.mtime_ns,
            ctime_ns: st.ctime_ns,
            ino: st.ino,
            mode: st.mode,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Cached {
    pub key: StatKey,
    pub digest: Digest,
    pub chunks: Vec<ChunkRef>,
    /// Recorded by this process under the racy-clean rule (not loaded): trusted before the
    /// cache is saved, as it will be after.
    fresh: bool,
    /// Found on disk by this process's scan (hit or recorded): entries below a scanned
    /// dataset without it are of deleted files.
    seen: bool,
}

pub struct StatCache {
    path: PathBuf,
    written_ns: i64,
    map: HashMap<Vec<u8>, Cached>,
    dirty: bool,
    /// The device of the state directory and whether its file system has multigrain
    /// timestamps; probed on the first [`StatCache::record`].
    multigrain: OnceLock<Option<(u64, bool)>>,
}

/// Timestamp granularity assumed where mtimes carry no nanoseconds (FAT's is 2 s).
const COARSE_SLACK_NS: i64 = 2_000_000_000;
/// One tick of the kernel's coarse clock, which stamps files where timestamps are not
/// multigrain (a tick is 1-10 ms; twice the longest).
const TICK_SLACK_NS: i64 = 20_000_000;

/// Now, in nanoseconds since the epoch: take it just before reading (or writing) the bytes an
/// entry will describe.
pub fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        // A clock before 1970 makes every entry racy, which is safe.
        Err(_) => i64::MIN,
    }
}

impl StatCache {
    /// An empty cache that would be saved in `state_dir` (for a command that reads nothing
    /// from disk: nothing is recorded, so nothing is saved).
    pub fn empty(state_dir: &Path) -> StatCache {
        StatCache {
            path: state_dir.join("statcache"),
            written_ns: 0,
            map: HashMap::new(),
            dirty: false,
            multigrain: OnceLock::new(),
        }
    }

    /// Loads the cache from `state_dir` (empty if absent or damaged).
    pub fn load(state_dir: &Path) -> StatCache {
        let mut c = StatCache::empty(state_dir);
        let path = c.path.clone();
        let Ok(meta) = std::fs::metadata(&path) else {
            return c;
        };
        c.written_ns = match Stamp::of(&meta).mtime_ns {
            // The system cannot tell when it was written: nothing in it can be vouched for.
            i64::MAX => return c,
            t => t,
        };
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

    /// A cached digest for `rel` if its stat matches and it is not racily clean. The entry
    /// is marked as found on disk, so that [`StatCache::prune_unseen_below`] keeps it.
    pub(crate) fn hit(&mut self, rel: &[u8], key: &StatKey) -> Option<&Cached> {
        let written = self.written_ns;
        let c = self.map.get_mut(rel)?;
        if c.key == *key && (c.fresh || key.mtime_ns < written) {
            c.seen = true;
            Some(c)
        } else {
            None
        }
    }

    /// Sets an entry as if loaded from the file (so the racy-clean check on load applies).
    #[cfg(test)]
    fn insert(&mut self, rel: Vec<u8>, key: StatKey, digest: Digest, chunks: Vec<ChunkRef>) {
        self.put(rel, key, digest, chunks, false);
    }

    fn put(
        &mut self,
        rel: Vec<u8>,
        key: StatKey,
        digest: Digest,
        chunks: Vec<ChunkRef>,
        fresh: bool,
    ) {
        self.map.insert(
            rel,
            Cached {
                key,
                digest,
                chunks,
                fresh,
                seen: fresh,
            },
        );
        self.dirty = true;
    }

    /// Records what a file's bytes hash to, given the `fstat` of the open file they were read
    /// from or written to (`meta`) and the moment just before they were (`seen_ns`). A
    /// racily clean entry (see the module doc) is not recorded and any older one for the
    /// path is dropped, so the file is hashed again next time. True when recorded.
    pub fn record(
        &mut self,
        rel: Vec<u8>,
        meta: &std::fs::Metadata,
        seen_ns: i64,
        digest: Digest,
        chunks: Vec<ChunkRef>,
    ) -> bool {
        if self.safely_before(meta, seen_ns) {
            self.put(rel, StatKey::of(meta), digest, chunks, true);
            true
        } else {
            if self.map.remove(&rel).is_some() {
                self.dirty = true;
            }
            false
        }
    }

    /// Drops the entry of `rel`, if any.
    pub fn forget(&mut self, rel: &[u8]) {
        if self.map.remove(rel).is_some() {
            self.dirty = true;
        }
    }

    /// The racy-clean rule: is `meta`'s mtime old enough that any change after `seen_ns` must
    /// show in the stat?
    fn safely_before(&self, meta: &std::fs::Metadata, seen_ns: i64) -> bool {
        let st = Stamp::of(meta);
        let mtime_ns = st.mtime_ns;
        let slack = if st.mtime_nsec == 0 {
            COARSE_SLACK_NS
        } else if self.multigrain_dev() == Some(st.dev) {
            0
        } else {
            TICK_SLACK_NS
        };
        mtime_ns < seen_ns.saturating_sub(slack)
    }

    fn multigrain_dev(&self) -> Option<u64> {
        let probed = self.multigrain.get_or_init(|| {
            let dir = self.path.parent()?;
            probe_multigrain(dir).ok()
        });
        match probed {
            Some((dev, true)) => Some(*dev),
            _ => None,
        }
    }

    /// Drops the entries below the repo-relative directory `dir` (a dataset just scanned)
    /// that the scan did not find: files deleted since they were cached.
    pub(crate) fn prune_unseen_below(&mut self, dir: &str) {
        let mut prefix = dir.as_bytes().to_vec();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        let before = self.map.len();
        self.map.retain(|k, c| c.seen || !k.starts_with(&prefix));
        if self.map.len() != before {
            self.dirty = true;
        }
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

/// Does the file system of `dir` give a change made right after a `stat` a new timestamp
/// (Linux multigrain timestamps), even within one clock tick? Three changes in a row, each
/// right after an `fstat`, must all move the mtime: without multigrain timestamps two writes
/// microseconds apart share a tick (and an mtime) unless a tick boundary falls between them.
/// Never where the device is unknown ([`Stamp`] on Windows): every file would match it.
fn probe_multigrain(dir: &Path) -> std::io::Result<(u64, bool)> {
    use std::io::Write;
    if !cfg!(unix) {
        return Ok((0, false));
    }
    std::fs::create_dir_all(dir)?;
    let path = dvx_store::fs::temp_path(dir);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        f.write_all(b"0")?;
        let first = Stamp::of(&f.metadata()?);
        let mut last = first.mtime_ns;
        let mut moved = first.mtime_nsec != 0;
        for byte in [b"1", b"2", b"3"] {
            f.write_all(byte)?;
            let now = Stamp::of(&f.metadata()?).mtime_ns;
            moved &= now > last;
            last = now;
        }
        Ok((first.dev, moved))
    })();
    let _ = std::fs::remove_file(&path);
    result
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
                fresh: false,
                seen: false,
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
        // As if loaded from a file written after the entries' mtime.
        c.written_ns = 2;
        assert!(c.hit(b"data/a", &key).is_some());
        c.prune_unseen_below("data");
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
        let mut c = StatCache::load(dir.path());
        assert!(c.hit(b"a", &key).is_some());
        assert!(c.hit(b"a", &StatKey { size: 4, ..key }).is_none());
        assert!(
            c.hit(b"b", &racy).is_none(),
            "racily clean entries are re-hashed"
        );
        std::fs::write(dir.path().join("statcache"), b"garbage").expect("write");
        assert!(StatCache::load(dir.path()).hit(b"a", &key).is_none());
    }

    /// A file changed in place within the timestamp tick in which its bytes were read keeps
    /// its stat; such an entry must not be recorded, whatever the file system.
    #[test]
    fn entries_not_safely_older_than_the_read_are_not_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").expect("write");
        let meta = std::fs::metadata(&file).expect("stat");
        let mtime = Stamp::of(&meta).mtime_ns;
        let mut c = StatCache::load(dir.path());
        // Read in the same instant as the last change: racy on every file system.
        c.record(b"f".to_vec(), &meta, mtime, Digest::of(b"abc"), vec![]);
        assert!(c.map.is_empty(), "an entry read at its mtime is racy");
        // An older entry for the path is dropped rather than left to vouch for the file.
        c.insert(
            b"f".to_vec(),
            StatKey::of(&meta),
            Digest::of(b"old"),
            vec![],
        );
        c.record(b"f".to_vec(), &meta, mtime, Digest::of(b"abc"), vec![]);
        assert!(c.map.is_empty(), "a racy record drops the old entry");
        // Read long after the change: recorded.
        c.record(
            b"f".to_vec(),
            &meta,
            mtime + 10_000_000_000,
            Digest::of(b"abc"),
            vec![],
        );
        assert!(c.map.contains_key(b"f".as_slice()));
    }

    /// Whole-second mtimes (1-second file systems): a read within 2 s of the change is racy.
    #[test]
    fn coarse_timestamps_get_two_seconds_of_slack() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").expect("write");
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(when))
            .expect("set mtime");
        let meta = std::fs::metadata(&file).expect("stat");
        let mut c = StatCache::load(dir.path());
        let second = 1_700_000_000 * 1_000_000_000i64;
        // Read 0.9 s into the same second, and 1.5 s later: both racy.
        for seen in [second + 900_000_000, second + 1_500_000_000] {
            c.record(b"f".to_vec(), &meta, seen, Digest::of(b"abc"), vec![]);
            assert!(c.map.is_empty(), "read at {seen}: racy");
        }
        c.record(
            b"f".to_vec(),
            &meta,
            second + 2_100_000_000,
            Digest::of(b"abc"),
            vec![],
        );
        assert!(!c.map.is_empty(), "2.1 s later: safe");
    }
}
