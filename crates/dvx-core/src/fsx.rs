//! File-system helpers of the operations: every error carries its path. The platform
//! differences of names ([`os_bytes`], [`bytes_os`]) and of file metadata ([`Stamp`]) are
//! answered here, once.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub fn lstat(path: &Path) -> Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        // A file where a parent directory should be: the path does not exist either.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::NotADirectory =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// Reads a small file a user or a commit controls (a pointer, a config, a `.gitignore`): it
/// must be a regular file of at most `max` bytes, so a FIFO or a link to `/dev/zero` committed
/// in its place fails instead of hanging or filling memory.
pub fn read_small(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    dvx_store::fs::read_bounded(path, max as u64)
}

/// [`read_small`] as UTF-8 text.
pub fn read_small_string(path: &Path, max: usize) -> std::io::Result<String> {
    String::from_utf8(read_small(path, max)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Bound of a config file or a `.gitignore` read by [`read_small`].
pub const MAX_TEXT_FILE: usize = 16 << 20;

pub fn create_dir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io("create directory", path, e))
}

/// A temporary file in `dir` (created if need be) for data too large to hold in memory; it
/// has no name, or one removed when dropped, so it is gone even if the process dies.
pub(crate) fn spool_file(dir: &Path) -> Result<std::fs::File> {
    create_dir_all(dir)?;
    tempfile::tempfile_in(dir).map_err(|e| Error::io("create a temporary file in", dir, e))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    dvx_store::fs::write_atomic(path, bytes).map_err(Error::from)
}

pub fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// The bytes dvx records for a name or a relative path (`/`-separated). Unix: the name's own
/// bytes, borrowed. Elsewhere names are UTF-16: their UTF-8, with `\` as `/`; a name that is
/// not valid Unicode has no such bytes and is an invalid-name error, never altered.
pub fn os_bytes(s: &OsStr) -> Result<Cow<'_, [u8]>> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(Cow::Borrowed(s.as_bytes()))
    }
    #[cfg(not(unix))]
    {
        let text = s
            .to_str()
            .ok_or_else(|| not_unicode(&s.to_string_lossy()))?;
        Ok(if text.contains('\\') {
            Cow::Owned(text.replace('\\', "/").into_bytes())
        } else {
            Cow::Borrowed(text.as_bytes())
        })
    }
}

/// The name or relative path that [`os_bytes`] recorded as `b`. Unix: borrowed as is.
/// Elsewhere `b` must be UTF-8, `/` becoming `\`, and every component a name Windows keeps
/// as written (see `windows_name`); anything else is an invalid-name error.
pub fn bytes_os(b: &[u8]) -> Result<Cow<'_, OsStr>> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(Cow::Borrowed(OsStr::from_bytes(b)))
    }
    #[cfg(not(unix))]
    {
        let text = std::str::from_utf8(b).map_err(|_| not_unicode(&String::from_utf8_lossy(b)))?;
        for name in text.split('/').filter(|n| !n.is_empty()) {
            if !windows_name(name) {
                return Err(Error::Manifest(dvx_manifest::Error::BadName {
                    name: name.to_string(),
                    why: "Windows cannot hold it as written (a reserved device name, one of \
                          `:*?\"<>|`, a control character, or a trailing dot or space)",
                }));
            }
        }
        Ok(if text.contains('/') {
            Cow::Owned(text.replace('/', "\\").into())
        } else {
            Cow::Borrowed(OsStr::new(text))
        })
    }
}

/// The bytes of a whole path (an absolute one, recorded in a file). Unix: its own bytes;
/// elsewhere its UTF-8 as is, and a path that is not valid Unicode is an invalid-name error.
pub fn path_bytes(p: &Path) -> Result<Cow<'_, [u8]>> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(Cow::Borrowed(p.as_os_str().as_bytes()))
    }
    #[cfg(not(unix))]
    {
        let text = p
            .to_str()
            .ok_or_else(|| not_unicode(&p.to_string_lossy()))?;
        Ok(Cow::Borrowed(text.as_bytes()))
    }
}

