//! `dvx gc`: free the space of objects no version needs. Keeps everything reachable from any
//! pointer in any git ref, the worktree and the git index, and every object younger than the
//! grace period (commands that reuse an object freshen its mtime, so a concurrent add or push
//! is protected). Packs without live chunks are deleted; mostly-dead packs are rewritten.
//! The only operation that takes a lock (a crashed gc's stale lock is recognised and cleared).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use dvx_store::pack;
use dvx_store::{ChunkId, PackId, Store, TreeId};

use crate::error::{Error, Result};
use crate::fsck::live_roots;
use crate::lock::LockFile;
use crate::progress::{Progress, Unit};
use crate::spool::{ById, Located, Sorted, Sorter};
use crate::treeio::{file_chunks, read_tree, TreeWalk};
use crate::workspace::Workspace;

/// A pack whose live bytes are below this fraction of its data is rewritten.
const REWRITE_BELOW: f64 = 0.5;
/// Live chunk ids held in memory before a sorted run goes to disk (32 bytes each).
pub(crate) const LIVE_IN_MEMORY: usize = if cfg!(test) { 40 } else { 1 << 18 };
/// Pack entries held in memory before a sorted run goes to disk.
pub(crate) const ENTRIES_IN_MEMORY: usize = if cfg!(test) { 30 } else { 1 << 17 };

/// Options of gc.
#[derive(Clone, Debug)]
pub struct GcOptions {
    /// Report what would be freed, change nothing.
    pub dry_run: bool,
    /// Grace period: objects younger than this are always kept.
    pub keep: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            keep: Duration::from_secs(3 * 86400),
        }
    }
}

/// What gc kept and freed.
#[derive(Clone, Debug, Default)]
pub struct GcReport {
    /// Dataset versions kept alive by refs, the worktree and the index.
    pub versions: u64,
    /// Chunks they need.
    pub live_chunks: u64,
    /// Packs kept as they are.
    pub packs_kept: u64,
    /// Packs deleted (no live chunk).
    pub packs_deleted: u64,
    /// Packs rewritten (mostly dead).
    pub packs_rewritten: u64,
    /// Tree objects deleted.
    pub trees_deleted: u64,
    /// Bytes freed (or that would be, with dry run).
    pub bytes_freed: u64,
    /// Bytes of packs kept.
    pub bytes_kept: u64,
    /// Objects kept only because they are younger than the grace period.
    pub young_kept: u64,
    /// Other repositories using this store whose versions were kept too.
    pub other_repos: u64,
}

/// Live roots of this repository and of every other repository recorded as a user of the
/// store (a shared store: `DVX_STORE` or `store = ...`), with the number of those others. A
/// record whose repository is gone (no `.dvx` there any more) is dropped; one that exists but
/// cannot be read stops gc, which must never free what another repository needs.
fn store_live_roots(ws: &Workspace, store: &Store) -> Result<(Vec<TreeId>, u64)> {
    let mut roots: Vec<TreeId> = live_roots(ws)?.into_iter().map(|(p, _)| p.id).collect();
    let dir = store.root().join(crate::workspace::STORE_USERS_DIR);
    let mut others = 0;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((roots, 0)),
        Err(e) => return Err(Error::io("list", &dir, e)),
    };
    let own = std::fs::canonicalize(ws.root()).unwrap_or_else(|_| ws.root().to_path_buf());
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
        let record = entry.path();
        if record
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue; // a temporary file of a registration in progress
        }
        let bytes = std::fs::read(&record).map_err(|e| Error::io("read", &record, e))?;
        let root = crate::fsx::bytes_path(&bytes)?;
        if std::fs::canonicalize(&root).is_ok_and(|r| r == own) {
            continue;
        }
        if !root.join(".dvx").is_dir() {
            // That repository is gone (or no longer uses dvx): forget it.
            let _ = std::fs::remove_file(&record);
            continue;
        }
        let unreadable = |e: Error| {
            Error::GcStopped(format!(
                "gc: cannot read the repository at {} that shares this store ({e}); it may need \
                 versions no other repository names. Fix it, or if it is gone for good delete {}",
                root.display(),
                record.display()
            ))
        };
        let other = Workspace::open(&crate::workspace::WorkspaceOptions {
            start: root.clone(),
            store: None,
            store_options: Default::default(),
        })
        .map_err(unreadable)?;
        let theirs = live_roots(&other).map_err(unreadable)?;
        roots.extend(theirs.into_iter().map(|(p, _)| p.id));
        others += 1;
    }
    Ok((roots, others))
}

