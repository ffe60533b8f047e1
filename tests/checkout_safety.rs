//! `dvx checkout` never destroys work the store does not have: a modified or new file that
//! would be overwritten or removed blocks the checkout (exit 1, nothing changed, the files
//! named on stderr) unless `--force`. Content the store already has does not block, and files
//! ignored by `.dvxignore` are never touched.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use util::*;

/// Two committed versions. v1: a.csv, b.csv, sub/c.bin. v2: a.csv changed, d.csv added.
/// Returns (snapshot v1, snapshot v2, v1 content of a.csv); the worktree is at v2.
fn two_versions(repo: &TestRepo) -> (Snapshot, Snapshot, Vec<u8>) {
    let mut g = Gen::new(0xc0de);
    let a_v1 = g.text_file(&repo.path("data/a.csv"), 20_000);
    g.text_file(&repo.path("data/b.csv"), 5_000);
    g.file(&repo.path("data/sub/c.bin"), 100_000);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    repo.commit("v1");
    let s1 = repo.snapshot("data");
    g.overwrite(&repo.path("data/a.csv"), 500, 50);
    g.text_file(&repo.path("data/d.csv"), 3_000);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    let s2 = repo.snapshot("data");
    (s1, s2, a_v1)
}

/// Asserts that a refused checkout changed nothing: data, pointer file, index.
#[track_caller]
fn assert_untouched(repo: &TestRepo, before: &Snapshot, pointer_before: &[u8], r: &Run) {
    assert_snapshot_eq(
        &format!("data after refused checkout\n{r}"),
        before,
        &repo.snapshot("data"),
    );
    assert!(
        repo.read("data.dvx") == pointer_before,
        "refused checkout changed data.dvx\n{r}"
    );
    let staged = repo.staged();
    assert!(staged.is_empty(), "refused checkout staged {staged:?}\n{r}");
}

#[test]
fn modified_file_blocks_checkout_unless_forced() {
    let repo = TestRepo::new();
    let (s1, _s2, _) = two_versions(&repo);
    let mut g = Gen::new(1);
    g.overwrite(&repo.path("data/a.csv"), 10, 10); // unsaved work
    let before = repo.snapshot("data");
    let pointer = repo.read("data.dvx");

    let r = repo.dvx(&["checkout", "HEAD~1", "data"]);
    r.code_is(1).stderr_is_error().stderr_has("data/a.csv");
    r.stderr_has("dvx add").stderr_has("--force");
    assert!(
        !r.stderr_str().contains("data/b.csv"),
        "unchanged file listed as blocking\n{r}"
    );
    assert_untouched(&repo, &before, &pointer, &r);

    repo.dvx(&["checkout", "HEAD~1", "data", "--force"]).ok();
    assert_snapshot_eq("after checkout --force", &s1, &repo.snapshot("data"));
}

#[test]
fn untracked_file_blocks_checkout_unless_forced() {
    let repo = TestRepo::new();
    let (s1, _s2, _) = two_versions(&repo);
    let mut g = Gen::new(2);
    g.text_file(&repo.path("data/new.txt"), 100); // not in v1, content unknown to the store
    g.file(&repo.path("data/sub/new.bin"), 100);
    let before = repo.snapshot("data");
    let pointer = repo.read("data.dvx");

    let r = repo.dvx(&["checkout", "HEAD~1", "data"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("data/new.txt").stderr_has("data/sub/new.bin");
    assert_untouched(&repo, &before, &pointer, &r);

    // The pointer form of the path behaves the same.
    let r = repo.dvx(&["checkout", "HEAD~1", "data.dvx"]);
    r.code_is(1).stderr_has("data/new.txt");
    assert_untouched(&repo, &before, &pointer, &r);

    repo.dvx(&["checkout", "--force", "HEAD~1", "data"]).ok();
    assert_snapshot_eq("after checkout --force", &s1, &repo.snapshot("data"));
    assert!(!repo.path("data/new.txt").exists());
}

#[test]
fn content_already_in_store_does_not_block() {
    let repo = TestRepo::new();
    let (s1, s2, a_v1) = two_versions(&repo);
    // a.csv now holds its v1 content (copied back, as a user would) and d_copy.csv holds a
    // copy of the v2 d.csv: both differ from the target, but the store has their content.
    repo.write("data/a.csv", &a_v1);
    let d = repo.read("data/d.csv");
    repo.write("data/d_copy.csv", &d);

    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    assert_snapshot_eq("after checkout HEAD~1", &s1, &repo.snapshot("data"));
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_snapshot_eq("after checkout HEAD", &s2, &repo.snapshot("data"));
}

#[test]
fn checkout_without_rev_after_git_checkout_is_also_guarded() {
    let repo = TestRepo::new();
    let (s1, _s2, _) = two_versions(&repo);
    let mut g = Gen::new(3);
    g.overwrite(&repo.path("data/a.csv"), 10, 10);
    let before = repo.snapshot("data");
    repo.git(&["checkout", "-q", "HEAD~1"]).ok();
    let pointer = repo.read("data.dvx");

    let r = repo.dvx(&["checkout"]);
    r.code_is(1).stderr_is_error().stderr_has("data/a.csv");
    assert_untouched(&repo, &before, &pointer, &r);

    repo.dvx(&["checkout", "--force"]).ok();
    assert_snapshot_eq("after dvx checkout --force", &s1, &repo.snapshot("data"));
}

#[test]
fn dvxignored_files_are_never_touched() {
    let repo = TestRepo::new();
    let mut g = Gen::new(4);
    repo.write("data/.dvxignore", b"*.tmp\nscratch/\n");
    g.text_file(&repo.path("data/a.csv"), 2_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    g.text_file(&repo.path("data/a.csv"), 3_000);
    g.text_file(&repo.path("data/b.csv"), 3_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");

    let tmp = g.file(&repo.path("data/work.tmp"), 1_000);
    let scr = g.file(&repo.path("data/scratch/x.bin"), 1_000);
    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    assert!(
        repo.read("data/work.tmp") == tmp,
        "ignored file changed by checkout"
    );
    assert!(
        repo.read("data/scratch/x.bin") == scr,
        "ignored dir changed by checkout"
    );
    assert!(!repo.path("data/b.csv").exists());

    repo.dvx(&["checkout", "--force", "HEAD", "data"]).ok();
    assert!(
        repo.read("data/work.tmp") == tmp,
        "ignored file changed by checkout --force"
    );
    assert!(
        repo.read("data/scratch/x.bin") == scr,
        "ignored dir changed by checkout --force"
    );

    remove(&repo.path("data/a.csv"));
    repo.dvx(&["checkout", "--force"]).ok();
    assert!(repo.path("data/a.csv").is_file());
    assert!(
        repo.read("data/work.tmp") == tmp,
        "ignored file changed by checkout --force"
    );
}
