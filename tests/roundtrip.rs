//! Round trips: a dataset goes through several committed versions, and every older version
//! can be restored byte for byte (content, executable bit, symlinks, empty directories) with
//! `dvx checkout <rev> data` and with `git checkout <commit>` + `dvx checkout`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::fs;

use util::*;

/// `dvx status` reports `ds` as clean, in JSON and in text.
#[track_caller]
fn assert_clean(repo: &TestRepo, ds: &str, ctx: &str) {
    let r = repo.dvx(&["status", "--json", ds]);
    r.ok();
    let doc = r.json();
    let d = dataset(&doc, ds);
    assert_eq!(d["state"], "clean", "{ctx}: `dvx status` not clean\n{r}");
    for k in ["added", "modified", "deleted"] {
        assert!(
            d[k].as_array().is_none_or(|a| a.is_empty()),
            "{ctx}: `{k}` not empty\n{r}"
        );
    }
    let t = repo.dvx(&["status", ds]);
    t.ok();
    assert!(
        t.stdout_str()
            .lines()
            .any(|l| l.trim() == format!("{ds}: clean")),
        "{ctx}: expected a `{ds}: clean` line\n{t}"
    );
}

/// `dvx add data -m <v>`, checks the result, commits; returns (commit id, snapshot).
fn add_commit(repo: &TestRepo, v: &str) -> (String, Snapshot) {
    repo.dvx(&["add", "data", "-m", v]).ok();
    assert_clean(repo, "data", &format!("after adding {v}"));
    assert_eq!(repo.pointer("data.dvx").get("meta.message"), v);
    let staged = repo.staged();
    assert!(
        staged.iter().any(|s| s == "data.dvx"),
        "data.dvx not staged after adding {v}: {staged:?}"
    );
    let c = repo.commit(v);
    (c, repo.snapshot("data"))
}

