//! A scratch file per process for the targets whose API takes a path.

use std::io::Write;
use std::path::Path;

/// Replaces the content of `path` with `data`. Rewrites in place and then sets the length
/// rather than truncating first: on ext4, truncate-then-write flushes the file on close
/// (`auto_da_alloc`), which costs milliseconds per input.
pub fn overwrite(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("open scratch file");
    f.write_all(data).expect("write scratch file");
    f.set_len(data.len() as u64)
        .expect("set scratch file length");
}
