//! Writing one file or link of a checkout: under a temporary name in its directory, from
//! the chunks the replaced file holds and the store, verified whole, then swapped into place,
//! all through the dataset's directory handles ([`DirTree`]).

use std::io::{Seek, Write};

use dvx_store::Store;

use crate::beneath::{split, DirTree};
use crate::error::{Error, Result};
use crate::fsx::{set_mode, Stamp};
use crate::progress::Progress;
use crate::scan::{hash_open_file, FlatEntry};
use crate::statcache::now_ns;

/// What a checkout knows of a file it wrote (or re-moded): the `fstat` of the file itself and
/// the moment just before it was taken, for the stat cache; `None` when the file changed
/// under us after it was written (the stat then describes bytes we did not write).
pub(super) type Written = Option<(std::fs::Metadata, i64)>;

/// The file a checkout replaces, as a source of chunks the new version shares with it.
struct OldFile {
    file: std::fs::File,
    /// Where each chunk first occurs in the file: (offset, length).
    at: std::collections::HashMap<dvx_store::ChunkId, (u64, u32)>,
    /// The file's chunks in order: (offset, length).
    layout: Vec<(u64, u32)>,
}

impl OldFile {
    fn open(file: std::fs::File, chunks: &[dvx_manifest::ChunkRef]) -> OldFile {
        let mut at = std::collections::HashMap::with_capacity(chunks.len());
        let mut layout = Vec::with_capacity(chunks.len());
        let mut off = 0u64;
        for c in chunks {
            at.entry(c.id).or_insert((off, c.len));
            layout.push((off, c.len));
            off += c.len as u64;
        }
        OldFile { file, at, layout }
    }

    /// Which chunks of the new file to copy from this one: every chunk it holds. A file
    /// being replaced was usually written or read lately and is in the page cache, while the
    /// store's packs are written around the page cache (see dvx-store's `direct` module) and
    /// often are not: with the packs out of the cache, checkout of the benchmark's v1 took
    /// 1.11-1.20 s reading the store and 0.52-0.72 s copying from the replaced file.
    fn takes(&self, chunks: &[dvx_manifest::ChunkRef]) -> Vec<bool> {
        chunks
            .iter()
            .map(|c| self.at.get(&c.id).is_some_and(|&(_, len)| len == c.len))
            .collect()
    }

    /// Drops the file's pages from the page cache (clean ones; its bytes are untouched): it
    /// is about to be replaced and nothing more is read from it. The new file's pages are
    /// then the ones just freed, as when a file is deleted before it is rewritten. On a VM
    /// whose free memory goes back to the host (virtio-balloon free page reporting),
    /// writing into long-free pages was measured 10x slower than into recycled ones (1 GB:
    /// 2.3 s against 0.16 s) and made checkout of big files three times slower.
    /// Where there is no `posix_fadvise` (macOS), nothing is dropped.
    fn drop_cache(&self, from: u64, len: Option<std::num::NonZeroU64>) {
        // Advice only: a failure changes nothing but memory use.
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        let _ = rustix::fs::fadvise(&self.file, from, len, rustix::fs::Advice::DontNeed);
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        let _ = (from, len);
    }
}

/// Drops the page cache of the replaced file behind the copy: the part of it no later chunk
/// of the new file is taken from (see [`OldFile::drop_cache`]).
struct Release<'a> {
    old: &'a OldFile,
    /// Per entry of `old.layout`: the last chunk of the new file taken from it.
    last_use: Vec<Option<usize>>,
    /// Entries of `old.layout` before this one are no longer needed.
    frontier: usize,
    /// Bytes of the old file already released.
    released: u64,
}

impl<'a> Release<'a> {
    /// Bytes released at a time.
    const STEP: u64 = 8 << 20;

