//! The streaming walks over stored trees against the whole listing they replace: same
//! entries, same order, same changes, at directory boundaries where paths sort differently
//! as whole strings and as tree components.

use std::collections::BTreeMap;

use dvx_manifest::ChunkRef;
use dvx_store::{ChunkId, Digest, Store, TreeId};
use rand::{Rng, SeedableRng};

use super::{diff_versions, load_listing, walk_listing, write_trees};
use crate::scan::{FlatEntry, Listing};

/// Names around `/` in byte order: `a\x01` and `a-b` sort before `a/x`, `a0` after it.
const NAMES: [&[u8]; 7] = [b"a", b"a\x01", b"a-b", b"a.b", b"a0", b"b", b"\xc3\xa9"];

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open_or_create(tmp.path(), &Default::default()).expect("store");
    (tmp, store)
}

fn file(seed: u64, executable: bool) -> FlatEntry {
    let size = 1 + seed % 1000;
    FlatEntry::File {
        size,
        digest: Digest::of(&seed.to_le_bytes()),
        executable,
        chunks: vec![ChunkRef {
            id: ChunkId::of(&seed.to_le_bytes()),
            len: size as u32,
        }],
    }
}

/// A random listing over [`NAMES`], three levels deep: files, links, empty and full
/// directories, where each name may be any of them.
fn random_listing(rng: &mut impl Rng) -> Listing {
    let mut out = Listing::new();
    fill(rng, &mut out, Vec::new(), 0);
    out
}

fn fill(rng: &mut impl Rng, out: &mut Listing, prefix: Vec<u8>, depth: usize) {
    for name in NAMES {
        let mut path = prefix.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        match rng.random_range(0..6) {
            0 | 1 => {}
            2 => {
                out.insert(path, file(rng.random_range(0..4), rng.random_bool(0.2)));
            }
            3 => {
                let target = vec![b't', rng.random_range(b'0'..b'3')];
                out.insert(path, FlatEntry::Symlink { target });
            }
            _ => {
                out.insert(path.clone(), FlatEntry::Dir);
                if depth < 2 {
                    fill(rng, out, path, depth + 1);
                }
            }
        }
    }
}

fn streamed(store: &Store, root: &TreeId, below: &[u8]) -> Vec<(Vec<u8>, FlatEntry)> {
    let mut out = Vec::new();
    let whole = walk_listing(store, root, below, &mut |rel, e| {
        let whole = load_listing_entry(e);
        out.push((rel.to_vec(), whole));
        true
    })
    .expect("walk");
    assert!(whole);
    out
}

/// The listing's form of a tree entry.
fn load_listing_entry(e: &dvx_manifest::Entry) -> FlatEntry {
    super::flat_of(&e.kind)
}

/// Every change between two listings as the whole-listing comparison finds it.
fn whole_diff(a: &Listing, b: &Listing) -> Vec<(Vec<u8>, Option<FlatEntry>, Option<FlatEntry>)> {
    let leaves = |l: &Listing| -> BTreeMap<Vec<u8>, FlatEntry> {
        l.iter()
            .filter(|(_, e)| !matches!(e, FlatEntry::Dir))
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    };
    let (la, lb) = (leaves(a), leaves(b));
    let mut paths: Vec<&Vec<u8>> = la.keys().chain(lb.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| la.get(*p) != lb.get(*p))
        .map(|p| (p.clone(), la.get(p).cloned(), lb.get(p).cloned()))
        .collect()
}

fn streamed_diff(
    store: &Store,
    a: Option<&TreeId>,
    b: Option<&TreeId>,
) -> Vec<(Vec<u8>, Option<FlatEntry>, Option<FlatEntry>)> {
    let mut out = Vec::new();
    diff_versions(store, a, b, &mut |rel, x, y| {
        let (x, y) = (x.map(load_listing_entry), y.map(load_listing_entry));
        if x != y {
            out.push((rel.to_vec(), x, y));
        }
    })
    .expect("diff");
    out
}