#[test]
fn roundtrip_five_versions_with_every_kind_of_change() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x5eed_0001);
    let d = |p: &str| repo.path(&format!("data/{p}"));

    // v1: text and binary files, a 3 MiB file, empty file, empty directory, nested dirs,
    // executable script, relative symlinks (one to a file in a parent dir), a dangling
    // symlink, non-ASCII names and a seeded tree.
    g.text_file(&d("a.csv"), 30_000);
    g.text_file(&d("b.csv"), 10_000);
    g.file(&d("big.bin"), 3 << 20);
    write_file(&d("empty.txt"), b"");
    fs::create_dir_all(d("emptydir")).unwrap();
    g.file(&d("nested/l1/l2/deep.bin"), 100_000);
    g.text_file(&d("nested/l1/x.txt"), 2_000);
    write_file(&d("script.sh"), b"#!/bin/sh\necho hi\n");
    set_exec(&d("script.sh"), true);
    symlink("a.csv", &d("link_to_a"));
    symlink("../../b.csv", &d("nested/l1/up_link"));
    symlink("does/not/exist", &d("dangling"));
    g.text_file(&d("données/éà.csv"), 5_000);
    g.file(&d("日本.bin"), 40_000);
    g.file(&d("with space.txt"), 100);
    g.tree(&d("gen"), 3, 5, 64_000);
    let (c1, s1) = add_commit(&repo, "v1");

    // v2: in-place edit, insertion in the middle of the big file, append, mode changes.
    g.overwrite(&d("a.csv"), 1_000, 100);
    g.insert(&d("big.bin"), (3 << 20) / 2, 1_000);
    g.append(&d("b.csv"), 5_000);
    set_exec(&d("nested/l1/x.txt"), true);
    set_exec(&d("script.sh"), false);
    g.file(&d("gen/d1/f0.dat"), 7_000);
    let (c2, s2) = add_commit(&repo, "v2");

    // v3: deletions, additions, renames, retargeted symlink, new empty dir, removed empty dir.
    fs::remove_file(d("b.csv")).unwrap(); // nested/l1/up_link is now dangling
    g.text_file(&d("c.csv"), 20_000);
    fs::create_dir_all(d("new_empty")).unwrap();
    fs::create_dir_all(d("nested/moved")).unwrap();
    fs::rename(d("nested/l1/l2/deep.bin"), d("nested/moved/deep.bin")).unwrap(); // l2 stays, empty
    fs::remove_file(d("link_to_a")).unwrap();
    symlink("日本.bin", &d("link_to_a"));
    fs::remove_dir(d("emptydir")).unwrap();
    symlink("c.csv", &d("swap"));
    fs::rename(d("données/éà.csv"), d("données/àé.csv")).unwrap();
    let (c3, s3) = add_commit(&repo, "v3");

    // v4: kind changes (file -> symlink, dir -> file, symlink -> dir), empty <-> non-empty,
    // many small files.
    fs::remove_file(d("c.csv")).unwrap();
    symlink("a.csv", &d("c.csv"));
    fs::remove_dir_all(d("gen/d0")).unwrap();
    g.file(&d("gen/d0"), 1_234);
    fs::remove_file(d("swap")).unwrap();
    g.text_file(&d("swap/inner.txt"), 300);
    g.text_file(&d("empty.txt"), 10);
    write_file(&d("a.csv"), b"");
    for i in 0..40 {
        let n = g.range(0..300);
        g.file(&d(&format!("gen/many/{i:03}.bin")), n);
    }
    let (c4, s4) = add_commit(&repo, "v4");

    // v5: truncate the big file, delete whole subtrees, add a deep new path.
    let big = fs::read(d("big.bin")).unwrap();
    write_file(&d("big.bin"), &big[..big.len() / 2]);
    fs::remove_dir_all(d("gen")).unwrap();
    fs::remove_dir_all(d("données")).unwrap();
    g.file(&d("deep/new/path/z.bin"), 50_000);
    g.file(&d("日本/中.bin"), 1_000);
    let (c5, s5) = add_commit(&repo, "v5");

    let snaps = [&s1, &s2, &s3, &s4, &s5];
    let commits = [&c1, &c2, &c3, &c4, &c5];
    for (i, s) in snaps.iter().enumerate() {
        for (j, t) in snaps.iter().enumerate() {
            if i < j {
                assert_ne!(s, t, "test setup: v{} and v{} are equal", i + 1, j + 1);
            }
        }
    }

    // `dvx checkout HEAD~k data` for every older version, in an order that exercises big
    // jumps in both directions.
    for k in [4usize, 1, 3, 2] {
        let rev = format!("HEAD~{k}");
        let want = snaps[4 - k];
        repo.dvx(&["checkout", &rev, "data"]).ok();
        assert_snapshot_eq(
            &format!("after `dvx checkout {rev} data`"),
            want,
            &repo.snapshot("data"),
        );
        assert_clean(&repo, "data", &format!("after `dvx checkout {rev} data`"));
        // The pointer from rev replaced the worktree's one and is staged.
        let at_rev = repo.git_out(&["show", &format!("{rev}:data.dvx")]);
        assert_eq!(
            repo.read_str("data.dvx").trim_end(),
            at_rev,
            "worktree data.dvx after checkout {rev}"
        );
        let staged = repo.git_out(&["show", ":data.dvx"]);
        assert_eq!(staged, at_rev, "staged data.dvx after checkout {rev}");
    }
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_snapshot_eq(
        "after `dvx checkout HEAD data`",
        &s5,
        &repo.snapshot("data"),
    );
    assert_clean(&repo, "data", "after `dvx checkout HEAD data`");
    let porcelain = repo.git_out(&["status", "--porcelain"]);
    assert_eq!(
        porcelain, "",
        "git sees changes after checking out HEAD again"
    );

    // `git checkout <commit>` then plain `dvx checkout`.
    for i in [1usize, 0, 3, 2] {
        repo.git(&["checkout", "-q", commits[i]]).ok();
        repo.dvx(&["checkout"]).ok();
        let what = format!("after `git checkout <v{}>` + `dvx checkout`", i + 1);
        assert_snapshot_eq(&what, snaps[i], &repo.snapshot("data"));
        assert_clean(&repo, "data", &what);
    }
    repo.git(&["checkout", "-q", "main"]).ok();
    repo.dvx(&["checkout"]).ok();
    assert_snapshot_eq("back on main", &s5, &repo.snapshot("data"));
    assert_clean(&repo, "data", "back on main");

    // From scratch.
    remove(&repo.path("data"));
    repo.dvx(&["checkout"]).ok();
    assert_snapshot_eq(
        "after deleting data/ and `dvx checkout`",
        &s5,
        &repo.snapshot("data"),
    );
    assert_clean(&repo, "data", "after checkout from scratch");
}

