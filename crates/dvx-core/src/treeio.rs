//! Between flat listings and tree objects in the store (writing: `encode.rs`; walks in path
//! order: `sorted.rs`), and the one walk over the trees of a version ([`TreeWalk`]).

use std::collections::{BTreeMap, HashSet};

use dvx_manifest::limits::{MAX_DEPTH, MAX_FILES};
use dvx_manifest::{EntryKind, Tree};
use dvx_store::{Store, TreeId};

use crate::error::{Error, Result};
use crate::scan::{FlatEntry, Listing};

mod encode;
mod sorted;

pub use encode::listing_id;
#[cfg(test)]
pub(crate) use encode::write_trees;
pub(crate) use encode::SpooledTrees;
pub use sorted::walk_listing;
pub(crate) use sorted::{diff_versions, walk_cmp, walk_depth_first};

/// The listing's form of a tree entry.
pub(crate) fn flat_of(kind: &EntryKind) -> FlatEntry {
    match kind {
        EntryKind::File {
            size,
            digest,
            executable,
            chunks,
        } => FlatEntry::File {
            size: *size,
            digest: *digest,
            executable: *executable,
            chunks: chunks.clone(),
        },
        EntryKind::Symlink { target } => FlatEntry::Symlink {
            target: target.clone(),
        },
        EntryKind::Dir { .. } => FlatEntry::Dir,
    }
}

/// The tree's form of a listing entry; a directory gets `dir` (its tree id and totals).
pub(crate) fn kind_of(entry: &FlatEntry, dir: (TreeId, u64, u64)) -> EntryKind {
    match entry {
        FlatEntry::Dir => EntryKind::Dir {
            id: dir.0,
            size: dir.1,
            files: dir.2,
        },
        FlatEntry::File {
            size,
            digest,
            executable,
            chunks,
        } => EntryKind::File {
            size: *size,
            digest: *digest,
            executable: *executable,
            chunks: chunks.clone(),
        },
        FlatEntry::Symlink { target } => EntryKind::Symlink {
            target: target.clone(),
        },
    }
}

/// Reads and decodes one tree (verified against its id).
pub fn read_tree(store: &Store, id: &TreeId) -> Result<Tree> {
    let bytes = store.read_tree(id)?;
    Tree::decode(&bytes).map_err(|e| {
        Error::Store(dvx_store::Error::CorruptTree {
            id: *id,
            detail: e.to_string(),
        })
    })
}

/// Loads a whole dataset version as a flat listing (directories included).
pub fn load_listing(store: &Store, root: &TreeId) -> Result<Listing> {
    load_listing_dirs(store, root, None)
}

/// Tree id, total bytes and file count of directories, by path as in a listing.
pub type DirInfo = BTreeMap<Vec<u8>, (TreeId, u64, u64)>;

/// [`load_listing`], also filling `dirs` with every directory's [`DirInfo`] in the same pass.
pub fn load_listing_dirs(
    store: &Store,
    root: &TreeId,
    mut dirs: Option<&mut DirInfo>,
) -> Result<Listing> {
    let mut out = Listing::new();
    walk_version(store, root, &mut |path, e| {
        if let (EntryKind::Dir { id, size, files }, Some(d)) = (&e.kind, dirs.as_deref_mut()) {
            d.insert(path.to_vec(), (*id, *size, *files));
        }
        out.insert(path.to_vec(), flat_of(&e.kind));
    })?;
    Ok(out)
}

/// Shows `visit` every entry of a version with its path below the root (names joined by
/// `/`), depth first: a directory, then what it holds, each tree's entries in name order.
/// (So paths come in byte order, unless a directory's name is a prefix of a sibling's
/// followed by a byte below `/`.) Checks what [`load_listing`] checks: nesting depth, the
/// file count bound, and each directory's declared totals.
pub fn walk_version(
    store: &Store,
    root: &TreeId,
    visit: &mut dyn FnMut(&[u8], &dvx_manifest::Entry),
) -> Result<()> {
    let mut used = 0u64;
    walk_into(store, root, &mut Vec::new(), visit, 0, &mut used)?;
    Ok(())
}

