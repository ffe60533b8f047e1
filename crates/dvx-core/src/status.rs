//! `dvx status`: what changed on disk since each dataset's pointer.

use std::path::PathBuf;

use dvx_manifest::Pointer;
use dvx_store::TreeId;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scan::merge::{merge_with_version, Sides};
use crate::scan::{is_below, rel_str, scan_dataset, FlatEntry, Listing};
use crate::statcache::{snapshot, StatCache};
use crate::treeio::load_dataset;
use crate::workspace::{Dataset, Workspace};

/// Overall state of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusState {
    /// Data on disk matches the pointer.
    Clean,
    /// Something differs.
    Modified,
    /// Nothing of the dataset is on disk.
    Missing,
    /// The pointer's version is not in the local store, so it cannot be compared.
    NotInStore,
}

impl StatusState {
    /// Lower-case name used in output.
    pub fn as_str(&self) -> &'static str {
        match self {
            StatusState::Clean => "clean",
            StatusState::Modified => "modified",
            StatusState::Missing => "missing",
            StatusState::NotInStore => "not-in-store",
        }
    }
}

/// Status of one dataset. Paths are repo-relative; directories end with `/`.
#[derive(Clone, Debug)]
pub struct DatasetStatus {
    /// Dataset path.
    pub path: String,
    /// Pointer file.
    pub pointer: String,
    /// Version id in the pointer.
    pub id: TreeId,
    /// Overall state.
    pub state: StatusState,
    /// On disk, not in the pointer's version.
    pub added: Vec<String>,
    /// Different content, kind or mode.
    pub modified: Vec<String>,
    /// In the pointer's version, not on disk.
    pub deleted: Vec<String>,
}

/// Status of every dataset asked about.
#[derive(Clone, Debug, Default)]
pub struct StatusReport {
    /// Per dataset, in path order.
    pub datasets: Vec<DatasetStatus>,
}

/// Pointers named by user paths (or all in the worktree when none).
pub(crate) fn select_pointers(
    ws: &Workspace,
    cwd: &std::path::Path,
    paths: &[PathBuf],
) -> Result<Vec<Pointer>> {
    if paths.is_empty() {
        return ws.all_worktree_pointers();
    }
    let mut out = Vec::new();
    for p in paths {
        let path = ws.dataset_path(cwd, p)?;
        let ptr = ws
            .worktree_pointer(&path)?
            .ok_or_else(|| Error::NotADataset {
                pointer: dvx_manifest::pointer_path_for(&path),
                path: path.clone(),
                place: "in the worktree".into(),
            })?;
        out.push(ptr);
    }
    Ok(out)
}

/// Compares two listings: (added, modified, deleted) as display paths.
pub(crate) fn compare(
    ds: &Dataset,
    old: &Listing,
    new: &Listing,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let show = |rel: &[u8], e: &FlatEntry| {
        let mut s = ds.display(&rel_str(rel));
        if matches!(e, FlatEntry::Dir) {
            s.push('/');
        }
        s
    };
    let (mut added, mut modified, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for (rel, e) in new {
        match old.get(rel) {
            None => {
                // A new non-empty directory is reported through its contents.
                if !(matches!(e, FlatEntry::Dir) && has_children(new, rel)) {
                    added.push(show(rel, e));
                }
            }
            Some(o) if !o.same_content(e) => modified.push(show(rel, e)),
            Some(_) => {}
        }
    }
    for (rel, e) in old {
        if !(new.contains_key(rel) || matches!(e, FlatEntry::Dir) && has_children(old, rel)) {
            deleted.push(show(rel, e));
        }
    }
    (added, modified, deleted)
}

/// What [`compare_on_disk`] found.
struct OnDisk {
    /// Added, modified and deleted display paths, each in path order.
    changes: (Vec<String>, Vec<String>, Vec<String>),
    /// Whether the disk holds anything of the dataset, and the version anything at all.
    disk_any: bool,
    expected_any: bool,
    /// The clean snapshot of the scan, if every entry was vouched for by the stat cache.
    snapshot: Option<snapshot::Recorder>,
}

/// [`compare`] of a directory dataset on disk with its stored version `root`, both read as
/// streams in the order of a depth-first walk ([`merge_with_version`]). Memory holds a batch
/// of each side and the changes.
fn compare_on_disk(
    ws: &Workspace,
    ds: &Dataset,
    store: &dvx_store::Store,
    root: &TreeId,
    cache: &StatCache,
    progress: &dyn Progress,
) -> Result<OnDisk> {
    let state_dir = ws.state_dir();
    let mut out = Changes::default();
    let (mut disk_any, mut expected_any) = (false, false);
    let mut snap = snapshot::Recorder::new(&state_dir).ok();
    // A directory found on disk only: reported unless something below it follows.
    let mut new_dir: Option<Vec<u8>> = None;
    let sides = Sides {
        disk: true,
        chunks: false,
    };
    let end = merge_with_version(ws, ds, store, root, cache, sides, progress, &mut |p| {
        let Some(s) = p.disk else {
            if let Some(st) = p.stored {
                expected_any = true;
                out.deleted_entry(p.rel, &st.entry, st.filled);
            }
            return Ok(());
        };
        disk_any = true;
        if let Some(dir) = new_dir.take() {
            if !is_below(&s.rel, &dir) {
                out.added.push((dir, true));
            }
        }
        let dir = matches!(s.entry, FlatEntry::Dir);
        match p.stored {
            Some(st) => {
                expected_any = true;
                if !st.entry.same_content(&s.entry) {
                    out.modified.push((p.rel, dir));
                }
            }
            None if dir => new_dir = Some(p.rel),
            None => out.added.push((p.rel, false)),
        }
        if snap.as_mut().is_some_and(|r| !r.push(&s)) {
            snap = None;
        }
        Ok(())
    })?
    .expect("the disk was scanned");
    if let Some(dir) = new_dir.take() {
        out.added.push((dir, true));
    }
    let changes = out.display(ds);
    let clean = changes.0.is_empty() && changes.1.is_empty() && changes.2.is_empty();
    Ok(OnDisk {
        changes,
        disk_any,
        expected_any,
        snapshot: snap.filter(|_| clean && end.snapshot_ok),
    })
}

/// Changes by path below the dataset base, and whether the path is a directory.
#[derive(Default)]
struct Changes {
    added: Vec<(Vec<u8>, bool)>,
    modified: Vec<(Vec<u8>, bool)>,
    deleted: Vec<(Vec<u8>, bool)>,
}

impl Changes {
    fn deleted_entry(&mut self, rel: Vec<u8>, e: &FlatEntry, filled: bool) {
        let dir = matches!(e, FlatEntry::Dir);
        // A removed non-empty directory is reported through its contents.
        if !(dir && filled) {
            self.deleted.push((rel, dir));
        }
    }

    /// Display paths, each list in the byte order of the paths (as a listing has them).
    fn display(self, ds: &Dataset) -> (Vec<String>, Vec<String>, Vec<String>) {
        let show = |mut v: Vec<(Vec<u8>, bool)>| -> Vec<String> {
            v.sort();
            v.into_iter()
                .map(|(rel, dir)| {
                    let mut s = ds.display(&rel_str(&rel));
                    if dir {
                        s.push('/');
                    }
                    s
                })
                .collect()
        };
        (show(self.added), show(self.modified), show(self.deleted))
    }
}

/// Whether the directory `rel` of a listing holds anything.
fn has_children(l: &Listing, rel: &[u8]) -> bool {
    let mut prefix = rel.to_vec();
    prefix.push(b'/');
    l.range(prefix.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&prefix))
}

