//! The completeness check of every version, shared by `dvx fsck` and `dvx fsck --remote`:
//! each tree checked once, the files' chunks checked in one sorted pass, and only the
//! versions reaching a problem walked again to name the files affected.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use dvx_manifest::{EntryKind, Pointer, Tree};
use dvx_store::{ChunkId, TreeId};

use super::ProblemKind::{self, Missing};
use crate::error::Result;
use crate::spool::{Record, Sorter};
use crate::treeio::TreeWalk;
use crate::workspace::{join_rel, Dataset};

/// Files named per problem (the first in path order).
const FILES_PER_PROBLEM: usize = 20;
/// Chunk uses held in memory before a sorted run goes to disk (40 bytes each).
const USES_IN_MEMORY: usize = if cfg!(test) { 50 } else { 1 << 18 };

/// Problems found while walking versions, by object: kind, what, the files affected.
pub(crate) type Affected = BTreeMap<String, (ProblemKind, String, BTreeSet<String>)>;

/// Answers whether a chunk has a problem, for chunks asked in ascending id order.
pub(crate) type SortedCheck<'a> = Box<dyn FnMut(&ChunkId) -> Result<bool> + 'a>;

/// Where the versions' trees and chunks are checked: the local store, or a remote.
pub(crate) trait Source {
    /// Tree `id`, or the kind of its problem and what to say about it.
    fn tree(&self, id: &TreeId) -> Result<std::result::Result<Tree, (ProblemKind, String)>>;
    /// What is wrong with chunk `c`, if anything.
    fn chunk_problem(&self, c: &ChunkId) -> Result<Option<(ProblemKind, String)>>;
    /// Whether chunks asked in ascending id order (repeats allowed) have a problem, agreeing
    /// with [`Source::chunk_problem`]; a source whose lookups are slow answers the sorted
    /// stream in one pass. By default, a lookup each.
    fn sorted_check(&self) -> SortedCheck<'_> {
        Box::new(|c| Ok(self.chunk_problem(c)?.is_some()))
    }
}

/// Checks every version: each tree once, then only the versions reaching a problem are
/// walked again, into the problem's subtrees, to name the files affected. Memory holds a
/// few ids per tree (one tree per directory and version), never the trees themselves.
///
/// Returns the problems by object, and how many of the versions' trees there are (checked
/// once each; missing ones not counted).
pub(crate) fn check_versions(
    src: &impl Source,
    versions: &[(Pointer, String)],
    spool_dir: &Path,
) -> Result<(Affected, u64)> {
    let checked = all_trees(src, versions.iter().map(|(p, _)| p.id), spool_dir)?;
    let mut affected: Affected = BTreeMap::new();
    for (p, label) in versions {
        if checked.is_dirty(&p.id) {
            let rev = label.rsplit('@').next().unwrap_or("");
            name_files(src, p, rev, &checked, &mut affected)?;
        }
    }
    Ok((affected, checked.present))
}

/// What the versions' trees hold, each checked once.
struct Checked {
    /// Trees with a problem of their own: missing, damaged, or a file whose chunk is.
    bad: HashSet<TreeId>,
    /// Trees with a problem in them or below them.
    dirty: HashSet<TreeId>,
    /// Trees there (sound or damaged), each counted once.
    present: u64,
}

impl Checked {
    fn is_dirty(&self, id: &TreeId) -> bool {
        self.dirty.contains(id)
    }
}

/// A file's chunk in tree number `tree` of the walk, spooled to be sorted by chunk id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    id: ChunkId,
    tree: u64,
}

impl Record for Use {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.tree.to_le_bytes());
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Use> {
        Ok(Use {
            id: ChunkId(crate::spool::array(r)?),
            tree: u64::from_le_bytes(crate::spool::array(r)?),
        })
    }
}

