//! dvx may skip hashing files whose stat data did not change, but the key must include the
//! ctime: a same-size edit with the mtime put back must still be seen by `dvx status`,
//! `dvx add` and the unsaved-work check of `dvx checkout`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use util::*;

/// Rewrites `path` with `bytes` (same length) and restores its previous mtime.
fn sneaky_edit(path: &Path, bytes: &[u8]) {
    let before = fs::metadata(path).unwrap();
    assert_eq!(
        before.len(),
        bytes.len() as u64,
        "sneaky edit must keep the size"
    );
    let mtime: SystemTime = before.modified().unwrap();
    // Make sure the new ctime differs even on coarse-grained file systems.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_file(path, bytes);
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let after = fs::metadata(path).unwrap();
    assert_eq!(
        after.modified().unwrap(),
        mtime,
        "could not restore the mtime"
    );
    assert_eq!(after.len(), before.len());
}

fn setup() -> (TestRepo, Vec<u8>) {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x57a7);
    let a = g.file(&repo.path("data/a.bin"), 100_000);
    g.text_file(&repo.path("data/b.csv"), 10_000);
    // An mtime well in the past, so that no "racily clean" heuristic (mtime too close to the
    // time the cache was written) forces a re-hash: only the ctime can reveal the edit.
    let old = SystemTime::now() - std::time::Duration::from_secs(3_600);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(repo.path("data/a.bin"))
        .unwrap();
    f.set_modified(old).unwrap();
    drop(f);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    // Warm whatever cache status keeps.
    let st = repo.dvx(&["status", "--json"]);
    st.ok();
    assert_eq!(dataset(&st.json(), "data")["state"], "clean", "{st}");
    (repo, a)
}

#[test]
fn same_size_same_mtime_edit_is_seen_by_status_and_add() {
    let (repo, a) = setup();
    let mut edited = a.clone();
    for b in &mut edited[50_000..50_010] {
        *b ^= 0x5a;
    }
    sneaky_edit(&repo.path("data/a.bin"), &edited);

    let st = repo.dvx(&["status", "--json"]);
    st.ok();
    let doc = st.json();
    let d = dataset(&doc, "data");
    assert_eq!(
        d["state"], "modified",
        "same-size, same-mtime edit not detected\n{st}"
    );
    assert_eq!(json_strs(&d["modified"]), sorted(&["data/a.bin"]), "{st}");

    repo.dvx(&["add", "data"]).ok();
    let ls = repo.dvx(&["ls", "--json", "data"]);
    ls.ok();
    let doc = ls.json();
    let e = doc["entries"]
        .as_array()
        .and_then(|v| v.iter().find(|e| e["path"] == "data/a.bin"))
        .unwrap_or_else(|| panic!("no data/a.bin\n{ls}"))
        .clone();
    assert_eq!(
        e["digest"].as_str(),
        Some(b3(&edited).as_str()),
        "add kept the stale digest\n{ls}"
    );
    repo.commit("v2");
    remove(&repo.path("data"));
    repo.dvx(&["checkout"]).ok();
    assert!(
        repo.read("data/a.bin") == edited,
        "checkout restored the old content"
    );
}

#[test]
fn same_size_same_mtime_edit_blocks_checkout() {
    let (repo, a) = setup();
    let mut g = Gen::new(1);
    g.text_file(&repo.path("data/c.csv"), 500);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    repo.dvx(&["status"]).ok();

    let mut edited = a.clone();
    edited[10] ^= 1;
    sneaky_edit(&repo.path("data/a.bin"), &edited);
    let r = repo.dvx(&["checkout", "HEAD~1", "data"]);
    r.code_is(1).stderr_has("data/a.bin");
    assert!(
        repo.read("data/a.bin") == edited,
        "unsaved edit was overwritten"
    );
}

