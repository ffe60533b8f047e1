//! The directory walk of a scan on Unix: each directory opened once, its names read and
//! sorted as bytes, its entries `lstat`ed relative to the open directory (`fstatat`, a batch
//! at a time on every core), and `.dvxignore` files matched as the `ignore` crate's walker
//! (used on other systems) matches them. A walk by path resolved every component of every
//! path again and sorted through `Path::file_name`: most of a 1M-file `add`'s walk.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

use super::walk::{name_rule, Meta, MetaKind, NameRule, Visit, LSTAT_BATCH};
use crate::error::{Error, Result};
use crate::statcache::snapshot::stat_key;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// An entry `lstat`ed and not yet handed on: its path below the base, where its name starts
/// in the frame's name buffer, and what `lstat` said.
type Ready = (Vec<u8>, usize, Result<Meta>);

/// A directory being walked.
struct Frame {
    fd: OwnedFd,
    /// Its path below the base (empty for the base).
    rel: Vec<u8>,
    /// Its names, each followed by a NUL (for the `*at` calls).
    names: Vec<u8>,
    /// Where each name is in `names`, in byte order, and whether it is a directory when
    /// `readdir` says (`None`: it does not).
    ents: Vec<(usize, usize, Option<bool>)>,
    /// The next entry of `ents` to `lstat`.
    pos: usize,
    ready: VecDeque<Ready>,
    /// The directory's `.dvxignore`, if it has one.
    ignore: Option<Gitignore>,
}

impl Frame {
    /// Reads the directory `fd`, at `path` (`rel` below the base).
    fn open(fd: OwnedFd, path: &Path, rel: Vec<u8>) -> Result<Frame> {
        let list_err = |e: rustix::io::Errno| Error::io("list", path, e.into());
        let mut dir = rfs::Dir::read_from(&fd).map_err(list_err)?;
        let mut names: Vec<u8> = Vec::with_capacity(4096);
        let mut ents = Vec::new();
        let mut has_ignore = false;
        for e in dir.by_ref() {
            let e = e.map_err(list_err)?;
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            has_ignore |= name == b".dvxignore";
            let is_dir = match e.file_type() {
                FileType::Unknown => None,
                t => Some(t == FileType::Directory),
            };
            let start = names.len();
            names.extend_from_slice(name);
            ents.push((start, names.len(), is_dir));
            names.push(0);
        }
        ents.sort_unstable_by(|a, b| names[a.0..a.1].cmp(&names[b.0..b.1]));
        // As the `ignore` crate reads it: through a link, and only if it exists.
        let file = path.join(".dvxignore");
        let ignore = match has_ignore && file.exists() {
            true => Some(read_ignore(path, &file)?),
            false => None,
        };
        Ok(Frame {
            fd,
            rel,
            names,
            ents,
            pos: 0,
            ready: VecDeque::new(),
            ignore,
        })
    }

    fn cname(&self, start: usize) -> &CStr {
        let end = start
            + self.names[start..]
                .iter()
                .position(|&b| b == 0)
                .expect("every name ends in a NUL");
        CStr::from_bytes_with_nul(&self.names[start..=end]).expect("one NUL, at the end")
    }
}

/// The matcher of the `.dvxignore` at `file`, in the directory `dir` (its patterns are
/// relative to it). A file that cannot be read or holds a pattern that does not parse is an
/// error: its rules cannot be applied, and what they meant to leave out must not be taken in.
fn read_ignore(dir: &Path, file: &Path) -> Result<Gitignore> {
    let mut b = GitignoreBuilder::new(dir);
    if let Some(e) = b.add(file) {
        return Err(crate::workspace::walk_error(file, e));
    }
    b.build().map_err(|e| crate::workspace::walk_error(file, e))
}

/// What was found besides the entries.
#[derive(Default)]
pub(super) struct Outcome {
    /// dvx's temporary files (never data).
    pub(super) leftovers: Vec<PathBuf>,
    /// Whether a `.dvxignore` was walked.
    pub(super) ignore_file: bool,
}

