//! A damaged or missing store object is detected, reported (object and affected file) with
//! exit 1, and never turns into wrong bytes on disk or on stdout.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use util::*;

/// Files of a few hundred KB: random ones (chunks stored raw) and text (chunks compressed).
/// Returns `name -> content`.
fn make_dataset(repo: &TestRepo, seed: u64) -> BTreeMap<String, Vec<u8>> {
    let mut g = Gen::new(seed);
    let mut files = BTreeMap::new();
    for i in 0..6 {
        let n = 200_000 + g.range(0..200_000);
        let name = format!("r{i}.bin");
        files.insert(name.clone(), g.file(&repo.path(&format!("data/{name}")), n));
    }
    for i in 0..2 {
        let name = format!("t{i}.csv");
        files.insert(
            name.clone(),
            g.text_file(&repo.path(&format!("data/{name}")), 300_000),
        );
    }
    files
}

/// Flips (xor 0xff) the byte at `len / 2` of `path`: in the chunk data, away from the pack
/// header and trailer.
fn flip_middle_byte(path: &Path) {
    let mut perm = fs::metadata(path).unwrap().permissions();
    perm.set_mode(perm.mode() | 0o200);
    fs::set_permissions(path, perm).unwrap();
    let mut b = fs::read(path).unwrap();
    assert!(
        b.len() > 4_096,
        "pack {} is suspiciously small",
        path.display()
    );
    let at = b.len() / 2;
    b[at] ^= 0xff;
    fs::write(path, &b).unwrap();
}

/// Every file present below `data/` has one of the allowed contents (by name); nothing else
/// exists there.
#[track_caller]
fn assert_no_wrong_content(repo: &TestRepo, allowed: &[&BTreeMap<String, Vec<u8>>], ctx: &str) {
    let snap = repo.snapshot("data");
    for (name, e) in &snap {
        if *e == Entry::Dir {
            continue;
        }
        let Entry::File { digest, .. } = e else {
            panic!("{ctx}: unexpected non-file data/{name}: {e:?}");
        };
        let ok: Vec<String> = allowed
            .iter()
            .filter_map(|m| m.get(name))
            .map(|b| b3(b))
            .collect();
        assert!(!ok.is_empty(), "{ctx}: unexpected file data/{name}");
        assert!(ok.contains(digest), "{ctx}: data/{name} has wrong content");
    }
}

/// `dvx cat HEAD:data/<f>` for every file: exit 0 with the exact bytes, or exit 1 with at
/// most a correct prefix on stdout. Returns the files that failed.
fn cat_all(repo: &TestRepo, files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, want) in files {
        let r = repo.dvx(&["cat", &format!("HEAD:data/{name}")]);
        if r.status.success() {
            assert!(
                r.stdout == *want,
                "dvx cat data/{name}: exit 0 with wrong bytes\n{r}"
            );
        } else {
            r.code_is(1).stderr_is_error();
            assert!(
                want.starts_with(&r.stdout),
                "dvx cat data/{name} failed but wrote bytes that are not the file's\n{r}"
            );
            failed.push(format!("data/{name}"));
        }
    }
    failed
}

#[track_caller]
fn assert_names_object(r: &Run, packs: &[PathBuf]) {
    let err = r.stderr_str();
    let names_pack = packs.iter().any(|p| {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        err.contains(&stem) || (stem.len() >= 12 && err.contains(&stem[..12]))
    });
    assert!(
        names_pack || has_hex_run(&err, 8),
        "stderr names neither an object id nor a pack\n{r}"
    );
}

#[test]
fn flipped_byte_in_every_pack_is_detected() {
    let repo = TestRepo::new();
    let files = make_dataset(&repo, 0xbad);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let packs = repo.pack_files();
    assert!(
        !packs.is_empty(),
        "no *.pack below .dvx/store/packs after add"
    );
    for p in &packs {
        flip_middle_byte(p);
    }

    // cat: affected files fail with exit 1 and no wrong bytes.
    let affected = cat_all(&repo, &files);
    assert!(
        !affected.is_empty(),
        "no `dvx cat` noticed the corrupted packs"
    );

    // checkout from scratch: exit 1, names the object and an affected file, writes nothing wrong.
    remove(&repo.path("data"));
    let r = repo.dvx(&["checkout"]);
    r.code_is(1).stderr_is_error();
    assert_names_object(&r, &packs);
    assert!(
        affected.iter().any(|f| r.stderr_str().contains(f.as_str())),
        "stderr names none of the affected files {affected:?}\n{r}"
    );
    assert_no_wrong_content(&repo, &[&files], "after failed checkout");
    for f in &affected {
        assert!(
            !repo.path(f).exists(),
            "{f} written although its content is corrupt"
        );
    }
}

