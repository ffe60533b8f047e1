//! What a transfer needs, found without holding the versions in memory: a walk of the chosen
//! versions' trees that reports each selected file, and the trees brought from elsewhere kept
//! in a temporary file until the chunks they name have arrived.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use dvx_manifest::{ChunkRef, EntryKind, Tree};
use dvx_store::{ChunkId, Store, TreeId};

use crate::error::{Error, Result};
use crate::targets::Target;
use crate::treeio::{TreeWalk, WalkDir};
use crate::workspace::{join_rel, Dataset};

/// Files an error names at most (a message naming more helps no one).
pub(crate) const FILES_NAMED: usize = 10_000;

/// Names the files that need the chunks a predicate accepts, for an error message.
pub(crate) type Namer<'a> =
    &'a dyn Fn(&mut dyn FnMut(&ChunkId) -> Result<bool>) -> Result<Vec<String>>;

/// How [`walk_selected`] goes through the trees.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Every tree of every version (all are fetched), each once; files reported once.
    Load,
    /// The selected parts only, at every path they are reached by (to name files).
    Name,
}

/// A selected file reached by [`walk_selected`].
pub(crate) struct SelectedFile<'a> {
    base: &'a str,
    dir: &'a WalkDir,
    name: &'a [u8],
    /// Its chunks.
    pub chunks: &'a [ChunkRef],
}

impl SelectedFile<'_> {
    /// Its path in the repository.
    pub(crate) fn path(&self) -> String {
        join_rel(self.base, &self.dir.child(self.name))
    }
}

/// True when `path` is `below` or inside it (`""` selects everything).
fn is_inside(path: &str, below: &str) -> bool {
    below.is_empty()
        || path == below
        || (path.len() > below.len()
            && path.starts_with(below)
            && path.as_bytes()[below.len()] == b'/')
}

