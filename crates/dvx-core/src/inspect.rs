//! Read-only commands: `ls`, `cat`, `id`, `log`, `diff`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use dvx_manifest::{Change, DatasetKind, Pointer};
use dvx_store::{Digest, TreeId};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scan::{rel_str, scan_dataset, FlatEntry, Listing};
use crate::statcache::StatCache;
use crate::targets::place;
use crate::treeio::load_dataset;
use crate::workspace::{Dataset, Workspace};

/// One entry of `dvx ls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsEntry {
    /// Repo-relative path.
    pub path: String,
    /// "file", "dir" or "symlink".
    pub kind: &'static str,
    /// Bytes (files).
    pub size: u64,
    /// Hex BLAKE3 of the content (files) or tree id (directories).
    pub digest: Option<String>,
    /// Executable bit (files).
    pub executable: bool,
    /// Link target (symlinks).
    pub target: Option<String>,
    /// For an entry of an imported dataset, where the dataset came from.
    pub source: Option<dvx_manifest::Source>,
}

fn commit_of(ws: &Workspace, rev: Option<&str>) -> Result<Option<dvx_git::Commit>> {
    rev.map(|r| ws.repo.resolve(r))
        .transpose()
        .map_err(Error::from)
}

fn pointer_of(
    ws: &Workspace,
    commit: Option<&dvx_git::Commit>,
    dataset: &str,
) -> Result<Option<Pointer>> {
    match commit {
        Some(c) => Ok(ws.pointer_at(c, dataset)?.map(|(p, _)| p)),
        None => ws.worktree_pointer(dataset),
    }
}

fn find_dataset(
    ws: &Workspace,
    commit: Option<&dvx_git::Commit>,
    path: &str,
) -> Result<Option<(Pointer, String)>> {
    Ok(ws.find_dataset(commit, path)?.map(|(p, _, below)| {
        // For a single-file dataset, its entry is named like the file.
        let below = match (p.kind, below.is_empty()) {
            (DatasetKind::File, true) => file_name(&p).to_string(),
            _ => below,
        };
        (p, below)
    }))
}

/// The name of a single-file dataset's one entry.
fn file_name(p: &Pointer) -> &str {
    p.path.rsplit('/').next().unwrap_or(&p.path)
}

/// The store, when it holds the root tree of `p`'s version.
fn store_with<'w>(ws: &'w Workspace, p: &Pointer) -> Result<&'w dvx_store::Store> {
    let store = ws.store()?;
    if !store.has_tree(&p.id) {
        return Err(Error::MissingVersion {
            path: p.path.clone(),
            id: p.id,
        });
    }
    Ok(store)
}

fn listing_of(ws: &Workspace, p: &Pointer) -> Result<Listing> {
    let store = store_with(ws, p)?;
    load_dataset(store, p)
}

/// Lists the entries of datasets at `rev` (or the worktree's pointers), optionally below `path`.
pub fn ls(
    ws: &Workspace,
    rev: Option<&str>,
    path: Option<&Path>,
    cwd: &Path,
) -> Result<Vec<LsEntry>> {
    let mut out = Vec::new();
    ls_each(ws, rev, path, cwd, &mut |e| {
        out.push(e);
        true
    })?;
    Ok(out)
}

/// [`ls`], showing `each` one entry at a time, each dataset's entries in the byte order of
/// their paths, as they are read: memory does not grow with the number of entries. `each`
/// returns false to stop (a closed output); the result is then `Ok(())`.
pub fn ls_each(
    ws: &Workspace,
    rev: Option<&str>,
    path: Option<&Path>,
    cwd: &Path,
    each: &mut dyn FnMut(LsEntry) -> bool,
) -> Result<()> {
    ws.require_init()?;
    let paths: Vec<PathBuf> = path.map(Path::to_path_buf).into_iter().collect();
    let selected = crate::targets::select(ws, rev, &paths, cwd)?
        .into_iter()
        .map(|t| {
            // A path naming a single-file dataset names its one entry.
            let below = match (t.pointer.kind, path.is_some() && t.below.is_empty()) {
                (DatasetKind::File, true) => file_name(&t.pointer).to_string(),
                _ => t.below,
            };
            (t.pointer, below)
        });
    for (p, below) in selected {
        let ds = Dataset::of(&p);
        let store = store_with(ws, &p)?;
        if p.kind == DatasetKind::File {
            // Checks its shape: exactly one entry, named like the file.
            listing_of(ws, &p)?;
        }
        let mut shown = 0u64;
        let whole = crate::treeio::walk_listing(
            store,
            &p.id,
            &crate::names::rel_bytes(&below),
            &mut |rel, e| {
                shown += 1;
                each(ls_entry(&ds, &p, rel, e))
            },
        )?;
        if !whole {
            return Ok(());
        }
        // A misspelt path inside a dataset must not look like an empty folder.
        if !below.is_empty() && shown == 0 {
            return Err(Error::NoSuchPath {
                path: ds.display(&below),
                place: place(rev),
                hint: format!(
                    " (`dvx ls{} {}` lists what it holds)",
                    rev.map(|r| format!(" {r}")).unwrap_or_default(),
                    ds.path
                ),
            });
        }
    }
    Ok(())
}

