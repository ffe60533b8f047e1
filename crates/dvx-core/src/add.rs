//! `dvx add`: store the data of one or more paths and write their pointers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dvx_manifest::{DatasetKind, Meta, Pointer};
use dvx_store::{TreeId, WriteStats};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scan::scan_each;
use crate::statcache::snapshot::Recorder;
use crate::statcache::StatCache;
use crate::treeio::SpooledTrees;
use crate::workspace::{Dataset, Workspace};

/// What to add.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// Paths as given by the user.
    pub paths: Vec<PathBuf>,
    /// The directory the paths are relative to.
    pub cwd: PathBuf,
    /// Version message.
    pub message: Option<String>,
    /// Free metadata.
    pub meta: BTreeMap<String, String>,
    /// Do not stage pointer and .gitignore in git.
    pub no_stage: bool,
}

/// One dataset added.
#[derive(Clone, Debug)]
pub struct DatasetAdded {
    /// Repo-relative dataset path.
    pub path: String,
    /// The new version id.
    pub id: TreeId,
    /// Previous version id, if the dataset was tracked before.
    pub previous: Option<TreeId>,
    /// Files (and links).
    pub files: u64,
    /// Total bytes.
    pub bytes: u64,
}

/// What `add` did.
#[derive(Clone, Debug)]
pub struct AddReport {
    /// Per dataset.
    pub datasets: Vec<DatasetAdded>,
    /// Store counters (new chunks, bytes stored...).
    pub stats: WriteStats,
}

/// Stores the data of every path, then writes and stages the pointers.
pub fn add(ws: &Workspace, opts: &AddOptions, progress: &dyn Progress) -> Result<AddReport> {
    ws.require_init()?;
    if opts.paths.is_empty() {
        return Err(Error::InvalidArgument {
            argument: "path",
            message: "nothing to add: name a directory or file".into(),
        });
    }
    let mut datasets = Vec::new();
    for p in &opts.paths {
        let path = ws.dataset_path(&opts.cwd, p)?;
        let abs = ws.abs(&path);
        let meta = crate::fsx::lstat(&abs)?.ok_or_else(|| Error::NoSuchFile {
            path: p.display().to_string(),
        })?;
        let kind = if meta.is_dir() {
            DatasetKind::Dir
        } else if meta.is_file() {
            DatasetKind::File
        } else {
            return Err(Error::NotARegularFile {
                path: p.display().to_string(),
                place: String::new(),
                detail:
                    "a dataset must be a directory or a regular file (symlinks are not followed)"
                        .into(),
            });
        };
        // A path inside an existing dataset is a mistake: add the dataset itself.
        let mut prefix = String::new();
        for comp in path.split('/') {
            if !prefix.is_empty() {
                let candidate = ws.abs(&dvx_manifest::pointer_path_for(&prefix));
                if candidate.is_file() {
                    return Err(Error::InvalidArgument {
                        argument: "path",
                        message: format!(
                            "{path} is inside the dataset {prefix}: run `dvx add {prefix}` instead"
                        ),
                    });
                }
            }
            prefix = crate::workspace::join_rel(&prefix, comp);
        }
        if let Some(d) = datasets.iter().find(|d: &&Dataset| {
            path.starts_with(&format!("{}/", d.path)) || d.path.starts_with(&format!("{path}/"))
        }) {
            return Err(Error::InvalidArgument {
                argument: "path",
                message: format!(
                    "{} and {path} overlap: a dataset cannot hold another; add one of them",
                    d.path
                ),
            });
        }
        if !datasets.iter().any(|d: &Dataset| d.path == path) {
            check_pointer_fits(&path, kind, opts)?;
            datasets.push(Dataset { path, kind });
        }
    }

    let store = ws.store()?;
    let state = ws.state_dir();
    let cache = StatCache::new(&state);
    let writer = store.writer();
    // Each dataset's trees and clean snapshot wait in temporary files: trees may name only
    // chunks that are durable.
    let mut scanned = Vec::new();
    for ds in &datasets {
        let mut trees = SpooledTrees::new(&state)?;
        // The data on disk is this version now: the next status can say so from a walk.
        let mut snap = match ds.only() {
            None => Recorder::new(&state).ok(),
            Some(_) => None,
        };
        let end = scan_each(
            ws,
            ds,
            store.config().chunker,
            &cache,
            Some(&writer),
            progress,
            &mut |s| {
                if snap.as_mut().is_some_and(|r| !r.push(&s)) {
                    snap = None;
                }
                trees.push(&s.rel, &s.entry)
            },
        )?;
        let (root, spool) = trees.finish()?;
        scanned.push((root, spool, snap.filter(|_| end.snapshot_ok)));
    }
    // Chunks must be durable and indexed before any tree or pointer names them.
    let stats = writer.finish()?;

    let created = crate::fsx::now_rfc3339();
    let mut added = Vec::new();
    let mut to_stage = Vec::new();
    for (ds, ((id, bytes, files), spool, snap)) in datasets.iter().zip(scanned) {
        spool.write(store)?;
        let old = ws.worktree_pointer(&ds.path).ok().flatten();
        let previous = old.as_ref().map(|p| p.id);
        let unchanged = old
            .as_ref()
            .is_some_and(|o| o.id == id && o.kind == ds.kind)
            && opts.message.is_none()
            && opts.meta.is_empty();
        let pointer = Pointer {
            path: ds.path.clone(),
            kind: ds.kind,
            id,
            files,
            bytes,
            meta: Meta {
                message: opts.message.clone(),
                created: Some(created.clone()),
                extra: opts.meta.clone(),
            },
            source: None,
        };
        let file = pointer.file();
        // Re-adding unchanged data keeps the pointer byte-identical (no spurious git diff).
        if !unchanged {
            crate::fsx::write_atomic(&ws.abs(&file), pointer.encode_checked()?.as_bytes())?;
        }
        match snap {
            Some(r) => r.save(&state, &ds.path, &id),
            None => crate::statcache::snapshot::forget(&state, &ds.path),
        }
        to_stage.push(file);
        to_stage.extend(ws.ignore_dataset(&ds.path, ds.kind)?);
        added.push(DatasetAdded {
            path: ds.path.clone(),
            id,
            previous,
            files,
            bytes,
        });
    }
    if !opts.no_stage {
        to_stage.sort();
        to_stage.dedup();
        ws.stage(&to_stage)?;
    }
    Ok(AddReport {
        datasets: added,
        stats,
    })
}

