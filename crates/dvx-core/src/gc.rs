//! `dvx gc`: free the space of objects no version needs. Keeps everything reachable from any
//! pointer in any git ref, the worktree and the git index, and every object younger than the
//! grace period (commands that reuse an object freshen its mtime, so a concurrent add or push
//! is protected). Packs without live chunks are deleted; mostly-dead packs are rewritten.
//! The only operation that takes a lock (a crashed gc's stale lock is recognised and cleared).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use dvx_store::pack::{self, PackEntry};
use dvx_store::{ChunkId, Location, PackId, Store, TreeId};

use crate::error::{Error, Result};
use crate::fsck::live_roots;
use crate::lock::LockFile;
use crate::progress::{Progress, Unit};
use crate::treeio::{file_chunks, read_tree, TreeWalk};
use crate::workspace::Workspace;

/// A pack whose live bytes are below this fraction of its data is rewritten.
const REWRITE_BELOW: f64 = 0.5;

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

/// Walks trees from `roots`, collecting live trees and chunks (trees absent locally are skipped).
fn mark(
    store: &Store,
    roots: impl IntoIterator<Item = TreeId>,
) -> Result<(HashSet<TreeId>, HashSet<ChunkId>)> {
    let mut chunks = HashSet::new();
    let mut walk = TreeWalk::new(roots).once();
    while let Some(dir) = walk.next()? {
        if !store.has_tree(&dir.id) {
            continue;
        }
        let tree = read_tree(store, &dir.id)?;
        walk.enter_all(&dir, &tree);
        chunks.extend(file_chunks(&tree).copied());
    }
    Ok((walk.into_seen(), chunks))
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
    let (live_trees, live_chunks) = mark(store, roots)?;
    report.live_chunks = live_chunks.len() as u64;

    // Sweep packs.
    let packs = store.list_packs()?;
    progress.begin("collecting", Some(packs.len() as u64), Unit::Items);
    let mut to_delete: Vec<(PackId, u64)> = Vec::new();
    let mut to_rewrite: Vec<(PackId, Vec<PackEntry>, u64)> = Vec::new();
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
        let file = dvx_store::fs::open(&path)?;
        let entries = match pack::read_trailer(&file, &path) {
            Ok(e) => e,
            // A damaged pack is fsck's business, never gc's: keep it.
            Err(_) => {
                report.packs_kept += 1;
                report.bytes_kept += size;
                continue;
            }
        };
        let data: u64 = entries.iter().map(|e| e.stored_len as u64).sum();
        let live: Vec<PackEntry> = entries
            .into_iter()
            .filter(|e| live_chunks.contains(&e.id))
            .collect();
        let live_bytes: u64 = live.iter().map(|e| e.stored_len as u64).sum();
        if live.is_empty() {
            to_delete.push((*id, size));
        } else if (live_bytes as f64) < REWRITE_BELOW * data as f64 {
            to_rewrite.push((*id, live, size));
        } else {
            report.packs_kept += 1;
            report.bytes_kept += size;
        }
    }
    progress.end();
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
        let live_rewritten: u64 = to_rewrite
            .iter()
            .map(|(_, live, size)| size - live.iter().map(|e| e.stored_len as u64).sum::<u64>())
            .sum();
        report.bytes_freed += live_rewritten;
        return Ok(report);
    }

    // Rewrite mostly-dead packs: copy their live chunks (verified) into new packs, publish
    // the new index, and only then delete the old packs.
    if !to_rewrite.is_empty() {
        let writer = store.writer();
        for (id, live, _) in &to_rewrite {
            for e in live {
                let stored = store.read_stored(&Location::of(*id, e))?;
                pack::verify_chunk(e, id, &stored)?;
                writer.copy_stored(e.id, e.compression, &stored, e.raw_len)?;
            }
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
    // Mark again right before deleting: versions committed or staged while we worked are
    // live too. (An add still running is protected by the grace period, not by this.)
    let (roots, _) = store_live_roots(ws, store)?;
    store.reload();
    let (late_trees, late_chunks) = mark(store, roots)?;
    let rewritten: HashSet<PackId> = to_rewrite.iter().map(|(id, _, _)| *id).collect();
    let mut doomed: HashSet<PackId> = HashSet::new();
    for (id, _) in &to_delete {
        let path = store.pack_path(id);
        // Freshened since we looked (a concurrent add reused it): keep it.
        if age(&path).is_none_or(|a| a < opts.keep) {
            continue;
        }
        if !rewritten.contains(id) {
            let file = dvx_store::fs::open(&path)?;
            let now_live = pack::read_trailer(&file, &path)
                .map(|es| es.iter().any(|e| late_chunks.contains(&e.id)))
                .unwrap_or(true);
            if now_live {
                continue;
            }
        }
        doomed.insert(*id);
    }
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
