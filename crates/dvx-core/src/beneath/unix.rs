//! [`DirTree`] on unix: changes made through open directory handles, never by path.
//!
//! The base directory is reached from the worktree root one component at a time without
//! following a link; every directory below it is opened the same way (`openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` where the kernel has it, else `openat(O_NOFOLLOW)`
//! per component), and files are created, replaced, removed and chmod-ed relative to those
//! handles (`openat`, `renameat2` or `renameatx_np`, `unlinkat`, `fchmod`). A process that
//! swaps a directory of the dataset for a symlink while a checkout runs makes the checkout
//! fail for the files below it; it cannot redirect a write or a removal out of the dataset.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{split, temp_name, Kind};
use crate::error::{Error, Result};

/// Directory handles kept open at once; past this the cache starts over (an `ulimit -n` of
/// 1024 is common).
const MAX_OPEN_DIRS: usize = 256;

/// Set once `openat2` turned out to be unavailable (old kernel, seccomp filter).
#[cfg(any(target_os = "linux", target_os = "android"))]
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set once `O_TMPFILE` turned out to be unsupported here.
#[cfg(any(target_os = "linux", target_os = "android"))]
static NO_TMPFILE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a file open in this process can be named through `/proc/self/fd` (how a file
/// without a name gets one without privileges).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn proc_fd_usable() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

fn io_err(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens one component `name` of `dir` as a directory, never through a link.
fn open_dir_at(dir: &OwnedFd, name: &[u8]) -> rustix::io::Result<OwnedFd> {
    rfs::openat(dir, os(name), DIR_FLAGS, Mode::empty())
}

fn kind_of(st: &rfs::Stat) -> Kind {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// The base directory of a dataset, and handles to the directories below it.
pub struct DirTree {
    /// The base's path, for messages only.
    path: PathBuf,
    base: Arc<OwnedFd>,
    dirs: Mutex<HashMap<Vec<u8>, Arc<OwnedFd>>>,
}

impl DirTree {
    /// Opens `root/base_rel` (the worktree root is trusted: the user runs dvx in it), each
    /// component of `base_rel` without following a link. Missing directories are created;
    /// a link or file in place of one is refused ([`Error::UnsafeParent`]), except that with
    /// `replace_base` a non-directory at the base itself is removed first (the caller has
    /// checked that it is saved, or was told to force).
    pub fn open(root: &Path, base_rel: &str, replace_base: bool) -> Result<DirTree> {
        let mut cur = rfs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open directory", root, io_err(e)))?;
        let mut path = root.to_path_buf();
        let comps: Vec<&str> = base_rel.split('/').filter(|c| !c.is_empty()).collect();
        for (i, comp) in comps.iter().enumerate() {
            path.push(comp);
            let last = i + 1 == comps.len();
            cur = match open_dir_at(&cur, comp.as_bytes()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match rfs::mkdirat(&cur, *comp, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(Error::io("create directory", &path, io_err(e))),
                    }
                    open_dir_at(&cur, comp.as_bytes()).map_err(|e| unsafe_or_io(e, &path))?
                }
                Err(Errno::LOOP | Errno::NOTDIR) if last && replace_base => {
                    match rfs::unlinkat(&cur, *comp, AtFlags::empty()) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(Error::io("remove", &path, io_err(e))),
                    }
                    match rfs::mkdirat(&cur, *comp, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(Error::io("create directory", &path, io_err(e))),
                    }
                    open_dir_at(&cur, comp.as_bytes()).map_err(|e| unsafe_or_io(e, &path))?
                }
                Err(e) => return Err(unsafe_or_io(e, &path)),
            };
        }
        Ok(DirTree {
            path,
            base: Arc::new(cur),
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// The display path of `rel` (below the base).
    pub fn path(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(os(rel))
        }
    }

    /// [`DirTree::dir`] of `rel_dir`, which must exist: its absence is an error of `op` on
    /// `rel`.
    fn existing_dir(&self, rel_dir: &[u8], op: &'static str, rel: &[u8]) -> Result<Arc<OwnedFd>> {
        self.dir(rel_dir)?.ok_or_else(|| {
            Error::io(
                op,
                self.path(rel),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })
    }

    /// The directory `rel_dir` below the base ("" = the base), `None` if it does not exist.
    /// A link or a file anywhere on the way is an [`Error::UnsafeParent`].
    pub fn dir(&self, rel_dir: &[u8]) -> Result<Option<Arc<OwnedFd>>> {
        if rel_dir.is_empty() {
            return Ok(Some(self.base.clone()));
        }
        if let Some(fd) = self.dirs.lock().expect("dir cache poisoned").get(rel_dir) {
            return Ok(Some(fd.clone()));
        }
        let fd = match self.open_below(rel_dir) {
            Ok(fd) => Arc::new(fd),
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(unsafe_or_io(e, &self.path(rel_dir))),
        };
        let mut dirs = self.dirs.lock().expect("dir cache poisoned");
        if dirs.len() >= MAX_OPEN_DIRS {
            dirs.clear();
        }
        dirs.insert(rel_dir.to_vec(), fd.clone());
        Ok(Some(fd))
    }

    fn open_below(&self, rel_dir: &[u8]) -> rustix::io::Result<OwnedFd> {
        // One call where the kernel has it (Linux 5.6); elsewhere the loop below, one
        // no-follow `openat` per component, refuses links the same way.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if !NO_OPENAT2.load(std::sync::atomic::Ordering::Relaxed) {
            use rustix::fs::ResolveFlags;
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            // EAGAIN: a rename raced the lookup; the kernel asks to retry.
            for _ in 0..4 {
                match rfs::openat2(&*self.base, os(rel_dir), DIR_FLAGS, Mode::empty(), resolve) {
                    Err(Errno::AGAIN) => continue,
                    Err(Errno::NOSYS | Errno::PERM | Errno::INVAL | Errno::TOOBIG) => {
                        NO_OPENAT2.store(true, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                    r => return r,
                }
            }
        }
        let mut cur: Option<OwnedFd> = None;
        for comp in rel_dir.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            let next = open_dir_at(cur.as_ref().unwrap_or(&self.base), comp)?;
            cur = Some(next);
        }
        match cur {
            Some(fd) => Ok(fd),
            None => rustix::io::dup(&*self.base),
        }
    }

    fn parent(&self, rel: &[u8]) -> Result<Option<(Arc<OwnedFd>, Vec<u8>)>> {
        let (dir, name) = split(rel);
        Ok(self.dir(dir)?.map(|fd| (fd, name.to_vec())))
    }

    /// What stands at `rel`, without following a link; `None` if nothing (or no parent).
    pub fn kind(&self, rel: &[u8]) -> Result<Option<Kind>> {
        let Some((dir, name)) = self.parent(rel)? else {
            return Ok(None);
        };
        match rfs::statat(&*dir, os(&name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(kind_of(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io("stat", self.path(rel), io_err(e))),
        }
    }

    /// Removes the file or link at `rel` (nothing there is fine).
    pub fn remove_file(&self, rel: &[u8]) -> Result<()> {
        let Some((dir, name)) = self.parent(rel)? else {
            return Ok(());
        };
        match rfs::unlinkat(&*dir, os(&name), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io("remove", self.path(rel), io_err(e))),
        }
    }

    /// Removes the empty directory at `rel`. Returns false when it still holds something
    /// (files ignored by .dvxignore are the user's: the directory stays).
    pub fn remove_dir(&self, rel: &[u8]) -> Result<bool> {
        let Some((dir, name)) = self.parent(rel)? else {
            return Ok(true);
        };
        self.dirs.lock().expect("dir cache poisoned").remove(rel);
        match rfs::unlinkat(&*dir, os(&name), AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(true),
            Err(Errno::NOTEMPTY | Errno::EXIST) => Ok(false),
            Err(e) => Err(Error::io("remove directory", self.path(rel), io_err(e))),
        }
    }

    /// Makes `rel` a real directory. Something else in the way is an error unless `force`,
    /// which removes it first.
    pub fn ensure_dir(&self, rel: &[u8], force: bool) -> Result<()> {
        let Some((dir, name)) = self.parent(rel)? else {
            return Err(Error::io(
                "create directory",
                self.path(rel),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        };
        let mkdir = || match rfs::mkdirat(&*dir, os(&name), Mode::from_raw_mode(0o777)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) if self.kind(rel)? == Some(Kind::Dir) => Ok(()),
            Err(e) => Err(Error::io("create directory", self.path(rel), io_err(e))),
        };
        match rfs::statat(&*dir, os(&name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if kind_of(&st) == Kind::Dir => Ok(()),
            Ok(_) if force => {
                match rfs::unlinkat(&*dir, os(&name), AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(Error::io("remove", self.path(rel), io_err(e))),
                }
                mkdir()
            }
            Ok(_) => Err(Error::InTheWay {
                path: self.path(rel),
                want: "directory",
            }),
            Err(Errno::NOENT) => mkdir(),
            Err(e) => Err(Error::io("stat", self.path(rel), io_err(e))),
        }
    }

    /// Opens the regular file at `rel` for reading, never through a link and never blocking
    /// on a FIFO; `None` when nothing, or something other than a regular file, is there.
    pub fn open_file(&self, rel: &[u8]) -> Result<Option<File>> {
        let Some((dir, name)) = self.parent(rel)? else {
            return Ok(None);
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match rfs::openat(&*dir, os(&name), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => return Ok(None),
            Err(e) => return Err(Error::io("open", self.path(rel), io_err(e))),
        };
        let st = rfs::fstat(&fd).map_err(|e| Error::io("stat", self.path(rel), io_err(e)))?;
        if kind_of(&st) != Kind::File {
            return Ok(None);
        }
        Ok(Some(File::from(fd)))
    }

    /// Creates a new temporary file in the directory `rel_dir`; returns it and its name.
    pub fn create_temp(&self, rel_dir: &[u8]) -> Result<(File, Vec<u8>)> {
        let dir = self.existing_dir(rel_dir, "create", rel_dir)?;
        let name = temp_name();
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&*dir, os(&name), flags, Mode::from_raw_mode(0o600))
            .map_err(|e| Error::io("create", self.path(rel_dir).join(os(&name)), io_err(e)))?;
        Ok((File::from(fd), name))
    }

    /// Opens a file with no name in `rel_dir` (`O_TMPFILE`), to be named by
    /// [`DirTree::link_anon`] once written: a crash before that leaves nothing behind, and
    /// the directory changes once per file instead of twice (create, then rename). `None`
    /// where the system or file system has no such files, or `/proc` (needed to name one)
    /// is missing: the caller then uses [`DirTree::create_temp`].
    pub fn create_anon(&self, rel_dir: &[u8]) -> Result<Option<File>> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::sync::atomic::Ordering;
            if NO_TMPFILE.load(Ordering::Relaxed) || !proc_fd_usable() {
                return Ok(None);
            }
            let dir = self.existing_dir(rel_dir, "create", rel_dir)?;
            let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
            match rfs::openat(&*dir, c".", flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => Ok(Some(File::from(fd))),
                // Unsupported here (an older kernel reads the flag as `O_DIRECTORY`).
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => {
                    NO_TMPFILE.store(true, Ordering::Relaxed);
                    Ok(None)
                }
                Err(e) => Err(Error::io("create", self.path(rel_dir), io_err(e))),
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = rel_dir;
            Ok(None)
        }
    }

    /// Names the finished file `file` (from [`DirTree::create_anon`]) `rel`, with all its
    /// bytes at once. When something took the name since the checkout looked, the file is
    /// named with a temporary name and swapped in by [`DirTree::commit_temp`], as a file
    /// written under a temporary name is.
    pub fn link_anon(&self, rel: &[u8], file: &File) -> Result<()> {
        use std::os::fd::AsRawFd;
        let (dir_rel, name) = split(rel);
        let dir = self.existing_dir(dir_rel, "link", rel)?;
        let from = format!("/proc/self/fd/{}", file.as_raw_fd());
        let link = |to: &[u8]| rfs::linkat(rfs::CWD, &from, &*dir, os(to), AtFlags::SYMLINK_FOLLOW);
        match link(name) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let tmp = temp_name();
                link(&tmp).map_err(|e| Error::io("link", self.path(rel), io_err(e)))?;
                let r = self.commit_temp(rel, &tmp);
                if r.is_err() {
                    self.discard_temp(dir_rel, &tmp);
                }
                r
            }
            Err(e) => Err(Error::io("link", self.path(rel), io_err(e))),
        }
    }

    /// Removes a temporary file of `rel_dir` (best effort: a leftover is cleaned later).
    pub fn discard_temp(&self, rel_dir: &[u8], name: &[u8]) {
        if let Ok(Some(dir)) = self.dir(rel_dir) {
            let _ = rfs::unlinkat(&*dir, os(name), AtFlags::empty());
        }
    }

    /// Moves the finished temporary file `tmp` (in `rel`'s directory) onto `rel`, atomically:
    /// a reader (or a crash) sees the old file or the new one, never neither. When a file or
    /// link is there, the two are swapped (`renameat2(RENAME_EXCHANGE)`) and the old one, now
    /// under the temporary name, is removed: a plain rename over an existing file makes ext4
    /// (`auto_da_alloc`) start writing the new file's blocks inside the rename, which stalled
    /// checkout on large files. Falls back to a plain rename where exchange is unsupported.
    pub fn commit_temp(&self, rel: &[u8], tmp: &[u8]) -> Result<()> {
        let (dir_rel, name) = split(rel);
        let dir = self.existing_dir(dir_rel, "rename", rel)?;
        let there = match rfs::statat(&*dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(kind_of(&st)),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(Error::io("stat", self.path(rel), io_err(e))),
        };
        // Never swap a directory out (a plain rename onto it fails, as it should).
        if matches!(there, Some(k) if k != Kind::Dir) && exchange(&dir, os(tmp), os(name)) {
            // `tmp` now names the old file; if it cannot be removed it is a leftover
            // temporary file, which scans skip and clean up once this process is gone.
            let _ = rfs::unlinkat(&*dir, os(tmp), AtFlags::empty());
            return Ok(());
        }
        rfs::renameat(&*dir, os(tmp), &*dir, os(name)).map_err(|e| match e {
            Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => Error::InTheWay {
                path: self.path(rel),
                want: "file",
            },
            e => Error::io("rename", self.path(rel), io_err(e)),
        })
    }

    /// Writes `bytes` to the file `rel` atomically and durably (temporary file, fsync, swap,
    /// fsync of the directory): for pointers, which are the only record of a version.
    pub fn write_atomic(&self, rel: &[u8], bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let (dir_rel, _) = split(rel);
        let path = self.path(rel);
        let (mut f, tmp) = self.create_temp(dir_rel)?;
        let result = (|| {
            f.write_all(bytes)
                .map_err(|e| Error::io("write", &path, e))?;
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .map_err(|e| Error::io("chmod", &path, e))?;
            f.sync_all().map_err(|e| Error::io("sync", &path, e))?;
            self.commit_temp(rel, &tmp)
        })();
        if result.is_err() {
            self.discard_temp(dir_rel, &tmp);
            return result;
        }
        if let Some(dir) = self.dir(dir_rel)? {
            rfs::fsync(&*dir).map_err(|e| Error::io("sync", self.path(dir_rel), io_err(e)))?;
        }
        Ok(())
    }

    /// Creates (or replaces) the symlink `rel` -> `target`, atomically.
    pub fn symlink(&self, rel: &[u8], target: &[u8]) -> Result<()> {
        let (dir_rel, name) = split(rel);
        let dir = self.existing_dir(dir_rel, "create symlink", rel)?;
        let tmp = temp_name();
        rfs::symlinkat(os(target), &*dir, os(&tmp))
            .map_err(|e| Error::io("create symlink", self.path(rel), io_err(e)))?;
        rfs::renameat(&*dir, os(&tmp), &*dir, os(name)).map_err(|e| {
            let _ = rfs::unlinkat(&*dir, os(&tmp), AtFlags::empty());
            match e {
                Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => Error::InTheWay {
                    path: self.path(rel),
                    want: "symlink",
                },
                e => Error::io("rename", self.path(rel), io_err(e)),
            }
        })
    }
}

/// Swaps the entries `a` and `b` of `dir` atomically (`renameat2(RENAME_EXCHANGE)` on Linux,
/// `renameatx_np(RENAME_SWAP)` on Apple systems); false where that is unsupported.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn exchange(dir: &OwnedFd, a: &OsStr, b: &OsStr) -> bool {
    rfs::renameat_with(dir, a, dir, b, rfs::RenameFlags::EXCHANGE).is_ok()
}

/// No atomic swap here: the caller falls back to a plain rename.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn exchange(_dir: &OwnedFd, _a: &OsStr, _b: &OsStr) -> bool {
    false
}

/// A link or file on the way to a directory is refused; other errors keep their cause.
fn unsafe_or_io(e: Errno, path: &Path) -> Error {
    match e {
        Errno::LOOP | Errno::NOTDIR | Errno::XDEV => Error::UnsafeParent {
            path: path.to_path_buf(),
        },
        e => Error::io("open directory", path, io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_on_the_way_is_refused_and_nothing_escapes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("repo");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("data/sub")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let tree = DirTree::open(&root, "data", false).expect("open");
        assert!(tree.dir(b"sub").expect("dir").is_some());
        // Swap data/sub for a link to the outside after the tree was opened.
        tree.dirs.lock().expect("lock").clear();
        std::fs::remove_dir(root.join("data/sub")).expect("rmdir");
        std::os::unix::fs::symlink(&outside, root.join("data/sub")).expect("symlink");
        let err = tree.create_temp(b"sub").expect_err("must refuse");
        assert!(matches!(err, Error::UnsafeParent { .. }), "{err}");
        assert!(matches!(
            tree.ensure_dir(b"sub/x", false),
            Err(Error::UnsafeParent { .. })
        ));
        // The link itself is replaced, never followed.
        tree.ensure_dir(b"sub", true).expect("replace link");
        assert!(std::fs::read_dir(&outside).expect("ls").next().is_none());
        // A link as the base itself, or above it.
        std::os::unix::fs::symlink(&outside, root.join("lnk")).expect("symlink");
        assert!(matches!(
            DirTree::open(&root, "lnk/data", false),
            Err(Error::UnsafeParent { .. })
        ));
        assert!(matches!(
            DirTree::open(&root, "lnk", false),
            Err(Error::UnsafeParent { .. })
        ));
        assert!(std::fs::read_dir(&outside).expect("ls").next().is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_without_a_name_is_named_whole_or_swapped_in() {
        use std::io::Write;
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join("data/sub")).expect("mkdir");
        let tree = DirTree::open(&root, "data", false).expect("open");
        let names = || -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(root.join("data/sub"))
                .expect("ls")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        // The machine's file systems have O_TMPFILE: the fast path is tested, not skipped.
        let mut f = tree
            .create_anon(b"sub")
            .expect("create")
            .expect("O_TMPFILE");
        f.write_all(b"new bytes").expect("write");
        assert!(names().is_empty(), "nothing is visible before the link");
        tree.link_anon(b"sub/a", &f).expect("link");
        assert_eq!(
            std::fs::read(root.join("data/sub/a")).expect("read"),
            b"new bytes"
        );
        // Dropped before being linked: nothing is left.
        let mut g = tree
            .create_anon(b"sub")
            .expect("create")
            .expect("O_TMPFILE");
        g.write_all(b"abandoned").expect("write");
        drop(g);
        assert_eq!(names(), ["a"]);
        // The name was taken meanwhile: swapped in, as a temporary file is, and no
        // temporary name is left.
        std::fs::write(root.join("data/sub/b"), b"someone else's").expect("write");
        let mut h = tree
            .create_anon(b"sub")
            .expect("create")
            .expect("O_TMPFILE");
        h.write_all(b"ours").expect("write");
        tree.link_anon(b"sub/b", &h).expect("link");
        assert_eq!(
            std::fs::read(root.join("data/sub/b")).expect("read"),
            b"ours"
        );
        assert_eq!(names(), ["a", "b"]);
        // A directory in the way is not replaced.
        std::fs::create_dir(root.join("data/sub/c")).expect("mkdir");
        let k = tree
            .create_anon(b"sub")
            .expect("create")
            .expect("O_TMPFILE");
        assert!(tree.link_anon(b"sub/c", &k).is_err());
        assert_eq!(names(), ["a", "b", "c"]);
    }
}
