//! Crash safety: `dvx add`, `checkout`, `push`, `pull` and `gc` are SIGKILLed at many points
//! (delays drawn from a seeded schedule spread over the command's measured duration, at least
//! [`KILLS`] kills each). After every kill:
//! - every file of the dataset in the worktree holds exactly its old or its new content (no
//!   half-written file under its real name); the only other files are dvx's `.dvx-tmp-*`
//!   leftovers, which `dvx status` must not report;
//! - `dvx fsck` is clean (a killed add may leave unindexed packs; they are still valid);
//! - rerunning the command completes it: the result is byte-identical to the expected snapshot
//!   and fsck is clean.
//!
//! The kill schedule is seeded (`DVX_TEST_KILL_SEED` overrides the fixed per-test seed); the
//! kill points are printed (`<cmd>: N kills survived ...`) with `--no-capture`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use util::*;

use std::os::unix::fs::PermissionsExt;

const MIB: usize = 1024 * 1024;
/// Kills per command.
const KILLS: usize = 32;
/// Attempts per command (a run that finishes before its kill is not a kill).
const MAX_ATTEMPTS: usize = 70;
/// Wall-clock budget of one kill loop; the loop stops early (and the kill count assertion
/// then fails) rather than run for ever on a very slow machine.
const BUDGET: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------------------------
// Killing

/// A child process that is SIGKILLed and reaped when dropped (also on panic).
struct Guard(Option<Child>);

impl Guard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

enum Outcome {
    Killed,
    Finished(ExitStatus, Duration),
}

/// Spawns `cmd` (output discarded) and SIGKILLs it after `delay` unless it exits first.
fn run_killed(mut cmd: Command, delay: Duration) -> Outcome {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let mut g = Guard(Some(cmd.spawn().expect("spawn dvx")));
    let deadline = start + delay;
    loop {
        if let Some(st) = g.child().try_wait().unwrap() {
            g.0 = None;
            return Outcome::Finished(st, start.elapsed());
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_micros(500)));
    }
    let mut c = g.0.take().unwrap();
    c.kill().unwrap();
    let st = c.wait().unwrap();
    // It may have exited on its own between the last poll and the kill.
    match st.code() {
        Some(_) => Outcome::Finished(st, start.elapsed()),
        None => Outcome::Killed,
    }
}

