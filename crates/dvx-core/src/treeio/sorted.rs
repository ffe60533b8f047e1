//! Walks over stored trees in whole-path byte order (the order of a
//! [`Listing`](crate::scan::Listing)), holding only the trees on the way to the current path:
//! one version ([`walk_listing`]) or two side by side ([`diff_versions`]).

use dvx_manifest::limits::MAX_DEPTH;
use dvx_manifest::{Entry, EntryKind, Tree};
use dvx_store::{Store, TreeId};

use super::{check_declared, lying_totals, push_name, read_tree, too_deep};
use crate::error::Result;

/// The order in which a tree's entries, and what its subdirectories hold, come in a listing
/// (whole paths in byte order): entry `n` sorts as `n`, the contents of directory `n` as `n/`.
/// `(i, false)` stands for entry `i`, `(i, true)` for the contents of directory `i`. Only a
/// directory's contents ever move: past the siblings whose names extend its name with a byte
/// below `/` (`a` `a-b` `a/x`).
fn listing_order(tree: &Tree) -> Vec<(usize, bool)> {
    let mut order = walk_order(tree);
    let entries = tree.entries();
    order.sort_by(|&(a, ac), &(b, bc)| key_cmp(&entries[a], ac, &entries[b], bc));
    order
}

/// The order of a depth-first walk over a tree (the order a scan finds a dataset on disk):
/// entries by name, each directory's contents right after its entry.
fn walk_order(tree: &Tree) -> Vec<(usize, bool)> {
    let entries = tree.entries();
    let mut order = Vec::with_capacity(entries.len() + 8);
    for (i, e) in entries.iter().enumerate() {
        order.push((i, false));
        if matches!(e.kind, EntryKind::Dir { .. }) {
            order.push((i, true));
        }
    }
    order
}

/// Compares two paths in the order of a depth-first walk with names in byte order: by their
/// components (`a/x` before `a-b`), as the bytes with `/` lowest.
pub(crate) fn walk_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let low = |c: &u8| if *c == b'/' { 0 } else { u16::from(*c) + 1 };
    a.iter().map(low).cmp(b.iter().map(low))
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

/// Shows `visit` the entries of a version at or below `below` (a path inside it; empty for
/// all) in the byte order of their paths, the order of a [`Listing`](crate::scan::Listing),
/// with their paths below the root. Only the trees on the way to the current entry are held,
/// so memory does not grow with the size of the version. `visit` returns false to stop the
/// walk; the result is then `Ok(false)`. Checks what [`walk_version`](super::walk_version)
/// checks (nesting depth, the file count bound, the declared totals of every directory walked
/// whole).
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
        depth_first: false,
    };
    walk.tree(root, &mut Vec::new(), 0)?;
    Ok(!walk.stopped)
}

/// [`walk_listing`] of a whole version in the order of a depth-first walk ([`walk_cmp`]),
/// the order in which a scan finds a dataset on disk.
pub(crate) fn walk_depth_first(
    store: &Store,
    root: &TreeId,
    visit: &mut dyn FnMut(&[u8], &Entry) -> bool,
) -> Result<bool> {
    let mut walk = SortedWalk {
        store,
        below: b"",
        used: 0,
        visit,
        stopped: false,
        depth_first: true,
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
    /// In the order of [`walk_cmp`] rather than of whole paths.
    depth_first: bool,
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
        let order = if self.depth_first {
            walk_order(&tree)
        } else {
            listing_order(&tree)
        };
        for (i, contents) in order {
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

/// `e` unless it is a directory.
fn leaf(e: Option<&Entry>) -> Option<&Entry> {
    e.filter(|e| !matches!(e.kind, EntryKind::Dir { .. }))
}
