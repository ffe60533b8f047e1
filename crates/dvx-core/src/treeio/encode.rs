//! Listing -> tree objects: each directory's tree encoded as soon as the sorted listing has
//! gone past it, and written in batches, children before parents.

use dvx_manifest::{Entry, EntryKind, Tree};
use dvx_store::{Store, TreeId};

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::kind_of;
use crate::error::{Error, Result};
use crate::scan::{FlatEntry, Listing};

/// Encoded trees are written in batches of about this many bytes, children before parents.
const TREE_BATCH_BYTES: usize = 8 << 20;

/// Writes the trees of a listing, each directory's as soon as the listing has gone past it
/// (children before parents, in batches); returns the root id, total bytes and file count.
/// Only the directories on the way to the current path are held.
#[cfg(test)]
pub(crate) fn write_trees(store: &Store, listing: &Listing) -> Result<(TreeId, u64, u64)> {
    let mut batch = Batch::new(store);
    let root = encode_listing(listing, &mut |bytes| batch.add(bytes))?;
    batch.flush()?;
    Ok(root)
}

/// Trees written to the store in batches of about [`TREE_BATCH_BYTES`], in the order given.
struct Batch<'a> {
    store: &'a Store,
    trees: Vec<Vec<u8>>,
    held: usize,
}

impl<'a> Batch<'a> {
    fn new(store: &'a Store) -> Batch<'a> {
        Batch {
            store,
            trees: Vec::new(),
            held: 0,
        }
    }

    fn add(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.held += bytes.len();
        self.trees.push(bytes);
        if self.held >= TREE_BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let refs: Vec<&[u8]> = self.trees.iter().map(Vec::as_slice).collect();
        self.store.write_trees(&refs)?;
        self.trees.clear();
        self.held = 0;
        Ok(())
    }
}

/// The trees of a dataset encoded as a scan finds its entries, kept in a temporary file until
/// they may be written (after the chunks they name are durable): memory holds only the
/// directories on the way to the current entry.
pub(crate) struct SpooledTrees {
    enc: TreeEncoder,
    spool: std::io::BufWriter<std::fs::File>,
    /// The spool's directory, for errors.
    dir: PathBuf,
    count: u64,
}

impl SpooledTrees {
    /// A spool in a temporary file of `dir` (gone when dropped, even if the process dies).
    pub(crate) fn new(dir: &Path) -> Result<SpooledTrees> {
        Ok(SpooledTrees {
            enc: TreeEncoder::new(),
            spool: std::io::BufWriter::with_capacity(1 << 20, crate::fsx::spool_file(dir)?),
            dir: dir.to_path_buf(),
            count: 0,
        })
    }

    /// Adds the next entry (see [`TreeEncoder`] for the order).
    pub(crate) fn push(&mut self, path: &[u8], entry: &FlatEntry) -> Result<()> {
        let (spool, dir, count) = (&mut self.spool, &self.dir, &mut self.count);
        self.enc.push(path, entry, &mut |bytes| {
            spool_tree(spool, dir, count, &bytes)
        })
    }

    /// Completes the trees; returns the root id and totals, and the spool to write later.
    pub(crate) fn finish(mut self) -> Result<((TreeId, u64, u64), Spool)> {
        let (spool, dir, count) = (&mut self.spool, &self.dir, &mut self.count);
        let root = self
            .enc
            .finish(&mut |bytes| spool_tree(spool, dir, count, &bytes))?;
        let file = self
            .spool
            .into_inner()
            .map_err(|e| Error::io("write", &self.dir, e.into_error()))?;
        Ok((
            root,
            Spool {
                file,
                dir: self.dir,
                count: self.count,
            },
        ))
    }
}

fn spool_tree(spool: &mut impl Write, dir: &Path, count: &mut u64, bytes: &[u8]) -> Result<()> {
    *count += 1;
    let len = u32::try_from(bytes.len()).expect("a tree is smaller than MAX_TREE_LEN");
    spool
        .write_all(&len.to_le_bytes())
        .and_then(|()| spool.write_all(bytes))
        .map_err(|e| Error::io("write", dir, e))
}

/// Encoded trees waiting in a temporary file.
pub(crate) struct Spool {
    file: std::fs::File,
    dir: PathBuf,
    count: u64,
}

impl Spool {
    /// Writes the spooled trees to the store, in the order they were encoded.
    pub(crate) fn write(self, store: &Store) -> Result<()> {
        let Spool {
            mut file,
            dir,
            count,
        } = self;
        let err = |e| Error::io("read", &dir, e);
        file.seek(SeekFrom::Start(0)).map_err(err)?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, file);
        let mut batch = Batch::new(store);
        for _ in 0..count {
            let mut len = [0u8; 4];
            r.read_exact(&mut len).map_err(err)?;
            let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize];
            r.read_exact(&mut bytes).map_err(err)?;
            batch.add(bytes)?;
        }
        batch.flush()
    }
}

/// The version id a listing would have (root id, total bytes, file count), computed in
/// memory: nothing is written to the store.
pub fn listing_id(listing: &Listing) -> Result<(TreeId, u64, u64)> {
    encode_listing(listing, &mut |_| Ok(()))
}

