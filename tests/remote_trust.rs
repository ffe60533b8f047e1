//! What dvx trusts about a remote and about its own store, end to end with folder remotes:
//! push checks that the packs and trees it relies on exist and repairs what is missing
//! (`status --remote` tells an incomplete remote from a complete one); a remote folder that is
//! not there is blamed on the mount, not on the objects; nonsense remote URLs are refused; and
//! objects that are FIFOs, devices or huge files fail quickly with bounded memory instead of
//! hanging or filling the memory.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod remote_common;
mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use remote_common::*;
use util::*;

fn folder_ctx() -> Ctx {
    let repo = TestRepo::new();
    let remote = Remote::folder(&repo, "remote", true);
    Ctx { repo, remote }
}

/// A repository with `data/` committed and pushed to a folder remote `origin`.
fn pushed_ctx(seed: u64) -> Ctx {
    let ctx = folder_ctx();
    let mut g = Gen::new(seed);
    write_v1(&ctx.repo, &mut g);
    ctx.repo.dvx(&["add", "data"]).ok();
    ctx.add_origin();
    ctx.repo.commit("v1");
    ctx.push(&[]);
    ctx
}

fn remote_dir(ctx: &Ctx) -> PathBuf {
    ctx.remote.folder.clone().unwrap()
}

/// Path of a remote or store object by its key (`packs/ab/<id>.pack`).
fn object_paths(root: &Path, kind: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    find_files(&root.join(kind), &mut |_| true, &mut out);
    out.retain(|p| {
        !p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".dvx-tmp-")
    });
    out.sort();
    out
}

/// The `remote.state` of `ds` in `dvx status --json --remote` run in `dir`.
fn remote_state(ctx: &Ctx, dir: &Path, ds: &str) -> (String, bool, String) {
    let r = ctx.dvx_in(dir, &["status", "--json", "--remote"]);
    r.ok();
    let doc = r.json();
    let d = dataset(&doc, ds);
    let text = ctx.dvx_in(dir, &["status", "--remote"]);
    text.ok();
    (
        d["remote"]["state"].as_str().unwrap_or("").to_string(),
        d["remote"]["pushed"].as_bool().unwrap(),
        text.stdout_str(),
    )
}

/// Runs `cmd` with a deadline; kills it and panics if it is still running then (a hang).
#[track_caller]
fn run_with_timeout(mut cmd: Command, what: &str, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what}: still running after {limit:?} (a hang); stderr so far:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `cmd` run through `sh` with its address space limited to 4 GiB: a command that tries to
/// read a multi-GiB object into memory fails its allocation instead of eating the machine.
fn memory_limited(cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        sh.current_dir(d);
    }
    sh.stdin(Stdio::null());
    sh
}

