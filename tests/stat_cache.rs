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
    let cache = repo.path(".dvx/state/statcache");
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
