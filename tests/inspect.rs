//! Read-only commands: `dvx ls`, `dvx cat`, `dvx id`, `dvx log`, `dvx diff`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;
use util::*;

struct Fixture {
    repo: TestRepo,
    /// c1 (data v1), c2 (data v2), c3 (docs only), c4 (data v3) — HEAD is c4.
    commits: [String; 4],
    a_v1: Vec<u8>,
    a_v2: Vec<u8>,
    c_v1: Vec<u8>,
    c_v3: Vec<u8>,
    snap_v1: Snapshot,
    snap_v3: Snapshot,
}

fn fixture() -> Fixture {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x1157);
    let a_v1 = g.text_file(&repo.path("data/a.csv"), 5_000);
    g.file(&repo.path("data/b.bin"), 3_000);
    let c_v1 = g.text_file(&repo.path("data/sub/c.txt"), 800);
    repo.write("data/run.sh", b"#!/bin/sh\nexit 0\n");
    set_exec(&repo.path("data/run.sh"), true);
    symlink("a.csv", &repo.path("data/ln"));
    repo.dvx(&["add", "data", "-m", "first version"]).ok();
    let c1 = repo.commit("commit one");
    let snap_v1 = repo.snapshot("data");

    g.append(&repo.path("data/a.csv"), 100);
    let a_v2 = repo.read("data/a.csv");
    fs::remove_file(repo.path("data/b.bin")).unwrap();
    g.text_file(&repo.path("data/sub/d.txt"), 250);
    repo.dvx(&["add", "data", "-m", "second"]).ok();
    let c2 = repo.commit("commit two");

    repo.write("README.md", b"docs\n");
    repo.git(&["add", "README.md"]).ok();
    let c3 = repo.commit("docs");

    g.overwrite(&repo.path("data/sub/c.txt"), 10, 100);
    let c_v3 = repo.read("data/sub/c.txt");
    repo.dvx(&["add", "data", "-m", "third"]).ok();
    let c4 = repo.commit("commit four");
    let snap_v3 = repo.snapshot("data");

    Fixture {
        repo,
        commits: [c1, c2, c3, c4],
        a_v1,
        a_v2,
        c_v1,
        c_v3,
        snap_v1,
        snap_v3,
    }
}

/// Checks `dvx ls --json` entries against a snapshot of the dataset `data`.
#[track_caller]
fn check_ls(r: &Run, snap: &Snapshot, root_id: &str) {
    let doc = r.json();
    let entries = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries\n{r}"));
    let mut by_path: BTreeMap<String, &Value> = BTreeMap::new();
    for e in entries {
        let p = e["path"]
            .as_str()
            .unwrap_or_else(|| panic!("entry without path: {e}\n{r}"));
        assert!(
            by_path.insert(p.to_string(), e).is_none(),
            "{p} listed twice\n{r}"
        );
    }
    for (rel, want) in snap {
        let path = format!("data/{rel}");
        let e = by_path.get(&path);
        match want {
            Entry::File { size, digest, exec } => {
                let e = e.unwrap_or_else(|| panic!("{path} not listed\n{r}"));
                assert_eq!(e["kind"], "file", "{path}\n{r}");
                assert_eq!(e["size"].as_u64(), Some(*size), "{path} size\n{r}");
                assert_eq!(
                    e["digest"].as_str(),
                    Some(digest.as_str()),
                    "{path} digest\n{r}"
                );
                assert_eq!(
                    e["executable"].as_bool(),
                    Some(*exec),
                    "{path} executable\n{r}"
                );
            }
            Entry::Symlink { target } => {
                let e = e.unwrap_or_else(|| panic!("{path} not listed\n{r}"));
                assert_eq!(e["kind"], "symlink", "{path}\n{r}");
                assert_eq!(
                    e["target"].as_str(),
                    Some(target.as_str()),
                    "{path} target\n{r}"
                );
            }
            Entry::Dir => {
                if let Some(e) = e {
                    assert_eq!(e["kind"], "dir", "{path}\n{r}");
                    let total: u64 = snap
                        .iter()
                        .filter(|(k, _)| k.starts_with(&format!("{rel}/")))
                        .map(|(_, v)| match v {
                            Entry::File { size, .. } => *size,
                            _ => 0,
                        })
                        .sum();
                    assert_eq!(e["size"].as_u64(), Some(total), "{path}: dir size\n{r}");
                    assert!(
                        e["digest"].as_str().is_some_and(is_hex64),
                        "{path}: tree id\n{r}"
                    );
                }
            }
        }
    }
    for (p, e) in &by_path {
        if p == "data" {
            assert_eq!(e["kind"], "dir", "{r}");
            assert_eq!(
                e["digest"].as_str(),
                Some(root_id),
                "root entry digest is not the id\n{r}"
            );
            continue;
        }
        let rel = p
            .strip_prefix("data/")
            .unwrap_or_else(|| panic!("path {p} not repo-relative\n{r}"));
        assert!(
            snap.contains_key(rel),
            "{p} listed but not in the dataset\n{r}"
        );
    }
}

