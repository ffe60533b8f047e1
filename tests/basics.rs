//! `dvx init`, what `dvx add` writes and stages, `dvx status` (text and JSON), `.dvxignore`,
//! paths relative to the current directory, `-C`, and shared stores.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::fs;
use std::path::Path;

use util::*;

#[test]
fn init_creates_config_stages_it_and_is_idempotent() {
    let repo = TestRepo::bare_git();
    repo.dvx(&["init"]).ok();
    assert!(
        repo.path(".dvx/config.toml").is_file(),
        ".dvx/config.toml missing"
    );
    assert!(repo.path(".dvx/store").is_dir(), ".dvx/store missing");
    let gi = repo.read_str(".dvx/.gitignore");
    for pat in ["store", "state", "tmp", "config.local.toml"] {
        assert!(
            gi.lines().any(|l| l.trim().trim_matches('/') == pat),
            ".dvx/.gitignore does not ignore {pat}:\n{gi}"
        );
    }
    let staged = repo.staged();
    for f in [".dvx/config.toml", ".dvx/.gitignore"] {
        assert!(staged.iter().any(|s| s == f), "{f} not staged: {staged:?}");
    }
    assert!(
        !staged.iter().any(|s| s.starts_with(".dvx/store")),
        "store content staged: {staged:?}"
    );
    let config = repo.read(".dvx/config.toml");

    // Re-running is fine, also from a subdirectory, and does not create a nested .dvx.
    repo.dvx(&["init"]).ok();
    fs::create_dir_all(repo.path("sub/dir")).unwrap();
    repo.dvx_in(&repo.path("sub/dir"), &["init"]).ok();
    assert!(
        !repo.path("sub/dir/.dvx").exists(),
        "init in a subdir created sub/dir/.dvx"
    );
    assert!(!repo.path("sub/.dvx").exists());
    assert_eq!(
        repo.read(".dvx/config.toml"),
        config,
        "re-running init changed config.toml"
    );
}

#[test]
fn add_writes_pointer_and_gitignore_and_stages_both() {
    let repo = TestRepo::new();
    let mut g = Gen::new(11);
    let a = g.text_file(&repo.path("data/a.csv"), 12_345);
    let b = g.file(&repo.path("data/b.bin"), 54_321);
    let c = g.text_file(&repo.path("data/sub/c.txt"), 999);
    // An existing .gitignore without a trailing newline must be appended to properly.
    repo.write(".gitignore", b"*.log");

    let r = repo.dvx(&[
        "add",
        "data",
        "-m",
        "first cut",
        "--meta",
        "owner=alice",
        "--meta",
        "source=unit test",
    ]);
    r.ok();
    assert!(repo.path("data.dvx").is_file(), "data.dvx not written");
    let p = repo.pointer("data.dvx");
    assert_eq!(p.get("format"), "1");
    assert_eq!(p.get("path"), "data");
    assert_eq!(p.get("kind"), "dir");
    assert!(is_hex64(p.id()), "id is not 64 hex digits: {:?}", p.id());
    assert_eq!(p.num("files"), 3);
    assert_eq!(p.num("bytes"), (a.len() + b.len() + c.len()) as u64);
    assert_eq!(p.get("meta.message"), "first cut");
    let created = p.get("meta.created");
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.as_bytes()[10] == b'T',
        "meta.created is not RFC 3339: {created:?}"
    );
    assert_eq!(p.get("meta.extra.owner"), "alice");
    assert_eq!(p.get("meta.extra.source"), "unit test");

    let gi = repo.read_str(".gitignore");
    let lines: Vec<&str> = gi.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"*.log"),
        "existing .gitignore line lost:\n{gi}"
    );
    assert!(lines.contains(&"/data"), ".gitignore lacks /data:\n{gi}");

    let staged = repo.staged();
    for f in ["data.dvx", ".gitignore"] {
        assert!(staged.iter().any(|s| s == f), "{f} not staged: {staged:?}");
    }
    assert!(
        !staged.iter().any(|s| s.starts_with("data/")),
        "dataset files were staged in git: {staged:?}"
    );
    // git itself now ignores the data.
    let ignored = repo.git(&["check-ignore", "-q", "data/a.csv"]);
    assert_eq!(
        ignored.code(),
        Some(0),
        "git does not ignore data/a.csv\n{ignored}"
    );

    // Adding again (unchanged, then changed) does not repeat the .gitignore line.
    repo.commit("add data");
    repo.dvx(&["add", "data"]).ok();
    assert_eq!(
        repo.pointer("data.dvx").id(),
        p.id(),
        "unchanged data, different id"
    );
    g.append(&repo.path("data/a.csv"), 10);
    repo.dvx(&["add", "data"]).ok();
    assert_ne!(
        repo.pointer("data.dvx").id(),
        p.id(),
        "changed data, same id"
    );
    let gi = repo.read_str(".gitignore");
    assert_eq!(
        gi.lines().filter(|l| l.trim() == "/data").count(),
        1,
        "/data appended twice:\n{gi}"
    );

    // Checked last: one summary line per dataset on stdout.
    let summary: Vec<_> = r
        .stdout_str()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    assert_eq!(
        summary.len(),
        1,
        "expected one summary line per dataset\n{r}"
    );
}

