//! The fast walk's order, what stops it, which snapshots count, and the parallel check.

use super::*;

/// The snapshot the check expects: walks the directory `dir` depth first, each directory's
/// names in byte order, showing `visit` every entry's path below the walk's root. Stops with
/// false as soon as `visit` does, or at whatever the check stops at (a `.dvxignore`, a dvx
/// temporary file, anything but a file, directory or symlink, any error). `.git` and `.dvx`
/// are skipped, as the scan does.
fn walk(
    dir: &Path,
    rel: &mut Vec<u8>,
    depth: usize,
    visit: &mut dyn FnMut(&[u8], Seen<'_>) -> bool,
) -> bool {
    use rustix::fs::{self as rfs, Mode};
    match rfs::open(dir, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => walk_fd(&fd, rel, depth, visit),
        Err(_) => false,
    }
}

/// [`walk`] of an open directory. Its names go into one buffer (NUL-terminated, for the
/// `*at` calls): no allocation per file.
fn walk_fd(
    fd: &std::os::fd::OwnedFd,
    rel: &mut Vec<u8>,
    depth: usize,
    visit: &mut dyn FnMut(&[u8], Seen<'_>) -> bool,
) -> bool {
    use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
    use std::ffi::CStr;
    if depth > dvx_manifest::limits::MAX_DEPTH {
        return false;
    }
    let Some((buf, ents)) = sorted_names(fd) else {
        return false;
    };
    for (a, b) in ents {
        let name = &buf[a..b];
        match special(name) {
            Some(true) => continue,
            Some(false) => {}
            None => return false,
        }
        let Ok(cname) = CStr::from_bytes_with_nul(&buf[a..=b]) else {
            return false;
        };
        let Ok(st) = rfs::statat(fd, cname, AtFlags::SYMLINK_NOFOLLOW) else {
            return false;
        };
        let len = rel.len();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        let ok = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => visit(rel, Seen::File(stat_key(&st))),
            FileType::Symlink => match rfs::readlinkat(fd, cname, Vec::new()) {
                Ok(target) => visit(rel, Seen::Symlink(target.as_bytes())),
                Err(_) => false,
            },
            FileType::Directory => match rfs::openat(fd, cname, DIR_FLAGS, Mode::empty()) {
                Ok(sub) => visit(rel, Seen::Dir) && walk_fd(&sub, rel, depth + 1, visit),
                Err(_) => false,
            },
            _ => false,
        };
        rel.truncate(len);
        if !ok {
            return false;
        }
    }
    true
}

/// The entries of an intact snapshot of `dataset` for `id`, as `is_clean` accepts them.
fn check<'a>(bytes: &'a [u8], dataset: &str, id: &TreeId) -> Option<Body<'a>> {
    checksum_ok(bytes)
        .then(|| header(bytes, dataset, id))
        .flatten()
}

/// The entries a snapshot of `base` records.
fn entries_of(base: &Path) -> (Vec<u8>, u64) {
    let (mut out, mut n) = (Vec::new(), 0u64);
    assert!(walk(base, &mut Vec::new(), 0, &mut |rel, seen| {
        encode_entry(&mut out, rel, &seen);
        n += 1;
        true
    }));
    (out, n)
}

fn ends_of(entries: &[u8], n: u64) -> Option<std::collections::HashMap<usize, usize>> {
    subtree_ends(Source::Bytes(entries), entries.len(), n)
}

/// The check of `entries` in memory, and again read from a file a window at a time (after
/// 7 bytes of something else, so windows do not start on entries): both must agree.
fn clean(base: &Path, entries: &[u8], n: u64) -> bool {
    let ends = ends_of(entries, n).expect("entries parse");
    let in_memory = check_tree(base, Source::Bytes(entries), entries.len(), &ends);
    let mut file = tempfile::tempfile().expect("temp");
    std::io::Write::write_all(&mut file, b"head...").expect("write");
    std::io::Write::write_all(&mut file, entries).expect("write");
    let src = Source::File {
        file: &file,
        base: 7,
    };
    let from_file = subtree_ends(src, entries.len(), n).expect("entries parse");
    assert_eq!(from_file, ends);
    assert_eq!(check_tree(base, src, entries.len(), &ends), in_memory);
    in_memory
}