fn age(path: &std::path::Path) -> Option<Duration> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    SystemTime::now()
        .duration_since(m)
        .ok()
        .or(Some(Duration::ZERO))
}

/// Walks trees from `roots` (trees absent locally are skipped): the live trees (one per
/// directory and version: few) and the live chunks, sorted, in runs on disk when many.
fn mark(
    store: &Store,
    roots: impl IntoIterator<Item = TreeId>,
    spool_dir: &Path,
) -> Result<(HashSet<TreeId>, Sorted<ChunkId>)> {
    let mut chunks = Sorter::new(spool_dir, LIVE_IN_MEMORY);
    let mut walk = TreeWalk::new(roots).once();
    while let Some(dir) = walk.next()? {
        if !store.has_tree(&dir.id) {
            continue;
        }
        let tree = read_tree(store, &dir.id)?;
        walk.enter_all(&dir, &tree);
        for c in file_chunks(&tree) {
            chunks.push(*c)?;
        }
    }
    Ok((walk.into_seen(), chunks.finish()?))
}

/// The trailer entries of `packs`, sorted by chunk id, and the packs whose trailer could not
/// be read (a damaged pack is fsck's business, never gc's: the caller keeps it).
fn pack_entries(
    store: &Store,
    packs: &[PackId],
    spool_dir: &Path,
) -> Result<(Sorted<ById>, Vec<PackId>)> {
    let mut sorter = Sorter::new(spool_dir, ENTRIES_IN_MEMORY);
    let mut unreadable = Vec::new();
    for id in packs {
        let path = store.pack_path(id);
        let file = dvx_store::fs::open(&path)?;
        match pack::read_trailer(&file, &path) {
            Ok(entries) => {
                for e in &entries {
                    sorter.push(ById(Located {
                        id: e.id,
                        at: dvx_store::Location::of(*id, e),
                    }))?;
                }
            }
            Err(_) => unreadable.push(*id),
        }
    }
    Ok((sorter.finish()?, unreadable))
}

/// Passes every entry of `entries` to `f` with whether its chunk is in `live`: one merge of
/// the two sorted streams.
pub(crate) fn join_live(
    entries: &Sorted<ById>,
    live: &Sorted<ChunkId>,
    mut f: impl FnMut(&Located, bool) -> Result<()>,
) -> Result<()> {
    let (mut entries, mut live) = (entries.iter()?, live.iter()?);
    let mut next_live = live.next()?;
    while let Some(ById(e)) = entries.next()? {
        while next_live.is_some_and(|l| l < e.id) {
            next_live = live.next()?;
        }
        f(&e, next_live == Some(e.id))?;
    }
    Ok(())
}