#[test]
fn status_clean_then_lists_added_modified_deleted() {
    let repo = TestRepo::new();
    let mut g = Gen::new(12);
    g.text_file(&repo.path("data/a.csv"), 5_000);
    g.file(&repo.path("data/b.bin"), 5_000);
    g.text_file(&repo.path("data/sub/c.txt"), 500);
    g.text_file(&repo.path("data/sub/same.txt"), 500);
    symlink("a.csv", &repo.path("data/link"));
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let id = repo.pointer("data.dvx").id().to_string();

    let t = repo.dvx(&["status"]);
    t.ok();
    assert!(
        t.stdout_str()
            .lines()
            .any(|l| l.trim_end() == "data: clean"),
        "expected `data: clean`\n{t}"
    );
    assert!(t.stdout_str().contains("clean"));
    let j = repo.dvx(&["status", "--json"]);
    j.ok();
    let doc = j.json();
    let d = dataset(&doc, "data");
    assert_eq!(d["state"], "clean", "{j}");
    assert_eq!(d["pointer"], "data.dvx", "{j}");
    assert_eq!(d["id"], id.as_str(), "{j}");

    // Edits: one of each, plus a mode change and a symlink retarget (both count as modified).
    g.text_file(&repo.path("data/new.txt"), 10);
    g.overwrite(&repo.path("data/a.csv"), 100, 20);
    fs::remove_file(repo.path("data/b.bin")).unwrap();
    set_exec(&repo.path("data/sub/c.txt"), true);
    fs::remove_file(repo.path("data/link")).unwrap();
    symlink("sub/c.txt", &repo.path("data/link"));

    let j = repo.dvx(&["status", "--json"]);
    j.ok();
    let doc = j.json();
    let d = dataset(&doc, "data");
    assert_eq!(d["state"], "modified", "{j}");
    assert_eq!(
        json_strs(&d["added"]),
        sorted(&["data/new.txt"]),
        "added\n{j}"
    );
    assert_eq!(
        json_strs(&d["modified"]),
        sorted(&["data/a.csv", "data/sub/c.txt", "data/link"]),
        "modified\n{j}"
    );
    assert_eq!(
        json_strs(&d["deleted"]),
        sorted(&["data/b.bin"]),
        "deleted\n{j}"
    );

    let t = repo.dvx(&["status"]);
    t.ok();
    let out = t.stdout_str();
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    for want in [
        "data: modified",
        "  added:    data/new.txt",
        "  modified: data/a.csv",
        "  modified: data/sub/c.txt",
        "  modified: data/link",
        "  deleted:  data/b.bin",
    ] {
        assert!(lines.contains(&want), "missing line {want:?}\n{t}");
    }
    assert!(!out.contains("same.txt"), "unchanged file listed\n{t}");

    // Missing data.
    remove(&repo.path("data"));
    let j = repo.dvx(&["status", "--json", "data"]);
    j.ok();
    assert_eq!(dataset(&j.json(), "data")["state"], "missing", "{j}");
    let t = repo.dvx(&["status"]);
    t.ok();
    assert!(
        t.stdout_str()
            .lines()
            .any(|l| l.trim_end() == "data: missing"),
        "expected `data: missing`\n{t}"
    );
}