/// The comparison that splits large subtrees across threads finds every kind of change,
/// wherever it is, and only then says "not clean".
#[test]
fn the_parallel_check_sees_every_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    // Directories big enough to be compared on other threads, nested, and names that sort
    // differently as whole paths and as components.
    for d in ["a", "a-b", "a/deep", "b"] {
        std::fs::create_dir_all(base.join(d)).expect("mkdir");
        for i in 0..200 {
            std::fs::write(base.join(d).join(format!("f{i}")), b"x").expect("write");
        }
    }
    std::fs::create_dir(base.join("empty")).expect("mkdir");
    std::os::unix::fs::symlink("a/f1", base.join("link")).expect("symlink");
    let (entries, n) = entries_of(base);
    assert!(entries.len() > 2 * SPLIT_BYTES);
    assert!(clean(base, &entries, n));
    assert!(ends_of(&entries, n + 1).is_none(), "count checked");
    type Change<'a> = (&'a str, &'a dyn Fn(&Path));
    let changes: [Change<'_>; 6] = [
        ("a file rewritten", &|b| {
            std::fs::write(b.join("a/deep/f150"), b"yy").expect("w")
        }),
        ("a file added", &|b| {
            std::fs::write(b.join("a-b/new"), b"x").expect("w")
        }),
        ("a file removed", &|b| {
            std::fs::remove_file(b.join("b/f199")).expect("rm")
        }),
        ("a file in an empty directory", &|b| {
            std::fs::write(b.join("empty/x"), b"x").expect("w")
        }),
        ("a directory removed", &|b| {
            std::fs::remove_file(b.join("empty/x")).expect("rm");
            std::fs::remove_dir(b.join("empty")).expect("rm")
        }),
        ("a link changed", &|b| {
            std::fs::remove_file(b.join("link")).expect("rm");
            std::os::unix::fs::symlink("a/f2", b.join("link")).expect("symlink");
        }),
    ];
    // Each change on top of the last, against a snapshot taken just before it.
    for (what, change) in changes {
        let (entries, n) = entries_of(base);
        assert!(clean(base, &entries, n), "{what}: clean before");
        change(base);
        assert!(!clean(base, &entries, n), "{what}: seen");
    }
}

/// A snapshot for another version, of another dataset, damaged or of an older format is
/// never used.
#[test]
fn only_an_intact_snapshot_of_the_same_version_and_dataset_counts() {
    let id = TreeId::of(b"v1");
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&0u64.to_le_bytes());
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    assert!(check(&out, "data", &id).is_some());
    assert!(check(&out, "data2", &id).is_none());
    assert!(check(&out, "data", &TreeId::of(b"v2")).is_none());
    let mut bad = out.clone();
    bad[50] ^= 1;
    assert!(check(&bad, "data", &id).is_none());
    let mut old = out.clone();
    old[7] = b'0';
    assert!(check(&old, "data", &id).is_none());
    assert!(check(&out[..out.len() - 1], "data", &id).is_none());
    // The same through the file `status` reads, against an empty dataset directory.
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, base) = (dir.path().join("state"), dir.path().join("data"));
    std::fs::create_dir_all(state.join("status")).expect("mkdir");
    std::fs::create_dir_all(&base).expect("mkdir");
    let file = path_for(&state, "data");
    std::fs::write(&file, &out).expect("write");
    assert!(is_clean(&state, "data", &base, &id));
    assert!(!is_clean(&state, "data", &base, &TreeId::of(b"v2")));
    std::fs::write(path_for(&state, "data2"), &out).expect("write");
    assert!(!is_clean(&state, "data2", &base, &id));
    for damaged in [&bad, &old, &out[..out.len() - 1].to_vec()] {
        std::fs::write(&file, damaged).expect("write");
        assert!(!is_clean(&state, "data", &base, &id));
    }
}

