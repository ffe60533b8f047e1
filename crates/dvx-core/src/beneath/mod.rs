//! Changes to a dataset on disk that never leave it: a [`DirTree`] holds the dataset's base
//! directory and creates, replaces and removes what is below it without following a link
//! (or, on Windows, a junction) anywhere on the way.
//!
//! Unix ([`unix`]) works through open directory handles (`openat` and friends), so a process
//! swapping a directory for a link while a checkout runs cannot redirect a write out of the
//! dataset. Windows ([`windows`]) checks every component of a path just before using it,
//! which leaves a window for such a swap: see its module doc.

use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::DirTree;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::DirTree;

/// Opens a link or junction itself rather than what it points to (`CreateFileW`'s flag).
#[cfg(windows)]
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;

/// `FILE_ATTRIBUTE_REPARSE_POINT`: a link, a junction, or another file-system filter's
/// stand-in (a cloud file, a deduplicated file).
#[cfg(windows)]
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

/// Opens the file at `path` for reading without following a link or junction there: `None`
/// when one is there. A reparse point that is no link (a cloud or deduplicated file, whose
/// filter serves its bytes only to a normal open) is opened again normally and must then
/// show the same size and times, else it is `None` too.
#[cfg(windows)]
pub(crate) fn open_no_follow(path: &std::path::Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    let m = f.metadata()?;
    if m.file_type().is_symlink() {
        return Ok(None);
    }
    if m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT == 0 {
        return Ok(Some(f));
    }
    let g = std::fs::File::open(path)?;
    let n = g.metadata()?;
    let same = n.is_file()
        && n.len() == m.len()
        && n.modified().ok() == m.modified().ok()
        && n.created().ok() == m.created().ok();
    Ok(same.then_some(g))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Splits a `/`-separated relative path into its directory and last component.
pub fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// A fresh temporary name (same prefix as the store's, so scans skip it and leftovers of a
/// killed process are recognised).
pub fn temp_name() -> Vec<u8> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}{}-c{n}-{nanos:x}",
        dvx_store::fs::TMP_PREFIX,
        std::process::id()
    )
    .into_bytes()
}

/// What stands at a path, without following a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_files_are_committed_in_place() {
        use std::io::Write;
        let tmp = tempfile::tempdir().expect("tempdir");
        let tree = DirTree::open(tmp.path(), "d", false).expect("open");
        tree.ensure_dir(b"a", false).expect("mkdir");
        for content in [b"one".as_slice(), b"two"] {
            let (mut f, name) = tree.create_temp(b"a").expect("temp");
            f.write_all(content).expect("write");
            tree.commit_temp(b"a/f", &name).expect("commit");
            assert_eq!(
                std::fs::read(tmp.path().join("d/a/f")).expect("read"),
                content
            );
        }
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("d/a"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
        // Windows lets only privileged users create links.
        #[cfg(unix)]
        {
            tree.symlink(b"a/l", b"f").expect("symlink");
            assert_eq!(tree.kind(b"a/l").expect("kind"), Some(Kind::Symlink));
            assert!(
                tree.open_file(b"a/l").expect("open").is_none(),
                "links are not followed"
            );
            tree.remove_file(b"a/l").expect("rm");
        }
        tree.remove_file(b"a/f").expect("rm");
        assert!(tree.remove_dir(b"a").expect("rmdir"));
    }
}
