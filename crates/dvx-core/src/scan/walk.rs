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
pub(super) const LSTAT_BATCH: usize = 2048;

/// What the walk keeps of an entry's `lstat`.
pub(super) struct Meta {
    pub(super) kind: MetaKind,
    pub(super) key: StatKey,
    /// The owner may execute it.
    pub(super) executable: bool,
}

/// An entry's kind; a link with its target.
pub(super) enum MetaKind {
    Dir,
    Link(Vec<u8>),
    File,
    /// A FIFO, socket or device: dvx cannot track it.
    Other,
}

impl Meta {
    /// Of the entry at `path`, whose `lstat` is `m`.
    fn of(path: &Path, m: &std::fs::Metadata) -> Result<Meta> {
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            MetaKind::Dir
        } else if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| Error::io("read link", path, e))?;
            MetaKind::Link(os_bytes(target.as_os_str())?.into_owned())
        } else if ft.is_file() {
            MetaKind::File
        } else {
            MetaKind::Other
        };
        Ok(Meta {
            kind,
            key: StatKey::of(m),
            executable: Stamp::of(m).executable(),
        })
    }
}

/// Takes each entry of a walk: its path below the base, its full path, its `lstat`.
pub(super) type Visit<'a> = dyn FnMut(&[u8], &Path, Meta) -> Result<()> + 'a;

/// What the walk does with a name.
pub(super) enum NameRule {
    /// One of dvx's temporary files, left by an interrupted command: never data.
    Leftover,
    /// `.git` and `.dvx`: never walked.
    Skip,
    /// Anything else; `ignore_file` for a `.dvxignore`.
    Keep { ignore_file: bool },
}

/// The rule for the entry named `name` (one the `.dvxignore` files do not exclude).
pub(super) fn name_rule(name: &[u8]) -> NameRule {
    if name.starts_with(dvx_store::fs::TMP_PREFIX.as_bytes()) {
        NameRule::Leftover
    } else if name == b".git" || name == b".dvx" {
        NameRule::Skip
    } else {
        NameRule::Keep {
            ignore_file: name == b".dvxignore",
        }
    }
}

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
    let mut visit = |rel: &[u8], path: &Path, meta: Meta| -> Result<()> {
        let found = match meta.kind {
            MetaKind::Dir => Found::Dir,
            MetaKind::Link(target) => Found::Link(target),
            MetaKind::File => {
                let key = meta.key;
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
                    executable: meta.executable,
                    cached,
                }
            }
            MetaKind::Other => {
                return Err(Error::NotARegularFile {
                    path: path.display().to_string(),
                    place: String::new(),
                    detail:
                        "not a regular file, directory or symlink; dvx cannot track it (list it \
                         in .dvxignore)"
                            .into(),
                });
            }
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
                visit(&name, &path, Meta::of(&path, &meta)?)?;
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
                #[cfg(unix)]
                {
                    let found = super::dirwalk::walk(base, &mut visit)?;
                    leftovers
                        .lock()
                        .expect("leftovers lock poisoned")
                        .extend(found.leftovers);
                    ignore_file.fetch_or(found.ignore_file, Ordering::Relaxed);
                }
                #[cfg(not(unix))]
                walk_by_path(base, &mut visit, &leftovers, &ignore_file)?;
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

/// The walk on systems without the `*at` calls ([`super::dirwalk`] on Unix): the `ignore`
/// crate's walker, each entry `lstat`ed by its path. On Unix, the tests' reference.
#[cfg(any(not(unix), test))]
pub(super) fn walk_by_path(
    base: &Path,
    visit: &mut Visit<'_>,
    leftovers: &Arc<Mutex<Vec<PathBuf>>>,
    ignore_file: &Arc<AtomicBool>,
) -> Result<()> {
    use rayon::prelude::*;
    let walker = ignore::WalkBuilder::new(base)
        .standard_filters(false)
        .hidden(false)
        .parents(false)
        .follow_links(false)
        .add_custom_ignore_filename(".dvxignore")
        // Byte order: the order of a version's trees and of snapshots.
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry({
            let leftovers = leftovers.clone();
            let ignore_file = ignore_file.clone();
            move |e| {
                let Ok(n) = os_bytes(e.file_name()) else {
                    return true;
                };
                match name_rule(&n) {
                    NameRule::Leftover => {
                        if let Ok(mut l) = leftovers.lock() {
                            l.push(e.path().to_path_buf());
                        }
                        false
                    }
                    NameRule::Skip => false,
                    NameRule::Keep { ignore_file: i } => {
                        if i {
                            ignore_file.store(true, Ordering::Relaxed);
                        }
                        true
                    }
                }
            }
        })
        .build();
    // The walk lists and filters; the `lstat`s of a batch of its entries run on every core,
    // then the batch is visited in walk order.
    let mut batch: Vec<(Vec<u8>, PathBuf)> = Vec::with_capacity(LSTAT_BATCH);
    let mut lstat_batch = |batch: &mut Vec<(Vec<u8>, PathBuf)>| -> Result<()> {
        let metas: Vec<Result<std::fs::Metadata>> = batch
            .par_iter()
            .map(|(_, path)| {
                std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))
            })
            .collect();
        for ((rel, path), meta) in batch.drain(..).zip(metas) {
            let meta = Meta::of(&path, &meta?)?;
            visit(&rel, &path, meta)?;
        }
        Ok(())
    };
    for ent in walker {
        let ent = ent.map_err(|e| crate::workspace::walk_error(base, e))?;
        // A `.dvxignore` that cannot be read or has a bad pattern: its rules cannot be
        // applied, so the walk stops rather than take in what they meant to leave out.
        if let Some(e) = ent.error() {
            return Err(crate::workspace::walk_error(base, e.clone()));
        }
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
    lstat_batch(&mut batch)
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
