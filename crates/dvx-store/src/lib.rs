//! The content-addressed object store of dvx: BLAKE3 ids, FastCDC chunking, chunks appended to
//! self-describing pack files, immutable sorted index files, and tree objects. `add`
//! zstd-compresses the chunks a cheap estimate says will shrink and stores the rest raw (the
//! store's `zstd_level`, [`pack::Policy`]); `push` compresses raw chunks on the way to a remote
//! (`remote_zstd_level`); a pack entry records which, so either kind reads back.
//!
//! The main types are [`Store`] (open/create a store, read verified chunks and trees),
//! [`StoreWriter`] (a write session that packs new chunks and publishes an index when finished),
//! the id types in [`id`], and [`ChunkerParams`]. Every write is atomic and every read is verified.
#![warn(missing_docs)]

pub mod backend;
pub mod chunker;
mod direct;
mod error;
pub mod fs;
/// The id types, from the `dvx-id` crate that the store shares with the manifest.
pub use dvx_id as id;
pub mod index;
pub mod pack;
mod store;

pub use backend::{too_large, Backend, BackendError, MemoryBackend, ObjectInfo};
pub use chunker::{chunk_batches, chunk_reader, ChunkerParams};
pub use error::{is_disk_full, Error, Result};
pub use id::{ChunkId, Digest, PackId, ParseIdError, TreeId};
pub use pack::{Compression, PackBuilder, PackEntry};
pub use store::{
    decode_tree_object, Location, Store, StoreConfig, StoreOptions, StoreWriter, WriteStats,
    MAX_TREE_LEN, MAX_TREE_OBJECT_LEN,
};
