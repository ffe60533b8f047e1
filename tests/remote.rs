//! Remotes, folder backend (and the backend-independent parts: `dvx remote ...`, usage
//! errors): push / fetch / pull round trips through fresh and shallow git clones, transfer
//! sizes and object counts, corrupt and missing remote objects, interrupted transfers.
//! The same scenarios run against S3 in `tests/remote_s3.rs`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote_common;
mod util;

use std::fs;

use remote_common::*;
use util::*;

fn folder_ctx(create: bool) -> Ctx {
    let repo = TestRepo::new();
    let remote = Remote::folder(&repo, "remote", create);
    Ctx { repo, remote }
}

#[test]
fn folder_roundtrip_push_all_revs_then_pull_in_clones() {
    // The remote directory does not exist yet: `dvx push` creates it.
    roundtrip_all_revs(&folder_ctx(false));
}

#[test]
fn folder_roundtrip_push_after_each_version() {
    roundtrip_push_each(&folder_ctx(true));
}

#[test]
fn folder_interrupted_push_and_pull_recover() {
    interrupted_transfers(&folder_ctx(true));
}

#[test]
fn folder_many_small_files_make_few_remote_objects() {
    let ctx = folder_ctx(true);
    let repo = &ctx.repo;
    let mut g = Gen::new(0x500);
    for i in 0..500 {
        let n = 500 + g.range(0..2500);
        g.file(&repo.path(&format!("data/d{}/f{i}.bin", i % 10)), n);
    }
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    ctx.add_origin();
    repo.commit("v1");
    let s1 = ctx.push(&[]);
    assert_eq!(s1.files, 500, "{s1:?}");
    let o1 = ctx.objects();
    check_object_count(&o1, s1.transferred, 1);
    assert!(
        o1.trees.len() <= 11,
        "11 directories but {} trees on the remote: {o1:#?}",
        o1.trees.len()
    );
    assert!(
        s1.objects <= 3 + 11,
        "500 files pushed as {} objects (a pack, an index and the trees expected): {s1:?}",
        s1.objects
    );

    for i in 0..500 {
        let n = 500 + g.range(0..2500);
        g.file(&repo.path(&format!("data/n{}/f{i}.bin", i % 10)), n);
    }
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    let s2 = ctx.push(&[]);
    let o2 = ctx.objects();
    check_object_count(&o2, s1.transferred + s2.transferred, 2);
    // Unchanged sub-directories are not re-sent: 10 new trees and a new root.
    assert!(
        o2.trees.len() <= o1.trees.len() + 11,
        "{} trees after v2, {} after v1",
        o2.trees.len(),
        o1.trees.len()
    );

    let want = repo.snapshot("data");
    let clone = repo.clone_to("clone", &[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull of 1000 small files", &want, &snap_in(&clone, "data"));
}

/// The summaries of push, fetch and pull: human sizes, counts that agree with their nouns,
/// "nothing to push/fetch" when nothing had to move, and the exact numbers under `--json`.
#[test]
fn folder_transfer_summaries_are_human_and_say_when_nothing_moved() {
    let ctx = folder_ctx(true);
    let repo = &ctx.repo;
    let mut g = Gen::new(0x5e7);
    g.file(&repo.path("data/one.bin"), 5_000);
    repo.dvx(&["add", "data"]).ok();
    ctx.add_origin();
    repo.commit("one file");
    let what = format!("1 dataset version (1 file, {})", human_bytes(5_000));

    let r = ctx.dvx(&["push"]);
    r.ok();
    let line = summary_line(&r, "pushed");
    assert!(line.starts_with(&format!("pushed {what}: sent ")), "{r}");
    assert!(
        !line.contains("bytes"),
        "raw byte counts in a human line\n{r}"
    );
    let r = ctx.dvx(&["push"]);
    r.ok();
    let line = summary_line(&r, "pushed");
    assert!(
        line.starts_with(&format!("nothing to push: the remote already has {what}; ")),
        "{r}"
    );
    let again = ctx.push(&[]);
    assert_eq!(
        (again.objects, again.versions, again.files),
        (0, 1, 1),
        "{again:?}"
    );
    assert_eq!(again.bytes, 5_000, "{again:?}");

    // pull: what was restored, then the summary.
    let clone = repo.clone_to("clone", &[]);
    let r = ctx.dvx_in(&clone, &["pull"]);
    r.ok();
    let line = summary_line(&r, "pulled");
    assert!(
        line.starts_with(&format!("pulled {what}: received ")),
        "{r}"
    );
    r.stdout_has(&format!(
        ": 1 written ({}), 0 removed, 0 unchanged",
        human_bytes(5_000)
    ));
    // Everything is in the store now: nothing to fetch, by fetch or by pull.
    let r = ctx.dvx_in(&clone, &["fetch"]);
    r.ok();
    let line = summary_line(&r, "fetched");
    assert!(
        line.starts_with(&format!(
            "nothing to fetch: the local store already has {what}; "
        )),
        "{r}"
    );
    let r = ctx.dvx_in(&clone, &["pull"]);
    r.ok();
    summary_line(&r, "pulled");
    r.stdout_has("nothing to fetch: ")
        .stdout_has(": 0 written (0 B), 0 removed, 1 unchanged");
    let j = ctx.dvx_in(&clone, &["pull", "--json"]);
    j.ok();
    let s = summary(&j);
    assert_eq!(
        (s.versions, s.files, s.bytes, s.objects),
        (1, 1, 5_000, 0),
        "{s:?}"
    );
    let doc = j.json();
    assert_eq!(doc["datasets"][0]["path"], "data", "{j}");
    assert_eq!(doc["datasets"][0]["unchanged"], 1, "{j}");
}

/// `dvx pull` in a fresh clone must fail (exit 1) naming the remote, an object id and at least
/// one affected file, and must not write wrong content.
#[track_caller]
fn assert_pull_fails(
    ctx: &Ctx,
    clone_name: &str,
    what: &str,
    expected: &Snapshot,
    pointer: &str,
    min_files: usize,
) {
    let clone = ctx.repo.clone_to(clone_name, &[]);
    let r = ctx.dvx_in(&clone, &["pull"]);
    r.code_is(1).stderr_is_error();
    let err = r.stderr_str();
    eprintln!("{what}: `dvx pull` failed with:\n{err}");
    assert!(
        err.contains("origin"),
        "{what}: stderr should name the remote `origin`\n{r}"
    );
    assert!(
        has_hex_run(&err, 12),
        "{what}: stderr should name the object (hex id)\n{r}"
    );
    let files: Vec<String> = expected
        .iter()
        .filter(|(_, e)| matches!(e, Entry::File { .. }))
        .map(|(k, _)| format!("data/{k}"))
        .collect();
    let named = files.iter().filter(|f| err.contains(f.as_str())).count();
    assert!(
        named >= min_files,
        "{what}: stderr should name the affected files of the dataset (at least {min_files}, \
         it names {named})\n{r}"
    );
    assert_partial_ok(expected, &snap_in(&clone, "data"), what);
    assert_eq!(
        fs::read_to_string(clone.join("data.dvx")).unwrap(),
        pointer,
        "{what}: the pointer changed"
    );
}

/// 12 files of 100-300 KB (random) in `data/` and `data/sub/`, pushed to a folder remote.
/// Returns (ctx, snapshot of data/, pointer text, dataset id).
fn pushed_dataset() -> (Ctx, Snapshot, String, String) {
    let ctx = folder_ctx(true);
    let repo = &ctx.repo;
    let mut g = Gen::new(0xbad);
    for i in 0..12 {
        let sub = if i % 2 == 0 { "" } else { "sub/" };
        let n = 100_000 + g.range(0..200_000);
        g.file(&repo.path(&format!("data/{sub}f{i}.bin")), n);
    }
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    ctx.add_origin();
    repo.commit("v1");
    ctx.push(&[]);
    let expected = repo.snapshot("data");
    let pointer = repo.read_str("data.dvx");
    let id = repo.pointer("data.dvx").id().to_string();
    (ctx, expected, pointer, id)
}

#[test]
fn folder_corrupt_or_missing_remote_objects_fail_the_pull() {
    let (ctx, expected, pointer, id) = pushed_dataset();
    let repo = &ctx.repo;
    let folder = ctx.remote.folder.clone().unwrap();
    let objs = ctx.objects();
    let pack = folder.join(&objs.packs[0]);
    let original = fs::read(&pack).unwrap();

    // 1. One byte flipped in the middle of the chunk data of a pack.
    let mut bytes = original.clone();
    let n = bytes.len();
    let trailer = u64::from_le_bytes(bytes[n - 56..n - 48].try_into().unwrap()) as usize;
    let mid = 16 + (trailer - 16) / 2;
    bytes[mid] ^= 0x5a;
    fs::write(&pack, &bytes).unwrap();
    // One chunk is bad: one file affected.
    assert_pull_fails(&ctx, "corrupt", "corrupt pack", &expected, &pointer, 1);
    fs::write(&pack, &original).unwrap();

    // 2. The pack deleted.
    fs::remove_file(&pack).unwrap();
    assert_pull_fails(&ctx, "nopack", "missing pack", &expected, &pointer, 1);
    fs::write(&pack, &original).unwrap();

    // 3. The root tree (the dataset version) deleted.
    let root_tree = folder.join(format!("trees/{}/{id}", &id[..2]));
    let tree_bytes = fs::read(&root_tree).expect("root tree on the remote at trees/<hh>/<id>");
    fs::remove_file(&root_tree).unwrap();
    let clone = repo.clone_to("notree", &[]);
    let r = ctx.dvx_in(&clone, &["pull"]);
    r.code_is(1).stderr_is_error().stderr_has("origin");
    assert!(
        r.stderr_str().contains(&id[..12]),
        "stderr should name the missing tree (the dataset id)\n{r}"
    );
    assert_partial_ok(&expected, &snap_in(&clone, "data"), "missing root tree");
    fs::write(&root_tree, &tree_bytes).unwrap();

    // Repaired: a fresh clone pulls everything.
    let clone = repo.clone_to("repaired", &[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull after repair", &expected, &snap_in(&clone, "data"));
}

/// An index file on the remote only speeds up lookups: a damaged one must not stop a pull (the
/// packs describe themselves), but the user is told, and `fsck --remote` names it.
#[test]
fn folder_damaged_remote_index_falls_back_to_pack_trailers() {
    let (ctx, expected, pointer, _) = pushed_dataset();
    let folder = ctx.remote.folder.clone().unwrap();
    let objs = ctx.objects();
    assert!(!objs.indexes.is_empty(), "the push wrote no index");
    for idx in &objs.indexes {
        let p = folder.join(idx);
        let mut bytes = fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        fs::write(&p, &bytes).unwrap();
    }
    let clone = ctx.repo.clone_to("damaged-index", &[]);
    let r = ctx.dvx_in(&clone, &["pull"]);
    r.ok();
    let err = r.stderr_str();
    assert!(
        err.contains("warning:") && err.contains("origin") && err.contains("index/"),
        "pull should warn about the damaged index, naming the remote and the object\n{r}"
    );
    assert_snapshot_eq(
        "pull despite a damaged index",
        &expected,
        &snap_in(&clone, "data"),
    );
    assert_eq!(fs::read_to_string(clone.join("data.dvx")).unwrap(), pointer);
    let r = ctx.dvx_in(&clone, &["fsck", "--remote"]);
    r.code_is(1);
    let out = format!("{}{}", r.stdout_str(), r.stderr_str());
    assert!(
        out.contains("index/") && out.contains("corrupt"),
        "fsck --remote should name the damaged index\n{r}"
    );
    // A push with nothing new still works against the damaged index.
    ctx.dvx_in(&clone, &["push"]).ok();
}

#[test]
fn folder_missing_pack_error_lists_every_affected_file() {
    let (ctx, expected, pointer, _) = pushed_dataset();
    let objs = ctx.objects();
    assert_eq!(
        objs.packs.len(),
        1,
        "3 MB pushed at once: one pack expected\n{objs:#?}"
    );
    fs::remove_file(ctx.remote.folder.as_ref().unwrap().join(&objs.packs[0])).unwrap();
    // The only pack holds every chunk: all 12 files are affected and should be named.
    assert_pull_fails(&ctx, "nopack", "missing pack", &expected, &pointer, 12);
}

/// Lines of `dvx remote list`.
fn list(repo: &TestRepo) -> Vec<String> {
    let r = repo.dvx(&["remote", "list"]);
    r.ok();
    r.stdout_str().lines().map(str::to_string).collect()
}

/// (name, url, default) of `dvx remote list --json`.
fn list_json(repo: &TestRepo) -> Vec<(String, String, bool)> {
    let r = repo.dvx(&["remote", "list", "--json"]);
    r.ok();
    let doc = r.json();
    doc["remotes"]
        .as_array()
        .unwrap_or_else(|| panic!("no `remotes` array\n{r}"))
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["url"].as_str().unwrap().to_string(),
                e["default"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// `.dvx/config.toml` is staged: the index holds what the worktree holds.
#[track_caller]
fn assert_config_staged(repo: &TestRepo, after: &str) {
    let r = repo.git(&["diff", "--quiet", "--", ".dvx/config.toml"]);
    assert!(
        r.status.success(),
        "after `{after}`, .dvx/config.toml differs from the index (not staged)"
    );
}

#[test]
fn remote_add_list_default_remove() {
    let repo = TestRepo::new();
    repo.commit("init");
    assert!(list(&repo).is_empty(), "no remotes yet");
    assert!(list_json(&repo).is_empty());

    let abs = repo.outside().join("store-a");
    let abs = abs.to_str().unwrap();
    repo.dvx(&["remote", "add", "origin", abs]).ok();
    assert!(
        repo.staged().contains(&".dvx/config.toml".to_string()),
        "config.toml not staged: {:?}",
        repo.staged()
    );
    let cfg = repo.read_str(".dvx/config.toml");
    assert!(
        cfg.contains("[remotes.origin]") && cfg.contains(abs),
        "{cfg}"
    );
    assert!(
        cfg.contains("default_remote = \"origin\""),
        "first remote is the default:\n{cfg}"
    );
    assert_eq!(list(&repo), vec![format!("origin\t{abs}\t(default)")]);
    repo.commit("origin");

    repo.dvx(&["remote", "add", "backup", "s3://some-bucket/some/prefix"])
        .ok();
    assert!(repo.staged().contains(&".dvx/config.toml".to_string()));
    let mut l = list(&repo);
    l.sort();
    assert_eq!(
        l,
        vec![
            "backup\ts3://some-bucket/some/prefix".to_string(),
            format!("origin\t{abs}\t(default)"),
        ]
    );
    let mut j = list_json(&repo);
    j.sort();
    assert_eq!(
        j,
        vec![
            (
                "backup".into(),
                "s3://some-bucket/some/prefix".into(),
                false
            ),
            ("origin".into(), abs.to_string(), true),
        ]
    );

    // Usage errors leave the config alone.
    let before = repo.read_str(".dvx/config.toml");
    repo.dvx(&["remote", "add", "origin", "/elsewhere"])
        .code_is(2)
        .stderr_is_error();
    for bad in ["http:///x", "ftp://host/p", "gs://A/x", "az://a_b/x", ""] {
        repo.dvx(&["remote", "add", "bad", bad])
            .code_is(2)
            .stderr_is_error();
    }
    repo.dvx(&["remote", "default", "nope"])
        .code_is(2)
        .stderr_is_error();
    repo.dvx(&["remote", "remove", "nope"])
        .code_is(2)
        .stderr_is_error();
    assert_eq!(repo.read_str(".dvx/config.toml"), before);

    repo.dvx(&["remote", "default", "backup"]).ok();
    assert_config_staged(&repo, "remote default backup");
    let j = list_json(&repo);
    assert!(j.iter().any(|(n, _, d)| n == "backup" && *d), "{j:?}");
    assert!(j.iter().any(|(n, _, d)| n == "origin" && !*d), "{j:?}");
    assert!(repo
        .read_str(".dvx/config.toml")
        .contains("default_remote = \"backup\""));
    assert!(list(&repo).contains(&"backup\ts3://some-bucket/some/prefix\t(default)".to_string()));

    repo.dvx(&["remote", "add", "third", "../third", "--default"])
        .ok();
    assert_config_staged(&repo, "remote add third ../third --default");
    let j = list_json(&repo);
    assert_eq!(j.iter().filter(|(_, _, d)| *d).count(), 1, "{j:?}");
    assert!(
        j.iter()
            .any(|(n, u, d)| n == "third" && u == "../third" && *d),
        "{j:?}"
    );

    repo.dvx(&["remote", "default", "origin"]).ok();
    repo.dvx(&["remote", "remove", "third"]).ok();
    repo.dvx(&["remote", "remove", "backup"]).ok();
    assert_config_staged(&repo, "remote remove backup");
    assert_eq!(list(&repo), vec![format!("origin\t{abs}\t(default)")]);
    let cfg = repo.read_str(".dvx/config.toml");
    assert!(!cfg.contains("backup") && !cfg.contains("third"), "{cfg}");

    // An unknown remote name for the transfer commands: usage error.
    let mut g = Gen::new(7);
    g.file(&repo.path("data/a.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("data");
    for args in [
        &["push", "-r", "nope"][..],
        &["push", "--remote", "nope"][..],
        &["fetch", "-r", "nope"][..],
        &["pull", "-r", "nope"][..],
        &["status", "--remote", "nope"][..],
    ] {
        repo.dvx(args).code_is(2).stderr_is_error();
    }
}

#[test]
fn no_remote_configured_is_a_usage_error() {
    let repo = TestRepo::new();
    let mut g = Gen::new(8);
    g.file(&repo.path("data/a.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("data");
    for args in [
        &["push"][..],
        &["push", "--all-revs"][..],
        &["fetch"][..],
        &["pull"][..],
        &["status", "--remote"][..],
    ] {
        let r = repo.dvx(args);
        r.code_is(2).stderr_is_error().stderr_has("dvx remote add");
    }
}

#[test]
fn relative_folder_remote_is_relative_to_the_repository_root() {
    let repo = TestRepo::new();
    let mut g = Gen::new(9);
    g.tree(&repo.path("data"), 2, 4, 30_000);
    repo.write("code/main.py", b"print(1)\n");
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", "../rel-remote"]).ok();
    repo.commit_all("data");
    // Run from a sub-directory: the URL is still relative to the repository root.
    let code = repo.path("code");
    let r = repo.dvx_in(&code, &["push"]);
    r.ok();
    summary_line(&r, "pushed");
    let remote_dir = repo.tmp().join("rel-remote");
    assert!(
        remote_dir.join("packs").is_dir(),
        "no packs/ in <repo>/../rel-remote"
    );
    assert!(
        !repo.root().join("rel-remote").exists(),
        "the URL was resolved from the current directory, not the repository root"
    );

    // A clone at <tmp>/clone resolves ../rel-remote to the same <tmp>/rel-remote.
    let want = repo.snapshot("data");
    let clone = repo.clone_to("clone", &[]);
    repo.dvx_in(&clone.join("code"), &["pull"]).ok();
    assert_snapshot_eq(
        "pull via a relative folder remote",
        &want,
        &snap_in(&clone, "data"),
    );
}

#[test]
fn folder_push_of_a_given_revision_sends_only_that_version() {
    let ctx = folder_ctx(true);
    let repo = &ctx.repo;
    let mut g = Gen::new(0x7e7);
    ctx.add_origin();
    g.tree(&repo.path("data"), 2, 6, 40_000);
    g.file(&repo.path("data/big.bin"), 600_000);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    repo.commit("v1");
    repo.git(&["tag", "v1"]).ok();
    let v1 = repo.snapshot("data");
    // v2: a new 1 MB file that v1 does not have.
    g.file(&repo.path("data/only-v2.bin"), 1_000_000);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");

    let s = ctx.push(&["v1"]);
    assert_eq!(s.versions, 1, "{s:?}");
    assert!(
        s.transferred < 1_000_000,
        "`push v1` sent v2's new file too: {s:?}"
    );
    let shallow = repo.clone_to("v1", &["--depth", "1", "--branch", "v1"]);
    ctx.dvx_in(&shallow, &["pull"]).ok();
    assert_snapshot_eq("pull v1 after `push v1`", &v1, &snap_in(&shallow, "data"));
    // v2 is not on the remote.
    assert!(!remote_pushed(&ctx, repo.root(), "data"));
    let full = repo.clone_to("full", &[]);
    let r = ctx.dvx_in(&full, &["pull"]);
    r.code_is(1).stderr_is_error();
    assert_partial_ok(
        &repo.snapshot("data"),
        &snap_in(&full, "data"),
        "pull of v2",
    );
}

/// Total bytes of the files under `dir` (recursively).
fn walk_sizes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            walk_sizes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// Every chunk of every pack under `dir` (recursively): (compression, raw length).
fn pack_chunks(dir: &std::path::Path) -> Vec<(dvx_store::pack::Compression, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pack") {
                let f = fs::File::open(&p).unwrap();
                for c in dvx_store::pack::read_trailer(&f, &p).unwrap() {
                    out.push((c.compression, c.raw_len));
                }
            }
        }
    }
    out
}

#[test]
fn local_store_compresses_text_and_push_sends_it_as_stored() {
    use dvx_store::pack::Compression;
    let ctx = folder_ctx(true);
    let repo = &ctx.repo;
    let mut g = Gen::new(0x2e5);
    g.text_file(&repo.path("data/table.csv"), 3_000_000);
    g.file(&repo.path("data/noise.bin"), 1_000_000);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    ctx.add_origin();
    repo.commit("v1");

    // `add` compresses the CSV's chunks and stores the random bytes raw (zstd_level = 0).
    let local = pack_chunks(&repo.path(".dvx/store/packs"));
    let local_zstd = local
        .iter()
        .filter(|(c, _)| *c == Compression::Zstd)
        .count();
    assert!(
        local_zstd > 0 && local_zstd < local.len(),
        "text compressed, random bytes raw: {local:?}"
    );
    let store_bytes: u64 = walk_sizes(&repo.path(".dvx/store/packs"));
    assert!(
        store_bytes < 3_000_000 / 2 + 1_100_000,
        "the CSV should take well under half its size: store holds {store_bytes} bytes"
    );
    let s = ctx.push(&[]);
    let remote = pack_chunks(ctx.remote.folder.as_ref().unwrap());
    assert_eq!(remote.len(), local.len(), "every chunk pushed once");
    let zstd = remote
        .iter()
        .filter(|(c, _)| *c == Compression::Zstd)
        .count();
    // The CSV compresses, the random bytes do not (and are sent raw).
    assert!(zstd > 0 && zstd < remote.len(), "{remote:?}");
    let raw_total: u64 = local.iter().map(|(_, n)| *n as u64).sum();
    assert!(
        s.transferred < raw_total * 3 / 4,
        "compressible data should shrink on the way: sent {} of {raw_total}: {s:?}",
        s.transferred
    );

    // A clone pulls the compressed chunks, keeps them as they are and restores the bytes.
    let want = repo.snapshot("data");
    let clone = repo.clone_to("clone", &[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull of compressed chunks", &want, &snap_in(&clone, "data"));
    let fetched = pack_chunks(&clone.join(".dvx/store/packs"));
    assert!(
        fetched.iter().any(|(c, _)| *c == Compression::Zstd),
        "fetched chunks are stored as received: {fetched:?}"
    );
    ctx.dvx_in(&clone, &["fsck"]).ok();
}
