//! Datasets of another repository: `dvx get`, `dvx import`, `dvx update`, and `pull` of an
//! imported dataset. A real "registry" repository (datasets from a seeded RNG, a folder
//! remote, tags v1 and v2) and a real project repository; the source mirror lives in a cache
//! directory of the test (`DVX_CACHE_DIR`).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod util;

use std::fs;
use std::path::{Path, PathBuf};

use util::*;

/// The registry repository with its commits.
struct Registry {
    reg: TestRepo,
    v1: String,
    v2: String,
}

impl Registry {
    /// `data/images` (folders and a `sub` folder) and `data/train.csv` at v1; at v2 a file of
    /// `sub` is edited, one is added and the CSV grows. Both pushed to `<tmp>/regremote`,
    /// recorded as the relative folder `../regremote`.
    fn new() -> Registry {
        let reg = TestRepo::new();
        reg.set_env("DVX_CACHE_DIR", &reg.tmp().join("cache").to_string_lossy());
        // As https servers do: the mirror then gets trees without blobs, and fetches the
        // pointers it reads on demand.
        reg.git(&["config", "uploadpack.allowFilter", "true"]).ok();
        let mut g = Gen::new(1207);
        g.tree(&reg.path("data/images"), 3, 6, 150_000);
        g.file(&reg.path("data/images/sub/one.bin"), 200_000);
        g.text_file(&reg.path("data/images/sub/two.csv"), 30_000);
        g.text_file(&reg.path("data/train.csv"), 80_000);
        reg.dvx(&["add", "data/images", "data/train.csv"]).ok();
        reg.dvx(&["remote", "add", "origin", "../regremote"]).ok();
        let v1 = reg.commit("v1");
        reg.git(&["tag", "v1"]).ok();
        reg.dvx(&["push"]).ok();
        g.overwrite(&reg.path("data/images/sub/one.bin"), 50_000, 4_000);
        g.file(&reg.path("data/images/sub/three.bin"), 90_000);
        g.append(&reg.path("data/train.csv"), 20_000);
        reg.dvx(&["add", "data/images", "data/train.csv"]).ok();
        let v2 = reg.commit("v2");
        reg.git(&["tag", "v2"]).ok();
        reg.dvx(&["push"]).ok();
        Registry { reg, v1, v2 }
    }

    fn url(&self) -> String {
        self.reg.root().to_string_lossy().into_owned()
    }

    fn cache(&self) -> PathBuf {
        self.reg.tmp().join("cache")
    }

    /// A project repository next to the registry, sharing its cache.
    fn project(&self) -> TestRepo {
        let p = TestRepo::new();
        p.set_env("DVX_CACHE_DIR", &self.cache().to_string_lossy());
        p
    }