/// The [`LsEntry`] of the entry `e` at `rel` in the dataset of pointer `p`.
fn ls_entry(ds: &Dataset, p: &Pointer, rel: &[u8], e: &dvx_manifest::Entry) -> LsEntry {
    let path = ds.display(&rel_str(rel));
    let source = p.source.clone();
    match &e.kind {
        dvx_manifest::EntryKind::File {
            size,
            digest,
            executable,
            ..
        } => LsEntry {
            path,
            kind: "file",
            size: *size,
            digest: Some(digest.to_hex()),
            executable: *executable,
            target: None,
            source,
        },
        dvx_manifest::EntryKind::Symlink { target } => LsEntry {
            path,
            kind: "symlink",
            size: 0,
            digest: None,
            executable: false,
            target: Some(crate::names::rel_string(target)),
            source,
        },
        dvx_manifest::EntryKind::Dir { id, size, .. } => LsEntry {
            path,
            kind: "dir",
            size: *size,
            digest: Some(id.to_hex()),
            executable: false,
            target: None,
            source,
        },
    }
}

/// Writes the bytes of `<rev>:<path>` to `out`. Small files are verified whole before the
/// first byte is written; large ones chunk by chunk.
pub fn cat(ws: &Workspace, spec: &str, out: &mut dyn Write) -> Result<()> {
    ws.require_init()?;
    let (rev, path) = spec.split_once(':').ok_or_else(|| Error::InvalidArgument {
        argument: "spec",
        message: format!("`{spec}`: expected <rev>:<path>, e.g. HEAD~1:data/a.csv"),
    })?;
    let rev = if rev.is_empty() { "HEAD" } else { rev };
    // A name printed quoted (control characters, bytes that are not UTF-8) is taken back in
    // that form: `dvx cat 'HEAD:"data/\377.bin"'`.
    let unquoted = crate::names::unquote(path).map(|b| crate::names::rel_string(&b));
    let path = unquoted
        .as_deref()
        .unwrap_or(path)
        .trim_start_matches("./")
        .trim_end_matches('/');
    let shown = crate::names::quote(path);
    let commit = ws.repo.resolve(rev)?;
    let (p, below) = find_dataset(ws, Some(&commit), path)?.ok_or_else(|| Error::NoSuchPath {
        path: shown.to_string(),
        place: format!("at revision {rev}"),
        hint: format!(" (`dvx ls {rev}` lists its datasets)"),
    })?;
    let listing = listing_of(ws, &p)?;
    let entry = listing
        .get(&crate::names::rel_bytes(&below))
        .ok_or_else(|| Error::NoSuchPath {
            path: shown.to_string(),
            place: format!("at revision {rev}"),
            hint: format!(" (`dvx ls {rev} {}` lists what it holds)", p.path),
        })?;
    let FlatEntry::File {
        chunks,
        size,
        digest,
        ..
    } = entry
    else {
        return Err(Error::NotARegularFile {
            path: path.to_string(),
            place: format!(" at revision {rev}"),
            detail: "a folder or a symlink; `dvx cat` prints files".into(),
        });
    };
    let store = ws.store()?;
    let read = |id: &dvx_store::ChunkId| {
        store.read_chunk(id).map_err(|e| Error::DamagedFile {
            file: path.to_string(),
            source: e,
        })
    };
    let stdout_err = |e: std::io::Error| Error::io("write", "standard output", e);
    if *size <= 64 << 20 {
        let mut buf = Vec::with_capacity(*size as usize);
        for c in chunks {
            buf.extend_from_slice(&read(&c.id)?);
        }
        if Digest::of(&buf) != *digest {
            return Err(Error::DigestMismatch {
                file: path.to_string(),
                expected: *digest,
            });
        }
        out.write_all(&buf).map_err(stdout_err)?;
    } else {
        for c in chunks {
            out.write_all(&read(&c.id)?).map_err(stdout_err)?;
        }
    }
    out.flush().map_err(stdout_err)
}

