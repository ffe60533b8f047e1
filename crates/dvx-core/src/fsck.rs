//! `dvx fsck`: verify every pack, index and tree of the local store (or what a remote holds),
//! and that every version in the history has all its objects; report each problem with the
//! object and the dataset files (and revisions) it affects.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use dvx_manifest::{EntryKind, Pointer, Tree};
use dvx_store::index::IndexFile;
use dvx_store::pack::{self, PackEntry};
use dvx_store::{ChunkId, PackId, Store, TreeId};

use crate::error::Result;
use crate::progress::{Progress, Unit};
use crate::treeio::TreeWalk;
use crate::workspace::{join_rel, Dataset, Workspace};
use ProblemKind::{Damaged, Missing, Unreadable};

/// The kind of a problem: what a caller decides on (`what` is worded for people).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The object is there but its bytes are wrong: they do not match its id or checksum,
    /// do not decode, or disagree with the pack they describe.
    Damaged,
    /// The object is there but could not be read (an I/O error, not a regular file).
    Unreadable,
    /// An object a version (or an index entry) needs is not there: the version is incomplete.
    Missing,
}

impl ProblemKind {
    /// `damaged`, `unreadable` or `missing`, as `fsck --json` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Damaged => "damaged",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::Missing => "missing",
        }
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem it is.
    pub kind: ProblemKind,
    /// The object concerned (pack, index file, tree or chunk).
    pub object: String,
    /// What is wrong.
    pub what: String,
    /// Dataset files affected, as `path@rev` (at most 20).
    pub files: Vec<String>,
}

/// What fsck checked and found.
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    /// Pack files verified.
    pub packs: u64,
    /// Chunks verified.
    pub chunks: u64,
    /// Index files verified.
    pub indexes: u64,
    /// Tree objects verified.
    pub trees: u64,
    /// Dataset versions whose completeness was checked.
    pub versions: u64,
    /// Problems, sorted by object.
    pub problems: Vec<Problem>,
    /// What `--repair` did.
    pub repaired: Vec<String>,
}

/// Options of fsck.
#[derive(Clone, Debug, Default)]
pub struct FsckOptions {
    /// Rebuild the index from the packs (drops entries of damaged or missing packs).
    pub repair: bool,
}

/// Every dataset version named by any commit reachable from any ref, plus the worktree's
/// pointers, with a label (`path@rev`) for messages.
pub(crate) fn all_versions(ws: &Workspace) -> Result<Vec<(Pointer, String)>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in ws.all_worktree_pointers_unchecked()? {
        if seen.insert((p.path.clone(), p.id)) {
            let label = format!("{}@worktree", p.path);
            out.push((p, label));
        }
    }
    for c in ws.repo.all_commits()? {
        for (p, _) in ws.pointers_at_unchecked(&c)? {
            if seen.insert((p.path.clone(), p.id)) {
                let label = format!("{}@{}", p.path, &c.id[..c.id.len().min(10)]);
                out.push((p, label));
            }
        }
    }
    Ok(out)
}

/// Every live root: versions in any ref, the worktree and the git index.
pub(crate) fn live_roots(ws: &Workspace) -> Result<Vec<(Pointer, String)>> {
    let mut v = all_versions(ws)?;
    for (file, bytes) in ws
        .repo
        .index_files_with_suffix(dvx_manifest::POINTER_SUFFIX)?
    {
        if let Ok(p) = Pointer::parse(&file, &bytes) {
            v.push((p.clone(), format!("{}@index", p.path)));
        }
    }
    Ok(v)
}

