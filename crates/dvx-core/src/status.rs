//! `dvx status`: what changed on disk since each dataset's pointer.

use std::path::PathBuf;
use std::sync::Mutex;

use dvx_manifest::Pointer;
use dvx_store::TreeId;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scan::{rel_str, scan_dataset, FlatEntry, Listing};
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

/// [`compare`] of a stored directory version with `actual`, the trees read as a stream (the
/// expected side is never a whole listing). Also says whether the version holds anything.
#[allow(clippy::type_complexity)]
pub(crate) fn compare_stored(
    ds: &Dataset,
    store: &dvx_store::Store,
    root: &TreeId,
    actual: &Listing,
) -> Result<((Vec<String>, Vec<String>, Vec<String>), bool)> {
    let show = |rel: &[u8], dir: bool| {
        let mut s = ds.display(&rel_str(rel));
        if dir {
            s.push('/');
        }
        s
    };
    let empty_tree = dvx_manifest::Tree::default().id();
    let (mut added, mut modified, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    let mut any = false;
    let mut disk = actual.iter().peekable();
    let add = |rel: &[u8], e: &FlatEntry, added: &mut Vec<String>| {
        // A new non-empty directory is reported through its contents.
        let dir = matches!(e, FlatEntry::Dir);
        if !(dir && has_children(actual, rel)) {
            added.push(show(rel, dir));
        }
    };
    crate::treeio::walk_listing(store, root, b"", &mut |rel, e| {
        any = true;
        while let Some((k, a)) = disk.next_if(|(k, _)| k.as_slice() < rel) {
            add(k, a, &mut added);
        }
        let dir = matches!(e.kind, dvx_manifest::EntryKind::Dir { .. });
        match disk.next_if(|(k, _)| k.as_slice() == rel) {
            Some((_, a)) => {
                if !crate::treeio::flat_of(&e.kind).same_content(a) {
                    modified.push(show(rel, matches!(a, FlatEntry::Dir)));
                }
            }
            None => {
                // A removed non-empty directory is reported through its contents.
                let has_children =
                    matches!(e.kind, dvx_manifest::EntryKind::Dir { id, .. } if id != empty_tree);
                if !(dir && has_children) {
                    deleted.push(show(rel, dir));
                }
            }
        }
        true
    })?;
    for (k, a) in disk {
        add(k, a, &mut added);
    }
    Ok(((added, modified, deleted), any))
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
    // Loaded only when a dataset is not known clean from its snapshot.
    let mut cache: Option<Mutex<StatCache>> = None;
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
        let cache = cache.get_or_insert_with(|| Mutex::new(StatCache::load(&state_dir)));
        let actual = scan_dataset(ws, &ds, store, cache, None, progress)?;
        let ((a, m, d), expected_any) = if dir_base.is_some() {
            compare_stored(&ds, store, &ptr.id, &actual)?
        } else {
            // A single-file dataset: one entry, its shape checked.
            let expected = load_dataset(store, &ptr)?;
            (compare(&ds, &expected, &actual), !expected.is_empty())
        };
        st.state = if actual.is_empty() && expected_any {
            StatusState::Missing
        } else if a.is_empty() && m.is_empty() && d.is_empty() {
            StatusState::Clean
        } else {
            StatusState::Modified
        };
        if let Some(base) = &dir_base {
            if st.state == StatusState::Clean {
                let c = cache.get_mut().expect("cache lock poisoned");
                // Clean: the disk's listing holds the version's paths, digests and modes.
                snapshot::record(&state_dir, &ptr.path, base, &ptr.id, &actual, c);
            } else {
                snapshot::forget(&state_dir, &ptr.path);
            }
        }
        (st.added, st.modified, st.deleted) = (a, m, d);
        report.datasets.push(st);
    }
    if let Some(cache) = cache {
        cache.into_inner().expect("cache lock poisoned").save()?;
    }
    Ok(report)
}
