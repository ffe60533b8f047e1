//! Remotes, read-only HTTP: a folder remote pushed as usual, served by `python3 -m
//! http.server` (a static server: no listing, no range requests) on 127.0.0.1, then read
//! from its `http://` URL: pull, fetch, fsck --remote, status --remote, a pull killed
//! halfway that resumes, a tampered object refused, push / gc refused as read-only, and get,
//! import and update reading a source whose data only a web server holds.
//! Needs only python3 (the server is started by each test).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote_common;
mod util;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use remote_common::*;
use util::web::WebServer;
use util::*;

/// A repository with v1 (tagged) and v2 of `data/` pushed (`--all-revs`) to a folder
/// remote, that folder served over HTTP.
struct Served {
    ctx: Ctx,
    folder: PathBuf,
    web: WebServer,
    v1: Snapshot,
    v2: Snapshot,
}

fn served() -> Served {
    let repo = TestRepo::new();
    let remote = Remote::folder(&repo, "remote", true);
    let folder = remote.folder.clone().unwrap();
    let ctx = Ctx { repo, remote };
    let repo = &ctx.repo;
    let mut g = Gen::new(0x477_0001);
    write_v1(repo, &mut g);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    ctx.add_origin();
    repo.commit("v1");
    repo.git(&["tag", "v1"]).ok();
    let v1 = repo.snapshot("data");
    write_v2(repo, &mut g);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    let v2 = repo.snapshot("data");
    ctx.push(&["--all-revs"]);
    assert!(ctx.objects().catalogue, "push wrote no catalogue");
    let web = WebServer::serve(&folder);
    Served {
        ctx,
        folder,
        web,
        v1,
        v2,
    }
}

impl Served {
    /// A clone whose default remote is the web server (`web`).
    fn clone_reading_web(&self, name: &str) -> PathBuf {
        let clone = self.ctx.repo.clone_to(name, &[]);
        self.ctx
            .dvx_in(
                &clone,
                &["remote", "add", "web", &self.web.url, "--default"],
            )
            .ok();
        clone
    }
}

#[test]
fn http_pull_fetch_fsck_and_status_read_a_served_folder_remote() {
    let s = served();
    let ctx = &s.ctx;
    let clone = s.clone_reading_web("pull");
    assert!(remote_pushed_to(ctx, &clone, "web"), "status --remote web");
    let r = ctx.dvx_in(&clone, &["pull"]);
    r.ok();
    summary_line(&r, "pulled");
    assert_snapshot_eq("pull over http", &s.v2, &snap_in(&clone, "data"));
    ctx.dvx_in(&clone, &["pull", "v1", "data"]).ok();
    assert_snapshot_eq("pull v1 over http", &s.v1, &snap_in(&clone, "data"));
    ctx.dvx_in(&clone, &["fsck", "--remote"])
        .ok()
        .stdout_has("no problems");

    let fetched = s.clone_reading_web("fetch");
    let f = ctx.dvx_in(&fetched, &["fetch", "--json"]);
    f.ok();
    assert!(summary(&f).transferred >= 5 * MIB, "{f}");
    assert!(!fetched.join("data").exists(), "fetch wrote the worktree");
    ctx.dvx_in(&fetched, &["checkout"]).ok();
    assert_snapshot_eq(
        "fetch + checkout over http",
        &s.v2,
        &snap_in(&fetched, "data"),
    );
}

/// `dvx status --json --remote <name>`: whether `data` is pushed there.
fn remote_pushed_to(ctx: &Ctx, dir: &Path, name: &str) -> bool {
    let r = ctx.dvx_in(dir, &["status", "--json", "--remote", name]);
    r.ok();
    dataset(&r.json(), "data")["remote"]["pushed"]
        .as_bool()
        .unwrap_or_else(|| panic!("no remote.pushed\n{r}"))
}

#[test]
fn http_remote_refuses_push_and_gc_saying_it_is_read_only() {
    let s = served();
    let ctx = &s.ctx;
    let clone = s.clone_reading_web("push");
    let before = ctx.remote.list().unwrap();
    for args in [
        &["push"][..],
        &["gc", "--remote", "web", "--keep-days", "0"][..],
    ] {
        let r = ctx.dvx_in(&clone, args);
        r.code_is(2).stderr_is_error();
        r.stderr_has("read-only")
            .stderr_has(&s.web.url)
            .stderr_has("dvx remote add");
    }
    assert_eq!(ctx.remote.list().unwrap(), before, "the folder changed");
}