/// The path [`path_bytes`] recorded as `b`.
pub fn bytes_path(b: &[u8]) -> Result<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(OsStr::from_bytes(b)))
    }
    #[cfg(not(unix))]
    {
        let text = std::str::from_utf8(b).map_err(|_| not_unicode(&String::from_utf8_lossy(b)))?;
        Ok(PathBuf::from(text))
    }
}

/// `p` without a Windows verbatim prefix (`\\?\C:\x` becomes `C:\x`), as canonical paths
/// there carry: after one, `/` separates nothing and dvx joins repo-relative paths with `/`.
/// Other systems, and verbatim paths of other forms (UNC, devices), are left as they are.
pub fn plain_path(p: PathBuf) -> PathBuf {
    if !cfg!(windows) {
        return p;
    }
    match p.to_str().and_then(|s| s.strip_prefix(r"\\?\")) {
        Some(rest) if rest.as_bytes().get(1) == Some(&b':') => PathBuf::from(rest),
        _ => p,
    }
}

/// Whether Windows keeps `name` as written: it drops a trailing dot or space (so `.. ` would
/// name the parent), reads `:` as a drive or a stream, and maps `NUL`, `CON`, `COM1`, ... (with
/// any extension) to devices.
#[cfg(any(not(unix), test))]
fn windows_name(name: &str) -> bool {
    const DEVICES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end_matches(' ');
    let sb = stem.as_bytes();
    let numbered = sb.len() == 4
        && (sb[..3].eq_ignore_ascii_case(b"COM") || sb[..3].eq_ignore_ascii_case(b"LPT"))
        && sb[3].is_ascii_digit();
    !name.is_empty()
        && !name.ends_with(['.', ' '])
        && !name.contains(|c: char| c.is_control() || ":*?\"<>|\\/".contains(c))
        && !numbered
        && !DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d))
}

#[cfg(not(unix))]
pub(crate) fn not_unicode(lossy: &str) -> Error {
    Error::Manifest(dvx_manifest::Error::BadName {
        name: lossy.to_string(),
        why: "not valid Unicode, which names must be on this system; rename it",
    })
}

/// The stat fields dvx relies on, from one place for every platform.
///
/// Windows has no inode, device, change time, link count or mode bits in std: `ino`, `dev`
/// and `nlink` are 0 (unknown; callers treat 0 as "cannot tell", never as "same file"),
/// `ctime_ns` is the creation time, and `mode` has the type bits with 0o644 (0o444 when
/// read-only): no file is executable there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Modification time, ns since the epoch; `i64::MAX` when the system cannot tell, which
    /// no moment is after (so nothing unknown is ever cached).
    pub mtime_ns: i64,
    /// The sub-second part of the mtime, 0 where the file system keeps none.
    pub mtime_nsec: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    pub mode: u32,
    pub nlink: u64,
}

impl Stamp {
    #[cfg(unix)]
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            mtime_nsec: m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
            dev: m.dev(),
            mode: m.mode(),
            nlink: m.nlink(),
        }
    }

    #[cfg(not(unix))]
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        let ns = |t: std::io::Result<std::time::SystemTime>| match t {
            Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
                Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
            },
            Err(_) => i64::MAX,
        };
        let mtime_ns = ns(m.modified());
        let ft = m.file_type();
        let kind = if ft.is_symlink() {
            0o120_000
        } else if ft.is_dir() {
            0o040_000
        } else if ft.is_file() {
            0o100_000
        } else {
            0
        };
        Stamp {
            mtime_ns,
            mtime_nsec: mtime_ns.rem_euclid(1_000_000_000),
            ctime_ns: ns(m.created()),
            ino: 0,
            dev: 0,
            mode: kind
                | if m.permissions().readonly() {
                    0o444
                } else {
                    0o644
                },
            nlink: 0,
        }
    }

    /// Whether the owner may execute it (never, where the system has no such bit).
    pub fn executable(&self) -> bool {
        self.mode & 0o100 != 0
    }
}

/// Sets the permission bits `mode` of an open file; where there are none (Windows) nothing
/// is set, so a file recorded as executable is restored as a plain one.
pub fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, mode);
        Ok(())
    }
}

