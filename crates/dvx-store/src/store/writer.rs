//! Write sessions: [`StoreWriter`] appends new chunks to packs from many threads and publishes
//! their index when it finishes, or earlier, a part at a time, when a session stores many
//! chunks (so that its memory does not grow with them).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use super::Store;
use crate::error::Result;
use crate::fs as sfs;
use crate::id::{ChunkId, PackId};
use crate::index::{self, Location};
use crate::pack::{self, Compression, PackBuilder};

/// Number of index files above which a writer merges them into one.
pub(super) const MERGE_THRESHOLD: usize = 16;

/// Index entries a session holds before it seals its packs and publishes them (about 100
/// bytes each, plus the id in the session's set of chunks seen).
pub(super) const SPILL_AT: usize = 1 << 18;

/// Counters of one write session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Chunks offered.
    pub chunks: u64,
    /// Chunks that were new and got stored.
    pub new_chunks: u64,
    /// Uncompressed bytes of the new chunks.
    pub new_bytes: u64,
    /// Bytes written to packs for the new chunks.
    pub stored_bytes: u64,
    /// Packs written.
    pub packs: u64,
}

impl Store {
    /// Starts a write session.
    pub fn writer(&self) -> StoreWriter<'_> {
        self.writer_with_pack_size(self.config.pack_size)
    }

    /// Starts a write session that seals packs at `pack_size` bytes (downloads use smaller
    /// packs so that an interrupted transfer keeps more of what it received).
    pub fn writer_with_pack_size(&self, pack_size: u64) -> StoreWriter<'_> {
        StoreWriter {
            pack_size,
            direct: true,
            store: self,
            pack: Mutex::new(PackState::default()),
            seen: Mutex::new(HashSet::new()),
            stats: Mutex::new(WriteStats::default()),
            reused: Mutex::new(HashSet::new()),
            spill_at: SPILL_AT,
        }
    }
}

#[derive(Default)]
struct PackState {
    /// Packs open for appending and not in use by a thread, with their generation. Each
    /// appending thread takes one, writes outside the lock and puts it back, so threads
    /// never wait for each other's writes (and pack hashing runs on every core).
    free: Vec<(u64, PackBuilder)>,
    /// Generation of the newest pack: entries carry it until their pack's id is known.
    gen: u64,
    entries: Vec<(ChunkId, Location, u64)>,
    /// Packs being sealed (trailer, fsync, rename) in the background, by generation.
    sealing: Vec<(u64, std::thread::JoinHandle<Result<PackId>>)>,
    packs: u64,
    /// Whether index files were published before the end of the session.
    spilled: bool,
}

/// A write session: new chunks are appended to packs (compressed only when the store's
/// `zstd_level` asks for it, raw by default); [`StoreWriter::finish`]
/// seals the last pack and publishes one index file for everything written. A sealed pack is
/// usable by others even before its index exists (its trailer is read on open), but nothing
/// may reference the chunks (trees, pointers) before `finish` returns. Usable from many
/// threads at once.
pub struct StoreWriter<'s> {
    store: &'s Store,
    pack_size: u64,
    /// Packs are written around the page cache (see [`PackBuilder::new`]).
    direct: bool,
    pack: Mutex<PackState>,
    seen: Mutex<HashSet<ChunkId>>,
    stats: Mutex<WriteStats>,
    /// Existing packs this session deduplicated against: freshened at `finish` so that a
    /// concurrent gc's grace period protects them.
    reused: Mutex<HashSet<PackId>>,
    /// See [`SPILL_AT`].
    spill_at: usize,
}

