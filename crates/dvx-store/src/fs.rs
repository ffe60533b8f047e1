//! The one module through which the store touches the file system (with [`crate::direct`], the
//! writer of big files it uses): every error names its path, every write is atomic (temporary
//! file in the target directory, fsync, rename, fsync dir), and the calls that differ between
//! platforms live here, each with a portable fallback.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::direct::DirectWriter;
use crate::error::{Error, Result};

/// Prefix of every temporary file dvx creates; `gc` and `fsck` recognise leftovers by it.
pub const TMP_PREFIX: &str = ".dvx-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary path in `dir` (same file system as the final name, so rename is atomic).
pub fn temp_path(dir: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("{TMP_PREFIX}{}-{n}-{nanos:x}", std::process::id()))
}

/// Creates `dir` and its parents.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// Opens a store file for reading: it must be a regular file (see [`open_regular`]).
pub fn open(path: &Path) -> Result<File> {
    open_regular(path)
        .map(|(f, _)| f)
        .map_err(|e| Error::io("open", path, e))
}

/// Opens `path` for reading and returns it with its size, refusing anything but a regular
/// file: a FIFO would block the reader forever and a device (`/dev/zero`) never ends. The
/// path is checked before opening (opening some devices has side effects), the open does not
/// block, and the open handle is checked again (the path may have been swapped meanwhile).
/// The error for a non-regular file has kind `InvalidData`.
pub fn open_regular(path: &Path) -> std::io::Result<(File, u64)> {
    if !fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    Ok((file, meta.len()))
}

fn not_regular() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "not a regular file (a FIFO, device, socket or directory stands where a dvx object \
         should be); remove it",
    )
}

/// Reads a whole regular file of at most `max` bytes without ever holding more than `max + 1`
/// bytes, whatever the file claims or becomes while it is read. A larger file, or one that is
/// not regular, is an error of kind `InvalidData` saying so.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, len) = open_regular(path)?;
    let too_big = |n: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("is {n} bytes, more than the {max} bytes an object of its kind can have"),
        )
    };
    if len > max {
        return Err(too_big(len));
    }
    let mut out = Vec::with_capacity(len as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_big(out.len() as u64));
    }
    Ok(out)
}

