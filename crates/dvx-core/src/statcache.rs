//! The stat cache: per dataset, path -> (size, mtime, ctime, inode, mode) -> digest and chunk
//! list, so an unchanged file costs one `lstat`, never a read. Each dataset's cache is one
//! file in walk order (`file.rs`), read beside the scan's walk and rewritten beside its
//! second pass: memory holds a block of it, not the dataset.
//!
//! Racy-clean rule (git's, made exact): a file can change within the timestamp tick of its
//! mtime without its stat changing, so an entry is recorded only when its mtime is safely
//! before the moment its bytes were read (or written): older than that moment by the file
//! system's timestamp granularity, which is 2 s where timestamps carry no nanoseconds (ext4
//! with small inodes, FAT, HFS+, some NFS), one clock tick on other file systems, and nothing
//! on those with multigrain timestamps (a change after a `stat` always gets a new timestamp;
//! probed once per process). Every stat recorded comes from the open file (`fstat`), never from
//! the path. As a second guard, entries not older than the cache file itself are never vouched
//! for. The cache is only a cache: a damaged block ends what is read of it, and the files
//! after it are hashed again.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dvx_manifest::ChunkRef;
use dvx_store::Digest;

use crate::error::{Error, Result};
use crate::fsx::Stamp;

mod file;
pub(crate) mod snapshot;
#[cfg(test)]
mod tests;

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

/// The stat caches of a workspace: one file per dataset (`file.rs`), read and written as a
/// stream beside each scan.
pub struct StatCache {
    /// `.dvx/state/cache`.
    dir: PathBuf,
    /// The one cache file of earlier releases (`.dvx/state/statcache`): never read, removed
    /// when a dataset's cache is written.
    legacy: PathBuf,
    /// The device of the state directory and whether its file system has multigrain
    /// timestamps; probed on the first [`StatCache::vouches`].
    multigrain: OnceLock<Option<(u64, bool)>>,
}

/// What a command records of a file it wrote: its stat, digest and chunks, or `None` to drop
/// any entry of the path.
pub(crate) type Record = (Vec<u8>, Option<(StatKey, Digest, Vec<ChunkRef>)>);

impl StatCache {
    /// The caches of the workspace whose state directory is `state_dir` (nothing is read
    /// until a dataset's cache is opened).
    pub fn new(state_dir: &Path) -> StatCache {
        StatCache {
            dir: state_dir.join("cache"),
            legacy: state_dir.join("statcache"),
            multigrain: OnceLock::new(),
        }
    }

    /// The cache of `dataset` for one scan: looked up and rewritten in walk order.
    pub(crate) fn open(&self, dataset: &str) -> Result<DatasetCache<'_>> {
        let path = file::path_for(&self.dir, dataset);
        let (old, written_ns) = file::Reader::open(&path, dataset);
        Ok(DatasetCache {
            cache: self,
            old,
            written_ns,
            new: file::Writer::new(&self.dir, dataset)?,
            fresh: false,
        })
    }

    /// The racy-clean rule: may a file whose bytes were read (or written) from just after
    /// `seen_ns`, with `meta` the `fstat` of the open file then, be vouched for by its stat?
    /// Only if its mtime is old enough that any change after `seen_ns` must show in the
    /// stat.
    pub(crate) fn vouches(&self, meta: &std::fs::Metadata, seen_ns: i64) -> bool {
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
            let dir = self.dir.parent()?;
            probe_multigrain(dir).ok()
        });
        match probed {
            Some((dev, true)) => Some(*dev),
            _ => None,
        }
    }

    /// Merges what a command recorded of the files it wrote (any order) into the cache of
    /// `dataset`: a record replaces the path's entry, `None` drops it.
    #[cfg(test)]
    pub(crate) fn merge(&self, dataset: &str, mut records: Vec<Record>) -> Result<()> {
        records.sort_by(|a, b| crate::treeio::walk_cmp(&a.0, &b.0));
        records.dedup_by(|later, earlier| {
            // The last record of a path wins.
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        let mut records = records.into_iter();
        self.merge_sorted(dataset, &mut || Ok(records.next()))
    }

    /// [`merge`](Self::merge) of records in walk order, one per path, as `next` hands them
    /// over: memory holds one record and one block of the cache.
    pub(crate) fn merge_sorted(
        &self,
        dataset: &str,
        next: &mut dyn FnMut() -> Result<Option<Record>>,
    ) -> Result<()> {
        let Some(first) = next()? else {
            return Ok(());
        };
        let path = file::path_for(&self.dir, dataset);
        let (mut old, written_ns) = file::Reader::open(&path, dataset);
        let mut new = file::Writer::new(&self.dir, dataset)?;
        let mut next_old = old.next();
        let mut pending = Some(first);
        while let Some((rel, rec)) = pending.take() {
            while let Some(e) = next_old.take() {
                match crate::treeio::walk_cmp(&e.rel, &rel) {
                    std::cmp::Ordering::Less => {
                        if e.key.mtime_ns < written_ns {
                            new.push(&e)?;
                        }
                        next_old = old.next();
                    }
                    std::cmp::Ordering::Equal => next_old = old.next(),
                    std::cmp::Ordering::Greater => {
                        next_old = Some(e);
                        break;
                    }
                }
            }
            if let Some((key, digest, chunks)) = rec {
                new.push(&file::Entry {
                    rel,
                    key,
                    digest,
                    chunks,
                })?;
            }
            pending = next()?;
        }
        while let Some(e) = next_old {
            if e.key.mtime_ns < written_ns {
                new.push(&e)?;
            }
            next_old = old.next();
        }
        self.commit(new)
    }

    fn commit(&self, new: file::Writer) -> Result<()> {
        new.commit()?;
        match std::fs::remove_file(&self.legacy) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("remove", &self.legacy, e))
            }
            _ => Ok(()),
        }
    }
}

/// The cache of one dataset during a scan: the old file read, and the new one written, in
/// walk order.
pub(crate) struct DatasetCache<'a> {
    cache: &'a StatCache,
    old: file::Reader,
    /// The old file's mtime: entries not older are racily clean, never vouched for.
    written_ns: i64,
    new: file::Writer,
    /// Whether an entry was recorded that the old file did not hold.
    fresh: bool,
}

impl DatasetCache<'_> {
    /// The digest and chunks cached for the file at `rel` (below the dataset base) if its
    /// stat is still `key` and the entry is not racily clean. Asked in walk order.
    pub(crate) fn hit(&mut self, rel: &[u8], key: &StatKey) -> Option<(Digest, Vec<ChunkRef>)> {
        let e = self.old.find(rel)?;
        (e.key == *key && e.key.mtime_ns < self.written_ns).then_some((e.digest, e.chunks))
    }

    /// Keeps an entry in the new file (in walk order): one found by [`DatasetCache::hit`],
    /// or a `fresh` one whose stat [`StatCache::vouches`] for.
    pub(crate) fn keep(
        &mut self,
        rel: &[u8],
        key: StatKey,
        digest: Digest,
        chunks: &[ChunkRef],
        fresh: bool,
    ) -> Result<()> {
        self.fresh |= fresh;
        self.new.push(&file::Entry {
            rel: rel.to_vec(),
            key,
            digest,
            chunks: chunks.to_vec(),
        })
    }

    /// Puts the new file in place, unless it holds exactly what the old one did.
    pub(crate) fn commit(mut self) -> Result<()> {
        while self.old.next().is_some() {}
        let same = !self.fresh && self.old.complete && self.old.count == self.new.count;
        if same {
            return Ok(());
        }
        self.cache.commit(self.new)
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