/// Refuses, before anything is stored, a pointer that readers could not read back (larger than
/// a pointer may be): it is written with the longest values its computed fields can take.
fn check_pointer_fits(path: &str, kind: DatasetKind, opts: &AddOptions) -> Result<()> {
    let widest = Pointer {
        path: path.to_string(),
        kind,
        id: TreeId::of(b""),
        files: u64::MAX,
        bytes: u64::MAX,
        meta: Meta {
            message: opts.message.clone(),
            created: Some(crate::fsx::now_rfc3339()),
            extra: opts.meta.clone(),
        },
        source: None,
    };
    match widest.encode_checked() {
        Ok(_) => Ok(()),
        Err(dvx_manifest::Error::PointerTooLarge { file, len, limit }) => {
            // Name the largest value, the one to shorten.
            let largest = opts
                .meta
                .iter()
                .map(|(k, v)| (k.len() + v.len(), format!("--meta {k}")))
                .chain(opts.message.iter().map(|m| (m.len(), "-m".to_string())))
                .max_by_key(|(n, _)| *n);
            let culprit = match largest {
                Some((n, what)) => format!("; the largest value is {what} ({n} bytes)"),
                None => String::new(),
            };
            Err(Error::InvalidArgument {
                argument: "--meta",
                message: format!(
                    "the pointer {file} would take {len} bytes, more than the {limit} every dvx command accepts{culprit}: shorten the message or metadata (nothing was added)"
                ),
            })
        }
        Err(e) => Err(e.into()),
    }
}