/// Verifies the local store and the completeness of every version in the history.
pub fn fsck(ws: &Workspace, opts: &FsckOptions, progress: &dyn Progress) -> Result<FsckReport> {
    ws.require_init()?;
    let store = ws.store()?;
    let mut report = FsckReport::default();
    let mut problems: Vec<Problem> = Vec::new();
    let mut bad_chunks: HashMap<ChunkId, String> = HashMap::new();
    let mut pack_entries: HashMap<PackId, HashMap<ChunkId, PackEntry>> = HashMap::new();

    // 1. Packs: name, trailer, every chunk decoded and verified.
    let packs = store.list_packs()?;
    let total: u64 = packs
        .iter()
        .filter_map(|p| std::fs::metadata(store.pack_path(p)).ok().map(|m| m.len()))
        .sum();
    progress.begin("verifying", Some(total), Unit::Bytes);
    for id in &packs {
        let path = store.pack_path(id);
        let name = format!("pack {id}");
        // Regular files only: a FIFO or device in place of a pack must not block or never end.
        let data = match dvx_store::fs::read_bounded(&path, u64::MAX) {
            Ok(d) => d,
            Err(e) => {
                problems.push(problem(Unreadable, &name, &format!("unreadable: {e}")));
                continue;
            }
        };
        report.packs += 1;
        progress.advance(data.len() as u64);
        if !pack::id_matches(&data, id) {
            problems.push(problem(
                Damaged,
                &name,
                "content does not match its name (damaged)",
            ));
        }
        let entries = pack::read_trailer_with(&path, data.len() as u64, |buf, off| {
            let end = off as usize + buf.len();
            buf.copy_from_slice(data.get(off as usize..end).ok_or_else(|| {
                dvx_store::Error::CorruptPack {
                    path: path.clone(),
                    detail: "truncated".into(),
                }
            })?);
            Ok(())
        });
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                problems.push(problem(Damaged, &name, &format!("trailer unreadable: {e}")));
                continue;
            }
        };
        let mut map = HashMap::new();
        for e in entries {
            report.chunks += 1;
            let stored = &data[e.offset as usize..(e.offset + e.stored_len as u64) as usize];
            if let Err(err) = pack::verify_chunk(&e, id, stored) {
                bad_chunks.insert(e.id, err.to_string());
            }
            map.insert(e.id, e);
        }
        pack_entries.insert(*id, map);
    }
    progress.end();

    // 2. Index files: checksum, and every entry agrees with its pack's trailer.
    for path in store.list_index_files()? {
        let name = format!(
            "index {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        report.indexes += 1;
        let idx = match IndexFile::open(&path) {
            Ok(i) => i,
            Err(e) => {
                problems.push(problem(Damaged, &name, &e.to_string()));
                continue;
            }
        };
        if !idx.verify() {
            problems.push(problem(Damaged, &name, "checksum mismatch (damaged)"));
            continue;
        }
        let entries = match idx.entries() {
            Ok(e) => e,
            Err(e) => {
                problems.push(problem(Damaged, &name, &e.to_string()));
                continue;
            }
        };
        let mut wrong = 0u64;
        let mut missing_packs = BTreeSet::new();
        for (cid, loc) in entries {
            match pack_entries.get(&loc.pack) {
                None => {
                    missing_packs.insert(loc.pack);
                }
                Some(m) => match m.get(&cid) {
                    Some(e)
                        if e.offset == loc.offset
                            && e.stored_len == loc.stored_len
                            && e.raw_len == loc.raw_len => {}
                    _ => wrong += 1,
                },
            }
        }
        if wrong > 0 {
            problems.push(problem(
                Damaged,
                &name,
                &format!("{wrong} entries disagree with their packs"),
            ));
        }
        for p in missing_packs {
            problems.push(problem(
                Missing,
                &name,
                &format!("lists pack {p}, which is missing or unreadable"),
            ));
        }
    }

    // 3. Tree objects.
    let mut good_trees: HashMap<TreeId, Tree> = HashMap::new();
    for id in store.list_trees()? {
        report.trees += 1;
        match crate::treeio::read_tree(store, &id) {
            Ok(t) => {
                good_trees.insert(id, t);
            }
            Err(e) => problems.push(problem(Damaged, &format!("tree {id}"), &e.to_string())),
        }
    }

    // 4. Every version in the history: all trees and chunks present and sound (a chunk
    //    counts as present only if the pack its index entry names exists and is readable).
    let readable_packs: HashSet<PackId> = pack_entries.keys().copied().collect();
    let mut affected: Affected = BTreeMap::new();
    for (p, label) in all_versions(ws)? {
        report.versions += 1;
        let rev = label.rsplit('@').next().unwrap_or("").to_string();
        check_version(
            store,
            &p,
            &rev,
            &good_trees,
            &bad_chunks,
            &readable_packs,
            &mut affected,
        )?;
    }
    for (object, (kind, what, files)) in affected {
        problems.push(Problem {
            kind,
            object,
            what,
            files: files.into_iter().take(20).collect(),
        });
    }
    for (c, detail) in &bad_chunks {
        let key = format!("chunk {c}");
        if !problems.iter().any(|p| p.object == key) {
            problems.push(problem(
                Damaged,
                &key,
                &format!("{detail} (not used by any version in the history)"),
            ));
        }
    }
    problems.sort_by(|a, b| a.object.cmp(&b.object));
    report.problems = problems;

    if opts.repair {
        let unreadable = store.rebuild_index()?;
        report.repaired.push(format!(
            "rebuilt the index from {}{}",
            packs_word(store.list_packs()?.len() - unreadable.len()),
            if unreadable.is_empty() {
                String::new()
            } else {
                format!(" ({} left out: unreadable)", packs_word(unreadable.len()))
            }
        ));
    }
    Ok(report)
}

