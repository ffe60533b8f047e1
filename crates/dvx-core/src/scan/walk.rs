//! The first pass of a scan: walk the dataset depth first (each directory's names in byte
//! order), `lstat` every entry, ask the stat cache about every file, and check the bounds
//! readers apply; every entry goes to a temporary file (the spool), in walk order, for the
//! second pass (`stream.rs`). Nothing is read or stored before the whole walk has passed.

use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dvx_manifest::ChunkRef;
use dvx_store::{Digest, StoreWriter};
use rayon::prelude::*;

use super::is_temp_name;
use crate::error::{Error, Result};
use crate::fsx::{os_bytes, Stamp};
use crate::limits::{Checker, Shape};
use crate::spool::{array, get_bytes, get_chunks, get_key, put_bytes, put_chunks, put_key};
use crate::statcache::{DatasetCache, StatKey};
use crate::workspace::{Dataset, Workspace};

/// One entry as the walk found it.
#[derive(Debug)]
pub(super) enum Found {
    Dir,
    Link(Vec<u8>),
    File {
        key: StatKey,
        executable: bool,
        /// The digest and chunks the stat cache vouches for (and the store still holds,
        /// when storing); `None`: the file must be read.
        cached: Option<(Digest, Vec<ChunkRef>)>,
    },
}

/// What the walk learnt besides the entries.
pub(super) struct Walked {
    /// Files to read, and their bytes.
    pub(super) to_read: u64,
    pub(super) to_read_bytes: u64,
    /// Temporary files of dvx processes (`.dvx-tmp-*`): never data.
    pub(super) leftovers: Vec<PathBuf>,
    /// Whether a `.dvxignore` was found (a clean snapshot cannot be recorded then).
    pub(super) ignore_file: bool,
    /// The entries, in walk order.
    pub(super) spool: SpoolReader,
}

/// Entries whose `lstat`s run side by side.
const LSTAT_BATCH: usize = 2048;

const KIND_DIR: u8 = 0;
const KIND_LINK: u8 = 1;
const KIND_FILE: u8 = 2;
const KIND_CACHED: u8 = 3;

/// Walks the dataset `ds` (whose base directory is `base`); see the module doc. With a
/// writer (`add`), a cached file's chunks must still be in the store, and the bounds are
/// checked.
pub(super) fn walk(
    ws: &Workspace,
    ds: &Dataset,
    base: &Path,
    cache: &mut DatasetCache<'_>,
    writer: Option<&StoreWriter<'_>>,
    max_chunk: u32,
) -> Result<Walked> {
    let state = ws.state_dir();
    let mut spool = SpoolWriter::new(&state)?;
    let mut limits = writer.map(|_| Checker::new(ds, max_chunk));
    let mut out = (0u64, 0u64);
    let mut visit = |rel: &[u8], path: &Path, meta: &std::fs::Metadata| -> Result<()> {
        let ft = meta.file_type();
        let found = if ft.is_dir() {
            Found::Dir
        } else if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| Error::io("read link", path, e))?;
            Found::Link(os_bytes(target.as_os_str())?.into_owned())
        } else if ft.is_file() {
            let key = StatKey::of(meta);
            let cached = match cache.hit(rel, &key) {
                Some((digest, chunks)) => {
                    let mut usable = true;
                    if let Some(w) = writer {
                        for ch in &chunks {
                            if !w.reuse(&ch.id)? {
                                usable = false;
                                break;
                            }
                        }
                    }
                    usable.then_some((digest, chunks))
                }
                None => None,
            };
            if cached.is_none() {
                out.0 += 1;
                out.1 += key.size;
            }
            Found::File {
                key,
                executable: Stamp::of(meta).executable(),
                cached,
            }
        } else {
            return Err(Error::NotARegularFile {
                path: path.display().to_string(),
                place: String::new(),
                detail: "not a regular file, directory or symlink; dvx cannot track it (list it \
                         in .dvxignore)"
                    .into(),
            });
        };
        if let Some(l) = &mut limits {
            let shape = match &found {
                Found::Dir => Shape::Dir,
                Found::Link(t) => Shape::Link(t.len()),
                Found::File { key, .. } => Shape::File(key.size),
            };
            l.push(ws, rel, shape)?;
        }
        spool.push(rel, &found)
    };

    let leftovers: Arc<Mutex<Vec<PathBuf>>> = Default::default();
    let ignore_file = Arc::new(AtomicBool::new(false));
    match ds.only() {
        Some(name) => {
            let path = base.join(crate::fsx::bytes_os(&name)?);
            if let Some(meta) = crate::fsx::lstat(&path)? {
                if meta.is_dir() {
                    return Err(Error::InTheWay { path, want: "file" });
                }
                visit(&name, &path, &meta)?;
            }
            // A file dataset's temporary files are in its parent directory.
            if let Ok(entries) = std::fs::read_dir(base) {
                let mut l = leftovers.lock().expect("leftovers lock poisoned");
                for ent in entries.flatten() {
                    if is_temp_name(&ent.file_name()) {
                        l.push(ent.path());
                    }
                }
            }
        }
        None => match crate::fsx::lstat(base)? {
            None => {}
            Some(m) if !m.is_dir() => {
                return Err(Error::InTheWay {
                    path: base.to_path_buf(),
                    want: "directory",
                })
            }
            Some(_) => {
                let walker = ignore::WalkBuilder::new(base)
                    .standard_filters(false)
                    .hidden(false)
                    .parents(false)
                    .follow_links(false)
                    .add_custom_ignore_filename(".dvxignore")
                    // Byte order on Unix: the order of a version's trees and of snapshots.
                    .sort_by_file_name(|a, b| a.cmp(b))
                    .filter_entry({
                        let leftovers = leftovers.clone();
                        let ignore_file = ignore_file.clone();
                        move |e| {
                            let n = e.file_name();
                            // Leftovers of an interrupted checkout are ours, never data.
                            if is_temp_name(n) {
                                if let Ok(mut l) = leftovers.lock() {
                                    l.push(e.path().to_path_buf());
                                }
                                return false;
                            }
                            if n == ".dvxignore" {
                                ignore_file.store(true, Ordering::Relaxed);
                            }
                            n != ".git" && n != ".dvx"
                        }
                    })
                    .build();
                // The walk lists and filters; the `lstat`s of a batch of its entries run on
                // every core, then the batch is visited in walk order.
                let mut batch: Vec<(Vec<u8>, PathBuf)> = Vec::with_capacity(LSTAT_BATCH);
                let mut lstat_batch = |batch: &mut Vec<(Vec<u8>, PathBuf)>| -> Result<()> {
                    let metas: Vec<Result<std::fs::Metadata>> = batch
                        .par_iter()
                        .map(|(_, path)| {
                            std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))
                        })
                        .collect();
                    for ((rel, path), meta) in batch.drain(..).zip(metas) {
                        visit(&rel, &path, &meta?)?;
                    }
                    Ok(())
                };
                for ent in walker {
                    let ent = ent.map_err(|e| crate::workspace::walk_error(base, e))?;
                    if ent.depth() == 0 {
                        continue;
                    }
                    let path = ent.into_path();
                    let rel = os_bytes(
                        path.strip_prefix(base)
                            .expect("walk stays below its root")
                            .as_os_str(),
                    )?
                    .into_owned();
                    batch.push((rel, path));
                    if batch.len() >= LSTAT_BATCH {
                        lstat_batch(&mut batch)?;
                    }
                }
                lstat_batch(&mut batch)?;
            }
        },
    }
    if let Some(l) = limits {
        l.finish()?;
    }
    let (to_read, to_read_bytes) = out;
    let leftovers = std::mem::take(&mut *leftovers.lock().expect("leftovers lock poisoned"));
    Ok(Walked {
        to_read,
        to_read_bytes,
        leftovers,
        ignore_file: ignore_file.load(Ordering::Relaxed),
        spool: spool.finish()?,
    })
}