/// Which id `dvx id` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdOf {
    /// The recorded id, but only if the data on disk is that version (always, at a revision:
    /// a revision's pointer is what that commit recorded, whatever is on disk now).
    Checked,
    /// The id the pointer records, whatever is on disk.
    Pointer,
    /// The id of the data on disk (not necessarily saved in the store).
    Worktree,
}

/// The version id of a dataset at `rev` (or in the worktree), as `of` asks.
pub fn id(
    ws: &Workspace,
    rev: Option<&str>,
    path: &Path,
    cwd: &Path,
    of: IdOf,
    progress: &dyn Progress,
) -> Result<TreeId> {
    if rev.is_some() && of == IdOf::Worktree {
        return Err(Error::InvalidArgument {
            argument: "--worktree",
            message: "the id of the data on disk takes no revision: `dvx id --worktree <path>`"
                .into(),
        });
    }
    let commit = commit_of(ws, rev)?;
    let rel = ws.dataset_path(cwd, path)?;
    let not_a_dataset = || Error::NotADataset {
        pointer: dvx_manifest::pointer_path_for(&rel),
        path: rel.clone(),
        place: place(rev),
    };
    let p = pointer_of(ws, commit.as_ref(), &rel)?;
    match (of, rev) {
        (IdOf::Pointer, _) | (IdOf::Checked, Some(_)) => Ok(p.ok_or_else(not_a_dataset)?.id),
        (IdOf::Worktree, _) => {
            let kind = match &p {
                Some(p) => p.kind,
                None => match crate::fsx::lstat(&ws.abs(&rel))? {
                    Some(m) if m.is_dir() => DatasetKind::Dir,
                    Some(m) if m.is_file() => DatasetKind::File,
                    _ => return Err(not_a_dataset()),
                },
            };
            disk_id(ws, &rel, kind, progress)
        }
        (IdOf::Checked, None) => {
            let p = p.ok_or_else(not_a_dataset)?;
            let on_disk = disk_id(ws, &rel, p.kind, progress)?;
            if on_disk != p.id {
                return Err(Error::DataDiffers {
                    path: rel.clone(),
                    pointer: dvx_manifest::pointer_path_for(&rel),
                    recorded: p.id,
                    on_disk,
                });
            }
            Ok(p.id)
        }
    }
}

/// The id of what is on disk: a scan through the stat cache (only files whose stat changed
/// are read) and trees encoded in memory, as `add` would store them.
fn disk_id(
    ws: &Workspace,
    rel: &str,
    kind: DatasetKind,
    progress: &dyn Progress,
) -> Result<TreeId> {
    ws.require_init()?;
    let ds = Dataset {
        path: rel.to_string(),
        kind,
    };
    let store = ws.store()?;
    let cache = StatCache::new(&ws.state_dir());
    let listing = scan_dataset(ws, &ds, store, &cache, None, progress)?;
    Ok(crate::treeio::listing_id(&listing)?.0)
}

/// One version in a dataset's history.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// Dataset path.
    pub path: String,
    /// The commit that changed the pointer.
    pub commit: dvx_git::Commit,
    /// Version id (None when the commit removed the pointer or it is unreadable).
    pub id: Option<TreeId>,
    /// Files in that version.
    pub files: u64,
    /// Bytes in that version.
    pub bytes: u64,
    /// The version's message.
    pub message: Option<String>,
    /// Free metadata.
    pub meta: BTreeMap<String, String>,
    /// For an imported dataset, where that version came from.
    pub source: Option<dvx_manifest::Source>,
}

