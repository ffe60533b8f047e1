//! `dvx fetch`: fills the local store with what the chosen versions need. Trees first (kept
//! in memory), then the chunks the store lacks, in ranged reads ([`super::plan`]) verified on
//! arrival, then the downloaded trees, children before parents.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use dvx_manifest::{EntryKind, Tree};
use dvx_store::index::Location;
use dvx_store::pack;
use dvx_store::{BackendError, ChunkId, PackId, Store, TreeId};

use super::layout::{self, pack_key, RemoteIndex, TreeReadError, TREES};
use super::plan::{plan_ranges, RangeRead, MAX_RANGE_GAP, MAX_RANGE_LEN};
use super::session::Session;
use super::{TransferReport, PARALLEL_REQUESTS};
use crate::audit::{AuditDataset, AuditOperation};
use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::names::count;
use crate::progress::{Progress, Unit};
use crate::remote::open_remote;
use crate::targets::{select, Target};
use crate::treeio::{read_tree, TreeWalk};
use crate::workspace::{join_rel, Dataset, Workspace};

/// Packs written by downloads are sealed at this size, so an interrupted fetch keeps what it
/// received.
const FETCH_PACK_SIZE: u64 = 16 << 20;
/// Files named per missing or damaged chunk.
const FILES_PER_CHUNK: usize = 10;

/// Options of `fetch`.
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    /// Revisions whose pointers to fetch (empty: the worktree's pointers).
    pub revs: Vec<String>,
    /// Datasets or paths inside them (empty: all).
    pub paths: Vec<PathBuf>,
    /// Directory paths are relative to.
    pub cwd: PathBuf,
    /// Remote name.
    pub remote: Option<String>,
}

/// Fills the local store with what the selected versions need.
pub fn fetch(
    ws: &Workspace,
    opts: &FetchOptions,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let mut targets = Vec::new();
    let mut commits = Vec::new();
    if opts.revs.is_empty() {
        targets = select(ws, None, &opts.paths, &opts.cwd)?;
        commits.resize(targets.len(), None);
    } else {
        for r in &opts.revs {
            let commit = ws.repo.resolve(r)?.id;
            let chosen = select(ws, Some(r), &opts.paths, &opts.cwd)?;
            commits.extend(std::iter::repeat_n(Some(commit), chosen.len()));
            targets.extend(chosen);
        }
    }
    fetch_targets(
        ws,
        &targets,
        &commits,
        AuditOperation::Fetch,
        opts.remote.as_deref(),
        env,
        progress,
    )
}

/// Fetches `targets` from the named (or default) remote, and records the read as `op` in
/// its audit trail; `commits[i]` is the commit `targets[i]` was read at (None: worktree).
pub(super) fn fetch_targets(
    ws: &Workspace,
    targets: &[Target],
    commits: &[Option<String>],
    op: AuditOperation,
    remote_name: Option<&str>,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let remote = open_remote(ws, remote_name, env)?;
    let started = crate::audit::now();
    let b = Session::open(&remote);
    let report = fetch_from(ws, &b, targets, progress)?;
    let datasets = targets
        .iter()
        .enumerate()
        .map(|(i, t)| AuditDataset {
            path: t.pointer.path.clone(),
            id: t.pointer.id.to_hex(),
            commit: commits.get(i).cloned().flatten(),
        })
        .collect();
    let record = crate::audit::record_of(op, &remote, Some(ws), env, started, datasets, &report)?;
    crate::audit::write_record(&b, &remote, &record, progress)?;
    Ok(report)
}

/// Fetches `targets` through an opened session.
pub(crate) fn fetch_from(
    ws: &Workspace,
    b: &Session<'_>,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    fetch_into(ws.store()?, &ws.state_dir(), b, targets, progress)
}

/// Fetches `targets` through an opened session into `store`, caching the remote's index
/// files under `state_dir`.
pub(crate) fn fetch_into(
    store: &Store,
    state_dir: &Path,
    b: &Session<'_>,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let mut report = b.report();
    b.check_reachable()?;
    // 1. Trees: local ones are read, missing ones downloaded (verified), kept in memory and
    //    written to the store only after the chunks they name have arrived.
    let mut trees: HashMap<TreeId, Tree> = HashMap::new();
    let mut downloaded: Vec<(TreeId, Vec<u8>)> = Vec::new();
    for t in targets {
        load_trees(
            store,
            b,
            &t.pointer.path,
            t.pointer.id,
            &mut trees,
            &mut downloaded,
        )?;
        report.add_version(&t.pointer);
    }
    // 2. Chunks the selected files need and the store lacks.
    let needed = needed_chunks(store, &trees, targets)?;
    if !needed.is_empty() {
        download(state_dir, store, b, &needed, progress)?;
    }
    report.chunks = needed.len() as u64;
    // 3. Trees last, children before parents.
    for (id, obj) in downloaded.iter().rev() {
        store.put_tree_object(id, obj)?;
    }
    b.finish(&mut report);
    Ok(report)
}

