//! The racy-clean rule, and a dataset's cache kept, rewritten and merged.

use super::*;

fn key(n: u64) -> StatKey {
    StatKey {
        size: n,
        mtime_ns: 1,
        ctime_ns: 1,
        ino: n,
        mode: 0o100644,
    }
}

/// A file changed in place within the timestamp tick in which its bytes were read keeps
/// its stat; such an entry must not be vouched for, whatever the file system.
#[test]
fn entries_not_safely_older_than_the_read_are_not_vouched_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"abc").expect("write");
    let meta = std::fs::metadata(&file).expect("stat");
    let mtime = Stamp::of(&meta).mtime_ns;
    let c = StatCache::new(dir.path());
    assert!(!c.vouches(&meta, mtime), "read at its mtime: racy");
    assert!(c.vouches(&meta, mtime + 10_000_000_000), "read long after");
}

/// Whole-second mtimes (1-second file systems): a read within 2 s of the change is racy.
#[test]
fn coarse_timestamps_get_two_seconds_of_slack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"abc").expect("write");
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
    let meta = std::fs::metadata(&file).expect("stat");
    let c = StatCache::new(dir.path());
    let second = 1_700_000_000 * 1_000_000_000i64;
    for seen in [second + 900_000_000, second + 1_500_000_000] {
        assert!(!c.vouches(&meta, seen), "read at {seen}: racy");
    }
    assert!(
        c.vouches(&meta, second + 2_100_000_000),
        "2.1 s later: safe"
    );
}

fn entries(c: &StatCache, dataset: &str) -> Vec<(Vec<u8>, StatKey)> {
    let (mut r, _) = file::Reader::open(&file::path_for(&c.dir, dataset), dataset);
    std::iter::from_fn(|| r.next())
        .map(|e| (e.rel, e.key))
        .collect()
}

/// A scan keeps what it found; an unchanged cache is not rewritten; a merge replaces and
/// drops entries by path; entries not older than the file are never vouched for.
#[test]
fn kept_rewritten_and_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = StatCache::new(dir.path());
    let mut d = c.open("data").expect("open");
    for rel in ["a/x", "a-b", "b"] {
        assert!(d.hit(rel.as_bytes(), &key(1)).is_none(), "empty at first");
        d.keep(rel.as_bytes(), key(1), Digest([1; 32]), &[], true)
            .expect("keep");
    }
    d.commit().expect("commit");
    let path = file::path_for(&c.dir, "data");
    let stamp = std::fs::metadata(&path).expect("written").modified().ok();

    // Everything hit and kept: the file stays as it was.
    let mut d = c.open("data").expect("open");
    for rel in ["a/x", "a-b", "b"] {
        let (digest, _) = d.hit(rel.as_bytes(), &key(1)).expect("hit");
        d.keep(rel.as_bytes(), key(1), digest, &[], false)
            .expect("keep");
    }
    d.commit().expect("commit");
    assert_eq!(
        std::fs::metadata(&path).expect("kept").modified().ok(),
        stamp
    );

    // A stat that changed is no hit; a file not kept (deleted) leaves the cache.
    let mut d = c.open("data").expect("open");
    assert!(d.hit(b"a/x", &key(2)).is_none());
    assert!(d.hit(b"b", &key(1)).is_some());
    d.keep(b"b", key(1), Digest([1; 32]), &[], false)
        .expect("keep");
    d.commit().expect("commit");
    assert_eq!(entries(&c, "data"), [(b"b".to_vec(), key(1))]);

    c.merge(
        "data",
        vec![
            (b"c".to_vec(), Some((key(3), Digest([3; 32]), Vec::new()))),
            (b"b".to_vec(), None),
            (b"a".to_vec(), Some((key(4), Digest([4; 32]), Vec::new()))),
            (b"a".to_vec(), Some((key(5), Digest([5; 32]), Vec::new()))),
        ],
    )
    .expect("merge");
    assert_eq!(
        entries(&c, "data"),
        [(b"a".to_vec(), key(5)), (b"c".to_vec(), key(3))],
        "the last record of a path wins, None drops"
    );

    // An entry whose mtime is not older than the file: racily clean, never a hit.
    let future = StatKey {
        mtime_ns: i64::MAX - 1,
        ..key(6)
    };
    c.merge(
        "data",
        vec![(b"z".to_vec(), Some((future, Digest([6; 32]), Vec::new())))],
    )
    .expect("merge");
    let mut d = c.open("data").expect("open");
    assert!(d.hit(b"a", &key(5)).is_some());
    assert!(d.hit(b"z", &future).is_none(), "racily clean");
}
