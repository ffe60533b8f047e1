//! `dvx checkout`: make the data on disk match a version, writing only what differs, never
//! destroying content the store does not hold, never following a link out of the dataset.
//!
//! Phase 1 (this module) reads the versions, scans the disk and checks everything that could
//! stop the checkout half-way, changing nothing; phase 2 ([`apply`]) removes and creates
//! through directory handles, and [`write`] writes each file.

mod apply;
mod write;

pub(crate) use apply::write_new_tree;

use std::path::{Path, PathBuf};

use dvx_manifest::Pointer;
use dvx_store::{Store, TreeId};

use crate::beneath::DirTree;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scan::{hash_file, rel_str, scan_dataset, FlatEntry, Listing};
use crate::statcache::StatCache;
use crate::targets::Target;
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

struct Plan {
    ds: Dataset,
    pointer: Pointer,
    raw_pointer: Option<Vec<u8>>,
    target: Listing,
    current: Listing,
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

    // Phase 1: read every target version and scan the disk; nothing is changed yet.
    let mut plans = Vec::new();
    for Target {
        pointer,
        raw: raw_pointer,
        below,
    } in targets
    {
        // Restoring a part of a dataset leaves its pointer alone.
        let raw_pointer = if below.is_empty() { raw_pointer } else { None };
        if !store.has_tree(&pointer.id) {
            return Err(Error::MissingVersion {
                path: pointer.path.clone(),
                id: pointer.id,
            });
        }
        let ds = Dataset::of(&pointer);
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
                return Err(Error::NoSuchPath {
                    path: ds.display(&below),
                    place: format!("in dataset {} at that version", ds.path),
                    hint: String::new(),
                });
            }
            target.retain(|rel, e| {
                in_part(rel, &below) || (above_part(rel, &below) && matches!(e, FlatEntry::Dir))
            });
        }
        let base = ws.abs(&ds.base());
        let mut current = match scan_dataset(ws, &ds, store, &cache, None, progress) {
            Ok(l) => l,
            // A file or link where the dataset's directory belongs holds no dataset files;
            // with --force it is replaced (a link is its target string: nothing is lost).
            Err(Error::InTheWay { path, .. }) if force && path == base => Listing::new(),
            Err(e) => return Err(e),
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
        // What the scan did not see (ignored by .dvxignore) but stands where the target
        // writes. Files the user keeps out of dvx are never removed, with or without --force;
        // a conflict found only in phase 2 would leave the dataset half-changed, with its
        // .dvxignore perhaps gone, so that a rerun no longer saw those files as ignored.
        for (rel, t) in &target {
            if current.contains_key(rel) {
                continue;
            }
            let path = io_path(&base, rel)?;
            let Some(m) = crate::fsx::lstat(&path)? else {
                continue;
            };
            match t {
                // An ignored folder where the version has a folder: they merge.
                FlatEntry::Dir if m.is_dir() => {}
                FlatEntry::Dir => {
                    return Err(Error::IgnoredInTheWay {
                        path: ds.display(&rel_str(rel)),
                        want: "directory",
                        files: vec![ds.display(&rel_str(rel))],
                    })
                }
                _ if m.is_dir() => {
                    return Err(Error::IgnoredInTheWay {
                        path: ds.display(&rel_str(rel)),
                        want: kind_name(t),
                        files: untracked_below(&path, &ds, rel, &current)?,
                    })
                }
                _ if m.is_file() => {
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
                // An ignored link is its target string: replacing it loses nothing.
                _ => {}
            }
        }
        // A tracked folder the version replaces by a file or link must empty completely
        // when its tracked entries go; files in it that dvx does not track would keep it.
        for (rel, cur) in &current {
            if !matches!(cur, FlatEntry::Dir) {
                continue;
            }
            match target.get(rel) {
                Some(FlatEntry::Dir) | None => {}
                Some(t) => {
                    let files = untracked_below(&io_path(&base, rel)?, &ds, rel, &current)?;
                    if !files.is_empty() {
                        return Err(Error::IgnoredInTheWay {
                            path: ds.display(&rel_str(rel)),
                            want: kind_name(t),
                            files,
                        });
                    }
                }
            }
        }
        plans.push(Plan {
            part: (!below.is_empty()).then(|| ds.display(&below)),
            ds,
            pointer,
            raw_pointer,
            target,
            current,
            unsaved,
        });
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
    for plan in &plans {
        let (done, mut fails) = match apply::apply(ws, store, plan, &cache, force, progress) {
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

fn kind_name(e: &FlatEntry) -> &'static str {
    match e {
        FlatEntry::File { .. } => "file",
        FlatEntry::Symlink { .. } => "symlink",
        FlatEntry::Dir => "directory",
    }
}

/// The entries below the directory `path` (dataset-relative `rel`) that the scan did not
/// list: ignored by .dvxignore, or temporary files of a dvx process still running.
fn untracked_below(
    path: &Path,
    ds: &Dataset,
    rel: &[u8],
    current: &Listing,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![(path.to_path_buf(), rel.to_vec())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for ent in entries {
            let ent = ent.map_err(|e| Error::io("list", &dir, e))?;
            let mut child = rel.clone();
            child.push(b'/');
            child.extend_from_slice(&crate::fsx::os_bytes(&ent.file_name())?);
            let is_dir = ent
                .file_type()
                .map_err(|e| Error::io("stat", ent.path(), e))?
                .is_dir();
            if !current.contains_key(&child) {
                out.push(ds.display(&rel_str(&child)));
            } else if is_dir {
                stack.push((ent.path(), child));
            }
        }
    }
    out.sort();
    Ok(out)
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
