//! The local store: a directory holding `config.toml`, `packs/`, `index/` and `trees/`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::chunker::ChunkerParams;
use crate::error::{Error, Result};
use crate::fs::{self as sfs, TMP_PREFIX};
use crate::id::{ChunkId, PackId, TreeId};
pub use crate::index::Location;
use crate::index::{self, IndexFile};
use crate::pack::{self, Compression, PackBuilder};

/// Store format version written to `config.toml`.
pub const STORE_FORMAT: u32 = 1;
const TREE_MAGIC: &[u8; 8] = b"DVXTOBJ\0";
const TREE_HEADER_LEN: usize = 24;
/// Upper bound of a decoded tree object (guards decompression of untrusted data).
pub const MAX_TREE_LEN: u64 = 1 << 30;
/// Upper bound of a stored tree object file (header + payload): the payload is compressed only
/// when that makes it smaller, so it is never longer than [`MAX_TREE_LEN`]. Every read of a
/// tree object, local or remote, is capped at this size before anything is allocated.
pub const MAX_TREE_OBJECT_LEN: u64 = TREE_HEADER_LEN as u64 + MAX_TREE_LEN;
/// Number of index files above which a writer merges them into one.
const MERGE_THRESHOLD: usize = 16;
const MAX_OPEN_PACKS: usize = 128;
/// Threads writing tree objects at once (they mostly wait for fsync).
const TREE_WRITE_THREADS: usize = 8;

/// Tunables chosen when a store is created. They are then recorded in its config and fixed.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Chunk size limits.
    pub chunker: ChunkerParams,
    /// Target pack size in bytes; a pack is closed once it reaches this size.
    pub pack_size: u64,
    /// zstd level for chunks stored by `add` (0: stored raw).
    pub zstd_level: i32,
    /// zstd level for raw chunks sent to a remote by `push` (0: sent raw).
    pub remote_zstd_level: i32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            chunker: ChunkerParams::default(),
            // ~64 MiB: few enough objects for remotes and directory listings, small enough
            // that rewriting a mostly-dead pack in gc is cheap.
            pack_size: 64 << 20,
            // Raw: compression was 40% of `add`'s CPU (zstd level 1 runs at ~380 MB/s on
            // CSV), so the local store keeps chunks as they are, like a working copy, and
            // `push` compresses what it sends (remotes are where bytes cost: network,
            // storage bills). Checkout of local data then never decompresses.
            zstd_level: 0,
            // Level 1: about twice as fast as zstd's default (3) for a slightly lower ratio
            // (CSV still compresses ~3x).
            remote_zstd_level: 1,
        }
    }
}

/// The store's `config.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Store format version.
    pub format: u32,
    /// Chunk size limits (never changed after creation).
    pub chunker: ChunkerParams,
    /// Target pack size in bytes.
    pub pack_size: u64,
    /// zstd level for chunks stored by `add` (0: raw).
    pub zstd_level: i32,
    /// zstd level for raw chunks `push` sends (0: raw). Stores made before this setting
    /// existed get 1.
    #[serde(default = "default_remote_zstd_level")]
    pub remote_zstd_level: i32,
}

fn default_remote_zstd_level() -> i32 {
    1
}

impl StoreConfig {
    /// Parses and validates the text of a store's `config.toml` (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<StoreConfig> {
        let bad = |detail: String| Error::BadConfig {
            path: path.to_path_buf(),
            detail,
        };
        let cfg: StoreConfig = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if cfg.format != STORE_FORMAT {
            return Err(bad(format!(
                "store format {} is not supported (this dvx supports {STORE_FORMAT}); upgrade dvx",
                cfg.format
            )));
        }
        cfg.chunker.validate().map_err(bad)?;
        if !(1 << 20..=4 << 30).contains(&cfg.pack_size) {
            return Err(bad(format!(
                "pack_size {} must be between 1 MiB and 4 GiB",
                cfg.pack_size
            )));
        }
        for (name, level) in [
            ("zstd_level", cfg.zstd_level),
            ("remote_zstd_level", cfg.remote_zstd_level),
        ] {
            if !(0..=22).contains(&level) {
                return Err(bad(format!("{name} {level} must be between 0 and 22")));
            }
        }
        Ok(cfg)
    }
}