/// fsyncs a directory so a rename inside it is durable. Windows has no such call (a
/// directory cannot be opened as a file there, and NTFS journals the rename itself): nothing
/// to do.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        match File::open(dir) {
            Ok(f) => f
                .sync_all()
                .map_err(|e| Error::io("fsync directory", dir, e)),
            Err(e) => Err(Error::io("open directory", dir, e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A file being written under a temporary name; [`AtomicFile::commit`] publishes it.
/// Dropping it without commit removes the temporary file.
pub struct AtomicFile {
    file: Option<Sink>,
    tmp: PathBuf,
    dest: PathBuf,
}

enum Sink {
    Plain(File),
    /// Big sequential files: written around the page cache (see [`crate::direct`]).
    Direct(Box<DirectWriter>),
}

impl AtomicFile {
    /// Starts writing `dest` (its directory must exist).
    pub fn create(dest: &Path) -> Result<AtomicFile> {
        let dir = dest.parent().unwrap_or_else(|| Path::new("."));
        let tmp = temp_path(dir);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        Ok(AtomicFile {
            file: Some(Sink::Plain(file)),
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Like [`AtomicFile::create`] for a big file written once from start to end and then
    /// fsynced (a pack): its bytes go to the disk without a page-cache copy where the file
    /// system allows it.
    pub fn create_direct(dest: &Path) -> Result<AtomicFile> {
        let dir = dest.parent().unwrap_or_else(|| Path::new("."));
        let tmp = temp_path(dir);
        let (file, direct) = crate::direct::create_new(&tmp)?;
        Ok(AtomicFile {
            file: Some(Sink::Direct(Box::new(DirectWriter::new(
                file, direct, dest,
            )))),
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary path being written.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Appends bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        match self.file.as_mut().expect("file is present until commit") {
            Sink::Plain(f) => f
                .write_all(bytes)
                .map_err(|e| Error::io("write", &self.dest, e)),
            Sink::Direct(w) => w.write_all(bytes),
        }
    }

    /// Changes the final destination (used when the name is the content hash).
    pub fn set_dest(&mut self, dest: PathBuf) {
        if let Some(Sink::Direct(w)) = self.file.as_mut() {
            w.set_path(&dest);
        }
        self.dest = dest;
    }

    /// fsyncs, renames onto the destination, fsyncs the directory.
    pub fn commit(self) -> Result<()> {
        let dest = self.dest.clone();
        self.commit_without_dir_sync()?;
        if let Some(dir) = dest.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// fsyncs and renames onto the destination; the caller must fsync the directory (once
    /// for many files) before anything relies on the new name.
    pub fn commit_without_dir_sync(mut self) -> Result<()> {
        let synced = match self.file.take().expect("file is present until commit") {
            Sink::Plain(f) => f.sync_all(),
            Sink::Direct(w) => match w.finish() {
                Ok(f) => f.sync_all(),
                Err(e) => {
                    let _ = fs::remove_file(&self.tmp);
                    return Err(e);
                }
            },
        };
        if let Err(e) = synced {
            let _ = fs::remove_file(&self.tmp);
            return Err(Error::io("fsync", &self.dest, e));
        }
        if let Err(e) = fs::rename(&self.tmp, &self.dest) {
            let _ = fs::remove_file(&self.tmp);
            return Err(Error::io("rename", &self.dest, e));
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Positional read of exactly `buf.len()` bytes at `offset`.
pub fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    pread_exact(file, buf, offset).map_err(|e| Error::io("read", path, e))
}

/// One positional read at `offset`: the number of bytes read, 0 at the end of the file.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_at(buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        file.seek_read(buf, offset)
    }
}

/// Reads exactly `buf.len()` bytes at `offset`; many threads may read one file at once.
pub(crate) fn pread_exact(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset)
    }
    #[cfg(windows)]
    {
        // `seek_read` also moves the file's cursor, which no reader of a store file uses.
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.seek_read(&mut buf[done..], offset + done as u64) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes all of `buf` at `offset`.
pub(crate) fn pwrite_all(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.seek_write(&buf[done..], offset + done as u64) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// True when `path` is a regular file (following symlinks); false when it is absent or
/// cannot be looked at.
pub(crate) fn is_file(path: &Path) -> bool {
    path.is_file()
}

/// Reads a whole file as UTF-8 text.
pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

/// The paths of the entries of `dir`, in no particular order.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    rd.map(|ent| ent.map(|e| e.path()).map_err(|e| Error::io("list", dir, e)))
        .collect()
}

/// The files one level below the subdirectories of `dir` (`dir/<hh>/<name>`, the layout of
/// packs and trees), temporary files excepted. A missing `dir` holds nothing.
pub(crate) fn list_two_level(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for sub in rd {
        let sub = sub.map_err(|e| Error::io("list", dir, e))?;
        let p = sub.path();
        if !p.is_dir() {
            continue;
        }
        let rd2 = fs::read_dir(&p).map_err(|e| Error::io("list", &p, e))?;
        for ent in rd2 {
            let ent = ent.map_err(|e| Error::io("list", &p, e))?;
            if !ent.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                out.push(ent.path());
            }
        }
    }
    Ok(out)
}

/// The subdirectories of `dir`; best effort (an unreadable `dir` has none).
pub(crate) fn subdirs(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Removes the temporary files directly in `dir` last modified at least `min_age` ago, and
/// returns how many went; best effort (what cannot be read or removed is left).
pub(crate) fn remove_old_temp_files(dir: &Path, min_age: Duration) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for e in rd.flatten() {
        if !e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= min_age);
        if old && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes a file; one that is already gone is no error.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// The length of `path` when it is a regular file this process may open for reading; `None`
/// when it is absent, not a regular file, or not readable.
pub(crate) fn readable_len(path: &Path) -> Result<Option<u64>> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => match File::open(path) {
            Ok(_) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(None),
            Err(e) => Err(Error::io("open", path, e)),
        },
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

/// Sets the mtime of `path` to now when it is older than `min_age`; best effort (a read-only
/// file or store is left alone).
pub(crate) fn touch_if_older(path: &Path, min_age: Duration) {
    let now = SystemTime::now();
    let stale = fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age > min_age);
    if stale {
        if let Ok(f) = OpenOptions::new().write(true).open(path) {
            let _ = f.set_modified(now);
        }
    }
}

/// Asks the kernel to start reading `len` bytes of `file` at `offset` into the page cache.
/// Advice only: it does not wait, a failure changes nothing but speed, and where the platform
/// has no such call it does nothing.
pub(crate) fn advise_will_need(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::fs::fadvise(
            file,
            offset,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::WillNeed,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}