#[test]
fn single_file_dataset() {
    let repo = TestRepo::new();
    let mut g = Gen::new(7);
    let v1 = g.file(&repo.path("models/w.bin"), 300_000);
    set_exec(&repo.path("models/w.bin"), false);
    repo.dvx(&["add", "models/w.bin", "-m", "weights v1"]).ok();

    assert!(
        repo.path("models/w.bin.dvx").is_file(),
        "models/w.bin.dvx not written"
    );
    assert!(!repo.path("models.dvx").exists());
    let p = repo.pointer("models/w.bin.dvx");
    assert_eq!(p.get("kind"), "file");
    assert_eq!(p.get("path"), "models/w.bin");
    assert_eq!(p.num("bytes"), 300_000);
    assert!(is_hex64(p.id()), "bad id {:?}", p.id());
    let gi = repo.read_str("models/.gitignore");
    assert!(
        gi.lines().any(|l| l.trim() == "/w.bin"),
        "models/.gitignore lacks /w.bin:\n{gi}"
    );
    let staged = repo.staged();
    for f in ["models/w.bin.dvx", "models/.gitignore"] {
        assert!(staged.iter().any(|s| s == f), "{f} not staged: {staged:?}");
    }
    assert!(
        !staged.iter().any(|s| s == "models/w.bin"),
        "the data itself was staged: {staged:?}"
    );
    repo.commit("w v1");
    assert_clean(&repo, "models/w.bin", "after add");

    g.insert(&repo.path("models/w.bin"), 150_000, 10);
    let v2 = repo.read("models/w.bin");
    repo.dvx(&["add", "models/w.bin", "-m", "weights v2"]).ok();
    repo.commit("w v2");
    assert_ne!(repo.pointer("models/w.bin.dvx").id(), p.id());

    repo.dvx(&["checkout", "HEAD~1", "models/w.bin"]).ok();
    assert!(
        repo.read("models/w.bin") == v1,
        "checkout HEAD~1 models/w.bin: wrong content"
    );
    assert_clean(&repo, "models/w.bin", "after checkout HEAD~1");

    // The pointer may be named instead of the data path.
    repo.dvx(&["checkout", "HEAD", "models/w.bin.dvx"]).ok();
    assert!(
        repo.read("models/w.bin") == v2,
        "checkout HEAD models/w.bin.dvx: wrong content"
    );

    remove(&repo.path("models/w.bin"));
    repo.dvx(&["checkout"]).ok();
    assert!(
        repo.read("models/w.bin") == v2,
        "checkout from scratch: wrong content"
    );
    assert_clean(&repo, "models/w.bin", "after checkout from scratch");
}

/// Inserting a few bytes in the middle of a 20 MiB file: both versions round trip, and (the
/// point of content-defined chunking) the second `dvx add` stores only the chunks around the
/// insertion, not a second copy of the file.
#[test]
fn insertion_in_the_middle_of_a_large_file() {
    let repo = TestRepo::new();
    let mut g = Gen::new(20);
    let size = 20 << 20;
    let big = repo.path("data/big.bin");
    g.file(&big, size);
    g.text_file(&repo.path("data/small.csv"), 1_000);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    repo.commit("v1");
    let s1 = repo.snapshot("data");
    let store1 = repo.store_size();
    assert!(store1 > 0, "store is empty after add");

    g.insert(&big, size / 2 + 12_345, 4_096);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    let s2 = repo.snapshot("data");
    let growth = repo.store_size().saturating_sub(store1);
    assert!(
        growth < 2 << 20,
        "inserting 4 KiB in the middle of a 20 MiB file grew the store by {growth} bytes"
    );

    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    assert_snapshot_eq("v1 of the 20 MiB file", &s1, &repo.snapshot("data"));
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_snapshot_eq("v2 of the 20 MiB file", &s2, &repo.snapshot("data"));
}