#[test]
fn ls_lists_entries_json_and_text() {
    let f = fixture();
    let repo = &f.repo;
    let head_id = repo.pointer("data.dvx").id().to_string();
    let r = repo.dvx(&["ls", "HEAD", "data", "--json"]);
    r.ok();
    check_ls(&r, &f.snap_v3, &head_id);

    // Default rev: the worktree pointers; default path: every dataset.
    let r = repo.dvx(&["ls", "--json"]);
    r.ok();
    check_ls(&r, &f.snap_v3, &head_id);

    let v1_id = repo.pointer_at(&f.commits[0], "data.dvx").id().to_string();
    let r = repo.dvx(&["ls", "HEAD~3", "data", "--json"]);
    r.ok();
    check_ls(&r, &f.snap_v1, &v1_id);

    // Text: `<size>\t<path>` per file.
    let r = repo.dvx(&["ls", "HEAD~3", "data"]);
    r.ok();
    let out = r.stdout_str();
    let lines: Vec<&str> = out.lines().collect();
    for (rel, e) in &f.snap_v1 {
        if let Entry::File { size, .. } = e {
            let want = format!("{size}\tdata/{rel}");
            assert!(lines.contains(&want.as_str()), "missing line {want:?}\n{r}");
        }
    }
}

#[test]
fn cat_prints_file_bytes_at_rev() {
    let f = fixture();
    let repo = &f.repo;
    let cat = |spec: &str| {
        let r = repo.dvx(&["cat", spec]);
        r.ok();
        r.out.stdout
    };
    assert!(
        cat("HEAD~3:data/a.csv") == f.a_v1,
        "HEAD~3:data/a.csv is not v1"
    );
    assert!(
        cat(&format!("{}:data/a.csv", f.commits[0])) == f.a_v1,
        "<c1>:data/a.csv is not v1"
    );
    assert!(
        cat("HEAD~2:data/a.csv") == f.a_v2,
        "HEAD~2:data/a.csv is not v2"
    );
    assert!(
        cat("HEAD~1:data/a.csv") == f.a_v2,
        "HEAD~1 (docs commit): data/a.csv is not v2"
    );
    assert!(cat("HEAD:data/a.csv") == f.a_v2);
    assert!(cat("main~3:data/sub/c.txt") == f.c_v1);
    assert!(cat("HEAD:data/sub/c.txt") == f.c_v3);
    assert!(cat("HEAD:data/run.sh") == b"#!/bin/sh\nexit 0\n");

    // A file deleted in a later version is still available at the older rev only.
    let b = cat("HEAD~3:data/b.bin");
    assert_eq!(b.len(), 3_000);
    repo.dvx(&["cat", "HEAD:data/b.bin"])
        .code_is(2)
        .stderr_is_error();
}

