//! The clean snapshot of a directory dataset (`.dvx/state/status/<hash of the dataset path>`,
//! FORMAT section 8.1): every path of the dataset on disk with its stat, recorded when
//! `dvx status` found the dataset clean against a version and the stat cache vouched for every
//! file. While each file's `lstat` still equals its recorded one, the dataset is clean against
//! that version: a no-op status then costs one `fstatat` per file relative to its open
//! directory, and reads neither the stat cache nor the version's trees. Anything unexpected
//! (a different path set, a stat, a `.dvxignore`, a leftover temporary file, an error) sends
//! the caller to the full comparison, which is always right; the snapshot can only say
//! "clean", never anything else.

use std::path::{Path, PathBuf};

use dvx_store::TreeId;

use crate::scan::FlatEntry;
use crate::statcache::StatKey;

const MAGIC: &[u8; 8] = b"DVXSNAP1";
const KIND_FILE: u8 = 0;
const KIND_LINK: u8 = 1;
const KIND_DIR: u8 = 2;

/// What the fast walk saw at one path.
#[cfg_attr(not(unix), allow(dead_code))]
#[derive(Debug, PartialEq, Eq)]
enum Seen<'a> {
    File(StatKey),
    Symlink(&'a [u8]),
    Dir,
}

/// The snapshot file of the dataset at repo-relative `dataset` (hashed: the path may be long).
pub(crate) fn path_for(state_dir: &Path, dataset: &str) -> PathBuf {
    state_dir
        .join("status")
        .join(blake3::hash(dataset.as_bytes()).to_hex().as_str())
}

/// True only when the snapshot of `dataset` is for `id`, intact, and every path below `base`
/// (the dataset directory) still has its recorded stat: the dataset is clean against `id`.
/// False means "not known", never "modified".
pub(crate) fn is_clean(state_dir: &Path, dataset: &str, base: &Path, id: &TreeId) -> bool {
    let Ok(file) = std::fs::File::open(path_for(state_dir, dataset)) else {
        return false;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let Some((count, entries)) = file_header(&file, len, dataset, id) else {
        return false;
    };
    let src = Source::File {
        file: &file,
        base: entries.start,
    };
    let size = (entries.end - entries.start) as usize;
    // The checksum is verified beside the walk: both must pass.
    let (intact, same) = rayon::join(
        || file_checksum_ok(&file, len),
        || subtree_ends(src, size, count).is_some_and(|ends| check_tree(base, src, size, &ends)),
    );
    intact && same
}

/// Bytes a cursor reads from the snapshot file at a time. The file is never held whole
/// (about 60 bytes a file): each directory's compare reads its own entries through a window.
const WINDOW: usize = if cfg!(test) { 100 } else { 64 << 10 };

/// Where a cursor's bytes come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The entries in memory (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Bytes(&'a [u8]),
    /// The snapshot file, whose entries start at `base`.
    File { file: &'a std::fs::File, base: u64 },
}

/// Reads `buf.len()` bytes of `file` at `offset`.
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset).is_ok()
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.seek_read(&mut buf[done..], offset + done as u64) {
                Ok(0) | Err(_) => return false,
                Ok(n) => done += n,
            }
        }
        true
    }
}

/// The entry count and the byte range of the entries of the snapshot file of `dataset` for
/// `id` (magic, version id and dataset path checked; not the checksum).
fn file_header(
    file: &std::fs::File,
    len: u64,
    dataset: &str,
    id: &TreeId,
) -> Option<(u64, std::ops::Range<u64>)> {
    let fixed = 8 + 32 + 4;
    let head_len = (fixed + dataset.len() + 8) as u64;
    if len < head_len + 32 {
        return None;
    }
    let mut head = vec![0u8; head_len as usize];
    if !read_at(file, &mut head, 0) {
        return None;
    }
    // The head with a stand-in checksum: `header` wants the whole layout.
    head.extend_from_slice(&[0u8; 32]);
    let body = header(&head, dataset, id)?;
    (body.entries.is_empty()).then_some((body.count, head_len..len - 32))
}