/// Every commit reachable from HEAD that changed the pointer(s), newest first.
pub fn log(ws: &Workspace, path: Option<&Path>, cwd: &Path) -> Result<Vec<LogEntry>> {
    let head = ws.repo.head()?;
    let named = path.map(|p| ws.dataset_path(cwd, p)).transpose()?;
    let Some(head) = head else {
        if let Some(d) = &named {
            if !has_worktree_pointer(ws, d) {
                return Err(no_dataset_in_history(d));
            }
        }
        return Ok(Vec::new());
    };
    let datasets: Vec<String> = match &named {
        Some(d) => vec![d.clone()],
        None => {
            let mut set: BTreeSet<String> = ws
                .pointers_at(&head)?
                .into_iter()
                .map(|(p, _)| p.path)
                .collect();
            for f in ws.worktree_pointers()? {
                if let Some(d) = f.strip_suffix(dvx_manifest::POINTER_SUFFIX) {
                    set.insert(d.to_string());
                }
            }
            set.into_iter().collect()
        }
    };
    let mut out = Vec::new();
    for d in datasets {
        let file = dvx_manifest::pointer_path_for(&d);
        for change in ws.repo.log_path(&head, &file)? {
            let parsed = change
                .content
                .as_deref()
                .and_then(|b| Pointer::parse(&file, b).ok());
            out.push(LogEntry {
                path: d.clone(),
                commit: change.commit,
                id: parsed.as_ref().map(|p| p.id),
                files: parsed.as_ref().map_or(0, |p| p.files),
                bytes: parsed.as_ref().map_or(0, |p| p.bytes),
                message: parsed.as_ref().and_then(|p| p.meta.message.clone()),
                source: parsed.as_ref().and_then(|p| p.source.clone()),
                meta: parsed.map(|p| p.meta.extra).unwrap_or_default(),
            });
        }
    }
    if let Some(d) = &named {
        // A path that no commit's pointer and no worktree pointer names is a typo, not a
        // dataset without history.
        if out.is_empty() && !has_worktree_pointer(ws, d) {
            return Err(no_dataset_in_history(d));
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.commit.time));
    Ok(out)
}

fn has_worktree_pointer(ws: &Workspace, d: &str) -> bool {
    std::fs::symlink_metadata(ws.abs(&dvx_manifest::pointer_path_for(d))).is_ok()
}

fn no_dataset_in_history(d: &str) -> Error {
    Error::NoSuchPath {
        path: d.to_string(),
        place: "in the worktree or in the history of HEAD".into(),
        hint: format!(
            " (no pointer {} was ever committed; `dvx log` lists every dataset)",
            dvx_manifest::pointer_path_for(d)
        ),
    }
}

/// One side of a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffSide {
    /// The pointer in the worktree.
    Pointer,
    /// The data on disk.
    Disk,
    /// The pointer at a revision.
    Rev(String),
}

/// What to compare.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// Old side.
    pub from: DiffSide,
    /// New side.
    pub to: DiffSide,
    /// Datasets (empty = all on either side).
    pub paths: Vec<PathBuf>,
    /// Directory paths are relative to.
    pub cwd: PathBuf,
}

/// Differences of one dataset.
#[derive(Clone, Debug)]
pub struct DatasetDiff {
    /// Dataset path.
    pub path: String,
    /// Old version id (None: absent, or the data on disk).
    pub from: Option<TreeId>,
    /// New version id.
    pub to: Option<TreeId>,
    /// Changed files, repo-relative paths.
    pub changes: Vec<Change>,
}

/// Result of `diff`.
#[derive(Clone, Debug, Default)]
pub struct DiffReport {
    /// Per dataset.
    pub datasets: Vec<DatasetDiff>,
}

type Fingerprint = (u8, Vec<u8>);

fn fingerprints(ds: &Dataset, l: &Listing) -> BTreeMap<String, (u64, Fingerprint)> {
    l.iter()
        .filter_map(|(rel, e)| {
            let fp = match e {
                FlatEntry::File {
                    digest, executable, ..
                } => (u8::from(*executable), digest.as_bytes().to_vec()),
                FlatEntry::Symlink { target } => (2, target.clone()),
                FlatEntry::Dir => return None,
            };
            Some((ds.display(&rel_str(rel)), (e.size(), fp)))
        })
        .collect()
}

