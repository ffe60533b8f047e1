//! Bad input is refused with the contract's exit codes (1: operation/data failure, 2: usage
//! error) and an `error: ...` message that names the culprit; nothing is changed.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::fs;

use util::*;

/// A committed dataset `data` (a.csv, b.bin).
fn committed(repo: &TestRepo) -> Snapshot {
    let mut g = Gen::new(0xbad1);
    g.text_file(&repo.path("data/a.csv"), 3_000);
    g.file(&repo.path("data/b.bin"), 3_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    repo.snapshot("data")
}

#[test]
fn malformed_pointer_is_reported_with_its_name() {
    let repo = TestRepo::new();
    let snap = committed(&repo);
    for garbage in [
        &b"this is = not [valid toml\n\x00\xff"[..],
        b"format = 1\npath = \"data\"\nkind = \"dir\"\n",          // no id
        b"format = 1\npath = \"data\"\nkind = \"dir\"\nid = \"xyz\"\nfiles = 2\nbytes = 6000\n", // bad id
        b"format = 999\npath = \"data\"\nkind = \"dir\"\nid = \"0000000000000000000000000000000000000000000000000000000000000000\"\nfiles = 2\nbytes = 6000\n",
    ] {
        repo.write("data.dvx", garbage);
        let what = String::from_utf8_lossy(garbage).into_owned();
        for args in [&["status"][..], &["status", "--json"], &["checkout"], &["ls", "data"], &["id", "data"]] {
            let r = repo.dvx(args);
            r.code_in(&[1, 2]).stderr_is_error().stderr_has("data.dvx");
            assert!(
                r.stdout.is_empty() || args[0] == "status",
                "output on stdout for a malformed pointer ({what:?})\n{r}"
            );
        }
        assert_snapshot_eq(&format!("data after malformed pointer {what:?}"), &snap, &repo.snapshot("data"));
    }
}

#[test]
fn pointer_to_a_tree_the_store_lacks() {
    let repo = TestRepo::new();
    let snap = committed(&repo);
    let text = repo.read_str("data.dvx");
    let id = repo.pointer("data.dvx").id().to_string();
    for fake in [b3(b"no such tree"), "0".repeat(64)] {
        repo.write("data.dvx", text.replace(&id, &fake).as_bytes());
        assert_eq!(repo.pointer("data.dvx").id(), fake);
        let r = repo.dvx(&["checkout"]);
        r.code_is(1).stderr_is_error();
        assert!(
            r.stderr_str().contains(&fake[..12]),
            "stderr does not mention the missing id {fake}\n{r}"
        );
        assert_snapshot_eq("data after failed checkout", &snap, &repo.snapshot("data"));

        remove(&repo.path("data"));
        let r = repo.dvx(&["checkout", "--force"]);
        r.code_is(1).stderr_is_error();
        assert!(r.stderr_str().contains(&fake[..12]), "{r}");
        assert!(
            repo.snapshot("data").values().all(|e| *e == Entry::Dir),
            "files appeared although the tree is missing"
        );
        repo.write("data.dvx", text.as_bytes());
        repo.dvx(&["checkout"]).ok();
        assert_snapshot_eq("data restored", &snap, &repo.snapshot("data"));
    }
}

#[test]
fn unknown_revision_is_a_usage_error() {
    let repo = TestRepo::new();
    let snap = committed(&repo);
    let pointer = repo.read("data.dvx");
    let r = repo.dvx(&["checkout", "nosuchrev", "data"]);
    r.code_is(2).stderr_is_error().stderr_has("nosuchrev");
    assert_snapshot_eq("data after unknown rev", &snap, &repo.snapshot("data"));
    assert!(repo.read("data.dvx") == pointer, "pointer changed");

    repo.dvx(&["ls", "nosuchrev", "data"])
        .code_is(2)
        .stderr_has("nosuchrev");
    repo.dvx(&["id", "nosuchrev", "data"])
        .code_is(2)
        .stderr_has("nosuchrev");
    repo.dvx(&["cat", "nosuchrev:data/a.csv"])
        .code_is(2)
        .stderr_has("nosuchrev");
    repo.dvx(&["diff", "nosuchrev", "HEAD", "data"])
        .code_is(2)
        .stderr_has("nosuchrev");
}

#[test]
fn path_that_is_not_a_dataset_is_a_usage_error() {
    let repo = TestRepo::new();
    committed(&repo);
    fs::create_dir_all(repo.path("plain")).unwrap();
    repo.dvx(&["checkout", "HEAD", "plain"])
        .code_is(2)
        .stderr_is_error()
        .stderr_has("plain");
    repo.dvx(&["checkout", "HEAD", "nothere"])
        .code_is(2)
        .stderr_has("nothere");
    repo.dvx(&["status", "nothere"])
        .code_is(2)
        .stderr_has("nothere");
    repo.dvx(&["id", "nothere"])
        .code_is(2)
        .stderr_has("nothere");
    repo.dvx(&["cat", "HEAD:data/no-such-file"])
        .code_is(2)
        .stderr_is_error();
    // add of a path that does not exist
    repo.dvx(&["add", "nothere"])
        .code_is(2)
        .stderr_is_error()
        .stderr_has("nothere");
    assert!(!repo.path("nothere.dvx").exists());
}

#[test]
fn add_outside_the_repository_is_a_usage_error() {
    let repo = TestRepo::new();
    write_file(&repo.outside().join("f.txt"), b"outside");
    let r = repo.dvx(&["add", "../outside"]);
    r.code_is(2).stderr_is_error();
    assert!(
        !repo.outside().with_extension("dvx").exists(),
        "pointer written outside the repo"
    );
    let abs = repo.outside().join("f.txt");
    repo.dvx(&["add", abs.to_str().unwrap()])
        .code_is(2)
        .stderr_is_error();
    assert!(!repo.outside().join("f.txt.dvx").exists());
    assert!(
        repo.staged().iter().all(|s| s.starts_with(".dvx/")),
        "{:?}",
        repo.staged()
    );
    // The repository root is not a path inside the worktree either (its pointer would land
    // outside the repository).
    repo.dvx(&["add", "."]).code_is(2).stderr_is_error();
    assert!(!repo.tmp().join("repo.dvx").exists());
}

#[test]
fn outside_any_git_repository_is_a_usage_error() {
    let repo = TestRepo::new();
    let outside = repo.outside();
    write_file(&outside.join("stuff/f.txt"), b"outside");
    let r = repo.dvx_in(&outside, &["add", "stuff"]);
    r.code_is(2).stderr_is_error();
    assert!(!outside.join("stuff.dvx").exists());
    repo.dvx_in(&outside, &["init"])
        .code_is(2)
        .stderr_is_error();
    assert!(
        !outside.join(".dvx").exists(),
        "init outside a repo created .dvx"
    );
    repo.dvx_in(&outside, &["status"])
        .code_is(2)
        .stderr_is_error();
    repo.dvx_in(&outside, &["checkout"])
        .code_is(2)
        .stderr_is_error();
}

#[test]
fn add_before_init_hints_at_dvx_init() {
    let repo = TestRepo::bare_git();
    repo.write("data/a.txt", b"hello");
    let r = repo.dvx(&["add", "data"]);
    r.code_is(2).stderr_is_error().stderr_has("dvx init");
    assert!(!repo.path("data.dvx").exists());
    assert!(!repo.path(".dvx").exists(), "add created .dvx without init");
    assert!(repo.staged().is_empty(), "{:?}", repo.staged());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let repo = TestRepo::new();
    repo.dvx(&["frobnicate"]).code_is(2);
    repo.dvx(&["add"]).code_is(2);
    repo.dvx(&["status", "--no-such-flag"]).code_is(2);
    repo.dvx(&["cat", "no-colon-here"]).code_is(2);
    repo.write("data/a.txt", b"x");
    repo.dvx(&["add", "data", "--meta", "novalue"]).code_is(2);
    assert!(!repo.path("data.dvx").exists());
}
