//! Integration tests against real repositories built with the `git` CLI.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dvx_git::{Error, Repo};
use tempfile::TempDir;

/// Run git in `dir` with an isolated configuration; panics on failure, returns trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    git_at(dir, args, None)
}

/// Like [`git`], with author and committer date set to `time` (raw git date, e.g. "@1700001000 +0100").
fn git_at(dir: &Path, args: &[&str], time: Option<&str>) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Bob")
        .env("GIT_COMMITTER_EMAIL", "bob@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    if let Some(time) = time {
        cmd.env("GIT_AUTHOR_DATE", time)
            .env("GIT_COMMITTER_DATE", time);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn commit(root: &Path, message: &str, time: &str) -> String {
    git(root, &["add", "-A"]);
    git_at(root, &["commit", "-q", "-m", message], Some(time));
    git(root, &["rev-parse", "HEAD"])
}

/// The history used by most tests.
struct Fixture {
    dir: TempDir,
    /// Commit ids, oldest first.
    c: Vec<String>,
}

impl Fixture {
    fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    fn repo(&self) -> Repo {
        Repo::discover(self.dir.path()).unwrap()
    }
}

/// c0: data.dvx=v1, other.txt, a/b.dvx, deep/x/y.dvx, .dvx/config.dvx (+ symlink link.dvx)
/// c1: other.txt changed                  (branch `side` points at c2)
/// c2: data.dvx=v2 (annotated tag v1)
/// c3: other.txt changed
/// c4: data.dvx deleted
/// c5: data.dvx=v3
fn fixture() -> Fixture {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    let mut c = Vec::new();

    write(root, "data.dvx", "v1");
    write(root, "other.txt", "o1");
    write(root, "a/b.dvx", "nested");
    write(root, "deep/x/y.dvx", "deep");
    write(root, "deep/x/y.txt", "not a manifest");
    write(root, ".dvx/config.dvx", "internal");
    #[cfg(unix)]
    std::os::unix::fs::symlink("data.dvx", root.join("link.dvx")).unwrap();
    c.push(commit(root, "first commit", "@1700001000 +0000"));

    write(root, "other.txt", "o2");
    c.push(commit(root, "second commit", "@1700002000 +0000"));

    write(root, "data.dvx", "v2");
    c.push(commit(
        root,
        "third commit\n\nwith a body",
        "@1700003000 +0100",
    ));
    git_at(
        root,
        &["tag", "-a", "v1", "-m", "release 1"],
        Some("@1700003000 +0100"),
    );
    git(root, &["branch", "side"]);

    write(root, "other.txt", "o3");
    c.push(commit(root, "fourth commit", "@1700004000 +0000"));

    fs::remove_file(root.join("data.dvx")).unwrap();
    c.push(commit(root, "delete data", "@1700005000 +0000"));

    write(root, "data.dvx", "v3");
    c.push(commit(root, "re-add data", "@1700006000 -0230"));

    Fixture { dir, c }
}

#[test]
fn repo_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Repo>();
    assert_send_sync::<Error>();
}

#[test]
fn discover_from_nested_subdir() {
    let f = fixture();
    let repo = Repo::discover(&f.dir.path().join("deep/x")).unwrap();
    assert_eq!(repo.workdir(), f.root());
    assert_eq!(repo.git_dir(), f.root().join(".git"));
    assert!(repo.workdir().is_absolute());
}