/// Walks the directory `base` depth first, each directory's names in byte order, handing each
/// entry (a directory before what it holds) to `each` with its path below `base`, its full
/// path and its `lstat`. Entries a `.dvxignore` excludes are left out, with what is below
/// them, and so are `.git`, `.dvx` and dvx's temporary files (listed in the outcome).
pub(super) fn walk(base: &Path, each: &mut Visit<'_>) -> Result<Outcome> {
    let mut out = Outcome::default();
    let fd =
        rfs::open(base, DIR_FLAGS, Mode::empty()).map_err(|e| Error::io("list", base, e.into()))?;
    let mut stack = vec![Frame::open(fd, base, Vec::new())?];
    while !stack.is_empty() {
        if stack.last().is_some_and(|f| f.ready.is_empty()) {
            fill(&mut stack, base, &mut out)?;
        }
        let top = stack.last_mut().expect("not empty");
        let Some((rel, name_at, meta)) = top.ready.pop_front() else {
            stack.pop();
            continue;
        };
        let meta = meta?;
        let path = base.join(std::ffi::OsStr::from_bytes(&rel));
        let is_dir = matches!(meta.kind, MetaKind::Dir);
        each(&rel, &path, meta)?;
        if is_dir {
            let fd = rfs::openat(&top.fd, top.cname(name_at), DIR_FLAGS, Mode::empty())
                .map_err(|e| Error::io("list", &path, e.into()))?;
            stack.push(Frame::open(fd, &path, rel)?);
        }
    }
    Ok(out)
}

