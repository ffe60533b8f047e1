//! `dvx push`: what the chosen versions need and the remote lacks is uploaded: packs first
//! (see [`super::upload`]), then their indexes, then trees bottom-up.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use dvx_manifest::{EntryKind, Pointer};
use dvx_store::{ChunkId, Store, TreeId};

use super::fetch::{LOCATED_IN_MEMORY, NEEDED_IN_MEMORY};
use super::layout::{list_whole_trees, put_tree, RemoteIndex};
use super::plan::Located;
use super::session::Session;
use super::upload::upload_packs;
use super::wanted::FILES_NAMED;
use super::{TransferReport, PARALLEL_REQUESTS};
use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::names::count;
use crate::progress::{Progress, Unit};
use crate::remote::open_remote;
use crate::spool::{Sorted, Sorter};
use crate::treeio::{file_chunks, read_tree, TreeWalk};
use crate::workspace::{join_rel, Dataset, Workspace};

/// Options of `push`.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Revisions whose pointers to push (empty: HEAD and the worktree).
    pub revs: Vec<String>,
    /// Every pointer in every commit reachable from any ref.
    pub all_revs: bool,
    /// Remote name (default remote if None).
    pub remote: Option<String>,
}

/// A version to push and the commit its pointer was read at (None: the worktree).
type Version = (Pointer, Option<String>);

fn dedup_versions(mut v: Vec<Version>) -> Vec<Version> {
    let mut seen = HashSet::new();
    v.retain(|(p, _)| seen.insert((p.path.clone(), p.id)));
    v
}

/// Pushing moves data only, so versions with overlapping pointers are pushed too (a checkout
/// of them refuses).
fn versions_to_push(ws: &Workspace, opts: &PushOptions) -> Result<Vec<Version>> {
    let mut out = Vec::new();
    let at = |c: &dvx_git::Commit| -> Result<Vec<Version>> {
        Ok(ws
            .pointers_at_unchecked(c)?
            .into_iter()
            .map(|(p, _)| (p, Some(c.id.clone())))
            .collect())
    };
    let worktree = || -> Result<Vec<Version>> {
        Ok(ws
            .all_worktree_pointers_unchecked()?
            .into_iter()
            .map(|p| (p, None))
            .collect())
    };
    if opts.all_revs {
        for c in ws.repo.all_commits()? {
            out.extend(at(&c)?);
        }
        out.extend(worktree()?);
    } else if opts.revs.is_empty() {
        if let Some(head) = ws.repo.head()? {
            out.extend(at(&head)?);
        }
        out.extend(worktree()?);
    } else {
        for r in &opts.revs {
            out.extend(at(&ws.repo.resolve(r)?)?);
        }
    }
    Ok(dedup_versions(out))
}

/// Uploads what the selected versions need and the remote lacks.
pub fn push(
    ws: &Workspace,
    opts: &PushOptions,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    ws.require_init()?;
    let remote = open_remote(ws, opts.remote.as_deref(), env)?;
    remote.require_writable("push")?;
    let started = crate::audit::now();
    let versions = versions_to_push(ws, opts)?;
    let b = Session::open(&remote);
    refuse_plaintext_to_encrypted(&b)?;
    let pointers: Vec<Pointer> = versions.iter().map(|(p, _)| p.clone()).collect();
    let mut report = push_to(ws, &b, &pointers, progress)?;
    super::layout::refresh_catalogue(&b)?;
    b.finish(&mut report);
    let datasets = versions
        .into_iter()
        .map(|(p, commit)| crate::audit::AuditDataset {
            path: p.path,
            id: p.id.to_hex(),
            commit,
        })
        .collect();
    let record = crate::audit::record_of(
        crate::audit::AuditOperation::Push,
        &remote,
        Some(ws),
        env,
        started,
        datasets,
        &report,
    )?;
    crate::audit::write_record(&b, &remote, &record, progress)?;
    Ok(report)
}

/// A client that does not know the remote is encrypted would write plaintext beside its
/// ciphertext (and gc would take its objects for garbage): one LIST of `keys/` stops it.
pub(crate) fn refuse_plaintext_to_encrypted(b: &Session<'_>) -> Result<()> {
    if b.crypt().is_some() {
        return Ok(());
    }
    let keys = b.list(crate::crypt::KEYS).map_err(|e| b.error(e))?;
    if keys.is_empty() {
        return Ok(());
    }
    Err(Error::Encryption {
        remote: b.label().to_string(),
        message: "is encrypted (it holds keys/) but .dvx/config.toml does not say \
                  `encrypt = true` for it: nothing was written. Pull the commit that made it \
                  encrypted, or set `encrypt = true` under its [remotes.<name>] table"
            .into(),
    })
}

