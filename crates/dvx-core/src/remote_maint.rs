//! `dvx fsck --remote` and `dvx gc --remote`: checking and cleaning a remote.
//!
//! Deletion on a remote is two-phase and lock-free: a gc run records the objects it finds
//! unreferenced in `gc/pending.toml` on the remote; a later run deletes those that are
//! still unreferenced once the grace period has passed since they were recorded. Anyone
//! pushing in between makes an object live again, and it is then dropped from the list.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::time::SystemTime;

use dvx_manifest::Tree;
use dvx_store::{BackendError, ChunkId, PackId, TreeId};
use serde::{Deserialize, Serialize};

use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::fsck::{
    check_versions, live_roots, FsckReport, Problem, ProblemKind, SortedCheck, Source,
};
use crate::gc;
use crate::gc::{GcOptions, GcReport};
use crate::progress::Progress;
use crate::remote::open_remote;
use crate::spool::{ById, Located, Sorter};
use crate::transfer::layout::{
    self, list_packs, list_trees, pack_key, parse_pack_key, tree_key, RemoteIndex, TreeReadError,
    GC_PENDING,
};
use crate::transfer::session::Session;
use crate::treeio::{file_chunks, TreeWalk};
use crate::workspace::Workspace;

/// Upper bound of `gc/pending.toml` (about 100 bytes per object listed).
const MAX_PENDING_LEN: u64 = 64 << 20;