/// How many distinct ids `sorted` holds.
pub(crate) fn count(sorted: &Sorted<ChunkId>) -> Result<u64> {
    let (mut it, mut n) = (sorted.iter()?, 0);
    while it.next()?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// Data and live bytes of one pack, and its live chunks.
#[derive(Clone, Copy, Default)]
struct Tally {
    data: u64,
    live: u64,
    live_chunks: u64,
}

/// Runs gc on the local store.
pub fn gc(ws: &Workspace, opts: &GcOptions, progress: &dyn Progress) -> Result<GcReport> {
    ws.require_init()?;
    let store = ws.store()?;
    let _lock = LockFile::try_acquire(&store.root().join("gc.lock"))?;
    let mut report = GcReport::default();

    // Mark: every version in any ref, the worktree, the git index (of this repository and
    // of every other one that uses the store), plus young trees.
    let (mut roots, others) = store_live_roots(ws, store)?;
    report.other_repos = others;
    roots.sort();
    roots.dedup();
    report.versions = roots.len() as u64;
    let all_trees = store.list_trees()?;
    for t in &all_trees {
        if age(&store.tree_path(t)).is_none_or(|a| a < opts.keep) {
            roots.push(*t);
        }
    }
    let spool_dir = ws.state_dir();
    let (live_trees, live_chunks) = mark(store, roots, &spool_dir)?;
    report.live_chunks = count(&live_chunks)?;

    // Sweep packs: the entries of every pack past the grace period, joined with the live
    // chunks, give each pack's live bytes.
    let packs = store.list_packs()?;
    progress.begin("collecting", Some(packs.len() as u64), Unit::Items);
    let mut sizes: HashMap<PackId, u64> = HashMap::new();
    let mut old = Vec::new();
    for id in &packs {
        progress.advance(1);
        let path = store.pack_path(id);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if age(&path).is_none_or(|a| a < opts.keep) {
            report.young_kept += 1;
            report.packs_kept += 1;
            report.bytes_kept += size;
            continue;
        }
        sizes.insert(*id, size);
        old.push(*id);
    }
    let (entries, unreadable) = pack_entries(store, &old, &spool_dir)?;
    let mut tallies: HashMap<PackId, Tally> = HashMap::new();
    join_live(&entries, &live_chunks, |e, live| {
        let t = tallies.entry(e.at.pack).or_default();
        t.data += e.at.stored_len as u64;
        if live {
            t.live += e.at.stored_len as u64;
            t.live_chunks += 1;
        }
        Ok(())
    })?;
    progress.end();
    let unreadable: HashSet<PackId> = unreadable.into_iter().collect();
    let mut to_delete: Vec<(PackId, u64)> = Vec::new();
    let mut to_rewrite: Vec<(PackId, u64, u64)> = Vec::new();
    for id in &old {
        let size = sizes[id];
        let t = tallies.get(id).copied().unwrap_or_default();
        if unreadable.contains(id) {
            report.packs_kept += 1;
            report.bytes_kept += size;
        } else if t.live_chunks == 0 {
            to_delete.push((*id, size));
        } else if (t.live as f64) < REWRITE_BELOW * t.data as f64 {
            to_rewrite.push((*id, t.live, size));
        } else {
            report.packs_kept += 1;
            report.bytes_kept += size;
        }
    }
    let dead_trees: Vec<TreeId> = all_trees
        .iter()
        .filter(|t| {
            !live_trees.contains(t) && age(&store.tree_path(t)).is_some_and(|a| a >= opts.keep)
        })
        .copied()
        .collect();

    report.packs_deleted = to_delete.len() as u64;
    report.packs_rewritten = to_rewrite.len() as u64;
    report.trees_deleted = dead_trees.len() as u64;
    report.bytes_freed = to_delete.iter().map(|(_, s)| s).sum();
    if opts.dry_run {
        let live_rewritten: u64 = to_rewrite.iter().map(|(_, live, size)| size - live).sum();
        report.bytes_freed += live_rewritten;
        return Ok(report);
    }

    // Rewrite mostly-dead packs: copy their live chunks (verified) into new packs, in pack
    // and offset order, publish the new index, and only then delete the old packs.
    if !to_rewrite.is_empty() {
        let rewrite: HashSet<PackId> = to_rewrite.iter().map(|(id, _, _)| *id).collect();
        let mut keep = Sorter::new(&spool_dir, ENTRIES_IN_MEMORY);
        join_live(&entries, &live_chunks, |e, live| {
            if live && rewrite.contains(&e.at.pack) {
                keep.push(*e)?;
            }
            Ok(())
        })?;
        let keep = keep.finish()?;
        let writer = store.writer();
        let mut it = keep.iter()?;
        while let Some(e) = it.next()? {
            let stored = store.read_stored(&e.at)?;
            let entry = e.at.entry(e.id);
            pack::verify_chunk(&entry, &e.at.pack, &stored)?;
            writer.copy_stored(e.id, entry.compression, &stored, entry.raw_len)?;
        }
        let stats = writer.finish()?;
        for (id, _, size) in &to_rewrite {
            to_delete.push((*id, *size));
        }
        report.bytes_freed = report
            .bytes_freed
            .saturating_add(to_rewrite.iter().map(|(_, _, s)| *s).sum::<u64>())
            .saturating_sub(stats.stored_bytes);
        report.bytes_kept += stats.stored_bytes;
    }
    drop(entries);
    drop(live_chunks);
    // Mark again right before deleting: versions committed or staged while we worked are
    // live too. (An add still running is protected by the grace period, not by this.)
    let (roots, _) = store_live_roots(ws, store)?;
    store.reload();
    let (late_trees, late_chunks) = mark(store, roots, &spool_dir)?;
    let rewritten: HashSet<PackId> = to_rewrite.iter().map(|(id, _, _)| *id).collect();
    // Freshened since we looked (a concurrent add reused it): keep it.
    let candidates: Vec<PackId> = to_delete
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| age(&store.pack_path(id)).is_some_and(|a| a >= opts.keep))
        .collect();
    let recheck: Vec<PackId> = candidates
        .iter()
        .filter(|id| !rewritten.contains(id))
        .copied()
        .collect();
    let (entries, unreadable) = pack_entries(store, &recheck, &spool_dir)?;
    let mut now_live: HashSet<PackId> = unreadable.into_iter().collect();
    join_live(&entries, &late_chunks, |e, live| {
        if live {
            now_live.insert(e.at.pack);
        }
        Ok(())
    })?;
    let mut doomed: HashSet<PackId> = candidates
        .into_iter()
        .filter(|id| !now_live.contains(id))
        .collect();
    // The index must stop naming a pack before the pack goes: a crash in between then leaves
    // unindexed packs (found through their trailers, deleted by the next gc), never an index
    // entry pointing at a missing pack (which would make a later add skip storing a chunk).
    // Index entries naming packs that are already gone are dropped at the same time.
    let present: HashSet<PackId> = store.list_packs()?.into_iter().collect();
    for path in store.list_index_files()? {
        if let Ok(f) = dvx_store::index::IndexFile::open(&path) {
            doomed.extend(f.packs().iter().filter(|p| !present.contains(p)).copied());
        }
    }
    if !doomed.is_empty() {
        store.reindex_without(&doomed)?;
    }
    for id in &doomed {
        remove(&store.pack_path(id))?;
    }
    for t in &dead_trees {
        let path = store.tree_path(t);
        if age(&path).is_some_and(|a| a >= opts.keep) && !late_trees.contains(t) {
            remove(&path)?;
        }
    }
    store.clean_temp_files(Duration::from_secs(86400))?;
    Ok(report)
}