#[test]
fn missing_pack_is_reported() {
    let repo = TestRepo::new();
    let files = make_dataset(&repo, 0xdead);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let packs = repo.pack_files();
    assert!(
        !packs.is_empty(),
        "no *.pack below .dvx/store/packs after add"
    );
    for p in &packs {
        fs::remove_file(p).unwrap();
    }

    remove(&repo.path("data"));
    let r = repo.dvx(&["checkout"]);
    r.code_is(1).stderr_is_error();
    assert_names_object(&r, &packs);
    assert!(
        files
            .keys()
            .any(|f| r.stderr_str().contains(&format!("data/{f}"))),
        "stderr names no affected file\n{r}"
    );
    assert_no_wrong_content(&repo, &[&files], "after failed checkout");

    let r = repo.dvx(&["cat", "HEAD:data/r0.bin"]);
    r.code_is(1).stderr_is_error();
    assert!(
        files["r0.bin"].starts_with(&r.stdout),
        "wrong bytes on stdout\n{r}"
    );
}

#[test]
fn corrupt_pack_while_switching_versions_never_leaves_wrong_bytes() {
    let repo = TestRepo::new();
    let v1 = make_dataset(&repo, 0xfeed);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    repo.commit("v1");
    let packs_v1 = repo.pack_files();
    // v2 changes every file (start, middle and end), so every v1 file must be rewritten.
    let mut g = Gen::new(99);
    let mut v2 = BTreeMap::new();
    for (name, b) in &v1 {
        let p = repo.path(&format!("data/{name}"));
        g.overwrite(&p, 0, 64);
        g.insert(&p, b.len() / 2, 100);
        g.append(&p, 100);
        v2.insert(name.clone(), repo.read(&format!("data/{name}")));
    }
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    for p in &packs_v1 {
        flip_middle_byte(p);
    }

    let r = repo.dvx(&["checkout", "HEAD~1", "data"]);
    if r.status.success() {
        // Legitimate only if every byte written is right (e.g. chunks reused from disk).
        assert_no_wrong_content(&repo, &[&v1], "after successful checkout");
        assert_eq!(repo.snapshot("data").len(), v1.len(), "{r}");
    } else {
        r.code_is(1).stderr_is_error();
        assert_names_object(&r, &packs_v1);
        assert_no_wrong_content(&repo, &[&v1, &v2], "after failed checkout");
    }
}

#[test]
fn corrupt_tree_object_is_detected() {
    let repo = TestRepo::new();
    let files = make_dataset(&repo, 0xbeef);
    g_nested(&repo);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let mut trees = Vec::new();
    find_files(&repo.path(".dvx/store/trees"), &mut |_| true, &mut trees);
    assert!(
        !trees.is_empty(),
        "no tree objects below .dvx/store/trees (store layout changed?)"
    );
    for t in &trees {
        let mut perm = fs::metadata(t).unwrap().permissions();
        perm.set_mode(perm.mode() | 0o200);
        fs::set_permissions(t, perm).unwrap();
        let mut b = fs::read(t).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0xff;
        fs::write(t, &b).unwrap();
    }

    remove(&repo.path("data"));
    let r = repo.dvx(&["checkout"]);
    r.code_is(1).stderr_is_error();
    assert!(
        has_hex_run(&r.stderr_str(), 8),
        "stderr names no object id\n{r}"
    );
    let mut with_nested = files.clone();
    with_nested.insert("n/x.txt".into(), b"nested\n".to_vec());
    assert_no_wrong_content(&repo, &[&with_nested], "after failed checkout");

    let ls = repo.dvx(&["ls", "HEAD", "data"]);
    ls.code_is(1).stderr_is_error();
}

fn g_nested(repo: &TestRepo) {
    repo.write("data/n/x.txt", b"nested\n");
}