fn mkfifo(path: &Path) {
    if path.exists() {
        fs::remove_file(path).unwrap();
    }
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Replaces `path` by a sparse file of `len` bytes (no disk space used).
fn sparse(path: &Path, len: u64) {
    fs::remove_file(path).unwrap();
    let f = fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
}

fn tree_object(root: &Path, id: &str) -> PathBuf {
    root.join("trees").join(&id[..2]).join(id)
}

// ---------------------------------------------------------------------------------------
// Item 7: push must never leave a remote incomplete, and must repair one.

#[test]
fn push_repairs_a_remote_that_lost_a_pack() {
    let ctx = pushed_ctx(0x701);
    let repo = &ctx.repo;
    let want = repo.snapshot("data");
    let remote = remote_dir(&ctx);
    let packs = object_paths(&remote, "packs");
    assert!(!packs.is_empty());
    // A pack deleted by hand; its index stays and still names it.
    fs::remove_file(&packs[0]).unwrap();
    assert!(!object_paths(&remote, "index").is_empty());

    // status --remote must not say "pushed" over a remote that cannot serve the data.
    let (state, pushed, text) = remote_state(&ctx, repo.root(), "data");
    assert_eq!(state, "incomplete", "{text}");
    assert!(!pushed, "{text}");
    assert!(
        text.contains("remote origin: incomplete") && text.contains("dvx push"),
        "{text}"
    );

    // A clone cannot pull, and the advice is to push again...
    let clone = repo.clone_to("clone", &[]);
    let r = ctx.dvx_in(&clone, &["pull"]);
    r.code_is(1).stderr_is_error().stderr_has("push it again");

    // ...and pushing again really repairs it.
    let s = ctx.push(&[]);
    assert!(s.transferred > 0 && s.objects > 0, "nothing re-sent: {s:?}");
    let (state, pushed, text) = remote_state(&ctx, repo.root(), "data");
    assert_eq!((state.as_str(), pushed), ("pushed", true), "{text}");
    let again = ctx.push(&[]);
    assert_eq!((again.transferred, again.objects), (0, 0), "{again:?}");
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull after the repair", &want, &snap_in(&clone, "data"));
    // The same chunks in the same order make the same pack again: the remote is whole.
    ctx.dvx(&["fsck", "--remote", "origin"]).ok();
}

#[test]
fn push_of_a_new_version_reuploads_chunks_of_a_lost_pack() {
    let ctx = pushed_ctx(0x702);
    let repo = &ctx.repo;
    let remote = remote_dir(&ctx);
    for p in object_paths(&remote, "packs") {
        fs::remove_file(p).unwrap();
    }
    // v2 shares most chunks with v1: the index says they are on the remote, the packs are gone.
    let mut g = Gen::new(0x703);
    write_v2(repo, &mut g);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    ctx.push(&[]);
    let (state, pushed, text) = remote_state(&ctx, repo.root(), "data");
    assert_eq!((state.as_str(), pushed), ("pushed", true), "{text}");
    let want = repo.snapshot("data");
    let clone = repo.clone_to("clone", &[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull of v2", &want, &snap_in(&clone, "data"));

    // The old index still names the lost packs, and v1's own chunks are gone: fsck says so;
    // gc drops the stale entries and a push of the whole history completes the remote.
    ctx.dvx(&["fsck", "--remote", "origin"])
        .code_is(1)
        .stdout_has("gc --remote");
    ctx.dvx(&["gc", "--remote", "origin"]).ok();
    ctx.push(&["--all-revs"]);
    ctx.dvx(&["fsck", "--remote", "origin"]).ok();
}

#[test]
fn push_repairs_a_lost_subtree_and_a_truncated_pack() {
    let ctx = pushed_ctx(0x704);
    let repo = &ctx.repo;
    let want = repo.snapshot("data");
    let remote = remote_dir(&ctx);
    let root = repo.pointer("data.dvx").id().to_string();
    // Every tree but the root removed: the root alone must not vouch for the rest.
    for t in object_paths(&remote, "trees") {
        if !t.ends_with(&root) {
            fs::remove_file(t).unwrap();
        }
    }
    // And a pack cut short: its listed size no longer covers the chunks its index places there.
    let pack = object_paths(&remote, "packs").pop().unwrap();
    let len = fs::metadata(&pack).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&pack)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (state, pushed, text) = remote_state(&ctx, repo.root(), "data");
    assert_eq!((state.as_str(), pushed), ("incomplete", false), "{text}");

    let s = ctx.push(&[]);
    assert!(s.objects > 0, "{s:?}");
    let (state, _, text) = remote_state(&ctx, repo.root(), "data");
    assert_eq!(state, "pushed", "{text}");
    let clone = repo.clone_to("clone", &[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull after the repair", &want, &snap_in(&clone, "data"));
}

#[test]
fn status_remote_in_a_clone_checks_the_remote_trees() {
    let ctx = pushed_ctx(0x705);
    let repo = &ctx.repo;
    let clone = repo.clone_to("clone", &[]);
    // The clone's store has nothing: completeness is read from the remote's trees.
    let (state, pushed, text) = remote_state(&ctx, &clone, "data");
    assert_eq!((state.as_str(), pushed), ("pushed", true), "{text}");
    for p in object_paths(&remote_dir(&ctx), "packs") {
        fs::remove_file(p).unwrap();
    }
    let (state, pushed, text) = remote_state(&ctx, &clone, "data");
    assert_eq!((state.as_str(), pushed), ("incomplete", false), "{text}");
}

// ---------------------------------------------------------------------------------------
// Item 12: blame the right thing.

#[test]
fn a_missing_remote_folder_is_blamed_on_the_mount() {
    let ctx = pushed_ctx(0x1201);
    let repo = &ctx.repo;
    let clone = repo.clone_to("clone", &[]);
    let remote = remote_dir(&ctx);
    let away = repo.tmp().join("unmounted");
    fs::rename(&remote, &away).unwrap();
    for args in [
        &["pull"][..],
        &["fetch"][..],
        &["status", "--remote"][..],
        &["fsck", "--remote", "origin"][..],
        &["gc", "--remote", "origin"][..],
    ] {
        let r = ctx.dvx_in(&clone, args);
        r.code_is(1)
            .stderr_is_error()
            .stderr_has("not reachable")
            .stderr_has("mounted");
        let err = r.stderr_str();
        assert!(
            !err.contains("push it again") && !err.contains("not pushed"),
            "{args:?} blames the objects:\n{r}"
        );
        assert!(!remote.exists(), "{args:?} created the remote folder");
    }
    fs::rename(&away, &remote).unwrap();
    ctx.dvx_in(&clone, &["pull"]).ok();
}

#[test]
fn an_empty_remote_folder_says_so() {
    let ctx = pushed_ctx(0x1202);
    let repo = &ctx.repo;
    let clone = repo.clone_to("clone", &[]);
    // The mount point exists but the share is not mounted: an empty folder.
    let remote = remote_dir(&ctx);
    fs::rename(&remote, repo.tmp().join("elsewhere")).unwrap();
    fs::create_dir(&remote).unwrap();
    ctx.dvx_in(&clone, &["pull"])
        .code_is(1)
        .stderr_has("holds no data at all");
}

#[test]
fn remote_add_warns_about_a_missing_folder() {
    let repo = TestRepo::new();
    let missing = repo.tmp().join("no-such-share/remote");
    let r = repo.dvx(&["remote", "add", "origin", missing.to_str().unwrap()]);
    r.ok().stderr_has("warning").stderr_has("does not exist");
    let present = repo.outside();
    let r = repo.dvx(&["remote", "add", "other", present.to_str().unwrap()]);
    r.ok();
    assert!(!r.stderr_str().contains("warning"), "{r}");
}

#[test]
fn nonsense_remote_urls_are_refused() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x1901);
    g.file(&repo.path("data/a.bin"), 10_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("data");
    let before = repo.read_str(".dvx/config.toml");
    for bad in [
        " ",
        "  ",
        "\t",
        " /tmp/x",
        "/tmp/x ",
        "a\nb",
        "remote",
        "./store/..",
        "data/../store",
        "~/nas",
        ".",
    ] {
        repo.dvx(&["remote", "add", "bad", bad])
            .code_is(2)
            .stderr_is_error();
    }
    assert_eq!(repo.read_str(".dvx/config.toml"), before);
    // The same URLs written into the config by hand are refused when used (a bad file, not a
    // bad command line: exit 1), and nothing is created in the worktree.
    for bad in [" ", "store", "./data/x"] {
        let cfg = format!(
            "{before}\n[remotes.hand]\nurl = {}\n",
            serde_json::to_string(bad).unwrap()
        );
        repo.write(".dvx/config.toml", cfg.as_bytes());
        repo.dvx(&["push", "-r", "hand"])
            .code_is(1)
            .stderr_is_error();
        assert!(!repo.path(" ").exists() && !repo.path("store").exists());
        assert!(!repo.path("data/x").exists());
        repo.write(".dvx/config.toml", before.as_bytes());
    }
    // Outside the worktree, relative to the repository root: accepted.
    repo.dvx(&["remote", "add", "sibling", "../sibling-remote"])
        .ok();
}

#[test]
fn a_remote_folder_reached_through_a_symlink_into_the_worktree_is_refused() {
    let repo = TestRepo::new();
    fs::create_dir(repo.path("inner")).unwrap();
    symlink(
        repo.root().join("inner").to_str().unwrap(),
        &repo.tmp().join("link"),
    );
    let url = repo.tmp().join("link/remote");
    repo.dvx(&["remote", "add", "origin", url.to_str().unwrap()])
        .code_is(2)
        .stderr_has("inside the repository");
}

// ---------------------------------------------------------------------------------------
// Item 17: bounded reads of untrusted objects.

#[test]
fn a_huge_local_tree_object_is_refused_quickly() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x1701);
    g.tree(&repo.path("data"), 2, 4, 10_000);
    repo.dvx(&["add", "data"]).ok();
    let id = repo.pointer("data.dvx").id().to_string();
    let tree = tree_object(&repo.path(".dvx/store"), &id);
    sparse(&tree, 6 << 30);
    // Without the clean snapshot `add` left, status compares against the trees.
    fs::remove_dir_all(repo.path(".dvx/state/status")).unwrap();
    for args in [
        &["status"][..],
        &["ls", "data"][..],
        &["checkout", "--force"][..],
    ] {
        let cmd = memory_limited(&repo.dvx_cmd(args));
        let out = run_with_timeout(cmd, &format!("dvx {args:?}"), Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "dvx {args:?}:\n{err}");
        assert!(
            err.contains(&id[..12]) && err.contains("bytes"),
            "dvx {args:?} should name the tree and its size:\n{err}"
        );
    }
}

#[test]
fn a_fifo_in_the_local_store_fails_instead_of_hanging() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x1702);
    g.tree(&repo.path("data"), 2, 4, 10_000);
    repo.dvx(&["add", "data"]).ok();
    let store = repo.path(".dvx/store");
    let root = repo.pointer("data.dvx").id().to_string();
    // A sub-directory's tree: it is read without a presence check first.
    let tree = object_paths(&store, "trees")
        .into_iter()
        .find(|t| !t.ends_with(&root))
        .unwrap();
    let saved = fs::read(&tree).unwrap();
    mkfifo(&tree);
    // Without the clean snapshot `add` left, status compares against the trees.
    fs::remove_dir_all(repo.path(".dvx/state/status")).unwrap();
    let out = run_with_timeout(repo.dvx_cmd(&["status"]), "status", Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    fs::remove_file(&tree).unwrap();
    fs::write(&tree, saved).unwrap();

    // A FIFO for a pack and for an index: checkout of the deleted data must fail, not block.
    fs::remove_dir_all(repo.path("data")).unwrap();
    for p in object_paths(&store, "packs") {
        mkfifo(&p);
    }
    for p in object_paths(&store, "index") {
        mkfifo(&p);
    }
    let out = run_with_timeout(
        repo.dvx_cmd(&["checkout"]),
        "checkout",
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fsck = run_with_timeout(repo.dvx_cmd(&["fsck"]), "fsck", Duration::from_secs(60));
    assert_ne!(fsck.status.code(), Some(0));
}

#[test]
fn a_huge_remote_tree_object_is_refused_quickly_and_push_replaces_it() {
    let ctx = pushed_ctx(0x1703);
    let repo = &ctx.repo;
    let id = repo.pointer("data.dvx").id().to_string();
    let tree = tree_object(&remote_dir(&ctx), &id);
    sparse(&tree, 6 << 30);
    let clone = repo.clone_to("clone", &[]);
    let cmd = memory_limited(&repo.dvx_cmd_in(&clone, &["pull"]));
    let out = run_with_timeout(cmd, "pull", Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bytes") && err.contains("trees/"), "{err}");
    // The object is not a tree: a push sends the real one again.
    ctx.push(&[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
}

#[test]
fn fifos_and_devices_on_the_remote_fail_instead_of_hanging() {
    let ctx = pushed_ctx(0x1704);
    let repo = &ctx.repo;
    let remote = remote_dir(&ctx);
    let id = repo.pointer("data.dvx").id().to_string();
    let tree = tree_object(&remote, &id);
    let saved = fs::read(&tree).unwrap();

    let pull_fails = |what: &str, needle: &str| {
        let clone = repo.clone_to(&format!("clone-{what}"), &[]);
        let cmd = memory_limited(&repo.dvx_cmd_in(&clone, &["pull"]));
        let out = run_with_timeout(cmd, what, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}:\n{err}");
        assert!(err.contains(needle), "{what}: expected `{needle}`:\n{err}");
    };

    mkfifo(&tree);
    pull_fails("fifo-tree", "not a regular file");
    fs::remove_file(&tree).unwrap();
    symlink("/dev/zero", &tree);
    pull_fails("dev-zero-tree", "not a regular file");
    fs::remove_file(&tree).unwrap();
    fs::write(&tree, &saved).unwrap();

    for p in object_paths(&remote, "packs") {
        mkfifo(&p);
    }
    pull_fails("fifo-pack", "push it again");
    for p in object_paths(&remote, "packs") {
        fs::remove_file(&p).unwrap();
        symlink("/dev/zero", &p);
    }
    pull_fails("dev-zero-pack", "push it again");
    for p in object_paths(&remote, "index") {
        fs::remove_file(&p).unwrap();
        mkfifo(&p);
    }
    pull_fails("fifo-index", "push it again");
}