#[test]
fn discover_outside_repo_is_usage_error() {
    let dir = TempDir::new().unwrap();
    let inside_some_repo = Command::new("git")
        .arg("-C")
        .arg(dir.path())
        .args(["rev-parse", "--git-dir"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(true);
    if inside_some_repo {
        return; // the temp dir lives inside a repository on this machine; nothing to test
    }
    let err = Repo::discover(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotARepo { .. }), "{err:?}");
    assert!(err.is_usage());
    let msg = err.to_string();
    assert!(msg.contains("git init"), "{msg}");
    assert!(msg.contains(&dir.path().canonicalize().unwrap().display().to_string()));
}

#[test]
fn discover_bare_repo_errors() {
    let dir = TempDir::new().unwrap();
    git(dir.path(), &["init", "-q", "--bare"]);
    let err = Repo::discover(dir.path()).unwrap_err();
    assert!(matches!(err, Error::BareRepo { .. }), "{err:?}");
    assert!(err.is_usage());
}

#[test]
fn resolve_revisions() {
    let f = fixture();
    let repo = f.repo();

    let head = repo.resolve("HEAD").unwrap();
    assert_eq!(head.id, f.c[5]);
    assert_eq!(head.time, 1_700_006_000);
    assert_eq!(head.tz_offset_seconds, -(2 * 3600 + 30 * 60));
    assert_eq!(head.summary, "re-add data");
    assert_eq!(head.author, "Alice <alice@example.com>");

    assert_eq!(repo.resolve("HEAD~1").unwrap().id, f.c[4]);
    assert_eq!(repo.resolve("HEAD^^").unwrap().id, f.c[3]);
    assert_eq!(repo.resolve("main").unwrap().id, f.c[5]);
    assert_eq!(repo.resolve("refs/heads/main").unwrap().id, f.c[5]);

    let tagged = repo.resolve("v1").unwrap();
    assert_eq!(tagged.id, f.c[2]);
    assert_eq!(tagged.summary, "third commit");
    assert_eq!(tagged.time, 1_700_003_000);
    assert_eq!(tagged.tz_offset_seconds, 3600);
    assert_eq!(repo.resolve("v1^{commit}").unwrap().id, f.c[2]);
    assert_eq!(repo.resolve("side").unwrap().id, f.c[2]);
    assert_eq!(repo.resolve(&f.c[1][..7]).unwrap().id, f.c[1]);
    assert_eq!(repo.resolve(&f.c[1]).unwrap().id, f.c[1]);

    for bad in [
        "nope",
        "",
        "HEAD~99",
        "0000000000000000000000000000000000000000",
    ] {
        let err = repo.resolve(bad).unwrap_err();
        assert!(
            matches!(err, Error::UnknownRevision { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.is_usage());
    }
    assert_eq!(
        repo.resolve("nope").unwrap_err().to_string(),
        "unknown revision `nope`: not a commit, branch or tag in this repository"
    );

    let err = repo.resolve("HEAD:data.dvx").unwrap_err();
    assert!(matches!(err, Error::NotACommit { .. }), "{err:?}");
    assert!(err.is_usage());
}

#[test]
fn resolve_remote_branch() {
    let f = fixture();
    let clone = TempDir::new().unwrap();
    let url = format!("file://{}", f.root().display());
    git(clone.path(), &["clone", "-q", &url, "c"]);
    let repo = Repo::discover(&clone.path().join("c")).unwrap();
    assert_eq!(repo.resolve("origin/side").unwrap().id, f.c[2]);
    assert_eq!(repo.resolve("origin/main").unwrap().id, f.c[5]);
}

#[test]
fn head_of_fresh_and_populated_repo() {
    let f = fixture();
    assert_eq!(f.repo().head().unwrap().unwrap().id, f.c[5]);

    let empty = TempDir::new().unwrap();
    git(empty.path(), &["init", "-q"]);
    let repo = Repo::discover(empty.path()).unwrap();
    assert_eq!(repo.head().unwrap(), None);
}

#[test]
fn read_file_at_revisions() {
    let f = fixture();
    let repo = f.repo();
    let at = |rev: &str| repo.resolve(rev).unwrap();

    assert_eq!(
        repo.read_file(&at(&f.c[0]), "data.dvx").unwrap().unwrap(),
        b"v1"
    );
    assert_eq!(
        repo.read_file(&at("v1"), "data.dvx").unwrap().unwrap(),
        b"v2"
    );
    assert_eq!(repo.read_file(&at("HEAD~1"), "data.dvx").unwrap(), None);
    assert_eq!(
        repo.read_file(&at("HEAD"), "data.dvx").unwrap().unwrap(),
        b"v3"
    );
    assert_eq!(
        repo.read_file(&at("HEAD"), "a/b.dvx").unwrap().unwrap(),
        b"nested"
    );
    assert_eq!(
        repo.read_file(&at("HEAD"), "./a//b.dvx").unwrap().unwrap(),
        b"nested"
    );
    assert_eq!(repo.read_file(&at("HEAD"), "missing.txt").unwrap(), None);
    assert_eq!(repo.read_file(&at("HEAD"), "a/missing").unwrap(), None);
    assert_eq!(repo.read_file(&at("HEAD"), "a").unwrap(), None, "directory");
    assert_eq!(repo.read_file(&at("HEAD"), "data.dvx/x").unwrap(), None);
    assert_eq!(repo.read_file(&at("HEAD"), "").unwrap(), None);
    assert_eq!(repo.read_file(&at("HEAD"), "../data.dvx").unwrap(), None);
    #[cfg(unix)]
    assert_eq!(
        repo.read_file(&at("HEAD"), "link.dvx").unwrap(),
        None,
        "symlink"
    );
}

#[test]
fn list_files_with_suffix_finds_nested_and_skips_internal() {
    let f = fixture();
    let repo = f.repo();
    let head = repo.resolve("HEAD").unwrap();
    assert_eq!(
        repo.list_files_with_suffix(&head, ".dvx").unwrap(),
        ["a/b.dvx", "data.dvx", "deep/x/y.dvx"]
    );
    let before_readd = repo.resolve("HEAD~1").unwrap();
    assert_eq!(
        repo.list_files_with_suffix(&before_readd, ".dvx").unwrap(),
        ["a/b.dvx", "deep/x/y.dvx"]
    );
    assert_eq!(
        repo.list_files_with_suffix(&head, ".txt").unwrap(),
        ["deep/x/y.txt", "other.txt"]
    );
    assert!(repo
        .list_files_with_suffix(&head, ".nope")
        .unwrap()
        .is_empty());
}

#[test]
fn log_path_returns_changing_commits_newest_first() {
    let f = fixture();
    let repo = f.repo();
    let head = repo.resolve("HEAD").unwrap();

    let log = repo.log_path(&head, "data.dvx").unwrap();
    let ids: Vec<&str> = log.iter().map(|c| c.commit.id.as_str()).collect();
    assert_eq!(ids, [&f.c[5], &f.c[4], &f.c[2], &f.c[0]]);
    let contents: Vec<Option<&[u8]>> = log.iter().map(|c| c.content.as_deref()).collect();
    assert_eq!(
        contents,
        [Some(&b"v3"[..]), None, Some(&b"v2"[..]), Some(&b"v1"[..])]
    );
    assert_eq!(log[1].commit.summary, "delete data");

    // Matches git itself.
    let expected = git(
        f.dir.path(),
        &["log", "--format=%H", "HEAD", "--", "data.dvx"],
    );
    assert_eq!(ids, expected.lines().collect::<Vec<_>>());

    let log = repo.log_path(&head, "other.txt").unwrap();
    let ids: Vec<&str> = log.iter().map(|c| c.commit.id.as_str()).collect();
    assert_eq!(ids, [&f.c[3], &f.c[1], &f.c[0]]);

    let from_tag = repo
        .log_path(&repo.resolve("v1").unwrap(), "data.dvx")
        .unwrap();
    assert_eq!(from_tag.len(), 2);
    assert_eq!(from_tag[0].commit.id, f.c[2]);

    assert!(repo.log_path(&head, "never/existed").unwrap().is_empty());
    assert!(repo.log_path(&head, "a").unwrap().is_empty(), "directory");
}

#[test]
fn log_path_follows_merges_by_first_parent_diff() {
    let f = fixture();
    let root = f.root();
    git(&root, &["checkout", "-q", "side"]);
    write(&root, "data.dvx", "side");
    let side = commit(&root, "side change", "@1700007000 +0000");
    git(&root, &["checkout", "-q", "main"]);
    git_at(
        &root,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-X",
            "theirs",
            "-m",
            "merge side",
            "side",
        ],
        Some("@1700008000 +0000"),
    );
    let merge = git(&root, &["rev-parse", "HEAD"]);
    let repo = f.repo();
    let head = repo.resolve("HEAD").unwrap();
    let log = repo.log_path(&head, "data.dvx").unwrap();
    let ids: Vec<&str> = log.iter().map(|c| c.commit.id.as_str()).collect();
    assert_eq!(ids, [&merge, &side, &f.c[5], &f.c[4], &f.c[2], &f.c[0]]);
    assert_eq!(log[0].content.as_deref(), Some(&b"side"[..]));
}

#[test]
fn log_path_in_shallow_clone() {
    let f = fixture();
    let clone = TempDir::new().unwrap();
    let url = format!("file://{}", f.root().display());
    git(
        clone.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    let repo = Repo::discover(&clone.path().join("shallow")).unwrap();
    let head = repo.head().unwrap().unwrap();
    assert_eq!(head.id, f.c[5]);

    let log = repo.log_path(&head, "data.dvx").unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].commit.id, f.c[5]);
    assert_eq!(log[0].content.as_deref(), Some(&b"v3"[..]));

    // A file unchanged in the only commit still shows up once (boundary acts as root).
    assert_eq!(repo.log_path(&head, "a/b.dvx").unwrap().len(), 1);

    let clone2 = TempDir::new().unwrap();
    git(
        clone2.path(),
        &["clone", "-q", "--depth", "2", &url, "shallow"],
    );
    let repo = Repo::discover(&clone2.path().join("shallow")).unwrap();
    let head = repo.head().unwrap().unwrap();
    let log = repo.log_path(&head, "data.dvx").unwrap();
    let ids: Vec<&str> = log.iter().map(|c| c.commit.id.as_str()).collect();
    assert_eq!(ids, [&f.c[5]]);
}

#[test]
fn repo_is_usable_from_many_threads() {
    let f = fixture();
    let repo = Arc::new(f.repo());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let repo = Arc::clone(&repo);
            std::thread::spawn(move || {
                let head = repo.resolve("HEAD").unwrap();
                repo.read_file(&head, "data.dvx").unwrap().unwrap()
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), b"v3");
    }
}