/// Whether the snapshot file's last 32 bytes are the BLAKE3 of the rest, read a window at a
/// time.
fn file_checksum_ok(file: &std::fs::File, len: u64) -> bool {
    if len < 32 {
        return false;
    }
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len - 32 {
        let n = (len - 32 - at).min(buf.len() as u64) as usize;
        if !read_at(file, &mut buf[..n], at) {
            return false;
        }
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    let mut sum = [0u8; 32];
    read_at(file, &mut sum, len - 32) && hasher.finalize().as_bytes() == &sum
}

/// Where the entries of each directory's subtree end, by the offset of the directory's own
/// entry (the snapshot lists a directory, then everything below it); `None` unless the
/// `size` bytes of entries parse and number `count`.
fn subtree_ends(
    src: Source<'_>,
    size: usize,
    count: u64,
) -> Option<std::collections::HashMap<usize, usize>> {
    let mut ends = std::collections::HashMap::new();
    // The open directories: their path and the offset of their entry.
    let mut open: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut cur = Cursor::new(src, 0, size);
    let mut n = 0u64;
    let mut rel = Vec::new();
    while !cur.is_empty() {
        let at = cur.pos;
        let is_dir = cur.skip_entry(&mut rel)?;
        while let Some((dir, start)) = open.last() {
            let inside = rel.len() > dir.len() && rel.starts_with(dir) && rel[dir.len()] == b'/';
            if inside {
                break;
            }
            ends.insert(*start, at);
            open.pop();
        }
        if is_dir {
            open.push((rel.clone(), at));
        }
        n += 1;
    }
    for (_, start) in open {
        ends.insert(start, size);
    }
    (n == count).then_some(ends)
}

/// A snapshot built entry by entry in walk order (depth first, names in byte order), in a
/// temporary file: from a scan that just found every entry vouched for by the stat cache.
pub(crate) struct Recorder {
    out: std::io::BufWriter<std::fs::File>,
    count: u64,
    /// False after an entry could not be recorded: nothing is saved then.
    ok: bool,
}

impl Recorder {
    /// A recorder spooling in `state_dir`.
    pub(crate) fn new(state_dir: &Path) -> crate::error::Result<Recorder> {
        Ok(Recorder {
            out: std::io::BufWriter::with_capacity(1 << 20, crate::fsx::spool_file(state_dir)?),
            count: 0,
            ok: true,
        })
    }

    /// Adds the next entry a scan found; false (and nothing will be saved) unless the stat
    /// cache vouches for it.
    pub(crate) fn push(&mut self, s: &crate::scan::Scanned) -> bool {
        let seen = match (&s.entry, &s.vouched) {
            (FlatEntry::Dir, _) => Seen::Dir,
            (FlatEntry::Symlink { target }, _) => Seen::Symlink(target),
            (FlatEntry::File { .. }, Some(key)) => Seen::File(*key),
            (FlatEntry::File { .. }, None) => {
                self.ok = false;
                return false;
            }
        };
        self.push_seen(&s.rel, &seen)
    }

    fn push_seen(&mut self, rel: &[u8], seen: &Seen<'_>) -> bool {
        use std::io::Write;
        let mut e = Vec::with_capacity(rel.len() + 48);
        encode_entry(&mut e, rel, seen);
        self.count += 1;
        self.ok &= self.out.write_all(&e).is_ok();
        self.ok
    }

    /// Saves the snapshot of `dataset` for the version `id` (or removes any older one if an
    /// entry could not be recorded). Errors are ignored: this is only a cache.
    pub(crate) fn save(self, state_dir: &Path, dataset: &str, id: &TreeId) {
        if !self.ok || self.write(state_dir, dataset, id).is_err() {
            forget(state_dir, dataset);
        }
    }

    fn write(self, state_dir: &Path, dataset: &str, id: &TreeId) -> crate::error::Result<()> {
        use std::io::{Read, Seek};
        let file = path_for(state_dir, dataset);
        let dir = file.parent().expect("the snapshot is in a directory");
        let io = |e| crate::error::Error::io("write the status snapshot", &file, e);
        let mut spool = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        spool.rewind().map_err(io)?;
        crate::fsx::create_dir_all(dir)?;
        // Under dvx's temporary names, so that what a killed process leaves is removed.
        crate::scan::remove_stale_temps(dir);
        let mut head = Vec::with_capacity(64 + dataset.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(id.as_bytes());
        head.extend_from_slice(&(dataset.len() as u32).to_le_bytes());
        head.extend_from_slice(dataset.as_bytes());
        head.extend_from_slice(&self.count.to_le_bytes());
        let mut out = dvx_store::fs::AtomicFile::create(&file)?;
        let mut sum = blake3::Hasher::new();
        sum.update(&head);
        out.write_all(&head)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = spool.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            sum.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        out.write_all(sum.finalize().as_bytes())?;
        // A cache: its directory need not be synced.
        out.commit_without_dir_sync()?;
        Ok(())
    }
}

/// Removes the snapshot of `dataset`, if any.
pub(crate) fn forget(state_dir: &Path, dataset: &str) {
    let _ = std::fs::remove_file(path_for(state_dir, dataset));
}

fn encode_entry(out: &mut Vec<u8>, rel: &[u8], seen: &Seen<'_>) {
    out.extend_from_slice(&(rel.len() as u32).to_le_bytes());
    out.extend_from_slice(rel);
    match seen {
        Seen::File(k) => {
            out.push(KIND_FILE);
            crate::spool::put_key(out, k);
        }
        Seen::Symlink(t) => {
            out.push(KIND_LINK);
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t);
        }
        Seen::Dir => out.push(KIND_DIR),
    }
}

struct Body<'a> {
    count: u64,
    entries: &'a [u8],
}

