//! Scenarios shared by the remote tests of both backends (`tests/remote.rs`: folder remote,
//! `tests/remote_s3.rs`: S3 server of `scripts/s3-server.sh`). Each scenario gets a
//! [`Remote`] (URL plus a way to list what is stored there) and runs the real `dvx` binary in
//! real git repositories and clones.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod leaks;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::cloud::EmuEnv;
use crate::util::s3::S3Env;
use crate::util::*;

pub const MIB: u64 = 1024 * 1024;

/// Where a scenario pushes to.
pub struct Remote {
    /// What `dvx remote add` gets.
    pub url: String,
    /// Folder remote: its directory.
    pub folder: Option<PathBuf>,
    /// S3 remote: the server and the key prefix (`<test>-<suffix>`, no trailing slash).
    pub s3: Option<(S3Env, String)>,
    /// GCS or Azure emulator remote: the emulator and the prefix.
    pub emu: Option<(EmuEnv, String)>,
    /// `dvx remote add --encrypt` (the passphrase is in the repository's environment).
    pub encrypt: bool,
}

impl Remote {
    /// A folder remote `<tmp>/<name>` (absolute path); created first when `create`.
    pub fn folder(repo: &TestRepo, name: &str, create: bool) -> Remote {
        let dir = repo.tmp().join(name);
        if create {
            fs::create_dir_all(&dir).unwrap();
        }
        Remote {
            url: dir.to_string_lossy().into_owned(),
            folder: Some(dir),
            s3: None,
            emu: None,
            encrypt: false,
        }
    }

    /// A fresh prefix in the emulator's bucket; sets the variables on `repo`.
    pub fn emulated(repo: &TestRepo, env: &EmuEnv, test: &str) -> Remote {
        env.apply(repo);
        let url = env.unique_url(test);
        let prefix = url.splitn(4, '/').nth(3).unwrap().to_string();
        Remote {
            url,
            folder: None,
            s3: None,
            emu: Some((env.clone(), prefix)),
            encrypt: false,
        }
    }

    /// A fresh prefix in the test bucket; sets the `AWS_*` variables on `repo`.
    pub fn s3(repo: &TestRepo, env: &S3Env, test: &str) -> Remote {
        env.apply(repo);
        let url = env.unique_url(test);
        let prefix = url
            .strip_prefix(&format!("s3://{}/", env.bucket))
            .unwrap()
            .to_string();
        Remote {
            url,
            folder: None,
            s3: Some((env.clone(), prefix)),
            emu: None,
            encrypt: false,
        }
    }

    /// The same remote, added with `--encrypt`; every dvx process of `repo` (and of its clones
    /// run through it) gets `passphrase` in `DVX_PASSPHRASE`.
    pub fn encrypted(mut self, repo: &TestRepo, passphrase: &str) -> Remote {
        repo.set_env("DVX_PASSPHRASE", passphrase);
        self.encrypt = true;
        self
    }

    /// The secret that must never appear in any output (S3 only).
    pub fn secret(&self) -> Option<&str> {
        self.s3.as_ref().map(|(e, _)| e.secret_key.as_str())
    }