#[derive(Default)]
struct IndexSet {
    files: Vec<IndexFile>,
    names: HashSet<PathBuf>,
    /// Chunks of packs no index lists (a writer died before publishing its index) and of
    /// this process's finished write sessions.
    extra: HashMap<ChunkId, Location>,
}

impl IndexSet {
    fn lookup(&self, id: &ChunkId) -> Result<Option<Location>> {
        if let Some(l) = self.extra.get(id) {
            return Ok(Some(*l));
        }
        for f in &self.files {
            if let Some(l) = f.lookup(id)? {
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    /// Every known location of a chunk (it may sit in several packs).
    fn lookup_all(&self, id: &ChunkId) -> Result<Vec<Location>> {
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

/// A dvx object store on the local file system. Safe to share between threads; several
/// processes may write to one store at once (all names are content hashes, all writes atomic).
pub struct Store {
    root: PathBuf,
    config: StoreConfig,
    index: RwLock<Option<IndexSet>>,
    files: Mutex<HashMap<PackId, Arc<File>>>,
    /// Length of each pack file looked at by [`Store::readable`]; `None`: absent or not a
    /// regular file.
    pack_lens: Mutex<HashMap<PackId, Option<u64>>>,
}

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
    /// True when `root` holds a store.
    pub fn exists(root: &Path) -> bool {
        root.join("config.toml").is_file()
    }

    /// Opens the store at `root`, creating it with `opts` if it does not exist yet.
    pub fn open_or_create(root: &Path, opts: &StoreOptions) -> Result<Store> {
        if !Store::exists(root) {
            for sub in ["packs", "index", "trees"] {
                sfs::create_dir_all(&root.join(sub))?;
            }
            let cfg = StoreConfig {
                format: STORE_FORMAT,
                chunker: opts.chunker,
                pack_size: opts.pack_size,
                zstd_level: opts.zstd_level,
                remote_zstd_level: opts.remote_zstd_level,
            };
            let text = toml::to_string(&cfg).map_err(|e| Error::BadConfig {
                path: root.join("config.toml"),
                detail: e.to_string(),
            })?;
            let text = format!(
                "# dvx store configuration. The chunker settings are fixed for the life of the store.\n{text}"
            );
            // Two processes creating the store at once write the same config; the rename
            // makes either one win whole.
            if !Store::exists(root) {
                sfs::write_atomic(&root.join("config.toml"), text.as_bytes())?;
            }
        }
        Store::open(root)
    }

    /// Opens an existing store.
    pub fn open(root: &Path) -> Result<Store> {
        let cfg_path = root.join("config.toml");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::BadConfig {
                    path: cfg_path.clone(),
                    detail: "no store here (config.toml is missing); run `dvx init`".into(),
                }
            } else {
                Error::io("read", &cfg_path, e)
            }
        })?;
        let config = StoreConfig::parse(&cfg_path, &text)?;
        for sub in ["packs", "index", "trees"] {
            sfs::create_dir_all(&root.join(sub))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            config,
            index: RwLock::new(None),
            files: Mutex::new(HashMap::new()),
            pack_lens: Mutex::new(HashMap::new()),
        })
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// `packs/` directory.
    pub fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    /// `index/` directory.
    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }

    /// `trees/` directory.
    pub fn trees_dir(&self) -> PathBuf {
        self.root.join("trees")
    }

    /// Path of a pack file.
    pub fn pack_path(&self, id: &PackId) -> PathBuf {
        pack::pack_path(&self.packs_dir(), id)
    }

    /// Path of a tree object.
    pub fn tree_path(&self, id: &TreeId) -> PathBuf {
        let hex = id.to_hex();
        self.trees_dir().join(&hex[..2]).join(hex)
    }