#[test]
fn http_tampered_object_is_refused() {
    let s = served();
    let ctx = &s.ctx;
    let mut packs = Vec::new();
    find_files(&s.folder.join("packs"), &mut |_| true, &mut packs);
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let big = packs.last().unwrap();
    let mut bytes = std::fs::read(big).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(big, bytes).unwrap();
    let clone = s.clone_reading_web("tampered");
    // Both versions: every chunk of every pack is one of theirs (the flipped byte may sit in
    // a chunk only v1 has, depending on how the threads of `add` filled the packs).
    let r = ctx.dvx_in(&clone, &["fetch", "v1", "HEAD"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("corrupt").stderr_has(&s.web.url);
    // A pull fails or restores the version; it never writes a damaged file.
    let _ = ctx.dvx_in(&clone, &["pull"]);
    assert_partial_ok(&s.v2, &snap_in(&clone, "data"), "pull of a tampered remote");
}

#[test]
fn http_pull_killed_halfway_resumes() {
    let s = served();
    let ctx = &s.ctx;
    let clone = s.clone_reading_web("killed");
    let killed = kill_repeatedly(ctx, &clone, &["pull"]);
    eprintln!("pull over http: {killed} runs killed");
    assert_partial_ok(&s.v2, &snap_in(&clone, "data"), "after the killed pulls");
    ctx.dvx_in(&clone, &["pull"]).ok();
    let (leftovers, got) = without_tmp(snap_in(&clone, "data"));
    if !leftovers.is_empty() {
        eprintln!("note: leftovers of the killed pulls: {leftovers:?}");
    }
    assert_snapshot_eq("pull after killed pulls over http", &s.v2, &got);
    let st = ctx.dvx_in(&clone, &["status", "--json"]);
    st.ok();
    assert_eq!(dataset(&st.json(), "data")["state"], "clean", "{st}");
}

#[test]
fn http_url_without_a_catalogue_says_so() {
    let repo = TestRepo::new();
    let empty = repo.tmp().join("not-a-remote");
    std::fs::create_dir_all(&empty).unwrap();
    let web = WebServer::serve(&empty);
    let mut g = Gen::new(0x477_0002);
    g.tree(&repo.path("data"), 1, 2, 10_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "web", &web.url]).ok();
    repo.commit("data");
    let clone = repo.clone_to("clone", &[]);
    let r = repo.dvx_in(&clone, &["pull"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("catalogue.txt").stderr_has(&web.url);
    // A password in the URL (basic authentication) is never shown.
    let secret = "Http5ecretPassw0rd";
    let with_password = web
        .url
        .replace("http://", &format!("http://reader:{secret}@"));
    repo.dvx_in(
        &clone,
        &["config", "--local", "remotes.web.url", &with_password],
    )
    .ok();
    for args in [
        &["pull"][..],
        &["remote", "list"][..],
        &["config", "--local"][..],
    ] {
        let r = repo.dvx_in(&clone, args);
        assert!(
            !r.stderr_str().contains(secret) && !r.stdout_str().contains(secret),
            "the URL's password appears in the output of {args:?}\n{r}"
        );
    }
    // Nothing listens on port 9: unreachable, quickly.
    let t = std::time::Instant::now();
    let r = repo.dvx_in(&clone, &["pull", "-r", "down"]);
    r.code_is(2);
    repo.dvx_in(&clone, &["remote", "add", "down", "http://127.0.0.1:9/x"])
        .ok();
    let r = repo.dvx_in(&clone, &["pull", "-r", "down"]);
    r.code_is(1).stderr_has("cannot reach");
    assert!(t.elapsed() < std::time::Duration::from_secs(120));
}

/// Two repositories pushing to one folder remote at the same time (no lock): afterwards the
/// catalogue lists exactly what the folder holds, and both datasets pull over HTTP.
#[test]
fn concurrent_pushes_leave_a_complete_catalogue() {
    let a = TestRepo::new();
    let folder = a.tmp().join("shared-remote");
    std::fs::create_dir_all(&folder).unwrap();
    let b = TestRepo::new();
    for (i, repo) in [&a, &b].into_iter().enumerate() {
        let mut g = Gen::new(0x477_0100 + i as u64);
        for j in 0..3 {
            g.file(&repo.path(&format!("data/f{j}.bin")), 2 * MIB as usize);
        }
        g.tree(&repo.path("data/small"), 2, 6, 20_000);
        repo.dvx(&["add", "data"]).ok();
        repo.dvx(&["remote", "add", "origin", folder.to_str().unwrap()])
            .ok();
        repo.commit("data");
    }
    for round in 0..3 {
        let mut children: Vec<_> = [&a, &b]
            .iter()
            .map(|r| {
                r.dvx_cmd(&["push"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children.iter_mut() {
            assert!(c.wait().unwrap().success(), "round {round}: a push failed");
        }
        let mut files = Vec::new();
        find_files(&folder, &mut |_| true, &mut files);
        let mut held: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(&folder)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|k| {
                ["packs/", "index/", "trees/"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .collect();
        held.sort();
        let text = std::fs::read_to_string(folder.join("catalogue.txt")).unwrap();
        let mut listed: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect();
        listed.sort();
        assert_eq!(listed, held, "round {round}: catalogue vs folder");
        // The next round adds a version to each.
        for (i, repo) in [&a, &b].into_iter().enumerate() {
            let mut g = Gen::new(0x477_0200 + (round * 2 + i) as u64);
            g.file(&repo.path(&format!("data/r{round}.bin")), MIB as usize);
            repo.dvx(&["add", "data"]).ok();
            repo.commit(&format!("round {round}"));
        }
    }
    let web = WebServer::serve(&folder);
    for repo in [&a, &b] {
        repo.dvx(&["push"]).ok();
        let clone = repo.clone_to("over-http", &[]);
        repo.dvx_in(&clone, &["remote", "add", "web", &web.url, "--default"])
            .ok();
        repo.dvx_in(&clone, &["pull"]).ok();
        assert_snapshot_eq(
            "pull over http after concurrent pushes",
            &repo.snapshot("data"),
            &snap_in(&clone, "data"),
        );
    }
}

/// A registry whose data is reachable only over HTTP (its folder remote moved away, then
/// served by a web server): `get` and `import` read it with `--remote-url`, byte-identical to
/// the registry's versions; `update` follows it to another version.
#[test]
fn get_and_import_read_a_source_over_http() {
    let s = served();
    let reg = &s.ctx.repo;
    reg.git(&["tag", "v2"]).ok();
    // Only the web server holds the data now: the registry's committed folder is gone.
    let hidden = reg.tmp().join("served");
    std::fs::rename(&s.folder, &hidden).unwrap();
    let web = WebServer::serve(&hidden);
    let url = reg.root().to_string_lossy().into_owned();
    let cache = reg.tmp().join("cache");
    let cache = cache.to_string_lossy();

    let user = TestRepo::new();
    user.set_env("DVX_CACHE_DIR", &cache);
    let out = user.outside();
    user.dvx_in(
        &out,
        &["get", &url, "data", "--rev", "v1", "--remote-url", &web.url],
    )
    .ok();
    assert_snapshot_eq("get v1 over http", &s.v1, &snap_in(&out, "data"));

    user.dvx(&["init"]).ok();
    user.dvx(&[
        "import",
        &url,
        "data",
        "-o",
        "imported",
        "--rev",
        "v1",
        "--remote-url",
        &web.url,
    ])
    .ok();
    assert_snapshot_eq("import v1 over http", &s.v1, &user.snapshot("imported"));
    // Without the web server's URL the source's own (moved) remote is tried, and fails.
    user.dvx(&["update", "imported.dvx", "--rev", "v2"])
        .code_is(1);
    assert_snapshot_eq(
        "a failed update leaves v1",
        &s.v1,
        &user.snapshot("imported"),
    );
    user.dvx(&[
        "update",
        "imported.dvx",
        "--rev",
        "v2",
        "--remote-url",
        &web.url,
    ])
    .ok();
    assert_snapshot_eq("update to v2 over http", &s.v2, &user.snapshot("imported"));
}

#[test]
fn http_reads_a_served_encrypted_remote_with_its_passphrase() {
    let repo = TestRepo::new();
    let remote = Remote::folder(&repo, "remote", true).encrypted(&repo, "web passphrase");
    let folder = remote.folder.clone().unwrap();
    let ctx = Ctx { repo, remote };
    let repo = &ctx.repo;
    let mut g = Gen::new(0x477_0e4c);
    write_v1(repo, &mut g);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    ctx.add_origin();
    repo.commit("v1");
    ctx.push(&[]);
    let want = repo.snapshot("data");
    let web = WebServer::serve(&folder);
    // `--encrypt` joins the served remote: its key objects are in the catalogue.
    let clone = repo.clone_to("web-enc", &[]);
    ctx.dvx_in(
        &clone,
        &["remote", "add", "web", &web.url, "--default", "--encrypt"],
    )
    .ok();
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull over http, encrypted", &want, &snap_in(&clone, "data"));
    let other = repo.clone_to("web-enc-wrong", &[]);
    repo.dvx_in_env(
        &other,
        &[("DVX_PASSPHRASE", "not it")],
        &["remote", "add", "web", &web.url, "--default", "--encrypt"],
    )
    .code_is(1)
    .stderr_has("cannot open its key");
}
