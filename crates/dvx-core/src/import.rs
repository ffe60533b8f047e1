//! `dvx import` and `dvx update`: a dataset of another repository becomes a dataset of this
//! one, with an ordinary pointer plus a `[source]` table (url, rev, commit, path, id) saying
//! where it came from. `checkout`, `pull` and `status` treat it like any dataset; only
//! `update` contacts the source again, and `pull` falls back to it when this project's remote
//! lacks the data.

use std::path::PathBuf;

use dvx_manifest::{DatasetKind, EntryKind, Meta, Pointer, Source, Tree};
use dvx_store::{Store, TreeId};

use crate::audit::AuditOperation;
use crate::checkout::{checkout_targets, CheckoutReport};
use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::get::{refuse_existing, SourceReport};
use crate::progress::Progress;
use crate::source::{fetch_located, locate, Located, SourceOptions};
use crate::targets::Target;
use crate::transfer::TransferReport;
use crate::treeio::read_tree;
use crate::workspace::Workspace;

/// Options of `import`.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The source and how to reach it.
    pub source: SourceOptions,
    /// The path in the source: a dataset, or a folder or file inside one.
    pub path: String,
    /// The dataset path here (default: the path's last component in `source.cwd`).
    pub out: Option<PathBuf>,
}

/// What `import` did.
#[derive(Clone, Debug)]
pub struct ImportReport {
    /// The new dataset's path (repo-relative).
    pub dataset: String,
    /// Its version id.
    pub id: TreeId,
    /// Files in it.
    pub files: u64,
    /// Bytes in it.
    pub bytes: u64,
    /// The source read.
    pub source: SourceReport,
    /// What was transferred.
    pub transfer: TransferReport,
    /// What the checkout wrote.
    pub checkout: CheckoutReport,
}

/// Imports a dataset (or part) of a source: fetch, write and stage the pointer, check out.
pub fn import(
    ws: &Workspace,
    opts: &ImportOptions,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    ws.require_init()?;
    let name = opts
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let out = opts.out.clone().unwrap_or_else(|| PathBuf::from(name));
    let dataset = ws.dataset_path(&opts.source.cwd, &out)?;
    for p in [
        ws.abs(&dataset),
        ws.abs(&dvx_manifest::pointer_path_for(&dataset)),
    ] {
        refuse_existing(&p, "dvx import")?;
    }
    if let Some((p, _, _)) = ws.find_dataset(None, &dataset)? {
        return Err(Error::InvalidArgument {
            argument: "-o",
            message: format!(
                "{dataset} is inside the dataset {}: a dataset cannot hold another; import it elsewhere with -o",
                p.path
            ),
        });
    }
    // A relative local path is recorded relative to the repository root, where `update`
    // and `pull` take it from.
    let mut source = opts.source.clone();
    let local = !source.url.contains("://") && !source.url.contains(':');
    if local && !std::path::Path::new(&source.url).is_absolute() && source.cwd != ws.root() {
        let abs = source.cwd.join(&source.url);
        source.url = abs
            .canonicalize()
            .unwrap_or(abs)
            .to_string_lossy()
            .into_owned();
    }
    source.cwd = ws.root().to_path_buf();
    let loc = locate(&source, &opts.path)?;
    let store = ws.store()?;
    let transfer = fetch_located(
        &loc,
        &source,
        AuditOperation::Import,
        Some(ws),
        store,
        &ws.state_dir(),
        env,
        progress,
    )?;
    let pointer = imported_pointer(store, &loc, &dataset, source.rev.clone())?;
    let (id, files, bytes) = (pointer.id, pointer.files, pointer.bytes);
    let checkout = restore(ws, pointer, progress)?;
    Ok(ImportReport {
        dataset,
        id,
        files,
        bytes,
        source: SourceReport::of(&loc, source.rev.as_deref()),
        transfer,
        checkout,
    })
}

/// Writes the pointer (through checkout, which also adds the `.gitignore` line and stages
/// both) and restores the data, refusing to overwrite unsaved changes.
fn restore(ws: &Workspace, pointer: Pointer, progress: &dyn Progress) -> Result<CheckoutReport> {
    let raw = pointer.encode_checked()?.into_bytes();
    let target = Target {
        pointer,
        raw: Some(raw),
        below: String::new(),
    };
    checkout_targets(ws, vec![target], false, progress)
}

