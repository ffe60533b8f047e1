//! `dvx fetch`: fills the local store with what the chosen versions need, in memory that does
//! not grow with the number of files. One walk of the versions' trees reads the local ones,
//! downloads (and verifies) the missing ones into a temporary file, and collects the chunks
//! the store lacks as sorted runs on disk; those are located on the remote, sorted by place
//! and fetched in merged ranged reads ([`super::plan`]), verified on arrival; the downloaded
//! trees are written last, children before parents. An error names the files affected by
//! walking the trees again.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dvx_manifest::Tree;
use dvx_store::pack;
use dvx_store::{BackendError, ChunkId, PackId, Store};

use super::layout::{self, pack_key, RemoteIndex, TreeReadError, TREES};
use super::plan::{Located, RangePlanner, RangeRead, MAX_RANGE_GAP, MAX_RANGE_LEN};
use super::session::Session;
use super::wanted::{files_needing, walk_selected, Namer, PendingTrees, Walk};
use super::{TransferReport, PARALLEL_REQUESTS};
use crate::audit::{AuditDataset, AuditOperation};
use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::names::count;
use crate::progress::{Progress, Unit};
use crate::remote::open_remote;
use crate::spool::{self, Sorted, Sorter};
use crate::targets::{select, Target};
use crate::treeio::{read_tree, WalkDir};
use crate::workspace::Workspace;

/// Packs written by downloads are sealed at this size, so an interrupted fetch keeps what it
/// received.
const FETCH_PACK_SIZE: u64 = 16 << 20;
/// Needed chunk ids held in memory (32 bytes each) before a sorted run goes to disk (few in
/// unit tests, so that they go through the runs).
pub(super) const NEEDED_IN_MEMORY: usize = if cfg!(test) { 100 } else { 1 << 18 };
/// Located chunks held in memory (about 90 bytes each) before a sorted run goes to disk.
pub(super) const LOCATED_IN_MEMORY: usize = if cfg!(test) { 70 } else { 1 << 16 };
/// Chunks read per round of parallel requests.
const CHUNKS_PER_ROUND: usize = if cfg!(test) { 50 } else { 1 << 16 };

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
/// files under `state_dir` (where the temporary files go too).
pub(crate) fn fetch_into(
    store: &Store,
    state_dir: &Path,
    b: &Session<'_>,
    targets: &[Target],
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let mut report = b.report();
    b.check_reachable()?;
    // 1. Every tree (local, or downloaded and kept aside), and the chunks the selected files
    //    need that the store cannot read (an indexed chunk whose pack is gone is fetched again).
    let mut pending = PendingTrees::new(state_dir)?;
    let (needed, _) = needed_chunks(
        store,
        TreeSource::Remote(b),
        targets,
        &mut pending,
        state_dir,
    )?;
    for t in targets {
        report.add_version(&t.pointer);
    }
    // 2. The chunks.
    if !needed.is_empty() {
        let rindex = RemoteIndex::load_in(state_dir, b)?;
        rindex.warn_damaged(b, progress);
        let mut ids = needed.iter()?;
        report.chunks = download_located(
            &rindex,
            store,
            b,
            state_dir,
            &mut || ids.next(),
            &|wanted| files_needing(targets, store, &pending, wanted),
            progress,
        )?;
    }
    // 3. The trees, children before parents.
    pending.write_to(store)?;
    b.finish(&mut report);
    Ok(report)
}

/// Makes sure `store` holds every tree of the version `root` of the dataset at `dataset`,
/// downloading the missing ones from `b` (children written before parents).
pub(crate) fn fetch_trees(
    store: &Store,
    state_dir: &Path,
    source: TreeSource<'_, '_>,
    pointer: &dvx_manifest::Pointer,
) -> Result<()> {
    let mut pending = PendingTrees::new(state_dir)?;
    let target = Target {
        pointer: pointer.clone(),
        raw: None,
        below: String::new(),
    };
    walk_selected(
        std::slice::from_ref(&target),
        Walk::Load,
        &mut |t, dir| load_tree(store, source, &t.pointer.path, dir, &mut pending).map(Some),
        &mut |_| Ok(()),
    )?;
    pending.write_to(store)
}

