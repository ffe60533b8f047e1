use std::path::PathBuf;

use crate::id::{ChunkId, PackId, TreeId};

/// True when an I/O error means the disk is full: `ENOSPC`, or whatever the platform reports
/// as [`std::io::ErrorKind::StorageFull`]. The one test every dvx crate applies, so a full
/// disk gets the same error and advice wherever it strikes.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ENOSPC) {
        return true;
    }
    e.kind() == std::io::ErrorKind::StorageFull
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the store. Integrity failures have their own variants.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system call failed on `path`.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we tried to do ("read", "write", "rename", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The disk is full while writing `path`.
    #[error("disk full while writing {path}: free some space and rerun the command (nothing was published half-written)")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// A chunk's bytes do not hash to its id.
    #[error("corrupt chunk {id} in pack {pack}: {detail}; run `dvx fsck`, then restore the pack from a remote or another clone")]
    CorruptChunk {
        /// The chunk.
        id: ChunkId,
        /// The pack holding it.
        pack: PackId,
        /// What was wrong.
        detail: String,
    },
    /// A pack file is malformed.
    #[error("corrupt pack file {path}: {detail}")]
    CorruptPack {
        /// The pack file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// An index file is malformed.
    #[error("corrupt index file {path}: {detail}; it can be rebuilt from the packs with `dvx fsck --repair`")]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A tree object does not hash to its id or cannot be decoded.
    #[error("corrupt tree object {id}: {detail}")]
    CorruptTree {
        /// The tree.
        id: TreeId,
        /// What was wrong.
        detail: String,
    },
    /// A chunk needed is not in the store.
    #[error("chunk {0} is missing from the store: fetch it from a remote (`dvx pull`) or re-add the data")]
    MissingChunk(ChunkId),
    /// A tree needed is not in the store.
    #[error("tree {0} is missing from the store: fetch it from a remote (`dvx pull`) or re-add the data")]
    MissingTree(TreeId),
    /// The store's config.toml is missing or invalid.
    #[error("invalid store config {path}: {detail}")]
    BadConfig {
        /// The config file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A hex id could not be parsed.
    #[error("invalid id `{0}`: expected 64 hexadecimal characters")]
    BadId(String),
}

impl From<crate::id::ParseIdError> for Error {
    fn from(e: crate::id::ParseIdError) -> Error {
        Error::BadId(e.0)
    }
}

impl Error {
    /// Wraps an I/O error with the operation and path, turning a full disk (see
    /// [`is_disk_full`]) into [`Error::DiskFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        if is_disk_full(&source) {
            return Error::DiskFull { path };
        }
        Error::Io { op, path, source }
    }

    /// True when the error means stored data is damaged.
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            Error::CorruptChunk { .. }
                | Error::CorruptPack { .. }
                | Error::CorruptIndex { .. }
                | Error::CorruptTree { .. }
        )
    }
}