/// Compares each dataset on disk with its pointer.
pub fn status(
    ws: &Workspace,
    cwd: &std::path::Path,
    paths: &[PathBuf],
    progress: &dyn Progress,
) -> Result<StatusReport> {
    ws.require_init()?;
    let pointers = select_pointers(ws, cwd, paths)?;
    let store = ws.store()?;
    let state_dir = ws.state_dir();
    let cache = StatCache::new(&state_dir);
    let mut report = StatusReport::default();
    for ptr in pointers {
        let ds = Dataset::of(&ptr);
        let mut st = DatasetStatus {
            path: ptr.path.clone(),
            pointer: ptr.file(),
            id: ptr.id,
            state: StatusState::Clean,
            added: vec![],
            modified: vec![],
            deleted: vec![],
        };
        if !store.has_tree(&ptr.id) {
            st.state = StatusState::NotInStore;
            report.datasets.push(st);
            continue;
        }
        let dir_base = ds.only().is_none().then(|| ws.abs(&ds.base()));
        if let Some(base) = &dir_base {
            if snapshot::is_clean(&state_dir, &ptr.path, base, &ptr.id) {
                report.datasets.push(st);
                continue;
            }
        }
        let (a, m, d) = if dir_base.is_some() {
            let found = compare_on_disk(ws, &ds, store, &ptr.id, &cache, progress)?;
            let (a, m, d) = found.changes;
            let clean = a.is_empty() && m.is_empty() && d.is_empty();
            st.state = if !found.disk_any && found.expected_any {
                StatusState::Missing
            } else if clean {
                StatusState::Clean
            } else {
                StatusState::Modified
            };
            match found.snapshot {
                // Clean, every entry vouched for: the next status can say so from a walk.
                Some(r) if st.state == StatusState::Clean => r.save(&state_dir, &ptr.path, &ptr.id),
                _ => snapshot::forget(&state_dir, &ptr.path),
            }
            (a, m, d)
        } else {
            // A single-file dataset: one entry, its shape checked.
            let actual = scan_dataset(ws, &ds, store, &cache, None, progress)?;
            let expected = load_dataset(store, &ptr)?;
            let (a, m, d) = compare(&ds, &expected, &actual);
            st.state = if actual.is_empty() && !expected.is_empty() {
                StatusState::Missing
            } else if a.is_empty() && m.is_empty() && d.is_empty() {
                StatusState::Clean
            } else {
                StatusState::Modified
            };
            (a, m, d)
        };
        (st.added, st.modified, st.deleted) = (a, m, d);
        report.datasets.push(st);
    }
    Ok(report)
}

#[cfg(all(test, unix))]
mod tests;
