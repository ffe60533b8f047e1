//! Between flat listings and tree objects in the store, and the one walk over the trees of a
//! version ([`TreeWalk`]).

use std::collections::{BTreeMap, HashSet};

use dvx_manifest::limits::{MAX_DEPTH, MAX_FILES};
use dvx_manifest::{Entry, EntryKind, Tree};
use dvx_store::{Store, TreeId};

use crate::error::{Error, Result};
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

/// The order in which a tree's entries, and what its subdirectories hold, come in a listing
/// (whole paths in byte order): entry `n` sorts as `n`, the contents of directory `n` as `n/`.
/// `(i, false)` stands for entry `i`, `(i, true)` for the contents of directory `i`. Only a
/// directory's contents ever move: past the siblings whose names extend its name with a byte
/// below `/` (`a` `a-b` `a/x`).
fn listing_order(tree: &Tree) -> Vec<(usize, bool)> {
    let entries = tree.entries();
    let mut order = Vec::with_capacity(entries.len() + 8);
    for (i, e) in entries.iter().enumerate() {
        order.push((i, false));
        if matches!(e.kind, EntryKind::Dir { .. }) {
            order.push((i, true));
        }
    }
    order.sort_by(|&(a, ac), &(b, bc)| key_cmp(&entries[a], ac, &entries[b], bc));
    order
}

/// Compares two items of [`listing_order`] (of one tree or of two).
fn key_cmp(a: &Entry, a_contents: bool, b: &Entry, b_contents: bool) -> std::cmp::Ordering {
    let slash = |contents: bool| -> &'static [u8] {
        if contents {
            b"/"
        } else {
            b""
        }
    };
    a.name
        .iter()
        .chain(slash(a_contents))
        .cmp(b.name.iter().chain(slash(b_contents)))
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

/// Shows `visit` the entries of a version at or below `below` (a path inside it; empty for
/// all) in the byte order of their paths, the order of a [`Listing`], with their paths below
/// the root. Only the trees on the way to the current entry are held, so memory does not
/// grow with the size of the version. `visit` returns false to stop the walk; the result is
/// then `Ok(false)`. Checks what [`walk_version`] checks (nesting depth, the file count bound,
/// the declared totals of every directory walked whole).
pub fn walk_listing(
    store: &Store,
    root: &TreeId,
    below: &[u8],
    visit: &mut dyn FnMut(&[u8], &Entry) -> bool,
) -> Result<bool> {
    let mut walk = SortedWalk {
        store,
        below,
        used: 0,
        visit,
        stopped: false,
    };
    walk.tree(root, &mut Vec::new(), 0)?;
    Ok(!walk.stopped)
}

struct SortedWalk<'a> {
    store: &'a Store,
    below: &'a [u8],
    used: u64,
    visit: &'a mut dyn FnMut(&[u8], &Entry) -> bool,
    stopped: bool,
}

impl SortedWalk<'_> {
    /// Whether `path` is `below` or inside it (shown, and walked whole).
    fn within(&self, path: &[u8]) -> bool {
        self.below.is_empty()
            || path
                .strip_prefix(self.below)
                .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
    }

    /// Whether the directory `path` holds anything at or below `below`.
    fn enters(&self, path: &[u8]) -> bool {
        self.within(path)
            || self
                .below
                .strip_prefix(path)
                .is_some_and(|rest| rest.first() == Some(&b'/'))
    }

    fn tree(&mut self, id: &TreeId, prefix: &mut Vec<u8>, depth: usize) -> Result<(u64, u64)> {
        if depth > MAX_DEPTH {
            return Err(too_deep(id));
        }
        let tree = read_tree(self.store, id)?;
        check_declared(id, &tree, self.used)?;
        let (mut size, mut files) = (0u64, 0u64);
        for (i, contents) in listing_order(&tree) {
            if self.stopped {
                break;
            }
            let e = &tree.entries()[i];
            let len = prefix.len();
            push_name(prefix, &e.name);
            match (&e.kind, contents) {
                (
                    EntryKind::Dir {
                        id: sub,
                        size: s,
                        files: f,
                    },
                    true,
                ) => {
                    if self.enters(prefix) {
                        let (rs, rf) = self.tree(sub, prefix, depth + 1)?;
                        if !self.stopped && self.within(prefix) && (rs != *s || rf != *f) {
                            return Err(lying_totals(id, &e.name, (*s, *f), (rs, rf)));
                        }
                    }
                    size = size.saturating_add(*s);
                    files = files.saturating_add(*f);
                }
                (kind, _) => {
                    if self.within(prefix) && !(self.visit)(prefix, e) {
                        self.stopped = true;
                    }
                    if let EntryKind::File { size: s, .. } = kind {
                        size = size.saturating_add(*s);
                    }
                    if !matches!(kind, EntryKind::Dir { .. }) {
                        files += 1;
                        self.used += 1;
                    }
                }
            }
            prefix.truncate(len);
        }
        Ok((size, files))
    }
}

