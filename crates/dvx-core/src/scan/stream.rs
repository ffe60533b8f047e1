//! The second pass of a scan: the walk's entries in walk order, files the stat cache could
//! not vouch for hashed (and stored) on every core a batch at a time, each entry handed on
//! as soon as its batch is done. Memory holds one batch, never the dataset.

use std::path::{Path, PathBuf};

use dvx_store::{ChunkerParams, StoreWriter};
use rayon::prelude::*;

use super::walk::{Found, SpoolReader};
use super::{changed_while_read, hash_open_file, open_regular, FlatEntry};
use crate::error::{Error, Result};
use crate::fsx::{bytes_os, os_bytes, Stamp};
use crate::progress::{Progress, Unit};
use crate::statcache::{StatCache, StatKey};
use crate::workspace::{Dataset, Workspace};

/// At most this many entries are held between the spool and the caller.
const BATCH: usize = 4096;

/// One entry of a dataset on disk, in walk order (depth first, names in byte order).
#[derive(Debug)]
pub struct Scanned {
    /// Path below the dataset base, `/`-separated.
    pub rel: Vec<u8>,
    pub entry: FlatEntry,
    /// For a file, the stat the stat cache now vouches for (its digest is the entry's):
    /// `None` when the file's stat could not be recorded (changed while read, or racily
    /// clean). Directories and links need none.
    pub vouched: Option<StatKey>,
}

/// What a whole scan saw besides its entries.
#[derive(Clone, Copy, Debug)]
pub struct ScanEnd {
    /// Whether every file is vouched for and nothing special (a `.dvxignore`, a leftover
    /// temporary file) was found: a clean snapshot may be recorded from the entries.
    pub snapshot_ok: bool,
}

/// Scans the dataset's files on disk, handing `each` every entry in walk order. Files whose
/// stat matches the cache are not read; the others are hashed in parallel (and stored when
/// `writer` is given). With a writer, the bounds readers apply are checked over the whole
/// walk before a byte is stored. Temporary files of dvx processes that are gone are removed.
pub fn scan_each(
    ws: &Workspace,
    ds: &Dataset,
    params: ChunkerParams,
    cache: &StatCache,
    writer: Option<&StoreWriter<'_>>,
    progress: &dyn Progress,
    each: &mut dyn FnMut(Scanned) -> Result<()>,
) -> Result<ScanEnd> {
    let base_rel = ds.base();
    let base = ws.abs(&base_rel);
    let mut dc = cache.open(&ds.path)?;
    let walked = super::walk::walk(ws, ds, &base, &mut dc, writer, params.max)?;
    let mut spool = walked.spool;
    let mut snapshot_ok = !walked.ignore_file && walked.leftovers.is_empty();
    if walked.to_read > 0 {
        progress.begin(
            if writer.is_some() {
                "adding"
            } else {
                "hashing"
            },
            Some(walked.to_read_bytes),
            Unit::Bytes,
        );
        progress.files(walked.to_read);
    }
    let reader = Reader {
        base: &base,
        params,
        cache,
        writer,
        progress,
    };
    let result = (|| -> Result<()> {
        loop {
            let batch = next_batch(&mut spool)?;
            if batch.is_empty() {
                return Ok(());
            }
            for (s, fresh) in reader.resolve(batch)? {
                match (&s.entry, s.vouched) {
                    (FlatEntry::File { digest, chunks, .. }, Some(key)) => {
                        dc.keep(&s.rel, key, *digest, chunks, fresh)?;
                    }
                    (FlatEntry::File { .. }, None) => snapshot_ok = false,
                    _ => {}
                }
                each(s)?;
            }
        }
    })();
    if walked.to_read > 0 {
        progress.end();
    }
    result?;
    // Files deleted since they were cached are not kept: the cache does not grow forever.
    dc.commit()?;
    remove_stale(ws, &base_rel, &base, walked.leftovers)?;
    Ok(ScanEnd { snapshot_ok })
}

fn next_batch(spool: &mut SpoolReader) -> Result<Vec<(Vec<u8>, Found)>> {
    let mut batch = Vec::new();
    while batch.len() < BATCH {
        match spool.next()? {
            Some(e) => batch.push(e),
            None => break,
        }
    }
    Ok(batch)
}