/// With a compressed local store (`zstd_level` > 0, or chunks fetched from a remote as they
/// were sent), checkout copies the chunks a big file shares with its replaced version from
/// the file on disk instead of decompressing them, and releases that file's page cache behind
/// the copy: both versions still come back byte for byte.
#[test]
fn compressed_store_checkout_reuses_the_file_on_disk() {
    let repo = TestRepo::new();
    let cfg = repo.path(".dvx/store/config.toml");
    let text = fs::read_to_string(&cfg).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("zstd_level"))
        .expect("the store config has a zstd_level line");
    fs::write(&cfg, text.replace(line, "zstd_level = 3")).unwrap();

    let mut g = Gen::new(0x2573);
    let size = 24 << 20;
    let table = repo.path("data/table.csv");
    g.text_file(&table, size);
    g.file(&repo.path("data/noise.bin"), 100_000);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    repo.commit("v1");
    let s1 = repo.snapshot("data");
    let store1 = repo.store_size();
    assert!(
        store1 < (size as u64) * 3 / 4,
        "a {size}-byte text file took {store1} bytes in a store with zstd_level = 3"
    );

    // Rows edited near the start, bytes inserted in the middle, the end cut off.
    g.overwrite(&table, 1_000, 200);
    g.insert(&table, size / 2, 10_000);
    let f = fs::OpenOptions::new().write(true).open(&table).unwrap();
    f.set_len((size - 3_000_000) as u64).unwrap();
    drop(f);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    let s2 = repo.snapshot("data");

    for round in 0..2 {
        repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
        assert_snapshot_eq(&format!("v1, round {round}"), &s1, &repo.snapshot("data"));
        assert_clean(&repo, "data", "after checkout of v1");
        repo.dvx(&["checkout", "HEAD", "data"]).ok();
        assert_snapshot_eq(&format!("v2, round {round}"), &s2, &repo.snapshot("data"));
        assert_clean(&repo, "data", "after checkout of v2");
    }
}

/// Every kind change between versions, both ways: file <-> dir, file <-> symlink,
/// symlink <-> dir (a checkout must remove the old entry before creating the new one).
#[test]
fn kind_changes_in_both_directions() {
    let repo = TestRepo::new();
    let mut g = Gen::new(8);
    let d = |p: &str| repo.path(&format!("data/{p}"));
    g.file(&d("f2d"), 1_000);
    g.file(&d("d2f/x.txt"), 1_000);
    g.file(&d("d2f/sub/y.txt"), 1_000);
    g.file(&d("f2l"), 1_000);
    symlink("f2d", &d("l2f"));
    symlink("f2l", &d("l2d"));
    g.file(&d("d2l/z.txt"), 1_000);
    let (_, s1) = add_commit(&repo, "v1");

    for p in ["f2d", "f2l", "l2f", "l2d"] {
        fs::remove_file(d(p)).unwrap();
    }
    for p in ["d2f", "d2l"] {
        fs::remove_dir_all(d(p)).unwrap();
    }
    g.file(&d("f2d/inner.txt"), 1_000);
    g.file(&d("f2d/deeper/more.txt"), 1_000);
    g.file(&d("d2f"), 1_000);
    symlink("d2f", &d("f2l"));
    g.file(&d("l2f"), 1_000);
    g.file(&d("l2d/w.txt"), 1_000);
    symlink("nowhere", &d("d2l"));
    let (_, s2) = add_commit(&repo, "v2");

    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    assert_snapshot_eq("v2 -> v1", &s1, &repo.snapshot("data"));
    assert_clean(&repo, "data", "v2 -> v1");
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_snapshot_eq("v1 -> v2", &s2, &repo.snapshot("data"));
    assert_clean(&repo, "data", "v1 -> v2");
}