    fn new(old: &'a OldFile, chunks: &[dvx_manifest::ChunkRef], takes: &[bool]) -> Release<'a> {
        let index: std::collections::HashMap<u64, usize> = old
            .layout
            .iter()
            .enumerate()
            .map(|(i, (off, _))| (*off, i))
            .collect();
        let mut last_use = vec![None; old.layout.len()];
        for (i, c) in chunks.iter().enumerate() {
            if takes[i] {
                if let Some((at, _)) = old.at.get(&c.id) {
                    last_use[index[at]] = Some(i);
                }
            }
        }
        Release {
            old,
            last_use,
            frontier: 0,
            released: 0,
        }
    }

    /// Chunk `done` of the new file is written.
    fn advance(&mut self, done: usize) {
        while self.frontier < self.last_use.len()
            && self.last_use[self.frontier].is_none_or(|u| u <= done)
        {
            self.frontier += 1;
        }
        let upto = match self.old.layout.get(self.frontier) {
            Some((off, _)) => *off,
            None => self
                .old
                .layout
                .last()
                .map_or(0, |(off, len)| off + *len as u64),
        };
        if upto >= self.released + Self::STEP {
            self.old.drop_cache(
                self.released,
                std::num::NonZeroU64::new(upto - self.released),
            );
            self.released = upto;
        }
    }
}

/// A chunk of a file being restored. Unless `verify` is set, a chunk stored raw is taken as
/// read, unhashed: the whole-file digest check covers its bytes (one BLAKE3 pass instead of
/// two), and a file that fails it is written again with `verify`, which names the chunk.
fn read_chunk(store: &Store, id: &dvx_store::ChunkId, len: u32, verify: bool) -> Result<Vec<u8>> {
    if !verify {
        if let Some(loc) = store.lookup(id)? {
            if loc.compression == dvx_store::Compression::None && loc.raw_len == len {
                if let Ok(data) = store.read_stored(&loc) {
                    return Ok(data);
                }
            }
        }
    }
    Ok(store.read_chunk(id)?)
}

/// Chunks of zeros at least this long are left as holes (a sparse file comes back sparse);
/// one file-system block.
const HOLE_MIN: usize = 4096;

fn all_zero(data: &[u8]) -> bool {
    // Eight bytes at a time, the rest byte by byte.
    let words = data.chunks_exact(8);
    let rest = words.remainder();
    words
        .into_iter()
        .all(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")) == 0)
        && rest.iter().all(|&b| b == 0)
}

/// Takes the stat of a file just written or re-moded, around the moment it is published:
/// `first` is an `fstat` made before `publish` (with multigrain timestamps it makes any later
/// change get a new mtime), then `publish` runs, then the file is stat-ed again. The entry is
/// only usable if nothing changed the file in between.
fn settle(
    file: &std::fs::File,
    path: &std::path::Path,
    publish: impl FnOnce() -> Result<()>,
) -> Result<Written> {
    let seen = now_ns();
    let first = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    publish()?;
    let after = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    let (a, b) = (Stamp::of(&first), Stamp::of(&after));
    let same = first.len() == after.len() && a.mtime_ns == b.mtime_ns && a.ino == b.ino;
    Ok(same.then_some((after, seen)))
}

/// The bytes of one file's restore, reported once however many attempts it takes: an attempt
/// passes on only what goes beyond the furthest an earlier one got.
struct FileProgress<'a> {
    inner: &'a dyn Progress,
    /// Bytes passed on.
    reported: std::cell::Cell<u64>,
    /// Bytes of the current attempt.
    done: std::cell::Cell<u64>,
}

impl<'a> FileProgress<'a> {
    fn new(inner: &'a dyn Progress) -> FileProgress<'a> {
        FileProgress {
            inner,
            reported: std::cell::Cell::new(0),
            done: std::cell::Cell::new(0),
        }
    }

    /// Another attempt starts from the first byte.
    fn restart(&self) {
        self.done.set(0);
    }

    fn advance(&self, n: u64) {
        let done = self.done.get() + n;
        self.done.set(done);
        if done > self.reported.get() {
            self.inner.advance(done - self.reported.get());
            self.reported.set(done);
        }
    }
}

/// Writes one file under a temporary name in its directory and swaps it into place. Chunks
/// marked in `old`'s list are copied from the replaced file, the others read from the store.
/// Nothing is moved into place unless the whole file matches its digest.
#[allow(clippy::too_many_arguments)]
fn write_file(
    store: &Store,
    tree: &DirTree,
    rel: &[u8],
    chunks: &[dvx_manifest::ChunkRef],
    digest: &dvx_store::Digest,
    mode: u32,
    size: u64,
    old: Option<(&OldFile, &[bool])>,
    nothing_there: bool,
    verify_chunks: bool,
    progress: &FileProgress<'_>,
) -> Result<Written> {
    progress.restart();
    let path = tree.path(rel);
    let (dir_rel, _) = split(rel);
    // Where the checkout found nothing, a file without a name, named once whole: one change
    // to the directory instead of two (see docs/PERFORMANCE.md).
    let anon = match old.is_none() && nothing_there {
        true => tree.create_anon(dir_rel)?,
        false => None,
    };
    let (f, tmp) = match anon {
        Some(f) => (f, None),
        None => {
            let (f, tmp) = tree.create_temp(dir_rel)?;
            (f, Some(tmp))
        }
    };
    let result = (|| -> Result<Written> {
        let cap = (size as usize).clamp(8 << 10, 1 << 20);
        let mut w = std::io::BufWriter::with_capacity(cap, f);
        let mut hasher = blake3::Hasher::new();
        let mut buf = Vec::new();
        let mut release = old.map(|(o, takes)| Release::new(o, chunks, takes));
        let mut holes = false;
        for (i, c) in chunks.iter().enumerate() {
            let reused = old.and_then(|(o, takes)| {
                takes[i].then_some(())?;
                let &(at, len) = o.at.get(&c.id)?;
                buf.resize(len as usize, 0);
                dvx_store::fs::read_exact_at(&o.file, &path, &mut buf, at).ok()
            });
            let fresh;
            let data: &[u8] = if reused.is_some() {
                &buf
            } else {
                fresh = read_chunk(store, &c.id, c.len, verify_chunks)?;
                &fresh
            };
            if data.len() != c.len as usize {
                return Err(Error::DigestMismatch {
                    file: path.display().to_string(),
                    expected: *digest,
                });
            }
            hasher.update(data);
            if data.len() >= HOLE_MIN && all_zero(data) {
                w.seek(std::io::SeekFrom::Current(data.len() as i64))
                    .map_err(|e| Error::io("seek", &path, e))?;
                holes = true;
            } else {
                w.write_all(data)
                    .map_err(|e| Error::io("write", &path, e))?;
            }
            progress.advance(data.len() as u64);
            if let Some(r) = &mut release {
                r.advance(i);
            }
        }
        if dvx_store::Digest::from(hasher.finalize()) != *digest {
            return Err(Error::DigestMismatch {
                file: path.display().to_string(),
                expected: *digest,
            });
        }
        let f = w
            .into_inner()
            .map_err(|e| Error::io("write", &path, e.into_error()))?;
        if holes {
            // A file ending in a hole has its length set, not written.
            f.set_len(size).map_err(|e| Error::io("write", &path, e))?;
        }
        set_mode(&f, mode).map_err(|e| Error::io("chmod", &path, e))?;
        settle(&f, &path, || match &tmp {
            Some(tmp) => tree.commit_temp(rel, tmp),
            None => tree.link_anon(rel, &f),
        })
    })();
    if let (Err(_), Some(tmp)) = (&result, &tmp) {
        tree.discard_temp(dir_rel, tmp);
    }
    result
}

/// Writes one entry of the target version at `rel` (it differs from `cur`, what the scan saw
/// there). Returns the bytes written and, for a file, its stat for the stat cache.
pub(super) fn restore_one(
    store: &Store,
    tree: &DirTree,
    rel: &[u8],
    t: &FlatEntry,
    cur: Option<&FlatEntry>,
    progress: &dyn Progress,
) -> Result<(u64, Written)> {
    match t {
        FlatEntry::File {
            digest,
            executable,
            chunks,
            size,
        } => {
            let mode = if *executable { 0o755 } else { 0o644 };
            let on_disk = match cur {
                Some(FlatEntry::File { .. }) => tree.open_file(rel)?,
                _ => None,
            };
            // Same bytes, only the mode differs: chmod the file itself, unless another name
            // links to it (a dataset assembled with `cp -al`): that file is not ours to change,
            // so this one is rewritten. Its bytes are hashed again through the open handle,
            // so a file swapped in since the scan is never taken for the right one.
            if let (Some(FlatEntry::File { digest: d, .. }), Some(file)) = (cur, &on_disk) {
                if d == digest {
                    if let Some(w) = chmod_in_place(store, tree, rel, file, digest, mode)? {
                        return Ok((0, w));
                    }
                }
            }
            // Chunks the file on disk holds are copied from it (its page cache is released
            // behind the copy), the others read from the store; the whole-file digest check
            // covers every byte, and if it fails the file is rebuilt from the store alone. A
            // replaced file nothing is copied from leaves the page cache before the new one
            // is written (the kernel keeps pages with unwritten changes, and starts writing
            // them).
            let old = match (cur, on_disk) {
                (Some(FlatEntry::File { chunks: oc, .. }), Some(file)) if !oc.is_empty() => {
                    Some(OldFile::open(file, oc))
                }
                _ => None,
            };
            let takes = match &old {
                Some(o) => o.takes(chunks),
                None => Vec::new(),
            };
            let old = old.filter(|o| {
                let needed = takes.iter().any(|&t| t);
                if !needed {
                    o.drop_cache(0, None);
                }
                needed
            });
            let progress = FileProgress::new(progress);
            let mut result = write_file(
                store,
                tree,
                rel,
                chunks,
                digest,
                mode,
                *size,
                old.as_ref().map(|o| (o, takes.as_slice())),
                cur.is_none(),
                false,
                &progress,
            );
            if matches!(result, Err(Error::DigestMismatch { .. })) {
                // Again from the store alone, every chunk checked against its id: a damaged
                // chunk is then named, with its pack. Its bytes are not counted twice.
                result = write_file(
                    store,
                    tree,
                    rel,
                    chunks,
                    digest,
                    mode,
                    *size,
                    None,
                    cur.is_none(),
                    true,
                    &progress,
                );
            }
            result.map(|w| (*size, w))
        }
        FlatEntry::Symlink { target } => {
            tree.symlink(rel, target)?;
            Ok((0, None))
        }
        FlatEntry::Dir => Ok((0, None)),
    }
}

/// Sets the mode of the file open as `file` when it is the only name of its bytes and they
/// hash to `digest`; `None` when it must be rewritten instead.
fn chmod_in_place(
    store: &Store,
    tree: &DirTree,
    rel: &[u8],
    file: &std::fs::File,
    digest: &dvx_store::Digest,
    mode: u32,
) -> Result<Option<Written>> {
    let path = tree.path(rel);
    let seen = now_ns();
    let meta = file.metadata().map_err(|e| Error::io("stat", &path, e))?;
    // 0: the system cannot tell (Windows), so the file may have other names.
    if Stamp::of(&meta).nlink != 1 {
        return Ok(None);
    }
    let (d, _, _) = hash_open_file(
        file,
        &path,
        store.config().chunker,
        None,
        &crate::NoProgress,
    )?;
    if d != *digest {
        return Ok(None);
    }
    set_mode(file, mode).map_err(|e| Error::io("chmod", &path, e))?;
    let after = file.metadata().map_err(|e| Error::io("stat", &path, e))?;
    // Unchanged since before it was hashed (with multigrain timestamps any change after the
    // first `fstat` moves the mtime; elsewhere the racy rule covers the tick).
    let same = meta.len() == after.len() && Stamp::of(&meta).mtime_ns == Stamp::of(&after).mtime_ns;
    Ok(Some(same.then_some((after, seen))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Total(std::sync::atomic::AtomicU64);

    impl Progress for Total {
        fn begin(&self, _: &str, _: Option<u64>, _: crate::progress::Unit) {}
        fn advance(&self, n: u64) {
            self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        fn end(&self) {}
    }

    #[test]
    fn a_retried_file_is_counted_once() {
        let total = Total::default();
        let p = FileProgress::new(&total);
        p.advance(100);
        p.advance(50);
        // The digest check failed: the file is written again from the start.
        p.restart();
        p.advance(100);
        assert_eq!(total.0.load(std::sync::atomic::Ordering::Relaxed), 150);
        p.advance(60);
        assert_eq!(total.0.load(std::sync::atomic::Ordering::Relaxed), 160);
    }

    #[test]
    fn zero_runs() {
        assert!(all_zero(&[0u8; 4096]));
        assert!(all_zero(&[0u8; 13]));
        for i in [0, 7, 8, 4095, 4100] {
            let mut v = vec![0u8; 4101];
            v[i] = 1;
            assert!(!all_zero(&v), "byte {i}");
        }
    }
}