/// Every tree below `roots` with its height (leaves 0), and every chunk their files name
/// (sorted, each once; in runs on disk in `spool_dir` when there are many).
fn trees_and_chunks(
    store: &Store,
    roots: impl IntoIterator<Item = TreeId>,
    spool_dir: &Path,
) -> Result<(HashMap<TreeId, u32>, Sorted<ChunkId>)> {
    let mut children: HashMap<TreeId, Vec<TreeId>> = HashMap::new();
    let mut chunks = Sorter::new(spool_dir, NEEDED_IN_MEMORY);
    let mut walk = TreeWalk::new(roots).once();
    while let Some(dir) = walk.next()? {
        let tree = read_tree(store, &dir.id)?;
        walk.enter_all(&dir, &tree);
        for c in file_chunks(&tree) {
            chunks.push(*c)?;
        }
        let subs = tree.entries().iter().filter_map(|e| match &e.kind {
            EntryKind::Dir { id, .. } => Some(*id),
            _ => None,
        });
        children.insert(dir.id, subs.collect());
    }
    fn height(
        id: &TreeId,
        children: &HashMap<TreeId, Vec<TreeId>>,
        heights: &mut HashMap<TreeId, u32>,
    ) -> u32 {
        if let Some(h) = heights.get(id) {
            return *h;
        }
        let h = children[id]
            .iter()
            .map(|c| height(c, children, heights) + 1)
            .max()
            .unwrap_or(0);
        heights.insert(*id, h);
        h
    }
    let mut heights = HashMap::with_capacity(children.len());
    for id in children.keys() {
        height(id, &children, &mut heights);
    }
    Ok((heights, chunks.finish()?))
}

/// Pushes `versions` through an opened session.
pub(crate) fn push_to(
    ws: &Workspace,
    b: &Session<'_>,
    versions: &[Pointer],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let store = ws.store()?;
    let remote_trees = list_whole_trees(b)?;
    let mut report = b.report();
    for p in versions {
        if !store.has_tree(&p.id) {
            return Err(Error::MissingVersion {
                path: p.path.clone(),
                id: p.id,
            });
        }
        report.add_version(p);
    }
    // Every tree of the versions, with its height, and every chunk below them. A tree on the
    // remote does not prove that what it names is there too (a pack may have been lost
    // since): everything is checked against the remote's listing, and what is missing is sent
    // again, so a push repairs the remote.
    let spool_dir = ws.state_dir();
    let (mut heights, chunks) = trees_and_chunks(store, versions.iter().map(|p| p.id), &spool_dir)?;

    if !chunks.is_empty() {
        let rindex = RemoteIndex::load(ws, b)?;
        rindex.warn_damaged(b, progress);
        // Sorted by place, so the local packs are read sequentially.
        let mut missing = Sorter::new(&spool_dir, LOCATED_IN_MEMORY);
        let mut bytes = 0u64;
        let (mut lost, mut lost_count) = (HashSet::new(), 0usize);
        let mut ids = chunks.iter()?;
        // The ids come sorted: each index file answers from the entries it read last.
        let mut windows = rindex.windows();
        while let Some(c) = ids.next()? {
            if rindex.lookup_ascending(&c, &mut windows)?.is_none() {
                match store.lookup(&c)? {
                    Some(at) => {
                        bytes += u64::from(at.stored_len);
                        missing.push(Located { id: c, at })?;
                    }
                    None => {
                        lost_count += 1;
                        if lost.len() < FILES_NAMED {
                            lost.insert(c);
                        }
                    }
                }
            }
        }
        if let Some(c) = lost.iter().next() {
            return Err(Error::RemoteObject {
                remote: b.label().to_string(),
                object: format!("chunk {c}"),
                missing: true,
                problem: format!(
                    "is missing, and this machine does not have it either ({} in all)",
                    count(lost_count, "chunk")
                ),
                files: files_with_chunks(store, versions, &lost)?,
            });
        }
        let missing = missing.finish()?;
        if !missing.is_empty() {
            upload_packs(ws, store, b, &rindex.cache_dir, &missing, bytes, progress)?;
        }
    }

    // Trees bottom-up: a parent only after all its children are on the remote.
    heights.retain(|id, _| !remote_trees.contains(id));
    let mut levels: BTreeMap<u32, Vec<TreeId>> = BTreeMap::new();
    for (id, h) in &heights {
        levels.entry(*h).or_default().push(*id);
    }
    progress.begin("trees", Some(heights.len() as u64), Unit::Items);
    for ids in levels.values() {
        crate::work::try_each(ids, PARALLEL_REQUESTS, "upload", |id| {
            let bytes = store.tree_object_bytes(id)?;
            put_tree(b, id, bytes)?;
            progress.advance(1);
            Ok(())
        })?;
    }
    progress.end();
    b.finish(&mut report);
    Ok(report)
}

/// The dataset files (at most 50) of `versions` that hold any of `wanted`, from the local trees.
fn files_with_chunks(
    store: &Store,
    versions: &[Pointer],
    wanted: &HashSet<ChunkId>,
) -> Result<Vec<String>> {
    let mut out = BTreeSet::new();
    for p in versions {
        let base = Dataset::of(p).base();
        let mut walk = TreeWalk::new([p.id]);
        while let Some(dir) = walk.next()? {
            let tree = read_tree(store, &dir.id)?;
            walk.enter_all(&dir, &tree);
            for e in tree.entries() {
                if let EntryKind::File { chunks, .. } = &e.kind {
                    if chunks.iter().any(|c| wanted.contains(&c.id)) {
                        out.insert(join_rel(&base, &dir.child(&e.name)));
                    }
                }
            }
            if out.len() >= 50 {
                return Ok(out.into_iter().collect());
            }
        }
    }
    Ok(out.into_iter().collect())
}
