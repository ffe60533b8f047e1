//! `dvx checkout`: make the data on disk match a version, writing only what differs, never
//! destroying content the store does not hold, never following a link out of the dataset.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dvx_manifest::Pointer;
use dvx_store::{Store, TreeId};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};
use crate::scan::{
    hash_file, is_stale_temp, rel_str, remember, scan_dataset_full, FlatEntry, Listing,
};
use crate::statcache::StatCache;
use crate::status::select_pointers;
use crate::treeio::load_dataset;
use crate::workspace::{Dataset, Workspace};

/// What to check out.
#[derive(Clone, Debug, Default)]
pub struct CheckoutOptions {
    /// Revision whose pointers to restore; `None` = the worktree's pointers.
    pub rev: Option<String>,
    /// Datasets (user paths); empty = all.
    pub paths: Vec<PathBuf>,
    /// Directory the paths are relative to.
    pub cwd: PathBuf,
    /// Overwrite unsaved changes.
    pub force: bool,
}

/// One dataset checked out.
#[derive(Clone, Debug)]
pub struct DatasetCheckout {
    /// Dataset path.
    pub path: String,
    /// Version now on disk.
    pub id: TreeId,
    /// Files and links written.
    pub written: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Entries removed.
    pub removed: u64,
    /// Entries already right.
    pub unchanged: u64,
    /// Set when only this part of the dataset (repo-relative) was restored: the pointer was
    /// left alone, so the dataset as a whole is at no one version.
    pub part: Option<String>,
}

/// What checkout did.
#[derive(Clone, Debug, Default)]
pub struct CheckoutReport {
    /// Per dataset.
    pub datasets: Vec<DatasetCheckout>,
}

struct Plan {
    /// Temporary files of interrupted checkouts found in the dataset.
    leftovers: Vec<PathBuf>,
    ds: Dataset,
    pointer: Pointer,
    raw_pointer: Option<Vec<u8>>,
    target: Listing,
    current: Listing,
    unsaved: Vec<String>,
    part: Option<String>,
}

fn io_path(base: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(std::ffi::OsStr::from_bytes(rel))
    }
}