/// The walk shows exactly the listing's entries in the listing's order (whole paths in byte
/// order), for the whole version and below every directory of it.
#[test]
fn the_walk_is_the_listing_in_byte_order() {
    let (_tmp, store) = store();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    for _ in 0..60 {
        let listing = random_listing(&mut rng);
        let (root, _, _) = write_trees(&store, &listing).expect("write");
        assert_eq!(load_listing(&store, &root).expect("load"), listing);
        let all: Vec<(Vec<u8>, FlatEntry)> = listing.clone().into_iter().collect();
        assert_eq!(streamed(&store, &root, b""), all);
        for (dir, _) in listing.iter().filter(|(_, e)| matches!(e, FlatEntry::Dir)) {
            let mut prefix = dir.clone();
            prefix.push(b'/');
            let below: Vec<(Vec<u8>, FlatEntry)> = all
                .iter()
                .filter(|(p, _)| p == dir || p.starts_with(&prefix))
                .cloned()
                .collect();
            assert_eq!(streamed(&store, &root, dir), below, "below {dir:?}");
        }
    }
}

/// Two versions compared tree by tree report what comparing their whole listings reports:
/// files and links added, removed and changed, a directory replaced by a file of the same
/// name and back, empty directories (which are no change of their own).
#[test]
fn the_tree_diff_is_the_listing_diff() {
    let (_tmp, store) = store();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let mut versions: Vec<(Listing, TreeId)> = Vec::new();
    for _ in 0..40 {
        let listing = random_listing(&mut rng);
        let (root, _, _) = write_trees(&store, &listing).expect("write");
        versions.push((listing, root));
    }
    let empty = Listing::new();
    for (i, (a, ra)) in versions.iter().enumerate() {
        assert_eq!(streamed_diff(&store, Some(ra), None), whole_diff(a, &empty));
        assert_eq!(streamed_diff(&store, None, Some(ra)), whole_diff(&empty, a));
        assert!(streamed_diff(&store, Some(ra), Some(ra)).is_empty());
        for (b, rb) in versions.iter().skip(i + 1).take(5) {
            assert_eq!(streamed_diff(&store, Some(ra), Some(rb)), whole_diff(a, b));
            assert_eq!(streamed_diff(&store, Some(rb), Some(ra)), whole_diff(b, a));
        }
    }
}

#[test]
fn a_directory_replaced_by_a_file_and_back() {
    let (_tmp, store) = store();
    let as_dir: Listing = [
        (b"x".to_vec(), FlatEntry::Dir),
        (b"x/in".to_vec(), file(1, false)),
        (b"x-y".to_vec(), file(2, false)),
    ]
    .into_iter()
    .collect();
    let as_file: Listing = [
        (b"x".to_vec(), file(3, false)),
        (b"x-y".to_vec(), file(2, false)),
    ]
    .into_iter()
    .collect();
    let (rd, _, _) = write_trees(&store, &as_dir).expect("write");
    let (rf, _, _) = write_trees(&store, &as_file).expect("write");
    let paths =
        |d: Vec<(Vec<u8>, Option<FlatEntry>, Option<FlatEntry>)>| -> Vec<(Vec<u8>, bool, bool)> {
            d.into_iter()
                .map(|(p, a, b)| (p, a.is_some(), b.is_some()))
                .collect()
        };
    assert_eq!(
        paths(streamed_diff(&store, Some(&rd), Some(&rf))),
        [
            (b"x".to_vec(), false, true),
            (b"x/in".to_vec(), true, false)
        ]
    );
    assert_eq!(
        paths(streamed_diff(&store, Some(&rf), Some(&rd))),
        [
            (b"x".to_vec(), true, false),
            (b"x/in".to_vec(), false, true)
        ]
    );
}