fn seed(default: u64) -> u64 {
    std::env::var("DVX_TEST_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The kill schedule of one command: attempt `i` kills after a delay in the `i`-th of
/// [`KILLS`] equal slices of the estimated duration (plus jitter), so kills cover the whole run.
struct Killer {
    name: &'static str,
    seed: u64,
    rng: Gen,
    est: Duration,
    attempts: usize,
    kills: usize,
    finished: usize,
    started: Instant,
    log: Vec<String>,
}

impl Killer {
    fn new(name: &'static str, default_seed: u64, est: Duration) -> Killer {
        let seed = seed(default_seed);
        eprintln!("{name}: one full run took {est:?}; kill seed {seed}");
        Killer {
            name,
            seed,
            rng: Gen::new(seed),
            est: est.max(Duration::from_millis(5)),
            attempts: 0,
            kills: 0,
            finished: 0,
            started: Instant::now(),
            log: Vec::new(),
        }
    }

    fn more(&self) -> bool {
        self.kills < KILLS && self.attempts < MAX_ATTEMPTS && self.started.elapsed() < BUDGET
    }

    /// Runs `cmd`, killing it at the next point of the schedule; true if it was killed.
    fn run(&mut self, cmd: Command) -> bool {
        let slice = (self.attempts % KILLS) as f64;
        let jitter = self.rng.range(0..1000) as f64 / 1000.0;
        let frac = (slice + jitter) / KILLS as f64;
        let delay = self.est.mul_f64(frac * 0.95);
        self.attempts += 1;
        match run_killed(cmd, delay) {
            Outcome::Killed => {
                self.kills += 1;
                self.log.push(format!("{}ms", delay.as_millis()));
                true
            }
            Outcome::Finished(st, took) => {
                // Finished before its kill: the machine is faster now than when measured.
                self.finished += 1;
                self.log
                    .push(format!("{}ms(finished: {st})", delay.as_millis()));
                if took < self.est {
                    self.est = took.max(Duration::from_millis(5));
                }
                false
            }
        }
    }

    fn report(&self) {
        eprintln!(
            "{}: {} kills survived ({} runs finished before their kill; {} attempts; seed {}; \
             DVX_TEST_KILL_SEED replays) kill delays: {}",
            self.name,
            self.kills,
            self.finished,
            self.attempts,
            self.seed,
            self.log.join(" ")
        );
        assert!(
            self.kills >= KILLS,
            "{}: only {} kills in {} attempts ({:?}); wanted {KILLS}",
            self.name,
            self.kills,
            self.attempts,
            self.started.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Data

/// 4 MiB packs (the minimum allowed is 1 MiB): a few tens of MB give several packs, so kills
/// land between pack seals too.
fn small_packs(dir: &Path) {
    let cfg = dir.join(".dvx/store/config.toml");
    let text = fs::read_to_string(&cfg).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("pack_size") {
                "pack_size = 4194304".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(&cfg, text + "\n").unwrap();
}

/// `big` random files of `big_size` bytes under `big/`, `small` small files (random or text,
/// 0..6000 bytes) in 20 directories, a few executable, a symlink.
fn write_dataset(g: &mut Gen, root: &Path, big: usize, big_size: usize, small: usize) {
    for i in 0..big {
        g.file(&root.join(format!("big/b{i}.bin")), big_size);
    }
    for i in 0..small {
        let p = root.join(format!("s{}/f{i}.dat", i % 20));
        let n = g.range(0..6000);
        if i % 3 == 0 {
            g.text_file(&p, n);
        } else {
            g.file(&p, n);
        }
        if i % 37 == 0 {
            set_exec(&p, true);
        }
    }
    symlink("big/b0.bin", &root.join("link"));
}

/// A new version: `rewrite_big` of the big files get new random content, a third of the
/// small files change, some are deleted, some are new (in a new directory), exec bits and the
/// symlink target change. `round` keeps new names unique.
fn mutate(g: &mut Gen, root: &Path, rewrite_big: usize, round: usize) {
    let mut bigs: Vec<PathBuf> = Vec::new();
    find_files(
        &root.join("big"),
        &mut |p| p.extension().is_some_and(|e| e == "bin"),
        &mut bigs,
    );
    bigs.sort();
    for i in 0..rewrite_big.min(bigs.len()) {
        let p = &bigs[(round + i) % bigs.len()];
        let n = fs::metadata(p).unwrap().len() as usize;
        g.file(p, n);
    }
    let mut smalls: Vec<PathBuf> = Vec::new();
    find_files(
        root,
        &mut |p| p.extension().is_some_and(|e| e == "dat"),
        &mut smalls,
    );
    smalls.sort();
    for (i, p) in smalls.iter().enumerate() {
        match (i + round) % 30 {
            0 => remove(p),
            r if r % 3 == 1 => {
                let n = g.range(0..6000);
                g.file(p, n);
            }
            7 => {
                let exec = fs::metadata(p).unwrap().permissions().mode() & 0o100 != 0;
                set_exec(p, !exec);
            }
            _ => {}
        }
    }
    for i in 0..30 {
        let n = g.range(0..6000);
        g.file(&root.join(format!("new{round}/n{i}.dat")), n);
    }
    remove(&root.join("link"));
    symlink(&format!("big/b{}.bin", round % 2), &root.join("link"));
}

// ---------------------------------------------------------------------------------------------
// Checks

fn is_tmp(rel: &str) -> bool {
    rel.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with(".dvx-tmp-"))
}

/// Splits dvx's temporary files (`.dvx-tmp-*`) off a snapshot.
fn without_tmp(snap: Snapshot) -> (Vec<String>, Snapshot) {
    let (tmp, rest): (Snapshot, Snapshot) = snap.into_iter().partition(|(k, _)| is_tmp(k));
    (tmp.into_keys().collect(), rest)
}

/// Every entry on disk is the old or the new one (file by file); an entry both versions have
/// must be present; nothing else but `.dvx-tmp-*` files. Returns the temporary files.
#[track_caller]
fn assert_old_or_new(what: &str, old: &Snapshot, new: &Snapshot, actual: Snapshot) -> Vec<String> {
    let (tmp, actual) = without_tmp(actual);
    let mut bad = Vec::new();
    for (k, a) in &actual {
        let o = old.get(k);
        let n = new.get(k);
        if o != Some(a) && n != Some(a) {
            bad.push(format!("{k}: on disk {a:?}\n   old {o:?}\n   new {n:?}"));
        }
    }
    for (k, o) in old {
        if let Some(n) = new.get(k) {
            if !actual.contains_key(k) {
                bad.push(format!(
                    "{k}: missing (in both versions: old {o:?}, new {n:?})"
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: the worktree is neither old nor new file by file:\n{}",
        bad.join("\n")
    );
    tmp
}

/// `dvx status --json` in `dir` works and reports no `.dvx-tmp-*` file.
#[track_caller]
fn assert_status_ignores_tmp(repo: &TestRepo, dir: &Path, what: &str) -> serde_json::Value {
    let r = repo.dvx_in(dir, &["status", "--json"]);
    r.ok();
    let doc = r.json();
    for d in doc["datasets"].as_array().unwrap() {
        for key in ["added", "modified", "deleted"] {
            if let Some(list) = d[key].as_array() {
                for p in list {
                    let p = p.as_str().unwrap_or_default();
                    assert!(
                        !is_tmp(p),
                        "{what}: `dvx status` reports dvx's temporary file {p} as {key}\n{r}"
                    );
                }
            }
        }
    }
    doc
}

#[track_caller]
fn assert_clean(repo: &TestRepo, dir: &Path, ds: &str, what: &str) {
    let doc = assert_status_ignores_tmp(repo, dir, what);
    let d = dataset(&doc, ds);
    assert_eq!(d["state"], "clean", "{what}: status of {ds}: {doc:#}");
}

#[track_caller]
fn assert_fsck_clean(repo: &TestRepo, dir: &Path, what: &str) {
    let r = repo.dvx_in(dir, &["fsck"]);
    assert!(r.status.success(), "{what}: `dvx fsck` is not clean\n{r}");
}

/// The exact snapshot (without dvx's temporary files) must equal `want`.
#[track_caller]
/// The whole tree, extra files included: after a rerun, not even a temporary file of the
/// killed run may be left in the dataset.
fn assert_exact(what: &str, want: &Snapshot, dir: &Path) {
    assert_snapshot_eq(what, want, &snapshot(dir));
}

fn note_tmp(name: &str, tmp: &[String], all: &mut std::collections::BTreeSet<String>) {
    for t in tmp {
        all.insert(format!("{name}/{t}"));
    }
}

// ---------------------------------------------------------------------------------------------
// add

#[test]
fn add_killed_at_random_points() {
    let repo = TestRepo::new();
    small_packs(repo.root());
    let data = repo.path("data");
    let mut g = Gen::new(0xadd);
    write_dataset(&mut g, &data, 5, 3 * MIB, 400);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v0");

    // One unkilled run of the kind of change every round makes, to measure it.
    mutate(&mut g, &data, 2, 0);
    let t = Instant::now();
    repo.dvx(&["add", "data"]).ok();
    let est = t.elapsed();
    repo.commit("v1");

    let mut k = Killer::new("add", 0xadd_0001, est);
    let mut round = 1;
    while k.more() {
        round += 1;
        let old_ptr = repo.pointer("data.dvx");
        mutate(&mut g, &data, 2, round);
        let want = repo.snapshot("data");
        let ctx = format!("add round {round}");

        let killed = k.run(repo.dvx_cmd(&["add", "data"]));
        let ctx = format!("{ctx} (killed: {killed}, after {:?})", k.log.last());
        // add never touches the data.
        assert_snapshot_eq(
            &format!("{ctx}: data after the killed add"),
            &want,
            &repo.snapshot("data"),
        );
        // The pointer is whole (old or new, checked below).
        let killed_ptr = repo.pointer("data.dvx");
        let killed_id = killed_ptr.id().to_string();
        assert_status_ignores_tmp(&repo, repo.root(), &ctx);
        assert_fsck_clean(&repo, repo.root(), &format!("{ctx}: after the kill"));

        // Rerun: completes.
        repo.dvx(&["add", "data"]).ok();
        let new_ptr = repo.pointer("data.dvx");
        assert!(
            killed_id == old_ptr.id() || killed_id == new_ptr.id(),
            "{ctx}: the killed add left a pointer with id {killed_id}, neither the old {} nor \
             the new {}:\n{}",
            old_ptr.id(),
            new_ptr.id(),
            killed_ptr.text
        );
        assert_clean(&repo, repo.root(), "data", &ctx);
        assert_fsck_clean(&repo, repo.root(), &format!("{ctx}: after the rerun"));
        // The version is complete in the store: a checkout of deleted data restores it.
        remove(&data);
        repo.dvx(&["checkout"]).ok();
        assert_exact(&format!("{ctx}: checkout after the rerun"), &want, &data);
        repo.commit(&format!("v{round}"));
    }
    k.report();
}

// ---------------------------------------------------------------------------------------------
// checkout

#[test]
fn checkout_killed_at_random_points() {
    let repo = TestRepo::new();
    small_packs(repo.root());
    let data = repo.path("data");
    let mut g = Gen::new(0xc0);
    write_dataset(&mut g, &data, 6, 4 * MIB, 1500);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    repo.git(&["tag", "v1"]).ok();
    let s1 = repo.snapshot("data");
    let p1 = repo.read_str("data.dvx");
    mutate(&mut g, &data, 5, 1);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    repo.git(&["tag", "v2"]).ok();
    let s2 = repo.snapshot("data");
    let p2 = repo.read_str("data.dvx");
    let version = |v: usize| if v == 1 { (&s1, &p1) } else { (&s2, &p2) };

    // Measure v2 -> v1.
    let t = Instant::now();
    repo.dvx(&["checkout", "v1", "data"]).ok();
    let est = t.elapsed();
    assert_exact("checkout v1", &s1, &data);
    let mut cur = 1;

    let mut k = Killer::new("checkout", 0xc0_0001, est);
    let mut leftovers = std::collections::BTreeSet::new();
    while k.more() {
        let target = 3 - cur;
        let (old, old_ptr) = version(cur);
        let (new, new_ptr) = version(target);
        let rev = format!("v{target}");
        let killed = k.run(repo.dvx_cmd(&["checkout", &rev, "data"]));
        let ctx = format!(
            "checkout v{cur} -> {rev}, attempt {} (killed: {killed}, after {:?})",
            k.attempts,
            k.log.last()
        );
        let tmp = assert_old_or_new(&ctx, old, new, repo.snapshot("data"));
        note_tmp("data", &tmp, &mut leftovers);
        let ptr = repo.read_str("data.dvx");
        assert!(
            &ptr == old_ptr || &ptr == new_ptr,
            "{ctx}: data.dvx is neither the old nor the new pointer:\n{ptr}"
        );
        assert_status_ignores_tmp(&repo, repo.root(), &ctx);
        assert_fsck_clean(&repo, repo.root(), &ctx);

        repo.dvx(&["checkout", &rev, "data"]).ok();
        assert_exact(&format!("{ctx}: rerun"), new, &data);
        assert_eq!(&repo.read_str("data.dvx"), new_ptr, "{ctx}: pointer");
        assert_clean(&repo, repo.root(), "data", &ctx);
        assert_fsck_clean(&repo, repo.root(), &format!("{ctx}: after the rerun"));
        cur = target;
    }
    if !leftovers.is_empty() {
        eprintln!(
            "checkout: {} temporary files left in the worktree by the killed runs (not removed \
             by the reruns): {:?}",
            leftovers.len(),
            leftovers.iter().take(5).collect::<Vec<_>>()
        );
    }
    k.report();
}

// ---------------------------------------------------------------------------------------------
// push / pull

/// A repository with one version of `data` (one commit, so that fsck in a clone that pulled
/// it is clean) and a folder remote `<tmp>/remote` in its committed config.
fn repo_with_remote(seed: u64) -> (TestRepo, PathBuf, Snapshot, String) {
    let repo = TestRepo::new();
    small_packs(repo.root());
    let mut g = Gen::new(seed);
    write_dataset(&mut g, &repo.path("data"), 5, 4 * MIB, 500);
    repo.dvx(&["add", "data"]).ok();
    let remote = repo.tmp().join("remote");
    repo.dvx(&["remote", "add", "origin", remote.to_str().unwrap()])
        .ok();
    repo.commit("data");
    let want = repo.snapshot("data");
    let id = repo.pointer("data.dvx").id().to_string();
    (repo, remote, want, id)
}

/// A fresh clone `<tmp>/<name>` (replacing an earlier one).
fn fresh_clone(repo: &TestRepo, name: &str) -> PathBuf {
    remove(&repo.tmp().join(name));
    repo.clone_to(name, &[])
}

/// Checks every pack on a folder remote against its name (BLAKE3 of the file), and that no
/// object sits under a name that is not the layout's.
#[track_caller]
fn assert_remote_sane(remote: &Path, what: &str) {
    let mut files = Vec::new();
    find_files(remote, &mut |_| true, &mut files);
    for f in files {
        let rel = f
            .strip_prefix(remote)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".dvx-tmp-") {
            continue;
        }
        if let Some(id) = rel.strip_prefix("packs/").and_then(|r| r.get(3..)) {
            let id = id.strip_suffix(".pack").unwrap_or(id);
            let pid: dvx_store::PackId = id.parse().unwrap();
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                dvx_store::pack::id_matches(&bytes, &pid),
                "{what}: remote pack {rel} does not match its name (partial upload?)"
            );
            let entries = dvx_store::pack::read_trailer_with(&f, bytes.len() as u64, |buf, off| {
                buf.copy_from_slice(&bytes[off as usize..off as usize + buf.len()]);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{what}: remote pack {rel} is damaged: {e}"));
            for e in &entries {
                let stored = &bytes[e.offset as usize..(e.offset + e.stored_len as u64) as usize];
                dvx_store::pack::decode_chunk(e, &pid, stored)
                    .unwrap_or_else(|err| panic!("{what}: remote pack {rel}: {err}"));
            }
        } else if rel == "catalogue.txt" {
            // Written whole (atomically) after the objects: a killed push leaves the previous
            // one or none, never a partial one.
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                text.starts_with("dvx-catalogue 1\n") && text.ends_with('\n'),
                "{what}: partial catalogue.txt on the remote:\n{text}"
            );
        } else if rel.starts_with("audit/") {
            // Written whole (atomically) after the push completed: a killed push leaves none
            // or a whole record, never a partial one.
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap())
                .unwrap_or_else(|e| panic!("{what}: partial audit record {rel}: {e}"));
            assert_eq!(v["operation"], "push", "{what}: {rel}: {v}");
        } else {
            assert!(
                rel.starts_with("index/") || rel.starts_with("trees/"),
                "{what}: unexpected file {rel} on the remote"
            );
        }
    }
}

#[test]
fn push_killed_at_random_points() {
    let (repo, remote, want, id) = repo_with_remote(0x9054);
    let wipe = || {
        remove(&remote);
        remove(&repo.path(".dvx/state/remote-cache"));
    };
    let t = Instant::now();
    repo.dvx(&["push"]).ok();
    let est = t.elapsed();
    let root_tree = remote.join(format!("trees/{}/{id}", &id[..2]));
    assert!(root_tree.is_file(), "{} after a push", root_tree.display());

    let mut k = Killer::new("push", 0x9054_0001, est);
    let mut complete_after_kill = 0;
    while k.more() {
        wipe();
        let killed = k.run(repo.dvx_cmd(&["push"]));
        let ctx = format!(
            "push attempt {} (killed: {killed}, after {:?})",
            k.attempts,
            k.log.last()
        );
        assert_fsck_clean(&repo, repo.root(), &ctx);
        assert_remote_sane(&remote, &ctx);
        if root_tree.is_file() {
            // The root tree is there: the remote claims the version is complete. A clone must
            // be able to pull it, before any rerun.
            complete_after_kill += 1;
            let c = fresh_clone(&repo, "early");
            repo.dvx_in(&c, &["pull"]).ok();
            assert_exact(
                &format!("{ctx}: pull of what the killed push sent"),
                &want,
                &c.join("data"),
            );
        }

        let r = repo.dvx(&["push"]);
        r.ok();
        let c = fresh_clone(&repo, "clone");
        repo.dvx_in(&c, &["pull"]).ok();
        assert_exact(
            &format!("{ctx}: pull after the rerun"),
            &want,
            &c.join("data"),
        );
        assert_clean(&repo, &c, "data", &ctx);
        assert_fsck_clean(&repo, &c, &format!("{ctx}: clone"));
    }
    eprintln!("push: {complete_after_kill} killed pushes had already sent the root tree");
    k.report();
}

/// After a killed pull, fsck in the clone may only miss the root tree of the version (trees
/// are written last, root last): any other problem means the store is not valid.
#[track_caller]
fn assert_fsck_ok_or_root_missing(repo: &TestRepo, dir: &Path, id: &str, what: &str) {
    let r = repo.dvx_in(dir, &["fsck", "--json"]);
    if r.status.success() {
        return;
    }
    assert_eq!(r.code(), Some(1), "{what}: fsck\n{r}");
    let doc = r.json();
    let problems = doc["problems"].as_array().unwrap();
    let only_root_missing = problems.len() == 1
        && problems[0]["object"] == format!("tree {id}")
        && problems[0]["kind"] == "missing";
    assert!(
        only_root_missing,
        "{what}: fsck after the killed pull reports more than the missing root tree\n{r}"
    );
}

#[test]
fn pull_killed_at_random_points() {
    let (repo, _remote, want, id) = repo_with_remote(0x9011);
    repo.dvx(&["push"]).ok();
    let ptr = repo.read_str("data.dvx");
    let empty = Snapshot::new();

    let c = fresh_clone(&repo, "measure");
    let t = Instant::now();
    repo.dvx_in(&c, &["pull"]).ok();
    let est = t.elapsed();
    assert_exact("pull", &want, &c.join("data"));

    let mut k = Killer::new("pull", 0x9011_0001, est);
    let mut leftovers = std::collections::BTreeSet::new();
    while k.more() {
        let c = fresh_clone(&repo, "clone");
        let killed = k.run(repo.dvx_cmd_in(&c, &["pull"]));
        let ctx = format!(
            "pull attempt {} (killed: {killed}, after {:?})",
            k.attempts,
            k.log.last()
        );
        let tmp = assert_old_or_new(&ctx, &empty, &want, snapshot(&c.join("data")));
        note_tmp("data", &tmp, &mut leftovers);
        assert_eq!(
            fs::read_to_string(c.join("data.dvx")).unwrap(),
            ptr,
            "{ctx}: pointer"
        );
        assert_status_ignores_tmp(&repo, &c, &ctx);
        assert_fsck_ok_or_root_missing(&repo, &c, &id, &ctx);

        repo.dvx_in(&c, &["pull"]).ok();
        assert_exact(&format!("{ctx}: rerun"), &want, &c.join("data"));
        assert_clean(&repo, &c, "data", &ctx);
        assert_fsck_clean(&repo, &c, &format!("{ctx}: after the rerun"));
    }
    if !leftovers.is_empty() {
        eprintln!(
            "pull: {} temporary files left in the worktree by the killed runs",
            leftovers.len()
        );
    }
    k.report();
}

// ---------------------------------------------------------------------------------------------
// gc

#[test]
fn gc_killed_at_random_points() {
    let repo = TestRepo::new();
    small_packs(repo.root());
    let data = repo.path("data");
    let mut g = Gen::new(0x6c);
    write_dataset(&mut g, &data, 3, 3 * MIB, 150);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("keep");
    repo.git(&["tag", "keep"]).ok();
    let keep = repo.snapshot("data");

    // A second worktree sharing the store, to check versions out without touching the main
    // worktree (whose pointers gc marks).
    let other = repo.clone_to("other", &[]);
    fs::create_dir_all(other.join(".dvx")).unwrap();
    fs::write(
        other.join(".dvx/config.local.toml"),
        format!(
            "store = \"{}\"\n",
            repo.path(".dvx/store").to_string_lossy()
        ),
    )
    .unwrap();

    let mut round = 0;
    // Makes garbage: a new version of data committed with --amend (the previous head version
    // becomes unreachable), added together with a throw-away dataset `junk` in one session so
    // that packs mix live and dead chunks (rewritten by gc), then junk's pointer is dropped.
    let make_garbage = |round: usize, g: &mut Gen| -> Snapshot {
        mutate(g, &data, 2, round);
        g.file(&data.join(format!("big/r{round}.bin")), MIB);
        for i in 0..4 {
            g.file(&repo.path(&format!("junk/j{i}.bin")), 3 * MIB);
        }
        repo.dvx(&["add", "data", "junk"]).ok();
        remove(&repo.path("junk"));
        remove(&repo.path("junk.dvx"));
        repo.git(&["rm", "-q", "--cached", "--ignore-unmatch", "junk.dvx"])
            .ok();
        repo.git(&["add", "-A"]).ok();
        if round == 1 {
            repo.commit("head");
        } else {
            repo.git(&["commit", "-q", "--amend", "-m", &format!("head {round}")])
                .ok();
        }
        repo.snapshot("data")
    };
    round += 1;
    make_garbage(round, &mut g);
    let t = Instant::now();
    repo.dvx(&["gc", "--keep-days", "0"]).ok();
    let est = t.elapsed();

    let check_versions = |what: &str, head: &Snapshot| {
        repo.git_in(
            &other,
            &[
                "fetch",
                "-q",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ],
        )
        .ok();
        for (rev, want) in [("keep", &keep), ("origin/main", head)] {
            // `other` shares the store, and its worktree may hold the previous head version,
            // which the gc in `repo` rightly deleted (gc sees only its own repository's refs
            // and worktree): that content is no longer saved, so discard it with --force.
            repo.dvx_in(&other, &["checkout", "--force", rev, "data"])
                .ok();
            assert_exact(
                &format!("{what}: checkout {rev}"),
                want,
                &other.join("data"),
            );
        }
    };

    let mut k = Killer::new("gc", 0x6c_0001, est);
    let mut freed_by_rerun = 0u64;
    let mut empty_lock_refusals: Vec<String> = Vec::new();
    let mut stale_index: Vec<String> = Vec::new();
    while k.more() {
        round += 1;
        let head = make_garbage(round, &mut g);
        let killed = k.run(repo.dvx_cmd(&["gc", "--keep-days", "0"]));
        let ctx = format!(
            "gc round {round} (killed: {killed}, after {:?})",
            k.log.last()
        );
        let f = repo.dvx(&["fsck"]);
        if !f.status.success() && only_stale_index_entries(&f) {
            // See `gc_killed_between_pack_deletion_and_index_rebuild`: recorded, the rerun
            // below must repair it.
            stale_index.push(format!("{ctx}:\n{}", f.stdout_str().trim()));
        } else {
            assert!(f.status.success(), "{ctx}: `dvx fsck` is not clean\n{f}");
        }
        check_versions(&ctx, &head);

        let mut r = repo.dvx(&["gc", "--keep-days", "0", "--json"]);
        if !r.status.success() && empty_lock_refusal(&r, &repo.path(".dvx/store/gc.lock")) {
            // See `gc_runs_after_a_crash_left_an_empty_lock`: the killed gc died between
            // creating its lock and writing its pid; gc then refuses for 10 s. Record it,
            // wait it out, go on checking the rest.
            empty_lock_refusals.push(format!("{ctx}: {}", r.stderr_str().trim()));
            std::thread::sleep(Duration::from_millis(10_500));
            r = repo.dvx(&["gc", "--keep-days", "0", "--json"]);
        }
        r.ok();
        freed_by_rerun += r.json()["bytes_freed"].as_u64().unwrap_or(0);
        let dry = repo.dvx(&["gc", "--dry-run", "--keep-days", "0", "--json"]);
        dry.ok();
        let j = dry.json();
        assert!(
            j["packs_deleted"] == 0 && j["packs_rewritten"] == 0 && j["trees_deleted"] == 0,
            "{ctx}: the rerun gc did not finish the job\n{dry}"
        );
        assert_fsck_clean(&repo, repo.root(), &format!("{ctx}: after the rerun"));
        check_versions(&format!("{ctx}: after the rerun"), &head);
    }
    eprintln!("gc: the reruns freed {freed_by_rerun} bytes in total");
    k.report();
    assert!(
        stale_index.is_empty(),
        "fsck was not clean after {} of the killed gcs: index files list deleted packs:\n{}",
        stale_index.len(),
        stale_index.join("\n")
    );
    assert!(
        empty_lock_refusals.is_empty(),
        "gc refused to run after a killed gc left an empty gc.lock ({} times):\n{}",
        empty_lock_refusals.len(),
        empty_lock_refusals.join("\n")
    );
}

/// fsck's only problems are index entries naming a pack that is gone.
fn only_stale_index_entries(r: &Run) -> bool {
    let out = r.stdout_str();
    let problems: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("checked ") && !l.starts_with("  "))
        .collect();
    r.code() == Some(1)
        && !problems.is_empty()
        && problems
            .iter()
            .all(|l| l.starts_with("index ") && l.ends_with("which is missing or unreadable"))
}

/// The state a gc SIGKILLed after deleting dead packs (gc.rs, the `remove` loop) but before
/// `rebuild_index` leaves, reproduced deterministically: the index files from before the gc
/// are put back after it. (1) fsck must be clean (the crash loop above sees exactly this
/// state); (2) an add of data whose chunks were only in the deleted pack must store them
/// again, not deduplicate against the stale index entries.
#[test]
fn gc_killed_between_pack_deletion_and_index_rebuild() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x57a1e);
    g.file(&repo.path("data/keep.bin"), 300_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    // Garbage: a dataset added, then dropped.
    let junk = g.bytes(2 * MIB);
    write_file(&repo.path("junk/j.bin"), &junk);
    repo.dvx(&["add", "junk", "--no-stage"]).ok();
    remove(&repo.path("junk"));
    remove(&repo.path("junk.dvx"));
    let index_dir = repo.path(".dvx/store/index");
    let saved: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&index_dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let packs_before = repo.pack_files().len();
    repo.dvx(&["gc", "--keep-days", "0"]).ok();
    assert!(
        repo.pack_files().len() < packs_before,
        "gc deleted no pack (test setup)"
    );
    // Back to the moment before `rebuild_index`: the old index files, the packs deleted.
    for e in fs::read_dir(&index_dir).unwrap() {
        remove(&e.unwrap().path());
    }
    for (p, b) in &saved {
        fs::write(p, b).unwrap();
    }
    // gc now drops index entries before deleting packs, so a crash cannot leave this state;
    // it can still come from a pack deleted by hand. fsck names the stale entries (and only
    // those), and an add must not trust them.
    let f = repo.dvx(&["fsck"]);
    let fsck_clean = f.status.success() || only_stale_index_entries(&f);

    // The same content again, under a new name: its chunks must be stored again.
    write_file(&repo.path("again/j.bin"), &junk);
    repo.dvx(&["add", "again"]).ok();
    repo.commit("again");
    remove(&repo.path("again"));
    let co = repo.dvx(&["checkout"]);
    let restored =
        co.status.success() && fs::read(repo.path("again/j.bin")).is_ok_and(|b| b == junk);
    // The next gc drops the stale entries; then fsck is clean.
    repo.dvx(&["gc", "--keep-days", "0"]).ok();
    let f2 = repo.dvx(&["fsck"]);
    assert!(
        fsck_clean && restored && f2.status.success(),
        "after a gc killed between deleting packs and rebuilding the index:\n\
         fsck right after (clean: {fsck_clean}):\n{f}\n\
         re-added data restored: {restored}\n{co}\nfsck after the re-add:\n{f2}"
    );
}

/// The rerun was refused because of an empty `gc.lock` (no live holder can exist: every gc
/// this test started has been reaped).
fn empty_lock_refusal(r: &Run, lock: &Path) -> bool {
    !r.status.success()
        && r.stderr_str().contains("another dvx gc is running")
        && fs::read(lock).is_ok_and(|b| b.is_empty())
}

/// A gc SIGKILLed between creating `gc.lock` and writing its pid into it leaves an empty lock
/// file. No process holds it; the next gc must run (ARCHITECTURE.md: "a lock whose holder is
/// gone is moved aside and removed").
#[test]
fn gc_runs_after_a_crash_left_an_empty_lock() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x10c);
    g.file(&repo.path("data/a.bin"), 100_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    write_file(&repo.path(".dvx/store/gc.lock"), b"");
    let r = repo.dvx(&["gc", "--keep-days", "0"]);
    assert!(
        r.status.success(),
        "gc after a killed gc left an empty gc.lock (no holder)\n{r}"
    );
}