    /// Every object stored on the remote: (path relative to the remote root, size).
    /// `None` if it cannot be listed (S3 listing failed).
    pub fn list(&self) -> Option<Vec<(String, u64)>> {
        if let Some(dir) = &self.folder {
            let mut files = Vec::new();
            find_files(dir, &mut |_| true, &mut files);
            let mut v: Vec<(String, u64)> = files
                .iter()
                .map(|p| {
                    let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                    (rel, fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                })
                .collect();
            v.sort();
            return Some(v);
        }
        let (keys, prefix) = match (&self.s3, &self.emu) {
            (Some((env, prefix)), _) => (env.list(&format!("{prefix}/"))?, prefix),
            (None, Some((env, prefix))) => (env.list(&format!("{prefix}/"))?, prefix),
            (None, None) => return None,
        };
        let mut v: Vec<(String, u64)> = keys
            .into_iter()
            .filter_map(|(k, s)| Some((k.strip_prefix(&format!("{prefix}/"))?.to_string(), s)))
            .collect();
        v.sort();
        Some(v)
    }

    /// The remote's objects sorted by kind (see [`Objects`]).
    pub fn objects(&self) -> Option<Objects> {
        self.list().map(|l| Objects::classify(&l))
    }
}

/// `<YYYYMMDDTHHMMSS.mmmZ>-<16 hex>.json` in the folder of its year.
pub fn is_audit_name(year: &str, name: &str) -> bool {
    let Some((stamp, rest)) = name.split_once('-') else {
        return false;
    };
    let b = stamp.as_bytes();
    stamp.len() == 20
        && stamp.starts_with(year)
        && year.len() == 4
        && b[8] == b'T'
        && b[15] == b'.'
        && b[19] == b'Z'
        && rest
            .strip_suffix(".json")
            .is_some_and(|h| h.len() == 16 && h.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// A remote's content by the layout of the contract.
#[derive(Debug, Default)]
pub struct Objects {
    /// `packs/<2hex>/<64hex>.pack`
    pub packs: Vec<String>,
    /// `index/<64hex>.idx`
    pub indexes: Vec<String>,
    /// `trees/<2hex>/<64hex>`
    pub trees: Vec<String>,
    /// `catalogue.txt`, the listing for readers over HTTP (present after a push).
    pub catalogue: bool,
    /// `audit/<YYYY>/<YYYYMMDDTHHMMSS.mmmZ>-<16hex>.json`, one per recorded operation.
    pub audits: Vec<String>,
    /// `keys/<16hex>`: the wrapped keys of an encrypted remote.
    pub keys: Vec<String>,
    /// Anything else.
    pub other: Vec<String>,
    /// Total bytes of packs.
    pub pack_bytes: u64,
}

impl Objects {
    pub fn classify(list: &[(String, u64)]) -> Objects {
        let mut o = Objects::default();
        for (p, size) in list {
            let parts: Vec<&str> = p.split('/').collect();
            match parts.as_slice() {
                ["packs", hh, name]
                    if name
                        .strip_suffix(".pack")
                        .is_some_and(|h| is_hex64(h) && h.starts_with(hh)) =>
                {
                    o.packs.push(p.clone());
                    o.pack_bytes += size;
                }
                ["index", name] if name.strip_suffix(".idx").is_some_and(is_hex64) => {
                    o.indexes.push(p.clone())
                }
                ["trees", hh, name] if is_hex64(name) && name.starts_with(hh) => {
                    o.trees.push(p.clone())
                }
                ["catalogue.txt"] => o.catalogue = true,
                ["audit", year, name] if is_audit_name(year, name) => o.audits.push(p.clone()),
                ["keys", _] => o.keys.push(p.clone()),
                _ => o.other.push(p.clone()),
            }
        }
        o
    }

    /// Packs plus indexes.
    pub fn data_objects(&self) -> usize {
        self.packs.len() + self.indexes.len()
    }
}

/// The numbers of a `dvx push --json` / `dvx fetch --json` / `dvx pull --json` summary.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub versions: u64,
    pub files: u64,
    pub bytes: u64,
    pub transferred: u64,
    pub objects: u64,
    pub requests: u64,
    pub secs: f64,
}

/// Parses the JSON summary of `dvx push --json`, `dvx fetch --json` or `dvx pull --json`
/// (exact counts; the human line rounds sizes): `{"versions", "files", "bytes",
/// "transferred", "objects", "requests", "seconds"}`.
#[track_caller]
pub fn summary(run: &Run) -> Summary {
    let doc = run.json();
    let n = |k: &str| -> u64 {
        doc[k]
            .as_u64()
            .unwrap_or_else(|| panic!("summary: `{k}` is not a count\n{run}"))
    };
    Summary {
        versions: n("versions"),
        files: n("files"),
        bytes: n("bytes"),
        transferred: n("transferred"),
        objects: n("objects"),
        requests: n("requests"),
        secs: doc["seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("summary: `seconds` is not a number\n{run}")),
    }
}

/// Checks the one human summary line of `dvx push` (`verb` = "pushed"), `dvx fetch`
/// ("fetched") or `dvx pull` ("pulled") and returns it. When data moved:
/// `<verb> <D> dataset version[s] (<F> file[s], <size>): sent|received <size> in <O> object[s]
/// (<N> request[s]) in <T>s`; when nothing had to: `nothing to push: the remote already has
/// ...` / `nothing to fetch: the local store already has ...`. Sizes are human
/// ([`human_bytes`]), every count agrees with its noun.
#[track_caller]
pub fn summary_line(run: &Run, verb: &str) -> String {
    let out = run.stdout_str();
    let nothing = if verb == "pushed" {
        "nothing to push: "
    } else {
        "nothing to fetch: "
    };
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(&format!("{verb} ")) || l.starts_with(nothing))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one `{verb} ...` or `{nothing}...` summary line on stdout\n{run}"
    );
    let line = lines[0];
    let word = if verb == "pushed" { "sent" } else { "received" };
    let holder = if verb == "pushed" {
        "the remote"
    } else {
        "the local store"
    };
    // `<D> dataset version[s] (<F> file[s], <size>)`
    let what = |c: &mut Shape| {
        c.count("dataset version")
            && c.lit(" (")
            && c.count("file")
            && c.lit(", ")
            && c.size()
            && c.lit(")")
    };
    let mut moved = Shape(line);
    let moved_ok = moved.lit(verb)
        && moved.lit(" ")
        && what(&mut moved)
        && moved.lit(&format!(": {word} "))
        && moved.size()
        && moved.lit(" in ")
        && moved.count("object")
        && moved.lit(" (")
        && moved.count("request")
        && moved.lit(") in ")
        && moved.secs()
        && moved.0.is_empty();
    let mut none = Shape(line);
    let none_ok = none.lit(nothing)
        && none.lit(&format!("{holder} already has "))
        && what(&mut none)
        && none.lit("; ")
        && none.count("request")
        && none.lit(" in ")
        && none.secs()
        && none.0.is_empty();
    assert!(
        moved_ok || none_ok,
        "summary line does not have the contract's shape \
         `{verb} <D> dataset version[s] (<F> file[s], <size>): {word} <size> in <O> object[s] \
         (<N> request[s]) in <T>s` or `{nothing}{holder} already has <D> dataset version[s] \
         (<F> file[s], <size>); <N> request[s] in <T>s`\n{run}"
    );
    line.to_string()
}

/// A summary line being matched from the left: each method consumes what it recognises and
/// says whether it did.
struct Shape<'a>(&'a str);