/// Whether the snapshot's last 32 bytes are the BLAKE3 of the rest.
#[cfg(test)]
fn checksum_ok(bytes: &[u8]) -> bool {
    if bytes.len() < 32 {
        return false;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    blake3::hash(body).as_bytes() == sum
}

/// The entries of a snapshot of `dataset` for `id` (magic, version id and dataset path
/// checked; not the checksum).
fn header<'a>(bytes: &'a [u8], dataset: &str, id: &TreeId) -> Option<Body<'a>> {
    if bytes.len() < 8 + 32 + 4 + 8 + 32 || &bytes[..8] != MAGIC {
        return None;
    }
    let body = &bytes[..bytes.len() - 32];
    if &body[8..40] != id.as_bytes() {
        return None;
    }
    let n = u32::from_le_bytes(body[40..44].try_into().ok()?) as usize;
    let rest = &body[44..];
    if rest.len() < n + 8 || &rest[..n] != dataset.as_bytes() {
        return None;
    }
    let count = u64::from_le_bytes(rest[n..n + 8].try_into().ok()?);
    Some(Body {
        count,
        entries: &rest[n + 8..],
    })
}

/// Reads the entries of a snapshot from `pos` up to `end` (offsets in the entries).
struct Cursor<'a> {
    src: Source<'a>,
    pos: usize,
    end: usize,
    /// The bytes read from the file, from `win_at` on.
    win: Vec<u8>,
    win_at: usize,
}

/// The longest field a cursor reads: a path or a link target (the system's limits are far
/// lower); a longer one is damage.
const MAX_FIELD: usize = 1 << 20;