/// Is the content of this on-disk entry recoverable from the store?
fn saved(store: &Store, e: &FlatEntry) -> Result<bool> {
    match e {
        FlatEntry::File { chunks, size, .. } => {
            if *size > 0 && chunks.is_empty() {
                return Ok(false);
            }
            for c in chunks {
                if !store.contains(&c.id)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        // A link is its target string and a directory its entries: nothing is lost with them.
        FlatEntry::Symlink { .. } | FlatEntry::Dir => Ok(true),
    }
}

/// Restores datasets to the pointers of `opts.rev` (or of the worktree).
pub fn checkout(
    ws: &Workspace,
    opts: &CheckoutOptions,
    progress: &dyn Progress,
) -> Result<CheckoutReport> {
    ws.require_init()?;
    // (pointer, its bytes at the revision, path below the dataset base: "" = everything)
    let commit = opts
        .rev
        .as_deref()
        .map(|r| ws.repo.resolve(r))
        .transpose()?;
    let mut targets: Vec<(Pointer, Option<Vec<u8>>, String)> = Vec::new();
    if opts.paths.is_empty() {
        match &commit {
            Some(c) => targets.extend(
                ws.pointers_at(c)?
                    .into_iter()
                    .map(|(p, raw)| (p, Some(raw), String::new())),
            ),
            None => targets.extend(
                select_pointers(ws, &opts.cwd, &[])?
                    .into_iter()
                    .map(|p| (p, None, String::new())),
            ),
        }
    } else {
        for p in &opts.paths {
            let path = ws.dataset_path(&opts.cwd, p)?;
            let found =
                ws.find_dataset(commit.as_ref(), &path)?
                    .ok_or_else(|| Error::NotADataset {
                        pointer: dvx_manifest::pointer_path_for(&path),
                        path: path.clone(),
                        place: match &opts.rev {
                            Some(r) => format!("at revision {r}"),
                            None => "in the worktree".into(),
                        },
                    })?;
            targets.push(found);
        }
    }
    let store = ws.store()?;
    let cache = Mutex::new(StatCache::load(&ws.state_dir()));

    // Phase 1: read every target version and scan the disk; nothing is changed yet.
    let mut plans = Vec::new();
    for (pointer, raw_pointer, below) in targets {
        // Restoring a part of a dataset leaves its pointer alone.
        let raw_pointer = if below.is_empty() { raw_pointer } else { None };
        if !store.has_tree(&pointer.id) {
            return Err(Error::MissingVersion {
                path: pointer.path.clone(),
                id: pointer.id,
            });
        }
        let ds = Dataset {
            path: pointer.path.clone(),
            kind: pointer.kind,
        };
        // Refuse early (before anything is written) if a directory above the dataset is a link.
        check_parents(ws, &ds)?;
        let mut target = load_dataset(store, &pointer)?;
        if let Some(only) = ds.only() {
            if target.len() != 1 || !target.contains_key(&only) {
                return Err(Error::Store(dvx_store::Error::CorruptTree {
                    id: pointer.id,
                    detail: format!(
                        "a single-file dataset must hold exactly the entry {:?}",
                        rel_str(&only)
                    ),
                }));
            }
        }
        if !below.is_empty() {
            if !target.contains_key(below.as_bytes()) {
                return Err(Error::Usage(format!(
                    "{} is not in dataset {} at that version",
                    ds.display(&below),
                    ds.path
                )));
            }
            target.retain(|rel, e| {
                in_part(rel, &below) || (above_part(rel, &below) && matches!(e, FlatEntry::Dir))
            });
        }
        let base = ws.abs(&ds.base());
        let (mut current, leftovers) = if opts.force {
            // With --force nothing needs to be proven saved, but we still need to know what
            // is there; hashing is what makes "only write what differs" possible.
            scan_dataset_full(ws, &ds, store, &cache, None, progress).or_else(|e| match e {
                Error::Refused(_) => Ok((Listing::new(), Vec::new())),
                e => Err(e),
            })?
        } else {
            scan_dataset_full(ws, &ds, store, &cache, None, progress)?
        };
        if !below.is_empty() {
            current.retain(|rel, _| in_part(rel, &below));
        }
        let mut unsaved = Vec::new();
        for (rel, cur) in &current {
            let replaced = match target.get(rel) {
                None => true,
                Some(t) => {
                    !t.same_content(cur)
                        && !matches!((t, cur), (FlatEntry::File { digest: a, .. }, FlatEntry::File { digest: b, .. }) if a == b)
                }
            };
            if replaced && !saved(store, cur)? {
                unsaved.push(ds.display(&rel_str(rel)));
            }
        }
        // Files hidden from the scan by .dvxignore but standing where the target writes.
        for (rel, t) in &target {
            if current.contains_key(rel) || matches!(t, FlatEntry::Dir) {
                continue;
            }
            let path = io_path(&base, rel);
            if let Some(m) = crate::fsx::lstat(&path)? {
                if m.is_file() {
                    let (digest, chunks, size) =
                        hash_file(&path, store.config().chunker, None, &crate::NoProgress)?;
                    let e = FlatEntry::File {
                        size,
                        digest,
                        executable: false,
                        chunks,
                    };
                    if !saved(store, &e)? {
                        unsaved.push(ds.display(&rel_str(rel)));
                    }
                }
            }
        }
        plans.push(Plan {
            part: (!below.is_empty()).then(|| ds.display(&below)),
            leftovers,
            ds,
            pointer,
            raw_pointer,
            target,
            current,
            unsaved,
        });
    }
    if !opts.force {
        let unsaved: Vec<String> = plans
            .iter()
            .flat_map(|p| p.unsaved.iter().cloned())
            .collect();
        if !unsaved.is_empty() {
            return Err(Error::Unsaved { files: unsaved });
        }
    }

    // Phase 2: apply.
    let mut report = CheckoutReport::default();
    let mut to_stage = Vec::new();
    let mut failures = Vec::new();
    let mut hard_error = None;
    for plan in &plans {
        let (done, mut fails) = match apply(ws, store, plan, &cache, opts.force, progress) {
            Ok(r) => r,
            Err(e) => {
                hard_error = Some(e);
                break;
            }
        };
        let ok = fails.is_empty();
        failures.append(&mut fails);
        report.datasets.push(done);
        if ok {
            if let Some(raw) = &plan.raw_pointer {
                let file = plan.pointer.file();
                let path = ws.abs(&file);
                if crate::fsx::read(&path).ok().as_deref() != Some(raw.as_slice()) {
                    crate::fsx::write_atomic(&path, raw)?;
                    to_stage.push(file);
                }
                let gi = ws.ensure_ignored(&plan.ds.path)?;
                to_stage.push(gi);
            }
        }
    }
    cache.into_inner().expect("cache lock poisoned").save()?;
    if !to_stage.is_empty() {
        ws.stage(&to_stage)?;
    }
    if let Some(e) = hard_error {
        return Err(e);
    }
    if !failures.is_empty() {
        return Err(Error::RestoreFailed { failures });
    }
    Ok(report)
}

/// Every directory above the dataset's own directory (and, for a single-file dataset, its
/// parent) must be a real directory if it exists: never write or delete through a link.
fn check_parents(ws: &Workspace, ds: &Dataset) -> Result<()> {
    let mut above = ws.root().to_path_buf();
    let base_rel = ds.base();
    let comps: Vec<&str> = base_rel.split('/').filter(|c| !c.is_empty()).collect();
    let upto = if ds.only().is_some() {
        comps.len()
    } else {
        comps.len().saturating_sub(1)
    };
    for c in &comps[..upto] {
        above.push(c);
        if let Some(m) = crate::fsx::lstat(&above)? {
            if !m.is_dir() {
                return Err(Error::UnsafeParent { path: above });
            }
        }
    }
    Ok(())
}

/// `rel` is `below` or inside it.
fn in_part(rel: &[u8], below: &str) -> bool {
    rel == below.as_bytes()
        || (rel.starts_with(below.as_bytes()) && rel.get(below.len()) == Some(&b'/'))
}

/// `rel` is a directory on the way to `below`.
fn above_part(rel: &[u8], below: &str) -> bool {
    below.as_bytes().starts_with(rel) && below.as_bytes().get(rel.len()) == Some(&b'/')
}

fn remove_entry(path: &Path, e: &FlatEntry) -> Result<()> {
    match e {
        FlatEntry::Dir => match std::fs::remove_dir(path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            // Still holds files ignored by .dvxignore: those are the user's, keep them.
            Err(err) if err.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(()),
            Err(err) => Err(Error::io("remove directory", path, err)),
        },
        _ => crate::fsx::remove_file(path),
    }
}

/// Makes `path` a real directory, refusing to go through a symlink.
fn ensure_dir(path: &Path, force: bool) -> Result<()> {
    match crate::fsx::lstat(path)? {
        Some(m) if m.is_dir() => Ok(()),
        Some(_) if force => {
            crate::fsx::remove_file(path)?;
            std::fs::create_dir(path).map_err(|e| Error::io("create directory", path, e))
        }
        Some(_) => Err(Error::Refused(format!(
            "{} is in the way: it is not a directory (a symlink or file ignored by .dvxignore?); move it away or use --force",
            path.display()
        ))),
        None => std::fs::create_dir(path).map_err(|e| Error::io("create directory", path, e)),
    }
}

fn apply(
    ws: &Workspace,
    store: &Store,
    plan: &Plan,
    cache: &Mutex<StatCache>,
    force: bool,
    progress: &dyn Progress,
) -> Result<(DatasetCheckout, Vec<(String, String)>)> {
    let ds = &plan.ds;
    let base = ws.abs(&ds.base());
    let mut done = DatasetCheckout {
        path: ds.path.clone(),
        id: plan.pointer.id,
        written: 0,
        bytes_written: 0,
        removed: 0,
        unchanged: 0,
        part: plan.part.clone(),
    };
    // Again now: an earlier dataset of this checkout may have put a link above this one.
    check_parents(ws, ds)?;
    if ds.only().is_none() {
        if let Some(m) = crate::fsx::lstat(&base)? {
            if m.file_type().is_symlink() && !plan.current.is_empty() {
                return Err(Error::UnsafeParent { path: base.clone() });
            }
        }
    }
    // Temporary files left by a checkout that was killed: their process is gone.
    for t in &plan.leftovers {
        if is_stale_temp(t) {
            let _ = std::fs::remove_file(t);
        }
    }
    // 1. Remove what the target does not have, or has as another kind (children first).
    let mut removals: Vec<(&Vec<u8>, &FlatEntry)> = plan
        .current
        .iter()
        .filter(|(rel, cur)| match plan.target.get(*rel) {
            None => true,
            Some(t) => std::mem::discriminant(t) != std::mem::discriminant(*cur),
        })
        .collect();
    removals.sort_by(|a, b| b.0.cmp(a.0));
    // Files and links first, by several threads (on a file system mounted with `discard`,
    // freeing a file's blocks waits for the disk), then directories, children first.
    let (dir_removals, file_removals): (Vec<_>, Vec<_>) = removals
        .into_iter()
        .partition(|(_, cur)| matches!(cur, FlatEntry::Dir));
    io_pool().install(|| {
        file_removals
            .par_iter()
            .with_max_len(16)
            .try_for_each(|(rel, cur)| remove_entry(&io_path(&base, rel), cur))
    })?;
    done.removed += file_removals.len() as u64;
    for (rel, cur) in dir_removals {
        remove_entry(&io_path(&base, rel), cur)?;
        done.removed += 1;
    }
    // 2. Directories, parents first, never through a symlink.
    match ds.only() {
        None => {
            let parent = match ds.base().rfind('/') {
                Some(i) => ds.base()[..i].to_string(),
                None => String::new(),
            };
            ws.ensure_real_dirs(&parent)?;
            ensure_dir(&base, force)?;
        }
        Some(_) => {
            ws.ensure_real_dirs(&ds.base())?;
        }
    }
    let dirs: BTreeSet<&Vec<u8>> = plan
        .target
        .iter()
        .filter(|(_, e)| matches!(e, FlatEntry::Dir))
        .map(|(r, _)| r)
        .collect();
    for rel in dirs {
        ensure_dir(&io_path(&base, rel), force)?;
    }
    // 3. Files and links that differ, in parallel; each lands whole or not at all.
    let mut work: Vec<(&Vec<u8>, &FlatEntry)> = plan
        .target
        .iter()
        .filter(|(rel, t)| {
            !matches!(t, FlatEntry::Dir)
                && !plan.current.get(*rel).is_some_and(|c| c.same_content(t))
        })
        .collect();
    // Largest first, so a big file does not start last and run alone.
    work.sort_by_key(|(_, e)| std::cmp::Reverse(e.size()));
    let files = plan
        .target
        .values()
        .filter(|e| !matches!(e, FlatEntry::Dir))
        .count();
    done.unchanged = (files - work.len()) as u64;
    let total: u64 = work.iter().map(|(_, e)| e.size()).sum();
    progress.begin("restoring", Some(total), Unit::Bytes);
    // Taken strictly in this order (rayon's splitting would start the second-largest file
    // only after the largest, when the two should be written side by side).
    let results: Vec<(String, Result<u64>)> = in_order(&work, |(rel, t)| {
        let path = io_path(&base, rel);
        let cur = plan.current.get(*rel);
        let r = restore_one(store, &path, t, cur, progress).inspect(|_| {
            if let FlatEntry::File { digest, chunks, .. } = t {
                remember(cache, ds, rel, &path, *digest, chunks);
            }
        });
        (ds.display(&rel_str(rel)), r)
    });
    progress.end();
    let mut failures = Vec::new();
    for (file, r) in results {
        match r {
            Ok(n) => {
                done.written += 1;
                done.bytes_written += n;
            }
            Err(e) => failures.push((file, e.to_string())),
        }
    }
    Ok((done, failures))
}

/// Moves the finished temporary file `tmp` onto `path`, atomically: a reader (or a crash)
/// sees the old file or the new one, never neither. When `path` exists, the two are swapped
/// (`renameat2(RENAME_EXCHANGE)`) and the old file, now under the temporary name, is
/// removed: a plain rename over an existing file makes ext4 (`auto_da_alloc`) allocate and
/// start writing the new file's blocks inside the rename, which stalled checkout on large
/// files. Falls back to a plain rename where exchange is not supported.
fn replace_file(tmp: &Path, path: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        // Never swap a directory out (a plain rename onto it fails, as it should).
        let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir());
        if is_file && renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE).is_ok() {
            // `tmp` now holds the old file; if it cannot be removed, it is a leftover
            // temporary file, which scans skip and the next checkout cleans up.
            let _ = std::fs::remove_file(tmp);
            return Ok(());
        }
        // ENOENT: no old file; EINVAL/ENOSYS: not supported here. Anything else is reported
        // by the plain rename below, if it fails too.
    }
    std::fs::rename(tmp, path).map_err(|e| Error::io("rename", path, e))
}