#[test]
fn id_matches_pointer() {
    let f = fixture();
    let repo = &f.repo;
    let head_id = repo.pointer("data.dvx").id().to_string();
    let r = repo.dvx(&["id", "data"]);
    r.ok();
    assert_eq!(r.stdout_str(), format!("{head_id}\n"), "{r}");
    let r = repo.dvx(&["id", "HEAD", "data"]);
    r.ok();
    assert_eq!(r.stdout_str(), format!("{head_id}\n"), "{r}");

    let r = repo.dvx(&["id", "HEAD~1", "data"]);
    r.ok();
    let old = r.stdout_str();
    assert_ne!(old.trim(), head_id, "HEAD~1 and HEAD have the same id\n{r}");
    assert_eq!(
        old.trim(),
        repo.pointer_at("HEAD~1", "data.dvx").id(),
        "{r}"
    );
    assert!(is_hex64(old.trim()), "{r}");

    // The id only depends on the content: re-adding the same data gives the same id.
    repo.dvx(&["checkout", "HEAD~3", "data"]).ok();
    let r = repo.dvx(&["id", "data"]);
    r.ok();
    assert_eq!(
        r.stdout_str().trim(),
        repo.pointer_at("HEAD~3", "data.dvx").id()
    );
    repo.dvx(&["add", "data"]).ok();
    assert_eq!(
        repo.pointer("data.dvx").id(),
        repo.pointer_at("HEAD~3", "data.dvx").id()
    );
}

#[track_caller]
fn git_date(repo: &TestRepo, commit: &str) -> String {
    repo.git_out(&["log", "-1", "--format=%cI", commit])
}

#[test]
fn log_lists_commits_changing_the_pointer_newest_first() {
    let f = fixture();
    let repo = &f.repo;
    let [c1, c2, _c3, c4] = &f.commits;
    let r = repo.dvx(&["log", "data", "--json"]);
    r.ok();
    let doc = r.json();
    let entries = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries\n{r}"));
    let want = [
        (c4, "third", "commit four"),
        (c2, "second", "commit two"),
        (c1, "first version", "commit one"),
    ];
    assert_eq!(
        entries.len(),
        want.len(),
        "one entry per commit changing data.dvx\n{r}"
    );
    for (e, (c, msg, summary)) in entries.iter().zip(want) {
        let p = repo.pointer_at(c, "data.dvx");
        assert_eq!(e["path"], "data", "{r}");
        assert_eq!(e["commit"].as_str(), Some(c.as_str()), "{r}");
        assert_eq!(e["id"].as_str(), Some(p.id()), "{r}");
        assert_eq!(e["files"].as_u64(), Some(p.num("files")), "{r}");
        assert_eq!(e["bytes"].as_u64(), Some(p.num("bytes")), "{r}");
        assert_eq!(e["message"], msg, "{r}");
        assert_eq!(e["commit_message"], summary, "{r}");
        let date = e["date"].as_str().unwrap_or_else(|| panic!("no date\n{r}"));
        let gd = git_date(repo, c);
        assert!(
            date.len() >= 20 && date[..19] == gd[..19],
            "date {date:?} is not the commit's ({gd})\n{r}"
        );
    }

    // Without a path: the same (only one dataset).
    let r2 = repo.dvx(&["log", "--json"]);
    r2.ok();
    assert_eq!(
        r2.json(),
        doc,
        "`dvx log --json` differs from `dvx log data --json`"
    );

    // A commit deleting the pointer is listed with a null id.
    repo.git(&["rm", "-q", "data.dvx"]).ok();
    let c5 = repo.commit("drop data");
    let r = repo.dvx(&["log", "data", "--json"]);
    r.ok();
    let doc = r.json();
    let entries = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries\n{r}"));
    assert_eq!(entries.len(), 4, "{r}");
    assert_eq!(entries[0]["commit"].as_str(), Some(c5.as_str()), "{r}");
    assert!(
        entries[0]["id"].is_null(),
        "deleting commit must have id null\n{r}"
    );
    assert_eq!(entries[0]["commit_message"], "drop data", "{r}");
    assert_eq!(entries[1]["commit"].as_str(), Some(c4.as_str()), "{r}");
}