/// The pointer of the imported part of `loc` as dataset `dataset` of this repository. A whole
/// folder dataset or a folder inside one keeps its tree (same id as in the source); a file gets
/// a one-entry tree named like `dataset`'s last component.
fn imported_pointer(
    store: &Store,
    loc: &Located,
    dataset: &str,
    rev: Option<String>,
) -> Result<Pointer> {
    let name = dataset.rsplit('/').next().unwrap_or(dataset);
    let (kind, id, files, bytes) = imported_root(store, loc, name)?;
    Ok(Pointer {
        path: dataset.to_string(),
        kind,
        id,
        files,
        bytes,
        meta: Meta {
            created: Some(crate::fsx::now_rfc3339()),
            ..loc.pointer.meta.clone()
        },
        source: Some(Source {
            url: loc.url.clone(),
            rev,
            commit: loc.commit.clone(),
            path: loc.path.clone(),
            id: loc.pointer.id.to_hex(),
        }),
    })
}

/// Kind, root tree, files and bytes of the imported part (the source's trees are in `store`).
fn imported_root(
    store: &Store,
    loc: &Located,
    name: &str,
) -> Result<(DatasetKind, TreeId, u64, u64)> {
    let p = &loc.pointer;
    if p.kind == DatasetKind::Dir && loc.below.is_empty() {
        return Ok((DatasetKind::Dir, p.id, p.files, p.bytes));
    }
    // Walk down to the entry named by `below` (a file dataset's only entry when empty).
    let mut tree = read_tree(store, &p.id)?;
    let parts: Vec<&str> = loc.below.split('/').filter(|c| !c.is_empty()).collect();
    let missing = || Error::NoSuchPath {
        path: loc.path.clone(),
        place: format!("in source {} at commit {}", loc.url, &loc.commit[..12]),
        hint: format!(": the dataset {} holds no such entry", p.path),
    };
    let entry = if parts.is_empty() {
        tree.entries().first().cloned().ok_or_else(missing)?
    } else {
        let (last, dirs) = parts.split_last().expect("not empty");
        for d in dirs {
            match tree.get(&crate::names::rel_bytes(d)).map(|e| &e.kind) {
                Some(EntryKind::Dir { id, .. }) => tree = read_tree(store, id)?,
                _ => return Err(missing()),
            }
        }
        tree.get(&crate::names::rel_bytes(last))
            .cloned()
            .ok_or_else(missing)?
    };
    if let EntryKind::Dir {
        id, size, files, ..
    } = &entry.kind
    {
        return Ok((DatasetKind::Dir, *id, *files, *size));
    }
    let mut one = entry;
    one.name = name.as_bytes().to_vec();
    let (size, files) = (one.size(), one.files());
    let tree = Tree::new(vec![one])?;
    let id = store.write_tree(&tree.encode_bounded()?)?;
    Ok((DatasetKind::File, id, files, size))
}

/// Options of `update`.
#[derive(Clone, Debug, Default)]
pub struct UpdateOptions {
    /// The imported datasets (or their pointer files).
    pub paths: Vec<PathBuf>,
    /// Directory paths are relative to.
    pub cwd: PathBuf,
    /// Move to this revision of the source (default: the newest commit of the recorded rev).
    pub rev: Option<String>,
    /// Use only the cached mirror of the source.
    pub offline: bool,
    /// Read the data from this remote instead of the source's.
    pub remote_url: Option<String>,
    /// The user cache (see [`SourceOptions::cache_dir`]).
    pub cache_dir: PathBuf,
}

/// One dataset updated.
#[derive(Clone, Debug)]
pub struct DatasetUpdate {
    /// The dataset (repo-relative).
    pub dataset: String,
    /// The commit it was at.
    pub old_commit: String,
    /// The version it had.
    pub old_id: TreeId,
    /// The version it has now.
    pub id: TreeId,
    /// The source read.
    pub source: SourceReport,
    /// What was transferred.
    pub transfer: TransferReport,
    /// What the checkout wrote.
    pub checkout: CheckoutReport,
}