    /// Every pack file present.
    pub fn list_packs(&self) -> Result<Vec<PackId>> {
        let mut out = Vec::new();
        for path in list_two_level(&self.packs_dir())? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(hex) = name.strip_suffix(".pack") {
                if let Ok(id) = hex.parse() {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every tree object present.
    pub fn list_trees(&self) -> Result<Vec<TreeId>> {
        let mut out = Vec::new();
        for path in list_two_level(&self.trees_dir())? {
            if let Some(Ok(id)) = path.file_name().and_then(|n| n.to_str()).map(str::parse) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every index file present.
    pub fn list_index_files(&self) -> Result<Vec<PathBuf>> {
        let dir = self.index_dir();
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| Error::io("list", &dir, e))?;
            let p = ent.path();
            if p.extension().is_some_and(|e| e == "idx") {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    fn load_index(&self) -> Result<IndexSet> {
        let mut set = IndexSet::default();
        // Another process may merge (and delete) index files while we list them: retry then.
        'outer: for attempt in 0..5 {
            set = IndexSet::default();
            for path in self.list_index_files()? {
                match IndexFile::open(&path) {
                    Ok(f) => {
                        set.names.insert(path);
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
                    set.extra.entry(e.id).or_insert(Location {
                        pack: id,
                        offset: e.offset,
                        stored_len: e.stored_len,
                        raw_len: e.raw_len,
                        compression: e.compression,
                    });
                }
            }
        }
        Ok(set)
    }

    fn with_index<T>(&self, f: impl FnOnce(&IndexSet) -> Result<T>) -> Result<T> {
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
        let path = self.pack_path(id);
        let len = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                // Readable, not only present: a pack we may not open saves nothing.
                match File::open(&path) {
                    Ok(_) => Some(m.len()),
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
                    Err(e) => return Err(Error::io("open pack", &path, e)),
                }
            }
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("stat", &path, e)),
        };
        self.pack_lens
            .lock()
            .expect("pack length cache poisoned")
            .insert(*id, len);
        Ok(len)
    }

    fn pack_file(&self, id: &PackId) -> Result<Arc<File>> {
        let mut files = self.files.lock().expect("file cache poisoned");
        if let Some(f) = files.get(id) {
            return Ok(f.clone());
        }
        if files.len() >= MAX_OPEN_PACKS {
            files.clear();
        }
        let path = self.pack_path(id);
        // Not a plain open: a FIFO or device in place of a pack must fail, not block.
        let (f, _) = sfs::open_regular(&path).map_err(|e| Error::io("open pack", &path, e))?;
        let f = Arc::new(f);
        files.insert(*id, f.clone());
        Ok(f)
    }

    /// Reads a chunk and verifies it against its id.
    pub fn read_chunk(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let locs = self.with_index(|s| s.lookup_all(id))?;
        let mut first_err = None;
        // A chunk stored twice survives the loss or damage of one copy: try each.
        for loc in &locs {
            match self.read_chunk_at(id, loc) {
                Ok(data) => return Ok(data),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(Error::MissingChunk(*id)))
    }

    /// Reads a chunk at a known location and verifies it.
    pub fn read_chunk_at(&self, id: &ChunkId, loc: &Location) -> Result<Vec<u8>> {
        let file = self.pack_file(&loc.pack)?;
        let mut stored = vec![0u8; loc.stored_len as usize];
        let path = self.pack_path(&loc.pack);
        sfs::read_exact_at(&file, &path, &mut stored, loc.offset).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                Error::CorruptChunk {
                    id: *id,
                    pack: loc.pack,
                    detail: "pack file is truncated".into(),
                }
            }
            e => e,
        })?;
        let entry = pack::PackEntry {
            id: *id,
            offset: loc.offset,
            stored_len: loc.stored_len,
            raw_len: loc.raw_len,
            compression: loc.compression,
        };
        pack::decode_chunk_owned(&entry, &loc.pack, stored)
    }

    /// The stored (possibly compressed) bytes of a chunk, unverified; see [`pack::decode_chunk`].
    pub fn read_stored(&self, loc: &Location) -> Result<Vec<u8>> {
        let file = self.pack_file(&loc.pack)?;
        let mut stored = vec![0u8; loc.stored_len as usize];
        sfs::read_exact_at(&file, &self.pack_path(&loc.pack), &mut stored, loc.offset)?;
        Ok(stored)
    }

    /// Asks the kernel to start reading `len` bytes of a pack at `offset` into the page cache
    /// (advice: it does not wait, and a failure changes nothing but speed). Packs are written
    /// around the page cache, so a reader that knows what it reads next (push) overlaps the
    /// disk reads with its work.
    pub fn will_need(&self, pack: &PackId, offset: u64, len: u64) {
        if let Ok(file) = self.pack_file(pack) {
            let _ = rustix::fs::fadvise(
                &*file,
                offset,
                std::num::NonZeroU64::new(len),
                rustix::fs::Advice::WillNeed,
            );
        }
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
        self.tree_path(id).is_file()
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

    /// Marks an object as recently used by setting its mtime to now (when it is older than
    /// ten minutes), so that gc's grace period covers objects a running command relies on.
    /// Best effort: a read-only store is left alone.
    pub fn freshen(&self, path: &Path) {
        let now = std::time::SystemTime::now();
        let stale = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60));
        if stale {
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
                let _ = f.set_modified(now);
            }
        }
    }

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
        }
    }

    /// Merges all index files into one when there are more than `threshold`.
    pub fn merge_indexes(&self, threshold: usize) -> Result<()> {
        let paths = self.list_index_files()?;
        if paths.len() <= threshold {
            return Ok(());
        }
        let mut all = Vec::new();
        let mut inputs = Vec::new();
        for p in paths {
            match IndexFile::open(&p) {
                Ok(f) => {
                    all.extend(f.entries()?);
                    inputs.push(p);
                }
                // Merged away by a concurrent writer: its entries are in the merged file.
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let merged = index::write_index(&self.index_dir(), all)?;
        for p in inputs {
            if p != merged {
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &p, e)),
                }
            }
        }
        sfs::sync_dir(&self.index_dir())?;
        self.reload();
        Ok(())
    }

    /// Replaces every index file by one that lists the same chunks minus those in `doomed`
    /// packs (gc calls this before deleting them). Index files written concurrently, after
    /// the listing, are left alone.
    pub fn reindex_without(&self, doomed: &HashSet<PackId>) -> Result<()> {
        let old = self.list_index_files()?;
        let mut entries = Vec::new();
        for p in &old {
            match IndexFile::open(p) {
                Ok(f) => entries.extend(
                    f.entries()?
                        .into_iter()
                        .filter(|(_, l)| !doomed.contains(&l.pack)),
                ),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                // A damaged index is replaced too; its packs stay readable via their trailers.
                Err(Error::CorruptIndex { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let merged = if entries.is_empty() {
            None
        } else {
            Some(index::write_index(&self.index_dir(), entries)?)
        };
        for p in old {
            if Some(&p) != merged.as_ref() {
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &p, e)),
                }
            }
        }
        sfs::sync_dir(&self.index_dir())?;
        self.reload();
        Ok(())
    }

    /// Rebuilds the index from the pack trailers alone: writes one index covering every
    /// readable pack and removes the old index files. Returns the packs that could not be read.
    pub fn rebuild_index(&self) -> Result<Vec<(PackId, Error)>> {
        let mut all = Vec::new();
        let mut bad = Vec::new();
        for id in self.list_packs()? {
            let path = self.pack_path(&id);
            let res = sfs::open(&path).and_then(|f| pack::read_trailer(&f, &path));
            match res {
                Ok(entries) => all.extend(entries.into_iter().map(|e| {
                    (
                        e.id,
                        Location {
                            pack: id,
                            offset: e.offset,
                            stored_len: e.stored_len,
                            raw_len: e.raw_len,
                            compression: e.compression,
                        },
                    )
                })),
                Err(e) => bad.push((id, e)),
            }
        }
        let old = self.list_index_files()?;
        let merged = index::write_index(&self.index_dir(), all)?;
        for p in old {
            if p != merged {
                let _ = std::fs::remove_file(&p);
            }
        }
        sfs::sync_dir(&self.index_dir())?;
        self.reload();
        Ok(bad)
    }

    /// Removes leftovers of interrupted writes older than `min_age` (temporary files).
    pub fn clean_temp_files(&self, min_age: std::time::Duration) -> Result<u64> {
        let mut removed = 0;
        let now = std::time::SystemTime::now();
        let mut dirs = vec![self.packs_dir(), self.index_dir(), self.trees_dir()];
        for d in [self.packs_dir(), self.trees_dir()] {
            if let Ok(rd) = std::fs::read_dir(&d) {
                dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        for d in dirs {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name();
                if !name.to_string_lossy().starts_with(TMP_PREFIX) {
                    continue;
                }
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age >= min_age);
                if old && std::fs::remove_file(e.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
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

fn list_two_level(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for sub in rd {
        let sub = sub.map_err(|e| Error::io("list", dir, e))?;
        let p = sub.path();
        if !p.is_dir() {
            continue;
        }
        let rd2 = std::fs::read_dir(&p).map_err(|e| Error::io("list", &p, e))?;
        for ent in rd2 {
            let ent = ent.map_err(|e| Error::io("list", &p, e))?;
            if !ent.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                out.push(ent.path());
            }
        }
    }
    Ok(out)
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
}

/// A write session: new chunks are compressed and appended to packs; [`StoreWriter::finish`]
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
}

impl StoreWriter<'_> {
    /// Writes packs through the page cache, for chunks that are read back right away (a
    /// fetch before a checkout): reading them back then costs no disk reads.
    pub fn cached(mut self) -> Self {
        self.direct = false;
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
                if !path.is_file() {
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
        if self.known(&id)? || !self.seen.lock().expect("seen poisoned").insert(id) {
            return Ok(None);
        }
        let raw_len = u32::try_from(data.len()).expect("chunks are at most 256 MiB");
        let level = if try_compress {
            self.store.config.zstd_level
        } else {
            0
        };
        let (compression, stored) = pack::encode_chunk(data, level);
        self.append(id, compression, &stored, raw_len)?;
        Ok(Some(compression == Compression::Zstd))
    }

    /// Stores a chunk exactly as it was stored elsewhere (already compressed). The caller
    /// must have verified it (see [`pack::decode_chunk`]). Returns true if it was new.
    pub fn add_stored(
        &self,
        id: ChunkId,
        compression: Compression,
        stored: &[u8],
        raw_len: u32,
    ) -> Result<bool> {
        self.stats.lock().expect("stats poisoned").chunks += 1;
        if self.known(&id)? || !self.seen.lock().expect("seen poisoned").insert(id) {
            return Ok(false);
        }
        self.append(id, compression, stored, raw_len)?;
        Ok(true)
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
        st.entries.push((
            id,
            Location {
                // Filled in when the pack is sealed and its id is known.
                pack: PackId([0; 32]),
                offset: entry.offset,
                stored_len: entry.stored_len,
                raw_len,
                compression,
            },
            gen,
        ));
        if full {
            // Seal in the background: fsync must not stall the threads that keep appending.
            let dir = self.store.packs_dir();
            let handle = std::thread::spawn(move || builder.finish(&dir).map(|(id, _)| id));
            st.sealing.push((gen, handle));
        } else {
            st.free.push((gen, builder));
        }
        drop(st);
        let mut s = self.stats.lock().expect("stats poisoned");
        s.new_chunks += 1;
        s.new_bytes += raw_len as u64;
        s.stored_bytes += stored.len() as u64;
        Ok(())
    }

    /// Seals the open packs, waits for every pack being sealed, and fills in pack ids.
    fn seal_all(st: &mut PackState, packs_dir: &Path) -> Result<()> {
        let mut ids: HashMap<u64, PackId> = HashMap::new();
        for (gen, b) in st.free.drain(..) {
            ids.insert(gen, b.finish(packs_dir)?.0);
        }
        let mut first_err = None;
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
        if let Some(e) = first_err {
            return Err(e);
        }
        for e in st.entries.iter_mut() {
            e.1.pack = *ids.get(&e.2).expect("every generation was sealed");
        }
        st.packs += ids.len() as u64;
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
        if !st.entries.is_empty() {
            let entries: Vec<(ChunkId, Location)> =
                st.entries.into_iter().map(|(c, l, _)| (c, l)).collect();
            index::write_index(&self.store.index_dir(), entries.clone())?;
            self.store.merge_indexes(MERGE_THRESHOLD)?;
            let mut guard = self.store.index.write().expect("index lock poisoned");
            if let Some(set) = guard.as_mut() {
                set.extra.extend(entries);
            }
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    }

    fn small_opts() -> StoreOptions {
        StoreOptions {
            pack_size: 1 << 20,
            zstd_level: 1,
            ..StoreOptions::default()
        }
    }

    #[test]
    fn write_read_round_trip_across_packs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_or_create(dir.path(), &small_opts()).expect("create");
        let w = store.writer();
        let chunks: Vec<Vec<u8>> = (0..40).map(|i| random(100_000, i)).collect();
        let mut ids = Vec::new();
        for c in &chunks {
            ids.push(w.add_chunk(c).expect("add"));
        }
        // Duplicates are not stored twice.
        w.add_chunk(&chunks[0]).expect("add dup");
        let stats = w.finish().expect("finish");
        assert_eq!(stats.new_chunks, 40);
        assert!(stats.packs >= 3, "{stats:?}");
        let reopened = Store::open(dir.path()).expect("open");
        for (c, id) in chunks.iter().zip(&ids) {
            assert_eq!(&reopened.read_chunk(id).expect("read"), c);
        }
        assert!(matches!(
            reopened.read_chunk(&ChunkId::of(b"nope")),
            Err(Error::MissingChunk(_))
        ));
    }

    #[test]
    fn compressible_chunks_are_compressed_and_flips_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_or_create(dir.path(), &small_opts()).expect("create");
        let w = store.writer();
        let text = "a,b,c,1,2,3\n".repeat(5000).into_bytes();
        let id = w.add_chunk(&text).expect("add");
        let stats = w.finish().expect("finish");
        assert!(stats.stored_bytes < stats.new_bytes / 4, "{stats:?}");
        let loc = store.lookup(&id).expect("lookup").expect("present");
        assert_eq!(loc.compression, Compression::Zstd);
        let path = store.pack_path(&loc.pack);
        let mut bytes = std::fs::read(&path).expect("read pack");
        bytes[loc.offset as usize + 10] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write pack");
        let fresh = Store::open(dir.path()).expect("open");
        let err = fresh.read_chunk(&id).expect_err("corruption detected");
        assert!(err.is_integrity(), "{err}");
        assert!(err.to_string().contains(&id.to_hex()));
    }

    #[test]
    fn unindexed_pack_is_found_and_index_rebuilds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_or_create(dir.path(), &small_opts()).expect("create");
        let w = store.writer();
        let data = random(50_000, 9);
        let id = w.add_chunk(&data).expect("add");
        w.finish().expect("finish");
        for p in store.list_index_files().expect("list") {
            std::fs::remove_file(p).expect("rm");
        }
        let fresh = Store::open(dir.path()).expect("open");
        assert_eq!(fresh.read_chunk(&id).expect("read"), data);
        assert!(fresh.rebuild_index().expect("rebuild").is_empty());
        assert_eq!(fresh.list_index_files().expect("list").len(), 1);
        assert_eq!(
            Store::open(dir.path())
                .expect("open")
                .read_chunk(&id)
                .expect("read"),
            data
        );
    }

    #[test]
    fn trees_round_trip_and_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_or_create(dir.path(), &small_opts()).expect("create");
        let bytes = b"tree bytes".repeat(100);
        let id = store.write_tree(&bytes).expect("write");
        assert_eq!(store.read_tree(&id).expect("read"), bytes);
        let path = store.tree_path(&id);
        let mut raw = std::fs::read(&path).expect("read");
        let n = raw.len();
        raw[n - 1] ^= 1;
        std::fs::write(&path, raw).expect("write");
        assert!(store.read_tree(&id).is_err());
        assert!(matches!(
            store.read_tree(&TreeId::of(b"x")),
            Err(Error::MissingTree(_))
        ));
    }

    #[test]
    fn bad_config_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.toml"), "format = 1\nchunker = 3\n").expect("write");
        let err = Store::open(dir.path()).err().expect("rejected");
        assert!(err.to_string().contains("config.toml"), "{err}");
    }

    #[test]
    fn many_sessions_merge_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_or_create(dir.path(), &small_opts()).expect("create");
        let mut ids = Vec::new();
        for i in 0..20 {
            let w = store.writer();
            ids.push(w.add_chunk(&random(1000, 100 + i)).expect("add"));
            w.finish().expect("finish");
        }
        assert!(store.list_index_files().expect("list").len() <= MERGE_THRESHOLD);
        let fresh = Store::open(dir.path()).expect("open");
        for id in ids {
            assert!(fresh.contains(&id).expect("lookup"));
        }
    }
}