/// Every tree below `root` (of the dataset at `dataset`) into `trees`: from the store, or
/// downloaded and verified (then also kept in `downloaded`, parents before children).
pub(crate) fn load_trees(
    store: &Store,
    b: &Session<'_>,
    dataset: &str,
    root: TreeId,
    trees: &mut HashMap<TreeId, Tree>,
    downloaded: &mut Vec<(TreeId, Vec<u8>)>,
) -> Result<()> {
    let mut walk = TreeWalk::new([root]);
    while let Some(dir) = walk.next()? {
        let id = dir.id;
        if trees.contains_key(&id) {
            continue;
        }
        let tree = if store.has_tree(&id) {
            read_tree(store, &id)?
        } else {
            let object_error = |missing: bool, problem: String| Error::RemoteObject {
                remote: b.label().to_string(),
                object: format!("tree {id}"),
                missing,
                problem,
                files: vec![dataset.to_string()],
            };
            let (tree, obj) = layout::get_tree(b, &id).map_err(|e| match e {
                TreeReadError::Get(BackendError::NotFound { .. }) => {
                    let nothing_there =
                        dir.path.is_empty() && b.list(TREES).is_ok_and(|t| t.is_empty());
                    // Names on an encrypted remote mean nothing to a client without its key.
                    let encrypted = b.crypt().is_none()
                        && b.list(crate::crypt::KEYS).is_ok_and(|k| !k.is_empty());
                    object_error(
                        true,
                        if encrypted {
                            "is missing: the remote is encrypted (it holds keys/) but \
                             .dvx/config.toml does not say `encrypt = true` for it"
                                .into()
                        } else if nothing_there {
                            "is missing, and the remote holds no data at all (is it the right \
                         remote? is its share mounted?)"
                                .into()
                        } else {
                            "is missing".into()
                        },
                    )
                }
                TreeReadError::Get(e) => b.error(e),
                TreeReadError::Corrupt(detail) => {
                    object_error(false, format!("is corrupt ({detail})"))
                }
            })?;
            downloaded.push((id, obj));
            tree
        };
        walk.enter_all(&dir, &tree);
        trees.insert(id, tree);
    }
    Ok(())
}

