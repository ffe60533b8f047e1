//! End-to-end tests of `dvx gc` and `dvx fsck`, locally and on a folder remote.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use util::{Gen, TestRepo};

fn gc_json(repo: &TestRepo, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["gc", "--json"];
    a.extend_from_slice(args);
    let r = repo.dvx(&a);
    r.ok();
    r.json()
}

#[test]
fn local_gc_frees_unreachable_versions_and_keeps_reachable_ones() {
    let repo = TestRepo::new();
    let mut g = Gen::new(11);
    g.tree(&repo.path("data"), 2, 6, 200_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let v1 = repo.snapshot("data");
    // Three more versions, of which only the last is committed.
    for seed in 0..3 {
        let mut g = Gen::new(100 + seed);
        g.file(&repo.path("data/big.bin"), 400_000);
        repo.dvx(&["add", "data"]).ok();
    }
    repo.commit("v2");
    let v2 = repo.snapshot("data");

    // The grace period protects everything young.
    let dry = gc_json(&repo, &["--dry-run"]);
    assert_eq!(dry["bytes_freed"], 0, "{dry}");
    // Without it, the two uncommitted versions go.
    let before = repo.store_size();
    let done = gc_json(&repo, &["--keep-days", "0"]);
    assert!(done["trees_deleted"].as_u64().unwrap() >= 2, "{done}");
    assert!(repo.store_size() < before, "gc freed nothing: {done}");
    repo.dvx(&["fsck"]).ok().stdout_has("no problems");
    // Both committed versions still come back byte-identical.
    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    assert_eq!(repo.snapshot("data"), v1);
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_eq!(repo.snapshot("data"), v2);
    // Running it again frees nothing more.
    let again = gc_json(&repo, &["--keep-days", "0"]);
    assert_eq!(again["bytes_freed"], 0, "{again}");
}

#[test]
fn gc_keeps_what_the_git_index_stages_and_stops_on_a_staged_pointer_it_cannot_read() {
    let repo = TestRepo::new();
    let mut g = Gen::new(17);
    g.tree(&repo.path("data"), 2, 4, 100_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    // v2 is only staged (`git add data.dvx`); v3 is only on disk.
    g.file(&repo.path("data/big.bin"), 300_000);
    repo.dvx(&["add", "data"]).ok();
    repo.git(&["add", "data.dvx"]).ok();
    let v2 = repo.snapshot("data");
    let v2_pointer = repo.read("data.dvx");
    g.file(&repo.path("data/big.bin"), 300_000);
    repo.dvx(&["add", "data"]).ok();
    let v3_pointer = repo.read("data.dvx");
    // A new dataset whose pointer is only `git add --intent-to-add`-ed (it stages no bytes).
    g.tree(&repo.path("other"), 1, 3, 50_000);
    repo.dvx(&["add", "other"]).ok();
    repo.git(&["add", "--intent-to-add", "other.dvx"]).ok();
    let other = repo.snapshot("other");

    // A staged pointer that does not parse: gc stops, naming it, and deletes nothing.
    repo.write("data.dvx", b"not a pointer");
    repo.git(&["add", "data.dvx"]).ok();
    repo.write("data.dvx", &v3_pointer);
    let before = repo.store_size();
    repo.dvx(&["gc", "--keep-days", "0"])
        .code_is(1)
        .stderr_has("data.dvx as staged in the git index")
        .stderr_has("git restore --staged data.dvx");
    assert_eq!(repo.store_size(), before, "gc deleted data before stopping");

    // With v2 staged again, gc keeps v1 (HEAD), v2 (the index), v3 (the worktree) and the
    // intent-to-add dataset: nothing to delete.
    repo.write("data.dvx", &v2_pointer);
    repo.git(&["add", "data.dvx"]).ok();
    repo.write("data.dvx", &v3_pointer);
    let done = gc_json(&repo, &["--keep-days", "0"]);
    assert_eq!(done["trees_deleted"], 0, "{done}");
    repo.dvx(&["fsck"]).ok().stdout_has("no problems");
    assert_eq!(repo.snapshot("other"), other);
    // The staged version comes back whole.
    repo.write("data.dvx", &v2_pointer);
    repo.dvx(&["checkout", "data", "--force"]).ok();
    assert_eq!(repo.snapshot("data"), v2);
}

#[test]
fn stale_gc_lock_is_cleared_and_live_one_is_respected() {
    let repo = TestRepo::new();
    let mut g = Gen::new(12);
    g.tree(&repo.path("data"), 1, 3, 10_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    // A lock left by a process that no longer exists.
    repo.write(".dvx/store/gc.lock", b"999999999");
    repo.dvx(&["gc"]).ok();
    assert!(!repo.path(".dvx/store/gc.lock").exists());
    // A lock held by a live dvx process (this test's pid is alive but is not dvx: use the
    // pid of a sleeping child named dvx? Simplest: our own pid is alive; it is not a dvx
    // process, so the lock counts as stale too).
    repo.write(
        ".dvx/store/gc.lock",
        std::process::id().to_string().as_bytes(),
    );
    repo.dvx(&["gc"]).ok();
}

#[test]
fn fsck_names_damaged_objects_and_repair_rebuilds_the_index() {
    let repo = TestRepo::new();
    let mut g = Gen::new(13);
    g.tree(&repo.path("data"), 2, 4, 100_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    repo.dvx(&["fsck"]).ok();
    // A deleted index is rebuilt from the packs.
    for f in std::fs::read_dir(repo.path(".dvx/store/index")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    repo.dvx(&["fsck", "--repair"])
        .ok()
        .stdout_has("rebuilt the index");
    assert_eq!(
        std::fs::read_dir(repo.path(".dvx/store/index"))
            .unwrap()
            .count(),
        1
    );
    // A flipped byte in a pack is reported with the files it affects.
    let pack = repo.pack_files().into_iter().next().unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&pack, bytes).unwrap();
    let r = repo.dvx(&["fsck", "--json"]);
    r.code_is(1);
    let j = r.json();
    let problems = j["problems"].as_array().unwrap();
    assert!(problems.iter().all(|p| p["kind"] == "damaged"), "{j}");
    assert!(
        problems.iter().any(|p| p["files"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x.as_str().unwrap().starts_with("data/")))),
        "{j}"
    );
}

#[test]
fn remote_gc_is_two_phase_and_fsck_remote_checks_history() {
    let repo = TestRepo::new();
    let remote = repo.tmp().join("remote");
    let mut g = Gen::new(14);
    g.tree(&repo.path("data"), 2, 4, 100_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", remote.to_str().unwrap()])
        .ok();
    repo.commit("v1");
    repo.dvx(&["push"]).ok();
    repo.dvx(&["fsck", "--remote"])
        .ok()
        .stdout_has("no problems");

    // v2 replaces v1 in a rewritten history: v1's objects on the remote become garbage.
    let mut g = Gen::new(15);
    g.file(&repo.path("data/extra.bin"), 300_000);
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    g.tree(&repo.path("data"), 1, 2, 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.git(&["commit", "-q", "--amend", "-m", "v2 only"]).ok();
    repo.git(&["reflog", "expire", "--expire=now", "--all"])
        .ok();
    repo.dvx(&["push"]).ok();
    // Data and bookkeeping objects; each gc adds an audit record, counted apart.
    let audit = remote.join("audit");
    let count = || {
        let mut files = Vec::new();
        util::find_files(&remote, &mut |p| !p.starts_with(&audit), &mut files);
        files.len()
    };
    let objects_before = count();

    // First run: only records candidates.
    let first = gc_json(&repo, &["--remote", "--keep-days", "0"]);
    assert_eq!(first["packs_deleted"], 0, "{first}");
    assert!(remote.join("gc/pending.toml").is_file());
    assert_eq!(count(), objects_before + 1, "nothing deleted in phase one");
    // Second run: deletes what is still unreferenced.
    let second = gc_json(&repo, &["--remote", "--keep-days", "0"]);
    assert!(second["trees_deleted"].as_u64().unwrap() >= 1, "{second}");
    assert!(count() < objects_before, "{second}");
    repo.dvx(&["fsck", "--remote"])
        .ok()
        .stdout_has("no problems");

    // The live version still pulls byte-identical into a fresh clone.
    let want = repo.snapshot("data");
    let clone = repo.clone_to("clone", &[]);
    repo.dvx_in(&clone, &["pull"]).ok();
    assert_eq!(util::snapshot(&clone.join("data")), want);

    // A deleted remote tree of a live version is reported with its dataset.
    let mut trees = Vec::new();
    util::find_files(&remote.join("trees"), &mut |_| true, &mut trees);
    for f in trees {
        std::fs::remove_file(f).unwrap();
    }
    repo.dvx(&["fsck", "--remote"])
        .code_is(1)
        .stdout_has("data@");
}

#[test]
fn a_damaged_index_does_not_make_data_unreadable() {
    let repo = TestRepo::new();
    let mut g = Gen::new(16);
    g.tree(&repo.path("data"), 2, 4, 100_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let want = repo.snapshot("data");
    let idx = std::fs::read_dir(repo.path(".dvx/store/index"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&idx).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0xff;
    std::fs::write(&idx, bytes).unwrap();
    // fsck names it...
    repo.dvx(&["fsck"]).code_is(1).stdout_has("index");
    // ...but the data is still readable through the packs' own trailers.
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.dvx(&["checkout"]).ok();
    assert_eq!(repo.snapshot("data"), want);
    // --repair reports what it found (exit 1) and rebuilds the index; then all is clean.
    repo.dvx(&["fsck", "--repair"])
        .code_is(1)
        .stdout_has("rebuilt the index");
    repo.dvx(&["fsck"]).ok();
}

/// Truncated packs, trees and indexes, locally and on a folder remote: always detected, the
/// affected files named, and no wrong byte reaches the worktree.
#[test]
fn truncations_are_detected_locally_and_on_the_remote() {
    let repo = TestRepo::new();
    let remote = repo.tmp().join("remote");
    let mut g = Gen::new(17);
    g.tree(&repo.path("data"), 2, 5, 150_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", remote.to_str().unwrap()])
        .ok();
    repo.commit("v1");
    repo.dvx(&["push"]).ok();
    let want = repo.snapshot("data");
    let truncate = |p: &std::path::Path| {
        let len = std::fs::metadata(p).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(len / 2).unwrap();
    };
    // Every file that exists after a failed restore must hold its recorded content.
    let no_wrong_bytes = |root: &std::path::Path| {
        let got = util::snapshot(root);
        for (k, v) in &got {
            if let Some(w) = want.get(k) {
                assert_eq!(v, w, "{k} holds wrong bytes");
            }
        }
    };

    // Local pack truncated: fsck names it, checkout refuses to write wrong data.
    let pack = repo.pack_files().into_iter().next().unwrap();
    let saved = std::fs::read(&pack).unwrap();
    truncate(&pack);
    repo.dvx(&["fsck"]).code_is(1).stdout_has("pack");
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.dvx(&["checkout"]).code_is(1).stderr_has("data/");
    no_wrong_bytes(&repo.path("data"));
    std::fs::write(&pack, &saved).unwrap();
    repo.dvx(&["checkout"]).ok();
    assert_eq!(repo.snapshot("data"), want);

    // Local tree truncated: named, nothing written.
    let mut trees = Vec::new();
    util::find_files(&repo.path(".dvx/store/trees"), &mut |_| true, &mut trees);
    let tree = trees[0].clone();
    let saved_tree = std::fs::read(&tree).unwrap();
    truncate(&tree);
    repo.dvx(&["fsck"]).code_is(1).stdout_has("tree");
    std::fs::write(&tree, &saved_tree).unwrap();

    // Remote pack, then remote index, then remote tree truncated: a fresh clone's pull fails
    // with the object named and writes nothing wrong. A damaged index only slows lookups (the
    // packs describe themselves): the pull warns, naming it, and completes; fsck names it.
    for dir in ["packs", "index", "trees"] {
        let mut objs = Vec::new();
        util::find_files(&remote.join(dir), &mut |_| true, &mut objs);
        let obj = objs[0].clone();
        let saved = std::fs::read(&obj).unwrap();
        truncate(&obj);
        let clone = repo.clone_to(&format!("clone-{dir}"), &[]);
        let r = repo.dvx_in(&clone, &["pull"]);
        if dir == "index" {
            r.ok();
            assert!(
                r.stderr_str().contains("warning: remote origin")
                    && r.stderr_str().contains("index/"),
                "{dir}: {r}"
            );
            assert_eq!(util::snapshot(&clone.join("data")), want, "{dir}");
            repo.dvx_in(&clone, &["fsck", "--remote"])
                .code_is(1)
                .stdout_has("index/");
        } else {
            r.code_is(1);
            assert!(r.stderr_str().contains("remote origin"), "{dir}: {r}");
        }
        no_wrong_bytes(&clone.join("data"));
        std::fs::write(&obj, &saved).unwrap();
        // Restored: the same clone now pulls everything.
        repo.dvx_in(&clone, &["pull"]).ok();
        assert_eq!(util::snapshot(&clone.join("data")), want, "{dir}");
    }
}