/// A directory of a [`TreeEncoder`] whose paths the entries are going through.
struct OpenDir {
    /// Its path (`""` for the root).
    path: Vec<u8>,
    entries: Vec<Entry>,
    /// Per entry: a directory not opened (yet), empty unless its contents follow.
    unopened: Vec<bool>,
}

/// Encodes every tree of a listing, handing each to `emit` once its directory is complete
/// (children before parents, the root last); returns the root's id and totals.
fn encode_listing(
    listing: &Listing,
    emit: &mut dyn FnMut(Vec<u8>) -> Result<()>,
) -> Result<(TreeId, u64, u64)> {
    let mut enc = TreeEncoder::new();
    for (path, entry) in listing {
        enc.push(path, entry, emit)?;
    }
    enc.finish(emit)
}

/// Encodes trees from entries given one at a time. The entries of a directory come together
/// (every path starting with `dir/`, in any order among themselves, as a sorted listing or a
/// depth-first walk gives them), so a directory is complete as soon as a path outside it
/// comes. A path whose parents were not given gets them as directories; a file or link with
/// paths below it becomes a directory.
pub(crate) struct TreeEncoder {
    /// The directories on the way to the current path, the root first.
    open: Vec<OpenDir>,
}

impl TreeEncoder {
    pub(crate) fn new() -> TreeEncoder {
        TreeEncoder {
            open: vec![OpenDir {
                path: Vec::new(),
                entries: Vec::new(),
                unopened: Vec::new(),
            }],
        }
    }

    /// Adds the entry at `path`, handing `emit` the trees of the directories it leaves.
    pub(crate) fn push(
        &mut self,
        path: &[u8],
        entry: &FlatEntry,
        emit: &mut dyn FnMut(Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let open = &mut self.open;
        while open.len() > 1 && !is_below(path, &open[open.len() - 1].path) {
            close_dir(open, emit)?;
        }
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], path),
        };
        // Open the directories between the innermost open one and the parent.
        while open[open.len() - 1].path.as_slice() != parent {
            let top = &open[open.len() - 1].path;
            let from = if top.is_empty() { 0 } else { top.len() + 1 };
            let end = parent[from..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(parent.len(), |i| from + i);
            open.push(OpenDir {
                path: parent[..end].to_vec(),
                entries: Vec::new(),
                unopened: Vec::new(),
            });
        }
        // A directory's entry gets its tree when the directory is complete.
        let kind = kind_of(entry, (TreeId([0; 32]), 0, 0));
        let dir = open.last_mut().expect("the root is open");
        dir.unopened.push(matches!(entry, FlatEntry::Dir));
        dir.entries.push(Entry {
            name: name.to_vec(),
            kind,
        });
        Ok(())
    }

    /// Completes every open directory; returns the root's id and totals.
    pub(crate) fn finish(
        mut self,
        emit: &mut dyn FnMut(Vec<u8>) -> Result<()>,
    ) -> Result<(TreeId, u64, u64)> {
        while self.open.len() > 1 {
            close_dir(&mut self.open, emit)?;
        }
        let root = self.open.pop().expect("the root is open");
        encode_dir(root, emit)
    }
}

/// Whether `path` lies below the directory `dir` (`""`: the root).
fn is_below(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty() || path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// Encodes the innermost open directory and records it in its parent.
fn close_dir(open: &mut Vec<OpenDir>, emit: &mut dyn FnMut(Vec<u8>) -> Result<()>) -> Result<()> {
    let dir = open.pop().expect("a directory is open");
    let name = dir.path[dir
        .path
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1)..]
        .to_vec();
    let (id, size, files) = encode_dir(dir, emit)?;
    let parent = open.last_mut().expect("a parent is open");
    let kind = EntryKind::Dir { id, size, files };
    // Its entry is among the parent's last few (only siblings whose names extend its name
    // with a byte below `/` come between in a sorted listing; none in a depth-first walk).
    match parent.entries.iter().rposition(|e| e.name == name) {
        Some(i) => {
            parent.entries[i].kind = kind;
            parent.unopened[i] = false;
        }
        None => {
            parent.entries.push(Entry { name, kind });
            parent.unopened.push(false);
        }
    }
    Ok(())
}

/// Encodes a complete directory (its unopened subdirectories are empty trees) and hands the
/// tree to `emit`.
fn encode_dir(
    mut dir: OpenDir,
    emit: &mut dyn FnMut(Vec<u8>) -> Result<()>,
) -> Result<(TreeId, u64, u64)> {
    if dir.unopened.contains(&true) {
        let empty = Tree::new(Vec::new())?.encode_bounded()?;
        let id = TreeId::of(&empty);
        for (e, _) in dir
            .entries
            .iter_mut()
            .zip(&dir.unopened)
            .filter(|(_, u)| **u)
        {
            e.kind = EntryKind::Dir {
                id,
                size: 0,
                files: 0,
            };
        }
        emit(empty)?;
    }
    let tree = Tree::new(dir.entries)?;
    let bytes = tree.encode_bounded()?;
    let id = TreeId::of(&bytes);
    emit(bytes)?;
    Ok((id, tree.size(), tree.files()))
}