/// The chunks the selected files need and the store cannot read (an indexed chunk whose pack
/// is gone is fetched again), each with some of the files it serves.
pub(super) fn needed_chunks(
    store: &Store,
    trees: &HashMap<TreeId, Tree>,
    targets: &[Target],
) -> Result<BTreeMap<ChunkId, Vec<String>>> {
    let mut needed: BTreeMap<ChunkId, Vec<String>> = BTreeMap::new();
    for t in targets {
        let base = Dataset::of(&t.pointer).base();
        let below = &t.below;
        let mut walk = TreeWalk::new([t.pointer.id]);
        while let Some(dir) = walk.next()? {
            let tree = trees.get(&dir.id).expect("all trees were loaded above");
            for e in tree.entries() {
                let rel = dir.child(&e.name);
                let inside =
                    below.is_empty() || rel == *below || rel.starts_with(&format!("{below}/"));
                let on_the_way = below.starts_with(&format!("{rel}/"));
                match &e.kind {
                    EntryKind::Dir { id, .. } if inside || on_the_way => walk.enter(&dir, *id, rel),
                    EntryKind::File { chunks, .. } if inside => {
                        for c in chunks {
                            if !store.readable(&c.id)? {
                                let files = needed.entry(c.id).or_default();
                                if files.len() < FILES_PER_CHUNK {
                                    files.push(join_rel(&base, &rel));
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(needed)
}

/// Where each needed chunk is on the remote; an error naming every file affected when any
/// is not there.
fn locate(
    b: &Session<'_>,
    rindex: &RemoteIndex,
    needed: &BTreeMap<ChunkId, Vec<String>>,
) -> Result<Vec<(ChunkId, Location)>> {
    let mut located: Vec<(ChunkId, Location)> = Vec::with_capacity(needed.len());
    // Every missing chunk is collected first, so the error names every file affected.
    let mut lost: Vec<(ChunkId, Option<PackId>)> = Vec::new();
    let mut lost_files = BTreeSet::new();
    for (c, files) in needed {
        match rindex.lookup(c)? {
            Some(l) => located.push((*c, l)),
            None => {
                lost.push((*c, rindex.lookup_indexed(c)?.map(|l| l.pack)));
                lost_files.extend(files.iter().cloned());
            }
        }
    }
    let Some((c, pack)) = lost.first() else {
        return Ok(located);
    };
    // Chunks all indexed in one pack that is gone: name the pack.
    let (object, problem) = match pack {
        Some(p) if lost.iter().all(|(_, q)| q.as_ref() == Some(p)) => (
            format!("pack {p}"),
            format!(
                "is missing or truncated ({} lost)",
                count(lost.len(), "chunk")
            ),
        ),
        _ => (
            format!("chunk {c}"),
            format!("is missing ({} in all)", count(lost.len(), "chunk")),
        ),
    };
    Err(Error::RemoteObject {
        remote: b.label().to_string(),
        object,
        missing: true,
        problem,
        files: lost_files.into_iter().collect(),
    })
}

/// Downloads the `needed` chunks into new local packs, several ranged reads in flight.
fn download(
    state_dir: &Path,
    store: &Store,
    b: &Session<'_>,
    needed: &BTreeMap<ChunkId, Vec<String>>,
    progress: &dyn Progress,
) -> Result<()> {
    let rindex = RemoteIndex::load_in(state_dir, b)?;
    rindex.warn_damaged(b, progress);
    download_located(&rindex, store, b, needed, progress)
}

/// [`download`] with the remote's index already loaded (a reader keeps it between reads).
pub(crate) fn download_located(
    rindex: &RemoteIndex,
    store: &Store,
    b: &Session<'_>,
    needed: &BTreeMap<ChunkId, Vec<String>>,
    progress: &dyn Progress,
) -> Result<()> {
    let located = locate(b, rindex, needed)?;
    // Files served by each pack, to name them all if the pack turns out missing.
    let mut pack_files: HashMap<PackId, BTreeSet<String>> = HashMap::new();
    for (c, l) in &located {
        pack_files
            .entry(l.pack)
            .or_default()
            .extend(needed.get(c).into_iter().flatten().cloned());
    }
    let ranges = plan_ranges(located, MAX_RANGE_GAP, MAX_RANGE_LEN);
    let total: u64 = ranges.iter().map(|r| r.len).sum();
    progress.begin("downloading", Some(total), Unit::Bytes);
    // Through the page cache: a pull reads these chunks back right away.
    let writer = store.writer_with_pack_size(FETCH_PACK_SIZE).cached();
    let fetched = crate::work::try_each(&ranges, PARALLEL_REQUESTS, "fetch", |r: &RangeRead| {
        let mut data = b
            .get_range(&pack_key(b, &r.pack), r.start, r.len)
            .map_err(|e| match e {
                BackendError::NotFound { .. } => Error::RemoteObject {
                    remote: b.label().to_string(),
                    object: format!("pack {}", r.pack),
                    missing: true,
                    problem: "is missing".into(),
                    files: pack_files
                        .get(&r.pack)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default(),
                },
                e => b.error(e),
            })?;
        for (c, l) in &r.chunks {
            let from = (l.offset - r.start) as usize;
            let to = from + l.stored_len as usize;
            let verified = data
                .get_mut(from..to)
                .ok_or_else(|| "the pack is shorter than its index says".to_string())
                .and_then(|frame| layout::open_chunk(b, c, l, frame))
                .and_then(|(s, l)| {
                    pack::verify_chunk(&l.entry(*c), &r.pack, s)
                        .map(|()| s)
                        .map_err(|e| e.to_string())
                });
            let stored = verified.map_err(|detail| Error::RemoteObject {
                remote: b.label().to_string(),
                object: format!("chunk {c} in pack {}", r.pack),
                missing: false,
                problem: format!("is corrupt ({detail})"),
                files: needed.get(c).cloned().unwrap_or_default(),
            })?;
            writer.add_stored(*c, l.compression, stored, l.raw_len)?;
        }
        progress.advance(r.len);
        Ok(())
    });
    progress.end();
    // Keep whatever arrived, even after an error: a rerun will not download it again.
    let finished = writer.finish();
    fetched?;
    finished?;
    Ok(())
}
