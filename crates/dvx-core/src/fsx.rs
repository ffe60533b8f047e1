//! File-system helpers of the operations: every error carries its path.

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
    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_700_000_000, 3600),
            "2023-11-14T23:13:20+01:00"
        );
    }
}
