//! What dvx prints and whom it talks to: `dvx id` vouches only for the data on disk, partial
//! checkouts say what they did, the git hooks never break git, no view prints a secret, a
//! committed config cannot redirect credentials, names are printed safely, a closed pipe is a
//! normal end, and exit codes say whose fault a failure is.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::ffi::OsStr;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use util::*;

/// A repository with two committed versions of `data` (v1, v2 with `sub/` changed).
fn two_versions(repo: &TestRepo) -> (String, String) {
    let mut g = Gen::new(0x1810);
    g.tree(&repo.path("data"), 2, 6, 20_000);
    g.file(&repo.path("data/sub/s.bin"), 10_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let v1 = repo.pointer("data.dvx").id().to_string();
    g.file(&repo.path("data/sub/s.bin"), 12_000);
    g.file(&repo.path("data/top.bin"), 5_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    let v2 = repo.pointer("data.dvx").id().to_string();
    assert_ne!(v1, v2);
    (v1, v2)
}

fn count_files(dir: &Path) -> usize {
    let mut v = Vec::new();
    find_files(dir, &mut |_| true, &mut v);
    v.len()
}

// ---- item 10: `dvx id` must not vouch for data that differs ----

#[test]
fn id_refuses_to_vouch_for_data_that_differs_from_its_pointer() {
    let repo = TestRepo::new();
    let (v1, v2) = two_versions(&repo);
    repo.dvx(&["id", "data"]).ok().stdout_has(&v2);

    // Edited data: the recorded id is not the data's.
    Gen::new(9).overwrite(&repo.path("data/top.bin"), 10, 100);
    repo.dvx(&["id", "data"])
        .code_is(1)
        .stderr_is_error()
        .stderr_has("not the version")
        .stderr_has("--worktree");
    repo.dvx(&["id", "--pointer", "data"]).ok().stdout_has(&v2);
    // The worktree id is computed without storing anything, and is what `add` then records.
    let trees = count_files(&repo.path(".dvx/store/trees"));
    let on_disk = repo.dvx(&["id", "--worktree", "data"]).ok().stdout_str();
    let on_disk = on_disk.trim().to_string();
    assert!(is_hex64(&on_disk) && on_disk != v2, "{on_disk}");
    assert_eq!(
        count_files(&repo.path(".dvx/store/trees")),
        trees,
        "id --worktree wrote trees"
    );
    // A revision names what that commit recorded, whatever is on disk.
    repo.dvx(&["id", "HEAD~1", "data"]).ok().stdout_has(&v1);
    repo.dvx(&["id", "--worktree", "HEAD", "data"]).code_is(2);
    repo.dvx(&["add", "data"]).ok();
    assert_eq!(repo.pointer("data.dvx").id(), on_disk);
    repo.dvx(&["id", "data"]).ok().stdout_has(&on_disk);
}

#[test]
fn a_partial_checkout_does_not_claim_a_version_change() {
    let repo = TestRepo::new();
    let (v1, v2) = two_versions(&repo);
    let r = repo.dvx(&["checkout", "HEAD~1", "data/sub"]);
    r.ok();
    let out = r.stdout_str();
    assert!(!out.contains("now at"), "{out}");
    assert!(
        out.contains("data/sub: restored from version") && out.contains("is unchanged"),
        "{out}"
    );
    assert_eq!(repo.pointer("data.dvx").id(), v2);
    // The mixed state is not v1, and not v2 either: id says so.
    repo.dvx(&["id", "data"]).code_is(1).stderr_has(&v2);
    let mixed = repo.dvx(&["id", "--worktree", "data"]).ok().stdout_str();
    assert!(!mixed.contains(&v1) && !mixed.contains(&v2), "{mixed}");

    // Same words for pull of a sub-path.
    let remote = repo.tmp().join("remote");
    repo.dvx(&["remote", "add", "origin", remote.to_str().unwrap()])
        .ok();
    repo.dvx(&["push", "HEAD", "HEAD~1"]).ok();
    let r = repo.dvx(&["pull", "HEAD", "data/sub"]);
    r.ok();
    let out = r.stdout_str();
    assert!(
        out.contains("data/sub: restored from version") && !out.contains("data: at"),
        "{out}"
    );
    repo.dvx(&["id", "data"]).ok().stdout_has(&v2);
}

// ---- item 11: the git hooks must never break git ----

#[test]
fn hooks_let_git_move_to_commits_before_dvx_init_and_back() {
    let repo = TestRepo::bare_git();
    repo.write("code.py", b"print(1)\n");
    let before_init = repo.commit_all("code before dvx");
    repo.dvx(&["init"]).ok();
    let mut g = Gen::new(0x1811);
    g.tree(&repo.path("data"), 1, 4, 10_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit_all("data v1");
    let v1 = repo.snapshot("data");
    repo.dvx(&["install-hooks"]).ok();

    // A bisect-like walk: back before `dvx init`, and forward again.
    for _ in 0..2 {
        let r = repo.git(&["checkout", "-q", &before_init]);
        r.ok();
        assert!(!r.stderr_str().contains("error"), "{r}");
        repo.git(&["checkout", "-q", "main"]).ok();
        assert_snapshot_eq("data after coming back", &v1, &repo.snapshot("data"));
    }
    // Pushing only commits from before dvx, from there, needs no data.
    let code = repo.tmp().join("code.git");
    repo.git_in(
        repo.tmp(),
        &["init", "-q", "--bare", code.to_str().unwrap()],
    )
    .ok();
    repo.git(&["remote", "add", "up", code.to_str().unwrap()])
        .ok();
    repo.git(&["checkout", "-q", &before_init]).ok();
    repo.git(&["push", "-q", "up", "HEAD:refs/heads/old"]).ok();
    repo.git(&["checkout", "-q", "main"]).ok();

    // A data failure after git has moved (here: unsaved work in the way) is a warning, not
    // a failed checkout.
    g.file(&repo.path("data/v2.bin"), 3_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit_all("data v2");
    g.file(&repo.path("data/unsaved.bin"), 3_000);
    repo.git(&["checkout", "-q", "HEAD~1"])
        .ok()
        .stderr_has("warning")
        .stderr_has("unsaved.bin");
    repo.git(&["checkout", "-q", "main"]).ok();
    assert!(repo.path("data/unsaved.bin").exists(), "unsaved work lost");

    // pre-push still stops a push whose data cannot reach the dvx remote.
    let blocked = repo.tmp().join("a-file");
    write_file(&blocked, b"not a folder");
    repo.dvx(&[
        "remote",
        "add",
        "origin",
        blocked.join("sub").to_str().unwrap(),
    ])
    .ok();
    repo.commit("remote");
    let r = repo.git(&["push", "-q", "up", "main"]);
    assert!(!r.status.success(), "push went out without its data\n{r}");
    r.stderr_has("--no-verify");
    let refs = repo.git_in(&code, &["for-each-ref"]).ok().stdout_str();
    assert!(!refs.contains("refs/heads/main"), "{refs}");
}

// ---- item 15: no view prints a secret ----

const SECRET: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY";
const PASSWORD: &str = "hunter2pw";

fn no_leak(r: &Run) {
    for s in [r.stdout_str(), r.stderr_str()] {
        assert!(!s.contains(SECRET) && !s.contains(PASSWORD), "leak\n{r}");
    }
}

#[test]
fn no_view_prints_a_secret_or_a_url_password() {
    let repo = TestRepo::new();
    repo.dvx(&["remote", "add", "origin", "s3://some-bucket/p"])
        .ok();
    let endpoint = format!("http://user:{PASSWORD}@127.0.0.1:1");
    for (k, v) in [
        ("remotes.origin.secret_access_key", SECRET),
        ("remotes.origin.access_key_id", "AKIDEXAMPLE"),
        ("remotes.origin.endpoint", &endpoint),
    ] {
        no_leak(repo.dvx(&["config", "--local", k, v]).ok());
    }
    for args in [
        &["config", "--local"][..],
        &["config", "--local", "remotes"],
        &["config", "--local", "remotes.origin"],
        &["config", "--local", "remotes.origin.endpoint"],
        &["remote", "list"],
        &["remote", "list", "--json"],
    ] {
        let r = repo.dvx(args);
        r.ok();
        no_leak(&r);
    }
    let r = repo.dvx(&["config", "--local", "remotes.origin"]);
    r.stdout_has("(set, hidden)").stdout_has("***@127.0.0.1");
    // The secret asked for by its full key is a deliberate request (as `aws configure get`).
    repo.dvx(&["config", "--local", "remotes.origin.secret_access_key"])
        .ok()
        .stdout_has(SECRET);
    // Errors of a request to that endpoint do not print the password either.
    repo.write("data/a.txt", b"a");
    repo.dvx(&["add", "data"]).ok();
    repo.commit("data");
    let r = repo.dvx_in_env(
        repo.root(),
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_CONFIG_FILE", "/dev/null"),
        ],
        &["push"],
    );
    r.code_is(1).stderr_is_error();
    no_leak(&r);
}

// ---- item 16: a committed config must not send credentials to a host nobody chose ----

/// A TCP listener that counts the connections it gets.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            h.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (port, hits)
}

#[test]
fn a_committed_endpoint_is_never_contacted_until_approved_here() {
    let repo = TestRepo::new();
    for k in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ALLOW_HTTP"] {
        repo.unset_env(k);
    }
    repo.set_env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    repo.set_env("AWS_SECRET_ACCESS_KEY", SECRET);
    repo.set_env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    repo.set_env("AWS_CONFIG_FILE", "/dev/null");
    let (port, hits) = listener();
    let endpoint = format!("http://127.0.0.1:{port}");
    // As a hostile commit would have it: written by hand, committed.
    let cfg = format!(
        "[core]\nformat = 1\ndefault_remote = \"origin\"\n\n[remotes.origin]\nurl = \
         \"s3://some-bucket/p\"\nendpoint = \"{endpoint}\"\nallow_http = true\n"
    );
    repo.write(".dvx/config.toml", cfg.as_bytes());
    repo.write("data/a.txt", b"a");
    repo.dvx(&["add", "data"]).ok();
    repo.commit_all("data and a committed endpoint");
    for args in [
        &["push"][..],
        &["pull"],
        &["fetch"],
        &["status", "--remote"],
    ] {
        let r = repo.dvx(args);
        r.code_is(1)
            .stderr_has("dvx config --local remotes.origin.endpoint")
            .stderr_has("allow_http");
        no_leak(&r);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the committed endpoint was contacted"
    );
    // Setting one in the committed file is refused with the command that works.
    repo.dvx(&["config", "remotes.origin.endpoint", &endpoint])
        .code_is(2)
        .stderr_has("--local");
    repo.dvx(&["config", "remotes.origin.allow_http", "true"])
        .code_is(2);
    // Approved on this machine, it is used.
    repo.dvx(&["config", "--local", "remotes.origin.endpoint", &endpoint])
        .ok();
    repo.dvx(&["config", "--local", "remotes.origin.allow_http", "true"])
        .ok();
    repo.dvx(&["status", "--remote"]).code_is(1);
    assert!(
        hits.load(Ordering::SeqCst) > 0,
        "the approved endpoint was not used"
    );
}

// ---- item 18: names are printed safely ----

fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

#[test]
fn names_are_quoted_in_views_and_lossless_in_json() {
    let repo = TestRepo::new();
    let d = repo.path("data");
    let names: [&[u8]; 5] = [
        b"plain.txt",
        b"forged\n  modified: fake.txt",
        b"esc\x1b[31mred",
        b"\xff.bin",
        b"\xfe.bin",
    ];
    for (i, n) in names.iter().enumerate() {
        write_file(&d.join(os(n)), format!("v1 {i}").as_bytes());
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    for (i, n) in names.iter().enumerate() {
        write_file(&d.join(os(n)), format!("v2 {i}").as_bytes());
    }
    let st = repo.dvx(&["status"]).ok().stdout_str();
    assert!(!st.contains('\x1b'), "{st:?}");
    assert!(
        !st.lines().any(|l| l.trim() == "modified: fake.txt"),
        "a name forged a line: {st}"
    );
    for q in [
        r#""data/forged\n  modified: fake.txt""#,
        r#""data/esc\033[31mred""#,
        r#""data/\377.bin""#,
        r#""data/\376.bin""#,
        "data/plain.txt",
    ] {
        assert!(st.contains(q), "{q} missing from\n{st}");
    }
    for args in [&["ls"][..], &["diff"], &["diff", "HEAD"], &["ls", "--json"]] {
        let out = repo.dvx(args).ok().stdout_str();
        assert!(
            !out.contains('\x1b') && out.contains(r"\377.bin"),
            "{args:?}: {out}"
        );
    }
    // --json: non-UTF-8 names stay distinct, in the quoted form `dvx cat` takes back.
    let j = repo.dvx(&["status", "--json"]).ok().json();
    let modified = json_strs(&dataset(&j, "data")["modified"]);
    for q in [r#""data/\377.bin""#, r#""data/\376.bin""#] {
        assert!(modified.iter().any(|m| m == q), "{modified:?}");
    }
    for (name, want) in [
        (r#""data/\377.bin""#, "v1 3"),
        (r#""data/\376.bin""#, "v1 4"),
    ] {
        let r = repo.dvx(&["cat", &format!("HEAD:{name}")]);
        assert_eq!(r.ok().stdout_str(), want);
    }
    let ls = repo.dvx(&["ls", "--json"]).ok().json();
    let paths: Vec<String> = ls["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    let unique: std::collections::BTreeSet<_> = paths.iter().collect();
    assert_eq!(unique.len(), paths.len(), "{paths:?}");
    // Checkout's refusal names the files quoted too.
    let r = repo.dvx(&["checkout", "HEAD", "data"]);
    r.code_is(1);
    assert!(
        !r.stderr_str().contains('\x1b') && r.stderr_str().contains(r"\377.bin"),
        "{r}"
    );
}

// ---- item 19: a closed pipe is a normal end; exit codes; paths that name nothing ----

/// Runs dvx with its standard output closed by the reader before anything is read.
fn closed_stdout(repo: &TestRepo, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = repo.dvx_cmd(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code(), err)
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x1819);
    g.tree(&repo.path("data"), 3, 40, 2_000);
    g.file(&repo.path("data/table.csv"), 400_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    for args in [
        &["ls"][..],
        &["status"],
        &["cat", "HEAD:data/table.csv"],
        &["log"],
        &["ls", "--json"],
    ] {
        let (code, err) = closed_stdout(&repo, args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn data_failures_exit_1_and_usage_errors_exit_2() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x181a);
    g.tree(&repo.path("data"), 1, 3, 2_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    // Not a regular file (a FIFO) in a dataset.
    let fifo = repo.path("data/pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    repo.dvx(&["status"])
        .code_is(1)
        .stderr_has("not a regular file");
    remove(&fifo);
    // A file in the way of the dataset's directory.
    let saved = repo.tmp().join("saved");
    std::fs::rename(repo.path("data"), &saved).unwrap();
    write_file(&repo.path("data"), b"in the way");
    repo.dvx(&["status"]).code_is(1).stderr_is_error();
    repo.dvx(&["checkout"]).code_is(1).stderr_is_error();
    remove(&repo.path("data"));
    std::fs::rename(&saved, repo.path("data")).unwrap();
    repo.dvx(&["status"]).ok();
}

#[test]
fn a_path_no_dataset_holds_is_an_error() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x181b);
    g.tree(&repo.path("data/images"), 1, 3, 2_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    repo.dvx(&["log", "data"]).ok().stdout_has("v1");
    let typo = repo.dvx(&["log", "typo"]);
    typo.code_is(2).stderr_has("no dataset holds path typo");
    for args in [
        &["ls", "HEAD", "data/imagse"][..],
        &["ls", "data/imagse"],
        &["ls", "--", "data/imagse"],
    ] {
        repo.dvx(args)
            .code_is(2)
            .stderr_has("no dataset holds path data/imagse");
    }
    repo.dvx(&["ls", "HEAD", "data/images"]).ok();
    for args in [
        &["id", "typo"][..],
        &["diff", "HEAD", "typo"],
        &["status", "typo"],
        &["checkout", "HEAD", "typo"],
        &["checkout", "HEAD", "data/imagse"],
        &["pull", "HEAD", "data/imagse"],
        &["cat", "HEAD:data/imagse/x"],
    ] {
        repo.dvx(args).code_is(2).stderr_is_error();
    }
}

// ---- issue 11: summaries a person reads ----

/// Panics unless every `<n> <noun>` of `line` agrees: a known noun (after an adjective such
/// as `new` or `dataset`) is singular exactly when n is 1.
#[track_caller]
fn counts_agree(line: &str) {
    const NOUNS: [(&str, &str); 9] = [
        ("file", "files"),
        ("pack", "packs"),
        ("chunk", "chunks"),
        ("index", "indexes"),
        ("tree", "trees"),
        ("version", "versions"),
        ("object", "objects"),
        ("request", "requests"),
        ("problem", "problems"),
    ];
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || "(),;:".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let Ok(n) = w.parse::<u64>() else {
            continue;
        };
        let mut next = words.get(i + 1).copied().unwrap_or("");
        if next == "new" || next == "dataset" {
            next = words.get(i + 2).copied().unwrap_or("");
        }
        for (one, many) in NOUNS {
            if next == one || next == many {
                let want = if n == 1 { one } else { many };
                assert_eq!(next, want, "`{n} ... {next}` in {line:?}");
            }
        }
    }
}

#[test]
fn summaries_use_human_sizes_and_counts_that_agree() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x11);
    g.file(&repo.path("data/a/x.bin"), 3_000);
    g.file(&repo.path("data/a/y.bin"), 3_000);
    g.file(&repo.path("data/b.bin"), 2_000);
    let r = repo.dvx(&["add", "data"]);
    r.ok().stdout_has(&format!(
        "data: added, 3 files, {}, id ",
        human_bytes(8_000)
    ));
    counts_agree(&r.stdout_str());
    let stored = r.stderr_str();
    assert!(stored.starts_with("stored "), "{r}");
    assert!(!stored.contains("(s)"), "{r}");
    counts_agree(&stored);
    repo.commit("v1");
    // v2: the folder a/ and its two files are gone.
    remove(&repo.path("data/a"));
    let r = repo.dvx(&["add", "data"]);
    r.ok()
        .stdout_has(&format!(", 1 file, {}, id ", human_bytes(2_000)));
    counts_agree(&r.stderr_str());
    repo.commit("v2");

    // `removed` counts files: two, not the folder as a third.
    repo.dvx(&["checkout", "HEAD~1", "data"])
        .ok()
        .stdout_has("data: now at ")
        .stdout_has(&format!(
            ": 2 written ({}), 0 removed, 1 unchanged",
            human_bytes(6_000)
        ));
    repo.dvx(&["checkout", "HEAD", "data"])
        .ok()
        .stdout_has(": 0 written (0 B), 2 removed, 1 unchanged");
    assert!(!repo.path("data/a").exists());

    let r = repo.dvx(&["log", "data"]);
    r.ok()
        .stdout_has(&format!(" 1 file {} ", human_bytes(2_000)));
    for line in r.stdout_str().lines() {
        counts_agree(line);
    }
    let r = repo.dvx(&["fsck"]);
    r.ok().stdout_has(": no problems");
    assert!(r.stdout_str().starts_with("checked "), "{r}");
    counts_agree(&r.stdout_str());
    let r = repo.dvx(&["gc", "--keep-days", "0"]);
    r.ok();
    assert!(!r.stdout_str().contains("(s)"), "{r}");
    counts_agree(&r.stdout_str());
}

/// `dvx --help` gives each command one line; the details are in `dvx <command> --help`.
#[test]
fn help_lists_each_command_on_one_line() {
    let repo = TestRepo::new();
    let r = repo.dvx(&["--help"]);
    r.ok();
    let out = r.stdout_str();
    let commands: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(commands.len() >= 15, "{r}");
    for line in &commands {
        // A continuation line would be indented deeper than the command names.
        assert!(
            line.starts_with("  ") && !line.starts_with("   "),
            "a command's description runs over several lines: {line:?}\n{r}"
        );
        assert!(line.len() <= 100, "a command's line is too long: {line:?}");
    }
    let r = repo.dvx(&["config", "--help"]);
    r.ok()
        .stdout_has("core.default_remote")
        .stdout_has("allow_http")
        .stdout_has("zstd_level");
}

#[test]
fn completions_and_man_pages_come_from_the_binary() {
    let repo = TestRepo::new();
    let bash = repo.dvx(&["completions", "bash"]);
    bash.ok().stdout_has("checkout");
    let man = repo.dvx(&["man"]);
    man.ok();
    assert!(
        man.stdout_str().contains(".TH dvx 1"),
        "{}",
        man.stdout_str()
    );
    repo.dvx(&["man", "pull"]).ok().stdout_has(".TH dvx-pull 1");
    repo.dvx(&["man", "nope"]).code_is(2);
    repo.dvx(&["completions", "tcsh"]).code_is(2);
}
