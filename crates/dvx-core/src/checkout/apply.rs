//! Phase 2 of a checkout: make one dataset on disk match its plan, through directory handles
//! opened without following links ([`DirTree`]).

use std::collections::BTreeSet;
use std::sync::Mutex;

use dvx_store::Store;
use rayon::prelude::*;

use super::write::restore_one;
use super::{DatasetCheckout, Plan};
use crate::beneath::DirTree;
use crate::error::Result;
use crate::progress::{Progress, Unit};
use crate::scan::{rel_str, FlatEntry};
use crate::statcache::{StatCache, StatKey};
use crate::workspace::Workspace;

/// Applies `plan`. Returns what was done and the files that could not be written (each left
/// as it was); an error stops the dataset.
pub(super) fn apply(
    ws: &Workspace,
    store: &Store,
    plan: &Plan,
    cache: &StatCache,
    force: bool,
    progress: &dyn Progress,
) -> Result<(DatasetCheckout, Vec<(String, String)>)> {
    let ds = &plan.ds;
    let mut done = DatasetCheckout {
        path: ds.path.clone(),
        id: plan.pointer.id,
        written: 0,
        bytes_written: 0,
        removed: 0,
        dirs_removed: 0,
        unchanged: 0,
        part: plan.part.clone(),
    };
    // The dataset's directory, reached without following a link (an earlier dataset of this
    // checkout may have put one above it). Missing directories are created; a link or file at
    // a directory dataset's own path was found saved in phase 1 (or --force) and is replaced.
    let tree = DirTree::open(ws.root(), &ds.base(), ds.only().is_none() && force)?;
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
            .try_for_each(|(rel, _)| tree.remove_file(rel))
    })?;
    done.removed += file_removals.len() as u64;
    for (rel, _) in dir_removals {
        // A directory still holding files ignored by .dvxignore is kept: they are the user's.
        tree.remove_dir(rel)?;
        done.dirs_removed += 1;
    }
    // 2. Directories, parents first, never through a symlink.
    let dirs: BTreeSet<&Vec<u8>> = plan
        .target
        .iter()
        .filter(|(_, e)| matches!(e, FlatEntry::Dir))
        .map(|(r, _)| r)
        .collect();
    for rel in dirs {
        tree.ensure_dir(rel, force)?;
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
    progress.files(work.len() as u64);
    // What the stat cache learns of the files written, merged into it at the end.
    let records: Mutex<Vec<crate::statcache::Record>> = Mutex::new(Vec::new());
    // Taken strictly in this order (rayon's splitting would start the second-largest file
    // only after the largest, when the two should be written side by side).
    let results: Vec<(String, Result<u64>)> =
        crate::work::map_in_order(&work, io_threads(), "io", |(rel, t)| {
            let cur = plan.current.get(*rel);
            let r = restore_one(store, &tree, rel, t, cur, progress).map(|(n, written)| {
                if let FlatEntry::File { digest, chunks, .. } = t {
                    // By its stat if the stat vouches for it; otherwise no entry.
                    let vouched = written
                        .filter(|(meta, seen)| cache.vouches(meta, *seen))
                        .map(|(meta, _)| (StatKey::of(&meta), *digest, chunks.clone()));
                    records
                        .lock()
                        .expect("records lock poisoned")
                        .push((rel.to_vec(), vouched));
                }
                n
            });
            progress.file_done();
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
    cache.merge(
        &ds.path,
        records.into_inner().expect("records lock poisoned"),
    )?;
    Ok((done, failures))
}

/// Threads that write and remove worktree files. More than the cores: much of their time is
/// spent waiting for the file system (freeing blocks of replaced files, page-cache
/// writeback), and the waits should overlap with the hashing and copying of others.
fn io_threads() -> usize {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    (n * 3).clamp(4, 16)
}

/// A pool of [`io_threads`] threads, for removals.
fn io_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(io_threads())
            .thread_name(|i| format!("dvx-io-{i}"))
            .build()
            .expect("the checkout thread pool starts")
    })
}

/// Writes `entries` (paths relative to `dir`, a directory that does not exist yet) as a
/// checkout writes a version: directories first, then files and links side by side, each
/// verified whole. For the plain copies of `dvx get`. Returns (files and links, bytes).
pub(crate) fn write_new_tree(
    store: &Store,
    dir: &std::path::Path,
    entries: &[(Vec<u8>, FlatEntry)],
    progress: &dyn Progress,
) -> Result<(u64, u64)> {
    let parent = dir.parent().unwrap_or(std::path::Path::new("."));
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a temporary name is ASCII");
    let tree = DirTree::open(parent, name, false)?;
    // Parents sort before their children.
    for (rel, e) in entries {
        if matches!(e, FlatEntry::Dir) {
            tree.ensure_dir(rel, false)?;
        }
    }
    let mut work: Vec<&(Vec<u8>, FlatEntry)> = entries
        .iter()
        .filter(|(_, e)| !matches!(e, FlatEntry::Dir))
        .collect();
    work.sort_by_key(|(_, e)| std::cmp::Reverse(e.size()));
    progress.files(work.len() as u64);
    let results = crate::work::map_in_order(&work, io_threads(), "io", |(rel, e)| {
        let r = restore_one(store, &tree, rel, e, None, progress).map(|(n, _)| n);
        progress.file_done();
        r
    });
    let mut bytes = 0;
    for r in results {
        bytes += r?;
    }
    Ok((work.len() as u64, bytes))
}