impl<'a> Shape<'a> {
    fn lit(&mut self, s: &str) -> bool {
        match self.0.strip_prefix(s) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    fn number(&mut self) -> Option<&'a str> {
        let end = self
            .0
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.0.len());
        let (n, rest) = self.0.split_at(end);
        self.0 = rest;
        (!n.is_empty()).then_some(n)
    }

    /// `<n> <noun>`, the noun plural unless n is 1 (regular plurals).
    fn count(&mut self, noun: &str) -> bool {
        let Some(n) = self.number() else {
            return false;
        };
        let plural = format!("{noun}s");
        self.lit(" ") && self.lit(if n == "1" { noun } else { &plural })
    }

    /// A size as dvx prints it (`human_bytes`): `<n> B` or `<n>.<d> KiB|MiB|GiB|TiB`.
    fn size(&mut self) -> bool {
        if self.number().is_none() {
            return false;
        }
        if self.lit(" B") {
            return true;
        }
        self.lit(".")
            && self.number().is_some_and(|d| d.len() == 1)
            && ["KiB", "MiB", "GiB", "TiB"]
                .iter()
                .any(|u| self.lit(&format!(" {u}")))
    }

    /// Seconds with two decimals and an `s`.
    fn secs(&mut self) -> bool {
        self.number().is_some()
            && self.lit(".")
            && self.number().is_some_and(|d| d.len() == 2)
            && self.lit("s")
    }
}

/// Panics if the secret shows up in the command's stdout or stderr.
#[track_caller]
pub fn assert_no_secret(run: &Run, secret: Option<&str>) {
    if let Some(s) = secret {
        assert!(
            !run.stdout_str().contains(s) && !run.stderr_str().contains(s),
            "the secret key appears in the output\n{run}"
        );
    }
}

/// A repository plus its remote, with helpers that check every output for the secret.
pub struct Ctx {
    pub repo: TestRepo,
    pub remote: Remote,
}

impl Ctx {
    /// Runs dvx at the repo root (checks the output for the secret).
    pub fn dvx(&self, args: &[&str]) -> Run {
        let r = self.repo.dvx(args);
        assert_no_secret(&r, self.remote.secret());
        r
    }

    /// Runs dvx in `dir` (a clone; checks the output for the secret).
    pub fn dvx_in(&self, dir: &Path, args: &[&str]) -> Run {
        let r = self.repo.dvx_in(dir, args);
        assert_no_secret(&r, self.remote.secret());
        r
    }

    /// `dvx remote add origin <url>`, checks it is staged.
    pub fn add_origin(&self) {
        self.add_origin_in(self.repo.root());
    }

    pub fn add_origin_in(&self, dir: &Path) {
        let mut args = vec!["remote", "add", "origin", &self.remote.url];
        if self.remote.encrypt {
            args.push("--encrypt");
        }
        self.dvx_in(dir, &args).ok();
        let staged = self
            .repo
            .git_in(dir, &["diff", "--cached", "--name-only"])
            .ok()
            .stdout_str();
        assert!(
            staged.lines().any(|l| l == ".dvx/config.toml"),
            "`dvx remote add` did not stage .dvx/config.toml (staged: {staged:?})"
        );
        let cfg = fs::read_to_string(dir.join(".dvx/config.toml")).unwrap();
        assert!(
            cfg.contains(&self.remote.url),
            ".dvx/config.toml does not hold the remote URL:\n{cfg}"
        );
    }