/// Walks the trees of `targets`, each read by `read` (None: not walked further), and calls
/// `file` for every file in the selected part of each.
pub(crate) fn walk_selected(
    targets: &[Target],
    mode: Walk,
    read: &mut dyn FnMut(&Target, &WalkDir) -> Result<Option<Tree>>,
    file: &mut dyn FnMut(&SelectedFile<'_>) -> Result<()>,
) -> Result<()> {
    // Tree -> whether it was walked inside the selection (then all its files were reported).
    let mut visited: HashMap<TreeId, bool> = HashMap::new();
    for t in targets {
        let base = Dataset::of(&t.pointer).base();
        let below = t.below.as_str();
        let mut walk = TreeWalk::new([t.pointer.id]);
        while let Some(dir) = walk.next()? {
            let inside = is_inside(&dir.path, below);
            if mode == Walk::Load {
                match visited.get(&dir.id) {
                    Some(true) => continue,
                    Some(false) if !inside => continue,
                    _ => {}
                }
                visited.insert(dir.id, inside);
            }
            let Some(tree) = read(t, &dir)? else {
                continue;
            };
            // Only a directory on the way to the selection holds both kinds of entries.
            let on_the_way = !inside && is_inside(below, &dir.path);
            for e in tree.entries() {
                match &e.kind {
                    EntryKind::Dir { id, .. } => {
                        let rel = dir.child(&e.name);
                        let wanted = mode == Walk::Load
                            || inside
                            || (on_the_way && (is_inside(&rel, below) || is_inside(below, &rel)));
                        if wanted {
                            walk.enter(&dir, *id, rel);
                        }
                    }
                    EntryKind::File { chunks, .. } => {
                        if inside || (on_the_way && is_inside(&dir.child(&e.name), below)) {
                            file(&SelectedFile {
                                base: &base,
                                dir: &dir,
                                name: &e.name,
                                chunks,
                            })?;
                        }
                    }
                    EntryKind::Symlink { .. } => {}
                }
            }
        }
    }
    Ok(())
}

/// The files of `targets` (their selected parts) that need a chunk `wanted` accepts, at most
/// [`FILES_NAMED`], each tree read from `pending` or `store`.
pub(crate) fn files_needing(
    targets: &[Target],
    store: &Store,
    pending: &PendingTrees,
    wanted: &mut dyn FnMut(&ChunkId) -> Result<bool>,
) -> Result<Vec<String>> {
    let mut files = Vec::new();
    walk_selected(
        targets,
        Walk::Name,
        &mut |_, dir| match pending.read(&dir.id)? {
            Some(tree) => Ok(Some(tree)),
            None => crate::treeio::read_tree(store, &dir.id).map(Some),
        },
        &mut |f| {
            if files.len() < FILES_NAMED {
                for c in f.chunks {
                    if wanted(&c.id)? {
                        files.push(f.path());
                        break;
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(files)
}

/// Tree objects brought from a remote or another store and not yet written to the local
/// store: they are written last, children before parents, once the chunks they name have
/// arrived, so a tree in the store always has its data. Their bytes wait in an unnamed
/// temporary file; only their ids and places are held in memory.
pub(crate) struct PendingTrees {
    file: std::fs::File,
    dir: PathBuf,
    /// (tree, offset, length), in the order they were added (parents first).
    at: Vec<(TreeId, u64, u32)>,
    index: HashMap<TreeId, usize>,
    end: u64,
}

impl PendingTrees {
    /// An empty set, its file in `dir`.
    pub(crate) fn new(dir: &Path) -> Result<PendingTrees> {
        Ok(PendingTrees {
            file: crate::fsx::spool_file(dir)?,
            dir: dir.to_path_buf(),
            at: Vec::new(),
            index: HashMap::new(),
            end: 0,
        })
    }

    /// How many trees wait.
    pub(crate) fn len(&self) -> usize {
        self.at.len()
    }

    /// Keeps the tree object `obj` (already verified against `id`).
    pub(crate) fn add(&mut self, id: TreeId, obj: &[u8]) -> Result<()> {
        if self.index.contains_key(&id) {
            return Ok(());
        }
        let len = u32::try_from(obj.len()).map_err(|_| {
            Error::Store(dvx_store::Error::CorruptTree {
                id,
                detail: "is larger than 4 GiB".into(),
            })
        })?;
        let mut f = &self.file;
        f.seek(SeekFrom::Start(self.end))
            .and_then(|_| f.write_all(obj))
            .map_err(|e| Error::io("write a temporary file in", &self.dir, e))?;
        self.index.insert(id, self.at.len());
        self.at.push((id, self.end, len));
        self.end += u64::from(len);
        Ok(())
    }

    fn object(&self, i: usize) -> Result<Vec<u8>> {
        let (_, offset, len) = self.at[i];
        let mut obj = vec![0u8; len as usize];
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut obj))
            .map_err(|e| Error::io("read a temporary file in", &self.dir, e))?;
        Ok(obj)
    }

    /// The tree `id` when it is waiting here.
    pub(crate) fn read(&self, id: &TreeId) -> Result<Option<Tree>> {
        let Some(&i) = self.index.get(id) else {
            return Ok(None);
        };
        let obj = self.object(i)?;
        let raw = dvx_store::decode_tree_object(id, &obj)?;
        let tree = Tree::decode(&raw).map_err(|e| {
            Error::Store(dvx_store::Error::CorruptTree {
                id: *id,
                detail: e.to_string(),
            })
        })?;
        Ok(Some(tree))
    }

    /// Writes every tree to `store`, children before parents.
    pub(crate) fn write_to(self, store: &Store) -> Result<()> {
        for i in (0..self.at.len()).rev() {
            store.put_tree_object(&self.at[i].0, &self.object(i)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_inside;

    #[test]
    fn inside_means_the_path_or_below_it() {
        assert!(is_inside("a/b", ""));
        assert!(is_inside("a/b", "a/b"));
        assert!(is_inside("a/b/c", "a/b"));
        assert!(!is_inside("a/bc", "a/b"));
        assert!(!is_inside("a", "a/b"));
        assert!(!is_inside("", "a"));
    }
}