#[test]
fn log_text_format() {
    let f = fixture();
    let repo = &f.repo;
    let [c1, c2, _c3, c4] = &f.commits;
    let t = repo.dvx(&["log", "data"]);
    t.ok();
    let out = t.stdout_str();
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 3, "one line per commit changing data.dvx\n{t}");
    let want = [(c4, "third"), (c2, "second"), (c1, "first version")];
    for (line, (c, msg)) in lines.iter().zip(want) {
        // `<commit short> <date> <id short> <files> file[s] <size> <unit> <message>`, the size
        // human (`4.9 KiB`; `log --json` has the exact bytes).
        let p = repo.pointer_at(c, "data.dvx");
        let tok: Vec<&str> = line.splitn(8, ' ').collect();
        let why = format!("line {line:?} does not match `<commit short> <date> <id short> <files> file[s] <size> <unit> <message>`\n{t}");
        assert_eq!(tok.len(), 8, "{why}");
        assert!(tok[0].len() >= 7 && c.starts_with(tok[0]), "commit: {why}");
        assert_eq!(tok[1].get(..19), git_date(repo, c).get(..19), "date: {why}");
        assert!(tok[2].len() >= 7 && p.id().starts_with(tok[2]), "id: {why}");
        let files = p.num("files");
        assert_eq!(tok[3], files.to_string(), "files: {why}");
        assert_eq!(tok[4], if files == 1 { "file" } else { "files" }, "{why}");
        assert_eq!(
            format!("{} {}", tok[5], tok[6]),
            human_bytes(p.num("bytes")),
            "size: {why}"
        );
        assert_eq!(tok[7], msg, "message: {why}");
    }
}

/// (path, size) / (path, old, new) lists of one dataset of a `dvx diff --json` document.
type DiffLists = (
    Vec<(String, u64)>,
    Vec<(String, u64)>,
    Vec<(String, u64, u64)>,
);