/// The snapshot `add` and `status` record as their scan goes is exactly what the check
/// walks (same entries, same order, names that sort differently as whole paths and as
/// components), and none is recorded where the check would stop (a `.dvxignore`).
#[test]
fn the_scan_records_what_the_check_expects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = crate::testutil::repo(dir.path());
    let base = dir.path().join("data");
    for p in ["a/x", "a-b", "a.c/y/z", "a/b/c/d", "b", "ab/q"] {
        let p = base.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, p.to_string_lossy().as_bytes()).expect("write");
    }
    std::fs::create_dir_all(base.join("empty/inner")).expect("mkdir");
    std::os::unix::fs::symlink("a/x", base.join("link")).expect("symlink");
    // Old enough that the stat cache vouches for every file.
    for p in ["a/x", "a-b", "a.c/y/z", "a/b/c/d", "b", "ab/q"] {
        let f = std::fs::File::options()
            .write(true)
            .open(base.join(p))
            .expect("open");
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
            .expect("mtime");
    }
    let opts = crate::AddOptions {
        paths: vec!["data".into()],
        cwd: dir.path().to_path_buf(),
        no_stage: true,
        ..Default::default()
    };
    let report = crate::add(&ws, &opts, &crate::NoProgress).expect("add");
    let id = report.datasets[0].id;
    let file = path_for(&ws.state_dir(), "data");
    let recorded = |what: &str| {
        let bytes = std::fs::read(&file).unwrap_or_else(|_| panic!("{what}: a snapshot"));
        let body = check(&bytes, "data", &id).expect("intact");
        let (expected, n) = entries_of(&base);
        assert_eq!(body.count, n, "{what}");
        assert_eq!(body.entries, expected.as_slice(), "{what}");
        assert!(is_clean(&ws.state_dir(), "data", &base, &id), "{what}");
    };
    recorded("after add");
    // What a process killed while saving leaves: gone with the next save; a file of this
    // process (not stale) and one not named by dvx are left alone.
    let dead = {
        let mut c = std::process::Command::new("true").spawn().expect("spawn");
        let pid = c.id();
        c.wait().expect("wait");
        pid
    };
    let status_dir = file.parent().expect("dir");
    let stale = status_dir.join(format!("{}{dead}-0-0", dvx_store::fs::TMP_PREFIX));
    let mine = status_dir.join(format!(
        "{}{}-0-0",
        dvx_store::fs::TMP_PREFIX,
        std::process::id()
    ));
    let other = status_dir.join("notes");
    for f in [&stale, &mine, &other] {
        std::fs::write(f, b"x").expect("write");
    }
    crate::status(&ws, dir.path(), &[], &crate::NoProgress).expect("status");
    std::fs::remove_file(&file).expect("rm");
    crate::status(&ws, dir.path(), &[], &crate::NoProgress).expect("status");
    recorded("after a full status");
    assert!(!stale.exists() && mine.exists() && other.exists());
    std::fs::write(base.join("b"), b"changed").expect("write");
    let st = crate::status(&ws, dir.path(), &[], &crate::NoProgress).expect("status");
    assert_eq!(st.datasets[0].modified, ["data/b"]);
    assert!(!file.exists(), "a modified dataset has no snapshot");
    std::fs::write(base.join("b"), base.join("b").to_string_lossy().as_bytes()).expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(base.join("b"))
        .expect("open");
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .expect("mtime");
    let st = crate::status(&ws, dir.path(), &[], &crate::NoProgress).expect("status");
    assert_eq!(st.datasets[0].state, crate::StatusState::Clean);
    recorded("after a clean status");

    std::fs::write(base.join("a/.dvxignore"), b"*.tmp\n").expect("write");
    crate::add(&ws, &opts, &crate::NoProgress).expect("add");
    assert!(!file.exists(), "no snapshot where the check stops");
}