/// "Only files that differ are written": switching versions leaves unchanged files alone
/// (same inode, same mtime).
#[test]
fn checkout_only_writes_files_that_differ() {
    use std::os::unix::fs::MetadataExt;
    let repo = TestRepo::new();
    let mut g = Gen::new(9);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    g.text_file(&repo.path("data/changing.csv"), 5_000);
    add_commit(&repo, "v1");
    g.text_file(&repo.path("data/changing.csv"), 6_000);
    add_commit(&repo, "v2");

    let stamp = |rel: &str| {
        let m = fs::symlink_metadata(repo.path(&format!("data/{rel}"))).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let before = repo.snapshot("data");
    let stamps: Vec<_> = before
        .iter()
        .filter(|(k, e)| matches!(e, Entry::File { .. }) && k.as_str() != "changing.csv")
        .map(|(k, _)| (k.clone(), stamp(k)))
        .collect();
    assert!(stamps.len() >= 4, "setup");
    std::thread::sleep(std::time::Duration::from_millis(50));
    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_snapshot_eq(
        "after checkout HEAD~1 + HEAD",
        &before,
        &repo.snapshot("data"),
    );
    for (k, s) in &stamps {
        assert_eq!(
            &stamp(k),
            s,
            "unchanged file data/{k} was rewritten (inode/mtime changed)"
        );
    }
}

/// A symlink to a directory inside the dataset is stored as a link, not followed.
#[test]
fn symlink_to_directory_is_kept_as_a_link() {
    let repo = TestRepo::new();
    let mut g = Gen::new(3);
    g.text_file(&repo.path("data/real/f.txt"), 1_000);
    symlink("real", &repo.path("data/alias"));
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let s1 = repo.snapshot("data");

    let ls = repo.dvx(&["ls", "--json", "data"]);
    ls.ok();
    let doc = ls.json();
    let entries = doc["entries"].as_array().expect("entries array").clone();
    let alias = entries
        .iter()
        .find(|e| e["path"] == "data/alias")
        .unwrap_or_else(|| panic!("no data/alias entry\n{ls}"));
    assert_eq!(alias["kind"], "symlink", "{ls}");
    assert_eq!(alias["target"], "real", "{ls}");
    assert!(
        !entries.iter().any(|e| e["path"] == "data/alias/f.txt"),
        "the symlink to a directory was followed\n{ls}"
    );

    remove(&repo.path("data"));
    repo.dvx(&["checkout"]).ok();
    assert_snapshot_eq("after checkout", &s1, &repo.snapshot("data"));
}

/// A file larger than 4 GiB (offsets and sizes must not be truncated to 32 bits).
/// Ignored by default: creating the sparse file is cheap, but dvx has to read, hash and
/// write 4 GiB, which takes minutes in a debug build. Run with `cargo test -- --ignored`.
#[test]
#[ignore = "reads and writes > 4 GiB; slow"]
fn file_larger_than_4_gib() {
    use std::io::{Seek, SeekFrom, Write};
    let repo = TestRepo::new();
    let path = repo.path("huge/h.bin");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let len: u64 = (4 << 30) + 65_537;
    let mut g = Gen::new(4);
    {
        let mut f = fs::File::create(&path).unwrap();
        f.set_len(len).unwrap();
        for at in [0, (1 << 32) - 10, (1 << 32) + 100, len - 1_000] {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&g.bytes(500)).unwrap();
        }
    }
    let want = b3_file(&path);
    repo.dvx(&["add", "huge/h.bin"]).ok();
    assert_eq!(repo.pointer("huge/h.bin.dvx").num("bytes"), len);
    repo.commit("huge");
    let ls = repo.dvx(&["ls", "--json", "huge/h.bin"]);
    ls.ok();
    let doc = ls.json();
    let e = doc["entries"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["kind"] == "file"))
        .unwrap_or_else(|| panic!("no file entry\n{ls}"))
        .clone();
    assert_eq!(e["size"].as_u64(), Some(len), "{ls}");
    assert_eq!(e["digest"].as_str(), Some(want.as_str()), "{ls}");

    fs::remove_file(&path).unwrap();
    repo.dvx(&["checkout"]).ok();
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
    assert_eq!(b3_file(&path), want, "restored > 4 GiB file differs");
}