    /// Asserts that `copy` holds exactly what the registry's `dvx cat` gives for `path` at
    /// `rev` (a folder: every file of `dvx ls`, nothing more).
    #[track_caller]
    fn assert_same(&self, rev: &str, path: &str, copy: &Path) {
        let snap = snapshot(copy);
        let files = self.files_of(rev, path);
        if fs::symlink_metadata(copy).unwrap().is_file() {
            assert_eq!(files.len(), 1, "{path} is one file at {rev}");
            let cat = self.reg.dvx(&["cat", &format!("{rev}:{path}")]);
            assert_eq!(fs::read(copy).unwrap(), cat.ok().stdout, "{path} at {rev}");
            return;
        }
        let copied: Vec<&String> = snap
            .iter()
            .filter(|(_, e)| matches!(e, Entry::File { .. }))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            copied.len(),
            files.len(),
            "files of {path} at {rev}: {copied:?}"
        );
        for rel in &files {
            let cat = self.reg.dvx(&["cat", &format!("{rev}:{path}/{rel}")]);
            let want = b3(&cat.ok().stdout);
            match snap.get(rel.as_str()) {
                Some(Entry::File { digest, .. }) => assert_eq!(digest, &want, "{rel} at {rev}"),
                other => panic!("{rel} at {rev}: {other:?}"),
            }
        }
    }

    /// Files below `path` at `rev`, relative to it, as the registry's `dvx ls` lists them.
    fn files_of(&self, rev: &str, path: &str) -> Vec<String> {
        let doc = self.reg.dvx(&["ls", rev, path, "--json"]).ok().json();
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "file")
            .map(|e| {
                let p = e["path"].as_str().unwrap();
                p.strip_prefix(&format!("{path}/")).unwrap_or(p).to_string()
            })
            .collect()
    }

    /// The source mirrors in the cache.
    fn mirrors(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(self.cache().join("sources"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        out.sort();
        out
    }
}

#[test]
fn get_copies_a_dataset_a_folder_and_a_file_at_a_tag_a_branch_and_a_commit() {
    let r = Registry::new();
    let project = r.project();
    project.commit_all("empty project");
    let url = r.url();
    let cases = [
        ("v1", "data/images", "tag-whole"),
        ("main", "data/images/sub", "branch-folder"),
        (r.v1.as_str(), "data/images/sub/one.bin", "commit-file"),
        ("v2", "data/train.csv", "tag-file-dataset"),
        (r.v2.as_str(), "data/images/d1", "commit-folder"),
    ];
    for (rev, path, out) in cases {
        let run = project.dvx(&["get", &url, path, "--rev", rev, "-o", out]);
        run.ok().stdout_has(out);
        r.assert_same(rev, path, &project.path(out));
    }
    // Without -o: the path's last component, in the current directory.
    project.dvx(&["get", &url, "data/images/sub/two.csv"]).ok();
    r.assert_same("HEAD", "data/images/sub/two.csv", &project.path("two.csv"));
    // Nothing tracked or staged: the copies are untracked files only.
    assert!(project.staged().is_empty(), "{:?}", project.staged());
    let status = project.git_out(&["status", "--porcelain"]);
    assert!(
        status.lines().all(|l| l.starts_with("?? ")),
        "only untracked copies: {status}"
    );
    assert!(!status.contains(".dvx"), "no pointer written: {status}");
}

#[test]
fn get_outside_any_repository_uses_a_store_in_the_cache() {
    let r = Registry::new();
    let out = r.reg.outside();
    r.reg
        .dvx_in(&out, &["get", &r.url(), "data/images", "--rev", "v2"])
        .ok();
    r.assert_same("v2", "data/images", &out.join("images"));
    assert!(
        r.cache().join("store").is_dir(),
        "the cache holds the store"
    );
    // A second copy of the same version transfers nothing.
    let again = r.reg.dvx_in(
        &out,
        &[
            "get",
            &r.url(),
            "data/images",
            "--rev",
            "v2",
            "-o",
            "again",
            "--json",
        ],
    );
    let doc = again.ok().json();
    assert_eq!(doc["transfer"]["transferred"], 0, "{doc}");
    assert_eq!(doc["transfer"]["objects"], 0, "{doc}");
}

#[test]
fn a_killed_get_leaves_nothing_behind_after_the_next_one() {
    let r = Registry::new();
    let out = r.reg.outside();
    // A get killed while writing leaves its temporary copy (named with its pid, now gone).
    let mut child = r
        .reg
        .dvx_cmd_in(&out, &["get", &r.url(), "data/images", "-o", "killed"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    let leftover = out.join(".dvx-tmp-4194000-0-0");
    fs::create_dir_all(leftover.join("d0")).unwrap();
    fs::write(leftover.join("d0/f0.dat"), b"half").unwrap();
    // The output is the whole copy or nothing.
    if out.join("killed").exists() {
        r.assert_same("HEAD", "data/images", &out.join("killed"));
        fs::remove_dir_all(out.join("killed")).unwrap();
    }
    r.reg.dvx_in(&out, &["get", &r.url(), "data/images"]).ok();
    r.assert_same("HEAD", "data/images", &out.join("images"));
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["images".to_string()],
        "the whole folder afterwards"
    );
}

#[test]
fn concurrent_gets_of_one_source_share_its_mirror() {
    let r = Registry::new();
    let out = r.reg.outside();
    let children: Vec<_> = ["v1", "v2", "main"]
        .iter()
        .map(|rev| {
            let args = ["get", &r.url(), "data/images", "--rev", rev, "-o", rev];
            let mut cmd = r.reg.dvx_cmd_in(&out, &args);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for rev in ["v1", "v2", "main"] {
        r.assert_same(rev, "data/images", &out.join(rev));
    }
    assert_eq!(r.mirrors().len(), 1);
}

#[test]
fn get_from_a_local_source_without_remote_reads_its_store() {
    let src = TestRepo::new();
    src.set_env("DVX_CACHE_DIR", &src.tmp().join("cache").to_string_lossy());
    let mut g = Gen::new(5);
    g.tree(&src.path("ds"), 2, 4, 100_000);
    src.dvx(&["add", "ds"]).ok();
    let c = src.commit("data");
    let out = src.outside();
    let run = src.dvx_in(&out, &["get", &src.root().to_string_lossy(), "ds/d1"]);
    run.ok().stdout_has("source store");
    let copy = snapshot(&out.join("d1"));
    let want = snapshot(&src.path("ds/d1"));
    assert_snapshot_eq("copy of ds/d1", &want, &copy);
    // Its store gone, the source has nowhere to read from.
    fs::remove_dir_all(src.path(".dvx/store")).unwrap();
    let run = src.dvx_in(
        &out,
        &["get", &src.root().to_string_lossy(), "ds", "--rev", &c],
    );
    run.code_is(1)
        .stderr_has("has no default remote")
        .stderr_has("--remote-url");
}

#[test]
fn import_at_v1_update_to_v2_and_back() {
    let r = Registry::new();
    let p = r.project();
    let url = r.url();
    let run = p.dvx(&["import", &url, "data/images", "--rev", "v1", "--json"]);
    let doc = run.ok().json();
    assert!(
        doc["transfer"]["transferred"].as_u64().unwrap() > 0,
        "{doc}"
    );
    let ptr = p.read_str("images.dvx");
    assert!(ptr.contains("[source]"), "{ptr}");
    assert!(ptr.contains(&format!("commit = \"{}\"", r.v1)), "{ptr}");
    assert!(ptr.contains("rev = \"v1\""), "{ptr}");
    assert!(ptr.contains("path = \"data/images\""), "{ptr}");
    let v1_id = r.reg.pointer_at("v1", "data/images.dvx").id().to_string();
    assert_eq!(p.pointer("images.dvx").id(), v1_id);
    assert_eq!(sorted(&["images.dvx", ".gitignore"]), {
        let mut s = p.staged();
        s.retain(|f| !f.starts_with(".dvx/"));
        s.sort();
        s
    });
    r.assert_same("v1", "data/images", &p.path("images"));
    p.commit("use registry images v1");
    p.dvx(&["status"]).ok().stdout_has("clean");

    // log and ls --json show the source.
    let log = p.dvx(&["log", "images", "--json"]).ok().json();
    assert_eq!(
        log["entries"][0]["source"]["commit"],
        r.v1.as_str(),
        "{log}"
    );
    let ls = p.dvx(&["ls", "images", "--json"]).ok().json();
    assert_eq!(ls["entries"][0]["source"]["url"], url.as_str(), "{ls}");

    // To v2: only the changed chunks come.
    let full = doc["transfer"]["transferred"].as_u64().unwrap();
    let up = p
        .dvx(&["update", "images.dvx", "--rev", "v2", "--json"])
        .ok()
        .json();
    let moved = up["datasets"][0]["transfer"]["transferred"]
        .as_u64()
        .unwrap();
    assert!(moved > 0 && moved < full, "moved {moved} of {full}: {up}");
    r.assert_same("v2", "data/images", &p.path("images"));
    let ptr = p.read_str("images.dvx");
    assert!(ptr.contains(&format!("commit = \"{}\"", r.v2)), "{ptr}");
    assert!(p.staged().contains(&"images.dvx".to_string()));

    // Unsaved changes stop the update.
    write_file(&p.path("images/sub/one.bin"), b"my own edit");
    p.dvx(&["update", "images.dvx", "--rev", "v1"])
        .code_is(1)
        .stderr_has("not saved");
    assert_eq!(p.read("images/sub/one.bin"), b"my own edit");
    p.dvx(&["checkout", "--force", "images"]).ok();

    // And back, from what the store already holds.
    let back = p
        .dvx(&["update", "images.dvx", "--rev", "v1", "--json"])
        .ok()
        .json();
    assert_eq!(back["datasets"][0]["transfer"]["transferred"], 0, "{back}");
    r.assert_same("v1", "data/images", &p.path("images"));
    assert_eq!(p.pointer("images.dvx").id(), v1_id);

    // A folder and a file of a dataset, under other names.
    p.dvx(&["import", &url, "data/images/sub", "-o", "subset"])
        .ok();
    r.assert_same("HEAD", "data/images/sub", &p.path("subset"));
    // Without --rev, update follows the source's HEAD: nothing new there.
    p.dvx(&["update", "subset"]).ok().stdout_has("unchanged");
    p.dvx(&[
        "import",
        &url,
        "data/images/sub/two.csv",
        "-o",
        "table.csv",
        "--rev",
        "v1",
    ])
    .ok();
    r.assert_same("v1", "data/images/sub/two.csv", &p.path("table.csv"));
    assert_eq!(p.pointer("table.csv.dvx").get("kind"), "file");
    p.dvx(&["status"]).ok();
    p.dvx(&["id", "table.csv"]).ok();
}

#[test]
fn imported_data_is_pushed_and_a_clone_pulls_it_without_the_registry() {
    let r = Registry::new();
    let p = r.project();
    let premote = p.tmp().join("premote");
    p.dvx(&["remote", "add", "origin", &premote.to_string_lossy()])
        .ok();
    p.dvx(&["import", &r.url(), "data/images", "--rev", "v2"])
        .ok();
    p.dvx(&["import", &r.url(), "data/train.csv", "-o", "train.csv"])
        .ok();
    p.commit("use the registry");
    p.dvx(&["push"]).ok();
    let want = snapshot(&p.path("images"));

    // The registry and its remote are gone: the project's remote has everything.
    let gone = r.reg.tmp().join("gone");
    fs::create_dir(&gone).unwrap();
    fs::rename(r.reg.root(), gone.join("repo")).unwrap();
    fs::rename(r.reg.tmp().join("regremote"), gone.join("regremote")).unwrap();
    let clone = p.clone_to("clone", &[]);
    let run = p.dvx_in(&clone, &["pull"]);
    run.ok();
    assert!(!run.stdout_str().contains("source"), "{run}");
    assert_snapshot_eq("pulled images", &want, &snapshot(&clone.join("images")));
    assert_eq!(
        fs::read(clone.join("train.csv")).unwrap(),
        p.read("train.csv")
    );
    fs::rename(gone.join("repo"), r.reg.root()).unwrap();
    fs::rename(gone.join("regremote"), r.reg.tmp().join("regremote")).unwrap();

    // This project's remote emptied: pull falls back to the source, and says so.
    fs::remove_dir_all(&premote).unwrap();
    fs::create_dir(&premote).unwrap();

    let clone2 = p.clone_to("clone2", &[]);
    let run = p.dvx_in(&clone2, &["pull"]);
    run.ok()
        .stdout_has("this project's remote lacks it")
        .stdout_has("images");
    assert_snapshot_eq(
        "images from the source",
        &want,
        &snapshot(&clone2.join("images")),
    );
    assert_eq!(
        fs::read(clone2.join("train.csv")).unwrap(),
        p.read("train.csv")
    );
    // A remote folder that is not there reads as an unmounted share: no fallback, an error.
    fs::remove_dir_all(&premote).unwrap();
    let clone3 = p.clone_to("clone3", &[]);
    p.dvx_in(&clone3, &["pull", "images"])
        .code_is(1)
        .stderr_has("does not exist");
    // checkout and status never contact the source.
    fs::rename(r.reg.root(), gone.join("repo")).unwrap();
    p.dvx_in(&clone2, &["status"]).ok().stdout_has("clean");
    p.dvx_in(&clone2, &["checkout"]).ok();
}

#[test]
fn the_mirror_is_reused_and_offline_works_from_it() {
    let r = Registry::new();
    let p = r.project();
    let url = r.url();
    p.dvx(&["get", &url, "data/train.csv", "--rev", "v1", "-o", "a.csv"])
        .ok();
    let mirrors = r.mirrors();
    assert_eq!(mirrors.len(), 1, "{mirrors:?}");
    let count = |m: &Path| -> u64 {
        let out = p.git_out(&["--git-dir", &m.to_string_lossy(), "count-objects", "-v"]);
        out.lines()
            .filter_map(|l| l.split_once(": "))
            .filter(|(k, _)| *k == "count" || *k == "in-pack")
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .sum()
    };
    let after_v1 = count(&mirrors[0]);
    p.dvx(&["get", &url, "data/train.csv", "--rev", "v2", "-o", "b.csv"])
        .ok();
    assert_eq!(r.mirrors(), mirrors, "the same mirror, not a second clone");
    // Only what v2 adds came: fewer objects than a fresh copy of v2 alone would hold.
    let all_v2 = r.reg.git_out(&["rev-list", "--objects", "--no-walk", "v2"]);
    let tree_v2 = r
        .reg
        .git_out(&["ls-tree", "-r", "-t", "v2"])
        .lines()
        .count() as u64
        + 2;
    let added = count(&mirrors[0]) - after_v1;
    assert!(
        added > 0 && added < tree_v2,
        "v2 added {added} objects; v2 alone has {tree_v2} ({all_v2})"
    );

    // Offline: a cached commit (by id, or by the name fetched before) needs no source at all.
    let gone = r.reg.tmp().join("gone");
    fs::rename(r.reg.root(), &gone).unwrap();
    let run = p.dvx(&[
        "get",
        &url,
        "data/train.csv",
        "--rev",
        &r.v1,
        "--offline",
        "-o",
        "c.csv",
    ]);
    run.ok().stdout_has("from the cache");
    assert_eq!(p.read("c.csv"), p.read("a.csv"));
    p.dvx(&[
        "get",
        &url,
        "data/train.csv",
        "--rev",
        "v2",
        "--offline",
        "-o",
        "d.csv",
    ])
    .ok();
    assert_eq!(p.read("d.csv"), p.read("b.csv"));
    // A full commit id in the cache needs no network even without --offline.
    p.dvx(&["get", &url, "data/train.csv", "--rev", &r.v2, "-o", "e.csv"])
        .ok();
    fs::rename(&gone, r.reg.root()).unwrap();

    // Uncached: --offline fails clearly, and leaves nothing behind.
    fs::write(r.reg.path("data/new.txt"), b"new").unwrap();
    r.reg.dvx(&["add", "data/new.txt"]).ok();
    let v3 = r.reg.commit("v3");
    r.reg.dvx(&["push"]).ok();
    for rev in [v3.as_str(), "v3-not-fetched", "main"] {
        if rev == "v3-not-fetched" {
            r.reg.git(&["tag", rev]).ok();
        }
        let run = p.dvx(&[
            "get",
            &url,
            "data/new.txt",
            "--rev",
            rev,
            "--offline",
            "-o",
            "f.txt",
        ]);
        // `main` was never fetched by this cache (only v1 and v2 were).
        run.code_is(1)
            .stderr_has("not in the local cache")
            .stderr_has("without --offline");
        assert!(!p.path("f.txt").exists());
    }
    // Online, the new commit comes.
    p.dvx(&["get", &url, "data/new.txt", "--rev", &v3, "-o", "f.txt"])
        .ok();
    assert_eq!(p.read("f.txt"), b"new");
    // A short commit id works too.
    p.dvx(&[
        "get",
        &url,
        "data/new.txt",
        "--rev",
        &v3[..10],
        "-o",
        "g.txt",
    ])
    .ok();
}

#[test]
fn errors_name_what_is_wrong_and_what_to_do() {
    let r = Registry::new();
    let p = r.project();
    let url = r.url();
    let missing = r.reg.tmp().join("no-such-registry");
    p.dvx(&["get", &missing.to_string_lossy(), "data/images"])
        .code_is(2)
        .stderr_has("not a git repository dvx can reach")
        .stderr_has("check the URL");
    p.dvx(&["get", &url, "data/images", "--rev", "v9"])
        .code_is(2)
        .stderr_has("no branch, tag or commit `v9`");
    p.dvx(&["get", &url, "data/nothing"])
        .code_is(2)
        .stderr_has("no dataset holds path data/nothing")
        .stderr_has("data/images");
    p.dvx(&["get", &url, "data/images/d0/nothing.bin", "--rev", "v1"])
        .code_is(2)
        .stderr_has("no dataset holds path data/images/d0/nothing.bin");
    // Target exists: get and import refuse, and change nothing.
    fs::write(p.path("images"), b"mine").unwrap();
    p.dvx(&["get", &url, "data/images"])
        .code_is(1)
        .stderr_has("already exists")
        .stderr_has("-o");
    p.dvx(&["import", &url, "data/images"])
        .code_is(1)
        .stderr_has("already exists");
    assert_eq!(p.read("images"), b"mine");
    assert!(!p.path("images.dvx").exists());
    // A source whose remote folder is only meaningful on its own machine, reached by URL.
    let file_url = format!("file://{}", r.reg.root().display());
    p.dvx(&["get", &file_url, "data/train.csv", "-o", "t.csv"])
        .ok();
    // update of a dataset that was not imported.
    fs::write(p.path("own.txt"), b"own").unwrap();
    p.dvx(&["add", "own.txt"]).ok();
    p.dvx(&["update", "own.txt.dvx"])
        .code_is(2)
        .stderr_has("was not imported");
    // --remote-url overrides the source's remote: an empty folder lacks the data (not yet
    // in this store).
    let empty = p.tmp().join("empty-remote");
    fs::create_dir(&empty).unwrap();
    p.dvx(&[
        "get",
        &url,
        "data/images",
        "-o",
        "u",
        "--remote-url",
        &empty.to_string_lossy(),
    ])
    .code_is(1)
    .stderr_has("missing");
    assert!(!p.path("u").exists());
}