    /// `dvx push <args>` that must succeed; returns its summary.
    #[track_caller]
    pub fn push(&self, args: &[&str]) -> Summary {
        let mut a = vec!["push"];
        a.extend_from_slice(args);
        a.push("--json");
        let r = self.dvx(&a);
        r.ok();
        eprintln!("dvx {}: {}", a.join(" "), r.stdout_str().trim());
        summary(&r)
    }

    /// Remote objects (panics if they cannot be listed).
    #[track_caller]
    pub fn objects(&self) -> Objects {
        self.remote.objects().expect("list the remote's objects")
    }
}

/// Whether `dvx status --json --remote` (in `dir`) says `ds` is pushed to `origin`; also checks
/// the text form says the same.
#[track_caller]
pub fn remote_pushed(ctx: &Ctx, dir: &Path, ds: &str) -> bool {
    let r = ctx.dvx_in(dir, &["status", "--json", "--remote"]);
    r.ok();
    let doc = r.json();
    let d = dataset(&doc, ds);
    assert_eq!(d["remote"]["name"], "origin", "status --remote JSON\n{r}");
    let pushed = d["remote"]["pushed"]
        .as_bool()
        .unwrap_or_else(|| panic!("no boolean `remote.pushed` for {ds}\n{r}"));
    let t = ctx.dvx_in(dir, &["status", "--remote"]);
    t.ok();
    let want = if pushed {
        "remote origin: pushed"
    } else {
        "remote origin: not pushed"
    };
    assert!(
        t.stdout_str().lines().any(|l| l.trim() == want),
        "text `dvx status --remote` should have a line `  {want}` (as the JSON says)\n{t}"
    );
    pushed
}

/// Dataset `data/` version 1: nested small files (text and random), `sub/` with its own
/// tree, a 5 MiB random file and a 1 MiB one. About 7 MB.
pub fn write_v1(repo: &TestRepo, g: &mut Gen) {
    let d = repo.path("data");
    g.tree(&d, 3, 8, 60_000);
    g.tree(&d.join("sub"), 2, 8, 40_000);
    g.file(&d.join("big.bin"), 5 * MIB as usize);
    g.file(&d.join("sub/mid.bin"), MIB as usize);
    g.text_file(&d.join("notes.csv"), 200_000);
    write_file(&d.join("sub/empty"), b"");
}

/// Version 2 (changes < 5% of the bytes): an insertion in the middle of the 5 MiB file,
/// in-place edits, deletions (one in `sub/`), new files (one in `sub/`).
pub fn write_v2(repo: &TestRepo, g: &mut Gen) {
    let d = repo.path("data");
    g.insert(&d.join("big.bin"), 2_600_000, 3_000);
    g.overwrite(&d.join("notes.csv"), 1_000, 100);
    g.overwrite(&d.join("sub/mid.bin"), 500_000, 100);
    remove(&d.join("d0/f0.dat"));
    remove(&d.join("d1/s/f1.dat"));
    remove(&d.join("sub/d1/f2.dat"));
    g.text_file(&d.join("new.txt"), 10_000);
    g.file(&d.join("sub/new.bin"), 20_000);
}

