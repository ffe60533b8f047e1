//! Phase 2 of a checkout: make one dataset on disk match its plan, through directory handles
//! opened without following links ([`DirTree`]).

use dvx_store::Store;
use rayon::prelude::*;

use super::plan::{Step, Write};
use super::write::restore_one;
use super::{DatasetCheckout, Plan};
use crate::beneath::DirTree;
use crate::error::Result;
use crate::progress::{Progress, Unit};
use crate::scan::{is_below, rel_str, FlatEntry};
use crate::spool::{self, Spool};
use crate::statcache::{Record, StatCache, StatKey};
use crate::workspace::Workspace;

/// Steps read from the spool, and files removed or written side by side, at a time.
const BATCH: usize = 4096;

/// Applies `plan`, whose steps are in `steps`. Returns what was done and the files that could
/// not be written (each left as it was); an error stops the dataset.
pub(super) fn apply(
    ws: &Workspace,
    store: &Store,
    plan: &Plan,
    steps: &Spool<Step>,
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
        unchanged: plan.unchanged,
        part: plan.part.clone(),
    };
    // The dataset's directory, reached without following a link (an earlier dataset of this
    // checkout may have put one above it). Missing directories are created; a link or file at
    // a directory dataset's own path was found saved in phase 1 (or --force) and is replaced.
    let tree = DirTree::open(ws.root(), &ds.base(), ds.only().is_none() && force)?;
    remove(&tree, steps, plan, &mut done)?;
    // 2. Directories, parents first (walk order), never through a symlink.
    let mut r = steps.read_run(plan.run)?;
    while let Some(step) = r.next()? {
        if let Step::MakeDir(rel) = step {
            tree.ensure_dir(&rel, force)?;
        }
    }
    // 3. Files and links that differ, side by side; each lands whole or not at all.
    progress.begin("restoring", Some(plan.write_bytes), Unit::Bytes);
    progress.files(plan.writes);
    // What the stat cache learns of the files written: the big ones here, the others in walk
    // order in a spool; merged into the cache at the end.
    let mut big_records = Vec::new();
    let mut records = spool::Writer::<Record>::new(&ws.state_dir())?;
    let mut failures = Vec::new();
    let big: Vec<&Write> = plan.big.iter().collect();
    for (file, r) in write_all(store, &tree, cache, ds, &big, progress) {
        tally(&mut done, &mut failures, file, r, &mut |rec| {
            big_records.push(rec);
            Ok(())
        })?;
    }
    let mut r = steps.read_run(plan.run)?;
    loop {
        let batch: Vec<Write> = r
            .batch(BATCH)?
            .into_iter()
            .filter_map(|s| match s {
                Step::Write(w) => Some(w),
                _ => None,
            })
            .collect();
        if batch.is_empty() && r.is_done() {
            break;
        }
        let batch: Vec<&Write> = batch.iter().collect();
        for (file, r) in write_all(store, &tree, cache, ds, &batch, progress) {
            tally(&mut done, &mut failures, file, r, &mut |rec| {
                records.push(&rec)
            })?;
        }
    }
    progress.end();
    big_records.sort_by(|a, b| crate::treeio::walk_cmp(&a.0, &b.0));
    let records = records.finish()?;
    let mut small = records.read()?;
    let mut big = big_records.into_iter().peekable();
    let mut next_small = small.next()?;
    cache.merge_sorted(&ds.path, &mut || {
        let take_big = match (&next_small, big.peek()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(s), Some(b)) => crate::treeio::walk_cmp(&b.0, &s.0).is_lt(),
        };
        Ok(if take_big {
            big.next()
        } else {
            std::mem::replace(&mut next_small, small.next()?)
        })
    })?;
    Ok((done, failures))
}

/// Step 1: removes what the target does not have, or has as another kind. Files and links
/// are removed by several threads (on a file system mounted with `discard`, freeing a file's
/// blocks waits for the disk); a directory once everything below it has been removed.
fn remove(
    tree: &DirTree,
    steps: &Spool<Step>,
    plan: &Plan,
    done: &mut DatasetCheckout,
) -> Result<()> {
    let mut files: Vec<Vec<u8>> = Vec::new();
    // Directories to remove, each below the one before it.
    let mut dirs: Vec<Vec<u8>> = Vec::new();
    let flush = |files: &mut Vec<Vec<u8>>, done: &mut DatasetCheckout| -> Result<()> {
        io_pool().install(|| {
            files
                .par_iter()
                .with_max_len(16)
                .try_for_each(|rel| tree.remove_file(rel))
        })?;
        done.removed += files.len() as u64;
        files.clear();
        Ok(())
    };
    let pop = |files: &mut Vec<Vec<u8>>,
               done: &mut DatasetCheckout,
               dirs: &mut Vec<Vec<u8>>|
     -> Result<()> {
        let dir = dirs.pop().expect("a directory to pop");
        flush(files, done)?;
        // A directory still holding files ignored by .dvxignore is kept: they are the user's.
        tree.remove_dir(&dir)?;
        done.dirs_removed += 1;
        Ok(())
    };
    let mut r = steps.read_run(plan.run)?;
    while let Some(step) = r.next()? {
        // Walk order: what is below a directory follows it, so a directory no longer above
        // the current step has had everything below it seen.
        while dirs
            .last()
            .is_some_and(|d| d.as_slice() != step.rel() && !is_below(step.rel(), d))
        {
            pop(&mut files, done, &mut dirs)?;
        }
        match step {
            Step::RemoveFile(rel) => {
                files.push(rel);
                if files.len() >= BATCH {
                    flush(&mut files, done)?;
                }
            }
            Step::RemoveDir(rel) => dirs.push(rel),
            _ => {}
        }
    }
    while !dirs.is_empty() {
        pop(&mut files, done, &mut dirs)?;
    }
    flush(&mut files, done)
}

/// Writes `work` with [`io_threads`] threads, taken strictly in order (rayon's splitting
/// would start the second-largest file only after the largest, when the two should be
/// written side by side). Returns each file's display path and what came of it.
fn write_all(
    store: &Store,
    tree: &DirTree,
    cache: &StatCache,
    ds: &crate::workspace::Dataset,
    work: &[&Write],
    progress: &dyn Progress,
) -> Vec<(String, Result<Written>)> {
    crate::work::map_in_order(work, io_threads(), "io", |w| {
        let r = restore_one(store, tree, &w.rel, &w.target, w.current.as_ref(), progress).map(
            |(n, written)| {
                let rec = match &w.target {
                    FlatEntry::File { digest, chunks, .. } => {
                        // By its stat if the stat vouches for it; otherwise no entry.
                        let vouched = written
                            .filter(|(meta, seen)| cache.vouches(meta, *seen))
                            .map(|(meta, _)| (StatKey::of(&meta), *digest, chunks.clone()));
                        Some((w.rel.clone(), vouched))
                    }
                    _ => None,
                };
                (n, rec)
            },
        );
        progress.file_done();
        (ds.display(&rel_str(&w.rel)), r)
    })
}

/// Of a file written: its bytes, and the stat cache's record of it (none for a link).
type Written = (u64, Option<Record>);

/// Counts one file written (or failed), handing its stat cache record to `record`.
fn tally(
    done: &mut DatasetCheckout,
    failures: &mut Vec<(String, String)>,
    file: String,
    r: Result<Written>,
    record: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    match r {
        Ok((n, rec)) => {
            done.written += 1;
            done.bytes_written += n;
            if let Some(rec) = rec {
                record(rec)?;
            }
        }
        Err(e) => failures.push((file, e.to_string())),
    }
    Ok(())
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