/// `lstat`s the next batch of the top frame's names that the walk keeps.
fn fill(stack: &mut [Frame], base: &Path, out: &mut Outcome) -> Result<()> {
    let matching = stack.iter().any(|f| f.ignore.is_some());
    let (top, parents) = stack.split_last_mut().expect("a frame");
    let mut keep: Vec<(Vec<u8>, usize)> = Vec::new();
    while keep.len() < LSTAT_BATCH && top.pos < top.ents.len() {
        let (a, b, is_dir) = top.ents[top.pos];
        top.pos += 1;
        let name = &top.names[a..b];
        let mut rel = Vec::with_capacity(top.rel.len() + 1 + name.len());
        if !top.rel.is_empty() {
            rel.extend_from_slice(&top.rel);
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        let path = || base.join(std::ffi::OsStr::from_bytes(&rel));
        if matching {
            let is_dir = match is_dir {
                Some(d) => d,
                None => rfs::statat(&top.fd, top.cname(a), AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
                    .map_err(|e| Error::io("stat", path(), e.into()))?,
            };
            let p = path();
            let frames = parents.iter().chain(std::iter::once(&*top)).rev();
            if ignored(frames, &p, is_dir) {
                continue;
            }
        }
        match name_rule(name) {
            NameRule::Leftover => out.leftovers.push(path()),
            NameRule::Skip => {}
            NameRule::Keep { ignore_file } => {
                out.ignore_file |= ignore_file;
                keep.push((rel, a));
            }
        }
    }
    let fd = &top.fd;
    let names = &top.names;
    let stat = |(rel, a): (Vec<u8>, usize)| -> Ready {
        let end = a + names[a..].iter().position(|&b| b == 0).expect("NUL");
        let cname = CStr::from_bytes_with_nul(&names[a..=end]).expect("one NUL");
        let path = || base.join(std::ffi::OsStr::from_bytes(&rel));
        let meta = match rfs::statat(fd, cname, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => meta_of(fd, cname, &st).map_err(|e| Error::io("read link", path(), e)),
            Err(e) => Err(Error::io("stat", path(), e.into())),
        };
        (rel, a, meta)
    };
    let ready: Vec<Ready> = keep.into_par_iter().map(stat).collect();
    top.ready.extend(ready);
    Ok(())
}

/// Whether the nearest `.dvxignore` with a say on `path` (the deepest first) excludes it.
fn ignored<'a>(frames: impl Iterator<Item = &'a Frame>, path: &Path, is_dir: bool) -> bool {
    for f in frames {
        if let Some(gi) = &f.ignore {
            let m = gi.matched(path, is_dir);
            if m.is_ignore() {
                return true;
            }
            if m.is_whitelist() {
                return false;
            }
        }
    }
    false
}

/// The walk's view of an `lstat` (and a link's target, read relative to its directory).
fn meta_of(fd: &OwnedFd, name: &CStr, st: &rfs::Stat) -> std::io::Result<Meta> {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => MetaKind::Dir,
        FileType::RegularFile => MetaKind::File,
        FileType::Symlink => MetaKind::Link(
            rfs::readlinkat(fd, name, Vec::new())
                .map_err(std::io::Error::from)?
                .into_bytes(),
        ),
        _ => MetaKind::Other,
    };
    Ok(Meta {
        kind,
        key: stat_key(st),
        #[allow(clippy::unnecessary_cast)] // the mode's type differs between systems
        executable: st.st_mode as u32 & 0o100 != 0,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// One entry as a walk handed it on.
    type Seen = (Vec<u8>, String, Option<crate::statcache::StatKey>, bool);

    fn record(list: &mut Vec<Seen>) -> impl FnMut(&[u8], &Path, Meta) -> Result<()> + '_ {
        move |rel, _, m| {
            let (kind, key) = match m.kind {
                MetaKind::Dir => ("dir".to_string(), None),
                MetaKind::Link(t) => (format!("link {}", String::from_utf8_lossy(&t)), None),
                MetaKind::File => ("file".to_string(), Some(m.key)),
                MetaKind::Other => ("other".to_string(), None),
            };
            list.push((rel.to_vec(), kind, key, m.executable));
            Ok(())
        }
    }

    /// Both walks of `base`: this module's and the `ignore` crate's.
    #[allow(clippy::type_complexity)]
    fn both(
        base: &Path,
    ) -> (
        Result<(Vec<Seen>, Outcome)>,
        Result<(Vec<Seen>, Vec<PathBuf>, bool)>,
    ) {
        let mut fast = Vec::new();
        let a = walk(base, &mut record(&mut fast));
        let a = a.map(|o| (fast, o));
        let mut slow = Vec::new();
        let leftovers = Arc::new(Mutex::new(Vec::new()));
        let flag = Arc::new(AtomicBool::new(false));
        let b = super::super::walk::walk_by_path(base, &mut record(&mut slow), &leftovers, &flag);
        let b = b.map(|()| {
            let mut l = leftovers.lock().expect("lock").clone();
            l.sort();
            (slow, l, flag.load(Ordering::Relaxed))
        });
        (a, b)
    }

    fn put(base: &Path, rel: &str, bytes: &[u8]) {
        let p = base.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }

    #[test]
    fn walks_as_the_ignore_crate_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("data");
        put(
            &base,
            ".dvxignore",
            b"*.tmp\ncache/\n!keep.tmp\n/rootonly.txt\nsub/deep/*.log\ncache2/\n",
        );
        for f in [
            "a.tmp",
            "keep.tmp",
            "rootonly.txt",
            "x/rootonly.txt",
            "x/cache",
            "cache/in.txt",
            "cache/more/in.txt",
            "sub/b.tmp",
            "sub/c.tmp",
            "sub/z.bin",
            "sub/keep.txt",
            "sub/deep/e.log",
            "sub/deep/f.txt",
            "sub/deep/g/h.bin",
            ".git/config",
            ".dvx-tmp-123-x",
            "sub/.dvx-tmp-1-y",
            "x/.dvx-tmp-9-ignored.tmp",
            "B",
            "a",
            "Z/z",
            "\u{e9}t\u{e9}",
            "a-b",
            "a.b",
            "empty/.keep",
        ] {
            put(&base, f, f.as_bytes());
        }
        std::fs::write(base.join(".dvx"), b"not ours").expect("write");
        put(&base, "sub/.dvxignore", b"!b.tmp\n*.bin\n");
        std::fs::remove_file(base.join("empty/.keep")).expect("rm");
        std::fs::create_dir_all(base.join("real_dir")).expect("mkdir");
        std::os::unix::fs::symlink("real_dir", base.join("cache2")).expect("link");
        std::os::unix::fs::symlink("nowhere", base.join("dangling")).expect("link");
        let odd = base.join(std::ffi::OsStr::from_bytes(b"n\xff"));
        std::fs::write(&odd, b"odd").expect("write");
        let exe = base.join("run.sh");
        std::fs::write(&exe, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");

        let (a, b) = both(&base);
        let (fast, out) = a.expect("fast walk");
        let (slow, mut leftovers, flag) = b.expect("ignore walk");
        let names: Vec<String> = fast
            .iter()
            .map(|s| String::from_utf8_lossy(&s.0).into_owned())
            .collect();
        assert_eq!(fast, slow, "{names:?}");
        let mut l = out.leftovers.clone();
        l.sort();
        leftovers.sort();
        assert_eq!(l, leftovers);
        assert_eq!(out.ignore_file, flag);
        assert!(out.ignore_file);
        // The rules did something: what each excludes or lets back in.
        for gone in [
            "a.tmp",
            "rootonly.txt",
            "cache",
            "sub/c.tmp",
            "sub/z.bin",
            "sub/deep/e.log",
        ] {
            assert!(!names.iter().any(|n| n == gone), "{gone} in {names:?}");
        }
        for kept in [
            "keep.tmp",
            "x/rootonly.txt",
            "x/cache",
            "sub/b.tmp",
            "sub/deep/f.txt",
            "cache2",
            "empty",
            "run.sh",
        ] {
            assert!(names.iter().any(|n| n == kept), "{kept} not in {names:?}");
        }
        assert!(
            fast.iter().any(|s| s.0 == b"run.sh" && s.3),
            "executable bit"
        );
        assert_eq!(out.leftovers.len(), 2, "{:?}", out.leftovers);
        // Byte order within each directory, a directory before what it holds.
        let rels: Vec<&[u8]> = fast.iter().map(|s| s.0.as_slice()).collect();
        let pos = |r: &[u8]| rels.iter().position(|x| *x == r).expect("listed");
        assert!(pos(b"B") < pos(b"Z") && pos(b"Z") < pos(b"Z/z") && pos(b"Z/z") < pos(b"a"));
        assert!(pos(b"a") < pos(b"a-b") && pos(b"a-b") < pos(b"a.b"));
    }

    #[test]
    fn a_bad_dvxignore_stops_both_walks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("data");
        put(&base, "f.txt", b"x");
        put(&base, "sub/.dvxignore", b"ok.txt\nbad{a,b\n");
        put(&base, "sub/ok.txt", b"x");
        let (a, b) = both(&base);
        let e = a.err().expect("the fast walk fails");
        assert!(e.to_string().contains(".dvxignore"), "{e}");
        assert!(b.is_err(), "the ignore crate's walk fails too");
    }

    #[test]
    fn many_entries_in_one_directory_come_in_byte_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("data");
        std::fs::create_dir_all(&base).expect("mkdir");
        // More than a batch of `lstat`s, written in no order.
        let n = LSTAT_BATCH * 2 + 17;
        for i in (0..n).rev() {
            std::fs::write(base.join(format!("f{}", i * 7919 % n)), b"").expect("write");
        }
        std::fs::create_dir(base.join("f5x")).expect("mkdir");
        std::fs::write(base.join("f5x/inner"), b"").expect("write");
        let (a, b) = both(&base);
        let (fast, _) = a.expect("fast walk");
        let (slow, _, _) = b.expect("ignore walk");
        assert_eq!(fast.len(), n + 2);
        assert_eq!(fast, slow);
        let rels: Vec<&Vec<u8>> = fast.iter().map(|s| &s.0).collect();
        let at = rels
            .iter()
            .position(|r| r.as_slice() == b"f5x")
            .expect("dir");
        assert_eq!(rels[at + 1].as_slice(), b"f5x/inner");
    }
}