fn remove(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::testutil::{add_data, commit, random_files, seeded_repo};
    use crate::{fsck, FsckOptions, NoProgress};

    #[test]
    fn gc_through_sorted_runs_keeps_every_live_chunk_and_frees_the_rest() {
        let (_tmp, dir, ws, mut rng) = seeded_repo(5);
        // v1: 150 files, committed.
        let v1 = random_files(&dir, &mut rng, "", 0..150);
        add_data(&ws);
        commit(&dir, "v1");
        // An uncommitted version rewrites 100 files; the next keeps 30 of them, rewrites
        // the other 70 again and is committed: 30 of that version's 100 chunks stay live.
        // Added on one thread, so that they are in one pack: an add writes one pack per
        // thread, and with several a pack could be all dead (deleted) or mostly live (kept).
        let middle = random_files(&dir, &mut rng, "", 0..100);
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a thread pool")
            .install(|| add_data(&ws));
        let v2 = random_files(&dir, &mut rng, "", 30..100);
        add_data(&ws);
        commit(&dir, "v2");
        let store = ws.store().expect("store");
        let packs_before = store.list_packs().expect("packs").len();

        let opts = GcOptions {
            dry_run: false,
            keep: Duration::ZERO,
        };
        let report = gc(&ws, &opts, &NoProgress).expect("gc");
        assert_eq!(report.live_chunks, 150 + 30 + 70, "{report:?}");
        // The middle version's pack holds 30% live bytes.
        assert_eq!(report.packs_rewritten, 1, "{report:?}");
        assert_eq!(report.packs_deleted, 0, "{report:?}");
        assert_eq!(report.trees_deleted, 1, "{report:?}");
        store.reload();
        let live = v1.iter().chain(&middle[..30]).chain(&v2);
        for c in live {
            let at = store.lookup(c).expect("lookup").expect("live chunk kept");
            assert_eq!(&ChunkId::of(&store.read_chunk_at(c, &at).expect("read")), c);
        }
        for c in &middle[30..] {
            assert!(
                store.lookup(c).expect("lookup").is_none(),
                "dead chunk kept"
            );
        }
        // The rewritten packs are gone and their live chunks are in new ones.
        assert!(store.list_packs().expect("packs").len() <= packs_before);
        let checked = fsck(&ws, &FsckOptions::default(), &NoProgress).expect("fsck");
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        // Nothing more to free, and nothing left in the state directory.
        let again = gc(&ws, &opts, &NoProgress).expect("gc");
        assert_eq!(again.bytes_freed, 0, "{again:?}");
    }
}
