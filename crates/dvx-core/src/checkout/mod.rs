//! `dvx checkout`: make the data on disk match a version, writing only what differs, never
//! destroying content the store does not hold, never following a link out of the dataset.
//!
//! Phase 1 (this module) reads the versions, scans the disk and checks everything that could
//! stop the checkout half-way, changing nothing; phase 2 ([`apply`]) removes and creates
//! through directory handles, and [`write`] writes each file.

mod apply;
mod plan;
mod write;

pub(crate) use apply::write_new_tree;

use std::path::{Path, PathBuf};

use dvx_manifest::Pointer;
use dvx_store::{Store, TreeId};

use crate::beneath::DirTree;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scan::FlatEntry;
use crate::statcache::StatCache;
use crate::targets::Target;
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
    /// Files and links removed.
    pub removed: u64,
    /// Directories removed (not counted in `removed`).
    pub dirs_removed: u64,
    /// Files and links already right.
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

/// What phase 1 decided for one dataset.
struct Plan {
    ds: Dataset,
    pointer: Pointer,
    raw_pointer: Option<Vec<u8>>,
    /// Its steps in the checkout's spool, in walk order.
    run: crate::spool::Mark,
    /// Files of at least [`plan::BIG`] bytes to write, largest first.
    big: Vec<plan::Write>,
    /// Files and links to write, and their bytes.
    writes: u64,
    write_bytes: u64,
    /// Files and links already right.
    unchanged: u64,
    /// Display paths of the content a checkout would destroy that the store does not hold.
    unsaved: Vec<String>,
    part: Option<String>,
}

fn io_path(base: &Path, rel: &[u8]) -> Result<PathBuf> {
    Ok(if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(crate::fsx::bytes_os(rel)?)
    })
}

/// Is the content of this on-disk entry recoverable from the store? Every chunk must be
/// readable, not only indexed: an index entry whose pack is gone saves nothing.
fn saved(store: &Store, e: &FlatEntry) -> Result<bool> {
    match e {
        FlatEntry::File { chunks, size, .. } => {
            if *size > 0 && chunks.is_empty() {
                return Ok(false);
            }
            for c in chunks {
                if !store.readable(&c.id)? {
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
    let targets = crate::targets::select(ws, opts.rev.as_deref(), &opts.paths, &opts.cwd)?;
    checkout_targets(ws, targets, opts.force, progress)
}

/// Restores the chosen `targets` (see [`crate::targets::select`]).
pub(crate) fn checkout_targets(
    ws: &Workspace,
    targets: Vec<Target>,
    force: bool,
    progress: &dyn Progress,
) -> Result<CheckoutReport> {
    ws.require_init()?;
    let store = ws.store()?;
    let cache = StatCache::new(&ws.state_dir());

    // Phase 1: merge every target version with the disk; nothing is changed yet.
    let mut steps = crate::spool::Writer::new(&ws.state_dir())?;
    let mut plans = Vec::new();
    for target in targets {
        plans.push(plan::plan(
            ws, store, &cache, target, force, &mut steps, progress,
        )?);
    }
    if !force {
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
    let steps = steps.finish()?;
    for plan in &plans {
        let (done, mut fails) = match apply::apply(ws, store, plan, &steps, &cache, force, progress)
        {
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
                // Through a handle of the pointer's directory, like the data: a directory
                // swapped for a link meanwhile does not redirect the write.
                let (dir, name) = crate::beneath::split(file.as_bytes());
                let tree = DirTree::open(ws.root(), &String::from_utf8_lossy(dir), false)?;
                let current = match tree.open_file(name)? {
                    Some(mut f) => {
                        let mut bytes = Vec::new();
                        std::io::Read::read_to_end(&mut f, &mut bytes)
                            .map_err(|e| Error::io("read", tree.path(name), e))?;
                        Some(bytes)
                    }
                    None => None,
                };
                if current.as_deref() != Some(raw.as_slice()) {
                    tree.write_atomic(name, raw)?;
                    to_stage.push(file);
                }
                // Also drops dvx's lines for pointers gone from the worktree.
                to_stage.extend(ws.ignore_dataset(&plan.ds.path, plan.pointer.kind)?);
            }
        }
    }
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

#[cfg(all(test, unix))]
mod tests;