impl<'a> Cursor<'a> {
    fn new(src: Source<'a>, pos: usize, end: usize) -> Cursor<'a> {
        Cursor {
            src,
            pos,
            end,
            win: Vec::new(),
            win_at: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.end - self.pos < n || n > MAX_FIELD {
            return None;
        }
        let at = self.pos;
        self.pos += n;
        match self.src {
            Source::Bytes(buf) => Some(&buf[at..at + n]),
            Source::File { file, base } => {
                if at < self.win_at || at + n > self.win_at + self.win.len() {
                    let len = WINDOW.max(n).min(self.end - at);
                    self.win.resize(len, 0);
                    if !read_at(file, &mut self.win, base + at as u64) {
                        return None;
                    }
                    self.win_at = at;
                }
                let from = at - self.win_at;
                Some(&self.win[from..from + n])
            }
        }
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    // Only the unix walk compares entries (elsewhere status takes the full comparison).
    #[cfg_attr(not(unix), allow(dead_code))]
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// Skips one entry, leaving its path in `rel`; whether it is a directory.
    fn skip_entry(&mut self, rel: &mut Vec<u8>) -> Option<bool> {
        let n = self.u32()? as usize;
        rel.clear();
        rel.extend_from_slice(self.take(n)?);
        let kind = self.take(1)?[0];
        match kind {
            KIND_FILE => {
                self.take(4 * 8 + 4)?;
            }
            KIND_LINK => {
                let n = self.u32()? as usize;
                self.take(n)?;
            }
            KIND_DIR => {}
            _ => return None,
        }
        Some(kind == KIND_DIR)
    }

    /// Whether the next recorded entry is `rel` as `seen` (consuming it).
    #[cfg_attr(not(unix), allow(dead_code))]
    fn next_is(&mut self, rel: &[u8], seen: Seen<'_>) -> bool {
        self.next_matches(rel, seen).unwrap_or(false)
    }

    #[cfg_attr(not(unix), allow(dead_code))]
    fn next_matches(&mut self, rel: &[u8], seen: Seen<'_>) -> Option<bool> {
        let n = self.u32()? as usize;
        if self.take(n)? != rel {
            return Some(false);
        }
        let kind = self.take(1)?[0];
        Some(match (kind, seen) {
            (KIND_FILE, Seen::File(k)) => {
                let rec = StatKey {
                    size: self.u64()?,
                    mtime_ns: self.u64()? as i64,
                    ctime_ns: self.u64()? as i64,
                    ino: self.u64()?,
                    mode: self.u32()?,
                };
                rec == k
            }
            (KIND_LINK, Seen::Symlink(t)) => {
                let n = self.u32()? as usize;
                self.take(n)? == t
            }
            (KIND_DIR, Seen::Dir) => true,
            _ => false,
        })
    }
}

#[cfg(unix)]
const DIR_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::RDONLY
    .union(rustix::fs::OFlags::DIRECTORY)
    .union(rustix::fs::OFlags::NOFOLLOW)
    .union(rustix::fs::OFlags::CLOEXEC);

/// A subtree of more snapshot bytes than this (about 150 files, a few hundred microseconds
/// of `fstatat`) is handed to the worker pool.
#[cfg(unix)]
const SPLIT_BYTES: usize = 8 * 1024;

/// Whether the dataset directory `base` holds exactly the snapshot's `entries`, each with its
/// recorded stat. Subtrees are compared side by side on the worker pool (a no-op status is
/// one `fstatat` per file, the kernel's work: it takes both cores).
#[cfg(unix)]
fn check_tree(
    base: &Path,
    src: Source<'_>,
    size: usize,
    ends: &std::collections::HashMap<usize, usize>,
) -> bool {
    use rustix::fs::{self as rfs, Mode};
    use std::sync::atomic::{AtomicBool, Ordering};
    let Ok(fd) = rfs::open(base, DIR_FLAGS, Mode::empty()) else {
        return false;
    };
    let differs = AtomicBool::new(false);
    let job = Job {
        ends,
        differs: &differs,
    };
    rayon::scope(|s| job.dir(s, fd, Vec::new(), Cursor::new(src, 0, size), 0));
    !differs.load(Ordering::Relaxed)
}

#[cfg(not(unix))]
fn check_tree(
    _: &Path,
    _: Source<'_>,
    _: usize,
    _: &std::collections::HashMap<usize, usize>,
) -> bool {
    false
}

/// What every directory of a [`check_tree`] shares.
#[cfg(unix)]
#[derive(Clone, Copy)]
struct Job<'a> {
    ends: &'a std::collections::HashMap<usize, usize>,
    differs: &'a std::sync::atomic::AtomicBool,
}

#[cfg(unix)]
impl<'a> Job<'a> {
    /// Compares the directory `fd` at `rel` with the entries of `cur` (its whole subtree),
    /// handing large subdirectories to other threads; sets `differs` at the first
    /// difference.
    fn dir<'s>(
        self,
        scope: &rayon::Scope<'s>,
        fd: std::os::fd::OwnedFd,
        mut rel: Vec<u8>,
        mut cur: Cursor<'a>,
        depth: usize,
    ) where
        'a: 's,
    {
        use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
        use std::ffi::CStr;
        use std::sync::atomic::Ordering;
        let fail = || self.differs.store(true, Ordering::Relaxed);
        if depth > dvx_manifest::limits::MAX_DEPTH || self.differs.load(Ordering::Relaxed) {
            return fail();
        }
        let Some((buf, names)) = sorted_names(&fd) else {
            return fail();
        };
        for (a, b) in names {
            let name = &buf[a..b];
            match special(name) {
                Some(true) => continue,
                Some(false) => {}
                None => return fail(),
            }
            let Ok(cname) = CStr::from_bytes_with_nul(&buf[a..=b]) else {
                return fail();
            };
            let Ok(st) = rfs::statat(&fd, cname, AtFlags::SYMLINK_NOFOLLOW) else {
                return fail();
            };
            let len = rel.len();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name);
            let at = cur.pos;
            let ok = match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => cur.next_is(&rel, Seen::File(stat_key(&st))),
                FileType::Symlink => match rfs::readlinkat(&fd, cname, Vec::new()) {
                    Ok(target) => cur.next_is(&rel, Seen::Symlink(target.as_bytes())),
                    Err(_) => false,
                },
                FileType::Directory => {
                    let (Some(&end), true) = (self.ends.get(&at), cur.next_is(&rel, Seen::Dir))
                    else {
                        return fail();
                    };
                    let Ok(sub) = rfs::openat(&fd, cname, DIR_FLAGS, Mode::empty()) else {
                        return fail();
                    };
                    let below = Cursor::new(cur.src, cur.pos, end);
                    cur.pos = end;
                    if end - below.pos > SPLIT_BYTES {
                        let rel = rel.clone();
                        scope.spawn(move |s| self.dir(s, sub, rel, below, depth + 1));
                    } else {
                        self.dir(scope, sub, rel.clone(), below, depth + 1);
                    }
                    true
                }
                _ => false,
            };
            rel.truncate(len);
            if !ok {
                return fail();
            }
        }
        if !cur.is_empty() {
            fail();
        }
    }
}

