//! The set of index files a store has loaded, plus the chunks of packs no index lists yet,
//! and the lookups that go through it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Store;
use crate::error::{Error, Result};
use crate::fs as sfs;
use crate::id::{ChunkId, PackId};
use crate::index::{IndexFile, Location};
use crate::pack;

#[derive(Default)]
pub(super) struct IndexSet {
    files: Vec<IndexFile>,
    /// Chunks of packs no index lists (a writer died before publishing its index) and of
    /// this process's finished write sessions.
    pub(super) extra: HashMap<ChunkId, Location>,
    /// The file of the last lookup that found its id in a file other than the one asked
    /// first: chunks stored together are listed together, and a walk looks them up together.
    hint: AtomicUsize,
}

impl IndexSet {
    fn lookup(&self, id: &ChunkId) -> Result<Option<Location>> {
        if let Some(l) = self.extra.get(id) {
            return Ok(Some(*l));
        }
        // Any indexed location will do (readers try every one: `lookup_all`), so the file
        // likeliest to hold the id is asked first.
        let first = self.hint.load(Ordering::Relaxed);
        if let Some(f) = self.files.get(first) {
            if let Some(l) = f.lookup(id)? {
                return Ok(Some(l));
            }
        }
        for (i, f) in self.files.iter().enumerate() {
            if i == first {
                continue;
            }
            if let Some(l) = f.lookup(id)? {
                self.hint.store(i, Ordering::Relaxed);
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    /// Every known location of a chunk (it may sit in several packs).
    pub(super) fn lookup_all(&self, id: &ChunkId) -> Result<Vec<Location>> {
        let mut out: Vec<Location> = self.extra.get(id).copied().into_iter().collect();
        for f in &self.files {
            if let Some(l) = f.lookup(id)? {
                if !out.contains(&l) {
                    out.push(l);
                }
            }
        }
        Ok(out)
    }
}

impl Store {
    fn load_index(&self) -> Result<IndexSet> {
        let mut set = IndexSet::default();
        // Another process may merge (and delete) index files while we list them: retry then.
        'outer: for attempt in 0..5 {
            set = IndexSet::default();
            for path in self.list_index_files()? {
                match IndexFile::open(&path) {
                    Ok(f) => {
                        set.files.push(f);
                    }
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound && attempt < 4 =>
                    {
                        continue 'outer;
                    }
                    // A damaged index is skipped: the packs it listed are then unindexed and
                    // found through their own trailers below, so nothing becomes unreadable.
                    // `dvx fsck` reports it and `--repair` rebuilds the index.
                    Err(Error::CorruptIndex { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            break;
        }
        crate::index::bound_residency(&mut set.files);
        // Packs that no index lists: a writer was interrupted after publishing the pack but
        // before its index. Their trailers make them usable right away.
        let indexed: HashSet<PackId> = set
            .files
            .iter()
            .flat_map(|f| f.packs().iter().copied())
            .collect();
        for id in self.list_packs()? {
            if indexed.contains(&id) {
                continue;
            }
            let path = self.pack_path(&id);
            let Ok((file, _)) = sfs::open_regular(&path) else {
                continue;
            };
            if let Ok(entries) = pack::read_trailer(&file, &path) {
                for e in entries {
                    set.extra
                        .entry(e.id)
                        .or_insert_with(|| Location::of(id, &e));
                }
            }
        }
        Ok(set)
    }

    pub(super) fn with_index<T>(&self, f: impl FnOnce(&IndexSet) -> Result<T>) -> Result<T> {
        {
            let guard = self.index.read().expect("index lock poisoned");
            if let Some(set) = guard.as_ref() {
                return f(set);
            }
        }
        let mut guard = self.index.write().expect("index lock poisoned");
        if guard.is_none() {
            *guard = Some(self.load_index()?);
        }
        f(guard.as_ref().expect("just loaded"))
    }

    /// Forgets the loaded index so the next lookup re-reads the index directory.
    pub fn reload(&self) {
        *self.index.write().expect("index lock poisoned") = None;
        self.pack_lens
            .lock()
            .expect("pack length cache poisoned")
            .clear();
    }

    /// Where a chunk is stored, if it is.
    pub fn lookup(&self, id: &ChunkId) -> Result<Option<Location>> {
        self.with_index(|s| s.lookup(id))
    }

    /// True when the store holds the chunk.
    pub fn contains(&self, id: &ChunkId) -> Result<bool> {
        Ok(self.lookup(id)?.is_some())
    }

    /// True when some copy of the chunk can be read back: the index names it and the pack
    /// holding that copy is a regular file long enough to contain it. An index entry alone
    /// proves nothing once packs were lost (disk damage, a manual clean-up, a partial
    /// restore): whatever decides that a file on disk may be replaced must ask this.
    pub fn readable(&self, id: &ChunkId) -> Result<bool> {
        let locs = self.with_index(|s| s.lookup_all(id))?;
        for loc in &locs {
            if let Some(len) = self.pack_len(&loc.pack)? {
                if loc.offset + u64::from(loc.stored_len) <= len {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn pack_len(&self, id: &PackId) -> Result<Option<u64>> {
        if let Some(len) = self
            .pack_lens
            .lock()
            .expect("pack length cache poisoned")
            .get(id)
        {
            return Ok(*len);
        }
        // Readable, not only present: a pack we may not open saves nothing.
        let len = sfs::readable_len(&self.pack_path(id))?;
        self.pack_lens
            .lock()
            .expect("pack length cache poisoned")
            .insert(*id, len);
        Ok(len)
    }
}
