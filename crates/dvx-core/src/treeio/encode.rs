//! Listing -> tree objects: each directory's tree encoded as soon as the sorted listing has
//! gone past it, and written in batches, children before parents.

use dvx_manifest::{Entry, EntryKind, Tree};
use dvx_store::{Store, TreeId};

use super::kind_of;
use crate::error::Result;
use crate::scan::{FlatEntry, Listing};

/// Encoded trees are written in batches of about this many bytes, children before parents.
const TREE_BATCH_BYTES: usize = 8 << 20;

/// Writes the trees of a listing, each directory's as soon as the listing has gone past it
/// (children before parents, in batches); returns the root id, total bytes and file count.
/// Only the directories on the way to the current path are held.
pub fn write_trees(store: &Store, listing: &Listing) -> Result<(TreeId, u64, u64)> {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut held = 0usize;
    let flush = |batch: &mut Vec<Vec<u8>>| -> Result<()> {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        store.write_trees(&refs)?;
        batch.clear();
        Ok(())
    };
    let root = encode_listing(listing, &mut |bytes| {
        held += bytes.len();
        batch.push(bytes);
        if held >= TREE_BATCH_BYTES {
            held = 0;
            flush(&mut batch)?;
        }
        Ok(())
    })?;
    flush(&mut batch)?;
    Ok(root)
}

/// The version id a listing would have (root id, total bytes, file count), computed in
/// memory: nothing is written to the store.
pub fn listing_id(listing: &Listing) -> Result<(TreeId, u64, u64)> {
    encode_listing(listing, &mut |_| Ok(()))
}

/// A directory of [`encode_listing`] whose paths the listing is going through.
struct OpenDir {
    /// Its path (`""` for the root).
    path: Vec<u8>,
    entries: Vec<Entry>,
    /// Per entry: a directory not opened (yet), empty unless its contents follow.
    unopened: Vec<bool>,
}

/// Encodes every tree of a listing, handing each to `emit` once its directory is complete
/// (children before parents, the root last); returns the root's id and totals. A listing
/// lists a directory's contents together (every path starting with `dir/`), so a directory
/// is complete as soon as a path outside it comes. A path whose parents are not listed gets
/// them as directories; a file or link with paths below it becomes a directory.
fn encode_listing(
    listing: &Listing,
    emit: &mut dyn FnMut(Vec<u8>) -> Result<()>,
) -> Result<(TreeId, u64, u64)> {
    let mut open = vec![OpenDir {
        path: Vec::new(),
        entries: Vec::new(),
        unopened: Vec::new(),
    }];
    for (path, entry) in listing {
        while open.len() > 1 && !is_below(path, &open[open.len() - 1].path) {
            close_dir(&mut open, emit)?;
        }
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], &path[..]),
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
    }
    while open.len() > 1 {
        close_dir(&mut open, emit)?;
    }
    let root = open.pop().expect("the root is open");
    encode_dir(root, emit)
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
    // with a byte below `/` come between).
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
