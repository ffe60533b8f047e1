//! Disk full (issue 4): the repository and its store live on a small tmpfs. `add`, `checkout`
//! and `pull` that run out of space must fail with exit 1 and a clear error, leave no partial
//! object under a final name and no half-written data file, and succeed once space is freed.
//! Needs root (to mount); skipped with a printed reason otherwise, required when `CI=true`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use util::*;

const MIB: usize = 1 << 20;

/// A mounted tmpfs, unmounted on drop (also when the test panics).
struct Tmpfs {
    dir: PathBuf,
    _base: tempfile::TempDir,
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Mounts a tmpfs of `mib` MiB, or explains why not (panics under `CI=true`).
fn tmpfs(mib: usize) -> Option<Tmpfs> {
    mount_small(mib, false)
}

/// Mounts a fresh ext4 file system of `mib` MiB on a loop device: a real block device, where
/// packs are written with `O_DIRECT` (tmpfs only pretends to).
fn ext4(mib: usize) -> Option<Tmpfs> {
    mount_small(mib, true)
}

fn mount_small(mib: usize, ext4: bool) -> Option<Tmpfs> {
    let required = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = |why: String| {
        if required {
            panic!("CI=true but the disk-full tests cannot run: {why}");
        }
        eprintln!("SKIPPED: {why}");
        None
    };
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid != "0" {
        return skip(format!("not root (uid {uid:?}); mounting needs root"));
    }
    let base = tempfile::Builder::new()
        .prefix("dvx-diskfull-")
        .tempdir()
        .unwrap();
    let dir = base.path().join("mnt");
    fs::create_dir(&dir).unwrap();
    let out = if ext4 {
        let img = base.path().join("fs.img");
        fs::File::create(&img)
            .unwrap()
            .set_len((mib * MIB) as u64)
            .unwrap();
        // -m 0: no blocks reserved for root, so `df` shows what the test can fill.
        let mk = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&img)
            .output();
        match mk {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return skip(format!(
                    "mkfs.ext4 failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => return skip(format!("cannot run mkfs.ext4: {e}")),
        }
        Command::new("mount")
            .args(["-t", "ext4", "-o", "loop"])
            .arg(&img)
            .arg(&dir)
            .output()
    } else {
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .output()
    };
    let what = if ext4 {
        "mount -o loop (ext4)"
    } else {
        "mount -t tmpfs"
    };
    match out {
        Ok(o) if o.status.success() => Some(Tmpfs { dir, _base: base }),
        Ok(o) => skip(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => skip(format!("cannot run mount: {e}")),
    }
}

impl Tmpfs {
    /// Free bytes on the tmpfs.
    fn avail(&self) -> u64 {
        let o = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// A directory outside the tmpfs (for remotes).
    fn beside(&self) -> PathBuf {
        self.dir.parent().unwrap().to_path_buf()
    }

    /// Fills the tmpfs until only `leave` bytes are free; returns the filler's path.
    fn fill(&self, leave: u64) -> PathBuf {
        let p = self.dir.join("filler");
        let avail = self.avail();
        let n = avail.saturating_sub(leave);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .unwrap();
        let block = vec![0x5au8; MIB];
        let mut left = n as usize;
        while left > 0 {
            let k = left.min(MIB);
            if std::io::Write::write_all(&mut f, &block[..k]).is_err() {
                break;
            }
            left -= k;
        }
        drop(f);
        p
    }
}

fn says_disk_full(r: &Run) -> bool {
    let e = r.stderr_str().to_lowercase();
    e.contains("disk full") || e.contains("no space")
}

/// Every `.dvx-tmp-*` file below `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    find_files(
        dir,
        &mut |p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".dvx-tmp-"))
        },
        &mut v,
    );
    v
}

#[test]
fn add_on_a_full_disk_fails_cleanly_then_succeeds() {
    let Some(fs_) = tmpfs(40) else { return };
    add_on_full(&fs_);
}

/// The same on ext4, where the failing pack writes are direct I/O from a writer thread.
#[test]
fn add_on_a_full_ext4_disk_fails_cleanly_then_succeeds() {
    let Some(fs_) = ext4(48) else { return };
    add_on_full(&fs_);
}