/// What `update` did.
#[derive(Clone, Debug, Default)]
pub struct UpdateReport {
    /// Per dataset.
    pub datasets: Vec<DatasetUpdate>,
}

/// Moves imported datasets to another (or the newest) commit of their source.
pub fn update(
    ws: &Workspace,
    opts: &UpdateOptions,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<UpdateReport> {
    ws.require_init()?;
    if opts.paths.is_empty() {
        return Err(Error::InvalidArgument {
            argument: "path",
            message: "name the imported datasets to update (their .dvx files)".into(),
        });
    }
    let mut report = UpdateReport::default();
    for p in &opts.paths {
        let dataset = ws.dataset_path(&opts.cwd, p)?;
        let old = ws
            .worktree_pointer(&dataset)?
            .ok_or_else(|| Error::NotADataset {
                pointer: dvx_manifest::pointer_path_for(&dataset),
                path: dataset.clone(),
                place: "in the worktree".into(),
            })?;
        let Some(src) = old.source.clone() else {
            return Err(Error::InvalidArgument {
                argument: "path",
                message: format!(
                    "{dataset} was not imported (its pointer has no [source] table): `dvx update` moves datasets made by `dvx import`; use `dvx add` for data of this project"
                ),
            });
        };
        let rev = opts.rev.clone().or(src.rev.clone());
        let source = SourceOptions {
            url: src.url.clone(),
            rev: rev.clone(),
            offline: opts.offline,
            remote_url: opts.remote_url.clone(),
            cache_dir: opts.cache_dir.clone(),
            cwd: ws.root().to_path_buf(),
        };
        let (loc, transfer) = locate_and_fetch(
            ws,
            &source,
            &src.path,
            AuditOperation::Import,
            env,
            progress,
        )?;
        let store = ws.store()?;
        let pointer = imported_pointer(store, &loc, &dataset, rev.clone())?;
        let id = pointer.id;
        let checkout = restore(ws, pointer, progress)?;
        report.datasets.push(DatasetUpdate {
            dataset,
            old_commit: src.commit,
            old_id: old.id,
            id,
            source: SourceReport::of(&loc, rev.as_deref()),
            transfer,
            checkout,
        });
    }
    Ok(report)
}

/// For `pull`: fetches an imported dataset's data from the source its pointer records (the
/// recorded commit, from the cache when it is there), checking that the source gives back
/// exactly the recorded version.
pub(crate) fn fetch_from_source(
    ws: &Workspace,
    pointer: &Pointer,
    cache_dir: &std::path::Path,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let src = pointer
        .source
        .as_ref()
        .expect("called for imported datasets");
    let source = SourceOptions {
        url: src.url.clone(),
        rev: Some(src.commit.clone()),
        offline: false,
        remote_url: None,
        cache_dir: cache_dir.to_path_buf(),
        cwd: ws.root().to_path_buf(),
    };
    let (loc, report) =
        locate_and_fetch(ws, &source, &src.path, AuditOperation::Pull, env, progress)?;
    let store = ws.store()?;
    let name = pointer.path.rsplit('/').next().unwrap_or(&pointer.path);
    let (_, id, _, _) = imported_root(store, &loc, name)?;
    if id != pointer.id {
        return Err(Error::RemoteObject {
            remote: format!("source {}", src.url),
            object: format!("tree {}", pointer.id),
            missing: true,
            problem: format!(
                "is not what the source holds at commit {} (it has {id})",
                src.commit
            ),
            files: vec![pointer.path.clone()],
        });
    }
    Ok(report)
}

/// Finds `path` in the source `source` names and fetches its data into this repository's
/// store: the shared step of `update` and of `pull`'s fallback.
fn locate_and_fetch(
    ws: &Workspace,
    source: &SourceOptions,
    path: &str,
    op: AuditOperation,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<(Located, TransferReport)> {
    let loc = locate(source, path)?;
    let report = fetch_located(
        &loc,
        source,
        op,
        Some(ws),
        ws.store()?,
        &ws.state_dir(),
        env,
        progress,
    )?;
    Ok((loc, report))
}