/// Loads a dataset's version and checks its shape against the pointer: a single-file
/// dataset holds exactly one entry, named like the file.
pub fn load_dataset(store: &Store, p: &dvx_manifest::Pointer) -> Result<Listing> {
    load_dataset_dirs(store, p, None)
}

/// [`load_dataset`], also filling `dirs` (see [`load_listing_dirs`]).
pub fn load_dataset_dirs(
    store: &Store,
    p: &dvx_manifest::Pointer,
    dirs: Option<&mut DirInfo>,
) -> Result<Listing> {
    let listing = load_listing_dirs(store, &p.id, dirs)?;
    if p.kind == dvx_manifest::DatasetKind::File {
        let name = p.path.rsplit('/').next().unwrap_or(&p.path).as_bytes();
        let ok = listing.len() == 1
            && matches!(
                listing.get(name),
                Some(FlatEntry::File { .. } | FlatEntry::Symlink { .. })
            );
        if !ok {
            return Err(Error::Store(dvx_store::Error::CorruptTree {
                id: p.id,
                detail: format!(
                    "the single-file dataset {} must hold exactly one file named {:?}",
                    p.path,
                    String::from_utf8_lossy(name)
                ),
            }));
        }
    }
    Ok(listing)
}

/// The error of a tree nested deeper than any reader accepts (no `dvx add` writes one).
fn too_deep(id: &TreeId) -> Error {
    Error::Store(dvx_store::Error::CorruptTree {
        id: *id,
        detail: format!("directories nested deeper than {MAX_DEPTH}"),
    })
}

fn walk_into(
    store: &Store,
    id: &TreeId,
    prefix: &mut Vec<u8>,
    visit: &mut dyn FnMut(&[u8], &dvx_manifest::Entry),
    depth: usize,
    used: &mut u64,
) -> Result<(u64, u64)> {
    if depth > MAX_DEPTH {
        return Err(too_deep(id));
    }
    let tree = read_tree(store, id)?;
    // Before a tree is expanded, what it declares (directories carry their totals) must fit
    // MAX_FILES, so a hostile tree that shares subtrees to describe billions of files is
    // refused before it costs memory; a directory that lies about its totals is caught as soon
    // as its real totals come back.
    check_declared(id, &tree, *used)?;
    let (mut size, mut files) = (0u64, 0u64);
    for e in tree.entries() {
        let len = prefix.len();
        push_name(prefix, &e.name);
        visit(prefix, e);
        match &e.kind {
            EntryKind::File { size: s, .. } => {
                size = size.saturating_add(*s);
                files += 1;
                *used += 1;
            }
            EntryKind::Symlink { .. } => {
                files += 1;
                *used += 1;
            }
            EntryKind::Dir {
                id: sub,
                size: s,
                files: f,
            } => {
                let (rs, rf) = walk_into(store, sub, prefix, visit, depth + 1, used)?;
                if rs != *s || rf != *f {
                    return Err(lying_totals(id, &e.name, (*s, *f), (rs, rf)));
                }
                size = size.saturating_add(*s);
                files = files.saturating_add(*f);
            }
        }
        prefix.truncate(len);
    }
    Ok((size, files))
}

/// A directory reached by a [`TreeWalk`].
pub(crate) struct WalkDir {
    /// Its tree.
    pub id: TreeId,
    /// Its path below the root of the walk (`""` for the root), in the lossless string form
    /// of [`crate::names::rel_string`].
    pub path: String,
    depth: usize,
}

impl WalkDir {
    /// The path of the entry `name` of this directory.
    pub fn child(&self, name: &[u8]) -> String {
        crate::workspace::join_rel(&self.path, &crate::names::rel_string(name))
    }
}

