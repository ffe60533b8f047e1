//! Scanning a dataset on disk, hashing (and optionally storing) the files the stat cache
//! cannot vouch for: a walk into a temporary file first (`walk.rs`), then the entries in walk
//! order with the files read a batch at a time (`stream.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use dvx_manifest::ChunkRef;
use dvx_store::{ChunkerParams, Digest, Store, StoreWriter};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::fsx::os_bytes;
use crate::progress::Progress;
use crate::statcache::StatCache;
use crate::workspace::{Dataset, Workspace};

#[cfg(unix)]
mod dirwalk;
pub(crate) mod merge;
mod stream;
mod walk;

pub use stream::{scan_each, ScanEnd, Scanned};

/// Whether `path` lies below the directory `dir` (`/`-separated, relative).
pub(crate) fn is_below(path: &[u8], dir: &[u8]) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// One entry of a flattened dataset listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlatEntry {
    /// A regular file.
    File {
        /// Size in bytes.
        size: u64,
        /// BLAKE3 of the content.
        digest: Digest,
        /// Executable bit.
        executable: bool,
        /// Chunks (may be empty in listings built only for comparison).
        chunks: Vec<ChunkRef>,
    },
    /// A symbolic link.
    Symlink {
        /// Target bytes.
        target: Vec<u8>,
    },
    /// A directory.
    Dir,
}

impl FlatEntry {
    /// Size in bytes (0 for links and directories).
    pub fn size(&self) -> u64 {
        match self {
            FlatEntry::File { size, .. } => *size,
            _ => 0,
        }
    }

    /// True when both describe the same content, kind and mode.
    pub fn same_content(&self, other: &FlatEntry) -> bool {
        match (self, other) {
            (
                FlatEntry::File {
                    digest: a,
                    executable: ea,
                    ..
                },
                FlatEntry::File {
                    digest: b,
                    executable: eb,
                    ..
                },
            ) => a == b && ea == eb,
            (FlatEntry::Symlink { target: a }, FlatEntry::Symlink { target: b }) => a == b,
            (FlatEntry::Dir, FlatEntry::Dir) => true,
            _ => false,
        }
    }
}

/// Path (relative to the dataset base, `/`-separated bytes) -> entry. Directories included.
pub type Listing = BTreeMap<Vec<u8>, FlatEntry>;

/// Display form of a listing path: lossless, so distinct names stay distinct in reports.
pub fn rel_str(rel: &[u8]) -> String {
    crate::names::rel_string(rel)
}

/// Chunks and hashes one file; with a writer, new chunks are stored.
///
/// The chunks of each buffer fill are hashed (and compressed) in parallel while the file
/// digest runs over the buffer, so one large file uses every core. Content that does not
/// compress is detected and then only sampled (every 16th chunk is still tried).
pub fn hash_file(
    path: &Path,
    params: ChunkerParams,
    writer: Option<&StoreWriter<'_>>,
    progress: &dyn Progress,
) -> Result<(Digest, Vec<ChunkRef>, u64)> {
    let file = open_regular(path)?;
    hash_open_file(&file, path, params, writer, progress)
}

/// Opens the regular file at `path` for reading: never through a link at `path` itself and
/// never blocking on a FIFO swapped in; anything but a regular file is an error.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File> {
    #[cfg(unix)]
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::ENXIO) => changed_while_read(path),
                _ => Error::io("open", path, e),
            })?
    };
    #[cfg(windows)]
    let file = match crate::beneath::open_no_follow(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(changed_while_read(path)),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    if !meta.is_file() {
        return Err(changed_while_read(path));
    }
    Ok(file)
}

fn changed_while_read(path: &Path) -> Error {
    Error::Io {
        op: "read",
        path: path.to_path_buf(),
        source: std::io::Error::other(
            "it was replaced by something other than a regular file while dvx read it; rerun the command",
        ),
    }
}