/// What [`diff_versions`] shows each path: its entry on the old and on the new side.
pub(crate) type DiffVisit<'a> = dyn FnMut(&[u8], Option<&Entry>, Option<&Entry>) + 'a;

/// Compares two versions (either may be absent: an empty side), showing `each` every path
/// that is a file or a link on either side, with its entry on each side (`None`: absent, or a
/// directory there), in the byte order of the paths. Directories with the same tree on both
/// sides are skipped unread; otherwise only the trees on the way to the current path are
/// held. The caller decides what counts as a change.
pub(crate) fn diff_versions(
    store: &Store,
    old: Option<&TreeId>,
    new: Option<&TreeId>,
    each: &mut DiffVisit<'_>,
) -> Result<()> {
    let mut merge = Merge {
        store,
        used: [0, 0],
        each,
    };
    merge.trees([old, new], &mut Vec::new(), 0)?;
    Ok(())
}

struct Merge<'a> {
    store: &'a Store,
    used: [u64; 2],
    each: &'a mut DiffVisit<'a>,
}

impl Merge<'_> {
    /// Compares the trees `ids` at `prefix`; returns each side's totals (bytes, files).
    fn trees(
        &mut self,
        ids: [Option<&TreeId>; 2],
        prefix: &mut Vec<u8>,
        depth: usize,
    ) -> Result<[(u64, u64); 2]> {
        let mut trees = [Tree::default(), Tree::default()];
        for side in 0..2 {
            if let Some(id) = ids[side] {
                if depth > MAX_DEPTH {
                    return Err(too_deep(id));
                }
                trees[side] = read_tree(self.store, id)?;
                check_declared(id, &trees[side], self.used[side])?;
            }
        }
        let [ta, tb] = &trees;
        let (oa, ob) = (listing_order(ta), listing_order(tb));
        let mut totals = [(0u64, 0u64); 2];
        let (mut i, mut j) = (0, 0);
        loop {
            let (x, y) = (oa.get(i).copied(), ob.get(j).copied());
            let ord = match (x, y) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((a, ac)), Some((b, bc))) => {
                    key_cmp(&ta.entries()[a], ac, &tb.entries()[b], bc)
                }
            };
            let (x, y) = match ord {
                std::cmp::Ordering::Less => (x, None),
                std::cmp::Ordering::Greater => (None, y),
                std::cmp::Ordering::Equal => (x, y),
            };
            if x.is_some() {
                i += 1;
            }
            if y.is_some() {
                j += 1;
            }
            let sides = [
                x.map(|(a, _)| &ta.entries()[a]),
                y.map(|(b, _)| &tb.entries()[b]),
            ];
            let contents = x.or(y).is_some_and(|(_, c)| c);
            let len = prefix.len();
            push_name(
                prefix,
                &sides[0].or(sides[1]).expect("one side has the item").name,
            );
            if contents {
                let sub = |e: Option<&Entry>| match e.map(|e| &e.kind) {
                    Some(EntryKind::Dir { id, size, files }) => Some((*id, *size, *files)),
                    _ => None,
                };
                let declared = [sub(sides[0]), sub(sides[1])];
                let [sa, sb] = declared.map(|d| d.map(|(id, _, _)| id));
                // The same tree declared alike on both sides: nothing below differs, and it
                // is skipped unread. Declared differently, one side lies: it is read.
                let totals_of = |d: Option<(TreeId, u64, u64)>| d.map(|(_, s, f)| (s, f));
                let real = if sa == sb && totals_of(declared[0]) == totals_of(declared[1]) {
                    declared.map(|d| d.map_or((0, 0), |(_, s, f)| (s, f)))
                } else {
                    self.trees([sa.as_ref(), sb.as_ref()], prefix, depth + 1)?
                };
                for side in 0..2 {
                    if let (Some((_, s, f)), Some(parent)) = (declared[side], ids[side]) {
                        if real[side] != (s, f) {
                            return Err(lying_totals(
                                parent,
                                &sides[side].expect("a directory").name,
                                (s, f),
                                real[side],
                            ));
                        }
                        totals[side].0 = totals[side].0.saturating_add(s);
                        totals[side].1 = totals[side].1.saturating_add(f);
                    }
                }
            } else {
                let leaves = sides.map(leaf);
                for side in 0..2 {
                    if let Some(e) = leaves[side] {
                        self.used[side] += 1;
                        totals[side].0 = totals[side].0.saturating_add(e.size());
                        totals[side].1 += 1;
                    }
                }
                if leaves[0].is_some() || leaves[1].is_some() {
                    (self.each)(prefix, leaves[0], leaves[1]);
                }
            }
            prefix.truncate(len);
        }
        Ok(totals)
    }
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

/// `e` unless it is a directory.
fn leaf(e: Option<&Entry>) -> Option<&Entry> {
    e.filter(|e| !matches!(e.kind, EntryKind::Dir { .. }))
}

#[cfg(test)]
mod tests;