#[test]
fn status_of_several_datasets_and_path_filter() {
    let repo = TestRepo::new();
    let mut g = Gen::new(13);
    g.file(&repo.path("data1/x.bin"), 1_000);
    g.file(&repo.path("sub/data2/y.bin"), 1_000);
    repo.dvx(&["add", "data1", "sub/data2"]).ok();
    assert!(repo.path("sub/data2.dvx").is_file());
    let gi = repo.read_str("sub/.gitignore");
    assert!(
        gi.lines().any(|l| l.trim() == "/data2"),
        "sub/.gitignore:\n{gi}"
    );
    repo.commit("two datasets");
    g.file(&repo.path("sub/data2/z.bin"), 10);

    let j = repo.dvx(&["status", "--json"]);
    j.ok();
    let doc = j.json();
    assert_eq!(doc["datasets"].as_array().map(Vec::len), Some(2), "{j}");
    assert_eq!(dataset(&doc, "data1")["state"], "clean", "{j}");
    let d2 = dataset(&doc, "sub/data2");
    assert_eq!(d2["state"], "modified", "{j}");
    assert_eq!(d2["pointer"], "sub/data2.dvx", "{j}");
    assert_eq!(json_strs(&d2["added"]), sorted(&["sub/data2/z.bin"]), "{j}");

    for arg in ["sub/data2", "sub/data2/", "sub/data2.dvx"] {
        let j = repo.dvx(&["status", "--json", arg]);
        j.ok();
        let doc = j.json();
        let ds = doc["datasets"].as_array().expect("datasets");
        assert_eq!(ds.len(), 1, "status {arg}\n{j}");
        assert_eq!(ds[0]["path"], "sub/data2", "status {arg}\n{j}");
    }
}

#[test]
fn dvxignore_is_honoured_by_add_and_status() {
    let repo = TestRepo::new();
    let mut g = Gen::new(14);
    repo.write("data/.dvxignore", b"*.tmp\ncache/\n");
    g.text_file(&repo.path("data/keep.csv"), 1_000);
    g.file(&repo.path("data/scratch.tmp"), 1_000);
    g.file(&repo.path("data/cache/blob"), 1_000);
    g.file(&repo.path("data/sub/deeper.tmp"), 10);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");

    let ls = repo.dvx(&["ls", "--json", "data"]);
    ls.ok();
    let doc = ls.json();
    let paths: Vec<&str> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(paths.contains(&"data/keep.csv"), "{ls}");
    for p in [
        "data/scratch.tmp",
        "data/cache",
        "data/cache/blob",
        "data/sub/deeper.tmp",
    ] {
        assert!(!paths.contains(&p), "ignored {p} was added\n{ls}");
    }

    g.file(&repo.path("data/scratch.tmp"), 2_000);
    g.file(&repo.path("data/other.tmp"), 10);
    g.file(&repo.path("data/cache/new"), 10);
    let j = repo.dvx(&["status", "--json"]);
    j.ok();
    assert_eq!(
        dataset(&j.json(), "data")["state"],
        "clean",
        "ignored files changed the status\n{j}"
    );
}