/// [`hash_file`] of a file already open.
pub(crate) fn hash_open_file(
    file: &std::fs::File,
    path: &Path,
    params: ChunkerParams,
    writer: Option<&StoreWriter<'_>>,
    progress: &dyn Progress,
) -> Result<(Digest, Vec<ChunkRef>, u64)> {
    let size_hint = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut hasher = blake3::Hasher::new();
    let mut chunks = Vec::new();
    let mut skip_compression = false;
    let mut index = 0usize;
    let mut single: Option<dvx_store::ChunkId> = None;
    let total = dvx_store::chunk_batches(
        file,
        params,
        size_hint,
        |data, cuts| -> Result<()> {
            let region = &data[..cuts.last().map_or(0, |c| c.1)];
            let process =
                |(i, &(a, b)): (usize, &(usize, usize))| -> Result<(ChunkRef, Option<bool>)> {
                    let chunk = &data[a..b];
                    let id = dvx_store::ChunkId::of(chunk);
                    let try_compress = !skip_compression || (index + i) % 16 == 0;
                    let compressed = match writer {
                        Some(w) => w
                            .add_chunk_opts(id, chunk, try_compress)?
                            .filter(|_| try_compress),
                        None => None,
                    };
                    Ok((
                        ChunkRef {
                            id,
                            len: chunk.len() as u32,
                        },
                        compressed,
                    ))
                };
            // A file that is one chunk: its digest is that chunk's id (both are the BLAKE3 of
            // the same bytes), so hash it once. Most small files are one chunk.
            if index == 0 && cuts.len() == 1 && region.len() as u64 == size_hint {
                let (c, compressed) = process((0, &cuts[0]))?;
                let _ = compressed;
                single = Some(c.id);
                chunks.push(c);
                index = 1;
                progress.advance(region.len() as u64);
                return Ok(());
            }
            let results: Vec<Result<(ChunkRef, Option<bool>)>> = if cuts.len() >= 4 {
                let (_, r) = rayon::join(
                    || hasher.update(region),
                    || cuts.par_iter().enumerate().map(process).collect(),
                );
                r
            } else {
                hasher.update(region);
                cuts.iter().enumerate().map(process).collect()
            };
            let (mut tried, mut paid) = (0usize, 0usize);
            for r in results {
                let (c, compressed) = r?;
                if let Some(yes) = compressed {
                    tried += 1;
                    paid += usize::from(yes);
                }
                chunks.push(c);
            }
            if tried > 0 {
                skip_compression = paid == 0 && (skip_compression || tried >= 2);
            }
            index += cuts.len();
            progress.advance(region.len() as u64);
            Ok(())
        },
        |e| Error::io("read", path, e),
    )?;
    let digest = match single {
        Some(id) if chunks.len() == 1 && total == size_hint => Digest(id.0),
        _ => {
            if single.is_some() {
                // The file grew after the first read: hash it whole after all.
                use std::io::Seek;
                let mut again = file;
                again.rewind().map_err(|e| Error::io("read", path, e))?;
                return hash_open_file(file, path, params, writer, progress);
            }
            Digest::from(hasher.finalize())
        }
    };
    Ok((digest, chunks, total))
}

/// Scans the dataset's files on disk into a listing (see [`scan_each`], which hands the
/// entries on one at a time instead of holding them all).
pub fn scan_dataset(
    ws: &Workspace,
    ds: &Dataset,
    store: &Store,
    cache: &StatCache,
    writer: Option<&StoreWriter<'_>>,
    progress: &dyn Progress,
) -> Result<Listing> {
    let mut listing = Listing::new();
    scan_each(
        ws,
        ds,
        store.config().chunker,
        cache,
        writer,
        progress,
        &mut |s| {
            listing.insert(s.rel, s.entry);
            Ok(())
        },
    )?;
    Ok(listing)
}

/// Whether `name` is one of dvx's temporary names (a name that is not Unicode is not).
fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    os_bytes(name).is_ok_and(|n| n.starts_with(dvx_store::fs::TMP_PREFIX.as_bytes()))
}

/// True when a temporary file name (`.dvx-tmp-<pid>-...`) belongs to a process that is gone.
pub fn is_stale_temp(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(pid) = name
        .strip_prefix(dvx_store::fs::TMP_PREFIX)
        .and_then(|r| r.split('-').next())
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    // A recycled pid of another program does not keep a leftover alive.
    pid != std::process::id() && !crate::lock::is_dvx(pid)
}

/// Removes the temporary files of dead dvx processes directly in `dir` (a state directory:
/// what a process killed while writing a cache file there left behind).
pub(crate) fn remove_stale_temps(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if is_stale_temp(&e.path()) {
                // Another process may have removed it first; a cache directory it is.
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