/// Loads every tree of `targets` (from `source` into `pending` when `store` lacks it) and
/// sorts the chunks the selected files need that `store` cannot read (an indexed chunk whose
/// pack is gone is needed again), with how many times one was named.
pub(crate) fn needed_chunks(
    store: &Store,
    source: TreeSource<'_, '_>,
    targets: &[Target],
    pending: &mut PendingTrees,
    spool_dir: &Path,
) -> Result<(Sorted<ChunkId>, u64)> {
    let mut needed = Sorter::new(spool_dir, NEEDED_IN_MEMORY);
    let mut named = 0u64;
    walk_selected(
        targets,
        Walk::Load,
        &mut |t, dir| load_tree(store, source, &t.pointer.path, dir, pending).map(Some),
        &mut |f| {
            for c in f.chunks {
                if !store.readable(&c.id)? {
                    needed.push(c.id)?;
                    named += 1;
                }
            }
            Ok(())
        },
    )?;
    Ok((needed.finish()?, named))
}

/// Where the trees the store lacks come from.
#[derive(Clone, Copy)]
pub(crate) enum TreeSource<'a, 'b> {
    /// A remote, through a session.
    Remote(&'a Session<'b>),
    /// Another local store.
    Store(&'a Store),
}

/// The tree of `dir` (in the dataset at `dataset`): waiting in `pending`, in the store, or
/// brought from `source` (verified) and added to `pending`.
pub(crate) fn load_tree(
    store: &Store,
    source: TreeSource<'_, '_>,
    dataset: &str,
    dir: &WalkDir,
    pending: &mut PendingTrees,
) -> Result<Tree> {
    let id = dir.id;
    if let Some(tree) = pending.read(&id)? {
        return Ok(tree);
    }
    if store.has_tree(&id) {
        return read_tree(store, &id);
    }
    let b = match source {
        TreeSource::Remote(b) => b,
        TreeSource::Store(src) => {
            let tree = read_tree(src, &id)?;
            pending.add(id, &src.tree_object_bytes(&id)?)?;
            return Ok(tree);
        }
    };
    let object_error = |missing: bool, problem: String| Error::RemoteObject {
        remote: b.label().to_string(),
        object: format!("tree {id}"),
        missing,
        problem,
        files: vec![dataset.to_string()],
    };
    let (tree, obj) = layout::get_tree(b, &id).map_err(|e| match e {
        TreeReadError::Get(BackendError::NotFound { .. }) => {
            let nothing_there = dir.path.is_empty() && b.list(TREES).is_ok_and(|t| t.is_empty());
            // Names on an encrypted remote mean nothing to a client without its key.
            let encrypted =
                b.crypt().is_none() && b.list(crate::crypt::KEYS).is_ok_and(|k| !k.is_empty());
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
        TreeReadError::Corrupt(detail) => object_error(false, format!("is corrupt ({detail})")),
    })?;
    pending.add(id, &obj)?;
    Ok(tree)
}

/// What was found lost while locating: the first chunk, how many, and whether all are
/// indexed in one pack.
#[derive(Default)]
struct Lost {
    first: Option<(ChunkId, Option<PackId>)>,
    count: usize,
    one_pack: bool,
    named: std::collections::HashSet<ChunkId>,
}

impl Lost {
    fn add(&mut self, c: ChunkId, pack: Option<PackId>) {
        match self.first {
            None => {
                self.first = Some((c, pack));
                self.one_pack = pack.is_some();
            }
            Some((_, p)) => self.one_pack &= pack == p,
        }
        self.count += 1;
        if self.named.len() < super::wanted::FILES_NAMED {
            self.named.insert(c);
        }
    }
}

/// Where each needed chunk is on the remote, sorted by place, with how many there are and
/// their stored bytes; an error naming the files affected when any is not there.
fn locate(
    b: &Session<'_>,
    rindex: &RemoteIndex,
    spool_dir: &Path,
    needed: &mut dyn FnMut() -> Result<Option<ChunkId>>,
    name: Namer<'_>,
) -> Result<(spool::Sorted<Located>, u64, u64)> {
    let mut located = Sorter::new(spool_dir, LOCATED_IN_MEMORY);
    let (mut chunks, mut bytes) = (0u64, 0u64);
    // Every missing chunk is counted first, so the error says how many.
    let mut lost = Lost::default();
    // The ids come sorted: each index file answers from the entries it read last.
    let mut windows = rindex.windows();
    while let Some(c) = needed()? {
        match rindex.lookup_ascending(&c, &mut windows)? {
            Some(at) => {
                chunks += 1;
                bytes += u64::from(at.stored_len);
                located.push(Located { id: c, at })?;
            }
            None => lost.add(c, rindex.lookup_indexed(&c)?.map(|l| l.pack)),
        }
    }
    let Some((c, pack)) = lost.first else {
        return Ok((located.finish()?, chunks, bytes));
    };
    // Chunks all indexed in one pack that is gone: name the pack.
    let (object, problem) = match pack {
        Some(p) if lost.one_pack => (
            format!("pack {p}"),
            format!(
                "is missing or truncated ({} lost)",
                count(lost.count, "chunk")
            ),
        ),
        _ => (
            format!("chunk {c}"),
            format!("is missing ({} in all)", count(lost.count, "chunk")),
        ),
    };
    Err(Error::RemoteObject {
        remote: b.label().to_string(),
        object,
        missing: true,
        problem,
        files: name(&mut |c| Ok(lost.named.contains(c)))?,
    })
}

/// The object a failed read lost, to name the files it affects once the reads have stopped.
enum Failed {
    Pack(PackId),
    Chunk(ChunkId),
}

/// Downloads the chunks `needed` yields (sorted, each once) into new local packs, several
/// ranged reads in flight, with the remote's index already loaded (a reader keeps it between
/// reads); `name` names the files affected by a lost object. Returns how many chunks came.
pub(crate) fn download_located(
    rindex: &RemoteIndex,
    store: &Store,
    b: &Session<'_>,
    spool_dir: &Path,
    needed: &mut dyn FnMut() -> Result<Option<ChunkId>>,
    name: Namer<'_>,
    progress: &dyn Progress,
) -> Result<u64> {
    let (located, chunks, bytes) = locate(b, rindex, spool_dir, needed, name)?;
    progress.begin("downloading", Some(bytes), Unit::Bytes);
    // Through the page cache: a pull reads these chunks back right away.
    let writer = store.writer_with_pack_size(FETCH_PACK_SIZE).cached();
    // The object each failed read lost, by the name its error gives it.
    let failed: Mutex<Vec<(String, Failed)>> = Mutex::new(Vec::new());
    let lose = |object: String, what: Failed| {
        failed
            .lock()
            .expect("failure list poisoned")
            .push((object.clone(), what));
        object
    };
    let fetch_range = |r: &RangeRead| -> Result<()> {
        let mut data = b
            .get_range(&pack_key(b, &r.pack), r.start, r.len)
            .map_err(|e| match e {
                BackendError::NotFound { .. } => Error::RemoteObject {
                    remote: b.label().to_string(),
                    object: lose(format!("pack {}", r.pack), Failed::Pack(r.pack)),
                    missing: true,
                    problem: "is missing".into(),
                    files: Vec::new(),
                },
                e => b.error(e),
            })?;
        let mut done = 0u64;
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
                object: lose(format!("chunk {c} in pack {}", r.pack), Failed::Chunk(*c)),
                missing: false,
                problem: format!("is corrupt ({detail})"),
                files: Vec::new(),
            })?;
            writer.add_missing(*c, l.compression, stored, l.raw_len)?;
            done += u64::from(l.stored_len);
        }
        progress.advance(done);
        Ok(())
    };
    // Reads are planned and run a round at a time, so only one round is held in memory.
    let fetched = (|| {
        let mut planner = RangePlanner::new(MAX_RANGE_GAP, MAX_RANGE_LEN);
        let mut round: Vec<RangeRead> = Vec::new();
        let mut in_round = 0;
        let mut it = located.iter()?;
        loop {
            let next = it.next()?;
            let closed = match next {
                Some(l) => planner.push(l.id, l.at),
                None => planner.finish(),
            };
            if let Some(r) = closed {
                in_round += r.chunks.len();
                round.push(r);
            }
            if in_round >= CHUNKS_PER_ROUND || (next.is_none() && !round.is_empty()) {
                crate::work::try_each(&round, PARALLEL_REQUESTS, "fetch", fetch_range)?;
                round.clear();
                in_round = 0;
            }
            if next.is_none() {
                return Ok(());
            }
        }
    })();
    progress.end();
    // Keep whatever arrived, even after an error: a rerun will not download it again.
    let finished = writer.finish();
    let fetched = match fetched {
        Err(Error::RemoteObject {
            remote,
            object,
            missing,
            problem,
            ..
        }) => {
            let what = failed
                .into_inner()
                .expect("failure list poisoned")
                .into_iter()
                .find(|(o, _)| *o == object)
                .map(|(_, w)| w);
            let files = match what {
                Some(Failed::Pack(p)) => name(&mut |c| {
                    Ok(rindex.lookup_indexed(c)?.is_some_and(|l| l.pack == p)
                        && !store.readable(c)?)
                })?,
                Some(Failed::Chunk(bad)) => name(&mut |c| Ok(*c == bad))?,
                None => Vec::new(),
            };
            Err(Error::RemoteObject {
                remote,
                object,
                missing,
                problem,
                files,
            })
        }
        other => other,
    };
    fetched?;
    finished?;
    Ok(chunks)
}