#[test]
fn paths_are_relative_to_cwd_and_dash_c_works() {
    let repo = TestRepo::new();
    let mut g = Gen::new(15);
    let w = g.file(&repo.path("models/w.bin"), 10_000);
    repo.dvx_in(&repo.path("models"), &["add", "w.bin"]).ok();
    assert!(
        repo.path("models/w.bin.dvx").is_file(),
        "pointer not written beside models/w.bin"
    );
    assert_eq!(repo.pointer("models/w.bin.dvx").get("path"), "models/w.bin");
    repo.commit("w");

    // -C from outside the repository; output paths are repo-relative.
    let root = repo.root().to_str().unwrap().to_string();
    let j = repo.dvx_in(&repo.outside(), &["-C", &root, "status", "--json"]);
    j.ok();
    let doc = j.json();
    let d = dataset(&doc, "models/w.bin");
    assert_eq!(d["state"], "clean", "{j}");
    assert_eq!(d["pointer"], "models/w.bin.dvx", "{j}");

    // From a subdirectory: still repo-relative paths.
    fs::remove_file(repo.path("models/w.bin")).unwrap();
    let j = repo.dvx_in(&repo.path("models"), &["status", "--json"]);
    j.ok();
    assert_eq!(
        dataset(&j.json(), "models/w.bin")["state"],
        "missing",
        "{j}"
    );
    repo.dvx_in(&repo.outside(), &["-C", &root, "checkout"])
        .ok();
    assert!(
        repo.read("models/w.bin") == w,
        "checkout with -C restored wrong content"
    );
}

fn packs_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    find_files(
        dir,
        &mut |p| p.extension().is_some_and(|e| e == "pack"),
        &mut v,
    );
    v
}

#[test]
fn shared_store_via_env_and_config_local() {
    let repo = TestRepo::new();
    let shared = repo.tmp().join("shared-store");
    let mut g = Gen::new(16);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    let want = repo.snapshot("data");
    repo.dvx_env(&[("DVX_STORE", &shared)], &["add", "data"])
        .ok();
    repo.commit("v1");
    assert!(
        !packs_below(&shared).is_empty(),
        "DVX_STORE: no pack written below {}",
        shared.display()
    );
    assert!(
        repo.pack_files().is_empty(),
        "DVX_STORE: packs written to .dvx/store anyway"
    );

    // A clone restores the data from the shared store (env var).
    repo.git_in(repo.tmp(), &["clone", "-q", "repo", "clone1"])
        .ok();
    let clone1 = repo.tmp().join("clone1");
    let mut cmd = repo.dvx_cmd_in(&clone1, &["checkout"]);
    cmd.env("DVX_STORE", &shared);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "dvx checkout in a clone with DVX_STORE failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_snapshot_eq(
        "clone with DVX_STORE",
        &want,
        &snapshot(&clone1.join("data")),
    );

    // And via `store = "<path>"` in .dvx/config.local.toml.
    repo.git_in(repo.tmp(), &["clone", "-q", "repo", "clone2"])
        .ok();
    let clone2 = repo.tmp().join("clone2");
    write_file(
        &clone2.join(".dvx/config.local.toml"),
        format!("store = {:?}\n", shared.to_str().unwrap()).as_bytes(),
    );
    repo.dvx_in(&clone2, &["checkout"]).ok();
    assert_snapshot_eq(
        "clone with config.local.toml",
        &want,
        &snapshot(&clone2.join("data")),
    );
    // config.local.toml is ignored by git.
    let st = repo.git_in(&clone2, &["status", "--porcelain"]);
    st.ok();
    assert_eq!(
        st.stdout_str().trim(),
        "",
        "config.local.toml not ignored\n{st}"
    );
}

#[test]
fn no_progress_output_when_not_a_terminal() {
    let repo = TestRepo::new();
    let mut g = Gen::new(17);
    g.tree(&repo.path("data"), 3, 6, 300_000);
    for args in [&["add", "data"][..], &["status"], &["checkout", "--force"]] {
        let r = repo.dvx_loud(args);
        r.ok();
        for (name, bytes) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            assert!(
                !bytes.contains(&b'\r') && !bytes.windows(2).any(|w| w == b"\x1b["),
                "progress bar / terminal escapes on {name} although it is not a terminal\n{r}"
            );
        }
    }
}