#[track_caller]
fn diff_lists(r: &Run) -> (Value, DiffLists) {
    let doc = r.json();
    let d = dataset(&doc, "data").clone();
    let sized = |k: &str| {
        let mut v: Vec<(String, u64)> = d[k]
            .as_array()
            .unwrap_or_else(|| panic!("no `{k}` array\n{r}"))
            .iter()
            .map(|e| {
                (
                    e["path"].as_str().unwrap().to_string(),
                    e["size"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let added = sized("added");
    let removed = sized("removed");
    let mut modified: Vec<(String, u64, u64)> = d["modified"]
        .as_array()
        .unwrap_or_else(|| panic!("no `modified` array\n{r}"))
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["old_size"].as_u64().unwrap(),
                e["new_size"].as_u64().unwrap(),
            )
        })
        .collect();
    modified.sort();
    (d, (added, removed, modified))
}

fn s(p: &str) -> String {
    p.to_string()
}

#[test]
fn diff_between_revisions_and_against_disk() {
    let f = fixture();
    let repo = &f.repo;
    let id = |rev: &str| repo.pointer_at(rev, "data.dvx").id().to_string();
    let d_len = repo.read("data/sub/d.txt").len() as u64;

    // v1 -> v2: b.bin removed, sub/d.txt added, a.csv grew by 100 bytes.
    let r = repo.dvx(&["diff", "HEAD~3", "HEAD~2", "data", "--json"]);
    r.ok();
    let (d, (added, removed, modified)) = diff_lists(&r);
    assert_eq!(d["from"].as_str(), Some(id("HEAD~3").as_str()), "{r}");
    assert_eq!(d["to"].as_str(), Some(id("HEAD~2").as_str()), "{r}");
    assert_eq!(added, vec![(s("data/sub/d.txt"), d_len)], "added\n{r}");
    assert_eq!(removed, vec![(s("data/b.bin"), 3_000)], "removed\n{r}");
    assert_eq!(
        modified,
        vec![(s("data/a.csv"), 5_000, 5_100)],
        "modified\n{r}"
    );

    let t = repo.dvx(&["diff", "HEAD~3", "HEAD~2", "--", "data"]);
    t.ok();
    let out = t.stdout_str();
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    for want in [
        format!("A data/sub/d.txt ({d_len} bytes)"),
        s("D data/b.bin (3000 bytes)"),
        s("M data/a.csv (5000 -> 5100 bytes)"),
    ] {
        assert!(lines.contains(&want.as_str()), "missing line {want:?}\n{t}");
    }
    assert_eq!(
        lines.iter().filter(|l| !l.is_empty()).count(),
        3,
        "extra lines\n{t}"
    );

    // HEAD~1 (docs-only commit, data v2) -> HEAD (v3): only sub/c.txt, same size.
    let r = repo.dvx(&["diff", "HEAD~1", "HEAD", "data", "--json"]);
    r.ok();
    let (_, (added, removed, modified)) = diff_lists(&r);
    assert!(added.is_empty() && removed.is_empty(), "{r}");
    assert_eq!(modified, vec![(s("data/sub/c.txt"), 800, 800)], "{r}");

    // No rev: worktree pointer vs disk.
    let mut g = Gen::new(5);
    g.text_file(&repo.path("data/e.txt"), 10);
    fs::remove_file(repo.path("data/sub/d.txt")).unwrap();
    repo.write("data/run.sh", b"#!/bin/sh\nexit 1\n");
    let r = repo.dvx(&["diff", "--json"]);
    r.ok();
    let (d, (added, removed, modified)) = diff_lists(&r);
    assert_eq!(d["from"].as_str(), Some(id("HEAD").as_str()), "{r}");
    assert_eq!(added, vec![(s("data/e.txt"), 10)], "{r}");
    assert_eq!(removed, vec![(s("data/sub/d.txt"), d_len)], "{r}");
    assert_eq!(modified, vec![(s("data/run.sh"), 17, 17)], "{r}");

    // One rev: rev's pointer vs disk.
    let r = repo.dvx(&["diff", "HEAD~3", "data", "--json"]);
    r.ok();
    let (d, (added, removed, modified)) = diff_lists(&r);
    assert_eq!(d["from"].as_str(), Some(id("HEAD~3").as_str()), "{r}");
    assert_eq!(added, vec![(s("data/e.txt"), 10)], "{r}");
    assert_eq!(removed, vec![(s("data/b.bin"), 3_000)], "{r}");
    assert_eq!(
        modified,
        vec![
            (s("data/a.csv"), 5_000, 5_100),
            (s("data/run.sh"), 17, 17),
            (s("data/sub/c.txt"), 800, 800)
        ],
        "{r}"
    );
}

#[test]
fn inspect_single_file_dataset() {
    let repo = TestRepo::new();
    let mut g = Gen::new(6);
    let v1 = g.file(&repo.path("models/w.bin"), 70_000);
    repo.dvx(&["add", "models/w.bin", "-m", "w1"]).ok();
    repo.commit("w1");
    let v2 = g.file(&repo.path("models/w.bin"), 80_000);
    repo.dvx(&["add", "models/w.bin", "-m", "w2"]).ok();
    repo.commit("w2");

    let r = repo.dvx(&["cat", "HEAD~1:models/w.bin"]);
    r.ok();
    assert!(r.stdout == v1, "cat HEAD~1:models/w.bin");
    let r = repo.dvx(&["cat", "HEAD:models/w.bin"]);
    r.ok();
    assert!(r.stdout == v2, "cat HEAD:models/w.bin");

    let r = repo.dvx(&["id", "models/w.bin"]);
    r.ok();
    assert_eq!(r.stdout_str().trim(), repo.pointer("models/w.bin.dvx").id());

    let r = repo.dvx(&["ls", "HEAD~1", "models/w.bin", "--json"]);
    r.ok();
    let doc = r.json();
    let files: Vec<&Value> = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries\n{r}"))
        .iter()
        .filter(|e| e["kind"] == "file")
        .collect();
    assert_eq!(files.len(), 1, "{r}");
    assert_eq!(files[0]["path"], "models/w.bin", "{r}");
    assert_eq!(files[0]["size"].as_u64(), Some(70_000), "{r}");
    assert_eq!(files[0]["digest"].as_str(), Some(b3(&v1).as_str()), "{r}");

    let r = repo.dvx(&["log", "models/w.bin", "--json"]);
    r.ok();
    let doc = r.json();
    let msgs: Vec<&str> = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries\n{r}"))
        .iter()
        .map(|e| e["message"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(msgs, ["w2", "w1"], "{r}");
}
