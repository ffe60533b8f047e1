//! Scanning a dataset on disk into a flat listing, hashing (and optionally storing) the files
//! the stat cache cannot vouch for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dvx_manifest::ChunkRef;
use dvx_store::{ChunkerParams, Digest, Store, StoreWriter};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::fsx::{bytes_os, os_bytes, Stamp};
use crate::progress::{Progress, Unit};
use crate::statcache::{StatCache, StatKey};
use crate::workspace::{Dataset, Workspace};

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

/// The stat cache's key of a dataset file: its repo-relative path.
pub(crate) fn cache_key(dataset_base: &str, rel: &[u8]) -> Vec<u8> {
    let mut k = dataset_base.as_bytes().to_vec();
    if !k.is_empty() {
        k.push(b'/');
    }
    k.extend_from_slice(rel);
    k
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

struct Pending {
    rel: Vec<u8>,
    path: PathBuf,
    key: StatKey,
    executable: bool,
}

/// What a scan keeps of an entry's `lstat` until it visits the entry in path order: what it
/// decides by, not the whole `Metadata` (at a million files that is 170 MB).
#[derive(Clone, Copy)]
struct Walked {
    kind: WalkedKind,
    key: StatKey,
    executable: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WalkedKind {
    Dir,
    Symlink,
    File,
    Other,
}

impl Walked {
    fn of(meta: &std::fs::Metadata) -> Walked {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            WalkedKind::Dir
        } else if ft.is_symlink() {
            WalkedKind::Symlink
        } else if ft.is_file() {
            WalkedKind::File
        } else {
            WalkedKind::Other
        };
        Walked {
            kind,
            key: StatKey::of(meta),
            executable: Stamp::of(meta).executable(),
        }
    }
}

/// Scans the dataset's files on disk. Files whose stat matches the cache are not read; the
/// others are hashed in parallel (and stored when `writer` is given). Temporary files of
/// dvx processes that are gone are removed.
pub fn scan_dataset(
    ws: &Workspace,
    ds: &Dataset,
    store: &Store,
    cache: &Mutex<StatCache>,
    writer: Option<&StoreWriter<'_>>,
    progress: &dyn Progress,
) -> Result<Listing> {
    let leftovers: std::sync::Arc<Mutex<Vec<PathBuf>>> = Default::default();
    let base_rel = ds.base();
    let base = ws.abs(&base_rel);
    let mut listing = Listing::new();
    let mut pending = Vec::new();
    let params = store.config().chunker;

    let mut visit = |rel: Vec<u8>, seen: Walked| -> Result<()> {
        let path = base.join(bytes_os(&rel)?);
        if seen.kind == WalkedKind::Dir {
            listing.insert(rel, FlatEntry::Dir);
        } else if seen.kind == WalkedKind::Symlink {
            let target = std::fs::read_link(&path).map_err(|e| Error::io("read link", &path, e))?;
            listing.insert(
                rel,
                FlatEntry::Symlink {
                    target: os_bytes(target.as_os_str())?.into_owned(),
                },
            );
        } else if seen.kind == WalkedKind::File {
            let (key, executable) = (seen.key, seen.executable);
            let hit = {
                let c = cache.lock().expect("cache lock poisoned");
                c.get(&cache_key(&base_rel, &rel), &key).cloned()
            };
            let usable = match (&hit, writer) {
                (Some(h), Some(w)) => {
                    let mut all = true;
                    for ch in &h.chunks {
                        if !w.reuse(&ch.id)? {
                            all = false;
                            break;
                        }
                    }
                    all
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            match hit {
                Some(h) if usable => {
                    listing.insert(
                        rel,
                        FlatEntry::File {
                            size: key.size,
                            digest: h.digest,
                            executable,
                            chunks: h.chunks,
                        },
                    );
                }
                _ => pending.push(Pending {
                    rel,
                    path,
                    key,
                    executable,
                }),
            }
        } else {
            return Err(Error::NotARegularFile {
                path: path.display().to_string(),
                place: String::new(),
                detail: "not a regular file, directory or symlink; dvx cannot track it (list it \
                         in .dvxignore)"
                    .into(),
            });
        }
        Ok(())
    };
    let temps: std::sync::Arc<Mutex<Vec<PathBuf>>> = leftovers.clone();

    match ds.only() {
        Some(name) => {
            let path = base.join(bytes_os(&name)?);
            if let Some(meta) = crate::fsx::lstat(&path)? {
                if meta.is_dir() {
                    return Err(Error::InTheWay { path, want: "file" });
                }
                visit(name, Walked::of(&meta))?;
            }
            // A file dataset's temporary files are in its parent directory.
            if let Ok(entries) = std::fs::read_dir(&base) {
                for ent in entries.flatten() {
                    if is_temp_name(&ent.file_name()) {
                        temps
                            .lock()
                            .expect("leftovers lock poisoned")
                            .push(ent.path());
                    }
                }
            }
        }
        None => match crate::fsx::lstat(&base)? {
            None => {}
            Some(m) if !m.is_dir() => {
                return Err(Error::InTheWay {
                    path: base,
                    want: "directory",
                })
            }
            Some(_) => {
                // Walk and lstat on every core (the ignore crate's parallel walker); then
                // visit in path order.
                let found: Mutex<Vec<(Vec<u8>, Walked)>> = Mutex::new(Vec::new());
                let failure: Mutex<Option<Error>> = Mutex::new(None);
                let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
                let walker = ignore::WalkBuilder::new(&base)
                    .standard_filters(false)
                    .hidden(false)
                    .parents(false)
                    .follow_links(false)
                    .threads(threads)
                    .add_custom_ignore_filename(".dvxignore")
                    .filter_entry({
                        let leftovers = leftovers.clone();
                        move |e| {
                            let n = e.file_name();
                            // Leftovers of an interrupted checkout are ours, never data.
                            if is_temp_name(n) {
                                if let Ok(mut l) = leftovers.lock() {
                                    l.push(e.path().to_path_buf());
                                }
                                return false;
                            }
                            n != ".git" && n != ".dvx"
                        }
                    })
                    .build_parallel();
                walker.run(|| {
                    let found = &found;
                    let failure = &failure;
                    let base = &base;
                    Box::new(move |ent| {
                        use ignore::WalkState;
                        let fail = |e: Error| {
                            failure
                                .lock()
                                .expect("failure lock poisoned")
                                .get_or_insert(e);
                            WalkState::Quit
                        };
                        let ent = match ent {
                            Ok(ent) => ent,
                            Err(e) => return fail(crate::workspace::walk_error(base, e)),
                        };
                        if ent.depth() == 0 {
                            return WalkState::Continue;
                        }
                        let path = ent.path().to_path_buf();
                        let rel = match os_bytes(
                            path.strip_prefix(base)
                                .expect("walk stays below its root")
                                .as_os_str(),
                        ) {
                            Ok(rel) => rel.into_owned(),
                            Err(e) => return fail(e),
                        };
                        match std::fs::symlink_metadata(&path) {
                            Ok(meta) => found
                                .lock()
                                .expect("found lock poisoned")
                                .push((rel, Walked::of(&meta))),
                            Err(e) => return fail(Error::io("stat", &path, e)),
                        }
                        WalkState::Continue
                    })
                });
                if let Some(e) = failure.into_inner().expect("failure lock poisoned") {
                    return Err(e);
                }
                let mut found = found.into_inner().expect("found lock poisoned");
                found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (rel, seen) in found {
                    visit(rel, seen)?;
                }
            }
        },
    }

    // `add` refuses what readers would refuse before it stores a byte.
    if writer.is_some() {
        let todo = pending.iter().map(|p| (p.rel.as_slice(), p.key.size));
        crate::limits::check_scan(ws, ds, &listing, todo, params.max)?;
    }
    if !pending.is_empty() {
        let total: u64 = pending.iter().map(|p| p.key.size).sum();
        progress.begin(
            if writer.is_some() {
                "adding"
            } else {
                "hashing"
            },
            Some(total),
            Unit::Bytes,
        );
        progress.files(pending.len() as u64);
        // Largest first, so a big file does not start last and run alone.
        pending.sort_by_key(|p| std::cmp::Reverse(p.key.size));
        let results: Vec<Result<(Vec<u8>, FlatEntry)>> = pending
            .into_par_iter()
            .map(|p| {
                let seen = crate::statcache::now_ns();
                let file = open_regular(&p.path)?;
                let before = file.metadata().map_err(|e| Error::io("stat", &p.path, e))?;
                // The file the walk saw, not one renamed onto its path (or reached through
                // a directory swapped for a link) since.
                // Where the system has no inode numbers (0), the whole stat must match.
                let moved = match p.key.ino {
                    0 => StatKey::of(&before) != p.key,
                    ino => Stamp::of(&before).ino != ino,
                };
                if moved {
                    return Err(changed_while_read(&p.path));
                }
                let (digest, chunks, len) =
                    hash_open_file(&file, &p.path, params, writer, progress)?;
                progress.file_done();
                let after = file.metadata().map_err(|e| Error::io("stat", &p.path, e))?;
                // Cached only if the file did not change while we read it, and by the stat
                // of the file read itself.
                if StatKey::of(&after) == StatKey::of(&before) && len == after.len() {
                    cache.lock().expect("cache lock poisoned").record(
                        cache_key(&base_rel, &p.rel),
                        &after,
                        seen,
                        digest,
                        chunks.clone(),
                    );
                }
                Ok((
                    p.rel,
                    FlatEntry::File {
                        size: len,
                        digest,
                        executable: p.executable,
                        chunks,
                    },
                ))
            })
            .collect();
        progress.end();
        for r in results {
            let (rel, e) = r?;
            listing.insert(rel, e);
        }
    }
    if ds.only().is_none() {
        // Forget files deleted since they were cached (the cache would grow forever).
        let files = listing
            .values()
            .filter(|e| matches!(e, FlatEntry::File { .. }))
            .count();
        cache
            .lock()
            .expect("cache lock poisoned")
            .prune_below(&base_rel, files, |rel| {
                matches!(listing.get(rel), Some(FlatEntry::File { .. }))
            });
    }
    // Temporary files of dvx processes that are gone (killed during a checkout or pull) are
    // ours and never data: removed here, by every command that scans. Those of a running
    // dvx are left to it.
    let leftovers = std::mem::take(&mut *leftovers.lock().expect("leftovers lock poisoned"));
    let stale: Vec<PathBuf> = leftovers.into_iter().filter(|t| is_stale_temp(t)).collect();
    if !stale.is_empty() {
        let tree = crate::beneath::DirTree::open(ws.root(), &base_rel, false)?;
        for t in &stale {
            if let Ok(rel) = t.strip_prefix(&base) {
                tree.remove_file(&os_bytes(rel.as_os_str())?)?;
            }
        }
    }
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