fn problem(kind: ProblemKind, object: &str, what: &str) -> Problem {
    Problem {
        kind,
        object: object.to_string(),
        what: what.to_string(),
        files: Vec::new(),
    }
}

/// `1 pack`, `3 packs`.
fn packs_word(n: usize) -> String {
    format!("{n} pack{}", if n == 1 { "" } else { "s" })
}

/// Problems found while walking versions, by object: kind, what, the files affected.
type Affected = BTreeMap<String, (ProblemKind, String, BTreeSet<String>)>;

fn check_version(
    store: &Store,
    p: &Pointer,
    rev: &str,
    trees: &HashMap<TreeId, Tree>,
    bad_chunks: &HashMap<ChunkId, String>,
    readable_packs: &HashSet<PackId>,
    affected: &mut Affected,
) -> Result<()> {
    let base = Dataset::of(p).base();
    let mut walk = TreeWalk::new([p.id]).once();
    while let Some(dir) = walk.next()? {
        let (id, prefix) = (dir.id, &dir.path);
        let Some(tree) = trees.get(&id) else {
            let (kind, what) = if store.has_tree(&id) {
                (Damaged, "is damaged")
            } else {
                (Missing, "is missing")
            };
            let file = format!("{}@{rev}", join_rel(&base, prefix));
            affected
                .entry(format!("tree {id}"))
                .or_insert_with(|| (kind, what.into(), BTreeSet::new()))
                .2
                .insert(if prefix.is_empty() {
                    format!("{}@{rev}", p.path)
                } else {
                    file
                });
            continue;
        };
        walk.enter_all(&dir, tree);
        for e in tree.entries() {
            let EntryKind::File { chunks, .. } = &e.kind else {
                continue;
            };
            let rel = dir.child(&e.name);
            for c in chunks {
                let issue = if let Some(d) = bad_chunks.get(&c.id) {
                    Some((Damaged, format!("is damaged ({d})")))
                } else if !store
                    .lookup(&c.id)?
                    .is_some_and(|l| readable_packs.contains(&l.pack))
                {
                    Some((Missing, "is missing".to_string()))
                } else {
                    None
                };
                if let Some((kind, what)) = issue {
                    affected
                        .entry(format!("chunk {}", c.id))
                        .or_insert_with(|| (kind, what, BTreeSet::new()))
                        .2
                        .insert(format!("{}@{rev}", join_rel(&base, &rel)));
                }
            }
        }
    }
    Ok(())
}