/// Runs `f` over `items` on the I/O pool, each thread taking the next item in order, and
/// returns the results in the items' order.
fn in_order<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let pool = io_pool();
    pool.scope(|s| {
        for _ in 0..pool.current_num_threads().min(items.len()) {
            s.spawn(|_| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *slots[i].lock().expect("result slot poisoned") = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("result slot poisoned")
                .expect("every item was run")
        })
        .collect()
}

/// Threads that write and remove worktree files. More than the cores: much of their time is
/// spent waiting for the file system (freeing blocks of replaced files, page-cache
/// writeback), and the waits should overlap with the hashing and copying of others.
fn io_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads((n * 3).clamp(4, 16))
            .thread_name(|i| format!("dvx-io-{i}"))
            .build()
            .expect("the checkout thread pool starts")
    })
}

/// The file a checkout replaces, as a source of chunks the new version shares with it.
struct OldFile {
    file: std::fs::File,
    /// Where each chunk first occurs in the file: (offset, length).
    at: std::collections::HashMap<dvx_store::ChunkId, (u64, u32)>,
    /// The file's chunks in order: (offset, length).
    layout: Vec<(u64, u32)>,
}

impl OldFile {
    fn open(path: &Path, chunks: &[dvx_manifest::ChunkRef]) -> Option<OldFile> {
        let file = std::fs::File::open(path).ok()?;
        let mut at = std::collections::HashMap::with_capacity(chunks.len());
        let mut layout = Vec::with_capacity(chunks.len());
        let mut off = 0u64;
        for c in chunks {
            at.entry(c.id).or_insert((off, c.len));
            layout.push((off, c.len));
            off += c.len as u64;
        }
        Some(OldFile { file, at, layout })
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
    fn drop_cache(&self, from: u64, len: Option<std::num::NonZeroU64>) {
        // Advice only: a failure changes nothing but memory use.
        let _ = rustix::fs::fadvise(&self.file, from, len, rustix::fs::Advice::DontNeed);
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

/// Writes one file under a temporary name next to `path` and renames it into place. Chunks
/// marked in `old`'s list are copied from the replaced file, the others read from the store.
/// Nothing is moved into place unless the whole file matches its digest.
#[allow(clippy::too_many_arguments)]
fn write_file(
    store: &Store,
    path: &Path,
    dir: &Path,
    chunks: &[dvx_manifest::ChunkRef],
    digest: &dvx_store::Digest,
    mode: u32,
    size: u64,
    old: Option<(&OldFile, &[bool])>,
    verify_chunks: bool,
    progress: &dyn Progress,
) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let tmp = dvx_store::fs::temp_path(dir);
    let result = (|| -> Result<()> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        let cap = (size as usize).clamp(8 << 10, 1 << 20);
        let mut w = std::io::BufWriter::with_capacity(cap, f);
        let mut hasher = blake3::Hasher::new();
        let mut buf = Vec::new();
        let mut release = old.map(|(o, takes)| Release::new(o, chunks, takes));
        for (i, c) in chunks.iter().enumerate() {
            let reused = old.and_then(|(o, takes)| {
                takes[i].then_some(())?;
                let &(at, len) = o.at.get(&c.id)?;
                buf.resize(len as usize, 0);
                o.file.read_exact_at(&mut buf, at).ok()
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
            w.write_all(data).map_err(|e| Error::io("write", path, e))?;
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
            .map_err(|e| Error::io("write", path, e.into_error()))?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("chmod", &tmp, e))?;
        drop(f);
        replace_file(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn restore_one(
    store: &Store,
    path: &Path,
    t: &FlatEntry,
    cur: Option<&FlatEntry>,
    progress: &dyn Progress,
) -> Result<u64> {
    let dir = path.parent().expect("dataset entries have a parent");
    match t {
        FlatEntry::File {
            digest,
            executable,
            chunks,
            size,
        } => {
            let mode = if *executable { 0o755 } else { 0o644 };
            // Same bytes, only the mode differs.
            if let Some(FlatEntry::File { digest: d, .. }) = cur {
                if d == digest {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                        .map_err(|e| Error::io("chmod", path, e))?;
                    return Ok(0);
                }
            }
            // Chunks the file on disk holds are copied from it (its page cache is released
            // behind the copy), the others read from the store; the whole-file digest check
            // covers every byte, and if it fails the file is rebuilt from the store alone. A
            // replaced file nothing is copied from leaves the page cache before the new one
            // is written (the kernel keeps pages with unwritten changes, and starts writing
            // them).
            let old = match cur {
                Some(FlatEntry::File { chunks: oc, .. }) if !oc.is_empty() => {
                    OldFile::open(path, oc)
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
            let mut result = write_file(
                store,
                path,
                dir,
                chunks,
                digest,
                mode,
                *size,
                old.as_ref().map(|o| (o, takes.as_slice())),
                false,
                progress,
            );
            if matches!(result, Err(Error::DigestMismatch { .. })) {
                // Again from the store alone, every chunk checked against its id: a damaged
                // chunk is then named, with its pack.
                result = write_file(
                    store, path, dir, chunks, digest, mode, *size, None, true, progress,
                );
            }
            result.map(|()| *size)
        }
        FlatEntry::Symlink { target } => {
            let tmp = dvx_store::fs::temp_path(dir);
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &tmp)
                .map_err(|e| Error::io("create symlink", &tmp, e))?;
            std::fs::rename(&tmp, path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io("rename", path, e)
            })?;
            Ok(0)
        }
        FlatEntry::Dir => Ok(0),
    }
}