/// `snap` restricted to (or without) the entries below `prefix` (e.g. `sub`).
pub fn part(snap: &Snapshot, prefix: &str, inside: bool) -> Snapshot {
    snap.iter()
        .filter(|(k, _)| (k.as_str() == prefix || k.starts_with(&format!("{prefix}/"))) == inside)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Snapshot of `<dir>/<rel>`.
pub fn snap_in(dir: &Path, rel: &str) -> Snapshot {
    snapshot(&dir.join(rel))
}

/// Whether `git diff --cached --name-only` in `dir` lists `name`.
pub fn staged_in(repo: &TestRepo, dir: &Path, name: &str) -> bool {
    repo.git_in(dir, &["diff", "--cached", "--name-only"])
        .ok()
        .stdout_str()
        .lines()
        .any(|l| l == name)
}

/// v1 + tag, v2, then `remote add` + commit, `push --all-revs`; checks the summary, a no-op
/// push, `status --remote`, then pulls in a full clone (whole, `v1 data/sub`, `v1 data`), in a
/// shallow clone of v1, and with `fetch` + `checkout`.
pub fn roundtrip_all_revs(ctx: &Ctx) {
    let repo = &ctx.repo;
    let mut g = Gen::new(0xa11_0001);
    write_v1(repo, &mut g);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    repo.commit("v1");
    repo.git(&["tag", "v1"]).ok();
    let v1 = repo.snapshot("data");
    let p1 = repo.pointer("data.dvx");
    write_v2(repo, &mut g);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    let v2 = repo.snapshot("data");
    let p2 = repo.pointer("data.dvx");
    assert_ne!(p1.id(), p2.id());

    ctx.add_origin();
    repo.commit("remote");
    if ctx.remote.folder.as_ref().is_some_and(|f| !f.exists()) {
        // A folder that does not exist cannot tell; it may be an unmounted share.
        ctx.dvx(&["status", "--remote"])
            .code_is(1)
            .stderr_has("not reachable");
    } else {
        assert!(
            !remote_pushed(ctx, repo.root(), "data"),
            "status --remote says pushed before any push"
        );
    }

    let s = ctx.push(&["--all-revs"]);
    assert_eq!(
        s.versions, 2,
        "push --all-revs: two versions of data: {s:?}"
    );
    assert!(s.files >= p2.num("files"), "{s:?} vs {}", p2.text);
    assert!(s.bytes >= p2.num("bytes"), "{s:?} vs {}", p2.text);
    assert!(
        s.transferred >= 5 * MIB,
        "the 5 MiB random file alone needs 5 MiB on the wire: {s:?}"
    );
    assert!(s.objects >= 1 && s.requests >= s.objects, "{s:?}");
    assert!(remote_pushed(ctx, repo.root(), "data"));
    let objs = ctx.objects();
    check_object_count(&objs, s.transferred, 1);

    // Nothing new: nothing sent.
    for args in [&[][..], &["--all-revs"][..]] {
        let again = ctx.push(args);
        assert_eq!(
            again.objects, 0,
            "push {args:?} with nothing new: {again:?}"
        );
        assert!(
            again.transferred <= 4096,
            "push {args:?} with nothing new: {again:?}"
        );
    }
    let objs2 = ctx.objects();
    assert_eq!(objs.packs, objs2.packs, "a no-op push added packs");
    assert_eq!(objs.indexes, objs2.indexes, "a no-op push added indexes");

    // A full clone: `dvx pull` without `dvx init`.
    let full = repo.clone_to("full", &[]);
    assert!(!full.join(".dvx/store").exists());
    ctx.dvx_in(&full, &["pull"]).ok();
    assert_snapshot_eq("pull in a fresh clone", &v2, &snap_in(&full, "data"));
    let porcelain = repo
        .git_in(&full, &["status", "--porcelain"])
        .ok()
        .stdout_str();
    assert!(
        porcelain.trim().is_empty(),
        "`dvx pull` in a fresh clone left files git sees:\n{porcelain}"
    );
    // The remote named explicitly.
    let named = ctx.dvx_in(&full, &["status", "--json", "--remote", "origin"]);
    named.ok();
    assert_eq!(
        dataset(&named.json(), "data")["remote"]["pushed"],
        true,
        "status --remote origin\n{named}"
    );
    assert_eq!(fs::read_to_string(full.join("data.dvx")).unwrap(), p2.text);
    let st = ctx.dvx_in(&full, &["status", "--json"]);
    st.ok();
    assert_eq!(dataset(&st.json(), "data")["state"], "clean", "{st}");

    // Only a sub-directory back to v1: the rest and the pointer stay at v2.
    ctx.dvx_in(&full, &["pull", "v1", "data/sub"]).ok();
    let now = snap_in(&full, "data");
    assert_snapshot_eq(
        "data/sub after `pull v1 data/sub`",
        &part(&v1, "sub", true),
        &part(&now, "sub", true),
    );
    assert_snapshot_eq(
        "data outside sub/ after `pull v1 data/sub`",
        &part(&v2, "sub", false),
        &part(&now, "sub", false),
    );
    assert_eq!(
        fs::read_to_string(full.join("data.dvx")).unwrap(),
        p2.text,
        "`pull v1 data/sub` must not change the pointer"
    );
    assert!(
        !staged_in(repo, &full, "data.dvx"),
        "`pull v1 data/sub` staged data.dvx"
    );

    // The whole dataset back to v1: the pointer follows and is staged.
    ctx.dvx_in(&full, &["pull", "v1", "data"]).ok();
    assert_snapshot_eq("pull v1 data", &v1, &snap_in(&full, "data"));
    assert_eq!(
        Pointer::parse(&fs::read_to_string(full.join("data.dvx")).unwrap()).id(),
        p1.id()
    );
    assert!(
        staged_in(repo, &full, "data.dvx"),
        "`pull v1 data` did not stage data.dvx"
    );

    // A shallow clone of v1 (whose config has no remote yet): add it there, no `dvx init`.
    let shallow = repo.clone_to("shallow", &["--depth", "1", "--branch", "v1"]);
    ctx.add_origin_in(&shallow);
    ctx.dvx_in(&shallow, &["pull"]).ok();
    assert_snapshot_eq(
        "pull in a shallow clone of v1",
        &v1,
        &snap_in(&shallow, "data"),
    );

    // fetch, then checkout without the remote.
    let fetched = repo.clone_to("fetched", &[]);
    let f = ctx.dvx_in(&fetched, &["fetch", "--json"]);
    f.ok();
    let fs1 = summary(&f);
    assert_eq!(fs1.versions, 1, "{fs1:?}");
    assert_eq!(fs1.files, p2.num("files"), "{fs1:?}");
    assert_eq!(fs1.bytes, p2.num("bytes"), "{fs1:?}");
    assert!(fs1.transferred >= 5 * MIB, "{fs1:?}");
    assert!(
        !fetched.join("data").exists(),
        "`dvx fetch` wrote the worktree"
    );
    repo.dvx_in(&fetched, &["checkout"]).ok();
    assert_snapshot_eq("fetch + checkout", &v2, &snap_in(&fetched, "data"));
    let f = ctx.dvx_in(&fetched, &["fetch", "v1", "--json"]);
    f.ok();
    let fs2 = summary(&f);
    assert!(
        fs2.transferred < fs1.transferred / 4,
        "fetching v1 after v2 should only need the few chunks that differ: {fs2:?} after {fs1:?}"
    );
    repo.dvx_in(&fetched, &["checkout", "v1", "data"]).ok();
    assert_snapshot_eq("fetch v1 + checkout v1", &v1, &snap_in(&fetched, "data"));
}

/// Packs + indexes on the remote stay within (stored bytes / 16 MiB, rounded up) + 2 per push.
#[track_caller]
pub fn check_object_count(objs: &Objects, stored: u64, pushes: u64) {
    assert!(!objs.packs.is_empty(), "no packs on the remote: {objs:?}");
    assert!(!objs.indexes.is_empty(), "no index on the remote: {objs:?}");
    assert!(!objs.trees.is_empty(), "no trees on the remote: {objs:?}");
    assert!(
        objs.catalogue,
        "no catalogue.txt on the remote after a push: {objs:?}"
    );
    assert!(
        objs.audits.len() as u64 >= pushes,
        "{} audit records on the remote after {pushes} push(es): every push records one\n{objs:#?}",
        objs.audits.len()
    );
    let allowed = stored.div_ceil(16 * MIB) + 2 * pushes;
    assert!(
        objs.data_objects() as u64 <= allowed,
        "{} packs + {} indexes on the remote for {stored} bytes in {pushes} push(es): at most \
         {allowed} expected\n{objs:#?}",
        objs.packs.len(),
        objs.indexes.len()
    );
    assert!(
        objs.other.is_empty(),
        "objects outside the contract's layout (packs/<2hex>/<64hex>.pack, index/<64hex>.idx, \
         trees/<2hex>/<64hex>, catalogue.txt, audit/<YYYY>/<stamp>-<16hex>.json): {:?}",
        objs.other
    );
}

/// `dvx push` after each version (remote configured from the start, so v1's config has it).
pub fn roundtrip_push_each(ctx: &Ctx) {
    let repo = &ctx.repo;
    let mut g = Gen::new(0xa11_0002);
    ctx.add_origin();
    write_v1(repo, &mut g);
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    repo.commit("v1");
    repo.git(&["tag", "v1"]).ok();
    let v1 = repo.snapshot("data");
    let p1 = repo.pointer("data.dvx");
    assert!(!remote_pushed(ctx, repo.root(), "data"));

    let s1 = ctx.push(&[]);
    assert_eq!(
        s1.versions, 1,
        "HEAD and the worktree hold the same version: {s1:?}"
    );
    assert_eq!(s1.files, p1.num("files"), "{s1:?}");
    assert_eq!(s1.bytes, p1.num("bytes"), "{s1:?}");
    assert!(s1.transferred >= 5 * MIB, "{s1:?}");
    assert!(remote_pushed(ctx, repo.root(), "data"));
    let again = ctx.push(&[]);
    assert_eq!(again.objects, 0, "push with nothing new: {again:?}");
    assert!(
        again.transferred <= 4096,
        "push with nothing new: {again:?}"
    );

    write_v2(repo, &mut g);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    let v2 = repo.snapshot("data");
    let p2 = repo.pointer("data.dvx");
    assert!(
        !remote_pushed(ctx, repo.root(), "data"),
        "status --remote: v2 is not on the remote yet"
    );
    let s2 = ctx.push(&[]);
    assert_eq!(s2.versions, 1, "{s2:?}");
    assert!(
        s2.transferred * 4 < p2.num("bytes"),
        "v2 changes < 5% of {} bytes, but push sent {} bytes (>= 25%): {s2:?}",
        p2.num("bytes"),
        s2.transferred
    );
    assert!(
        s2.transferred * 4 < s1.transferred,
        "pushing v2 after v1 sent {} bytes, v1 took {}",
        s2.transferred,
        s1.transferred
    );
    assert!(remote_pushed(ctx, repo.root(), "data"));
    let none = ctx.push(&["--all-revs"]);
    assert_eq!(
        none.objects, 0,
        "push --all-revs after pushing each version: {none:?}"
    );
    check_object_count(&ctx.objects(), s1.transferred + s2.transferred, 2);

    let shallow = repo.clone_to("shallow", &["--depth", "1", "--branch", "v1"]);
    ctx.dvx_in(&shallow, &["pull"]).ok();
    assert_snapshot_eq(
        "pull in a shallow clone of v1",
        &v1,
        &snap_in(&shallow, "data"),
    );

    let full = repo.clone_to("full", &[]);
    ctx.dvx_in(&full, &["pull"]).ok();
    assert_snapshot_eq("pull in a full clone", &v2, &snap_in(&full, "data"));
    ctx.dvx_in(&full, &["pull", "v1", "data"]).ok();
    assert_snapshot_eq("pull v1 data", &v1, &snap_in(&full, "data"));
}

/// Seed for the kill delays, printed so that a failure can be replayed.
fn jitter_seed() -> u64 {
    if let Ok(s) = std::env::var("DVX_TEST_KILL_SEED") {
        if let Ok(v) = s.parse() {
            return v;
        }
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// Starts `dvx -q <args>` in `dir` several times and SIGKILLs it after increasing delays
/// (plus a random jitter), until a run finishes before its kill. Returns how many runs were
/// killed.
pub fn kill_repeatedly(ctx: &Ctx, dir: &Path, args: &[&str]) -> usize {
    let seed = jitter_seed();
    let mut g = Gen::new(seed);
    let mut killed = 0;
    let mut log = Vec::new();
    // Dense at first (a local push of 30 MB takes a few hundred ms), sparser later; the
    // attempts stop at the first run that finishes before its kill.
    let bases = [
        0u64, 10, 25, 45, 70, 100, 140, 190, 250, 330, 430, 560, 730, 950, 1250, 1600, 2000, 2500,
        3200, 4000,
    ];
    for base in bases {
        let delay = base + g.range(0..(base as usize / 4 + 8)) as u64;
        let mut child = ctx
            .repo
            .dvx_cmd_in(dir, args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dvx");
        let start = Instant::now();
        let deadline = start + Duration::from_millis(delay);
        let mut finished = None;
        while Instant::now() < deadline {
            if let Some(st) = child.try_wait().unwrap() {
                finished = Some(st);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        match finished {
            Some(st) => {
                log.push(format!("{delay} ms: finished first ({st})"));
                break;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
                log.push(format!("{delay} ms: killed"));
            }
        }
    }
    eprintln!(
        "dvx {} killed at: {} (DVX_TEST_KILL_SEED={seed})",
        args.join(" "),
        log.join(", ")
    );
    killed
}

/// ~30 MB of random data; `dvx push` SIGKILLed at several points, then a full push; a clone
/// pulls byte-identical data. Then `dvx pull` SIGKILLed at several points in a fresh clone,
/// then a full pull.
pub fn interrupted_transfers(ctx: &Ctx) {
    let repo = &ctx.repo;
    let mut g = Gen::new(0x1ee7);
    for i in 0..6 {
        g.file(&repo.path(&format!("big/part{i}.bin")), 5 * MIB as usize);
    }
    g.tree(&repo.path("big/small"), 2, 10, 20_000);
    repo.dvx(&["add", "big", "-m", "big"]).ok();
    ctx.add_origin();
    repo.commit("big");
    let want = repo.snapshot("big");
    let p = repo.pointer("big.dvx");

    let killed = kill_repeatedly(ctx, repo.root(), &["push"]);
    eprintln!("push: {killed} runs killed");
    let r = ctx.dvx(&["push", "--json"]);
    r.ok();
    let s = summary(&r);
    assert_eq!(s.versions, 1, "{s:?}");
    assert!(remote_pushed(ctx, repo.root(), "big"));
    let again = ctx.push(&[]);
    assert_eq!(
        again.objects, 0,
        "second push after the interrupted ones: {again:?}"
    );

    let clone = repo.clone_to("after-push-kill", &[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq(
        "pull after interrupted pushes",
        &want,
        &snap_in(&clone, "big"),
    );

    let clone2 = repo.clone_to("pull-kill", &[]);
    let killed = kill_repeatedly(ctx, &clone2, &["pull"]);
    eprintln!("pull: {killed} runs killed");
    // Whatever a killed pull left behind: nothing in the worktree has wrong content.
    assert_partial_ok(&want, &snap_in(&clone2, "big"), "after the killed pulls");
    let r = ctx.dvx_in(&clone2, &["pull"]);
    r.ok();
    // A pull killed while checking out leaves its temporary files (`.dvx-tmp-*`) in the
    // dataset directories; dvx ignores them (scan skips them) and the rerun does not remove
    // them. Tolerated here (reported on stderr), every other file must be exact.
    let (leftovers, got) = without_tmp(snap_in(&clone2, "big"));
    if !leftovers.is_empty() {
        eprintln!("note: leftovers of the killed pulls after a successful pull: {leftovers:?}");
    }
    assert_snapshot_eq("pull after interrupted pulls", &want, &got);
    assert_eq!(
        fs::read_to_string(clone2.join("big.dvx")).unwrap(),
        p.text,
        "pointer changed"
    );
    let st = ctx.dvx_in(&clone2, &["status", "--json"]);
    st.ok();
    assert_eq!(dataset(&st.json(), "big")["state"], "clean", "{st}");
}

/// Splits the temporary files of dvx (`.dvx-tmp-*`) off a snapshot.
pub fn without_tmp(snap: Snapshot) -> (Vec<String>, Snapshot) {
    let (tmp, rest): (Snapshot, Snapshot) = snap.into_iter().partition(|(k, _)| {
        k.rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with(".dvx-tmp-"))
    });
    (tmp.into_keys().collect(), rest)
}

/// Every regular file in `actual` exists in `expected` with the same content (files may be
/// missing; nothing may be wrong; a temporary file whose name says so is tolerated).
#[track_caller]
pub fn assert_partial_ok(expected: &Snapshot, actual: &Snapshot, what: &str) {
    let mut bad = Vec::new();
    for (k, a) in actual {
        if let Entry::File { .. } = a {
            match expected.get(k) {
                Some(e) if e == a => {}
                Some(e) => bad.push(format!("{k}: {a:?}, expected {e:?}")),
                None if k.contains("tmp") => {}
                None => bad.push(format!("{k}: unexpected file {a:?}")),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: files with wrong content:\n{}",
        bad.join("\n")
    );
}

/// `fsck --remote` and the two-phase `gc --remote` on any remote: v1 pushed then rewritten
/// away by v2, the first gc only records candidates, the second deletes them; fsck finds no
/// problem before and after, a clone still pulls v2 byte-identical, and the remote keeps the
/// layout (catalogue included, so it can still be served over HTTP).
pub fn fsck_and_gc(ctx: &Ctx) {
    let repo = &ctx.repo;
    let mut g = Gen::new(0xfc_0001);
    g.tree(&repo.path("data"), 2, 4, 100_000);
    repo.dvx(&["add", "data"]).ok();
    ctx.add_origin();
    repo.commit("v1");
    ctx.push(&[]);
    ctx.dvx(&["fsck", "--remote"])
        .ok()
        .stdout_has("no problems");

    let mut g = Gen::new(0xfc_0002);
    fs::remove_dir_all(repo.path("data")).unwrap();
    g.tree(&repo.path("data"), 1, 2, 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.git(&["commit", "-q", "--amend", "-m", "v2 only"]).ok();
    repo.git(&["reflog", "expire", "--expire=now", "--all"])
        .ok();
    ctx.push(&[]);
    let before = ctx.remote.list().expect("list the remote");

    let gc = |phase: &str| {
        let r = ctx.dvx(&["gc", "--remote", "--keep-days", "0", "--json"]);
        r.ok();
        eprintln!("gc --remote ({phase}): {}", r.stdout_str().trim());
        r.json()
    };
    let first = gc("first");
    assert_eq!(
        first["packs_deleted"], 0,
        "phase one deletes nothing: {first}"
    );
    let second = gc("second");
    assert!(
        second["trees_deleted"].as_u64().unwrap() >= 1,
        "phase two deletes v1's trees: {second}"
    );
    let after = ctx.remote.list().expect("list the remote");
    let count = |l: &[(String, u64)]| {
        l.iter()
            .filter(|(k, _)| k.starts_with("trees/") || k.starts_with("packs/"))
            .count()
    };
    assert!(
        count(&after) < count(&before),
        "gc deleted nothing: {before:?} -> {after:?}"
    );
    let objs = Objects::classify(&after);
    assert!(objs.catalogue, "no catalogue after gc: {objs:?}");
    ctx.dvx(&["fsck", "--remote"])
        .ok()
        .stdout_has("no problems");

    let want = repo.snapshot("data");
    let clone = repo.clone_to("after-gc", &[]);
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq("pull after gc --remote", &want, &snap_in(&clone, "data"));
}
