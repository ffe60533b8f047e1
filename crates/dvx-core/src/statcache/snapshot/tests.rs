//! The fast walk's order, what stops it, which snapshots count, and the parallel check.

use super::*;

/// The entries of an intact snapshot of `dataset` for `id`, as `is_clean` accepts them.
fn check<'a>(bytes: &'a [u8], dataset: &str, id: &TreeId) -> Option<Body<'a>> {
    checksum_ok(bytes)
        .then(|| header(bytes, dataset, id))
        .flatten()
}

fn seen_paths(base: &Path) -> Vec<String> {
    let mut out = Vec::new();
    assert!(walk(base, &mut Vec::new(), 0, &mut |rel, _| {
        out.push(String::from_utf8_lossy(rel).into_owned());
        true
    }));
    out
}

/// Names that sort differently as whole paths and as tree components: the walk follows
/// the trees (a directory, then what it holds).
#[test]
fn walk_is_in_tree_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    for p in ["a/x", "a-b", "b"] {
        let p = dir.path().join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, b"1").expect("write");
    }
    std::fs::create_dir(dir.path().join(".git")).expect("mkdir");
    assert_eq!(seen_paths(dir.path()), ["a", "a/x", "a-b", "b"]);
}

#[test]
fn ignore_files_and_temporaries_stop_the_fast_walk() {
    for name in [
        ".dvxignore".to_string(),
        format!("{}1-x", dvx_store::fs::TMP_PREFIX),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("d")).expect("mkdir");
        std::fs::write(dir.path().join("d").join(&name), b"1").expect("write");
        assert!(!walk(dir.path(), &mut Vec::new(), 0, &mut |_, _| true));
    }
}

/// The entries a snapshot of `base` records, as `record` writes them.
fn entries_of(base: &Path) -> (Vec<u8>, u64) {
    let (mut out, mut n) = (Vec::new(), 0u64);
    assert!(walk(base, &mut Vec::new(), 0, &mut |rel, seen| {
        encode_entry(&mut out, rel, &seen);
        n += 1;
        true
    }));
    (out, n)
}

fn clean(base: &Path, entries: &[u8], n: u64) -> bool {
    let ends = subtree_ends(entries, n).expect("entries parse");
    check_tree(base, entries, &ends)
}

/// The comparison that splits large subtrees across threads finds every kind of change,
/// wherever it is, and only then says "not clean".
#[test]
fn the_parallel_check_sees_every_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    // Directories big enough to be compared on other threads, nested, and names that sort
    // differently as whole paths and as components.
    for d in ["a", "a-b", "a/deep", "b"] {
        std::fs::create_dir_all(base.join(d)).expect("mkdir");
        for i in 0..200 {
            std::fs::write(base.join(d).join(format!("f{i}")), b"x").expect("write");
        }
    }
    std::fs::create_dir(base.join("empty")).expect("mkdir");
    std::os::unix::fs::symlink("a/f1", base.join("link")).expect("symlink");
    let (entries, n) = entries_of(base);
    assert!(entries.len() > 2 * SPLIT_BYTES);
    assert!(clean(base, &entries, n));
    assert!(subtree_ends(&entries, n + 1).is_none(), "count checked");
    type Change<'a> = (&'a str, &'a dyn Fn(&Path));
    let changes: [Change<'_>; 6] = [
        ("a file rewritten", &|b| {
            std::fs::write(b.join("a/deep/f150"), b"yy").expect("w")
        }),
        ("a file added", &|b| {
            std::fs::write(b.join("a-b/new"), b"x").expect("w")
        }),
        ("a file removed", &|b| {
            std::fs::remove_file(b.join("b/f199")).expect("rm")
        }),
        ("a file in an empty directory", &|b| {
            std::fs::write(b.join("empty/x"), b"x").expect("w")
        }),
        ("a directory removed", &|b| {
            std::fs::remove_file(b.join("empty/x")).expect("rm");
            std::fs::remove_dir(b.join("empty")).expect("rm")
        }),
        ("a link changed", &|b| {
            std::fs::remove_file(b.join("link")).expect("rm");
            std::os::unix::fs::symlink("a/f2", b.join("link")).expect("symlink");
        }),
    ];
    // Each change on top of the last, against a snapshot taken just before it.
    for (what, change) in changes {
        let (entries, n) = entries_of(base);
        assert!(clean(base, &entries, n), "{what}: clean before");
        change(base);
        assert!(!clean(base, &entries, n), "{what}: seen");
    }
}

/// A snapshot for another version, of another dataset, damaged or of an older format is
/// never used.
#[test]
fn only_an_intact_snapshot_of_the_same_version_and_dataset_counts() {
    let id = TreeId::of(b"v1");
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&0u64.to_le_bytes());
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    assert!(check(&out, "data", &id).is_some());
    assert!(check(&out, "data2", &id).is_none());
    assert!(check(&out, "data", &TreeId::of(b"v2")).is_none());
    let mut bad = out.clone();
    bad[50] ^= 1;
    assert!(check(&bad, "data", &id).is_none());
    let mut old = out.clone();
    old[7] = b'0';
    assert!(check(&old, "data", &id).is_none());
    assert!(check(&out[..out.len() - 1], "data", &id).is_none());
}