/// Reads a tree from the local store or, failing that, from the remote (verified).
fn get_tree(
    ws: &Workspace,
    b: &Session<'_>,
    id: &TreeId,
) -> std::result::Result<Option<Tree>, String> {
    let store = ws.store().map_err(|e| e.to_string())?;
    if store.has_tree(id) {
        if let Ok(t) = crate::treeio::read_tree(store, id) {
            return Ok(Some(t));
        }
    }
    match layout::get_tree(b, id) {
        Ok((tree, _)) => Ok(Some(tree)),
        Err(TreeReadError::Get(BackendError::NotFound { .. })) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks that every version in the history is complete on the remote, every tree there is
/// sound, and every index entry points at a pack that exists.
pub fn fsck_remote(ws: &Workspace, remote: Option<&str>, env: &CloudEnv) -> Result<FsckReport> {
    ws.require_init()?;
    let r = open_remote(ws, remote, env)?;
    let b = Session::open(&r);
    // A missing remote is one problem, not "every object is missing".
    b.check_reachable()?;
    let mut report = FsckReport::default();
    let packs = list_packs(&b)?;
    let trees: HashSet<TreeId> = list_trees(&b)?.into_iter().collect();
    report.packs = packs.len() as u64;
    let mut problems = Vec::new();
    let rindex = match RemoteIndex::load(ws, &b) {
        Ok(i) => Some(i),
        Err(e) => {
            problems.push(Problem {
                kind: ProblemKind::Unreadable,
                object: "remote index".into(),
                what: e.to_string(),
                files: vec![],
            });
            None
        }
    };
    if let Some(ri) = &rindex {
        for (key, problem) in &ri.damaged {
            problems.push(Problem {
                kind: ProblemKind::Damaged,
                object: key.clone(),
                what: format!("{problem}; fetch reads its packs through their trailers"),
                files: vec![],
            });
        }
        report.indexes = ri.keys.len() as u64;
        let mut missing: BTreeMap<PackId, u64> = BTreeMap::new();
        ri.for_each_entry(|_, loc| {
            report.chunks += 1;
            if !packs.contains_key(&loc.pack) {
                *missing.entry(loc.pack).or_default() += 1;
            }
            Ok(())
        })?;
        for (p, n) in missing {
            problems.push(Problem {
                kind: ProblemKind::Missing,
                object: format!("pack {p}"),
                what: format!(
                    "is missing on the remote but its index lists {n} {} in it; \
                     `dvx push` sends the chunks a version needs again, then `dvx gc --remote` \
                     drops the stale index entries",
                    if n == 1 { "chunk" } else { "chunks" }
                ),
                files: vec![],
            });
        }
    }
    // Every version of the history, each tree once (see `fsck::check_versions`).
    let versions = live_roots(ws)?;
    report.versions = versions.len() as u64;
    let check = RemoteCheck {
        b: &b,
        trees: &trees,
        rindex: rindex.as_ref(),
        packs: &packs,
    };
    let (affected, present) = check_versions(&check, &versions, &ws.state_dir())?;
    report.trees = present;
    for (object, (kind, what, files)) in affected {
        problems.push(Problem {
            kind,
            object,
            what,
            files: files.into_iter().collect(),
        });
    }
    report.problems = problems;
    Ok(report)
}

/// What the remote holds, for the version check of [`fsck_remote`].
struct RemoteCheck<'a> {
    b: &'a Session<'a>,
    /// The tree objects listed on the remote.
    trees: &'a HashSet<TreeId>,
    /// None when the remote's index could not be read (reported on its own).
    rindex: Option<&'a RemoteIndex>,
    /// The packs listed on the remote, with their sizes.
    packs: &'a HashMap<PackId, u64>,
}

impl Source for RemoteCheck<'_> {
    fn tree(&self, id: &TreeId) -> Result<std::result::Result<Tree, (ProblemKind, String)>> {
        if !self.trees.contains(id) {
            return Ok(Err((
                ProblemKind::Missing,
                "is missing on the remote".into(),
            )));
        }
        Ok(match layout::get_tree(self.b, id) {
            Ok((t, _)) => Ok(t),
            Err(e) => Err((
                ProblemKind::Damaged,
                format!("is damaged on the remote ({e})"),
            )),
        })
    }

    /// A chunk is sound when a fetch finds it: a location in a pack that is there and long
    /// enough ([`RemoteIndex::lookup`]); the first location listed says why not.
    fn chunk_problem(&self, c: &ChunkId) -> Result<Option<(ProblemKind, String)>> {
        let Some(ri) = self.rindex else {
            return Ok(None);
        };
        if ri.lookup(c)?.is_some() {
            return Ok(None);
        }
        let what = match ri.lookup_indexed(c)? {
            None => "is missing on the remote".to_string(),
            Some(l) if !self.packs.contains_key(&l.pack) => {
                format!("is in pack {} which is missing on the remote", l.pack)
            }
            Some(l) => format!(
                "is in pack {} which is shorter on the remote than its index says",
                l.pack
            ),
        };
        Ok(Some((ProblemKind::Missing, what)))
    }

    fn sorted_check(&self) -> SortedCheck<'_> {
        let Some(ri) = self.rindex else {
            return Box::new(|_| Ok(false));
        };
        let mut lookup = ri.lookup_sorted();
        Box::new(move |c| Ok(lookup(c)?.is_none()))
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Pending {
    #[serde(default)]
    object: Vec<PendingObject>,
}

#[derive(Clone, Serialize, Deserialize)]
struct PendingObject {
    key: String,
    /// Unix seconds when a gc first found it unreferenced.
    marked: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Two-phase gc of a remote (see the module documentation).
pub fn gc_remote(
    ws: &Workspace,
    remote: Option<&str>,
    env: &CloudEnv,
    opts: &GcOptions,
    progress: &dyn Progress,
) -> Result<GcReport> {
    ws.require_init()?;
    let r = open_remote(ws, remote, env)?;
    r.require_writable("gc --remote")?;
    let started = crate::audit::now();
    let b = Session::open(&r);
    let report = sweep(ws, &b, opts)?;
    // Every run is recorded, a dry run too: it read the whole remote's listing.
    let mut moved = b.report();
    b.finish(&mut moved);
    let mut record = crate::audit::record_of(
        crate::audit::AuditOperation::Gc,
        &r,
        Some(ws),
        env,
        started,
        Vec::new(),
        &moved,
    )?;
    record.gc = Some(crate::audit::AuditGc {
        versions: report.versions,
        packs_deleted: report.packs_deleted,
        trees_deleted: report.trees_deleted,
        bytes_freed: report.bytes_freed,
        pending: report.young_kept,
        dry_run: opts.dry_run,
    });
    crate::audit::write_record(&b, &r, &record, progress)?;
    Ok(report)
}

/// The two phases of [`gc_remote`] through an opened session.
fn sweep(ws: &Workspace, b: &Session<'_>, opts: &GcOptions) -> Result<GcReport> {
    let rerr = |e| b.error(e);
    b.check_reachable()?;
    crate::transfer::refuse_plaintext_to_encrypted(b)?;
    let mut report = GcReport::default();

    // Mark: the live chunk ids as sorted runs (on disk when many), like the local gc.
    let roots = live_roots(ws)?;
    report.versions = roots.len() as u64;
    let spool_dir = ws.state_dir();
    let mut live_chunks: Sorter<ChunkId> = Sorter::new(&spool_dir, gc::LIVE_IN_MEMORY);
    let mut walk = TreeWalk::new(roots.iter().map(|(p, _)| p.id)).once();
    while let Some(dir) = walk.next()? {
        match get_tree(ws, b, &dir.id) {
            Ok(Some(t)) => {
                walk.enter_all(&dir, &t);
                for c in file_chunks(&t) {
                    live_chunks.push(*c)?;
                }
            }
            Ok(None) => {}
            // A tree we cannot read: we cannot know what it needs, so delete nothing.
            Err(e) => {
                return Err(Error::GcStopped(format!(
                "remote gc stopped: tree {} cannot be read ({e}); run `dvx fsck --remote` first",
                dir.id
            )))
            }
        }
    }
    let live_trees = walk.into_seen();
    let live_chunks = live_chunks.finish()?;
    report.live_chunks = gc::count(&live_chunks)?;

    // Sweep candidates: the remote's index entries sorted by chunk id, joined with the live
    // chunks, say which packs hold a live chunk.
    let pack_sizes = list_packs(b)?;
    let remote_trees = list_trees(b)?;
    let rindex = RemoteIndex::load(ws, b)?;
    let mut entries: Sorter<ById> = Sorter::new(&spool_dir, gc::ENTRIES_IN_MEMORY);
    rindex.for_each_entry(|id, at| entries.push(ById(Located { id, at })))?;
    let entries = entries.finish()?;
    let mut pack_live: HashMap<PackId, bool> = pack_sizes.keys().map(|p| (*p, false)).collect();
    let mut pack_known: HashSet<PackId> = HashSet::new();
    gc::join_live(&entries, &live_chunks, |e, live| {
        pack_known.insert(e.at.pack);
        if live {
            pack_live.insert(e.at.pack, true);
        }
        Ok(())
    })?;
    drop(entries);
    let mut dead: BTreeMap<String, u64> = BTreeMap::new();
    for (p, live) in &pack_live {
        // A pack whose content we could not read is never a candidate.
        if !live && pack_known.contains(p) {
            dead.insert(pack_key(b, p), pack_sizes.get(p).copied().unwrap_or(0));
        } else {
            report.packs_kept += 1;
            report.bytes_kept += pack_sizes.get(p).copied().unwrap_or(0);
        }
    }
    for t in &remote_trees {
        if !live_trees.contains(t) {
            dead.insert(tree_key(b, t), 0);
        }
    }

    // Phase logic.
    let pending: Pending = match b.get(GC_PENDING, MAX_PENDING_LEN) {
        Ok(bytes) => toml::from_str(&String::from_utf8_lossy(&bytes)).unwrap_or_default(),
        Err(BackendError::NotFound { .. }) => Pending::default(),
        Err(e) => return Err(rerr(e)),
    };
    let now = now_secs();
    let grace = opts.keep.as_secs();
    let mut next = Pending::default();
    let mut delete: Vec<(String, u64)> = Vec::new();
    let mut seen = HashSet::new();
    for o in &pending.object {
        if let Some(size) = dead.get(&o.key) {
            seen.insert(o.key.clone());
            if now.saturating_sub(o.marked) >= grace {
                delete.push((o.key.clone(), *size));
            } else {
                report.young_kept += 1;
                next.object.push(o.clone());
            }
        }
    }
    for key in dead.keys() {
        if !seen.contains(key) {
            report.young_kept += 1;
            next.object.push(PendingObject {
                key: key.clone(),
                marked: now,
            });
        }
    }
    report.packs_deleted = delete
        .iter()
        .filter(|(k, _)| k.starts_with(layout::PACKS))
        .count() as u64;
    report.trees_deleted = delete
        .iter()
        .filter(|(k, _)| k.starts_with(layout::TREES))
        .count() as u64;
    report.bytes_freed = delete.iter().map(|(_, s)| s).sum();
    if opts.dry_run {
        return Ok(report);
    }

    // Packs first need an index that no longer names them: upload, for each index file that
    // names a doomed pack, one without its entries, then drop the index files replaced, then
    // the packs, then the trees. Index files naming no doomed pack stay as they are.
    let mut doomed: HashSet<PackId> = delete
        .iter()
        .filter_map(|(k, _)| parse_pack_key(b, k))
        .collect();
    // Entries naming packs that are gone (deleted by hand, lost) are dropped too: a push has
    // sent their chunks again elsewhere, and fsck would report them forever. A push uploads a
    // pack before its index, so an index never names a pack still on its way.
    doomed.extend(rindex.named_packs().filter(|p| !pack_sizes.contains_key(p)));
    if !doomed.is_empty() {
        let scratch = crate::fsx::ScratchDir::new(ws, "gc")?;
        rindex.put_without(b, scratch.path(), &doomed)?;
    }
    for (k, _) in &delete {
        b.delete(k).map_err(rerr)?;
    }
    if next.object.is_empty() {
        b.delete(GC_PENDING).map_err(rerr)?;
    } else {
        let text = format!(
            "# dvx remote gc: objects found unreferenced; a later gc deletes those still unreferenced\n# once the grace period has passed since `marked` (unix seconds).\n{}",
            toml::to_string(&next).map_err(|e| Error::Encode {
                what: GC_PENDING.into(),
                detail: e.to_string(),
            })?
        );
        b.put(GC_PENDING, text.into_bytes()).map_err(rerr)?;
    }
    crate::transfer::layout::refresh_catalogue(b)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dvx_manifest::Pointer;
    use dvx_store::MemoryBackend;

    use super::*;
    use crate::testutil::{add_data, commit, random_files, seeded_repo};
    use crate::transfer::layout::INDEXES;
    use crate::NoProgress;

    fn index_keys(b: &Session<'_>) -> BTreeMap<String, ()> {
        let objects = b.list(INDEXES).expect("list");
        objects.into_iter().map(|o| (o.key, ())).collect()
    }

    fn gc_twice(ws: &Workspace, b: &Session<'_>) -> GcReport {
        let opts = GcOptions {
            dry_run: false,
            keep: Duration::ZERO,
        };
        sweep(ws, b, &opts).expect("gc marks");
        sweep(ws, b, &opts).expect("gc deletes")
    }

    /// Pushes a version of `data` with files in `sub` added, then adds `data` without them
    /// again (never committed): the version's pack is dead on the remote.
    fn push_dead_pack(ws: &Workspace, b: &Session<'_>, rng: &mut impl rand::RngCore, sub: &str) {
        let dir = ws.root().to_path_buf();
        random_files(&dir, rng, sub, 0..10);
        add_data(ws);
        let p = ws.worktree_pointer("data").expect("read").expect("pointer");
        crate::transfer::push_to(ws, b, &[p], &NoProgress).expect("push");
        std::fs::remove_dir_all(dir.join("data").join(sub)).expect("rm");
        add_data(ws);
    }

    /// fsck --remote's walk counts the trees there once each, and names the files below a
    /// tree that went missing, in the version that needs it.
    #[test]
    fn the_remote_check_counts_trees_and_names_a_lost_subtree() {
        let (_tmp, dir, ws, mut rng) = seeded_repo(5);
        random_files(&dir, &mut rng, "a", 0..5);
        random_files(&dir, &mut rng, "b", 0..5);
        add_data(&ws);
        commit(&dir, "v1");
        let v1 = ws.worktree_pointer("data").expect("read").expect("pointer");
        let backend = MemoryBackend::new();
        let b = Session::new(&backend, "mem", "mem://fsck");
        crate::transfer::push_to(&ws, &b, std::slice::from_ref(&v1), &NoProgress).expect("push");
        let check = |trees: &HashSet<TreeId>| {
            let rindex = RemoteIndex::load(&ws, &b).expect("index");
            let packs = list_packs(&b).expect("packs");
            let src = RemoteCheck {
                b: &b,
                trees,
                rindex: Some(&rindex),
                packs: &packs,
            };
            let versions = live_roots(&ws).expect("roots");
            check_versions(&src, &versions, &ws.state_dir()).expect("check")
        };
        let listed: HashSet<TreeId> = list_trees(&b).expect("trees").into_iter().collect();
        let (affected, present) = check(&listed);
        assert!(affected.is_empty(), "{affected:?}");
        // The root, a and b; the worktree, HEAD and the git index share them.
        assert_eq!(present, 3);

        let store = ws.store().expect("store");
        let root = crate::treeio::read_tree(store, &v1.id).expect("root");
        let a = root
            .entries()
            .iter()
            .find_map(|e| match &e.kind {
                dvx_manifest::EntryKind::Dir { id, .. } if e.name == b"a" => Some(*id),
                _ => None,
            })
            .expect("a");
        let without_a: HashSet<TreeId> = listed.iter().filter(|t| **t != a).copied().collect();
        let (affected, present) = check(&without_a);
        assert_eq!(present, 2);
        let (kind, _, files) = &affected[&format!("tree {a}")];
        assert_eq!(*kind, ProblemKind::Missing);
        assert!(files.iter().all(|f| f.starts_with("data/a@")), "{files:?}");
        assert!(files.iter().any(|f| f == "data/a@worktree"), "{files:?}");
        assert_eq!(affected.len(), 1, "{affected:?}");
    }

    /// Remote gc rewrites only the index objects that name a doomed pack, in pieces, and
    /// every live chunk stays findable; unindexed packs' chunks that stay get indexed.
    #[test]
    fn gc_rewrites_only_the_index_objects_naming_doomed_packs() {
        let (_tmp, dir, ws, mut rng) = seeded_repo(3);
        let mut live = random_files(&dir, &mut rng, "a", 0..30);
        add_data(&ws);
        commit(&dir, "v1");
        let backend = MemoryBackend::new();
        let b = Session::new(&backend, "mem", "mem://gc");
        let v1 = ws.worktree_pointer("data").expect("read").expect("pointer");
        crate::transfer::push_to(&ws, &b, &[v1], &NoProgress).expect("push");
        push_dead_pack(&ws, &b, &mut rng, "dead1");
        // The remote lost its index objects: every pack is read through its trailer.
        for key in index_keys(&b).keys() {
            b.delete(key).expect("delete");
        }

        let r = gc_twice(&ws, &b);
        assert_eq!(r.packs_deleted, 1, "{r:?}");
        let pieces = index_keys(&b);
        // 30 live chunks, 4 entries a piece.
        assert_eq!(pieces.len(), 8, "{pieces:?}");

        // Another dead pack: only its own index object goes; the pieces stay as they are.
        live.extend(random_files(&dir, &mut rng, "b", 0..5));
        add_data(&ws);
        commit(&dir, "v2");
        let v2 = ws.worktree_pointer("data").expect("read").expect("pointer");
        crate::transfer::push_to(&ws, &b, &[v2], &NoProgress).expect("push");
        let with_v2 = index_keys(&b);
        push_dead_pack(&ws, &b, &mut rng, "dead2");
        assert_eq!(index_keys(&b).len(), with_v2.len() + 1);
        let r = gc_twice(&ws, &b);
        assert_eq!(r.packs_deleted, 1, "{r:?}");
        assert_eq!(index_keys(&b), with_v2);

        let rindex = RemoteIndex::load(&ws, &b).expect("index");
        for c in &live {
            assert!(
                rindex.lookup(c).expect("lookup").is_some(),
                "chunk {c} lost"
            );
        }
        let mut entries = 0;
        rindex
            .for_each_entry(|_, _| {
                entries += 1;
                Ok(())
            })
            .expect("entries");
        assert_eq!(entries, live.len(), "no dead entry left");
    }

    /// fsck's sorted pass over the remote's index objects answers as a lookup each does:
    /// chunks in several index objects, in an unindexed pack, in a pack gone from the
    /// remote, and ids the remote never had, asked in ascending order with repeats.
    #[test]
    fn the_sorted_lookup_agrees_with_a_lookup_each() {
        let (_tmp, dir, ws, mut rng) = seeded_repo(11);
        let backend = MemoryBackend::new();
        let b = Session::new(&backend, "mem", "mem://sorted");
        let mut ids = Vec::new();
        let mut pushed = Vec::new();
        for sub in ["a", "b", "c", "d"] {
            ids.extend(random_files(&dir, &mut rng, sub, 0..25));
            add_data(&ws);
            let p = ws.worktree_pointer("data").expect("read").expect("pointer");
            let before = index_keys(&b);
            crate::transfer::push_to(&ws, &b, &[p], &NoProgress).expect("push");
            let new: Vec<String> = index_keys(&b)
                .into_keys()
                .filter(|k| !before.contains_key(k))
                .collect();
            pushed.push(new);
        }
        // b's index object is lost (its pack is read through its trailer); c's pack is.
        for key in &pushed[1] {
            b.delete(key).expect("delete");
        }
        let ri = RemoteIndex::load(&ws, &b).expect("index");
        let c_pack = ri.lookup(&ids[60]).expect("lookup").expect("indexed").pack;
        b.delete(&pack_key(&b, &c_pack)).expect("delete");
        let ri = RemoteIndex::load(&ws, &b).expect("index");
        // Three index objects; b's chunks are found through their pack's trailer.
        assert_eq!(ri.keys.len(), 3);
        assert!(ri.lookup(&ids[30]).expect("lookup").is_some());
        ids.extend((0..50u32).map(|i| ChunkId::of(&i.to_le_bytes())));
        ids.extend(ids.clone().into_iter().step_by(7));
        ids.sort();
        let mut sorted = ri.lookup_sorted();
        let (mut found, mut absent) = (0, 0);
        for id in &ids {
            let each = ri.lookup(id).expect("lookup");
            assert_eq!(sorted(id).expect("sorted"), each, "chunk {id}");
            if each.is_some() {
                found += 1;
            } else {
                absent += 1;
            }
        }
        // c's 25 chunks and the 50 made up, some asked twice.
        assert!(found > 75 && absent >= 75, "{found} {absent}");
    }

    /// A chunk is sound on the remote when a fetch finds it: listed by an index object whose
    /// pack is gone, and again by the one a later push sent, it is not reported.
    #[test]
    fn fsck_remote_calls_a_chunk_sound_when_a_fetch_finds_it() {
        // v1 pushed, its pack lost, then v2 (v1's files and one more) pushed: v1's chunks are
        // sent again, in another pack. The stale index object must come first, where a
        // lookup of the first listed location finds its entries. Index objects are listed by
        // name, a hash over their packs' entries: other data (another seed) gives another,
        // independent order, so 40 tries all fail about once in 2^40. The same data gives
        // the same names only when add packs its chunks in the same order, which threads
        // need not keep: one repository tried again would keep failing.
        let mut stale_first = None;
        for seed in 0..40 {
            let (tmp, dir, ws, mut rng) = seeded_repo(2 + seed);
            let ids = random_files(&dir, &mut rng, "a", 0..60);
            add_data(&ws);
            commit(&dir, "v1");
            let v1 = ws.worktree_pointer("data").expect("read").expect("pointer");
            random_files(&dir, &mut rng, "b", 0..1);
            add_data(&ws);
            let v2 = ws.worktree_pointer("data").expect("read").expect("pointer");
            let backend = MemoryBackend::new();
            let b = Session::new(&backend, "mem", "mem://sound");
            let push = |p: &Pointer| {
                crate::transfer::push_to(&ws, &b, std::slice::from_ref(p), &NoProgress)
                    .expect("push")
            };
            push(&v1);
            let first = RemoteIndex::load(&ws, &b).expect("index");
            let lost = first.lookup(&ids[0]).expect("lookup").expect("there").pack;
            b.delete(&pack_key(&b, &lost)).expect("delete");
            push(&v2);
            let rindex = RemoteIndex::load(&ws, &b).expect("index");
            let listed = rindex.lookup_indexed(&ids[0]).expect("lookup");
            drop(b);
            if listed.map(|l| l.pack) == Some(lost) {
                stale_first = Some((tmp, ws, ids, backend, lost));
                break;
            }
        }
        let (_tmp, ws, ids, backend, lost) =
            stale_first.expect("the stale index object came first once");
        let b = Session::new(&backend, "mem", "mem://sound");
        let rindex = RemoteIndex::load(&ws, &b).expect("index");
        assert_ne!(
            rindex.lookup(&ids[0]).expect("lookup").map(|l| l.pack),
            Some(lost)
        );
        let packs = list_packs(&b).expect("packs");
        let trees: HashSet<TreeId> = list_trees(&b).expect("trees").into_iter().collect();
        let src = RemoteCheck {
            b: &b,
            trees: &trees,
            rindex: Some(&rindex),
            packs: &packs,
        };
        for c in &ids {
            assert_eq!(src.chunk_problem(c).expect("check"), None, "chunk {c}");
        }
        let versions = live_roots(&ws).expect("roots");
        let (affected, _) = check_versions(&src, &versions, &ws.state_dir()).expect("check");
        assert!(affected.is_empty(), "{affected:?}");

        // Once the second pack is gone too, every chunk is missing and names its files.
        let second = rindex.lookup(&ids[0]).expect("lookup").expect("there").pack;
        b.delete(&pack_key(&b, &second)).expect("delete");
        let rindex = RemoteIndex::load(&ws, &b).expect("index");
        let packs = list_packs(&b).expect("packs");
        let src = RemoteCheck {
            b: &b,
            trees: &trees,
            rindex: Some(&rindex),
            packs: &packs,
        };
        let (affected, _) = check_versions(&src, &versions, &ws.state_dir()).expect("check");
        let chunk = &affected[&format!("chunk {}", ids[0])];
        assert_eq!(chunk.0, ProblemKind::Missing);
        assert!(
            chunk.2.iter().any(|f| f == "data/a/f0.bin@worktree"),
            "{chunk:?}"
        );
        assert!(affected.len() >= ids.len(), "{}", affected.len());
    }
}
