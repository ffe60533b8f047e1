//! What a checkout counts as saved, what the stat cache records, and where a checkout may
//! write: the holes an outside attack found (issue 10, items 1-4, 8, 13, 14 and sparse files),
//! each reproduced here. Race items run the race many times.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod util;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use util::*;

/// Every pack file of the store.
fn packs(repo: &TestRepo) -> Vec<PathBuf> {
    let mut v = repo.pack_files();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// 1. "Saved" means readable.

#[test]
fn a_file_whose_pack_is_gone_is_not_saved() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x5a7ed);
    g.file(&repo.path("data/keep.bin"), 50_000);
    g.file(&repo.path("data/work.bin"), 300_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    let before = packs(&repo);
    // v2: the only copy of the new bytes goes into new packs.
    g.file(&repo.path("data/work.bin"), 300_000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    let new: Vec<PathBuf> = packs(&repo)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(!new.is_empty(), "v2 wrote no pack");
    // A manual clean-up of the store: the index still names the chunks.
    for p in &new {
        fs::remove_file(p).unwrap();
    }
    let snap = repo.snapshot("data");
    let pointer = repo.read("data.dvx");
    let r = repo.dvx(&["checkout", "HEAD~1", "data"]);
    r.code_is(1)
        .stderr_has("data/work.bin")
        .stderr_has("not saved");
    assert_snapshot_eq(
        "data after the refused checkout",
        &snap,
        &repo.snapshot("data"),
    );
    assert_eq!(repo.read("data.dvx"), pointer);
    // A file removed by the checkout counts the same way.
    let r = repo.dvx(&["checkout", "HEAD~1", "data/work.bin"]);
    r.code_is(1).stderr_has("data/work.bin");
    assert_snapshot_eq(
        "data after the refused checkout",
        &snap,
        &repo.snapshot("data"),
    );
    // `add` stores the bytes again, and then the checkout may go ahead.
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    assert_snapshot_eq("v2 back", &snap, &repo.snapshot("data"));
}

// ---------------------------------------------------------------------------------------------
// 2. The stat cache describes the bytes written, not whatever is at the path later.

/// `dvx status --json` of `data` must agree with the bytes on disk compared with the listing
/// of the pointer in the worktree.
#[track_caller]
fn assert_status_tells_the_truth(repo: &TestRepo, what: &str) {
    let ls = repo.dvx(&["ls", "data", "--json"]);
    ls.ok();
    let mut want = std::collections::BTreeMap::new();
    for e in ls.json()["entries"].as_array().unwrap() {
        if e["kind"] == "file" {
            want.insert(
                e["path"].as_str().unwrap().to_string(),
                e["digest"].as_str().unwrap().to_string(),
            );
        }
    }
    let mut files = Vec::new();
    find_files(&repo.path("data"), &mut |_| true, &mut files);
    let mut modified = Vec::new();
    let mut added = Vec::new();
    for f in files {
        if fs::symlink_metadata(&f).unwrap().is_dir() {
            continue;
        }
        let rel = format!(
            "data/{}",
            f.strip_prefix(repo.path("data")).unwrap().to_string_lossy()
        );
        match want.get(&rel) {
            Some(d) if *d != b3_file(&f) => modified.push(rel),
            Some(_) => {}
            None => added.push(rel),
        }
    }
    let st = repo.dvx(&["status", "--json"]);
    st.ok();
    let doc = st.json();
    let d = dataset(&doc, "data");
    let mut said: Vec<String> = json_strs(&d["modified"]);
    said.sort();
    modified.sort();
    assert_eq!(
        said, modified,
        "{what}: status's modified files differ from the bytes on disk\n{st}"
    );
}

#[test]
fn concurrent_checkouts_leave_a_truthful_stat_cache() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0xcc);
    // Same names and sizes in both versions, different bytes: a stat recorded for the
    // wrong file matches in everything but the inode.
    let names: Vec<String> = (0..400).map(|i| format!("data/f{i:04}.bin")).collect();
    for n in &names {
        g.file(&repo.path(n), 200);
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    for n in &names {
        g.file(&repo.path(n), 200);
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    let spare = repo.tmp().join("spare");
    fs::create_dir_all(&spare).unwrap();
    for round in 0..8 {
        // Two checkouts of different versions, and an editor saving files atomically
        // (write beside, rename over) all the while.
        let stop = Arc::new(AtomicBool::new(false));
        let editor = {
            let (stop, spare, root) = (stop.clone(), spare.clone(), repo.root().to_path_buf());
            let names = names.clone();
            std::thread::spawn(move || {
                let mut g = Gen::new(round);
                let mut saves = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let n = &names[g.range(0..names.len())];
                    let tmp = spare.join("save");
                    fs::write(&tmp, g.bytes(200)).unwrap();
                    if fs::rename(&tmp, root.join(n)).is_ok() {
                        saves += 1;
                    }
                }
                saves
            })
        };
        let a = repo
            .dvx_cmd(&["checkout", "HEAD~1", "data", "--force"])
            .spawn()
            .unwrap();
        let b = repo
            .dvx_cmd(&["checkout", "HEAD", "data", "--force"])
            .spawn()
            .unwrap();
        for mut c in [a, b] {
            c.wait().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let saves = editor.join().unwrap();
        assert_status_tells_the_truth(&repo, &format!("round {round} ({saves} saves)"));
        // Bring the worktree back to one version for the next round.
        repo.dvx(&["checkout", "HEAD", "data", "--force"]).ok();
        assert_status_tells_the_truth(&repo, &format!("round {round}, after settling"));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Racy-clean on a file system with whole-second timestamps.

/// A small ext4 with 128-byte inodes (whole-second timestamps) mounted at `dir`; unmounted
/// on drop. `None` (with the reason printed) when this cannot be done; under `CI=true` that
/// fails the test.
struct Mount {
    dir: PathBuf,
    _img: tempfile::TempDir,
}

impl Drop for Mount {
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

fn coarse_ext4(dir: &Path) -> Option<Mount> {
    let required = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = |why: String| {
        assert!(
            !required,
            "CI=true but the coarse-timestamp test cannot run: {why}"
        );
        eprintln!("SKIPPED: {why}");
        None
    };
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return skip("not root: mounting needs root".into());
    }
    let img_dir = tempfile::tempdir().unwrap();
    let img = img_dir.path().join("fs.img");
    fs::File::create(&img).unwrap().set_len(16 << 20).unwrap();
    let mk = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-I", "128"])
        .arg(&img)
        .output();
    match mk {
        Ok(o) if o.status.success() => {}
        Ok(o) => return skip(format!("mkfs.ext4: {}", String::from_utf8_lossy(&o.stderr))),
        Err(e) => return skip(format!("cannot run mkfs.ext4: {e}")),
    }
    fs::create_dir_all(dir).unwrap();
    let m = Command::new("mount")
        .args(["-t", "ext4", "-o", "loop"])
        .arg(&img)
        .arg(dir)
        .output()
        .unwrap();
    if !m.status.success() {
        return skip(format!("mount: {}", String::from_utf8_lossy(&m.stderr)));
    }
    Some(Mount {
        dir: dir.to_path_buf(),
        _img: img_dir,
    })
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// Waits until the clock is early in a second.
fn start_of_a_second() {
    loop {
        let ms = now().subsec_millis();
        if ms < 150 {
            return;
        }
        std::thread::sleep(Duration::from_millis(u64::from(1005 - ms)));
    }
}

fn stat_key(p: &Path) -> (u64, i64, i64, i64, i64, u64) {
    let m = fs::symlink_metadata(p).unwrap();
    (
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.ino(),
    )
}

/// Rewrites `path` in place (same size, same inode).
fn rewrite_in_place(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn a_file_rewritten_in_the_second_it_was_read_is_not_called_clean() {
    let repo = TestRepo::new();
    // The repository (and dvx's state) on the normal disk, the dataset on a file system
    // with whole-second timestamps.
    let Some(_m) = coarse_ext4(&repo.path("mnt")) else {
        return;
    };
    repo.write("mnt/.dvxignore", b"lost+found\n");
    let f = repo.path("mnt/set/f.txt");
    let mut raced = 0;
    for attempt in 0..20 {
        start_of_a_second();
        let second = now().as_secs();
        write_file(&f, format!("version A {attempt:04}").as_bytes());
        repo.dvx(&["add", "mnt/set"]).ok();
        let key = stat_key(&f);
        rewrite_in_place(&f, format!("version B {attempt:04}").as_bytes());
        if now().as_secs() != second || stat_key(&f) != key {
            continue; // a second boundary fell in between: no race this time
        }
        raced += 1;
        let st = repo.dvx(&["status", "--json"]);
        st.ok();
        let doc = st.json();
        assert_eq!(
            json_strs(&dataset(&doc, "mnt/set")["modified"]),
            vec!["mnt/set/f.txt".to_string()],
            "attempt {attempt}: rewritten within the second add read it, yet clean\n{st}"
        );
        // And the same through a checkout that writes the file.
        repo.dvx(&["checkout", "mnt/set", "--force"]).ok();
        start_of_a_second();
        let second = now().as_secs();
        repo.dvx(&["checkout", "mnt/set", "--force"]).ok();
        fs::remove_file(&f).unwrap();
        repo.dvx(&["checkout", "mnt/set"]).ok();
        let key = stat_key(&f);
        rewrite_in_place(&f, format!("version C {attempt:04}").as_bytes());
        if now().as_secs() == second && stat_key(&f) == key {
            let st = repo.dvx(&["status", "--json"]);
            let doc = st.json();
            assert_eq!(
                json_strs(&dataset(&doc, "mnt/set")["modified"]),
                vec!["mnt/set/f.txt".to_string()],
                "attempt {attempt}: rewritten within the second checkout wrote it, yet clean\n{st}"
            );
        }
        if raced >= 3 {
            break;
        }
    }
    assert!(raced >= 1, "the race never happened in 20 attempts");
}

// ---------------------------------------------------------------------------------------------
// 4. A failed checkout leaves nothing a rerun makes worse; ignored files are never removed.

#[test]
fn a_folder_holding_ignored_files_stops_the_checkout_before_any_change() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x4);
    g.file(&repo.path("data/cache"), 1000);
    g.file(&repo.path("data/a.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    fs::remove_file(repo.path("data/cache")).unwrap();
    g.file(&repo.path("data/cache/t"), 1000);
    repo.write("data/.dvxignore", b"cache/*.tmp\n");
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    // Unsaved work the user keeps out of dvx.
    g.file(&repo.path("data/cache/work.tmp"), 1000);
    let snap = repo.snapshot("data");
    for args in [
        &["checkout", "HEAD~1", "data", "--force"][..],
        &["checkout", "HEAD~1", "data", "--force"],
        &["checkout", "HEAD~1", "data"],
    ] {
        let r = repo.dvx(args);
        r.code_is(1).stderr_has("data/cache/work.tmp");
        assert_snapshot_eq(&format!("after {args:?}"), &snap, &repo.snapshot("data"));
    }
}

#[test]
fn an_ignored_entry_where_the_version_needs_another_kind_is_never_removed() {
    // The version has a folder where an ignored file stands.
    let repo = TestRepo::new();
    let mut g = Gen::new(0x44);
    g.file(&repo.path("data/x/inner.bin"), 1000);
    g.file(&repo.path("data/a.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    fs::remove_dir_all(repo.path("data/x")).unwrap();
    repo.write("data/.dvxignore", b"/x\n/y\n");
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    g.file(&repo.path("data/x"), 500); // ignored, unsaved
    let snap = repo.snapshot("data");
    for force in [true, false] {
        let mut args = vec!["checkout", "HEAD~1", "data"];
        if force {
            args.push("--force");
        }
        repo.dvx(&args).code_is(1).stderr_has("data/x");
        assert_snapshot_eq(&format!("force {force}"), &snap, &repo.snapshot("data"));
    }

    // The version has a file where an ignored folder stands.
    let repo = TestRepo::new();
    g.file(&repo.path("data/y"), 1000);
    g.file(&repo.path("data/a.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    fs::remove_file(repo.path("data/y")).unwrap();
    repo.write("data/.dvxignore", b"/y\n");
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    g.file(&repo.path("data/y/mine.txt"), 500);
    let snap = repo.snapshot("data");
    for force in [true, false] {
        let mut args = vec!["checkout", "HEAD~1", "data"];
        if force {
            args.push("--force");
        }
        repo.dvx(&args).code_is(1).stderr_has("data/y/mine.txt");
        assert_snapshot_eq(&format!("force {force}"), &snap, &repo.snapshot("data"));
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Temporary files of killed processes never stay in a dataset.

/// A pid that is not running (a child that has exited and been reaped).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn every_scan_removes_temporary_files_of_dead_processes() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x8);
    g.file(&repo.path("data/sub/a.bin"), 2000);
    g.file(&repo.path("one.csv"), 2000);
    repo.dvx(&["add", "data", "one.csv"]).ok();
    repo.commit("v1");
    let want = repo.snapshot("data");
    let root_before = fs::read_dir(repo.root()).unwrap().count();
    // What a SIGKILL during checkout or pull leaves: in a directory dataset, and beside a
    // single-file dataset. A live process that is not dvx (a recycled pid) holds nothing.
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let cases = [
        (format!("data/sub/.dvx-tmp-{}-c0-1", dead_pid()), "status"),
        (format!("data/.dvx-tmp-{}-c1-2", sleeper.id()), "diff"),
        (format!(".dvx-tmp-{}-c2-3", dead_pid()), "status"),
        (format!("data/.dvx-tmp-{}-7-9", dead_pid()), "checkout"),
    ];
    for (tmp, cmd) in &cases {
        repo.write(tmp, b"half a file");
        let r = repo.dvx(&[cmd]);
        r.ok();
        assert!(
            !repo.path(tmp).exists(),
            "`dvx {cmd}` left the temporary file {tmp} of a dead process\n{r}"
        );
        assert_snapshot_eq(&format!("after dvx {cmd}"), &want, &repo.snapshot("data"));
    }
    assert_eq!(fs::read_dir(repo.root()).unwrap().count(), root_before);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

// ---------------------------------------------------------------------------------------------
// 13. A directory swapped for a symlink while checkout runs redirects nothing.

#[test]
fn a_symlink_swapped_in_during_checkout_redirects_nothing() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x13);
    let names: Vec<String> = (0..400).map(|i| format!("data/sub/f{i:03}.bin")).collect();
    for n in &names {
        g.file(&repo.path(n), 2000);
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    for n in &names {
        g.file(&repo.path(n), 2000);
    }
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    let outside = repo.outside();
    fs::create_dir_all(&outside).unwrap();
    let sub = repo.path("data/sub");
    let aside = repo.path("data/sub.real");
    for round in 0..15 {
        let rev = if round % 2 == 0 { "HEAD~1" } else { "HEAD" };
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, sub, aside, outside) =
                (stop.clone(), sub.clone(), aside.clone(), outside.clone());
            std::thread::spawn(move || {
                let mut swaps = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    if fs::rename(&sub, &aside).is_ok() {
                        let _ = std::os::unix::fs::symlink(&outside, &sub);
                        std::thread::yield_now();
                        let _ = fs::remove_file(&sub);
                        let _ = fs::rename(&aside, &sub);
                        swaps += 1;
                    }
                }
                swaps
            })
        };
        let r = repo.dvx(&["checkout", rev, "data", "--force"]);
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        let leaked: Vec<_> = fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            leaked.is_empty(),
            "round {round} ({swaps} swaps): checkout wrote {} entries outside the repository: {:?}\n{r}",
            leaked.len(),
            leaked.iter().take(5).collect::<Vec<_>>()
        );
        // Put things back for the next round. The swapper may have stopped mid-swap, or
        // checkout may have made a new `data/sub` while the real one was aside (then the
        // swapper could not put it back): the one aside is the one to keep.
        if aside.exists() {
            match fs::symlink_metadata(&sub) {
                Ok(m) if m.file_type().is_symlink() => fs::remove_file(&sub).unwrap(),
                Ok(_) => fs::remove_dir_all(&sub).unwrap(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("round {round}: {}: {e}", sub.display()),
            }
            fs::rename(&aside, &sub).unwrap();
        }
    }
    repo.dvx(&["checkout", "HEAD", "data", "--force"]).ok();
    repo.dvx(&["status"]).ok();
}

// ---------------------------------------------------------------------------------------------
// 14. A mode change never reaches another file through a hard link.

#[test]
fn a_mode_change_is_not_made_through_a_hard_link() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x14);
    let bytes = g.bytes(10_000);
    write_file(&repo.path("data/tool"), &bytes);
    set_exec(&repo.path("data/tool"), false);
    g.file(&repo.path("data/other.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    set_exec(&repo.path("data/tool"), true);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v2");
    // The dataset was assembled with `cp -al`: data/tool is a hard link to a file outside.
    let outside = repo.outside().join("tool");
    write_file(&outside, &bytes);
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o700)).unwrap();
    fs::remove_file(repo.path("data/tool")).unwrap();
    fs::hard_link(&outside, repo.path("data/tool")).unwrap();
    repo.dvx(&["checkout", "HEAD~1", "data"]).ok();
    let mode = fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o700,
        "the file outside had its mode changed through the link"
    );
    assert_eq!(fs::read(&outside).unwrap(), bytes);
    let inside = fs::metadata(repo.path("data/tool")).unwrap();
    assert_eq!(inside.permissions().mode() & 0o777, 0o644);
    assert_eq!(fs::read(repo.path("data/tool")).unwrap(), bytes);
    // A file with one name is still just chmod-ed (same inode).
    let ino = inside.ino();
    repo.dvx(&["checkout", "HEAD", "data"]).ok();
    let m = fs::metadata(repo.path("data/tool")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o755);
    assert_eq!(m.ino(), ino, "a file with one link is chmod-ed in place");
}

// ---------------------------------------------------------------------------------------------
// 19. Sparse files come back sparse.

#[test]
fn sparse_files_come_back_sparse() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x19);
    let path = repo.path("data/disk.img");
    let head = g.bytes(100_000);
    let tail = g.bytes(50_000);
    let hole = 8 << 20;
    {
        use std::io::{Seek, SeekFrom, Write};
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(&head).unwrap();
        f.seek(SeekFrom::Current(hole)).unwrap();
        f.write_all(&tail).unwrap();
        // And a file that ends in a hole.
        let mut e = fs::File::create(repo.path("data/ends.img")).unwrap();
        e.write_all(&head).unwrap();
        e.set_len(head.len() as u64 + hole as u64).unwrap();
    }
    let want = repo.snapshot("data");
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    fs::remove_file(&path).unwrap();
    fs::remove_file(repo.path("data/ends.img")).unwrap();
    repo.dvx(&["checkout", "data"]).ok();
    assert_snapshot_eq("restored", &want, &repo.snapshot("data"));
    for f in ["data/disk.img", "data/ends.img"] {
        let m = fs::metadata(repo.path(f)).unwrap();
        let allocated = m.blocks() * 512;
        assert!(
            allocated < m.len() / 2,
            "{f}: {allocated} bytes allocated for {} bytes, mostly a hole: it came back dense",
            m.len()
        );
    }
    repo.dvx(&["status"]).ok().stdout_has("clean");
}

// ---------------------------------------------------------------------------------------------
// 17 (small files a commit controls). A pointer or a config committed as a link to /dev/zero
// or replaced by a FIFO fails the command instead of hanging or filling memory.

/// Runs `dvx args` in the repository, killing it after 30 s; returns its exit code, or
/// panics if it had to be killed.
fn dvx_within(repo: &TestRepo, args: &[&str]) -> i32 {
    let mut child = repo
        .dvx_cmd(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dvx {args:?} still running after 30 s: it blocked or read without bound");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn committed_pointers_and_configs_are_read_bounded() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x17);
    g.file(&repo.path("data/a.bin"), 1000);
    repo.dvx(&["add", "data"]).ok();
    repo.commit("v1");
    // A pointer that is a link to /dev/zero (git checks links out as links).
    fs::remove_file(repo.path("data.dvx")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", repo.path("data.dvx")).unwrap();
    for args in [
        &["status"][..],
        &["checkout"],
        &["id", "data"],
        &["ls", "data"],
    ] {
        assert_eq!(dvx_within(&repo, args), 1, "dvx {args:?}");
    }
    fs::remove_file(repo.path("data.dvx")).unwrap();
    repo.git(&["checkout", "--", "data.dvx"]).ok();
    repo.dvx(&["status"]).ok();
    // The committed config as a FIFO, and as a link to /dev/zero.
    let cfg = repo.path(".dvx/config.toml");
    let saved = fs::read(&cfg).unwrap();
    fs::remove_file(&cfg).unwrap();
    let mk = Command::new("mkfifo").arg(&cfg).status().unwrap();
    assert!(mk.success());
    // (status finds no initialised repository: a FIFO is not a config file)
    assert!(
        [1, 2].contains(&dvx_within(&repo, &["status"])),
        "config as a FIFO"
    );
    assert_eq!(dvx_within(&repo, &["config"]), 1, "config as a FIFO");
    fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &cfg).unwrap();
    assert!(
        [1, 2].contains(&dvx_within(&repo, &["status"])),
        "config linked to /dev/zero"
    );
    fs::remove_file(&cfg).unwrap();
    fs::write(&cfg, saved).unwrap();
    repo.dvx(&["status"]).ok();
}