fn add_on_full(fs_: &Tmpfs) {
    let repo = TestRepo::new_in(&fs_.dir);
    let mut g = Gen::new(0xd15c);
    for i in 0..4 {
        g.file(&repo.path(&format!("data/f{i}.bin")), 2 * MIB);
    }
    repo.commit_all("base");
    let before = repo.snapshot("data");
    let gitignore = fs::read(repo.path(".gitignore")).ok();
    let filler = fs_.fill(3 * MIB as u64);
    let r = repo.dvx(&["add", "data"]);
    r.code_is(1).stderr_is_error();
    eprintln!("{}", r.stderr_str().trim_end());
    assert!(
        says_disk_full(&r),
        "the error does not say the disk is full\n{r}"
    );
    assert!(!r.stderr_str().contains("panicked"), "{r}");
    assert_snapshot_eq("data after a failed add", &before, &repo.snapshot("data"));
    assert!(
        !repo.path("data.dvx").exists(),
        "pointer written by a failed add"
    );
    assert_eq!(fs::read(repo.path(".gitignore")).ok(), gitignore);
    let leftovers = temp_files(&repo.path(".dvx/store"));
    if !leftovers.is_empty() {
        eprintln!("note: temp files left in the store after the failed add: {leftovers:?}");
    }
    // Whatever was published is whole: fsck is clean.
    remove(&filler);
    repo.dvx(&["fsck"]).ok();
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["status"]).ok().stdout_has("data: clean");
    repo.dvx(&["fsck"]).ok();
    repo.commit("v1");
    remove(&repo.path("data"));
    repo.dvx(&["checkout"]).ok();
    assert_snapshot_eq("data restored", &before, &repo.snapshot("data"));
    drop(repo);
}