/// The stat cache file of the one dataset.
fn cache_file(repo: &TestRepo) -> std::path::PathBuf {
    let files: Vec<_> = fs::read_dir(repo.path(".dvx/state/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one cache file per dataset: {files:?}");
    files[0].clone()
}

/// The single stat cache file of earlier releases (`.dvx/state/statcache`, "DVXSTAT1") is
/// never trusted: an entry in it that vouches a wrong digest for a file's exact stat changes
/// nothing, the file is hashed, and the old file is removed once the new cache is written.
#[test]
fn a_cache_of_an_earlier_release_is_never_trusted() {
    use std::os::unix::fs::MetadataExt;
    let repo = TestRepo::new();
    let mut g = Gen::new(0x01d);
    g.file(&repo.path("data/a.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let m = fs::metadata(repo.path("data/a.bin")).unwrap();
    let mut out = b"DVXSTAT1".to_vec();
    out.extend_from_slice(&1u64.to_le_bytes());
    let key = b"data/a.bin";
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&m.size().to_le_bytes());
    out.extend_from_slice(&(m.mtime() * 1_000_000_000 + m.mtime_nsec()).to_le_bytes());
    out.extend_from_slice(&(m.ctime() * 1_000_000_000 + m.ctime_nsec()).to_le_bytes());
    out.extend_from_slice(&m.ino().to_le_bytes());
    out.extend_from_slice(&m.mode().to_le_bytes());
    out.extend_from_slice(blake3::hash(b"something else").as_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    let legacy = repo.path(".dvx/state/statcache");
    fs::write(&legacy, &out).unwrap();
    // As a repository of the earlier release: no per-dataset cache, no snapshot.
    fs::remove_dir_all(repo.path(".dvx/state/cache")).unwrap();
    fs::remove_dir_all(repo.path(".dvx/state/status")).unwrap();
    assert_eq!(state(&repo), "clean");
    assert!(!legacy.exists(), "the earlier release's cache is removed");
    cache_file(&repo);
}

/// Entries of deleted files leave the cache at the next scan (it would grow forever).
#[test]
fn deleted_files_leave_the_cache() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x5ca);
    for i in 0..200 {
        g.file(&repo.path(&format!("data/f{i:03}.bin")), 100);
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let cache = cache_file(&repo);
    let full = fs::metadata(&cache).unwrap().len();
    for i in 0..190 {
        fs::remove_file(repo.path(&format!("data/f{i:03}.bin"))).unwrap();
    }
    repo.dvx(&["add", "data"]).ok();
    let pruned = fs::metadata(&cache).unwrap().len();
    assert!(
        pruned * 5 < full,
        "the cache kept entries of deleted files: {full} -> {pruned} bytes"
    );
    // The files still present are still cached: status reads none of them.
    repo.dvx(&["status"]).ok().stdout_has("clean");
}

/// The clean snapshot `status` keeps per dataset (`.dvx/state/status/`).
fn snapshots(repo: &TestRepo) -> Vec<std::path::PathBuf> {
    match fs::read_dir(repo.path(".dvx/state/status")) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn state(repo: &TestRepo) -> String {
    let st = repo.dvx(&["status", "--json"]);
    st.ok();
    dataset(&st.json(), "data")["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A clean status records a snapshot of the dataset's stat data; a same-size edit with the
/// mtime put back (within the second of the add) is still seen through it, and the edit
/// undone is clean again.
#[test]
fn clean_snapshot_sees_same_size_same_mtime_edits() {
    let (repo, a) = setup();
    assert_eq!(state(&repo), "clean");
    assert_eq!(snapshots(&repo).len(), 1, "no clean snapshot recorded");

    let mut edited = a.clone();
    edited[7] ^= 1;
    sneaky_edit(&repo.path("data/a.bin"), &edited);
    assert_eq!(state(&repo), "modified", "edit hidden by the snapshot");
    assert_eq!(state(&repo), "modified");
    assert!(
        snapshots(&repo).is_empty(),
        "a modified dataset keeps no snapshot"
    );

    sneaky_edit(&repo.path("data/a.bin"), &a);
    assert_eq!(state(&repo), "clean");
    // A new empty directory and a new file are seen too.
    fs::create_dir(repo.path("data/empty")).unwrap();
    assert_eq!(state(&repo), "modified");
    fs::remove_dir(repo.path("data/empty")).unwrap();
    assert_eq!(state(&repo), "clean");
    assert_eq!(state(&repo), "clean");
    fs::write(repo.path("data/new.txt"), b"x").unwrap();
    assert_eq!(state(&repo), "modified");
}

/// A damaged snapshot, one of an older format and one of another version are never trusted:
/// status compares in full and records a new one.
#[test]
fn damaged_old_or_foreign_snapshots_are_rebuilt() {
    let (repo, _) = setup();
    assert_eq!(state(&repo), "clean");
    let snap = snapshots(&repo).pop().expect("a snapshot");
    let good = fs::read(&snap).unwrap();
    assert!(good.starts_with(b"DVXSNAP1"));

    for damaged in [
        b"garbage".to_vec(),
        [b"DVXSNAP0".as_slice(), &good[8..]].concat(),
        good[..good.len() - 1].to_vec(),
    ] {
        fs::write(&snap, &damaged).unwrap();
        assert_eq!(state(&repo), "clean");
        assert_eq!(fs::read(&snap).unwrap(), good, "snapshot not rebuilt");
    }

    // The snapshot of v1 put back after v2 is added must not vouch for v2: with v2's new
    // file deleted, the disk is exactly what v1's snapshot recorded, and yet it is modified.
    let mut g = Gen::new(2);
    g.text_file(&repo.path("data/c.csv"), 500);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    fs::remove_file(repo.path("data/c.csv")).unwrap();
    fs::write(&snap, &good).unwrap();
    let st = repo.dvx(&["status", "--json"]);
    st.ok();
    let doc = st.json();
    let d = dataset(&doc, "data");
    assert_eq!(d["state"], "modified", "{st}");
    assert_eq!(json_strs(&d["deleted"]), sorted(&["data/c.csv"]), "{st}");
}

/// `add` leaves the clean snapshot of the version it stored, so the first status after it
/// takes the fast path (it does not rewrite the snapshot); an edit within the same second as
/// the add (same size, mtime put back) is still seen through it.
#[test]
fn add_records_the_snapshot_and_a_same_second_edit_is_still_seen() {
    use std::os::unix::fs::MetadataExt;
    let repo = TestRepo::new();
    let mut g = Gen::new(0x5a9);
    let a = g.file(&repo.path("data/a.bin"), 50_000);
    g.text_file(&repo.path("data/sub/b.csv"), 5_000);
    // Old mtimes: the racy-clean rule must not be what keeps the snapshot from being written.
    let old = SystemTime::now() - std::time::Duration::from_secs(3_600);
    for f in ["data/a.bin", "data/sub/b.csv"] {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(repo.path(f))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let snap = snapshots(&repo);
    assert_eq!(snap.len(), 1, "add recorded no snapshot");
    let ino = fs::metadata(&snap[0]).unwrap().ino();
    assert_eq!(state(&repo), "clean");
    assert_eq!(
        fs::metadata(&snap[0]).unwrap().ino(),
        ino,
        "status did not trust the snapshot add wrote (it compared in full and wrote another)"
    );

    let mut edited = a.clone();
    edited[3] ^= 1;
    sneaky_edit(&repo.path("data/a.bin"), &edited);
    assert_eq!(
        state(&repo),
        "modified",
        "edit hidden by the add's snapshot"
    );
    sneaky_edit(&repo.path("data/a.bin"), &a);
    assert_eq!(state(&repo), "clean");
}
