//! [`DirTree`] on Windows: changes made by path, each path checked one component at a time.
//!
//! Every operation walks from the base to the directory it changes with `symlink_metadata`
//! and refuses a reparse point (a symlink or a junction) or a non-directory on the way
//! ([`Error::UnsafeParent`]); a name Windows would not keep as written (`..` with a trailing
//! space, `C:`, `NUL`) is refused before it reaches a path ([`crate::fsx::bytes_os`]). Files
//! are opened as themselves, never through a link, created with `create_new`, and committed
//! with `std::fs::rename`, which replaces the file there.
//!
//! Not race-free the way the unix handles are: a process that swaps a checked directory for
//! a junction between the check and the use can redirect that one change out of the dataset
//! (docs/ARCHITECTURE.md, "Known gaps"). std has no `openat` on Windows, and the NT calls
//! that would give one need `unsafe`, which the workspace denies.

use std::fs::{File, Metadata, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::os::windows::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::{open_no_follow, split, temp_name, Kind, FILE_ATTRIBUTE_REPARSE_POINT};
use crate::error::{Error, Result};
use crate::fsx::bytes_os;

fn is_reparse(m: &Metadata) -> bool {
    m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
}

/// A directory that is itself, not a link or junction to one.
fn real_dir(m: &Metadata) -> bool {
    m.is_dir() && !is_reparse(m)
}

/// A reparse point that is no link (a cloud or deduplicated file) is what it stands for.
fn kind_of(m: &Metadata) -> Kind {
    let ft = m.file_type();
    if ft.is_symlink() {
        // std counts junctions as links too (both are name surrogates).
        Kind::Symlink
    } else if ft.is_dir() && is_reparse(m) {
        Kind::Other
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

fn lstat(path: &Path) -> Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == IoKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

/// Removes the file, link or junction at `path` (a link to a directory is removed as a
/// directory, which removes the link only). A real directory is an error, as on unix.
fn remove_entry(path: &Path, m: &Metadata) -> Result<()> {
    let ft = m.file_type();
    let r = if ft.is_symlink_dir() || (ft.is_dir() && is_reparse(m)) {
        std::fs::remove_dir(path)
    } else {
        std::fs::remove_file(path)
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

fn not_found(op: &'static str, path: PathBuf) -> Error {
    Error::io(op, path, std::io::Error::from(IoKind::NotFound))
}

/// The base directory of a dataset.
pub struct DirTree {
    path: PathBuf,
}

impl DirTree {
    /// Opens `root/base_rel` (the worktree root is trusted: the user runs dvx in it), each
    /// component of `base_rel` checked to be a real directory. Missing directories are
    /// created; a link, junction or file in place of one is refused ([`Error::UnsafeParent`]),
    /// except that with `replace_base` a non-directory at the base itself is removed first
    /// (the caller has checked that it is saved, or was told to force).
    pub fn open(root: &Path, base_rel: &str, replace_base: bool) -> Result<DirTree> {
        let mut path = root.to_path_buf();
        let comps: Vec<&str> = base_rel.split('/').filter(|c| !c.is_empty()).collect();
        for (i, comp) in comps.iter().enumerate() {
            path.push(bytes_os(comp.as_bytes())?);
            let last = i + 1 == comps.len();
            match lstat(&path)? {
                Some(m) if real_dir(&m) => {}
                None => make_dir(&path)?,
                Some(m) if last && replace_base => {
                    remove_entry(&path, &m)?;
                    make_dir(&path)?;
                }
                Some(_) => return Err(Error::UnsafeParent { path }),
            }
        }
        Ok(DirTree { path })
    }

    /// The display path of `rel` (below the base).
    pub fn path(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path
                .join(String::from_utf8_lossy(rel).replace('/', "\\"))
        }
    }

    /// The directory `rel_dir` below the base ("" = the base), `None` if it does not exist,
    /// checked from the base down. A link, junction or file anywhere on the way (the base
    /// included) is an [`Error::UnsafeParent`].
    fn dir(&self, rel_dir: &[u8]) -> Result<Option<PathBuf>> {
        let mut path = self.path.clone();
        let comps = rel_dir.split(|&b| b == b'/').filter(|c| !c.is_empty());
        for comp in std::iter::once(&[][..]).chain(comps) {
            if !comp.is_empty() {
                path.push(bytes_os(comp)?);
            }
            match lstat(&path)? {
                Some(m) if real_dir(&m) => {}
                Some(_) => return Err(Error::UnsafeParent { path }),
                None => return Ok(None),
            }
        }
        Ok(Some(path))
    }

    /// The path of `rel` with its directory checked; `None` if that directory is missing (or
    /// `rel` names no entry: the unix calls find nothing at an empty name either).
    fn checked(&self, rel: &[u8]) -> Result<Option<PathBuf>> {
        let (dir, name) = split(rel);
        if name.is_empty() {
            return Ok(None);
        }
        match self.dir(dir)? {
            Some(d) => Ok(Some(d.join(bytes_os(name)?))),
            None => Ok(None),
        }
    }

    /// What stands at `rel`, without following a link; `None` if nothing (or no parent).
    // The unix tree's API; only its own code and the tests ask today.
    #[allow(dead_code)]
    pub fn kind(&self, rel: &[u8]) -> Result<Option<Kind>> {
        let Some(p) = self.checked(rel)? else {
            return Ok(None);
        };
        Ok(lstat(&p)?.map(|m| kind_of(&m)))
    }

    /// Removes the file or link at `rel` (nothing there is fine).
    pub fn remove_file(&self, rel: &[u8]) -> Result<()> {
        let Some(p) = self.checked(rel)? else {
            return Ok(());
        };
        match lstat(&p)? {
            Some(m) => remove_entry(&p, &m),
            None => Ok(()),
        }
    }

    /// Removes the empty directory at `rel`. Returns false when it still holds something
    /// (files ignored by .dvxignore are the user's: the directory stays).
    pub fn remove_dir(&self, rel: &[u8]) -> Result<bool> {
        let Some(p) = self.checked(rel)? else {
            return Ok(true);
        };
        match lstat(&p)? {
            None => return Ok(true),
            Some(m) if !real_dir(&m) => {
                return Err(Error::io(
                    "remove directory",
                    p,
                    std::io::Error::from(IoKind::NotADirectory),
                ))
            }
            Some(_) => {}
        }
        match std::fs::remove_dir(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == IoKind::NotFound => Ok(true),
            Err(e) if e.kind() == IoKind::DirectoryNotEmpty => Ok(false),
            Err(e) => Err(Error::io("remove directory", p, e)),
        }
    }

    /// Makes `rel` a real directory. Something else in the way is an error unless `force`,
    /// which removes it first.
    pub fn ensure_dir(&self, rel: &[u8], force: bool) -> Result<()> {
        let Some(p) = self.checked(rel)? else {
            return Err(not_found("create directory", self.path(rel)));
        };
        match lstat(&p)? {
            Some(m) if real_dir(&m) => Ok(()),
            Some(m) if force => {
                remove_entry(&p, &m)?;
                make_dir(&p)
            }
            Some(_) => Err(Error::InTheWay {
                path: self.path(rel),
                want: "directory",
            }),
            None => make_dir(&p),
        }
    }

    /// Opens the regular file at `rel` for reading, never through a link; `None` when
    /// nothing, or something other than a regular file, is there.
    pub fn open_file(&self, rel: &[u8]) -> Result<Option<File>> {
        let Some(p) = self.checked(rel)? else {
            return Ok(None);
        };
        // A directory cannot be opened as a file here: ask first.
        if lstat(&p)?.map(|m| kind_of(&m)) != Some(Kind::File) {
            return Ok(None);
        }
        let f = match open_no_follow(&p) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", p, e)),
        };
        // What was opened, which may not be what was asked about.
        let m = f.metadata().map_err(|e| Error::io("stat", &p, e))?;
        Ok((kind_of(&m) == Kind::File).then_some(f))
    }

    /// Creates a new temporary file in the directory `rel_dir`; returns it and its name.
    pub fn create_temp(&self, rel_dir: &[u8]) -> Result<(File, Vec<u8>)> {
        let dir = self
            .dir(rel_dir)?
            .ok_or_else(|| not_found("create", self.path(rel_dir)))?;
        let name = temp_name();
        let p = dir.join(bytes_os(&name)?);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| Error::io("create", &p, e))?;
        Ok((f, name))
    }

    /// Files without a name do not exist here: the caller uses [`DirTree::create_temp`].
    pub fn create_anon(&self, _rel_dir: &[u8]) -> Result<Option<File>> {
        Ok(None)
    }

    /// Never called: [`DirTree::create_anon`] gives no file to name.
    pub fn link_anon(&self, rel: &[u8], _file: &File) -> Result<()> {
        Err(Error::io(
            "link",
            self.path(rel),
            std::io::Error::from(std::io::ErrorKind::Unsupported),
        ))
    }

    /// Removes a temporary file of `rel_dir` (best effort: a leftover is cleaned later).
    pub fn discard_temp(&self, rel_dir: &[u8], name: &[u8]) {
        if let (Ok(Some(dir)), Ok(name)) = (self.dir(rel_dir), bytes_os(name)) {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }

    /// Moves the finished temporary file `tmp` (in `rel`'s directory) onto `rel`; the rename
    /// replaces a file there in one step. A link to a directory there is removed first (it
    /// holds no data), a directory is in the way.
    pub fn commit_temp(&self, rel: &[u8], tmp: &[u8]) -> Result<()> {
        let (dir_rel, name) = split(rel);
        let dir = self
            .dir(dir_rel)?
            .ok_or_else(|| not_found("rename", self.path(rel)))?;
        let to = dir.join(bytes_os(name)?);
        match lstat(&to)? {
            Some(m) if real_dir(&m) => {
                return Err(Error::InTheWay {
                    path: self.path(rel),
                    want: "file",
                })
            }
            Some(m) if m.is_dir() || m.file_type().is_symlink_dir() => remove_entry(&to, &m)?,
            _ => {}
        }
        std::fs::rename(dir.join(bytes_os(tmp)?), &to).map_err(|e| in_the_way(e, self, rel, "file"))
    }

    /// Writes `bytes` to the file `rel` atomically and durably (temporary file, fsync,
    /// rename): for pointers, which are the only record of a version. NTFS journals the
    /// rename itself; a directory cannot be flushed through std here.
    pub fn write_atomic(&self, rel: &[u8], bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let (dir_rel, _) = split(rel);
        let path = self.path(rel);
        let (mut f, tmp) = self.create_temp(dir_rel)?;
        let result = (|| {
            f.write_all(bytes)
                .map_err(|e| Error::io("write", &path, e))?;
            f.sync_all().map_err(|e| Error::io("sync", &path, e))?;
            drop(f);
            self.commit_temp(rel, &tmp)
        })();
        if result.is_err() {
            self.discard_temp(dir_rel, &tmp);
        }
        result
    }

    /// Creates (or replaces) the symlink `rel` -> `target`. Windows links are of a file or of
    /// a directory: a directory link when `target` names a directory now. Creating one needs
    /// the privilege (or developer mode); without it this fails and says so.
    pub fn symlink(&self, rel: &[u8], target: &[u8]) -> Result<()> {
        let (dir_rel, name) = split(rel);
        let dir = self
            .dir(dir_rel)?
            .ok_or_else(|| not_found("create symlink", self.path(rel)))?;
        let text = std::str::from_utf8(target)
            .map_err(|_| crate::fsx::not_unicode(&String::from_utf8_lossy(target)))?;
        let target = PathBuf::from(text.replace('/', "\\"));
        let tmp = dir.join(bytes_os(&temp_name())?);
        let made = if dir.join(&target).is_dir() {
            std::os::windows::fs::symlink_dir(&target, &tmp)
        } else {
            std::os::windows::fs::symlink_file(&target, &tmp)
        };
        made.map_err(|e| Error::io("create symlink", self.path(rel), e))?;
        let to = dir.join(bytes_os(name)?);
        std::fs::rename(&tmp, &to).map_err(|e| {
            if let Ok(Some(m)) = lstat(&tmp) {
                let _ = remove_entry(&tmp, &m);
            }
            in_the_way(e, self, rel, "symlink")
        })
    }
}

/// Creates the directory `path` (one already there is fine if it is a real one).
fn make_dir(path: &Path) -> Result<()> {
    match std::fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == IoKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("create directory", path, e)),
    }
    match lstat(path)? {
        Some(m) if real_dir(&m) => Ok(()),
        _ => Err(Error::UnsafeParent {
            path: path.to_path_buf(),
        }),
    }
}

/// A rename that failed because a directory is at the destination says so.
fn in_the_way(e: std::io::Error, tree: &DirTree, rel: &[u8], want: &'static str) -> Error {
    match e.kind() {
        IoKind::IsADirectory | IoKind::DirectoryNotEmpty | IoKind::AlreadyExists => {
            Error::InTheWay {
                path: tree.path(rel),
                want,
            }
        }
        _ => Error::io("rename", tree.path(rel), e),
    }
}