/// What reading the files of a batch needs.
struct Reader<'a> {
    base: &'a Path,
    params: ChunkerParams,
    cache: &'a StatCache,
    writer: Option<&'a StoreWriter<'a>>,
    progress: &'a dyn Progress,
}

impl Reader<'_> {
    /// The batch's entries, in order, with the files to read read in parallel (largest
    /// first, so a big file does not start last and run alone); each says whether it was
    /// read (its cache entry, if vouched for, is new).
    fn resolve(&self, batch: Vec<(Vec<u8>, Found)>) -> Result<Vec<(Scanned, bool)>> {
        let mut out: Vec<Option<Scanned>> = Vec::with_capacity(batch.len());
        let mut todo = Vec::new();
        for (i, (rel, found)) in batch.into_iter().enumerate() {
            match found {
                Found::Dir => out.push(Some(Scanned {
                    rel,
                    entry: FlatEntry::Dir,
                    vouched: None,
                })),
                Found::Link(target) => out.push(Some(Scanned {
                    rel,
                    entry: FlatEntry::Symlink { target },
                    vouched: None,
                })),
                Found::File {
                    key,
                    executable,
                    cached: Some((digest, chunks)),
                } => out.push(Some(Scanned {
                    rel,
                    entry: FlatEntry::File {
                        size: key.size,
                        digest,
                        executable,
                        chunks,
                    },
                    vouched: Some(key),
                })),
                Found::File {
                    key,
                    executable,
                    cached: None,
                } => {
                    out.push(None);
                    todo.push((i, rel, key, executable));
                }
            }
        }
        todo.sort_by_key(|t| std::cmp::Reverse(t.2.size));
        let read: Vec<Result<(usize, Scanned)>> = todo
            .into_par_iter()
            .map(|(i, rel, key, executable)| Ok((i, self.read(rel, key, executable)?)))
            .collect();
        let mut fresh = vec![false; out.len()];
        for r in read {
            let (i, s) = r?;
            out[i] = Some(s);
            fresh[i] = true;
        }
        Ok(out
            .into_iter()
            .zip(fresh)
            .map(|(s, f)| (s.expect("every entry resolved"), f))
            .collect())
    }

    /// Hashes (and stores) one file the walk saw with stat `key`; says by which stat the
    /// stat cache may vouch for it.
    fn read(&self, rel: Vec<u8>, key: StatKey, executable: bool) -> Result<Scanned> {
        let path = self.base.join(bytes_os(&rel)?);
        let seen = crate::statcache::now_ns();
        let file = open_regular(&path)?;
        let before = file.metadata().map_err(|e| Error::io("stat", &path, e))?;
        // The file the walk saw, not one renamed onto its path (or reached through a
        // directory swapped for a link) since. Where the system has no inode numbers (0),
        // the whole stat must match.
        let moved = match key.ino {
            0 => StatKey::of(&before) != key,
            ino => Stamp::of(&before).ino != ino,
        };
        if moved {
            return Err(changed_while_read(&path));
        }
        let (digest, chunks, len) =
            hash_open_file(&file, &path, self.params, self.writer, self.progress)?;
        self.progress.file_done();
        let after = file.metadata().map_err(|e| Error::io("stat", &path, e))?;
        // Cached only if the file did not change while we read it, and by the stat of the
        // file read itself.
        let unchanged = StatKey::of(&after) == StatKey::of(&before) && len == after.len();
        let vouched = (unchanged && self.cache.vouches(&after, seen)).then(|| StatKey::of(&after));
        Ok(Scanned {
            rel,
            entry: FlatEntry::File {
                size: len,
                digest,
                executable,
                chunks,
            },
            vouched,
        })
    }
}

/// Removes temporary files of dvx processes that are gone (killed during a checkout or
/// pull): ours and never data, removed by every command that scans. Those of a running dvx
/// are left to it.
fn remove_stale(
    ws: &Workspace,
    base_rel: &str,
    base: &Path,
    leftovers: Vec<PathBuf>,
) -> Result<()> {
    let stale: Vec<PathBuf> = leftovers
        .into_iter()
        .filter(|t| super::is_stale_temp(t))
        .collect();
    if !stale.is_empty() {
        let tree = crate::beneath::DirTree::open(ws.root(), base_rel, false)?;
        for t in &stale {
            if let Ok(rel) = t.strip_prefix(base) {
                tree.remove_file(&os_bytes(rel.as_os_str())?)?;
            }
        }
    }
    Ok(())
}