/// Checks every tree reachable from `roots` once. The files' chunks are spooled with their
/// tree, sorted by id and checked in one pass ([`Source::sorted_check`]): a lookup each, in
/// the walk's order, reads a large index at random (10M chunks over 81 remote index files).
fn all_trees(
    src: &impl Source,
    roots: impl IntoIterator<Item = TreeId>,
    spool_dir: &Path,
) -> Result<Checked> {
    let mut bad = HashSet::new();
    let mut children: HashMap<TreeId, Vec<TreeId>> = HashMap::new();
    let mut present = 0;
    let mut numbered: Vec<TreeId> = Vec::new();
    let mut uses: Sorter<Use> = Sorter::new(spool_dir, USES_IN_MEMORY);
    let mut walk = TreeWalk::new(roots).once();
    while let Some(dir) = walk.next()? {
        let found = src.tree(&dir.id)?;
        if !matches!(found, Err((Missing, _))) {
            present += 1;
        }
        let Ok(tree) = found else {
            bad.insert(dir.id);
            continue;
        };
        walk.enter_all(&dir, &tree);
        let number = numbered.len() as u64;
        numbered.push(dir.id);
        let mut subtrees = Vec::new();
        for e in tree.entries() {
            match &e.kind {
                EntryKind::Dir { id, .. } => subtrees.push(*id),
                EntryKind::File { chunks, .. } => {
                    for c in chunks {
                        uses.push(Use {
                            id: c.id,
                            tree: number,
                        })?;
                    }
                }
                _ => {}
            }
        }
        if !subtrees.is_empty() {
            children.insert(dir.id, subtrees);
        }
    }
    let uses = uses.finish()?;
    let mut check = src.sorted_check();
    let mut uses = uses.iter()?;
    let mut last: Option<(ChunkId, bool)> = None;
    while let Some(u) = uses.next()? {
        let has_problem = match last {
            Some((id, p)) if id == u.id => p,
            _ => {
                let p = check(&u.id)?;
                last = Some((u.id, p));
                p
            }
        };
        if has_problem {
            bad.insert(numbered[u.tree as usize]);
        }
    }
    // A tree is dirty when it is bad or has a dirty subtree: parents are found through the
    // children lists (trees are few: one per directory and version).
    let mut parents: HashMap<TreeId, Vec<TreeId>> = HashMap::new();
    for (parent, subtrees) in &children {
        for c in subtrees {
            parents.entry(*c).or_default().push(*parent);
        }
    }
    let mut dirty: HashSet<TreeId> = HashSet::new();
    let mut todo: Vec<TreeId> = bad.iter().copied().collect();
    while let Some(t) = todo.pop() {
        if dirty.insert(t) {
            todo.extend(parents.get(&t).into_iter().flatten().copied());
        }
    }
    Ok(Checked {
        bad,
        dirty,
        present,
    })
}

/// Walks version `p` into its dirty subtrees, naming the files of each problem.
fn name_files(
    src: &impl Source,
    p: &Pointer,
    rev: &str,
    checked: &Checked,
    affected: &mut Affected,
) -> Result<()> {
    let base = Dataset::of(p).base();
    let mut walk = TreeWalk::new([p.id]).once();
    while let Some(dir) = walk.next()? {
        let (id, prefix) = (dir.id, &dir.path);
        let tree = match src.tree(&id)? {
            Ok(t) => t,
            Err((kind, what)) => {
                let file = if prefix.is_empty() {
                    format!("{}@{rev}", p.path)
                } else {
                    format!("{}@{rev}", join_rel(&base, prefix))
                };
                note(affected, format!("tree {id}"), kind, what, file);
                continue;
            }
        };
        let own = checked.bad.contains(&id);
        for e in tree.entries() {
            match &e.kind {
                EntryKind::Dir { id, .. } if checked.is_dirty(id) => {
                    walk.enter(&dir, *id, dir.child(&e.name));
                }
                EntryKind::File { chunks, .. } if own => {
                    let rel = dir.child(&e.name);
                    for c in chunks {
                        if let Some((kind, what)) = src.chunk_problem(&c.id)? {
                            let file = format!("{}@{rev}", join_rel(&base, &rel));
                            note(affected, format!("chunk {}", c.id), kind, what, file);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Records that `file` is affected by the problem of `object`, keeping the first
/// [`FILES_PER_PROBLEM`] files in path order.
fn note(affected: &mut Affected, object: String, kind: ProblemKind, what: String, file: String) {
    let files = &mut affected
        .entry(object)
        .or_insert_with(|| (kind, what, BTreeSet::new()))
        .2;
    files.insert(file);
    if files.len() > FILES_PER_PROBLEM {
        files.pop_last();
    }
}