/// 100,000 entries in one directory: streamed in order, and one changed file found.
#[test]
fn a_directory_of_100_000_entries() {
    let (_tmp, store) = store();
    let mut listing = Listing::new();
    listing.insert(b"d".to_vec(), FlatEntry::Dir);
    for i in 0..100_000u64 {
        listing.insert(format!("d/f{i}").into_bytes(), file(i, false));
    }
    let (v1, _, _) = write_trees(&store, &listing).expect("write");
    let mut n = 0usize;
    let mut last: Vec<u8> = Vec::new();
    walk_listing(&store, &v1, b"", &mut |rel, _| {
        assert!(last.as_slice() < rel, "in order");
        last = rel.to_vec();
        n += 1;
        true
    })
    .expect("walk");
    assert_eq!(n, listing.len());
    listing.insert(b"d/f77777".to_vec(), file(1_000_001, false));
    let (v2, _, _) = write_trees(&store, &listing).expect("write");
    let changed = streamed_diff(&store, Some(&v1), Some(&v2));
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].0, b"d/f77777");
}

/// A walk stopped by its visitor says so and shows nothing more.
#[test]
fn a_stopped_walk_stops() {
    let (_tmp, store) = store();
    let listing: Listing = (0..10u64)
        .map(|i| (format!("f{i}").into_bytes(), file(i, false)))
        .collect();
    let (root, _, _) = write_trees(&store, &listing).expect("write");
    let mut n = 0;
    let whole = walk_listing(&store, &root, b"", &mut |_, _| {
        n += 1;
        n < 3
    })
    .expect("walk");
    assert!(!whole);
    assert_eq!(n, 3);
}

/// The id of the directory `dir` of a listing, built the plain way: each directory's tree
/// from the entries whose parent it is, subdirectories first.
fn plain_id(listing: &Listing, dir: &[u8]) -> (TreeId, u64, u64) {
    use dvx_manifest::{Entry, Tree};
    let mut entries = Vec::new();
    for (path, e) in listing {
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], &path[..]),
        };
        if parent != dir {
            continue;
        }
        let dir = match e {
            FlatEntry::Dir => plain_id(listing, path),
            _ => (TreeId([0; 32]), 0, 0),
        };
        let kind = super::kind_of(e, dir);
        entries.push(Entry {
            name: name.to_vec(),
            kind,
        });
    }
    let tree = Tree::new(entries).expect("tree");
    (tree.id(), tree.size(), tree.files())
}

/// Trees written directory by directory as the listing goes past them are the trees of the
/// plain construction, every one of them readable, and `listing_id` agrees without writing.
#[test]
fn trees_written_as_directories_complete() {
    let (_tmp, store) = store();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    for _ in 0..60 {
        let listing = random_listing(&mut rng);
        let written = write_trees(&store, &listing).expect("write");
        assert_eq!(written, plain_id(&listing, b""));
        assert_eq!(super::listing_id(&listing).expect("id"), written);
        assert_eq!(load_listing(&store, &written.0).expect("load"), listing);
    }
}

/// Parents a listing does not name are made directories, and so is a file with paths below
/// it, as before.
#[test]
fn unlisted_parents_become_directories() {
    let with: Listing = [
        (b"a".to_vec(), FlatEntry::Dir),
        (b"a/b".to_vec(), FlatEntry::Dir),
        (b"a/b/f".to_vec(), file(1, false)),
        (b"a-c".to_vec(), file(2, false)),
    ]
    .into_iter()
    .collect();
    let without: Listing = [
        (b"a/b/f".to_vec(), file(1, false)),
        (b"a-c".to_vec(), file(2, false)),
    ]
    .into_iter()
    .collect();
    let mut shadowed = without.clone();
    shadowed.insert(b"a".to_vec(), file(3, false));
    let id = super::listing_id(&with).expect("id");
    assert_eq!(super::listing_id(&without).expect("id"), id);
    assert_eq!(super::listing_id(&shadowed).expect("id"), id);
}
