//! The local store: a directory holding `config.toml`, `packs/`, `index/` and `trees/`.

mod config;
mod index_set;
mod maint;
mod read;
mod trees;
mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::fs as sfs;
use crate::id::{PackId, TreeId};
pub use crate::index::Location;
use crate::pack;

pub use config::{StoreConfig, StoreOptions, STORE_FORMAT};
use index_set::IndexSet;
pub use trees::{decode_tree_object, MAX_TREE_LEN, MAX_TREE_OBJECT_LEN};
pub use writer::{StoreWriter, WriteStats};

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

impl Store {
    /// True when `root` holds a store.
    pub fn exists(root: &Path) -> bool {
        sfs::is_file(&root.join("config.toml"))
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
        let text = sfs::read_to_string(&cfg_path).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::BadConfig {
                    path: cfg_path.clone(),
                    detail: "no store here (config.toml is missing); run `dvx init`".into(),
                }
            }
            e => e,
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

    /// Every pack file present.
    pub fn list_packs(&self) -> Result<Vec<PackId>> {
        let mut out = Vec::new();
        for path in sfs::list_two_level(&self.packs_dir())? {
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
        for path in sfs::list_two_level(&self.trees_dir())? {
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
        let mut out: Vec<PathBuf> = sfs::list_dir(&dir)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::writer::MERGE_THRESHOLD;
    use super::*;
    use crate::id::ChunkId;
    use crate::pack::Compression;
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
        // Every order: each lookup first asks the file of the last one's id.
        for id in ids
            .iter()
            .chain(ids.iter().rev())
            .chain(ids.iter().step_by(3))
        {
            assert!(fresh.contains(id).expect("lookup"));
        }
        assert!(!fresh
            .contains(&ChunkId::of(b"never stored"))
            .expect("lookup"));
    }

    #[test]
    fn a_long_session_publishes_its_index_as_it_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_or_create(dir.path(), &small_opts()).expect("create");
        let w = store.writer().spilling_at(100);
        let chunks: Vec<Vec<u8>> = (0..2000).map(|i| random(3000, 1000 + i)).collect();
        // From four threads, each chunk offered twice: stored once.
        let ids: Vec<ChunkId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (w, chunks) = (&w, &chunks);
                    s.spawn(move || {
                        let mut ids = Vec::new();
                        for c in chunks.iter().skip(t % 2).step_by(2) {
                            ids.push(w.add_chunk(c).expect("add"));
                        }
                        ids
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("thread"))
                .collect()
        });
        // Published before the session ends: readable through a store opened meanwhile.
        let meanwhile = Store::open(dir.path()).expect("open");
        let published = ids
            .iter()
            .filter(|id| meanwhile.contains(id).expect("lookup"))
            .count();
        assert!(published > 1000, "only {published} of 4000 published");
        let stats = w.finish().expect("finish");
        assert_eq!(stats.chunks, 4000);
        assert_eq!(stats.new_chunks, 2000);
        assert!(store.list_index_files().expect("list").len() <= MERGE_THRESHOLD);
        let fresh = Store::open(dir.path()).expect("open");
        for c in &chunks {
            assert_eq!(&fresh.read_chunk(&ChunkId::of(c)).expect("read"), c);
        }
        // Every chunk once in the index.
        let listed: usize = store
            .list_index_files()
            .expect("list")
            .iter()
            .map(|p| crate::index::IndexFile::open(p).expect("open").len())
            .sum();
        assert_eq!(listed, 2000);
    }
}
