//! `dvx install-hooks`: git hooks keep the data in step with git, in real repositories driven
//! by plain git commands (checkout, push, pull).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::fs;

use util::*;

#[test]
fn hooks_follow_git_checkout_push_and_pull() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x400c);
    g.tree(&repo.path("data"), 2, 4, 60_000);
    repo.dvx(&["add", "data"]).ok();
    let store_remote = repo.tmp().join("data-remote");
    repo.dvx(&["remote", "add", "origin", store_remote.to_str().unwrap()])
        .ok();
    repo.commit("v1");
    let v1 = repo.snapshot("data");
    g.file(&repo.path("data/new.bin"), 70_000);
    g.file(&repo.path("data/d0/f0.bin"), 30_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    let v2 = repo.snapshot("data");

    let r = repo.dvx(&["install-hooks"]);
    r.ok()
        .stdout_has("post-checkout")
        .stdout_has("post-merge")
        .stdout_has("pre-push");
    for h in ["post-checkout", "post-merge", "pre-push"] {
        let meta = fs::metadata(repo.path(&format!(".git/hooks/{h}"))).unwrap();
        assert!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0,
            "{h} is not executable"
        );
    }
    // Installing again is harmless.
    repo.dvx(&["install-hooks"]).ok();

    // post-checkout: a plain `git checkout` brings the data along.
    repo.git(&["checkout", "-q", "HEAD~1"]).ok();
    assert_snapshot_eq("after git checkout HEAD~1", &v1, &repo.snapshot("data"));
    repo.git(&["checkout", "-q", "main"]).ok();
    assert_snapshot_eq("after git checkout main", &v2, &repo.snapshot("data"));
    // A file checkout (`git checkout -- <path>`) does not run a dataset checkout.
    repo.git(&["checkout", "-q", "HEAD", "--", "data.dvx"]).ok();

    // pre-push: `git push` of the code sends the data of every commit pushed.
    let code = repo.tmp().join("code.git");
    repo.git_in(
        repo.tmp(),
        &["init", "-q", "--bare", "-b", "main", code.to_str().unwrap()],
    )
    .ok();
    repo.git(&["remote", "add", "origin", code.to_str().unwrap()])
        .ok();
    assert!(!store_remote.exists() || fs::read_dir(&store_remote).unwrap().count() == 0);
    repo.git(&["push", "-q", "origin", "main"]).ok();
    let clone = repo.tmp().join("clone");
    repo.git_in(
        repo.tmp(),
        &[
            "clone",
            "-q",
            code.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    )
    .ok();
    for (k, v) in [("user.name", "dvx tests"), ("user.email", "t@dvx.invalid")] {
        repo.git_in(&clone, &["config", k, v]).ok();
    }
    repo.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("v2 pulled in a clone", &v2, &snapshot(&clone.join("data")));
    repo.dvx_in(&clone, &["pull", "HEAD~1"]).ok();
    assert_snapshot_eq("v1 pulled in a clone", &v1, &snapshot(&clone.join("data")));
    repo.dvx_in(&clone, &["pull", "HEAD"]).ok();

    // post-merge: v3 made in the clone, then `git pull` in the repository brings its data.
    g.file(&clone.join("data/v3.bin"), 40_000);
    repo.dvx_in(&clone, &["add", "data"]).ok();
    repo.git_in(&clone, &["commit", "-q", "-m", "v3"]).ok();
    repo.dvx_in(&clone, &["push"]).ok();
    repo.git_in(&clone, &["push", "-q", "origin", "main"]).ok();
    let v3 = snapshot(&clone.join("data"));
    // The data of the incoming commits is fetched first (`dvx fetch <rev>`); the hook then
    // checks it out when `git pull` moves the branch.
    repo.git(&["fetch", "-q", "origin"]).ok();
    repo.dvx(&["fetch", "origin/main"]).ok();
    repo.git(&["pull", "-q", "--ff-only", "origin", "main"])
        .ok();
    assert_snapshot_eq("after git pull", &v3, &repo.snapshot("data"));
}

#[test]
fn post_merge_hook_checks_out_data_already_in_the_store() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x400d);
    g.tree(&repo.path("data"), 1, 3, 40_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let v1 = repo.snapshot("data");
    repo.git(&["checkout", "-q", "-b", "side"]).ok();
    g.file(&repo.path("data/side.bin"), 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("side");
    let side = repo.snapshot("data");
    repo.dvx(&["install-hooks"]).ok();
    repo.git(&["checkout", "-q", "main"]).ok();
    assert_snapshot_eq("main after the switch", &v1, &repo.snapshot("data"));
    repo.git(&["merge", "-q", "--ff-only", "side"]).ok();
    assert_snapshot_eq("after git merge", &side, &repo.snapshot("data"));
}

#[test]
fn a_foreign_hook_is_kept_and_uninstall_removes_only_dvx_hooks() {
    let repo = TestRepo::new();
    // core.hooksPath is honoured.
    repo.git(&["config", "core.hooksPath", ".githooks"]).ok();
    let hooks = repo.path(".githooks");
    fs::create_dir_all(&hooks).unwrap();
    let mine = b"#!/bin/sh\necho my own post-merge\n";
    write_file(&hooks.join("post-merge"), mine);
    let r = repo.dvx(&["install-hooks"]);
    r.code_is(1)
        .stderr_has("post-merge")
        .stderr_has("post-merge.dvx")
        .stderr_has("\"$@\"");
    assert_eq!(fs::read(hooks.join("post-merge")).unwrap(), mine);
    assert!(fs::read_to_string(hooks.join("post-merge.dvx"))
        .unwrap()
        .contains("dvx hook"));
    assert!(fs::read_to_string(hooks.join("post-checkout"))
        .unwrap()
        .contains("dvx hook"));
    assert!(!repo.path(".git/hooks/post-checkout").exists());
    repo.dvx(&["install-hooks", "--uninstall"]).ok();
    for h in ["post-checkout", "pre-push", "post-merge.dvx"] {
        assert!(!hooks.join(h).exists(), "{h} was not removed");
    }
    assert_eq!(fs::read(hooks.join("post-merge")).unwrap(), mine);
}