/// Compares two sides dataset by dataset.
pub fn diff(ws: &Workspace, opts: &DiffOptions, progress: &dyn Progress) -> Result<DiffReport> {
    ws.require_init()?;
    let resolve = |side: &DiffSide| -> Result<Option<dvx_git::Commit>> {
        match side {
            DiffSide::Rev(r) => Ok(Some(ws.repo.resolve(r)?)),
            _ => Ok(None),
        }
    };
    let (ca, cb) = (resolve(&opts.from)?, resolve(&opts.to)?);
    let side_pointers = |c: &Option<dvx_git::Commit>| -> Result<Vec<String>> {
        Ok(match c {
            Some(c) => ws
                .pointers_at(c)?
                .into_iter()
                .map(|(p, _)| p.path)
                .collect(),
            None => ws
                .all_worktree_pointers()?
                .into_iter()
                .map(|p| p.path)
                .collect(),
        })
    };
    let datasets: Vec<String> = if opts.paths.is_empty() {
        let mut set: BTreeSet<String> = side_pointers(&ca)?.into_iter().collect();
        set.extend(side_pointers(&cb)?);
        set.into_iter().collect()
    } else {
        opts.paths
            .iter()
            .map(|p| ws.dataset_path(&opts.cwd, p))
            .collect::<Result<_>>()?
    };
    let store = ws.store()?;
    let on_disk = opts.from == DiffSide::Disk || opts.to == DiffSide::Disk;
    // The stat cache serves a side read from disk.
    let cache = StatCache::new(&ws.state_dir());
    let mut report = DiffReport::default();
    for d in datasets {
        let pa = pointer_of(ws, ca.as_ref(), &d)?;
        let pb = pointer_of(ws, cb.as_ref(), &d)?;
        let worktree_ptr = ws.worktree_pointer(&d)?;
        let kind = pa
            .as_ref()
            .or(pb.as_ref())
            .or(worktree_ptr.as_ref())
            .map(|p| p.kind);
        let Some(kind) = kind else {
            return Err(Error::NotADataset {
                pointer: dvx_manifest::pointer_path_for(&d),
                path: d.clone(),
                place: "on either side of the diff".into(),
            });
        };
        let ds = Dataset {
            path: d.clone(),
            kind,
        };
        let stored = |p: &Option<Pointer>| p.as_ref().is_none_or(|p| p.kind == DatasetKind::Dir);
        if !on_disk && stored(&pa) && stored(&pb) {
            // Two stored directory versions: their trees are compared side by side, and
            // directories with the same tree are skipped unread.
            let (from, to) = (pa.as_ref().map(|p| p.id), pb.as_ref().map(|p| p.id));
            for p in pa.iter().chain(&pb) {
                store_with(ws, p)?;
            }
            let mut changes = Vec::new();
            crate::treeio::diff_versions(store, from.as_ref(), to.as_ref(), &mut |rel, a, b| {
                if let Some(c) = change(&ds, rel, a, b) {
                    changes.push(c);
                }
            })?;
            changes.sort_by(|a, b| a.path().cmp(b.path()));
            report.datasets.push(DatasetDiff {
                path: d,
                from,
                to,
                changes,
            });
            continue;
        }
        let side = |side: &DiffSide, p: &Option<Pointer>| -> Result<(Option<TreeId>, Listing)> {
            match side {
                DiffSide::Disk => Ok((None, scan_dataset(ws, &ds, store, &cache, None, progress)?)),
                _ => match p {
                    Some(p) => Ok((Some(p.id), listing_of(ws, p)?)),
                    None => Ok((None, Listing::new())),
                },
            }
        };
        let (from, la) = side(&opts.from, &pa)?;
        let (to, lb) = side(&opts.to, &pb)?;
        let changes = dvx_manifest::diff(&fingerprints(&ds, &la), &fingerprints(&ds, &lb)).changes;
        report.datasets.push(DatasetDiff {
            path: d,
            from,
            to,
            changes,
        });
    }
    Ok(report)
}

/// The change at `rel` between two entries that are files or links (`None`: absent there),
/// as [`dvx_manifest::diff`] of their fingerprints reports it.
fn change(
    ds: &Dataset,
    rel: &[u8],
    a: Option<&dvx_manifest::Entry>,
    b: Option<&dvx_manifest::Entry>,
) -> Option<Change> {
    use dvx_manifest::EntryKind::{File, Symlink};
    let path = || ds.display(&rel_str(rel));
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(Change::Removed {
            path: path(),
            size: a.size(),
        }),
        (None, Some(b)) => Some(Change::Added {
            path: path(),
            size: b.size(),
        }),
        (Some(a), Some(b)) => {
            let same = match (&a.kind, &b.kind) {
                (
                    File {
                        digest: da,
                        executable: xa,
                        ..
                    },
                    File {
                        digest: db,
                        executable: xb,
                        ..
                    },
                ) => da == db && xa == xb,
                (Symlink { target: ta }, Symlink { target: tb }) => ta == tb,
                _ => false,
            };
            (!same).then(|| Change::Modified {
                path: path(),
                old_size: a.size(),
                new_size: b.size(),
            })
        }
    }
}