impl StoreWriter<'_> {
    /// Writes packs through the page cache, for chunks that are read back right away (a
    /// fetch before a checkout): reading them back then costs no disk reads.
    pub fn cached(mut self) -> Self {
        self.direct = false;
        self
    }

    /// Whether this call is the one to store chunk `id`: neither this session nor the store
    /// has it. The session's set is asked first and claimed last: a spill publishes ids
    /// (store reloaded) before it drops them from the set, so an id is always in one or the
    /// other, and a chunk is never stored twice.
    fn claim(&self, id: &ChunkId) -> Result<bool> {
        if self.seen.lock().expect("seen poisoned").contains(id) || self.known(id)? {
            return Ok(false);
        }
        Ok(self.seen.lock().expect("seen poisoned").insert(*id))
    }

    /// Publishes the index entries held every `n` chunks instead of every [`SPILL_AT`].
    #[cfg(test)]
    pub(super) fn spilling_at(mut self, n: usize) -> Self {
        self.spill_at = n;
        self
    }

    /// True (and the pack noted for freshening) when the store already holds the chunk.
    fn known(&self, id: &ChunkId) -> Result<bool> {
        match self.store.lookup(id)? {
            Some(loc) => {
                // Freshen a reused pack right away (once per session), so a concurrent gc's
                // last age check, just before it deletes, sees it as young. A pack that an
                // index still names but that is gone (deleted by hand, or a crash of an old
                // gc) does not count: its chunks are stored again.
                let mut reused = self.reused.lock().expect("reused poisoned");
                if reused.contains(&loc.pack) {
                    return Ok(true);
                }
                let path = self.store.pack_path(&loc.pack);
                if !sfs::is_file(&path) {
                    return Ok(false);
                }
                reused.insert(loc.pack);
                drop(reused);
                self.store.freshen(&path);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// True when the store holds the chunk; its pack is then freshened (a cached file's
    /// chunks are reused without being read, and must be protected from gc all the same).
    pub fn reuse(&self, id: &ChunkId) -> Result<bool> {
        self.known(id)
    }

    /// Copies a chunk into this session's packs even though the store has it elsewhere
    /// (gc rewriting a mostly-dead pack). The caller must have verified it.
    pub fn copy_stored(
        &self,
        id: ChunkId,
        compression: Compression,
        stored: &[u8],
        raw_len: u32,
    ) -> Result<bool> {
        // Past a spill, an id copied before may be copied once more: a second copy, never a
        // lost one.
        if !self.seen.lock().expect("seen poisoned").insert(id) {
            return Ok(false);
        }
        self.append(id, compression, stored, raw_len)?;
        Ok(true)
    }

    /// Stores `data` as a chunk unless the store (or this session) has it. Returns its id.
    pub fn add_chunk(&self, data: &[u8]) -> Result<ChunkId> {
        let id = ChunkId::of(data);
        self.add_chunk_with_id(id, data)?;
        Ok(id)
    }

    /// Like [`StoreWriter::add_chunk`] with the id already computed. Returns true if stored.
    pub fn add_chunk_with_id(&self, id: ChunkId, data: &[u8]) -> Result<bool> {
        Ok(self.add_chunk_opts(id, data, true)?.is_some())
    }

    /// Stores a chunk unless known; `try_compress: false` stores it raw without trying (the
    /// caller saw that this content does not compress). Returns None when the chunk was
    /// already stored, else whether it was stored compressed.
    pub fn add_chunk_opts(
        &self,
        id: ChunkId,
        data: &[u8],
        try_compress: bool,
    ) -> Result<Option<bool>> {
        self.stats.lock().expect("stats poisoned").chunks += 1;
        if !self.claim(&id)? {
            return Ok(None);
        }
        let raw_len = u32::try_from(data.len())
            .expect("a chunk is at most pack::MAX_CHUNK_LEN bytes, far below 4 GiB");
        let level = match try_compress {
            true => pack::Policy::of_level(self.store.config.zstd_level).level_for(data),
            false => None,
        };
        let (compression, stored) = pack::encode_chunk(data, level.unwrap_or(0));
        self.append(id, compression, &stored, raw_len)?;
        Ok(Some(compression == Compression::Zstd))
    }

    /// Stores a chunk exactly as it was stored elsewhere (already compressed), which the
    /// caller found missing from the store just before (fetch sorts the chunks it needs
    /// first) and has verified (see [`pack::decode_chunk`]). Returns true if it was new to
    /// this session. The store is not asked again: that would look the id up in every index
    /// file this session has published so far, a cost that grows with the fetch. A chunk
    /// another process stored meanwhile is kept twice, a second copy as after a spill, never
    /// a lost one.
    pub fn add_missing(
        &self,
        id: ChunkId,
        compression: Compression,
        stored: &[u8],
        raw_len: u32,
    ) -> Result<bool> {
        self.stats.lock().expect("stats poisoned").chunks += 1;
        self.copy_stored(id, compression, stored, raw_len)
    }

    fn append(
        &self,
        id: ChunkId,
        compression: Compression,
        stored: &[u8],
        raw_len: u32,
    ) -> Result<()> {
        let taken = self.pack.lock().expect("pack lock poisoned").free.pop();
        let (gen, mut builder) = match taken {
            Some(b) => b,
            None => {
                let b = PackBuilder::new(&self.store.packs_dir(), self.direct)?;
                let mut st = self.pack.lock().expect("pack lock poisoned");
                st.gen += 1;
                (st.gen, b)
            }
        };
        // The write happens outside the lock. On error (disk full...) the pack is abandoned:
        // dropping the builder removes its temporary file, and the chunks it held are
        // forgotten, so `finish` still seals and indexes every other pack of the session.
        let entry = match builder.append(id, compression, stored, raw_len) {
            Ok(e) => e,
            Err(e) => {
                drop(builder);
                let mut st = self.pack.lock().expect("pack lock poisoned");
                let mut seen = self.seen.lock().expect("seen poisoned");
                seen.remove(&id);
                st.entries.retain(|x| {
                    if x.2 == gen {
                        seen.remove(&x.0);
                    }
                    x.2 != gen
                });
                return Err(e);
            }
        };
        let full = builder.len() >= self.pack_size;
        let mut st = self.pack.lock().expect("pack lock poisoned");
        // The pack is filled in when it is sealed and its id is known.
        st.entries
            .push((id, Location::of(PackId([0; 32]), &entry), gen));
        if full {
            // Seal in the background: fsync must not stall the threads that keep appending.
            let dir = self.store.packs_dir();
            let handle = std::thread::spawn(move || builder.finish(&dir).map(|(id, _)| id));
            st.sealing.push((gen, handle));
        } else {
            st.free.push((gen, builder));
        }
        if st.entries.len() >= self.spill_at {
            self.spill(&mut st)?;
        }
        drop(st);
        let mut s = self.stats.lock().expect("stats poisoned");
        s.new_chunks += 1;
        s.new_bytes += raw_len as u64;
        s.stored_bytes += stored.len() as u64;
        Ok(())
    }

    /// Publishes the entries held so far: seals the packs no thread is appending to, writes
    /// an index of their entries, and forgets them (lookups find them in the store now).
    /// Entries of packs other threads are appending to stay for the next time.
    fn spill(&self, st: &mut PackState) -> Result<()> {
        let dir = self.store.packs_dir();
        let ids = Self::seal_some(st, &dir)?;
        let (done, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut st.entries)
            .into_iter()
            .partition(|e| ids.contains_key(&e.2));
        st.entries = kept;
        let done: Vec<(ChunkId, Location)> = done
            .into_iter()
            .map(|(c, mut l, gen)| {
                l.pack = ids[&gen];
                (c, l)
            })
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        let published: Vec<ChunkId> = done.iter().map(|e| e.0).collect();
        index::write_index(&self.store.index_dir(), done)?;
        st.spilled = true;
        // Reloaded before the ids leave `seen`, so that they stay known (see `claim`).
        self.store.reload();
        let mut seen = self.seen.lock().expect("seen poisoned");
        for c in &published {
            seen.remove(c);
        }
        Ok(())
    }

    /// Seals the packs not in use by a thread and waits for every pack being sealed.
    /// Returns the pack id of each generation sealed.
    fn seal_some(st: &mut PackState, packs_dir: &Path) -> Result<HashMap<u64, PackId>> {
        let mut ids: HashMap<u64, PackId> = HashMap::new();
        let mut first_err = None;
        for (gen, b) in st.free.drain(..) {
            match b.finish(packs_dir) {
                Ok((id, _)) => {
                    ids.insert(gen, id);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        for (gen, h) in st.sealing.drain(..) {
            match h.join().expect("pack sealing thread panicked") {
                Ok(id) => {
                    ids.insert(gen, id);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        st.packs += ids.len() as u64;
        match first_err {
            Some(e) => Err(e),
            None => Ok(ids),
        }
    }

    /// Seals the open packs, waits for every pack being sealed, and fills in pack ids.
    fn seal_all(st: &mut PackState, packs_dir: &Path) -> Result<()> {
        let ids = Self::seal_some(st, packs_dir)?;
        for e in st.entries.iter_mut() {
            e.1.pack = *ids.get(&e.2).expect("every generation was sealed");
        }
        Ok(())
    }

    /// Seals the last pack and publishes the index. Returns the session's counters.
    pub fn finish(self) -> Result<WriteStats> {
        for p in self.reused.into_inner().expect("reused poisoned") {
            self.store.freshen(&self.store.pack_path(&p));
        }
        let mut st = self.pack.into_inner().expect("pack lock poisoned");
        Self::seal_all(&mut st, &self.store.packs_dir())?;
        let mut stats = self.stats.into_inner().expect("stats poisoned");
        stats.packs = st.packs;
        if !st.entries.is_empty() || st.spilled {
            if !st.entries.is_empty() {
                let entries: Vec<(ChunkId, Location)> =
                    st.entries.into_iter().map(|(c, l, _)| (c, l)).collect();
                index::write_index(&self.store.index_dir(), entries)?;
            }
            self.store.merge_indexes(MERGE_THRESHOLD)?;
            // Later lookups read the index files again, the new one included, rather than
            // keep a second copy of the session's entries in a map.
            self.store.reload();
        }
        Ok(stats)
    }
}
