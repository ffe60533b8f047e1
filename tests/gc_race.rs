//! `dvx gc` racing with `dvx add` + `git commit` and `dvx push` in other processes: no object
//! that any ref needs may be lost. One thread runs gc in a loop, one runs `dvx push` to a
//! folder remote in a loop, and the test thread adds changing data and commits it, for a
//! bounded time. Afterwards every commit on `main` must check out byte-identical to the
//! snapshot taken when it was committed, fsck must be clean, and a fresh clone must pull HEAD.
//!
//! The added data mixes new random files with *resurrected* content: files whose bytes equal
//! a dataset that was added earlier and then dropped (garbage), so `add` deduplicates against
//! packs that gc considers dead. Two variants:
//! - `--keep-days 0.0001` (~9 s): objects are protected by reachability, freshening and a
//!   grace period shorter than the race;
//! - the default grace period (3 days), with the store's objects aged by 4 days before the
//!   race (as if the garbage had been written last week), so that gc really deletes garbage
//!   while adds reuse it. This one must never lose anything.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod util;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use util::*;

const MIB: usize = 1024 * 1024;
/// How long the processes race.
const RACE: Duration = Duration::from_secs(25);
/// Garbage datasets whose content is re-added during the race.
const POOL: usize = 40;

/// Counts and the first few failures of one loop.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    samples: Vec<String>,
}

impl Tally {
    fn record(&mut self, r: &Run) {
        if r.status.success() {
            self.ok += 1;
        } else {
            self.failed += 1;
            if self.samples.len() < 4 {
                self.samples
                    .push(format!("exit {:?}: {}", r.code(), r.stderr_str().trim()));
            }
        }
    }
}

/// Runs `args` in `dir` in a loop on a thread until `stop`.
fn spawn_loop(
    ceiling: PathBuf,
    dir: PathBuf,
    args: Vec<&'static str>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Tally> {
    std::thread::spawn(move || {
        let mut t = Tally::default();
        while !stop.load(Ordering::Relaxed) {
            let r = run_command(
                dvx_command(&ceiling, &dir, &args),
                &format!("dvx {}", args.join(" ")),
                &dir,
            );
            t.record(&r);
            std::thread::sleep(Duration::from_millis(5));
        }
        t
    })
}

/// Sets the mtime of every object in the store (packs, trees, indexes) `days` days back.
fn age_store(root: &Path, days: u64) {
    let when = SystemTime::now() - Duration::from_secs(days * 86400);
    let mut files = Vec::new();
    find_files(&root.join(".dvx/store"), &mut |_| true, &mut files);
    for f in files {
        if f.file_name().is_some_and(|n| n == "config.toml") {
            continue;
        }
        let file = fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(when).unwrap();
    }
}