/// The names of an open directory in byte order, in one buffer (each NUL-terminated, for the
/// `*at` calls: no allocation per file), without `.` and `..`.
#[cfg(unix)]
#[allow(clippy::type_complexity)]
fn sorted_names(fd: &std::os::fd::OwnedFd) -> Option<(Vec<u8>, Vec<(usize, usize)>)> {
    let mut dir = rustix::fs::Dir::read_from(fd).ok()?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut ents: Vec<(usize, usize)> = Vec::new();
    for e in dir.by_ref() {
        let e = e.ok()?;
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let start = buf.len();
        buf.extend_from_slice(name);
        ents.push((start, buf.len()));
        buf.push(0);
    }
    ents.sort_unstable_by(|a, b| buf[a.0..a.1].cmp(&buf[b.0..b.1]));
    Some((buf, ents))
}

/// `Some(true)`: a name the walk skips as the full scan does (`.git`, `.dvx`); `None`: one it
/// stops at (a `.dvxignore`, a dvx temporary file); `Some(false)`: any other.
#[cfg(unix)]
fn special(name: &[u8]) -> Option<bool> {
    if name == b".git" || name == b".dvx" {
        return Some(true);
    }
    if name == b".dvxignore" || name.starts_with(dvx_store::fs::TMP_PREFIX.as_bytes()) {
        return None;
    }
    Some(false)
}

/// The stat cache's key of an `lstat`.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // stat field types differ between systems
pub(crate) fn stat_key(st: &rustix::fs::Stat) -> StatKey {
    StatKey {
        size: st.st_size as u64,
        mtime_ns: st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
        ctime_ns: st.st_ctime as i64 * 1_000_000_000 + st.st_ctime_nsec as i64,
        ino: st.st_ino as u64,
        mode: st.st_mode as u32,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