/// Creates the symbolic link `path` -> `target` (the bytes a tree records). On Windows a link
/// to a directory must say so: it is one when `target` is a directory at this moment.
pub fn symlink(target: &[u8], path: &Path) -> Result<()> {
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(bytes_os(target)?, path);
    #[cfg(windows)]
    let made = {
        let text = std::str::from_utf8(target)
            .map_err(|_| not_unicode(&String::from_utf8_lossy(target)))?;
        let target = PathBuf::from(text.replace('/', "\\"));
        let resolved = path.parent().map(|d| d.join(&target));
        if resolved.is_some_and(|t| t.is_dir()) {
            std::os::windows::fs::symlink_dir(&target, path)
        } else {
            std::os::windows::fs::symlink_file(&target, path)
        }
    };
    made.map_err(|e| Error::io("create link", path, e))
}

/// Current UTC time as RFC 3339 (seconds precision).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs, 0)
}

/// Formats unix seconds with a UTC offset in seconds as RFC 3339.
pub fn rfc3339(secs: i64, offset: i32) -> String {
    let local = secs + offset as i64;
    let days = local.div_euclid(86400);
    let rem = local.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let tz = if offset == 0 {
        "Z".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let o = offset.unsigned_abs();
        format!("{sign}{:02}:{:02}", o / 3600, (o % 3600) / 60)
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{tz}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A directory of this process's own under `.dvx/tmp`, removed with what it holds when
/// dropped (whether the work in it succeeded or not).
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `.dvx/tmp/<what>-<pid>-<nanoseconds>`.
    pub fn new(ws: &crate::workspace::Workspace, what: &str) -> Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = ws
            .dvx_dir()
            .join("tmp")
            .join(format!("{what}-{}-{nanos:x}", std::process::id()));
        create_dir_all(&dir)?;
        Ok(ScratchDir(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    /// On unix names are bytes, not text, and the stat is the system's own: what the Windows
    /// port routes through here must not change them.
    #[cfg(unix)]
    #[test]
    fn unix_names_and_stamps_are_the_systems_own() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let raw = b"caf\xe9/x\\y";
        let os = super::bytes_os(raw).expect("any bytes");
        assert_eq!(os.as_bytes(), raw);
        assert_eq!(&*super::os_bytes(&os).expect("any name"), raw);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").expect("write");
        let m = std::fs::metadata(&file).expect("stat");
        let st = super::Stamp::of(&m);
        assert_eq!(st.mtime_ns, m.mtime() * 1_000_000_000 + m.mtime_nsec());
        assert_eq!(st.ctime_ns, m.ctime() * 1_000_000_000 + m.ctime_nsec());
        assert_eq!(
            (st.mtime_nsec, st.ino, st.dev, st.mode, st.nlink),
            (m.mtime_nsec(), m.ino(), m.dev(), m.mode(), m.nlink())
        );
    }

    #[test]
    fn verbatim_prefixes_go_on_windows_only() {
        use std::path::PathBuf;
        let v = PathBuf::from(r"\\?\C:\repo");
        let want = if cfg!(windows) {
            r"C:\repo"
        } else {
            r"\\?\C:\repo"
        };
        assert_eq!(super::plain_path(v), PathBuf::from(want));
        let unc = PathBuf::from(r"\\?\UNC\server\share");
        assert_eq!(super::plain_path(unc.clone()), unc);
    }

    #[test]
    fn windows_names() {
        for ok in [
            "a", "data.csv", "CONFIG", "com10", ".hidden", "a b", "nul-x", "a€", "ü.txt",
        ] {
            assert!(super::windows_name(ok), "{ok}");
        }
        for bad in [
            "", ".", "..", ".. ", "a.", "a ", "c:x", "a*b", "NUL", "con.txt", "Com1", "LPT9.log",
            "a\tb", "a\\b",
        ] {
            assert!(!super::windows_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_700_000_000, 3600),
            "2023-11-14T23:13:20+01:00"
        );
    }
}