fn small_packs(dir: &Path) {
    let cfg = dir.join(".dvx/store/config.toml");
    let text = fs::read_to_string(&cfg).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("pack_size") {
                "pack_size = 4194304".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    fs::write(&cfg, text.join("\n") + "\n").unwrap();
}

fn race(gc_args: &'static [&'static str], age_days: Option<u64>, seed: u64) {
    let repo = TestRepo::new();
    small_packs(repo.root());
    let mut g = Gen::new(seed);
    let data = repo.path("data");
    for i in 0..3 {
        g.file(&data.join(format!("base{i}.bin")), MIB);
    }
    g.tree(&data.join("small"), 3, 10, 8000);
    let remote = repo.tmp().join("remote");
    repo.dvx(&["remote", "add", "origin", remote.to_str().unwrap()])
        .ok();
    repo.dvx(&["add", "data"]).ok();
    let mut snaps: HashMap<String, Snapshot> = HashMap::new();
    let c = repo.commit("v0");
    snaps.insert(c, repo.snapshot("data"));

    // The pool: datasets `pool<i>` each added in its own session (its own pack) and
    // committed only on a branch `pool<i>`; the writer deletes the branch (the pack becomes
    // garbage) right before re-adding the same bytes under `data/`.
    let mut pool: Vec<Vec<u8>> = Vec::new();
    for i in 0..POOL {
        let n = MIB / 4 + g.range(0..MIB / 4);
        let b = g.bytes(n);
        let ds = format!("pool{i}");
        write_file(&repo.path(&format!("{ds}/p.bin")), &b);
        repo.dvx(&["add", &ds]).ok();
        repo.commit(&ds);
        repo.git(&["branch", &ds]).ok();
        repo.git(&["reset", "-q", "HEAD~1"]).ok();
        remove(&repo.path(&ds));
        remove(&repo.path(&format!("{ds}.dvx")));
        repo.git(&["checkout", "-q", "--", ".gitignore"]).ok();
        pool.push(b);
    }
    if let Some(days) = age_days {
        age_store(repo.root(), days);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let gc = spawn_loop(
        repo.tmp().to_path_buf(),
        repo.root().to_path_buf(),
        gc_args.to_vec(),
        stop.clone(),
    );
    let push = spawn_loop(
        repo.tmp().to_path_buf(),
        repo.root().to_path_buf(),
        vec!["push"],
        stop.clone(),
    );
    // Stop the loops even if the writer panics.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let guard = StopOnDrop(stop.clone());

    let adds = Mutex::new(Tally::default());
    let start = Instant::now();
    let mut k = 0usize;
    while start.elapsed() < RACE {
        k += 1;
        let n = MIB / 2 + g.range(0..MIB);
        g.file(&data.join(format!("new/n{k}.bin")), n);
        if k > 3 {
            remove(&data.join(format!("new/n{}.bin", k - 3)));
        }
        // Resurrect a dropped dataset's content (deduplicated against a just-dead pack).
        if k <= POOL {
            repo.git(&["branch", "-q", "-D", &format!("pool{}", k - 1)])
                .ok();
            write_file(&data.join(format!("res/r{k}.bin")), &pool[k - 1]);
        }
        for i in 0..3 {
            let n = g.range(0..8000);
            g.file(&data.join(format!("small/d{}/f{i}.dat", k % 3)), n);
        }
        let want = repo.snapshot("data");
        let r = repo.dvx(&["add", "data"]);
        adds.lock().unwrap().record(&r);
        if !r.status.success() {
            continue;
        }
        let c = repo.commit(&format!("v{k}"));
        snaps.insert(c, want);
    }
    drop(guard);
    let gc = gc.join().unwrap();
    let push = push.join().unwrap();
    let adds = adds.into_inner().unwrap();
    eprintln!(
        "race ({:?}, gc {}): {} commits; gc: {} ok, {} failed {:?}; push: {} ok, {} failed {:?}; \
         add: {} ok, {} failed {:?}",
        RACE,
        gc_args.join(" "),
        snaps.len(),
        gc.ok,
        gc.failed,
        gc.samples,
        push.ok,
        push.failed,
        push.samples,
        adds.ok,
        adds.failed,
        adds.samples
    );
    assert!(gc.ok >= 10, "gc ran too few times to race ({})", gc.ok);

    // Every commit, oldest first.
    let commits: Vec<String> = repo
        .git_out(&["rev-list", "--reverse", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    let mut lost = Vec::new();
    for (i, c) in commits.iter().enumerate() {
        let want = &snaps[c];
        // --force: the worktree may hold files whose chunks gc lost (they count as unsaved).
        let co = repo.dvx(&["checkout", "--force", c, "data"]);
        if !co.status.success() {
            lost.push(format!(
                "commit #{i} {c} ({}): checkout failed:\n{}",
                repo.git_out(&["log", "-1", "--format=%s", c]),
                co.stderr_str().trim()
            ));
            continue;
        }
        let (_, got) = split_tmp(repo.snapshot("data"));
        let d = snapshot_diff(want, &got);
        if !d.is_empty() {
            lost.push(format!("commit #{i} {c}: data differs:\n{}", d.join("\n")));
        }
    }
    let fsck = repo.dvx(&["fsck"]);
    assert!(
        lost.is_empty() && fsck.status.success(),
        "gc ({}) racing with add/commit and push lost data of {} of {} commits:\n{}\n\nfsck:\n{fsck}",
        gc_args.join(" "),
        lost.len(),
        commits.len(),
        lost.join("\n\n")
    );

    // The remote got whole versions: a final push, then a fresh clone pulls HEAD.
    repo.dvx(&["checkout", "main", "data"]).ok();
    repo.dvx(&["push"]).ok();
    let clone = repo.clone_to("clone", &[]);
    repo.dvx_in(&clone, &["pull"]).ok();
    let head = repo.git_out(&["rev-parse", "main"]);
    assert_snapshot_eq(
        "pull of HEAD",
        &snaps[&head],
        &snapshot(&clone.join("data")),
    );
}

fn split_tmp(snap: Snapshot) -> (Vec<String>, Snapshot) {
    let (tmp, rest): (Snapshot, Snapshot) = snap.into_iter().partition(|(k, _)| {
        k.rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with(".dvx-tmp-"))
    });
    (tmp.into_keys().collect(), rest)
}

/// The hard case: a grace period of ~9 s, shorter than the race itself, so gc deletes
/// garbage continuously while adds reuse it. (With `--keep-days 0` nothing protects the
/// objects of an add that is still running: that setting is only for a quiet repository,
/// as documented in ARCHITECTURE.md.)
#[test]
fn gc_short_grace_racing_add_and_push_loses_nothing() {
    race(&["gc", "--keep-days", "0.0001"], None, 0x6ac0);
}

/// The default grace period, with the pre-race objects 4 days old.
#[test]
fn gc_default_grace_racing_add_and_push_loses_nothing() {
    race(&["gc"], Some(4), 0x6ac3);
}