fn cached_names(root: &Path) -> Vec<String> {
    git(root, &["diff", "--cached", "--name-only"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn stage_and_is_tracked() {
    let f = fixture();
    let root = f.root();
    let repo = f.repo();
    write(&root, "new.dvx", "new");
    write(&root, "dir/with space*.dvx", "odd name");
    write(&root, "abs.dvx", "absolute");

    assert!(!repo.is_tracked(Path::new("new.dvx")).unwrap());
    assert!(repo.is_tracked(Path::new("data.dvx")).unwrap());
    assert!(repo.is_tracked(&root.join("a/b.dvx")).unwrap());

    repo.stage(&[
        Path::new("new.dvx"),
        Path::new("dir/with space*.dvx"),
        &root.join("abs.dvx"),
    ])
    .unwrap();
    assert_eq!(
        cached_names(&root),
        ["abs.dvx", "dir/with space*.dvx", "new.dvx"]
    );
    assert!(repo.is_tracked(Path::new("new.dvx")).unwrap());

    // Staging a deletion.
    fs::remove_file(root.join("other.txt")).unwrap();
    repo.stage(&[Path::new("other.txt")]).unwrap();
    assert!(cached_names(&root).contains(&"other.txt".to_string()));
    assert!(!repo.is_tracked(Path::new("other.txt")).unwrap());

    repo.stage(&[]).unwrap();
}

#[test]
fn stage_rejects_paths_outside_repo() {
    let f = fixture();
    let repo = f.repo();
    let outside = TempDir::new().unwrap();
    let file = outside.path().join("x.dvx");
    fs::write(&file, "x").unwrap();
    for path in [
        file.as_path(),
        Path::new("../x.dvx"),
        Path::new("a/../../x"),
    ] {
        let err = repo.stage(&[path]).unwrap_err();
        assert!(matches!(err, Error::PathOutsideRepo { .. }), "{err:?}");
        assert!(err.is_usage());
    }
    assert!(repo.is_tracked(Path::new("../x")).unwrap_err().is_usage());
}

#[test]
fn stage_reports_git_failure() {
    let f = fixture();
    let repo = f.repo();
    let err = repo.stage(&[Path::new("does-not-exist.dvx")]).unwrap_err();
    match &err {
        Error::GitCommand { stderr, .. } => assert!(stderr.contains("does-not-exist"), "{err}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_usage());
}

#[test]
fn stage_waits_for_index_lock() {
    let f = fixture();
    let root = f.root();
    let repo = f.repo();
    write(&root, "locked.dvx", "x");
    let lock = repo.git_dir().join("index.lock");
    fs::write(&lock, "").unwrap();
    let remover = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            fs::remove_file(lock).unwrap();
        })
    };
    let start = Instant::now();
    repo.stage(&[Path::new("locked.dvx")]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(900));
    remover.join().unwrap();
    assert_eq!(cached_names(&root), ["locked.dvx"]);
}

#[test]
fn stage_gives_up_on_stale_index_lock() {
    let f = fixture();
    let root = f.root();
    let repo = f.repo();
    write(&root, "locked.dvx", "x");
    let lock = repo.git_dir().join("index.lock");
    fs::write(&lock, "").unwrap();
    let err = repo.stage(&[Path::new("locked.dvx")]).unwrap_err();
    assert!(matches!(err, Error::IndexLocked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&lock.display().to_string()), "{msg}");
    assert!(msg.contains("remove"), "{msg}");
}

#[test]
fn linked_worktree() {
    let f = fixture();
    let parent = TempDir::new().unwrap();
    let wt = parent.path().canonicalize().unwrap().join("wt");
    git(
        &f.root(),
        &["worktree", "add", "-q", wt.to_str().unwrap(), "side"],
    );
    let repo = Repo::discover(&wt).unwrap();
    assert_eq!(repo.workdir(), wt);
    assert_eq!(repo.git_dir(), f.root().join(".git/worktrees/wt"));
    assert_eq!(repo.head().unwrap().unwrap().id, f.c[2]);
    assert_eq!(repo.resolve("main").unwrap().id, f.c[5]);
    write(&wt, "wt.dvx", "from worktree");
    repo.stage(&[Path::new("wt.dvx")]).unwrap();
    assert_eq!(cached_names(&wt), ["wt.dvx"]);
    assert!(cached_names(&f.root()).is_empty());
}