#[test]
fn global_flags_after_the_subcommand_and_trailing_slashes() {
    let repo = TestRepo::new();
    let mut g = Gen::new(18);
    g.tree(&repo.path("data"), 1, 3, 10_000);
    let want = repo.snapshot("data");
    // `-q` after the subcommand, dataset path with a trailing slash.
    repo.dvx(&["add", "data/", "-q"]).ok();
    assert!(
        repo.path("data.dvx").is_file(),
        "`dvx add data/` did not write data.dvx"
    );
    assert!(!repo.path("data/.dvx").exists());
    assert_eq!(repo.pointer("data.dvx").get("path"), "data");
    let gi = repo.read_str(".gitignore");
    assert!(gi.lines().any(|l| l.trim() == "/data"), ".gitignore:\n{gi}");
    repo.commit("v1");

    // `-C` after the subcommand.
    let root = repo.root().to_str().unwrap().to_string();
    let j = repo.dvx_in(&repo.outside(), &["status", "--json", "-C", &root]);
    j.ok();
    assert_eq!(dataset(&j.json(), "data")["state"], "clean", "{j}");

    remove(&repo.path("data"));
    repo.dvx(&["checkout", "HEAD", "data/"]).ok();
    assert_snapshot_eq("checkout HEAD data/", &want, &repo.snapshot("data"));
}

/// gc run from one repository of a shared store keeps every version the other repositories
/// using the store need (their refs, worktrees and indexes), and forgets a repository that
/// is gone.
#[test]
fn gc_in_a_shared_store_keeps_the_other_repositories_versions() {
    let a = TestRepo::new();
    let b = TestRepo::new();
    let shared = a.tmp().join("shared-store");
    for r in [&a, &b] {
        write_file(
            &r.path(".dvx/config.local.toml"),
            format!("store = {:?}\n", shared.to_str().unwrap()).as_bytes(),
        );
    }
    let mut g = Gen::new(0x5a7e);
    g.tree(&a.path("data"), 1, 3, 40_000);
    a.dvx(&["add", "data"]).ok();
    a.commit("a v1");
    // B's data exists only in B: v1 committed, then v2 only in B's worktree pointer.
    g.tree(&b.path("bdata"), 1, 3, 40_000);
    b.dvx(&["add", "bdata"]).ok();
    b.commit("b v1");
    let b_v1 = b.snapshot("bdata");
    g.file(&b.path("bdata/more.bin"), 30_000);
    b.dvx(&["add", "bdata"]).ok();
    let b_v2 = b.snapshot("bdata");

    let r = a.dvx(&["gc", "--keep-days", "0", "--json"]);
    r.ok();
    assert_eq!(r.json()["other_repos"], 1, "{r}");
    assert_eq!(r.json()["packs_deleted"], 0, "{r}");
    b.dvx(&["fsck"]).ok();
    remove(&b.path("bdata"));
    b.dvx(&["checkout"]).ok();
    assert_snapshot_eq("B's staged v2 after A's gc", &b_v2, &b.snapshot("bdata"));
    let c1 = b.git_out(&["rev-parse", "HEAD"]);
    b.dvx(&["checkout", &c1, "bdata"]).ok();
    assert_snapshot_eq("B's v1 after A's gc", &b_v1, &b.snapshot("bdata"));

    // B deleted: A's next gc forgets it and frees its data.
    let b_root = b.root().to_path_buf();
    drop(b);
    assert!(!b_root.exists());
    let r = a.dvx(&["gc", "--keep-days", "0", "--json"]);
    r.ok();
    assert_eq!(r.json()["other_repos"], 0, "{r}");
    assert!(r.json()["bytes_freed"].as_u64().unwrap() > 0, "{r}");
    a.dvx(&["fsck"]).ok();
    remove(&a.path("data"));
    a.dvx(&["checkout"]).ok();
}
