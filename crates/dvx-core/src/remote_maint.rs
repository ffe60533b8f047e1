//! `dvx fsck --remote` and `dvx gc --remote`: checking and cleaning a remote.
//!
//! Deletion on a remote is two-phase and lock-free: a gc run records the objects it finds
//! unreferenced in `gc/pending.toml` on the remote; a later run deletes those that are
//! still unreferenced once the grace period has passed since they were recorded. Anyone
//! pushing in between makes an object live again, and it is then dropped from the list.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::time::SystemTime;

use dvx_manifest::{EntryKind, Tree};
use dvx_store::{BackendError, ChunkId, PackId, TreeId};
use serde::{Deserialize, Serialize};

use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::fsck::{live_roots, FsckReport, Problem, ProblemKind};
use crate::gc::{GcOptions, GcReport};
use crate::progress::Progress;
use crate::remote::open_remote;
use crate::transfer::layout::{
    self, list_packs, list_trees, pack_key, parse_pack_key, put_index, tree_key, RemoteIndex,
    TreeReadError, GC_PENDING,
};
use crate::transfer::session::Session;
use crate::treeio::{file_chunks, TreeWalk};
use crate::workspace::{join_rel, Dataset, Workspace};

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
        for (_, loc) in ri.all_entries()? {
            report.chunks += 1;
            if !packs.contains_key(&loc.pack) {
                *missing.entry(loc.pack).or_default() += 1;
            }
        }
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
    // Every version of the history.
    let mut decoded: HashMap<TreeId, Option<Tree>> = HashMap::new();
    let mut affected: BTreeMap<String, (ProblemKind, String, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for (p, label_v) in live_roots(ws)? {
        report.versions += 1;
        let rev = label_v.rsplit('@').next().unwrap_or("").to_string();
        let base = Dataset::of(&p).base();
        let mut walk = TreeWalk::new([p.id]);
        while let Some(dir) = walk.next()? {
            let id = dir.id;
            let shown = if dir.path.is_empty() {
                format!("{}@{rev}", p.path)
            } else {
                format!("{}@{rev}", join_rel(&base, &dir.path))
            };
            if !trees.contains(&id) {
                affected
                    .entry(format!("tree {id}"))
                    .or_insert_with(|| {
                        (
                            ProblemKind::Missing,
                            "is missing on the remote".into(),
                            Default::default(),
                        )
                    })
                    .2
                    .insert(shown);
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = decoded.entry(id) {
                report.trees += 1;
                match layout::get_tree(&b, &id) {
                    Ok((t, _)) => {
                        slot.insert(Some(t));
                    }
                    Err(e) => {
                        slot.insert(None);
                        affected
                            .entry(format!("tree {id}"))
                            .or_insert_with(|| {
                                (
                                    ProblemKind::Damaged,
                                    format!("is damaged on the remote ({e})"),
                                    Default::default(),
                                )
                            })
                            .2
                            .insert(shown.clone());
                    }
                }
            }
            let Some(Some(tree)) = decoded.get(&id) else {
                continue;
            };
            walk.enter_all(&dir, tree);
            let Some(ri) = &rindex else { continue };
            for e in tree.entries() {
                let EntryKind::File { chunks, .. } = &e.kind else {
                    continue;
                };
                for c in chunks {
                    let what = match ri.lookup_indexed(&c.id)? {
                        None => Some("is missing on the remote".to_string()),
                        Some(l) if !packs.contains_key(&l.pack) => Some(format!(
                            "is in pack {} which is missing on the remote",
                            l.pack
                        )),
                        Some(_) => None,
                    };
                    if let Some(what) = what {
                        affected
                            .entry(format!("chunk {}", c.id))
                            .or_insert_with(|| (ProblemKind::Missing, what, Default::default()))
                            .2
                            .insert(format!("{}@{rev}", join_rel(&base, &dir.child(&e.name))));
                    }
                }
            }
        }
    }
    for (object, (kind, what, files)) in affected {
        problems.push(Problem {
            kind,
            object,
            what,
            files: files.into_iter().take(20).collect(),
        });
    }
    report.problems = problems;
    Ok(report)
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

    // Mark.
    let roots = live_roots(ws)?;
    report.versions = roots.len() as u64;
    let mut live_chunks: HashSet<ChunkId> = HashSet::new();
    let mut walk = TreeWalk::new(roots.iter().map(|(p, _)| p.id)).once();
    while let Some(dir) = walk.next()? {
        match get_tree(ws, b, &dir.id) {
            Ok(Some(t)) => {
                walk.enter_all(&dir, &t);
                live_chunks.extend(file_chunks(&t).copied());
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
    report.live_chunks = live_chunks.len() as u64;

    // Sweep candidates.
    let pack_sizes = list_packs(b)?;
    let remote_trees = list_trees(b)?;
    let rindex = RemoteIndex::load(ws, b)?;
    let entries = rindex.all_entries()?;
    let mut pack_live: HashMap<PackId, bool> = pack_sizes.keys().map(|p| (*p, false)).collect();
    let mut pack_known: HashSet<PackId> = HashSet::new();
    for (c, l) in &entries {
        pack_known.insert(l.pack);
        if live_chunks.contains(c) {
            pack_live.insert(l.pack, true);
        }
    }
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

    // Packs first need an index that no longer names them: upload a merged index of what
    // stays, then drop the index files it replaces, then the packs, then the trees.
    let mut doomed: HashSet<PackId> = delete
        .iter()
        .filter_map(|(k, _)| parse_pack_key(b, k))
        .collect();
    // Entries naming packs that are gone (deleted by hand, lost) are dropped too: a push has
    // sent their chunks again elsewhere, and fsck would report them forever. A push uploads a
    // pack before its index, so an index never names a pack still on its way.
    doomed.extend(
        entries
            .iter()
            .map(|(_, l)| l.pack)
            .filter(|p| !pack_sizes.contains_key(p)),
    );
    if !doomed.is_empty() {
        let keep: Vec<(ChunkId, dvx_store::Location)> = entries
            .into_iter()
            .filter(|(_, l)| !doomed.contains(&l.pack))
            .collect();
        let scratch = crate::fsx::ScratchDir::new(ws, "gc")?;
        let mut new_key = None;
        if !keep.is_empty() {
            new_key = Some(put_index(b, scratch.path(), keep)?.0);
        }
        for k in &rindex.keys {
            if Some(k) != new_key.as_ref() {
                b.delete(k).map_err(rerr)?;
            }
        }
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