/// Walks the directories below one or more roots, depth first, the last subdirectory entered
/// first. The caller reads each directory's tree (from the store, a map, the remote: each
/// has its own errors) and enters the subdirectories it wants; the walk keeps the stack, the
/// paths, the nesting bound every reader applies, and (with [`TreeWalk::once`]) each tree
/// visited once.
pub(crate) struct TreeWalk {
    stack: Vec<WalkDir>,
    seen: Option<HashSet<TreeId>>,
}

impl TreeWalk {
    /// A walk from `roots`, each at path `""`.
    pub fn new(roots: impl IntoIterator<Item = TreeId>) -> TreeWalk {
        let mut stack: Vec<WalkDir> = roots
            .into_iter()
            .map(|id| WalkDir {
                id,
                path: String::new(),
                depth: 0,
            })
            .collect();
        // The first root is walked first.
        stack.reverse();
        TreeWalk { stack, seen: None }
    }

    /// Each tree is returned once, at the first path it is reached by (a version shares a
    /// subtree between identical directories).
    pub fn once(mut self) -> TreeWalk {
        self.seen = Some(HashSet::new());
        self
    }

    /// Every tree returned so far (with [`TreeWalk::once`]; empty otherwise).
    pub fn into_seen(self) -> HashSet<TreeId> {
        self.seen.unwrap_or_default()
    }

    /// The next directory; an error when it is nested deeper than any reader accepts.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<WalkDir>> {
        while let Some(dir) = self.stack.pop() {
            if let Some(seen) = &mut self.seen {
                if !seen.insert(dir.id) {
                    continue;
                }
            }
            if dir.depth > MAX_DEPTH {
                return Err(too_deep(&dir.id));
            }
            return Ok(Some(dir));
        }
        Ok(None)
    }

    /// Enters the subdirectory `id` at `path` of `parent`.
    pub fn enter(&mut self, parent: &WalkDir, id: TreeId, path: String) {
        self.stack.push(WalkDir {
            id,
            path,
            depth: parent.depth + 1,
        });
    }

    /// Enters every subdirectory of `parent`, whose tree is `tree`.
    pub fn enter_all(&mut self, parent: &WalkDir, tree: &Tree) {
        for e in tree.entries() {
            if let EntryKind::Dir { id, .. } = &e.kind {
                let path = parent.child(&e.name);
                self.enter(parent, *id, path);
            }
        }
    }
}

/// Every chunk named by the files of `tree`.
pub(crate) fn file_chunks(tree: &Tree) -> impl Iterator<Item = &dvx_store::ChunkId> {
    tree.entries()
        .iter()
        .flat_map(|e| match &e.kind {
            EntryKind::File { chunks, .. } => chunks.as_slice(),
            _ => &[],
        })
        .map(|c| &c.id)
}

/// Appends `name` to the path `prefix`.
fn push_name(prefix: &mut Vec<u8>, name: &[u8]) {
    if !prefix.is_empty() {
        prefix.push(b'/');
    }
    prefix.extend_from_slice(name);
}

/// Refuses a tree whose declared file count, with the `used` files already shown, exceeds
/// what any reader accepts (before it costs any work).
fn check_declared(id: &TreeId, tree: &Tree, used: u64) -> Result<()> {
    let declared = tree
        .entries()
        .iter()
        .fold(0u64, |acc, e| acc.saturating_add(e.files()));
    if used.saturating_add(declared) > MAX_FILES {
        return Err(Error::Store(dvx_store::Error::CorruptTree {
            id: *id,
            detail: format!(
                "the version would hold more than {MAX_FILES} files: refusing to expand it"
            ),
        }));
    }
    Ok(())
}

/// The error of a directory entry of tree `id` whose declared totals (bytes, files) are not
/// those of its tree.
fn lying_totals(id: &TreeId, name: &[u8], declared: (u64, u64), real: (u64, u64)) -> Error {
    let ((s, f), (rs, rf)) = (declared, real);
    Error::Store(dvx_store::Error::CorruptTree {
        id: *id,
        detail: format!(
            "entry {:?} declares {s} bytes in {f} files, its tree holds {rs} in {rf}",
            String::from_utf8_lossy(name)
        ),
    })
}

#[cfg(test)]
mod tests;