/// Writes entries to a temporary file.
struct SpoolWriter {
    out: BufWriter<std::fs::File>,
    dir: PathBuf,
    count: u64,
}

impl SpoolWriter {
    fn new(dir: &Path) -> Result<SpoolWriter> {
        Ok(SpoolWriter {
            out: BufWriter::with_capacity(1 << 20, crate::fsx::spool_file(dir)?),
            dir: dir.to_path_buf(),
            count: 0,
        })
    }

    fn push(&mut self, rel: &[u8], found: &Found) -> Result<()> {
        let mut rec = Vec::with_capacity(rel.len() + 64);
        put_bytes(&mut rec, rel);
        match found {
            Found::Dir => rec.push(KIND_DIR),
            Found::Link(t) => {
                rec.push(KIND_LINK);
                put_bytes(&mut rec, t);
            }
            Found::File {
                key,
                executable,
                cached,
            } => {
                rec.push(if cached.is_some() {
                    KIND_CACHED
                } else {
                    KIND_FILE
                });
                put_key(&mut rec, key);
                rec.push(u8::from(*executable));
                if let Some((digest, chunks)) = cached {
                    rec.extend_from_slice(digest.as_bytes());
                    put_chunks(&mut rec, chunks);
                }
            }
        }
        self.count += 1;
        self.out
            .write_all(&rec)
            .map_err(|e| Error::io("write", &self.dir, e))
    }

    fn finish(self) -> Result<SpoolReader> {
        let dir = self.dir;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| Error::io("write", &dir, e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("read", &dir, e))?;
        Ok(SpoolReader {
            r: BufReader::with_capacity(1 << 20, file),
            dir,
            left: self.count,
        })
    }
}

/// Reads the entries back, in the order written.
pub(super) struct SpoolReader {
    r: BufReader<std::fs::File>,
    dir: PathBuf,
    left: u64,
}

impl SpoolReader {
    /// The next entry, if any.
    pub(super) fn next(&mut self) -> Result<Option<(Vec<u8>, Found)>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let r = &mut self.r;
        let mut read = || -> std::io::Result<(Vec<u8>, Found)> {
            let rel = get_bytes(r)?;
            let kind = array::<1>(r)?[0];
            let found = match kind {
                KIND_DIR => Found::Dir,
                KIND_LINK => Found::Link(get_bytes(r)?),
                _ => {
                    let key = get_key(r)?;
                    let executable = array::<1>(r)?[0] != 0;
                    let cached = if kind == KIND_CACHED {
                        let digest = Digest(array(r)?);
                        Some((digest, get_chunks(r)?))
                    } else {
                        None
                    };
                    Found::File {
                        key,
                        executable,
                        cached,
                    }
                }
            };
            Ok((rel, found))
        };
        read()
            .map(Some)
            .map_err(|e| Error::io("read", &self.dir, e))
    }
}
