//! The store's tunables: [`StoreOptions`] chosen at creation, recorded in `config.toml` as
//! [`StoreConfig`] and fixed for the life of the store.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chunker::ChunkerParams;
use crate::error::{Error, Result};

/// Store format version written to `config.toml`.
pub const STORE_FORMAT: u32 = 1;

/// Tunables chosen when a store is created. They are then recorded in its config and fixed.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Chunk size limits.
    pub chunker: ChunkerParams,
    /// Target pack size in bytes; a pack is closed once it reaches this size.
    pub pack_size: u64,
    /// How `add` compresses chunks: 0 (the default) those that look compressible, at level 1;
    /// 1..=22 every chunk at that level; -1 none ([`crate::pack::Policy`]).
    pub zstd_level: i32,
    /// zstd level for raw chunks sent to a remote by `push` (0: sent raw).
    pub remote_zstd_level: i32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            chunker: ChunkerParams::default(),
            // Few enough objects for remotes and directory listings, small enough that
            // rewriting a mostly-dead pack in gc is cheap.
            pack_size: 64 << 20,
            // Compress what a cheap sample says will shrink (text), store the rest raw:
            // compressing everything was a large share of `add`'s CPU, storing everything
            // raw made the store of text data many times its remote. See
            // docs/PERFORMANCE.md.
            zstd_level: 0,
            // zstd's fastest level: much faster than its default for a slightly lower ratio.
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
    /// How `add` compresses chunks (see [`StoreOptions::zstd_level`]).
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
        if !(-1..=22).contains(&cfg.zstd_level) {
            return Err(bad(format!(
                "zstd_level {} must be -1 (raw), 0 (compress what pays) or a level from 1 to 22",
                cfg.zstd_level
            )));
        }
        if !(0..=22).contains(&cfg.remote_zstd_level) {
            return Err(bad(format!(
                "remote_zstd_level {} must be between 0 and 22",
                cfg.remote_zstd_level
            )));
        }
        Ok(cfg)
    }
}