#[test]
fn checkout_on_a_full_disk_leaves_old_or_new_files_then_completes() {
    let Some(fs_) = tmpfs(40) else { return };
    let repo = TestRepo::new_in(&fs_.dir);
    let mut g = Gen::new(0xc0);
    let names: Vec<String> = (0..4).map(|i| format!("data/f{i}.bin")).collect();
    let mut v1 = Vec::new();
    for n in &names {
        v1.push(b3(&g.file(&repo.path(n), 2 * MIB)));
    }
    repo.dvx(&["add", "data"]).ok();
    let c1 = repo.commit("v1");
    let snap1 = repo.snapshot("data");
    let mut v2 = Vec::new();
    for n in &names {
        v2.push(b3(&g.file(&repo.path(n), 2 * MIB)));
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    let snap2 = repo.snapshot("data");
    // Less than one file: every restore must fail while writing its temp file.
    let filler = fs_.fill(MIB as u64 / 2);
    let r = repo.dvx(&["checkout", &c1, "data"]);
    r.code_is(1).stderr_is_error();
    eprintln!("{}", r.stderr_str().trim_end());
    assert!(
        says_disk_full(&r),
        "the error does not say the disk is full\n{r}"
    );
    assert!(!r.stderr_str().contains("panicked"), "{r}");
    for (i, n) in names.iter().enumerate() {
        let d = b3_file(&repo.path(n));
        assert!(
            d == v1[i] || d == v2[i],
            "{n} is half-written: neither version 1 nor version 2\n{r}"
        );
    }
    let status = repo.dvx(&["status", "--json"]).ok().json();
    let ds = dataset(&status, "data");
    for k in ["added", "modified", "deleted"] {
        for p in json_strs(&ds[k]) {
            assert!(
                !p.contains(".dvx-tmp-"),
                "status reports a temp file as data: {p}"
            );
        }
    }
    let tmps = temp_files(&repo.path("data"));
    if !tmps.is_empty() {
        eprintln!("note: temp files left in data/ after the failed checkout: {tmps:?}");
    }
    // The pointer still says v2 (nothing was switched).
    assert_eq!(
        repo.pointer("data.dvx").id(),
        repo.pointer_at("HEAD", "data.dvx").id()
    );
    remove(&filler);
    repo.dvx(&["checkout", &c1, "data"]).ok();
    assert_snapshot_eq("data after checkout v1", &snap1, &repo.snapshot("data"));
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_snapshot_eq("data after checkout v2", &snap2, &repo.snapshot("data"));
    drop(repo);
}

#[test]
fn pull_into_a_full_disk_fails_cleanly_then_completes() {
    let Some(fs_) = tmpfs(40) else { return };
    let remote_dir = tempfile::tempdir_in(fs_.beside()).unwrap();
    let remote = remote_dir.path().join("remote");
    let repo = TestRepo::new_in(&fs_.dir);
    let mut g = Gen::new(0x9011);
    for i in 0..4 {
        g.file(&repo.path(&format!("data/f{i}.bin")), 2 * MIB);
    }
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", remote.to_str().unwrap()])
        .ok();
    repo.dvx(&["push"]).ok();
    repo.commit_all("v1");
    let snap = repo.snapshot("data");
    // As on a machine that has only the git repository.
    remove(&repo.path(".dvx/store"));
    remove(&repo.path(".dvx/state"));
    remove(&repo.path("data"));
    let filler = fs_.fill(3 * MIB as u64);
    let r = repo.dvx(&["pull"]);
    r.code_is(1).stderr_is_error();
    eprintln!("{}", r.stderr_str().trim_end());
    assert!(
        says_disk_full(&r),
        "the error does not say the disk is full\n{r}"
    );
    assert!(!r.stderr_str().contains("panicked"), "{r}");
    for f in snapshot(&repo.path("data")).keys() {
        assert!(
            !f.ends_with(".bin") || {
                let d = b3_file(&repo.path(&format!("data/{f}")));
                snap.values()
                    .any(|e| matches!(e, Entry::File { digest, .. } if *digest == d))
            },
            "data/{f} is half-written after a failed pull"
        );
    }
    remove(&filler);
    // The version may be incomplete locally (fsck says so: objects of kind `missing`), but
    // nothing kept is damaged or unreadable.
    let fsck = repo.dvx(&["fsck", "--json"]);
    fsck.code_in(&[0, 1]);
    let doc = fsck.json();
    let problems = doc["problems"].as_array().expect("fsck --json: problems");
    assert_eq!(
        fsck.code() == Some(0),
        problems.is_empty(),
        "fsck's exit code disagrees with its problems\n{fsck}"
    );
    for p in problems {
        assert_eq!(
            p["kind"], "missing",
            "the failed pull left a damaged object in the store: {p}\n{fsck}"
        );
    }
    repo.dvx(&["pull"]).ok();
    assert_snapshot_eq("data after pull", &snap, &repo.snapshot("data"));
    repo.dvx(&["status"]).ok().stdout_has("data: clean");
    drop(repo);
}

/// A read-only store (a tmpfs remounted read-only, so even root gets EROFS): reading commands
/// keep working, writing commands fail cleanly, and nothing in the worktree is half-written.
#[test]
fn read_only_store_serves_reads_and_refuses_writes_cleanly() {
    let Some(fs_) = tmpfs(40) else { return };
    let repo = TestRepo::new();
    let store = fs_.dir.join("store");
    repo.set_env("DVX_STORE", store.to_str().unwrap());
    let mut g = Gen::new(0x0f0f);
    g.tree(&repo.path("data"), 2, 4, 200_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let v1 = repo.snapshot("data");
    let pointer = fs::read(repo.path("data.dvx")).unwrap();
    let ro = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&fs_.dir)
        .status()
        .unwrap();
    assert!(ro.success(), "remount read-only failed");

    // Reads work.
    repo.dvx(&["status"]).ok().stdout_has("data: clean");
    remove(&repo.path("data"));
    repo.dvx(&["checkout"]).ok();
    assert_snapshot_eq(
        "checkout from a read-only store",
        &v1,
        &repo.snapshot("data"),
    );
    repo.dvx(&["fsck"]).ok();

    // Writes fail with a clear error; the pointer and the data on disk stay as they were.
    g.file(&repo.path("data/new.bin"), 300_000);
    let before = repo.snapshot("data");
    let r = repo.dvx(&["add", "data"]);
    r.code_is(1).stderr_is_error();
    assert!(
        r.stderr_str().to_lowercase().contains("read-only"),
        "the error does not say the store is read-only\n{r}"
    );
    assert_eq!(fs::read(repo.path("data.dvx")).unwrap(), pointer);
    assert_snapshot_eq("data after a refused add", &before, &repo.snapshot("data"));
    let r = repo.dvx(&["gc"]);
    r.code_in(&[1, 2]).stderr_is_error();
    assert!(!r.stderr_str().contains("panicked"), "{r}");

    // Writable again: the add completes and fsck is clean.
    let rw = Command::new("mount")
        .args(["-o", "remount,rw"])
        .arg(&fs_.dir)
        .status()
        .unwrap();
    assert!(rw.success());
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["fsck"]).ok();
}
