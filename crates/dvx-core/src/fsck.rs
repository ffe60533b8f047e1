//! `dvx fsck`: verify every pack, index and tree of the local store (or what a remote holds),
//! and that every version in the history has all its objects; report each problem with the
//! object and the dataset files (and revisions) it affects.

use std::collections::{BTreeSet, HashMap, HashSet};

use dvx_manifest::{Pointer, Tree};
use dvx_store::index::{IndexFile, Location};
use dvx_store::pack;
use dvx_store::{ChunkId, PackId, Store, TreeId};

use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};
use crate::spool::{ById, Located, Sorted, Sorter};
use crate::treeio::read_tree;
use crate::workspace::Workspace;
use ProblemKind::{Damaged, Missing, Unreadable};

mod versions;
pub(crate) use versions::{check_versions, SortedCheck, Source};

/// Pack entries held in memory before a sorted run goes to disk.
const ENTRIES_IN_MEMORY: usize = if cfg!(test) { 30 } else { 1 << 17 };

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
        let p = Pointer::parse(&file, &bytes).map_err(|e| match e {
            dvx_manifest::Error::BadPointer { file, detail } => {
                Error::BadStagedPointer { file, detail }
            }
            e => e.into(),
        })?;
        let label = format!("{}@index", p.path);
        v.push((p, label));
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
    let mut readable_packs: HashSet<PackId> = HashSet::new();
    let mut pack_entries: Sorter<ById> = Sorter::new(&ws.state_dir(), ENTRIES_IN_MEMORY);

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
        for e in entries {
            report.chunks += 1;
            let stored = &data[e.offset as usize..(e.offset + e.stored_len as u64) as usize];
            if let Err(err) = pack::verify_chunk(&e, id, stored) {
                bad_chunks.insert(e.id, err.to_string());
            }
            pack_entries.push(ById(Located {
                id: e.id,
                at: Location::of(*id, &e),
            }))?;
        }
        readable_packs.insert(*id);
    }
    progress.end();
    let pack_entries = pack_entries.finish()?;

    // 2. Index files: checksum, and every entry agrees with its pack's trailer.
    for path in store.list_index_files()? {
        let name = format!(
            "index {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        report.indexes += 1;
        let mut idx = match IndexFile::open(&path) {
            Ok(i) => i,
            Err(e) => {
                problems.push(problem(Damaged, &name, &e.to_string()));
                continue;
            }
        };
        // Read front to back below: a large file hands its mapped pages back as the pass
        // goes, or the whole index (56 bytes a chunk) ends up resident.
        dvx_store::index::bound_residency(std::slice::from_mut(&mut idx));
        match idx.verify() {
            Ok(true) => {}
            Ok(false) => {
                problems.push(problem(Damaged, &name, "checksum mismatch (damaged)"));
                continue;
            }
            Err(e) => {
                problems.push(problem(Damaged, &name, &e.to_string()));
                continue;
            }
        }
        let (wrong, missing_packs) = match check_index(&idx, &pack_entries, &readable_packs)? {
            Ok(found) => found,
            Err(what) => {
                problems.push(problem(Damaged, &name, &what));
                continue;
            }
        };
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
    let mut good_trees: HashSet<TreeId> = HashSet::new();
    for id in store.list_trees()? {
        report.trees += 1;
        match read_tree(store, &id) {
            Ok(_) => {
                good_trees.insert(id);
            }
            Err(e) => problems.push(problem(Damaged, &format!("tree {id}"), &e.to_string())),
        }
    }

    // 4. Every version in the history: all trees and chunks present and sound (a chunk
    //    counts as present only if the pack its index entry names exists and is readable).
    //    Each tree is checked once; only the versions reaching a problem are walked again,
    //    into the problem's subtrees, to name the files affected.
    let versions = all_versions(ws)?;
    report.versions = versions.len() as u64;
    let check = LocalCheck {
        store,
        good_trees: &good_trees,
        bad_chunks: &bad_chunks,
        readable_packs: &readable_packs,
    };
    let (affected, _) = check_versions(&check, &versions, &ws.state_dir())?;
    let named: HashSet<String> = affected.keys().cloned().collect();
    for (object, (kind, what, files)) in affected {
        problems.push(Problem {
            kind,
            object,
            what,
            files: files.into_iter().collect(),
        });
    }
    for (c, detail) in &bad_chunks {
        let key = format!("chunk {c}");
        if !named.contains(&key) {
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

/// Checks one index file against the packs' entries (sorted by chunk id): how many entries
/// disagree with their pack, and the packs it lists that are missing or unreadable; or why
/// the file cannot be read.
fn check_index(
    idx: &IndexFile,
    pack_entries: &Sorted<ById>,
    readable_packs: &HashSet<PackId>,
) -> Result<std::result::Result<(u64, BTreeSet<PackId>), String>> {
    let mut wrong = 0u64;
    let mut missing_packs = BTreeSet::new();
    let mut packed = pack_entries.iter()?;
    let mut next = packed.next()?;
    let mut last: Option<ChunkId> = None;
    for entry in idx.iter() {
        let (id, at) = match entry {
            Ok(e) => e,
            Err(e) => return Ok(Err(e.to_string())),
        };
        // Both sides are sorted by id: one merge answers every entry.
        if last.is_some_and(|l| l >= id) {
            return Ok(Err("entries out of order (damaged)".to_string()));
        }
        last = Some(id);
        if !readable_packs.contains(&at.pack) {
            missing_packs.insert(at.pack);
            continue;
        }
        let want = ById(Located { id, at });
        while next.is_some_and(|n| n < want) {
            next = packed.next()?;
        }
        if next != Some(want) {
            wrong += 1;
        }
    }
    Ok(Ok((wrong, missing_packs)))
}

/// The local store's findings the versions are checked against.
struct LocalCheck<'a> {
    store: &'a Store,
    good_trees: &'a HashSet<TreeId>,
    bad_chunks: &'a HashMap<ChunkId, String>,
    readable_packs: &'a HashSet<PackId>,
}

impl Source for LocalCheck<'_> {
    fn tree(&self, id: &TreeId) -> Result<std::result::Result<Tree, (ProblemKind, String)>> {
        if !self.good_trees.contains(id) {
            return Ok(Err(if self.store.has_tree(id) {
                (Damaged, "is damaged".into())
            } else {
                (Missing, "is missing".into())
            }));
        }
        read_tree(self.store, id).map(Ok)
    }

    fn chunk_problem(&self, c: &ChunkId) -> Result<Option<(ProblemKind, String)>> {
        Ok(if let Some(d) = self.bad_chunks.get(c) {
            Some((Damaged, format!("is damaged ({d})")))
        } else if !self
            .store
            .lookup(c)?
            .is_some_and(|l| self.readable_packs.contains(&l.pack))
        {
            Some((Missing, "is missing".to_string()))
        } else {
            None
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::testutil::{add_data, commit, random_files, seeded_repo};
    use crate::NoProgress;

    #[test]
    fn damaged_chunks_name_their_files_in_every_version_through_sorted_runs() {
        let (_tmp, dir, ws, mut rng) = seeded_repo(9);
        let a = random_files(&dir, &mut rng, "deep/a", 0..60);
        random_files(&dir, &mut rng, "b", 0..60);
        add_data(&ws);
        commit(&dir, "v1");
        random_files(&dir, &mut rng, "deep/a", 0..20);
        add_data(&ws);
        commit(&dir, "v2");
        let clean = fsck(&ws, &FsckOptions::default(), &NoProgress).expect("fsck");
        assert!(clean.problems.is_empty(), "{:?}", clean.problems);
        assert_eq!((clean.chunks, clean.versions), (140, 2));

        // f5 is only in v1; f50 is in both versions. `deep` has no file of its own: the
        // walk that names files must go through it.
        let store = ws.store().expect("store");
        for c in [&a[5], &a[50]] {
            let at = store.lookup(c).expect("lookup").expect("stored");
            let path = store.pack_path(&at.pack);
            let mut bytes = std::fs::read(&path).expect("read");
            bytes[at.offset as usize + 7] ^= 0x20;
            std::fs::write(&path, bytes).expect("write");
        }
        let found = fsck(&ws, &FsckOptions::default(), &NoProgress).expect("fsck");
        let files = |c: &ChunkId| -> Vec<String> {
            let key = format!("chunk {c}");
            let p = found.problems.iter().find(|p| p.object == key);
            p.unwrap_or_else(|| panic!("no problem for {key}: {:?}", found.problems))
                .files
                .clone()
        };
        let f5 = files(&a[5]);
        assert_eq!(f5.len(), 1, "{f5:?}");
        assert!(f5[0].starts_with("data/deep/a/f5.bin@") && !f5[0].ends_with("@worktree"));
        let f50 = files(&a[50]);
        assert_eq!(f50.len(), 2, "{f50:?}");
        assert!(
            f50.iter().any(|f| f == "data/deep/a/f50.bin@worktree"),
            "{f50:?}"
        );
        let chunk_problems = found
            .problems
            .iter()
            .filter(|p| p.object.starts_with("chunk "));
        assert_eq!(chunk_problems.count(), 2, "{:?}", found.problems);
        assert!(found.problems.iter().all(|p| p.kind == Damaged));
    }
}
